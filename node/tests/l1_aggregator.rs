//! The aggregator takes its batches from a node (`zkaggregator run --node-url`, `zkaggregator
//! follow`): the witnesses of the node's virtual batches, checked, into its job database, from
//! the first batch L1 has not verified; nothing before it, nothing twice.

mod common;

use alloy::primitives::Address;
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use common::l1::{batch_of, deploy, included, signed, wait};
use common::{Node, DEV_KEY};
use zknode_aggregator::db::Db;
use zknode_aggregator::follow::NodeFollower;
use zknode_storage::{BlockReader, StateDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregator_takes_virtual_batches_from_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trusted.toml");
    let (_anvil, _t) = deploy(
        &config,
        "components = [\"rpc\", \"sequencer\", \"sequence-sender\", \"synchronizer\"]\n\n\
         [sequencer]\nmax_batch_seconds = 1\nmax_batch_txs = 1",
    );
    let data = dir.path().join("trusted");
    let node = Node::start(&data, None, &["--config", config.to_str().unwrap()]);
    let l2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let mut last = 0;
    for nonce in 0..3 {
        let block = included(&l2, &signed(&key, nonce, Some(Address::repeat_byte(7)))).await;
        last = batch_of(&l2, block).await;
    }
    let db = StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
        .await
        .unwrap();
    wait("the batches virtual", 120, &node, || async {
        db.latest_batch_numbers()
            .await
            .unwrap()
            .virtualized
            .is_some_and(|v| v >= last)
    })
    .await;
    let virtualized = db
        .latest_batch_numbers()
        .await
        .unwrap()
        .virtualized
        .unwrap();

    let jobs = Db::connect(&Db::sqlite_url(&dir.path().join("aggregator.db")))
        .await
        .unwrap();
    let follower = NodeFollower::new(&node.url, jobs.clone()).unwrap();
    let stored = follower.step(u64::MAX).await.unwrap();
    assert_eq!(stored, (1..=virtualized).collect::<Vec<_>>());
    assert_eq!(jobs.batch_numbers().await.unwrap(), stored);
    // Each stored witness is the node's batch: its data and its old state root.
    for n in stored {
        let w = jobs.batch_witness(n).await.unwrap().unwrap();
        let b = db.batch(n).await.unwrap().unwrap();
        assert_eq!(w.batch_l2_data, b.l2_data.to_vec(), "batch {n}");
        let prev = db.batch(n - 1).await.unwrap().unwrap();
        assert_eq!(
            w.old_state_root.to_u256().to_be_bytes::<32>(),
            prev.state_root.0,
            "batch {n}"
        );
    }
    // Nothing new: nothing stored twice.
    assert!(follower.step(u64::MAX).await.unwrap().is_empty());
    db.close().await;
    assert!(node.terminate().success());
}
