//! The aggregator's job database: batches and their witnesses, proof jobs and proofs, and
//! settlements, through sqlx on SQLite (the default, a file in the data directory) or
//! PostgreSQL (a `postgres://` URL).
//!
//! # Schema
//!
//! One set of migrations (`db/migrations/*.sql`) serves both databases: only BIGINT, TEXT and
//! BYTEA columns, CHECK and UNIQUE constraints; times are Unix milliseconds. Queries go through
//! sqlx's `Any` driver with `$N` placeholders, which both databases read.
//!
//! - `batches(batch_number, witness, created_at)`: the witness is
//!   [`BatchWitness::to_json`]. The node writes a row when it closes a batch.
//! - `proofs(id, batch_first, batch_last, kind, proof, prover_id, locked_at, attempts,
//!   created_at, updated_at)`, unique `(batch_first, batch_last, kind)`: a row with no proof
//!   is a job, generating while `locked_at` is set. Kinds: `batch` (first = last), `aggregate`
//!   (replaces its two children when stored), `final` (made from a stored proof that starts
//!   right after the last verified batch).
//! - `verified(last_batch, first_batch, final_proof_id, tx_hash, recorded_at)`: settlements.
//!   The last verified batch is the largest `last_batch`, 0 (genesis) when there is none.
//! - `job_sequence`: the last proof id handed out. Every transaction that changes `proofs`
//!   updates its one row first, so job changes are serialized on PostgreSQL as they are on
//!   SQLite (where write transactions begin `IMMEDIATE`); guarded updates
//!   (`... AND locked_at IS NULL`) check the same conditions again.
//!
//! # Jobs
//!
//! - [`Db::lock_next_unproven_batch`]: the lowest batch above the last verified one that no
//!   stored or locked batch/aggregate proof covers; locks it (`attempts + 1`).
//! - [`Db::store_proof`] completes a job and clears its lock in one transaction; a stored
//!   aggregate deletes the proofs it covers (its two children).
//! - [`Db::release_lock`] gives a failed job back: a batch is queued again, a generating
//!   aggregate or final row is removed and the proofs it locked are unlocked.
//! - [`Db::lock_next_aggregation_pair`], [`Db::longest_contiguous_from`], [`Db::lock_final`]
//!   and [`Db::record_verified`] drive aggregation and settlement; [`Db::clean_stuck_locks`]
//!   gives back whatever was locked before a cutoff.
//!
//! Nothing is kept in memory: a process that dies loses at most the jobs it was running, which
//! [`Db::clean_stuck_locks`] gives back.

mod error;
mod jobs;
mod types;

use std::time::SystemTime;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};
use zknode_sqldb::{Database, Migration};
use zknode_witness::BatchWitness;

pub use error::DbError;
pub use types::{
    AggregationJob, BatchJob, CleanReport, FinalJob, ProofId, ProofInfo, ProofKind, StoredProof,
    Verified,
};
use zknode_sqldb::{from_millis, to_millis};
pub use zknode_sqldb::{sqlite_url, Backend};

/// The migrations, in order.
static MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "job tables",
    sql: include_str!("migrations/0001_job_tables.sql"),
}];

/// The job database. Cloning is cheap and shares the connection pool.
#[derive(Clone, Debug)]
pub struct Db {
    db: Database,
}

impl Db {
    /// Opens the database at `url` and brings its schema up to date. A SQLite file (and its
    /// directory) is created when missing.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        let db = Database::connect(url, "job database", MIGRATIONS).await?;
        Ok(Db { db })
    }

    /// The `sqlite:` URL of a database file.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        sqlite_url(path)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The connection pool, for tables beside the job tables.
    pub fn pool(&self) -> &AnyPool {
        self.db.pool()
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.db.close().await
    }

    /// Stores a batch and its witness. The witness must be for batch `n`.
    pub async fn insert_batch(&self, n: u64, witness: &BatchWitness) -> Result<(), DbError> {
        if witness.chain.batch_number != n {
            return Err(DbError::WitnessMismatch {
                batch: n,
                found: witness.chain.batch_number,
            });
        }
        let result = sqlx::query(
            "INSERT INTO batches (batch_number, witness, created_at) VALUES ($1, $2, $3)",
        )
        .bind(to_db(n)?)
        .bind(witness.to_json())
        .bind(to_millis(SystemTime::now()))
        .execute(self.db.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(DbError::BatchExists(n))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The witness of batch `n`, `None` when the batch is not stored. A stored witness that
    /// does not parse, or that is for another batch, is an error naming the batch.
    pub async fn batch_witness(&self, n: u64) -> Result<Option<BatchWitness>, DbError> {
        let row = sqlx::query("SELECT witness FROM batches WHERE batch_number = $1")
            .bind(to_db(n)?)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let text: String = row.try_get("witness")?;
                parse_witness(n, &text).map(Some)
            }
        }
    }

    /// The numbers of the stored batches, lowest first.
    pub async fn batch_numbers(&self) -> Result<Vec<u64>, DbError> {
        let rows = sqlx::query("SELECT batch_number FROM batches ORDER BY batch_number")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| get_u64(r, "batch_number", "batches", "batch_number"))
            .collect()
    }

    /// The last batch verified on L1; 0 (the genesis batch) before the first settlement.
    pub async fn last_verified_batch(&self) -> Result<u64, DbError> {
        Ok(self.last_verified().await?.map_or(0, |v| v.last_batch))
    }

    /// The latest settlement.
    pub async fn last_verified(&self) -> Result<Option<Verified>, DbError> {
        let row = sqlx::query(
            "SELECT last_batch, first_batch, final_proof_id, tx_hash, recorded_at FROM verified \
             ORDER BY last_batch DESC LIMIT 1",
        )
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| verified_from_row(&r)).transpose()
    }

    /// Every settlement, oldest first.
    pub async fn settlements(&self) -> Result<Vec<Verified>, DbError> {
        let rows = sqlx::query(
            "SELECT last_batch, first_batch, final_proof_id, tx_hash, recorded_at FROM verified \
             ORDER BY last_batch",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(verified_from_row).collect()
    }

    /// Every row of `proofs`, by range and kind.
    pub async fn proofs(&self) -> Result<Vec<ProofInfo>, DbError> {
        let sql = format!(
            "SELECT {PROOF_INFO} FROM proofs ORDER BY batch_first, batch_last, \
             CASE kind WHEN 'batch' THEN 0 WHEN 'aggregate' THEN 1 ELSE 2 END"
        );
        let rows = sqlx::query(&sql).fetch_all(self.db.pool()).await?;
        rows.iter().map(proof_info_from_row).collect()
    }

    /// A proof with its bytes; `None` when there is no such row or it is still a job.
    pub async fn stored_proof(&self, id: ProofId) -> Result<Option<StoredProof>, DbError> {
        let sql = format!("SELECT {PROOF_INFO}, proof FROM proofs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| stored_from_row(&r))
            .transpose()
            .map(Option::flatten)
    }

    /// The stored final proof of exactly `first..=last`, if there is one.
    pub async fn final_proof(&self, first: u64, last: u64) -> Result<Option<StoredProof>, DbError> {
        let sql = format!(
            "SELECT {PROOF_INFO}, proof FROM proofs \
             WHERE batch_first = $1 AND batch_last = $2 AND kind = 'final'"
        );
        let row = sqlx::query(&sql)
            .bind(to_db(first)?)
            .bind(to_db(last)?)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| stored_from_row(&r))
            .transpose()
            .map(Option::flatten)
    }

    /// Begins a transaction that changes `proofs`: immediate on SQLite, and on both databases
    /// the `job_sequence` row is locked first, so such transactions run one at a time.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, DbError> {
        let mut tx = self.db.begin_write().await?;
        let locked = sqlx::query("UPDATE job_sequence SET value = value WHERE name = 'proofs'")
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() != 1 {
            return Err(corrupt(
                "job_sequence",
                "proofs",
                "the row is missing".into(),
            ));
        }
        Ok(tx)
    }
}

/// The columns of a [`ProofInfo`].
const PROOF_INFO: &str = "id, batch_first, batch_last, kind, length(proof) AS proof_len, \
                          prover_id, locked_at, attempts, created_at, updated_at";

/// A batch number as the database stores it.
pub(crate) fn to_db(n: u64) -> Result<i64, DbError> {
    i64::try_from(n).map_err(|_| DbError::OutOfRange(n))
}

pub(crate) fn corrupt(table: &'static str, key: impl Into<String>, problem: String) -> DbError {
    DbError::CorruptRow {
        table,
        key: key.into(),
        problem,
    }
}

/// A non-negative integer column.
pub(crate) fn get_u64(
    row: &AnyRow,
    col: &str,
    table: &'static str,
    key: &str,
) -> Result<u64, DbError> {
    let v: i64 = row
        .try_get(col)
        .map_err(|e| corrupt(table, key, format!("column {col}: {e}")))?;
    u64::try_from(v).map_err(|_| corrupt(table, key, format!("column {col} is negative ({v})")))
}

fn parse_witness(batch: u64, text: &str) -> Result<BatchWitness, DbError> {
    let witness = BatchWitness::from_json(text)
        .map_err(|source| DbError::CorruptWitness { batch, source })?;
    if witness.chain.batch_number != batch {
        return Err(DbError::WitnessMismatch {
            batch,
            found: witness.chain.batch_number,
        });
    }
    Ok(witness)
}

fn verified_from_row(row: &AnyRow) -> Result<Verified, DbError> {
    let last: i64 = row.try_get("last_batch")?;
    let key = format!("last_batch {last}");
    Ok(Verified {
        first_batch: get_u64(row, "first_batch", "verified", &key)?,
        last_batch: get_u64(row, "last_batch", "verified", &key)?,
        final_proof_id: row
            .try_get("final_proof_id")
            .map_err(|e| corrupt("verified", key.clone(), e.to_string()))?,
        tx_hash: row
            .try_get("tx_hash")
            .map_err(|e| corrupt("verified", key.clone(), e.to_string()))?,
        recorded_at: from_millis(
            row.try_get("recorded_at")
                .map_err(|e| corrupt("verified", key.clone(), e.to_string()))?,
        ),
    })
}

/// A [`ProofInfo`] from the [`PROOF_INFO`] columns.
pub(crate) fn proof_info_from_row(row: &AnyRow) -> Result<ProofInfo, DbError> {
    let id: i64 = row.try_get("id")?;
    let key = format!("id {id}");
    let bad =
        |col: &str, e: sqlx::Error| corrupt("proofs", key.clone(), format!("column {col}: {e}"));
    let kind: String = row.try_get("kind").map_err(|e| bad("kind", e))?;
    let kind = kind
        .parse::<ProofKind>()
        .map_err(|e| corrupt("proofs", key.clone(), e))?;
    let proof_len: Option<i64> = row.try_get("proof_len").map_err(|e| bad("proof", e))?;
    let attempts = get_u64(row, "attempts", "proofs", &key)?;
    let locked_at: Option<i64> = row.try_get("locked_at").map_err(|e| bad("locked_at", e))?;
    Ok(ProofInfo {
        id,
        first: get_u64(row, "batch_first", "proofs", &key)?,
        last: get_u64(row, "batch_last", "proofs", &key)?,
        kind,
        proof_len: proof_len.map(|n| u64::try_from(n).unwrap_or(0)),
        prover_id: row.try_get("prover_id").map_err(|e| bad("prover_id", e))?,
        locked_at: locked_at.map(from_millis),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_at: from_millis(
            row.try_get("created_at")
                .map_err(|e| bad("created_at", e))?,
        ),
        updated_at: from_millis(
            row.try_get("updated_at")
                .map_err(|e| bad("updated_at", e))?,
        ),
    })
}

/// A [`StoredProof`] from the [`PROOF_INFO`] columns and `proof`; `None` for a job.
pub(crate) fn stored_from_row(row: &AnyRow) -> Result<Option<StoredProof>, DbError> {
    let info = proof_info_from_row(row)?;
    let bytes: Option<Vec<u8>> = row.try_get("proof").map_err(|e| {
        corrupt(
            "proofs",
            format!("id {}", info.id),
            format!("column proof: {e}"),
        )
    })?;
    Ok(bytes.map(|bytes| StoredProof { info, bytes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in [ProofKind::Batch, ProofKind::Aggregate, ProofKind::Final] {
            assert_eq!(k.as_str().parse::<ProofKind>().unwrap(), k);
        }
        assert!("wrap".parse::<ProofKind>().is_err());
    }
}
