//! The `debug` namespace on a running `zknode run` started with `rpc.debug=true`: a contract that
//! stores its argument, logs it, calls a counter and reverts on zero is deployed and called, and
//! its transactions are traced with the struct logger, `callTracer` and `prestateTracer`
//! (plain and diff mode) by hash, by block number and by block hash, and as calls against
//! `latest` and an earlier block. Each traced transaction reports its receipt's gas and status;
//! unknown transactions, blocks and tracers get geth's errors; the struct logger's cap refuses
//! an endless loop unless `limit` is set. A node started without the flag answers -32601. On
//! SQLite and on a throwaway PostgreSQL cluster.

mod common;

use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use common::{call, Node, DEV_KEY_1, GWEI};
use serde_json::{json, Value};

/// Slot 0 += 1, and returns the new value.
const COUNTER: &str = "600054 600101 80 600055 600052 6020 6000 f3";

/// `outer(x, counter)`: stores x in slot 0, logs it as LOG1's topic, calls `counter`, then
/// reverts when x is zero.
const OUTER: &str = concat!(
    "600035 80600055",                 // x = calldataload(0); sstore(0, x)
    "80 6000 6000 a1",                 // log1(0, 0, x)
    "6000 6000 6000 6000 6000 602035", // 0, 0, 0, 0, 0, counter = calldataload(32)
    "5a f1 50",                        // pop(call(gas, counter, 0, 0, 0, 0, 0))
    "6025 57 6000 6000 fd",            // if x jump to 37, else revert(0, 0)
    "5b 00",                           // 37: stop
);

fn hex_code(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// Init code that deploys `runtime` (shorter than 256 bytes).
fn init_code(runtime: &[u8]) -> Bytes {
    let n = runtime.len() as u8;
    let mut c = vec![
        0x60, n, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, n, 0x60, 0x00, 0xf3,
    ];
    c.extend_from_slice(runtime);
    c.into()
}

/// `outer`'s calldata: x, then the counter's address, as 32-byte words.
fn outer_args(x: u8, counter: Address) -> Bytes {
    let mut d = vec![0u8; 64];
    d[31] = x;
    d[44..].copy_from_slice(counter.as_slice());
    d.into()
}

async fn receipt<P: Provider>(p: &P, hash: B256) -> TransactionReceipt {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = p.get_transaction_receipt(hash).await.expect("receipt call") {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash} in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn qty(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{v} is not a quantity"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn word(x: u64) -> String {
    format!("{:#066x}", x)
}

fn key(a: Address) -> String {
    format!("{a:#x}")
}

fn ops(trace: &Value) -> Vec<String> {
    trace["structLogs"]
        .as_array()
        .expect("structLogs")
        .iter()
        .map(|l| l["op"].as_str().unwrap().to_string())
        .collect()
}

/// The gas a transaction's data costs (Istanbul: 4 a zero byte, 16 any other).
fn data_gas(d: &[u8]) -> u64 {
    d.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum()
}

async fn debug_flow(db_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        &dir.path().join("data"),
        db_url.as_deref(),
        &["--set", "rpc.debug=true"],
    );
    // Not the coinbase (development account 0), so that the fees show in its balance.
    let signer: PrivateKeySigner = DEV_KEY_1.parse().unwrap();
    let me = signer.address();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(node.url.parse().unwrap());

    // The counter and the outer contract.
    let mut deployed = Vec::new();
    for runtime in [COUNTER, OUTER] {
        let tx = TransactionRequest::default()
            .with_deploy_code(init_code(&hex_code(runtime)))
            .with_gas_limit(200_000)
            .with_gas_price(GWEI);
        let sent = p.send_transaction(tx).await.unwrap();
        let r = receipt(&p, *sent.tx_hash()).await;
        assert!(r.status());
        deployed.push(r.contract_address.expect("a contract"));
    }
    let (counter, outer) = (deployed[0], deployed[1]);
    let deployed_block = p.get_block_number().await.unwrap();

    // outer(7, counter) succeeds; outer(0, counter) reverts. Sent together, with a fixed gas
    // limit (estimating the reverting one would fail).
    let mut hashes = Vec::new();
    for x in [7, 0] {
        let tx = TransactionRequest::default()
            .with_to(outer)
            .with_input(outer_args(x, counter))
            .with_gas_limit(200_000)
            .with_gas_price(GWEI);
        hashes.push(*p.send_transaction(tx).await.unwrap().tx_hash());
    }
    let ok = receipt(&p, hashes[0]).await;
    let reverted = receipt(&p, hashes[1]).await;
    assert!(ok.status() && !reverted.status());
    let trace = |h: B256, opts: Value| {
        let p = &p;
        async move { call(p, "debug_traceTransaction", json!([h, opts])).await }
    };

    // The struct logger: gas and status as the receipts have them, the opcodes the code runs.
    let s_ok = trace(hashes[0], json!({})).await.unwrap();
    assert_eq!(s_ok["gas"].as_u64(), Some(ok.gas_used));
    assert_eq!(s_ok["failed"], json!(false));
    assert_eq!(s_ok["returnValue"], json!("0x"));
    let o = ops(&s_ok);
    assert_eq!(&o[..3], ["PUSH1", "CALLDATALOAD", "DUP1"]);
    for op in ["SSTORE", "LOG1", "CALL", "SLOAD", "RETURN", "STOP"] {
        assert!(o.contains(&op.to_string()), "{op} missing from {o:?}");
    }
    let logs = s_ok["structLogs"].as_array().unwrap();
    let intrinsic = 21_000 + data_gas(&outer_args(7, counter));
    assert_eq!(logs[0]["gas"].as_u64(), Some(200_000 - intrinsic));
    assert_eq!(logs[0]["gasCost"].as_u64(), Some(3));
    assert_eq!(logs[0]["depth"].as_u64(), Some(1));
    let sstore = logs.iter().find(|l| l["op"] == "SSTORE").unwrap();
    assert_eq!(sstore["storage"][word(0)], json!(word(7)));
    assert!(logs.iter().any(|l| l["depth"] == 2), "the counter's steps");
    let s_rev = trace(hashes[1], json!({})).await.unwrap();
    assert_eq!(s_rev["gas"].as_u64(), Some(reverted.gas_used));
    assert_eq!(s_rev["failed"], json!(true));
    assert_eq!(ops(&s_rev).last().map(String::as_str), Some("REVERT"));
    // Options: no stack, memory on, a limit.
    let lean = trace(
        hashes[0],
        json!({"disableStack": true, "enableMemory": true, "limit": 5}),
    )
    .await
    .unwrap();
    let lean_logs = lean["structLogs"].as_array().unwrap();
    assert_eq!(lean_logs.len(), 5);
    assert!(lean_logs.iter().all(|l| l.get("stack").is_none()));
    assert_eq!(lean["gas"].as_u64(), Some(ok.gas_used));

    // callTracer: the nested call, its output, the revert.
    let c_ok = trace(hashes[0], json!({"tracer": "callTracer"}))
        .await
        .unwrap();
    assert_eq!(c_ok["type"], "CALL");
    assert_eq!(c_ok["from"], json!(key(me)));
    assert_eq!(c_ok["to"], json!(key(outer)));
    assert_eq!(qty(&c_ok["gasUsed"]), ok.gas_used);
    assert!(c_ok.get("error").is_none());
    let inner = &c_ok["calls"].as_array().expect("nested calls")[0];
    assert_eq!(inner["type"], "CALL");
    assert_eq!(inner["from"], json!(key(outer)));
    assert_eq!(inner["to"], json!(key(counter)));
    assert_eq!(inner["output"], json!(word(1)));
    let c_rev = trace(hashes[1], json!({"tracer": "callTracer"}))
        .await
        .unwrap();
    assert_eq!(c_rev["error"], "execution reverted");
    assert_eq!(qty(&c_rev["gasUsed"]), reverted.gas_used);
    let with_log = trace(
        hashes[0],
        json!({"tracer": "callTracer", "tracerConfig": {"withLog": true, "onlyTopCall": true}}),
    )
    .await
    .unwrap();
    assert!(with_log.get("calls").is_none());
    assert_eq!(with_log["logs"][0]["address"], json!(key(outer)));
    assert_eq!(with_log["logs"][0]["topics"], json!([word(7)]));

    // prestateTracer: the state just before each transaction (the reverted one runs after
    // outer(7), so it sees slot 0 at 7), and the diff.
    let pre_ok = trace(hashes[0], json!({"tracer": "prestateTracer"}))
        .await
        .unwrap();
    let nonce_ok = p.get_transaction_by_hash(hashes[0]).await.unwrap().unwrap();
    let nonce_ok = alloy::consensus::Transaction::nonce(&nonce_ok);
    assert_eq!(pre_ok[key(me)]["nonce"], json!(nonce_ok));
    assert_eq!(pre_ok[key(outer)]["storage"][word(0)], json!(word(0)));
    assert_eq!(pre_ok[key(counter)]["storage"][word(0)], json!(word(0)));
    assert!(pre_ok[key(outer)]["code"]
        .as_str()
        .unwrap()
        .starts_with("0x600035"));
    let pre_rev = trace(hashes[1], json!({"tracer": "prestateTracer"}))
        .await
        .unwrap();
    assert_eq!(pre_rev[key(me)]["nonce"], json!(nonce_ok + 1));
    assert_eq!(pre_rev[key(outer)]["storage"][word(0)], json!(word(7)));
    let diff = trace(
        hashes[0],
        json!({"tracer": "prestateTracer", "tracerConfig": {"diffMode": true}}),
    )
    .await
    .unwrap();
    let (pre, post) = (&diff["pre"][key(me)], &diff["post"][key(me)]);
    assert_eq!(pre["nonce"], json!(nonce_ok));
    assert_eq!(post["nonce"], json!(nonce_ok + 1));
    let balance =
        |v: &Value| U256::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(
        balance(&pre["balance"]) - balance(&post["balance"]),
        U256::from(ok.gas_used) * U256::from(ok.effective_gas_price)
    );
    assert_eq!(diff["post"][key(outer)]["storage"][word(0)], json!(word(7)));
    assert_eq!(
        diff["post"][key(counter)]["storage"][word(0)],
        json!(word(1))
    );

    // By block: one entry per transaction of the block, in order, with its hash; the entry of
    // a transaction is what tracing it alone gives.
    for h in &hashes {
        let r = receipt(&p, *h).await;
        let n = r.block_number.unwrap();
        let block = call(
            &p,
            "eth_getBlockByNumber",
            json!([format!("{n:#x}"), false]),
        )
        .await
        .unwrap();
        let in_block = block["transactions"].as_array().unwrap().clone();
        let by_number = call(
            &p,
            "debug_traceBlockByNumber",
            json!([format!("{n:#x}"), {"tracer": "callTracer"}]),
        )
        .await
        .unwrap();
        let by_hash = call(
            &p,
            "debug_traceBlockByHash",
            json!([block["hash"], {"tracer": "callTracer"}]),
        )
        .await
        .unwrap();
        assert_eq!(by_number, by_hash);
        let entries = by_number.as_array().unwrap();
        assert_eq!(entries.len(), in_block.len());
        for (e, t) in entries.iter().zip(&in_block) {
            assert_eq!(&e["txHash"], t);
        }
        let mine = entries.iter().find(|e| e["txHash"] == json!(h)).unwrap();
        let alone = trace(*h, json!({"tracer": "callTracer"})).await.unwrap();
        assert_eq!(mine["result"], alone);
    }
    let by_latest = call(&p, "debug_traceBlockByNumber", json!(["latest"]))
        .await
        .unwrap();
    assert!(by_latest.is_array());

    // traceCall: against latest (slot 0 of outer is 7 there) and against the block the
    // contracts were deployed in (still 0), with eth_call's output.
    let args = json!({"from": me, "to": outer, "data": outer_args(9, counter), "gas": "0x30d40"});
    let latest = call(
        &p,
        "debug_traceCall",
        json!([args, "latest", {"tracer": "prestateTracer"}]),
    )
    .await
    .unwrap();
    assert_eq!(latest[key(outer)]["storage"][word(0)], json!(word(7)));
    let earlier = call(
        &p,
        "debug_traceCall",
        json!([args, format!("{deployed_block:#x}"), {"tracer": "prestateTracer"}]),
    )
    .await
    .unwrap();
    assert_eq!(earlier[key(outer)]["storage"][word(0)], json!(word(0)));
    let to_counter = json!({"to": counter});
    let out = call(&p, "eth_call", json!([to_counter, "latest"]))
        .await
        .unwrap();
    let traced = call(
        &p,
        "debug_traceCall",
        json!([to_counter, "latest", {"tracer": "callTracer"}]),
    )
    .await
    .unwrap();
    assert_eq!(traced["output"], out);
    assert_eq!(out, json!(word(2)));
    let logged = call(&p, "debug_traceCall", json!([to_counter, "latest"]))
        .await
        .unwrap();
    assert_eq!(logged["returnValue"], out);
    assert!(ops(&logged).contains(&"SSTORE".to_string()));

    // The struct logger's cap: init code that loops until its gas runs out.
    let looping = json!({"from": me, "data": "0x5b600056", "gas": "0x1e8480"});
    let (code, msg) = call(&p, "debug_traceCall", json!([looping, "latest"]))
        .await
        .unwrap_err();
    assert_eq!(code, -32000);
    assert!(msg.contains("100000 struct log steps"), "{msg}");
    let limited = call(
        &p,
        "debug_traceCall",
        json!([looping, "latest", {"limit": 7}]),
    )
    .await
    .unwrap();
    assert_eq!(limited["structLogs"].as_array().unwrap().len(), 7);
    assert_eq!(limited["failed"], json!(true));

    // Errors as geth gives them.
    let unknown = B256::repeat_byte(0xab);
    assert_eq!(
        trace(unknown, json!({})).await.unwrap_err(),
        (-32000, format!("transaction {unknown} not found"))
    );
    let far = 0xffffff;
    assert_eq!(
        call(&p, "debug_traceBlockByNumber", json!([format!("{far:#x}")]))
            .await
            .unwrap_err(),
        (-32000, format!("block #{far} not found"))
    );
    assert_eq!(
        call(&p, "debug_traceBlockByHash", json!([unknown]))
            .await
            .unwrap_err(),
        (-32000, format!("block {unknown} not found"))
    );
    let (code, msg) = trace(hashes[0], json!({"tracer": "noSuchTracer"}))
        .await
        .unwrap_err();
    assert_eq!(code, -32602);
    assert!(msg.contains("\"noSuchTracer\" is not supported"), "{msg}");
    let (code, msg) = trace(
        hashes[0],
        json!({"tracer": "callTracer", "tracerConfig": {"onlyTopCall": 3}}),
    )
    .await
    .unwrap_err();
    assert_eq!(code, -32602);
    assert!(msg.contains("tracerConfig"), "{msg}");
    let (code, _) = call(&p, "debug_traceTransaction", json!(["0x12"]))
        .await
        .unwrap_err();
    assert_eq!(code, -32602);
    let (code, msg) = call(&p, "debug_traceBlockByNumber", json!(["0x0"]))
        .await
        .unwrap_err();
    assert_eq!((code, msg.as_str()), (-32000, "genesis is not traceable"));
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_traces_on_sqlite() {
    debug_flow(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_traces_on_postgres() {
    let Some(pg) = zknode_sqldb::harness::PgCluster::start() else {
        return;
    };
    debug_flow(Some(pg.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("data"), None, &[]);
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    for (method, params) in [
        ("debug_traceTransaction", json!([B256::ZERO])),
        ("debug_traceBlockByNumber", json!(["latest"])),
        ("debug_traceBlockByHash", json!([B256::ZERO])),
        ("debug_traceCall", json!([{"to": Address::ZERO}, "latest"])),
    ] {
        let (code, _) = call(&p, method, params).await.unwrap_err();
        assert_eq!(code, -32601, "{method}");
    }
}
