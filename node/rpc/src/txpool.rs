//! The `txpool` namespace in geth's shapes, with the real contents of the pool:
//! `txpool_status` (`{pending, queued}` counts), `txpool_content` (`{pending: {address: {nonce:
//! transaction}}, queued: {…}}`) and `txpool_contentFrom(address)` (`{pending: {nonce:
//! transaction}, queued: {…}}`).
//!
//! "pending" are the transactions that can run now: for each sender, the run of consecutive
//! nonces from its nonce in the latest state. "queued" are those after a nonce gap (the pool
//! accepts nonces up to `pool.account_queue` ahead), which wait for the missing ones. A pool
//! transaction whose nonce the state has already used is in neither: it can never run, and
//! the sequencer marks it failed. Nonces are decimal strings, as geth writes them; the
//! transactions are `eth_getTransactionByHash`'s pending objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::Address;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::{json, Map, Value};
use zknode_pool::{PoolContent, PoolTx};

use crate::params::param;
use crate::state::AtRoot;
use crate::{json, NodeApi, RpcError};

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "txpool_status", 0, |_p, c| async move {
        let content = c.pool_content().await?;
        let count = |m: &BTreeMap<Address, Vec<Arc<PoolTx>>>| {
            json::qty(m.values().map(|v| v.len() as u64).sum())
        };
        Ok(json!({
            "pending": count(&content.pending),
            "queued": count(&content.queued),
        }))
    });
    method!(m, "txpool_content", 0, |_p, c| async move {
        let content = c.pool_content().await?;
        let by_sender = |m: &BTreeMap<Address, Vec<Arc<PoolTx>>>| {
            let o: Map<String, Value> = m
                .iter()
                .map(|(a, txs)| (a.to_checksum(None), by_nonce(txs)))
                .collect();
            Value::Object(o)
        };
        Ok(json!({
            "pending": by_sender(&content.pending),
            "queued": by_sender(&content.queued),
        }))
    });
    method!(m, "txpool_contentFrom", 1, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let root = c.latest().await?.state_root;
        let nonce = AtRoot::new(&c.store, &root)?.nonce(&a)?;
        let content = c.pool.content_of(a, nonce);
        let of = |m: &BTreeMap<Address, Vec<Arc<PoolTx>>>| {
            m.get(&a).map_or_else(|| json!({}), |txs| by_nonce(txs))
        };
        Ok(json!({
            "pending": of(&content.pending),
            "queued": of(&content.queued),
        }))
    });
    Ok(())
}

/// `{nonce: transaction}` of one sender's transactions.
fn by_nonce(txs: &[Arc<PoolTx>]) -> Value {
    let o: Map<String, Value> = txs
        .iter()
        .map(|t| {
            (
                t.nonce().to_string(),
                json::transaction(&t.tx, t.hash, t.sender, None),
            )
        })
        .collect();
    Value::Object(o)
}

impl NodeApi {
    /// The pool split by the senders' nonces in the latest state.
    async fn pool_content(&self) -> Result<PoolContent, RpcError> {
        let root = self.latest().await?.state_root;
        let state = AtRoot::new(&self.store, &root)?;
        let mut failed = None;
        let content = self.pool.content(&mut |a| match state.nonce(&a) {
            Ok(n) => n,
            Err(e) => {
                failed.get_or_insert(e);
                0
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(content),
        }
    }
}
