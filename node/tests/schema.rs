//! Every JSON-RPC method the node serves, against the result shapes of ethereum/execution-apis
//! (and zkevm-node's for the zkevm namespace, geth's for txpool and debug), written as JSON
//! Schemas in `tests/schemas/`.
//!
//! A real `zknode run` (with the debug namespace on) gets legacy, EIP-2930 and EIP-1559
//! transactions, a contract that logs, a reverted deployment and a transaction that waits in
//! the pool behind a nonce gap; then each method is called with known and unknown blocks,
//! transactions and batches, tags (`pending` included), and every result is checked against
//! its schema: `null` where nothing is found, the object otherwise. The list of methods is
//! compared with the names the server registers in `node/rpc/src`, so that a new method
//! without a case here fails the test. On SQLite, and on PostgreSQL when it is installed.

mod common;
#[path = "schemas/validate.rs"]
mod validate;
#[path = "schemas/zkevm_cases.rs"]
mod zkevm_cases;

use std::collections::BTreeSet;
use std::time::Duration;

use alloy::consensus::{SignableTransaction, Signed, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::eips::eip2930::{AccessList, AccessListItem};
use alloy::primitives::{Address, Bytes, Signature, TxKind, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use alloy::transports::ws::WsConnect;
use common::{call, Node, CHAIN_ID, DEV_KEY, DEV_KEY_1, GWEI};
use serde_json::{json, Value};
use validate::Schemas;

/// Every method the server registers (`eth_subscribe` and `eth_unsubscribe` over WebSocket).
const METHODS: [&str; 66] = [
    "debug_traceBlockByHash",
    "debug_traceBlockByNumber",
    "debug_traceCall",
    "debug_traceTransaction",
    "eth_blockNumber",
    "eth_call",
    "eth_chainId",
    "eth_createAccessList",
    "eth_estimateGas",
    "eth_feeHistory",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getBlockByHash",
    "eth_getBlockByNumber",
    "eth_getBlockReceipts",
    "eth_getBlockTransactionCountByHash",
    "eth_getBlockTransactionCountByNumber",
    "eth_getCode",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_getLogs",
    "eth_getStorageAt",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_getUncleByBlockHashAndIndex",
    "eth_getUncleByBlockNumberAndIndex",
    "eth_getUncleCountByBlockHash",
    "eth_getUncleCountByBlockNumber",
    "eth_maxPriorityFeePerGas",
    "eth_newBlockFilter",
    "eth_newFilter",
    "eth_newPendingTransactionFilter",
    "eth_sendRawTransaction",
    "eth_subscribe",
    "eth_syncing",
    "eth_uninstallFilter",
    "eth_unsubscribe",
    "net_listening",
    "net_peerCount",
    "net_version",
    "txpool_content",
    "txpool_contentFrom",
    "txpool_status",
    "web3_clientVersion",
    "web3_sha3",
    "zkevm_batchNumber",
    "zkevm_batchNumberByBlockNumber",
    "zkevm_consolidatedBlockNumber",
    "zkevm_estimateCounters",
    "zkevm_getBatchByNumber",
    "zkevm_getBatchWitness",
    "zkevm_getExitRootsByGER",
    "zkevm_getForkId",
    "zkevm_getFullBlockByHash",
    "zkevm_getFullBlockByNumber",
    "zkevm_getLatestGlobalExitRoot",
    "zkevm_getNativeBlockHashesInRange",
    "zkevm_getTransactionByL2Hash",
    "zkevm_getTransactionReceiptByL2Hash",
    "zkevm_isBlockConsolidated",
    "zkevm_isBlockVirtualized",
    "zkevm_verifiedBatchNumber",
    "zkevm_virtualBatchNumber",
];

/// Init code of a contract that logs its first calldata word (LOG2, topic0 [`TOPIC`], topic1
/// the caller); the same as in rpc_eth.rs.
const EMITTER_INIT: &str = concat!(
    "602f600c60003960",
    "2f6000f3",
    "6020600060003733",
    "7f1111111111111111111111111111111111111111111111111111111111111111",
    "60206000a200"
);
const TOPIC: B256 = B256::repeat_byte(0x11);
/// Init code that reverts: a failed deployment.
const REVERT_INIT: &str = "60006000fd";
/// A block number far past the head, a hash and a batch nobody has.
const FAR: &str = "0xffffff";
const UNKNOWN: B256 = B256::repeat_byte(0xee);

/// The method names the server registers, read from its source: `method!(m, "NAME"` and the
/// subscribe and unsubscribe names of `register_subscription`.
fn registered() -> BTreeSet<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rpc/src");
    let method = regex::Regex::new(r#"method!\(\s*m,\s*"(\w+)""#).unwrap();
    let sub =
        regex::Regex::new(r#"register_subscription\(\s*"(\w+)",\s*"\w+",\s*"(\w+)""#).unwrap();
    let mut names = BTreeSet::new();
    let mut dirs = vec![src];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("node/rpc/src") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for c in method.captures_iter(&text) {
                    names.insert(c[1].to_string());
                }
                for c in sub.captures_iter(&text) {
                    names.insert(c[1].to_string());
                    names.insert(c[2].to_string());
                }
            }
        }
    }
    names
}

/// Calls methods and checks their results, collecting every failure.
struct Checker<'a, P> {
    p: &'a P,
    schemas: Schemas,
    called: BTreeSet<&'static str>,
    failures: Vec<String>,
}

impl<P: Provider> Checker<'_, P> {
    /// Calls `method` and checks the result against `schema` (`file.json#/Name`); an error
    /// answer is a failure too. The result, or null after an error.
    async fn check(&mut self, method: &'static str, params: Value, schema: &str) -> Value {
        self.called.insert(method);
        match call(self.p, method, params.clone()).await {
            Ok(v) => {
                self.value(&format!("{method}{params}"), schema, &v);
                v
            }
            Err((code, message)) => {
                self.failures
                    .push(format!("{method}{params}: error {code} {message}"));
                Value::Null
            }
        }
    }

    /// Checks a value got some other way (a notification).
    fn value(&mut self, what: &str, schema: &str, v: &Value) {
        if let Err(errors) = self.schemas.check(schema, v) {
            for e in errors {
                self.failures.push(format!("{what} against {schema}: {e}"));
            }
        }
    }

    fn expect(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }
}

/// A signed transaction: its bytes and hash.
fn sign<T>(key: &PrivateKeySigner, tx: T) -> (Bytes, B256)
where
    T: SignableTransaction<Signature>,
    TxEnvelope: From<Signed<T>>,
{
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    (env.encoded_2718().into(), *env.tx_hash())
}

fn word(n: u64) -> Bytes {
    Bytes::from(U256::from(n).to_be_bytes::<32>().to_vec())
}

/// The receipt of `hash`, polling for at most 30 s.
async fn receipt<P: Provider>(p: &P, hash: B256) -> Value {
    for _ in 0..600 {
        let r = call(p, "eth_getTransactionReceipt", json!([hash]))
            .await
            .expect("a receipt answer");
        if !r.is_null() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no receipt for {hash} in 30 s");
}

/// The next notification of a subscription, within 30 s.
async fn next(sub: &mut alloy::pubsub::Subscription<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(30), sub.recv())
        .await
        .expect("a notification within 30 s")
        .expect("the subscription is open")
}

#[test]
fn the_case_list_is_every_registered_method() {
    let want: BTreeSet<String> = METHODS.iter().map(|m| m.to_string()).collect();
    let have = registered();
    assert_eq!(
        have.difference(&want).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "registered methods without a schema case here"
    );
    assert_eq!(
        want.difference(&have).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "cases here for methods the server does not register"
    );
}

async fn conformance(db_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        &dir.path().join("data"),
        db_url.as_deref(),
        &[
            "--set",
            "rpc.debug=true",
            "--set",
            "sequencer.max_batch_txs=2",
        ],
    );
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let ws_client = RpcClient::connect_pubsub(WsConnect::new(node.ws_url.clone()))
        .await
        .expect("WebSocket");
    let ws = ProviderBuilder::new().connect_client(ws_client);
    let mut c = Checker {
        p: &p,
        schemas: Schemas::load(),
        called: BTreeSet::new(),
        failures: Vec::new(),
    };
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let key1: PrivateKeySigner = DEV_KEY_1.parse().unwrap();
    let me = key.address();
    let friend = Address::repeat_byte(0x42);

    // Subscriptions and filters first, so that they see what follows.
    let mut heads = ws.subscribe::<_, Value>(("newHeads",)).await.unwrap();
    let mut logs_sub = ws
        .subscribe::<_, Value>(("logs", json!({"topics": [TOPIC]})))
        .await
        .unwrap();
    let mut pending_sub = ws
        .subscribe::<_, Value>(("newPendingTransactions",))
        .await
        .unwrap();
    c.called.insert("eth_subscribe");
    let log_filter = c
        .check(
            "eth_newFilter",
            json!([{"topics": [TOPIC]}]),
            "base.json#/uint",
        )
        .await;
    let block_filter = c
        .check("eth_newBlockFilter", json!([]), "base.json#/uint")
        .await;
    let pending_filter = c
        .check(
            "eth_newPendingTransactionFilter",
            json!([]),
            "base.json#/uint",
        )
        .await;
    // Identifiers are quantities: without leading zeros (one in 16 random ones has a zero
    // digit first, so many are made).
    for _ in 0..48 {
        let id = c
            .check("eth_newBlockFilter", json!([]), "base.json#/uint")
            .await;
        c.check("eth_uninstallFilter", json!([id]), "base.json#/boolean")
            .await;
    }

    // The transactions: each type, a contract that logs, calls to it and a failed deployment.
    let n0 = c
        .check(
            "eth_getTransactionCount",
            json!([me, "latest"]),
            "base.json#/uint",
        )
        .await;
    let n0 = u64::from_str_radix(n0.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let emitter = me.create(n0);
    let chain_id = CHAIN_ID;
    let legacy = |nonce, to: TxKind, input: &str, value: u64| TxLegacy {
        chain_id: Some(chain_id),
        nonce,
        gas_price: GWEI,
        gas_limit: 200_000,
        to,
        value: U256::from(value),
        input: Bytes::from(hex::decode(input).unwrap()),
    };
    let eip1559 = |nonce, to: TxKind, input: Bytes| TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 200_000,
        max_fee_per_gas: 3 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to,
        value: U256::ZERO,
        access_list: AccessList::default(),
        input,
    };
    let sent = [
        (
            sign(&key, legacy(n0, TxKind::Create, EMITTER_INIT, 0)),
            "0x0",
        ),
        (
            sign(&key, eip1559(n0 + 1, TxKind::Call(emitter), word(1))),
            "0x2",
        ),
        (
            sign(
                &key,
                TxEip2930 {
                    chain_id,
                    nonce: n0 + 2,
                    gas_price: GWEI,
                    gas_limit: 200_000,
                    to: TxKind::Call(emitter),
                    value: U256::ZERO,
                    access_list: AccessList(vec![AccessListItem {
                        address: emitter,
                        storage_keys: vec![B256::ZERO],
                    }]),
                    input: word(2),
                },
            ),
            "0x1",
        ),
        (
            sign(&key, legacy(n0 + 3, TxKind::Call(friend), "", 7)),
            "0x0",
        ),
        (
            sign(
                &key,
                eip1559(
                    n0 + 4,
                    TxKind::Create,
                    hex::decode(REVERT_INIT).unwrap().into(),
                ),
            ),
            "0x2",
        ),
    ];
    for ((raw, hash), _) in &sent {
        let got = c
            .check("eth_sendRawTransaction", json!([raw]), "base.json#/hash32")
            .await;
        c.expect(
            got == json!(hash),
            format!("sendRawTransaction answered {got}"),
        );
    }
    // A transaction behind a nonce gap: it waits in the pool.
    let n1 = p.get_transaction_count(key1.address()).await.unwrap();
    let (gap_raw, gap) = sign(&key1, legacy(n1 + 5, TxKind::Call(friend), "", 1));
    c.check(
        "eth_sendRawTransaction",
        json!([gap_raw]),
        "base.json#/hash32",
    )
    .await;

    let mut receipts = Vec::new();
    for ((_, hash), _) in &sent {
        receipts.push(receipt(&p, *hash).await);
    }
    c.expect(
        receipts[4]["status"] == "0x0",
        "the failed deployment failed",
    );
    c.expect(receipts[1]["logs"][0].is_object(), "the call logged");

    // Notifications: a head, a log and a pending transaction hash.
    c.value("newHeads", "eth.json#/Header", &next(&mut heads).await);
    c.value("logs", "eth.json#/Log", &next(&mut logs_sub).await);
    c.value(
        "newPendingTransactions",
        "base.json#/hash32",
        &next(&mut pending_sub).await,
    );
    for id in [
        heads.local_id(),
        logs_sub.local_id(),
        pending_sub.local_id(),
    ] {
        ws.unsubscribe(*id).await.unwrap();
    }
    c.called.insert("eth_unsubscribe");

    transactions(&mut c, &sent, &receipts, gap).await;
    blocks(&mut c, &receipts).await;
    state_and_calls(&mut c, me, emitter, friend).await;
    logs_and_filters(
        &mut c,
        &receipts,
        [log_filter, block_filter, pending_filter],
    )
    .await;
    zkevm_cases::zkevm(&mut c, me, &receipts).await;
    zkevm_cases::txpool_and_debug(&mut c, key1.address(), emitter, &sent, &receipts).await;

    let called: BTreeSet<&str> = c.called.iter().copied().collect();
    let all: BTreeSet<&str> = METHODS.into_iter().collect();
    let missed: Vec<_> = all.difference(&called).collect();
    assert!(missed.is_empty(), "methods not checked: {missed:?}");
    assert!(
        c.failures.is_empty(),
        "{} results break their schemas:\n{}",
        c.failures.len(),
        c.failures.join("\n")
    );
    drop(p);
    drop(ws);
    assert!(node.terminate().success());
}

type Sent = ((Bytes, B256), &'static str);

/// Transactions and receipts: by hash, by block and index, unknown, and pending in the pool.
async fn transactions<P: Provider>(c: &mut Checker<'_, P>, sent: &[Sent], r: &[Value], gap: B256) {
    let t = "eth.json#/TransactionInfo";
    for (((_, hash), ty), receipt) in sent.iter().zip(r) {
        let tx = c.check("eth_getTransactionByHash", json!([hash]), t).await;
        c.expect(
            tx["type"] == *ty,
            format!("{hash}: type {} for {ty}", tx["type"]),
        );
        c.check(
            "eth_getTransactionReceipt",
            json!([hash]),
            "eth.json#/Receipt",
        )
        .await;
        let (block, index) = (&receipt["blockNumber"], &receipt["transactionIndex"]);
        c.check(
            "eth_getTransactionByBlockNumberAndIndex",
            json!([block, index]),
            t,
        )
        .await;
        let block = &receipt["blockHash"];
        c.check(
            "eth_getTransactionByBlockHashAndIndex",
            json!([block, index]),
            t,
        )
        .await;
    }
    let none = "base.json#/notFound";
    c.check("eth_getTransactionByHash", json!([UNKNOWN]), none)
        .await;
    c.check("eth_getTransactionReceipt", json!([UNKNOWN]), none)
        .await;
    c.check("eth_getTransactionReceipt", json!([gap]), none)
        .await;
    let pending = "eth.json#/PendingTransactionInfo";
    c.check("eth_getTransactionByHash", json!([gap]), pending)
        .await;
    let block = &r[0]["blockNumber"];
    c.check(
        "eth_getTransactionByBlockNumberAndIndex",
        json!([block, "0x63"]),
        none,
    )
    .await;
    c.check(
        "eth_getTransactionByBlockNumberAndIndex",
        json!([FAR, "0x0"]),
        none,
    )
    .await;
    c.check(
        "eth_getTransactionByBlockHashAndIndex",
        json!([UNKNOWN, "0x0"]),
        none,
    )
    .await;
}

/// Blocks by number, tag and hash, with hashes and full transactions; their receipts,
/// transaction counts and uncles; unknown blocks.
async fn blocks<P: Provider>(c: &mut Checker<'_, P>, r: &[Value]) {
    let (hashes, full, none) = (
        "eth.json#/BlockHashes",
        "eth.json#/BlockFull",
        "base.json#/notFound",
    );
    let (uint, receipts) = ("base.json#/uint", "eth.json#/Receipts");
    for receipt in [&r[0], &r[2], &r[4]] {
        let (n, h) = (&receipt["blockNumber"], &receipt["blockHash"]);
        c.check("eth_getBlockByNumber", json!([n, false]), hashes)
            .await;
        c.check("eth_getBlockByNumber", json!([n, true]), full)
            .await;
        c.check("eth_getBlockByHash", json!([h, false]), hashes)
            .await;
        c.check("eth_getBlockByHash", json!([h, true]), full).await;
        c.check("eth_getBlockReceipts", json!([n]), receipts).await;
        c.check("eth_getBlockReceipts", json!([h]), receipts).await;
        c.check("eth_getBlockTransactionCountByNumber", json!([n]), uint)
            .await;
        c.check("eth_getBlockTransactionCountByHash", json!([h]), uint)
            .await;
        c.check("eth_getUncleCountByBlockNumber", json!([n]), uint)
            .await;
        c.check("eth_getUncleCountByBlockHash", json!([h]), uint)
            .await;
        c.check("eth_getUncleByBlockNumberAndIndex", json!([n, "0x0"]), none)
            .await;
        c.check("eth_getUncleByBlockHashAndIndex", json!([h, "0x0"]), none)
            .await;
    }
    for tag in ["latest", "pending", "earliest", "safe", "finalized"] {
        c.check("eth_getBlockByNumber", json!([tag, false]), hashes)
            .await;
        c.check("eth_getBlockByNumber", json!([tag, true]), full)
            .await;
        c.check("eth_getBlockTransactionCountByNumber", json!([tag]), uint)
            .await;
        c.check("eth_getBlockReceipts", json!([tag]), receipts)
            .await;
    }
    c.check("eth_getBlockByNumber", json!([FAR, false]), none)
        .await;
    c.check("eth_getBlockByHash", json!([UNKNOWN, true]), none)
        .await;
    c.check("eth_getBlockReceipts", json!([FAR]), none).await;
    c.check("eth_getBlockReceipts", json!([UNKNOWN]), none)
        .await;
    c.check("eth_getBlockTransactionCountByNumber", json!([FAR]), none)
        .await;
    c.check("eth_getBlockTransactionCountByHash", json!([UNKNOWN]), none)
        .await;
    c.check("eth_getUncleCountByBlockNumber", json!([FAR]), none)
        .await;
    c.check("eth_getUncleCountByBlockHash", json!([UNKNOWN]), none)
        .await;
}

/// Chain facts, account state at tags and blocks, calls and estimates, fees.
async fn state_and_calls<P: Provider>(
    c: &mut Checker<'_, P>,
    me: Address,
    emitter: Address,
    friend: Address,
) {
    let uint = "base.json#/uint";
    for m in [
        "eth_chainId",
        "eth_blockNumber",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
    ] {
        c.check(m, json!([]), uint).await;
    }
    c.check("eth_syncing", json!([]), "eth.json#/SyncingStatus")
        .await;
    c.check("net_version", json!([]), "base.json#/uintDecimal")
        .await;
    c.check("net_listening", json!([]), "base.json#/boolean")
        .await;
    c.check("net_peerCount", json!([]), uint).await;
    c.check("web3_clientVersion", json!([]), "base.json#/string")
        .await;
    c.check("web3_sha3", json!(["0x68656c6c6f"]), "base.json#/hash32")
        .await;
    let fees = "eth.json#/FeeHistory";
    c.check("eth_feeHistory", json!(["0x4", "latest", [25, 75]]), fees)
        .await;
    c.check("eth_feeHistory", json!([2, "pending"]), fees).await;
    c.check("eth_feeHistory", json!(["0x400", "latest", []]), fees)
        .await;
    let head = c
        .check(
            "eth_getBlockByNumber",
            json!(["latest", false]),
            "eth.json#/BlockHashes",
        )
        .await;
    for at in [
        json!("latest"),
        json!("pending"),
        json!("earliest"),
        json!("0x1"),
        head["hash"].clone(),
    ] {
        c.check("eth_getBalance", json!([me, at]), uint).await;
        c.check("eth_getTransactionCount", json!([me, at]), uint)
            .await;
        c.check("eth_getCode", json!([emitter, at]), "base.json#/bytes")
            .await;
        c.check("eth_getCode", json!([friend, at]), "base.json#/bytes")
            .await;
        c.check(
            "eth_getStorageAt",
            json!([emitter, "0x0", at]),
            "base.json#/bytes32",
        )
        .await;
    }
    let to_emitter = json!({"from": me, "to": emitter, "data": word(5)});
    c.check(
        "eth_call",
        json!([to_emitter, "latest"]),
        "base.json#/bytes",
    )
    .await;
    c.check(
        "eth_call",
        json!([{"to": friend}, "pending"]),
        "base.json#/bytes",
    )
    .await;
    c.check("eth_estimateGas", json!([to_emitter]), uint).await;
    let lists = "eth.json#/AccessListResult";
    c.check("eth_createAccessList", json!([to_emitter, "latest"]), lists)
        .await;
    let reverting = json!({"from": me, "data": format!("0x{REVERT_INIT}")});
    let got = c
        .check("eth_createAccessList", json!([reverting]), lists)
        .await;
    c.expect(
        got["error"].is_string(),
        format!("a reverting call's list: {got}"),
    );
    c.check(
        "eth_estimateGas",
        json!([{"from": me, "to": friend, "value": "0x1"}, "latest"]),
        uint,
    )
    .await;
}

/// Logs by range and by block hash, and what each kind of polled filter answers.
async fn logs_and_filters<P: Provider>(c: &mut Checker<'_, P>, r: &[Value], filters: [Value; 3]) {
    let logs = "eth.json#/Logs";
    let first = &r[0]["blockNumber"];
    let got = c
        .check(
            "eth_getLogs",
            json!([{"fromBlock": first, "toBlock": "latest"}]),
            logs,
        )
        .await;
    c.expect(
        got.as_array().is_some_and(|l| l.len() >= 2),
        format!("eth_getLogs found {got}"),
    );
    c.check(
        "eth_getLogs",
        json!([{"blockHash": r[1]["blockHash"]}]),
        logs,
    )
    .await;
    c.check("eth_getLogs", json!([{"fromBlock": FAR}]), logs)
        .await;
    let [log_filter, block_filter, pending_filter] = filters;
    let changes = c
        .check("eth_getFilterChanges", json!([log_filter]), logs)
        .await;
    c.expect(
        changes.as_array().is_some_and(|l| !l.is_empty()),
        "the log filter saw the logs",
    );
    let hashes = "base.json#/hashes";
    for f in [&block_filter, &pending_filter] {
        let changes = c.check("eth_getFilterChanges", json!([f]), hashes).await;
        c.expect(
            changes.as_array().is_some_and(|l| !l.is_empty()),
            format!("filter {f} saw something"),
        );
        c.check(
            "eth_getFilterChanges",
            json!([f]),
            "eth.json#/FilterResults",
        )
        .await;
    }
    c.check("eth_getFilterLogs", json!([log_filter]), logs)
        .await;
    for f in [log_filter, block_filter, pending_filter] {
        let removed = c
            .check("eth_uninstallFilter", json!([f]), "base.json#/boolean")
            .await;
        c.expect(removed == json!(true), "a filter is uninstalled once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_follow_the_schemas_on_sqlite() {
    conformance(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_follow_the_schemas_on_postgres() {
    let Some(pg) = zknode_sqldb::harness::PgCluster::start() else {
        eprintln!("PostgreSQL is not installed here; skipped");
        return;
    };
    conformance(Some(pg.url())).await;
}
