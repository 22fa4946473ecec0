//! The node's transaction pool: what `eth_sendRawTransaction` hands in, checked as zkevm-node
//! checks it, stored before it is acknowledged, and handed to the sequencer by price and nonce.
//!
//! # Admission ([`Pool::add`])
//!
//! In zkevm-node's order (its `pool/pool.go` `validateTx`), each refusal an [`AddError`] whose
//! message is zkevm-node's:
//!
//! 1. the bytes decode as a legacy (with or without EIP-155), EIP-2930 or EIP-1559 transaction
//!    (the decoder's message; "transaction type not supported" for other types);
//! 2. the signature recovers a sender ("invalid sender");
//! 3. the chain id is the node's; a legacy transaction without one only when
//!    [`PoolConfig::allow_unprotected`] ("invalid chain id");
//! 4. the transaction as a batch carries it fits [`PoolConfig::max_tx_bytes`] ("oversized
//!    data");
//! 5. the nonce is at least the account's ("nonce too low") and below the account's +
//!    [`PoolConfig::account_queue`] ("nonce too high");
//! 6. fewer than [`PoolConfig::global_queue`] transactions are pending, unless it replaces one
//!    ("txpool is full");
//! 7. the offered price per gas is at least [`PoolConfig::min_gas_price`] ("gas price too
//!    low");
//! 8. the balance covers value + gas limit × gas price, maxFeePerGas for EIP-1559 ("insufficient
//!    funds for gas * price + value");
//! 9. the gas limit covers the [intrinsic gas](intrinsic_gas) ("intrinsic gas too low");
//! 10. no pending transaction of the same sender and nonce is the same ("already known") or
//!     offers as much or more per gas ("replacement transaction underpriced": a replacement
//!     must offer strictly more; it then takes the other's place);
//! 11. the data fits [`PoolConfig::max_tx_data_bytes`] ("data size bigger than allowed, …");
//! 12. the gas limit is at most [`PoolConfig::block_gas_limit`] ("exceeds block gas limit").
//!
//! The state checks read the latest state through [`AccountReader`]. An accepted transaction
//! is committed to the state database (`pool_transactions`, status `pending`) before its hash
//! is returned, so a restart loses none: [`Pool::open`] loads the pending rows back.
//!
//! # Concurrency
//!
//! [`Pool::add`] may run in many tasks at once. Decoding, signature recovery, hashing and the
//! state reads run in the caller's task; the checks that depend on the pool's contents and the
//! database write run in one writer task, which stores whatever is waiting in one database
//! transaction (the writer). So admission is serialized, and SQLite commits once for many
//! transactions.
//!
//! # The sequencer's side
//!
//! [`Pool::ready`] gives the transactions that can run now, highest price first, each sender's
//! in nonce order; [`Pool::notified`] wakes the sequencer when one is added. A transaction the
//! sequencer could not include is [`Pool::fail`]ed (status `failed` or `invalid`, with the
//! reason; the sender may send that nonce again); one stored in a block is marked `selected` by
//! `write_block` in the block's own database transaction, and [`Pool::included`] then drops it
//! from memory.

mod check;
mod config;
mod error;
mod pending;
mod writer;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_primitives::{Address, B256, U256};
use tokio::sync::futures::Notified;
use tokio::sync::{mpsc, oneshot, Notify};
use zknode_executor::decode_signed;
use zknode_storage::{PoolStore, StateDb};

pub use check::intrinsic_gas;
pub use config::PoolConfig;
pub use error::{AddError, PoolError};
pub use pending::{PoolContent, PoolCounts, PoolTx};
pub use zknode_storage::{PoolTxState, PoolTxStatus};

/// The latest state, as admission reads it; the node implements it over the state tree.
pub trait AccountReader: Send + Sync {
    /// An account's nonce and balance (zero and zero for an account that does not exist).
    fn account(&self, address: Address) -> Result<(u64, U256), String>;
}

/// How many candidates may wait for the writer before [`Pool::add`] waits to hand its own.
const QUEUE: usize = 4 * writer::MAX_BATCH;

/// What the pool's handle and its writer share.
pub(crate) struct Shared {
    db: StateDb,
    cfg: PoolConfig,
    pending: Mutex<pending::Pending>,
    notify: Notify,
}

impl Shared {
    /// The pending transactions. Never held across an await; nothing panics while holding it,
    /// but a poisoned lock is taken over rather than propagated.
    fn lock(&self) -> MutexGuard<'_, pending::Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The transaction pool. Create it with [`Pool::open`] (or [`Pool::empty`]) inside a tokio
/// runtime (it spawns its writer there); share it behind an `Arc`. Dropping the last handle
/// stops the writer once it has answered what it was given.
pub struct Pool {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<writer::Job>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.shared.cfg)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Opens the pool over the state database: loads the pending transactions into memory and
    /// starts the writer. A pending row whose bytes no longer decode is marked `invalid` (with
    /// the decoder's message) and skipped.
    pub async fn open(db: StateDb, cfg: PoolConfig) -> Result<Pool, PoolError> {
        let rows = db.pending_pool_txs().await?;
        let mut pending = pending::Pending::default();
        for row in rows {
            let tx = match decode_signed(&row.raw) {
                Ok(tx) if tx.nonce == row.nonce => tx,
                Ok(tx) => {
                    let reason = format!(
                        "stored nonce {} but the transaction's is {}",
                        row.nonce, tx.nonce
                    );
                    invalidate_on_load(&db, row.hash, reason).await?;
                    continue;
                }
                Err(e) => {
                    invalidate_on_load(&db, row.hash, format!("undecodable: {e}")).await?;
                    continue;
                }
            };
            let seq = pending.next_seq();
            pending.insert(Arc::new(PoolTx {
                hash: row.hash,
                l2_hash: row.l2_hash,
                sender: row.sender,
                tx,
                raw: row.raw,
                received_at_ms: row.received_at_ms,
                seq,
            }));
        }
        Ok(Self::start(db, cfg, pending))
    }

    /// A pool that starts empty, without reading the stored pending transactions: for a node
    /// that relays transactions to the sequencer (which owns the stored pool) and only answers
    /// reads beside it.
    pub fn empty(db: StateDb, cfg: PoolConfig) -> Pool {
        Self::start(db, cfg, pending::Pending::default())
    }

    fn start(db: StateDb, cfg: PoolConfig, pending: pending::Pending) -> Pool {
        let shared = Arc::new(Shared {
            db,
            cfg,
            pending: Mutex::new(pending),
            notify: Notify::new(),
        });
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(writer::run(shared.clone(), queue));
        Pool { shared, jobs }
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.cfg
    }

    /// Checks a signed transaction as a wallet sends it (see the [crate] documentation for the
    /// checks, in order) against the latest state, and stores it as pending. Returns its hash
    /// once it is committed to the database. Never panics on any input.
    pub async fn add(&self, raw: &[u8], state: &dyn AccountReader) -> Result<B256, AddError> {
        let candidate = check::precheck(&self.shared.cfg, raw, state)?;
        let (reply, answer) = oneshot::channel();
        let stopped = || AddError::Internal("the pool's writer has stopped".into());
        self.jobs
            .send(writer::Job { candidate, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The transactions the sequencer can run now, at most `max`: for each sender, its pending
    /// transactions with consecutive nonces from `state_nonce(sender)`, merged highest offered
    /// price first (ties: earlier arrival), each sender's in nonce order. `state_nonce` is
    /// called once per sender, without the pool's lock held.
    pub fn ready(
        &self,
        state_nonce: &mut dyn FnMut(Address) -> u64,
        max: usize,
    ) -> Vec<Arc<PoolTx>> {
        let senders = self.shared.lock().snapshot();
        pending::ready(senders, state_nonce, max)
    }

    /// The pending transactions whose nonce is below their sender's state nonce: they can never
    /// run (the nonce was used by another transaction, e.g. one synchronized from L1). The
    /// sequencer may [`Pool::fail`] them ("nonce too low").
    pub fn stale(&self, state_nonce: &mut dyn FnMut(Address) -> u64) -> Vec<Arc<PoolTx>> {
        let senders = self.shared.lock().snapshot();
        pending::stale(senders, state_nonce)
    }

    /// Marks a pending transaction `failed` (or with `invalid`, `invalid`) with the reason, in
    /// the database, then drops it from memory. The sender may send the same nonce again.
    /// Returns whether a pending row was found (`false` for a transaction already included,
    /// failed or unknown; it is dropped from memory all the same).
    pub async fn fail(&self, hash: B256, reason: String, invalid: bool) -> Result<bool, PoolError> {
        let found = self.shared.db.fail_pool_tx(hash, &reason, invalid).await?;
        self.shared.lock().remove(&hash);
        Ok(found)
    }

    /// Drops transactions stored in a block from memory (`write_block` marked their rows
    /// `selected`). Unknown hashes are ignored.
    pub fn included(&self, hashes: &[B256]) {
        let mut pending = self.shared.lock();
        for hash in hashes {
            pending.remove(hash);
        }
    }

    /// The nonce `eth_getTransactionCount(…, "pending")` answers: `state_nonce` plus the run of
    /// pending transactions with consecutive nonces from it.
    pub fn pending_nonce(&self, sender: Address, state_nonce: u64) -> u64 {
        self.shared.lock().pending_nonce(&sender, state_nonce)
    }

    /// A pending transaction.
    pub fn get(&self, hash: B256) -> Option<Arc<PoolTx>> {
        self.shared.lock().get(&hash).cloned()
    }

    /// What became of a transaction the pool accepted, from the database; `None` when the
    /// pool never stored it or a replacement took its place.
    pub async fn status(&self, hash: B256) -> Result<Option<PoolTxState>, PoolError> {
        Ok(self.shared.db.pool_tx_state(hash).await?)
    }

    /// How many transactions are pending, and from how many senders.
    pub fn counts(&self) -> PoolCounts {
        self.shared.lock().counts()
    }

    /// Every sender's pending transactions in nonce order (for `txpool_content`).
    pub fn pending_by_sender(&self) -> BTreeMap<Address, Vec<Arc<PoolTx>>> {
        self.shared.lock().by_sender()
    }

    /// The pending transactions split as `txpool_content` shows them ([`PoolContent`]), given
    /// each sender's state nonce (`state_nonce` is called once per sender, without the pool's
    /// lock held).
    pub fn content(&self, state_nonce: &mut dyn FnMut(Address) -> u64) -> PoolContent {
        let senders = self.shared.lock().snapshot();
        pending::content(senders, state_nonce)
    }

    /// [`Pool::content`] of one sender, whose state nonce is `state_nonce`.
    pub fn content_of(&self, sender: Address, state_nonce: u64) -> PoolContent {
        let txs = self.shared.lock().of_sender(&sender);
        pending::content(vec![(sender, txs)], &mut |_| state_nonce)
    }

    /// A pending transaction by its L2 hash.
    pub fn get_by_l2_hash(&self, l2_hash: B256) -> Option<Arc<PoolTx>> {
        self.shared.lock().by_l2_hash(&l2_hash).cloned()
    }

    /// Completes when a transaction is added after the last completion (or on [`Pool::wake`]).
    /// Meant for one waiter, the sequencer: a wake-up with nobody waiting is kept for the next
    /// call.
    pub fn notified(&self) -> Notified<'_> {
        self.shared.notify.notified()
    }

    /// Wakes whoever waits on [`Pool::notified`] (the sequencer, when it is asked to stop).
    pub fn wake(&self) {
        self.shared.notify.notify_one();
    }
}

async fn invalidate_on_load(db: &StateDb, hash: B256, reason: String) -> Result<(), PoolError> {
    tracing::warn!(target: "pool", %hash, %reason, "pending transaction dropped at start-up");
    db.fail_pool_tx(hash, &reason, true).await?;
    Ok(())
}
