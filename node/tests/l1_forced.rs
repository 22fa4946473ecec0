//! A forced batch (a user's transaction queued on L1 with forceBatch) is executed by the trusted
//! node as a batch of its own and sequenced with its forced fields (L1 accepts it: the contract
//! checks them against its queue), and a permissionless node executes it from L1 the same way:
//! the same receipt, in the same block.

mod common;

use alloy::primitives::{Address, Bytes};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use common::l1::{address, deploy, included, permissionless_config, signed, wait};
use common::{Node, DEV_KEY, DEV_KEY_1};
use zknode_executor::{decode_signed, encode_batch, BatchEntry};
use zknode_l1::ZkEvmRollup;
use zknode_storage::{BatchStatus, BlockReader, StateDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_batch_is_executed_by_both_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trusted.toml");
    let (anvil, t) = deploy(
        &config,
        "components = [\"rpc\", \"sequencer\", \"sequence-sender\", \"synchronizer\"]\n\n\
         [sequencer]\nmax_batch_seconds = 1",
    );
    let data = dir.path().join("trusted");
    let trusted = Node::start(&data, None, &["--config", config.to_str().unwrap()]);
    let l2 = ProviderBuilder::new().connect_http(trusted.url.parse().unwrap());
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    included(&l2, &signed(&key, 0, Some(Address::repeat_byte(1)))).await;

    // A user (L1 account 0) forces a transfer from L2 account 1.
    let user: PrivateKeySigner = DEV_KEY_1.parse().unwrap();
    let raw = signed(&user, 0, Some(Address::repeat_byte(0x99)));
    let tx_hash = alloy::primitives::keccak256(&raw);
    let forced = Bytes::from(encode_batch(&[BatchEntry::Tx(Box::new(
        decode_signed(&raw).unwrap(),
    ))]));
    let rollup = ZkEvmRollup::new(address(&t, "rollup"), anvil.provider(0));
    let sent = rollup
        .forceBatch(forced.clone(), alloy::primitives::U256::ZERO)
        .send()
        .await
        .unwrap();
    assert!(sent.get_receipt().await.unwrap().status());

    wait(
        "the forced transaction on the trusted node",
        90,
        &trusted,
        || async { l2.get_transaction_receipt(tx_hash).await.unwrap().is_some() },
    )
    .await;
    let receipt = l2.get_transaction_receipt(tx_hash).await.unwrap().unwrap();
    assert!(receipt.status());
    let block = receipt.block_number.unwrap();
    let db = StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
        .await
        .unwrap();
    let batch = db
        .block_by_number(block)
        .await
        .unwrap()
        .unwrap()
        .batch_number;
    let stored = db.batch(batch).await.unwrap().unwrap();
    assert_eq!(stored.forced_batch_number, Some(1));
    assert_eq!(stored.l2_data, forced);
    // L1 takes it in a sequence (its forced fields match the queue) and the synchronizer agrees.
    wait("the forced batch virtual", 120, &trusted, || async {
        db.batch(batch).await.unwrap().unwrap().status >= BatchStatus::Virtual
    })
    .await;
    assert!(db.sync_halt().await.unwrap().is_none());
    assert_eq!(rollup.lastForceBatchSequenced().call().await.unwrap(), 1);
    // Sequencing goes on after it.
    let after = included(&l2, &signed(&key, 1, Some(Address::repeat_byte(2)))).await;
    assert!(after > block);

    // The permissionless node executes the same forced batch from L1.
    let pconfig = dir.path().join("permissionless.toml");
    permissionless_config(&pconfig, &t, &trusted.url);
    let node = Node::start(
        &dir.path().join("permissionless"),
        None,
        &["--config", pconfig.to_str().unwrap()],
    );
    let p2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    wait(
        "the forced transaction on the permissionless node",
        90,
        &node,
        || async { p2.get_transaction_receipt(tx_hash).await.unwrap().is_some() },
    )
    .await;
    let theirs = p2.get_transaction_receipt(tx_hash).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&receipt).unwrap(),
        serde_json::to_value(&theirs).unwrap()
    );
    db.close().await;
    assert!(node.terminate().success());
    assert!(trusted.terminate().success());
}
