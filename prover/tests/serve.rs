//! `zkprover serve` as a real child process, against a small aggregator stand-in written
//! directly on the generated protocol (the aggregator's own server is tested with this worker
//! in `aggregator/tests/provers.rs`).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};
use zknode_proto::pb::aggregator_message::Request as Req;
use zknode_proto::pb::aggregator_service_server::{AggregatorService, AggregatorServiceServer};
use zknode_proto::pb::prover_message::Response as Resp;
use zknode_proto::pb::{self, ResultCode};
use zknode_proto::PROTOCOL_VERSION;
use zknode_prover::batch::BatchProof;
use zknode_witness::random_witness;

/// One prover's stream, as the stand-in sees it.
struct Session {
    hello: pb::Hello,
    tx: mpsc::Sender<Result<pb::AggregatorMessage, Status>>,
    inbound: Streaming<pb::ProverMessage>,
    next_id: u64,
}

impl Session {
    /// Sends a request and reads messages until its answer.
    async fn call(&mut self, request: Req) -> Resp {
        self.next_id += 1;
        let id = self.next_id;
        self.tx
            .send(Ok(pb::AggregatorMessage {
                id,
                protocol_version: PROTOCOL_VERSION,
                request: Some(request),
            }))
            .await
            .expect("the stream is open");
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(300), self.inbound.message())
                .await
                .expect("an answer within 300 s")
                .expect("the stream works")
                .expect("the stream is open");
            if msg.id == id {
                assert_eq!(msg.protocol_version, PROTOCOL_VERSION);
                return msg.response.expect("a response");
            }
        }
    }

    async fn status(&mut self) -> pb::GetStatusResponse {
        match self.call(Req::GetStatus(pb::GetStatusRequest {})).await {
            Resp::GetStatus(s) => s,
            other => panic!("GetStatus answered with {}", other.name()),
        }
    }

    async fn gen_batch_proof(
        &mut self,
        w: &zknode_witness::BatchWitness,
    ) -> pb::GenBatchProofResponse {
        let r = Req::GenBatchProof(pb::GenBatchProofRequest {
            witness: Some(w.into()),
        });
        match self.call(r).await {
            Resp::GenBatchProof(r) => r,
            other => panic!("GenBatchProof answered with {}", other.name()),
        }
    }

    async fn get_proof(&mut self, job_id: &str, timeout_ms: u64) -> pb::GetProofResponse {
        let r = Req::GetProof(pb::GetProofRequest {
            job_id: job_id.into(),
            timeout_ms,
        });
        match self.call(r).await {
            Resp::GetProof(r) => r,
            other => panic!("GetProof answered with {}", other.name()),
        }
    }
}

/// The stand-in aggregator: hands each accepted session to the test, or refuses every prover
/// with `refuse`.
struct StandIn {
    sessions: mpsc::UnboundedSender<Session>,
    refuse: Option<Status>,
}

#[tonic::async_trait]
impl AggregatorService for StandIn {
    type ChannelStream = ReceiverStream<Result<pb::AggregatorMessage, Status>>;

    async fn channel(
        &self,
        request: Request<Streaming<pb::ProverMessage>>,
    ) -> Result<Response<Self::ChannelStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound.message().await?.expect("a first message");
        let Some(Resp::Hello(hello)) = first.response else {
            panic!("the first message is not a Hello");
        };
        if let Some(status) = &self.refuse {
            return Err(status.clone());
        }
        let (tx, rx) = mpsc::channel(16);
        let _ = self.sessions.send(Session {
            hello,
            tx,
            inbound,
            next_id: 0,
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

struct Server {
    addr: SocketAddr,
    sessions: mpsc::UnboundedReceiver<Session>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(addr: SocketAddr, refuse: Option<Status>) -> Server {
        let listener = bind_retrying(addr).await;
        let addr = listener.local_addr().unwrap();
        let (sessions_tx, sessions) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = AggregatorServiceServer::new(StandIn {
            sessions: sessions_tx,
            refuse,
        })
        .max_decoding_message_size(zknode_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(zknode_proto::MAX_MESSAGE_BYTES);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await;
        });
        Server {
            addr,
            sessions,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn accept(&mut self) -> Session {
        tokio::time::timeout(Duration::from_secs(60), self.sessions.recv())
            .await
            .expect("a prover connects within 60 s")
            .expect("the server runs")
    }

    /// Stops listening; the caller drops its sessions, which ends their streams.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

async fn bind_retrying(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {addr}");
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A `zkprover serve` child, killed when dropped.
struct Prover(Child);

impl Prover {
    fn spawn(url: &str, extra: &[&str]) -> Prover {
        Self::spawn_with(url, extra, Stdio::null())
    }

    fn spawn_with(url: &str, extra: &[&str], stderr: Stdio) -> Prover {
        let child = Command::new(env!("CARGO_BIN_EXE_zkprover"))
            .args(["serve", "--aggregator", url, "--device", "cpu"])
            .args(extra)
            .env_remove("ZKNODE_DEVICE")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start zkprover serve");
        Prover(child)
    }
}

impl Drop for Prover {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reports_its_device_and_proves_a_batch() {
    let mut server = Server::start(any_port(), None).await;
    let _prover = Prover::spawn(
        &server.url(),
        &["--prover-id", "p-serve", "--prover-name", "one"],
    );
    let mut s = server.accept().await;
    assert_eq!(s.hello.prover_id, "p-serve");
    assert_eq!(s.hello.prover_name, "one");
    assert_eq!(s.hello.protocol_version, PROTOCOL_VERSION);

    let st = s.status().await;
    assert_eq!(st.prover_id, "p-serve");
    let device = st.device.expect("a device");
    assert_eq!(device.kind, pb::DeviceKind::Cpu as i32);
    assert!(
        !device.name.is_empty() && device.memory_bytes > 0,
        "{device:?}"
    );
    assert!(st.idle && st.current_job_id.is_empty());
    assert!(!st.can_aggregate);
    assert_eq!(st.version, env!("CARGO_PKG_VERSION"));

    let w = random_witness(8, 1);
    let r = s.gen_batch_proof(&w).await;
    assert_eq!(r.result, ResultCode::Ok as i32, "{}", r.error_message);
    let st = s.status().await;
    assert!(!st.idle);
    assert_eq!(st.current_job_id, r.job_id);

    let p = s.get_proof(&r.job_id, 240_000).await;
    assert_eq!(p.result, ResultCode::Ok as i32, "{}", p.error_message);
    assert_eq!(p.job_id, r.job_id);
    let statement = BatchProof::from_bytes(&p.proof)
        .expect("a batch proof")
        .verify()
        .expect("the proof verifies");
    assert_eq!(statement.batch_number, w.chain.batch_number);
    assert!(s.status().await.idle);

    // Asked again, the finished job's proof is still there.
    let again = s.get_proof(&r.job_id, 0).await;
    assert_eq!(again.proof, p.proof);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_proofs_flag_is_hidden_and_corrupts_every_proof() {
    let help = Command::new(env!("CARGO_BIN_EXE_zkprover"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--aggregator") && text.contains("--prover-id"),
        "{text}"
    );
    assert!(!text.contains("corrupt"), "{text}");

    let mut server = Server::start(any_port(), None).await;
    let _prover = Prover::spawn(&server.url(), &["--corrupt-proofs"]);
    let mut s = server.accept().await;
    let r = s.gen_batch_proof(&random_witness(8, 2)).await;
    assert_eq!(r.result, ResultCode::Ok as i32, "{}", r.error_message);
    let p = s.get_proof(&r.job_id, 240_000).await;
    assert_eq!(p.result, ResultCode::Ok as i32, "{}", p.error_message);
    let verdict = BatchProof::from_bytes(&p.proof).and_then(|b| b.verify());
    assert!(verdict.is_err(), "a corrupted proof must not verify");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reconnects_after_the_aggregator_restarts() {
    let mut server = Server::start(any_port(), None).await;
    let addr = server.addr;
    let _prover = Prover::spawn(
        &server.url(),
        &["--prover-id", "p-reconnect", "--max-backoff-ms", "400"],
    );
    let mut s = server.accept().await;
    assert_eq!(s.status().await.prover_id, "p-reconnect");

    drop(s);
    server.stop().await;
    // The prover retries against a closed port for a while.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut server = Server::start(addr, None).await;
    let mut s = server.accept().await;
    assert_eq!(s.hello.prover_id, "p-reconnect");
    assert!(s.status().await.idle);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_protocol_version_stops_the_prover_with_the_reason() {
    let reason = zknode_proto::version_mismatch_message(PROTOCOL_VERSION, PROTOCOL_VERSION + 1);
    let server = Server::start(
        any_port(),
        Some(Status::new(
            zknode_proto::VERSION_MISMATCH_CODE,
            reason.clone(),
        )),
    )
    .await;
    let mut prover = Prover::spawn_with(&server.url(), &[], Stdio::piped());
    let child = &mut prover.0;
    let mut status = None;
    for _ in 0..600 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("the prover exits when refused");
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("refused this prover"), "{stderr}");
    assert!(stderr.contains(&reason), "{stderr}");
    server.stop().await;
}
