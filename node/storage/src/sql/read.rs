//! [`BlockReader`] for [`StateDb`].

use alloy_primitives::{keccak256, B256};
use sqlx::any::AnyRow;

use super::{to_db, Cells};
use crate::error::{Result, StorageError};
use crate::header::L2Header;
use crate::traits::BlockReader;
use crate::types::{
    Batch, Block, BlockHead, L1Block, LatestBatchNumbers, LogFilter, StoredLog, StoredReceipt,
    StoredTransaction,
};
use crate::StateDb;

const BLOCK: &str = "SELECT number, hash, batch_number, global_exit_root, header FROM l2_blocks";

const TRANSACTION: &str = "SELECT t.hash, t.l2_hash, t.block_number, b.hash AS block_hash, \
     t.tx_index, t.raw, t.sender, t.tx_type, t.effective_percentage \
     FROM transactions t JOIN l2_blocks b ON b.number = t.block_number";

const LOG: &str = "SELECT l.block_number, b.hash AS block_hash, l.log_index, l.tx_hash, \
     l.tx_index, l.address, l.topic0, l.topic1, l.topic2, l.topic3, l.data \
     FROM logs l JOIN l2_blocks b ON b.number = l.block_number";

const RECEIPT: &str = "SELECT r.tx_hash, r.block_number, b.hash AS block_hash, r.tx_index, \
     t.tx_type, r.status, r.cumulative_gas_used, r.gas_used, r.effective_gas_price, \
     r.contract_address \
     FROM receipts r JOIN transactions t ON t.hash = r.tx_hash \
     JOIN l2_blocks b ON b.number = r.block_number";

const BATCH: &str = "SELECT number, status, coinbase, timestamp, global_exit_root, state_root, \
     local_exit_root, l2_data, resources, acc_input_hash, closing_reason, virtual_tx_hash, \
     verified_tx_hash, forced_batch_number FROM batches";

impl BlockReader for StateDb {
    async fn block_by_number(&self, number: u64) -> Result<Option<Block>> {
        let sql = format!("{BLOCK} WHERE number = $1");
        let row = sqlx::query(&sql)
            .bind(to_db("block number", number)?)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| block_from_row(&r)).transpose()
    }

    async fn block_by_hash(&self, hash: B256) -> Result<Option<Block>> {
        let sql = format!("{BLOCK} WHERE hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash.as_slice())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| block_from_row(&r)).transpose()
    }

    async fn latest_block_number(&self) -> Result<Option<u64>> {
        if let Ok(h) = self.head.get() {
            return Ok(Some(h.number));
        }
        let row = sqlx::query("SELECT MAX(number) AS number FROM l2_blocks")
            .fetch_one(self.pool())
            .await?;
        Cells::new(&row, "l2_blocks", "MAX(number)").opt_u64("number")
    }

    async fn latest_block_head(&self) -> Result<Option<BlockHead>> {
        let generation = match self.head.get() {
            Ok(h) => return Ok(Some(h)),
            Err(g) => g,
        };
        let row = sqlx::query(
            "SELECT number, hash, state_root FROM l2_blocks ORDER BY number DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let c = Cells::new(&row, "l2_blocks", "latest");
        let head = BlockHead {
            number: c.u64("number")?,
            hash: c.b256("hash")?,
            state_root: c.b256("state_root")?,
        };
        if let Some(g) = generation {
            self.head.store(g, head);
        }
        Ok(Some(head))
    }

    async fn block_transactions(&self, number: u64) -> Result<Vec<StoredTransaction>> {
        let sql = format!("{TRANSACTION} WHERE t.block_number = $1 ORDER BY t.tx_index");
        let rows = sqlx::query(&sql)
            .bind(to_db("block number", number)?)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(transaction_from_row).collect()
    }

    async fn transaction_by_hash(&self, hash: B256) -> Result<Option<StoredTransaction>> {
        let sql = format!("{TRANSACTION} WHERE t.hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash.as_slice())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| transaction_from_row(&r)).transpose()
    }

    async fn transaction_by_l2_hash(&self, l2_hash: B256) -> Result<Option<StoredTransaction>> {
        let sql = format!("{TRANSACTION} WHERE t.l2_hash = $1");
        let row = sqlx::query(&sql)
            .bind(l2_hash.as_slice())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| transaction_from_row(&r)).transpose()
    }

    async fn receipt(&self, tx_hash: B256) -> Result<Option<StoredReceipt>> {
        // One snapshot for the receipt and its logs.
        let mut conn = self.pool().begin().await?;
        let sql = format!("{RECEIPT} WHERE r.tx_hash = $1");
        let row = sqlx::query(&sql)
            .bind(tx_hash.as_slice())
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut receipt = receipt_from_row(&row)?;
        let sql =
            format!("{LOG} WHERE l.block_number = $1 AND l.tx_index = $2 ORDER BY l.log_index");
        let rows = sqlx::query(&sql)
            .bind(to_db("block number", receipt.block_number)?)
            .bind(to_db("transaction index", receipt.tx_index)?)
            .fetch_all(&mut *conn)
            .await?;
        receipt.logs = rows.iter().map(log_from_row).collect::<Result<_>>()?;
        conn.commit().await?;
        Ok(Some(receipt))
    }

    async fn block_receipts(&self, number: u64) -> Result<Vec<StoredReceipt>> {
        // One snapshot for the receipts and the block's logs, which are in receipt order.
        let mut conn = self.pool().begin().await?;
        let n = to_db("block number", number)?;
        let sql = format!("{RECEIPT} WHERE r.block_number = $1 ORDER BY r.tx_index");
        let rows = sqlx::query(&sql).bind(n).fetch_all(&mut *conn).await?;
        let mut receipts = rows
            .iter()
            .map(receipt_from_row)
            .collect::<Result<Vec<_>>>()?;
        let sql = format!("{LOG} WHERE l.block_number = $1 ORDER BY l.log_index");
        let rows = sqlx::query(&sql).bind(n).fetch_all(&mut *conn).await?;
        conn.commit().await?;
        for row in &rows {
            let log = log_from_row(row)?;
            let Some(r) = receipts.iter_mut().find(|r| r.tx_index == log.tx_index) else {
                return Err(StorageError::corrupt(
                    "logs",
                    format!("block {number} log {}", log.log_index),
                    "no receipt has its transaction index",
                ));
            };
            r.logs.push(log);
        }
        Ok(receipts)
    }

    async fn logs(&self, filter: &LogFilter) -> Result<Vec<StoredLog>> {
        let from = to_db("block number", filter.from_block)?;
        let to = to_db("block number", filter.to_block)?;
        let mut sql = LOG.to_owned();
        let values = log_filter_sql(filter, &mut sql)?;
        let mut query = sqlx::query(&sql).bind(from).bind(to);
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(log_from_row).collect()
    }

    async fn batch(&self, number: u64) -> Result<Option<Batch>> {
        let sql = format!("{BATCH} WHERE number = $1");
        let row = sqlx::query(&sql)
            .bind(to_db("batch number", number)?)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| batch_from_row(&r)).transpose()
    }

    async fn batch_block_numbers(&self, batch: u64) -> Result<Vec<u64>> {
        let rows =
            sqlx::query("SELECT number FROM l2_blocks WHERE batch_number = $1 ORDER BY number")
                .bind(to_db("batch number", batch)?)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Cells::new(r, "l2_blocks", format!("batch {batch}")).u64("number"))
            .collect()
    }

    async fn latest_batch_numbers(&self) -> Result<LatestBatchNumbers> {
        // The statuses never decrease with the number (the writer keeps it so), so the last
        // batch that got at least as far as a stage is the largest of the stages' maxima;
        // each maximum is one lookup in the (status, number) index.
        let row = sqlx::query(
            "SELECT (SELECT MAX(number) FROM batches) AS last, \
             (SELECT MAX(number) FROM batches WHERE status = 'closed') AS closed, \
             (SELECT MAX(number) FROM batches WHERE status = 'virtual') AS virtualized, \
             (SELECT MAX(number) FROM batches WHERE status = 'verified') AS verified",
        )
        .fetch_one(self.pool())
        .await?;
        let c = Cells::new(&row, "batches", "latest numbers");
        let verified = c.opt_u64("verified")?;
        let virtualized = c.opt_u64("virtualized")?.max(verified);
        let closed = c.opt_u64("closed")?.max(virtualized);
        let last = c.opt_u64("last")?;
        Ok(LatestBatchNumbers {
            last,
            closed,
            virtualized,
            verified,
        })
    }

    async fn l1_block(&self, number: u64) -> Result<Option<L1Block>> {
        let row = sqlx::query(
            "SELECT number, hash, parent_hash, timestamp FROM l1_blocks WHERE number = $1",
        )
        .bind(to_db("L1 block number", number)?)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| l1_block_from_row(&r)).transpose()
    }

    async fn latest_l1_block(&self) -> Result<Option<L1Block>> {
        let row = sqlx::query(
            "SELECT number, hash, parent_hash, timestamp FROM l1_blocks \
             ORDER BY number DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| l1_block_from_row(&r)).transpose()
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT value FROM sync_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Cells::new(&r, "sync_checkpoints", name).u64("value"))
            .transpose()
    }

    async fn last_block_up_to_batch(&self, batch: u64) -> Result<Option<u64>> {
        // Backwards along the (batch_number, number) index: one row read.
        let row = sqlx::query(
            "SELECT number FROM l2_blocks WHERE batch_number <= $1 \
             ORDER BY batch_number DESC, number DESC LIMIT 1",
        )
        .bind(to_db("batch number", batch)?)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Cells::new(&r, "l2_blocks", format!("batch <= {batch}")).u64("number"))
            .transpose()
    }

    async fn block_state_roots(&self, from: u64, to: u64) -> Result<Vec<B256>> {
        let rows = sqlx::query(
            "SELECT number, state_root FROM l2_blocks WHERE number >= $1 AND number <= $2 \
             ORDER BY number",
        )
        .bind(to_db("block number", from)?)
        .bind(to_db("block number", to)?)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let n = Cells::new(r, "l2_blocks", "?").get_i64("number")?;
                Cells::new(r, "l2_blocks", format!("number {n}")).b256("state_root")
            })
            .collect()
    }

    async fn latest_global_exit_root(&self) -> Result<Option<B256>> {
        // Blocks store zero when they leave the global exit root unchanged.
        let row = sqlx::query(
            "SELECT number, global_exit_root FROM l2_blocks WHERE global_exit_root <> $1 \
             ORDER BY number DESC LIMIT 1",
        )
        .bind(B256::ZERO.as_slice())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let n = Cells::new(&r, "l2_blocks", "?").get_i64("number")?;
            Cells::new(&r, "l2_blocks", format!("number {n}")).b256("global_exit_root")
        })
        .transpose()
    }
}

/// Adds `AND column IN ($k, …)` for the options, numbering the placeholders after the two
/// block bounds and the values already added; nothing when there are no options.
/// Appends to `sql` (a select from `logs l`) the WHERE clause, order and limit of `filter`, with
/// the block range as `$1` and `$2`; returns the values of the parameters from `$3` on.
pub(super) fn log_filter_sql<'f>(filter: &'f LogFilter, sql: &mut String) -> Result<Vec<&'f [u8]>> {
    sql.push_str(" WHERE l.block_number >= $1 AND l.block_number <= $2");
    let mut values: Vec<&[u8]> = Vec::new();
    any_of(
        sql,
        &mut values,
        "l.address",
        filter.addresses.iter().map(|a| a.as_slice()),
    );
    for (i, topics) in filter.topics.iter().enumerate() {
        any_of(
            sql,
            &mut values,
            &format!("l.topic{i}"),
            topics.iter().map(|t| t.as_slice()),
        );
    }
    sql.push_str(" ORDER BY l.block_number, l.log_index");
    if let Some(limit) = filter.limit {
        sql.push_str(&format!(" LIMIT {}", to_db("log limit", limit)?));
    }
    Ok(values)
}

fn any_of<'a>(
    sql: &mut String,
    values: &mut Vec<&'a [u8]>,
    column: &str,
    options: impl Iterator<Item = &'a [u8]>,
) {
    let before = values.len();
    values.extend(options);
    if values.len() == before {
        return;
    }
    let marks: Vec<String> = (before..values.len())
        .map(|i| format!("${}", i + 3))
        .collect();
    sql.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
}

/// A [`Block`] from the columns of [`BLOCK`]. The header must decode, hash to the stored hash
/// and carry the stored number.
fn block_from_row(row: &AnyRow) -> Result<Block> {
    let number: i64 = Cells::new(row, "l2_blocks", "?").get_i64("number")?;
    let c = Cells::new(row, "l2_blocks", format!("number {number}"));
    let number = c.u64("number")?;
    let hash = c.b256("hash")?;
    let bytes = c.bytes("header")?;
    let header = L2Header::decode_rlp(&bytes)
        .map_err(|e| StorageError::corrupt("l2_blocks", c.key(), format!("column header: {e}")))?;
    if keccak256(&bytes) != hash {
        return Err(StorageError::corrupt(
            "l2_blocks",
            c.key(),
            "the header does not hash to the stored hash",
        ));
    }
    if header.number != number {
        return Err(StorageError::corrupt(
            "l2_blocks",
            c.key(),
            format!("the header is for block {}", header.number),
        ));
    }
    Ok(Block {
        hash,
        header,
        batch_number: c.u64("batch_number")?,
        global_exit_root: c.b256("global_exit_root")?,
    })
}

/// A [`StoredTransaction`] from the columns of [`TRANSACTION`].
fn transaction_from_row(row: &AnyRow) -> Result<StoredTransaction> {
    let key = match Cells::new(row, "transactions", "?").opt_bytes("hash") {
        Ok(Some(h)) => format!("hash 0x{}", alloy_primitives::hex::encode(h)),
        _ => "hash ?".to_string(),
    };
    let c = Cells::new(row, "transactions", key);
    Ok(StoredTransaction {
        hash: c.b256("hash")?,
        l2_hash: c.b256("l2_hash")?,
        block_number: c.u64("block_number")?,
        block_hash: c.b256("block_hash")?,
        tx_index: c.u64("tx_index")?,
        raw: c.bytes("raw")?,
        sender: c.address("sender")?,
        tx_type: c.u8("tx_type")?,
        effective_percentage: c.u8("effective_percentage")?,
    })
}

/// A [`StoredLog`] from the columns of [`LOG`]. Topics stop at the first NULL; one after a
/// NULL is corrupt.
/// A receipt without its logs.
fn receipt_from_row(row: &AnyRow) -> Result<StoredReceipt> {
    let pre = Cells::new(row, "receipts", "?");
    let tx_hash = pre.b256("tx_hash")?;
    let c = Cells::new(row, "receipts", format!("tx_hash {tx_hash}"));
    Ok(StoredReceipt {
        tx_hash,
        block_number: c.u64("block_number")?,
        block_hash: c.b256("block_hash")?,
        tx_index: c.u64("tx_index")?,
        tx_type: c.u8("tx_type")?,
        success: c.flag("status")?,
        cumulative_gas_used: c.u64("cumulative_gas_used")?,
        gas_used: c.u64("gas_used")?,
        effective_gas_price: c.u256("effective_gas_price")?,
        contract_address: c.opt_address("contract_address")?,
        logs: Vec::new(),
    })
}

fn log_from_row(row: &AnyRow) -> Result<StoredLog> {
    let pre = Cells::new(row, "logs", "?");
    let key = format!(
        "block {} log {}",
        pre.get_i64("block_number").unwrap_or(-1),
        pre.get_i64("log_index").unwrap_or(-1)
    );
    let c = Cells::new(row, "logs", key);
    let mut topics = Vec::new();
    let mut ended = false;
    for col in ["topic0", "topic1", "topic2", "topic3"] {
        match c.opt_b256(col)? {
            Some(_) if ended => {
                return Err(StorageError::corrupt(
                    "logs",
                    c.key(),
                    format!("column {col} follows a missing topic"),
                ))
            }
            Some(t) => topics.push(t),
            None => ended = true,
        }
    }
    Ok(StoredLog {
        block_number: c.u64("block_number")?,
        block_hash: c.b256("block_hash")?,
        log_index: c.u64("log_index")?,
        tx_hash: c.b256("tx_hash")?,
        tx_index: c.u64("tx_index")?,
        address: c.address("address")?,
        topics,
        data: c.bytes("data")?,
    })
}

/// A [`Batch`] from the columns of [`BATCH`].
fn batch_from_row(row: &AnyRow) -> Result<Batch> {
    let number = Cells::new(row, "batches", "?").get_i64("number")?;
    let c = Cells::new(row, "batches", format!("number {number}"));
    Ok(Batch {
        number: c.u64("number")?,
        status: c.status("status")?,
        coinbase: c.address("coinbase")?,
        timestamp: c.u64("timestamp")?,
        global_exit_root: c.b256("global_exit_root")?,
        state_root: c.b256("state_root")?,
        local_exit_root: c.b256("local_exit_root")?,
        l2_data: c.bytes("l2_data")?,
        resources: c.opt_string("resources")?,
        acc_input_hash: c.opt_b256("acc_input_hash")?,
        closing_reason: c.opt_string("closing_reason")?,
        virtual_tx_hash: c.opt_b256("virtual_tx_hash")?,
        verified_tx_hash: c.opt_b256("verified_tx_hash")?,
        forced_batch_number: c.opt_u64("forced_batch_number")?,
    })
}

fn l1_block_from_row(row: &AnyRow) -> Result<L1Block> {
    let number = Cells::new(row, "l1_blocks", "?").get_i64("number")?;
    let c = Cells::new(row, "l1_blocks", format!("number {number}"));
    Ok(L1Block {
        number: c.u64("number")?,
        hash: c.b256("hash")?,
        parent_hash: c.b256("parent_hash")?,
        timestamp: c.u64("timestamp")?,
    })
}
