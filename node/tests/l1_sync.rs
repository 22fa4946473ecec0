//! `zknode run` with the sequence-sender and synchronizer components against anvil (a block a
//! second): a transfer's batch is posted to L1 by the sender, read back by the synchronizer,
//! and becomes virtual in the node's database with the accInputHash L1 stores; an L1 info leaf
//! is served by zkevm_getExitRootsByGER and zkevm_getLatestGlobalExitRoot, and the sequencer's
//! next block brings a newer leaf's global exit root to L2, in a batch L1 then accepts.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::{keccak256, Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use common::l1::{address, batch_of, deploy, included, signed, wait};
use common::{Node, DEV_KEY};
use zknode_l1::{GlobalExitRootManager, ZkEvmRollup};
use zknode_storage::{BatchStatus, BlockReader, StateDb};

/// Waits (bounded) until batch `batch` is virtual and checks its accInputHash against L1's.
async fn wait_virtual<P: Provider>(
    db: &StateDb,
    contract: &ZkEvmRollup::ZkEvmRollupInstance<P>,
    batch: u64,
    node: &Node,
) {
    wait(&format!("batch {batch} virtual"), 120, node, || async {
        db.batch(batch).await.unwrap().unwrap().status >= BatchStatus::Virtual
    })
    .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequenced_batches_become_virtual_with_l1s_acc_input_hash() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    let (anvil, t) = deploy(
        &config,
        "components = [\"rpc\", \"sequencer\", \"sequence-sender\", \"synchronizer\"]\n\n\
         [sequencer]\nmax_batch_seconds = 1",
    );
    let rollup = address(&t, "rollup");

    let data = dir.path().join("data");
    let node = Node::start(&data, None, &["--config", config.to_str().unwrap()]);
    let l2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let block = included(&l2, &signed(&key, 0, Some(Address::repeat_byte(0x42)))).await;
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
    let manager = address(&t, "global_exit_root_manager");
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
        let block = included(&l2, &signed(&key, nonce, Some(Address::repeat_byte(0x42)))).await;
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
    let carrier = batch_of(&l2, carried).await;
    wait_virtual(&db, &contract, carrier, &node).await;
    // Its witness is executed in the sequence's context (the leaf's Merkle proof checked
    // against L1's L1 info root): its chain inputs are the sequence's L1 info root and
    // timestamp limit, and L1's accInputHash before it.
    let vb = db.l1_virtual_batch(carrier).await.unwrap().unwrap();
    assert!(!vb.l1_info_root.is_zero());
    let prev = db.batch(carrier - 1).await.unwrap().unwrap();
    let witness: serde_json::Value = l2
        .raw_request("zkevm_getBatchWitness".into(), (format!("{carrier:#x}"),))
        .await
        .unwrap();
    let text = witness.to_string().to_lowercase();
    for (what, h) in [
        ("l1InfoRoot", vb.l1_info_root),
        ("oldAccInputHash", prev.acc_input_hash.unwrap()),
    ] {
        let hex = alloy::primitives::hex::encode(h);
        assert!(
            text.contains(&hex),
            "the witness's {what} is not {h}: {text:.600}"
        );
    }
    let limit = format!("\"timestamplimit\":{}", vb.max_sequence_timestamp);
    assert!(text.contains(&limit), "{text:.600}");
    db.close().await;
    assert!(node.terminate().success());
}
