//! `zknode run` with the sequence-sender and synchronizer components against anvil (a block a
//! second): a transfer's batch is posted to L1 by the sender, read back by the synchronizer,
//! and becomes virtual in the node's database with the accInputHash L1 stores; an L1 info leaf
//! is served by zkevm_getExitRootsByGER and zkevm_getLatestGlobalExitRoot, and the sequencer's
//! next block brings a newer leaf's global exit root to L2, in a batch L1 then accepts.

mod common;

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use common::{Node, CHAIN_ID, DEV_KEY, GWEI};
use zknode_l1::testing::{dev_address, Anvil, DEV_KEYS};
use zknode_l1::{GlobalExitRootManager, ZkEvmRollup};
use zknode_storage::{BatchStatus, BlockReader, StateDb};

fn transfer(key: &PrivateKeySigner, nonce: u64, to: Address) -> Bytes {
    let tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    env.encoded_2718().into()
}

/// Waits (bounded) until batch `batch` is virtual and checks its accInputHash against L1's.
async fn wait_virtual<P: Provider>(
    db: &StateDb,
    contract: &ZkEvmRollup::ZkEvmRollupInstance<P>,
    batch: u64,
    node: &Node,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let b = db.batch(batch).await.unwrap().unwrap();
        if b.status >= BatchStatus::Virtual {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "batch {batch} did not become virtual; the node's log:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let seqs = db.l1_virtual_sequences().await.unwrap();
    let covering = seqs
        .iter()
        .find(|s| s.from_batch <= batch && batch <= s.to_batch)
        .expect("a synchronized sequence holds the batch");
    let stored = contract
        .sequencedBatches(covering.to_batch)
        .call()
        .await
        .unwrap();
    assert_eq!(covering.acc_input_hash, stored.accInputHash);
    let last = db.batch(covering.to_batch).await.unwrap().unwrap();
    assert_eq!(last.acc_input_hash, Some(stored.accInputHash));
    assert_eq!(last.virtual_tx_hash, Some(covering.tx_hash));
    assert!(
        db.sync_halt().await.unwrap().is_none(),
        "sequencing halted; the node's log:\n{}",
        node.log_text()
    );
}

/// The batch of L2 block `block`.
async fn batch_of<P: Provider>(l2: &P, block: u64) -> u64 {
    let batch: String = l2
        .raw_request(
            "zkevm_batchNumberByBlockNumber".into(),
            (format!("{block:#x}"),),
        )
        .await
        .unwrap();
    u64::from_str_radix(batch.trim_start_matches("0x"), 16).unwrap()
}

/// Sends a transfer and waits (bounded) for its receipt; the receipt's block number.
async fn transfer_included<P: Provider>(l2: &P, key: &PrivateKeySigner, nonce: u64) -> u64 {
    let hash = *l2
        .send_raw_transaction(&transfer(key, nonce, Address::repeat_byte(0x42)))
        .await
        .unwrap()
        .tx_hash();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = l2.get_transaction_receipt(hash).await.unwrap() {
            return r.block_number.unwrap();
        }
        assert!(Instant::now() < deadline, "no receipt for transfer {nonce}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequenced_batches_become_virtual_with_l1s_acc_input_hash() {
    let anvil = Anvil::start_with(&["--block-time", "1"]).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "components = [\"rpc\", \"sequencer\", \"sequence-sender\", \"synchronizer\"]\n\n\
             [sequencer]\nmax_batch_seconds = 1\n\n\
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
    let rollup: Address = t["l1"]["rollup"].as_str().unwrap().parse().unwrap();

    let data = dir.path().join("data");
    let node = Node::start(&data, None, &["--config", config.to_str().unwrap()]);
    let l2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let block = transfer_included(&l2, &key, 0).await;
    let batch = batch_of(&l2, block).await;

    // The synchronizer marks it virtual once the sender's sequence is on L1.
    let db = StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
        .await
        .unwrap();
    let l1 = ProviderBuilder::new().connect_http(anvil.url().parse().unwrap());
    let contract = ZkEvmRollup::new(rollup, &l1);
    wait_virtual(&db, &contract, batch, &node).await;
    db.close().await;

    // An L1 info leaf (the bridge, account 0, sets a mainnet exit root): its exit roots are
    // served once synchronized.
    let manager: Address = t["l1"]["global_exit_root_manager"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let ger = GlobalExitRootManager::new(manager, anvil.provider(0));
    let mainnet = B256::repeat_byte(0x77);
    let sent = ger.updateExitRoot(mainnet).send().await.unwrap();
    assert!(sent.get_receipt().await.unwrap().status());
    let expected = ger.getLastGlobalExitRoot().call().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let roots = loop {
        let r: serde_json::Value = l2
            .raw_request("zkevm_getExitRootsByGER".into(), (expected,))
            .await
            .unwrap();
        if !r.is_null() {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the leaf was not synchronized; the node's log:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(roots["mainnetExitRoot"], serde_json::json!(mainnet));
    assert_eq!(roots["rollupExitRoot"], serde_json::json!(B256::ZERO));
    let latest: B256 = l2
        .raw_request("zkevm_getLatestGlobalExitRoot".into(), ())
        .await
        .unwrap();
    assert_eq!(latest, expected);
    let unknown: serde_json::Value = l2
        .raw_request("zkevm_getExitRootsByGER".into(), (B256::repeat_byte(1),))
        .await
        .unwrap();
    assert!(unknown.is_null());

    // That first leaf has index 0, which a changeL2Block cannot name (0 means "no new leaf").
    // A second leaf: the sequencer's next block points at it, which records its global exit
    // root in L2's global exit root manager (mapping at slot 0) with the L1 parent block hash.
    let sent = ger
        .updateExitRoot(B256::repeat_byte(0x78))
        .send()
        .await
        .unwrap();
    let receipt = sent.get_receipt().await.unwrap();
    assert!(receipt.status());
    let ger2 = ger.getLastGlobalExitRoot().call().await.unwrap();
    let l1_block = l1
        .get_block_by_number(receipt.block_number.unwrap().into())
        .await
        .unwrap()
        .unwrap();
    let mut key_bytes = [0u8; 64];
    key_bytes[..32].copy_from_slice(ger2.as_slice());
    let slot = U256::from_be_bytes(keccak256(key_bytes).0);
    let manager_l2: Address = "0xa40D5f56745a118D0906a34E69aEC8C0Db1cB8fA"
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut nonce = 1;
    let carried = loop {
        let block = transfer_included(&l2, &key, nonce).await;
        nonce += 1;
        let v = l2
            .get_storage_at(manager_l2, slot)
            .block_id(block.into())
            .await
            .unwrap();
        if !v.is_zero() {
            assert_eq!(B256::from(v), l1_block.header.parent_hash);
            break block;
        }
        assert!(
            Instant::now() < deadline,
            "no L2 block brought in the second leaf's global exit root; the node's log:\n{}",
            node.log_text()
        );
    };
    let header: serde_json::Value = l2
        .raw_request(
            "zkevm_getFullBlockByNumber".into(),
            (format!("{carried:#x}"), false),
        )
        .await
        .unwrap();
    assert_eq!(header["globalExitRoot"], serde_json::json!(ger2));
    // L1 takes the batch (its leaf count covers the leaf) and agrees on its accInputHash.
    let db = StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
        .await
        .unwrap();
    wait_virtual(&db, &contract, batch_of(&l2, carried).await, &node).await;
    db.close().await;
    assert!(node.terminate().success());
}
