//! The `zkevm` and `txpool` namespaces on a real `zknode run`, on SQLite and on a throwaway
//! PostgreSQL cluster: batches against the blocks and receipts the node gave (their data
//! decodes to the blocks' transactions), blocks with their zkEVM fields, transactions and
//! receipts by L2 hash, native block hashes, counters, the errors for bad parameters, and the
//! pool's contents with a nonce gap. On PostgreSQL the test is also the L1 synchronizer: it
//! marks batches virtual and verified in the node's database while the node runs, and checks
//! what the lifecycle methods and the `safe`/`finalized` tags answer.

mod common;

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use common::{call, Node, CHAIN_ID, DEV_KEY, DEV_KEY_1, GWEI};
use serde_json::{json, Value};
use zknode_executor::{decode_batch, decode_signed, BatchEntry};

/// Init code that deploys a contract whose code returns 42.
const INIT: &str = "69602a60005260206000f3600052600a6016f3";
/// Init code that reverts with the word 42.
const REVERTING_INIT: &str = "602a60005260206000fd";
/// The state-tree operations a batch may have on the test's node (`max_batch_state_ops`).
const MAX_OPS: u64 = 100;

/// A signed transaction: its bytes and hash.
struct Signed {
    raw: Bytes,
    hash: B256,
}

/// Signs a legacy (EIP-155) or, with `tip`, an EIP-1559 transaction.
fn sign(
    key: &PrivateKeySigner,
    nonce: u64,
    to: Option<Address>,
    data: &str,
    tip: Option<u128>,
) -> Signed {
    let to = to.map_or(TxKind::Create, TxKind::Call);
    let input = Bytes::from(hex::decode(data).unwrap());
    let gas_limit = if data.is_empty() { 21_000 } else { 3_000_000 };
    let env: TxEnvelope = match tip {
        None => {
            let tx = TxLegacy {
                chain_id: Some(CHAIN_ID),
                nonce,
                gas_price: GWEI,
                gas_limit,
                to,
                value: U256::from(7),
                input,
            };
            let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
            tx.into_signed(sig).into()
        }
        Some(tip) => {
            let tx = TxEip1559 {
                chain_id: CHAIN_ID,
                nonce,
                gas_limit,
                max_fee_per_gas: 5 * GWEI,
                max_priority_fee_per_gas: tip,
                to,
                value: U256::from(7),
                access_list: Default::default(),
                input,
            };
            let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
            tx.into_signed(sig).into()
        }
    };
    Signed {
        raw: env.encoded_2718().into(),
        hash: *env.tx_hash(),
    }
}

/// Polygon's L2 hash of a signed transaction, as the executor computes it.
fn l2_hash(s: &Signed, from: Address) -> B256 {
    let tx = decode_signed(&s.raw).unwrap();
    B256::from(tx.l2_hash(&from).to_be_bytes::<32>())
}

async fn send<P: Provider>(p: &P, s: &Signed) {
    let got = call(p, "eth_sendRawTransaction", json!([s.raw])).await;
    assert_eq!(got, Ok(json!(s.hash)), "sending {}", s.hash);
}

/// The receipt (as JSON) once the transaction is in a block.
async fn receipt<P: Provider>(p: &P, hash: B256) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = call(p, "eth_getTransactionReceipt", json!([hash]))
            .await
            .unwrap();
        if !r.is_null() {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash} in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn qty(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{v} is not a quantity"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn hex_qty(n: u64) -> String {
    format!("{n:#x}")
}

/// The error of a call that must fail with invalid params naming `what`.
async fn invalid<P: Provider>(p: &P, method: &'static str, params: Value, what: &str) {
    match call(p, method, params.clone()).await {
        Err((code, msg)) => {
            assert_eq!(code, -32602, "{method} {params}: {msg}");
            assert!(
                msg.to_lowercase().contains(&what.to_lowercase()),
                "{method} {params}: {msg:?} does not name {what:?}"
            );
        }
        Ok(v) => panic!("{method} {params} answered {v}"),
    }
}

async fn zkevm_flow(db_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ops = format!("sequencer.max_batch_state_ops={MAX_OPS}");
    let node = Node::start(
        &data,
        db_url.as_deref(),
        &["--set", "sequencer.max_batch_txs=2", "--set", &ops],
    );
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let k0: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let k1: PrivateKeySigner = DEV_KEY_1.parse().unwrap();
    let friend = Some(Address::repeat_byte(0x42));

    // Five transactions of two senders, legacy and EIP-1559, one a deployment: with two per
    // batch, at least two batches close.
    let n0 = p.get_transaction_count(k0.address()).await.unwrap();
    let n1 = p.get_transaction_count(k1.address()).await.unwrap();
    let sent = [
        (sign(&k0, n0, friend, "", None), k0.address()),
        (sign(&k0, n0 + 1, friend, "", Some(GWEI)), k0.address()),
        (sign(&k1, n1, friend, "", None), k1.address()),
        (sign(&k0, n0 + 2, None, INIT, None), k0.address()),
        (sign(&k1, n1 + 1, friend, "", Some(2 * GWEI)), k1.address()),
    ];
    for (s, _) in &sent {
        send(&p, s).await;
    }
    let mut receipts = Vec::new();
    for (s, from) in &sent {
        let r = receipt(&p, s.hash).await;
        assert_eq!(r["status"], "0x1");
        assert_eq!(r["transactionL2Hash"], json!(l2_hash(s, *from)));
        receipts.push(r);
    }

    transactions_and_blocks(&p, &sent, &receipts).await;
    let closed = batches(&p).await;
    assert!(closed.len() >= 2, "closed batches after genesis {closed:?}");
    native_hashes(&p).await;
    counters(&p, &k0).await;
    misc(&p).await;

    // A nonce gap stays in the pool, queued, while the rest has been included.
    let gap = sign(&k1, n1 + 5, friend, "", None);
    send(&p, &gap).await;
    // The pool drops an included transaction just after its block is stored.
    let want = json!({"pending": "0x0", "queued": "0x1"});
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = call(&p, "txpool_status", json!([])).await.unwrap();
        if status == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "txpool_status {status}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let from = call(&p, "txpool_contentFrom", json!([k1.address()]))
        .await
        .unwrap();
    assert_eq!(from["pending"], json!({}));
    assert_eq!(
        from["queued"][(n1 + 5).to_string()]["hash"],
        json!(gap.hash)
    );

    if let Some(url) = &db_url {
        lifecycle(&p, url, &closed).await;
    }
    drop(p);
    assert!(node.terminate().success());
}

/// Blocks with their zkEVM fields, and transactions and receipts by L2 hash.
async fn transactions_and_blocks<P: Provider>(
    p: &P,
    sent: &[(Signed, Address)],
    receipts: &[Value],
) {
    for ((s, _), r) in sent.iter().zip(receipts) {
        let number = r["blockNumber"].clone();
        let l2 = r["transactionL2Hash"].clone();
        let eth_block = call(p, "eth_getBlockByNumber", json!([number, false]))
            .await
            .unwrap();
        let full = call(p, "zkevm_getFullBlockByNumber", json!([number, true]))
            .await
            .unwrap();
        assert_eq!(full["hash"], r["blockHash"]);
        assert_eq!(full["stateRoot"], eth_block["stateRoot"]);
        assert_eq!(full["globalExitRoot"], json!(B256::ZERO));
        assert_eq!(full["blockInfoRoot"], eth_block["mixHash"]);
        let tx = full["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["hash"] == json!(s.hash))
            .expect("the transaction is in its block")
            .clone();
        assert_eq!(tx["l2Hash"], l2);
        assert_eq!(tx["blockNumber"], number);
        assert_eq!(tx["receipt"]["transactionHash"], json!(s.hash));
        assert_eq!(tx["receipt"]["gasUsed"], r["gasUsed"]);
        assert_eq!(tx["receipt"]["transactionL2Hash"], l2);
        // By hash, without full transactions: the same block, hashes for transactions.
        let by_hash = call(
            p,
            "zkevm_getFullBlockByHash",
            json!([r["blockHash"], false]),
        )
        .await
        .unwrap();
        assert_eq!(by_hash["number"], number);
        assert_eq!(by_hash["transactions"], eth_block["transactions"]);
        assert_eq!(by_hash["blockInfoRoot"], full["blockInfoRoot"]);

        let t = call(p, "zkevm_getTransactionByL2Hash", json!([l2]))
            .await
            .unwrap();
        let eth_t = call(p, "eth_getTransactionByHash", json!([s.hash]))
            .await
            .unwrap();
        assert_eq!(t["hash"], json!(s.hash));
        assert_eq!(t["l2Hash"], l2);
        for k in [
            "blockHash",
            "blockNumber",
            "transactionIndex",
            "from",
            "nonce",
            "input",
        ] {
            assert_eq!(t[k], eth_t[k], "{k}");
        }
        let tr = call(p, "zkevm_getTransactionReceiptByL2Hash", json!([l2]))
            .await
            .unwrap();
        assert_eq!(&tr, r);
    }
    let unknown = json!([B256::repeat_byte(0x77)]);
    for m in [
        "zkevm_getTransactionByL2Hash",
        "zkevm_getTransactionReceiptByL2Hash",
        "zkevm_getFullBlockByHash",
    ] {
        assert_eq!(call(p, m, unknown.clone()).await, Ok(Value::Null), "{m}");
    }
    assert_eq!(
        call(p, "zkevm_getFullBlockByNumber", json!(["0xffffff", false])).await,
        Ok(Value::Null)
    );
    invalid(
        p,
        "zkevm_getTransactionByL2Hash",
        json!(["0x12"]),
        "L2 transaction hash",
    )
    .await;
    invalid(
        p,
        "zkevm_getFullBlockByNumber",
        json!(["soon", false]),
        "block number",
    )
    .await;
    invalid(
        p,
        "zkevm_getFullBlockByNumber",
        json!(["latest", "yes"]),
        "full",
    )
    .await;
    invalid(
        p,
        "zkevm_getFullBlockByHash",
        json!(["0x1234"]),
        "block hash",
    )
    .await;
}

/// Every batch against the blocks: numbers, hashes, transactions, the batch data; returns the
/// numbers of the closed batches.
async fn batches<P: Provider>(p: &P) -> Vec<u64> {
    // Wait until the head's batch number is known for every block.
    let head = qty(&call(p, "eth_blockNumber", json!([])).await.unwrap());
    let mut by_batch: std::collections::BTreeMap<u64, Vec<Value>> = Default::default();
    for n in 0..=head {
        let b = call(p, "zkevm_batchNumberByBlockNumber", json!([hex_qty(n)]))
            .await
            .unwrap();
        let block = call(p, "eth_getBlockByNumber", json!([hex_qty(n), false]))
            .await
            .unwrap();
        by_batch.entry(qty(&b)).or_default().push(block);
    }
    let last = qty(&call(p, "zkevm_batchNumber", json!([])).await.unwrap());
    assert!(last >= *by_batch.keys().last().unwrap());
    let mut closed = Vec::new();
    for b in 0..=last {
        let batch = call(p, "zkevm_getBatchByNumber", json!([hex_qty(b), false]))
            .await
            .unwrap();
        let blocks = by_batch.get(&b).cloned().unwrap_or_default();
        assert_eq!(batch["number"], json!(hex_qty(b)));
        let hashes: Vec<Value> = blocks.iter().map(|x| x["hash"].clone()).collect();
        let txs: Vec<Value> = blocks
            .iter()
            .flat_map(|x| x["transactions"].as_array().unwrap().clone())
            .collect();
        if batch["closed"] == json!(true) {
            assert_eq!(batch["blocks"], json!(hashes), "batch {b}");
            assert_eq!(batch["transactions"], json!(txs), "batch {b}");
        } else {
            // The open batch may have gained a block since the blocks were read.
            assert_eq!(b, last, "only the last batch is open");
        }
        assert_eq!(batch["sendSequencesTxHash"], Value::Null);
        assert_eq!(batch["verifyBatchTxHash"], Value::Null);
        assert_eq!(batch["mainnetExitRoot"], json!(B256::ZERO));
        if batch["closed"] != json!(true) || b == 0 {
            continue;
        }
        closed.push(b);
        assert_eq!(batch["coinbase"], blocks[0]["miner"]);
        assert!(qty(&batch["timestamp"]) <= qty(&blocks[0]["timestamp"]));
        assert_ne!(batch["accInputHash"], json!(B256::ZERO));
        assert_eq!(
            batch["stateRoot"],
            blocks.last().unwrap()["stateRoot"],
            "batch {b}"
        );
        // The batch data: one changeL2Block per block, then the blocks' transactions.
        let data = hex::decode(
            batch["batchL2Data"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap();
        let entries = decode_batch(&data).unwrap();
        let changes = entries
            .iter()
            .filter(|e| matches!(e, BatchEntry::ChangeL2Block(_)))
            .count();
        assert_eq!(changes, blocks.len(), "batch {b}");
        let in_data: Vec<Value> = entries
            .iter()
            .filter_map(|e| match e {
                BatchEntry::Tx(t) => Some(json!(t.eth_hash())),
                _ => None,
            })
            .collect();
        assert_eq!(in_data, txs, "batch {b}");

        // With full objects: the same hashes, and the zkEVM fields.
        let full = call(p, "zkevm_getBatchByNumber", json!([hex_qty(b), true]))
            .await
            .unwrap();
        let full_txs = full["transactions"].as_array().unwrap();
        let got: Vec<Value> = full_txs.iter().map(|t| t["hash"].clone()).collect();
        assert_eq!(got, txs);
        assert!(full_txs
            .iter()
            .all(|t| t["l2Hash"].is_string() && t["blockNumber"].is_string()));
        let full_blocks = full["blocks"].as_array().unwrap();
        let got: Vec<Value> = full_blocks.iter().map(|x| x["hash"].clone()).collect();
        assert_eq!(got, hashes);
        assert!(full_blocks.iter().all(|x| x["globalExitRoot"].is_string()));
        assert_eq!(full_blocks[0]["transactions"], blocks[0]["transactions"]);
    }

    // Tags.
    let tag = |t: &'static str| async move {
        call(p, "zkevm_getBatchByNumber", json!([t, false]))
            .await
            .unwrap()["number"]
            .clone()
    };
    let last_closed = *closed.last().unwrap();
    let latest = qty(&tag("latest").await);
    assert!(latest >= last_closed, "latest {latest}, closed {closed:?}");
    assert_eq!(tag("earliest").await, json!("0x0"));
    assert!(qty(&tag("pending").await) >= last);
    assert_eq!(tag("safe").await, json!("0x0"));
    assert_eq!(tag("finalized").await, json!("0x0"));
    let decimal = call(
        p,
        "zkevm_getBatchByNumber",
        json!([last_closed.to_string()]),
    )
    .await
    .unwrap();
    assert_eq!(decimal["number"], json!(hex_qty(last_closed)));
    assert_eq!(
        call(
            p,
            "zkevm_getBatchByNumber",
            json!([hex_qty(last + 1000), true])
        )
        .await,
        Ok(Value::Null)
    );
    invalid(
        p,
        "zkevm_getBatchByNumber",
        json!(["newest"]),
        "batch number",
    )
    .await;
    invalid(p, "zkevm_getBatchByNumber", json!(["0x1", "yes"]), "full").await;
    invalid(
        p,
        "zkevm_getBatchByNumber",
        json!(["0x1", true, 3]),
        "at most 2",
    )
    .await;
    invalid(p, "zkevm_getBatchByNumber", json!([]), "argument 0").await;
    closed
}

/// zkevm_getNativeBlockHashesInRange: the blocks' state roots, with its range checks.
async fn native_hashes<P: Provider>(p: &P) {
    let head = qty(&call(p, "eth_blockNumber", json!([])).await.unwrap());
    let got = call(
        p,
        "zkevm_getNativeBlockHashesInRange",
        json!([{"fromBlock": "0x0", "toBlock": hex_qty(head)}]),
    )
    .await
    .unwrap();
    let mut want = Vec::new();
    for n in 0..=head {
        let b = call(p, "eth_getBlockByNumber", json!([hex_qty(n), false]))
            .await
            .unwrap();
        want.push(b["stateRoot"].clone());
    }
    assert_eq!(got, json!(want));
    let one = call(
        p,
        "zkevm_getNativeBlockHashesInRange",
        json!([{"fromBlock": hex_qty(head), "toBlock": "latest"}]),
    )
    .await
    .unwrap();
    assert!(one.as_array().unwrap().first() == want.last());
    let range = |from: &str, to: &str| json!([{"fromBlock": from, "toBlock": to}]);
    let m = "zkevm_getNativeBlockHashesInRange";
    invalid(
        p,
        m,
        range("0x0", "0xea61"),
        "limited to a 60000 block range",
    )
    .await;
    assert!(call(p, m, range("0x1", "0xea61")).await.is_ok());
    invalid(p, m, range("0x5", "0x4"), "invalid block range").await;
    invalid(p, m, range("zz", "0x4"), "fromBlock").await;
    invalid(
        p,
        m,
        json!([{"fromBlock": "0x0", "tooBlock": "0x1"}]),
        "tooBlock",
    )
    .await;
    invalid(p, m, json!(["0x1"]), "block range").await;
}

/// zkevm_estimateCounters: a transfer, a deployment past the state-tree limit, a revert, a
/// transaction that cannot run.
async fn counters<P: Provider>(p: &P, k0: &PrivateKeySigner) {
    let m = "zkevm_estimateCounters";
    let from = k0.address();
    let transfer = json!({"from": from, "to": Address::repeat_byte(0x42), "value": "0x1"});
    let c = call(p, m, json!([transfer])).await.unwrap();
    let used = &c["countersUsed"];
    assert_eq!(used["gasUsed"], "0x5208");
    let (ops, tx_ops, rows) = (
        qty(&used["usedStateTreeOps"]),
        qty(&used["usedTxStateTreeOps"]),
        qty(&used["usedRows"]),
    );
    // The sender's nonce and balance and the recipient's balance, at least; the block's own
    // system writes besides.
    assert!(tx_ops >= 3 && ops > tx_ops, "{c}");
    assert!(rows >= 9 * ops && rows <= 80 * ops, "{c}");
    assert!(qty(&used["usedBatchL2DataBytes"]) > 66);
    assert_eq!(
        c["countersLimit"]["maxStateTreeOps"],
        json!(hex_qty(MAX_OPS))
    );
    assert_eq!(c["countersLimit"]["maxBatchL2DataBytes"], "0x1d4c0");
    assert!(
        c.get("oocError").is_none() && c.get("revert").is_none(),
        "{c}"
    );
    // At a block: the same transfer at genesis costs the same writes.
    let at0 = call(p, m, json!([transfer, "0x0"])).await.unwrap();
    assert_eq!(at0["countersUsed"]["gasUsed"], "0x5208");

    // A deployment that writes 120 storage slots: past the node's 100 operations.
    let mut init = String::new();
    for i in 0..120u8 {
        init.push_str(&format!("60{:02x}60{i:02x}55", i.wrapping_add(1)));
    }
    init.push_str("00");
    let big = call(p, m, json!([{"from": from, "data": format!("0x{init}")}]))
        .await
        .unwrap();
    assert!(
        qty(&big["countersUsed"]["usedTxStateTreeOps"]) >= 120,
        "{big}"
    );
    let ooc = big["oocError"]
        .as_str()
        .unwrap_or_else(|| panic!("no oocError: {big}"));
    assert!(ooc.contains("state-tree operations"), "{ooc}");

    // A reverting creation: its reason and data.
    let r = call(
        p,
        m,
        json!([{"from": from, "data": format!("0x{REVERTING_INIT}")}]),
    )
    .await
    .unwrap();
    assert_eq!(r["revert"]["data"], json!(B256::from(U256::from(42))));
    assert!(r["revert"]["message"]
        .as_str()
        .unwrap()
        .starts_with("execution reverted"));

    // A sender that cannot pay the value: no counters, the reason.
    let poor = json!({"from": Address::repeat_byte(0x99), "to": from, "value": "0x1"});
    let (code, msg) = call(p, m, json!([poor])).await.unwrap_err();
    assert_eq!(code, -32000, "{msg}");
    assert!(msg.starts_with("failed to estimate counters"), "{msg}");
    invalid(p, m, json!(["0x12"]), "transaction arguments").await;
    invalid(p, m, json!([transfer, "soon"]), "block").await;
}

/// The simple methods before anything reached L1.
async fn misc<P: Provider>(p: &P) {
    let c = |m: &'static str, params: Value| async move { call(p, m, params).await.unwrap() };
    assert_eq!(c("zkevm_getForkId", json!([])).await, "0xc");
    assert_eq!(
        c("zkevm_getLatestGlobalExitRoot", json!([])).await,
        json!(B256::ZERO)
    );
    assert_eq!(
        c("zkevm_getExitRootsByGER", json!([B256::ZERO])).await,
        Value::Null
    );
    assert_eq!(c("zkevm_virtualBatchNumber", json!([])).await, "0x0");
    assert_eq!(c("zkevm_verifiedBatchNumber", json!([])).await, "0x0");
    assert_eq!(c("zkevm_consolidatedBlockNumber", json!([])).await, "0x0");
    assert_eq!(c("zkevm_isBlockVirtualized", json!(["0x1"])).await, false);
    assert_eq!(c("zkevm_isBlockConsolidated", json!(["0x1"])).await, false);
    assert_eq!(
        c("zkevm_batchNumberByBlockNumber", json!(["0x0"])).await,
        "0x0"
    );
    assert_eq!(
        c("zkevm_batchNumberByBlockNumber", json!(["0xfffffff"])).await,
        Value::Null
    );
    invalid(
        p,
        "zkevm_getExitRootsByGER",
        json!(["0x12"]),
        "global exit root",
    )
    .await;
    invalid(
        p,
        "zkevm_isBlockVirtualized",
        json!(["one"]),
        "block number",
    )
    .await;
    invalid(p, "zkevm_isBlockConsolidated", json!([]), "argument 0").await;
    invalid(
        p,
        "zkevm_batchNumberByBlockNumber",
        json!([true]),
        "block number",
    )
    .await;
    invalid(p, "zkevm_batchNumber", json!([1]), "at most 0").await;
}

/// PostgreSQL: the test marks batches as the L1 synchronizer will, in the node's database,
/// while the node runs; the lifecycle methods and tags follow.
async fn lifecycle<P: Provider>(p: &P, url: &str, closed: &[u64]) {
    use zknode_storage::{BlockReader, BlockWriter, StateDb};
    let db = StateDb::connect(url).await.unwrap();
    let (b1, b2) = (closed[0], closed[1]);
    assert_eq!((b1, b2), (1, 2), "closed {closed:?}");
    let seq = |n: u8| B256::repeat_byte(0xa0 + n);
    let ver = |n: u8| B256::repeat_byte(0xb0 + n);
    for b in 0..=b2 {
        db.set_batch_virtual(b, seq(b as u8)).await.unwrap();
    }
    for b in 0..=b1 {
        db.set_batch_verified(b, ver(b as u8)).await.unwrap();
    }
    let last_of = |b: u64| {
        let db = db.clone();
        async move { *db.batch_block_numbers(b).await.unwrap().last().unwrap() }
    };
    let (end1, end2) = (last_of(b1).await, last_of(b2).await);
    let c = |m: &'static str, params: Value| async move { call(p, m, params).await.unwrap() };
    assert_eq!(
        c("zkevm_virtualBatchNumber", json!([])).await,
        json!(hex_qty(b2))
    );
    assert_eq!(
        c("zkevm_verifiedBatchNumber", json!([])).await,
        json!(hex_qty(b1))
    );
    assert_eq!(
        c("zkevm_consolidatedBlockNumber", json!([])).await,
        json!(hex_qty(end1))
    );
    let at = |n: u64| json!([hex_qty(n)]);
    assert_eq!(c("zkevm_isBlockConsolidated", at(end1)).await, true);
    assert_eq!(c("zkevm_isBlockConsolidated", at(end1 + 1)).await, false);
    assert_eq!(c("zkevm_isBlockVirtualized", at(end2)).await, true);
    assert_eq!(c("zkevm_isBlockVirtualized", at(end2 + 1)).await, false);
    let safe = c("zkevm_getBatchByNumber", json!(["safe"])).await;
    assert_eq!(safe["number"], json!(hex_qty(b2)));
    assert_eq!(safe["sendSequencesTxHash"], json!(seq(b2 as u8)));
    assert_eq!(safe["verifyBatchTxHash"], Value::Null);
    let fin = c("zkevm_getBatchByNumber", json!(["finalized", false])).await;
    assert_eq!(fin["number"], json!(hex_qty(b1)));
    assert_eq!(fin["sendSequencesTxHash"], json!(seq(b1 as u8)));
    assert_eq!(fin["verifyBatchTxHash"], json!(ver(b1 as u8)));
    db.close().await;
}

/// A node whose blocks stay open for minutes: what the pool holds is visible, pending and
/// queued, and a pending transaction is found by its L2 hash.
async fn txpool_flow(db_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = Node::start(
        &data,
        db_url.as_deref(),
        &[
            "--set",
            "sequencer.block_time_ms=300000",
            "--set",
            "sequencer.max_batch_seconds=3600",
        ],
    );
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let k0: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let k1: PrivateKeySigner = DEV_KEY_1.parse().unwrap();
    let to = Some(Address::repeat_byte(0x42));
    assert_eq!(
        call(&p, "txpool_status", json!([])).await,
        Ok(json!({"pending": "0x0", "queued": "0x0"}))
    );
    assert_eq!(
        call(&p, "txpool_content", json!([])).await,
        Ok(json!({"pending": {}, "queued": {}}))
    );
    // k0: nonces 0 and 1 can run, 3 waits for 2; k1: 2 waits for 0 and 1.
    let a = sign(&k0, 0, to, "", None);
    let b = sign(&k0, 1, to, "", Some(GWEI));
    let gap0 = sign(&k0, 3, to, "", None);
    let gap1 = sign(&k1, 2, to, "", None);
    for s in [&a, &b, &gap0, &gap1] {
        send(&p, s).await;
    }
    let status = call(&p, "txpool_status", json!([])).await.unwrap();
    assert_eq!(status, json!({"pending": "0x2", "queued": "0x2"}));
    let content = call(&p, "txpool_content", json!([])).await.unwrap();
    let (c0, c1) = (
        k0.address().to_checksum(None),
        k1.address().to_checksum(None),
    );
    let pending = &content["pending"][&c0];
    assert_eq!(pending["0"]["hash"], json!(a.hash));
    assert_eq!(pending["1"]["hash"], json!(b.hash));
    assert_eq!(pending["1"]["type"], "0x2");
    assert_eq!(pending["0"]["blockHash"], Value::Null);
    assert_eq!(pending["0"]["from"], json!(k0.address()));
    assert_eq!(content["queued"][&c0]["3"]["hash"], json!(gap0.hash));
    assert_eq!(content["queued"][&c1]["2"]["hash"], json!(gap1.hash));
    assert_eq!(content["pending"].as_object().unwrap().len(), 1);
    assert_eq!(content["queued"].as_object().unwrap().len(), 2);
    let from1 = call(&p, "txpool_contentFrom", json!([k1.address()]))
        .await
        .unwrap();
    assert_eq!(from1["pending"], json!({}));
    assert_eq!(from1["queued"]["2"], content["queued"][&c1]["2"]);
    let from0 = call(&p, "txpool_contentFrom", json!([k0.address()]))
        .await
        .unwrap();
    assert_eq!(from0["pending"], content["pending"][&c0]);
    let nobody = call(&p, "txpool_contentFrom", json!([Address::repeat_byte(5)])).await;
    assert_eq!(nobody, Ok(json!({"pending": {}, "queued": {}})));
    invalid(&p, "txpool_contentFrom", json!(["0x12"]), "address").await;
    invalid(&p, "txpool_status", json!([1]), "at most 0").await;

    // A pool transaction by its L2 hash; it has no receipt yet.
    let l2 = l2_hash(&gap1, k1.address());
    let t = call(&p, "zkevm_getTransactionByL2Hash", json!([l2]))
        .await
        .unwrap();
    assert_eq!(t["hash"], json!(gap1.hash));
    assert_eq!(t["l2Hash"], json!(l2));
    assert_eq!(t["blockNumber"], Value::Null);
    let r = call(&p, "zkevm_getTransactionReceiptByL2Hash", json!([l2])).await;
    assert_eq!(r, Ok(Value::Null));
    drop(p);
    node.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkevm_methods_on_sqlite() {
    zkevm_flow(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkevm_methods_and_l1_lifecycle_on_postgres() {
    let Some(pg) = zknode_sqldb::harness::PgCluster::start() else {
        return;
    };
    zkevm_flow(Some(pg.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txpool_shows_pending_and_queued_on_sqlite() {
    txpool_flow(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txpool_shows_pending_and_queued_on_postgres() {
    let Some(pg) = zknode_sqldb::harness::PgCluster::start() else {
        return;
    };
    txpool_flow(Some(pg.url())).await;
}
