//! [`BlockWriter`] for [`StateDb`]. Each method is one transaction; on SQLite it begins
//! `IMMEDIATE`, on PostgreSQL the rows a decision rests on are locked by a guarded `UPDATE`
//! or re-checked by the statement that writes, so two writers never both succeed.

use std::time::SystemTime;

use alloy_primitives::{keccak256, B256};
use sqlx::{Any, Transaction};
use zknode_sqldb::to_millis;

use super::{is_unique_violation, to_db, u256_to_db, Cells};
use crate::error::{Result, StorageError};
use crate::traits::BlockWriter;
use crate::types::{BatchClose, BatchStatus, L1Block, NewBatch, NewBlock, OpenBatchProgress};
use crate::StateDb;

type Tx = Transaction<'static, Any>;

impl BlockWriter for StateDb {
    async fn write_block(&self, block: &NewBlock) -> Result<B256> {
        validate(block)?;
        // Until this returns, readers of the head go to the database (see `head.rs`).
        let _writing = self.head.write();
        let header = block.header();
        let header_rlp = header.rlp();
        let hash = keccak256(&header_rlp);
        let number = to_db("block number", block.number)?;
        let batch = to_db("batch number", block.batch_number)?;
        let timestamp = to_db("block timestamp", block.timestamp)?;
        let gas_limit = to_db("gas limit", block.gas_limit)?;
        let gas_used = to_db("gas used", header.gas_used)?;
        let base_fee = to_db("base fee", block.base_fee)?;
        let mut prices = Vec::with_capacity(block.transactions.len());
        for tx in &block.transactions {
            prices.push((
                to_db("cumulative gas used", tx.receipt.cumulative_gas_used)?,
                to_db("gas used", tx.receipt.gas_used)?,
                u256_to_db("effective gas price", tx.receipt.effective_gas_price)?,
            ));
        }

        let mut tx = self.db.begin_write().await?;
        // The batch must be open; on PostgreSQL this also locks its row until the commit, so
        // the batch cannot be closed under the block.
        let open =
            sqlx::query("UPDATE batches SET status = status WHERE number = $1 AND status = 'open'")
                .bind(batch)
                .execute(&mut *tx)
                .await?;
        if open.rows_affected() != 1 {
            return Err(StorageError::BlockBatchNotOpen {
                block: block.number,
                batch: block.batch_number,
                status: batch_status(&mut tx, block.batch_number).await?,
            });
        }
        let last = sqlx::query("SELECT number, hash FROM l2_blocks ORDER BY number DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = last {
            let last_number = Cells::new(&row, "l2_blocks", "last").get_i64("number")?;
            let c = Cells::new(&row, "l2_blocks", format!("number {last_number}"));
            let last_number = c.u64("number")?;
            let last_hash = c.b256("hash")?;
            if block.number <= last_number {
                let stored = sqlx::query("SELECT number FROM l2_blocks WHERE number = $1")
                    .bind(number)
                    .fetch_optional(&mut *tx)
                    .await?;
                if stored.is_some() {
                    return Err(StorageError::BlockExists(block.number));
                }
            }
            if block.number != last_number + 1 {
                return Err(StorageError::BlockNotNext {
                    number: block.number,
                    expected: last_number + 1,
                });
            }
            if block.parent_hash != last_hash {
                return Err(StorageError::ParentMismatch {
                    number: block.number,
                    parent_hash: block.parent_hash,
                    expected: last_hash,
                });
            }
        }

        let inserted = sqlx::query(
            "INSERT INTO l2_blocks (number, hash, parent_hash, batch_number, timestamp, \
             state_root, global_exit_root, block_info_root, coinbase, gas_limit, gas_used, \
             base_fee, header) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(number)
        .bind(hash.as_slice())
        .bind(block.parent_hash.as_slice())
        .bind(batch)
        .bind(timestamp)
        .bind(block.state_root.as_slice())
        .bind(block.global_exit_root.as_slice())
        .bind(block.block_info_root.as_slice())
        .bind(block.coinbase.as_slice())
        .bind(gas_limit)
        .bind(gas_used)
        .bind(base_fee)
        .bind(header_rlp.as_slice())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StorageError::BlockExists(block.number))
            }
            other => other?,
        };

        let mut log_index: i64 = 0;
        for (i, (t, (cumulative, gas_used, price))) in
            block.transactions.iter().zip(prices).enumerate()
        {
            let tx_index = to_db("transaction index", i as u64)?;
            let inserted = sqlx::query(
                "INSERT INTO transactions (hash, l2_hash, block_number, tx_index, raw, sender, \
                 tx_type, effective_percentage) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(t.hash.as_slice())
            .bind(t.l2_hash.as_slice())
            .bind(number)
            .bind(tx_index)
            .bind(&t.raw[..])
            .bind(t.sender.as_slice())
            .bind(i64::from(t.tx_type))
            .bind(i64::from(t.effective_percentage))
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StorageError::DuplicateTransaction {
                        block: block.number,
                        hash: t.hash,
                    })
                }
                other => other?,
            };
            // The pool's row, when the pool holds it, is now included (zkevm-node's
            // `selected`), whatever it was; in this transaction, so a crash never leaves an
            // included transaction pending.
            sqlx::query(
                "UPDATE pool_transactions SET status = 'selected', failed_reason = NULL \
                 WHERE hash = $1",
            )
            .bind(t.hash.as_slice())
            .execute(&mut *tx)
            .await?;
            let r = &t.receipt;
            sqlx::query(
                "INSERT INTO receipts (tx_hash, block_number, tx_index, status, \
                 cumulative_gas_used, gas_used, effective_gas_price, contract_address) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(t.hash.as_slice())
            .bind(number)
            .bind(tx_index)
            .bind(i64::from(r.success))
            .bind(cumulative)
            .bind(gas_used)
            .bind(price)
            .bind(r.contract_address.as_ref().map(|a| a.as_slice()))
            .execute(&mut *tx)
            .await?;
            for log in &r.logs {
                let topic = |k: usize| log.topics.get(k).map(|t| t.as_slice());
                sqlx::query(
                    "INSERT INTO logs (block_number, log_index, tx_hash, tx_index, address, \
                     topic0, topic1, topic2, topic3, data) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(number)
                .bind(log_index)
                .bind(t.hash.as_slice())
                .bind(tx_index)
                .bind(log.address.as_slice())
                .bind(topic(0))
                .bind(topic(1))
                .bind(topic(2))
                .bind(topic(3))
                .bind(&log.data[..])
                .execute(&mut *tx)
                .await?;
                log_index += 1;
            }
        }
        tx.commit().await?;
        Ok(hash)
    }

    async fn open_batch(&self, batch: &NewBatch) -> Result<()> {
        let number = to_db("batch number", batch.number)?;
        let timestamp = to_db("batch timestamp", batch.timestamp)?;
        let mut tx = self.db.begin_write().await?;
        let last = sqlx::query("SELECT number, status FROM batches ORDER BY number DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = last {
            let last_number = Cells::new(&row, "batches", "last").get_i64("number")?;
            let c = Cells::new(&row, "batches", format!("number {last_number}"));
            let last_number = c.u64("number")?;
            let last_status = c.status("status")?;
            if batch.number <= last_number && batch_status(&mut tx, batch.number).await?.is_some() {
                return Err(StorageError::BatchExists(batch.number));
            }
            if batch.number != last_number + 1 {
                return Err(StorageError::BatchNotNext {
                    number: batch.number,
                    expected: last_number + 1,
                });
            }
            if last_status == BatchStatus::Open {
                return Err(StorageError::PreviousBatchOpen {
                    number: batch.number,
                    open: last_number,
                });
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO batches (number, status, coinbase, timestamp, global_exit_root, \
             state_root, local_exit_root, l2_data, forced_batch_number) \
             VALUES ($1, 'open', $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(number)
        .bind(batch.coinbase.as_slice())
        .bind(timestamp)
        .bind(batch.global_exit_root.as_slice())
        .bind(batch.state_root.as_slice())
        .bind(batch.local_exit_root.as_slice())
        .bind(&[] as &[u8])
        .bind(
            batch
                .forced_batch_number
                .map(|f| to_db("forced batch number", f))
                .transpose()?,
        )
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StorageError::BatchExists(batch.number))
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(())
    }

    async fn update_open_batch(&self, progress: &OpenBatchProgress) -> Result<()> {
        let number = to_db("batch number", progress.number)?;
        let mut tx = self.db.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE batches SET state_root = $2, local_exit_root = $3, l2_data = $4, \
             resources = $5 WHERE number = $1 AND status = 'open'",
        )
        .bind(number)
        .bind(progress.state_root.as_slice())
        .bind(progress.local_exit_root.as_slice())
        .bind(&progress.l2_data[..])
        .bind(progress.resources.as_deref())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StorageError::BatchNotOpen {
                batch: progress.number,
                status: batch_status(&mut tx, progress.number).await?,
            });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn close_batch(&self, number: u64, close: &BatchClose) -> Result<()> {
        if close.closing_reason.is_empty() {
            return Err(StorageError::EmptyClosingReason(number));
        }
        let n = to_db("batch number", number)?;
        let mut tx = self.db.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE batches SET status = 'closed', closing_reason = $2, state_root = $3, \
             local_exit_root = $4, acc_input_hash = $5, l2_data = $6 \
             WHERE number = $1 AND status = 'open'",
        )
        .bind(n)
        .bind(close.closing_reason.as_str())
        .bind(close.state_root.as_slice())
        .bind(close.local_exit_root.as_slice())
        .bind(close.acc_input_hash.as_slice())
        .bind(&close.l2_data[..])
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StorageError::BatchTransition {
                batch: number,
                from: batch_status(&mut tx, number).await?,
                to: BatchStatus::Closed,
            });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_batch_virtual(&self, number: u64, tx_hash: B256) -> Result<()> {
        let (from, to) = (BatchStatus::Closed, BatchStatus::Virtual);
        advance(self, number, tx_hash, from, to, "virtual_tx_hash").await
    }

    async fn set_batch_verified(&self, number: u64, tx_hash: B256) -> Result<()> {
        let (from, to) = (BatchStatus::Virtual, BatchStatus::Verified);
        advance(self, number, tx_hash, from, to, "verified_tx_hash").await
    }

    async fn write_l1_block(&self, block: &L1Block) -> Result<()> {
        sqlx::query(
            "INSERT INTO l1_blocks (number, hash, parent_hash, timestamp) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO UPDATE SET \
             hash = excluded.hash, parent_hash = excluded.parent_hash, \
             timestamp = excluded.timestamp",
        )
        .bind(to_db("L1 block number", block.number)?)
        .bind(block.hash.as_slice())
        .bind(block.parent_hash.as_slice())
        .bind(to_db("L1 block timestamp", block.timestamp)?)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn remove_l1_blocks_from(&self, number: u64) -> Result<u64> {
        let removed = sqlx::query("DELETE FROM l1_blocks WHERE number >= $1")
            .bind(to_db("L1 block number", number)?)
            .execute(self.pool())
            .await?;
        Ok(removed.rows_affected())
    }

    async fn set_checkpoint(&self, name: &str, value: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_checkpoints (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(to_db("checkpoint value", value)?)
        .bind(to_millis(SystemTime::now()))
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

impl StateDb {
    /// Removes batches `first` and up with their L2 blocks, transactions, receipts and logs, in
    /// one database transaction; returns (batches, blocks) removed. For a node that executes
    /// batches from L1: after an L1 reorg took their sequences away, or to redo a batch a
    /// crash left half stored. Readers of the head go to the database until it is done.
    pub async fn remove_batches_from(&self, first: u64) -> Result<(u64, u64)> {
        let _writing = self.head.write();
        let mut tx = self.db.begin_write().await?;
        let removed = delete_batches_from(&mut tx, first).await?;
        tx.commit().await?;
        Ok(removed)
    }
}

/// Deletes batches `first` and up with their blocks, transactions, receipts and logs, within
/// `tx`; returns (batches, blocks) deleted. The caller brackets it with the head cache's write
/// mark.
pub(crate) async fn delete_batches_from(tx: &mut Tx, first: u64) -> Result<(u64, u64)> {
    let b = to_db("batch number", first)?;
    let row = sqlx::query("SELECT MIN(number) AS n FROM l2_blocks WHERE batch_number >= $1")
        .bind(b)
        .fetch_one(&mut **tx)
        .await?;
    let blocks = match Cells::new(&row, "l2_blocks", "MIN").opt_u64("n")? {
        Some(from) => {
            let f = to_db("block number", from)?;
            for table in ["logs", "receipts", "transactions"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE block_number >= $1"))
                    .bind(f)
                    .execute(&mut **tx)
                    .await?;
            }
            sqlx::query("DELETE FROM l2_blocks WHERE number >= $1")
                .bind(f)
                .execute(&mut **tx)
                .await?
                .rows_affected()
        }
        None => 0,
    };
    let batches = sqlx::query("DELETE FROM batches WHERE number >= $1")
        .bind(b)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok((batches, blocks))
}

/// Moves a batch from `from` to `to` (closed → virtual, virtual → verified) and records the L1
/// transaction in `column`, once the batch before it, when stored, has got at least as far.
/// The condition is part of the `UPDATE`, so it holds when the row changes, whoever else
/// writes.
async fn advance(
    db: &StateDb,
    number: u64,
    tx_hash: B256,
    from: BatchStatus,
    to: BatchStatus,
    column: &str,
) -> Result<()> {
    let behind: Vec<String> = [BatchStatus::Open, BatchStatus::Closed, BatchStatus::Virtual]
        .into_iter()
        .filter(|s| *s < to)
        .map(|s| format!("'{s}'"))
        .collect();
    let n = to_db("batch number", number)?;
    let mut tx = db.db.begin_write().await?;
    let sql = format!(
        "UPDATE batches SET status = '{to}', {column} = $2 WHERE number = $1 AND status = '{from}' \
         AND NOT EXISTS (SELECT 1 FROM batches p WHERE p.number = $3 AND p.status IN ({}))",
        behind.join(", ")
    );
    let updated = sqlx::query(&sql)
        .bind(n)
        .bind(tx_hash.as_slice())
        .bind(n - 1)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 1 {
        tx.commit().await?;
        return Ok(());
    }
    let current = batch_status(&mut tx, number).await?;
    let previous = match number.checked_sub(1) {
        Some(p) => batch_status(&mut tx, p).await?,
        None => None,
    };
    Err(match previous {
        Some(previous) if current == Some(from) && previous < to => StorageError::BatchOutOfOrder {
            batch: number,
            to,
            previous,
        },
        _ => StorageError::BatchTransition {
            batch: number,
            from: current,
            to,
        },
    })
}

/// The status of a batch; `None` when it is not stored.
async fn batch_status(tx: &mut Tx, number: u64) -> Result<Option<BatchStatus>> {
    let row = sqlx::query("SELECT status FROM batches WHERE number = $1")
        .bind(to_db("batch number", number)?)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| Cells::new(&r, "batches", format!("number {number}")).status("status"))
        .transpose()
}

/// What a block must satisfy before anything is written: a hash that is the keccak256 of the
/// raw bytes, a type that matches them, at most four topics per log, cumulative gas that adds
/// up and fits the gas limit.
fn validate(block: &NewBlock) -> Result<()> {
    let invalid = |problem: String| StorageError::InvalidBlock {
        number: block.number,
        problem,
    };
    let mut cumulative: u64 = 0;
    for (i, t) in block.transactions.iter().enumerate() {
        if keccak256(&t.raw) != t.hash {
            return Err(invalid(format!(
                "transaction {i}: hash {} is not the keccak256 of its raw bytes",
                t.hash
            )));
        }
        let first = t.raw.first().copied();
        let type_ok = match t.tx_type {
            0 => first.is_some_and(|b| b >= 0xc0),
            ty => ty < 0x80 && first == Some(ty),
        };
        if !type_ok {
            return Err(invalid(format!(
                "transaction {i}: type {} does not match its raw bytes",
                t.tx_type
            )));
        }
        let r = &t.receipt;
        cumulative = cumulative
            .checked_add(r.gas_used)
            .filter(|&c| c == r.cumulative_gas_used)
            .ok_or_else(|| {
                invalid(format!(
                    "transaction {i}: cumulative gas used {} is not the previous {cumulative} \
                     plus gas used {}",
                    r.cumulative_gas_used, r.gas_used
                ))
            })?;
        if let Some(log) = r.logs.iter().find(|l| l.topics.len() > 4) {
            return Err(invalid(format!(
                "transaction {i}: a log of {} has {} topics (at most 4)",
                log.address,
                log.topics.len()
            )));
        }
    }
    if cumulative > block.gas_limit {
        return Err(invalid(format!(
            "gas used {cumulative} exceeds the gas limit {}",
            block.gas_limit
        )));
    }
    Ok(())
}
