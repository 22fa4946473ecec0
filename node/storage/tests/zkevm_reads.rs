//! The reads the `zkevm` JSON-RPC namespace adds to [`BlockReader`]: the last block up to a
//! batch, the state roots of a block range, the latest global exit root. On SQLite and on a
//! throwaway PostgreSQL cluster (skipped where PostgreSQL is not installed).

use alloy_primitives::{Address, Bytes, B256};
use zknode_sqldb::harness::TestLocation;
use zknode_sqldb::on_both;
use zknode_storage::{BatchClose, BlockReader, BlockWriter, NewBatch, NewBlock, StateDb};

/// A database for one test, deleted (or its cluster stopped) on drop.
struct TestDb {
    db: StateDb,
    /// Keeps the database (and its URL) alive.
    #[allow(dead_code)]
    at: TestLocation,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let at = TestLocation::sqlite("data/state.db");
        let db = StateDb::connect(&at.url).await.unwrap();
        TestDb { db, at }
    }

    async fn postgres() -> Option<TestDb> {
        let at = TestLocation::postgres().await?;
        let db = StateDb::connect(&at.url).await.unwrap();
        Some(TestDb { db, at })
    }
}

on_both!(
    last_block_up_to_batch_skips_empty_batches,
    state_roots_of_a_range,
    latest_global_exit_root_is_the_last_non_zero_one,
);

fn h(byte: u8) -> B256 {
    B256::repeat_byte(byte)
}

/// An empty block `number` of batch `batch`, with state root `0x5a ^ number` repeated and
/// global exit root `ger`.
fn block(number: u64, parent: B256, batch: u64, ger: B256) -> NewBlock {
    NewBlock {
        number,
        parent_hash: parent,
        batch_number: batch,
        timestamp: 1_700_000_000 + number,
        coinbase: Address::repeat_byte(0xcb),
        state_root: h(number as u8 ^ 0x5a),
        global_exit_root: ger,
        block_info_root: h(0xb1),
        gas_limit: 1 << 50,
        base_fee: 0,
        transactions: vec![],
    }
}

async fn open(db: &StateDb, number: u64) {
    db.open_batch(&NewBatch {
        number,
        coinbase: Address::repeat_byte(0xcb),
        timestamp: 1_700_000_000,
        global_exit_root: B256::ZERO,
        state_root: h(0x10),
        local_exit_root: h(0x20),
        forced_batch_number: None,
    })
    .await
    .unwrap();
}

async fn close(db: &StateDb, number: u64) {
    db.close_batch(
        number,
        &BatchClose {
            closing_reason: "test".into(),
            state_root: h(0x30),
            local_exit_root: h(0x40),
            acc_input_hash: h(0x60 + number as u8),
            l2_data: Bytes::from_static(&[0x0b]),
        },
    )
    .await
    .unwrap();
}

/// Batch 0: block 0 (zero GER). Batch 1: blocks 1 (GER 0xe1) and 2 (zero). Batch 2: no
/// block. Batch 3, open: blocks 3 (GER 0xe3) and 4 (zero).
async fn chain(db: &StateDb) -> Vec<B256> {
    let gers = [B256::ZERO, h(0xe1), B256::ZERO, h(0xe3), B256::ZERO];
    let batches = [0, 1, 1, 3, 3];
    let mut parent = B256::ZERO;
    let mut hashes = Vec::new();
    open(db, 0).await;
    for (n, (&batch, ger)) in batches.iter().zip(gers).enumerate() {
        let n = n as u64;
        if n > 0 && batch != batches[n as usize - 1] {
            for b in batches[n as usize - 1]..batch {
                close(db, b).await;
                open(db, b + 1).await;
            }
        }
        parent = db.write_block(&block(n, parent, batch, ger)).await.unwrap();
        hashes.push(parent);
    }
    hashes
}

async fn last_block_up_to_batch_skips_empty_batches(t: &TestDb) {
    let db = &t.db;
    assert_eq!(db.last_block_up_to_batch(0).await.unwrap(), None);
    chain(db).await;
    let got = [0, 1, 2, 3, 4, 1 << 40];
    let mut out = Vec::new();
    for b in got {
        out.push(db.last_block_up_to_batch(b).await.unwrap());
    }
    assert_eq!(
        out,
        [Some(0), Some(2), Some(2), Some(4), Some(4), Some(4)],
        "batches {got:?}"
    );
    assert!(db.last_block_up_to_batch(u64::MAX).await.is_err());
}

async fn state_roots_of_a_range(t: &TestDb) {
    let db = &t.db;
    chain(db).await;
    let root = |n: u8| h(n ^ 0x5a);
    assert_eq!(
        db.block_state_roots(1, 3).await.unwrap(),
        [root(1), root(2), root(3)]
    );
    assert_eq!(
        db.block_state_roots(3, 100).await.unwrap(),
        [root(3), root(4)]
    );
    assert_eq!(db.block_state_roots(0, 0).await.unwrap(), [root(0)]);
    assert!(db.block_state_roots(5, 9).await.unwrap().is_empty());
    assert!(db.block_state_roots(3, 1).await.unwrap().is_empty());
    // The roots are those the blocks carry.
    for n in 0..5u64 {
        let b = db.block_by_number(n).await.unwrap().unwrap();
        assert_eq!(b.header.state_root, root(n as u8));
    }
}

async fn latest_global_exit_root_is_the_last_non_zero_one(t: &TestDb) {
    let db = &t.db;
    assert_eq!(db.latest_global_exit_root().await.unwrap(), None);
    open(db, 0).await;
    let h0 = db
        .write_block(&block(0, B256::ZERO, 0, B256::ZERO))
        .await
        .unwrap();
    assert_eq!(db.latest_global_exit_root().await.unwrap(), None);
    let h1 = db.write_block(&block(1, h0, 0, h(0xe1))).await.unwrap();
    assert_eq!(db.latest_global_exit_root().await.unwrap(), Some(h(0xe1)));
    let h2 = db.write_block(&block(2, h1, 0, h(0xe2))).await.unwrap();
    db.write_block(&block(3, h2, 0, B256::ZERO)).await.unwrap();
    assert_eq!(db.latest_global_exit_root().await.unwrap(), Some(h(0xe2)));
}
