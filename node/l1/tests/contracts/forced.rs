//! Forced batches against anvil: forceBatch, their inclusion by the trusted sequencer, and
//! sequenceForceBatches by anyone after the timeout; each check's custom error.

use crate::common::*;
use alloy::primitives::{keccak256, Address, Bytes, B256};
use zknode_executor::l1_info_empty_root;
use zknode_l1::testing::dev_address;
use zknode_l1::ZkEvmRollup;

/// Forces `txs` from account `who` and returns the batch that sequences it, built from the
/// event and the L1 block as a node would build it.
async fn force(chain: &Chain, who: usize, txs: &[u8]) -> BatchData {
    let r = confirm(
        chain
            .rollup(who)
            .forceBatch(Bytes::copy_from_slice(txs), alloy::primitives::U256::ZERO)
            .send()
            .await,
    )
    .await;
    let ev = events::<ZkEvmRollup::ForceBatch>(&r);
    assert_eq!(ev.len(), 1);
    let ev = &ev[0];
    assert_eq!(ev.sequencer, dev_address(who));
    assert_eq!(
        ev.transactions.as_ref(),
        txs,
        "the event carries the transactions"
    );
    assert_eq!(
        ev.lastGlobalExitRoot,
        chain
            .ger(ADMIN)
            .getLastGlobalExitRoot()
            .call()
            .await
            .unwrap()
    );
    let block = chain.block(r.block_number.unwrap()).await;
    let b = BatchData {
        transactions: Bytes::copy_from_slice(txs),
        forcedGlobalExitRoot: ev.lastGlobalExitRoot,
        forcedTimestamp: block.timestamp,
        forcedBlockHashL1: block.parent_hash,
    };
    // The queue entry is keccak(txHash ‖ GER ‖ uint64 timestamp ‖ parent block hash).
    let mut pre = Vec::new();
    pre.extend_from_slice(keccak256(txs).as_slice());
    pre.extend_from_slice(b.forcedGlobalExitRoot.as_slice());
    pre.extend_from_slice(&b.forcedTimestamp.to_be_bytes());
    pre.extend_from_slice(b.forcedBlockHashL1.as_slice());
    assert_eq!(
        chain
            .rollup(ADMIN)
            .forcedBatches(ev.forceBatchNum)
            .call()
            .await
            .unwrap(),
        keccak256(&pre)
    );
    b
}

#[tokio::test]
async fn force_batch_checks() {
    let chain = Chain::start().await;
    let user = chain.rollup(USER);
    expect_revert::<ZkEvmRollup::TransactionsLengthAboveMax, _>(
        user.forceBatch(vec![0u8; 5001].into(), Default::default())
            .send()
            .await,
    );
    // Anyone may force until the admin names one address.
    force(&chain, USER, &[0u8; 5000]).await;
    confirm(
        chain
            .rollup(ADMIN)
            .setForceBatchAddress(dev_address(4))
            .send()
            .await,
    )
    .await;
    expect_revert::<ZkEvmRollup::ForceBatchNotAllowed, _>(
        user.forceBatch(vec![1u8].into(), Default::default())
            .send()
            .await,
    );
    force(&chain, 4, &[1]).await;
    assert_eq!(user.lastForceBatch().call().await.unwrap(), 2);
    expect_revert::<ZkEvmRollup::OnlyAdmin, _>(
        user.setForceBatchAddress(Address::ZERO).send().await,
    );
}

#[tokio::test]
async fn the_trusted_sequencer_includes_forced_batches() {
    let chain = Chain::start().await;
    // A GER, so that the forced batches commit to a non-zero one.
    chain.update_mainnet_exit_root(B256::repeat_byte(9)).await;
    let f1 = force(&chain, USER, &[0xf1; 20]).await;
    let f2 = force(&chain, USER, &[0xf2; 3]).await;
    assert_ne!(f1.forcedGlobalExitRoot, B256::ZERO);
    let seq = chain.rollup(SEQUENCER);
    let coinbase = dev_address(SEQUENCER);
    let ts = chain.latest().await.timestamp;

    // Out of order: the first forced slot holds f1.
    let mut acc = AccChain::default();
    expect_revert::<ZkEvmRollup::ForcedDataDoesNotMatch, _>(
        seq.sequenceBatches(vec![f2.clone()], 0, ts, acc.0, coinbase)
            .send()
            .await,
    );
    // Past the queue: its slot is empty.
    expect_revert::<ZkEvmRollup::ForcedDataDoesNotMatch, _>(
        seq.sequenceBatches(
            vec![f1.clone(), f2.clone(), f2.clone()],
            0,
            ts,
            acc.0,
            coinbase,
        )
        .send()
        .await,
    );

    let batches = vec![batch(vec![1, 2, 3]), f1, batch(vec![4]), f2];
    let root = chain.ger(ADMIN).l1InfoRootMap(1).call().await.unwrap();
    acc.sequence(&batches, root, ts, coinbase);
    confirm(
        seq.sequenceBatches(batches, 1, ts, acc.0, coinbase)
            .send()
            .await,
    )
    .await;
    assert_eq!(seq.lastAccInputHash().call().await.unwrap(), acc.0);
    assert_eq!(seq.lastForceBatchSequenced().call().await.unwrap(), 2);
    assert_eq!(seq.forcedBatches(1).call().await.unwrap(), B256::ZERO);
    // Nothing left to force-sequence.
    expect_revert::<ZkEvmRollup::ForceBatchesOverflow, _>(
        chain
            .rollup(USER)
            .sequenceForceBatches(vec![batch(vec![])])
            .send()
            .await,
    );
}

#[tokio::test]
async fn anyone_sequences_forced_batches_after_the_timeout() {
    let chain = Chain::start().await;
    // Something sequenced first, so that the forced sequence chains onto a non-zero hash.
    let ts = chain.latest().await.timestamp;
    let mut acc = AccChain::default();
    acc.normal(&[5], l1_info_empty_root(), ts, Address::ZERO);
    confirm(
        chain
            .rollup(SEQUENCER)
            .sequenceBatches(vec![batch(vec![5])], 0, ts, acc.0, Address::ZERO)
            .send()
            .await,
    )
    .await;

    let f1 = force(&chain, USER, &[0xa1; 7]).await;
    chain.increase_time(60).await;
    let f2 = force(&chain, USER, &[0xa2; 9]).await;
    let anyone = chain.rollup(5);

    expect_revert::<ZkEvmRollup::SequenceZeroBatches, _>(
        anyone.sequenceForceBatches(vec![]).send().await,
    );
    expect_revert::<ZkEvmRollup::ExceedMaxVerifyBatches, _>(
        anyone
            .sequenceForceBatches(vec![batch(vec![]); 1001])
            .send()
            .await,
    );
    expect_revert::<ZkEvmRollup::ForceBatchesOverflow, _>(
        anyone
            .sequenceForceBatches(vec![f1.clone(), f2.clone(), f2.clone()])
            .send()
            .await,
    );
    expect_revert::<ZkEvmRollup::ForcedDataDoesNotMatch, _>(
        anyone
            .sequenceForceBatches(vec![f2.clone(), f1.clone()])
            .send()
            .await,
    );
    expect_revert::<ZkEvmRollup::ForceBatchTimeoutNotExpired, _>(
        anyone
            .sequenceForceBatches(vec![f1.clone(), f2.clone()])
            .send()
            .await,
    );

    // Five days after f1: f1 alone may go, f1 and f2 (f2 is the last, and younger) may not.
    chain.increase_time(5 * 24 * 3600 - 30).await;
    expect_revert::<ZkEvmRollup::ForceBatchTimeoutNotExpired, _>(
        anyone
            .sequenceForceBatches(vec![f1.clone(), f2.clone()])
            .send()
            .await,
    );
    let r = confirm(anyone.sequenceForceBatches(vec![f1.clone()]).send().await).await;
    acc.forced(&f1, dev_address(5));
    assert_eq!(
        events::<ZkEvmRollup::SequenceForceBatches>(&r)[0].numBatch,
        2
    );
    assert_eq!(anyone.lastAccInputHash().call().await.unwrap(), acc.0);
    let s = anyone.sequencedBatches(2).call().await.unwrap();
    assert_eq!((s.accInputHash, s.previousLastBatchSequenced), (acc.0, 1));

    // A shorter timeout (the admin may only lower it) lets f2 go at once.
    let admin = chain.rollup(ADMIN);
    expect_revert::<ZkEvmRollup::InvalidRangeForceBatchTimeout, _>(
        admin.setForceBatchTimeout(5 * 24 * 3600).send().await,
    );
    expect_revert::<ZkEvmRollup::InvalidRangeForceBatchTimeout, _>(
        admin.setForceBatchTimeout(8 * 24 * 3600).send().await,
    );
    expect_revert::<ZkEvmRollup::OnlyAdmin, _>(anyone.setForceBatchTimeout(0).send().await);
    confirm(admin.setForceBatchTimeout(0).send().await).await;
    confirm(anyone.sequenceForceBatches(vec![f2.clone()]).send().await).await;
    acc.forced(&f2, dev_address(5));
    assert_eq!(anyone.lastAccInputHash().call().await.unwrap(), acc.0);
    assert_eq!(anyone.lastForceBatchSequenced().call().await.unwrap(), 2);

    // When the admin restricts forcing, sequenceForceBatches is restricted too.
    confirm(admin.setForceBatchAddress(dev_address(USER)).send().await).await;
    expect_revert::<ZkEvmRollup::ForceBatchNotAllowed, _>(
        anyone.sequenceForceBatches(vec![]).send().await,
    );
}
