//! Batches: `zkevm_getBatchByNumber` and `zkevm_getBatchWitness`.
//!
//! A batch parameter is a number (hex, a decimal string or a JSON number) or a tag: `earliest`
//! (batch 0), `latest` (the last closed batch), `pending` (the last batch, the open one
//! included), `safe` (the last virtual batch) and `finalized` (the last verified one), 0 where
//! no batch got that far. zkevm-node parses only `earliest` and `latest` for batches (its other
//! tags are refused as invalid parameters); the others answer here what they answer for blocks.

use std::sync::Arc;

use alloy_primitives::B256;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::{json, Value};
use zknode_state::StateTree;
use zknode_storage::{BatchStatus, BlockReader};

use super::blocks::tx_object;
use super::{flag_arg, number_arg};
use crate::params::param;
use crate::state::root_hash;
use crate::{json, parse_quantity, NodeApi, RpcError};

pub(super) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "zkevm_getBatchByNumber", 2, |p, c| async move {
        let tag = BatchTag::parse(&param::<Value>(&p, 0, "batch number")?)?;
        let full = flag_arg(&p, 1, "full transactions flag")?;
        let number = c.batch_number_of(tag).await?;
        c.batch_object(number, full).await
    });
    method!(m, "zkevm_getBatchWitness", 1, |p, c| async move {
        let number = number_arg(&p, 0, "batch number")?;
        c.batch_witness(number).await
    });
    Ok(())
}

/// Which batch a call is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchTag {
    Number(u64),
    Earliest,
    Latest,
    Pending,
    Safe,
    Finalized,
}

impl BatchTag {
    fn parse(v: &Value) -> Result<BatchTag, RpcError> {
        let bad = |what: &dyn std::fmt::Display| {
            RpcError::invalid_params(format!(
                "batch number: {what} is not a batch number or one of earliest, latest, \
                 pending, safe, finalized"
            ))
        };
        match v {
            Value::Null => Ok(BatchTag::Latest),
            Value::Number(n) => n.as_u64().map(BatchTag::Number).ok_or_else(|| bad(n)),
            Value::String(s) => match s.as_str() {
                "latest" | "" => Ok(BatchTag::Latest),
                "earliest" => Ok(BatchTag::Earliest),
                "pending" => Ok(BatchTag::Pending),
                "safe" => Ok(BatchTag::Safe),
                "finalized" => Ok(BatchTag::Finalized),
                hex if hex.starts_with("0x") || hex.starts_with("0X") => parse_quantity(hex)
                    .map(BatchTag::Number)
                    .map_err(|e| RpcError::invalid_params(format!("batch number: {}", e.message))),
                dec if !dec.is_empty() && dec.bytes().all(|b| b.is_ascii_digit()) => {
                    dec.parse().map(BatchTag::Number).map_err(|_| bad(v))
                }
                _ => Err(bad(v)),
            },
            other => Err(bad(other)),
        }
    }
}

impl NodeApi {
    /// The number a batch parameter names now (it may not be stored).
    async fn batch_number_of(&self, tag: BatchTag) -> Result<u64, RpcError> {
        if let BatchTag::Number(n) = tag {
            return Ok(n);
        }
        let n = self.db.latest_batch_numbers().await?;
        Ok(match tag {
            BatchTag::Number(n) => Some(n),
            BatchTag::Earliest => Some(0),
            BatchTag::Latest => n.closed,
            BatchTag::Pending => n.last,
            BatchTag::Safe => n.virtualized,
            BatchTag::Finalized => n.verified,
        }
        .unwrap_or(0))
    }

    /// The batch object of batch `number` (`null` when it is not stored): its roots and
    /// hashes, its L1 transactions, its blocks and transactions (hashes, or with `full` objects:
    /// blocks with their zkEVM fields and transaction hashes, transactions with their
    /// positions and L2 hashes) and its batchL2Data (for an open batch, what the sequencer has
    /// encoded so far; its accInputHash is zero until it closes).
    async fn batch_object(&self, number: u64, full: bool) -> Result<Value, RpcError> {
        let Some(batch) = self.db.batch(number).await? else {
            return Ok(Value::Null);
        };
        let mut blocks = Vec::new();
        let mut txs = Vec::new();
        for n in self.db.batch_block_numbers(number).await? {
            let b = self.db.block_by_number(n).await?.ok_or_else(|| {
                RpcError::internal("batch blocks", format!("block {n} of batch {number}"))
            })?;
            if full {
                blocks.push(self.block_object(&b, false, false).await?);
                for t in self.db.block_transactions(n).await? {
                    txs.push(tx_object(&t, b.header.timestamp)?);
                }
            } else {
                blocks.push(json!(b.hash));
                for t in self.db.block_transactions(n).await? {
                    txs.push(json!(t.hash));
                }
            }
        }
        Ok(json!({
            "number": json::qty(batch.number),
            "coinbase": batch.coinbase,
            "stateRoot": batch.state_root,
            "globalExitRoot": batch.global_exit_root,
            // The L1 info tree is not synchronized yet (see the module documentation).
            "mainnetExitRoot": B256::ZERO,
            "rollupExitRoot": B256::ZERO,
            "localExitRoot": batch.local_exit_root,
            "accInputHash": batch.acc_input_hash.unwrap_or_default(),
            "timestamp": json::qty(batch.timestamp),
            "sendSequencesTxHash": batch.virtual_tx_hash,
            "verifyBatchTxHash": batch.verified_tx_hash,
            "closed": batch.status != BatchStatus::Open,
            "blocks": blocks,
            "transactions": txs,
            "batchL2Data": json::data(&batch.l2_data),
        }))
    }

    /// The batch witness of closed batch `number`, rebuilt by executing its stored data from
    /// the previous batch's root with proofs (nothing is written): what the aggregator proves.
    pub(crate) async fn batch_witness(self: &Arc<Self>, number: u64) -> Result<Value, RpcError> {
        let Some(batch) = self.db.batch(number).await? else {
            return Ok(Value::Null);
        };
        if batch.status == BatchStatus::Open || number == 0 {
            return Err(RpcError::server(format!(
                "batch {number} is {}: a witness exists only for closed batches after genesis",
                if number == 0 {
                    "the genesis batch"
                } else {
                    "open"
                }
            )));
        }
        let prev =
            self.db.batch(number - 1).await?.ok_or_else(|| {
                RpcError::internal("batch witness", "the previous batch is missing")
            })?;
        let ctx = super::witness::witness_context(&self.db, self.chain_id, &batch, &prev).await?;
        let c = self.clone();
        let data = batch.l2_data.clone();
        tokio::task::spawn_blocking(move || {
            let tree = StateTree::at_root(&*c.store, root_hash(&prev.state_root)?);
            let (_, res) = zknode_executor::execute_batch(tree, &*c.store, &ctx, &data)
                .map_err(|e| RpcError::internal("batch witness", e))?;
            let got = B256::from(res.new_state_root.to_u256().to_be_bytes::<32>());
            if got != batch.state_root {
                return Err(RpcError::internal(
                    "batch witness",
                    format!(
                        "batch {number} re-executes to {got}, {} is stored",
                        batch.state_root
                    ),
                ));
            }
            let w = res
                .witness(&ctx, &data, number)
                .ok_or_else(|| RpcError::internal("batch witness", "no proofs"))?;
            serde_json::from_str::<Value>(&w.to_json())
                .map_err(|e| RpcError::internal("batch witness", e))
        })
        .await
        .map_err(|e| RpcError::internal("batch witness task", e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_tags_and_numbers() {
        let p = |v: Value| BatchTag::parse(&v);
        assert_eq!(p(json!("latest")).unwrap(), BatchTag::Latest);
        assert_eq!(p(json!("")).unwrap(), BatchTag::Latest);
        assert_eq!(p(Value::Null).unwrap(), BatchTag::Latest);
        assert_eq!(p(json!("earliest")).unwrap(), BatchTag::Earliest);
        assert_eq!(p(json!("pending")).unwrap(), BatchTag::Pending);
        assert_eq!(p(json!("safe")).unwrap(), BatchTag::Safe);
        assert_eq!(p(json!("finalized")).unwrap(), BatchTag::Finalized);
        assert_eq!(p(json!("0x1a")).unwrap(), BatchTag::Number(26));
        assert_eq!(p(json!("26")).unwrap(), BatchTag::Number(26));
        assert_eq!(p(json!(26)).unwrap(), BatchTag::Number(26));
        for bad in [
            json!("newest"),
            json!("0x"),
            json!("0xg"),
            json!("-1"),
            json!("99999999999999999999"),
            json!(-1),
            json!(1.5),
            json!(true),
            json!({"number": 1}),
        ] {
            let e = p(bad.clone()).unwrap_err();
            assert_eq!(e.code, crate::error::INVALID_PARAMS, "{bad}");
            assert!(
                e.message.starts_with("batch number"),
                "{bad}: {}",
                e.message
            );
        }
    }
}
