//! Blocks and transactions with their zkEVM fields: `zkevm_getFullBlockByNumber`/`ByHash`,
//! `zkevm_getTransactionByL2Hash`, `zkevm_getTransactionReceiptByL2Hash` and
//! `zkevm_getNativeBlockHashesInRange`.
//!
//! A block object is `eth_getBlockByNumber`'s with `globalExitRoot` (what the block's
//! changeL2Block set; zero when it left it unchanged) and `blockInfoRoot` (the root of the
//! block's info tree); a transaction object carries `l2Hash`, Polygon's L2 transaction hash,
//! and, in `zkevm_getFullBlock*`, its `receipt`. The "native block hash" of a block is its state
//! root (the zkEVM's block hash), so that range answers the `stateRoot` of each block.
//!
//! Block tags are `eth_getBlockByNumber`'s: `pending` is the latest stored block here, where
//! zkevm-node answers a stub of the next one (number and parent hash only).

use alloy_primitives::B256;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde::Deserialize;
use serde_json::{json, Value};
use zknode_executor::decode_signed;
use zknode_storage::{Block, BlockReader, StoredTransaction};

use super::flag_arg;
use crate::params::param;
use crate::{json, BlockId, NodeApi, RpcError};

/// The widest range `zkevm_getNativeBlockHashesInRange` answers (zkevm-node's default
/// `MaxNativeBlockHashBlockRange`): `toBlock - fromBlock` may be at most this.
pub const MAX_NATIVE_HASH_RANGE: u64 = 60_000;

pub(super) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "zkevm_getFullBlockByNumber", 2, |p, c| async move {
        let id = BlockId::parse(Some(&param::<Value>(&p, 0, "block number")?))
            .map_err(|e| RpcError::invalid_params(format!("block number: {}", e.message)))?;
        if matches!(id, BlockId::Hash(_)) {
            return Err(RpcError::invalid_params(
                "block number: a block number or tag is expected",
            ));
        }
        let full = flag_arg(&p, 1, "full transactions flag")?;
        let Some(n) = c.number_of(id).await? else {
            return Ok(Value::Null);
        };
        match c.db.block_by_number(n).await? {
            Some(b) => c.block_object(&b, full, true).await,
            None => Ok(Value::Null),
        }
    });
    method!(m, "zkevm_getFullBlockByHash", 2, |p, c| async move {
        let h: B256 = param(&p, 0, "block hash")?;
        let full = flag_arg(&p, 1, "full transactions flag")?;
        match c.db.block_by_hash(h).await? {
            Some(b) => c.block_object(&b, full, true).await,
            None => Ok(Value::Null),
        }
    });
    method!(m, "zkevm_getTransactionByL2Hash", 1, |p, c| async move {
        let h: B256 = param(&p, 0, "L2 transaction hash")?;
        if let Some(t) = c.db.transaction_by_l2_hash(h).await? {
            return tx_object(&t, c.block_timestamp(t.block_number).await?);
        }
        // Not in a block: a pending pool transaction, as zkevm-node falls back to its pool.
        Ok(match c.pool.get_by_l2_hash(h) {
            Some(p) => {
                let mut o = json::transaction(&p.tx, p.hash, p.sender, None);
                o["l2Hash"] = json!(p.l2_hash);
                o
            }
            None => Value::Null,
        })
    });
    method!(
        m,
        "zkevm_getTransactionReceiptByL2Hash",
        1,
        |p, c| async move {
            let h: B256 = param(&p, 0, "L2 transaction hash")?;
            let Some(t) = c.db.transaction_by_l2_hash(h).await? else {
                return Ok(Value::Null);
            };
            let Some(r) = c.db.receipt(t.hash).await? else {
                return Ok(Value::Null);
            };
            let decoded =
                decode_signed(&t.raw).map_err(|e| RpcError::internal("stored transaction", e))?;
            Ok(json::receipt(&r, &t, &decoded))
        }
    );
    method!(
        m,
        "zkevm_getNativeBlockHashesInRange",
        1,
        |p, c| async move {
            let range: Range = param(&p, 0, "block range")?;
            let from = match range.from_block {
                None | Some(Value::Null) => 0,
                Some(v) => c.range_end(&v, "fromBlock").await?,
            };
            let to = match range.to_block {
                None | Some(Value::Null) => c.latest().await?.number,
                Some(v) => c.range_end(&v, "toBlock").await?,
            };
            if to < from {
                return Err(RpcError::invalid_params("invalid block range"));
            }
            if to - from > MAX_NATIVE_HASH_RANGE {
                return Err(RpcError::invalid_params(format!(
                    "native block hashes are limited to a {MAX_NATIVE_HASH_RANGE} block range"
                )));
            }
            Ok(json!(c.db.block_state_roots(from, to).await?))
        }
    );
    Ok(())
}

/// `zkevm_getNativeBlockHashesInRange`'s parameter.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Range {
    from_block: Option<Value>,
    to_block: Option<Value>,
}

/// A stored transaction as an object in its block (whose timestamp is `block_timestamp`),
/// with its L2 hash.
pub(super) fn tx_object(t: &StoredTransaction, block_timestamp: u64) -> Result<Value, RpcError> {
    let mut o = NodeApi::stored_tx_json(t, block_timestamp)?;
    o["l2Hash"] = json!(t.l2_hash);
    Ok(o)
}

impl NodeApi {
    /// A block object with `globalExitRoot` and `blockInfoRoot`; with `full`, its transactions
    /// as objects (with `l2Hash`, and with `receipts` each with its `receipt`), else their
    /// hashes.
    pub(super) async fn block_object(
        &self,
        b: &Block,
        full: bool,
        receipts: bool,
    ) -> Result<Value, RpcError> {
        let txs = self.db.block_transactions(b.header.number).await?;
        // The size estimate `eth_getBlockByNumber` gives: a header and the transactions.
        let size = 600 + txs.iter().map(|t| t.raw.len()).sum::<usize>();
        let mut out = Vec::with_capacity(txs.len());
        for t in &txs {
            if !full {
                out.push(json!(t.hash));
                continue;
            }
            let mut o = tx_object(t, b.header.timestamp)?;
            if receipts {
                let r = self.db.receipt(t.hash).await?.ok_or_else(|| {
                    RpcError::internal("block receipts", format!("no receipt for {}", t.hash))
                })?;
                let decoded = decode_signed(&t.raw)
                    .map_err(|e| RpcError::internal("stored transaction", e))?;
                o["receipt"] = json::receipt(&r, t, &decoded);
            }
            out.push(o);
        }
        let mut o = json::block(b, out, size);
        o["globalExitRoot"] = json!(b.global_exit_root);
        o["blockInfoRoot"] = json!(b.header.block_info_root);
        Ok(o)
    }

    /// One end of a block range: a number as given, a tag as it stands now.
    async fn range_end(&self, v: &Value, what: &str) -> Result<u64, RpcError> {
        let id = BlockId::parse(Some(v))
            .map_err(|e| RpcError::invalid_params(format!("{what}: {}", e.message)))?;
        match id {
            BlockId::Number(n) => Ok(n),
            BlockId::Hash(_) => Err(RpcError::invalid_params(format!(
                "{what}: a block number or tag is expected"
            ))),
            tag => self
                .number_of(tag)
                .await?
                .ok_or_else(|| RpcError::server("header not found")),
        }
    }
}
