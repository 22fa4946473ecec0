//! The sequence sender's records (`l1_sequences`, `l1_sequence_batches`; migration 3), as
//! inherent methods of [`StateDb`].

use std::time::SystemTime;

use alloy_primitives::{Address, B256};
use sqlx::any::AnyRow;

use super::{is_unique_violation, to_db, Cells};
use crate::error::{Result, StorageError};
use crate::StateDb;

const TABLE: &str = "l1_sequences";

/// Where a recorded sequence stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SequenceStatus {
    /// Handed to the L1 transaction manager.
    Pending,
    /// L1 holds it.
    Done,
    /// Its L1 transaction failed; its batches are sequenced again by a later sequence.
    Failed,
}

impl SequenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SequenceStatus::Pending => "pending",
            SequenceStatus::Done => "done",
            SequenceStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for SequenceStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "pending" => SequenceStatus::Pending,
            "done" => SequenceStatus::Done,
            "failed" => SequenceStatus::Failed,
            other => return Err(format!("unknown sequence status {other:?}")),
        })
    }
}

/// A sequence of batches `from_batch..=to_batch` sent in one `sequenceBatches` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceRecord {
    /// The L1 transaction manager's id of its transaction (`sequence-{from}-{to}`).
    pub id: String,
    pub from_batch: u64,
    pub to_batch: u64,
    pub l1_info_tree_leaf_count: u32,
    pub max_sequence_timestamp: u64,
    pub l1_info_root: B256,
    pub l2_coinbase: Address,
    /// L1's accInputHash before the first batch.
    pub old_acc_input_hash: B256,
    /// After the last batch: `expectedFinalAccInputHash`.
    pub final_acc_input_hash: B256,
    pub status: SequenceStatus,
    pub error: Option<String>,
    /// The accInputHash of each batch, `from_batch` first.
    pub acc_input_hashes: Vec<B256>,
}

const COLUMNS: &str = "id, from_batch, to_batch, l1_info_tree_leaf_count, max_sequence_timestamp, \
     l1_info_root, l2_coinbase, old_acc_input_hash, final_acc_input_hash, status, error";

fn parse_row(r: &AnyRow) -> Result<SequenceRecord> {
    let id = Cells::new(r, TABLE, "?").string("id")?;
    let c = Cells::new(r, TABLE, &id);
    let count = c.u64("l1_info_tree_leaf_count")?;
    let status = c
        .string("status")?
        .parse()
        .map_err(|e: String| StorageError::corrupt(TABLE, &id, format!("column status: {e}")))?;
    Ok(SequenceRecord {
        from_batch: c.u64("from_batch")?,
        to_batch: c.u64("to_batch")?,
        l1_info_tree_leaf_count: u32::try_from(count).map_err(|_| {
            StorageError::corrupt(TABLE, &id, format!("leaf count {count} above 2^32"))
        })?,
        max_sequence_timestamp: c.u64("max_sequence_timestamp")?,
        l1_info_root: c.b256("l1_info_root")?,
        l2_coinbase: c.address("l2_coinbase")?,
        old_acc_input_hash: c.b256("old_acc_input_hash")?,
        final_acc_input_hash: c.b256("final_acc_input_hash")?,
        status,
        error: c.opt_string("error")?,
        acc_input_hashes: Vec::new(),
        id,
    })
}

impl StateDb {
    /// Records a sequence as pending, with its batches' accInputHashes, in one transaction.
    /// Returns false, recording nothing, when its id is recorded already or a pending or done
    /// sequence starts at the same batch.
    pub async fn insert_sequence(&self, s: &SequenceRecord) -> Result<bool> {
        let expected = s.to_batch.checked_sub(s.from_batch).map(|d| d + 1);
        if expected != Some(s.acc_input_hashes.len() as u64) {
            return Err(StorageError::corrupt(
                TABLE,
                &s.id,
                format!(
                    "batches {}..={} with {} accInputHashes",
                    s.from_batch,
                    s.to_batch,
                    s.acc_input_hashes.len()
                ),
            ));
        }
        let from = to_db("batch number", s.from_batch)?;
        let to = to_db("batch number", s.to_batch)?;
        let ts = to_db("max sequence timestamp", s.max_sequence_timestamp)?;
        let now = zknode_sqldb::to_millis(SystemTime::now());
        let mut t = self.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO l1_sequences (id, from_batch, to_batch, l1_info_tree_leaf_count, \
             max_sequence_timestamp, l1_info_root, l2_coinbase, old_acc_input_hash, \
             final_acc_input_hash, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10)",
        )
        .bind(&s.id)
        .bind(from)
        .bind(to)
        .bind(i64::from(s.l1_info_tree_leaf_count))
        .bind(ts)
        .bind(s.l1_info_root.as_slice())
        .bind(s.l2_coinbase.as_slice())
        .bind(s.old_acc_input_hash.as_slice())
        .bind(s.final_acc_input_hash.as_slice())
        .bind(now)
        .execute(&mut *t)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        for (i, h) in s.acc_input_hashes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO l1_sequence_batches (sequence_id, batch_number, acc_input_hash) \
                 VALUES ($1, $2, $3)",
            )
            .bind(&s.id)
            .bind(from + i as i64)
            .bind(h.as_slice())
            .execute(&mut *t)
            .await?;
        }
        t.commit().await?;
        Ok(true)
    }

    /// The sequences that are not failed (pending and done), by first batch.
    pub async fn live_sequences(&self) -> Result<Vec<SequenceRecord>> {
        self.sequences_where("status <> 'failed'").await
    }

    /// The pending sequences, by first batch.
    pub async fn pending_sequences(&self) -> Result<Vec<SequenceRecord>> {
        self.sequences_where("status = 'pending'").await
    }

    /// The live sequence (pending or done) with the highest last batch.
    pub async fn last_live_sequence(&self) -> Result<Option<SequenceRecord>> {
        let q = format!(
            "SELECT {COLUMNS} FROM l1_sequences WHERE status <> 'failed' \
             ORDER BY to_batch DESC LIMIT 1"
        );
        let Some(row) = sqlx::query(&q).fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        let mut s = parse_row(&row)?;
        s.acc_input_hashes = self.sequence_batch_hashes(&s.id).await?;
        Ok(Some(s))
    }

    /// The sequence recorded under `id`.
    pub async fn sequence(&self, id: &str) -> Result<Option<SequenceRecord>> {
        let q = format!("SELECT {COLUMNS} FROM l1_sequences WHERE id = $1");
        let Some(row) = sqlx::query(&q).bind(id).fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        let mut s = parse_row(&row)?;
        s.acc_input_hashes = self.sequence_batch_hashes(&s.id).await?;
        Ok(Some(s))
    }

    /// How many sequences (any status) were recorded with an id starting with `prefix`.
    pub async fn count_sequences_with_prefix(&self, prefix: &str) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM l1_sequences WHERE id LIKE $1")
            .bind(format!("{prefix}%"))
            .fetch_one(self.pool())
            .await?;
        Cells::new(&row, TABLE, prefix).u64("n")
    }

    /// Sets a sequence's status (and, for a failed one, why).
    pub async fn set_sequence_status(
        &self,
        id: &str,
        status: SequenceStatus,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE l1_sequences SET status = $2, error = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .bind(zknode_sqldb::to_millis(SystemTime::now()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn sequences_where(&self, cond: &str) -> Result<Vec<SequenceRecord>> {
        let q = format!("SELECT {COLUMNS} FROM l1_sequences WHERE {cond} ORDER BY from_batch");
        let rows = sqlx::query(&q).fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut s = parse_row(r)?;
            s.acc_input_hashes = self.sequence_batch_hashes(&s.id).await?;
            out.push(s);
        }
        Ok(out)
    }

    async fn sequence_batch_hashes(&self, id: &str) -> Result<Vec<B256>> {
        let rows = sqlx::query(
            "SELECT acc_input_hash FROM l1_sequence_batches WHERE sequence_id = $1 \
             ORDER BY batch_number",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Cells::new(r, "l1_sequence_batches", id).b256("acc_input_hash"))
            .collect()
    }
}
