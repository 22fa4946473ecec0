//! The L1 transaction manager's tables (`l1_txs`, `l1_tx_hashes`; migration 3), as inherent
//! methods of [`StateDb`]. Every method is one database transaction.

use std::time::SystemTime;

use alloy_primitives::{Address, Bytes, B256, U256};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{is_unique_violation, to_db, Cells};
use crate::error::{Result, StorageError};
use crate::StateDb;

const TABLE: &str = "l1_txs";

/// Where an L1 transaction stands (see the migration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L1TxStatus {
    /// Recorded, not sent yet.
    Created,
    /// Sent (at least one signed version), no receipt yet.
    Sent,
    /// A successful receipt in a block not yet confirmed.
    Mined,
    /// Mined and followed by enough blocks.
    Confirmed,
    /// Reverted on L1, or refused by gas estimation; `error` says why.
    Failed,
}

impl L1TxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            L1TxStatus::Created => "created",
            L1TxStatus::Sent => "sent",
            L1TxStatus::Mined => "mined",
            L1TxStatus::Confirmed => "confirmed",
            L1TxStatus::Failed => "failed",
        }
    }

    /// Confirmed or failed: nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(self, L1TxStatus::Confirmed | L1TxStatus::Failed)
    }
}

impl std::fmt::Display for L1TxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for L1TxStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "created" => L1TxStatus::Created,
            "sent" => L1TxStatus::Sent,
            "mined" => L1TxStatus::Mined,
            "confirmed" => L1TxStatus::Confirmed,
            "failed" => L1TxStatus::Failed,
            other => return Err(format!("unknown L1 transaction status {other:?}")),
        })
    }
}

/// An L1 transaction to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewL1Tx {
    pub id: String,
    pub owner: String,
    pub sender: Address,
    pub to: Address,
    pub value: U256,
    pub data: Bytes,
    pub gas_limit: u64,
}

/// What [`StateDb::insert_l1_tx`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L1TxInsert {
    /// Recorded with this nonce.
    Recorded { nonce: u64 },
    /// A transaction with this id was recorded already; nothing changed.
    Exists,
}

/// A recorded L1 transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1TxRecord {
    pub id: String,
    pub owner: String,
    pub sender: Address,
    pub to: Address,
    /// `None` only for a transaction whose gas estimation failed (never sent).
    pub nonce: Option<u64>,
    pub value: U256,
    pub data: Bytes,
    pub gas_limit: u64,
    /// The fees of the last signed version; `None` before the first.
    pub max_fee: Option<u64>,
    pub max_priority_fee: Option<u64>,
    pub status: L1TxStatus,
    /// The receipt's transaction, block number and block hash, once mined.
    pub mined: Option<L1TxMined>,
    pub error: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// When the last signed version was sent.
    pub sent_at_ms: Option<u64>,
    /// Every signed version's hash, oldest first.
    pub hashes: Vec<B256>,
}

/// Where an L1 transaction was mined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1TxMined {
    pub tx_hash: B256,
    pub block_number: u64,
    pub block_hash: B256,
}

fn now_ms() -> i64 {
    zknode_sqldb::to_millis(SystemTime::now())
}

const COLUMNS: &str = "id, owner, sender, to_address, nonce, value, data, gas_limit, max_fee, \
     max_priority_fee, status, mined_tx_hash, mined_block_number, mined_block_hash, error, \
     created_at, updated_at, sent_at";

fn parse_row(r: &AnyRow) -> Result<L1TxRecord> {
    let id = Cells::new(r, TABLE, "?").string("id")?;
    let c = Cells::new(r, TABLE, &id);
    let value = c.bytes("value")?;
    if value.len() != 32 {
        return Err(StorageError::corrupt(
            TABLE,
            &id,
            format!("column value: {} bytes where 32 belong", value.len()),
        ));
    }
    let status = c
        .string("status")?
        .parse()
        .map_err(|e: String| StorageError::corrupt(TABLE, &id, format!("column status: {e}")))?;
    let mined = match (
        c.opt_b256("mined_tx_hash")?,
        c.opt_u64("mined_block_number")?,
        c.opt_b256("mined_block_hash")?,
    ) {
        (Some(tx_hash), Some(block_number), Some(block_hash)) => Some(L1TxMined {
            tx_hash,
            block_number,
            block_hash,
        }),
        _ => None,
    };
    Ok(L1TxRecord {
        owner: c.string("owner")?,
        sender: c.address("sender")?,
        to: c.address("to_address")?,
        nonce: c.opt_u64("nonce")?,
        value: U256::from_be_slice(&value),
        data: c.bytes("data")?,
        gas_limit: c.u64("gas_limit")?,
        max_fee: c.opt_u64("max_fee")?,
        max_priority_fee: c.opt_u64("max_priority_fee")?,
        status,
        mined,
        error: c.opt_string("error")?,
        created_at_ms: c.u64("created_at")?,
        updated_at_ms: c.u64("updated_at")?,
        sent_at_ms: c.opt_u64("sent_at")?,
        hashes: Vec::new(),
        id,
    })
}

impl StateDb {
    /// Records an L1 transaction as `created` with the next nonce of its sender: one above the
    /// highest nonce of the sender's transactions that are not confirmed or failed, and at
    /// least `min_nonce` (the L1's pending nonce). Nothing changes when `id` is recorded
    /// already.
    pub async fn insert_l1_tx(&self, tx: &NewL1Tx, min_nonce: u64) -> Result<L1TxInsert> {
        let gas_limit = to_db("L1 transaction gas limit", tx.gas_limit)?;
        let min_nonce = to_db("L1 transaction nonce", min_nonce)?;
        let mut t = self.db.begin_write().await?;
        let exists = sqlx::query("SELECT 1 FROM l1_txs WHERE id = $1")
            .bind(&tx.id)
            .fetch_optional(&mut *t)
            .await?;
        if exists.is_some() {
            return Ok(L1TxInsert::Exists);
        }
        let row = sqlx::query(
            "SELECT MAX(nonce) AS n FROM l1_txs WHERE sender = $1 \
             AND status IN ('created', 'sent', 'mined')",
        )
        .bind(tx.sender.as_slice())
        .fetch_one(&mut *t)
        .await?;
        let highest: Option<i64> = row
            .try_get("n")
            .map_err(|e| StorageError::corrupt(TABLE, &tx.id, format!("MAX(nonce): {e}")))?;
        let nonce = highest.map_or(min_nonce, |n| min_nonce.max(n + 1));
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO l1_txs (id, owner, sender, to_address, nonce, value, data, gas_limit, \
             status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $9)",
        )
        .bind(&tx.id)
        .bind(&tx.owner)
        .bind(tx.sender.as_slice())
        .bind(tx.to.as_slice())
        .bind(nonce)
        .bind(&tx.value.to_be_bytes::<32>()[..])
        .bind(&tx.data[..])
        .bind(gas_limit)
        .bind(now)
        .execute(&mut *t)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StorageError::corrupt(
                    TABLE,
                    &tx.id,
                    format!("nonce {nonce} of {} is recorded already", tx.sender),
                ))
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        t.commit().await?;
        Ok(L1TxInsert::Recorded {
            nonce: nonce as u64,
        })
    }

    /// Records an L1 transaction that will never be sent (its gas estimation reverted) as
    /// `failed`, without a nonce. Returns false, changing nothing, when `id` is recorded already.
    pub async fn insert_failed_l1_tx(&self, tx: &NewL1Tx, error: &str) -> Result<bool> {
        let gas_limit = to_db("L1 transaction gas limit", tx.gas_limit)?;
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO l1_txs (id, owner, sender, to_address, nonce, value, data, gas_limit, \
             status, error, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, 'failed', $8, $9, $9) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&tx.id)
        .bind(&tx.owner)
        .bind(tx.sender.as_slice())
        .bind(tx.to.as_slice())
        .bind(&tx.value.to_be_bytes::<32>()[..])
        .bind(&tx.data[..])
        .bind(gas_limit)
        .bind(error)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The L1 transaction `id`, with its signed versions' hashes.
    pub async fn l1_tx(&self, id: &str) -> Result<Option<L1TxRecord>> {
        let q = format!("SELECT {COLUMNS} FROM l1_txs WHERE id = $1");
        let Some(row) = sqlx::query(&q).bind(id).fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        let mut rec = parse_row(&row)?;
        rec.hashes = self.l1_tx_hashes(id).await?;
        Ok(Some(rec))
    }

    async fn l1_tx_hashes(&self, id: &str) -> Result<Vec<B256>> {
        let rows =
            sqlx::query("SELECT hash FROM l1_tx_hashes WHERE tx_id = $1 ORDER BY sent_at, hash")
                .bind(id)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Cells::new(r, "l1_tx_hashes", id).b256("hash"))
            .collect()
    }

    /// The L1 transactions of `sender` that are created, sent or mined, by nonce.
    pub async fn unfinished_l1_txs(&self, sender: Address) -> Result<Vec<L1TxRecord>> {
        let q = format!(
            "SELECT {COLUMNS} FROM l1_txs WHERE sender = $1 \
             AND status IN ('created', 'sent', 'mined') ORDER BY nonce"
        );
        let rows = sqlx::query(&q)
            .bind(sender.as_slice())
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut rec = parse_row(r)?;
            rec.hashes = self.l1_tx_hashes(&rec.id).await?;
            out.push(rec);
        }
        Ok(out)
    }

    /// Records a signed version of `id` about to be sent (before it is sent): its hash and
    /// fees; the transaction becomes `sent` (a mined one stays mined). The same hash twice is
    /// recorded once.
    pub async fn record_l1_tx_send(
        &self,
        id: &str,
        hash: B256,
        max_fee: u64,
        max_priority_fee: u64,
    ) -> Result<()> {
        let max_fee = to_db("L1 max fee per gas", max_fee)?;
        let prio = to_db("L1 max priority fee per gas", max_priority_fee)?;
        let now = now_ms();
        let mut t = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO l1_tx_hashes (hash, tx_id, max_fee, max_priority_fee, sent_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO UPDATE SET sent_at = excluded.sent_at",
        )
        .bind(hash.as_slice())
        .bind(id)
        .bind(max_fee)
        .bind(prio)
        .bind(now)
        .execute(&mut *t)
        .await?;
        sqlx::query(
            "UPDATE l1_txs SET max_fee = $2, max_priority_fee = $3, sent_at = $4, updated_at = $4, \
             status = CASE WHEN status = 'created' THEN 'sent' ELSE status END WHERE id = $1",
        )
        .bind(id)
        .bind(max_fee)
        .bind(prio)
        .bind(now)
        .execute(&mut *t)
        .await?;
        t.commit().await?;
        Ok(())
    }

    /// Marks `id` mined (a successful receipt).
    pub async fn set_l1_tx_mined(&self, id: &str, mined: &L1TxMined) -> Result<()> {
        let n = to_db("L1 block number", mined.block_number)?;
        sqlx::query(
            "UPDATE l1_txs SET status = 'mined', mined_tx_hash = $2, mined_block_number = $3, \
             mined_block_hash = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(mined.tx_hash.as_slice())
        .bind(n)
        .bind(mined.block_hash.as_slice())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Moves a mined (or confirmed) `id` back to `sent`: an L1 reorg removed its block.
    pub async fn set_l1_tx_unmined(&self, id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE l1_txs SET status = 'sent', mined_tx_hash = NULL, mined_block_number = NULL, \
             mined_block_hash = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks a mined `id` confirmed.
    pub async fn set_l1_tx_confirmed(&self, id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE l1_txs SET status = 'confirmed', updated_at = $2 \
             WHERE id = $1 AND status = 'mined'",
        )
        .bind(id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks `id` failed with `error`; `mined`: the reverted receipt's block.
    pub async fn set_l1_tx_failed(
        &self,
        id: &str,
        error: &str,
        mined: Option<&L1TxMined>,
    ) -> Result<()> {
        let n = mined
            .map(|m| to_db("L1 block number", m.block_number))
            .transpose()?;
        sqlx::query(
            "UPDATE l1_txs SET status = 'failed', error = $2, mined_tx_hash = $3, \
             mined_block_number = $4, mined_block_hash = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(mined.map(|m| m.tx_hash.to_vec()))
        .bind(n)
        .bind(mined.map(|m| m.block_hash.to_vec()))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
