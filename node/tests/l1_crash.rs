//! SIGKILL against the L1 components, with real processes and anvil: the trusted node (sequencer,
//! sequence sender, synchronizer) is killed three times while transactions arrive and sequences
//! are in flight, and a permissionless node twice while it executes L1's batches. After the
//! restarts every acknowledged transaction is in a block, every batch is on L1 exactly once
//! (no sequence sent twice, none reverted), the synchronizer agrees with L1, and the
//! permissionless node has the trusted node's chain.

mod common;

use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use common::l1::{address, assert_same_blocks, deploy, permissionless_config, signed, wait};
use common::{Node, DEV_KEY};
use zknode_l1::testing::dev_address;
use zknode_l1::ZkEvmRollup;
use zknode_storage::{BlockReader, StateDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_nodes_resume_without_loss_or_double_sends() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trusted.toml");
    let (anvil, t) = deploy(
        &config,
        "components = [\"rpc\", \"sequencer\", \"sequence-sender\", \"synchronizer\"]\n\n\
         [sequencer]\nmax_batch_seconds = 1\nmax_batch_txs = 2",
    );
    let data = dir.path().join("trusted");
    let args = ["--config", config.to_str().unwrap()];
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let mut acknowledged: Vec<B256> = Vec::new();
    let mut nonce = 0u64;
    // Three rounds: transactions go in, then SIGKILL while blocks, batches and sequences are
    // under way (a block a second on L1, batches of two transactions).
    for (round, pause_ms) in [(0, 1500u64), (1, 2200), (2, 900)] {
        let node = Node::start(&data, None, &args);
        let l2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
        for _ in 0..6 {
            let to = Address::with_last_byte(nonce as u8 + 1);
            let h = *l2
                .send_raw_transaction(&signed(&key, nonce, Some(to)))
                .await
                .unwrap_or_else(|e| panic!("round {round}, nonce {nonce}: {e}"))
                .tx_hash();
            acknowledged.push(h);
            nonce += 1;
        }
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        node.kill();
    }
    let node = Node::start(&data, None, &args);
    let l2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    wait(
        "every acknowledged transaction in a block",
        120,
        &node,
        || async {
            for h in &acknowledged {
                if l2.get_transaction_receipt(*h).await.unwrap().is_none() {
                    return false;
                }
            }
            true
        },
    )
    .await;
    let last_tx_block = l2
        .get_transaction_receipt(*acknowledged.last().unwrap())
        .await
        .unwrap()
        .unwrap()
        .block_number
        .unwrap();
    let db = StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
        .await
        .unwrap();
    let last_batch = db
        .block_by_number(last_tx_block)
        .await
        .unwrap()
        .unwrap()
        .batch_number;
    wait("the batches virtual", 180, &node, || async {
        db.latest_batch_numbers()
            .await
            .unwrap()
            .virtualized
            .is_some_and(|v| v >= last_batch)
    })
    .await;
    assert!(db.sync_halt().await.unwrap().is_none());

    // On L1: each sequence once. Every transaction the sequencer's account sent succeeded, and
    // there are as many as the sequences L1 holds.
    let l1 = ProviderBuilder::new().connect_http(anvil.url().parse().unwrap());
    let head = l1.get_block_number().await.unwrap();
    let mut sent = 0;
    for n in 0..=head {
        let block = l1
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .full()
            .await
            .unwrap()
            .unwrap();
        for tx in block.transactions.txns() {
            if tx.inner.signer() != dev_address(1) {
                continue;
            }
            let r = l1
                .get_transaction_receipt(*tx.inner.tx_hash())
                .await
                .unwrap()
                .unwrap();
            assert!(r.status(), "L1 transaction {} reverted", r.transaction_hash);
            sent += 1;
        }
    }
    let sequences = db.l1_virtual_sequences().await.unwrap();
    assert_eq!(
        sent,
        sequences.len(),
        "sequence transactions against sequences"
    );
    for w in sequences.windows(2) {
        assert_eq!(
            w[1].from_batch,
            w[0].to_batch + 1,
            "sequences are contiguous"
        );
    }
    let rollup = ZkEvmRollup::new(address(&t, "rollup"), &l1);
    let on_l1 = rollup.lastBatchSequenced().call().await.unwrap();
    assert_eq!(sequences.last().unwrap().to_batch, on_l1);
    let last_virtual_block = *db.batch_block_numbers(on_l1).await.unwrap().last().unwrap();

    // The permissionless node, killed twice while it executes L1's batches.
    let pconfig = dir.path().join("permissionless.toml");
    permissionless_config(&pconfig, &t, &node.url);
    let pdata = dir.path().join("permissionless");
    let pargs = ["--config", pconfig.to_str().unwrap()];
    for pause_ms in [300u64, 700] {
        let p = Node::start(&pdata, None, &pargs);
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        p.kill();
    }
    let p = Node::start(&pdata, None, &pargs);
    let p2 = ProviderBuilder::new().connect_http(p.url.parse().unwrap());
    wait("the permissionless node caught up", 120, &p, || async {
        p2.get_block_number().await.unwrap() >= last_virtual_block
    })
    .await;
    assert_same_blocks(&l2, &p2, last_virtual_block).await;
    db.close().await;
    assert!(p.terminate().success());
    assert!(node.terminate().success());
}
