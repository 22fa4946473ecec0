//! The ABI against Polygon's selectors, and `deploy` against anvil.

use crate::common::*;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolError, SolEvent};
use zknode_l1::testing::{dev_address, Anvil};
use zknode_l1::{GlobalExitRootManager, ZkEvmRollup};

fn hex4(s: [u8; 4]) -> String {
    alloy::primitives::hex::encode(s)
}

/// Selectors and topics as Polygon's contracts and nodes know them (fork 12); see
/// ../shared/reference/l1-facts.md.
#[test]
fn the_abi_speaks_polygons_selectors() {
    use ZkEvmRollup as R;
    assert_eq!(hex4(R::sequenceBatchesCall::SELECTOR), "b910e0f9");
    assert_eq!(hex4(R::forceBatchCall::SELECTOR), "eaeb077b");
    assert_eq!(hex4(R::sequenceForceBatchesCall::SELECTOR), "9f26f840");
    // Polygon's takes bytes32[24]; ours takes the proof as bytes.
    assert_eq!(
        R::verifyBatchesTrustedAggregatorCall::SIGNATURE,
        "verifyBatchesTrustedAggregator(uint32,uint64,uint64,uint64,bytes32,bytes32,address,bytes)"
    );
    let errors = [
        (R::OnlyTrustedSequencer::SELECTOR, "11e7be15"),
        (R::SequenceZeroBatches::SELECTOR, "cb591a5f"),
        (R::ExceedMaxVerifyBatches::SELECTOR, "b59f753a"),
        (R::MaxTimestampSequenceInvalid::SELECTOR, "0a00feb3"),
        (R::L1InfoTreeLeafCountInvalid::SELECTOR, "a60721e1"),
        (R::TransactionsLengthAboveMax::SELECTOR, "a29a6c7c"),
        (R::ForcedDataDoesNotMatch::SELECTOR, "ce3d755e"),
        (R::ForceBatchesOverflow::SELECTOR, "c630a00d"),
        (R::FinalAccInputHashDoesNotMatch::SELECTOR, "da5bceb9"),
        (R::ForceBatchTimeoutNotExpired::SELECTOR, "c44a0821"),
    ];
    for (got, want) in errors {
        assert_eq!(hex4(got), want);
    }
    let topics = [
        (R::SequenceBatches::SIGNATURE_HASH, "3e54d082"),
        (R::ForceBatch::SIGNATURE_HASH, "f94bb37d"),
        (R::SequenceForceBatches::SIGNATURE_HASH, "648a61dd"),
        (
            R::VerifyBatchesTrustedAggregator::SIGNATURE_HASH,
            "d1ec3a12",
        ),
        (
            GlobalExitRootManager::UpdateL1InfoTree::SIGNATURE_HASH,
            "da61aa78",
        ),
        (
            GlobalExitRootManager::UpdateL1InfoTreeV2::SIGNATURE_HASH,
            "af6c6cd7",
        ),
    ];
    for (got, want) in topics {
        assert!(got.to_string().starts_with(&format!("0x{want}")), "{got}");
    }
    assert_eq!(
        zknode_l1::revert_error_name(&R::ForcedDataDoesNotMatch::SELECTOR),
        Some("ForcedDataDoesNotMatch")
    );
    assert_eq!(
        zknode_l1::revert_error_name(&GlobalExitRootManager::OnlyAllowedContracts::SELECTOR),
        Some("OnlyAllowedContracts")
    );
    assert_eq!(zknode_l1::revert_error_name(&[1, 2]), None);
}

#[tokio::test]
async fn deploy_sets_every_role_and_the_genesis() {
    let chain = Chain::start().await;
    let d = chain.deployment;
    let p = chain.provider(ADMIN);
    // The development keys are anvil's accounts.
    let accounts = p.get_accounts().await.unwrap();
    assert_eq!(accounts, (0..10).map(dev_address).collect::<Vec<_>>());

    let r = chain.rollup(USER);
    assert_eq!(r.admin().call().await.unwrap(), dev_address(ADMIN));
    assert_eq!(
        r.trustedSequencer().call().await.unwrap(),
        dev_address(SEQUENCER)
    );
    assert_eq!(
        r.trustedAggregator().call().await.unwrap(),
        dev_address(AGGREGATOR)
    );
    assert_eq!(
        r.globalExitRootManager().call().await.unwrap(),
        d.global_exit_root_manager
    );
    assert_eq!(r.chainID().call().await.unwrap(), L2_CHAIN_ID);
    assert_eq!(r.forkID().call().await.unwrap(), 12);
    assert_eq!(r.ROLLUP_ID().call().await.unwrap(), 1);
    assert_eq!(
        r.batchNumToStateRoot(0).call().await.unwrap(),
        genesis_root()
    );
    assert_eq!(r.lastBatchSequenced().call().await.unwrap(), 0);
    assert_eq!(r.lastVerifiedBatch().call().await.unwrap(), 0);
    assert_eq!(r.lastAccInputHash().call().await.unwrap(), B256::ZERO);
    assert_eq!(r.forceBatchAddress().call().await.unwrap(), Address::ZERO);
    assert_eq!(r.forceBatchTimeout().call().await.unwrap(), 5 * 24 * 3600);

    // The deployment block holds the manager's creation; the rollup's comes at or after it.
    let receipts = p
        .get_block_receipts(d.deploy_block.into())
        .await
        .unwrap()
        .unwrap();
    assert!(receipts
        .iter()
        .any(|r| r.contract_address == Some(d.global_exit_root_manager)));
    assert!(!p.get_code_at(d.rollup).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rollup_refuses_a_manager_built_for_another_address() {
    let anvil = Anvil::start().unwrap_or_else(|e| panic!("{e}"));
    let p = anvil.provider(ADMIN);
    let ger = GlobalExitRootManager::deploy(&p, dev_address(ADMIN), Address::repeat_byte(1))
        .await
        .unwrap();
    let r = ZkEvmRollup::deploy_builder(
        &p,
        dev_address(ADMIN),
        dev_address(ADMIN),
        dev_address(ADMIN),
        *ger.address(),
        1,
        12,
        genesis_root(),
    )
    .send()
    .await;
    expect_revert::<ZkEvmRollup::GlobalExitRootManagerMismatch, _>(r);

    // A second deployment from the same account (its nonces moved on) works.
    let params = zknode_l1::DeployParams::single_account(dev_address(ADMIN), 7, genesis_root());
    let d = zknode_l1::deploy(&p, dev_address(ADMIN), &params)
        .await
        .unwrap();
    let rollup = ZkEvmRollup::new(d.rollup, &p);
    assert_eq!(rollup.chainID().call().await.unwrap(), 7);
}
