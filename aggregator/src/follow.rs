//! Taking batches from a node: the aggregator follows the node's virtual batch number over
//! JSON-RPC (`zkevm_virtualBatchNumber`) and fetches each new batch's witness
//! (`zkevm_getBatchWitness`) into the job database, so that node and aggregator can run on
//! different hosts.
//!
//! Before a witness is stored it is checked (`BatchWitness::check`: its proofs chain from the old
//! root), its batch number must be the one asked for, and its batch data must be the data the
//! node reports L1 sequenced for that batch (`batchL2Data` of `zkevm_getBatchByNumber`, which a
//! node's synchronizer compares with L1's calldata before it marks a batch virtual). With an
//! empty job database the aggregator starts after the node's verified batch: what L1 already
//! verified is not proved again.

use std::time::Duration;

use serde_json::{json, Value};
use zknode_witness::BatchWitness;

use crate::db::Db;

/// Why following the node failed this round.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("the node's JSON-RPC at {url}: {message}")]
    Rpc { url: String, message: String },
    #[error("the node's witness of batch {batch}: {message}")]
    Witness { batch: u64, message: String },
    #[error("job database: {0}")]
    Db(#[from] crate::db::DbError),
}

/// Fetches the node's virtual batches into the job database.
pub struct NodeFollower {
    url: String,
    client: reqwest::Client,
    db: Db,
}

fn quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

impl NodeFollower {
    pub fn new(url: &str, db: Db) -> Result<Self, FollowError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| FollowError::Rpc {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            url: url.to_string(),
            client,
            db,
        })
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, FollowError> {
        let err = |message: String| FollowError::Rpc {
            url: self.url.clone(),
            message: format!("{method}: {message}"),
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let bytes = resp.bytes().await.map_err(|e| err(e.to_string()))?;
        let mut v: Value = serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
        if let Some(e) = v.get("error") {
            return Err(err(e.to_string()));
        }
        Ok(v["result"].take())
    }

    async fn number(&self, method: &str) -> Result<u64, FollowError> {
        let v = self.call(method, json!([])).await?;
        quantity(&v).ok_or_else(|| FollowError::Rpc {
            url: self.url.clone(),
            message: format!("{method} answered {v}, not a quantity"),
        })
    }

    /// Stores the witnesses of the node's virtual batches after the last stored (at most
    /// `max`); returns the batch numbers stored.
    pub async fn step(&self, max: u64) -> Result<Vec<u64>, FollowError> {
        let virtual_batch = self.number("zkevm_virtualBatchNumber").await?;
        let from = match self.db.batch_numbers().await?.last() {
            Some(last) => last + 1,
            None => {
                let verified = self.number("zkevm_verifiedBatchNumber").await?;
                verified.max(self.db.last_verified_batch().await?) + 1
            }
        };
        let mut stored = Vec::new();
        for n in from..=virtual_batch.min(from.saturating_add(max).saturating_sub(1)) {
            let w = self.witness(n).await?;
            self.db.insert_batch(n, &w).await?;
            tracing::info!(
                batch = n,
                ops = w.ops.len(),
                "batch witness taken from the node"
            );
            stored.push(n);
        }
        Ok(stored)
    }

    /// The node's witness of batch `n`, checked against itself and the node's sequenced data.
    async fn witness(&self, n: u64) -> Result<BatchWitness, FollowError> {
        let bad = |message: String| FollowError::Witness { batch: n, message };
        let v = self
            .call("zkevm_getBatchWitness", json!([format!("{n:#x}")]))
            .await?;
        if v.is_null() {
            return Err(bad("the node has no such batch".into()));
        }
        let w = BatchWitness::from_json(&v.to_string()).map_err(|e| bad(e.to_string()))?;
        w.check().map_err(|e| bad(format!("does not check: {e}")))?;
        if w.chain.batch_number != n {
            return Err(bad(format!("it is batch {}'s", w.chain.batch_number)));
        }
        let batch = self
            .call("zkevm_getBatchByNumber", json!([format!("{n:#x}"), false]))
            .await?;
        let data = batch["batchL2Data"]
            .as_str()
            .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
            .ok_or_else(|| bad("the node's batch object has no batchL2Data".into()))?;
        if batch["sendSequencesTxHash"].is_null() {
            return Err(bad(
                "the node does not say which L1 transaction sequenced it".into(),
            ));
        }
        if data != w.batch_l2_data {
            return Err(bad(format!(
                "its batch data ({} bytes) is not what L1 sequenced ({} bytes)",
                w.batch_l2_data.len(),
                data.len()
            )));
        }
        Ok(w)
    }

    /// Follows the node until `stop` resolves, every `interval`; errors are logged and the
    /// round tried again.
    pub async fn run(&self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.step(64).await {
                Ok(s) if !s.is_empty() => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "following the node"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
