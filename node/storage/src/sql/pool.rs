//! [`PoolStore`] for [`StateDb`]: the `pool_transactions` table.

use alloy_primitives::{B256, U256};
use sqlx::any::AnyRow;

use super::{is_unique_violation, to_db, Cells};
use crate::error::{Result, StorageError};
use crate::traits::PoolStore;
use crate::types::{PoolInsert, PoolTxRow, PoolTxState, PoolTxStatus};
use crate::StateDb;

const TABLE: &str = "pool_transactions";

/// Inserts a pending row; a failed or invalid row of the same hash is revived with the new
/// values, a pending or selected one is left alone (no row changes).
const INSERT: &str = "INSERT INTO pool_transactions (hash, l2_hash, sender, nonce, gas_price, \
     gas_limit, tx_type, raw, status, failed_reason, received_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', NULL, $9) \
     ON CONFLICT (hash) DO UPDATE SET l2_hash = excluded.l2_hash, sender = excluded.sender, \
     nonce = excluded.nonce, gas_price = excluded.gas_price, gas_limit = excluded.gas_limit, \
     tx_type = excluded.tx_type, raw = excluded.raw, status = 'pending', failed_reason = NULL, \
     received_at = excluded.received_at \
     WHERE pool_transactions.status IN ('failed', 'invalid')";

impl PoolStore for StateDb {
    async fn insert_pool_txs(&self, rows: &[(PoolTxRow, PoolInsert)]) -> Result<Vec<Option<B256>>> {
        // Every number is checked before the transaction begins.
        let mut values = Vec::with_capacity(rows.len());
        for (row, _) in rows {
            values.push((
                to_db("pool transaction nonce", row.nonce)?,
                to_db("pool transaction gas limit", row.gas_limit)?,
                to_db("pool transaction received_at", row.received_at_ms)?,
            ));
        }
        let mut replaced = Vec::with_capacity(rows.len());
        let mut tx = self.db.begin_write().await?;
        for ((row, how), (nonce, gas_limit, received_at)) in rows.iter().zip(values) {
            let mut old = None;
            if *how == PoolInsert::Replace {
                let deleted = sqlx::query(
                    "DELETE FROM pool_transactions WHERE sender = $1 AND nonce = $2 \
                     AND status = 'pending' RETURNING hash",
                )
                .bind(row.sender.as_slice())
                .bind(nonce)
                .fetch_all(&mut *tx)
                .await?;
                if let Some(r) = deleted.first() {
                    let key = format!("sender {} nonce {}", row.sender, row.nonce);
                    old = Some(Cells::new(r, TABLE, key).b256("hash")?);
                }
            }
            let inserted = sqlx::query(INSERT)
                .bind(row.hash.as_slice())
                .bind(row.l2_hash.as_slice())
                .bind(row.sender.as_slice())
                .bind(nonce)
                .bind(&row.gas_price.to_be_bytes::<32>()[..])
                .bind(gas_limit)
                .bind(i64::from(row.tx_type))
                .bind(&row.raw[..])
                .bind(received_at)
                .execute(&mut *tx)
                .await;
            match inserted {
                // The conflict on the hash is the upsert's; a unique violation can only be the
                // pending (sender, nonce) index.
                Err(e) if is_unique_violation(&e) => {
                    return Err(StorageError::PoolNonceTaken {
                        sender: row.sender,
                        nonce: row.nonce,
                    })
                }
                Err(e) => return Err(e.into()),
                Ok(done) if done.rows_affected() == 0 => {
                    return Err(StorageError::PoolTxExists(row.hash))
                }
                Ok(_) => {}
            }
            replaced.push(old);
        }
        tx.commit().await?;
        Ok(replaced)
    }

    async fn insert_pool_tx(&self, row: &PoolTxRow) -> Result<()> {
        self.insert_pool_txs(&[(row.clone(), PoolInsert::New)])
            .await
            .map(|_| ())
    }

    async fn replace_pool_tx(&self, row: &PoolTxRow) -> Result<Option<B256>> {
        let replaced = self
            .insert_pool_txs(&[(row.clone(), PoolInsert::Replace)])
            .await?;
        Ok(replaced.into_iter().next().flatten())
    }

    async fn fail_pool_tx(&self, hash: B256, reason: &str, invalid: bool) -> Result<bool> {
        let status = if invalid {
            PoolTxStatus::Invalid
        } else {
            PoolTxStatus::Failed
        };
        let updated = sqlx::query(
            "UPDATE pool_transactions SET status = $2, failed_reason = $3 \
             WHERE hash = $1 AND status = 'pending'",
        )
        .bind(hash.as_slice())
        .bind(status.as_str())
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn pending_pool_txs(&self) -> Result<Vec<PoolTxRow>> {
        let rows = sqlx::query(
            "SELECT hash, l2_hash, sender, nonce, gas_price, gas_limit, tx_type, raw, \
             received_at FROM pool_transactions WHERE status = 'pending' \
             ORDER BY received_at, hash",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(pool_tx_from_row).collect()
    }

    async fn pool_tx_state(&self, hash: B256) -> Result<Option<PoolTxState>> {
        let row =
            sqlx::query("SELECT status, failed_reason FROM pool_transactions WHERE hash = $1")
                .bind(hash.as_slice())
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let c = Cells::new(&row, TABLE, format!("hash {hash}"));
        let status = c.string("status")?;
        let status = status
            .parse::<PoolTxStatus>()
            .map_err(|e| c.bad("status", e))?;
        Ok(Some(PoolTxState {
            status,
            failed_reason: c.opt_string("failed_reason")?,
        }))
    }

    async fn count_pending_pool_txs(&self) -> Result<u64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM pool_transactions WHERE status = 'pending'")
                .fetch_one(self.pool())
                .await?;
        Cells::new(&row, TABLE, "COUNT(*)").u64("n")
    }
}

fn pool_tx_from_row(row: &AnyRow) -> Result<PoolTxRow> {
    let hash = Cells::new(row, TABLE, "?").b256("hash")?;
    let c = Cells::new(row, TABLE, format!("hash {hash}"));
    Ok(PoolTxRow {
        hash,
        l2_hash: c.b256("l2_hash")?,
        sender: c.address("sender")?,
        nonce: c.u64("nonce")?,
        gas_price: U256::from_be_bytes(c.b256("gas_price")?.0),
        gas_limit: c.u64("gas_limit")?,
        tx_type: c.u8("tx_type")?,
        raw: c.bytes("raw")?,
        received_at_ms: c.u64("received_at")?,
    })
}
