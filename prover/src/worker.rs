//! The prover side of the aggregator protocol (`zkprover serve`): dial the aggregator, hold one
//! `Channel` stream, and answer its requests.
//!
//! [`run`] connects to [`WorkerConfig::aggregator`], sends the Hello, then answers each request
//! on its own task, so a GetProof that waits does not hold up a GetStatus. When the connection
//! cannot be made or drops, it reconnects with exponential backoff (from
//! [`WorkerConfig::backoff_initial`], doubling, capped at [`WorkerConfig::backoff_max`]). An
//! aggregator that refuses the prover's protocol version ends [`run`] with an error: retrying
//! cannot help.
//!
//! Proving is asynchronous, one job at a time:
//! - GenBatchProof checks the witness (ERROR with the witness error, which names the operation)
//!   and starts proving on a blocking thread, answering OK with a job id at once; a second job
//!   while one runs is refused with BUSY ("busy: job … is running");
//! - GetProof waits up to its timeout and answers OK with the proof, PENDING, ERROR with the
//!   failure, or CANCELLED;
//! - Cancel marks a job cancelled: its result is discarded. The computation itself cannot be
//!   interrupted, so the prover stays busy (not idle in GetStatus) until it ends;
//! - GenAggregatedProof and GenFinalProof go to the [`RecursionHandler`] of the configuration;
//!   without one they are refused with ERROR "this prover does not aggregate".
//!
//! Jobs live in the worker, not in the connection: a job keeps running across a reconnection,
//! and the aggregator can still ask for its proof (or cancel it) on the new stream.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use zknode_kernels::{Backend, DeviceKind};
use zknode_proto::pb::aggregator_message::Request;
use zknode_proto::pb::prover_message::Response;
use zknode_proto::pb::{self, ResultCode};
use zknode_proto::{MAX_MESSAGE_BYTES, PROTOCOL_VERSION, VERSION_MISMATCH_CODE};
use zknode_witness::BatchWitness;

use crate::batch::{prove_witness, Committer};
use crate::recursion::{Input, RecursionError};

/// Recursive proving for GenAggregatedProof and GenFinalProof. Both run on a blocking thread
/// (they may take seconds) and return the proof's bytes, or an error whose text goes back to
/// the aggregator.
pub trait RecursionHandler: Send + Sync + 'static {
    /// One proof of the two adjacent proofs `left` and `right` (batch or aggregated proofs).
    fn aggregate(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>, RecursionError>;
    /// The proof settled on L1, made from an aggregated proof and bound to
    /// `aggregator_address`.
    fn finalize(
        &self,
        proof: &[u8],
        aggregator_address: [u8; 20],
    ) -> Result<Vec<u8>, RecursionError>;
}

/// A [`RecursionHandler`] made of two functions:
/// `Arc::new(FnRecursion::new(|left, right| …, |proof, address| …))`.
pub struct FnRecursion<A, F> {
    pub aggregate: A,
    pub finalize: F,
}

impl<A, F> FnRecursion<A, F>
where
    A: Fn(&[u8], &[u8]) -> Result<Vec<u8>, RecursionError> + Send + Sync + 'static,
    F: Fn(&[u8], [u8; 20]) -> Result<Vec<u8>, RecursionError> + Send + Sync + 'static,
{
    pub fn new(aggregate: A, finalize: F) -> Self {
        Self {
            aggregate,
            finalize,
        }
    }
}

impl<A, F> RecursionHandler for FnRecursion<A, F>
where
    A: Fn(&[u8], &[u8]) -> Result<Vec<u8>, RecursionError> + Send + Sync + 'static,
    F: Fn(&[u8], [u8; 20]) -> Result<Vec<u8>, RecursionError> + Send + Sync + 'static,
{
    fn aggregate(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>, RecursionError> {
        (self.aggregate)(left, right)
    }
    fn finalize(
        &self,
        proof: &[u8],
        aggregator_address: [u8; 20],
    ) -> Result<Vec<u8>, RecursionError> {
        (self.finalize)(proof, aggregator_address)
    }
}

/// The recursion circuits answer GenAggregatedProof and GenFinalProof: both inputs are verified
/// (and must chain) before anything is proved.
impl RecursionHandler for crate::recursion::Circuits {
    fn aggregate(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>, RecursionError> {
        let l = self
            .read_recursive(left)
            .map_err(|e| e.about(Input::Left))?;
        let r = self
            .read_recursive(right)
            .map_err(|e| e.about(Input::Right))?;
        Ok(crate::recursion::Circuits::aggregate(self, &l, &r)?.to_bytes())
    }

    fn finalize(
        &self,
        proof: &[u8],
        aggregator_address: [u8; 20],
    ) -> Result<Vec<u8>, RecursionError> {
        let p = self
            .read_recursive(proof)
            .map_err(|e| e.about(Input::ToFinalize))?;
        Ok(crate::recursion::Circuits::finalize(self, &p, aggregator_address)?.to_bytes())
    }
}

/// Everything [`run`] needs.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The aggregator's address, `http://host:port` (a bare `host:port` gets `http://`).
    pub aggregator: String,
    /// Stable across reconnections; the aggregator knows the prover by it.
    pub prover_id: String,
    /// A human-readable name (the host, say).
    pub prover_name: String,
    /// The compute device: a CUDA backend commits the batch trace on the GPU.
    pub backend: Arc<dyn Backend>,
    /// Recursive proving; `None`: GenAggregatedProof and GenFinalProof are refused.
    pub recursion: Option<Arc<dyn RecursionHandler>>,
    /// Test only: flip a byte of every proof returned, to show the aggregator catches it.
    pub corrupt_proofs: bool,
    /// The first reconnection delay; each failed attempt doubles it, up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// The protocol version sent in the Hello and every answer ([`PROTOCOL_VERSION`]; tests
    /// change it to see a mismatch refused).
    pub protocol_version: u32,
}

impl WorkerConfig {
    /// A configuration with the defaults: no recursion, backoff from 250 ms to 30 s, 5 s
    /// connection timeout, this build's protocol version.
    pub fn new(
        aggregator: impl Into<String>,
        prover_id: impl Into<String>,
        backend: Arc<dyn Backend>,
    ) -> Self {
        let prover_id = prover_id.into();
        Self {
            aggregator: aggregator.into(),
            prover_name: prover_id.clone(),
            prover_id,
            backend,
            recursion: None,
            corrupt_proofs: false,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            protocol_version: PROTOCOL_VERSION,
        }
    }
}

/// A default prover id: the host name and the process id.
pub fn default_prover_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "prover".into());
    format!("{host}-{}", std::process::id())
}

/// Why [`run`] stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// [`WorkerConfig::aggregator`] is not an address a connection can be made to.
    #[error("{address:?} is not an aggregator address: {reason}")]
    BadAddress { address: String, reason: String },
    /// The aggregator refused this prover for good (another protocol version, say).
    #[error("the aggregator at {uri} refused this prover: {reason}")]
    Refused { uri: String, reason: String },
}

/// Serves the aggregator until it refuses this prover (an error naming the reason) or
/// `shutdown` completes (`Ok`). Connection failures are logged and retried with backoff.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    let uri = if config.aggregator.contains("://") {
        config.aggregator.clone()
    } else {
        format!("http://{}", config.aggregator)
    };
    let endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| WorkerError::BadAddress {
            address: config.aggregator.clone(),
            reason: error_chain(&e),
        })?
        .connect_timeout(config.connect_timeout)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    let worker = Arc::new(Worker::new(config));
    tokio::pin!(shutdown);
    let mut delay = worker.config.backoff_initial;
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        let outcome = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = worker.session(&endpoint) => r,
        };
        match outcome {
            Ok(()) => {
                tracing::warn!("the aggregator at {uri} closed the stream; reconnecting");
                delay = worker.config.backoff_initial;
                attempt = 0;
            }
            Err(SessionError::Refused(reason)) => {
                return Err(WorkerError::Refused { uri, reason });
            }
            Err(SessionError::Lost(e)) => {
                tracing::warn!("the connection to the aggregator at {uri} was lost: {e}");
                delay = worker.config.backoff_initial;
                attempt = 0;
            }
            Err(SessionError::Connect(e)) => {
                tracing::warn!(
                    "cannot reach the aggregator at {uri} (attempt {attempt}): {e}; retrying in {delay:.2?}"
                );
            }
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(worker.config.backoff_max);
    }
}

enum SessionError {
    /// No session was established: the next attempt waits longer.
    Connect(String),
    /// The session was established and then broke.
    Lost(String),
    /// The aggregator refused the prover for good (another protocol version).
    Refused(String),
}

/// The state of a job as GetProof sees it.
#[derive(Clone, Debug)]
enum JobState {
    Running,
    Done(Arc<Vec<u8>>),
    Failed(String),
    Cancelled,
}

/// The jobs of this process: the one running and the last few finished.
struct Jobs {
    next: u64,
    /// The job whose computation is still running (cancelled or not).
    running: Option<String>,
    states: HashMap<String, watch::Sender<JobState>>,
    /// Finished jobs, oldest first, forgotten past [`KEEP_FINISHED`].
    finished: VecDeque<String>,
}

/// Finished jobs whose results stay available to GetProof.
const KEEP_FINISHED: usize = 16;

struct Worker {
    config: WorkerConfig,
    /// Distinguishes this process's job ids from an earlier run's.
    nonce: String,
    jobs: Mutex<Jobs>,
}

impl Worker {
    fn new(config: WorkerConfig) -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self {
            config,
            nonce: format!("{started:x}"),
            jobs: Mutex::new(Jobs {
                next: 1,
                running: None,
                states: HashMap::new(),
                finished: VecDeque::new(),
            }),
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, Jobs> {
        // A panic while the lock is held leaves consistent data (every update is one
        // assignment), so a poisoned lock is taken as it is.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn message(&self, id: u64, response: Response) -> pb::ProverMessage {
        pb::ProverMessage {
            id,
            protocol_version: self.config.protocol_version,
            response: Some(response),
        }
    }

    /// One connection: Hello, then requests until the stream ends.
    async fn session(self: &Arc<Self>, endpoint: &Endpoint) -> Result<(), SessionError> {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| SessionError::Connect(error_chain(&e)))?;
        let mut client = pb::aggregator_service_client::AggregatorServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (tx, rx) = mpsc::channel::<pb::ProverMessage>(64);
        let hello = self.message(
            0,
            Response::Hello(pb::Hello {
                prover_id: self.config.prover_id.clone(),
                prover_name: self.config.prover_name.clone(),
                protocol_version: self.config.protocol_version,
                version: env!("CARGO_PKG_VERSION").into(),
            }),
        );
        tx.send(hello)
            .await
            .map_err(|_| SessionError::Connect("the outgoing stream closed".into()))?;
        let mut inbound = match client.channel(ReceiverStream::new(rx)).await {
            Ok(r) => r.into_inner(),
            Err(status) if status.code() == VERSION_MISMATCH_CODE => {
                return Err(SessionError::Refused(status.message().to_string()))
            }
            Err(status) => return Err(SessionError::Connect(status_text(&status))),
        };
        tracing::info!(
            "connected to the aggregator at {} as {}",
            self.config.aggregator,
            self.config.prover_id
        );
        loop {
            match inbound.message().await {
                Ok(Some(msg)) => {
                    let worker = Arc::clone(self);
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let id = msg.id;
                        let response = worker.handle(msg).await;
                        // A closed stream drops the answer; the aggregator has failed the call.
                        let _ = tx.send(worker.message(id, response)).await;
                    });
                }
                Ok(None) => return Ok(()),
                Err(status) if status.code() == VERSION_MISMATCH_CODE => {
                    return Err(SessionError::Refused(status.message().to_string()))
                }
                Err(status) => return Err(SessionError::Lost(status_text(&status))),
            }
        }
    }

    async fn handle(self: &Arc<Self>, msg: pb::AggregatorMessage) -> Response {
        let request_error =
            |m: String| Response::RequestError(pb::RequestError { error_message: m });
        if msg.protocol_version != self.config.protocol_version {
            return request_error(zknode_proto::version_mismatch_message(
                self.config.protocol_version,
                msg.protocol_version,
            ));
        }
        let Some(request) = msg.request else {
            return request_error(format!(
                "request {} has no request this prover knows (protocol version {})",
                msg.id, self.config.protocol_version
            ));
        };
        tracing::debug!("request {}: {}", msg.id, request.name());
        match request {
            Request::GetStatus(_) => Response::GetStatus(self.status()),
            Request::GenBatchProof(r) => {
                let (result, job_id, error_message) = self.gen_batch_proof(r).await;
                Response::GenBatchProof(pb::GenBatchProofResponse {
                    result: result as i32,
                    job_id,
                    error_message,
                })
            }
            Request::GenAggregatedProof(r) => {
                let (result, job_id, error_message) = match &self.config.recursion {
                    None => no_recursion(),
                    Some(h) => {
                        let h = Arc::clone(h);
                        self.start_job("aggregation", move || h.aggregate(&r.left, &r.right))
                    }
                };
                Response::GenAggregatedProof(pb::GenAggregatedProofResponse {
                    result: result as i32,
                    job_id,
                    error_message,
                })
            }
            Request::GenFinalProof(r) => {
                let (result, job_id, error_message) = match &self.config.recursion {
                    None => no_recursion(),
                    Some(h) => match <[u8; 20]>::try_from(r.aggregator_address.as_slice()) {
                        Err(_) => (
                            ResultCode::Error,
                            String::new(),
                            format!(
                                "aggregator_address: expected 20 bytes, got {}",
                                r.aggregator_address.len()
                            ),
                        ),
                        Ok(address) => {
                            let h = Arc::clone(h);
                            self.start_job("final proof", move || h.finalize(&r.proof, address))
                        }
                    },
                };
                Response::GenFinalProof(pb::GenFinalProofResponse {
                    result: result as i32,
                    job_id,
                    error_message,
                })
            }
            Request::GetProof(r) => Response::GetProof(self.get_proof(r).await),
            Request::Cancel(r) => {
                let (result, error_message) = self.cancel(&r.job_id);
                Response::Cancel(pb::CancelResponse {
                    result: result as i32,
                    error_message,
                })
            }
        }
    }

    fn status(&self) -> pb::GetStatusResponse {
        let info = self.config.backend.info();
        let running = self.jobs().running.clone();
        pb::GetStatusResponse {
            prover_id: self.config.prover_id.clone(),
            prover_name: self.config.prover_name.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            device: Some(pb::Device {
                kind: match info.kind {
                    DeviceKind::Cpu => pb::DeviceKind::Cpu,
                    DeviceKind::Cuda => pb::DeviceKind::Cuda,
                } as i32,
                name: info.name.clone(),
                memory_bytes: info.memory_bytes,
            }),
            idle: running.is_none(),
            current_job_id: running.unwrap_or_default(),
            can_aggregate: self.config.recursion.is_some(),
        }
    }

    fn busy_error(running: &str) -> (ResultCode, String, String) {
        (
            ResultCode::Busy,
            String::new(),
            format!("busy: job {running} is running (this prover runs one job at a time)"),
        )
    }

    async fn gen_batch_proof(
        self: &Arc<Self>,
        r: pb::GenBatchProofRequest,
    ) -> (ResultCode, String, String) {
        let error = |m: String| (ResultCode::Error, String::new(), m);
        // Refuse early when busy, before spending time on the witness.
        if let Some(running) = self.jobs().running.clone() {
            return Self::busy_error(&running);
        }
        let Some(message) = r.witness else {
            return error("GenBatchProof carries no witness".into());
        };
        let witness = match BatchWitness::try_from(message) {
            Ok(w) => w,
            Err(e) => return error(e.to_string()),
        };
        let checked = tokio::task::spawn_blocking(move || {
            let r = witness.check().map(|_| ());
            (witness, r)
        })
        .await;
        let witness = match checked {
            Ok((w, Ok(()))) => w,
            Ok((_, Err(e))) => return error(format!("invalid witness: {e}")),
            Err(e) => {
                return (
                    ResultCode::InternalError,
                    String::new(),
                    format!("checking the witness failed: {e}"),
                )
            }
        };
        let backend = Arc::clone(&self.config.backend);
        let ops = witness.ops.len();
        let batch = witness.chain.batch_number;
        self.start_job(&format!("batch {batch} ({ops} operations)"), move || {
            let (proof, _timings) = prove_witness(&witness, Committer::for_backend(&*backend))?;
            Ok::<_, crate::batch::ProofError>(proof.to_bytes())
        })
    }

    /// Takes the job slot and runs `work` on a blocking thread; OK with the job id, or busy.
    /// The text of the error `work` fails with is what GetProof answers.
    fn start_job<W, E>(self: &Arc<Self>, what: &str, work: W) -> (ResultCode, String, String)
    where
        W: FnOnce() -> Result<Vec<u8>, E> + Send + 'static,
        E: std::fmt::Display,
    {
        let (job_id, state) = {
            let mut jobs = self.jobs();
            if let Some(running) = &jobs.running {
                return Self::busy_error(running);
            }
            let job_id = format!("{}-{}-{}", self.config.prover_id, self.nonce, jobs.next);
            jobs.next += 1;
            let (state, _) = watch::channel(JobState::Running);
            jobs.running = Some(job_id.clone());
            jobs.states.insert(job_id.clone(), state.clone());
            (job_id, state)
        };
        tracing::info!("job {job_id}: {what} started");
        let worker = Arc::clone(self);
        let id = job_id.clone();
        let what = what.to_string();
        tokio::task::spawn_blocking(move || {
            let t = std::time::Instant::now();
            let outcome = match std::panic::catch_unwind(AssertUnwindSafe(work)) {
                Ok(Ok(bytes)) => JobState::Done(Arc::new(bytes)),
                Ok(Err(e)) => JobState::Failed(e.to_string()),
                Err(panic) => JobState::Failed(format!(
                    "the prover panicked: {}",
                    panic_text(panic.as_ref())
                )),
            };
            let elapsed = t.elapsed();
            // A cancelled job keeps its state: its result is discarded.
            state.send_if_modified(|s| {
                if matches!(s, JobState::Running) {
                    match &outcome {
                        JobState::Done(b) => tracing::info!(
                            "job {id}: {what} proved in {elapsed:.2?} ({} bytes)",
                            b.len()
                        ),
                        JobState::Failed(e) => tracing::warn!("job {id}: {what} failed: {e}"),
                        _ => {}
                    }
                    *s = outcome;
                    true
                } else {
                    tracing::info!("job {id}: cancelled; its result is discarded");
                    false
                }
            });
            let mut jobs = worker.jobs();
            if jobs.running.as_deref() == Some(id.as_str()) {
                jobs.running = None;
            }
            jobs.finished.push_back(id);
            while jobs.finished.len() > KEEP_FINISHED {
                if let Some(old) = jobs.finished.pop_front() {
                    jobs.states.remove(&old);
                }
            }
        });
        (ResultCode::Ok, job_id, String::new())
    }

    async fn get_proof(&self, r: pb::GetProofRequest) -> pb::GetProofResponse {
        let mut response = pb::GetProofResponse {
            result: ResultCode::Error as i32,
            job_id: r.job_id.clone(),
            proof: Vec::new(),
            error_message: String::new(),
        };
        let Some(mut state) = self.jobs().states.get(&r.job_id).map(|s| s.subscribe()) else {
            response.error_message = format!("unknown job {:?}", r.job_id);
            return response;
        };
        let timeout = Duration::from_millis(r.timeout_ms);
        let waited =
            tokio::time::timeout(timeout, state.wait_for(|s| !matches!(s, JobState::Running)))
                .await
                .ok()
                .and_then(|r| r.ok())
                .map(|s| s.clone());
        // On a timeout, or a job forgotten meanwhile, what is there now.
        let current = waited.unwrap_or_else(|| state.borrow().clone());
        let result = match current {
            JobState::Running => ResultCode::Pending,
            JobState::Done(bytes) => {
                let mut proof = bytes.as_ref().clone();
                if self.config.corrupt_proofs {
                    corrupt(&mut proof);
                }
                response.proof = proof;
                ResultCode::Ok
            }
            JobState::Failed(e) => {
                response.error_message = e;
                ResultCode::Error
            }
            JobState::Cancelled => ResultCode::Cancelled,
        };
        response.result = result as i32;
        response
    }

    fn cancel(&self, job_id: &str) -> (ResultCode, String) {
        let jobs = self.jobs();
        let Some(state) = jobs.states.get(job_id) else {
            return (ResultCode::Error, format!("unknown job {job_id:?}"));
        };
        state.send_replace(JobState::Cancelled);
        tracing::info!("job {job_id}: cancelled by the aggregator");
        (ResultCode::Ok, String::new())
    }
}

fn no_recursion() -> (ResultCode, String, String) {
    (
        ResultCode::Error,
        String::new(),
        "this prover does not aggregate".into(),
    )
}

/// Flips one byte in the middle of a proof (`--corrupt-proofs`).
pub fn corrupt(proof: &mut [u8]) {
    if !proof.is_empty() {
        let i = proof.len() / 2;
        proof[i] ^= 0x01;
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn status_text(s: &tonic::Status) -> String {
    if s.message().is_empty() {
        format!("{:?}", s.code())
    } else {
        format!("{:?}: {}", s.code(), s.message())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
