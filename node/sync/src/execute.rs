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
//!
//! # Trusted state
//!
//! With [`L2Stage::following`] the stage also executes the trusted sequencer's closed batches,
//! read from its JSON-RPC (`zkevm_getBatchByNumber`), after the L1 ones, and stores them closed
//! when executing gives the trusted state root. They turn virtual when L1 sequences the same
//! data (the synchronizer compares); when L1 sequences other data for that number, L1 wins: the
//! synchronizer removes the node's batch and those after it, and the stage executes L1's.
//! Only a batch a crash left open is removed at the start of a round in this mode.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::{DynProvider, Provider};
use zknode_executor::hashes::L1InfoLeaf;
use zknode_executor::{decode_batch, execute_batch, BatchContext, BatchEntry};
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
    /// The trusted sequencer's JSON-RPC, when the node follows its batches ahead of L1.
    trusted: Option<DynProvider>,
}

fn root_hash(b: &B256) -> Result<zknode_state::Hash, SyncError> {
    zknode_sequencer::root_hash(b).map_err(|e| SyncError::Desynced(e.to_string()))
}

/// Trusted batches executed per round at most (then L1 is looked at again).
const TRUSTED_PER_ROUND: u64 = 64;

/// Where a batch comes from, with what its execution must give.
#[derive(Clone, Copy)]
enum Expect {
    /// Sequenced on L1 by `tx_hash`, chaining to `acc_input_hash`.
    L1 { acc_input_hash: B256, tx_hash: B256 },
    /// Closed by the trusted sequencer with this state root.
    Trusted { state_root: B256 },
}

/// A batch to execute.
struct Source<'a> {
    number: u64,
    data: &'a Bytes,
    coinbase: Address,
    timestamp_limit: u64,
    l1_info_root: B256,
    forced_block_hash_l1: B256,
    expect: Expect,
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
            trusted: None,
        }
    }

    /// Also follows the trusted sequencer's closed batches over its JSON-RPC (`trusted`), ahead
    /// of L1 (the trusted state): users see transactions within a block time. L1 wins: a batch
    /// L1 later sequences otherwise is removed, with those after it, and L1's is executed.
    pub fn following(mut self, trusted: DynProvider) -> Self {
        self.trusted = Some(trusted);
        self
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
                break;
            };
            self.execute(&vb).await?;
            done += 1;
        }
        if let Some(t) = &self.trusted {
            done += self.follow_trusted(t).await?;
        }
        Ok(done)
    }

    /// Removes the local batches from the first one that is not virtual (see the module doc);
    /// following the trusted sequencer, only a batch a crash left open (closed ones are the
    /// trusted state, kept until L1 says otherwise).
    pub(crate) async fn remove_unsequenced(&self) -> Result<(), SyncError> {
        let n = self.db.latest_batch_numbers().await?;
        if self.trusted.is_some() {
            if let Some(open) = n.last.filter(|l| n.closed.is_none_or(|c| c < *l)) {
                let (batches, blocks) = self.db.remove_batches_from(open).await?;
                tracing::warn!(target: "sync::exec", batch = open, batches, blocks, "removed a batch a crash left half stored");
            }
            return Ok(());
        }
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
        let done = self
            .run_batch(Source {
                number: vb.number,
                data: &vb.l2_data,
                coinbase: vb.coinbase,
                timestamp_limit: vb.forced.map_or(vb.max_sequence_timestamp, |f| f.timestamp),
                l1_info_root: vb.forced.map_or(vb.l1_info_root, |f| f.global_exit_root),
                forced_block_hash_l1: vb.forced.map_or(B256::ZERO, |f| f.block_hash_l1),
                expect: Expect::L1 {
                    acc_input_hash: vb.acc_input_hash,
                    tx_hash: vb.tx_hash,
                },
            })
            .await?;
        debug_assert!(done, "an L1 batch is stored or fails");
        Ok(())
    }

    /// Executes the trusted sequencer's closed batches after the local chain (up to
    /// [`TRUSTED_PER_ROUND`]), stopping at the first it has not closed, cannot serve, or whose
    /// state root executing it does not give; returns how many were stored.
    async fn follow_trusted(&self, trusted: &DynProvider) -> Result<u64, SyncError> {
        let mut done = 0;
        while done < TRUSTED_PER_ROUND {
            let last = self.db.latest_batch_numbers().await?.last.unwrap_or(0);
            let n = last + 1;
            let v: serde_json::Value = match trusted
                .raw_request("zkevm_getBatchByNumber".into(), (format!("{n:#x}"), false))
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(target: "sync::exec", batch = n, error = %e, "the trusted sequencer's JSON-RPC did not answer");
                    break;
                }
            };
            if v.is_null() || v["closed"] != serde_json::Value::Bool(true) {
                break;
            }
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let (Ok(data), Ok(coinbase), Ok(root)) = (
                field("batchL2Data").parse::<Bytes>(),
                field("coinbase").parse::<Address>(),
                field("stateRoot").parse::<B256>(),
            ) else {
                tracing::warn!(target: "sync::exec", batch = n, "the trusted sequencer's batch object does not parse");
                break;
            };
            let stored = self
                .run_batch(Source {
                    number: n,
                    data: &data,
                    coinbase,
                    timestamp_limit: u64::MAX,
                    l1_info_root: B256::ZERO,
                    forced_block_hash_l1: B256::ZERO,
                    expect: Expect::Trusted { state_root: root },
                })
                .await?;
            if !stored {
                break;
            }
            self.metrics.trusted_batches.fetch_add(1, Ordering::Relaxed);
            done += 1;
        }
        Ok(done)
    }

    /// Executes batch `s.number` after the local chain and stores it: virtual for an L1
    /// batch (an error when its accInputHash is not L1's), closed for a trusted one (`false`,
    /// nothing stored, when it does not execute or gives another state root).
    async fn run_batch(&self, s: Source<'_>) -> Result<bool, SyncError> {
        let started = Instant::now();
        let number = s.number;
        let prev =
            self.db.batch(number - 1).await?.ok_or_else(|| {
                SyncError::Desynced(format!("batch {} is not stored", number - 1))
            })?;
        let forced = !s.forced_block_hash_l1.is_zero();
        let entries = decode_batch(s.data).ok();
        let leaves = self.leaves(forced, entries.as_deref()).await?;
        let ctx = BatchContext {
            chain_id: self.chain_id,
            fork_id: zknode_sequencer::FORK_ID,
            sequencer: s.coinbase,
            timestamp_limit: s.timestamp_limit,
            l1_info_root: s.l1_info_root,
            old_acc_input_hash: prev.acc_input_hash.unwrap_or_default(),
            forced_block_hash_l1: s.forced_block_hash_l1,
            l1_info: leaves,
            verify_l1_info_proofs: false,
            with_proofs: false,
        };
        let old_root = root_hash(&prev.state_root)?;
        let store = self.store.clone();
        let data = s.data.clone();
        let expect = s.expect;
        // Executes, and commits the state only when the result is what the source says.
        let executed = tokio::task::spawn_blocking(move || {
            let tree = StateTree::at_root(&*store, old_root);
            let (mut tree, res) = execute_batch(tree, &*store, &ctx, &data)?;
            let new_root = zknode_sequencer::root_b256(&res.new_state_root);
            let wrong = match expect {
                Expect::L1 { acc_input_hash, .. } if res.new_acc_input_hash != acc_input_hash => {
                    Some(format!(
                        "accInputHash {}, L1 chained {acc_input_hash}",
                        res.new_acc_input_hash
                    ))
                }
                Expect::Trusted { state_root } if state_root != new_root => Some(format!(
                    "state root {new_root}, the trusted sequencer's is {state_root}"
                )),
                _ => None,
            };
            if wrong.is_none() {
                let code: Vec<_> = res.new_code.iter().map(|(h, c)| (*h, &c[..])).collect();
                let stored = store
                    .put_code(&code)
                    .and_then(|()| tree.commit().map(|_| ()));
                stored.map_err(|e| zknode_executor::ExecError::State(e.into()))?;
            }
            Ok::<_, zknode_executor::ExecError>((res, wrong))
        })
        .await
        .map_err(|e| SyncError::Desynced(format!("executing batch {number}: {e}")))?;
        let res = match (executed, expect) {
            (Ok((res, None)), _) => res,
            (Ok((_, Some(wrong))), Expect::L1 { .. }) => {
                return Err(SyncError::Desynced(format!(
                    "batch {number} executed gives {wrong}"
                )))
            }
            (Ok((_, Some(wrong))), Expect::Trusted { .. }) => {
                tracing::warn!(target: "sync::exec", batch = number, %wrong, "executing the trusted sequencer's batch gives another result: waiting for L1");
                return Ok(false);
            }
            (Err(e), Expect::Trusted { .. }) => {
                tracing::info!(target: "sync::exec", batch = number, error = %e, "the trusted sequencer's batch does not execute here yet");
                return Ok(false);
            }
            (Err(e), Expect::L1 { .. }) => {
                return Err(SyncError::Desynced(format!(
                    "executing batch {number}: {e}"
                )))
            }
        };
        let new_root = zknode_sequencer::root_b256(&res.new_state_root);
        if let Some(why) = &res.invalid_batch {
            tracing::warn!(target: "sync::exec", batch = number, reason = %why, "an invalid batch: stored with no block, the state unchanged");
        }
        let txs = zknode_sequencer::batch_txs(entries.filter(|_| res.invalid_batch.is_none()));
        let first_ts = res.blocks.first().map_or(0, |b| b.timestamp);
        self.db
            .open_batch(&NewBatch {
                number,
                coinbase: s.coinbase,
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
        let closing_reason = match s.expect {
            Expect::L1 { .. } => "synchronized from L1",
            Expect::Trusted { .. } => "trusted sequencer",
        };
        self.db
            .close_batch(
                number,
                &BatchClose {
                    closing_reason: closing_reason.into(),
                    state_root: new_root,
                    local_exit_root: res.new_local_exit_root,
                    acc_input_hash: res.new_acc_input_hash,
                    l2_data: s.data.clone(),
                },
            )
            .await?;
        if let Expect::L1 { tx_hash, .. } = s.expect {
            self.db.set_batch_virtual(number, tx_hash).await?;
            if let Some(v) = self.db.l1_verification_covering(number).await? {
                self.db.set_batch_verified(number, v.tx_hash).await?;
                if v.batch_number == number && v.state_root != new_root {
                    tracing::error!(target: "sync::exec", batch = number, l1 = %v.state_root, local = %new_root, "L1 verified another state root for this batch than executing it gives");
                }
            }
        }
        let m = &self.metrics;
        m.l2_batches_executed.fetch_add(1, Ordering::Relaxed);
        m.l2_blocks_executed
            .fetch_add(res.blocks.len() as u64, Ordering::Relaxed);
        m.l2_txs_executed.fetch_add(ntx, Ordering::Relaxed);
        m.l2_execute_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        tracing::info!(target: "sync::exec", batch = number, blocks = res.blocks.len(), txs = ntx, root = %new_root, source = closing_reason, "batch executed");
        Ok(true)
    }

    /// The L1 info leaves the batch's blocks name. A leaf the synchronizer has not stored is
    /// left out: the executor then refuses the batch with an error naming it.
    async fn leaves(
        &self,
        forced: bool,
        entries: Option<&[BatchEntry]>,
    ) -> Result<BTreeMap<u32, L1InfoLeaf>, SyncError> {
        let mut out = BTreeMap::new();
        if forced {
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
                out.insert(i, zknode_sequencer::exec_leaf(&l));
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
