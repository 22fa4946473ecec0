//! The sequence sender against anvil, closed batches written into a state database (SQLite and
//! PostgreSQL) through the storage API: sequences within the batch limit, each checked on L1
//! (lastBatchSequenced, the SequenceBatches events, the stored accInputHash), a restart
//! mid-way that sends nothing twice, and the errors that stop it. Rounds are driven by hand.

use std::sync::Arc;

use crate::common::*;
use crate::txman::TestDb;
use alloy::primitives::{Bytes, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use zknode_executor::{encode_batch, BatchEntry, ChangeL2Block};
use zknode_l1::testing::{dev_address, dev_signer};
use zknode_l1::{
    L1BlockTag, Progress, SenderError, SequenceSender, SequenceSenderConfig, TxManager,
    TxManagerConfig, ZkEvmRollup,
};
use zknode_storage::{BatchClose, BlockWriter, NewBatch, NewBlock, SequenceStatus, StateDb};

zknode_sqldb::on_both!(
    batches_go_to_l1_in_several_sequences,
    a_restart_mid_way_sends_nothing_twice,
);

mod sqlite_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_stops_or_delays_the_sender() {
        let t = super::TestDb::sqlite().await;
        super::what_stops_or_delays_the_sender(&t).await;
        t.db.close().await;
    }
}

/// Writes genesis (block 0, batch 0) and closed batches `1..=n`, batch `i` holding one block
/// with timestamp `ts` and `data_len(i)` bytes of batch data.
async fn write_batches(db: &StateDb, n: u64, ts: u64, data_len: impl Fn(u64) -> usize) {
    let coinbase = dev_address(SEQUENCER);
    let mut parent = B256::ZERO;
    for number in 0..=n {
        db.open_batch(&NewBatch {
            number,
            coinbase,
            timestamp: ts,
            global_exit_root: B256::ZERO,
            state_root: B256::repeat_byte(1),
            local_exit_root: B256::ZERO,
            forced_batch_number: None,
        })
        .await
        .unwrap();
        parent = db
            .write_block(&NewBlock {
                number,
                parent_hash: parent,
                batch_number: number,
                timestamp: ts,
                coinbase,
                state_root: B256::repeat_byte(1),
                global_exit_root: B256::ZERO,
                block_info_root: B256::ZERO,
                gas_limit: 30_000_000,
                base_fee: 0,
                transactions: Vec::new(),
            })
            .await
            .unwrap();
        // Change-L2-block entries (9 bytes each), the first one's delta the batch number.
        let len = if number == 0 { 0 } else { data_len(number) };
        let entries: Vec<BatchEntry> = (0..len.div_ceil(9))
            .map(|i| {
                BatchEntry::ChangeL2Block(ChangeL2Block {
                    delta_timestamp: if i == 0 { number as u32 } else { 0 },
                    index_l1_info_tree: 0,
                })
            })
            .collect();
        db.close_batch(
            number,
            &BatchClose {
                closing_reason: "test".into(),
                state_root: B256::repeat_byte(1),
                local_exit_root: B256::ZERO,
                acc_input_hash: B256::ZERO,
                l2_data: Bytes::from(encode_batch(&entries)),
            },
        )
        .await
        .unwrap();
    }
}

struct Setup {
    sender: SequenceSender,
    txman: Arc<TxManager>,
}

async fn setup(chain: &Chain, db: &StateDb, max_batches: u64) -> Setup {
    let txman = Arc::new(
        TxManager::new(
            db.clone(),
            chain.provider(SEQUENCER),
            dev_signer(SEQUENCER),
            TxManagerConfig {
                confirmations: 1,
                bump_after_secs: 3600,
                ..TxManagerConfig::default()
            },
        )
        .await
        .unwrap(),
    );
    let sender = SequenceSender {
        db: db.clone(),
        txman: txman.clone(),
        provider: chain.provider(ADMIN),
        rollup: chain.deployment.rollup,
        global_exit_root_manager: chain.deployment.global_exit_root_manager,
        config: SequenceSenderConfig {
            max_batches_per_sequence: max_batches,
            l1_info_block: L1BlockTag::Latest,
            ..SequenceSenderConfig::default()
        },
    };
    Setup { sender, txman }
}

async fn last_sequenced(chain: &Chain) -> u64 {
    chain
        .rollup(ADMIN)
        .lastBatchSequenced()
        .call()
        .await
        .unwrap()
}

/// Rounds of the sender and the manager, a block mined after each, until L1 has sequenced
/// `last`; panics after 100 rounds.
async fn run_until(chain: &Chain, s: &Setup, last: u64) {
    for _ in 0..100 {
        s.sender
            .step()
            .await
            .unwrap_or_else(|e| panic!("step: {e}"));
        s.txman.tick().await.unwrap_or_else(|e| panic!("tick: {e}"));
        if last_sequenced(chain).await >= last {
            // One more round marks the last sequence done.
            s.sender.step().await.unwrap();
            return;
        }
        let _: serde_json::Value = chain
            .provider(ADMIN)
            .raw_request("evm_mine".into(), ())
            .await
            .unwrap();
    }
    panic!("L1 did not reach batch {last}");
}

/// The SequenceBatches events' batch numbers.
async fn sequence_events(chain: &Chain) -> Vec<u64> {
    let filter = Filter::new()
        .address(chain.deployment.rollup)
        .event_signature(ZkEvmRollup::SequenceBatches::SIGNATURE_HASH)
        .from_block(0);
    let logs = chain.provider(ADMIN).get_logs(&filter).await.unwrap();
    logs.iter()
        .map(|l| {
            ZkEvmRollup::SequenceBatches::decode_log_data(l.data())
                .unwrap()
                .numBatch
        })
        .collect()
}

async fn l1_now(chain: &Chain) -> u64 {
    chain.latest().await.timestamp
}

async fn batches_go_to_l1_in_several_sequences(t: &TestDb) {
    let chain = Chain::start().await;
    write_batches(&t.db, 7, l1_now(&chain).await, |i| 9 * i as usize).await;
    let s = setup(&chain, &t.db, 3).await;
    run_until(&chain, &s, 7).await;

    assert_eq!(sequence_events(&chain).await, vec![3, 6, 7]);
    let live = t.db.live_sequences().await.unwrap();
    let ranges: Vec<_> = live
        .iter()
        .map(|q| (q.id.as_str(), q.from_batch, q.to_batch, q.status))
        .collect();
    assert_eq!(
        ranges,
        vec![
            ("sequence-1-3", 1, 3, SequenceStatus::Done),
            ("sequence-4-6", 4, 6, SequenceStatus::Done),
            ("sequence-7-7", 7, 7, SequenceStatus::Done),
        ]
    );
    let rollup = chain.rollup(ADMIN);
    for q in &live {
        let stored = rollup.sequencedBatches(q.to_batch).call().await.unwrap();
        assert_eq!(stored.accInputHash, q.final_acc_input_hash, "{}", q.id);
        assert_eq!(
            q.acc_input_hashes.len() as u64,
            q.to_batch - q.from_batch + 1
        );
        assert_eq!(*q.acc_input_hashes.last().unwrap(), q.final_acc_input_hash);
        assert_eq!(q.l2_coinbase, dev_address(SEQUENCER));
    }
    assert_eq!(
        rollup.lastAccInputHash().call().await.unwrap(),
        live[2].final_acc_input_hash
    );
    // The chain links: each sequence starts from the one before.
    assert_eq!(live[0].old_acc_input_hash, B256::ZERO);
    assert_eq!(live[1].old_acc_input_hash, live[0].final_acc_input_hash);
    assert_eq!(live[2].old_acc_input_hash, live[1].final_acc_input_hash);
    // Nothing left: the sender is idle.
    assert_eq!(s.sender.step().await.unwrap(), Progress::Idle);
}

async fn a_restart_mid_way_sends_nothing_twice(t: &TestDb) {
    let chain = Chain::start().await;
    write_batches(&t.db, 5, l1_now(&chain).await, |_| 18).await;
    {
        let a = setup(&chain, &t.db, 2).await;
        assert_eq!(
            a.sender.step().await.unwrap(),
            Progress::Sent { from: 1, to: 2 }
        );
        a.txman.tick().await.unwrap(); // sent (and mined: automine)
                                       // Anvil mines it as it arrives, but its state may lag the send by a moment.
        let rollup = chain.rollup(ADMIN);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while rollup.lastBatchSequenced().call().await.unwrap() < 2 {
            assert!(std::time::Instant::now() < deadline, "1-2 was not mined");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // 1-2 is on L1; 3-4 is recorded and handed over, not sent: the process stops here.
        assert_eq!(
            a.sender.step().await.unwrap(),
            Progress::Sent { from: 3, to: 4 }
        );
    }
    let b = setup(&chain, &t.db, 2).await;
    run_until(&chain, &b, 5).await;
    assert_eq!(sequence_events(&chain).await, vec![2, 4, 5]);
    let all: Vec<_> =
        t.db.live_sequences()
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.id)
            .collect();
    assert_eq!(all, vec!["sequence-1-2", "sequence-3-4", "sequence-5-5"]);
    // Three transactions of the sequencer's account, no more.
    let nonce = chain
        .provider(ADMIN)
        .get_transaction_count(dev_address(SEQUENCER))
        .await
        .unwrap();
    assert_eq!(nonce, 3);
    for id in &all {
        let tx = b.txman.status(id).await.unwrap().unwrap();
        assert_eq!(tx.hashes.len(), 1, "{id}");
    }
}

async fn what_stops_or_delays_the_sender(t: &TestDb) {
    let chain = Chain::start().await;
    let now = l1_now(&chain).await;
    // Batch 1 is fine but its block is an hour ahead of L1: the sender waits.
    write_batches(&t.db, 2, now + 3600, |i| if i == 2 { 120_001 } else { 9 }).await;
    let s = setup(&chain, &t.db, 1).await;
    match s.sender.step().await.unwrap() {
        Progress::Waiting(why) => assert!(why.contains("timestamp"), "{why}"),
        other => panic!("expected to wait, got {other:?}"),
    }
    assert!(t.db.live_sequences().await.unwrap().is_empty());
    // Batch 2 is over the contract's limit: the sender stops before it waits for anything.
    let s2 = setup(&chain, &t.db, 5).await;
    let mut sender = s2.sender;
    sender.config.max_batches_per_sequence = 5;
    let e = sender.step().await.unwrap_err();
    assert!(
        matches!(&e, SenderError::Fatal(m) if m.contains("120000")),
        "{e}"
    );
}
