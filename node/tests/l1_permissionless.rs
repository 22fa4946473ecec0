//! A permissionless node (`--components rpc,synchronizer`), started once the trusted node has
//! put 20 batches on L1 (anvil), executes them from L1 calldata alone and reaches the same
//! chain: the same block hashes and state roots, receipts and logs, the L1 info leaf a block
//! brought in, and the batches virtual. Its `eth_sendRawTransaction` relays to the sequencer.

mod common;

use alloy::primitives::{Address, B256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use common::l1::{address, assert_same_blocks, deploy, permissionless_config, signed, wait};
use common::{Node, DEV_KEY};
use zknode_l1::GlobalExitRootManager;
use zknode_storage::{BatchStatus, BlockReader, StateDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permissionless_node_rebuilds_the_chain_from_l1() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trusted.toml");
    let (anvil, t) = deploy(
        &config,
        "components = [\"rpc\", \"sequencer\", \"sequence-sender\", \"synchronizer\"]\n\n\
         [sequencer]\nmax_batch_seconds = 1\nmax_batch_txs = 2",
    );
    let manager = address(&t, "global_exit_root_manager");
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
    permissionless_config(&pconfig, &t, &trusted.url);
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
    assert_same_blocks(&l2, &p2, last_block).await;
    let mut carried = false;
    for n in 0..=last_block {
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
