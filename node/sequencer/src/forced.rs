//! Forced batches: transactions a user queued on L1 with `forceBatch` (for when the trusted
//! sequencer ignores them). The synchronizer stores each one L1 queued; the sequencer executes
//! the next one, in queue order, as a batch of its own as soon as the batch it is building
//! closes, with the forced batch's context (its global exit root as the L1 info root, its L1
//! block's timestamp as the limit and parent hash as `forcedBlockHashL1`), and stores it with
//! the forced batch's number, which the sequence sender then posts with the forced fields.
//!
//! A forced batch is stored in several steps (opened, its block, closed); one a crash left open
//! is removed at the next start and executed again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use zknode_executor::{decode_batch, BatchContext};
use zknode_state::{CodeStore, RocksStore, StateTree};
use zknode_storage::{Batch, BatchClose, BlockWriter, L1ForcedBatch, NewBatch};

use crate::blocks::{batch_txs, executed_block};
use crate::{root_b256, root_hash, Run, SequencerError, FORK_ID};

impl Run<'_> {
    /// The next forced batch of L1's queue that no batch executes yet.
    pub(crate) fn next_forced(&self) -> Result<Option<L1ForcedBatch>, SequencerError> {
        let db = &self.s.db;
        let last = self.rt.block_on(db.last_forced_batch_included())?;
        Ok(self.rt.block_on(db.l1_forced_batch(last + 1))?)
    }

    /// Whether L1 has queued a forced batch no batch executes yet, looked up at most once a
    /// second (`checked`: when it last was).
    pub(crate) fn forced_queued(&self, checked: &mut Instant) -> Result<bool, SequencerError> {
        if checked.elapsed() < Duration::from_secs(1) {
            return Ok(false);
        }
        *checked = Instant::now();
        Ok(self.next_forced()?.is_some())
    }

    /// Executes forced batch `f` as batch `number` after `prev`, and stores it closed.
    pub(crate) fn forced_batch(
        &self,
        number: u64,
        prev: &Batch,
        f: &L1ForcedBatch,
    ) -> Result<(), SequencerError> {
        let s = self.s;
        let db = &s.db;
        self.check_halt()?;
        let ctx = BatchContext {
            chain_id: s.spec.chain_id,
            fork_id: FORK_ID,
            sequencer: s.spec.coinbase,
            timestamp_limit: f.forced_at,
            l1_info_root: f.global_exit_root,
            old_acc_input_hash: prev.acc_input_hash.unwrap_or_default(),
            forced_block_hash_l1: f.block_hash_l1,
            l1_info: BTreeMap::new(),
            verify_l1_info_proofs: false,
            with_proofs: false,
        };
        let store: &RocksStore = &s.store;
        let tree = StateTree::at_root(store, root_hash(&prev.state_root)?);
        let (mut tree, res) = zknode_executor::execute_batch(tree, store, &ctx, &f.transactions)?;
        let code: Vec<_> = res.new_code.iter().map(|(h, c)| (*h, &c[..])).collect();
        store.put_code(&code)?;
        tree.commit()?;
        if let Some(why) = &res.invalid_batch {
            tracing::warn!(target: "sequencer", forced = f.number, batch = number, reason = %why, "forced batch is invalid: stored with no block, the state unchanged");
        }
        let entries = decode_batch(&f.transactions)
            .ok()
            .filter(|_| res.invalid_batch.is_none());
        let txs = batch_txs(entries);
        let head = self.head()?;
        self.rt.block_on(db.open_batch(&NewBatch {
            number,
            coinbase: s.spec.coinbase,
            timestamp: res.blocks.first().map_or(f.forced_at, |b| b.timestamp),
            global_exit_root: B256::ZERO,
            state_root: prev.state_root,
            local_exit_root: prev.local_exit_root,
            forced_batch_number: Some(f.number),
        }))?;
        let mut parent = head.hash;
        let mut ntx = 0;
        for b in &res.blocks {
            let block =
                executed_block(number, parent, b, &res, &txs).map_err(SequencerError::Chain)?;
            let hashes: Vec<B256> = block.transactions.iter().map(|t| t.hash).collect();
            ntx += hashes.len();
            parent = self.rt.block_on(db.write_block(&block))?;
            s.pool.included(&hashes);
            s.metrics.blocks.inc();
            s.metrics.head_block.set(block.number);
        }
        self.rt.block_on(db.close_batch(
            number,
            &BatchClose {
                closing_reason: "forced batch".into(),
                state_root: root_b256(&res.new_state_root),
                local_exit_root: res.new_local_exit_root,
                acc_input_hash: res.new_acc_input_hash,
                l2_data: f.transactions.clone(),
            },
        ))?;
        s.metrics.txs_included.add(ntx as u64);
        s.metrics.batches_closed.inc();
        tracing::info!(target: "sequencer", batch = number, forced = f.number, txs = ntx, "forced batch executed");
        Ok(())
    }
}
