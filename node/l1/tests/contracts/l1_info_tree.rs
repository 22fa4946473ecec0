//! The global exit root manager's L1 info tree against the executor's `L1InfoTree`: the same
//! leaves (rebuilt from the events and the L1 blocks holding them, as a node does), the same
//! roots after every count, and proofs that verify against the contract's roots.

use crate::common::*;
use alloy::primitives::{keccak256, B256, U256};
use zknode_executor::hashes::{l1_info_leaf_hash, verify_l1_info_proof, L1InfoLeaf};
use zknode_executor::{l1_info_empty_root, L1InfoTree};
use zknode_l1::testing::dev_address;
use zknode_l1::GlobalExitRootManager;

fn ger_of(mainnet: B256, rollup: B256) -> B256 {
    keccak256([mainnet.as_slice(), rollup.as_slice()].concat())
}

#[tokio::test]
async fn the_contracts_roots_are_the_rust_trees() {
    let chain = Chain::start().await;
    let ger = chain.ger(ADMIN);
    assert_eq!(
        ger.l1InfoRootMap(0).call().await.unwrap(),
        l1_info_empty_root()
    );
    assert_eq!(ger.getRoot().call().await.unwrap(), l1_info_empty_root());
    assert_eq!(ger.l1InfoRootMap(1).call().await.unwrap(), B256::ZERO);
    assert_eq!(
        ger.bridgeAddress().call().await.unwrap(),
        dev_address(ADMIN)
    );
    assert_eq!(
        ger.rollupAddress().call().await.unwrap(),
        chain.deployment.rollup
    );

    let mut tree = L1InfoTree::new();
    let mut leaves = Vec::new();
    for i in 1..=7u8 {
        let mainnet = B256::repeat_byte(i);
        let r = chain.update_mainnet_exit_root(mainnet).await;
        let block = chain.block(r.block_number.unwrap()).await;
        let v1 = events::<GlobalExitRootManager::UpdateL1InfoTree>(&r);
        let v2 = events::<GlobalExitRootManager::UpdateL1InfoTreeV2>(&r);
        assert_eq!((v1.len(), v2.len()), (1, 1));
        assert_eq!(
            (v1[0].mainnetExitRoot, v1[0].rollupExitRoot),
            (mainnet, B256::ZERO)
        );
        // The leaf commits to the parent hash and the timestamp of the block holding the event,
        // which the V2 event repeats.
        assert_eq!(v2[0].blockhash, U256::from_be_bytes(block.parent_hash.0));
        assert_eq!(v2[0].minTimestamp, block.timestamp);
        assert_eq!(u64::from(v2[0].leafCount), u64::from(i));
        let g = ger_of(mainnet, B256::ZERO);
        let leaf = l1_info_leaf_hash(&L1InfoLeaf {
            global_exit_root: g,
            block_hash: block.parent_hash,
            timestamp: block.timestamp,
            smt_proof: Vec::new(),
        });
        assert_eq!(
            ger.getLeafValue(g, U256::from_be_bytes(block.parent_hash.0), block.timestamp)
                .call()
                .await
                .unwrap(),
            leaf
        );
        leaves.push(leaf);
        let root = tree.push(leaf).unwrap();
        assert_eq!(v2[0].currentL1InfoRoot, root, "after {i} leaves");
        assert_eq!(ger.getRoot().call().await.unwrap(), root);
        assert_eq!(ger.getLastGlobalExitRoot().call().await.unwrap(), g);
        assert_eq!(
            ger.globalExitRootMap(g).call().await.unwrap(),
            U256::from_be_bytes(block.parent_hash.0)
        );
    }
    assert_eq!(ger.depositCount().call().await.unwrap(), U256::from(7));
    for count in 0..=7u32 {
        let root = ger.l1InfoRootMap(count).call().await.unwrap();
        assert_eq!(
            root,
            tree.root_at(u64::from(count)).unwrap(),
            "count {count}"
        );
        for index in 0..count {
            let proof = tree.proof_at(u64::from(index), u64::from(count)).unwrap();
            assert!(verify_l1_info_proof(
                leaves[index as usize],
                &proof,
                index,
                root
            ));
        }
    }

    // A GER seen before adds nothing; only the bridge and the rollup may update.
    chain.update_mainnet_exit_root(B256::repeat_byte(2)).await;
    let r = chain.update_mainnet_exit_root(B256::repeat_byte(2)).await;
    assert!(events::<GlobalExitRootManager::UpdateL1InfoTreeV2>(&r).is_empty());
    assert_eq!(ger.depositCount().call().await.unwrap(), U256::from(7));
    expect_revert::<GlobalExitRootManager::OnlyAllowedContracts, _>(
        chain
            .ger(USER)
            .updateExitRoot(B256::repeat_byte(0x77))
            .send()
            .await,
    );
}
