//! The aggregator's side of the prover protocol: the gRPC server provers dial into, the
//! registry of connected provers, and a handle per prover to send it requests.
//!
//! Each `zkprover serve` opens one `Channel` stream and sends a Hello. The server checks the
//! Hello (a prover of another protocol version is refused with FAILED_PRECONDITION and a message
//! naming both versions; a second session under a prover id already connected is refused with
//! ALREADY_EXISTS), registers a [`ProverHandle`] and announces it as
//! [`ProverEvent::Connected`]. When the stream ends (the prover closed it, its process died, the
//! connection failed keep-alive), every call in flight on the handle fails at once with
//! [`ProverError::Disconnected`], the prover leaves the registry and
//! [`ProverEvent::Disconnected`] is announced.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use zknode_aggregator::provers::{GetProofOutcome, ProverServer, Registry};
//! let server = ProverServer::bind("127.0.0.1:50081".parse()?, Registry::new()).await?;
//! let prover = server.registry().wait_for_any(Duration::from_secs(60)).await.unwrap();
//! let job = prover.gen_batch_proof(&zknode_witness::random_witness(8, 1)).await?;
//! match prover.get_proof(&job, Duration::from_secs(600)).await? {
//!     GetProofOutcome::Ok(proof) => println!("{} bytes", proof.len()),
//!     other => println!("{other:?}"),
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};
use zknode_proto::pb::aggregator_message::Request as Req;
use zknode_proto::pb::aggregator_service_server::{AggregatorService, AggregatorServiceServer};
use zknode_proto::pb::prover_message::Response as Resp;
use zknode_proto::pb::{self, ResultCode};
use zknode_proto::{version_mismatch_message, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};
use zknode_witness::BatchWitness;

/// Why a call to a prover failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProverError {
    /// The prover's stream ended before it answered (or before the call was sent).
    #[error("prover {prover_id} disconnected: {reason}")]
    Disconnected { prover_id: String, reason: String },
    /// No answer within the call's timeout; the prover is still connected.
    #[error("prover {prover_id} did not answer {request} within {after:.1?}")]
    Timeout {
        prover_id: String,
        request: &'static str,
        after: Duration,
    },
    /// The prover answered with ERROR or INTERNAL_ERROR (a bad witness, busy, no recursion…),
    /// or could not understand the request.
    #[error("prover {prover_id} refused {request} ({result}): {message}")]
    Refused {
        prover_id: String,
        request: &'static str,
        result: ResultCode,
        message: String,
    },
    /// The prover answered with another kind of response.
    #[error("prover {prover_id} answered {request} with {got}")]
    UnexpectedResponse {
        prover_id: String,
        request: &'static str,
        got: String,
    },
}

impl ProverError {
    /// Whether the prover refused a job because it is running another.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Refused { message, .. } if message.starts_with("busy"))
    }

    /// Whether the prover is gone (the job it had is lost).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected { .. })
    }
}

/// What GetProof found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetProofOutcome {
    /// The proof's bytes (not verified: that is the caller's job).
    Ok(Vec<u8>),
    /// Still running when the wait ended.
    Pending,
    /// The job failed, or the prover does not know it.
    Error(String),
    Cancelled,
}

/// The kind of a prover's compute device: the kernels' own, converted from the wire here.
pub use zknode_kernels::DeviceKind;

/// A prover's device, as its status reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// `None`: a kind this build does not know.
    pub kind: Option<DeviceKind>,
    pub name: String,
    pub memory_bytes: u64,
}

/// A prover's answer to GetStatus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProverStatus {
    pub prover_id: String,
    pub prover_name: String,
    /// The prover's software version.
    pub version: String,
    pub device: Option<Device>,
    pub idle: bool,
    pub current_job_id: Option<String>,
    pub can_aggregate: bool,
}

impl From<pb::GetStatusResponse> for ProverStatus {
    fn from(s: pb::GetStatusResponse) -> Self {
        Self {
            prover_id: s.prover_id,
            prover_name: s.prover_name,
            version: s.version,
            device: s.device.map(|d| Device {
                kind: match pb::DeviceKind::try_from(d.kind) {
                    Ok(pb::DeviceKind::Cpu) => Some(DeviceKind::Cpu),
                    Ok(pb::DeviceKind::Cuda) => Some(DeviceKind::Cuda),
                    _ => None,
                },
                name: d.name,
                memory_bytes: d.memory_bytes,
            }),
            idle: s.idle,
            current_job_id: (!s.current_job_id.is_empty()).then_some(s.current_job_id),
            can_aggregate: s.can_aggregate,
        }
    }
}

/// A prover joining or leaving the registry.
#[derive(Clone, Debug)]
pub enum ProverEvent {
    Connected {
        prover_id: String,
        session: u64,
    },
    Disconnected {
        prover_id: String,
        session: u64,
        reason: String,
    },
}

/// Timeouts of the prover protocol.
#[derive(Clone, Debug)]
pub struct ProtocolConfig {
    /// How long a call waits for its answer (GetProof waits its own timeout on top).
    pub request_timeout: Duration,
    /// How long a new stream may take to send its Hello.
    pub hello_timeout: Duration,
    /// HTTP/2 keep-alive pings on idle connections, to notice a prover that vanished without
    /// closing its connection.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            hello_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// The connected provers. Cheap to clone; every clone is the same registry.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    config: ProtocolConfig,
    provers: Mutex<HashMap<String, ProverHandle>>,
    events: broadcast::Sender<ProverEvent>,
    /// The ids of the connected provers, sorted.
    connected: watch::Sender<Vec<String>>,
    next_session: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::with_config(ProtocolConfig::default())
    }

    pub fn with_config(config: ProtocolConfig) -> Self {
        Self {
            inner: Arc::new(RegistryInner {
                config,
                provers: Mutex::new(HashMap::new()),
                events: broadcast::channel(256).0,
                connected: watch::channel(Vec::new()).0,
                next_session: AtomicU64::new(1),
            }),
        }
    }

    pub fn config(&self) -> &ProtocolConfig {
        &self.inner.config
    }

    fn provers_map(&self) -> MutexGuard<'_, HashMap<String, ProverHandle>> {
        self.inner.provers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connection and disconnection events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ProverEvent> {
        self.inner.events.subscribe()
    }

    /// The ids of the connected provers (sorted), updated on every change.
    pub fn watch_connected(&self) -> watch::Receiver<Vec<String>> {
        self.inner.connected.subscribe()
    }

    /// The connected provers, by id.
    pub fn provers(&self) -> Vec<ProverHandle> {
        let mut v: Vec<_> = self
            .provers_map()
            .values()
            .filter(|h| h.inner.announced.load(Ordering::Relaxed))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.prover_id().cmp(b.prover_id()));
        v
    }

    /// The connected provers not known to be running a job (see [`ProverHandle::is_idle`]).
    pub fn idle_provers(&self) -> Vec<ProverHandle> {
        self.provers().into_iter().filter(|p| p.is_idle()).collect()
    }

    pub fn get(&self, prover_id: &str) -> Option<ProverHandle> {
        self.provers_map()
            .get(prover_id)
            .filter(|h| h.inner.announced.load(Ordering::Relaxed))
            .cloned()
    }

    /// Waits until prover `prover_id` is connected, up to `timeout`.
    pub async fn wait_for(&self, prover_id: &str, timeout: Duration) -> Option<ProverHandle> {
        let mut rx = self.watch_connected();
        let found = tokio::time::timeout(
            timeout,
            rx.wait_for(|ids| ids.iter().any(|i| i == prover_id)),
        )
        .await;
        drop(found);
        self.get(prover_id)
    }

    /// Waits until some prover is connected, up to `timeout`, and returns the first by id.
    pub async fn wait_for_any(&self, timeout: Duration) -> Option<ProverHandle> {
        let mut rx = self.watch_connected();
        let found = tokio::time::timeout(timeout, rx.wait_for(|ids| !ids.is_empty())).await;
        drop(found);
        self.provers().into_iter().next()
    }

    /// Ends every prover's session (their calls fail with [`ProverError::Disconnected`]); the
    /// provers will reconnect.
    pub fn disconnect_all(&self, reason: &str) {
        for p in self.provers() {
            p.close(reason);
        }
    }

    /// The tonic service to add to a server.
    pub fn service(&self) -> AggregatorServiceServer<ProverService> {
        AggregatorServiceServer::new(ProverService {
            registry: self.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    fn publish_connected(&self, map: &HashMap<String, ProverHandle>) {
        let mut ids: Vec<String> = map
            .values()
            .filter(|h| h.inner.announced.load(Ordering::Relaxed))
            .map(|h| h.prover_id().to_string())
            .collect();
        ids.sort();
        self.inner.connected.send_replace(ids);
    }

    fn insert(&self, handle: &ProverHandle) -> Result<(), Status> {
        let mut map = self.provers_map();
        if let Some(old) = map.get(handle.prover_id()) {
            return Err(Status::already_exists(format!(
                "prover id {} is already connected (session {}{}); a second prover needs another id",
                old.prover_id(),
                old.session(),
                old.remote_addr()
                    .map(|a| format!(" from {a}"))
                    .unwrap_or_default()
            )));
        }
        map.insert(handle.prover_id().to_string(), handle.clone());
        Ok(())
    }

    /// Makes a registered prover visible ([`Registry::provers`], [`Registry::watch_connected`])
    /// and announces it, unless its session has already ended.
    fn announce(&self, handle: &ProverHandle) {
        let map = self.provers_map();
        if map
            .get(handle.prover_id())
            .is_none_or(|h| h.session() != handle.session())
        {
            return;
        }
        handle.inner.announced.store(true, Ordering::Relaxed);
        self.publish_connected(&map);
        // Sent under the lock, so a Disconnected of the same session cannot come first.
        let _ = self.inner.events.send(ProverEvent::Connected {
            prover_id: handle.prover_id().to_string(),
            session: handle.session(),
        });
        drop(map);
    }

    fn remove(&self, handle: &ProverHandle, reason: String) {
        let mut map = self.provers_map();
        if map
            .get(handle.prover_id())
            .is_some_and(|h| h.session() == handle.session())
        {
            map.remove(handle.prover_id());
            self.publish_connected(&map);
        }
        if handle.inner.announced.load(Ordering::Relaxed) {
            let _ = self.inner.events.send(ProverEvent::Disconnected {
                prover_id: handle.prover_id().to_string(),
                session: handle.session(),
                reason,
            });
        }
        drop(map);
    }
}

/// A connected prover's session: send it requests and await their answers.
///
/// Cheap to clone. Calls may overlap; each gets its own request id and its answer is matched by
/// id. When the session ends every call in flight fails with [`ProverError::Disconnected`], and
/// so does every later call on this handle (a prover that reconnects gets a new handle).
#[derive(Clone)]
pub struct ProverHandle {
    inner: Arc<HandleInner>,
}

type Outbound = mpsc::Sender<Result<pb::AggregatorMessage, Status>>;

struct HandleInner {
    hello: pb::Hello,
    session: u64,
    remote: Option<SocketAddr>,
    connected_at: Instant,
    request_timeout: Duration,
    next_id: AtomicU64,
    outbound: Mutex<Option<Outbound>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Resp>>>,
    /// `Some(reason)` once the session has ended.
    closed: watch::Sender<Option<String>>,
    /// The job this prover is known to be running: set when it accepts one, cleared when a
    /// GetProof finds it finished or it is cancelled, and refreshed by every status.
    job: Mutex<Option<String>>,
    last_status: Mutex<Option<ProverStatus>>,
    /// Set once the first status is in and the prover is visible in the registry.
    announced: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for ProverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProverHandle")
            .field("prover_id", &self.prover_id())
            .field("session", &self.session())
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl ProverHandle {
    fn new(
        hello: pb::Hello,
        session: u64,
        remote: Option<SocketAddr>,
        request_timeout: Duration,
        outbound: Outbound,
    ) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                hello,
                session,
                remote,
                connected_at: Instant::now(),
                request_timeout,
                next_id: AtomicU64::new(1),
                outbound: Mutex::new(Some(outbound)),
                pending: Mutex::new(HashMap::new()),
                closed: watch::channel(None).0,
                job: Mutex::new(None),
                last_status: Mutex::new(None),
                announced: AtomicBool::new(false),
            }),
        }
    }

    /// The id the prover gave in its Hello.
    pub fn prover_id(&self) -> &str {
        &self.inner.hello.prover_id
    }

    pub fn prover_name(&self) -> &str {
        &self.inner.hello.prover_name
    }

    /// The prover's software version, from its Hello.
    pub fn version(&self) -> &str {
        &self.inner.hello.version
    }

    /// This session's number, unique in the registry's lifetime.
    pub fn session(&self) -> u64 {
        self.inner.session
    }

    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote
    }

    pub fn connected_at(&self) -> Instant {
        self.inner.connected_at
    }

    pub fn is_connected(&self) -> bool {
        self.inner.closed.borrow().is_none()
    }

    /// Connected and not known to be running a job. Set by [`ProverHandle::status`], cleared
    /// when a job is accepted, set again when [`ProverHandle::get_proof`] finds the job finished
    /// or [`ProverHandle::cancel`] cancels it.
    pub fn is_idle(&self) -> bool {
        self.is_connected() && lock(&self.inner.job).is_none()
    }

    /// The job this prover is known to be running.
    pub fn current_job(&self) -> Option<String> {
        lock(&self.inner.job).clone()
    }

    /// The last status the prover reported.
    pub fn last_status(&self) -> Option<ProverStatus> {
        lock(&self.inner.last_status).clone()
    }

    /// Resolves with the reason once the session has ended.
    #[allow(clippy::let_and_return)] // the watch guard must drop before `rx`
    pub async fn closed(&self) -> String {
        let mut rx = self.inner.closed.subscribe();
        let reason = match rx.wait_for(|c| c.is_some()).await {
            Ok(r) => r.clone().unwrap_or_default(),
            Err(_) => "the session is gone".into(),
        };
        reason
    }

    fn disconnected(&self) -> ProverError {
        ProverError::Disconnected {
            prover_id: self.prover_id().to_string(),
            reason: self
                .inner
                .closed
                .borrow()
                .clone()
                .unwrap_or_else(|| "the stream ended".into()),
        }
    }

    /// Ends the session: the outgoing stream closes and every call in flight fails with
    /// [`ProverError::Disconnected`].
    pub fn close(&self, reason: &str) {
        let first = self.inner.closed.send_if_modified(|c| {
            if c.is_none() {
                *c = Some(reason.to_string());
                true
            } else {
                false
            }
        });
        if first {
            tracing::info!(
                "prover {} (session {}) disconnected: {reason}",
                self.prover_id(),
                self.session()
            );
        }
        lock(&self.inner.outbound).take();
        // Dropping the answer channels wakes every waiting call.
        lock(&self.inner.pending).clear();
    }

    fn deliver(&self, msg: pb::ProverMessage) {
        let Some(response) = msg.response else {
            tracing::warn!(
                "prover {}: message {} without a response, ignored",
                self.prover_id(),
                msg.id
            );
            return;
        };
        if let Resp::Hello(_) = response {
            tracing::warn!(
                "prover {}: a second Hello on the same stream, ignored",
                self.prover_id()
            );
            return;
        }
        match lock(&self.inner.pending).remove(&msg.id) {
            Some(tx) => {
                let _ = tx.send(response);
            }
            None => tracing::warn!(
                "prover {}: answer {} to request {}, which is no longer waited for (timed out?)",
                self.prover_id(),
                response.name(),
                msg.id
            ),
        }
    }

    /// Sends `request` and waits for its answer, up to the registry's request timeout.
    pub async fn call(&self, request: Req) -> Result<Resp, ProverError> {
        self.call_with_timeout(request, self.inner.request_timeout)
            .await
    }

    /// Sends `request` and waits for its answer, up to `timeout`.
    pub async fn call_with_timeout(
        &self,
        request: Req,
        timeout: Duration,
    ) -> Result<Resp, ProverError> {
        let name = request.name();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        // Registered before sending, so an answer cannot outrun it; removed by the guard
        // whatever happens to this call.
        lock(&self.inner.pending).insert(id, tx);
        struct Forget<'a>(&'a HandleInner, u64);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                lock(&self.0.pending).remove(&self.1);
            }
        }
        let _forget = Forget(&self.inner, id);
        if !self.is_connected() {
            return Err(self.disconnected());
        }
        let Some(outbound) = lock(&self.inner.outbound).clone() else {
            return Err(self.disconnected());
        };
        let msg = pb::AggregatorMessage {
            id,
            protocol_version: PROTOCOL_VERSION,
            request: Some(request),
        };
        let sent = tokio::time::timeout(timeout, outbound.send(Ok(msg))).await;
        drop(outbound);
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(self.disconnected()),
            Err(_) => {
                return Err(ProverError::Timeout {
                    prover_id: self.prover_id().to_string(),
                    request: name,
                    after: timeout,
                })
            }
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Resp::RequestError(e))) => Err(ProverError::Refused {
                prover_id: self.prover_id().to_string(),
                request: name,
                result: ResultCode::Error,
                message: e.error_message,
            }),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(self.disconnected()),
            Err(_) => Err(ProverError::Timeout {
                prover_id: self.prover_id().to_string(),
                request: name,
                after: timeout,
            }),
        }
    }

    fn unexpected(&self, request: &'static str, got: &Resp) -> ProverError {
        ProverError::UnexpectedResponse {
            prover_id: self.prover_id().to_string(),
            request,
            got: got.name().to_string(),
        }
    }

    fn refused(&self, request: &'static str, result: i32, message: String) -> ProverError {
        ProverError::Refused {
            prover_id: self.prover_id().to_string(),
            request,
            result: ResultCode::try_from(result).unwrap_or(ResultCode::Unspecified),
            message,
        }
    }

    /// Asks for the prover's status and refreshes what [`ProverHandle::is_idle`] knows.
    pub async fn status(&self) -> Result<ProverStatus, ProverError> {
        match self.call(Req::GetStatus(pb::GetStatusRequest {})).await? {
            Resp::GetStatus(s) => {
                let status = ProverStatus::from(s);
                *lock(&self.inner.job) = if status.idle {
                    None
                } else {
                    Some(status.current_job_id.clone().unwrap_or_default())
                };
                *lock(&self.inner.last_status) = Some(status.clone());
                Ok(status)
            }
            other => Err(self.unexpected("GetStatus", &other)),
        }
    }

    /// A job's id from a Gen* answer; the prover is busy with it from now on.
    fn started(
        &self,
        request: &'static str,
        result: i32,
        job_id: String,
        error: String,
    ) -> Result<String, ProverError> {
        if result == ResultCode::Ok as i32 {
            *lock(&self.inner.job) = Some(job_id.clone());
            Ok(job_id)
        } else {
            Err(self.refused(request, result, error))
        }
    }

    /// Sends a batch witness to prove; returns the job id.
    pub async fn gen_batch_proof(&self, witness: &BatchWitness) -> Result<String, ProverError> {
        let request = Req::GenBatchProof(pb::GenBatchProofRequest {
            witness: Some(witness.into()),
        });
        match self.call(request).await? {
            Resp::GenBatchProof(r) => {
                self.started("GenBatchProof", r.result, r.job_id, r.error_message)
            }
            other => Err(self.unexpected("GenBatchProof", &other)),
        }
    }

    /// Asks the prover to aggregate two adjacent proofs; returns the job id.
    pub async fn gen_aggregated_proof(
        &self,
        left: &[u8],
        right: &[u8],
    ) -> Result<String, ProverError> {
        let request = Req::GenAggregatedProof(pb::GenAggregatedProofRequest {
            left: left.to_vec(),
            right: right.to_vec(),
        });
        match self.call(request).await? {
            Resp::GenAggregatedProof(r) => {
                self.started("GenAggregatedProof", r.result, r.job_id, r.error_message)
            }
            other => Err(self.unexpected("GenAggregatedProof", &other)),
        }
    }

    /// Asks the prover for the final proof of an aggregated proof; returns the job id.
    pub async fn gen_final_proof(
        &self,
        proof: &[u8],
        aggregator_address: [u8; 20],
    ) -> Result<String, ProverError> {
        let request = Req::GenFinalProof(pb::GenFinalProofRequest {
            proof: proof.to_vec(),
            aggregator_address: aggregator_address.to_vec(),
        });
        match self.call(request).await? {
            Resp::GenFinalProof(r) => {
                self.started("GenFinalProof", r.result, r.job_id, r.error_message)
            }
            other => Err(self.unexpected("GenFinalProof", &other)),
        }
    }

    /// Waits up to `wait` for job `job_id` to finish. The call's own timeout is `wait` plus the
    /// request timeout.
    pub async fn get_proof(
        &self,
        job_id: &str,
        wait: Duration,
    ) -> Result<GetProofOutcome, ProverError> {
        let request = Req::GetProof(pb::GetProofRequest {
            job_id: job_id.to_string(),
            timeout_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        });
        let response = self
            .call_with_timeout(request, wait.saturating_add(self.inner.request_timeout))
            .await?;
        let Resp::GetProof(r) = response else {
            return Err(self.unexpected("GetProof", &response));
        };
        let outcome = match ResultCode::try_from(r.result) {
            Ok(ResultCode::Ok) => GetProofOutcome::Ok(r.proof),
            Ok(ResultCode::Pending) => GetProofOutcome::Pending,
            Ok(ResultCode::Cancelled) => GetProofOutcome::Cancelled,
            Ok(ResultCode::Error) | Ok(ResultCode::InternalError) => {
                GetProofOutcome::Error(r.error_message)
            }
            _ => GetProofOutcome::Error(format!(
                "result code {} with message {:?}",
                r.result, r.error_message
            )),
        };
        if outcome != GetProofOutcome::Pending {
            self.job_finished(job_id);
        }
        Ok(outcome)
    }

    /// Cancels job `job_id`; the prover discards its result.
    pub async fn cancel(&self, job_id: &str) -> Result<(), ProverError> {
        let request = Req::Cancel(pb::CancelRequest {
            job_id: job_id.to_string(),
        });
        match self.call(request).await? {
            Resp::Cancel(r) if r.result == ResultCode::Ok as i32 => {
                self.job_finished(job_id);
                Ok(())
            }
            Resp::Cancel(r) => Err(self.refused("Cancel", r.result, r.error_message)),
            other => Err(self.unexpected("Cancel", &other)),
        }
    }

    fn job_finished(&self, job_id: &str) {
        let mut job = lock(&self.inner.job);
        if job.as_deref() == Some(job_id) {
            *job = None;
        }
    }
}

/// The tonic service: one [`ProverHandle`] per `Channel` stream.
pub struct ProverService {
    registry: Registry,
}

#[tonic::async_trait]
impl AggregatorService for ProverService {
    type ChannelStream = ReceiverStream<Result<pb::AggregatorMessage, Status>>;

    async fn channel(
        &self,
        request: Request<Streaming<pb::ProverMessage>>,
    ) -> Result<Response<Self::ChannelStream>, Status> {
        let remote = request.remote_addr();
        let mut inbound = request.into_inner();
        let config = &self.registry.inner.config;
        let first = match tokio::time::timeout(config.hello_timeout, inbound.message()).await {
            Err(_) => {
                return Err(Status::deadline_exceeded(format!(
                    "no Hello within {:?}",
                    config.hello_timeout
                )))
            }
            Ok(Err(status)) => return Err(status),
            Ok(Ok(None)) => {
                return Err(Status::cancelled(
                    "the stream ended before the prover's Hello",
                ))
            }
            Ok(Ok(Some(m))) => m,
        };
        let hello = match first.response {
            Some(Resp::Hello(h)) => h,
            other => {
                return Err(Status::invalid_argument(format!(
                    "the first message of a prover must be a Hello, not {}",
                    other.as_ref().map_or("an empty message", |r| r.name())
                )))
            }
        };
        if hello.protocol_version != PROTOCOL_VERSION || first.protocol_version != PROTOCOL_VERSION
        {
            let theirs = if hello.protocol_version != PROTOCOL_VERSION {
                hello.protocol_version
            } else {
                first.protocol_version
            };
            tracing::warn!(
                "refused prover {:?}{}: {}",
                hello.prover_id,
                remote.map(|a| format!(" at {a}")).unwrap_or_default(),
                version_mismatch_message(theirs, PROTOCOL_VERSION)
            );
            return Err(Status::new(
                zknode_proto::VERSION_MISMATCH_CODE,
                version_mismatch_message(theirs, PROTOCOL_VERSION),
            ));
        }
        if hello.prover_id.is_empty() {
            return Err(Status::invalid_argument("the Hello has an empty prover_id"));
        }
        let (tx, rx) = mpsc::channel(64);
        let session = self
            .registry
            .inner
            .next_session
            .fetch_add(1, Ordering::Relaxed);
        let handle = ProverHandle::new(hello, session, remote, config.request_timeout, tx);
        self.registry.insert(&handle)?;
        tracing::info!(
            "prover {} ({}, version {}) connected{} as session {session}",
            handle.prover_id(),
            handle.prover_name(),
            handle.version(),
            remote.map(|a| format!(" from {a}")).unwrap_or_default(),
        );
        let admit = handle.clone();
        let registry = self.registry.clone();
        tokio::spawn(async move {
            let mut closed = handle.inner.closed.subscribe();
            let reason = loop {
                tokio::select! {
                    m = inbound.message() => match m {
                        Ok(Some(msg)) => handle.deliver(msg),
                        Ok(None) => break "the prover closed its stream".to_string(),
                        Err(status) => break format!("the stream failed: {}", status.message()),
                    },
                    _ = closed.wait_for(|c| c.is_some()) => {
                        break handle.inner.closed.borrow().clone().unwrap_or_default();
                    }
                }
            };
            handle.close(&reason);
            registry.remove(&handle, reason);
        });
        // The prover becomes visible once its first status is in, so that a scheduler that
        // learns of it knows whether it is idle (it may still run a job from before a
        // reconnection) and what device it has.
        let registry = self.registry.clone();
        tokio::spawn(async move {
            if let Err(e) = admit.status().await {
                tracing::warn!("prover {}: no first status: {e}", admit.prover_id());
            }
            registry.announce(&admit);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The prover server, running on a tokio task.
pub struct ProverServer {
    local_addr: SocketAddr,
    registry: Registry,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ProverServer {
    /// Binds `addr` (port 0 picks a free port) and serves provers into `registry`.
    pub async fn bind(addr: SocketAddr, registry: Registry) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::start(listener, registry))
    }

    /// Serves provers on `listener` into `registry`.
    pub fn start(listener: TcpListener, registry: Registry) -> Self {
        let local_addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, registry.clone(), async move {
            let _ = signal.await;
        }));
        tracing::info!("prover server listening on {local_addr}");
        Self {
            local_addr,
            registry,
            shutdown: Some(shutdown),
            task,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://address`, for `zkprover serve --aggregator`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Stops accepting connections, ends every prover's session and waits (up to 5 s) for the
    /// connections to close.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        self.registry
            .disconnect_all("the aggregator is shutting down");
        match tokio::time::timeout(Duration::from_secs(5), &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("the prover server stopped with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("the prover server task failed: {e}"),
            Err(_) => {
                tracing::warn!("the prover server did not stop within 5 s; aborting it");
                self.task.abort();
            }
        }
    }
}

/// Serves provers on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let config = registry.config().clone();
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout))
        .add_service(registry.service())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}
