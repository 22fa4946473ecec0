//! Calls without a transaction on a real `zknode run`: `eth_call` with state overrides
//! (balance, nonce, code, state, stateDiff) and block overrides, `eth_estimateGas` with an
//! access list and with overrides (the revert reason of a reverting call, code 3), and
//! `eth_createAccessList`, whose list and gas agree with `eth_estimateGas`. On SQLite and on
//! PostgreSQL.

mod common;

use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use common::{call, Node, DEV_KEY, GWEI};
use serde_json::{json, Value};

/// Code that returns storage slot 0 as a word.
const READER: &str = "60005460005260206000f3";
/// Init code deploying [`READER`].
const READER_INIT: &str = "600b600c600039600b6000f360005460005260206000f3";
/// Code that returns the block number as a word.
const NUMBER: &str = "4360005260206000f3";

/// Code that reverts with `Error("nope")`.
fn reverter() -> String {
    let mut c = vec![0x7f, 0x08, 0xc3, 0x79, 0xa0];
    c.extend_from_slice(&[0; 28]);
    c.extend_from_slice(&[0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x04, 0x52]);
    c.extend_from_slice(&[0x60, 0x04, 0x60, 0x24, 0x52, 0x7f, b'n', b'o', b'p', b'e']);
    c.extend_from_slice(&[0; 28]);
    c.extend_from_slice(&[0x60, 0x44, 0x52, 0x60, 0x64, 0x60, 0x00, 0xfd]);
    format!("0x{}", hex::encode(c))
}

fn word(n: u64) -> Value {
    json!(B256::from(U256::from(n)))
}

fn slot(n: u64) -> String {
    B256::from(U256::from(n)).to_string()
}

async fn calls(db_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        &dir.path().join("data"),
        db_url.as_deref(),
        &["--set", "rpc.debug=true"],
    );
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let me = key.address();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(node.url.parse().unwrap());
    let sent = p
        .send_transaction(
            TransactionRequest::default()
                .with_deploy_code(Bytes::from(hex::decode(READER_INIT).unwrap()))
                .with_gas_price(GWEI),
        )
        .await
        .unwrap();
    let mut r = None;
    for _ in 0..600 {
        r = p.get_transaction_receipt(*sent.tx_hash()).await.unwrap();
        if r.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reader = r.expect("deployed").contract_address.unwrap();
    assert_eq!(
        p.get_code_at(reader).await.unwrap().to_vec(),
        hex::decode(READER).unwrap()
    );
    let to_reader = json!({"from": me, "to": reader});

    // State overrides.
    assert_eq!(
        call(&p, "eth_call", json!([to_reader, "latest"]))
            .await
            .unwrap(),
        word(0)
    );
    let diff = json!({ reader.to_string(): {"stateDiff": {slot(0): slot(5)}} });
    assert_eq!(
        call(&p, "eth_call", json!([to_reader, "latest", diff]))
            .await
            .unwrap(),
        word(5)
    );
    // debug_traceCall takes the same overrides, inside its tracer options.
    let traced = call(
        &p,
        "debug_traceCall",
        json!([to_reader, "latest", {"tracer": "callTracer", "stateOverrides": diff}]),
    )
    .await
    .unwrap();
    assert_eq!(traced["output"], word(5));
    let elsewhere = Address::repeat_byte(0x77);
    let code_and_state = json!({ elsewhere.to_string(): {
        "code": format!("0x{READER}"), "state": {slot(0): slot(9)}
    }});
    assert_eq!(
        call(
            &p,
            "eth_call",
            json!([{"to": elsewhere}, "latest", code_and_state])
        )
        .await
        .unwrap(),
        word(9)
    );
    let poor = Address::repeat_byte(0x42);
    let pay = json!({"from": poor, "to": me, "value": "0x5"});
    let err = call(&p, "eth_call", json!([pay, "latest"]))
        .await
        .unwrap_err();
    assert_eq!(err.0, -32000, "{}", err.1);
    let rich = json!({ poor.to_string(): {"balance": "0x5"} });
    assert_eq!(
        call(&p, "eth_call", json!([pay, "latest", rich]))
            .await
            .unwrap(),
        json!("0x")
    );
    let both = json!({ reader.to_string(): {"state": {}, "stateDiff": {}} });
    let err = call(&p, "eth_call", json!([to_reader, "latest", both]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        (
            -32602,
            format!("account {reader} has both 'state' and 'stateDiff'")
        )
    );

    // Block overrides.
    let numbered = json!({ elsewhere.to_string(): {"code": format!("0x{NUMBER}")} });
    let head = p.get_block_number().await.unwrap();
    assert_eq!(
        call(
            &p,
            "eth_call",
            json!([{"to": elsewhere}, "latest", numbered])
        )
        .await
        .unwrap(),
        word(head)
    );
    assert_eq!(
        call(
            &p,
            "eth_call",
            json!([{"to": elsewhere}, "latest", numbered, {"number": "0x1234"}])
        )
        .await
        .unwrap(),
        word(0x1234)
    );

    // eth_estimateGas: a reverting call answers code 3 with the reason and the data.
    let reverts = json!({ elsewhere.to_string(): {"code": reverter()} });
    let err = call(
        &p,
        "eth_estimateGas",
        json!([{"to": elsewhere}, "latest", reverts]),
    )
    .await
    .unwrap_err();
    assert_eq!(err, (3, "execution reverted: nope".into()));

    // eth_createAccessList: the reader and its slot; the gas is what eth_estimateGas finds
    // with the list, 2,300 more than without it (2,400 for the address and 1,900 for the slot,
    // less the 2,000 the SLOAD saves warm: 100 instead of 2,100).
    let al = call(&p, "eth_createAccessList", json!([to_reader, "latest"]))
        .await
        .unwrap();
    assert_eq!(
        al["accessList"],
        json!([{"address": reader, "storageKeys": [slot(0)]}])
    );
    assert!(al.get("error").is_none(), "{al}");
    let with_list = json!({"from": me, "to": reader, "accessList": al["accessList"]});
    let gas_with: String = serde_json::from_value(
        call(&p, "eth_estimateGas", json!([with_list]))
            .await
            .unwrap(),
    )
    .unwrap();
    let gas_without: String = serde_json::from_value(
        call(&p, "eth_estimateGas", json!([to_reader]))
            .await
            .unwrap(),
    )
    .unwrap();
    let n = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(n(&gas_with), n(&gas_without) + 2_300);
    assert_eq!(al["gasUsed"], json!(gas_with));
    // A call to an account without code touches nothing worth listing.
    let al = call(
        &p,
        "eth_createAccessList",
        json!([{"from": me, "to": Address::repeat_byte(0x99), "data": "0x"}, "latest"]),
    )
    .await
    .unwrap();
    assert_eq!(al["accessList"], json!([]));
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_sqlite() {
    calls(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_postgres() {
    let Some(pg) = zknode_sqldb::harness::PgCluster::start() else {
        return;
    };
    calls(Some(pg.url())).await;
}
