//! Blocks by position: a block's receipts, its transaction count, a transaction by block and
//! index, and the uncle methods (a zkEVM block has no uncles: counts are zero, uncles null).

use alloy_primitives::B256;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::{json, Value};
use zknode_executor::decode_signed;
use zknode_storage::{BlockReader, StoredTransaction};

use crate::params::param;
use crate::{json, parse_quantity, BlockId, NodeApi, RpcError};

impl NodeApi {
    /// A stored transaction as a transaction object; `block_timestamp` is its block's.
    pub(crate) fn stored_tx_json(
        t: &StoredTransaction,
        block_timestamp: u64,
    ) -> Result<Value, RpcError> {
        let decoded =
            decode_signed(&t.raw).map_err(|e| RpcError::internal("stored transaction", e))?;
        let price = decoded.effective_gas_price();
        Ok(json::transaction(
            &decoded,
            t.hash,
            t.sender,
            Some(&json::Position {
                block_hash: t.block_hash,
                block_number: t.block_number,
                index: t.tx_index,
                block_timestamp,
                effective_gas_price: price,
            }),
        ))
    }

    /// The timestamp of stored block `n` (0 when it is not stored).
    pub(crate) async fn block_timestamp(&self, n: u64) -> Result<u64, RpcError> {
        Ok(self
            .db
            .block_by_number(n)
            .await?
            .map_or(0, |b| b.header.timestamp))
    }

    /// The stored block a block id names: `None` when there is none.
    async fn stored_number(&self, id: BlockId) -> Result<Option<u64>, RpcError> {
        let Some(n) = self.number_of(id).await? else {
            return Ok(None);
        };
        Ok(self.db.block_by_number(n).await?.map(|_| n))
    }

    async fn receipts_json(&self, id: BlockId) -> Result<Value, RpcError> {
        let Some(n) = self.stored_number(id).await? else {
            return Ok(Value::Null);
        };
        let receipts = self.db.block_receipts(n).await?;
        let txs = self.db.block_transactions(n).await?;
        if receipts.len() != txs.len() {
            return Err(RpcError::internal(
                "block receipts",
                format!(
                    "block {n}: {} receipts, {} transactions",
                    receipts.len(),
                    txs.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(txs.len());
        for (r, t) in receipts.iter().zip(&txs) {
            let decoded =
                decode_signed(&t.raw).map_err(|e| RpcError::internal("stored transaction", e))?;
            out.push(json::receipt(r, t, &decoded));
        }
        Ok(Value::Array(out))
    }

    async fn tx_count_json(&self, id: BlockId) -> Result<Value, RpcError> {
        let Some(n) = self.stored_number(id).await? else {
            return Ok(Value::Null);
        };
        Ok(json!(json::qty(
            self.db.block_transactions(n).await?.len() as u64
        )))
    }

    async fn tx_at_json(&self, id: BlockId, index: u64) -> Result<Value, RpcError> {
        let Some(n) = self.stored_number(id).await? else {
            return Ok(Value::Null);
        };
        let txs = self.db.block_transactions(n).await?;
        match txs.iter().find(|t| t.tx_index == index) {
            Some(t) => Self::stored_tx_json(t, self.block_timestamp(n).await?),
            None => Ok(Value::Null),
        }
    }

    /// The count methods of uncles: zero for a stored block, null for an unknown one.
    async fn uncle_count_json(&self, id: BlockId) -> Result<Value, RpcError> {
        Ok(match self.stored_number(id).await? {
            Some(_) => json!("0x0"),
            None => Value::Null,
        })
    }
}

/// A block number or tag (not a hash) at position `i`.
fn number_param(p: &[Value], i: usize) -> Result<BlockId, RpcError> {
    let id = BlockId::parse(Some(&param::<Value>(p, i, "block number")?))?;
    if matches!(id, BlockId::Hash(_)) {
        return Err(RpcError::invalid_params(
            "a block number or tag is expected, not a block hash",
        ));
    }
    Ok(id)
}

fn hash_param(p: &[Value], i: usize) -> Result<BlockId, RpcError> {
    Ok(BlockId::Hash(param::<B256>(p, i, "block hash")?))
}

fn index_param(p: &[Value], i: usize) -> Result<u64, RpcError> {
    let s: String = param(p, i, "transaction index")?;
    parse_quantity(&s)
}

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "eth_getBlockReceipts", 1, |p, c| async move {
        // A number, a tag, a hash or an EIP-1898 object.
        let id = BlockId::parse(Some(&param::<Value>(&p, 0, "block")?))?;
        c.receipts_json(id).await
    });
    method!(
        m,
        "eth_getBlockTransactionCountByNumber",
        1,
        |p, c| async move { c.tx_count_json(number_param(&p, 0)?).await }
    );
    method!(
        m,
        "eth_getBlockTransactionCountByHash",
        1,
        |p, c| async move { c.tx_count_json(hash_param(&p, 0)?).await }
    );
    method!(
        m,
        "eth_getTransactionByBlockNumberAndIndex",
        2,
        |p, c| async move {
            c.tx_at_json(number_param(&p, 0)?, index_param(&p, 1)?)
                .await
        }
    );
    method!(
        m,
        "eth_getTransactionByBlockHashAndIndex",
        2,
        |p, c| async move { c.tx_at_json(hash_param(&p, 0)?, index_param(&p, 1)?).await }
    );
    method!(m, "eth_getUncleCountByBlockNumber", 1, |p, c| async move {
        c.uncle_count_json(number_param(&p, 0)?).await
    });
    method!(m, "eth_getUncleCountByBlockHash", 1, |p, c| async move {
        c.uncle_count_json(hash_param(&p, 0)?).await
    });
    method!(
        m,
        "eth_getUncleByBlockNumberAndIndex",
        2,
        |p, _c| async move {
            number_param(&p, 0)?;
            index_param(&p, 1)?;
            Ok(Value::Null)
        }
    );
    method!(
        m,
        "eth_getUncleByBlockHashAndIndex",
        2,
        |p, _c| async move {
            hash_param(&p, 0)?;
            index_param(&p, 1)?;
            Ok(Value::Null)
        }
    );
    Ok(())
}
