//! State-tree benchmarks on RocksDB: batched leaf updates into a tree of 1M leaves (each batch
//! committed), and a genesis of 100k accounts.
//!
//! `cargo bench -p zknode-benches --bench state`; `ZKNODE_BENCH_TREE_LEAVES` changes the tree
//! size (default 1,000,000), `ZKNODE_BENCH_NODE_CACHE_MB` the store's in-process node cache
//! (default: the store's default; 0 turns it off), `ZKNODE_BENCH_COLD=1` leaves the cache cold
//! after building the tree.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use ruint::aliases::U256;
use zknode_kernels::Goldilocks;
use zknode_state::genesis::{self, GenesisAccount, Number};
use zknode_state::{Hash, NodeStore, RocksStore, StateTree};

fn open_store(path: &std::path::Path) -> RocksStore {
    match std::env::var("ZKNODE_BENCH_NODE_CACHE_MB")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        Some(mb) => RocksStore::open_with_cache(path, mb << 20).unwrap(),
        None => RocksStore::open(path).unwrap(),
    }
}

fn random_key(rng: &mut impl Rng) -> Hash {
    Hash(std::array::from_fn(|_| Goldilocks::new(rng.gen())))
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: RocksStore,
    keys: Vec<Hash>,
}

/// A RocksDB tree with `ZKNODE_BENCH_TREE_LEAVES` leaves, built once.
static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let n: usize = std::env::var("ZKNODE_BENCH_TREE_LEAVES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let keys: Vec<Hash> = (0..n).map(|_| random_key(&mut rng)).collect();
        let t = Instant::now();
        {
            let mut tree = StateTree::open(&store).unwrap();
            for chunk in keys.chunks(100_000) {
                let w: Vec<(Hash, U256)> = chunk.iter().map(|&k| (k, U256::from(1u64))).collect();
                tree.apply_batch(&w).unwrap();
                tree.commit().unwrap();
            }
        }
        eprintln!(
            "built a RocksDB tree of {n} leaves in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // Commits this large are bulk loads and skip the node cache; a node that has served
        // this tree for a while holds it (1 GiB is eight million nodes, the tree four), so warm
        // it the way a node does at start. `ZKNODE_BENCH_COLD=1` measures a cold cache instead.
        if std::env::var_os("ZKNODE_BENCH_COLD").is_none() {
            let t = Instant::now();
            let loaded = store.warm(store.head().unwrap()).unwrap();
            eprintln!(
                "warmed the node cache with {loaded} nodes in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        Fixture {
            _dir: dir,
            store,
            keys,
        }
    })
}

fn batched_updates(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("smt_rocksdb_batched_updates");
    g.sample_size(10).measurement_time(Duration::from_secs(60));
    for batch in [1_000usize, 10_000] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(
            BenchmarkId::new(format!("{}_leaves", f.keys.len()), batch),
            |b| {
                let mut rng = rand::rngs::StdRng::seed_from_u64(batch as u64);
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        // Half updates of existing leaves, half insertions of new ones.
                        let w: Vec<(Hash, U256)> = (0..batch)
                            .map(|i| {
                                let k = if i.is_multiple_of(2) {
                                    f.keys[rng.gen_range(0..f.keys.len())]
                                } else {
                                    random_key(&mut rng)
                                };
                                (k, U256::from(rng.gen::<u64>() | 1))
                            })
                            .collect();
                        let t = Instant::now();
                        let mut tree = StateTree::open(&f.store).unwrap();
                        tree.apply_batch(&w).unwrap();
                        tree.commit().unwrap();
                        total += t.elapsed();
                    }
                    total
                })
            },
        );
    }
}

fn genesis_100k(c: &mut Criterion) {
    let mut g = c.benchmark_group("smt_genesis");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    let accounts: Vec<GenesisAccount> = (0..100_000u64)
        .map(|i| GenesisAccount {
            address: format!("0x{:040x}", i * 7919 + 1),
            balance: Some(Number::Str((1_000_000_000_000u64 + i).to_string())),
            nonce: Some(Number::Int(i % 3)),
            bytecode: None,
            storage: None,
        })
        .collect();
    g.throughput(Throughput::Elements(accounts.len() as u64));
    g.bench_function("100k_accounts_rocksdb", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store = open_store(dir.path());
                let t = Instant::now();
                let mut tree = StateTree::open(&store).unwrap();
                genesis::apply(&mut tree, &accounts).unwrap();
                tree.commit().unwrap();
                total += t.elapsed();
            }
            total
        })
    });
}

criterion_group!(benches, batched_updates, genesis_100k);

// `criterion_main!` plus removing the fixture's database: it lives in a static, whose `TempDir`
// is never dropped, and each run would otherwise leave about 2 GB behind.
fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    if let Some(f) = FIXTURE.get() {
        let _ = std::fs::remove_dir_all(f._dir.path());
    }
}
