//! verifyBatchesTrustedAggregator against anvil: each check's custom error, what a verification
//! records, and the rollup exit root it hands to the global exit root manager.

use crate::common::*;
use alloy::network::Ethereum;
use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::PendingTransactionBuilder;
use zknode_executor::hashes::{l1_info_leaf_hash, L1InfoLeaf};
use zknode_executor::{l1_info_empty_root, L1InfoTree};
use zknode_l1::testing::dev_address;
use zknode_l1::{GlobalExitRootManager, ZkEvmRollup};

/// Sequences `n` batches and returns the new last batch.
async fn sequence(chain: &Chain, acc: &mut AccChain, n: u8) -> u64 {
    let ts = chain.latest().await.timestamp;
    let batches: Vec<BatchData> = (0..n).map(|i| batch(vec![i, n])).collect();
    acc.sequence(&batches, l1_info_empty_root(), ts, Address::ZERO);
    let r = confirm(
        chain
            .rollup(SEQUENCER)
            .sequenceBatches(batches, 0, ts, acc.0, Address::ZERO)
            .send()
            .await,
    )
    .await;
    events::<ZkEvmRollup::SequenceBatches>(&r)[0].numBatch
}

/// verifyBatchesTrustedAggregator(id, pending, init, fin, local exit root 7, sr, -, a proof).
async fn verify(
    r: &Rollup,
    id: u32,
    pending: u64,
    init: u64,
    fin: u64,
    sr: B256,
) -> Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error> {
    r.verifyBatchesTrustedAggregator(
        id,
        pending,
        init,
        fin,
        root(7),
        sr,
        Address::ZERO,
        Bytes::from(vec![0x5a; 100]),
    )
    .send()
    .await
}

fn root(b: u8) -> B256 {
    // Each 64-bit limb below the Goldilocks prime.
    B256::repeat_byte(b)
}

#[tokio::test]
async fn every_check_reverts_with_its_error() {
    let chain = Chain::start().await;
    let mut acc = AccChain::default();
    assert_eq!(sequence(&chain, &mut acc, 3).await, 3);
    assert_eq!(sequence(&chain, &mut acc, 2).await, 5);
    let agg = chain.rollup(AGGREGATOR);

    expect_revert::<ZkEvmRollup::OnlyTrustedAggregator, _>(
        verify(&chain.rollup(SEQUENCER), 1, 0, 0, 3, root(1)).await,
    );
    expect_revert::<ZkEvmRollup::RollupMustExist, _>(verify(&agg, 2, 0, 0, 3, root(1)).await);
    expect_revert::<ZkEvmRollup::PendingStateDoesNotExist, _>(
        verify(&agg, 1, 1, 0, 3, root(1)).await,
    );
    expect_revert::<ZkEvmRollup::InitNumBatchAboveLastVerifiedBatch, _>(
        verify(&agg, 1, 0, 3, 5, root(1)).await,
    );
    expect_revert::<ZkEvmRollup::FinalNumBatchBelowLastVerifiedBatch, _>(
        verify(&agg, 1, 0, 0, 0, root(1)).await,
    );
    // Batch 2 is inside a sequence, batch 6 not sequenced: neither has an accInputHash.
    expect_revert::<ZkEvmRollup::NewAccInputHashDoesNotExist, _>(
        verify(&agg, 1, 0, 0, 2, root(1)).await,
    );
    expect_revert::<ZkEvmRollup::NewAccInputHashDoesNotExist, _>(
        verify(&agg, 1, 0, 0, 6, root(1)).await,
    );
    let mut outside = [0x01u8; 32];
    outside[24..].copy_from_slice(&0xFFFF_FFFF_0000_0001u64.to_be_bytes());
    expect_revert::<ZkEvmRollup::NewStateRootNotInsidePrime, _>(
        verify(&agg, 1, 0, 0, 3, B256::from(outside)).await,
    );
    let mut outside = [0x01u8; 32];
    outside[..8].copy_from_slice(&u64::MAX.to_be_bytes());
    expect_revert::<ZkEvmRollup::NewStateRootNotInsidePrime, _>(
        verify(&agg, 1, 0, 0, 3, B256::from(outside)).await,
    );
    expect_revert::<ZkEvmRollup::InvalidProof, _>(
        agg.verifyBatchesTrustedAggregator(
            1,
            0,
            0,
            3,
            root(7),
            root(1),
            Address::ZERO,
            Bytes::new(),
        )
        .send()
        .await,
    );

    // 0 → 3 verifies; then batch 2 has no stored state root, and 3 is no longer above the last
    // verified batch.
    confirm(verify(&agg, 1, 0, 0, 3, root(1)).await).await;
    expect_revert::<ZkEvmRollup::OldStateRootDoesNotExist, _>(
        verify(&agg, 1, 0, 2, 5, root(2)).await,
    );
    expect_revert::<ZkEvmRollup::FinalNumBatchBelowLastVerifiedBatch, _>(
        verify(&agg, 1, 0, 0, 3, root(2)).await,
    );
    // From the last verified batch, or from an earlier verified one (the genesis): both chain
    // onto a stored state root.
    confirm(verify(&agg, 1, 0, 0, 5, root(2)).await).await;
    assert_eq!(agg.lastVerifiedBatch().call().await.unwrap(), 5);
}

#[tokio::test]
async fn a_verification_records_the_roots_and_updates_the_exit_root() {
    let chain = Chain::start().await;
    let mut acc = AccChain::default();
    sequence(&chain, &mut acc, 4).await;
    let agg = chain.rollup(AGGREGATOR);
    let ger = chain.ger(ADMIN);
    assert_eq!(
        agg.batchNumToStateRoot(0).call().await.unwrap(),
        genesis_root()
    );

    let ler = B256::repeat_byte(0x4e);
    let proof = Bytes::from((0..=255u8).collect::<Vec<_>>());
    let r = confirm(
        agg.verifyBatchesTrustedAggregator(1, 0, 0, 4, ler, root(3), Address::ZERO, proof.clone())
            .send()
            .await,
    )
    .await;
    let ev = events::<ZkEvmRollup::VerifyBatchesTrustedAggregator>(&r);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (
            ev[0].rollupID,
            ev[0].numBatch,
            ev[0].stateRoot,
            ev[0].exitRoot,
            ev[0].aggregator
        ),
        (1, 4, root(3), ler, dev_address(AGGREGATOR))
    );
    assert_eq!(agg.lastVerifiedBatch().call().await.unwrap(), 4);
    assert_eq!(agg.batchNumToStateRoot(4).call().await.unwrap(), root(3));
    assert_eq!(
        agg.batchNumToProofHash(4).call().await.unwrap(),
        keccak256(&proof)
    );
    assert_eq!(agg.lastLocalExitRoot().call().await.unwrap(), ler);

    // The rollup exit tree has one leaf, the local exit root, at index 0.
    let rollup_exit_root = L1InfoTree::from_leaves([ler]).unwrap().root();
    assert_eq!(
        agg.getRollupExitRoot().call().await.unwrap(),
        rollup_exit_root
    );
    assert_eq!(
        ger.lastRollupExitRoot().call().await.unwrap(),
        rollup_exit_root
    );
    // A new GER, hence a new L1 info leaf, in the same transaction.
    let updates = events::<GlobalExitRootManager::UpdateL1InfoTree>(&r);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].rollupExitRoot, rollup_exit_root);
    let v2 = &events::<GlobalExitRootManager::UpdateL1InfoTreeV2>(&r)[0];
    let block = chain.block(r.block_number.unwrap()).await;
    let mut tree = L1InfoTree::new();
    let ger_value = keccak256([B256::ZERO.as_slice(), rollup_exit_root.as_slice()].concat());
    let leaf = l1_info_leaf_hash(&L1InfoLeaf {
        global_exit_root: ger_value,
        block_hash: block.parent_hash,
        timestamp: block.timestamp,
        smt_proof: Vec::new(),
    });
    assert_eq!(v2.currentL1InfoRoot, tree.push(leaf).unwrap());
    assert_eq!(v2.leafCount, 1);

    // The same local exit root again gives the same GER: no new leaf.
    sequence(&chain, &mut acc, 1).await;
    let r = confirm(
        agg.verifyBatchesTrustedAggregator(1, 0, 4, 5, ler, root(4), Address::ZERO, proof)
            .send()
            .await,
    )
    .await;
    assert!(events::<GlobalExitRootManager::UpdateL1InfoTree>(&r).is_empty());
    assert_eq!(ger.depositCount().call().await.unwrap(), U256::from(1));
}

#[tokio::test]
async fn the_admin_changes_the_trusted_aggregator() {
    let chain = Chain::start().await;
    let mut acc = AccChain::default();
    sequence(&chain, &mut acc, 1).await;
    expect_revert::<ZkEvmRollup::OnlyAdmin, _>(
        chain
            .rollup(AGGREGATOR)
            .setTrustedAggregator(dev_address(USER))
            .send()
            .await,
    );
    confirm(
        chain
            .rollup(ADMIN)
            .setTrustedAggregator(dev_address(USER))
            .send()
            .await,
    )
    .await;
    expect_revert::<ZkEvmRollup::OnlyTrustedAggregator, _>(
        verify(&chain.rollup(AGGREGATOR), 1, 0, 0, 1, root(1)).await,
    );
    confirm(verify(&chain.rollup(USER), 1, 0, 0, 1, root(1)).await).await;
}
