//! The scheduler in-process, on states an earlier run can leave behind: a final proof stored
//! but not settled (the process stopped between the two) is settled on start, not made again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use zknode_aggregator::db::{Db, ProofKind};
use zknode_aggregator::farm::Registry;
use zknode_aggregator::scheduler::{Scheduler, SchedulerConfig, AGGREGATOR_ID};
use zknode_aggregator::settle::Recording;
use zknode_prover::batch::{prove_witness, Committer};
use zknode_prover::recursion::{self, Circuits};
use zknode_witness::random_batches;

fn circuits() -> Circuits {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("circuits");
    recursion::load_or_build(Some(&dir), &mut |_| {}).expect("circuits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_proof_stored_by_an_earlier_run_is_settled_on_start() {
    let address = [7u8; 20];
    let c = tokio::task::spawn_blocking(circuits).await.unwrap();
    let w = random_batches(&[3], 11).remove(0);
    let (c, wrap, fin) = tokio::task::spawn_blocking({
        let w = w.clone();
        move || {
            let (proof, _) = prove_witness(&w, Committer::Plonky2).expect("prove");
            let wrap = c.wrap(&proof, [0; 4]).expect("wrap");
            let fin = c.finalize(&wrap, address).expect("final");
            (c, wrap.to_bytes(), fin.to_bytes())
        }
    })
    .await
    .unwrap();

    // What the earlier run left: batch 1 proved and its final proof stored, not settled.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("a.db")))
        .await
        .unwrap();
    db.insert_batch(1, &w).await.unwrap();
    let now = SystemTime::now();
    db.lock_next_unproven_batch("p", now)
        .await
        .unwrap()
        .unwrap();
    let wrap_id = db
        .store_proof(1, 1, ProofKind::Batch, &wrap, "p")
        .await
        .unwrap();
    db.lock_final(wrap_id, AGGREGATOR_ID, now)
        .await
        .unwrap()
        .unwrap();
    let final_id = db
        .store_proof(1, 1, ProofKind::Final, &fin, AGGREGATOR_ID)
        .await
        .unwrap();

    let settlement = Arc::new(Recording::new(None));
    let scheduler = Scheduler::new(
        db.clone(),
        Registry::new(),
        Arc::new(c),
        settlement.clone(),
        SchedulerConfig {
            aggregator_address: address,
            tick: Duration::from_millis(50),
            ..SchedulerConfig::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(scheduler.run(async {
        let _ = stopped.await;
    }));
    let t = Instant::now();
    while db.last_verified_batch().await.unwrap() < 1 {
        assert!(t.elapsed() < Duration::from_secs(60), "not settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    run.await.unwrap().unwrap();

    let settled = settlement.settled();
    assert_eq!(settled.len(), 1);
    assert_eq!(
        settled[0].1, fin,
        "the stored proof is settled, not a new one"
    );
    assert_eq!(settled[0].0.range.last_batch, 1);
    assert_eq!(settled[0].0.aggregator, address);
    let finals: Vec<_> = db
        .proofs()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.kind == ProofKind::Final)
        .collect();
    assert!(finals.iter().all(|p| p.id == final_id), "{finals:?}");
}
