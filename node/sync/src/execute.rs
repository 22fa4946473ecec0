//! The execution stage of a node without a sequencer (a permissionless node): every batch L1
//! sequenced is executed from its calldata, in order, and stored as the trusted sequencer
//! stored it: the same L2 blocks (hashes, state roots), transactions, receipts and logs.
//!
//! Each round ([`L2Stage::step`]) first removes local batches that are not virtual: the batch a
//! crash left half stored, and the batches whose sequences an L1 reorg took away (the L1 stage
//! set them back to closed). Then it executes the next virtual batch in the synchronized L1
//! data, with the sequence's L1 info root, timestamp limit and coinbase (or the forced batch's
//! fields), checks that the accInputHash it computes is the one L1 chained, commits the state
//! tree, and stores the batch: opened, its blocks, closed, virtual, and verified when an L1
//! verification already covers it. An invalid batch (one the executor refuses as a whole)
//! keeps the state root and stores no block, as the protocol has it.
//!
//! A batch is stored in several database transactions; a crash in between leaves it not
//! virtual, and the next round removes it and executes it again (its state-tree nodes are
//! already there, which is harmless).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use alloy::primitives::B256;
use zknode_executor::hashes::L1InfoLeaf;
use zknode_executor::{decode_batch, execute_batch, BatchContext, BatchEntry, BatchResult};
use zknode_state::{CodeStore, RocksStore, StateTree};
use zknode_storage::{
    BatchClose, BatchStatus, BlockReader, BlockWriter, L1VirtualBatch, NewBatch, StateDb,
};

use crate::{SyncError, SyncMetrics};

/// Executes L1's batches into the node's chain.
pub struct L2Stage {
    db: StateDb,
    store: Arc<RocksStore>,
    chain_id: u64,
    metrics: Arc<SyncMetrics>,
}

fn root_hash(b: &B256) -> Result<zknode_state::Hash, SyncError> {
    zknode_sequencer::root_hash(b).map_err(|e| SyncError::Desynced(e.to_string()))
}

impl L2Stage {
    pub fn new(
        db: StateDb,
        store: Arc<RocksStore>,
        chain_id: u64,
        metrics: Arc<SyncMetrics>,
    ) -> Self {
        Self {
            db,
            store,
            chain_id,
            metrics,
        }
    }

    /// Executes every batch the synchronized L1 data holds past the local chain; returns how
    /// many.
    pub async fn step(&self) -> Result<u64, SyncError> {
        self.remove_unsequenced().await?;
        let mut done = 0;
        loop {
            let last = self.db.latest_batch_numbers().await?.last.ok_or_else(|| {
                SyncError::Desynced("no batch stored: genesis was not written".into())
            })?;
            let Some(vb) = self.db.l1_virtual_batch(last + 1).await? else {
                return Ok(done);
            };
            self.execute(&vb).await?;
            done += 1;
        }
    }

    /// Removes the local batches from the first one that is not virtual (see the module doc).
    pub(crate) async fn remove_unsequenced(&self) -> Result<(), SyncError> {
        let n = self.db.latest_batch_numbers().await?;
        let (Some(last), virtualized) = (n.last, n.virtualized.unwrap_or(0)) else {
            return Ok(());
        };
        if last <= virtualized {
            return Ok(());
        }
        let mut first = virtualized + 1;
        // `virtualized` is the last virtual (or verified) batch; one below it may still be
        // closed after a reorg unwound a later sequence and an earlier one both.
        while first > 1 {
            match self.db.batch(first - 1).await? {
                Some(b) if b.status < BatchStatus::Virtual => first -= 1,
                _ => break,
            }
        }
        let (batches, blocks) = self.db.remove_batches_from(first).await?;
        tracing::warn!(target: "sync::exec", from_batch = first, batches, blocks, "removed batches L1 no longer sequences (an L1 reorg) or a crash left half stored");
        Ok(())
    }

    /// Executes and stores one virtual batch (the next after the local chain).
    async fn execute(&self, vb: &L1VirtualBatch) -> Result<(), SyncError> {
        let started = Instant::now();
        let number = vb.number;
        let prev =
            self.db.batch(number - 1).await?.ok_or_else(|| {
                SyncError::Desynced(format!("batch {} is not stored", number - 1))
            })?;
        let entries = decode_batch(&vb.l2_data).ok();
        let leaves = self.leaves(vb, entries.as_deref()).await?;
        let ctx = BatchContext {
            chain_id: self.chain_id,
            fork_id: zknode_sequencer::FORK_ID,
            sequencer: vb.coinbase,
            timestamp_limit: vb.forced.map_or(vb.max_sequence_timestamp, |f| f.timestamp),
            l1_info_root: vb.forced.map_or(vb.l1_info_root, |f| f.global_exit_root),
            old_acc_input_hash: prev.acc_input_hash.unwrap_or_default(),
            forced_block_hash_l1: vb.forced.map_or(B256::ZERO, |f| f.block_hash_l1),
            l1_info: leaves,
            verify_l1_info_proofs: false,
            with_proofs: false,
        };
        let old_root = root_hash(&prev.state_root)?;
        let store = self.store.clone();
        let data = vb.l2_data.clone();
        let res = tokio::task::spawn_blocking(move || -> Result<BatchResult, SyncError> {
            let exec = |e: zknode_executor::ExecError| {
                SyncError::Desynced(format!("executing batch {number}: {e}"))
            };
            let tree = StateTree::at_root(&*store, old_root);
            let (mut tree, res) = execute_batch(tree, &*store, &ctx, &data).map_err(exec)?;
            let code: Vec<_> = res.new_code.iter().map(|(h, c)| (*h, &c[..])).collect();
            store
                .put_code(&code)
                .and_then(|()| tree.commit().map(|_| ()))
                .map_err(|e| SyncError::Desynced(format!("storing batch {number}'s state: {e}")))?;
            Ok(res)
        })
        .await
        .map_err(|e| SyncError::Desynced(format!("executing batch {number}: {e}")))??;
        if res.new_acc_input_hash != vb.acc_input_hash {
            return Err(SyncError::Desynced(format!(
                "batch {number} executed gives accInputHash {}, L1 chained {}",
                res.new_acc_input_hash, vb.acc_input_hash
            )));
        }
        let new_root = zknode_sequencer::root_b256(&res.new_state_root);
        if let Some(why) = &res.invalid_batch {
            tracing::warn!(target: "sync::exec", batch = number, reason = %why, "L1 sequenced an invalid batch: stored with no block, the state unchanged");
        }
        let txs = zknode_sequencer::batch_txs(entries.filter(|_| res.invalid_batch.is_none()));
        let first_ts = res
            .blocks
            .first()
            .map_or(vb.max_sequence_timestamp, |b| b.timestamp);
        self.db
            .open_batch(&NewBatch {
                number,
                coinbase: vb.coinbase,
                timestamp: first_ts,
                global_exit_root: B256::ZERO,
                state_root: prev.state_root,
                local_exit_root: prev.local_exit_root,
                forced_batch_number: None,
            })
            .await?;
        let mut parent = self
            .parent_hash(res.blocks.first().map(|b| b.number))
            .await?;
        let mut ntx = 0u64;
        for b in &res.blocks {
            let block = zknode_sequencer::executed_block(number, parent, b, &res, &txs)
                .map_err(SyncError::Desynced)?;
            ntx += block.transactions.len() as u64;
            parent = self.db.write_block(&block).await?;
        }
        self.db
            .close_batch(
                number,
                &BatchClose {
                    closing_reason: "synchronized from L1".into(),
                    state_root: new_root,
                    local_exit_root: res.new_local_exit_root,
                    acc_input_hash: res.new_acc_input_hash,
                    l2_data: vb.l2_data.clone(),
                },
            )
            .await?;
        self.db.set_batch_virtual(number, vb.tx_hash).await?;
        if let Some(v) = self.db.l1_verification_covering(number).await? {
            self.db.set_batch_verified(number, v.tx_hash).await?;
            if v.batch_number == number && v.state_root != new_root {
                tracing::error!(target: "sync::exec", batch = number, l1 = %v.state_root, local = %new_root, "L1 verified another state root for this batch than executing it gives");
            }
        }
        let m = &self.metrics;
        m.l2_batches_executed.fetch_add(1, Ordering::Relaxed);
        m.l2_blocks_executed
            .fetch_add(res.blocks.len() as u64, Ordering::Relaxed);
        m.l2_txs_executed.fetch_add(ntx, Ordering::Relaxed);
        m.l2_execute_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        tracing::info!(target: "sync::exec", batch = number, blocks = res.blocks.len(), txs = ntx, root = %new_root, "batch executed from L1");
        Ok(())
    }

    /// The L1 info leaves the batch's blocks name. A leaf the synchronizer has not stored is
    /// left out: the executor then refuses the batch with an error naming it.
    async fn leaves(
        &self,
        vb: &L1VirtualBatch,
        entries: Option<&[BatchEntry]>,
    ) -> Result<BTreeMap<u32, L1InfoLeaf>, SyncError> {
        let mut out = BTreeMap::new();
        if vb.forced.is_some() {
            return Ok(out);
        }
        for e in entries.unwrap_or_default() {
            let BatchEntry::ChangeL2Block(c) = e else {
                continue;
            };
            let i = c.index_l1_info_tree;
            if i == 0 || out.contains_key(&i) {
                continue;
            }
            if let Some(l) = self.db.l1_info_leaf(u64::from(i)).await? {
                out.insert(
                    i,
                    L1InfoLeaf {
                        global_exit_root: l.global_exit_root,
                        block_hash: l.parent_hash,
                        timestamp: l.timestamp,
                        smt_proof: Vec::new(),
                    },
                );
            }
        }
        Ok(out)
    }

    /// The hash of the block before block `first` (none: the batch adds no block).
    async fn parent_hash(&self, first: Option<u64>) -> Result<B256, SyncError> {
        let Some(first) = first else {
            return Ok(B256::ZERO);
        };
        let parent = self
            .db
            .block_by_number(first - 1)
            .await?
            .ok_or_else(|| SyncError::Desynced(format!("block {} is not stored", first - 1)))?;
        Ok(parent.hash)
    }
}
