//! The `eth` namespace: chain, account state, calls, transactions, blocks.

use std::sync::atomic::Ordering;

use alloy_primitives::{Address, Bytes, B256, U256};
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::{json, Value};
use zknode_executor::decode_signed;
use zknode_storage::BlockReader;

use crate::params::param;
use crate::state::AtRoot;
use crate::{json, parse_quantity, BlockId, NodeApi, RpcError};

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "eth_chainId", 0, |_p, c| async move {
        Ok(json!(json::qty(c.chain_id)))
    });
    method!(
        m,
        "eth_syncing",
        0,
        |_p, _c| async move { Ok(json!(false)) }
    );
    method!(m, "eth_blockNumber", 0, |_p, c| async move {
        Ok(json!(json::qty(c.latest().await?.number)))
    });
    method!(m, "eth_gasPrice", 0, |_p, c| async move {
        Ok(json!(format!("{:#x}", c.gas_price)))
    });
    method!(m, "eth_maxPriorityFeePerGas", 0, |_p, c| async move {
        Ok(json!(format!("{:#x}", c.gas_price)))
    });
    method!(m, "eth_feeHistory", 3, |p, c| async move {
        let count: Value = param(&p, 0, "block count")?;
        let count = match &count {
            Value::String(s) => parse_quantity(s)?,
            Value::Number(n) => n.as_u64().unwrap_or(0),
            _ => return Err(RpcError::invalid_params("invalid block count")),
        }
        .clamp(1, 1024);
        let newest = BlockId::parse(p.get(1))?;
        let Some(newest) = c.number_of(newest).await? else {
            return Err(RpcError::server("header not found"));
        };
        let percentiles: Vec<f64> = match p.get(2) {
            Some(v) if !v.is_null() => serde_json::from_value(v.clone())
                .map_err(|e| RpcError::invalid_params(format!("reward percentiles: {e}")))?,
            _ => Vec::new(),
        };
        let oldest = newest.saturating_sub(count - 1);
        let mut ratios = Vec::new();
        let mut rewards = Vec::new();
        for n in oldest..=newest {
            let b = c.db.block_by_number(n).await?;
            let ratio = b.map_or(0.0, |b| {
                b.header.gas_used as f64 / b.header.gas_limit.max(1) as f64
            });
            ratios.push(json!(ratio));
            rewards.push(json!(percentiles
                .iter()
                .map(|_| format!("{:#x}", c.gas_price))
                .collect::<Vec<_>>()));
        }
        let base_fees: Vec<&str> = (oldest..=newest + 1).map(|_| "0x0").collect();
        let mut out = json!({
            "oldestBlock": json::qty(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        });
        if !percentiles.is_empty() {
            out["reward"] = json!(rewards);
        }
        Ok(out)
    });
    method!(m, "eth_getBalance", 2, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        Ok(json!(json::qty256(
            AtRoot::new(&c.store, &root)?.balance(&a)?
        )))
    });
    method!(m, "eth_getTransactionCount", 2, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let id = BlockId::parse(p.get(1))?;
        if let (BlockId::Pending, Some(relay)) = (id, &c.relay) {
            // Only the sequencer's pool knows the transactions waiting for a block.
            return relay
                .call("eth_getTransactionCount", json!([a, "pending"]))
                .await;
        }
        let root = c.root_of(id).await?;
        let n = AtRoot::new(&c.store, &root)?.nonce(&a)?;
        let n = if id == BlockId::Pending {
            c.pool.pending_nonce(a, n)
        } else {
            n
        };
        Ok(json!(json::qty(n)))
    });
    method!(m, "eth_getCode", 2, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        Ok(json!(json::data(&AtRoot::new(&c.store, &root)?.code(&a)?)))
    });
    method!(m, "eth_getStorageAt", 3, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let slot: U256 = param(&p, 1, "storage slot")?;
        let root = c.root_of(BlockId::parse(p.get(2))?).await?;
        let v = AtRoot::new(&c.store, &root)?.storage(&a, slot)?;
        Ok(json!(B256::from(v.to_be_bytes::<32>())))
    });
    method!(m, "eth_sendRawTransaction", 1, |p, c| async move {
        let raw: Bytes = param(&p, 0, "transaction data")?;
        if !c.accepting.load(Ordering::SeqCst) {
            return Err(RpcError::server("node is shutting down"));
        }
        if let Some(relay) = &c.relay {
            // The sequencer checks it against its own pool and answers: hash or refusal.
            let answer = relay.call("eth_sendRawTransaction", json!([raw])).await?;
            c.metrics.send_raw_accepted.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        let head = c.latest().await?;
        let state = AtRoot::new(&c.store, &head.state_root)?;
        match c.pool.add(&raw, &state).await {
            Ok(hash) => {
                c.metrics.send_raw_accepted.fetch_add(1, Ordering::Relaxed);
                c.live.publish_pending(hash);
                Ok(json!(hash))
            }
            Err(e) => {
                c.metrics.reject(e.label());
                Err(RpcError::server(e.to_string()))
            }
        }
    });
    method!(m, "eth_getTransactionByHash", 1, |p, c| async move {
        let hash: B256 = param(&p, 0, "transaction hash")?;
        let Some(t) = c.db.transaction_by_hash(hash).await? else {
            return Ok(c.tx_from_pool(hash).unwrap_or(Value::Null));
        };
        NodeApi::stored_tx_json(&t, c.block_timestamp(t.block_number).await?)
    });
    method!(m, "eth_getTransactionReceipt", 1, |p, c| async move {
        let hash: B256 = param(&p, 0, "transaction hash")?;
        let Some(r) = c.db.receipt(hash).await? else {
            return Ok(Value::Null);
        };
        let Some(t) = c.db.transaction_by_hash(hash).await? else {
            return Ok(Value::Null);
        };
        let decoded =
            decode_signed(&t.raw).map_err(|e| RpcError::internal("stored transaction", e))?;
        Ok(json::receipt(&r, &t, &decoded))
    });
    method!(m, "eth_getBlockByNumber", 2, |p, c| async move {
        let id = BlockId::parse(Some(&param::<Value>(&p, 0, "block")?))?;
        if matches!(id, BlockId::Hash(_)) {
            return Err(RpcError::invalid_params(
                "a block number or tag is expected",
            ));
        }
        let full = match p.get(1) {
            None => false,
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| RpcError::invalid_params(format!("invalid full flag: {e}")))?,
        };
        c.block_json(id, full).await
    });
    method!(m, "eth_getBlockByHash", 2, |p, c| async move {
        let h: B256 = param(&p, 0, "block hash")?;
        let full = match p.get(1) {
            None => false,
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| RpcError::invalid_params(format!("invalid full flag: {e}")))?,
        };
        c.block_json(BlockId::Hash(h), full).await
    });
    Ok(())
}
