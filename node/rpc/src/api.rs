//! What the methods share: the head, block ids to numbers and roots, block objects, and the
//! read-only EVM on a blocking thread.

use std::sync::Arc;

use alloy_primitives::B256;
use serde_json::{json, Value};
use zknode_executor::{decode_signed, ReadOnlyEvm};
use zknode_state::{RocksStore, StateTree};
use zknode_storage::BlockReader;

use crate::state::root_hash;
use crate::{json, BlockId, ChainHead, NodeApi, RpcError};

impl NodeApi {
    /// The head as last published (for admission, where a few milliseconds of lag are fine).
    pub(crate) fn head(&self) -> ChainHead {
        *self.head.borrow()
    }

    /// The last stored block, read from the database, so that a client that has seen a receipt
    /// also sees its block's state; on a node that follows the sequencer's state tree, the head
    /// as published (see [`NodeApi::follows_primary`]).
    pub(crate) async fn latest(&self) -> Result<ChainHead, RpcError> {
        if self.follows_primary {
            return Ok(self.head());
        }
        Ok(match self.db.latest_block_head().await? {
            Some(b) => ChainHead {
                number: b.number,
                hash: b.hash,
                state_root: b.state_root,
            },
            None => self.head(),
        })
    }

    /// The number a block id names (`None`: no such block).
    pub(crate) async fn number_of(&self, id: BlockId) -> Result<Option<u64>, RpcError> {
        let head = match id {
            BlockId::Latest | BlockId::Pending | BlockId::Number(_) => self.latest().await?.number,
            _ => 0,
        };
        Ok(match id {
            BlockId::Latest | BlockId::Pending => Some(head),
            BlockId::Earliest => Some(0),
            BlockId::Number(n) => (n <= head).then_some(n),
            BlockId::Hash(h) => self.db.block_by_hash(h).await?.map(|b| b.header.number),
            BlockId::Safe | BlockId::Finalized => {
                let n = self.db.latest_batch_numbers().await?;
                let batch = if id == BlockId::Safe {
                    n.virtualized
                } else {
                    n.verified
                };
                match batch {
                    None => Some(0),
                    Some(b) => Some(
                        self.db
                            .batch_block_numbers(b)
                            .await?
                            .last()
                            .copied()
                            .unwrap_or(0),
                    ),
                }
            }
        })
    }

    /// The state root of a block id, or "header not found".
    pub(crate) async fn root_of(&self, id: BlockId) -> Result<B256, RpcError> {
        if matches!(id, BlockId::Latest | BlockId::Pending) {
            return Ok(self.latest().await?.state_root);
        }
        let Some(n) = self.number_of(id).await? else {
            return Err(RpcError::server("header not found"));
        };
        match self.db.block_by_number(n).await? {
            Some(b) => Ok(b.header.state_root),
            None => Err(RpcError::server("header not found")),
        }
    }

    pub(crate) async fn block_json(&self, id: BlockId, full: bool) -> Result<Value, RpcError> {
        let Some(n) = self.number_of(id).await? else {
            return Ok(Value::Null);
        };
        let Some(b) = self.db.block_by_number(n).await? else {
            return Ok(Value::Null);
        };
        let txs = self.db.block_transactions(n).await?;
        let mut size = 600usize;
        let mut out = Vec::with_capacity(txs.len());
        for t in &txs {
            size += t.raw.len();
            if full {
                let decoded = decode_signed(&t.raw)
                    .map_err(|e| RpcError::internal("stored transaction", e))?;
                let price = decoded.effective_gas_price();
                out.push(json::transaction(
                    &decoded,
                    t.hash,
                    t.sender,
                    Some(&json::Position {
                        block_hash: b.hash,
                        block_number: n,
                        index: t.tx_index,
                        block_timestamp: b.header.timestamp,
                        effective_gas_price: price,
                    }),
                ));
            } else {
                out.push(json!(t.hash));
            }
        }
        Ok(json::block(&b, out, size))
    }

    pub(crate) fn tx_from_pool(&self, hash: B256) -> Option<Value> {
        self.pool
            .get(hash)
            .map(|p| json::transaction(&p.tx, p.hash, p.sender, None))
    }

    /// Runs `f` on the read-only EVM over state root `root`, on a blocking thread (execution is
    /// CPU work); `what` names the work in errors.
    pub(crate) async fn with_evm<T: Send + 'static>(
        self: &Arc<Self>,
        root: B256,
        what: &'static str,
        f: impl FnOnce(&mut ReadOnlyEvm<'_, &RocksStore>) -> Result<T, zknode_executor::ExecError>
            + Send
            + 'static,
    ) -> Result<T, RpcError> {
        let c = self.clone();
        tokio::task::spawn_blocking(move || {
            let tree = StateTree::at_root(&*c.store, root_hash(&root)?);
            let mut evm = ReadOnlyEvm::new(tree, &*c.store, c.chain_id, c.coinbase)
                .map_err(|e| RpcError::internal(what, e))?;
            f(&mut evm).map_err(|e| RpcError::internal(what, e))
        })
        .await
        .map_err(|e| RpcError::internal(what, e))?
    }
}
