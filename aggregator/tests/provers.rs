//! The aggregator's prover server and handles, with real provers on loopback: the worker of
//! `zkprover serve` in-process, or in a child process (this test binary re-run as a prover) when
//! the test kills it.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use zknode_aggregator::farm::{
    DeviceKind, GetProofOutcome, ProtocolConfig, ProverError, ProverEvent, ProverHandle,
    ProverServer, Registry,
};
use zknode_kernels::{Backend, CpuBackend};
use zknode_proto::pb::aggregator_message::Request as Req;
use zknode_proto::pb::{self, ResultCode};
use zknode_proto::PROTOCOL_VERSION;
use zknode_prover::batch::BatchProof;
use zknode_prover::recursion::RecursionError;
use zknode_prover::worker::{self, FnRecursion, RecursionHandler, WorkerConfig};
use zknode_witness::random_witness;

const WAIT: Duration = Duration::from_secs(60);
/// Long enough for an 8-operation proof on a busy 2-core machine.
const PROVE: Duration = Duration::from_secs(300);

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn cpu() -> Arc<dyn Backend> {
    Arc::new(CpuBackend::new())
}

fn config(server: &ProverServer, id: &str) -> WorkerConfig {
    let mut c = WorkerConfig::new(server.url(), id, cpu());
    c.backoff_initial = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(500);
    c
}

/// A worker on this runtime, stopped when dropped.
struct InProcess {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<Result<(), worker::WorkerError>>,
}

impl InProcess {
    fn start(config: WorkerConfig) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(worker::run(config, async {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.abort();
    }
}

async fn server() -> ProverServer {
    ProverServer::bind(any_port(), Registry::new())
        .await
        .expect("bind a free port")
}

async fn connected(server: &ProverServer, id: &str) -> ProverHandle {
    server
        .registry()
        .wait_for(id, WAIT)
        .await
        .unwrap_or_else(|| panic!("prover {id} connects within {WAIT:?}"))
}

async fn wait_idle(p: &ProverHandle) {
    let t = Instant::now();
    while !p.status().await.expect("status").idle {
        assert!(
            t.elapsed() < PROVE,
            "the prover is still busy after {PROVE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_device_and_idle() {
    let server = server().await;
    let mut events = server.registry().subscribe();
    let _w = InProcess::start(config(&server, "p-status"));
    let p = connected(&server, "p-status").await;
    match tokio::time::timeout(WAIT, events.recv())
        .await
        .unwrap()
        .unwrap()
    {
        ProverEvent::Connected { prover_id, session } => {
            assert_eq!(prover_id, "p-status");
            assert_eq!(session, p.session());
        }
        other => panic!("{other:?}"),
    }
    assert!(p.is_connected() && p.is_idle());
    assert_eq!(p.version(), env!("CARGO_PKG_VERSION"));
    let st = p.status().await.expect("status");
    assert_eq!(st.prover_id, "p-status");
    let device = st.device.clone().expect("a device");
    assert_eq!(device.kind, Some(DeviceKind::Cpu));
    assert_eq!(device.memory_bytes, CpuBackend::new().info().memory_bytes);
    assert!(!device.name.is_empty());
    assert!(st.idle && st.current_job_id.is_none() && !st.can_aggregate);
    assert_eq!(p.last_status(), Some(st));
    assert_eq!(server.registry().idle_provers().len(), 1);
    assert_eq!(
        *server.registry().watch_connected().borrow(),
        vec!["p-status"]
    );

    // Overlapping calls are matched to their answers by id.
    let calls = (0..8).map(|_| {
        let p = p.clone();
        tokio::spawn(async move { p.status().await })
    });
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().prover_id, "p-status");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_proof_comes_back_and_verifies_and_a_second_job_is_refused_as_busy() {
    let server = server().await;
    let _w = InProcess::start(config(&server, "p-prove"));
    let p = connected(&server, "p-prove").await;
    let w = random_witness(8, 1);
    let job = p.gen_batch_proof(&w).await.expect("the job starts");
    assert!(!p.is_idle());
    assert_eq!(p.current_job(), Some(job.clone()));

    let busy = p
        .gen_batch_proof(&random_witness(8, 2))
        .await
        .expect_err("one job at a time");
    assert!(busy.is_busy(), "{busy}");
    assert!(
        matches!(
            &busy,
            ProverError::Refused {
                result: ResultCode::Busy,
                request: "GenBatchProof",
                ..
            }
        ),
        "{busy:?}"
    );
    assert!(busy.to_string().contains(&job), "{busy}");
    let st = p.status().await.unwrap();
    assert!(!st.idle);
    assert_eq!(st.current_job_id.as_deref(), Some(job.as_str()));

    let proof = match p.get_proof(&job, PROVE).await.expect("get_proof") {
        GetProofOutcome::Ok(b) => b,
        other => panic!("{other:?}"),
    };
    let statement = BatchProof::from_bytes(&proof)
        .expect("a batch proof")
        .verify()
        .expect("the proof verifies");
    let pi = w.public_inputs().unwrap();
    assert_eq!(statement.batch_number, w.chain.batch_number);
    assert_eq!(statement.old_root, pi.old_root);
    assert_eq!(statement.new_root, pi.new_root);
    assert!(p.is_idle());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_witness_is_refused_naming_the_operation() {
    let server = server().await;
    let _w = InProcess::start(config(&server, "p-bad"));
    let p = connected(&server, "p-bad").await;

    let mut w = random_witness(8, 3);
    w.ops[5].proof.siblings[0].0[0] = zknode_kernels::Goldilocks::from_canonical(7).unwrap();
    let e = p.gen_batch_proof(&w).await.expect_err("refused");
    match &e {
        ProverError::Refused {
            result, message, ..
        } => {
            assert_eq!(*result, ResultCode::Error);
            assert!(message.contains("operation 5"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(p.is_idle());

    // A malformed message: the error names the field.
    let mut msg = pb::BatchWitness::from(&random_witness(8, 3));
    msg.ops[2].siblings[1].truncate(31);
    let r = p
        .call(Req::GenBatchProof(pb::GenBatchProofRequest {
            witness: Some(msg),
        }))
        .await
        .unwrap();
    match r {
        pb::prover_message::Response::GenBatchProof(r) => {
            assert_eq!(r.result, ResultCode::Error as i32);
            assert!(
                r.error_message.contains("ops[2].siblings[1]"),
                "{}",
                r.error_message
            );
        }
        other => panic!("{}", other.name()),
    }
    // Unknown jobs.
    assert!(matches!(
        p.get_proof("no-such-job", Duration::ZERO).await.unwrap(),
        GetProofOutcome::Error(m) if m.contains("unknown job")
    ));
    assert!(p.cancel("no-such-job").await.is_err());
    // Nothing is running.
    assert!(p.status().await.unwrap().idle);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_reports_cancelled_and_its_result_is_discarded() {
    let server = server().await;
    let _w = InProcess::start(config(&server, "p-cancel"));
    let p = connected(&server, "p-cancel").await;
    let job = p.gen_batch_proof(&random_witness(8, 4)).await.unwrap();
    p.cancel(&job).await.expect("cancelled");
    assert!(p.is_idle(), "the handle counts a cancelled job as done");
    assert_eq!(
        p.get_proof(&job, Duration::ZERO).await.unwrap(),
        GetProofOutcome::Cancelled
    );
    // Once the computation has ended, the prover is idle and the job is still cancelled.
    wait_idle(&p).await;
    assert_eq!(
        p.get_proof(&job, Duration::ZERO).await.unwrap(),
        GetProofOutcome::Cancelled
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_goes_to_the_recursion_hook_or_is_refused_without_one() {
    let server = server().await;
    let _plain = InProcess::start(config(&server, "p-plain"));
    let mut c = config(&server, "p-recursive");
    let hook: Arc<dyn RecursionHandler> = Arc::new(FnRecursion::new(
        |l, r| Ok([l, r].concat()),
        |p, a| {
            if p.is_empty() {
                return Err(RecursionError::Malformed {
                    what: "proof",
                    reason: "an empty proof cannot be finalized".into(),
                });
            }
            Ok([p, &a[..]].concat())
        },
    ));
    c.recursion = Some(hook);
    let _recursive = InProcess::start(c);

    let plain = connected(&server, "p-plain").await;
    for e in [
        plain.gen_aggregated_proof(b"l", b"r").await.unwrap_err(),
        plain.gen_final_proof(b"p", [1; 20]).await.unwrap_err(),
    ] {
        assert!(
            e.to_string().contains("this prover does not aggregate"),
            "{e}"
        );
    }

    let rec = connected(&server, "p-recursive").await;
    assert!(rec.status().await.unwrap().can_aggregate);
    let job = rec.gen_aggregated_proof(b"left", b"right").await.unwrap();
    assert_eq!(
        rec.get_proof(&job, WAIT).await.unwrap(),
        GetProofOutcome::Ok(b"leftright".to_vec())
    );
    let job = rec.gen_final_proof(b"agg", [7; 20]).await.unwrap();
    let mut expected = b"agg".to_vec();
    expected.extend([7; 20]);
    assert_eq!(
        rec.get_proof(&job, WAIT).await.unwrap(),
        GetProofOutcome::Ok(expected)
    );
    let job = rec.gen_final_proof(b"", [7; 20]).await.unwrap();
    assert!(matches!(
        rec.get_proof(&job, WAIT).await.unwrap(),
        GetProofOutcome::Error(m) if m.contains("cannot be finalized")
    ));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_proof_is_caught_by_verification() {
    let server = server().await;
    let mut c = config(&server, "p-corrupt");
    c.corrupt_proofs = true;
    let _w = InProcess::start(c);
    let p = connected(&server, "p-corrupt").await;
    let job = p.gen_batch_proof(&random_witness(8, 5)).await.unwrap();
    let GetProofOutcome::Ok(bytes) = p.get_proof(&job, PROVE).await.unwrap() else {
        panic!("no proof");
    };
    assert!(BatchProof::from_bytes(&bytes)
        .and_then(|b| b.verify())
        .is_err());
    server.shutdown().await;
}

/// A raw client: dials `url` and sends a Hello; the server's answer to the stream.
async fn hello(
    url: String,
    id: &str,
    version: u32,
) -> Result<tonic::Response<tonic::Streaming<pb::AggregatorMessage>>, tonic::Status> {
    let mut client = pb::aggregator_service_client::AggregatorServiceClient::connect(url)
        .await
        .expect("connect");
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::ProverMessage {
        id: 0,
        protocol_version: version,
        response: Some(pb::prover_message::Response::Hello(pb::Hello {
            prover_id: id.into(),
            prover_name: id.into(),
            protocol_version: version,
            version: "test".into(),
        })),
    })
    .await
    .unwrap();
    // The sender stays open until the answer is in (a closed stream is another refusal).
    let r = client.channel(ReceiverStream::new(rx)).await;
    drop(tx);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_protocol_version_is_refused_with_both_versions() {
    let server = server().await;
    let other = PROTOCOL_VERSION + 1;

    let status = hello(server.url(), "p-raw", other).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status
            .message()
            .contains(&format!("prover speaks version {other}"))
            && status
                .message()
                .contains(&format!("aggregator speaks version {PROTOCOL_VERSION}")),
        "{}",
        status.message()
    );

    // The worker stops for good with that reason rather than retrying.
    let mut c = config(&server, "p-future");
    c.protocol_version = other;
    let e = tokio::time::timeout(WAIT, worker::run(c, std::future::pending()))
        .await
        .expect("the worker gives up")
        .expect_err("refused");
    let text = e.to_string();
    assert!(text.contains("refused this prover"), "{text}");
    assert!(text.contains(&format!("version {other}")), "{text}");
    assert!(server.registry().provers().is_empty());

    // A second session under a connected prover's id is refused too.
    let _w = InProcess::start(config(&server, "p-dup"));
    connected(&server, "p-dup").await;
    let status = hello(server.url(), "p-dup", PROTOCOL_VERSION)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
    assert!(status.message().contains("p-dup"), "{}", status.message());
    server.shutdown().await;
}

/// A prover in a child process: this test binary, re-run with `child_prover` below. Its
/// recursion hook takes a minute, so a job it accepts stays pending.
struct ChildProver(Child);

const CHILD_ENV: &str = "ZKNODE_TEST_CHILD_PROVER_OF";

impl ChildProver {
    fn spawn(url: &str, id: &str) -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["child_prover", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_ENV, url)
            .env("ZKNODE_TEST_CHILD_PROVER_ID", id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the child prover");
        Self(child)
    }
}

impl Drop for ChildProver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test: the body of [`ChildProver`] (does nothing unless the test above starts it).
#[test]
#[ignore]
fn child_prover() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let id = std::env::var("ZKNODE_TEST_CHILD_PROVER_ID").unwrap();
    let mut c = WorkerConfig::new(url, id, cpu());
    c.recursion = Some(Arc::new(FnRecursion::new(
        |_, _| {
            std::thread::sleep(Duration::from_secs(60));
            Ok(Vec::new())
        },
        |_, _| Ok(Vec::new()),
    )));
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(worker::run(c, std::future::pending()))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_prover_fails_its_pending_call_with_disconnected() {
    let server = server().await;
    let mut events = server.registry().subscribe();
    let mut child = ChildProver::spawn(&server.url(), "p-killed");
    let p = connected(&server, "p-killed").await;
    let job = p.gen_aggregated_proof(b"l", b"r").await.unwrap();
    let pending = {
        let p = p.clone();
        let job = job.clone();
        tokio::spawn(async move { p.get_proof(&job, Duration::from_secs(120)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "the call waits for the slow job");

    let killed = Instant::now();
    child.0.kill().unwrap();
    let _ = child.0.wait();
    let r = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the pending call fails promptly")
        .unwrap();
    match r {
        Err(ProverError::Disconnected { prover_id, .. }) => assert_eq!(prover_id, "p-killed"),
        other => panic!("{other:?}"),
    }
    assert!(killed.elapsed() < Duration::from_secs(10));
    assert!(!p.is_connected());
    assert!(matches!(
        p.status().await,
        Err(ProverError::Disconnected { .. })
    ));
    assert!(server.registry().get("p-killed").is_none());
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await.unwrap() {
            Ok(ProverEvent::Disconnected { prover_id, .. }) => {
                assert_eq!(prover_id, "p-killed");
                break;
            }
            Ok(ProverEvent::Connected { .. }) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prover_reconnects_after_the_aggregator_restarts() {
    let server = server().await;
    let addr = server.local_addr();
    let _w = InProcess::start(config(&server, "p-back"));
    let first = connected(&server, "p-back").await;
    assert!(first.status().await.unwrap().idle);
    server.shutdown().await;
    let reason = tokio::time::timeout(WAIT, first.closed()).await.unwrap();
    assert!(reason.contains("shutting down"), "{reason}");
    assert!(first.status().await.unwrap_err().is_disconnected());

    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut again = None;
    for _ in 0..100 {
        match ProverServer::bind(addr, Registry::with_config(ProtocolConfig::default())).await {
            Ok(s) => {
                again = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let server = again.expect("the port can be bound again");
    let second = connected(&server, "p-back").await;
    assert!(second.status().await.unwrap().idle);
    server.shutdown().await;
}
