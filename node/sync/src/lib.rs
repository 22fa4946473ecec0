//! The synchronizer: follows the rollup on L1 and keeps the state database in step with it, as a
//! stage with an execute ([`Synchronizer::sync_once`]) and an unwind
//! ([`Synchronizer::unwind_from`]).
//!
//! # Execute
//!
//! From the block after the last stored L1 block (at first the deployment block) up to the
//! header at the configured tag (`latest`, `safe` or `finalized`), in chunks of
//! [`SyncConfig::chunk_size`] blocks: one `eth_getLogs` per chunk over the rollup and the global
//! exit root manager; each L1 block with events is turned into what it says
//! (`events.rs`: L1 info leaves checked against the tree rebuilt from the stored ones, sequences
//! decoded from their calldata with the accInputHash chained as the contract does, forced
//! batches, verifications) and stored with its effect on the node's own batches in one database
//! transaction ([`StateDb::apply_l1_block`]). The last block of every chunk is stored too, with
//! or without events, so the stored head is always where the synchronizer stands and the reorg
//! check covers every block it has read.
//!
//! A node's batch whose data or coinbase differs from L1's halts: the halt is stored
//! ([`StateDb::sync_halt`], which the sequencer checks before it stores a block), logged, and
//! the synchronizer stops with [`SyncError::Halted`].
//!
//! # Unwind
//!
//! Before every chunk the stored head's hash is compared with L1's block of that number. On a
//! mismatch the synchronizer walks back through the stored blocks to the newest one L1 still
//! has, and [`StateDb::unwind_l1_from`] removes, in one transaction, everything the later blocks
//! added, and sets the node's batches back (virtual → closed, verified → virtual). The derived
//! state (the L1 info tree, the batch and forced-batch counters) is then rebuilt from storage,
//! as it is after a start and after any error.
//!
//! # Execution
//!
//! A node without a sequencer gives the synchronizer an [`L2Stage`]: after each round it
//! executes the batches L1 sequenced into the node's own chain, and an unwind removes the
//! batches it had executed from the dropped blocks.

mod decode;
mod events;
mod execute;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::eips::BlockNumberOrTag;
use alloy::network::Ethereum;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, Log};
use serde::Deserialize;
use zknode_executor::L1InfoTree;
use zknode_storage::{
    BlockReader, L1Block, L1BlockEffects, L1SyncPosition, L1Unwound, StateDb, StorageError,
    SyncHalt,
};

pub use decode::{decode_sequence, DecodeError, SequenceCall, SequencedBatch};
pub use execute::L2Stage;

/// Which L1 header the synchronizer follows up to.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HeadTag {
    Latest,
    Safe,
    #[default]
    Finalized,
}

impl HeadTag {
    fn tag(self) -> BlockNumberOrTag {
        match self {
            HeadTag::Latest => BlockNumberOrTag::Latest,
            HeadTag::Safe => BlockNumberOrTag::Safe,
            HeadTag::Finalized => BlockNumberOrTag::Finalized,
        }
    }
}

/// `[l1.sync]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// L1 blocks per `eth_getLogs`.
    pub chunk_size: u64,
    /// Follow L1 up to this header: `latest`, `safe` or `finalized`.
    pub head: HeadTag,
    /// Milliseconds between rounds once caught up (and after an error).
    pub interval_ms: u64,
    /// A node without a sequencer also executes the trusted sequencer's closed batches (from
    /// `rpc.sequencer_url`) before L1 has them; see [`L2Stage::following`].
    pub trusted_state: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            chunk_size: 500,
            head: HeadTag::Finalized,
            interval_ms: 1000,
            trusted_state: false,
        }
    }
}

impl SyncConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.chunk_size == 0 {
            return Err("l1.sync.chunk_size must be at least 1".into());
        }
        Ok(())
    }
}

/// Where the rollup is on L1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Addresses {
    pub rollup: Address,
    pub global_exit_root_manager: Address,
    /// Where following L1 starts.
    pub deploy_block: u64,
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("L1 RPC: {0}")]
    Rpc(String),
    #[error("state database: {0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// L1 answered something that does not fit together.
    #[error("L1: {0}")]
    BadL1(String),
    /// What L1 says does not follow from what is stored (zkevm-synchronizer-l1's "desynced"):
    /// the synchronizer does not go on.
    #[error("desynced from L1: {0}")]
    Desynced(String),
    /// L1 disagrees with the node's own batches: sequencing is halted.
    #[error("halted: {}", .0.reason)]
    Halted(SyncHalt),
}

impl SyncError {
    /// Whether the synchronizer must stop rather than try again.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SyncError::Halted(_) | SyncError::Desynced(_))
    }
}

fn rpc(what: String) -> impl FnOnce(alloy::transports::TransportError) -> SyncError {
    move |e| SyncError::Rpc(format!("{what}: {e}"))
}

/// What the synchronizer counts.
#[derive(Debug, Default)]
pub struct SyncMetrics {
    /// The last L1 block synced.
    pub last_l1_block: AtomicU64,
    /// The L1 block the synchronizer follows up to (its head tag's), last read.
    pub target_l1_block: AtomicU64,
    /// L1 reorgs unwound.
    pub reorgs: AtomicU64,
    /// L1 blocks removed by reorgs.
    pub reorged_blocks: AtomicU64,
    /// L1 verifications whose state root is not this node's for that batch (each logged as an
    /// error): the node and the proven chain disagree.
    pub verification_mismatches: AtomicU64,
    /// Reorgs that dropped a block at or below the finalized block seen before: L1's finality
    /// failed, or the L1 node serves another chain. Each is logged as a warning.
    pub deep_reorgs: AtomicU64,
    /// Batches L1 sequenced, as read.
    pub virtual_batches: AtomicU64,
    /// 1 while a halt is stored.
    pub halted: AtomicU64,
    /// A node without a sequencer: batches, L2 blocks and transactions executed from L1, and
    /// the time spent on it (execution and storing, not the L1 fetch), in microseconds.
    pub l2_batches_executed: AtomicU64,
    pub l2_blocks_executed: AtomicU64,
    pub l2_txs_executed: AtomicU64,
    pub l2_execute_micros: AtomicU64,
    /// Batches taken from the trusted sequencer (trusted state) that L1 then sequenced
    /// otherwise, removed for L1's.
    pub trusted_replaced: AtomicU64,
    /// Batches executed from the trusted sequencer's JSON-RPC before L1 had them.
    pub trusted_batches: AtomicU64,
}

/// What a round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// The last L1 block stored.
    pub synced_to: Option<u64>,
    /// The head tag's block.
    pub target: u64,
    /// L1 blocks with events stored this round.
    pub event_blocks: u64,
    /// Whether a reorg was unwound this round.
    pub reorged: bool,
    /// Batches executed from L1 this round (a node without a sequencer).
    pub executed_batches: u64,
}

/// The state derived from what is stored: rebuilt after a start, an unwind and an error.
pub(crate) struct Derived {
    pub(crate) tree: L1InfoTree,
    pub(crate) pos: L1SyncPosition,
}

/// Stored blocks compared per step of the walk back to the common ancestor.
const WALK_STEP: u64 = 64;

/// The synchronizer stage.
pub struct Synchronizer {
    db: StateDb,
    l1: DynProvider,
    addresses: L1Addresses,
    config: SyncConfig,
    metrics: Arc<SyncMetrics>,
    derived: Option<Derived>,
    /// The last finalized L1 block seen: a reorg at or below it is logged as deep.
    last_finalized: u64,
    /// A node without a sequencer executes L1's batches after each round.
    l2: Option<L2Stage>,
}

/// A provider for reads at `url` (`http://HOST:PORT`).
pub fn l1_reader(url: &str) -> Result<DynProvider, SyncError> {
    let parsed = url
        .parse::<alloy::transports::http::reqwest::Url>()
        .map_err(|e| SyncError::Rpc(format!("L1 RPC URL {url:?}: {e}")))?;
    Ok(ProviderBuilder::<_, _, Ethereum>::default()
        .connect_http(parsed)
        .erased())
}

impl Synchronizer {
    pub fn new(
        db: StateDb,
        l1: DynProvider,
        addresses: L1Addresses,
        config: SyncConfig,
    ) -> Synchronizer {
        Synchronizer {
            db,
            l1,
            addresses,
            config,
            metrics: Default::default(),
            derived: None,
            last_finalized: 0,
            l2: None,
        }
    }

    pub fn metrics(&self) -> Arc<SyncMetrics> {
        self.metrics.clone()
    }

    /// Executes the batches L1 sequences after each round (a node without a sequencer).
    pub fn with_execution(mut self, stage: L2Stage) -> Self {
        self.l2 = Some(stage);
        self
    }

    /// Shares `metrics` (the node's endpoint reads them).
    pub fn with_metrics(mut self, metrics: Arc<SyncMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Follows L1 until an error that must stop it ([`SyncError::is_fatal`]); other errors are
    /// logged and the round tried again after the interval.
    pub async fn run(mut self) -> Result<(), SyncError> {
        let interval = Duration::from_millis(self.config.interval_ms);
        tracing::info!(target: "sync", rollup = %self.addresses.rollup, ger = %self.addresses.global_exit_root_manager, from = self.addresses.deploy_block, head = ?self.config.head, "following L1");
        loop {
            match self.sync_once().await {
                Ok(p) => {
                    if p.synced_to.is_some_and(|s| s >= p.target) || p.synced_to.is_none() {
                        tokio::time::sleep(interval).await;
                    }
                }
                Err(e) if e.is_fatal() => {
                    tracing::error!(target: "sync", error = %e, "the synchronizer stops");
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(target: "sync", error = %e, "sync round failed; trying again");
                    tokio::time::sleep(interval).await;
                }
            }
        }
    }

    /// One round: the reorg check, then every chunk up to the head tag's block.
    pub async fn sync_once(&mut self) -> Result<SyncProgress, SyncError> {
        if let Some(stage) = &self.l2 {
            // A batch a crash left half stored goes before L1's is read and compared with it.
            stage.remove_unsequenced().await?;
        }
        let r = self.round().await;
        if r.is_err() {
            // The tree and counters may be ahead of what was stored.
            self.derived = None;
        }
        let mut p = r?;
        if let Some(stage) = &self.l2 {
            p.executed_batches = stage.step().await?;
        }
        Ok(p)
    }

    async fn round(&mut self) -> Result<SyncProgress, SyncError> {
        let mut progress = SyncProgress::default();
        if self.db.mark_genesis_batch_verified().await? {
            tracing::info!(target: "sync", "batch 0 (the genesis) is sequenced and verified on L1 by construction");
        }
        progress.reorged = self.check_reorg().await?;
        if let Some(h) = self.db.sync_halt().await? {
            self.metrics.halted.store(1, Ordering::Relaxed);
            return Err(SyncError::Halted(h));
        }
        self.metrics.halted.store(0, Ordering::Relaxed);
        let target = self
            .header(self.config.head.tag())
            .await?
            .ok_or_else(|| SyncError::Rpc(format!("L1 has no {:?} block", self.config.head)))?;
        progress.target = target.number;
        self.metrics
            .target_l1_block
            .store(target.number, Ordering::Relaxed);
        if self.config.head == HeadTag::Finalized {
            self.last_finalized = self.last_finalized.max(target.number);
        } else if let Ok(Some(f)) = self.header(BlockNumberOrTag::Finalized).await {
            self.last_finalized = self.last_finalized.max(f.number);
        }
        let mut first_chunk = true;
        loop {
            if !first_chunk && self.check_reorg().await? {
                progress.reorged = true;
            }
            first_chunk = false;
            let head = self.db.latest_l1_block().await?;
            progress.synced_to = head.map(|h| h.number);
            let start = head.map_or(self.addresses.deploy_block, |h| {
                (h.number + 1).max(self.addresses.deploy_block)
            });
            if start > target.number {
                break;
            }
            let end = start
                .saturating_add(self.config.chunk_size - 1)
                .min(target.number);
            progress.event_blocks += self.chunk(start, end).await?;
            progress.synced_to = Some(end);
            self.metrics.last_l1_block.store(end, Ordering::Relaxed);
        }
        Ok(progress)
    }

    /// Reads and stores L1 blocks `start..=end`; returns how many had events.
    async fn chunk(&mut self, start: u64, end: u64) -> Result<u64, SyncError> {
        let started = Instant::now();
        // The chunk's last header before its logs: if L1 reorgs in between, the stored head
        // is of the old chain and the next check unwinds it.
        let end_header = self
            .header(end.into())
            .await?
            .ok_or_else(|| SyncError::Rpc(format!("L1 block {end} is missing")))?;
        let filter = Filter::new().from_block(start).to_block(end).address(vec![
            self.addresses.rollup,
            self.addresses.global_exit_root_manager,
        ]);
        let logs = self
            .l1
            .get_logs(&filter)
            .await
            .map_err(rpc(format!("eth_getLogs {start}..={end}")))?;
        let mut by_block: BTreeMap<u64, Vec<Log>> = BTreeMap::new();
        for log in logs {
            if log.removed {
                continue;
            }
            let n = log.block_number.ok_or_else(|| {
                SyncError::BadL1(format!(
                    "a log of eth_getLogs {start}..={end} names no block"
                ))
            })?;
            if !(start..=end).contains(&n) {
                return Err(SyncError::BadL1(format!(
                    "eth_getLogs {start}..={end} answered a log of block {n}"
                )));
            }
            by_block.entry(n).or_default().push(log);
        }
        let mut d = match self.derived.take() {
            Some(d) => d,
            None => self.rebuild().await?,
        };
        let event_blocks = by_block.len() as u64;
        for (n, mut logs) in by_block {
            logs.sort_by_key(|l| l.log_index);
            let header = if n == end {
                end_header
            } else {
                self.header(n.into())
                    .await?
                    .ok_or_else(|| SyncError::Rpc(format!("L1 block {n} is missing")))?
            };
            if let Some(l) = logs.iter().find(|l| l.block_hash != Some(header.hash)) {
                return Err(SyncError::Rpc(format!(
                    "a log of L1 block {n} names block hash {:?}, the block is {} now (an L1 \
                     reorg under way)",
                    l.block_hash, header.hash
                )));
            }
            let effects = self.effects(header, &logs, &mut d).await?;
            self.store(&effects).await?;
        }
        if self.db.l1_block(end).await?.is_none() {
            self.store(&L1BlockEffects {
                block: end_header,
                ..Default::default()
            })
            .await?;
        }
        self.derived = Some(d);
        tracing::info!(target: "sync", from = start, to = end, event_blocks, elapsed_ms = started.elapsed().as_millis() as u64, "L1 blocks synced");
        Ok(event_blocks)
    }

    /// Stores one block's effects; a batch that differs from the node's halts.
    async fn store(&mut self, e: &L1BlockEffects) -> Result<(), SyncError> {
        // A node that executes L1's batches follows L1 whatever it had from the trusted
        // sequencer.
        let applied = self.db.apply_l1_block_with(e, self.l2.is_some()).await?;
        for (batch, what) in &applied.replaced {
            self.metrics
                .trusted_replaced
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: "sync", batch, l1_block = e.block.number, differs = %what, "L1 sequenced another batch than the trusted sequencer gave: it and the batches after it are removed, L1's is executed instead");
        }
        if let Some(m) = applied.mismatch {
            self.metrics.halted.store(1, Ordering::Relaxed);
            let halt = self.db.sync_halt().await?.unwrap_or(SyncHalt {
                batch_number: m.batch,
                l1_block: m.l1_block,
                reason: m.what.clone(),
            });
            tracing::error!(target: "sync", batch = m.batch, l1_block = m.l1_block, tx = %m.tx_hash, differs = %m.what, "L1 disagrees with this node's batch: sequencing is halted");
            return Err(SyncError::Halted(halt));
        }
        for v in &e.verifications {
            // The state root L1 verified for a batch must be the one this node has for it.
            if let Some(b) = self.db.batch(v.batch_number).await? {
                if b.state_root != v.state_root {
                    self.metrics
                        .verification_mismatches
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::error!(target: "sync", batch = v.batch_number, l1 = %v.state_root, local = %b.state_root, tx = %v.tx_hash, "L1 verified another state root for this batch than this node has");
                }
            }
        }
        let sequenced: usize = e.sequences.iter().map(|(_, b)| b.len()).sum();
        self.metrics
            .virtual_batches
            .fetch_add(sequenced as u64, Ordering::Relaxed);
        if !e.leaves.is_empty()
            || !e.sequences.is_empty()
            || !e.verifications.is_empty()
            || !e.forced_batches.is_empty()
        {
            tracing::info!(
                target: "sync",
                l1_block = e.block.number,
                leaves = e.leaves.len(),
                sequenced,
                forced = e.forced_batches.len(),
                verified_up_to = e.verifications.last().map(|v| v.batch_number),
                virtualized = ?applied.virtualized,
                verified = ?applied.verified,
                not_local = applied.unknown.len(),
                "L1 block stored"
            );
        }
        Ok(())
    }

    /// The derived state, read back from storage.
    async fn rebuild(&self) -> Result<Derived, SyncError> {
        let leaves = self.db.l1_info_leaves().await?;
        let mut tree = L1InfoTree::new();
        for (i, l) in leaves.iter().enumerate() {
            if l.index != i as u64 {
                return Err(SyncError::Desynced(format!(
                    "stored L1 info leaf {} where leaf {i} belongs",
                    l.index
                )));
            }
            let root = tree
                .push(l.leaf)
                .map_err(|e| SyncError::Desynced(e.to_string()))?;
            if root != l.root {
                return Err(SyncError::Desynced(format!(
                    "stored L1 info leaf {i} gives root {root}, {} is stored with it",
                    l.root
                )));
            }
        }
        let pos = self.db.l1_sync_position().await?;
        tracing::debug!(target: "sync", leaves = tree.len(), ?pos, "derived state rebuilt from storage");
        Ok(Derived { tree, pos })
    }

    /// Compares the stored head with L1 and unwinds what L1 no longer has; returns whether it
    /// did.
    pub async fn check_reorg(&mut self) -> Result<bool, SyncError> {
        let Some(head) = self.db.latest_l1_block().await? else {
            return Ok(false);
        };
        if self.header(head.number.into()).await?.map(|h| h.hash) == Some(head.hash) {
            return Ok(false);
        }
        // Walk back to the newest stored block L1 still has.
        let mut ancestor = None;
        let mut cursor = head.number;
        'walk: loop {
            let blocks = self.db.l1_blocks_down_from(cursor, WALK_STEP).await?;
            let Some(last) = blocks.last().map(|b| b.number) else {
                break;
            };
            for b in blocks {
                if b.number == head.number {
                    continue;
                }
                let l1 = self.header(b.number.into()).await?;
                if l1.map(|h| h.hash) == Some(b.hash) {
                    ancestor = Some(b.number);
                    break 'walk;
                }
            }
            match last.checked_sub(1) {
                Some(c) => cursor = c,
                None => break,
            }
        }
        let first = ancestor.map_or(0, |a| a + 1);
        if first <= self.last_finalized {
            self.metrics.deep_reorgs.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: "sync", first_dropped = first, finalized = self.last_finalized, "deep L1 reorg: blocks at or below the finalized block seen before were dropped");
        }
        let u = self.unwind_from(first).await?;
        tracing::warn!(target: "sync", stored_head = head.number, ancestor = ?ancestor, l1_blocks = u.l1_blocks, leaves = u.leaves, sequences = u.sequences, virtual_batches = u.virtual_batches, forced_batches = u.forced_batches, verifications = u.verifications, batches_unvirtualized = u.batches_unvirtualized, batches_unverified = u.batches_unverified, "L1 reorg unwound");
        Ok(true)
    }

    /// Unwinds every stored L1 block from `first` on, in one database transaction, and drops
    /// the derived state (rebuilt from storage when next needed).
    pub async fn unwind_from(&mut self, first: u64) -> Result<L1Unwound, SyncError> {
        self.derived = None;
        let u = self.db.unwind_l1_from(first).await?;
        if let Some(stage) = &self.l2 {
            // Batches executed from the dropped sequences go before the new ones are read
            // (which would otherwise be compared with them).
            stage.remove_unsequenced().await?;
        }
        self.metrics.reorgs.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .reorged_blocks
            .fetch_add(u.l1_blocks, Ordering::Relaxed);
        self.metrics
            .last_l1_block
            .store(first.saturating_sub(1), Ordering::Relaxed);
        Ok(u)
    }

    /// The header at `at`, as stored: `None` when L1 has no such block.
    async fn header(&self, at: BlockNumberOrTag) -> Result<Option<L1Block>, SyncError> {
        let b = self
            .l1
            .get_block_by_number(at)
            .await
            .map_err(rpc(format!("eth_getBlockByNumber({at})")))?;
        Ok(b.map(|b| L1Block {
            number: b.header.number,
            hash: b.header.hash,
            parent_hash: b.header.parent_hash,
            timestamp: b.header.timestamp,
        }))
    }
}
