//! The `zkevm` namespace: batches, their lifecycle on L1, and the batch witness.

use std::sync::Arc;

use alloy_primitives::B256;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::Value;
use zknode_state::StateTree;
use zknode_storage::BlockReader;

use crate::params::param;
use crate::state::root_hash;
use crate::{parse_quantity, NodeApi, RpcError};

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "zkevm_getBatchWitness", 1, |p, c| async move {
        let v: Value = param(&p, 0, "batch number")?;
        let number = match &v {
            Value::String(s) => parse_quantity(s)?,
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| RpcError::invalid_params("invalid batch number"))?,
            _ => return Err(RpcError::invalid_params("invalid batch number")),
        };
        c.batch_witness(number).await
    });
    Ok(())
}

impl NodeApi {
    /// The batch witness of closed batch `number`, rebuilt by executing its stored data from
    /// the previous batch's root with proofs (nothing is written): what the aggregator proves.
    pub(crate) async fn batch_witness(self: &Arc<Self>, number: u64) -> Result<Value, RpcError> {
        use zknode_storage::BatchStatus;
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
        let ctx = zknode_executor::BatchContext {
            chain_id: self.chain_id,
            fork_id: 12,
            sequencer: batch.coinbase,
            timestamp_limit: u64::MAX,
            l1_info_root: B256::ZERO,
            old_acc_input_hash: prev.acc_input_hash.unwrap_or_default(),
            forced_block_hash_l1: B256::ZERO,
            l1_info: Default::default(),
            verify_l1_info_proofs: false,
            with_proofs: true,
        };
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
