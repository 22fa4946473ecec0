//! The synchronizer's halt (L1 disagrees with a batch of this node) stops the sequencer before
//! it stores another block, with an error that says why.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use zknode_pool::{Pool, PoolConfig};
use zknode_sequencer::{
    init_genesis, ChainSpec, Sequencer, SequencerConfig, SequencerError, SequencerMetrics,
};
use zknode_state::RocksStore;
use zknode_storage::{BlockReader, StateDb, SyncHalt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_halt_stops_the_sequencer() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::connect(&zknode_storage::sqlite_url(
        &dir.path().join("state.sqlite"),
    ))
    .await
    .unwrap();
    let store = Arc::new(RocksStore::open(&dir.path().join("tree")).unwrap());
    let spec = ChainSpec {
        chain_id: 1001,
        coinbase: Address::repeat_byte(0xcb),
    };
    init_genesis(&db, &store, &[], &spec, 1).await.unwrap();
    db.set_sync_halt(&SyncHalt {
        batch_number: 1,
        l1_block: 9,
        reason: "batch 1 differs from L1 (test)".into(),
    })
    .await
    .unwrap();
    let pool = Arc::new(Pool::empty(db.clone(), PoolConfig::default()));
    let config = SequencerConfig {
        empty_block_interval_ms: 10,
        block_time_ms: 10,
        ..SequencerConfig::default()
    };
    let handle = Sequencer {
        config,
        spec,
        db: db.clone(),
        store,
        pool,
        metrics: Arc::new(SequencerMetrics::default()),
    }
    .spawn(tokio::runtime::Handle::current());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle.is_finished() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e = tokio::task::spawn_blocking(move || handle.stop())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, SequencerError::Halted(_)), "{e}");
    assert!(e.to_string().contains("batch 1 differs from L1"), "{e}");
    // Nothing past genesis was stored.
    assert_eq!(db.latest_block_number().await.unwrap(), Some(0));
}
