//! The pool's writer: one task decides what the pool's own contents decide ("txpool is full",
//! "already known", "replacement transaction underpriced") and stores the accepted
//! transactions, then makes them visible and answers [`crate::Pool::add`].
//!
//! It takes whatever candidates are waiting, up to [`MAX_BATCH`], decides them in arrival
//! order against the pending transactions and the ones it accepted before them in the batch,
//! and stores the accepted ones in one database transaction: one commit (one fsync) for many
//! transactions, which is what lets SQLite take thousands a second. Should the batch fail,
//! each transaction is stored alone, so that one bad row refuses only itself. A transaction
//! becomes visible ([`crate::Pool::get`], [`crate::Pool::ready`]) and its hash is returned
//! only after its commit.
//!
//! Being one task, the writer also serializes admission: no two candidates are decided
//! against the same pool contents. A caller that goes away (a cancelled request) does not
//! stop its candidate from being decided and, if accepted, stored.

use std::collections::HashMap;
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use tokio::sync::{mpsc, oneshot};
use zknode_storage::{PoolInsert, PoolStore, PoolTxRow, StorageError};

use crate::check::Candidate;
use crate::error::AddError;
use crate::pending::PoolTx;
use crate::Shared;

/// The most candidates decided and stored in one database transaction.
pub(crate) const MAX_BATCH: usize = 512;

/// A candidate and where its answer goes.
pub(crate) struct Job {
    pub candidate: Candidate,
    pub reply: oneshot::Sender<Result<B256, AddError>>,
}

/// An accepted candidate, to store.
struct Accepted {
    row: PoolTxRow,
    how: PoolInsert,
    candidate: Candidate,
    reply: oneshot::Sender<Result<B256, AddError>>,
}

/// Runs until every [`crate::Pool`] handle (every sender of `jobs`) is gone.
pub(crate) async fn run(shared: Arc<Shared>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let accepted = admit(&shared, std::mem::take(&mut batch));
        store(&shared, accepted).await;
    }
}

/// Decides each candidate in order; answers the refused ones.
fn admit(shared: &Shared, jobs: Vec<Job>) -> Vec<Accepted> {
    let pending = shared.lock();
    let global_queue = shared.cfg.global_queue;
    // What this batch has accepted so far, by sender and nonce.
    let mut batch: HashMap<(Address, u64), (B256, U256)> = HashMap::new();
    let mut new_rows: u64 = 0;
    let mut out = Vec::with_capacity(jobs.len());
    for Job {
        mut candidate,
        reply,
    } in jobs
    {
        let c = &mut candidate;
        let key = (c.sender, c.tx.nonce);
        let existing = batch.get(&key).copied().or_else(|| {
            pending
                .at(&c.sender, c.tx.nonce)
                .map(|t| (t.hash, t.price()))
        });
        let count = pending.len() as u64 + new_rows;
        let verdict = if existing.is_none() && global_queue > 0 && count >= global_queue {
            Err(AddError::PoolFull { pending: count })
        } else if let Some(e) = c.before_known.take() {
            Err(e)
        } else if existing.is_some_and(|(hash, _)| hash == c.hash) {
            Err(AddError::AlreadyKnown)
        } else if existing.is_some_and(|(_, price)| price >= c.price) {
            Err(AddError::ReplacementUnderpriced)
        } else if let Some(e) = c.after_known.take() {
            Err(e)
        } else {
            Ok(())
        };
        if let Err(e) = verdict {
            let _ = reply.send(Err(e));
            continue;
        }
        batch.insert(key, (c.hash, c.price));
        let how = if existing.is_some() {
            PoolInsert::Replace
        } else {
            new_rows += 1;
            PoolInsert::New
        };
        let row = PoolTxRow {
            hash: c.hash,
            l2_hash: c.l2_hash,
            sender: c.sender,
            nonce: c.tx.nonce,
            gas_price: c.price,
            gas_limit: c.tx.gas_limit,
            tx_type: c.tx.tx_type,
            raw: c.raw.clone(),
            received_at_ms: c.received_at_ms,
        };
        out.push(Accepted {
            row,
            how,
            candidate,
            reply,
        });
    }
    out
}

/// Stores the accepted candidates, all in one transaction or, should that fail, one by one;
/// makes the stored ones visible and answers every one.
async fn store(shared: &Shared, accepted: Vec<Accepted>) {
    if accepted.is_empty() {
        return;
    }
    let rows: Vec<(PoolTxRow, PoolInsert)> =
        accepted.iter().map(|a| (a.row.clone(), a.how)).collect();
    match shared.db.insert_pool_txs(&rows).await {
        Ok(_) => publish(shared, accepted),
        Err(e) if accepted.len() == 1 => refuse(accepted, &e),
        Err(e) => {
            tracing::debug!(target: "pool", error = %e, n = accepted.len(), "batch refused, storing one by one");
            for a in accepted {
                match shared.db.insert_pool_txs(&[(a.row.clone(), a.how)]).await {
                    Ok(_) => publish(shared, vec![a]),
                    Err(e) => refuse(vec![a], &e),
                }
            }
        }
    }
}

/// Makes stored transactions visible, then answers their callers and wakes the sequencer.
fn publish(shared: &Shared, stored: Vec<Accepted>) {
    let mut replies = Vec::with_capacity(stored.len());
    {
        let mut pending = shared.lock();
        for a in stored {
            let c = a.candidate;
            let tx = PoolTx {
                hash: c.hash,
                l2_hash: c.l2_hash,
                sender: c.sender,
                tx: c.tx,
                raw: c.raw,
                received_at_ms: c.received_at_ms,
                seq: pending.next_seq(),
            };
            pending.insert(Arc::new(tx));
            replies.push((a.reply, c.hash));
        }
    }
    for (reply, hash) in replies {
        let _ = reply.send(Ok(hash));
    }
    shared.notify.notify_one();
}

/// Answers candidates the database refused.
fn refuse(refused: Vec<Accepted>, e: &StorageError) {
    for a in refused {
        let err = match e {
            StorageError::PoolTxExists(hash) if *hash == a.row.hash => AddError::AlreadyKnown,
            other => {
                tracing::warn!(target: "pool", hash = %a.row.hash, error = %other, "storing a transaction failed");
                AddError::Internal(other.to_string())
            }
        };
        let _ = a.reply.send(Err(err));
    }
}
