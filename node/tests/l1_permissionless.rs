//! A permissionless node (`--components rpc,synchronizer`), started once the trusted node has
//! put 20 batches on L1 (anvil), executes them from L1 calldata alone and reaches the same
//! chain: the same block hashes and state roots, receipts and logs, the L1 info leaf a block
//! brought in, and the batches virtual. Its `eth_sendRawTransaction` relays to the sequencer.

mod common;

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use common::{Node, CHAIN_ID, DEV_KEY, GWEI};
use zknode_l1::testing::{dev_address, Anvil, DEV_KEYS};
use zknode_l1::GlobalExitRootManager;
use zknode_storage::{BatchStatus, BlockReader, StateDb};

/// A legacy transaction from `key`: a transfer of 1 wei to `to`, or (None) the deployment of a
/// contract whose constructor emits a log (PUSH1 0 PUSH1 0 LOG0 STOP).
fn signed(key: &PrivateKeySigner, nonce: u64, to: Option<Address>) -> Bytes {
    let tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: GWEI,
        gas_limit: 100_000,
        to: to.map_or(TxKind::Create, TxKind::Call),
        value: U256::from(u8::from(to.is_some())),
        input: if to.is_some() {
            Bytes::new()
        } else {
            Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xa0, 0x00])
        },
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    env.encoded_2718().into()
}

async fn wait<F, Fut>(what: &str, secs: u64, node: &Node, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {secs} s; the node's log:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permissionless_node_rebuilds_the_chain_from_l1() {
    let anvil = Anvil::start_with(&["--block-time", "1"]).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trusted.toml");
    std::fs::write(
        &config,
        format!(
            "components = [\"rpc\", \"sequencer\", \"sequence-sender\", \"synchronizer\"]\n\n\
             [sequencer]\nmax_batch_seconds = 1\nmax_batch_txs = 2\n\n\
             [l1]\nsequencer_key = \"{}\"\n\n\
             [l1.tx_manager]\npoll_interval_ms = 200\nconfirmations = 1\n\n\
             [l1.sequence_sender]\npoll_interval_ms = 200\nl1_info_block = \"latest\"\n\n\
             [l1.sync]\nhead = \"latest\"\ninterval_ms = 200\nchunk_size = 7\n",
            DEV_KEYS[1]
        ),
    )
    .unwrap();
    let deploy = std::process::Command::new(env!("CARGO_BIN_EXE_zknode"))
        .args(["l1", "deploy", "--rpc", anvil.url(), "--config"])
        .arg(&config)
        .args(["--trusted-sequencer", &dev_address(1).to_string()])
        .env("ZKNODE_L1_KEY", DEV_KEYS[0])
        .output()
        .unwrap();
    assert!(
        deploy.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    let t: toml::Table = std::fs::read_to_string(&config).unwrap().parse().unwrap();
    let manager: Address = t["l1"]["global_exit_root_manager"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Two L1 info leaves (index 0 cannot be named by a block; index 1 can).
    let ger = GlobalExitRootManager::new(manager, anvil.provider(0));
    for root in [0x77u8, 0x78] {
        let sent = ger
            .updateExitRoot(B256::repeat_byte(root))
            .send()
            .await
            .unwrap();
        assert!(sent.get_receipt().await.unwrap().status());
    }
    let leaf_ger = ger.getLastGlobalExitRoot().call().await.unwrap();

    let data = dir.path().join("trusted");
    let trusted = Node::start(&data, None, &["--config", config.to_str().unwrap()]);
    let l2 = ProviderBuilder::new().connect_http(trusted.url.parse().unwrap());
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    // 40 transactions, two per batch: a contract deployment (with a log) among transfers.
    let mut hashes = Vec::new();
    for nonce in 0..40u64 {
        let to = (nonce != 5).then(|| Address::with_last_byte(nonce as u8 + 1));
        let h = *l2
            .send_raw_transaction(&signed(&key, nonce, to))
            .await
            .unwrap()
            .tx_hash();
        hashes.push(h);
    }
    let db = StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
        .await
        .unwrap();
    wait(
        "20 batches virtual on the trusted node",
        240,
        &trusted,
        || async {
            db.latest_batch_numbers()
                .await
                .unwrap()
                .virtualized
                .is_some_and(|v| v >= 20)
        },
    )
    .await;
    for h in &hashes {
        assert!(l2.get_transaction_receipt(*h).await.unwrap().is_some());
    }

    // The permissionless node: the same L1 addresses, its own data directory.
    let pconfig = dir.path().join("permissionless.toml");
    std::fs::write(
        &pconfig,
        format!(
            "components = [\"rpc\", \"synchronizer\"]\n\n\
             [rpc]\nsequencer_url = \"{}\"\n\n\
             [l1]\nrpc_url = \"{}\"\nrollup = \"{}\"\nglobal_exit_root_manager = \"{}\"\n\
             deploy_block = {}\n\n\
             [l1.sync]\nhead = \"latest\"\ninterval_ms = 200\nchunk_size = 7\n",
            trusted.url,
            anvil.url(),
            t["l1"]["rollup"].as_str().unwrap(),
            manager,
            t["l1"]["deploy_block"].as_integer().unwrap(),
        ),
    )
    .unwrap();
    let pdata = dir.path().join("permissionless");
    let node = Node::start(&pdata, None, &["--config", pconfig.to_str().unwrap()]);
    let p2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let last = db
        .latest_batch_numbers()
        .await
        .unwrap()
        .virtualized
        .unwrap();
    let last_block = *db.batch_block_numbers(last).await.unwrap().last().unwrap();
    wait(
        "the permissionless node reaching the trusted node's virtual batches",
        120,
        &node,
        || async { p2.get_block_number().await.unwrap() >= last_block },
    )
    .await;

    // Every block the same, to the hash.
    let mut carried = false;
    for n in 0..=last_block {
        let a = l2
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .unwrap()
            .unwrap();
        let b = p2
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.header.hash, b.header.hash, "block {n}");
        assert_eq!(a.header.state_root, b.header.state_root, "block {n}");
        let g: serde_json::Value = p2
            .raw_request(
                "zkevm_getFullBlockByNumber".into(),
                (format!("{n:#x}"), false),
            )
            .await
            .unwrap();
        carried |= g["globalExitRoot"] == serde_json::json!(leaf_ger);
    }
    assert!(
        carried,
        "no block carried the L1 info leaf's global exit root"
    );
    // Every receipt the same (status, gas, logs, contract address).
    for h in &hashes {
        let a = l2.get_transaction_receipt(*h).await.unwrap().unwrap();
        if a.block_number.unwrap() > last_block {
            continue;
        }
        let b = p2.get_transaction_receipt(*h).await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap(),
            "receipt of {h}"
        );
    }
    let filter = Filter::new().from_block(0).to_block(last_block);
    let logs = p2.get_logs(&filter).await.unwrap();
    assert_eq!(logs.len(), 1, "the deployment's log");
    assert_eq!(logs, l2.get_logs(&filter).await.unwrap());
    // Its batches are virtual, with L1's accInputHash.
    let pdb = StateDb::connect(&zknode_storage::sqlite_url(&pdata.join("state.sqlite")))
        .await
        .unwrap();
    for n in 1..=last {
        let (a, b) = (
            db.batch(n).await.unwrap().unwrap(),
            pdb.batch(n).await.unwrap().unwrap(),
        );
        assert!(
            b.status >= BatchStatus::Virtual,
            "batch {n}: {:?}",
            b.status
        );
        assert_eq!(a.acc_input_hash, b.acc_input_hash, "batch {n}");
        assert_eq!(a.state_root, b.state_root, "batch {n}");
        assert_eq!(a.l2_data, b.l2_data, "batch {n}");
    }
    pdb.close().await;
    db.close().await;

    // A transaction sent to the permissionless node goes to the sequencer.
    let h = *p2
        .send_raw_transaction(&signed(&key, 40, Some(Address::repeat_byte(9))))
        .await
        .unwrap()
        .tx_hash();
    wait(
        "the relayed transaction's receipt",
        60,
        &trusted,
        || async { l2.get_transaction_receipt(h).await.unwrap().is_some() },
    )
    .await;
    wait(
        "the relayed transaction on the permissionless node",
        120,
        &node,
        || async { p2.get_transaction_receipt(h).await.unwrap().is_some() },
    )
    .await;
    assert!(node.terminate().success());
    assert!(trusted.terminate().success());
}
