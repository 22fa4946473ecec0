//! `zknode run` with the sequence-sender component against anvil (a block a second): a transfer
//! ends in a batch that the node posts to L1 with sequenceBatches, and the accInputHash L1
//! stores is the one the node recorded.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use common::l1::{address, batch_of, deploy, included, sequencer_key, signed};
use common::{Node, DEV_KEY};
use zknode_l1::ZkEvmRollup;
use zknode_storage::StateDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_is_sequenced_on_l1() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    let (anvil, t) = deploy(
        &config,
        "components = [\"rpc\", \"sequencer\", \"sequence-sender\"]\n\n\
         [sequencer]\nmax_batch_seconds = 1",
    );
    let rollup = address(&t, "rollup");
    let sequencer_key = sequencer_key();
    assert_eq!(
        t["l1"]["sequencer_key"].as_str(),
        Some(sequencer_key),
        "deploy keeps the other [l1] keys"
    );

    let data = dir.path().join("data");
    let node = Node::start(&data, None, &["--config", config.to_str().unwrap()]);
    let l2 = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let block = included(&l2, &signed(&key, 0, Some(Address::repeat_byte(0x42)))).await;
    let batch = batch_of(&l2, block).await;
    assert!(batch >= 1);

    let l1 = ProviderBuilder::new().connect_http(anvil.url().parse().unwrap());
    let contract = ZkEvmRollup::new(rollup, &l1);
    let deadline = Instant::now() + Duration::from_secs(120);
    while contract.lastBatchSequenced().call().await.unwrap() < batch {
        assert!(
            Instant::now() < deadline,
            "batch {batch} was not sequenced on L1; the node's log:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The SequenceBatches event, and the accInputHash the node recorded for that sequence.
    let filter = alloy::rpc::types::Filter::new()
        .address(rollup)
        .event_signature(
            <ZkEvmRollup::SequenceBatches as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
        )
        .from_block(0);
    let events = l1.get_logs(&filter).await.unwrap();
    assert!(!events.is_empty());
    let db = StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
        .await
        .unwrap();
    let seqs = db.live_sequences().await.unwrap();
    let covering = seqs
        .iter()
        .find(|s| s.from_batch <= batch && batch <= s.to_batch)
        .expect("a recorded sequence holds the batch");
    let stored = contract
        .sequencedBatches(covering.to_batch)
        .call()
        .await
        .unwrap();
    assert_eq!(stored.accInputHash, covering.final_acc_input_hash);
    // The transaction manager's counters are on /metrics (it sees the mined transaction at its
    // next poll).
    let value = |metrics: &str, name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
            .parse()
            .unwrap()
    };
    common::l1::wait(
        "the transaction manager's mined counter",
        30,
        &node,
        || async { value(&node.metrics().await, "zknode_l1_txs_mined_total") >= 1 },
    )
    .await;
    let metrics = node.metrics().await;
    assert!(value(&metrics, "zknode_l1_txs_sent_total") >= 1);
    assert_eq!(value(&metrics, "zknode_l1_txs_failed_total"), 0);
    db.close().await;
    assert!(
        !node.log_text().contains(&sequencer_key[2..]),
        "the key must never be logged"
    );
    assert!(node.terminate().success());
}

/// Without [l1], or without the key, `zknode run` with the sequence-sender component stops at
/// once with an error that says what is missing (and never prints the key).
#[test]
fn the_sender_says_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let run = |sets: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zknode"));
        cmd.arg("run")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args([
                "--rpc-addr",
                "127.0.0.1:0",
                "--ws-addr",
                "",
                "--metrics-addr",
                "",
            ])
            .args([
                "--set",
                "components=[\"rpc\", \"sequencer\", \"sequence-sender\"]",
            ])
            .env_remove("ZKNODE_L1_SEQUENCER_KEY")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for s in sets {
            cmd.args(["--set", s]);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("zknode kept running without what the sender needs");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = run(&[], &[]);
    assert!(err.contains("l1.rpc_url, l1.rollup"), "{err}");
    let l1 = [
        "l1.rpc_url=http://127.0.0.1:9",
        "l1.rollup=\"0x1000000000000000000000000000000000000001\"",
        "l1.global_exit_root_manager=\"0x2000000000000000000000000000000000000002\"",
    ];
    let err = run(&l1, &[]);
    assert!(err.contains("ZKNODE_L1_SEQUENCER_KEY"), "{err}");
    let err = run(&l1, &[("ZKNODE_L1_SEQUENCER_KEY", "0xnot-a-key-123")]);
    assert!(err.contains("not a private key"), "{err}");
    assert!(!err.contains("not-a-key-123"), "{err}");
}
