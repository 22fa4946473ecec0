//! One prover's session: [`ProverHandle`] sends requests down the prover's stream and matches
//! the answers coming back to them by request id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;
use zknode_proto::pb::aggregator_message::Request as Req;
use zknode_proto::pb::prover_message::Response as Resp;
use zknode_proto::pb::{self, ResultCode};
use zknode_proto::PROTOCOL_VERSION;

use super::{lock, ProverError, ProverStatus};

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
    pub(super) fn new(
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

    /// Whether the prover is visible in the registry (its first status is in).
    pub(super) fn is_announced(&self) -> bool {
        self.inner.announced.load(Ordering::Relaxed)
    }

    pub(super) fn set_announced(&self) {
        self.inner.announced.store(true, Ordering::Relaxed);
    }

    /// How long a call waits for its answer.
    pub(super) fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Records a status: the job it names (none when idle) is what the prover runs.
    pub(super) fn record_status(&self, status: &ProverStatus) {
        *lock(&self.inner.job) = if status.idle {
            None
        } else {
            Some(status.current_job_id.clone().unwrap_or_default())
        };
        *lock(&self.inner.last_status) = Some(status.clone());
    }

    /// The prover accepted job `job_id`: it is busy with it from now on.
    pub(super) fn job_started(&self, job_id: &str) {
        *lock(&self.inner.job) = Some(job_id.to_string());
    }

    /// Job `job_id` ended (finished, failed or cancelled); the prover is idle unless it has
    /// another job since.
    pub(super) fn job_finished(&self, job_id: &str) {
        let mut job = lock(&self.inner.job);
        if job.as_deref() == Some(job_id) {
            *job = None;
        }
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

    /// Hands an answer from the prover's stream to the call waiting for it.
    pub(super) fn deliver(&self, msg: pb::ProverMessage) {
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

    pub(super) fn unexpected(&self, request: &'static str, got: &Resp) -> ProverError {
        ProverError::UnexpectedResponse {
            prover_id: self.prover_id().to_string(),
            request,
            got: got.name().to_string(),
        }
    }

    pub(super) fn refused(
        &self,
        request: &'static str,
        result: i32,
        message: String,
    ) -> ProverError {
        ProverError::Refused {
            prover_id: self.prover_id().to_string(),
            request,
            result: ResultCode::try_from(result).unwrap_or(ResultCode::Unspecified),
            message,
        }
    }
}
