//! sequenceBatches against anvil: each check's custom error, in Polygon's order, and the
//! accInputHash chain the contract stores against the executor's, for our batches and for
//! those of Polygon's processor vectors.

use crate::common::*;
use alloy::primitives::{Address, Bytes, B256};
use zknode_executor::hashes::{acc_input_hash, AccInput};
use zknode_executor::l1_info_empty_root;
use zknode_l1::testing::dev_address;
use zknode_l1::ZkEvmRollup;

/// One check at a time, each failing call also breaking every later check, so that the error
/// shows which check comes first.
#[tokio::test]
async fn every_check_reverts_with_its_error_in_order() {
    let chain = Chain::start().await;
    let seq = chain.rollup(SEQUENCER);
    let now = chain.latest().await.timestamp;
    let coinbase = dev_address(SEQUENCER);
    let too_long = batch(vec![0u8; 120_001]);
    let forced_unknown = BatchData {
        forcedTimestamp: 1,
        ..batch(vec![1u8])
    };

    expect_revert::<ZkEvmRollup::OnlyTrustedSequencer, _>(
        chain
            .rollup(USER)
            .sequenceBatches(vec![], 9, now + 1000, B256::ZERO, coinbase)
            .send()
            .await,
    );
    expect_revert::<ZkEvmRollup::SequenceZeroBatches, _>(
        seq.sequenceBatches(vec![], 9, now + 1000, B256::ZERO, coinbase)
            .send()
            .await,
    );
    expect_revert::<ZkEvmRollup::ExceedMaxVerifyBatches, _>(
        seq.sequenceBatches(
            vec![batch(vec![]); 1001],
            9,
            now + 1000,
            B256::ZERO,
            coinbase,
        )
        .send()
        .await,
    );
    expect_revert::<ZkEvmRollup::MaxTimestampSequenceInvalid, _>(
        seq.sequenceBatches(vec![too_long.clone()], 9, now + 1000, B256::ZERO, coinbase)
            .send()
            .await,
    );
    // No leaf yet: only count 0 (the empty tree) has a root.
    expect_revert::<ZkEvmRollup::L1InfoTreeLeafCountInvalid, _>(
        seq.sequenceBatches(vec![too_long.clone()], 1, now, B256::ZERO, coinbase)
            .send()
            .await,
    );
    expect_revert::<ZkEvmRollup::TransactionsLengthAboveMax, _>(
        seq.sequenceBatches(
            vec![batch(vec![]), too_long, forced_unknown.clone()],
            0,
            now,
            B256::ZERO,
            coinbase,
        )
        .send()
        .await,
    );
    // A forced batch with no forced batch queued: its slot is empty, so the data check fails
    // before the overflow check after the loop.
    expect_revert::<ZkEvmRollup::ForcedDataDoesNotMatch, _>(
        seq.sequenceBatches(vec![forced_unknown], 0, now, B256::ZERO, coinbase)
            .send()
            .await,
    );
    expect_revert::<ZkEvmRollup::FinalAccInputHashDoesNotMatch, _>(
        seq.sequenceBatches(vec![batch(vec![1u8])], 0, now, B256::ZERO, coinbase)
            .send()
            .await,
    );

    // Exactly 120,000 bytes is allowed, and the right expected hash goes through.
    let full = batch(vec![0xab; 120_000]);
    let mut acc = AccChain::default();
    acc.sequence(
        std::slice::from_ref(&full),
        l1_info_empty_root(),
        now,
        coinbase,
    );
    confirm(
        seq.sequenceBatches(vec![full], 0, now, acc.0, coinbase)
            .send()
            .await,
    )
    .await;
    assert_eq!(seq.lastBatchSequenced().call().await.unwrap(), 1);
}

#[tokio::test]
async fn the_stored_acc_input_hash_is_the_executors() {
    let chain = Chain::start().await;
    let seq = chain.rollup(SEQUENCER);
    let ger = chain.ger(ADMIN);
    let mut acc = AccChain::default();
    assert_eq!(
        seq.lastAccInputHash().call().await.unwrap(),
        B256::ZERO,
        "batch 0, the genesis, has a zero accInputHash"
    );

    // Three batches from genesis, before any L1 info leaf: the root is the empty tree's.
    let first: Vec<BatchData> = (0..3u8)
        .map(|i| batch(vec![i; 10 + usize::from(i)]))
        .collect();
    let coinbase = Address::repeat_byte(0xc0);
    let ts = chain.latest().await.timestamp;
    acc.sequence(&first, l1_info_empty_root(), ts, coinbase);
    let r = confirm(
        seq.sequenceBatches(first, 0, ts, acc.0, coinbase)
            .send()
            .await,
    )
    .await;
    let ev = events::<ZkEvmRollup::SequenceBatches>(&r);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].numBatch, 3);
    assert_eq!(ev[0].l1InfoRoot, l1_info_empty_root());
    let block = chain.block(r.block_number.unwrap()).await;
    let s3 = seq.sequencedBatches(3).call().await.unwrap();
    assert_eq!(
        (
            s3.accInputHash,
            s3.sequencedTimestamp,
            s3.previousLastBatchSequenced
        ),
        (acc.0, block.timestamp, 0)
    );
    assert_eq!(seq.lastAccInputHash().call().await.unwrap(), acc.0);

    // Two leaves, then sequences naming the root after 2 leaves and after 1 (an older count
    // is still valid).
    chain.update_mainnet_exit_root(B256::repeat_byte(1)).await;
    chain.update_mainnet_exit_root(B256::repeat_byte(2)).await;
    for (count, n, coinbase) in [(2u32, 2u8, dev_address(SEQUENCER)), (1, 1, Address::ZERO)] {
        let root = ger.l1InfoRootMap(count).call().await.unwrap();
        assert_ne!(root, B256::ZERO);
        let batches: Vec<BatchData> = (0..n).map(|i| batch(vec![0x40 + i; 33])).collect();
        let ts = chain.latest().await.timestamp;
        // A time limit below the block's time is allowed (there is no lower bound).
        let max_ts = ts - 100;
        acc.sequence(&batches, root, max_ts, coinbase);
        let r = confirm(
            seq.sequenceBatches(batches, count, max_ts, acc.0, coinbase)
                .send()
                .await,
        )
        .await;
        let ev = events::<ZkEvmRollup::SequenceBatches>(&r);
        assert_eq!(ev[0].l1InfoRoot, root);
    }
    assert_eq!(seq.lastBatchSequenced().call().await.unwrap(), 6);
    assert_eq!(seq.lastAccInputHash().call().await.unwrap(), acc.0);
    let s6 = seq.sequencedBatches(6).call().await.unwrap();
    assert_eq!((s6.accInputHash, s6.previousLastBatchSequenced), (acc.0, 5));
    assert_eq!(
        seq.sequencedBatches(4).call().await.unwrap().accInputHash,
        B256::ZERO,
        "only a sequence's last batch has its hash stored"
    );
}

#[tokio::test]
async fn the_admin_changes_the_trusted_sequencer() {
    let chain = Chain::start().await;
    expect_revert::<ZkEvmRollup::OnlyAdmin, _>(
        chain
            .rollup(USER)
            .setTrustedSequencer(dev_address(USER))
            .send()
            .await,
    );
    let r = confirm(
        chain
            .rollup(ADMIN)
            .setTrustedSequencer(dev_address(USER))
            .send()
            .await,
    )
    .await;
    assert_eq!(
        events::<ZkEvmRollup::SetTrustedSequencer>(&r)[0].newTrustedSequencer,
        dev_address(USER)
    );
    let ts = chain.latest().await.timestamp;
    let mut acc = AccChain::default();
    acc.normal(&[7], l1_info_empty_root(), ts, Address::ZERO);
    expect_revert::<ZkEvmRollup::OnlyTrustedSequencer, _>(
        chain
            .rollup(SEQUENCER)
            .sequenceBatches(vec![batch(vec![7])], 0, ts, acc.0, Address::ZERO)
            .send()
            .await,
    );
    confirm(
        chain
            .rollup(USER)
            .sequenceBatches(vec![batch(vec![7])], 0, ts, acc.0, Address::ZERO)
            .send()
            .await,
    )
    .await;
}

/// Polygon's processor vectors (fork 12): their batch data, sequencer and time limit through
/// the contract. The contract hashes its own L1 info root (the vectors' root comes from leaves
/// no anvil block can reproduce), so each vector is checked twice: the executor's hash of the
/// vector's inputs is the vector's expected hash, and the executor's hash of the contract's
/// inputs is the contract's.
#[tokio::test]
async fn polygon_vectors_batches_hash_alike() {
    let path = zknode_state::vectors::vectors_dir().join("polygon-processor/state-transition.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipping: {} is absent (set ZKNODE_VECTORS to the vectors folder)",
            path.display()
        );
        return;
    };
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).expect("the vectors parse");
    let field = |v: &serde_json::Value, k: &str| -> String {
        match &v[k] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => panic!("vector field {k}: {other}"),
        }
    };
    struct Vector {
        data: Bytes,
        sequencer: Address,
        max_ts: u64,
    }
    let mut batches = Vec::new();
    for v in &vectors {
        let data: Bytes = field(v, "batchL2Data").parse().unwrap();
        let sequencer: Address = field(v, "sequencerAddress").parse().unwrap();
        let max_ts: u64 = field(v, "timestampLimit").parse().unwrap();
        let expected: B256 = field(v, "expectedNewAccInputHash").parse().unwrap();
        let forced = v
            .get("forcedBlockHashL1")
            .and_then(|f| f.as_str())
            .map(|f| f.parse::<B256>().unwrap())
            .unwrap_or_default();
        let own = acc_input_hash(&AccInput {
            old_acc_input_hash: field(v, "oldAccInputHash").parse().unwrap(),
            batch_hash_data: zknode_executor::hashes::batch_hash_data(&data),
            l1_info_root: field(v, "l1InfoRoot").parse().unwrap(),
            timestamp_limit: max_ts,
            sequencer,
            forced_block_hash_l1: forced,
        });
        assert_eq!(own, expected, "vector {}", field(v, "id"));
        batches.push(Vector {
            data,
            sequencer,
            max_ts,
        });
    }
    assert_eq!(batches.len(), 15);

    // The vectors' time limit is in 2031: anvil's clock starts there, so the contract accepts
    // it as maxSequenceTimestamp.
    let limit = batches.iter().map(|b| b.max_ts).max().unwrap();
    let chain = Chain::start_with(&["--timestamp", &limit.to_string()]).await;
    let seq = chain.rollup(SEQUENCER);
    let mut acc = AccChain::default();
    // One sequence per run of vectors with the same sequencer (the coinbase is per sequence).
    let mut i = 0;
    while i < batches.len() {
        let coinbase = batches[i].sequencer;
        let max_ts = batches[i].max_ts;
        let run: Vec<BatchData> = batches[i..]
            .iter()
            .take_while(|b| b.sequencer == coinbase && b.max_ts == max_ts)
            .map(|b| batch(b.data.clone()))
            .collect();
        i += run.len();
        acc.sequence(&run, l1_info_empty_root(), max_ts, coinbase);
        let r = confirm(
            seq.sequenceBatches(run, 0, max_ts, acc.0, coinbase)
                .send()
                .await,
        )
        .await;
        let last = events::<ZkEvmRollup::SequenceBatches>(&r)[0].numBatch;
        assert_eq!(
            seq.sequencedBatches(last)
                .call()
                .await
                .unwrap()
                .accInputHash,
            acc.0
        );
    }
    assert_eq!(seq.lastBatchSequenced().call().await.unwrap(), 15);
    assert_eq!(seq.lastAccInputHash().call().await.unwrap(), acc.0);
}
