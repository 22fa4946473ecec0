//! The job database, every scenario on SQLite (a file in a temporary directory) and on a
//! throwaway PostgreSQL cluster (skipped with a printed reason where PostgreSQL is not
//! installed; `ZKNODE_REQUIRE_POSTGRES=1` makes that a failure).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zknode_aggregator::db::{Backend, Db, DbError, ProofInfo, ProofKind};
use zknode_witness::{random_witness, BatchWitness};

use zknode_sqldb::harness::TestLocation;

/// A database for one test, deleted (or its cluster stopped) on drop.
struct TestDb {
    db: Db,
    /// Keeps the database (and its URL) alive.
    at: TestLocation,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        // A directory that does not exist yet: connect creates it and the file.
        let at = TestLocation::sqlite("data/jobs.db");
        let db = Db::connect(&at.url).await.unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        TestDb { db, at }
    }

    async fn postgres() -> Option<TestDb> {
        let at = TestLocation::postgres().await?;
        let db = Db::connect(&at.url).await.unwrap();
        assert_eq!(db.backend(), Backend::Postgres);
        Some(TestDb { db, at })
    }

    /// A second handle on the same database, with its own connections (as a second process).
    async fn reconnect(&self) -> Db {
        Db::connect(&self.at.url).await.unwrap()
    }
}

use zknode_sqldb::on_both;

on_both!(
    lock_order,
    concurrent_lockers_never_share_a_batch,
    stored_proof_stops_a_batch_from_being_picked,
    release_requeues_and_counts_attempts,
    stuck_locks_are_cleaned,
    adjacent_proofs_pair_and_are_replaced,
    failed_aggregation_gives_the_pair_back,
    longest_contiguous_range,
    final_proof_and_verified_bookkeeping,
    reopened_database_keeps_every_stored_proof,
    corrupt_witness_row_is_a_clear_error,
    corrupt_proof_row_is_an_error_not_a_panic,
);

/// A time `s` seconds into the test.
fn t(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
}

/// A small valid witness of batch `n`.
fn witness(n: u64) -> BatchWitness {
    let mut w = random_witness(3, n);
    w.chain.batch_number = n;
    w
}

async fn insert_batches(db: &Db, batches: impl IntoIterator<Item = u64>) {
    for n in batches {
        db.insert_batch(n, &witness(n)).await.unwrap();
    }
}

fn proof_bytes(tag: &str) -> Vec<u8> {
    format!("proof of {tag}").into_bytes()
}

/// Locks and stores the batch proofs of the next `count` batches, in order.
async fn prove_batches(db: &Db, count: usize) -> Vec<u64> {
    let mut done = Vec::new();
    for _ in 0..count {
        let job = db
            .lock_next_unproven_batch("prover-a", t(1))
            .await
            .unwrap()
            .expect("a batch to prove");
        db.store_proof(
            job.batch,
            job.batch,
            ProofKind::Batch,
            &proof_bytes(&job.batch.to_string()),
            "prover-a",
        )
        .await
        .unwrap();
        done.push(job.batch);
    }
    done
}

/// `(first, last, kind, stored, locked)` of every row.
async fn rows(db: &Db) -> Vec<(u64, u64, ProofKind, bool, bool)> {
    db.proofs()
        .await
        .unwrap()
        .iter()
        .map(|p: &ProofInfo| (p.first, p.last, p.kind, p.is_stored(), p.is_locked()))
        .collect()
}

use ProofKind::{Aggregate, Batch, Final};

async fn lock_order(t_: &TestDb) {
    let db = &t_.db;
    assert!(db
        .lock_next_unproven_batch("p", t(0))
        .await
        .unwrap()
        .is_none());
    insert_batches(db, [3, 1, 5, 2, 4]).await;
    assert_eq!(db.batch_numbers().await.unwrap(), vec![1, 2, 3, 4, 5]);
    for n in 1..=5 {
        let job = db
            .lock_next_unproven_batch("p", t(n))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.batch, n);
        assert_eq!(job.attempts, 1);
        assert_eq!(job.witness, witness(n));
        let info = db
            .proofs()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.id == job.proof_id)
            .unwrap();
        assert_eq!((info.first, info.last, info.kind), (n, n, Batch));
        assert_eq!(info.locked_at, Some(t(n)));
        assert_eq!(info.prover_id.as_deref(), Some("p"));
        assert!(!info.is_stored());
    }
    // Every batch is locked: nothing more to hand out.
    assert!(db
        .lock_next_unproven_batch("p", t(9))
        .await
        .unwrap()
        .is_none());
    // A batch that arrives later is handed out next.
    insert_batches(db, [6]).await;
    assert_eq!(
        db.lock_next_unproven_batch("p", t(9))
            .await
            .unwrap()
            .unwrap()
            .batch,
        6
    );
}

async fn concurrent_lockers_never_share_a_batch(t_: &TestDb) {
    const BATCHES: u64 = 24;
    insert_batches(&t_.db, 1..=BATCHES).await;
    // Two handles with their own pools (two aggregator processes), two tasks on each.
    let other = t_.reconnect().await;
    let mut tasks = Vec::new();
    for (i, db) in [t_.db.clone(), t_.db.clone(), other.clone(), other.clone()]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            let prover = format!("prover-{i}");
            let mut got = Vec::new();
            while let Some(job) = db.lock_next_unproven_batch(&prover, t(1)).await.unwrap() {
                got.push(job.batch);
                tokio::task::yield_now().await;
            }
            got
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let got = task.await.unwrap();
        // Each locker sees batches in increasing order.
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        all.extend(got);
    }
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        unique.len(),
        "a batch was handed out twice: {all:?}"
    );
    assert_eq!(unique, (1..=BATCHES).collect());
    let proofs = t_.db.proofs().await.unwrap();
    assert_eq!(proofs.len() as u64, BATCHES);
    assert!(proofs.iter().all(|p| p.attempts == 1 && p.is_locked()));
    other.close().await;
}

async fn stored_proof_stops_a_batch_from_being_picked(t_: &TestDb) {
    let db = &t_.db;
    insert_batches(db, 1..=3).await;
    let job = db
        .lock_next_unproven_batch("a", t(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.batch, 1);
    let id = db
        .store_proof(1, 1, Batch, b"batch one", "a")
        .await
        .unwrap();
    assert_eq!(id, job.proof_id);
    // Stored: not locked, not picked again.
    assert_eq!(rows(db).await, vec![(1, 1, Batch, true, false)]);
    let stored = db.stored_proof(id).await.unwrap().unwrap();
    assert_eq!(stored.bytes, b"batch one");
    assert_eq!(stored.info.proof_len, Some(9));
    // Even once its lock is released, batch 2's stored proof keeps it from being picked.
    assert_eq!(
        db.lock_next_unproven_batch("a", t(1))
            .await
            .unwrap()
            .unwrap()
            .batch,
        2
    );
    assert!(db.release_lock(2, 2, Batch, "a").await.unwrap());
    assert_eq!(
        db.lock_next_unproven_batch("b", t(2))
            .await
            .unwrap()
            .unwrap()
            .batch,
        2
    );
    db.store_proof(2, 2, Batch, b"batch two", "b")
        .await
        .unwrap();
    assert_eq!(
        db.lock_next_unproven_batch("a", t(3))
            .await
            .unwrap()
            .unwrap()
            .batch,
        3
    );
    db.store_proof(3, 3, Batch, b"batch three", "a")
        .await
        .unwrap();
    assert!(db
        .lock_next_unproven_batch("a", t(4))
        .await
        .unwrap()
        .is_none());

    // What store_proof refuses, and that it changes nothing then.
    let before = db.proofs().await.unwrap();
    assert!(matches!(
        db.store_proof(1, 1, Batch, b"again", "c").await,
        Err(DbError::AlreadyStored { id: i, .. }) if i == id
    ));
    assert!(matches!(
        db.store_proof(7, 7, Batch, b"x", "c").await,
        Err(DbError::NoJob {
            first: 7,
            last: 7,
            ..
        })
    ));
    assert!(matches!(
        db.store_proof(1, 1, Batch, b"", "c").await,
        Err(DbError::EmptyProof { .. })
    ));
    assert!(matches!(
        db.store_proof(1, 2, Batch, b"x", "c").await,
        Err(DbError::BadRange { .. })
    ));
    assert!(matches!(
        db.store_proof(2, 1, Aggregate, b"x", "c").await,
        Err(DbError::BadRange { .. })
    ));
    assert!(matches!(
        db.store_proof(u64::MAX, u64::MAX, Batch, b"x", "c").await,
        Err(DbError::OutOfRange(_))
    ));
    assert_eq!(db.proofs().await.unwrap(), before);
    assert_eq!(
        db.stored_proof(id).await.unwrap().unwrap().bytes,
        b"batch one"
    );
}

async fn release_requeues_and_counts_attempts(t_: &TestDb) {
    let db = &t_.db;
    insert_batches(db, 1..=2).await;
    let job = db
        .lock_next_unproven_batch("a", t(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.batch, job.attempts), (1, 1));
    // Only the holder releases.
    assert!(!db.release_lock(1, 1, Batch, "b").await.unwrap());
    assert!(db.release_lock(1, 1, Batch, "a").await.unwrap());
    assert!(!db.release_lock(1, 1, Batch, "a").await.unwrap());
    assert_eq!(rows(db).await, vec![(1, 1, Batch, false, false)]);
    // Queued again, the lowest batch, one more attempt.
    let again = db
        .lock_next_unproven_batch("b", t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.batch, again.attempts, again.proof_id),
        (1, 2, job.proof_id)
    );
    assert!(db.release_lock(1, 1, Batch, "b").await.unwrap());
    let third = db
        .lock_next_unproven_batch("c", t(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((third.batch, third.attempts), (1, 3));
    // A late result from an earlier holder is still a proof: it completes the job.
    db.store_proof(1, 1, Batch, b"late", "a").await.unwrap();
    assert!(!db.release_lock(1, 1, Batch, "c").await.unwrap());
    let info = &db.proofs().await.unwrap()[0];
    assert_eq!((info.attempts, info.prover_id.as_deref()), (3, Some("a")));
    assert!(info.is_stored() && !info.is_locked());
    assert_eq!(
        db.lock_next_unproven_batch("c", t(3))
            .await
            .unwrap()
            .unwrap()
            .batch,
        2
    );
}

async fn stuck_locks_are_cleaned(t_: &TestDb) {
    let db = &t_.db;
    insert_batches(db, 1..=5).await;
    prove_batches(db, 2).await;
    // An aggregation of 1 and 2 started at 10 s, batch 3 at 20 s, batch 4 at 100 s.
    let agg = db
        .lock_next_aggregation_pair("agg", t(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((agg.first, agg.last), (1, 2));
    assert_eq!(
        db.lock_next_unproven_batch("a", t(20))
            .await
            .unwrap()
            .unwrap()
            .batch,
        3
    );
    assert_eq!(
        db.lock_next_unproven_batch("b", t(100))
            .await
            .unwrap()
            .unwrap()
            .batch,
        4
    );

    // Nothing is older than 5 s.
    assert!(db.clean_stuck_locks(t(5)).await.unwrap().is_empty());
    let report = db.clean_stuck_locks(t(50)).await.unwrap();
    assert_eq!(report.requeued_batches, 1);
    assert_eq!(report.removed_jobs, 1);
    assert_eq!(report.unlocked_proofs, 2);
    assert_eq!(
        rows(db).await,
        vec![
            (1, 1, Batch, true, false),
            (2, 2, Batch, true, false),
            (3, 3, Batch, false, false),
            (4, 4, Batch, false, true),
        ]
    );
    // The aggregation finishing after its job was cleaned up is refused, and changes nothing.
    assert!(matches!(
        db.store_proof(1, 2, Aggregate, b"late", "agg").await,
        Err(DbError::NoJob { .. })
    ));
    // Batch 3 is queued again (second attempt), before batch 5.
    let job = db
        .lock_next_unproven_batch("c", t(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.batch, job.attempts), (3, 2));
    assert_eq!(
        db.lock_next_unproven_batch("c", t(60))
            .await
            .unwrap()
            .unwrap()
            .batch,
        5
    );
    // The pair is free again.
    let again = db
        .lock_next_aggregation_pair("agg", t(61))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.first, again.last), (1, 2));
    // At start-up every lock is stuck.
    let report = db.clean_stuck_locks(t(1000)).await.unwrap();
    assert_eq!(report.requeued_batches, 3);
    assert_eq!(report.removed_jobs, 1);
    assert_eq!(report.unlocked_proofs, 2);
    assert!(db.proofs().await.unwrap().iter().all(|p| !p.is_locked()));
}

async fn adjacent_proofs_pair_and_are_replaced(t_: &TestDb) {
    let db = &t_.db;
    insert_batches(db, 1..=5).await;
    assert!(db
        .lock_next_aggregation_pair("agg", t(0))
        .await
        .unwrap()
        .is_none());
    prove_batches(db, 1).await;
    // One proof has no partner.
    assert!(db
        .lock_next_aggregation_pair("agg", t(0))
        .await
        .unwrap()
        .is_none());
    prove_batches(db, 3).await;

    let a = db
        .lock_next_aggregation_pair("agg", t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.first, a.last), (1, 2));
    assert_eq!((a.left.info.first, a.left.info.last), (1, 1));
    assert_eq!((a.right.info.first, a.right.info.last), (2, 2));
    assert_eq!(a.left.bytes, proof_bytes("1"));
    assert_eq!(a.right.bytes, proof_bytes("2"));
    let b = db
        .lock_next_aggregation_pair("agg", t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.first, b.last), (3, 4));
    // 2 and 3 are adjacent, but locked.
    assert!(db
        .lock_next_aggregation_pair("agg", t(1))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        rows(db).await,
        vec![
            (1, 1, Batch, true, true),
            (1, 2, Aggregate, false, true),
            (2, 2, Batch, true, true),
            (3, 3, Batch, true, true),
            (3, 4, Aggregate, false, true),
            (4, 4, Batch, true, true),
        ]
    );
    // Locked and aggregated batches are not handed out; batch 5 is.
    assert_eq!(
        db.lock_next_unproven_batch("p", t(2))
            .await
            .unwrap()
            .unwrap()
            .batch,
        5
    );

    // The combined proof replaces its children.
    let id12 = db
        .store_proof(1, 2, Aggregate, b"agg 1-2", "agg")
        .await
        .unwrap();
    assert_eq!(id12, a.proof_id);
    db.store_proof(3, 4, Aggregate, b"agg 3-4", "agg")
        .await
        .unwrap();
    assert_eq!(
        rows(db).await,
        vec![
            (1, 2, Aggregate, true, false),
            (3, 4, Aggregate, true, false),
            (5, 5, Batch, false, true),
        ]
    );
    // Aggregates pair like batch proofs, one circuit for every level.
    let c = db
        .lock_next_aggregation_pair("agg", t(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.first, c.last), (1, 4));
    assert_eq!(c.left.bytes, b"agg 1-2");
    assert_eq!(c.right.bytes, b"agg 3-4");
    db.store_proof(1, 4, Aggregate, b"agg 1-4", "agg")
        .await
        .unwrap();
    db.store_proof(5, 5, Batch, b"batch 5", "p").await.unwrap();
    let d = db
        .lock_next_aggregation_pair("agg", t(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.first, d.last), (1, 5));
    db.store_proof(1, 5, Aggregate, b"agg 1-5", "agg")
        .await
        .unwrap();
    assert_eq!(rows(db).await, vec![(1, 5, Aggregate, true, false)]);
    // Nothing is unproven, nothing pairs.
    assert!(db
        .lock_next_unproven_batch("p", t(5))
        .await
        .unwrap()
        .is_none());
    assert!(db
        .lock_next_aggregation_pair("agg", t(5))
        .await
        .unwrap()
        .is_none());
}

async fn failed_aggregation_gives_the_pair_back(t_: &TestDb) {
    let db = &t_.db;
    insert_batches(db, [1, 2, 4]).await;
    prove_batches(db, 3).await;
    // 2 and 4 are not adjacent: only 1 and 2 pair.
    let a = db
        .lock_next_aggregation_pair("agg", t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.first, a.last), (1, 2));
    assert!(db
        .lock_next_aggregation_pair("agg", t(1))
        .await
        .unwrap()
        .is_none());
    assert!(!db
        .release_lock(1, 2, Aggregate, "someone else")
        .await
        .unwrap());
    assert!(db.release_lock(1, 2, Aggregate, "agg").await.unwrap());
    assert_eq!(
        rows(db).await,
        vec![
            (1, 1, Batch, true, false),
            (2, 2, Batch, true, false),
            (4, 4, Batch, true, false),
        ]
    );
    let again = db
        .lock_next_aggregation_pair("agg", t(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.first, again.last), (1, 2));
    // A result for the released job is refused.
    assert!(db.release_lock(1, 2, Aggregate, "agg").await.unwrap());
    assert!(matches!(
        db.store_proof(1, 2, Aggregate, b"late", "agg").await,
        Err(DbError::NoJob { .. })
    ));
    assert_eq!(db.proofs().await.unwrap().len(), 3);
}

async fn longest_contiguous_range(t_: &TestDb) {
    let db = &t_.db;
    assert!(db.longest_contiguous_from(1).await.unwrap().is_none());
    insert_batches(db, 1..=6).await;
    prove_batches(db, 3).await;
    let first = db.longest_contiguous_from(1).await.unwrap().unwrap();
    assert_eq!((first.first, first.last, first.kind), (1, 1, Batch));
    db.lock_next_aggregation_pair("agg", t(1))
        .await
        .unwrap()
        .unwrap();
    // Locked for aggregation: not a candidate.
    assert!(db.longest_contiguous_from(1).await.unwrap().is_none());
    db.store_proof(1, 2, Aggregate, b"1-2", "agg")
        .await
        .unwrap();
    let p = db.longest_contiguous_from(1).await.unwrap().unwrap();
    assert_eq!((p.first, p.last, p.kind), (1, 2, Aggregate));
    let j = db
        .lock_next_aggregation_pair("agg", t(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((j.first, j.last), (1, 3));
    db.store_proof(1, 3, Aggregate, b"1-3", "agg")
        .await
        .unwrap();
    // Batches 4..6 proved apart from 1..3 do not start at 1.
    prove_batches(db, 3).await;
    let p = db.longest_contiguous_from(1).await.unwrap().unwrap();
    assert_eq!((p.first, p.last), (1, 3));
    assert_eq!(
        db.longest_contiguous_from(4).await.unwrap().unwrap().last,
        4
    );
    assert!(db.longest_contiguous_from(2).await.unwrap().is_none());
}

async fn final_proof_and_verified_bookkeeping(t_: &TestDb) {
    let db = &t_.db;
    assert_eq!(db.last_verified_batch().await.unwrap(), 0);
    assert!(db.last_verified().await.unwrap().is_none());
    insert_batches(db, 1..=6).await;
    prove_batches(db, 5).await;
    for _ in 0..2 {
        let j = db
            .lock_next_aggregation_pair("agg", t(1))
            .await
            .unwrap()
            .unwrap();
        db.store_proof(j.first, j.last, Aggregate, b"agg", "agg")
            .await
            .unwrap();
    }
    let j = db
        .lock_next_aggregation_pair("agg", t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((j.first, j.last), (1, 4));
    db.store_proof(1, 4, Aggregate, b"agg 1-4", "agg")
        .await
        .unwrap();
    let source = db.longest_contiguous_from(1).await.unwrap().unwrap();
    assert_eq!((source.first, source.last), (1, 4));

    // A proof that does not start after the last verified batch cannot be made final.
    let five = db.longest_contiguous_from(5).await.unwrap().unwrap();
    assert!(db.lock_final(five.id, "fin", t(2)).await.unwrap().is_none());

    // A failed final proof gives its source back.
    let fj = db
        .lock_final(source.id, "fin", t(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (fj.first, fj.last, fj.source.bytes.as_slice()),
        (1, 4, &b"agg 1-4"[..])
    );
    assert!(db
        .lock_final(source.id, "fin", t(2))
        .await
        .unwrap()
        .is_none());
    assert!(db.longest_contiguous_from(1).await.unwrap().is_none());
    // Locked for the final proof: not aggregated with batch 5.
    assert!(db
        .lock_next_aggregation_pair("agg", t(2))
        .await
        .unwrap()
        .is_none());
    assert!(db.release_lock(1, 4, Final, "fin").await.unwrap());
    assert_eq!(
        rows(db).await,
        vec![(1, 4, Aggregate, true, false), (5, 5, Batch, true, false)]
    );

    let fj = db
        .lock_final(source.id, "fin", t(3))
        .await
        .unwrap()
        .unwrap();
    // A final proof that is not stored yet cannot be settled.
    assert!(matches!(
        db.record_verified(4, fj.proof_id, None, t(4)).await,
        Err(DbError::Settlement { .. })
    ));
    let final_id = db
        .store_proof(1, 4, Final, b"final 1-4", "fin")
        .await
        .unwrap();
    assert_eq!(final_id, fj.proof_id);
    // The source stays locked until the settlement is recorded.
    assert_eq!(
        rows(db).await,
        vec![
            (1, 4, Aggregate, true, true),
            (1, 4, Final, true, false),
            (5, 5, Batch, true, false),
        ]
    );
    assert_eq!(
        db.final_proof(1, 4).await.unwrap().unwrap().bytes,
        b"final 1-4"
    );
    assert!(db.final_proof(1, 5).await.unwrap().is_none());

    // Settlements that do not fit are refused and change nothing.
    for (last, id) in [(4, source.id), (3, final_id), (5, final_id), (4, 9999)] {
        assert!(
            matches!(
                db.record_verified(last, id, None, t(4)).await,
                Err(DbError::Settlement { .. })
            ),
            "record_verified({last}, {id}) was accepted"
        );
    }
    assert_eq!(db.last_verified_batch().await.unwrap(), 0);

    let v = db
        .record_verified(4, final_id, Some("0xfeed"), t(5))
        .await
        .unwrap();
    assert_eq!(
        (v.first_batch, v.last_batch, v.final_proof_id),
        (1, 4, final_id)
    );
    assert_eq!(db.last_verified_batch().await.unwrap(), 4);
    assert_eq!(db.last_verified().await.unwrap().unwrap(), v);
    assert_eq!(v.tx_hash.as_deref(), Some("0xfeed"));
    assert_eq!(v.recorded_at, t(5));
    // The settled proofs are gone; the final proof stays as the record.
    assert_eq!(
        rows(db).await,
        vec![(1, 4, Final, true, false), (5, 5, Batch, true, false)]
    );
    // The same settlement again is refused.
    assert!(matches!(
        db.record_verified(4, final_id, None, t(6)).await,
        Err(DbError::Settlement { .. })
    ));
    // Work goes on above the verified batch: batch 6, then 5+6, then the final of 5..6.
    assert_eq!(
        db.lock_next_unproven_batch("p", t(6))
            .await
            .unwrap()
            .unwrap()
            .batch,
        6
    );
    db.store_proof(6, 6, Batch, b"six", "p").await.unwrap();
    let j = db
        .lock_next_aggregation_pair("agg", t(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((j.first, j.last), (5, 6));
    db.store_proof(5, 6, Aggregate, b"agg 5-6", "agg")
        .await
        .unwrap();
    let src = db.longest_contiguous_from(5).await.unwrap().unwrap();
    let fj = db.lock_final(src.id, "fin", t(8)).await.unwrap().unwrap();
    db.store_proof(5, 6, Final, b"final 5-6", "fin")
        .await
        .unwrap();
    db.record_verified(6, fj.proof_id, None, t(9))
        .await
        .unwrap();
    assert_eq!(db.last_verified_batch().await.unwrap(), 6);
    let s = db.settlements().await.unwrap();
    assert_eq!(
        s.iter()
            .map(|v| (v.first_batch, v.last_batch))
            .collect::<Vec<_>>(),
        [(1, 4), (5, 6)]
    );
    // A batch at or below the verified one is never handed out.
    assert!(db
        .lock_next_unproven_batch("p", t(10))
        .await
        .unwrap()
        .is_none());
}

async fn reopened_database_keeps_every_stored_proof(t_: &TestDb) {
    insert_batches(&t_.db, 1..=5).await;
    prove_batches(&t_.db, 4).await;
    let j = t_
        .db
        .lock_next_aggregation_pair("agg", t(1))
        .await
        .unwrap()
        .unwrap();
    t_.db
        .store_proof(j.first, j.last, Aggregate, b"agg 1-2", "agg")
        .await
        .unwrap();
    // In flight when the process dies: an aggregation and batch 5.
    t_.db
        .lock_next_aggregation_pair("agg", t(2))
        .await
        .unwrap()
        .unwrap();
    t_.db
        .lock_next_unproven_batch("p", t(2))
        .await
        .unwrap()
        .unwrap();
    let before = t_.db.proofs().await.unwrap();
    let mut bytes = Vec::new();
    for p in &before {
        bytes.push(t_.db.stored_proof(p.id).await.unwrap().map(|s| s.bytes));
    }
    t_.db.close().await;

    let db = t_.reconnect().await;
    assert_eq!(db.proofs().await.unwrap(), before);
    for (p, b) in before.iter().zip(&bytes) {
        assert_eq!(&db.stored_proof(p.id).await.unwrap().map(|s| s.bytes), b);
    }
    assert_eq!(db.batch_witness(3).await.unwrap().unwrap(), witness(3));
    // Start-up clears the dead process's locks; every stored proof stays.
    let report = db.clean_stuck_locks(t(100)).await.unwrap();
    assert_eq!(
        (
            report.requeued_batches,
            report.removed_jobs,
            report.unlocked_proofs
        ),
        (1, 1, 2)
    );
    assert_eq!(
        rows(&db).await,
        vec![
            (1, 2, Aggregate, true, false),
            (3, 3, Batch, true, false),
            (4, 4, Batch, true, false),
            (5, 5, Batch, false, false),
        ]
    );
    // Ids go on from where they were.
    let max_id = before.iter().map(|p| p.id).max().unwrap();
    let job = db
        .lock_next_aggregation_pair("agg", t(101))
        .await
        .unwrap()
        .unwrap();
    assert!(job.proof_id > max_id);
    db.close().await;
}

async fn corrupt_witness_row_is_a_clear_error(t_: &TestDb) {
    let db = &t_.db;
    insert_batches(db, [1, 3]).await;
    sqlx::query("INSERT INTO batches (batch_number, witness, created_at) VALUES ($1, $2, $3)")
        .bind(2_i64)
        .bind("{\"version\": 1, \"oldStateRoot\": ")
        .bind(0_i64)
        .execute(db.pool())
        .await
        .unwrap();
    // Batch 4's row holds batch 3's witness.
    sqlx::query("INSERT INTO batches (batch_number, witness, created_at) VALUES ($1, $2, $3)")
        .bind(4_i64)
        .bind(witness(3).to_json())
        .bind(0_i64)
        .execute(db.pool())
        .await
        .unwrap();

    let err = db.batch_witness(2).await.unwrap_err();
    assert!(
        matches!(err, DbError::CorruptWitness { batch: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("batch 2"), "{err}");
    let err = db.batch_witness(4).await.unwrap_err();
    assert!(
        matches!(err, DbError::WitnessMismatch { batch: 4, found: 3 }),
        "{err:?}"
    );
    assert!(db.batch_witness(9).await.unwrap().is_none());
    assert_eq!(db.batch_witness(1).await.unwrap().unwrap(), witness(1));

    assert_eq!(
        db.lock_next_unproven_batch("p", t(0))
            .await
            .unwrap()
            .unwrap()
            .batch,
        1
    );
    // The corrupt batch is reported, and nothing is locked for it.
    for _ in 0..2 {
        let err = db.lock_next_unproven_batch("p", t(1)).await.unwrap_err();
        assert!(
            matches!(err, DbError::CorruptWitness { batch: 2, .. }),
            "{err:?}"
        );
    }
    assert_eq!(rows(db).await, vec![(1, 1, Batch, false, true)]);

    // insert_batch refuses duplicates and witnesses of other batches.
    assert!(matches!(
        db.insert_batch(1, &witness(1)).await,
        Err(DbError::BatchExists(1))
    ));
    assert!(matches!(
        db.insert_batch(7, &witness(8)).await,
        Err(DbError::WitnessMismatch { batch: 7, found: 8 })
    ));
}

async fn corrupt_proof_row_is_an_error_not_a_panic(t_: &TestDb) {
    let db = &t_.db;
    sqlx::query(
        "INSERT INTO proofs (id, batch_first, batch_last, kind, proof, prover_id, locked_at, \
         attempts, created_at, updated_at) VALUES ($1, $2, $3, 'batch', NULL, NULL, NULL, 0, 0, 0)",
    )
    .bind(500_i64)
    .bind(-3_i64)
    .bind(-3_i64)
    .execute(db.pool())
    .await
    .unwrap();
    let err = db.proofs().await.unwrap_err();
    assert!(
        matches!(
            err,
            DbError::CorruptRow {
                table: "proofs",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("id 500"), "{err}");
    // The schema keeps the kind and the ranges in shape.
    let bad_kind = sqlx::query(
        "INSERT INTO proofs (id, batch_first, batch_last, kind, attempts, created_at, updated_at) \
         VALUES (501, 1, 1, 'wrap', 0, 0, 0)",
    )
    .execute(db.pool())
    .await;
    assert!(bad_kind.is_err());
    let bad_range = sqlx::query(
        "INSERT INTO proofs (id, batch_first, batch_last, kind, attempts, created_at, updated_at) \
         VALUES (502, 1, 2, 'batch', 0, 0, 0)",
    )
    .execute(db.pool())
    .await;
    assert!(bad_range.is_err());
}
