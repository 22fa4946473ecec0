//! A writer killed mid-commit leaves the last committed root intact and fully readable: the
//! test runs a writer process that commits batch after batch into RocksDB, kills it with SIGKILL
//! at a random moment, and reopens the database.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use ruint::aliases::U256;
use zknode_field::Goldilocks;
use zknode_state::{Hash, MemoryStore, Node, NodeReader, NodeStore, RocksStore, StateTree};

const WRITES_PER_ROUND: usize = 3000;

/// The writes of round `r`: deterministic, so the parent can replay them.
fn round_writes(r: u64) -> Vec<(Hash, U256)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(r);
    (0..WRITES_PER_ROUND)
        .map(|_| {
            let k = Hash(std::array::from_fn(|_| Goldilocks::new(rng.gen())));
            (k, U256::from(rng.gen::<u32>() | 1))
        })
        .collect()
}

/// Counts the leaves under `root`, failing on any missing or undecodable node.
fn count_leaves(store: &dyn NodeReader, root: Hash) -> usize {
    let mut stack = vec![root];
    let mut leaves = 0;
    while let Some(h) = stack.pop() {
        if h.is_zero() {
            continue;
        }
        match store
            .get(&h)
            .expect("readable")
            .unwrap_or_else(|| panic!("node {h} missing"))
        {
            Node::Branch { left, right } => stack.extend([left, right]),
            Node::Leaf { value_hash, .. } => {
                assert!(
                    matches!(store.get(&value_hash).unwrap(), Some(Node::Value(_))),
                    "value of leaf {h} missing"
                );
                leaves += 1;
            }
            Node::Value(_) => panic!("value node {h} inside the tree"),
        }
    }
    leaves
}

/// The writer: commits round after round until killed. Run only by `killed_writer_leaves_last_root_readable`.
#[test]
#[ignore = "run as a child process by killed_writer_leaves_last_root_readable"]
fn crash_writer_child() {
    let dir = std::env::var("ZKNODE_CRASH_DIR").expect("ZKNODE_CRASH_DIR");
    let store = RocksStore::open(std::path::Path::new(&dir)).unwrap();
    let mut tree = StateTree::open(&store).unwrap();
    for r in 0.. {
        tree.apply_batch(&round_writes(r)).unwrap();
        let root = tree.commit().unwrap();
        println!("committed {r} {root}");
    }
}

#[test]
fn killed_writer_leaves_last_root_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_writer_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ZKNODE_CRASH_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed: Vec<Hash> = Vec::new();
    while committed.len() < 2 {
        let line = lines.next().expect("writer output").unwrap();
        if let Some(rest) = line.split_once("committed ").map(|(_, r)| r) {
            committed.push(rest.split_whitespace().nth(1).unwrap().parse().unwrap());
        }
    }
    // Kill somewhere inside the next rounds: mid-hashing or mid-write.
    std::thread::sleep(Duration::from_millis(rand::thread_rng().gen_range(0..400)));
    child.kill().unwrap();
    child.wait().unwrap();
    for line in lines.map_while(Result::ok) {
        if let Some(rest) = line.split_once("committed ").map(|(_, r)| r) {
            committed.push(rest.split_whitespace().nth(1).unwrap().parse().unwrap());
        }
    }

    let store = RocksStore::open(dir.path()).unwrap();
    let head = store.head().unwrap();
    // The head is a root the writer committed (possibly one whose line it never printed).
    let mem = MemoryStore::new();
    let mut replay = StateTree::open(&mem).unwrap();
    let mut expected = Vec::new();
    for r in 0..committed.len() as u64 + 1 {
        expected.push(replay.apply_batch(&round_writes(r)).unwrap());
    }
    assert_eq!(&expected[..committed.len()], &committed[..]);
    let round = expected
        .iter()
        .position(|h| *h == head)
        .unwrap_or_else(|| panic!("head {head} is no committed root"));
    println!(
        "killed after {} printed commits; head is round {round}",
        committed.len()
    );
    // Every node of the head and of the previous root is there.
    assert_eq!(count_leaves(&store, head), (round + 1) * WRITES_PER_ROUND);
    if round > 0 {
        assert_eq!(
            count_leaves(&store, expected[round - 1]),
            round * WRITES_PER_ROUND
        );
    }
    // And the tree reopens at the head and keeps working.
    let mut t = StateTree::open(&store).unwrap();
    assert_eq!(t.root(), head);
    let (k, v) = round_writes(0)[7];
    assert_eq!(t.get(&k).unwrap(), v);
    t.set(k, U256::from(1)).unwrap();
    t.commit().unwrap();
}
