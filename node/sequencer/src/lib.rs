//! The sequencer: takes ready transactions from the pool by price and nonce, executes them into
//! L2 blocks and batches with the executor's [`BatchBuilder`], and stores each block as it
//! closes.
//!
//! # Blocks and batches
//!
//! A block opens when the pool has ready transactions (or, on an idle chain, when
//! [`SequencerConfig::empty_block_interval_ms`] has passed since the last block) and closes
//! [`SequencerConfig::block_time_ms`] later. A batch closes after the block that reaches one of
//! its limits ([`ClosingReason`]): transactions, batch data bytes, gas, state-tree operations
//! (the prover's capacity) or its age. A transaction that would pass a limit is rolled back out
//! of the block and waits for the next batch; one the executor skips (nonce, funds, …) is
//! rolled back and marked failed in the pool with the executor's reason.
//!
//! # Crash safety
//!
//! Each closed block is stored in this order: its bytecode and state-tree nodes (RocksDB, one
//! atomic write), then the block with its transactions, receipts and logs (one database
//! transaction, which also marks those transactions `selected` in the pool). A crash at any
//! moment leaves the last stored block's state root readable, and nothing half-written: the
//! transactions of a block that was not stored are still pending in the pool. At start the
//! sequencer replays the stored blocks of the open batch from the previous batch's root, checks
//! that each gives its stored state root, and carries on from there.
//!
//! A block whose last transaction failed ends without consolidating its info root (as the
//! zkEVM's reference ends a block that another block follows); if the batch were sealed right
//! after it, sealing would consolidate it and change its stored root. So the sequencer never
//! seals a batch right after such a block: it adds an empty block first.

mod blocks;
mod config;
mod forced;
mod l1_info;
mod metrics;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, Bytes, B256};
use tokio::runtime::Handle;
use zknode_executor::{decode_signed, encode_batch, BatchBuilder, BatchContext, ExecError};
use zknode_pool::{Pool, PoolTx};
use zknode_state::genesis::{self, GenesisAccount};
use zknode_state::{keys, CodeStore, RocksStore, StateTree};
use zknode_storage::{
    BatchClose, BlockReader, BlockWriter, NewBatch, NewBlock, OpenBatchProgress, StateDb,
    StorageError,
};

use blocks::new_block;
pub use blocks::{batch_txs, executed_block};
pub use config::{ClosingReason, SequencerConfig};
pub use l1_info::exec_leaf;
use l1_info::L1InfoChoice;
pub use metrics::SequencerMetrics;

/// The fork the executor implements.
pub const FORK_ID: u64 = 12;

/// Why the sequencer stopped.
#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error("state database: {0}")]
    Storage(#[from] StorageError),
    #[error("executor: {0}")]
    Exec(#[from] ExecError),
    #[error("state tree: {0}")]
    State(#[from] zknode_state::Error),
    #[error("pool: {0}")]
    Pool(String),
    #[error("genesis: {0}")]
    Genesis(String),
    /// The stored chain does not continue: a replay gave another root, a batch is missing, …
    #[error("stored chain: {0}")]
    Chain(String),
    /// The synchronizer found that L1 disagrees with a batch of this node (the halt stored in
    /// the state database): no block is stored until an operator clears it.
    #[error("sequencing halted by the synchronizer: {0}")]
    Halted(String),
}

/// The chain the sequencer extends.
#[derive(Clone, Debug)]
pub struct ChainSpec {
    pub chain_id: u64,
    /// Receives the fees; the batches' sequencer address.
    pub coinbase: Address,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A state root as blocks and batches carry it (Polygon's `h4toScalar`, big-endian).
pub fn root_b256(h: &zknode_state::Hash) -> B256 {
    B256::from(h.to_u256().to_be_bytes::<32>())
}

/// The state tree root a stored 32-byte root names.
pub fn root_hash(b: &B256) -> Result<zknode_state::Hash, SequencerError> {
    zknode_state::Hash::from_u256(alloy_primitives::U256::from_be_bytes(b.0))
        .ok_or_else(|| SequencerError::Chain(format!("{b} is not a state tree root")))
}

/// Writes the genesis state, block 0 and batch 0 when the database holds no block yet; returns
/// the state root of the chain's first block either way. A database whose block 0 has another
/// root than `accounts` give is refused.
pub async fn init_genesis(
    db: &StateDb,
    store: &RocksStore,
    accounts: &[GenesisAccount],
    spec: &ChainSpec,
    timestamp: u64,
) -> Result<B256, SequencerError> {
    let mut tree = StateTree::at_root(store, zknode_state::Hash::default());
    let root =
        genesis::apply(&mut tree, accounts).map_err(|e| SequencerError::Genesis(e.to_string()))?;
    let root_b256 = root_b256(&root);
    if let Some(b0) = db.block_by_number(0).await? {
        if b0.header.state_root != root_b256 {
            return Err(SequencerError::Genesis(format!(
                "the database's block 0 has state root {}, the genesis file gives {root_b256}: \
                 another chain's data directory?",
                b0.header.state_root
            )));
        }
        return Ok(root_b256);
    }
    let mut code = Vec::new();
    for a in accounts {
        if let Some(hex) = &a.bytecode {
            let bytes = keys::parse_hex_bytes(hex)
                .map_err(|e| SequencerError::Genesis(format!("bytecode of {}: {e}", a.address)))?;
            if !bytes.is_empty() {
                code.push((keys::hash_bytecode(&bytes), bytes));
            }
        }
    }
    let refs: Vec<_> = code.iter().map(|(h, c)| (*h, c.as_slice())).collect();
    store.put_code(&refs)?;
    tree.commit()?;
    db.open_batch(&NewBatch {
        number: 0,
        coinbase: spec.coinbase,
        timestamp,
        global_exit_root: B256::ZERO,
        state_root: root_b256,
        local_exit_root: B256::ZERO,
        forced_batch_number: None,
    })
    .await?;
    db.write_block(&NewBlock {
        number: 0,
        parent_hash: B256::ZERO,
        batch_number: 0,
        timestamp,
        coinbase: spec.coinbase,
        state_root: root_b256,
        global_exit_root: B256::ZERO,
        block_info_root: B256::ZERO,
        gas_limit: zknode_executor::system::BLOCK_GAS_LIMIT,
        base_fee: 0,
        transactions: Vec::new(),
    })
    .await?;
    db.close_batch(
        0,
        &BatchClose {
            closing_reason: "genesis".into(),
            state_root: root_b256,
            local_exit_root: B256::ZERO,
            acc_input_hash: B256::ZERO,
            l2_data: Bytes::new(),
        },
    )
    .await?;
    tracing::info!(target: "sequencer", root = %root_b256, accounts = accounts.len(), "genesis stored");
    Ok(root_b256)
}

/// What the sequencer runs with.
pub struct Sequencer {
    pub config: SequencerConfig,
    pub spec: ChainSpec,
    pub db: StateDb,
    pub store: Arc<RocksStore>,
    pub pool: Arc<Pool>,
    pub metrics: Arc<SequencerMetrics>,
}

/// A running sequencer thread.
pub struct SequencerHandle {
    stop: Arc<AtomicBool>,
    pool: Arc<Pool>,
    thread: std::thread::JoinHandle<Result<(), SequencerError>>,
}

impl SequencerHandle {
    /// Asks the sequencer to store the block in progress and stop, and waits for it.
    pub fn stop(self) -> Result<(), SequencerError> {
        self.stop.store(true, Ordering::SeqCst);
        self.pool.wake();
        self.thread.join().unwrap_or_else(|_| {
            Err(SequencerError::Chain(
                "the sequencer thread panicked".into(),
            ))
        })
    }

    /// Whether the thread has ended (by itself, on an error).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

impl Sequencer {
    /// Starts the sequencer on its own thread (execution is synchronous CPU work); it uses
    /// `runtime` for the database and the pool.
    pub fn spawn(self, runtime: Handle) -> SequencerHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let pool = self.pool.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sequencer".into())
            .spawn(move || {
                let r = Run {
                    s: &self,
                    rt: runtime,
                    stop: flag,
                }
                .run();
                if let Err(e) = &r {
                    tracing::error!(target: "sequencer", error = %e, "sequencer stopped");
                }
                r
            })
            .expect("spawning a thread");
        SequencerHandle { stop, pool, thread }
    }
}

/// The last stored block.
#[derive(Clone, Copy, Debug)]
struct Head {
    number: u64,
    hash: B256,
    timestamp: u64,
}

/// The open batch's counters against the limits.
#[derive(Default)]
struct Usage {
    txs: usize,
    bytes: usize,
    gas: u64,
    /// The timestamp of the batch's first block.
    first_timestamp: Option<u64>,
    /// The last closed block ended unconsolidated (see the module doc).
    last_provisional: bool,
}

struct Run<'a> {
    s: &'a Sequencer,
    rt: Handle,
    stop: Arc<AtomicBool>,
}

/// What a transaction's turn in the block gave.
enum Turn {
    Included,
    /// Rolled back; the batch must close first.
    Full(ClosingReason),
    /// Rolled back and failed in the pool.
    Failed,
}

impl Run<'_> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn run(&self) -> Result<(), SequencerError> {
        let s = self.s;
        let mut l1_info = self.rt.block_on(L1InfoChoice::load(&s.db))?;
        loop {
            let db = &s.db;
            let numbers = self.rt.block_on(db.latest_batch_numbers())?;
            let last = numbers.last.ok_or_else(|| {
                SequencerError::Chain("no batch stored: genesis was not written".into())
            })?;
            let head = self.head()?;
            let batch = self
                .rt
                .block_on(db.batch(last))?
                .ok_or_else(|| SequencerError::Chain(format!("batch {last} is missing")))?;
            let (number, resume) = if batch.status == zknode_storage::BatchStatus::Open {
                if let Some(f) = batch.forced_batch_number {
                    tracing::warn!(target: "sequencer", batch = last, forced = f, "a forced batch was left half stored: executing it again");
                    self.rt.block_on(db.remove_batches_from(last))?;
                    continue;
                }
                (last, true)
            } else if let Some(f) = self.next_forced()? {
                self.forced_batch(last + 1, &batch, &f)?;
                continue;
            } else {
                self.rt.block_on(db.open_batch(&NewBatch {
                    number: last + 1,
                    coinbase: s.spec.coinbase,
                    timestamp: now_secs().max(head.timestamp),
                    global_exit_root: B256::ZERO,
                    state_root: batch.state_root,
                    local_exit_root: batch.local_exit_root,
                    forced_batch_number: None,
                }))?;
                (last + 1, false)
            };
            let prev = self
                .rt
                .block_on(db.batch(number - 1))?
                .ok_or_else(|| SequencerError::Chain(format!("batch {} is missing", number - 1)))?;
            // The open batch's stored blocks (replayed on a resume) and the leaves they use.
            let mut leaves = BTreeMap::new();
            let replayed = if resume {
                let blocks = self.batch_blocks(number)?;
                let indexes = self.rt.block_on(l1_info::replay_indexes(
                    &s.db,
                    number,
                    &batch.l2_data,
                    &blocks,
                    &mut leaves,
                ))?;
                blocks.into_iter().zip(indexes).collect()
            } else {
                Vec::new()
            };
            // The L1 info root and the timestamp limit are the sequence's, unknown until the
            // sequence sender posts it: the accInputHash stored when the batch closes is
            // replaced by L1's once the batch is virtual.
            let ctx = BatchContext {
                chain_id: s.spec.chain_id,
                fork_id: FORK_ID,
                sequencer: s.spec.coinbase,
                timestamp_limit: u64::MAX,
                l1_info_root: B256::ZERO,
                old_acc_input_hash: prev.acc_input_hash.unwrap_or_default(),
                forced_block_hash_l1: B256::ZERO,
                l1_info: leaves,
                verify_l1_info_proofs: false,
                with_proofs: false,
            };
            let store: &RocksStore = &s.store;
            let root = root_hash(&prev.state_root)?;
            let mut b = BatchBuilder::new(StateTree::at_root(store, root), store, &ctx);
            let mut usage = Usage::default();
            if resume {
                self.replay(number, replayed, &mut b, &mut usage)?;
            }
            match self.fill_batch(number, &mut b, &mut usage, head, &mut l1_info)? {
                Some(ClosingReason::ForcedBatch) if usage.first_timestamp.is_none() => {
                    // No block yet: the batch goes, and the forced batch takes its number.
                    drop(b);
                    self.rt.block_on(s.db.remove_batches_from(number))?;
                }
                Some(reason) => self.seal(number, b, &usage, reason)?,
                None => return Ok(()),
            }
        }
    }

    fn head(&self) -> Result<Head, SequencerError> {
        let db = &self.s.db;
        let n = self
            .rt
            .block_on(db.latest_block_number())?
            .ok_or_else(|| SequencerError::Chain("no block stored".into()))?;
        let b = self
            .rt
            .block_on(db.block_by_number(n))?
            .ok_or_else(|| SequencerError::Chain(format!("block {n} is missing")))?;
        Ok(Head {
            number: n,
            hash: b.hash,
            timestamp: b.header.timestamp,
        })
    }

    /// The stored blocks of batch `number`, in order.
    fn batch_blocks(&self, number: u64) -> Result<Vec<zknode_storage::Block>, SequencerError> {
        let db = &self.s.db;
        let mut out = Vec::new();
        for n in self.rt.block_on(db.batch_block_numbers(number))? {
            out.push(
                self.rt
                    .block_on(db.block_by_number(n))?
                    .ok_or_else(|| SequencerError::Chain(format!("block {n} is missing")))?,
            );
        }
        Ok(out)
    }

    /// Re-executes the stored blocks of open batch `number` (each with the L1 info index it
    /// used) and checks each root.
    fn replay(
        &self,
        number: u64,
        blocks: Vec<(zknode_storage::Block, u32)>,
        b: &mut BatchBuilder<'_, &RocksStore>,
        usage: &mut Usage,
    ) -> Result<(), SequencerError> {
        let db = &self.s.db;
        let count = blocks.len();
        for (block, l1_index) in blocks {
            let n = &block.header.number;
            let txs = self.rt.block_on(db.block_transactions(*n))?;
            if let Err(e) = b.open_block_at(block.header.timestamp, l1_index)? {
                return Err(SequencerError::Chain(format!("replaying block {n}: {e}")));
            }
            usage.bytes += zknode_executor::codec::CHANGE_L2_BLOCK_LEN;
            usage.first_timestamp.get_or_insert(block.header.timestamp);
            for t in txs {
                let mut tx = decode_signed(&t.raw).map_err(|e| {
                    SequencerError::Chain(format!("stored transaction {}: {e}", t.hash))
                })?;
                tx.effective_percentage = t.effective_percentage;
                let n_bytes = tx.sign_data().len() + 66;
                let r = b.execute_tx(tx, Some(t.sender))?;
                let gas = match &r.outcome {
                    Ok(receipt) => receipt.gas_used,
                    Err(reason) => {
                        return Err(SequencerError::Chain(format!(
                            "replaying block {n}: stored transaction {} is skipped: {reason}",
                            t.hash
                        )))
                    }
                };
                usage.txs += 1;
                usage.bytes += n_bytes;
                usage.gas += gas;
            }
            let closed = b.close_block()?;
            if closed.block.hash != block.header.state_root || closed.block.number != *n {
                return Err(SequencerError::Chain(format!(
                    "replaying block {n} gives block {} with state root {}, {} is stored",
                    closed.block.number, closed.block.hash, block.header.state_root
                )));
            }
            usage.last_provisional = closed.provisional;
        }
        if count > 0 {
            tracing::info!(target: "sequencer", batch = number, blocks = count, txs = usage.txs, "resumed the open batch");
        }
        Ok(())
    }

    /// Adds blocks to batch `number` until one of its limits is reached (`Some(reason)`) or
    /// the sequencer is asked to stop (`None`, the batch stays open).
    fn fill_batch(
        &self,
        number: u64,
        b: &mut BatchBuilder<'_, &RocksStore>,
        usage: &mut Usage,
        mut head: Head,
        l1_info: &mut L1InfoChoice,
    ) -> Result<Option<ClosingReason>, SequencerError> {
        let cfg = &self.s.config;
        let mut last_block_at = Instant::now();
        let mut forced_checked = Instant::now();
        loop {
            if let Some(first) = usage.first_timestamp {
                if now_secs().saturating_sub(first) >= cfg.max_batch_seconds {
                    return Ok(Some(ClosingReason::MaxDeltaTimestamp));
                }
            }
            // Wait for something to put in a block.
            let mut ready = self.ready(b)?;
            while ready.is_empty() {
                if self.stopping() {
                    return Ok(None);
                }
                let empty_due = cfg
                    .empty_block_interval()
                    .is_some_and(|i| last_block_at.elapsed() >= i);
                if empty_due {
                    break;
                }
                self.wait(Duration::from_millis(200));
                if self.forced_queued(&mut forced_checked)? {
                    return Ok(Some(ClosingReason::ForcedBatch));
                }
                ready = self.ready(b)?;
                if let Some(first) = usage.first_timestamp {
                    if now_secs().saturating_sub(first) >= cfg.max_batch_seconds {
                        return Ok(Some(ClosingReason::MaxDeltaTimestamp));
                    }
                }
            }
            let timestamp = now_secs().max(head.timestamp);
            let opened = Instant::now();
            if usage.bytes + zknode_executor::codec::CHANGE_L2_BLOCK_LEN > cfg.max_batch_bytes {
                return Ok(Some(ClosingReason::MaxBytes));
            }
            self.rt
                .block_on(l1_info.refresh(&self.s.db, cfg.l1_info_confirmations))?;
            if let Some((i, leaf)) = l1_info.next_leaf() {
                b.add_l1_info(i, leaf);
            }
            let l1_index = l1_info.index_for(timestamp);
            if let Err(e) = b.open_block_at(timestamp, l1_index)? {
                return Err(SequencerError::Chain(format!("opening a block: {e}")));
            }
            usage.bytes += zknode_executor::codec::CHANGE_L2_BLOCK_LEN;
            usage.first_timestamp.get_or_insert(timestamp);
            let mut included: Vec<Arc<PoolTx>> = Vec::new();
            let mut full = None;
            'block: loop {
                let mut progressed = false;
                let mut stalled: HashSet<Address> = HashSet::new();
                for tx in ready.drain(..) {
                    if stalled.contains(&tx.sender) {
                        continue;
                    }
                    match self.turn(b, &tx, usage)? {
                        Turn::Included => {
                            progressed = true;
                            included.push(tx);
                        }
                        Turn::Failed => {
                            stalled.insert(tx.sender);
                        }
                        Turn::Full(reason) => {
                            full = Some(reason);
                            break 'block;
                        }
                    }
                }
                if opened.elapsed() >= cfg.block_time() || self.stopping() {
                    break;
                }
                if !progressed {
                    self.wait(cfg.block_time().saturating_sub(opened.elapsed()));
                }
                ready = self.ready(b)?;
            }
            head = self.close_and_store(number, b, &included, usage, head)?;
            l1_info.used(l1_index);
            last_block_at = Instant::now();
            if self.forced_queued(&mut forced_checked)? {
                return Ok(Some(ClosingReason::ForcedBatch));
            }
            if let Some(reason) = full {
                return Ok(Some(reason));
            }
            if self.stopping() {
                return Ok(None);
            }
        }
    }

    /// The pool's ready transactions against the open batch's nonces.
    fn ready(
        &self,
        b: &mut BatchBuilder<'_, &RocksStore>,
    ) -> Result<Vec<Arc<PoolTx>>, SequencerError> {
        let mut err = None;
        let ready = self.s.pool.ready(
            &mut |a| match b.nonce(a) {
                Ok(n) => n,
                Err(e) => {
                    err.get_or_insert(e);
                    u64::MAX
                }
            },
            self.s.config.pool_take,
        );
        match err {
            Some(e) => Err(e.into()),
            None => Ok(ready),
        }
    }

    fn wait(&self, max: Duration) {
        let pool = self.s.pool.clone();
        let max = max.min(Duration::from_millis(200));
        self.rt.block_on(async move {
            let _ = tokio::time::timeout(max, pool.notified()).await;
        });
    }

    /// Runs one transaction in the open block, within the batch's limits.
    fn turn(
        &self,
        b: &mut BatchBuilder<'_, &RocksStore>,
        tx: &PoolTx,
        usage: &mut Usage,
    ) -> Result<Turn, SequencerError> {
        let cfg = &self.s.config;
        let n_bytes = tx.tx.sign_data().len() + 66;
        if usage.txs + 1 > cfg.max_batch_txs {
            return Ok(Turn::Full(ClosingReason::MaxTxs));
        }
        if usage.bytes + n_bytes > cfg.max_batch_bytes {
            return Ok(Turn::Full(ClosingReason::MaxBytes));
        }
        let outcome = b
            .execute_tx(tx.tx.clone(), Some(tx.sender))?
            .outcome
            .clone();
        match outcome {
            Err(reason) => {
                b.rollback_last()?;
                self.s.metrics.txs_failed.inc();
                tracing::debug!(target: "sequencer", hash = %tx.hash, %reason, "transaction failed");
                self.rt
                    .block_on(self.s.pool.fail(tx.hash, reason, false))
                    .map_err(|e| SequencerError::Pool(e.to_string()))?;
                Ok(Turn::Failed)
            }
            Ok(receipt) => {
                let reason = if usage.gas + receipt.gas_used > cfg.max_batch_gas {
                    Some(ClosingReason::MaxGas)
                } else if b.state_writes() > cfg.max_batch_state_ops {
                    Some(ClosingReason::MaxStateOps)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    b.rollback_last()?;
                    return Ok(Turn::Full(reason));
                }
                usage.txs += 1;
                usage.bytes += n_bytes;
                usage.gas += receipt.gas_used;
                Ok(Turn::Included)
            }
        }
    }

    /// Closes the open block and stores it; returns the new head.
    fn close_and_store(
        &self,
        batch: u64,
        b: &mut BatchBuilder<'_, &RocksStore>,
        included: &[Arc<PoolTx>],
        usage: &mut Usage,
        head: Head,
    ) -> Result<Head, SequencerError> {
        let started = Instant::now();
        let closed = b.close_block()?;
        usage.last_provisional = closed.provisional;
        let block = new_block(batch, head.hash, &closed, included, self.s.spec.coinbase)?;
        let number = block.number;
        if number != head.number + 1 {
            return Err(SequencerError::Chain(format!(
                "the executor opened block {number} after stored block {}",
                head.number
            )));
        }
        let hashes: Vec<B256> = block.transactions.iter().map(|t| t.hash).collect();
        let timestamp = block.timestamp;
        let ntx = block.transactions.len();
        self.check_halt()?;
        b.commit_state()?;
        let hash = self.rt.block_on(self.s.db.write_block(&block))?;
        self.s.pool.included(&hashes);
        // Pending transactions whose nonce a stored transaction has used (another transaction
        // of the same sender and nonce won the race into a block) can never run.
        let mut err = None;
        let stale = self.s.pool.stale(&mut |a| match b.nonce(a) {
            Ok(n) => n,
            Err(e) => {
                err.get_or_insert(e);
                0
            }
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        for t in stale {
            self.rt
                .block_on(self.s.pool.fail(t.hash, "nonce too low".into(), false))
                .map_err(|e| SequencerError::Pool(e.to_string()))?;
        }
        let progress = OpenBatchProgress {
            number: batch,
            state_root: block.state_root,
            local_exit_root: B256::ZERO,
            l2_data: Bytes::from(encode_batch(b.entries())),
            resources: Some(format!(
                "{{\"txs\":{},\"bytes\":{},\"gas\":{}}}",
                usage.txs, usage.bytes, usage.gas
            )),
        };
        self.rt.block_on(self.s.db.update_open_batch(&progress))?;
        let m = &self.s.metrics;
        m.blocks.inc();
        m.txs_included.add(ntx as u64);
        m.head_block.set(number);
        m.block_store_seconds.observe(started.elapsed());
        tracing::info!(target: "sequencer", block = number, batch, txs = ntx, %hash, "block stored");
        Ok(Head {
            number,
            hash,
            timestamp,
        })
    }

    /// Fails when the synchronizer has halted sequencing (L1 disagrees with a batch of this
    /// node); checked before a block or a batch is stored.
    fn check_halt(&self) -> Result<(), SequencerError> {
        match self.rt.block_on(self.s.db.sync_halt())? {
            Some(h) => Err(SequencerError::Halted(h.reason)),
            None => Ok(()),
        }
    }

    /// Closes batch `number` (after an empty block when its last block is unconsolidated).
    fn seal(
        &self,
        number: u64,
        mut b: BatchBuilder<'_, &RocksStore>,
        usage: &Usage,
        reason: ClosingReason,
    ) -> Result<(), SequencerError> {
        let started = Instant::now();
        if usage.last_provisional {
            let head = self.head()?;
            if let Err(e) = b.open_block_at(now_secs().max(head.timestamp), 0)? {
                return Err(SequencerError::Chain(format!("opening a block: {e}")));
            }
            let mut usage2 = Usage::default();
            self.close_and_store(number, &mut b, &[], &mut usage2, head)?;
        }
        self.check_halt()?;
        let mut sealed = b.finish()?;
        sealed.tree.commit()?;
        let r = &sealed.result;
        let close = BatchClose {
            closing_reason: reason.as_str().into(),
            state_root: root_b256(&r.new_state_root),
            local_exit_root: r.new_local_exit_root,
            acc_input_hash: r.new_acc_input_hash,
            l2_data: Bytes::from(sealed.batch_l2_data.clone()),
        };
        self.rt.block_on(self.s.db.close_batch(number, &close))?;
        let m = &self.s.metrics;
        m.batches_closed.inc();
        m.batch_close_seconds.observe(started.elapsed());
        tracing::info!(
            target: "sequencer",
            batch = number,
            reason = reason.as_str(),
            txs = usage.txs,
            bytes = sealed.batch_l2_data.len(),
            "batch closed"
        );
        Ok(())
    }
}
