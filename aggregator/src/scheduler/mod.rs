//! The aggregator's loop: hand batches to idle provers, check and wrap what they return,
//! aggregate adjacent proofs, and make and settle the final proof.
//!
//! All state lives in the job database, so a restarted aggregator carries on where the last one
//! stopped: locks left by a dead process are cleared at start-up, and every stored proof stays.
//!
//! Which prover gets work is decided in one place, the prover slots of `slots.rs`: a prover has
//! a batch, recursion or nothing from the scheduler, and may be benched. Only a prover's fault
//! benches it: a proof that is malformed, does not verify, or proves another statement
//! ([`ProofFault`]), told apart where the proof is read and checked. A prover that is busy,
//! disconnects, times out or reports a failed job loses the job and nothing else, and a failure
//! of the aggregator's own (the database, its own recursion, the settlement) is never charged to
//! a prover.
//!
//! `batch.rs` is a batch's round trip on a prover, `recursion.rs` the aggregation, the final
//! proof and its settlement, `slots.rs` who is free, `fault.rs` whose fault a failure is.

mod batch;
mod fault;
mod recursion;
mod slots;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use tokio::sync::Semaphore;
use zknode_prover::batch::{BatchProof, Statement};
use zknode_prover::recursion::{acc_step, Circuits, FinalStatement, RangeStatement};

use crate::db::{BatchJob, Db, DbError, ProofId, ProofKind};
use crate::farm::{GetProofOutcome, ProverHandle, Registry};
use crate::settle::Settlement;
pub use fault::{BoxError, JobError, ProofFault};
use slots::{Slots, Taken};

/// The name the aggregator's own work (aggregation and final proofs) is locked under.
pub const AGGREGATOR_ID: &str = "aggregator";

/// How the scheduler behaves.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// A job a prover holds longer than this is taken back and queued again.
    pub job_timeout: Duration,
    /// How long one GetProof call waits before asking again.
    pub poll: Duration,
    /// How often the loop looks for work when nothing happened.
    pub tick: Duration,
    /// The address the final proof is bound to (the aggregator's L1 account).
    pub aggregator_address: [u8; 20],
    /// Send aggregations and final proofs to an idle prover that can do them, instead of
    /// proving them here.
    pub recursion_on_provers: bool,
    /// Finalize a range that does not reach the newest batch once it has waited this long.
    pub final_after: Duration,
    /// A prover that returned an invalid proof gets no job for this long.
    pub bench_after_invalid: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            job_timeout: Duration::from_secs(30 * 60),
            poll: Duration::from_secs(2),
            tick: Duration::from_millis(250),
            aggregator_address: [0; 20],
            recursion_on_provers: false,
            final_after: Duration::from_secs(60),
            bench_after_invalid: Duration::from_secs(60),
        }
    }
}

/// The scheduler: one per aggregator process.
pub struct Scheduler {
    db: Db,
    registry: Registry,
    circuits: Arc<Circuits>,
    settlement: Arc<dyn Settlement>,
    config: SchedulerConfig,
    /// What each prover is doing for the scheduler, whether it is benched, when it was last
    /// asked for its status: every decision to give a prover work is made there.
    slots: Slots,
    /// The batch accumulator after each batch, by (first batch in the database, batch) (see
    /// `zknode_prover::recursion::acc_step`).
    acc_after: Mutex<HashMap<(u64, u64), [u64; 4]>>,
    /// Recursive proving here is CPU-bound: one at a time.
    recursion_lane: Semaphore,
    /// No aggregation is tried before this after one failed (the final proof of what is
    /// aggregated already goes on meanwhile).
    aggregation_paused_until: Mutex<Option<Instant>>,
    /// A final proof stored but not settled: settled before anything else.
    unsettled: Mutex<Option<ProofId>>,
}

/// Recursive work a prover can be asked for.
enum RecursionRequest<'a> {
    /// Two adjacent wrap or aggregate proofs.
    Aggregate(&'a [u8], &'a [u8]),
    /// A wrap or aggregate proof, and the address the final proof is bound to.
    Final(&'a [u8], [u8; 20]),
}

/// How long aggregation rests after a failed one.
const AGGREGATION_RETRY: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Scheduler {
    pub fn new(
        db: Db,
        registry: Registry,
        circuits: Arc<Circuits>,
        settlement: Arc<dyn Settlement>,
        config: SchedulerConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            registry,
            circuits,
            settlement,
            config,
            slots: Slots::default(),
            acc_after: Mutex::new(HashMap::new()),
            recursion_lane: Semaphore::new(1),
            aggregation_paused_until: Mutex::new(None),
            unsettled: Mutex::new(None),
        })
    }

    /// Runs until `shutdown` completes. Locks left by an earlier process are cleared first.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let report = self
            .db
            .clean_stuck_locks(SystemTime::now())
            .await
            .context("clearing the locks of an earlier run")?;
        if !report.is_empty() {
            tracing::info!(
                requeued = report.requeued_batches,
                removed = report.removed_jobs,
                unlocked = report.unlocked_proofs,
                "cleared the locks an earlier run left"
            );
        }
        let mut dispatch = tokio::spawn(self.clone().dispatch_loop());
        let mut recursion = tokio::spawn(self.clone().recursion_loop());
        let mut cleaner = tokio::spawn(self.clone().clean_loop());
        // The loops never return; one that does has panicked, and the aggregator stops rather
        // than go on without it.
        let stopped = tokio::select! {
            _ = shutdown => None,
            r = &mut dispatch => Some(("dispatch", r)),
            r = &mut recursion => Some(("recursion", r)),
            r = &mut cleaner => Some(("lock cleaning", r)),
        };
        dispatch.abort();
        recursion.abort();
        cleaner.abort();
        match stopped {
            None => Ok(()),
            Some((name, Err(e))) => bail!("the {name} loop stopped: {e}"),
            Some((name, Ok(()))) => bail!("the {name} loop stopped"),
        }
    }

    /// Hands the lowest unproven batch to each idle prover.
    async fn dispatch_loop(self: Arc<Self>) {
        loop {
            for prover in self.registry.provers() {
                // Not idle: connected with a job from before a reconnection, or still computing
                // a cancelled one. Its status is asked for now and then, which marks it idle once
                // that job ends.
                if self.slots.needs_refresh(&prover) {
                    self.refresh(&prover);
                }
                let Some(slot) = self.slots.try_take_batch(&prover) else {
                    continue;
                };
                let id = slot.prover_id().to_string();
                // Locked here, one prover after another, so a prover only has a batch slot for
                // a batch it really has (the slot is given back when `slot` drops).
                let job = match self
                    .db
                    .lock_next_unproven_batch(&id, SystemTime::now())
                    .await
                {
                    Ok(Some(job)) => job,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("looking for a batch to prove: {e:#}");
                        break;
                    }
                };
                let me = self.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(e) = me.prove_batch(&prover, job).await {
                        tracing::warn!(prover = %id, "batch job: {e:#}");
                        // It may have refused as busy, or still be computing what was cancelled.
                        let _ = prover.status().await;
                    }
                });
            }
            tokio::time::sleep(self.config.tick).await;
        }
    }

    /// Asks a prover for its status, in the background.
    fn refresh(&self, prover: &ProverHandle) {
        let prover = prover.clone();
        tokio::spawn(async move {
            if let Err(e) = prover.status().await {
                tracing::debug!(prover = %prover.prover_id(), "status: {e}");
            }
        });
    }

    /// Gives prover `prover_id` no work for [`SchedulerConfig::bench_after_invalid`]: for its
    /// fault only (see [`JobError::fault`]).
    fn bench(&self, prover_id: &str, why: &str) {
        tracing::error!(prover = %prover_id, "{why}: prover {prover_id} gets no work for {:?}", self.config.bench_after_invalid);
        self.slots
            .bench(prover_id, Instant::now() + self.config.bench_after_invalid);
    }

    /// Clears locks held past twice the job timeout, every so often.
    async fn clean_loop(self: Arc<Self>) {
        let every =
            (self.config.job_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            tokio::time::sleep(every).await;
            // Twice the timeout: a task of this process gives its job up at the timeout itself,
            // so what is older than that belongs to no running task.
            let Some(cutoff) =
                SystemTime::now().checked_sub(self.config.job_timeout.saturating_mul(2))
            else {
                continue;
            };
            match self.db.clean_stuck_locks(cutoff).await {
                Ok(r) if !r.is_empty() => tracing::warn!(
                    requeued = r.requeued_batches,
                    removed = r.removed_jobs,
                    unlocked = r.unlocked_proofs,
                    "cleared locks held past twice the job timeout"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!("cleaning stuck locks: {e:#}"),
            }
        }
    }
}
