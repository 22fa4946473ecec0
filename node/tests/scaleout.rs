//! Read load scales out: beside a sequencer on PostgreSQL, two `zknode run --components rpc`
//! processes share its database and follow its state tree as RocksDB secondaries. Transactions
//! sent to one of them are relayed to the sequencer (refusals come back as the sequencer gave
//! them); once a block is stored, all three answer the same for it, for `latest` once they have
//! reached it, and an RPC process started before there is a chain stops with a clear error.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use common::{call, Node, CHAIN_ID, DEV_KEY, DEV_KEY_1, GWEI};
use serde_json::{json, Value};

/// Init code: stores 42 at slot 0, then deploys a contract whose code returns slot 0.
const INIT: &str = "602a600055600b6011600039600b6000f360005460005260206000f3";

/// Signs a legacy transaction locally: its bytes and hash.
fn legacy(
    key: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: u64,
    price: u128,
    input: Bytes,
) -> (Bytes, B256) {
    let tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: price,
        gas_limit: if input.is_empty() { 21_000 } else { 200_000 },
        to,
        value: U256::from(value),
        input,
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    (env.encoded_2718().into(), *env.tx_hash())
}

fn provider(node: &Node) -> RootProvider {
    RootProvider::new_http(node.url.parse().unwrap())
}

async fn ask(p: &RootProvider, method: &'static str, params: Value) -> Value {
    call(p, method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e:?}"))
}

async fn block_number(p: &RootProvider) -> u64 {
    p.get_block_number().await.expect("eth_blockNumber")
}

/// Waits (bounded) for a transaction's receipt on `p`.
async fn receipt(p: &RootProvider, hash: B256) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = ask(p, "eth_getTransactionReceipt", json!([hash])).await;
        if !r.is_null() {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts an RPC-only process on its own data directory that follows `seq`.
fn start_rpc(dir: &Path, db: &str, seq: &Node) -> Node {
    let relay = format!("rpc.sequencer_url={}", seq.url);
    let tree = format!(
        "state_tree_primary={:?}",
        seq.data_dir.join("state-tree").display().to_string()
    );
    Node::start(
        dir,
        Some(db),
        &["--components", "rpc", "--set", &relay, "--set", &tree],
    )
}

/// The calls whose answers must agree, about block `at` ("0x…" or a tag).
fn reads(
    at: &str,
    who: &[Address],
    contract: Address,
    hashes: &[B256],
) -> Vec<(&'static str, Value)> {
    let mut calls = vec![
        ("eth_getBlockByNumber", json!([at, true])),
        ("eth_getBlockByNumber", json!([at, false])),
        ("eth_getStorageAt", json!([contract, "0x0", at])),
        ("eth_getCode", json!([contract, at])),
        ("eth_call", json!([{"to": contract}, at])),
    ];
    for a in who {
        calls.push(("eth_getBalance", json!([a, at])));
        calls.push(("eth_getTransactionCount", json!([a, at])));
    }
    for h in hashes {
        calls.push(("eth_getTransactionReceipt", json!([h])));
        calls.push(("eth_getTransactionByHash", json!([h])));
    }
    calls
}

/// Each node's answers to `calls`, in order.
async fn answers(nodes: &[RootProvider], calls: &[(&'static str, Value)]) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    for p in nodes {
        let mut mine = Vec::new();
        for (m, params) in calls {
            mine.push(match call(p, m, params.clone()).await {
                Ok(v) => v,
                Err((code, msg)) => json!({"error": code, "message": msg}),
            });
        }
        out.push(mine);
    }
    out
}

/// Runs an RPC-only node on a database without a chain: it must exit with the clear error.
fn rpc_only_on_an_empty_database(dir: &Path, db: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zknode"))
        .arg("run")
        .args(["--components", "rpc", "--data-dir"])
        .arg(dir)
        .args(["--database-url", db, "--rpc-addr", "127.0.0.1:0"])
        .args(["--metrics-addr", ""])
        .args(["--set", "rpc.sequencer_url=http://127.0.0.1:9"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting zknode");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("an RPC-only node on an empty database did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(
        err.contains("the database holds no chain; start the sequencer first"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_processes_beside_the_sequencer_answer_as_it_does() {
    let Some(pg) = zknode_sqldb::harness::PgCluster::start() else {
        return;
    };
    let db = pg.url();
    let dir = tempfile::tempdir().unwrap();
    rpc_only_on_an_empty_database(&dir.path().join("early"), &db);

    let seq = Node::start(&dir.path().join("seq"), Some(&db), &[]);
    let r1 = start_rpc(&dir.path().join("rpc1"), &db, &seq);
    let r2 = start_rpc(&dir.path().join("rpc2"), &db, &seq);
    let (ps, p1, p2) = (provider(&seq), provider(&r1), provider(&r2));
    let all = [ps.clone(), p1.clone(), p2.clone()];

    // Transfers and a deployment, all sent to the RPC-only processes and relayed; the
    // deployment once the transfers are in, so that they land in different blocks.
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let key1: PrivateKeySigner = DEV_KEY_1.parse().unwrap();
    let friend = Address::repeat_byte(0x42);
    let mut hashes = Vec::new();
    for nonce in 0..4 {
        let (raw, want) = legacy(&key, nonce, TxKind::Call(friend), 1_000, GWEI, Bytes::new());
        let got = ask(&p1, "eth_sendRawTransaction", json!([raw])).await;
        assert_eq!(got, json!(want));
        hashes.push(want);
    }
    receipt(&p2, hashes[3]).await;
    let init = Bytes::from(hex::decode(INIT).unwrap());
    let (raw, deploy) = legacy(&key1, 0, TxKind::Create, 0, GWEI, init);
    assert_eq!(
        ask(&p2, "eth_sendRawTransaction", json!([raw])).await,
        json!(deploy)
    );
    hashes.push(deploy);
    let contract = key1.address().create(0);
    // The pending nonce comes from the sequencer's pool, whether or not they are mined yet.
    let pending = ask(
        &p2,
        "eth_getTransactionCount",
        json!([key.address(), "pending"]),
    )
    .await;
    assert_eq!(pending, json!("0x4"));

    // A refusal comes back as the sequencer gives it: code and message unchanged.
    let (cheap, _) = legacy(&key, 4, TxKind::Call(friend), 1, 1, Bytes::new());
    let direct = call(&ps, "eth_sendRawTransaction", json!([cheap])).await;
    let relayed = call(&p1, "eth_sendRawTransaction", json!([cheap])).await;
    assert!(direct.is_err(), "{direct:?}");
    assert_eq!(direct, relayed);

    // Once the sequencer has stored them, every receipt, read from the RPC-only processes.
    let mut last = 0;
    for h in &hashes {
        let r = receipt(&p1, *h).await;
        assert_eq!(r["status"], json!("0x1"), "{r}");
        if *h == deploy {
            assert_eq!(r["contractAddress"], json!(contract), "{r}");
        }
        let n = r["blockNumber"].as_str().unwrap();
        last = last.max(u64::from_str_radix(n.trim_start_matches("0x"), 16).unwrap());
    }

    // Every node reaches block `last` (an RPC-only one once its tree has caught up), and then
    // all answer the same about it.
    let deadline = Instant::now() + Duration::from_secs(60);
    for p in &all {
        while block_number(p).await < last {
            assert!(
                Instant::now() < deadline,
                "a node did not reach block {last}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(last >= 2, "the deployment landed in block {last}");
    let who = [key.address(), key1.address(), friend, contract];
    for n in 0..=last {
        let at = format!("{n:#x}");
        let calls = reads(&at, &who, contract, &hashes);
        let a = answers(&all, &calls).await;
        for (i, (m, params)) in calls.iter().enumerate() {
            assert_eq!(a[0][i], a[1][i], "{m} {params}: sequencer and rpc1");
            assert_eq!(a[0][i], a[2][i], "{m} {params}: sequencer and rpc2");
        }
    }
    // And the answers are the state the transactions made.
    let at = format!("{last:#x}");
    let word = |v: u64| json!(format!("{:#066x}", v));
    assert_eq!(
        ask(&p2, "eth_getStorageAt", json!([contract, "0x0", at])).await,
        word(42)
    );
    assert_eq!(
        ask(&p2, "eth_call", json!([{"to": contract}, at])).await,
        word(42)
    );
    assert_eq!(
        ask(&p1, "eth_getBalance", json!([friend, at])).await,
        json!("0xfa0")
    );
    assert!(ask(&p1, "eth_getBlockByNumber", json!([at, false])).await["hash"].is_string());

    // `latest`: once all three report the same head, and it holds still while they answer,
    // the answers agree (the chain makes no empty blocks here, so it soon stops moving).
    let calls = reads("latest", &who, contract, &hashes);
    let mut agreed = false;
    for _ in 0..100 {
        let mut heads = Vec::new();
        for p in &all {
            heads.push(block_number(p).await);
        }
        let a = answers(&all, &calls).await;
        let mut after = Vec::new();
        for p in &all {
            after.push(block_number(p).await);
        }
        if heads.iter().all(|h| *h == heads[0] && *h >= last) && heads == after {
            assert_eq!(a[0], a[1], "latest: sequencer and rpc1 at {}", heads[0]);
            assert_eq!(a[0], a[2], "latest: sequencer and rpc2 at {}", heads[0]);
            agreed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(agreed, "the three nodes never reported the same head");

    // SIGTERM: each RPC-only process exits 0 and removes its secondary's directory; the
    // sequencer is untouched and still takes transactions.
    for r in [r1, r2] {
        let secondary = r
            .data_dir
            .join("state-tree-secondary")
            .join(r.child.id().to_string());
        assert!(secondary.is_dir(), "{}", secondary.display());
        assert!(r.terminate().success());
        assert!(!secondary.exists(), "{}", secondary.display());
    }
    let (raw, h) = legacy(&key, 4, TxKind::Call(friend), 1, GWEI, Bytes::new());
    assert_eq!(
        ask(&ps, "eth_sendRawTransaction", json!([raw])).await,
        json!(h)
    );
    receipt(&ps, h).await;
    assert!(seq.terminate().success());
}
