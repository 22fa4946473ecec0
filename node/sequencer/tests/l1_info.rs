//! The sequencer points its next block at the newest synchronized L1 info leaf (index 1 or
//! more, confirmed deep enough), which brings the leaf's global exit root to L2; a restart
//! replays the open batch's blocks with the leaves they used, also when the open batch's stored
//! data lags behind its stored blocks (a crash between the two writes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, B256};
use zknode_pool::{Pool, PoolConfig};
use zknode_sequencer::{
    init_genesis, ChainSpec, Sequencer, SequencerConfig, SequencerHandle, SequencerMetrics,
};
use zknode_state::RocksStore;
use zknode_storage::{
    BlockReader, BlockWriter, L1Block, L1BlockEffects, L1InfoLeafRow, OpenBatchProgress, StateDb,
};

fn leaf(index: u64, l1_block: u64, ger: u8) -> L1InfoLeafRow {
    L1InfoLeafRow {
        index,
        l1_block,
        tx_hash: B256::repeat_byte(0x10 + index as u8),
        global_exit_root: B256::repeat_byte(ger),
        mainnet_exit_root: B256::repeat_byte(ger),
        rollup_exit_root: B256::ZERO,
        parent_hash: B256::repeat_byte(0xa0 + index as u8),
        timestamp: 1,
        leaf: B256::repeat_byte(0xb0 + index as u8),
        root: B256::repeat_byte(0xc0 + index as u8),
    }
}

fn l1_block(number: u64) -> L1Block {
    L1Block {
        number,
        hash: B256::from(alloy_primitives::U256::from(number + 1000)),
        parent_hash: B256::from(alloy_primitives::U256::from(number + 999)),
        timestamp: number,
    }
}

struct Chain {
    db: StateDb,
    store: Arc<RocksStore>,
    spec: ChainSpec,
    _dir: tempfile::TempDir,
}

impl Chain {
    fn start(&self, confirmations: u64) -> SequencerHandle {
        let pool = Arc::new(Pool::empty(self.db.clone(), PoolConfig::default()));
        Sequencer {
            config: SequencerConfig {
                empty_block_interval_ms: 10,
                block_time_ms: 10,
                max_batch_seconds: 3600,
                l1_info_confirmations: confirmations,
                ..SequencerConfig::default()
            },
            spec: self.spec.clone(),
            db: self.db.clone(),
            store: self.store.clone(),
            pool,
            metrics: Arc::new(SequencerMetrics::default()),
        }
        .spawn(tokio::runtime::Handle::current())
    }

    /// Waits (bounded) until block `n` is stored; the sequencer must still run.
    async fn wait_block(&self, n: u64, handle: &SequencerHandle) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.db.latest_block_number().await.unwrap() < Some(n) {
            assert!(!handle.is_finished(), "the sequencer stopped");
            assert!(Instant::now() < deadline, "block {n} was not stored");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn ger(&self, n: u64) -> B256 {
        self.db
            .block_by_number(n)
            .await
            .unwrap()
            .unwrap()
            .global_exit_root
    }
}

async fn stop(handle: SequencerHandle) {
    tokio::task::spawn_blocking(move || handle.stop())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the sequencer failed: {e}"));
}

async fn chain() -> Chain {
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
    Chain {
        db,
        store,
        spec,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_bring_new_l1_info_leaves_and_replay_them() {
    let c = chain().await;
    // Leaves 0 and 1 in L1 block 5; the synchronizer's head is block 10.
    c.db.apply_l1_block(&L1BlockEffects {
        block: l1_block(5),
        leaves: vec![leaf(0, 5, 0x01), leaf(1, 5, 0x02)],
        ..Default::default()
    })
    .await
    .unwrap();
    c.db.apply_l1_block(&L1BlockEffects {
        block: l1_block(10),
        ..Default::default()
    })
    .await
    .unwrap();

    // Six confirmations are wanted, five are there: no leaf is used.
    let h = c.start(6);
    c.wait_block(2, &h).await;
    stop(h).await;
    let before = c.db.latest_block_number().await.unwrap().unwrap();
    for n in 1..=before {
        assert_eq!(c.ger(n).await, B256::ZERO, "block {n}");
    }

    // With five, leaf 1 (not leaf 0: index 0 means "none") goes into the next block, once.
    let h = c.start(5);
    c.wait_block(before + 3, &h).await;
    stop(h).await;
    let first = c.db.latest_block_number().await.unwrap().unwrap();
    let mut gers = Vec::new();
    for n in before + 1..=first {
        gers.push(c.ger(n).await);
    }
    assert_eq!(gers[0], B256::repeat_byte(0x02), "{gers:?}");
    assert!(gers[1..].iter().all(|g| g.is_zero()), "{gers:?}");

    // A restart replays the open batch (every block so far is in batch 1) with leaf 1 in its
    // block, then goes on; a leaf added meanwhile goes into the next new block.
    let batch = c.db.batch(1).await.unwrap().unwrap();
    assert_eq!(batch.status, zknode_storage::BatchStatus::Open);
    c.db.apply_l1_block(&L1BlockEffects {
        block: l1_block(11),
        leaves: vec![leaf(2, 11, 0x03)],
        ..Default::default()
    })
    .await
    .unwrap();
    let h = c.start(0);
    c.wait_block(first + 2, &h).await;
    stop(h).await;
    assert_eq!(c.ger(first + 1).await, B256::repeat_byte(0x03));

    // The open batch's stored data lags behind its blocks (as after a crash between storing a
    // block and updating the batch): the replay finds each block's leaf by its global exit root.
    let batch = c.db.batch(1).await.unwrap().unwrap();
    c.db.update_open_batch(&OpenBatchProgress {
        number: 1,
        state_root: batch.state_root,
        local_exit_root: batch.local_exit_root,
        l2_data: Bytes::new(),
        resources: batch.resources.clone(),
    })
    .await
    .unwrap();
    let last = c.db.latest_block_number().await.unwrap().unwrap();
    let h = c.start(0);
    c.wait_block(last + 2, &h).await;
    stop(h).await;
}
