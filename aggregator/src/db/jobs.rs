//! Proof jobs: locking, storing, releasing, aggregation pairs, final proofs, settlements and
//! stuck locks. Every change runs in one transaction begun by `Db::begin_write`.

use std::time::SystemTime;

use sqlx::{Any, Row, Transaction};

use super::{
    corrupt, get_u64, parse_witness, proof_info_from_row, stored_from_row, to_db, AggregationJob,
    BatchJob, CleanReport, Db, DbError, FinalJob, ProofId, ProofInfo, ProofKind, StoredProof,
    Verified, PROOF_INFO,
};
use zknode_sqldb::to_millis;

type Tx = Transaction<'static, Any>;

impl Db {
    /// Hands the lowest unproven batch to `prover_id`: the lowest batch above the last verified
    /// batch that no stored or locked batch or aggregate proof covers. Its job row is created
    /// or re-locked (`attempts + 1`) in the same transaction. `None` when no batch waits.
    ///
    /// A stored witness that does not parse is an error naming the batch; nothing is locked
    /// then.
    pub async fn lock_next_unproven_batch(
        &self,
        prover_id: &str,
        now: SystemTime,
    ) -> Result<Option<BatchJob>, DbError> {
        let now = to_millis(now);
        let mut tx = self.begin_write().await?;
        let lv = last_verified_in(&mut tx).await?;
        let row = sqlx::query(
            "SELECT b.batch_number, b.witness FROM batches b \
             WHERE b.batch_number > $1 AND NOT EXISTS ( \
                 SELECT 1 FROM proofs p WHERE p.kind <> 'final' \
                 AND p.batch_first <= b.batch_number AND p.batch_last >= b.batch_number \
                 AND (p.proof IS NOT NULL OR p.locked_at IS NOT NULL)) \
             ORDER BY b.batch_number LIMIT 1",
        )
        .bind(lv)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let batch_i: i64 = row.try_get("batch_number")?;
        let batch = get_u64(&row, "batch_number", "batches", &batch_i.to_string())?;
        let text: String = row
            .try_get("witness")
            .map_err(|e| corrupt("batches", batch.to_string(), format!("column witness: {e}")))?;
        let witness = parse_witness(batch, &text)?;

        let existing = sqlx::query(
            "SELECT id FROM proofs WHERE batch_first = $1 AND batch_last = $1 AND kind = 'batch'",
        )
        .bind(batch_i)
        .fetch_optional(&mut *tx)
        .await?;
        let (proof_id, attempts) = match existing {
            Some(r) => {
                let id: i64 = r.try_get("id")?;
                let updated = sqlx::query(
                    "UPDATE proofs SET prover_id = $1, locked_at = $2, attempts = attempts + 1, \
                     updated_at = $2 WHERE id = $3 AND proof IS NULL AND locked_at IS NULL \
                     RETURNING attempts",
                )
                .bind(prover_id)
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(updated) = updated else {
                    return Err(DbError::Conflict(format!(
                        "the job of batch {batch} was locked meanwhile"
                    )));
                };
                (
                    id,
                    get_u64(&updated, "attempts", "proofs", &format!("id {id}"))?,
                )
            }
            None => {
                let id = next_proof_id(&mut tx).await?;
                sqlx::query(
                    "INSERT INTO proofs (id, batch_first, batch_last, kind, proof, prover_id, \
                     locked_at, attempts, created_at, updated_at) \
                     VALUES ($1, $2, $2, 'batch', NULL, $3, $4, 1, $4, $4)",
                )
                .bind(id)
                .bind(batch_i)
                .bind(prover_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (id, 1)
            }
        };
        tx.commit().await?;
        Ok(Some(BatchJob {
            proof_id,
            batch,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            witness,
        }))
    }

    /// Stores the proof of a job and clears its lock, in one transaction. A stored aggregate
    /// replaces the proofs it covers: they are deleted. A stored final proof leaves its source
    /// locked until [`Db::record_verified`] (or [`Db::clean_stuck_locks`]) so that it is not
    /// aggregated away while it is being settled.
    ///
    /// The job must exist and have no proof yet: [`DbError::NoJob`] when it was released,
    /// cleaned up or verified meanwhile, [`DbError::AlreadyStored`] when another prover stored
    /// it first. A late result is accepted while the job is still open, whoever holds it now.
    pub async fn store_proof(
        &self,
        first: u64,
        last: u64,
        kind: ProofKind,
        proof: &[u8],
        prover_id: &str,
    ) -> Result<ProofId, DbError> {
        check_range(kind, first, last)?;
        if proof.is_empty() {
            return Err(DbError::EmptyProof { kind, first, last });
        }
        let (first_i, last_i) = (to_db(first)?, to_db(last)?);
        let now = to_millis(SystemTime::now());
        let mut tx = self.begin_write().await?;
        let Some(job) = job_row(&mut tx, first_i, last_i, kind).await? else {
            return Err(DbError::NoJob { kind, first, last });
        };
        if job.is_stored() {
            return Err(DbError::AlreadyStored {
                kind,
                first,
                last,
                id: job.id,
            });
        }
        sqlx::query(
            "UPDATE proofs SET proof = $1, prover_id = $2, locked_at = NULL, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(proof.to_vec())
        .bind(prover_id)
        .bind(now)
        .bind(job.id)
        .execute(&mut *tx)
        .await?;
        if kind == ProofKind::Aggregate {
            sqlx::query(
                "DELETE FROM proofs WHERE kind <> 'final' AND proof IS NOT NULL \
                 AND batch_first >= $1 AND batch_last <= $2 AND id <> $3",
            )
            .bind(first_i)
            .bind(last_i)
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(job.id)
    }

    /// Gives back a job that `prover_id` holds and could not finish. A batch job is queued
    /// again (its proof stays empty, its lock is cleared; the next lock counts another
    /// attempt). A generating aggregate or final row is removed and the stored proofs it had
    /// locked are unlocked. Returns whether anything was released: `false` when the job is not
    /// locked, is stored, or is now held by another prover.
    pub async fn release_lock(
        &self,
        first: u64,
        last: u64,
        kind: ProofKind,
        prover_id: &str,
    ) -> Result<bool, DbError> {
        check_range(kind, first, last)?;
        let (first_i, last_i) = (to_db(first)?, to_db(last)?);
        let now = to_millis(SystemTime::now());
        let mut tx = self.begin_write().await?;
        let Some(job) = job_row(&mut tx, first_i, last_i, kind).await? else {
            return Ok(false);
        };
        if job.is_stored() || !job.is_locked() || job.prover_id.as_deref() != Some(prover_id) {
            return Ok(false);
        }
        match kind {
            ProofKind::Batch => {
                sqlx::query("UPDATE proofs SET locked_at = NULL, updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(job.id)
                    .execute(&mut *tx)
                    .await?;
            }
            ProofKind::Aggregate | ProofKind::Final => {
                sqlx::query("DELETE FROM proofs WHERE id = $1")
                    .bind(job.id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE proofs SET locked_at = NULL, updated_at = $1 \
                     WHERE kind <> 'final' AND proof IS NOT NULL AND locked_at IS NOT NULL \
                     AND batch_first >= $2 AND batch_last <= $3",
                )
                .bind(now)
                .bind(first_i)
                .bind(last_i)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Locks the lowest pair of adjacent stored proofs (left.last + 1 = right.first, neither
    /// locked nor final, above the last verified batch) and records a generating `aggregate`
    /// row for their combined range, held by `prover_id`. `None` when no pair is ready.
    pub async fn lock_next_aggregation_pair(
        &self,
        prover_id: &str,
        now: SystemTime,
    ) -> Result<Option<AggregationJob>, DbError> {
        let now = to_millis(now);
        let mut tx = self.begin_write().await?;
        let lv = last_verified_in(&mut tx).await?;
        let pair = sqlx::query(
            "SELECT l.id AS left_id, r.id AS right_id, l.batch_first AS first, \
             r.batch_last AS last \
             FROM proofs l JOIN proofs r ON r.batch_first = l.batch_last + 1 \
             WHERE l.kind <> 'final' AND r.kind <> 'final' \
             AND l.proof IS NOT NULL AND r.proof IS NOT NULL \
             AND l.locked_at IS NULL AND r.locked_at IS NULL \
             AND l.batch_first > $1 \
             AND NOT EXISTS (SELECT 1 FROM proofs a WHERE a.kind = 'aggregate' \
                 AND a.batch_first = l.batch_first AND a.batch_last = r.batch_last) \
             ORDER BY l.batch_first, r.batch_last LIMIT 1",
        )
        .bind(lv)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(pair) = pair else {
            return Ok(None);
        };
        let left_id: i64 = pair.try_get("left_id")?;
        let right_id: i64 = pair.try_get("right_id")?;
        let first_i: i64 = pair.try_get("first")?;
        let last_i: i64 = pair.try_get("last")?;
        let id = open_job(
            &mut tx,
            &[left_id, right_id],
            (first_i, last_i, ProofKind::Aggregate),
            prover_id,
            now,
        )
        .await?;
        let left = stored_in(&mut tx, left_id).await?;
        let right = stored_in(&mut tx, right_id).await?;
        tx.commit().await?;
        Ok(Some(AggregationJob {
            proof_id: id,
            first: left.info.first,
            last: right.info.last,
            left,
            right,
        }))
    }

    /// The widest stored, unlocked batch or aggregate proof that starts at `first` (the batch
    /// after the last verified one): what the next final proof is made from.
    pub async fn longest_contiguous_from(&self, first: u64) -> Result<Option<ProofInfo>, DbError> {
        let sql = format!(
            "SELECT {PROOF_INFO} FROM proofs WHERE batch_first = $1 AND kind <> 'final' \
             AND proof IS NOT NULL AND locked_at IS NULL ORDER BY batch_last DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(to_db(first)?)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| proof_info_from_row(&r)).transpose()
    }

    /// Starts the final proof of stored proof `source`: locks it and records a generating
    /// `final` row for its range, held by `prover_id`. `None` when the source is gone, locked,
    /// not stored, final itself, or does not start right after the last verified batch.
    /// [`DbError::AlreadyStored`] when a final proof of that range is stored already (settle
    /// that one: [`Db::final_proof`]).
    pub async fn lock_final(
        &self,
        source: ProofId,
        prover_id: &str,
        now: SystemTime,
    ) -> Result<Option<FinalJob>, DbError> {
        let now = to_millis(now);
        let mut tx = self.begin_write().await?;
        let lv = last_verified_in(&mut tx).await?;
        let sql = format!("SELECT {PROOF_INFO}, proof FROM proofs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(source)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(src) = row.map(|r| stored_from_row(&r)).transpose()?.flatten() else {
            return Ok(None);
        };
        let info = &src.info;
        if info.kind == ProofKind::Final || info.is_locked() || to_db(info.first)? != lv + 1 {
            return Ok(None);
        }
        let (first_i, last_i) = (to_db(info.first)?, to_db(info.last)?);
        if let Some(existing) = job_row(&mut tx, first_i, last_i, ProofKind::Final).await? {
            if existing.is_stored() {
                return Err(DbError::AlreadyStored {
                    kind: ProofKind::Final,
                    first: info.first,
                    last: info.last,
                    id: existing.id,
                });
            }
            return Ok(None);
        }
        let id = open_job(
            &mut tx,
            &[source],
            (first_i, last_i, ProofKind::Final),
            prover_id,
            now,
        )
        .await?;
        tx.commit().await?;
        let (first, last) = (src.info.first, src.info.last);
        Ok(Some(FinalJob {
            proof_id: id,
            first,
            last,
            source: src,
        }))
    }

    /// Records that the stored final proof `final_proof_id` settled batches up to `last_batch`
    /// on L1. The proof must be final, stored, and cover exactly the batches after the last
    /// verified one up to `last_batch`. In the same transaction every batch and aggregate proof
    /// that starts at or below `last_batch` is deleted (they are settled, or straddle the
    /// settled range and would never chain again), as are other final proofs there.
    pub async fn record_verified(
        &self,
        last_batch: u64,
        final_proof_id: ProofId,
        tx_hash: Option<&str>,
        now: SystemTime,
    ) -> Result<Verified, DbError> {
        let last_i = to_db(last_batch)?;
        let now_ms = to_millis(now);
        let mut tx = self.begin_write().await?;
        let lv = last_verified_in(&mut tx).await?;
        let refuse = |reason: String| DbError::Settlement {
            last_batch,
            proof_id: final_proof_id,
            reason,
        };
        let sql = format!("SELECT {PROOF_INFO} FROM proofs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(final_proof_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(proof) = row.map(|r| proof_info_from_row(&r)).transpose()? else {
            return Err(refuse("there is no such proof".into()));
        };
        if proof.kind != ProofKind::Final {
            return Err(refuse(format!("it is a {} proof, not final", proof.kind)));
        }
        if !proof.is_stored() {
            return Err(refuse("the final proof is not stored yet".into()));
        }
        if to_db(proof.first)? != lv + 1 || proof.last != last_batch {
            return Err(refuse(format!(
                "it covers batches {}..={}, and the last verified batch is {lv}",
                proof.first, proof.last
            )));
        }
        sqlx::query(
            "INSERT INTO verified (last_batch, first_batch, final_proof_id, tx_hash, recorded_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(last_i)
        .bind(to_db(proof.first)?)
        .bind(final_proof_id)
        .bind(tx_hash.map(str::to_string))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM proofs WHERE batch_first <= $1 AND id <> $2")
            .bind(last_i)
            .bind(final_proof_id)
            .execute(&mut *tx)
            .await?;
        unlock_orphans(&mut tx, now_ms).await?;
        tx.commit().await?;
        Ok(Verified {
            first_batch: proof.first,
            last_batch,
            final_proof_id,
            tx_hash: tx_hash.map(str::to_string),
            recorded_at: zknode_sqldb::from_millis(now_ms),
        })
    }

    /// Gives back everything locked before `older_than`: generating aggregate and final rows
    /// are removed, generating batch jobs are queued again, stored proofs are unlocked. Run at
    /// start-up (every lock then belongs to a process that is gone) and periodically with the
    /// job timeout.
    pub async fn clean_stuck_locks(&self, older_than: SystemTime) -> Result<CleanReport, DbError> {
        let cutoff = to_millis(older_than);
        let now = to_millis(SystemTime::now());
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query(
            "DELETE FROM proofs WHERE proof IS NULL AND kind <> 'batch' AND locked_at < $1",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let requeued = sqlx::query(
            "UPDATE proofs SET locked_at = NULL, updated_at = $1 \
             WHERE proof IS NULL AND kind = 'batch' AND locked_at < $2",
        )
        .bind(now)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let unlocked = sqlx::query(
            "UPDATE proofs SET locked_at = NULL, updated_at = $1 \
             WHERE proof IS NOT NULL AND locked_at < $2",
        )
        .bind(now)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let orphans = unlock_orphans(&mut tx, now).await?;
        tx.commit().await?;
        Ok(CleanReport {
            requeued_batches: requeued,
            removed_jobs: removed,
            unlocked_proofs: unlocked + orphans,
        })
    }
}

fn check_range(kind: ProofKind, first: u64, last: u64) -> Result<(), DbError> {
    if first > last || (kind == ProofKind::Batch && first != last) {
        return Err(DbError::BadRange { kind, first, last });
    }
    Ok(())
}

/// The last verified batch, 0 before the first settlement.
async fn last_verified_in(tx: &mut Tx) -> Result<i64, DbError> {
    let row = sqlx::query("SELECT COALESCE(MAX(last_batch), 0) AS lv FROM verified")
        .fetch_one(&mut **tx)
        .await?;
    let lv: i64 = row.try_get("lv")?;
    if lv < 0 {
        return Err(corrupt(
            "verified",
            lv.to_string(),
            "negative batch number".into(),
        ));
    }
    Ok(lv)
}

/// Hands out the next proof id; the caller holds the `job_sequence` row already.
/// Locks the stored proofs `sources` (each must be stored and unlocked) and records a
/// generating job of `kind` for `first..=last` that is made from them, held by `prover_id`.
async fn open_job(
    tx: &mut Tx,
    sources: &[ProofId],
    (first, last, kind): (i64, i64, ProofKind),
    prover_id: &str,
    now: i64,
) -> Result<ProofId, DbError> {
    for &source in sources {
        let locked = sqlx::query(
            "UPDATE proofs SET locked_at = $1, updated_at = $1 \
             WHERE id = $2 AND locked_at IS NULL AND proof IS NOT NULL",
        )
        .bind(now)
        .bind(source)
        .execute(&mut **tx)
        .await?;
        if locked.rows_affected() != 1 {
            return Err(DbError::Conflict(format!(
                "proof {source} was locked meanwhile"
            )));
        }
    }
    let id = next_proof_id(tx).await?;
    sqlx::query(
        "INSERT INTO proofs (id, batch_first, batch_last, kind, proof, prover_id, locked_at, \
         attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, NULL, $5, $6, 1, $6, $6)",
    )
    .bind(id)
    .bind(first)
    .bind(last)
    .bind(kind.as_str())
    .bind(prover_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

async fn next_proof_id(tx: &mut Tx) -> Result<ProofId, DbError> {
    let row = sqlx::query(
        "UPDATE job_sequence SET value = value + 1 WHERE name = 'proofs' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("value")?)
}

/// The row of `kind` for exactly `first..=last`.
async fn job_row(
    tx: &mut Tx,
    first: i64,
    last: i64,
    kind: ProofKind,
) -> Result<Option<ProofInfo>, DbError> {
    let sql = format!(
        "SELECT {PROOF_INFO} FROM proofs WHERE batch_first = $1 AND batch_last = $2 AND kind = $3"
    );
    let row = sqlx::query(&sql)
        .bind(first)
        .bind(last)
        .bind(kind.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| proof_info_from_row(&r)).transpose()
}

/// A stored proof read inside a transaction; an error when it is gone or has no bytes.
async fn stored_in(tx: &mut Tx, id: ProofId) -> Result<StoredProof, DbError> {
    let sql = format!("SELECT {PROOF_INFO}, proof FROM proofs WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.map(|r| stored_from_row(&r))
        .transpose()?
        .flatten()
        .ok_or_else(|| DbError::Conflict(format!("proof {id} is gone or has no bytes")))
}

/// Unlocks stored batch and aggregate proofs whose lock no job explains: no generating
/// aggregate or final row covers them, and no stored final proof of their range waits for
/// settlement. Returns how many.
async fn unlock_orphans(tx: &mut Tx, now: i64) -> Result<u64, DbError> {
    Ok(sqlx::query(
        "UPDATE proofs SET locked_at = NULL, updated_at = $1 \
         WHERE kind <> 'final' AND proof IS NOT NULL AND locked_at IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM proofs g WHERE g.proof IS NULL AND g.kind <> 'batch' \
             AND g.batch_first <= proofs.batch_first AND g.batch_last >= proofs.batch_last) \
         AND NOT EXISTS (SELECT 1 FROM proofs f WHERE f.kind = 'final' AND f.proof IS NOT NULL \
             AND f.batch_first = proofs.batch_first AND f.batch_last = proofs.batch_last)",
    )
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}
