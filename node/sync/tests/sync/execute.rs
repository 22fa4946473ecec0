//! The execution stage of a permissionless node ([`L2Stage`]) against anvil: sequenced batches
//! of real transactions become the node's blocks, and when an L1 reorg replaces a sequence the
//! node removes the batch it executed from it and executes the new one: it ends on the new
//! chain, the dropped transaction gone, nothing duplicated. A batch a crash left half stored is
//! redone.

use std::sync::Arc;

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use zknode_executor::{decode_signed, encode_batch, BatchEntry, ChangeL2Block};
use zknode_l1::testing::{dev_address, DEV_KEYS};
use zknode_state::{genesis::GenesisAccount, RocksStore, StateTree};
use zknode_storage::{BatchStatus, BlockReader, BlockWriter, NewBatch};
use zknode_sync::{L2Stage, SyncMetrics};

use crate::common::*;

/// A transfer of `value` wei from development account 1 to `to`, signed.
fn transfer(nonce: u64, to: Address, value: u64) -> Bytes {
    let key: PrivateKeySigner = DEV_KEYS[1].parse().unwrap();
    let tx = TxLegacy {
        chain_id: Some(L2_CHAIN_ID),
        nonce,
        gas_price: 1_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    env.encoded_2718().into()
}

/// Batch data: one block (`delta` seconds after the previous) with `txs`.
fn batch(delta: u32, txs: &[Bytes]) -> Bytes {
    let mut entries = vec![BatchEntry::ChangeL2Block(ChangeL2Block {
        delta_timestamp: delta,
        index_l1_info_tree: 0,
    })];
    for t in txs {
        entries.push(BatchEntry::Tx(Box::new(decode_signed(t).unwrap())));
    }
    Bytes::from(encode_batch(&entries))
}

/// The balance of `a` in the state at block `n`'s root.
async fn balance<'a>(env: &Env, store: &'a RocksStore, n: u64) -> impl Fn(Address) -> U256 + 'a {
    let b = env.db.block_by_number(n).await.unwrap().unwrap();
    let root = zknode_state::Hash::from_u256(U256::from_be_bytes(b.header.state_root.0)).unwrap();
    move |a: Address| {
        let tree = StateTree::at_root(store, root);
        tree.get(&zknode_state::keys::balance_key(&a)).unwrap()
    }
}

/// The genesis of the test chain (development account 1 funded) in the database and a fresh
/// state tree, and an execution stage over them.
async fn genesis(
    env: &Env,
) -> (
    Arc<RocksStore>,
    Arc<SyncMetrics>,
    L2Stage,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RocksStore::open(&dir.path().join("tree")).unwrap());
    let accounts = vec![GenesisAccount {
        address: dev_address(1).to_string(),
        balance: Some(zknode_state::genesis::Number::Str(
            "1000000000000000000000".into(),
        )),
        nonce: None,
        bytecode: None,
        storage: None,
    }];
    let spec = zknode_sequencer::ChainSpec {
        chain_id: L2_CHAIN_ID,
        coinbase: coinbase(),
    };
    zknode_sequencer::init_genesis(&env.db, &store, &accounts, &spec, 0)
        .await
        .unwrap();
    let metrics = Arc::new(SyncMetrics::default());
    let stage = L2Stage::new(env.db.clone(), store.clone(), L2_CHAIN_ID, metrics.clone());
    (store, metrics, stage, dir)
}

async fn stage_follows_reorgs(postgres: bool) {
    let Some(env) = Env::start(postgres).await else {
        return;
    };
    let (store, metrics, stage, _dir) = genesis(&env).await;
    let mut s = env.synchronizer(5).with_execution(stage);
    let (a, b, c) = (
        Address::repeat_byte(0xaa),
        Address::repeat_byte(0xbb),
        Address::repeat_byte(0xcc),
    );

    // Batch 1 pays A; batch 2 (a sequence of its own) pays B.
    env.sequence(&[batch(1, &[transfer(0, a, 3)])], 0).await;
    let snap = env.snapshot().await;
    let dropped = transfer(1, b, 5);
    env.sequence(&[batch(1, std::slice::from_ref(&dropped))], 0)
        .await;
    assert_eq!(env.sync(&mut s).await.executed_batches, 2);
    assert_eq!(s.sync_once().await.unwrap().executed_batches, 0);
    let bal = balance(&env, &store, 2).await;
    assert_eq!((bal(a), bal(b)), (U256::from(3), U256::from(5)));
    let dropped_hash = alloy::primitives::keccak256(&dropped);
    assert!(env
        .db
        .transaction_by_hash(dropped_hash)
        .await
        .unwrap()
        .is_some());
    assert_eq!(env.batch(2).await.0, BatchStatus::Virtual);

    // L1 reorgs: batch 2's sequence is replaced by one that pays C.
    env.revert(snap).await;
    env.mine(3).await;
    let kept = transfer(1, c, 7);
    env.sequence(&[batch(1, std::slice::from_ref(&kept))], 0)
        .await;
    let p = env.sync(&mut s).await;
    assert!(p.reorged);
    assert_eq!(p.executed_batches, 1);
    let latest = env.db.latest_block_number().await.unwrap().unwrap();
    assert_eq!(latest, 2, "one block per batch, none duplicated");
    let bal = balance(&env, &store, 2).await;
    assert_eq!(
        (bal(a), bal(b), bal(c)),
        (U256::from(3), U256::ZERO, U256::from(7))
    );
    assert!(env
        .db
        .transaction_by_hash(dropped_hash)
        .await
        .unwrap()
        .is_none());
    assert!(env
        .db
        .transaction_by_hash(alloy::primitives::keccak256(&kept))
        .await
        .unwrap()
        .is_some());
    let stored = env.db.batch(2).await.unwrap().unwrap();
    assert_eq!(stored.status, BatchStatus::Virtual);
    let on_l1 = env.rollup().sequencedBatches(2).call().await.unwrap();
    assert_eq!(stored.acc_input_hash, Some(on_l1.accInputHash));

    // A batch a crash left half stored (opened, not virtual) is removed and done again.
    // (Opened before the synchronizer reads batch 3.)
    env.sequence(&[batch(1, &[transfer(2, a, 1)])], 0).await;
    let two = env.db.batch(2).await.unwrap().unwrap();
    env.db
        .open_batch(&NewBatch {
            number: 3,
            coinbase: coinbase(),
            timestamp: 1,
            global_exit_root: B256::ZERO,
            state_root: two.state_root,
            local_exit_root: two.local_exit_root,
            forced_batch_number: None,
        })
        .await
        .unwrap();
    assert_eq!(env.sync(&mut s).await.executed_batches, 1);
    assert_eq!(env.batch(3).await.0, BatchStatus::Virtual);
    let bal = balance(&env, &store, 3).await;
    assert_eq!(bal(a), U256::from(4));
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(metrics.l2_batches_executed.load(Relaxed), 4);
    assert_eq!(metrics.l2_txs_executed.load(Relaxed), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_follows_reorgs_sqlite() {
    stage_follows_reorgs(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_follows_reorgs_postgres() {
    stage_follows_reorgs(true).await
}

/// Following the trusted sequencer, the node keeps batches L1 no longer sequences (a reorg took
/// their sequence: they are the trusted state) until L1 sequences another batch of that number:
/// then L1 wins, the node's batch goes and L1's is executed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_trusted_state_l1_wins() {
    let env = Env::start(false).await.unwrap();
    let (store, _metrics, stage, _dir) = genesis(&env).await;
    // No trusted sequencer answers here: only the L1 side is exercised.
    let stage = stage.following(zknode_sync::l1_reader("http://127.0.0.1:9").unwrap());
    let mut s = env.synchronizer(5).with_execution(stage);
    let (a, b) = (Address::repeat_byte(0xaa), Address::repeat_byte(0xbb));
    env.sequence(&[batch(1, &[transfer(0, a, 3)])], 0).await;
    let snap = env.snapshot().await;
    let first = transfer(1, a, 5);
    env.sequence(&[batch(1, std::slice::from_ref(&first))], 0)
        .await;
    assert_eq!(env.sync(&mut s).await.executed_batches, 2);
    // The reorg: batch 2 stays, closed (the trusted state).
    env.revert(snap).await;
    env.mine(3).await;
    env.sync(&mut s).await;
    assert_eq!(env.batch(2).await.0, BatchStatus::Closed);
    assert_eq!(env.db.latest_block_number().await.unwrap(), Some(2));
    // L1 sequences another batch 2: it replaces the node's.
    let other = transfer(1, b, 7);
    env.sequence(&[batch(1, std::slice::from_ref(&other))], 0)
        .await;
    let p = env.sync(&mut s).await;
    assert_eq!(p.executed_batches, 1, "{p:?}");
    assert_eq!(env.batch(2).await.0, BatchStatus::Virtual);
    assert!(env.db.sync_halt().await.unwrap().is_none());
    let bal = balance(&env, &store, 2).await;
    assert_eq!((bal(a), bal(b)), (U256::from(3), U256::from(7)));
    let gone = alloy::primitives::keccak256(&first);
    assert!(env.db.transaction_by_hash(gone).await.unwrap().is_none());
    assert_eq!(
        s.metrics()
            .trusted_replaced
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
