//! The prover farm end to end, with real processes on loopback: a `zkaggregator run` process
//! and `zkprover serve` processes prove four consecutive batches, the aggregator wraps and
//! aggregates them and makes a final proof, which verifies and covers batches 1..=4. Variants:
//! a prover killed mid-job (its batch is queued again and proved by the other), a prover that
//! corrupts its proofs (caught, logged with its id, never stored), and the aggregator killed
//! mid-run and started again (it resumes from the database; no finished proof is lost).
//!
//! The recursion circuits are cached under the target directory, shared with the prover's
//! recursion test; the first run builds them (about a minute on two cores).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use zknode_aggregator::db::{Db, ProofInfo, ProofKind};
use zknode_prover::recursion::{self, Circuits};
use zknode_witness::random_batches;

/// A child process killed when dropped.
struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn circuit_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("circuits")
}

/// `zkprover`, built beside this test's binary by `cargo test --workspace`; built here when
/// only this package's tests were built.
fn zkprover() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("zkprover");
    if !bin.exists() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "zknode-prover", "--bin", "zkprover"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo build zkprover");
        assert!(status.success(), "building zkprover failed");
    }
    bin
}

struct Farm {
    dir: tempfile::TempDir,
    port: u16,
    db_url: String,
    aggregator: Option<Proc>,
    provers: Vec<Proc>,
}

impl Farm {
    async fn new(batches: &[usize], seed: u64) -> Farm {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = Db::sqlite_url(&dir.path().join("aggregator.db"));
        let db = Db::connect(&db_url).await.expect("db");
        for w in random_batches(batches, seed) {
            db.insert_batch(w.chain.batch_number, &w)
                .await
                .expect("insert");
        }
        db.close().await;
        Farm {
            dir,
            port: free_port(),
            db_url,
            aggregator: None,
            provers: Vec::new(),
        }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    fn spawn(&self, name: &str, mut cmd: Command) -> Proc {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(name))
            .expect("log file");
        cmd.stdout(Stdio::null())
            .stderr(log)
            .env("RUST_LOG", "info");
        Proc {
            child: cmd
                .spawn()
                .unwrap_or_else(|e| panic!("starting {name}: {e}")),
            name: name.to_string(),
        }
    }

    fn start_aggregator(&mut self) {
        self.start_aggregator_with(&[]);
    }

    fn start_aggregator_with(&mut self, extra: &[&str]) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkaggregator"));
        cmd.arg("run")
            .arg("--db")
            .arg(&self.db_url)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--circuit-cache")
            .arg(circuit_cache())
            .arg("--settlements")
            .arg(self.dir.path().join("settlements"))
            .arg("--address")
            .arg("0x00112233445566778899aabbccddeeff00112233")
            .args(["--job-timeout", "120", "--final-after", "600"])
            .args(extra);
        self.aggregator = Some(self.spawn("aggregator", cmd));
    }

    fn start_prover(&mut self, id: &str, extra: &[&str]) {
        let mut cmd = Command::new(zkprover());
        cmd.arg("serve")
            .arg("--aggregator")
            .arg(format!("http://127.0.0.1:{}", self.port))
            .arg("--prover-id")
            .arg(id)
            .args(["--device", "cpu", "--max-backoff-ms", "1000"])
            .args(extra);
        let p = self.spawn(id, cmd);
        self.provers.push(p);
    }

    fn kill_prover(&mut self, id: &str) {
        if let Some(p) = self.provers.iter_mut().find(|p| p.name == id) {
            p.kill();
        }
    }

    async fn db(&self) -> Db {
        Db::connect(&self.db_url).await.expect("db")
    }

    /// Waits until `cond` holds of the database, failing with the logs after `limit`.
    async fn wait_until(&mut self, what: &str, limit: Duration, cond: impl Fn(&Snapshot) -> bool) {
        let t = Instant::now();
        let db = self.db().await;
        loop {
            let now = Snapshot {
                last_verified: db.last_verified_batch().await.unwrap_or(0),
                proofs: db.proofs().await.unwrap_or_default(),
            };
            if cond(&now) {
                db.close().await;
                return;
            }
            if let Some(a) = self.aggregator.as_mut() {
                if let Ok(Some(status)) = a.child.try_wait() {
                    panic!(
                        "the aggregator exited ({status}) while waiting for {what}\n{}",
                        self.logs()
                    );
                }
            }
            if t.elapsed() > limit {
                panic!("no {what} within {limit:?}\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in
            std::iter::once("aggregator").chain(self.provers.iter().map(|p| p.name.as_str()))
        {
            let text = fs::read_to_string(self.log(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out += &format!("--- {name} (last lines)\n");
            for l in tail.into_iter().rev() {
                out += l;
                out.push('\n');
            }
        }
        out
    }

    /// Checks the settled final proof of batches 1..=last.
    fn check_final(&self, circuits: &Circuits, last: u64) {
        let path = self
            .dir
            .path()
            .join("settlements")
            .join(format!("final-1-{last}.bin"));
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let proof = circuits.read_final(&bytes).expect("a final proof");
        let s = circuits
            .verify_final(&proof)
            .expect("the final proof verifies");
        assert_eq!(s.range.first_batch, 1);
        assert_eq!(s.range.last_batch, last);
        assert_eq!(s.aggregator[..4], [0x00, 0x11, 0x22, 0x33]);
    }
}

/// What the tests wait on: the job database at one moment.
struct Snapshot {
    last_verified: u64,
    proofs: Vec<ProofInfo>,
}

fn verified_through(last: u64) -> impl Fn(&Snapshot) -> bool {
    move |s| s.last_verified >= last
}

/// Built (or loaded) once per test binary: the tests run in parallel and would otherwise build
/// the same cache side by side.
fn circuits() -> &'static Circuits {
    static CIRCUITS: OnceLock<Circuits> = OnceLock::new();
    CIRCUITS.get_or_init(|| {
        recursion::load_or_build(Some(&circuit_cache()), &mut |_| {}).expect("circuits")
    })
}

const LIMIT: Duration = Duration::from_secs(900);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_provers_prove_aggregate_and_settle_four_batches() {
    // Built first so the aggregator process finds them in the cache.
    let circuits = tokio::task::spawn_blocking(circuits).await.unwrap();
    let mut farm = Farm::new(&[3, 3, 3, 3], 1).await;
    farm.start_aggregator();
    farm.start_prover("p1", &[]);
    farm.start_prover("p2", &[]);
    farm.wait_until("settlement of batches 1..=4", LIMIT, verified_through(4))
        .await;
    farm.check_final(circuits, 4);
    let db = farm.db().await;
    let provers: Vec<String> = db
        .proofs()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.kind == ProofKind::Final)
        .filter_map(|p| p.prover_id)
        .collect();
    assert!(!provers.is_empty());
    let log = fs::read_to_string(farm.log("aggregator")).unwrap();
    assert!(
        log.contains("sent to p1") || log.contains("sent to p2"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prover_killed_mid_job_loses_the_job_and_the_run_completes() {
    let circuits = tokio::task::spawn_blocking(circuits).await.unwrap();
    // Batch 1 is large enough (a few seconds) to be caught mid-proof.
    let mut farm = Farm::new(&[300, 3, 3, 3], 2).await;
    farm.start_aggregator();
    farm.start_prover("doomed", &[]);
    let locked_by_doomed = |s: &Snapshot| {
        s.proofs
            .iter()
            .any(|p| p.first == 1 && p.is_locked() && p.prover_id.as_deref() == Some("doomed"))
    };
    farm.wait_until(
        "batch 1 locked by the first prover",
        LIMIT,
        locked_by_doomed,
    )
    .await;
    farm.kill_prover("doomed");
    farm.start_prover("survivor", &[]);
    farm.wait_until("settlement of batches 1..=4", LIMIT, verified_through(4))
        .await;
    farm.check_final(circuits, 4);
    let log = fs::read_to_string(farm.log("aggregator")).unwrap();
    assert!(log.contains("batch 1 is queued again"), "{}", farm.logs());
    assert!(log.contains("batch 1 sent to survivor"), "{}", farm.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_proof_is_caught_and_never_stored() {
    let circuits = tokio::task::spawn_blocking(circuits).await.unwrap();
    let mut farm = Farm::new(&[3, 3], 3).await;
    farm.start_aggregator();
    farm.start_prover("liar", &["--corrupt-proofs"]);
    // Wait for the aggregator to log the invalid proof.
    let t = Instant::now();
    loop {
        let log = fs::read_to_string(farm.log("aggregator")).unwrap_or_default();
        if log.contains("invalid batch proof from prover liar") {
            break;
        }
        assert!(
            t.elapsed() < LIMIT,
            "no invalid proof caught\n{}",
            farm.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    farm.start_prover("honest", &[]);
    farm.wait_until("settlement of batches 1..=2", LIMIT, verified_through(2))
        .await;
    farm.check_final(circuits, 2);
    let db = farm.db().await;
    for p in db.proofs().await.unwrap() {
        assert_ne!(
            p.prover_id.as_deref(),
            Some("liar"),
            "a proof from the liar was kept: {p:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregator_restarted_mid_run_resumes_from_the_database() {
    let circuits = tokio::task::spawn_blocking(circuits).await.unwrap();
    let mut farm = Farm::new(&[3, 3, 3, 3], 4).await;
    farm.start_aggregator();
    farm.start_prover("p1", &[]);
    farm.start_prover("p2", &[]);
    let two_stored = |s: &Snapshot| s.proofs.iter().filter(|p| p.is_stored()).count() >= 2;
    farm.wait_until("two stored proofs", LIMIT, two_stored)
        .await;
    if let Some(a) = farm.aggregator.as_mut() {
        a.kill();
    }
    let db = farm.db().await;
    let before: Vec<_> = db
        .proofs()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.is_stored())
        .collect();
    db.close().await;
    farm.start_aggregator();
    farm.wait_until("settlement of batches 1..=4", LIMIT, verified_through(4))
        .await;
    farm.check_final(circuits, 4);
    // Every batch proved before the restart was not proved again.
    let log = fs::read_to_string(farm.log("aggregator")).unwrap();
    for p in before.iter().filter(|p| p.kind == ProofKind::Batch) {
        let sent = log.matches(&format!("batch {} sent to", p.first)).count();
        assert_eq!(
            sent,
            1,
            "batch {} was proved again after the restart\n{}",
            p.first,
            farm.logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_and_the_final_proof_can_run_on_a_prover() {
    let circuits = tokio::task::spawn_blocking(circuits).await.unwrap();
    let mut farm = Farm::new(&[3, 3], 5).await;
    farm.start_aggregator_with(&["--recursion-on-provers"]);
    let cache = circuit_cache();
    let cache = cache.to_str().expect("a UTF-8 path");
    farm.start_prover("recursive", &["--recursion", "--circuit-cache", cache]);
    farm.wait_until("settlement of batches 1..=2", LIMIT, verified_through(2))
        .await;
    farm.check_final(circuits, 2);
    let log = fs::read_to_string(farm.log("aggregator")).unwrap();
    assert!(
        log.contains("aggregation of 1..=2 sent to recursive"),
        "{}",
        farm.logs()
    );
    assert!(
        log.contains("final proof of 1..=2 sent to recursive"),
        "{}",
        farm.logs()
    );
}
