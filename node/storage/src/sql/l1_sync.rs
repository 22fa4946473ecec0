//! The synchronizer's tables (migration 4): what L1 says, applied one L1 block per database
//! transaction together with its effect on the node's own batches, and undone by L1 block
//! number on a reorg. Every delete is explicit: nothing relies on ON DELETE CASCADE.

use std::time::SystemTime;

use alloy_primitives::B256;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use zknode_sqldb::to_millis;

use super::{is_unique_violation, to_db, Cells};
use crate::error::{Result, StorageError};
use crate::l1_types::{
    BatchMismatch, ForcedFields, L1Applied, L1BlockEffects, L1ForcedBatch, L1InfoLeafRow,
    L1SyncPosition, L1Unwound, L1Verification, L1VirtualBatch, L1VirtualSequence, SyncHalt,
};
use crate::types::{BatchStatus, L1Block};
use crate::StateDb;

type Tx = Transaction<'static, Any>;

const LEAF: &str = "SELECT leaf_index, l1_block, tx_hash, global_exit_root, mainnet_exit_root, \
     rollup_exit_root, parent_hash, timestamp, leaf, root FROM l1_info_leaves";

const VIRTUAL: &str = "SELECT number, sequence_from, l1_block, tx_hash, l2_data, l1_info_root, \
     max_sequence_timestamp, coinbase, forced_global_exit_root, forced_timestamp, \
     forced_block_hash_l1, forced_batch_number, acc_input_hash FROM l1_virtual_batches";

const SEQUENCE: &str = "SELECT from_batch, to_batch, l1_block, tx_hash, forced, l1_info_root, \
     max_sequence_timestamp, l2_coinbase, acc_input_hash FROM l1_virtual_sequences";

const FORCED: &str = "SELECT number, l1_block, tx_hash, global_exit_root, sequencer, \
     transactions, forced_at, block_hash_l1 FROM l1_forced_batches";

const VERIFICATION: &str = "SELECT batch_number, l1_block, tx_hash, state_root, exit_root, \
     aggregator FROM l1_verifications";

/// A row that would repeat one stored already: the synchronizer read an L1 block twice.
fn duplicate(what: String) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |e| {
        if is_unique_violation(&e) {
            StorageError::L1Duplicate(what)
        } else {
            StorageError::Sql(e)
        }
    }
}

impl StateDb {
    /// Stores what one L1 block says, in one database transaction: the block, its L1 info
    /// leaves, forced batches, sequences with their batches, and verifications; then brings the
    /// node's own batches along. A batch of the node's whose data or coinbase equals L1's
    /// becomes virtual (its accInputHash replaced by L1's; the old one is kept for a reorg); a
    /// verification marks the node's virtual batches up to its batch verified. A batch that
    /// differs stores nothing of the block: the halt is recorded instead (see
    /// [`StateDb::sync_halt`]) and returned in [`L1Applied::mismatch`].
    pub async fn apply_l1_block(&self, e: &L1BlockEffects) -> Result<L1Applied> {
        self.apply_l1_block_with(e, false).await
    }

    /// [`Self::apply_l1_block`] for a node that follows L1 rather than sequencing
    /// (`l1_wins`): a batch of the node's that differs from L1's is removed, with every batch
    /// after it and their blocks, in the same database transaction (L1 wins; the node executes
    /// L1's batch next), instead of halting. Such batches came from the trusted sequencer's
    /// JSON-RPC before L1 had them.
    pub async fn apply_l1_block_with(
        &self,
        e: &L1BlockEffects,
        l1_wins: bool,
    ) -> Result<L1Applied> {
        // Blocks may be removed: readers of the head go to the database until it is done.
        let _writing = l1_wins.then(|| self.head.write());
        let mut tx = self.db.begin_write().await?;
        let mut applied = L1Applied::default();
        let n = e.block.number;
        let block = to_db("L1 block number", n)?;
        sqlx::query(
            "INSERT INTO l1_blocks (number, hash, parent_hash, timestamp) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO UPDATE SET \
             hash = excluded.hash, parent_hash = excluded.parent_hash, \
             timestamp = excluded.timestamp",
        )
        .bind(block)
        .bind(e.block.hash.as_slice())
        .bind(e.block.parent_hash.as_slice())
        .bind(to_db("L1 block timestamp", e.block.timestamp)?)
        .execute(&mut *tx)
        .await?;
        for l in &e.leaves {
            insert_leaf(&mut tx, l).await?;
        }
        for f in &e.forced_batches {
            insert_forced(&mut tx, f).await?;
        }
        for v in &e.verifications {
            insert_verification(&mut tx, v).await?;
        }
        for (s, batches) in &e.sequences {
            insert_sequence(&mut tx, s).await?;
            for b in batches {
                insert_virtual(&mut tx, b).await?;
                match virtualize_local(&mut tx, b).await? {
                    Local::Virtualized => applied.virtualized.push(b.number),
                    Local::Unknown => applied.unknown.push(b.number),
                    Local::Differs(what) if l1_wins => {
                        super::write::delete_batches_from(&mut tx, b.number).await?;
                        applied.replaced.push((b.number, what));
                        applied.unknown.push(b.number);
                    }
                    Local::Differs(what) => {
                        let mismatch = BatchMismatch {
                            batch: b.number,
                            l1_block: n,
                            tx_hash: b.tx_hash,
                            what,
                        };
                        tx.rollback().await?;
                        self.set_sync_halt(&SyncHalt {
                            batch_number: mismatch.batch,
                            l1_block: n,
                            reason: format!(
                                "batch {} sequenced on L1 by {} (L1 block {n}) differs from \
                                 this node's: {}",
                                mismatch.batch, mismatch.tx_hash, mismatch.what
                            ),
                        })
                        .await?;
                        applied.mismatch = Some(mismatch);
                        return Ok(applied);
                    }
                }
            }
        }
        for v in &e.verifications {
            let upto = to_db("batch number", v.batch_number)?;
            let rows = sqlx::query(
                "SELECT number FROM batches WHERE status = 'virtual' AND number >= 1 \
                 AND number <= $1 ORDER BY number",
            )
            .bind(upto)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                applied
                    .verified
                    .push(Cells::new(r, "batches", "verified").u64("number")?);
            }
            sqlx::query(
                "UPDATE batches SET status = 'verified', verified_tx_hash = $2 \
                 WHERE status = 'virtual' AND number >= 1 AND number <= $1",
            )
            .bind(upto)
            .bind(v.tx_hash.as_slice())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Undoes every stored L1 block from `first` on (an L1 reorg), in one database transaction: the
    /// blocks, their L1 info leaves, sequences and virtual batches, forced batches and
    /// verifications, and a halt they caused. The node's batches they had made virtual go back
    /// to closed with their own accInputHash; verified batches above the last verification kept
    /// go back to virtual.
    pub async fn unwind_l1_from(&self, first: u64) -> Result<L1Unwound> {
        let a = to_db("L1 block number", first)?;
        let mut tx = self.db.begin_write().await?;
        let batches_unvirtualized = sqlx::query(
            "UPDATE batches SET status = 'closed', virtual_tx_hash = NULL, \
             verified_tx_hash = NULL, acc_input_hash = COALESCE((SELECT v.local_acc_input_hash \
             FROM l1_virtual_batches v WHERE v.number = batches.number), acc_input_hash) \
             WHERE status IN ('virtual', 'verified') AND number IN \
             (SELECT number FROM l1_virtual_batches WHERE l1_block >= $1)",
        )
        .bind(a)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row =
            sqlx::query("SELECT MAX(batch_number) AS n FROM l1_verifications WHERE l1_block < $1")
                .bind(a)
                .fetch_one(&mut *tx)
                .await?;
        let kept = Cells::new(&row, "l1_verifications", "MAX").opt_u64("n")?;
        let batches_unverified = sqlx::query(
            "UPDATE batches SET status = 'virtual', verified_tx_hash = NULL \
             WHERE status = 'verified' AND number >= 1 AND number > $1",
        )
        .bind(to_db("batch number", kept.unwrap_or(0))?)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let u = L1Unwound {
            verifications: delete_from(&mut tx, "l1_verifications", "l1_block", a).await?,
            virtual_batches: delete_from(&mut tx, "l1_virtual_batches", "l1_block", a).await?,
            sequences: delete_from(&mut tx, "l1_virtual_sequences", "l1_block", a).await?,
            forced_batches: delete_from(&mut tx, "l1_forced_batches", "l1_block", a).await?,
            leaves: delete_from(&mut tx, "l1_info_leaves", "l1_block", a).await?,
            l1_blocks: {
                delete_from(&mut tx, "l1_sync_halt", "l1_block", a).await?;
                delete_from(&mut tx, "l1_blocks", "number", a).await?
            },
            batches_unvirtualized,
            batches_unverified,
        };
        tx.commit().await?;
        Ok(u)
    }

    /// Stored L1 blocks at or below `number`, newest first, at most `limit`.
    pub async fn l1_blocks_down_from(&self, number: u64, limit: u64) -> Result<Vec<L1Block>> {
        let rows = sqlx::query(
            "SELECT number, hash, parent_hash, timestamp FROM l1_blocks WHERE number <= $1 \
             ORDER BY number DESC LIMIT $2",
        )
        .bind(to_db("L1 block number", number)?)
        .bind(to_db("limit", limit)?)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let c = Cells::new(r, "l1_blocks", "down_from");
                Ok(L1Block {
                    number: c.u64("number")?,
                    hash: c.b256("hash")?,
                    parent_hash: c.b256("parent_hash")?,
                    timestamp: c.u64("timestamp")?,
                })
            })
            .collect()
    }

    /// Every L1 info leaf, in index order (to rebuild the tree).
    pub async fn l1_info_leaves(&self) -> Result<Vec<L1InfoLeafRow>> {
        let sql = format!("{LEAF} ORDER BY leaf_index");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(leaf_from_row).collect()
    }

    /// The L1 info leaf at `index`.
    pub async fn l1_info_leaf(&self, index: u64) -> Result<Option<L1InfoLeafRow>> {
        let sql = format!("{LEAF} WHERE leaf_index = $1");
        let row = sqlx::query(&sql)
            .bind(to_db("leaf index", index)?)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| leaf_from_row(&r)).transpose()
    }

    /// The last L1 info leaf (its global exit root is L1's latest).
    pub async fn latest_l1_info_leaf(&self) -> Result<Option<L1InfoLeafRow>> {
        let sql = format!("{LEAF} ORDER BY leaf_index DESC LIMIT 1");
        let row = sqlx::query(&sql).fetch_optional(self.pool()).await?;
        row.map(|r| leaf_from_row(&r)).transpose()
    }

    /// The newest L1 info leaf the sequencer may put in an L2 block: index 1 or more (a
    /// changeL2Block index of 0 means "no new leaf") and added at least `confirmations` blocks
    /// below the newest L1 block the synchronizer stored, so that a shallow L1 reorg cannot take
    /// away a leaf that L2 blocks already use.
    pub async fn l1_info_leaf_for_sequencing(
        &self,
        confirmations: u64,
    ) -> Result<Option<L1InfoLeafRow>> {
        let sql = format!(
            "{LEAF} WHERE leaf_index >= 1 AND l1_block + $1 <= (SELECT MAX(number) FROM l1_blocks) \
             ORDER BY leaf_index DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(to_db("confirmations", confirmations)?)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| leaf_from_row(&r)).transpose()
    }

    /// The first L1 info leaf that added global exit root `ger`.
    pub async fn l1_info_leaf_by_ger(&self, ger: B256) -> Result<Option<L1InfoLeafRow>> {
        let sql = format!("{LEAF} WHERE global_exit_root = $1 ORDER BY leaf_index LIMIT 1");
        let row = sqlx::query(&sql)
            .bind(ger.as_slice())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| leaf_from_row(&r)).transpose()
    }

    /// Batch `number` as L1 sequenced it.
    pub async fn l1_virtual_batch(&self, number: u64) -> Result<Option<L1VirtualBatch>> {
        let sql = format!("{VIRTUAL} WHERE number = $1");
        let row = sqlx::query(&sql)
            .bind(to_db("batch number", number)?)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| virtual_from_row(&r)).transpose()
    }

    /// Batches `from..=to` as L1 sequenced them, in order.
    pub async fn l1_virtual_batches(&self, from: u64, to: u64) -> Result<Vec<L1VirtualBatch>> {
        let sql = format!("{VIRTUAL} WHERE number >= $1 AND number <= $2 ORDER BY number");
        let rows = sqlx::query(&sql)
            .bind(to_db("batch number", from)?)
            .bind(to_db("batch number", to)?)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(virtual_from_row).collect()
    }

    /// Every sequence, in order.
    pub async fn l1_virtual_sequences(&self) -> Result<Vec<L1VirtualSequence>> {
        let sql = format!("{SEQUENCE} ORDER BY from_batch");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(sequence_from_row).collect()
    }

    /// Forced batch `number` of L1's queue, when synchronized.
    pub async fn l1_forced_batch(&self, number: u64) -> Result<Option<L1ForcedBatch>> {
        let sql = format!("{FORCED} WHERE number = $1");
        let row = sqlx::query(&sql)
            .bind(to_db("forced batch number", number)?)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| forced_from_row(&r)).transpose()
    }

    /// The last forced batch a batch of this node executes (0: none).
    pub async fn last_forced_batch_included(&self) -> Result<u64> {
        let row = sqlx::query("SELECT MAX(forced_batch_number) AS n FROM batches")
            .fetch_one(self.pool())
            .await?;
        Ok(Cells::new(&row, "batches", "MAX")
            .opt_u64("n")?
            .unwrap_or(0))
    }

    /// Every forced batch queued on L1, in order.
    pub async fn l1_forced_batches(&self) -> Result<Vec<L1ForcedBatch>> {
        let sql = format!("{FORCED} ORDER BY number");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(forced_from_row).collect()
    }

    /// Every verification, in order.
    pub async fn l1_verifications(&self) -> Result<Vec<L1Verification>> {
        let sql = format!("{VERIFICATION} ORDER BY batch_number");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(verification_from_row).collect()
    }

    /// The first L1 verification that covers batch `number` (its range ends at or after it).
    pub async fn l1_verification_covering(&self, number: u64) -> Result<Option<L1Verification>> {
        let sql = format!("{VERIFICATION} WHERE batch_number >= $1 ORDER BY batch_number LIMIT 1");
        let row = sqlx::query(&sql)
            .bind(to_db("batch number", number)?)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| verification_from_row(&r)).transpose()
    }

    /// Where the synchronizer's derived state stands (read back after a start or an unwind).
    pub async fn l1_sync_position(&self) -> Result<L1SyncPosition> {
        let row = sqlx::query(
            "SELECT (SELECT MAX(number) FROM l1_forced_batches) AS forced, \
             (SELECT MAX(forced_batch_number) FROM l1_virtual_batches) AS forced_seq, \
             (SELECT MAX(batch_number) FROM l1_verifications) AS verified",
        )
        .fetch_one(self.pool())
        .await?;
        let c = Cells::new(&row, "l1 sync", "position");
        let last = sqlx::query(
            "SELECT number, acc_input_hash FROM l1_virtual_batches ORDER BY number DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        let last_virtual = match last {
            Some(r) => {
                let c = Cells::new(&r, "l1_virtual_batches", "last");
                Some((c.u64("number")?, c.b256("acc_input_hash")?))
            }
            None => None,
        };
        Ok(L1SyncPosition {
            last_virtual,
            last_forced: c.opt_u64("forced")?.unwrap_or(0),
            last_forced_sequenced: c.opt_u64("forced_seq")?.unwrap_or(0),
            last_verified: c.opt_u64("verified")?.unwrap_or(0),
        })
    }

    /// The halt the synchronizer recorded, if any: the sequencer must not store blocks while
    /// there is one.
    pub async fn sync_halt(&self) -> Result<Option<SyncHalt>> {
        let row = sqlx::query("SELECT batch_number, l1_block, reason FROM l1_sync_halt")
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let c = Cells::new(&r, "l1_sync_halt", "1");
            Ok(SyncHalt {
                batch_number: c.u64("batch_number")?,
                l1_block: c.u64("l1_block")?,
                reason: c.string("reason")?,
            })
        })
        .transpose()
    }

    /// Records (or replaces) the halt.
    pub async fn set_sync_halt(&self, halt: &SyncHalt) -> Result<()> {
        sqlx::query(
            "INSERT INTO l1_sync_halt (id, batch_number, l1_block, reason, created_at) \
             VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET \
             batch_number = excluded.batch_number, l1_block = excluded.l1_block, \
             reason = excluded.reason, created_at = excluded.created_at",
        )
        .bind(to_db("batch number", halt.batch_number)?)
        .bind(to_db("L1 block number", halt.l1_block)?)
        .bind(halt.reason.as_str())
        .bind(to_millis(SystemTime::now()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes the halt (an operator's decision); returns whether there was one.
    pub async fn clear_sync_halt(&self) -> Result<bool> {
        let r = sqlx::query("DELETE FROM l1_sync_halt")
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Marks batch 0 (the genesis, which the rollup contract holds as sequenced and verified
    /// from its construction) virtual and verified when it is closed; returns whether it
    /// changed. The L1 transaction hashes are zero.
    pub async fn mark_genesis_batch_verified(&self) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE batches SET status = 'verified', virtual_tx_hash = $1, \
             verified_tx_hash = $1 WHERE number = 0 AND status = 'closed'",
        )
        .bind(B256::ZERO.as_slice())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

/// Deletes the rows of `table` whose `column` is `a` or more; returns how many.
async fn delete_from(tx: &mut Tx, table: &str, column: &str, a: i64) -> Result<u64> {
    let sql = format!("DELETE FROM {table} WHERE {column} >= $1");
    Ok(sqlx::query(&sql)
        .bind(a)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// What became of the node's own batch when L1 sequenced a batch of that number.
enum Local {
    Virtualized,
    Unknown,
    Differs(String),
}

async fn virtualize_local(tx: &mut Tx, b: &L1VirtualBatch) -> Result<Local> {
    let n = to_db("batch number", b.number)?;
    let row = sqlx::query(
        "SELECT status, coinbase, l2_data, acc_input_hash FROM batches WHERE number = $1",
    )
    .bind(n)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(Local::Unknown);
    };
    let c = Cells::new(&row, "batches", format!("number {}", b.number));
    let status = c.status("status")?;
    let coinbase = c.address("coinbase")?;
    let data = c.bytes("l2_data")?;
    let acc = c.opt_b256("acc_input_hash")?;
    let mut differs = Vec::new();
    if status == BatchStatus::Open {
        differs.push("it is still open here".to_string());
    }
    if data != b.l2_data {
        differs.push(format!(
            "batch data: L1 has {} bytes (keccak {}), this node {} bytes (keccak {})",
            b.l2_data.len(),
            alloy_primitives::keccak256(&b.l2_data),
            data.len(),
            alloy_primitives::keccak256(&data)
        ));
    }
    if coinbase != b.coinbase {
        differs.push(format!(
            "coinbase: L1 has {}, this node {coinbase}",
            b.coinbase
        ));
    }
    if !differs.is_empty() {
        return Ok(Local::Differs(differs.join("; ")));
    }
    sqlx::query(
        "UPDATE batches SET status = CASE WHEN status = 'closed' THEN 'virtual' ELSE status END, \
         virtual_tx_hash = $2, acc_input_hash = $3 WHERE number = $1",
    )
    .bind(n)
    .bind(b.tx_hash.as_slice())
    .bind(b.acc_input_hash.as_slice())
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE l1_virtual_batches SET local_acc_input_hash = $2 WHERE number = $1")
        .bind(n)
        .bind(acc.as_ref().map(|a| a.as_slice()))
        .execute(&mut **tx)
        .await?;
    Ok(Local::Virtualized)
}

async fn insert_leaf(tx: &mut Tx, l: &L1InfoLeafRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO l1_info_leaves (leaf_index, l1_block, tx_hash, global_exit_root, \
         mainnet_exit_root, rollup_exit_root, parent_hash, timestamp, leaf, root) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(to_db("leaf index", l.index)?)
    .bind(to_db("L1 block number", l.l1_block)?)
    .bind(l.tx_hash.as_slice())
    .bind(l.global_exit_root.as_slice())
    .bind(l.mainnet_exit_root.as_slice())
    .bind(l.rollup_exit_root.as_slice())
    .bind(l.parent_hash.as_slice())
    .bind(to_db("leaf timestamp", l.timestamp)?)
    .bind(l.leaf.as_slice())
    .bind(l.root.as_slice())
    .execute(&mut **tx)
    .await
    .map_err(duplicate(format!("L1 info leaf {}", l.index)))?;
    Ok(())
}

async fn insert_forced(tx: &mut Tx, f: &L1ForcedBatch) -> Result<()> {
    sqlx::query(
        "INSERT INTO l1_forced_batches (number, l1_block, tx_hash, global_exit_root, sequencer, \
         transactions, forced_at, block_hash_l1) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(to_db("forced batch number", f.number)?)
    .bind(to_db("L1 block number", f.l1_block)?)
    .bind(f.tx_hash.as_slice())
    .bind(f.global_exit_root.as_slice())
    .bind(f.sequencer.as_slice())
    .bind(&f.transactions[..])
    .bind(to_db("forced timestamp", f.forced_at)?)
    .bind(f.block_hash_l1.as_slice())
    .execute(&mut **tx)
    .await
    .map_err(duplicate(format!("forced batch {}", f.number)))?;
    Ok(())
}

async fn insert_verification(tx: &mut Tx, v: &L1Verification) -> Result<()> {
    sqlx::query(
        "INSERT INTO l1_verifications (batch_number, l1_block, tx_hash, state_root, exit_root, \
         aggregator) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(to_db("batch number", v.batch_number)?)
    .bind(to_db("L1 block number", v.l1_block)?)
    .bind(v.tx_hash.as_slice())
    .bind(v.state_root.as_slice())
    .bind(v.exit_root.as_slice())
    .bind(v.aggregator.as_slice())
    .execute(&mut **tx)
    .await
    .map_err(duplicate(format!(
        "verification of batch {}",
        v.batch_number
    )))?;
    Ok(())
}

async fn insert_sequence(tx: &mut Tx, s: &L1VirtualSequence) -> Result<()> {
    sqlx::query(
        "INSERT INTO l1_virtual_sequences (from_batch, to_batch, l1_block, tx_hash, forced, \
         l1_info_root, max_sequence_timestamp, l2_coinbase, acc_input_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(to_db("batch number", s.from_batch)?)
    .bind(to_db("batch number", s.to_batch)?)
    .bind(to_db("L1 block number", s.l1_block)?)
    .bind(s.tx_hash.as_slice())
    .bind(i64::from(s.forced))
    .bind(s.l1_info_root.as_slice())
    .bind(to_db("max sequence timestamp", s.max_sequence_timestamp)?)
    .bind(s.l2_coinbase.as_slice())
    .bind(s.acc_input_hash.as_slice())
    .execute(&mut **tx)
    .await
    .map_err(duplicate(format!(
        "sequence of batches {}..={}",
        s.from_batch, s.to_batch
    )))?;
    Ok(())
}

async fn insert_virtual(tx: &mut Tx, b: &L1VirtualBatch) -> Result<()> {
    let f = b.forced.unwrap_or(ForcedFields {
        global_exit_root: B256::ZERO,
        timestamp: 0,
        block_hash_l1: B256::ZERO,
        forced_batch_number: 0,
    });
    let forced_number = match b.forced {
        Some(f) => Some(to_db("forced batch number", f.forced_batch_number)?),
        None => None,
    };
    sqlx::query(
        "INSERT INTO l1_virtual_batches (number, sequence_from, l1_block, tx_hash, l2_data, \
         l1_info_root, max_sequence_timestamp, coinbase, forced_global_exit_root, \
         forced_timestamp, forced_block_hash_l1, forced_batch_number, acc_input_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(to_db("batch number", b.number)?)
    .bind(to_db("batch number", b.sequence_from)?)
    .bind(to_db("L1 block number", b.l1_block)?)
    .bind(b.tx_hash.as_slice())
    .bind(&b.l2_data[..])
    .bind(b.l1_info_root.as_slice())
    .bind(to_db("max sequence timestamp", b.max_sequence_timestamp)?)
    .bind(b.coinbase.as_slice())
    .bind(f.global_exit_root.as_slice())
    .bind(to_db("forced timestamp", f.timestamp)?)
    .bind(f.block_hash_l1.as_slice())
    .bind(forced_number)
    .bind(b.acc_input_hash.as_slice())
    .execute(&mut **tx)
    .await
    .map_err(duplicate(format!("virtual batch {}", b.number)))?;
    Ok(())
}

fn leaf_from_row(r: &AnyRow) -> Result<L1InfoLeafRow> {
    let c = Cells::new(r, "l1_info_leaves", "leaf");
    Ok(L1InfoLeafRow {
        index: c.u64("leaf_index")?,
        l1_block: c.u64("l1_block")?,
        tx_hash: c.b256("tx_hash")?,
        global_exit_root: c.b256("global_exit_root")?,
        mainnet_exit_root: c.b256("mainnet_exit_root")?,
        rollup_exit_root: c.b256("rollup_exit_root")?,
        parent_hash: c.b256("parent_hash")?,
        timestamp: c.u64("timestamp")?,
        leaf: c.b256("leaf")?,
        root: c.b256("root")?,
    })
}

fn virtual_from_row(r: &AnyRow) -> Result<L1VirtualBatch> {
    let c = Cells::new(r, "l1_virtual_batches", "batch");
    let forced_timestamp = c.u64("forced_timestamp")?;
    let forced = match c.opt_u64("forced_batch_number")? {
        Some(n) => Some(ForcedFields {
            global_exit_root: c.b256("forced_global_exit_root")?,
            timestamp: forced_timestamp,
            block_hash_l1: c.b256("forced_block_hash_l1")?,
            forced_batch_number: n,
        }),
        None => None,
    };
    Ok(L1VirtualBatch {
        number: c.u64("number")?,
        sequence_from: c.u64("sequence_from")?,
        l1_block: c.u64("l1_block")?,
        tx_hash: c.b256("tx_hash")?,
        l2_data: c.bytes("l2_data")?,
        l1_info_root: c.b256("l1_info_root")?,
        max_sequence_timestamp: c.u64("max_sequence_timestamp")?,
        coinbase: c.address("coinbase")?,
        forced,
        acc_input_hash: c.b256("acc_input_hash")?,
    })
}

fn sequence_from_row(r: &AnyRow) -> Result<L1VirtualSequence> {
    let c = Cells::new(r, "l1_virtual_sequences", "sequence");
    Ok(L1VirtualSequence {
        from_batch: c.u64("from_batch")?,
        to_batch: c.u64("to_batch")?,
        l1_block: c.u64("l1_block")?,
        tx_hash: c.b256("tx_hash")?,
        forced: c.flag("forced")?,
        l1_info_root: c.b256("l1_info_root")?,
        max_sequence_timestamp: c.u64("max_sequence_timestamp")?,
        l2_coinbase: c.address("l2_coinbase")?,
        acc_input_hash: c.b256("acc_input_hash")?,
    })
}

fn forced_from_row(r: &AnyRow) -> Result<L1ForcedBatch> {
    let c = Cells::new(r, "l1_forced_batches", "forced");
    Ok(L1ForcedBatch {
        number: c.u64("number")?,
        l1_block: c.u64("l1_block")?,
        tx_hash: c.b256("tx_hash")?,
        global_exit_root: c.b256("global_exit_root")?,
        sequencer: c.address("sequencer")?,
        transactions: c.bytes("transactions")?,
        forced_at: c.u64("forced_at")?,
        block_hash_l1: c.b256("block_hash_l1")?,
    })
}

fn verification_from_row(r: &AnyRow) -> Result<L1Verification> {
    let c = Cells::new(r, "l1_verifications", "verification");
    Ok(L1Verification {
        batch_number: c.u64("batch_number")?,
        l1_block: c.u64("l1_block")?,
        tx_hash: c.b256("tx_hash")?,
        state_root: c.b256("state_root")?,
        exit_root: c.b256("exit_root")?,
        aggregator: c.address("aggregator")?,
    })
}
