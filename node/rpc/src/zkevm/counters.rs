//! `zkevm_estimateCounters`: what a transaction costs the batch proof.
//!
//! zkevm-node answers with its ROM's counters (keccaks, Poseidon hashes, steps, …) against its
//! prover's limits. This node's prover proves the batch's state-tree operations instead, so the
//! counters are those, in the same shape:
//!
//! ```text
//! { countersUsed:  { gasUsed, usedStateTreeOps, usedTxStateTreeOps, usedRows, usedBatchL2DataBytes },
//!   countersLimit: { maxGasUsed, maxStateTreeOps, maxBatchL2DataBytes },
//!   revert?: { message, data },  oocError?: string }
//! ```
//!
//! The transaction runs, as `eth_call` runs a call, in a batch of its own at the chosen block's
//! state: one L2 block, opened as the sequencer opens one, holding only it (with the sender's
//! nonce, and gas free unless a price is given). `usedStateTreeOps` is the number of operations
//! that batch's proof has (the block's own system writes included), `usedTxStateTreeOps` the
//! writes the transaction itself adds, and `usedRows` the rows of the batch table those
//! operations take, each its depth + 9 (a split leaf counted one level below its slot, so
//! this is a lower bound when the transaction inserts keys beside others). The limits are the
//! sequencer's: the gas one transaction may use, the operations the sequencer lets a batch have
//! (its prover capacity) and the batch data bytes L1 takes. `oocError` says which limit the
//! transaction alone passes; `revert` carries the reason and data of a failed execution.

use alloy_primitives::{B256, U256};
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::{json, Value};
use zknode_executor::system::TX_GAS_LIMIT;
use zknode_executor::{BatchBuilder, BatchContext, CallRequest, ChangeL2Block, RawTx, ReadOnlyEvm};
use zknode_state::{StateTree, UpdateKind, UpdateProof};

use super::FORK_ID;
use crate::params::{param, CallArgs};
use crate::state::root_hash;
use crate::{json, BlockId, NodeApi, RpcError};

/// The sequencer's batch limits, which `zkevm_estimateCounters` reports a transaction against
/// (the node sets them from its `[sequencer]` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Gas of a batch's transactions.
    pub max_gas: u64,
    /// State-tree operations of a batch proof (the prover's capacity).
    pub max_state_ops: usize,
    /// Bytes of a batch's batchL2Data.
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    /// The sequencer's defaults.
    fn default() -> Self {
        Self {
            max_gas: 300_000_000,
            max_state_ops: 16_384,
            max_bytes: 120_000,
        }
    }
}

pub(super) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "zkevm_estimateCounters", 2, |p, c| async move {
        let args: CallArgs = param(&p, 0, "transaction arguments")?;
        let req = args.request()?;
        let id = BlockId::parse(p.get(1))
            .map_err(|e| RpcError::invalid_params(format!("block: {}", e.message)))?;
        let root = c.root_of(id).await?;
        let limits = c.batch_limits;
        let used = c.clone().counters(root, req).await?;
        Ok(used.to_json(&limits))
    });
    Ok(())
}

/// What a transaction used, as [`NodeApi::counters`] measured it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Used {
    gas: u64,
    state_ops: usize,
    tx_state_ops: usize,
    rows: u64,
    bytes: usize,
    /// `(message, data)` of a failed execution.
    revert: Option<(String, Vec<u8>)>,
}

impl Used {
    /// The answer, with `oocError` naming the first limit passed.
    fn to_json(&self, limits: &BatchLimits) -> Value {
        let max_gas = limits.max_gas.min(TX_GAS_LIMIT);
        let ooc = if self.gas > max_gas {
            Some(format!(
                "not enough gas: the transaction uses {}, a transaction may use at most {max_gas}",
                self.gas
            ))
        } else if self.state_ops > limits.max_state_ops {
            Some(format!(
                "not enough state-tree operations (prover capacity): a batch with the \
                 transaction has {}, a batch may have at most {}",
                self.state_ops, limits.max_state_ops
            ))
        } else if self.bytes > limits.max_bytes {
            Some(format!(
                "not enough batch data bytes: the transaction takes {}, a batch holds at most {}",
                self.bytes, limits.max_bytes
            ))
        } else {
            None
        };
        let mut o = json!({
            "countersUsed": {
                "gasUsed": json::qty(self.gas),
                "usedStateTreeOps": json::qty(self.state_ops as u64),
                "usedTxStateTreeOps": json::qty(self.tx_state_ops as u64),
                "usedRows": json::qty(self.rows),
                "usedBatchL2DataBytes": json::qty(self.bytes as u64),
            },
            "countersLimit": {
                "maxGasUsed": json::qty(max_gas),
                "maxStateTreeOps": json::qty(limits.max_state_ops as u64),
                "maxBatchL2DataBytes": json::qty(limits.max_bytes as u64),
            },
        });
        if let Some((message, data)) = &self.revert {
            o["revert"] = json!({"message": message, "data": json::data(data)});
        }
        if let Some(e) = ooc {
            o["oocError"] = json!(e);
        }
        o
    }
}

/// The rows of the batch table an operation takes: its depth + 9 (a split counted at the
/// least depth its new leaves can have, one below the slot).
fn rows_of(op: &UpdateProof) -> u64 {
    let depth = op.siblings.len() as u64;
    let extra = u64::from(matches!(op.kind, UpdateKind::InsertSplit { .. }));
    depth + extra + 9
}

impl NodeApi {
    /// Runs `req` as the only transaction of a batch over state root `root` (nothing is
    /// written) and measures it; a transaction that cannot run at all (nonce, funds, gas
    /// limit, …) is an error, as in zkevm-node.
    async fn counters(
        self: std::sync::Arc<Self>,
        root: B256,
        req: CallRequest,
    ) -> Result<Used, RpcError> {
        const WHAT: &str = "estimate counters";
        let c = self;
        tokio::task::spawn_blocking(move || {
            let ctx = BatchContext {
                chain_id: c.chain_id,
                fork_id: FORK_ID,
                sequencer: c.coinbase,
                timestamp_limit: u64::MAX,
                l1_info_root: B256::ZERO,
                old_acc_input_hash: B256::ZERO,
                forced_block_hash_l1: B256::ZERO,
                l1_info: Default::default(),
                verify_l1_info_proofs: false,
                with_proofs: true,
            };
            let internal = |e: &dyn std::fmt::Display| RpcError::internal(WHAT, e);
            let tree = StateTree::at_root(&*c.store, root_hash(&root)?);
            let mut b = BatchBuilder::new(tree, &*c.store, &ctx);
            b.open_block(ChangeL2Block {
                delta_timestamp: 0,
                index_l1_info_tree: 0,
            })
            .map_err(|e| internal(&e))?
            .map_err(|e| internal(&e))?;
            let before = b.state_writes();
            let nonce = b.nonce(req.from).map_err(|e| internal(&e))?;
            let tx = RawTx::new(
                nonce,
                U256::from(req.gas_price),
                req.gas.unwrap_or(TX_GAS_LIMIT),
                req.to,
                req.value,
                req.data.clone(),
                Some(c.chain_id),
            );
            // As the sequencer counts a transaction's batch data: its signing payload, r, s,
            // v and the effective-percentage byte.
            let bytes = tx.sign_data().len() + 66;
            let receipt = match &b
                .execute_tx(tx, Some(req.from))
                .map_err(|e| internal(&e))?
                .outcome
            {
                Ok(r) => r.clone(),
                Err(reason) => {
                    return Err(RpcError::server(format!(
                        "failed to estimate counters: {reason}"
                    )))
                }
            };
            let tx_state_ops = b.state_writes().saturating_sub(before);
            let sealed = b.finish().map_err(|e| internal(&e))?;
            let revert = if receipt.success {
                None
            } else {
                // The batch receipt has the reason; the revert data comes from the same call
                // on the read-only EVM.
                let tree = StateTree::at_root(&*c.store, root_hash(&root)?);
                let mut evm = ReadOnlyEvm::new(tree, &*c.store, c.chain_id, c.coinbase)
                    .map_err(|e| internal(&e))?;
                let call = evm.call(&req).map_err(|e| internal(&e))?;
                let message = if call.output.is_empty() {
                    receipt
                        .failure
                        .clone()
                        .unwrap_or_else(|| "execution failed".into())
                } else {
                    RpcError::reverted(call.failure.as_deref(), &call.output).message
                };
                Some((message, call.output.to_vec()))
            };
            Ok(Used {
                gas: receipt.gas_used,
                state_ops: sealed.result.writes.len(),
                tx_state_ops,
                rows: sealed.result.ops.iter().map(rows_of).sum(),
                bytes,
                revert,
            })
        })
        .await
        .map_err(|e| RpcError::internal(WHAT, e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_counters_names_the_first_limit_passed() {
        let limits = BatchLimits {
            max_gas: 100_000,
            max_state_ops: 64,
            max_bytes: 200,
        };
        let used = Used {
            gas: 21_000,
            state_ops: 20,
            tx_state_ops: 4,
            rows: 600,
            bytes: 110,
            revert: None,
        };
        let ok = used.to_json(&limits);
        assert_eq!(ok["countersUsed"]["gasUsed"], "0x5208");
        assert_eq!(ok["countersUsed"]["usedStateTreeOps"], "0x14");
        assert_eq!(ok["countersUsed"]["usedRows"], "0x258");
        assert_eq!(ok["countersLimit"]["maxStateTreeOps"], "0x40");
        assert_eq!(ok["countersLimit"]["maxGasUsed"], "0x186a0");
        assert!(ok.get("oocError").is_none() && ok.get("revert").is_none());

        let ops = Used {
            state_ops: 65,
            bytes: 201,
            ..used.clone()
        };
        let e = ops.to_json(&limits)["oocError"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            e.contains("state-tree operations") && e.contains("65"),
            "{e}"
        );
        let bytes = Used {
            bytes: 201,
            ..used.clone()
        };
        let e = bytes.to_json(&limits)["oocError"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(e.contains("batch data bytes"), "{e}");
        let gas = Used {
            gas: 100_001,
            revert: Some(("execution reverted".into(), vec![1, 2])),
            ..used
        };
        let j = gas.to_json(&limits);
        assert!(j["oocError"].as_str().unwrap().contains("gas"));
        assert_eq!(j["revert"]["data"], "0x0102");
    }

    #[test]
    fn rows_are_depth_plus_nine() {
        let op = |depth: usize, kind: UpdateKind| UpdateProof {
            key: zknode_state::Key::from_raw([0; 4]).unwrap(),
            old_value: U256::ZERO,
            new_value: U256::from(1),
            siblings: vec![zknode_state::Hash::default(); depth],
            kind,
        };
        assert_eq!(rows_of(&op(20, UpdateKind::Update)), 29);
        assert_eq!(rows_of(&op(0, UpdateKind::InsertEmpty)), 9);
        let split = UpdateKind::InsertSplit {
            other_rkey: zknode_state::Key::from_raw([1, 0, 0, 0]).unwrap(),
            other_value_hash: zknode_state::Hash::default(),
        };
        assert_eq!(rows_of(&op(7, split)), 17);
    }
}
