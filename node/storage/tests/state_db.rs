//! The state database, every scenario on SQLite (a file in a temporary directory) and on a
//! throwaway PostgreSQL cluster (skipped with a printed reason where PostgreSQL is not
//! installed; `ZKNODE_REQUIRE_POSTGRES=1` makes that a failure).

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use zknode_sqldb::harness::TestLocation;
use zknode_storage::{
    Backend, BatchClose, BatchStatus, BlockReader, BlockWriter, L1Block, LatestBatchNumbers,
    LogFilter, NewBatch, NewBlock, NewLog, NewReceipt, NewTransaction, OpenBatchProgress,
    PoolInsert, PoolStore, PoolTxRow, PoolTxState, PoolTxStatus, StateDb, StorageError,
};

/// A database for one test, deleted (or its cluster stopped) on drop.
struct TestDb {
    db: StateDb,
    /// Keeps the database (and its URL) alive.
    at: TestLocation,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let at = TestLocation::sqlite("data/state.db");
        let db = StateDb::connect(&at.url).await.unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        TestDb { db, at }
    }

    async fn postgres() -> Option<TestDb> {
        let at = TestLocation::postgres().await?;
        let db = StateDb::connect(&at.url).await.unwrap();
        assert_eq!(db.backend(), Backend::Postgres);
        Some(TestDb { db, at })
    }
}

use zknode_sqldb::on_both;

on_both!(
    blocks_round_trip_with_transactions_receipts_and_logs,
    logs_filter_by_range_address_and_topics,
    a_refused_block_changes_nothing,
    concurrent_writers_store_one_block,
    batch_lifecycle_and_wrong_transitions,
    reopened_database_keeps_everything,
    corrupt_rows_are_typed_errors,
    numbers_out_of_range_are_refused,
    l1_blocks_and_checkpoints,
    pool_rows_insert_replace_fail_and_load,
    pool_batch_insert_is_all_or_nothing,
    write_block_marks_pool_rows_selected,
);

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

fn h(byte: u8) -> B256 {
    B256::repeat_byte(byte)
}

fn addr(byte: u8) -> Address {
    Address::repeat_byte(byte)
}

fn log(address: u8, topics: &[u8], data: &[u8]) -> NewLog {
    NewLog {
        address: addr(address),
        topics: topics.iter().map(|&t| h(t)).collect(),
        data: Bytes::copy_from_slice(data),
    }
}

/// A transaction whose raw bytes are unique to `seed`: legacy (an RLP list) for type 0, else
/// the type byte and a list. Gas and cumulative gas are set by [`block`].
fn tx(seed: u16, tx_type: u8, logs: Vec<NewLog>) -> NewTransaction {
    let [a, b] = seed.to_be_bytes();
    let mut raw = Vec::new();
    if tx_type != 0 {
        raw.push(tx_type);
    }
    raw.extend_from_slice(&[0xc3, 0x82, a, b]);
    NewTransaction {
        hash: keccak256(&raw),
        l2_hash: keccak256([&raw[..], b"l2"].concat()),
        raw: raw.into(),
        sender: addr(0x50 + (seed % 8) as u8),
        tx_type,
        effective_percentage: (seed % 256) as u8,
        receipt: NewReceipt {
            success: !seed.is_multiple_of(3),
            cumulative_gas_used: 0,
            gas_used: 21_000 + u64::from(seed),
            effective_gas_price: U256::from(1_000_000_000u64 + u64::from(seed)),
            contract_address: seed.is_multiple_of(4).then(|| addr(0xc0)),
            logs,
        },
    }
}

/// Block `number` of batch `batch` after `parent`, its receipts' cumulative gas filled in.
fn block(number: u64, parent: B256, batch: u64, mut txs: Vec<NewTransaction>) -> NewBlock {
    let mut cumulative = 0;
    for t in &mut txs {
        cumulative += t.receipt.gas_used;
        t.receipt.cumulative_gas_used = cumulative;
    }
    NewBlock {
        number,
        parent_hash: parent,
        batch_number: batch,
        timestamp: 1_700_000_000 + number * 3,
        coinbase: addr(0xcb),
        state_root: h(number as u8 ^ 0x5a),
        global_exit_root: if number.is_multiple_of(2) {
            B256::ZERO
        } else {
            h(0xee)
        },
        block_info_root: h(number as u8 ^ 0xb1),
        gas_limit: 1 << 50,
        base_fee: number * 7,
        transactions: txs,
    }
}

fn new_batch(number: u64) -> NewBatch {
    NewBatch {
        number,
        coinbase: addr(0xcb),
        timestamp: 1_700_000_000 + number,
        global_exit_root: h(0xe0),
        state_root: h(0x10),
        local_exit_root: h(0x20),
        forced_batch_number: None,
    }
}

fn close(number: u64) -> BatchClose {
    BatchClose {
        closing_reason: "Max transactions".to_string(),
        state_root: h(0x30 + number as u8),
        local_exit_root: h(0x40),
        acc_input_hash: h(0x60 + number as u8),
        l2_data: Bytes::from(vec![0x0b, number as u8, 1, 2, 3]),
    }
}

/// Opens batch 0 and writes three blocks into it: block 0 empty, block 1 with two legacy
/// transactions (logs with 0–3 topics), block 2 with a typed transaction whose log has four
/// topics and one with none. Returns the blocks and their hashes.
async fn three_blocks(db: &StateDb) -> Vec<(NewBlock, B256)> {
    db.open_batch(&new_batch(0)).await.unwrap();
    let mut out = Vec::new();
    let b0 = block(0, B256::ZERO, 0, vec![]);
    let h0 = db.write_block(&b0).await.unwrap();
    out.push((b0, h0));
    let b1 = block(
        1,
        h0,
        0,
        vec![
            tx(1, 0, vec![log(0xa1, &[0x01], b"one"), log(0xa2, &[], b"")]),
            tx(2, 0, vec![log(0xa1, &[0x02, 0x03, 0x04], &[0xff; 40])]),
        ],
    );
    let h1 = db.write_block(&b1).await.unwrap();
    out.push((b1, h1));
    let b2 = block(
        2,
        h1,
        0,
        vec![
            tx(3, 2, vec![log(0xa2, &[0x01, 0x02, 0x03, 0x04], b"four")]),
            tx(4, 0, vec![]),
        ],
    );
    let h2 = db.write_block(&b2).await.unwrap();
    out.push((b2, h2));
    out
}

async fn count(db: &StateDb, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn counts(db: &StateDb) -> [i64; 5] {
    [
        count(db, "batches").await,
        count(db, "l2_blocks").await,
        count(db, "transactions").await,
        count(db, "receipts").await,
        count(db, "logs").await,
    ]
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async fn blocks_round_trip_with_transactions_receipts_and_logs(t: &TestDb) {
    let db = &t.db;
    // The head in memory: every write makes the next read go to the database.
    db.cache_head();
    assert_eq!(db.latest_block_number().await.unwrap(), None);
    assert_eq!(db.latest_block_head().await.unwrap(), None);
    let blocks = three_blocks(db).await;
    assert_eq!(db.latest_block_number().await.unwrap(), Some(2));
    let head = db.latest_block_head().await.unwrap().unwrap();
    let last = db.block_by_number(2).await.unwrap().unwrap();
    assert_eq!(
        (head.number, head.hash, head.state_root),
        (2, last.hash, last.header.state_root)
    );
    assert_eq!(counts(db).await, [1, 3, 4, 4, 4]);

    for (new, hash) in &blocks {
        let header = new.header();
        assert_eq!(*hash, header.hash());
        let stored = db.block_by_number(new.number).await.unwrap().unwrap();
        assert_eq!(stored.hash, *hash);
        assert_eq!(stored.header, header);
        assert_eq!(stored.batch_number, 0);
        assert_eq!(stored.global_exit_root, new.global_exit_root);
        assert_eq!(db.block_by_hash(*hash).await.unwrap().unwrap(), stored);

        let txs = db.block_transactions(new.number).await.unwrap();
        assert_eq!(txs.len(), new.transactions.len());
        let mut log_index = 0;
        for (i, (got, want)) in txs.iter().zip(&new.transactions).enumerate() {
            assert_eq!(got.hash, want.hash);
            assert_eq!(got.l2_hash, want.l2_hash);
            assert_eq!(got.raw, want.raw);
            assert_eq!(got.sender, want.sender);
            assert_eq!(got.tx_type, want.tx_type);
            assert_eq!(got.effective_percentage, want.effective_percentage);
            assert_eq!((got.block_number, got.block_hash), (new.number, *hash));
            assert_eq!(got.tx_index, i as u64);
            assert_eq!(
                db.transaction_by_hash(want.hash).await.unwrap().as_ref(),
                Some(got)
            );
            assert_eq!(
                db.transaction_by_l2_hash(want.l2_hash)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(got)
            );

            let r = db.receipt(want.hash).await.unwrap().unwrap();
            let w = &want.receipt;
            assert_eq!(
                (r.tx_hash, r.block_number, r.block_hash),
                (want.hash, new.number, *hash)
            );
            assert_eq!((r.tx_index, r.tx_type), (i as u64, want.tx_type));
            assert_eq!(r.success, w.success);
            assert_eq!(r.cumulative_gas_used, w.cumulative_gas_used);
            assert_eq!(r.gas_used, w.gas_used);
            assert_eq!(r.effective_gas_price, w.effective_gas_price);
            assert_eq!(r.contract_address, w.contract_address);
            assert_eq!(r.logs.len(), w.logs.len());
            for (gl, wl) in r.logs.iter().zip(&w.logs) {
                assert_eq!(gl.log_index, log_index);
                log_index += 1;
                assert_eq!((gl.block_number, gl.block_hash), (new.number, *hash));
                assert_eq!((gl.tx_hash, gl.tx_index), (want.hash, i as u64));
                assert_eq!(gl.address, wl.address);
                assert_eq!(gl.topics, wl.topics);
                assert_eq!(gl.data, wl.data);
            }
        }
    }
    // The chain links up and the header's gas used is the last cumulative figure.
    let b2 = db.block_by_number(2).await.unwrap().unwrap();
    assert_eq!(b2.header.parent_hash, blocks[1].1);
    assert_eq!(b2.header.gas_used, 21_003 + 21_004);
    assert_eq!(db.batch_block_numbers(0).await.unwrap(), vec![0, 1, 2]);
    assert!(db.batch_block_numbers(1).await.unwrap().is_empty());

    // Absent things are None or empty.
    assert_eq!(db.block_by_number(3).await.unwrap(), None);
    assert_eq!(db.block_by_hash(h(0x99)).await.unwrap(), None);
    assert!(db.block_transactions(3).await.unwrap().is_empty());
    assert_eq!(db.transaction_by_hash(h(0x99)).await.unwrap(), None);
    assert_eq!(db.transaction_by_l2_hash(h(0x99)).await.unwrap(), None);
    assert_eq!(db.receipt(h(0x99)).await.unwrap(), None);
}

async fn logs_filter_by_range_address_and_topics(t: &TestDb) {
    let db = &t.db;
    three_blocks(db).await;
    // (block, log index) of the matches.
    let find = |filter: LogFilter| async move {
        db.logs(&filter)
            .await
            .unwrap()
            .iter()
            .map(|l| (l.block_number, l.log_index))
            .collect::<Vec<_>>()
    };
    let all = LogFilter {
        from_block: 0,
        to_block: 10,
        ..LogFilter::default()
    };
    assert_eq!(
        find(all.clone()).await,
        vec![(1, 0), (1, 1), (1, 2), (2, 0)]
    );
    // Ranges.
    let range = |from, to| LogFilter {
        from_block: from,
        to_block: to,
        ..LogFilter::default()
    };
    assert_eq!(find(range(2, 2)).await, vec![(2, 0)]);
    assert_eq!(find(range(0, 1)).await, vec![(1, 0), (1, 1), (1, 2)]);
    assert_eq!(find(range(0, 0)).await, vec![]);
    assert_eq!(find(range(2, 1)).await, vec![]);
    // A limit keeps the first logs.
    let limited = |limit| LogFilter {
        limit: Some(limit),
        ..all.clone()
    };
    assert_eq!(find(limited(2)).await, vec![(1, 0), (1, 1)]);
    assert_eq!(find(limited(4)).await.len(), 4);
    assert_eq!(find(limited(0)).await, vec![]);
    // A block's receipts carry its logs, each under its own transaction.
    let receipts = db.block_receipts(1).await.unwrap();
    let logs = db.logs(&range(1, 1)).await.unwrap();
    assert_eq!(
        receipts
            .iter()
            .flat_map(|r| r.logs.clone())
            .collect::<Vec<_>>(),
        logs
    );
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r.tx_index, i as u64);
        assert!(r.logs.iter().all(|l| l.tx_index == r.tx_index));
        let mut one = db.receipt(r.tx_hash).await.unwrap().unwrap();
        one.logs.sort_by_key(|l| l.log_index);
        assert_eq!(&one, r);
    }
    assert!(db.block_receipts(9).await.unwrap().is_empty());
    // Addresses: an OR-list.
    let by_address = |a: &[u8]| LogFilter {
        addresses: a.iter().map(|&b| addr(b)).collect(),
        ..all.clone()
    };
    assert_eq!(find(by_address(&[0xa1])).await, vec![(1, 0), (1, 2)]);
    assert_eq!(find(by_address(&[0xa2])).await, vec![(1, 1), (2, 0)]);
    assert_eq!(find(by_address(&[0xa1, 0xa2])).await.len(), 4);
    assert_eq!(find(by_address(&[0xa3])).await, vec![]);
    // Topics: position by position, each an OR-list; an empty list matches anything, even no
    // topic at all.
    let by_topics = |topics: [&[u8]; 4]| LogFilter {
        topics: topics.map(|ts| ts.iter().map(|&b| h(b)).collect()),
        ..all.clone()
    };
    assert_eq!(
        find(by_topics([&[0x01], &[], &[], &[]])).await,
        vec![(1, 0), (2, 0)]
    );
    assert_eq!(
        find(by_topics([&[0x01, 0x02], &[], &[], &[]])).await,
        vec![(1, 0), (1, 2), (2, 0)]
    );
    assert_eq!(
        find(by_topics([&[], &[0x02, 0x03], &[], &[]])).await,
        vec![(1, 2), (2, 0)]
    );
    assert_eq!(
        find(by_topics([&[], &[], &[], &[0x04]])).await,
        vec![(2, 0)]
    );
    // A log with fewer topics than the position does not match.
    assert_eq!(
        find(by_topics([&[], &[], &[0x04], &[]])).await,
        vec![(1, 2)]
    );
    assert_eq!(
        find(by_topics([&[0x02], &[0x03], &[0x04], &[0x05]])).await,
        vec![]
    );
    // Address and topics together, within a range.
    let both = LogFilter {
        from_block: 2,
        to_block: 2,
        addresses: vec![addr(0xa2), addr(0xa1)],
        topics: [vec![h(0x01)], vec![], vec![h(0x03)], vec![]],
        limit: None,
    };
    assert_eq!(find(both).await, vec![(2, 0)]);
    // What a match carries.
    let logs = db.logs(&by_topics([&[], &[], &[], &[0x04]])).await.unwrap();
    let l = &logs[0];
    assert_eq!(l.address, addr(0xa2));
    assert_eq!(l.topics, vec![h(1), h(2), h(3), h(4)]);
    assert_eq!(l.data, Bytes::from_static(b"four"));
    assert_eq!(l.tx_index, 0);
    assert_eq!(
        l.block_hash,
        db.block_by_number(2).await.unwrap().unwrap().hash
    );
}

async fn a_refused_block_changes_nothing(t: &TestDb) {
    let db = &t.db;
    let blocks = three_blocks(db).await;
    let before = counts(db).await;
    let (b1, h1) = &blocks[1];
    let h2 = blocks[2].1;

    // The same number again, as it was or changed.
    assert!(matches!(
        db.write_block(b1).await,
        Err(StorageError::BlockExists(1))
    ));
    let mut changed = b1.clone();
    changed.transactions = vec![tx(100, 0, vec![])];
    changed.transactions[0].receipt.cumulative_gas_used = 21_100;
    assert!(matches!(
        db.write_block(&changed).await,
        Err(StorageError::BlockExists(1))
    ));
    assert_eq!(db.block_by_number(1).await.unwrap().unwrap().hash, *h1);

    // Not the next number, or not the last block's child.
    let gap = block(4, h2, 0, vec![]);
    assert!(matches!(
        db.write_block(&gap).await,
        Err(StorageError::BlockNotNext {
            number: 4,
            expected: 3
        })
    ));
    let orphan = block(3, h(0x77), 0, vec![]);
    assert!(matches!(
        db.write_block(&orphan).await,
        Err(StorageError::ParentMismatch { number: 3, expected, .. }) if expected == h2
    ));

    // A transaction that is already stored, behind a new one: neither the block nor the new
    // transaction, its receipt or its log is kept.
    let dup = block(
        3,
        h2,
        0,
        vec![tx(5, 0, vec![log(0xa5, &[0x05], b"")]), tx(2, 0, vec![])],
    );
    let dup_hash = dup.transactions[1].hash;
    assert!(matches!(
        db.write_block(&dup).await,
        Err(StorageError::DuplicateTransaction { block: 3, hash }) if hash == dup_hash
    ));
    assert_eq!(db.block_by_number(3).await.unwrap(), None);
    assert_eq!(
        db.transaction_by_hash(dup.transactions[0].hash)
            .await
            .unwrap(),
        None
    );

    // A block that contradicts itself.
    let mut bad_gas = block(3, h2, 0, vec![tx(6, 0, vec![])]);
    bad_gas.transactions[0].receipt.cumulative_gas_used += 1;
    let mut bad_hash = block(3, h2, 0, vec![tx(7, 0, vec![])]);
    bad_hash.transactions[0].hash = h(0x01);
    let mut bad_type = block(3, h2, 0, vec![tx(8, 2, vec![])]);
    bad_type.transactions[0].tx_type = 1;
    let too_many_topics = block(
        3,
        h2,
        0,
        vec![tx(9, 0, vec![log(1, &[1, 2, 3, 4, 5], b"")])],
    );
    let mut over_limit = block(3, h2, 0, vec![tx(10, 0, vec![])]);
    over_limit.gas_limit = 21_000;
    for bad in [bad_gas, bad_hash, bad_type, too_many_topics, over_limit] {
        let err = db.write_block(&bad).await.unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidBlock { number: 3, .. }),
            "{err}"
        );
    }

    // A block for a batch that is not open.
    db.close_batch(0, &close(0)).await.unwrap();
    let late = block(3, h2, 0, vec![]);
    assert!(matches!(
        db.write_block(&late).await,
        Err(StorageError::BlockBatchNotOpen {
            block: 3,
            batch: 0,
            status: Some(BatchStatus::Closed)
        })
    ));
    let unknown = block(3, h2, 9, vec![]);
    assert!(matches!(
        db.write_block(&unknown).await,
        Err(StorageError::BlockBatchNotOpen {
            batch: 9,
            status: None,
            ..
        })
    ));

    assert_eq!(counts(db).await, before);
    assert_eq!(db.latest_block_number().await.unwrap(), Some(2));
    // The chain goes on in the next batch.
    db.open_batch(&new_batch(1)).await.unwrap();
    db.write_block(&block(3, h2, 1, vec![tx(5, 0, vec![])]))
        .await
        .unwrap();
    assert_eq!(db.batch_block_numbers(1).await.unwrap(), vec![3]);
}

async fn concurrent_writers_store_one_block(t: &TestDb) {
    let blocks = three_blocks(&t.db).await;
    let parent = blocks[2].1;
    // Two handles with their own connections (as two processes) race for block 3 with
    // different contents, and a third closes the batch meanwhile.
    let a = StateDb::connect(&t.at.url).await.unwrap();
    let b = StateDb::connect(&t.at.url).await.unwrap();
    let block_a = block(3, parent, 0, vec![tx(30, 0, vec![log(0xa3, &[3], b"a")])]);
    let block_b = block(3, parent, 0, vec![tx(31, 2, vec![]), tx(32, 0, vec![])]);
    let (ra, rb) = tokio::join!(
        tokio::spawn({
            let a = a.clone();
            async move { a.write_block(&block_a).await }
        }),
        tokio::spawn({
            let b = b.clone();
            async move { b.write_block(&block_b).await }
        }),
    );
    let results = [ra.unwrap(), rb.unwrap()];
    let stored: Vec<&B256> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(stored.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(StorageError::BlockExists(3)))),
        "{results:?}"
    );
    let winner = t.db.block_by_number(3).await.unwrap().unwrap();
    assert_eq!(&winner.hash, stored[0]);
    // Only the winner's transactions are stored.
    assert_eq!(
        count(&t.db, "transactions").await,
        4 + winner_txs(&t.db).await
    );

    // A block and the closing of its batch: either the block is in the batch and the batch
    // closed after it, or the batch closed first and the block was refused.
    let next = block(4, winner.hash, 0, vec![]);
    let (rw, rc) = tokio::join!(
        tokio::spawn({
            let a = a.clone();
            async move { a.write_block(&next).await }
        }),
        tokio::spawn({
            let b = b.clone();
            async move { b.close_batch(0, &close(0)).await }
        }),
    );
    rc.unwrap().unwrap();
    match rw.unwrap() {
        Ok(_) => assert_eq!(
            t.db.batch_block_numbers(0).await.unwrap(),
            vec![0, 1, 2, 3, 4]
        ),
        Err(StorageError::BlockBatchNotOpen {
            block: 4, batch: 0, ..
        }) => {
            assert_eq!(t.db.latest_block_number().await.unwrap(), Some(3))
        }
        Err(e) => panic!("unexpected {e}"),
    }
    a.close().await;
    b.close().await;
}

async fn winner_txs(db: &StateDb) -> i64 {
    db.block_transactions(3).await.unwrap().len() as i64
}

async fn batch_lifecycle_and_wrong_transitions(t: &TestDb) {
    let db = &t.db;
    let none = LatestBatchNumbers::default();
    assert_eq!(db.latest_batch_numbers().await.unwrap(), none);
    assert_eq!(db.batch(0).await.unwrap(), None);

    // A first batch may have any number; then each follows the last, once it is closed.
    db.open_batch(&new_batch(5)).await.unwrap();
    let open = db.batch(5).await.unwrap().unwrap();
    assert_eq!(open.status, BatchStatus::Open);
    assert_eq!((open.coinbase, open.timestamp), (addr(0xcb), 1_700_000_005));
    assert_eq!((open.state_root, open.local_exit_root), (h(0x10), h(0x20)));
    assert_eq!(open.global_exit_root, h(0xe0));
    assert!(open.l2_data.is_empty());
    assert_eq!(open.resources, None);
    assert_eq!(open.acc_input_hash, None);
    assert_eq!(open.closing_reason, None);
    assert_eq!((open.virtual_tx_hash, open.verified_tx_hash), (None, None));
    assert!(matches!(
        db.open_batch(&new_batch(6)).await,
        Err(StorageError::PreviousBatchOpen { number: 6, open: 5 })
    ));
    assert!(matches!(
        db.open_batch(&new_batch(5)).await,
        Err(StorageError::BatchExists(5))
    ));
    assert!(matches!(
        db.open_batch(&new_batch(4)).await,
        Err(StorageError::BatchNotNext {
            number: 4,
            expected: 6
        })
    ));
    assert_eq!(
        db.latest_batch_numbers().await.unwrap(),
        LatestBatchNumbers {
            last: Some(5),
            ..none
        }
    );

    // The sequencer's progress on the open batch.
    let progress = OpenBatchProgress {
        number: 5,
        state_root: h(0x11),
        local_exit_root: h(0x21),
        l2_data: Bytes::from_static(&[0x0b, 0, 0, 0, 3, 0, 0, 0, 1]),
        resources: Some(r#"{"steps":1200}"#.to_string()),
    };
    db.update_open_batch(&progress).await.unwrap();
    let saved = db.batch(5).await.unwrap().unwrap();
    assert_eq!(
        (saved.state_root, saved.local_exit_root),
        (h(0x11), h(0x21))
    );
    assert_eq!(saved.l2_data, progress.l2_data);
    assert_eq!(saved.resources, progress.resources);

    // Wrong moves from open.
    let wrong = |r: Result<(), StorageError>, from: Option<BatchStatus>, to: BatchStatus| match r {
        Err(StorageError::BatchTransition { from: f, to: t, .. }) => {
            assert_eq!((f, t), (from, to))
        }
        other => panic!("expected a refused transition to {to}, got {other:?}"),
    };
    wrong(
        db.set_batch_virtual(5, h(0xa0)).await,
        Some(BatchStatus::Open),
        BatchStatus::Virtual,
    );
    wrong(
        db.set_batch_verified(5, h(0xa0)).await,
        Some(BatchStatus::Open),
        BatchStatus::Verified,
    );
    wrong(
        db.close_batch(7, &close(7)).await,
        None,
        BatchStatus::Closed,
    );
    let mut no_reason = close(5);
    no_reason.closing_reason.clear();
    assert!(matches!(
        db.close_batch(5, &no_reason).await,
        Err(StorageError::EmptyClosingReason(5))
    ));

    // open → closed.
    db.close_batch(5, &close(5)).await.unwrap();
    let closed = db.batch(5).await.unwrap().unwrap();
    assert_eq!(closed.status, BatchStatus::Closed);
    assert_eq!(closed.closing_reason.as_deref(), Some("Max transactions"));
    assert_eq!(closed.acc_input_hash, Some(h(0x65)));
    assert_eq!(
        (closed.state_root, closed.local_exit_root),
        (h(0x35), h(0x40))
    );
    assert_eq!(closed.l2_data, close(5).l2_data);
    assert_eq!(closed.resources, progress.resources);
    wrong(
        db.close_batch(5, &close(5)).await,
        Some(BatchStatus::Closed),
        BatchStatus::Closed,
    );
    wrong(
        db.set_batch_verified(5, h(0xa0)).await,
        Some(BatchStatus::Closed),
        BatchStatus::Verified,
    );
    assert!(matches!(
        db.update_open_batch(&progress).await,
        Err(StorageError::BatchNotOpen {
            batch: 5,
            status: Some(BatchStatus::Closed)
        })
    ));

    // Batches 6 and 7, closed.
    for n in [6, 7] {
        db.open_batch(&new_batch(n)).await.unwrap();
        db.close_batch(n, &close(n)).await.unwrap();
    }
    db.open_batch(&new_batch(8)).await.unwrap();
    assert_eq!(
        db.latest_batch_numbers().await.unwrap(),
        LatestBatchNumbers {
            last: Some(8),
            closed: Some(7),
            ..none
        }
    );

    // closed → virtual, in order.
    match db.set_batch_virtual(6, h(0xa6)).await {
        Err(StorageError::BatchOutOfOrder {
            batch: 6,
            to: BatchStatus::Virtual,
            previous,
        }) => {
            assert_eq!(previous, BatchStatus::Closed)
        }
        other => panic!("expected out of order, got {other:?}"),
    }
    db.set_batch_virtual(5, h(0xa5)).await.unwrap();
    db.set_batch_virtual(6, h(0xa6)).await.unwrap();
    wrong(
        db.set_batch_virtual(6, h(0xa6)).await,
        Some(BatchStatus::Virtual),
        BatchStatus::Virtual,
    );
    assert_eq!(
        db.batch(6).await.unwrap().unwrap().virtual_tx_hash,
        Some(h(0xa6))
    );
    assert_eq!(
        db.batch(6).await.unwrap().unwrap().status,
        BatchStatus::Virtual
    );

    // virtual → verified, in order.
    assert!(matches!(
        db.set_batch_verified(6, h(0xb6)).await,
        Err(StorageError::BatchOutOfOrder {
            batch: 6,
            to: BatchStatus::Verified,
            previous: BatchStatus::Virtual
        })
    ));
    db.set_batch_verified(5, h(0xb5)).await.unwrap();
    wrong(
        db.set_batch_verified(5, h(0xb5)).await,
        Some(BatchStatus::Verified),
        BatchStatus::Verified,
    );
    wrong(
        db.set_batch_virtual(5, h(0xb5)).await,
        Some(BatchStatus::Verified),
        BatchStatus::Virtual,
    );
    wrong(
        db.close_batch(5, &close(5)).await,
        Some(BatchStatus::Verified),
        BatchStatus::Closed,
    );
    let verified = db.batch(5).await.unwrap().unwrap();
    assert_eq!(verified.status, BatchStatus::Verified);
    assert_eq!(
        (verified.virtual_tx_hash, verified.verified_tx_hash),
        (Some(h(0xa5)), Some(h(0xb5)))
    );
    assert_eq!(verified.closing_reason.as_deref(), Some("Max transactions"));

    assert_eq!(
        db.latest_batch_numbers().await.unwrap(),
        LatestBatchNumbers {
            last: Some(8),
            closed: Some(7),
            virtualized: Some(6),
            verified: Some(5),
        }
    );
}

async fn reopened_database_keeps_everything(t: &TestDb) {
    let blocks = three_blocks(&t.db).await;
    t.db.close_batch(0, &close(0)).await.unwrap();
    t.db.set_batch_virtual(0, h(0xa0)).await.unwrap();
    t.db.set_checkpoint("sync.l1", 1234).await.unwrap();
    let l1 = L1Block {
        number: 1234,
        hash: h(0x12),
        parent_hash: h(0x11),
        timestamp: 1_700_000_000,
    };
    t.db.write_l1_block(&l1).await.unwrap();
    let before = (
        t.db.block_by_number(2).await.unwrap(),
        t.db.block_transactions(1).await.unwrap(),
        t.db.receipt(blocks[2].0.transactions[0].hash)
            .await
            .unwrap(),
        t.db.batch(0).await.unwrap(),
    );
    t.db.close().await;

    let db = StateDb::connect(&t.at.url).await.unwrap();
    assert_eq!(db.latest_block_number().await.unwrap(), Some(2));
    let after = (
        db.block_by_number(2).await.unwrap(),
        db.block_transactions(1).await.unwrap(),
        db.receipt(blocks[2].0.transactions[0].hash).await.unwrap(),
        db.batch(0).await.unwrap(),
    );
    assert_eq!(after, before);
    assert!(after.0.is_some() && after.2.is_some());
    assert_eq!(db.checkpoint("sync.l1").await.unwrap(), Some(1234));
    assert_eq!(db.latest_l1_block().await.unwrap(), Some(l1));
    // And the chain goes on from where it was.
    db.open_batch(&new_batch(1)).await.unwrap();
    db.write_block(&block(3, blocks[2].1, 1, vec![]))
        .await
        .unwrap();
    db.close().await;
}

async fn corrupt_rows_are_typed_errors(t: &TestDb) {
    let db = &t.db;
    let blocks = three_blocks(db).await;
    let tx_hash = blocks[1].0.transactions[0].hash;
    let raw = |sql: &'static str, value: Vec<u8>, key: i64| async move {
        sqlx::query(sql)
            .bind(value)
            .bind(key)
            .execute(db.pool())
            .await
            .unwrap();
    };
    let corrupt = |r: Result<String, StorageError>, table: &str, what: &str| match r {
        Err(StorageError::CorruptRow {
            table: t, problem, ..
        }) => {
            assert_eq!(t, table);
            assert!(problem.contains(what), "{problem}");
        }
        other => panic!("expected a corrupt {table} row, got {other:?}"),
    };

    // A 31-byte block hash.
    raw(
        "UPDATE l2_blocks SET hash = $1 WHERE number = $2",
        vec![7; 31],
        2,
    )
    .await;
    corrupt(
        db.block_by_number(2).await.map(|b| format!("{b:?}")),
        "l2_blocks",
        "31 bytes where 32 belong",
    );
    // Through the join, the transactions and logs of that block are corrupt too.
    corrupt(
        db.block_transactions(2).await.map(|b| format!("{b:?}")),
        "transactions",
        "column block_hash",
    );
    // A header that is not RLP, and one that does not hash to the stored hash.
    raw(
        "UPDATE l2_blocks SET header = $1 WHERE number = $2",
        vec![0xf9, 0x01],
        1,
    )
    .await;
    corrupt(
        db.block_by_number(1).await.map(|b| format!("{b:?}")),
        "l2_blocks",
        "column header",
    );
    let other_header = blocks[0].0.header().rlp();
    raw(
        "UPDATE l2_blocks SET header = $1 WHERE number = $2",
        other_header,
        1,
    )
    .await;
    corrupt(
        db.block_by_number(1).await.map(|b| format!("{b:?}")),
        "l2_blocks",
        "does not hash",
    );
    // A 19-byte sender.
    sqlx::query("UPDATE transactions SET sender = $1 WHERE hash = $2")
        .bind(vec![1u8; 19])
        .bind(tx_hash.as_slice())
        .execute(db.pool())
        .await
        .unwrap();
    corrupt(
        db.transaction_by_hash(tx_hash)
            .await
            .map(|b| format!("{b:?}")),
        "transactions",
        "column sender: 19 bytes",
    );
    // A 33-byte log topic.
    raw(
        "UPDATE logs SET topic0 = $1 WHERE block_number = 1 AND log_index = $2",
        vec![1; 33],
        0,
    )
    .await;
    corrupt(
        db.logs(&LogFilter {
            from_block: 1,
            to_block: 1,
            ..LogFilter::default()
        })
        .await
        .map(|b| format!("{b:?}")),
        "logs",
        "column topic0: 33 bytes",
    );
    // The database is still usable, and the healthy rows read.
    assert!(db.block_by_number(0).await.unwrap().is_some());
}

async fn numbers_out_of_range_are_refused(t: &TestDb) {
    let db = &t.db;
    let big = 1u64 << 63;
    let out_of_range = |r: Result<String, StorageError>, what: &str| match r {
        Err(StorageError::OutOfRange { what: w, value }) => {
            assert_eq!(w, what);
            assert_eq!(value, big.to_string());
        }
        other => panic!("expected {what} out of range, got {other:?}"),
    };
    out_of_range(
        db.block_by_number(big).await.map(|b| format!("{b:?}")),
        "block number",
    );
    out_of_range(
        db.batch(big).await.map(|b| format!("{b:?}")),
        "batch number",
    );
    out_of_range(
        db.open_batch(&new_batch(big))
            .await
            .map(|b| format!("{b:?}")),
        "batch number",
    );
    out_of_range(
        db.set_checkpoint("x", big).await.map(|b| format!("{b:?}")),
        "checkpoint value",
    );
    out_of_range(
        db.logs(&LogFilter {
            from_block: 0,
            to_block: big,
            ..LogFilter::default()
        })
        .await
        .map(|b| format!("{b:?}")),
        "block number",
    );
    // 2^63 - 1 itself is fine.
    db.set_checkpoint("x", big - 1).await.unwrap();
    assert_eq!(db.checkpoint("x").await.unwrap(), Some(big - 1));

    // A block whose gas price does not fit is refused whole.
    db.open_batch(&new_batch(0)).await.unwrap();
    let mut pricey = block(0, B256::ZERO, 0, vec![tx(1, 0, vec![])]);
    pricey.transactions[0].receipt.effective_gas_price = U256::from(big);
    out_of_range(
        db.write_block(&pricey).await.map(|b| format!("{b:?}")),
        "effective gas price",
    );
    let mut late = block(0, B256::ZERO, 0, vec![]);
    late.timestamp = big;
    out_of_range(
        db.write_block(&late).await.map(|b| format!("{b:?}")),
        "block timestamp",
    );
    assert_eq!(counts(db).await, [1, 0, 0, 0, 0]);
}

async fn l1_blocks_and_checkpoints(t: &TestDb) {
    let db = &t.db;
    assert_eq!(db.latest_l1_block().await.unwrap(), None);
    assert_eq!(db.checkpoint("sync.l1").await.unwrap(), None);
    let l1 = |number: u64, tag: u8| L1Block {
        number,
        hash: h(tag),
        parent_hash: h(tag.wrapping_sub(1)),
        timestamp: 1_700_000_000 + number * 12,
    };
    for n in 100..105 {
        db.write_l1_block(&l1(n, n as u8)).await.unwrap();
    }
    assert_eq!(db.l1_block(102).await.unwrap(), Some(l1(102, 102)));
    assert_eq!(db.latest_l1_block().await.unwrap(), Some(l1(104, 104)));
    // A reorg: blocks from 103 on go, and 103 comes back with another hash.
    assert_eq!(db.remove_l1_blocks_from(103).await.unwrap(), 2);
    assert_eq!(db.latest_l1_block().await.unwrap(), Some(l1(102, 102)));
    db.write_l1_block(&l1(103, 0xf3)).await.unwrap();
    db.write_l1_block(&l1(103, 0xf4)).await.unwrap();
    assert_eq!(db.l1_block(103).await.unwrap(), Some(l1(103, 0xf4)));
    assert_eq!(db.remove_l1_blocks_from(200).await.unwrap(), 0);

    db.set_checkpoint("sync.l1", 102).await.unwrap();
    db.set_checkpoint("sync.l1", 103).await.unwrap();
    db.set_checkpoint("sync.trusted", 7).await.unwrap();
    assert_eq!(db.checkpoint("sync.l1").await.unwrap(), Some(103));
    assert_eq!(db.checkpoint("sync.trusted").await.unwrap(), Some(7));
    assert_eq!(count(db, "sync_checkpoints").await, 2);
}

// ---------------------------------------------------------------------------------------------
// The pool's table
// ---------------------------------------------------------------------------------------------

/// A pool row for `sender` and `nonce`, unique to `seed`.
fn pool_row(seed: u16, sender: u8, nonce: u64, price: U256) -> PoolTxRow {
    let raw = Bytes::from([&[0xc3, 0x82][..], &seed.to_be_bytes()].concat());
    PoolTxRow {
        hash: keccak256(&raw),
        l2_hash: keccak256([&raw[..], b"l2"].concat()),
        sender: addr(sender),
        nonce,
        gas_price: price,
        gas_limit: 21_000 + u64::from(seed),
        tx_type: (seed % 3) as u8,
        raw,
        received_at_ms: 1_700_000_000_000 + u64::from(seed),
    }
}

/// The pool row of a block transaction (same hash and sender).
fn pool_row_of(t: &NewTransaction, nonce: u64) -> PoolTxRow {
    PoolTxRow {
        hash: t.hash,
        l2_hash: t.l2_hash,
        sender: t.sender,
        nonce,
        gas_price: U256::from(1_000_000_000u64),
        gas_limit: 21_000,
        tx_type: t.tx_type,
        raw: t.raw.clone(),
        received_at_ms: 1,
    }
}

fn state(status: PoolTxStatus, reason: Option<&str>) -> Option<PoolTxState> {
    Some(PoolTxState {
        status,
        failed_reason: reason.map(str::to_string),
    })
}

async fn pool_rows_insert_replace_fail_and_load(t: &TestDb) {
    let db = &t.db;
    assert_eq!(db.count_pending_pool_txs().await.unwrap(), 0);
    assert_eq!(db.pending_pool_txs().await.unwrap(), vec![]);

    // A price above 2^64 round-trips (it is 32 bytes, not a BIGINT).
    let big = U256::from(3u8) << 200;
    let a0 = pool_row(1, 0xa0, 0, U256::from(5u8));
    let a1 = pool_row(2, 0xa0, 1, big);
    let b0 = pool_row(3, 0xb0, 0, U256::from(7u8));
    db.insert_pool_tx(&a0).await.unwrap();
    db.insert_pool_tx(&a1).await.unwrap();
    db.insert_pool_tx(&b0).await.unwrap();
    assert_eq!(db.count_pending_pool_txs().await.unwrap(), 3);
    assert_eq!(
        db.pending_pool_txs().await.unwrap(),
        vec![a0.clone(), a1.clone(), b0.clone()]
    );
    assert_eq!(
        db.pool_tx_state(a0.hash).await.unwrap(),
        state(PoolTxStatus::Pending, None)
    );
    assert_eq!(db.pool_tx_state(h(0x99)).await.unwrap(), None);

    // The same hash again, and another pending row for a taken (sender, nonce).
    assert!(matches!(
        db.insert_pool_tx(&a0).await,
        Err(StorageError::PoolTxExists(hash)) if hash == a0.hash
    ));
    let a0_other = pool_row(4, 0xa0, 0, U256::from(9u8));
    assert!(matches!(
        db.insert_pool_tx(&a0_other).await,
        Err(StorageError::PoolNonceTaken { sender, nonce: 0 }) if sender == addr(0xa0)
    ));
    assert_eq!(db.pool_tx_state(a0_other.hash).await.unwrap(), None);

    // A replacement deletes the row it replaces; one with nothing to replace just inserts.
    assert_eq!(db.replace_pool_tx(&a0_other).await.unwrap(), Some(a0.hash));
    assert_eq!(db.pool_tx_state(a0.hash).await.unwrap(), None);
    assert_eq!(
        db.pool_tx_state(a0_other.hash).await.unwrap(),
        state(PoolTxStatus::Pending, None)
    );
    let b1 = pool_row(5, 0xb0, 1, U256::from(7u8));
    assert_eq!(db.replace_pool_tx(&b1).await.unwrap(), None);
    assert_eq!(db.count_pending_pool_txs().await.unwrap(), 4);

    // Failed and invalid, with their reasons; only a pending row changes.
    assert!(db
        .fail_pool_tx(b0.hash, "nonce intrinsic error", false)
        .await
        .unwrap());
    assert!(db
        .fail_pool_tx(a1.hash, "out of counters", true)
        .await
        .unwrap());
    assert!(!db.fail_pool_tx(a1.hash, "again", false).await.unwrap());
    assert!(!db.fail_pool_tx(h(0x99), "unknown", false).await.unwrap());
    assert_eq!(
        db.pool_tx_state(b0.hash).await.unwrap(),
        state(PoolTxStatus::Failed, Some("nonce intrinsic error"))
    );
    assert_eq!(
        db.pool_tx_state(a1.hash).await.unwrap(),
        state(PoolTxStatus::Invalid, Some("out of counters"))
    );
    assert_eq!(db.count_pending_pool_txs().await.unwrap(), 2);

    // A failed (sender, nonce) is free again: another transaction, or the same bytes, which
    // revive the row as pending.
    let b0_again = pool_row(6, 0xb0, 0, U256::from(8u8));
    db.insert_pool_tx(&b0_again).await.unwrap();
    assert!(db
        .fail_pool_tx(b0_again.hash, "expired", false)
        .await
        .unwrap());
    let mut revived = b0.clone();
    revived.received_at_ms += 1_000;
    db.insert_pool_tx(&revived).await.unwrap();
    assert_eq!(
        db.pool_tx_state(b0.hash).await.unwrap(),
        state(PoolTxStatus::Pending, None)
    );
    db.insert_pool_tx(&a1).await.unwrap();

    // Reopened, oldest first.
    let again = StateDb::connect(&t.at.url).await.unwrap();
    assert_eq!(
        again.pending_pool_txs().await.unwrap(),
        vec![a1.clone(), a0_other.clone(), b1.clone(), revived.clone()]
    );
    again.close().await;

    // A corrupt row is a typed error.
    sqlx::query("UPDATE pool_transactions SET gas_price = $1 WHERE hash = $2")
        .bind(vec![1u8; 31])
        .bind(a1.hash.as_slice())
        .execute(db.pool())
        .await
        .unwrap();
    match db.pending_pool_txs().await {
        Err(StorageError::CorruptRow { table, problem, .. }) => {
            assert_eq!(table, "pool_transactions");
            assert!(problem.contains("column gas_price: 31 bytes"), "{problem}");
        }
        other => panic!("expected a corrupt row, got {other:?}"),
    }
    // The CHECK constraint keeps statuses to the four.
    let bad = sqlx::query("UPDATE pool_transactions SET status = 'queued' WHERE hash = $1")
        .bind(b1.hash.as_slice())
        .execute(db.pool())
        .await;
    assert!(bad.is_err());
}

async fn pool_batch_insert_is_all_or_nothing(t: &TestDb) {
    let db = &t.db;
    let a0 = pool_row(1, 0xa0, 0, U256::from(5u8));
    db.insert_pool_tx(&a0).await.unwrap();

    // In order: a row, its replacement, then a new row for another sender.
    let a0r = pool_row(2, 0xa0, 0, U256::from(6u8));
    let a0rr = pool_row(3, 0xa0, 0, U256::from(7u8));
    let c0 = pool_row(4, 0xc0, 0, U256::from(1u8));
    let replaced = db
        .insert_pool_txs(&[
            (a0r.clone(), PoolInsert::Replace),
            (a0rr.clone(), PoolInsert::Replace),
            (c0.clone(), PoolInsert::New),
        ])
        .await
        .unwrap();
    assert_eq!(replaced, vec![Some(a0.hash), Some(a0r.hash), None]);
    assert_eq!(
        db.pending_pool_txs().await.unwrap(),
        vec![a0rr.clone(), c0.clone()]
    );

    // A batch with one refused row stores none of it, and the database is still usable.
    let d0 = pool_row(5, 0xd0, 0, U256::from(1u8));
    let c0_dup = pool_row(6, 0xc0, 0, U256::from(2u8));
    for bad in [
        vec![
            (d0.clone(), PoolInsert::New),
            (c0_dup.clone(), PoolInsert::New),
        ],
        vec![
            (d0.clone(), PoolInsert::New),
            (a0rr.clone(), PoolInsert::New),
        ],
        vec![(d0.clone(), PoolInsert::New), (d0.clone(), PoolInsert::New)],
    ] {
        assert!(db.insert_pool_txs(&bad).await.is_err());
        assert_eq!(db.pool_tx_state(d0.hash).await.unwrap(), None);
        assert_eq!(db.count_pending_pool_txs().await.unwrap(), 2);
    }
    // Out of range numbers are refused before anything is written.
    let mut huge = d0.clone();
    huge.nonce = u64::MAX;
    assert!(matches!(
        db.insert_pool_txs(&[(d0.clone(), PoolInsert::New), (huge, PoolInsert::New)])
            .await,
        Err(StorageError::OutOfRange { .. })
    ));
    assert_eq!(db.count_pending_pool_txs().await.unwrap(), 2);
    db.insert_pool_txs(&[(d0.clone(), PoolInsert::New)])
        .await
        .unwrap();
    assert_eq!(db.count_pending_pool_txs().await.unwrap(), 3);
}

async fn write_block_marks_pool_rows_selected(t: &TestDb) {
    let db = &t.db;
    let blocks = three_blocks(db).await;
    let parent = blocks[2].1;
    let b3 = block(
        3,
        parent,
        0,
        vec![tx(20, 0, vec![]), tx(21, 2, vec![]), tx(22, 0, vec![])],
    );
    let [t0, t1, t2] = [0, 1, 2].map(|i| b3.transactions[i].clone());
    // t0 pending, t1 failed earlier, t2 never in the pool (the synchronizer's block); an
    // unrelated pending row of t0's sender, and another sender's.
    db.insert_pool_tx(&pool_row_of(&t0, 0)).await.unwrap();
    db.insert_pool_tx(&pool_row_of(&t1, 0)).await.unwrap();
    assert!(db.fail_pool_tx(t1.hash, "expired", false).await.unwrap());
    let other = pool_row_of(&tx(23, 0, vec![]), 1);
    let other = PoolTxRow {
        sender: t0.sender,
        ..other
    };
    db.insert_pool_tx(&other).await.unwrap();

    // A refused block leaves the pool as it was.
    let mut refused = b3.clone();
    refused.transactions[2].receipt.cumulative_gas_used += 1;
    assert!(db.write_block(&refused).await.is_err());
    assert_eq!(
        db.pool_tx_state(t0.hash).await.unwrap(),
        state(PoolTxStatus::Pending, None)
    );
    assert_eq!(
        db.pool_tx_state(t1.hash).await.unwrap(),
        state(PoolTxStatus::Failed, Some("expired"))
    );

    db.write_block(&b3).await.unwrap();
    assert_eq!(
        db.pool_tx_state(t0.hash).await.unwrap(),
        state(PoolTxStatus::Selected, None)
    );
    assert_eq!(
        db.pool_tx_state(t1.hash).await.unwrap(),
        state(PoolTxStatus::Selected, None)
    );
    assert_eq!(db.pool_tx_state(t2.hash).await.unwrap(), None);
    assert_eq!(
        db.pool_tx_state(other.hash).await.unwrap(),
        state(PoolTxStatus::Pending, None)
    );
    assert_eq!(db.pending_pool_txs().await.unwrap(), vec![other]);

    // A selected row is neither revived nor failed.
    assert!(matches!(
        db.insert_pool_tx(&pool_row_of(&t0, 0)).await,
        Err(StorageError::PoolTxExists(hash)) if hash == t0.hash
    ));
    assert!(!db.fail_pool_tx(t0.hash, "late", true).await.unwrap());
    assert_eq!(
        db.pool_tx_state(t0.hash).await.unwrap(),
        state(PoolTxStatus::Selected, None)
    );
}
