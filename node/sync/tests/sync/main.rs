//! The synchronizer against a real anvil: sequences make the node's batches virtual with L1's
//! accInputHash, verifications verify them, L1 info leaves match the contract's roots, a batch
//! that differs halts, L1 reorgs of one and of several blocks are unwound and re-followed, a
//! sequence whose calldata is not the rollup's is reported, and a new synchronizer on the same
//! database resumes without duplicates; a permissionless node's execution stage follows L1,
//! reorgs included (`execute.rs`). The main scenarios run on SQLite and on PostgreSQL
//! (skipped with a printed reason where PostgreSQL is not installed).

mod common;
mod execute;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use common::*;
use zknode_executor::hashes::{acc_input_hash, batch_hash_data, AccInput};
use zknode_l1::ZkEvmRollup::{sequenceBatchesCall, BatchData};
use zknode_storage::{BatchStatus, BlockReader};
use zknode_sync::SyncError;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(false).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(true).await
                }
            }
        )*
    };
}

on_both!(
    sequences_verifications_and_leaves,
    reorgs_unwind_and_refollow
);

async fn sequences_verifications_and_leaves(postgres: bool) {
    let Some(env) = Env::start(postgres).await else {
        return;
    };
    env.local_batches(3).await;
    env.new_leaf(B256::repeat_byte(1)).await;
    env.new_leaf(B256::repeat_byte(2)).await;
    let r1 = env.sequence(&[data(1, 0), data(2, 0)], 2).await;
    let r2 = env.sequence(&[data(3, 0)], 1).await;
    // Batch 4 is L1's only: kept for re-execution.
    env.sequence(&[data(4, 0)], 0).await;

    let mut s = env.synchronizer(3);
    env.sync(&mut s).await;
    let rollup = env.rollup();
    assert_eq!(env.batch(0).await.0, BatchStatus::Verified);
    for n in [1, 2] {
        let (status, tx, _) = env.batch(n).await;
        assert_eq!(
            (status, tx),
            (BatchStatus::Virtual, Some(r1.transaction_hash))
        );
    }
    assert_eq!(
        env.batch(3).await,
        (
            BatchStatus::Virtual,
            Some(r2.transaction_hash),
            Some(
                rollup
                    .sequencedBatches(3)
                    .call()
                    .await
                    .unwrap()
                    .accInputHash
            )
        )
    );
    assert_eq!(
        env.batch(2).await.2,
        Some(
            rollup
                .sequencedBatches(2)
                .call()
                .await
                .unwrap()
                .accInputHash
        )
    );
    assert!(env.db.batch(4).await.unwrap().is_none());
    let v4 = env
        .db
        .l1_virtual_batch(4)
        .await
        .unwrap()
        .expect("batch 4 from L1");
    assert_eq!(
        v4.acc_input_hash,
        rollup.lastAccInputHash().call().await.unwrap()
    );
    assert_eq!((v4.l2_data, v4.coinbase), (data(4, 0), coinbase()));
    let v1 = env.db.l1_virtual_batch(1).await.unwrap().unwrap();
    assert_eq!(
        v1.l1_info_root,
        env.ger().l1InfoRootMap(2).call().await.unwrap()
    );
    env.assert_leaves_match(2).await;

    // Verification of 1..=2 (it also pushes the rollup exit root: a third leaf).
    let rv = env.verify(0, 2).await;
    env.sync(&mut s).await;
    for n in [1, 2] {
        let b = env.db.batch(n).await.unwrap().unwrap();
        assert_eq!(
            (b.status, b.verified_tx_hash),
            (BatchStatus::Verified, Some(rv.transaction_hash))
        );
    }
    assert_eq!(env.batch(3).await.0, BatchStatus::Virtual);
    env.assert_leaves_match(3).await;
    // The verification's state root (0x22…) is not the node's for batch 2 (0x11…): reported.
    let l1_root = env.db.l1_verifications().await.unwrap()[0].state_root;
    assert_ne!(l1_root, env.db.batch(2).await.unwrap().unwrap().state_root);
    let mismatches = &s.metrics().verification_mismatches;
    assert_eq!(mismatches.load(std::sync::atomic::Ordering::Relaxed), 1);

    // A new synchronizer on the same database resumes where the first stopped.
    drop(s);
    env.new_leaf(B256::repeat_byte(4)).await;
    let mut s2 = env.synchronizer(500);
    env.sync(&mut s2).await;
    env.sync(&mut s2).await;
    env.assert_leaves_match(4).await;
    assert_eq!(env.db.l1_virtual_batches(0, 100).await.unwrap().len(), 4);
    assert_eq!(env.db.l1_virtual_sequences().await.unwrap().len(), 3);
    assert_eq!(env.db.l1_verifications().await.unwrap().len(), 1);
    env.assert_on_l1_chain().await;
    let latest = env.db.latest_l1_info_leaf().await.unwrap().unwrap();
    assert_eq!(latest.index, 3);
    let by_ger = env.db.l1_info_leaf_by_ger(latest.global_exit_root).await;
    assert_eq!(by_ger.unwrap().unwrap().index, 3);
}

async fn reorgs_unwind_and_refollow(postgres: bool) {
    let Some(env) = Env::start(postgres).await else {
        return;
    };
    env.local_batches(3).await;
    env.new_leaf(B256::repeat_byte(1)).await;
    let snap = env.snapshot().await;
    env.sequence(&[data(1, 0), data(2, 0)], 1).await;
    env.new_leaf(B256::repeat_byte(2)).await;
    let mut s = env.synchronizer(2);
    env.sync(&mut s).await;
    env.verify(0, 2).await;
    env.sync(&mut s).await;
    assert_eq!(env.batch(2).await.0, BatchStatus::Verified);
    env.assert_leaves_match(3).await;

    // A reorg of several blocks: L1 goes back before the sequence and follows another chain
    // (another leaf, then only batch 1 sequenced, then empty blocks).
    env.revert(snap).await;
    env.new_leaf(B256::repeat_byte(7)).await;
    let r1 = env.sequence(&[data(1, 0)], 2).await;
    env.mine(3).await;
    let p = s.sync_once().await.unwrap();
    assert!(p.reorged, "{p:?}");
    env.sync(&mut s).await;
    assert_eq!(env.batch(1).await.0, BatchStatus::Virtual);
    assert_eq!(env.batch(1).await.1, Some(r1.transaction_hash));
    assert_eq!(
        env.batch(2).await,
        (BatchStatus::Closed, None, Some(local_acc(2)))
    );
    assert!(env
        .db
        .batch(2)
        .await
        .unwrap()
        .unwrap()
        .verified_tx_hash
        .is_none());
    assert_eq!(env.batch(3).await.0, BatchStatus::Closed);
    assert_eq!(
        env.batch(1).await.2,
        Some(env.rollup().lastAccInputHash().call().await.unwrap())
    );
    env.assert_leaves_match(2).await;
    assert_eq!(env.db.l1_virtual_batches(0, 100).await.unwrap().len(), 1);
    assert!(env.db.l1_verifications().await.unwrap().is_empty());
    env.assert_on_l1_chain().await;

    // A reorg of one block, right after a sequence: batch 2 goes back to closed, then is
    // sequenced again on the new chain.
    let snap = env.snapshot().await;
    env.sequence(&[data(2, 0)], 2).await;
    env.sync(&mut s).await;
    assert_eq!(env.batch(2).await.0, BatchStatus::Virtual);
    env.revert(snap).await;
    env.mine(1).await;
    env.sync(&mut s).await;
    assert_eq!(
        env.batch(2).await,
        (BatchStatus::Closed, None, Some(local_acc(2)))
    );
    env.assert_on_l1_chain().await;
    let r2 = env.sequence(&[data(2, 0), data(3, 0)], 2).await;
    env.sync(&mut s).await;
    for n in [2, 3] {
        assert_eq!(env.batch(n).await.1, Some(r2.transaction_hash));
    }
    assert_eq!(
        env.batch(3).await.2,
        Some(env.rollup().lastAccInputHash().call().await.unwrap())
    );
    assert_eq!(env.db.l1_virtual_batches(0, 100).await.unwrap().len(), 3);
    assert_eq!(env.db.l1_virtual_sequences().await.unwrap().len(), 2);
    env.assert_leaves_match(2).await;
    env.assert_on_l1_chain().await;
    let m = s.metrics();
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    assert!(m.reorgs.load(relaxed) >= 2);
    assert_eq!(m.deep_reorgs.load(relaxed), 0, "those reorgs were shallow");

    // A deep reorg: blocks below what L1 called finalized (anvil: 64 below its head) are
    // replaced. It is unwound like any other, and counted (and logged) as deep.
    let snap = env.snapshot().await;
    env.mine(70).await;
    env.sync(&mut s).await;
    env.revert(snap).await;
    env.mine(75).await;
    let p = env.sync(&mut s).await;
    assert!(p.reorged || m.reorgs.load(relaxed) >= 3, "{p:?}");
    assert_eq!(m.deep_reorgs.load(relaxed), 1);
    env.assert_on_l1_chain().await;
    assert_eq!(env.db.l1_virtual_batches(0, 100).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_differs_halts() {
    let env = Env::start(false).await.unwrap();
    env.local_batches(2).await;
    env.sequence(&[data(1, 0), data(2, 9)], 0).await;
    let mut s = env.synchronizer(500);
    let e = s.sync_once().await.unwrap_err();
    let SyncError::Halted(halt) = &e else {
        panic!("expected a halt, got {e}");
    };
    assert_eq!(halt.batch_number, 2);
    let msg = e.to_string();
    assert!(
        msg.contains("batch 2") && msg.contains("batch data"),
        "{msg}"
    );
    assert_eq!(env.db.sync_halt().await.unwrap().as_ref(), Some(halt));
    // Nothing of the block is stored; the node's batches are as they were.
    assert_eq!(env.batch(1).await.0, BatchStatus::Closed);
    assert!(env.db.l1_virtual_batch(1).await.unwrap().is_none());
    // It stays halted, and run() stops.
    assert!(matches!(s.sync_once().await, Err(SyncError::Halted(_))));
    let ran = tokio::time::timeout(std::time::Duration::from_secs(30), s.run()).await;
    assert!(matches!(ran, Ok(Err(SyncError::Halted(_)))), "{ran:?}");
    assert!(env.db.clear_sync_halt().await.unwrap());
    assert!(env.db.sync_halt().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_batches_are_read_and_sequenced() {
    let env = Env::start(false).await.unwrap();
    env.new_leaf(B256::repeat_byte(1)).await;
    let txs = Bytes::from(vec![0xee; 40]);
    let force = confirm(
        env.rollup()
            .forceBatch(txs.clone(), Default::default())
            .send()
            .await,
    )
    .await;
    let mut s = env.synchronizer(500);
    env.sync(&mut s).await;
    let forced = env.db.l1_forced_batches().await.unwrap();
    assert_eq!(forced.len(), 1);
    let f = &forced[0];
    assert_eq!(
        (f.number, f.tx_hash, &f.transactions),
        (1, force.transaction_hash, &txs)
    );
    assert_eq!(
        f.global_exit_root,
        env.ger().getLastGlobalExitRoot().call().await.unwrap()
    );

    // The trusted sequencer includes it (with a normal batch after it).
    let r = env.rollup();
    let root = env.ger().l1InfoRootMap(1).call().await.unwrap();
    let head = env.provider().get_block_number().await.unwrap();
    let ts = env
        .provider()
        .get_block_by_number(head.into())
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp;
    let mut acc = r.lastAccInputHash().call().await.unwrap();
    acc = acc_input_hash(&AccInput {
        old_acc_input_hash: acc,
        batch_hash_data: batch_hash_data(&txs),
        l1_info_root: f.global_exit_root,
        timestamp_limit: f.forced_at,
        sequencer: coinbase(),
        forced_block_hash_l1: f.block_hash_l1,
    });
    acc = acc_input_hash(&AccInput {
        old_acc_input_hash: acc,
        batch_hash_data: batch_hash_data(&data(2, 0)),
        l1_info_root: root,
        timestamp_limit: ts,
        sequencer: coinbase(),
        forced_block_hash_l1: B256::ZERO,
    });
    let batches = vec![
        BatchData {
            transactions: txs.clone(),
            forcedGlobalExitRoot: f.global_exit_root,
            forcedTimestamp: f.forced_at,
            forcedBlockHashL1: f.block_hash_l1,
        },
        BatchData {
            transactions: data(2, 0),
            forcedGlobalExitRoot: B256::ZERO,
            forcedTimestamp: 0,
            forcedBlockHashL1: B256::ZERO,
        },
    ];
    confirm(
        r.sequenceBatches(batches, 1, ts, acc, coinbase())
            .send()
            .await,
    )
    .await;
    env.sync(&mut s).await;
    let v = env.db.l1_virtual_batches(1, 2).await.unwrap();
    assert_eq!(v.len(), 2);
    let forced1 = v[0].forced.expect("batch 1 is forced");
    assert_eq!(forced1.forced_batch_number, 1);
    assert!(v[1].forced.is_none());
    assert_eq!(
        v[1].acc_input_hash,
        r.lastAccInputHash().call().await.unwrap()
    );
}

/// A contract that forwards its calldata after the first 4 bytes to `to`: a sequence sent
/// through it has calldata the synchronizer cannot read.
fn forwarder_init_code(to: Address) -> Vec<u8> {
    let mut rt = vec![
        0x60, 0x04, 0x36, 0x03, // size = CALLDATASIZE - 4
        0x80, 0x60, 0x04, 0x60, 0x00, 0x37, // CALLDATACOPY(0, 4, size)
        0x60, 0x00, 0x60, 0x00, 0x82, 0x60, 0x00, 0x60, 0x00, // ret, args, value
        0x73, // PUSH20 to
    ];
    rt.extend_from_slice(to.as_slice());
    rt.extend_from_slice(&[0x5a, 0xf1]); // GAS CALL
    let ok = rt.len() as u8 + 13;
    rt.extend_from_slice(&[
        0x60, ok, 0x57, // JUMPI ok
        0x3d, 0x60, 0x00, 0x60, 0x00, 0x3e, // RETURNDATACOPY(0, 0, size)
        0x3d, 0x60, 0x00, 0xfd, // REVERT(0, size)
    ]);
    assert_eq!(rt.len() as u8, ok);
    rt.extend_from_slice(&[0x5b, 0x00]); // JUMPDEST STOP
    let mut init = vec![
        0x60,
        rt.len() as u8,
        0x80,
        0x60,
        0x0c,
        0x60,
        0x00,
        0x39,
        0x60,
        0x00,
        0xf3,
        0x00,
    ];
    init.extend_from_slice(&rt);
    init
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_through_another_contract_is_reported() {
    let env = Env::start(false).await.unwrap();
    let p = env.provider();
    let deploy =
        TransactionRequest::default().with_deploy_code(forwarder_init_code(env.deployment.rollup));
    let receipt = p
        .send_transaction(deploy)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let wrapper = receipt.contract_address.expect("the forwarder's address");
    confirm(env.rollup().setTrustedSequencer(wrapper).send().await).await;

    let (args, _) = env.sequence_args(&[data(1, 0)], 0).await;
    let inner = sequenceBatchesCall {
        batches: args.0,
        l1InfoTreeLeafCount: args.1,
        maxSequenceTimestamp: args.2,
        expectedFinalAccInputHash: args.3,
        l2Coinbase: args.4,
    }
    .abi_encode();
    let mut outer = vec![0xde, 0xad, 0xbe, 0xef];
    outer.extend_from_slice(&inner);
    let tx = TransactionRequest::default()
        .with_to(wrapper)
        .with_input(outer);
    let receipt = p
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status(), "the wrapped sequence went through");
    assert_eq!(env.rollup().lastBatchSequenced().call().await.unwrap(), 1);

    let mut s = env.synchronizer(500);
    let e = s.sync_once().await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SyncError::Decode(_)), "{msg}");
    assert!(msg.contains("unknown selector 0xdeadbeef"), "{msg}");
    assert!(msg.contains(&receipt.transaction_hash.to_string()), "{msg}");
    assert!(env.db.l1_virtual_batch(1).await.unwrap().is_none());
    // Tried again, the same error (not a panic, nothing stored twice).
    assert!(matches!(s.sync_once().await, Err(SyncError::Decode(_))));
}
