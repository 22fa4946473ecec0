//! The scheduler in-process. On states an earlier run can leave behind: a final proof stored
//! but not settled (the process stopped between the two) is settled on start, not made again.
//! With provers that speak the protocol with canned answers: a prover that refuses a batch as
//! busy is not held to account, and one that returns a bad proof is benched.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use zknode_aggregator::db::{Db, ProofKind};
use zknode_aggregator::farm::{ProverServer, Registry};
use zknode_aggregator::scheduler::{Scheduler, SchedulerConfig, AGGREGATOR_ID};
use zknode_aggregator::settle::Recording;
use zknode_proto::pb::aggregator_message::Request as Req;
use zknode_proto::pb::prover_message::Response as Resp;
use zknode_proto::pb::{self, ResultCode};
use zknode_proto::PROTOCOL_VERSION;
use zknode_prover::batch::{prove_witness, Committer};
use zknode_prover::recursion::{self, Circuits};
use zknode_witness::random_batches;

/// Built (or loaded) once per test binary: the tests run in parallel and would otherwise build
/// the same cache side by side.
fn circuits() -> Arc<Circuits> {
    static CIRCUITS: OnceLock<Arc<Circuits>> = OnceLock::new();
    CIRCUITS
        .get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("circuits");
            Arc::new(recursion::load_or_build(Some(&dir), &mut |_| {}).expect("circuits"))
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_proof_stored_by_an_earlier_run_is_settled_on_start() {
    let address = [7u8; 20];
    let c = tokio::task::spawn_blocking(circuits).await.unwrap();
    let w = random_batches(&[3], 11).remove(0);
    let (c, wrap, fin) = tokio::task::spawn_blocking({
        let w = w.clone();
        move || {
            let (proof, _) = prove_witness(&w, Committer::Plonky2).expect("prove");
            let wrap = c.wrap(&proof, [0; 4]).expect("wrap");
            let fin = c.finalize(&wrap, address).expect("final");
            (c, wrap.to_bytes(), fin.to_bytes())
        }
    })
    .await
    .unwrap();

    // What the earlier run left: batch 1 proved and its final proof stored, not settled.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("a.db")))
        .await
        .unwrap();
    db.insert_batch(1, &w).await.unwrap();
    let now = SystemTime::now();
    db.lock_next_unproven_batch("p", now)
        .await
        .unwrap()
        .unwrap();
    let wrap_id = db
        .store_proof(1, 1, ProofKind::Batch, &wrap, "p")
        .await
        .unwrap();
    db.lock_final(wrap_id, AGGREGATOR_ID, now)
        .await
        .unwrap()
        .unwrap();
    let final_id = db
        .store_proof(1, 1, ProofKind::Final, &fin, AGGREGATOR_ID)
        .await
        .unwrap();

    let settlement = Arc::new(Recording::new(None));
    let scheduler = Scheduler::new(
        db.clone(),
        Registry::new(),
        c,
        settlement.clone(),
        SchedulerConfig {
            aggregator_address: address,
            tick: Duration::from_millis(50),
            ..SchedulerConfig::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(scheduler.run(async {
        let _ = stopped.await;
    }));
    let t = Instant::now();
    while db.last_verified_batch().await.unwrap() < 1 {
        assert!(t.elapsed() < Duration::from_secs(60), "not settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    run.await.unwrap().unwrap();

    let settled = settlement.settled();
    assert_eq!(settled.len(), 1);
    assert_eq!(
        settled[0].1, fin,
        "the stored proof is settled, not a new one"
    );
    assert_eq!(settled[0].0.range.last_batch, 1);
    assert_eq!(settled[0].0.aggregator, address);
    let finals: Vec<_> = db
        .proofs()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.kind == ProofKind::Final)
        .collect();
    assert!(finals.iter().all(|p| p.id == final_id), "{finals:?}");
}

/// A prover with canned answers, on the raw protocol: every status says idle, the `n`th
/// GenBatchProof (from 0) is answered with `gen(n)`, every GetProof with `get_proof`.
struct FakeProver {
    gen_batch_proofs: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FakeProver {
    async fn start(
        url: String,
        id: &'static str,
        gen: impl Fn(usize) -> pb::GenBatchProofResponse + Send + 'static,
        get_proof: pb::GetProofResponse,
    ) -> Self {
        let message = |id, response| pb::ProverMessage {
            id,
            protocol_version: PROTOCOL_VERSION,
            response: Some(response),
        };
        let mut client = pb::aggregator_service_client::AggregatorServiceClient::connect(url)
            .await
            .expect("connect");
        let (tx, rx) = mpsc::channel(16);
        tx.send(message(
            0,
            Resp::Hello(pb::Hello {
                prover_id: id.into(),
                prover_name: id.into(),
                protocol_version: PROTOCOL_VERSION,
                version: "fake".into(),
            }),
        ))
        .await
        .unwrap();
        let mut inbound = client
            .channel(ReceiverStream::new(rx))
            .await
            .expect("the aggregator admits the prover")
            .into_inner();
        let gen_batch_proofs = Arc::new(AtomicUsize::new(0));
        let count = gen_batch_proofs.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Ok(Some(msg)) = inbound.message().await {
                let response = match msg.request {
                    Some(Req::GetStatus(_)) => Resp::GetStatus(pb::GetStatusResponse {
                        prover_id: id.into(),
                        prover_name: id.into(),
                        idle: true,
                        ..Default::default()
                    }),
                    Some(Req::GenBatchProof(_)) => {
                        Resp::GenBatchProof(gen(count.fetch_add(1, Ordering::SeqCst)))
                    }
                    Some(Req::GetProof(_)) => Resp::GetProof(get_proof.clone()),
                    Some(Req::Cancel(_)) => Resp::Cancel(pb::CancelResponse {
                        result: ResultCode::Ok as i32,
                        error_message: String::new(),
                    }),
                    _ => Resp::RequestError(pb::RequestError {
                        error_message: "not faked".into(),
                    }),
                };
                if tx.send(message(msg.id, response)).await.is_err() {
                    break;
                }
            }
        });
        Self {
            gen_batch_proofs,
            task,
        }
    }

    fn gen_batch_proofs(&self) -> usize {
        self.gen_batch_proofs.load(Ordering::SeqCst)
    }
}

impl Drop for FakeProver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A scheduler over one batch, with a prover server; benched provers stay benched for an hour.
/// Stopped when the returned sender is dropped.
async fn farm(seed: u64) -> (ProverServer, tokio::sync::oneshot::Sender<()>) {
    let c = tokio::task::spawn_blocking(circuits).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("a.db")))
        .await
        .unwrap();
    let w = random_batches(&[3], seed).remove(0);
    db.insert_batch(1, &w).await.unwrap();
    let server = ProverServer::bind("127.0.0.1:0".parse().unwrap(), Registry::new())
        .await
        .unwrap();
    let scheduler = Scheduler::new(
        db,
        server.registry().clone(),
        c,
        Arc::new(Recording::new(None)),
        SchedulerConfig {
            tick: Duration::from_millis(50),
            poll: Duration::from_millis(100),
            bench_after_invalid: Duration::from_secs(3600),
            ..SchedulerConfig::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _dir = dir;
        scheduler
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    (server, stop)
}

fn gen_answer(result: ResultCode, job_id: &str, error_message: &str) -> pb::GenBatchProofResponse {
    pb::GenBatchProofResponse {
        result: result as i32,
        job_id: job_id.into(),
        error_message: error_message.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prover_that_refuses_as_busy_is_not_benched() {
    let (server, _stop) = farm(21).await;
    let busy = FakeProver::start(
        server.url(),
        "p-busy",
        |_| {
            gen_answer(
                ResultCode::Busy,
                "",
                "busy: job j is running (this prover runs one job at a time)",
            )
        },
        pb::GetProofResponse::default(),
    )
    .await;
    // Every refusal queues the batch again, and the prover, not benched, is asked again.
    let t = Instant::now();
    while busy.gen_batch_proofs() < 3 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "a busy prover is not asked again: benched?"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prover_that_returns_a_malformed_proof_is_benched() {
    let (server, _stop) = farm(22).await;
    let liar = FakeProver::start(
        server.url(),
        "p-liar",
        |n| gen_answer(ResultCode::Ok, &format!("job-{n}"), ""),
        pb::GetProofResponse {
            result: ResultCode::Ok as i32,
            proof: b"not a proof".to_vec(),
            ..Default::default()
        },
    )
    .await;
    let t = Instant::now();
    while liar.gen_batch_proofs() < 1 {
        assert!(t.elapsed() < Duration::from_secs(60), "no batch sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Unbenched, the prover would have the batch again within a tick or two (50 ms each).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(liar.gen_batch_proofs(), 1, "the liar got work again");
    server.shutdown().await;
}
