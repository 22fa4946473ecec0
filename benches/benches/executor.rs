//! Executor benchmarks: batches of plain transfers and of ERC-20 `transfer` calls, decoded,
//! signature-checked, executed on revm over a RocksDB state tree and committed.
//!
//! `cargo bench -p zknode-benches --bench executor`; `ZKNODE_BENCH_ACCOUNTS` sets the number of
//! funded accounts in the genesis (default 50,000; each batch sends from distinct ones).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use revm::primitives::{keccak256, Address, Bytes, B256, U256};
use zknode_executor::system::mapping_slot;
use zknode_executor::{
    encode_batch, execute_batch, BatchContext, BatchEntry, ChangeL2Block, RawTx,
};
use zknode_state::genesis::{self, GenesisAccount, Number};
use zknode_state::{keys, Hash, NodeStore, RocksStore, StateTree};

const CHAIN: u64 = 1001;
const TOKEN: Address = Address::new([0x70; 20]);

fn token_runtime() -> Vec<u8> {
    let art: serde_json::Value =
        serde_json::from_str(include_str!("../../contracts/artifacts/Token.json"))
            .expect("Token.json");
    keys::parse_hex_bytes(art["deployedBytecode"].as_str().expect("deployedBytecode"))
        .expect("hex bytecode")
}

struct Chain {
    _dir: tempfile::TempDir,
    store: RocksStore,
    keys: Vec<secp256k1::SecretKey>,
    addrs: Vec<Address>,
    nonces: Vec<u64>,
    codes: HashMap<Hash, Bytes>,
    next_sender: usize,
    timestamp: u64,
}

impl Chain {
    fn new(n: usize) -> Self {
        let keys: Vec<secp256k1::SecretKey> = (0..n as u64)
            .map(|i| {
                let mut b = [0u8; 32];
                b[24..].copy_from_slice(&(i + 1).to_be_bytes());
                secp256k1::SecretKey::from_byte_array(b).expect("key")
            })
            .collect();
        let addrs: Vec<Address> = keys
            .iter()
            .map(|k| {
                let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, k);
                Address::from_slice(&keccak256(&pk.serialize_uncompressed()[1..])[12..])
            })
            .collect();
        let mut accounts: Vec<GenesisAccount> = addrs
            .iter()
            .map(|a| GenesisAccount {
                address: a.to_string(),
                balance: Some(Number::Str("1000000000000000000000".into())),
                nonce: None,
                bytecode: None,
                storage: None,
            })
            .collect();
        let runtime = token_runtime();
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
            bytecode: Some(format!("0x{}", hex::encode(&runtime))),
            storage: Some(storage),
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RocksStore::open(dir.path()).expect("rocksdb");
        let t = Instant::now();
        {
            let mut tree = StateTree::open(&store).expect("tree");
            genesis::apply(&mut tree, &accounts).expect("genesis");
            tree.commit().expect("commit");
        }
        eprintln!(
            "genesis of {n} accounts and a token holding {n} balances in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // A genesis is a bulk commit, which skips the node cache; warm it as a node does.
        store
            .warm(store.head().expect("head"))
            .expect("warm the node cache");
        let codes = [(keys::hash_bytecode(&runtime), Bytes::from(runtime))]
            .into_iter()
            .collect();
        Self {
            _dir: dir,
            store,
            keys,
            nonces: vec![0; n],
            addrs,
            codes,
            next_sender: 0,
            timestamp: 0,
        }
    }

    /// A signed batch of `n` transactions from distinct senders; `erc20` calls the token.
    fn batch(&mut self, n: usize, erc20: bool, rng: &mut impl Rng) -> Vec<u8> {
        let mut entries = vec![BatchEntry::ChangeL2Block(ChangeL2Block {
            delta_timestamp: 1,
            index_l1_info_tree: 0,
        })];
        self.timestamp += 1;
        for _ in 0..n {
            let s = self.next_sender;
            self.next_sender = (s + 1) % self.keys.len();
            let to = self.addrs[rng.gen_range(0..self.addrs.len())];
            let tx = if erc20 {
                let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
                data.extend_from_slice(&[0u8; 12]);
                data.extend_from_slice(to.as_slice());
                data.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
                RawTx::new(
                    self.nonces[s],
                    U256::from(1_000_000_000u64),
                    100_000,
                    Some(TOKEN),
                    U256::ZERO,
                    Bytes::from(data),
                    Some(CHAIN),
                )
            } else {
                RawTx::new(
                    self.nonces[s],
                    U256::from(1_000_000_000u64),
                    21_000,
                    Some(to),
                    U256::from(1_000u64),
                    Bytes::new(),
                    Some(CHAIN),
                )
            };
            self.nonces[s] += 1;
            entries.push(BatchEntry::Tx(Box::new(tx.sign(&self.keys[s]))));
        }
        encode_batch(&entries)
    }

    fn ctx(&self) -> BatchContext {
        BatchContext {
            chain_id: CHAIN,
            fork_id: 12,
            sequencer: Address::repeat_byte(0x5e),
            timestamp_limit: self.timestamp,
            l1_info_root: B256::ZERO,
            old_acc_input_hash: B256::ZERO,
            forced_block_hash_l1: B256::ZERO,
            l1_info: BTreeMap::new(),
            verify_l1_info_proofs: true,
            with_proofs: false,
        }
    }

    /// Executes and commits one batch; checks every transaction succeeded.
    fn run(&self, data: &[u8], n: usize) {
        let ctx = self.ctx();
        let tree = StateTree::open(&self.store).expect("tree");
        let (mut tree, res) = execute_batch(tree, &self.codes, &ctx, data).expect("execute");
        assert!(res.invalid_batch.is_none(), "{:?}", res.invalid_batch);
        let ok = res
            .txs
            .iter()
            .filter(|t| t.outcome.as_ref().is_ok_and(|r| r.success))
            .count();
        assert_eq!(ok, n, "every transaction must succeed");
        tree.commit().expect("commit");
    }
}

fn execute(c: &mut Criterion) {
    let n: usize = std::env::var("ZKNODE_BENCH_ACCOUNTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let mut chain = Chain::new(n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut g = c.benchmark_group("executor_rocksdb");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, erc20) in [("transfers", false), ("erc20_transfers", true)] {
        let batch = 1_000;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(
            BenchmarkId::new(format!("{name}_{n}_accounts"), batch),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let data = chain.batch(batch, erc20, &mut rng);
                        let t = Instant::now();
                        chain.run(&data, batch);
                        total += t.elapsed();
                    }
                    total
                })
            },
        );
    }
}

criterion_group!(benches, execute);
criterion_main!(benches);
