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

mod fault;
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

    /// One locked batch on one prover: send it, wait, check, wrap, store. Whatever goes wrong,
    /// the batch is queued again.
    async fn prove_batch(&self, prover: &ProverHandle, job: BatchJob) -> Result<()> {
        let id = prover.prover_id();
        let n = job.batch;
        tracing::info!(prover = %id, batch = n, attempt = job.attempts, "batch {n} sent to {id}");
        let outcome = self.batch_on_prover(prover, n, &job.witness).await;
        match outcome {
            Ok(bytes) => {
                if let Err(e) = self
                    .db
                    .store_proof(n, n, ProofKind::Batch, &bytes, id)
                    .await
                {
                    let _ = self.db.release_lock(n, n, ProofKind::Batch, id).await;
                    return Err(anyhow::Error::new(e).context(format!(
                        "storing the proof of batch {n}; it is queued again"
                    )));
                }
                tracing::info!(prover = %id, batch = n, "batch {n} proved, checked and wrapped");
                Ok(())
            }
            Err(e) => {
                if let Some(fault) = e.fault() {
                    let why = format!("invalid batch proof from prover {id}: {}", fault.report());
                    self.bench(id, &why);
                }
                self.db.release_lock(n, n, ProofKind::Batch, id).await?;
                Err(anyhow::Error::new(e).context(format!("batch {n} is queued again")))
            }
        }
    }

    async fn batch_on_prover(
        &self,
        prover: &ProverHandle,
        n: u64,
        witness: &zknode_witness::BatchWitness,
    ) -> Result<Vec<u8>, JobError> {
        let expected: Statement = witness
            .public_inputs()
            .with_context(|| format!("the witness of batch {n} does not check"))?;
        // Known before the prover spends its time: a batch whose predecessors are missing is
        // not sent.
        let acc = self.acc_before(n).await?;
        let job = prover.gen_batch_proof(witness).await?;
        let bytes = self.wait_for(prover, &job).await?;
        // Every proof is checked before it is kept.
        let checked = check_batch_proof(&bytes, &expected).map_err(|fault| JobError::Fault {
            prover_id: prover.prover_id().to_string(),
            fault,
        })?;
        let circuits = self.circuits.clone();
        let _lane = self
            .recursion_lane
            .acquire()
            .await
            .map_err(anyhow::Error::new)?;
        // The proof checked: wrapping it can only fail here, not at the prover.
        let wrap = tokio::task::spawn_blocking(move || circuits.wrap(&checked, acc))
            .await
            .map_err(anyhow::Error::new)?
            .map_err(anyhow::Error::new)?;
        Ok(wrap.to_bytes())
    }

    /// Polls a prover's job until it ends or the job timeout passes (then it is cancelled).
    async fn wait_for(&self, prover: &ProverHandle, job: &str) -> Result<Vec<u8>, JobError> {
        let start = Instant::now();
        let prover_id = || prover.prover_id().to_string();
        loop {
            let left = self.config.job_timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                let _ = prover.cancel(job).await;
                return Err(JobError::TimedOut {
                    prover_id: prover_id(),
                    job: job.to_string(),
                    after: self.config.job_timeout,
                });
            }
            match prover.get_proof(job, self.config.poll.min(left)).await? {
                GetProofOutcome::Ok(bytes) => return Ok(bytes),
                GetProofOutcome::Pending => continue,
                GetProofOutcome::Error(message) => {
                    return Err(JobError::Failed {
                        prover_id: prover_id(),
                        job: job.to_string(),
                        message,
                    })
                }
                GetProofOutcome::Cancelled => {
                    return Err(JobError::Cancelled {
                        prover_id: prover_id(),
                        job: job.to_string(),
                    })
                }
            }
        }
    }

    /// The batch accumulator before batch `n`: zero before the first batch in the database,
    /// then one step per batch.
    async fn acc_before(&self, n: u64) -> Result<[u64; 4]> {
        let numbers = self.db.batch_numbers().await?;
        let first = *numbers.first().context("no batches in the database")?;
        ensure!(n >= first, "batch {n} is before the first batch {first}");
        let mut acc = [0u64; 4];
        for b in first..n {
            if let Some(a) = lock(&self.acc_after).get(&(first, b)) {
                acc = *a;
                continue;
            }
            let w = self
                .db
                .batch_witness(b)
                .await?
                .with_context(|| format!("batch {b} is missing from the database"))?;
            let s = w
                .public_inputs()
                .with_context(|| format!("the witness of batch {b} does not check"))?;
            acc = acc_step(acc, &s);
            lock(&self.acc_after).insert((first, b), acc);
        }
        Ok(acc)
    }

    /// Aggregates adjacent proofs while there are any, then makes and settles the final proof.
    async fn recursion_loop(self: Arc<Self>) {
        loop {
            match self.step().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!("{e:#}"),
            }
            tokio::time::sleep(self.config.tick).await;
        }
    }

    /// One aggregation or one final proof; `Ok(false)` when there was nothing to do.
    async fn step(&self) -> Result<bool> {
        // A final proof whose settlement failed goes first.
        let pending = *lock(&self.unsettled);
        if let Some(id) = pending {
            self.settle_stored(id, None, "again").await?;
            return Ok(true);
        }
        let paused = lock(&self.aggregation_paused_until).is_some_and(|t| Instant::now() < t);
        if !paused {
            if let Some(job) = self
                .db
                .lock_next_aggregation_pair(AGGREGATOR_ID, SystemTime::now())
                .await?
            {
                let (first, last) = (job.first, job.last);
                tracing::info!(
                    "aggregating {}..={} and {}..={}",
                    job.left.info.first,
                    job.left.info.last,
                    job.right.info.first,
                    job.right.info.last
                );
                let t = Instant::now();
                let made = match self.aggregate(&job.left.bytes, &job.right.bytes).await {
                    Ok(bytes) => self
                        .db
                        .store_proof(first, last, ProofKind::Aggregate, &bytes, AGGREGATOR_ID)
                        .await
                        .map_err(anyhow::Error::new),
                    Err(e) => Err(e),
                };
                match made {
                    Ok(_) => {
                        tracing::info!(
                            "aggregated batches {first}..={last} in {:.2?}",
                            t.elapsed()
                        );
                        return Ok(true);
                    }
                    Err(e) => {
                        self.db
                            .release_lock(first, last, ProofKind::Aggregate, AGGREGATOR_ID)
                            .await?;
                        // The final proof of what is aggregated already need not wait for it.
                        *lock(&self.aggregation_paused_until) =
                            Some(Instant::now() + AGGREGATION_RETRY);
                        tracing::warn!(
                            "aggregating batches {first}..={last} failed, retried in {AGGREGATION_RETRY:?}: {e:#}"
                        );
                    }
                }
            }
        }
        let last_verified = self.db.last_verified_batch().await?;
        let Some(info) = self.db.longest_contiguous_from(last_verified + 1).await? else {
            return Ok(false);
        };
        let newest = self.db.batch_numbers().await?.last().copied().unwrap_or(0);
        let waited = SystemTime::now()
            .duration_since(info.updated_at)
            .unwrap_or_default();
        if info.last < newest && waited < self.config.final_after {
            return Ok(false);
        }
        let job = match self
            .db
            .lock_final(info.id, AGGREGATOR_ID, SystemTime::now())
            .await
        {
            Ok(Some(job)) => job,
            Ok(None) => return Ok(false),
            // Made by an earlier run that stopped before settling it: settle that one.
            Err(DbError::AlreadyStored { id, .. }) => {
                self.settle_stored(id, Some((info.first, info.last)), "made earlier")
                    .await?;
                return Ok(true);
            }
            Err(e) => return Err(e.into()),
        };
        let (first, last) = (job.first, job.last);
        tracing::info!("final proof of batches {first}..={last}");
        let t = Instant::now();
        let made = self.finalize(&job.source.bytes).await;
        let (bytes, statement) = match made {
            Ok(x) => x,
            Err(e) => {
                self.db
                    .release_lock(first, last, ProofKind::Final, AGGREGATOR_ID)
                    .await?;
                return Err(e.context(format!("the final proof of batches {first}..={last}")));
            }
        };
        let id = match self
            .db
            .store_proof(first, last, ProofKind::Final, &bytes, AGGREGATOR_ID)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                let _ = self
                    .db
                    .release_lock(first, last, ProofKind::Final, AGGREGATOR_ID)
                    .await;
                return Err(anyhow::Error::new(e).context(format!(
                    "storing the final proof of batches {first}..={last}"
                )));
            }
        };
        tracing::info!(
            "final proof of batches {first}..={last} in {:.2?}",
            t.elapsed()
        );
        self.settle(id, bytes, statement).await?;
        Ok(true)
    }

    /// Hands a stored final proof to the settlement step and records the batches verified.
    /// A failure leaves the proof to be settled again on the next step.
    /// Settles the stored final proof `id` after checking it against `range` (its own range
    /// when `None`); `when` ends the log line ("again", "made earlier").
    async fn settle_stored(
        &self,
        id: ProofId,
        range: Option<(u64, u64)>,
        when: &str,
    ) -> Result<()> {
        let stored = self
            .db
            .stored_proof(id)
            .await?
            .with_context(|| format!("final proof {id} is gone"))?;
        let (first, last) = (stored.info.first, stored.info.last);
        let (want_first, want_last) = range.unwrap_or((first, last));
        let statement = self
            .check_final(&stored.bytes, want_first, want_last)
            .with_context(|| format!("the stored final proof of {first}..={last}"))?;
        tracing::info!("settling the final proof of batches {first}..={last} {when}");
        self.settle(id, stored.bytes, statement).await
    }

    async fn settle(&self, id: ProofId, bytes: Vec<u8>, statement: FinalStatement) -> Result<()> {
        let last = statement.range.last_batch;
        *lock(&self.unsettled) = Some(id);
        let settlement = self.settlement.clone();
        let tx = tokio::task::spawn_blocking(move || settlement.settle(&bytes, &statement))
            .await?
            .with_context(|| format!("settling batches up to {last}"))?;
        self.db
            .record_verified(last, id, tx.as_deref(), SystemTime::now())
            .await
            .with_context(|| format!("recording batches up to {last} as verified"))?;
        *lock(&self.unsettled) = None;
        tracing::info!("batches up to {last} verified");
        Ok(())
    }

    /// Verifies a final proof: it must cover `first..=last` and name this aggregator.
    fn check_final(
        &self,
        bytes: &[u8],
        first: u64,
        last: u64,
    ) -> Result<FinalStatement, ProofFault> {
        let proof = self
            .circuits
            .read_final(bytes)
            .map_err(ProofFault::malformed)?;
        let statement = self
            .circuits
            .verify_final(&proof)
            .map_err(ProofFault::invalid)?;
        let address = self.config.aggregator_address;
        if (statement.range.first_batch, statement.range.last_batch) != (first, last)
            || statement.aggregator != address
        {
            return Err(ProofFault::WrongStatement {
                expected: format!(
                    "batches {first}..={last} for this aggregator (0x{})",
                    hex::encode(address)
                ),
                got: format!("{statement:?}"),
            });
        }
        Ok(statement)
    }

    /// An idle prover that can do recursion, when the configuration says to use one; it gets
    /// no batch until the [`Taken`] guard drops.
    fn take_recursion_prover(&self) -> Option<(ProverHandle, Taken)> {
        if !self.config.recursion_on_provers {
            return None;
        }
        self.registry.provers().into_iter().find_map(|p| {
            let slot = self.slots.try_take_recursion(&p)?;
            Some((p, slot))
        })
    }

    /// A recursive proof: on an idle prover when the configuration says so (when it fails, the
    /// proof is made here instead, and a prover that returned a proof `check` refuses is
    /// benched), else here, one at a time. Whatever made it, `check` decides what is kept.
    async fn recursive_proof<T>(
        &self,
        what: &str,
        request: RecursionRequest<'_>,
        local: impl FnOnce() -> Result<Vec<u8>> + Send + 'static,
        check: impl Fn(Vec<u8>) -> Result<T, ProofFault>,
    ) -> Result<T> {
        if let Some((p, slot)) = self.take_recursion_prover() {
            let id = p.prover_id();
            tracing::info!(prover = %id, "{what} sent to {id}");
            let made: Result<Vec<u8>, JobError> = async {
                let job = match request {
                    RecursionRequest::Aggregate(left, right) => {
                        p.gen_aggregated_proof(left, right).await?
                    }
                    RecursionRequest::Final(source, address) => {
                        p.gen_final_proof(source, address).await?
                    }
                };
                self.wait_for(&p, &job).await
            }
            .await;
            drop(slot);
            let checked = made.and_then(|bytes| {
                check(bytes).map_err(|fault| JobError::Fault {
                    prover_id: id.to_string(),
                    fault,
                })
            });
            match checked {
                Ok(out) => return Ok(out),
                Err(e) => {
                    if let Some(fault) = e.fault() {
                        let why = format!("invalid {what} from prover {id}: {}", fault.report());
                        self.bench(id, &why);
                    } else {
                        let e = anyhow::Error::new(e);
                        tracing::warn!(prover = %id, "{what} on prover {id}: {e:#}; made here instead");
                    }
                }
            }
        }
        let _lane = self.recursion_lane.acquire().await?;
        let bytes = tokio::task::spawn_blocking(local).await??;
        check(bytes).with_context(|| format!("the {what} made here does not check"))
    }

    async fn aggregate(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>> {
        let c = self.circuits.clone();
        let l = c.read_recursive(left).context("the left proof")?;
        let r = c.read_recursive(right).context("the right proof")?;
        let expected = l.statement()?.then(&r.statement()?)?;
        let what = format!(
            "aggregation of {}..={}",
            expected.first_batch, expected.last_batch
        );
        let circuits = c.clone();
        self.recursive_proof(
            &what,
            RecursionRequest::Aggregate(left, right),
            move || Ok(circuits.aggregate(&l, &r)?.to_bytes()),
            |bytes| {
                let proof = c.read_recursive(&bytes).map_err(ProofFault::malformed)?;
                let got = c.verify(&proof).map_err(ProofFault::invalid)?;
                if got != expected {
                    return Err(ProofFault::wrong_statement(&expected, &got));
                }
                Ok(bytes)
            },
        )
        .await
    }

    async fn finalize(&self, source: &[u8]) -> Result<(Vec<u8>, FinalStatement)> {
        let c = self.circuits.clone();
        let p = c.read_recursive(source)?;
        let range: RangeStatement = p.statement()?;
        let address = self.config.aggregator_address;
        let what = format!(
            "final proof of {}..={}",
            range.first_batch, range.last_batch
        );
        self.recursive_proof(
            &what,
            RecursionRequest::Final(source, address),
            move || Ok(c.finalize(&p, address)?.to_bytes()),
            |bytes| {
                let statement = self.check_final(&bytes, range.first_batch, range.last_batch)?;
                if statement.range != range {
                    return Err(ProofFault::wrong_statement(&range, &statement.range));
                }
                Ok((bytes, statement))
            },
        )
        .await
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

/// Reads a batch proof a prover returned, verifies it, and checks that it proves `expected`.
fn check_batch_proof(bytes: &[u8], expected: &Statement) -> Result<BatchProof, ProofFault> {
    let proof = BatchProof::from_bytes(bytes).map_err(ProofFault::malformed)?;
    let stated = proof.verify().map_err(ProofFault::invalid)?;
    if stated != *expected {
        return Err(ProofFault::wrong_statement(expected, &stated));
    }
    Ok(proof)
}
