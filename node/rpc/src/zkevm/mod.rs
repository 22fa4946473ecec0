//! The `zkevm` namespace, with the names, parameters and result fields zkevm-node documents
//! (its `jsonrpc/endpoints_zkevm.openrpc.json`): batches and where they are in their life on
//! L1, blocks with their zkEVM fields, transactions by Polygon's L2 hash, exit roots, the fork
//! id, the batch-proof cost of a transaction, and the batch witness the aggregator proves.
//!
//! A batch is "trusted" once the sequencer stored it, "virtual" once sequenced on L1 and
//! "verified" once its proof is accepted on L1; a block is virtualized (consolidated) when its
//! batch is virtual (verified). Where no batch got that far the numbers are 0, the genesis
//! batch, as zkevm-node answers on a fresh chain.
//!
//! Exit roots come from the L1 info tree the synchronizer stores (`l1_info_leaves`):
//! - `zkevm_getExitRootsByGER` answers the L1 block (number, timestamp) whose leaf added the
//!   GER and the mainnet and rollup exit roots it is made of; `null` for a GER L1 never added
//!   (or on a node without the synchronizer component). `mainnetExitRoot`/`rollupExitRoot` of a
//!   batch are still zero.
//! - `zkevm_getLatestGlobalExitRoot` is the GER of L1's last leaf; on a node without the
//!   synchronizer (no leaf stored), the last non-zero GER a stored block set (zero when none
//!   did): what L2 last used.
//!
//! [`batches`] has the batch methods, [`blocks`] the block and transaction ones, [`counters`]
//! `zkevm_estimateCounters` (whose counters are this prover's, not zkevm-node's ROM's).

mod batches;
mod blocks;
mod counters;
mod witness;

use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::{json, Value};
use zknode_storage::BlockReader;

pub use counters::BatchLimits;

use crate::params::param;
use crate::{json, parse_quantity, NodeApi, RpcError};

/// The fork this node executes (Polygon's fork 12, "Banana"; its batch rules are fork 9's).
pub const FORK_ID: u64 = 12;

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "zkevm_batchNumber", 0, |_p, c| async move {
        let n = c.db.latest_batch_numbers().await?;
        Ok(json!(json::qty(n.last.unwrap_or(0))))
    });
    method!(m, "zkevm_virtualBatchNumber", 0, |_p, c| async move {
        let n = c.db.latest_batch_numbers().await?;
        Ok(json!(json::qty(n.virtualized.unwrap_or(0))))
    });
    method!(m, "zkevm_verifiedBatchNumber", 0, |_p, c| async move {
        let n = c.db.latest_batch_numbers().await?;
        Ok(json!(json::qty(n.verified.unwrap_or(0))))
    });
    method!(m, "zkevm_consolidatedBlockNumber", 0, |_p, c| async move {
        let n = match c.db.latest_batch_numbers().await?.verified {
            Some(b) => c.db.last_block_up_to_batch(b).await?.unwrap_or(0),
            None => 0,
        };
        Ok(json!(json::qty(n)))
    });
    method!(m, "zkevm_isBlockVirtualized", 1, |p, c| async move {
        let n = number_arg(&p, 0, "block number")?;
        Ok(json!(c.block_reached(n, Stage::Virtual).await?))
    });
    method!(m, "zkevm_isBlockConsolidated", 1, |p, c| async move {
        let n = number_arg(&p, 0, "block number")?;
        Ok(json!(c.block_reached(n, Stage::Verified).await?))
    });
    method!(m, "zkevm_batchNumberByBlockNumber", 1, |p, c| async move {
        let n = number_arg(&p, 0, "block number")?;
        Ok(match c.db.block_by_number(n).await? {
            Some(b) => json!(json::qty(b.batch_number)),
            None => Value::Null,
        })
    });
    method!(m, "zkevm_getForkId", 0, |_p, _c| async move {
        Ok(json!(json::qty(FORK_ID)))
    });
    method!(m, "zkevm_getLatestGlobalExitRoot", 0, |_p, c| async move {
        let ger = match c.db.latest_l1_info_leaf().await? {
            Some(leaf) => leaf.global_exit_root,
            None => c.db.latest_global_exit_root().await?.unwrap_or_default(),
        };
        Ok(json!(ger))
    });
    method!(m, "zkevm_getExitRootsByGER", 1, |p, c| async move {
        let ger: alloy_primitives::B256 = param(&p, 0, "global exit root")?;
        Ok(match c.db.l1_info_leaf_by_ger(ger).await? {
            Some(leaf) => json!({
                "blockNumber": json::qty(leaf.l1_block),
                "timestamp": json::qty(leaf.timestamp),
                "mainnetExitRoot": leaf.mainnet_exit_root,
                "rollupExitRoot": leaf.rollup_exit_root,
            }),
            None => Value::Null,
        })
    });
    batches::register(m)?;
    blocks::register(m)?;
    counters::register(m)?;
    Ok(())
}

/// How far on L1 a block's batch must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Virtual,
    Verified,
}

impl NodeApi {
    /// Whether block `n` is stored and its batch is at least at `stage` (false for a block that
    /// is not stored, as zkevm-node answers).
    async fn block_reached(&self, n: u64, stage: Stage) -> Result<bool, RpcError> {
        let Some(block) = self.db.block_by_number(n).await? else {
            return Ok(false);
        };
        let latest = self.db.latest_batch_numbers().await?;
        let last = match stage {
            Stage::Virtual => latest.virtualized,
            Stage::Verified => latest.verified,
        };
        Ok(last.is_some_and(|b| block.batch_number <= b))
    }
}

/// A number parameter (zkevm-node's `ArgUint64`): a hex quantity, or a JSON number.
pub(crate) fn number_arg(p: &[Value], i: usize, what: &str) -> Result<u64, RpcError> {
    let v: Value = param(p, i, what)?;
    match &v {
        Value::String(s) => parse_quantity(s)
            .map_err(|e| RpcError::invalid_params(format!("{what}: {}", e.message))),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| RpcError::invalid_params(format!("{what}: {n} is not a 64-bit number"))),
        other => Err(RpcError::invalid_params(format!(
            "{what}: {other} is not a number"
        ))),
    }
}

/// An optional boolean parameter (the "full transactions" flag), false when absent or null.
pub(crate) fn flag_arg(p: &[Value], i: usize, what: &str) -> Result<bool, RpcError> {
    match p.get(i) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| RpcError::invalid_params(format!("invalid {what}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_flags() {
        let p = vec![json!("0x1f"), json!(true), json!(7), json!("12"), json!(-1)];
        assert_eq!(number_arg(&p, 0, "n").unwrap(), 31);
        assert_eq!(number_arg(&p, 2, "n").unwrap(), 7);
        for (i, bad) in [(1, "true"), (3, "\"12\""), (4, "-1")] {
            let e = number_arg(&p, i, "block number").unwrap_err();
            assert_eq!(e.code, crate::error::INVALID_PARAMS, "{bad}");
            assert!(e.message.starts_with("block number"), "{}", e.message);
        }
        let e = number_arg(&p, 9, "block number").unwrap_err();
        assert!(e.message.contains("argument 9"), "{}", e.message);
        assert!(flag_arg(&p, 1, "flag").unwrap());
        assert!(!flag_arg(&p, 9, "flag").unwrap());
        assert!(flag_arg(&p, 0, "full")
            .unwrap_err()
            .message
            .contains("full"));
    }
}
