//! A permissionless node with `l1.sync.trusted_state` executes the trusted sequencer's closed
//! batches from its JSON-RPC before L1 has them: a transaction shows there, in the same block
//! (same hash), while its batch is not yet on L1 (the trusted node holds its sequences back);
//! once sequenced, the batch turns virtual with L1's accInputHash.

mod common;

use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use common::l1::{deploy, included, permissionless_config, signed, wait};
use common::{Node, DEV_KEY};
use zknode_storage::{BatchStatus, BlockReader, StateDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trusted_state_comes_before_l1() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trusted.toml");
    let (_anvil, t) = deploy(
        &config,
        "components = [\"rpc\", \"sequencer\", \"sequence-sender\", \"synchronizer\"]\n\n\
         [sequencer]\nmax_batch_seconds = 1",
    );
    let data = dir.path().join("trusted");
    // Sequences wait until the L1 head's timestamp passes the batches' by this much.
    let margin = |secs: u64| format!("l1.sequence_sender.l1_timestamp_margin_secs={secs}");
    let held = margin(3600);
    let trusted = Node::start(
        &data,
        None,
        &["--config", config.to_str().unwrap(), "--set", &held],
    );
    let l2 = ProviderBuilder::new().connect_http(trusted.url.parse().unwrap());
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();

    let pconfig = dir.path().join("permissionless.toml");
    permissionless_config(&pconfig, &t, &trusted.url);
    let node = Node::start(
        &dir.path().join("permissionless"),
        None,
        &[
            "--config",
            pconfig.to_str().unwrap(),
            "--set",
            "l1.sync.trusted_state=true",
        ],
    );
    let p2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let raw = signed(&key, 0, Some(Address::repeat_byte(0x42)));
    let block = included(&l2, &raw).await;
    let hash = alloy::primitives::keccak256(&raw);
    wait(
        "the transaction on the permissionless node",
        60,
        &node,
        || async { p2.get_transaction_receipt(hash).await.unwrap().is_some() },
    )
    .await;
    let theirs = p2.get_transaction_receipt(hash).await.unwrap().unwrap();
    assert_eq!(theirs.block_number, Some(block));
    let a = l2.get_block_by_number(block.into()).await.unwrap().unwrap();
    let b = p2.get_block_by_number(block.into()).await.unwrap().unwrap();
    assert_eq!(a.header.hash, b.header.hash);
    let pdb = StateDb::connect(&zknode_storage::sqlite_url(
        &dir.path().join("permissionless").join("state.sqlite"),
    ))
    .await
    .unwrap();
    let batch = pdb
        .block_by_number(block)
        .await
        .unwrap()
        .unwrap()
        .batch_number;
    assert_eq!(
        pdb.batch(batch).await.unwrap().unwrap().status,
        BatchStatus::Closed,
        "not on L1 yet"
    );

    // The trusted node, restarted without the hold, sequences it; the permissionless node
    // marks its own batch virtual with L1's accInputHash.
    assert!(trusted.terminate().success());
    let trusted = Node::start(
        &data,
        None,
        &["--config", config.to_str().unwrap(), "--set", &margin(0)],
    );
    wait(
        "the batch virtual on the permissionless node",
        120,
        &node,
        || async { pdb.batch(batch).await.unwrap().unwrap().status >= BatchStatus::Virtual },
    )
    .await;
    let tdb = StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
        .await
        .unwrap();
    wait(
        "the batch virtual on the trusted node",
        60,
        &trusted,
        || async { tdb.batch(batch).await.unwrap().unwrap().status >= BatchStatus::Virtual },
    )
    .await;
    assert_eq!(
        pdb.batch(batch).await.unwrap().unwrap().acc_input_hash,
        tdb.batch(batch).await.unwrap().unwrap().acc_input_hash
    );
    assert!(pdb.sync_halt().await.unwrap().is_none());
    pdb.close().await;
    tdb.close().await;
    assert!(node.terminate().success());
    assert!(trusted.terminate().success());
}
