//! What a client sees when the node refuses: pool refusals as `-32000` with zkevm-node's texts,
//! malformed transactions and calls as clear errors, and the metrics endpoint counting them.
//! (Every refusal is tested message by message in `node/pool/tests`; this checks that they
//! reach a real client through `zknode run`.)

mod common;

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use common::{call, Node, CHAIN_ID, DEV_KEY, GWEI};
use serde_json::json;

fn legacy(key: &PrivateKeySigner, chain: u64, nonce: u64, price: u128, gas: u64) -> String {
    let tx = TxLegacy {
        chain_id: Some(chain),
        nonce,
        gas_price: price,
        gas_limit: gas,
        to: TxKind::Call(Address::repeat_byte(1)),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    format!("0x{}", hex::encode(env.encoded_2718()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_reach_the_client_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("data"), None, &[]);
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let dev: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let send = |raw: String| {
        let p = &p;
        async move { call(p, "eth_sendRawTransaction", json!([raw])).await }
    };
    // A nonce far ahead stays pending (not ready): it can be sent again and replaced.
    let ahead = legacy(&dev, CHAIN_ID, 10, 2 * GWEI, 21_000);
    send(ahead.clone()).await.unwrap();
    let cases = [
        (ahead, "already known"),
        (
            legacy(&dev, CHAIN_ID, 10, GWEI, 21_000),
            "replacement transaction underpriced",
        ),
        (legacy(&dev, CHAIN_ID, 0, 1, 21_000), "gas price too low"),
        (legacy(&dev, 5, 0, GWEI, 21_000), "invalid chain id"),
        (
            legacy(&dev, CHAIN_ID, 0, GWEI, 20_000),
            "intrinsic gas too low",
        ),
        (legacy(&dev, CHAIN_ID, 500, GWEI, 21_000), "nonce too high"),
        (
            legacy(&dev, CHAIN_ID, 0, GWEI, 40_000_000),
            "exceeds block gas limit",
        ),
        (
            legacy(&PrivateKeySigner::random(), CHAIN_ID, 0, GWEI, 21_000),
            "insufficient funds for gas * price + value",
        ),
        ("0x03c0".into(), "transaction type not supported"),
    ];
    for (raw, want) in cases {
        let (code, msg) = send(raw).await.unwrap_err();
        assert_eq!((code, msg.as_str()), (-32000, want));
    }
    // Malformed bytes: an error that says what is wrong, and the node carries on.
    for raw in ["0x", "0xf8", "0xc0", "0x02f8", "0xdeadbeef"] {
        let (code, msg) = send(raw.into()).await.unwrap_err();
        assert_eq!(code, -32000, "{raw}: {msg}");
        assert!(!msg.is_empty());
    }
    let (code, _) = call(&p, "eth_sendRawTransaction", json!(["not hex"]))
        .await
        .unwrap_err();
    assert_eq!(code, -32602);
    let (code, _) = call(&p, "eth_sendRawTransaction", json!([]))
        .await
        .unwrap_err();
    assert_eq!(code, -32602);
    let (code, _) = call(&p, "eth_getBalance", json!(["0x12", "latest"]))
        .await
        .unwrap_err();
    assert_eq!(code, -32602);
    let (code, msg) = call(&p, "eth_getBalance", json!([Address::ZERO, "0xffff"]))
        .await
        .unwrap_err();
    assert_eq!((code, msg.as_str()), (-32000, "header not found"));
    let (code, _) = call(&p, "eth_noSuchMethod", json!([])).await.unwrap_err();
    assert_eq!(code, -32601);
    // Unknown blocks and transactions are null.
    assert!(call(&p, "eth_getBlockByNumber", json!(["0xffff", false]))
        .await
        .unwrap()
        .is_null());
    assert!(call(
        &p,
        "eth_getTransactionReceipt",
        json!([format!("0x{}", "00".repeat(32))])
    )
    .await
    .unwrap()
    .is_null());
    // A reverting call reports code 3 and the revert data.
    let (code, msg) = call(&p, "eth_call", json!([{"data": "0x60006000fd"}, "latest"]))
        .await
        .unwrap_err();
    assert_eq!(code, 3, "{msg}");
    assert!(msg.starts_with("execution reverted"), "{msg}");
    assert_eq!(p.get_block_number().await.unwrap(), 0);
    assert!(node.terminate().success());
}
