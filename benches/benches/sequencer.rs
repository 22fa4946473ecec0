//! Sequencer throughput: transactions waiting in the pool to transactions stored in blocks, on
//! SQLite and a RocksDB state tree, as `zknode run` keeps them.
//!
//! One data directory is prepared per case: `init_genesis` writes a genesis of
//! `ZKNODE_BENCH_ACCOUNTS` funded accounts (default 50,000) and an ERC-20 token (runtime code
//! from `contracts/artifacts/Token.json`, a balance for every account) to a SQLite state
//! database and a RocksDB state tree, then `ZKNODE_BENCH_SEQ_TXS` signed transactions (default
//! 10,000) from `ZKNODE_BENCH_SEQ_SENDERS` senders (default 1,000, consecutive nonces each) go
//! into the pool through `Pool::add`. Each sample copies that directory afresh, opens it as the
//! node does (state database, tree with its node cache warmed, `Pool::open`, which loads the
//! pending transactions), then times `Sequencer::spawn` until the sequencer's metrics count
//! every transaction stored in a block. Nothing is signed, decoded or admitted inside the timed
//! part: it is the sequencer's loop (pool order, execution, block and batch closing), the state
//! tree and the database. The sequencer runs with 50 ms blocks and no batch limit but L1's
//! 120,000 bytes of batch data, so nothing else paces it ([`sequencer_config`]).
//!
//! `cargo bench -p zknode-benches --bench sequencer`.
//!
//! `ZKNODE_BENCH_SEQ_PHASES=N cargo bench -p zknode-benches --bench sequencer` runs, instead,
//! N passes per case of a copy of the sequencer's loop with each step timed on its own
//! ([`phases`]), and prints where the time went.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode, Throughput};
use rand::{Rng, SeedableRng};
use revm::primitives::{keccak256, Address, Bytes, B256, U256};
use tokio::runtime::Runtime;
use zknode_executor::system::mapping_slot;
use zknode_executor::RawTx;
use zknode_pool::{AccountReader, Pool, PoolConfig};
use zknode_sequencer::{ChainSpec, Sequencer, SequencerConfig, SequencerMetrics};
use zknode_state::genesis::{GenesisAccount, Number};
use zknode_state::{keys, RocksStore};
use zknode_storage::{
    sqlite_url, BlockReader, NewBlock, NewLog, NewReceipt, NewTransaction, StateDb,
};

const CHAIN: u64 = 1001;
const TOKEN: Address = Address::new([0x70; 20]);
const GWEI: u64 = 1_000_000_000;
/// Every genesis account's balance: 1,000 ether.
const BALANCE: &str = "1000000000000000000000";
/// The node's default state-tree node cache (`state_cache_bytes`).
const CACHE_BYTES: usize = 256 << 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn token_runtime() -> Vec<u8> {
    let art: serde_json::Value =
        serde_json::from_str(include_str!("../../contracts/artifacts/Token.json"))
            .expect("Token.json");
    keys::parse_hex_bytes(art["deployedBytecode"].as_str().expect("deployedBytecode"))
        .expect("hex bytecode")
}

fn key(i: usize) -> secp256k1::SecretKey {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    secp256k1::SecretKey::from_byte_array(b).expect("key")
}

fn address(k: &secp256k1::SecretKey) -> Address {
    let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, k);
    Address::from_slice(&keccak256(&pk.serialize_uncompressed()[1..])[12..])
}

fn spec() -> ChainSpec {
    ChainSpec {
        chain_id: CHAIN,
        coinbase: Address::repeat_byte(0x5e),
    }
}

/// The pool as the bench fills it: no per-sender or global cap, so that the whole load waits
/// in it; every other check as the node's defaults.
fn pool_config() -> PoolConfig {
    PoolConfig {
        chain_id: CHAIN,
        account_queue: 0,
        global_queue: 0,
        ..PoolConfig::default()
    }
}

/// The sequencer as measured: 50 ms blocks, and batch limits that only the batch data (L1's
/// 120,000 bytes) reaches, so batches close as they would on L1 and nothing else throttles.
fn sequencer_config() -> SequencerConfig {
    SequencerConfig {
        block_time_ms: 50,
        empty_block_interval_ms: 0,
        max_batch_txs: 1_000_000,
        max_batch_bytes: 120_000,
        max_batch_gas: u64::MAX / 2,
        max_batch_seconds: 3_600,
        max_batch_state_ops: 1 << 30,
        ..SequencerConfig::default()
    }
}

/// The genesis state, as admission reads it.
struct Genesis(std::collections::HashMap<Address, U256>);

impl AccountReader for Genesis {
    fn account(&self, address: Address) -> Result<(u64, U256), String> {
        Ok((0, self.0.get(&address).copied().unwrap_or_default()))
    }
}

/// A prepared data directory and what its pool holds.
struct Template {
    dir: tempfile::TempDir,
    /// Hashes of the transactions, in signing order.
    hashes: Vec<B256>,
}

/// Signs `txs` transactions from the first `senders` accounts, round-robin (so each sender's
/// nonces are consecutive), to random accounts: transfers of 1,000 wei, or `transfer(to, 1)`
/// calls on the token.
fn sign_all(
    keys: &[secp256k1::SecretKey],
    addrs: &[Address],
    senders: usize,
    txs: usize,
    erc20: bool,
) -> Vec<(B256, Vec<u8>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    (0..txs)
        .map(|i| {
            let s = i % senders;
            let nonce = (i / senders) as u64;
            let to = addrs[rng.gen_range(0..addrs.len())];
            let tx = if erc20 {
                let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
                data.extend_from_slice(&[0u8; 12]);
                data.extend_from_slice(to.as_slice());
                data.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
                RawTx::new(
                    nonce,
                    U256::from(GWEI),
                    100_000,
                    Some(TOKEN),
                    U256::ZERO,
                    Bytes::from(data),
                    Some(CHAIN),
                )
            } else {
                RawTx::new(
                    nonce,
                    U256::from(GWEI),
                    21_000,
                    Some(to),
                    U256::from(1_000u64),
                    Bytes::new(),
                    Some(CHAIN),
                )
            };
            let signed = tx.sign(&keys[s]);
            (signed.eth_hash(), signed.to_eth_bytes())
        })
        .collect()
}

fn prepare(rt: &Runtime, n_accounts: usize, senders: usize, txs: usize, erc20: bool) -> Template {
    let t = Instant::now();
    let keys: Vec<_> = (0..n_accounts).map(key).collect();
    let addrs: Vec<Address> = keys.iter().map(address).collect();
    let mut accounts: Vec<GenesisAccount> = addrs
        .iter()
        .map(|a| GenesisAccount {
            address: a.to_string(),
            balance: Some(Number::Str(BALANCE.into())),
            nonce: None,
            bytecode: None,
            storage: None,
        })
        .collect();
    let storage: BTreeMap<String, Number> = addrs
        .iter()
        .map(|a| {
            let slot = mapping_slot(U256::from_be_slice(a.as_slice()), 0);
            (format!("{slot:#x}"), Number::Int(1_000_000))
        })
        .collect();
    accounts.push(GenesisAccount {
        address: TOKEN.to_string(),
        balance: None,
        nonce: Some(Number::Int(1)),
        bytecode: Some(format!("0x{}", hex::encode(token_runtime()))),
        storage: Some(storage),
    });
    let signed = sign_all(&keys, &addrs, senders, txs, erc20);
    let balance: U256 = BALANCE.parse().expect("balance");
    let genesis = Arc::new(Genesis(addrs.iter().map(|a| (*a, balance)).collect()));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    rt.block_on(async {
        let db = StateDb::connect(&sqlite_url(&path.join("state.sqlite")))
            .await
            .expect("state database");
        let store =
            RocksStore::open_with_cache(&path.join("state-tree"), CACHE_BYTES).expect("rocksdb");
        zknode_sequencer::init_genesis(&db, &store, &accounts, &spec(), 1)
            .await
            .expect("genesis");
        let pool = Arc::new(Pool::open(db.clone(), pool_config()).await.expect("pool"));
        // One task per sender adds its transactions in nonce order, as wallets would.
        let mut by_sender: Vec<Vec<Vec<u8>>> = vec![Vec::new(); senders];
        for (i, (_, raw)) in signed.iter().enumerate() {
            by_sender[i % senders].push(raw.clone());
        }
        let mut tasks = tokio::task::JoinSet::new();
        for raws in by_sender {
            let pool = pool.clone();
            let genesis = genesis.clone();
            tasks.spawn(async move {
                for raw in raws {
                    pool.add(&raw, &*genesis).await.expect("pool.add");
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("an add task");
        }
        assert_eq!(pool.counts().pending, txs);
        drop(pool);
        db.close().await;
        drop(store);
    });
    eprintln!(
        "prepared {} ({n_accounts} accounts, {txs} transactions from {senders} senders in the \
         pool) in {:.1} s",
        if erc20 { "erc20" } else { "transfers" },
        t.elapsed().as_secs_f64()
    );
    Template {
        dir,
        hashes: signed.into_iter().map(|(h, _)| h).collect(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// What one sample's sequencer reported.
#[derive(Default)]
struct Totals {
    samples: u32,
    seconds: f64,
    blocks: u64,
    batches: u64,
    block_store_seconds: f64,
    batch_close_seconds: f64,
}

/// A fresh copy of a template, opened as the node opens its data directory.
struct Opened {
    _dir: tempfile::TempDir,
    db: StateDb,
    store: Arc<RocksStore>,
    pool: Arc<Pool>,
}

fn open(rt: &Runtime, tpl: &Template) -> Opened {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(tpl.dir.path(), dir.path());
    let path = dir.path();
    let (db, store, pool) = rt.block_on(async {
        let db = StateDb::connect(&sqlite_url(&path.join("state.sqlite")))
            .await
            .expect("state database");
        let store = Arc::new(
            RocksStore::open_with_cache(&path.join("state-tree"), CACHE_BYTES).expect("rocksdb"),
        );
        let n = db
            .latest_block_number()
            .await
            .expect("head")
            .expect("block 0");
        let root = db
            .block_by_number(n)
            .await
            .expect("block")
            .expect("block")
            .header
            .state_root;
        store
            .warm(zknode_sequencer::root_hash(&root).expect("root"))
            .expect("warm");
        let pool = Arc::new(Pool::open(db.clone(), pool_config()).await.expect("pool"));
        (db, store, pool)
    });
    assert_eq!(pool.counts().pending, tpl.hashes.len());
    Opened {
        _dir: dir,
        db,
        store,
        pool,
    }
}

/// One sample: a fresh copy of the template, then the sequencer timed until every transaction
/// is stored.
fn sample(rt: &Runtime, tpl: &Template, totals: &mut Totals) -> Duration {
    let Opened {
        _dir,
        db,
        store,
        pool,
    } = open(rt, tpl);
    let total = tpl.hashes.len() as u64;
    let metrics = Arc::new(SequencerMetrics::default());
    let started = Instant::now();
    let handle = Sequencer {
        config: sequencer_config(),
        spec: spec(),
        db: db.clone(),
        store,
        pool,
        metrics: metrics.clone(),
    }
    .spawn(rt.handle().clone());
    while metrics.txs_included.get() < total {
        assert!(!handle.is_finished(), "the sequencer stopped early");
        assert_eq!(metrics.txs_failed.get(), 0, "a transaction failed");
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = started.elapsed();
    handle.stop().expect("the sequencer stops cleanly");
    assert_eq!(metrics.txs_included.get(), total);
    assert_eq!(metrics.txs_failed.get(), 0);
    totals.samples += 1;
    totals.seconds += elapsed.as_secs_f64();
    totals.blocks += metrics.blocks.get();
    totals.batches += metrics.batches_closed.get();
    totals.block_store_seconds += metrics.block_store_seconds.sum_seconds();
    totals.batch_close_seconds += metrics.batch_close_seconds.sum_seconds();
    // Every transaction succeeded (the token's transfers too): a spread of receipts.
    rt.block_on(async {
        for h in tpl.hashes.iter().step_by(97) {
            let r = db.receipt(*h).await.expect("receipt").expect("stored");
            assert!(r.success, "transaction {h} reverted");
        }
        db.close().await;
    });
    elapsed
}

/// Where one pass's time went, phase by phase (see [`phases`]).
#[derive(Default)]
struct PhaseTimes {
    /// `Pool::ready`: the next transactions by price and nonce.
    ready: Duration,
    /// `BatchBuilder::execute_tx`: revm, with the state reads it makes.
    execute: Duration,
    /// `BatchBuilder::close_block`: the block's writes applied to the state tree (Poseidon),
    /// the block-info tree, the system contract's updates.
    close_block: Duration,
    /// Building the block's rows (receipts, logs) for the database.
    rows: Duration,
    /// `BatchBuilder::commit_state`: the new tree nodes and bytecode into RocksDB.
    commit_state: Duration,
    /// `StateDb::write_block`: the block, its transactions, receipts and logs, and the pool
    /// rows marked selected, in one SQLite transaction.
    write_block: Duration,
    /// `Pool::included` and `Pool::stale`.
    pool_bookkeeping: Duration,
    /// The open batch's progress (`encode_batch` of the batch so far, `update_open_batch`).
    batch_progress: Duration,
    /// Opening batches, sealing them (`finish`, the tree commit, `close_batch`).
    batches: Duration,
    total: Duration,
    blocks: u64,
}

impl PhaseTimes {
    fn rows(&self) -> [(&'static str, Duration); 9] {
        [
            ("Pool::ready", self.ready),
            ("execute_tx (revm, state reads)", self.execute),
            ("close_block (tree update, block info)", self.close_block),
            ("block rows for the database", self.rows),
            ("commit_state (RocksDB)", self.commit_state),
            ("write_block (SQLite)", self.write_block),
            ("Pool::included, Pool::stale", self.pool_bookkeeping),
            ("open batch progress (encode, update)", self.batch_progress),
            ("open and seal batches", self.batches),
        ]
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The database rows of a closed block, as the sequencer stores them.
fn block_rows(
    batch: u64,
    parent_hash: B256,
    closed: &zknode_executor::ClosedBlock<'_>,
    included: &[Arc<zknode_pool::PoolTx>],
    coinbase: Address,
) -> NewBlock {
    assert_eq!(closed.txs.len(), included.len());
    let transactions = closed
        .txs
        .iter()
        .zip(included)
        .map(|(r, p)| {
            let receipt = r.outcome.as_ref().expect("executed");
            NewTransaction {
                hash: p.hash,
                l2_hash: B256::from(r.l2_hash.unwrap_or_default().to_be_bytes::<32>()),
                raw: p.raw.clone(),
                sender: p.sender,
                tx_type: p.tx.tx_type,
                effective_percentage: r.effective_percentage,
                receipt: NewReceipt {
                    success: receipt.success,
                    cumulative_gas_used: receipt.cumulative_gas_used,
                    gas_used: receipt.gas_used,
                    effective_gas_price: p.tx.effective_gas_price(),
                    contract_address: receipt.contract_address,
                    logs: receipt
                        .logs
                        .iter()
                        .map(|l| NewLog {
                            address: l.address,
                            topics: l.data.topics().to_vec(),
                            data: l.data.data.clone(),
                        })
                        .collect(),
                },
            }
        })
        .collect();
    NewBlock {
        number: closed.block.number,
        parent_hash,
        batch_number: batch,
        timestamp: closed.block.timestamp,
        coinbase,
        state_root: closed.block.hash,
        global_exit_root: closed.block.global_exit_root,
        block_info_root: closed.block.block_info_root,
        gas_limit: closed.block.gas_limit,
        base_fee: 0,
        transactions,
    }
}

/// The sequencer's steps for the whole pool, in its order and with its settings (blocks closed
/// after `block_time_ms`, batches before L1's byte limit), each step timed on its own. It is a
/// copy of the sequencer's loop made to be timed, not the sequencer: the figures of the
/// benchmark are the sequencer's own; this says where its time goes.
fn phases(rt: &Runtime, tpl: &Template) -> PhaseTimes {
    use zknode_executor::codec::CHANGE_L2_BLOCK_LEN;
    use zknode_executor::{encode_batch, BatchBuilder, BatchContext};
    use zknode_state::StateTree;
    use zknode_storage::{BatchClose, BlockWriter, NewBatch, OpenBatchProgress};

    fn timed<T>(acc: &mut Duration, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        *acc += t.elapsed();
        r
    }

    let o = open(rt, tpl);
    let cfg = sequencer_config();
    let coinbase = spec().coinbase;
    let mut p = PhaseTimes::default();
    let started = Instant::now();
    let (mut head_hash, mut head_ts) = rt.block_on(async {
        let n = o.db.latest_block_number().await.unwrap().unwrap();
        let b = o.db.block_by_number(n).await.unwrap().unwrap();
        (b.hash, b.header.timestamp)
    });
    let mut left = tpl.hashes.len();
    let mut number = 0;
    while left > 0 {
        number += 1;
        let prev = timed(&mut p.batches, || {
            rt.block_on(async {
                let prev = o.db.batch(number - 1).await.unwrap().unwrap();
                o.db.open_batch(&NewBatch {
                    number,
                    coinbase,
                    timestamp: now_secs().max(head_ts),
                    global_exit_root: B256::ZERO,
                    state_root: prev.state_root,
                    local_exit_root: prev.local_exit_root,
                    forced_batch_number: None,
                })
                .await
                .unwrap();
                prev
            })
        });
        let ctx = BatchContext {
            chain_id: CHAIN,
            fork_id: zknode_sequencer::FORK_ID,
            sequencer: coinbase,
            timestamp_limit: u64::MAX,
            l1_info_root: B256::ZERO,
            old_acc_input_hash: prev.acc_input_hash.unwrap_or_default(),
            forced_block_hash_l1: B256::ZERO,
            l1_info: BTreeMap::new(),
            verify_l1_info_proofs: false,
            with_proofs: false,
        };
        let store: &RocksStore = &o.store;
        let root = zknode_sequencer::root_hash(&prev.state_root).unwrap();
        let mut b = BatchBuilder::new(StateTree::at_root(store, root), store, &ctx);
        let mut bytes = 0;
        let mut full = false;
        while !full && left > 0 {
            if bytes + CHANGE_L2_BLOCK_LEN > cfg.max_batch_bytes {
                break;
            }
            let timestamp = now_secs().max(head_ts);
            let opened = Instant::now();
            b.open_block_at(timestamp, 0)
                .unwrap()
                .expect("the block opens");
            bytes += CHANGE_L2_BLOCK_LEN;
            let mut included = Vec::new();
            loop {
                let ready = timed(&mut p.ready, || {
                    o.pool
                        .ready(&mut |a| b.nonce(a).expect("nonce"), cfg.pool_take)
                });
                if ready.is_empty() {
                    break;
                }
                for tx in ready {
                    let n = tx.tx.sign_data().len() + 66;
                    if bytes + n > cfg.max_batch_bytes {
                        full = true;
                        break;
                    }
                    let ok = timed(&mut p.execute, || {
                        b.execute_tx(tx.tx.clone(), Some(tx.sender))
                            .unwrap()
                            .outcome
                            .as_ref()
                            .is_ok_and(|r| r.success)
                    });
                    assert!(ok, "transaction {} failed", tx.hash);
                    bytes += n;
                    included.push(tx);
                }
                if full || opened.elapsed() >= cfg.block_time() {
                    break;
                }
            }
            let closed = timed(&mut p.close_block, || b.close_block().unwrap());
            let block = timed(&mut p.rows, || {
                block_rows(number, head_hash, &closed, &included, coinbase)
            });
            let hashes: Vec<B256> = block.transactions.iter().map(|t| t.hash).collect();
            timed(&mut p.commit_state, || b.commit_state().unwrap());
            let hash = timed(&mut p.write_block, || {
                rt.block_on(o.db.write_block(&block)).unwrap()
            });
            timed(&mut p.pool_bookkeeping, || {
                o.pool.included(&hashes);
                let stale = o.pool.stale(&mut |a| b.nonce(a).expect("nonce"));
                assert!(stale.is_empty());
            });
            timed(&mut p.batch_progress, || {
                let progress = OpenBatchProgress {
                    number,
                    state_root: block.state_root,
                    local_exit_root: B256::ZERO,
                    l2_data: Bytes::from(encode_batch(b.entries())),
                    resources: Some(format!("{{\"bytes\":{bytes}}}")),
                };
                rt.block_on(o.db.update_open_batch(&progress)).unwrap();
            });
            left -= hashes.len();
            p.blocks += 1;
            (head_hash, head_ts) = (hash, block.timestamp);
        }
        timed(&mut p.batches, || {
            let mut sealed = b.finish().unwrap();
            sealed.tree.commit().unwrap();
            let r = &sealed.result;
            let close = BatchClose {
                closing_reason: "max batch data bytes".into(),
                state_root: zknode_sequencer::root_b256(&r.new_state_root),
                local_exit_root: r.new_local_exit_root,
                acc_input_hash: r.new_acc_input_hash,
                l2_data: Bytes::from(sealed.batch_l2_data.clone()),
            };
            rt.block_on(o.db.close_batch(number, &close)).unwrap();
        });
    }
    p.total = started.elapsed();
    rt.block_on(o.db.close());
    p
}

/// `ZKNODE_BENCH_SEQ_PHASES=N`: instead of the benchmark, N passes of [`phases`] per case, and
/// a table of where the time went.
fn profile(runs: usize) {
    let n_accounts = env_usize("ZKNODE_BENCH_ACCOUNTS", 50_000);
    let senders = env_usize("ZKNODE_BENCH_SEQ_SENDERS", 1_000).min(n_accounts);
    let txs = env_usize("ZKNODE_BENCH_SEQ_TXS", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (name, erc20) in [("transfers", false), ("erc20_transfers", true)] {
        let tpl = prepare(&rt, n_accounts, senders, txs, erc20);
        let mut all = PhaseTimes::default();
        for _ in 0..runs {
            let p = phases(&rt, &tpl);
            all.ready += p.ready;
            all.execute += p.execute;
            all.close_block += p.close_block;
            all.rows += p.rows;
            all.commit_state += p.commit_state;
            all.write_block += p.write_block;
            all.pool_bookkeeping += p.pool_bookkeeping;
            all.batch_progress += p.batch_progress;
            all.batches += p.batches;
            all.total += p.total;
            all.blocks += p.blocks;
        }
        let total = all.total.as_secs_f64();
        println!(
            "\n{name}: {runs} passes of {txs} transactions, {:.1} blocks each, {:.3} s per \
             pass ({:.0} tx/s)",
            all.blocks as f64 / runs as f64,
            total / runs as f64,
            (txs * runs) as f64 / total
        );
        println!("| phase | per pass | share | per transaction |");
        println!("|---|---:|---:|---:|");
        let mut accounted = Duration::ZERO;
        for (label, d) in all.rows() {
            accounted += d;
            println!(
                "| {label} | {:.3} s | {:.1} % | {:.1} µs |",
                d.as_secs_f64() / runs as f64,
                100.0 * d.as_secs_f64() / total,
                d.as_secs_f64() * 1e6 / (txs * runs) as f64
            );
        }
        let rest = all.total.saturating_sub(accounted);
        println!(
            "| the rest (the loop, opening blocks) | {:.3} s | {:.1} % | {:.1} µs |",
            rest.as_secs_f64() / runs as f64,
            100.0 * rest.as_secs_f64() / total,
            rest.as_secs_f64() * 1e6 / (txs * runs) as f64
        );
    }
}

fn sequence(c: &mut Criterion) {
    let n_accounts = env_usize("ZKNODE_BENCH_ACCOUNTS", 50_000);
    let senders = env_usize("ZKNODE_BENCH_SEQ_SENDERS", 1_000).min(n_accounts);
    let txs = env_usize("ZKNODE_BENCH_SEQ_TXS", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("sequencer_sqlite");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(txs as u64));
    for (name, erc20) in [("transfers", false), ("erc20_transfers", true)] {
        let id = BenchmarkId::new(format!("{name}_{senders}_senders"), txs);
        // Prepared on the first call, so that a filtered-out case costs nothing.
        let mut tpl: Option<Template> = None;
        let mut totals = Totals::default();
        g.bench_function(id, |b| {
            let tpl = tpl.get_or_insert_with(|| prepare(&rt, n_accounts, senders, txs, erc20));
            b.iter_custom(|iters| (0..iters).map(|_| sample(&rt, tpl, &mut totals)).sum())
        });
        if totals.samples == 0 {
            continue;
        }
        let s = f64::from(totals.samples);
        eprintln!(
            "{name}: {} runs, per run {:.3} s ({:.0} tx/s), {:.1} blocks, {:.2} batches; \
             closing and storing blocks {:.3} s ({:.0} %), sealing batches {:.3} s ({:.0} %)",
            totals.samples,
            totals.seconds / s,
            txs as f64 * s / totals.seconds,
            totals.blocks as f64 / s,
            totals.batches as f64 / s,
            totals.block_store_seconds / s,
            100.0 * totals.block_store_seconds / totals.seconds,
            totals.batch_close_seconds / s,
            100.0 * totals.batch_close_seconds / totals.seconds,
        );
    }
    g.finish();
}

criterion_group!(benches, sequence);

fn main() {
    match std::env::var("ZKNODE_BENCH_SEQ_PHASES") {
        Ok(n) => profile(
            n.parse()
                .expect("ZKNODE_BENCH_SEQ_PHASES: a number of passes"),
        ),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
