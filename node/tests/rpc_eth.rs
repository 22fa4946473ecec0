//! The eth namespace beyond sending a transaction, against a real `zknode run` with alloy over
//! HTTP and WebSocket: logs and their limits, polled filters, subscriptions (newHeads, logs,
//! newPendingTransactions), blocks by position, EIP-1898 block objects, and the protocol's
//! error codes (parse error, invalid request, unknown method, invalid params, batches and
//! their limit, oversize bodies, CORS, the per-IP rate limit). On SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::ws::WsConnect;
use common::{call, Node, DEV_KEY, GWEI};
use serde_json::{json, Value};

/// Init code of a contract that logs its first calldata word: LOG2 with topic0 [`TOPIC`] and
/// topic1 the caller.
const EMITTER_INIT: &str = concat!(
    "602f600c60003960",
    "2f6000f3",
    "6020600060003733",
    "7f1111111111111111111111111111111111111111111111111111111111111111",
    "60206000a200"
);
const TOPIC: B256 = B256::repeat_byte(0x11);

/// Runtime code that emits LOG0 (no data), LOG4 (topics 1, 2, 3, 4; 32 zero bytes) and LOG1
/// (topic 7; three zero bytes), behind init code that returns it.
const LOG_SHAPES_INIT: &str = concat!(
    "601a600c600039601a6000f3", // copy the 26 bytes after these 12 and return them
    "60006000a0",               // LOG0(offset 0, size 0)
    "600460036002600160206000a4", // LOG4(0, 32, 1, 2, 3, 4)
    "600760036000a1",           // LOG1(0, 3, 7)
    "00",                       // STOP
);

async fn receipt<P: Provider>(p: &P, hash: B256) -> alloy::rpc::types::TransactionReceipt {
    for _ in 0..600 {
        if let Some(r) = p.get_transaction_receipt(hash).await.expect("receipt call") {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no receipt for {hash} in 30 s");
}

/// The next item of a subscription, or a panic after 30 s.
async fn next<T: serde::de::DeserializeOwned>(sub: &mut alloy::pubsub::Subscription<T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), sub.recv())
        .await
        .expect("a notification within 30 s")
        .expect("the subscription is open")
}

/// A raw HTTP POST: the status and the body.
async fn post(url: &str, body: impl Into<String>) -> (u16, String) {
    let r = alloy::transports::http::reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.into())
        .send()
        .await
        .expect("an HTTP answer");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

fn word(n: u64) -> Bytes {
    Bytes::from(U256::from(n).to_be_bytes::<32>().to_vec())
}

async fn eth_surface(db_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        &dir.path().join("data"),
        db_url.as_deref(),
        &[
            "--set",
            "rpc.max_logs=3",
            "--set",
            "rpc.max_logs_block_range=5",
            "--set",
            "rpc.batch_limit=5",
        ],
    );
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let me = key.address();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(node.url.parse().unwrap());
    let ws_client = RpcClient::connect_pubsub(WsConnect::new(node.ws_url.clone()))
        .await
        .expect("WebSocket");
    let ws = ProviderBuilder::new().connect_client(ws_client);

    // Subscriptions and filters first, so that they see everything below.
    let mut heads = ws.subscribe_blocks().await.unwrap();
    let mut log_sub = ws
        .subscribe_logs(&Filter::new().event_signature(TOPIC))
        .await
        .unwrap();
    let mut pending_sub = ws.subscribe_pending_transactions().await.unwrap();
    let block_filter = call(&p, "eth_newBlockFilter", json!([])).await.unwrap();
    let log_filter = call(&p, "eth_newFilter", json!([{"topics": [TOPIC]}]))
        .await
        .unwrap();
    let pending_filter = call(&p, "eth_newPendingTransactionFilter", json!([]))
        .await
        .unwrap();

    // A contract that logs, then three calls to it, each in its own block.
    let deploy = p
        .send_transaction(
            TransactionRequest::default()
                .with_deploy_code(Bytes::from(hex::decode(EMITTER_INIT).unwrap()))
                .with_gas_price(GWEI),
        )
        .await
        .unwrap();
    let r0 = receipt(&p, *deploy.tx_hash()).await;
    let emitter = r0.contract_address.expect("deployed");
    let mut sent = vec![*deploy.tx_hash()];
    let mut receipts = Vec::new();
    for i in 1..=3u64 {
        let tx = TransactionRequest::default()
            .with_to(emitter)
            .with_input(word(i))
            .with_gas_price(GWEI)
            .with_gas_limit(100_000);
        let h = *p.send_transaction(tx).await.unwrap().tx_hash();
        sent.push(h);
        receipts.push(receipt(&p, h).await);
    }
    let first = r0.block_number.unwrap();
    let last = receipts[2].block_number.unwrap();
    assert!(last >= first + 3, "each transaction waited for the last");

    // eth_getLogs: by range, address and topics, and by block hash.
    let range = json!({"fromBlock": format!("{first:#x}"), "toBlock": format!("{last:#x}")});
    let logs = call(&p, "eth_getLogs", json!([range])).await.unwrap();
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 3);
    for (i, l) in logs.iter().enumerate() {
        assert_eq!(l["address"], json!(emitter));
        assert_eq!(
            l["topics"],
            json!([TOPIC, B256::left_padding_from(me.as_slice())])
        );
        assert_eq!(l["data"], json!(word(i as u64 + 1)));
        assert_eq!(l["transactionHash"], json!(sent[i + 1]));
        assert_eq!(l["removed"], json!(false));
    }
    let by_topic = |t1: Address| {
        json!([{"fromBlock": format!("{first:#x}"), "toBlock": "latest", "address": [emitter],
            "topics": [TOPIC, [B256::left_padding_from(t1.as_slice())]]}])
    };
    let mine = call(&p, "eth_getLogs", by_topic(me)).await.unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 3);
    let none = call(&p, "eth_getLogs", by_topic(Address::repeat_byte(9)))
        .await
        .unwrap();
    assert_eq!(none, json!([]));
    let block2 = receipts[1].block_hash.unwrap();
    let one = call(&p, "eth_getLogs", json!([{"blockHash": block2}]))
        .await
        .unwrap();
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["data"], json!(word(2)));
    // alloy's own typed call agrees.
    let typed = p
        .get_logs(
            &Filter::new()
                .address(emitter)
                .from_block(first)
                .to_block(last),
        )
        .await
        .unwrap();
    assert_eq!(typed.len(), 3);

    // Polled filters: what happened since they were installed, once.
    let changes = call(&p, "eth_getFilterChanges", json!([block_filter]))
        .await
        .unwrap();
    let hashes: Vec<B256> = serde_json::from_value(changes).unwrap();
    for r in receipts.iter().chain([&r0]) {
        assert!(
            hashes.contains(&r.block_hash.unwrap()),
            "block filter saw every block"
        );
    }
    let changes = call(&p, "eth_getFilterChanges", json!([log_filter]))
        .await
        .unwrap();
    assert_eq!(changes.as_array().unwrap(), logs);
    assert_eq!(
        call(&p, "eth_getFilterChanges", json!([log_filter]))
            .await
            .unwrap(),
        json!([]),
        "a second poll has nothing new"
    );
    let changes = call(&p, "eth_getFilterChanges", json!([pending_filter]))
        .await
        .unwrap();
    let seen: Vec<B256> = serde_json::from_value(changes).unwrap();
    for s in &sent {
        assert!(seen.contains(s), "the pending filter saw {s}");
    }
    assert_eq!(
        call(&p, "eth_uninstallFilter", json!([log_filter]))
            .await
            .unwrap(),
        json!(true)
    );
    assert_eq!(
        call(&p, "eth_uninstallFilter", json!([log_filter]))
            .await
            .unwrap(),
        json!(false)
    );
    assert_eq!(
        call(&p, "eth_getFilterChanges", json!([log_filter]))
            .await
            .unwrap_err(),
        (-32000, "filter not found".into())
    );

    // Limits (max_logs 3, max_logs_block_range 5), with zkevm-node's texts.
    let h = receipt(
        &p,
        *p.send_transaction(
            TransactionRequest::default()
                .with_to(emitter)
                .with_input(word(4))
                .with_gas_price(GWEI)
                .with_gas_limit(100_000),
        )
        .await
        .unwrap()
        .tx_hash(),
    )
    .await;
    let fourth = h.block_number.unwrap();
    assert!(fourth - first < 5);
    let err = call(
        &p,
        "eth_getLogs",
        json!([{"fromBlock": format!("{first:#x}")}]),
    )
    .await
    .unwrap_err();
    assert_eq!(err, (-32602, "query returned more than 3 results".into()));
    let err = call(
        &p,
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "toBlock": format!("{fourth:#x}")}]),
    )
    .await
    .unwrap_err();
    assert_eq!(err, (-32602, "logs are limited to a 5 block range".into()));
    let err = call(
        &p,
        "eth_getLogs",
        json!([{"fromBlock": "0x3", "toBlock": "0x2"}]),
    )
    .await
    .unwrap_err();
    assert_eq!(err, (-32602, "invalid block range".into()));
    let err = call(
        &p,
        "eth_getLogs",
        json!([{"blockHash": block2, "fromBlock": "0x1"}]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, -32602, "{}", err.1);
    let err = call(
        &p,
        "eth_getLogs",
        json!([{"blockHash": B256::repeat_byte(7)}]),
    )
    .await
    .unwrap_err();
    assert_eq!(err, (-32000, "unknown block".into()));

    // Subscriptions saw the same.
    loop {
        let head = next(&mut heads).await;
        assert!(head.hash != B256::ZERO);
        if head.number >= fourth {
            break;
        }
    }
    for i in 1..=4u64 {
        let l = next(&mut log_sub).await;
        assert_eq!(l.address(), emitter);
        assert_eq!(l.data().data, word(i));
    }
    let mut pending_seen = Vec::new();
    while pending_seen.len() < sent.len() {
        pending_seen.push(next(&mut pending_sub).await);
    }
    assert_eq!(pending_seen, sent, "in the order the pool took them");
    let err = call(&ws, "eth_subscribe", json!(["syncing"]))
        .await
        .unwrap_err();
    assert_eq!(err.0, -32602, "{}", err.1);

    // Blocks by position.
    let n2 = receipts[1].block_number.unwrap();
    let by_number = call(&p, "eth_getBlockReceipts", json!([format!("{n2:#x}")]))
        .await
        .unwrap();
    let by_hash = call(&p, "eth_getBlockReceipts", json!([block2]))
        .await
        .unwrap();
    assert_eq!(by_number, by_hash);
    assert_eq!(by_number[0]["transactionHash"], json!(sent[2]));
    assert_eq!(by_number[0]["logs"][0]["data"], json!(word(2)));
    let single = call(&p, "eth_getTransactionReceipt", json!([sent[2]]))
        .await
        .unwrap();
    assert_eq!(by_number[0], single);

    // eth_getLogs (whose JSON the database builds) agrees with the logs of the receipts (built
    // in Rust) field for field, for every shape: no topics and no data, four topics, one topic
    // and data of an odd length.
    let shapes_deploy = p
        .send_transaction(
            TransactionRequest::default()
                .with_deploy_code(Bytes::from(hex::decode(LOG_SHAPES_INIT).unwrap()))
                .with_gas_price(GWEI),
        )
        .await
        .unwrap();
    let shapes = receipt(&p, *shapes_deploy.tx_hash())
        .await
        .contract_address
        .unwrap();
    let shaped = receipt(
        &p,
        *p.send_transaction(
            TransactionRequest::default()
                .with_to(shapes)
                .with_gas_price(GWEI)
                .with_gas_limit(100_000),
        )
        .await
        .unwrap()
        .tx_hash(),
    )
    .await;
    let from_receipt = call(
        &p,
        "eth_getTransactionReceipt",
        json!([shaped.transaction_hash]),
    )
    .await
    .unwrap()["logs"]
        .clone();
    assert_eq!(from_receipt.as_array().unwrap().len(), 3);
    assert_eq!(from_receipt[0]["topics"], json!([]));
    assert_eq!(from_receipt[0]["data"], json!("0x"));
    assert_eq!(from_receipt[1]["topics"].as_array().unwrap().len(), 4);
    assert_eq!(from_receipt[2]["data"], json!("0x000000"));
    let by_block = call(
        &p,
        "eth_getLogs",
        json!([{"blockHash": shaped.block_hash.unwrap()}]),
    )
    .await
    .unwrap();
    assert_eq!(by_block, from_receipt);
    for (i, l) in logs.iter().enumerate() {
        let r = call(&p, "eth_getTransactionReceipt", json!([sent[i + 1]]))
            .await
            .unwrap();
        assert_eq!(r["logs"][0], *l);
    }
    assert_eq!(
        call(&p, "eth_getBlockReceipts", json!(["0xffffff"]))
            .await
            .unwrap(),
        Value::Null
    );
    assert_eq!(
        call(
            &p,
            "eth_getBlockTransactionCountByNumber",
            json!([format!("{n2:#x}")])
        )
        .await
        .unwrap(),
        json!("0x1")
    );
    assert_eq!(
        call(&p, "eth_getBlockTransactionCountByHash", json!([block2]))
            .await
            .unwrap(),
        json!("0x1")
    );
    let by_index = call(
        &p,
        "eth_getTransactionByBlockHashAndIndex",
        json!([block2, "0x0"]),
    )
    .await
    .unwrap();
    assert_eq!(
        by_index,
        call(&p, "eth_getTransactionByHash", json!([sent[2]]))
            .await
            .unwrap()
    );
    assert_eq!(
        call(
            &p,
            "eth_getTransactionByBlockNumberAndIndex",
            json!([format!("{n2:#x}"), "0x0"])
        )
        .await
        .unwrap(),
        by_index
    );
    assert_eq!(
        call(
            &p,
            "eth_getTransactionByBlockHashAndIndex",
            json!([block2, "0x1"])
        )
        .await
        .unwrap(),
        Value::Null
    );
    assert_eq!(
        call(&p, "eth_getUncleCountByBlockHash", json!([block2]))
            .await
            .unwrap(),
        json!("0x0")
    );
    assert_eq!(
        call(
            &p,
            "eth_getUncleByBlockNumberAndIndex",
            json!(["0x1", "0x0"])
        )
        .await
        .unwrap(),
        Value::Null
    );

    // EIP-1898 block objects name a block by hash or number.
    let before = receipts[0].block_hash.unwrap();
    let bal_then = call(
        &p,
        "eth_getTransactionCount",
        json!([me, {"blockHash": before, "requireCanonical": true}]),
    )
    .await
    .unwrap();
    let n_then = call(
        &p,
        "eth_getTransactionCount",
        json!([me, {"blockNumber": format!("{:#x}", receipts[0].block_number.unwrap())}]),
    )
    .await
    .unwrap();
    assert_eq!(bal_then, n_then);
    assert_eq!(bal_then, json!("0x2"), "the deployment and the first call");
    let err = call(
        &p,
        "eth_getBalance",
        json!([me, {"blockHash": B256::repeat_byte(5)}]),
    )
    .await
    .unwrap_err();
    assert_eq!(err, (-32000, "header not found".into()));

    // net and web3.
    assert_eq!(
        call(&p, "net_peerCount", json!([])).await.unwrap(),
        json!("0x0")
    );
    assert_eq!(
        call(&p, "web3_sha3", json!(["0x68656c6c6f20776f726c64"]))
            .await
            .unwrap(),
        json!("0x47173285a8d7341e5e972fc677286384f802f8ef42a5ec5f03bbfa254cb01fad")
    );

    // The protocol's errors, over plain HTTP.
    let url = node.url.as_str();
    let (_, body) = post(url, "{not json").await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32700
    );
    let (_, body) = post(url, r#"{"jsonrpc":"2.0","id":1,"params":[]}"#).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32600
    );
    let (_, body) = post(
        url,
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_nope","params":[]}"#,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32601
    );
    let (_, body) = post(
        url,
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x12"]}"#,
    )
    .await;
    let e = &serde_json::from_str::<Value>(&body).unwrap()["error"];
    assert_eq!(e["code"], -32602);
    assert!(e["message"].as_str().unwrap().contains("address"), "{e}");
    // Batches: answered in full up to the limit (5), refused past it.
    let batch = |n: usize| {
        let calls: Vec<Value> = (0..n)
            .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []}))
            .collect();
        serde_json::to_string(&calls).unwrap()
    };
    let (_, body) = post(url, batch(5)).await;
    let answers: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.len(), 5);
    assert!(answers.iter().all(|a| a["result"] == json!("0x3e9")));
    let (_, body) = post(url, batch(6)).await;
    let refused: Value = serde_json::from_str(&body).unwrap();
    assert!(refused["error"]["code"].as_i64().is_some(), "{refused}");
    // A body over the limit (10 MiB) is refused, and the node still answers.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"web3_sha3","params":["0x{}"]}}"#,
        "00".repeat(6 << 20)
    );
    // The node answers 413 as soon as it has read past the limit and closes the connection,
    // so the client may see the answer or, still writing, a broken pipe.
    match alloy::transports::http::reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
    {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    assert_eq!(
        call(&p, "eth_chainId", json!([])).await.unwrap(),
        json!("0x3e9")
    );
    // CORS: a browser's preflight is allowed from any origin by default.
    let r = alloy::transports::http::reqwest::Client::new()
        .request(alloy::transports::http::reqwest::Method::OPTIONS, url)
        .header("Origin", "https://example.org")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string()),
        Some("*".to_string())
    );
    ws_misuse(&node.ws_url).await;
    drop(node);
}

/// Garbage, an unknown method and an oversize message over WebSocket get answers or a close,
/// never a hang, and the server goes on serving.
async fn ws_misuse(url: &str) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket");
    for (text, code) in [
        ("{not json", -32700),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_nope","params":[]}"#,
            -32601,
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":[7]}"#,
            -32602,
        ),
    ] {
        ws.send(Message::text(text)).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an answer within 10 s")
            .expect("the connection is open")
            .unwrap();
        let v: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
        assert_eq!(v["error"]["code"], json!(code), "{text}: {v}");
    }
    // Past max_request_bytes (10 MiB) the server answers with an error or closes; either way
    // it does not hang, and a new connection is served.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"web3_sha3","params":["0x{}"]}}"#,
        "00".repeat(6 << 20)
    );
    if ws.send(Message::text(big)).await.is_ok() {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an answer or a close within 10 s")
        {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert!(v["error"]["code"].is_i64(), "{v}");
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {}
            Some(Ok(other)) => panic!("unexpected {other:?}"),
        }
    }
    let (mut fresh, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket");
    fresh
        .send(Message::text(
            r#"{"jsonrpc":"2.0","id":4,"method":"eth_chainId","params":[]}"#,
        ))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), fresh.next())
        .await
        .expect("an answer within 10 s")
        .expect("open")
        .unwrap();
    let v: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(v["result"], json!("0x3e9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_surface_on_sqlite() {
    eth_surface(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_surface_on_postgres() {
    let Some(pg) = zknode_sqldb::harness::PgCluster::start() else {
        return;
    };
    eth_surface(Some(pg.url())).await;
}

/// Past its rate a client is answered -32005, call by call (a batch's calls count one each),
/// and other clients are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_answers_32005() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        &dir.path().join("data"),
        None,
        &["--set", "rpc.requests_per_ip_per_second=5"],
    );
    let calls: Vec<Value> = (0..20)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber", "params": []}))
        .collect();
    let (_, body) = post(&node.url, serde_json::to_string(&calls).unwrap()).await;
    let answers: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.len(), 20);
    let limited = answers
        .iter()
        .filter(|a| a["error"]["code"] == json!(-32005))
        .count();
    let ok = answers.iter().filter(|a| a["result"].is_string()).count();
    assert_eq!(ok + limited, 20);
    assert!((5..=6).contains(&ok), "{ok} answered past a burst of 5");
    let (_, body) = post(
        &node.url,
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#,
    )
    .await;
    let one: Value = serde_json::from_str(&body).unwrap();
    assert!(
        one["error"]["code"] == json!(-32005) || one["result"] == json!("0x3e9"),
        "{one}"
    );
    // Another address (127.0.0.2 is loopback too) has its own bucket.
    let other = alloy::transports::http::reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let r: Value = other
        .post(&node.url)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#)
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .unwrap();
    assert_eq!(r["result"], json!("0x3e9"), "{r}");
}

/// WebSocket connection and subscription limits, and filters that expire unpolled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_filter_limits() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        &dir.path().join("data"),
        None,
        &[
            "--set",
            "rpc.ws_max_subscriptions=1",
            "--set",
            "rpc.ws_max_connections=1",
            "--set",
            "rpc.filter_timeout_secs=3",
        ],
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&node.ws_url)
        .await
        .expect("WebSocket");
    let ask = async |ws: &mut tokio_tungstenite::WebSocketStream<_>, id: u64| {
        let req =
            json!({"jsonrpc": "2.0", "id": id, "method": "eth_subscribe", "params": ["newHeads"]});
        ws.send(Message::text(req.to_string())).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an answer within 10 s")
            .expect("open")
            .unwrap();
        serde_json::from_str::<Value>(reply.to_text().unwrap()).unwrap()
    };
    let first = ask(&mut ws, 1).await;
    assert!(first["result"].is_string(), "{first}");
    let second = ask(&mut ws, 2).await;
    assert!(
        second["error"]["code"].is_i64(),
        "one subscription per connection: {second}"
    );
    // A second connection is refused while the first is open.
    let refused = match tokio_tungstenite::connect_async(&node.ws_url).await {
        Err(_) => true,
        Ok((mut other, _)) => {
            // Accepted at the HTTP level, then closed without serving.
            other
                .send(Message::text(
                    r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#,
                ))
                .await
                .ok();
            !matches!(
                tokio::time::timeout(Duration::from_secs(10), other.next()).await,
                Ok(Some(Ok(Message::Text(_))))
            )
        }
    };
    assert!(
        refused,
        "a second WebSocket connection past ws_max_connections was served"
    );

    // A filter not polled for filter_timeout_secs is gone.
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let kept = call(&p, "eth_newBlockFilter", json!([])).await.unwrap();
    let dropped = call(&p, "eth_newBlockFilter", json!([])).await.unwrap();
    // Polled every 0.5 s, the first lives on; the second is not polled for 3.5 s.
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        call(&p, "eth_getFilterChanges", json!([kept]))
            .await
            .unwrap();
    }
    assert_eq!(
        call(&p, "eth_getFilterChanges", json!([dropped]))
            .await
            .unwrap_err(),
        (-32000, "filter not found".into())
    );
}
