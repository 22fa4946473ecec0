//! A rollup deployed on a fresh anvil (account 0 holds every role: admin, bridge, trusted
//! sequencer and aggregator), a state database holding the node's own batches, and helpers to
//! send what the synchronizer reads.

#![allow(dead_code)]

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use zknode_l1::testing::{dev_address, Anvil};
use zknode_l1::ZkEvmRollup::BatchData;
use zknode_l1::{deploy, DeployParams, Deployment, GlobalExitRootManager, ZkEvmRollup};
use zknode_sqldb::harness::TestLocation;
use zknode_storage::{
    BatchClose, BatchStatus, BlockReader, BlockWriter, NewBatch, OpenBatchProgress, StateDb,
};
use zknode_sync::{HeadTag, L1Addresses, SyncConfig, SyncProgress, Synchronizer};

pub const L2_CHAIN_ID: u64 = 1001;

pub type Rollup = ZkEvmRollup::ZkEvmRollupInstance<DynProvider>;
pub type Ger = GlobalExitRootManager::GlobalExitRootManagerInstance<DynProvider>;

/// The coinbase of the node's batches and of the sequences.
pub fn coinbase() -> Address {
    Address::repeat_byte(0xcb)
}

/// Batch `n`'s data (any bytes do for the contract, which does not decode them).
pub fn data(n: u64, variant: u8) -> Bytes {
    let mut d = vec![0x0b, 0, 0, 0, 1, 0, 0, 0, 0];
    d.extend_from_slice(&n.to_be_bytes());
    d.push(variant);
    Bytes::from(d)
}

/// The placeholder accInputHash the sequencer stores for batch `n` (before L1 has it).
pub fn local_acc(n: u64) -> B256 {
    keccak256(format!("local acc {n}"))
}

pub struct Env {
    pub anvil: Anvil,
    pub deployment: Deployment,
    pub db: StateDb,
    _at: TestLocation,
}

impl Env {
    pub async fn start(postgres: bool) -> Option<Env> {
        let at = if postgres {
            TestLocation::postgres().await?
        } else {
            TestLocation::sqlite("data/state.db")
        };
        let db = StateDb::connect(&at.url).await.unwrap();
        let anvil = Anvil::start().unwrap_or_else(|e| panic!("{e}"));
        let params =
            DeployParams::single_account(dev_address(0), L2_CHAIN_ID, B256::repeat_byte(0x11));
        let deployment = deploy(&anvil.provider(0), dev_address(0), &params)
            .await
            .unwrap_or_else(|e| panic!("deploying: {e}"));
        Some(Env {
            anvil,
            deployment,
            db,
            _at: at,
        })
    }

    pub fn provider(&self) -> DynProvider {
        self.anvil.provider(0)
    }

    pub fn rollup(&self) -> Rollup {
        ZkEvmRollup::new(self.deployment.rollup, self.provider())
    }

    pub fn ger(&self) -> Ger {
        GlobalExitRootManager::new(self.deployment.global_exit_root_manager, self.provider())
    }

    /// A synchronizer following `latest` in chunks of `chunk` blocks.
    pub fn synchronizer(&self, chunk: u64) -> Synchronizer {
        Synchronizer::new(
            self.db.clone(),
            zknode_sync::l1_reader(self.anvil.url()).unwrap(),
            L1Addresses {
                rollup: self.deployment.rollup,
                global_exit_root_manager: self.deployment.global_exit_root_manager,
                deploy_block: self.deployment.deploy_block,
            },
            SyncConfig {
                chunk_size: chunk,
                head: HeadTag::Latest,
                interval_ms: 50,
                trusted_state: false,
            },
        )
    }

    /// Rounds until the synchronizer stands at L1's latest block (a bounded number).
    pub async fn sync(&self, s: &mut Synchronizer) -> SyncProgress {
        let latest = self.provider().get_block_number().await.unwrap();
        for _ in 0..20 {
            let p = s.sync_once().await.unwrap_or_else(|e| panic!("sync: {e}"));
            if p.synced_to == Some(latest) {
                return p;
            }
        }
        panic!("the synchronizer did not reach L1 block {latest}");
    }

    /// Writes the node's genesis batch 0 and closed batches `1..=n` with `data(i, 0)`.
    pub async fn local_batches(&self, n: u64) {
        for i in 0..=n {
            self.db
                .open_batch(&NewBatch {
                    number: i,
                    coinbase: coinbase(),
                    timestamp: 1,
                    global_exit_root: B256::ZERO,
                    state_root: B256::repeat_byte(0x11),
                    local_exit_root: B256::ZERO,
                    forced_batch_number: None,
                })
                .await
                .unwrap();
            let l2_data = if i == 0 { Bytes::new() } else { data(i, 0) };
            self.db
                .update_open_batch(&OpenBatchProgress {
                    number: i,
                    state_root: B256::repeat_byte(0x11),
                    local_exit_root: B256::ZERO,
                    l2_data: l2_data.clone(),
                    resources: None,
                })
                .await
                .unwrap();
            self.db
                .close_batch(
                    i,
                    &BatchClose {
                        closing_reason: if i == 0 { "genesis" } else { "test" }.into(),
                        state_root: B256::repeat_byte(0x11),
                        local_exit_root: B256::ZERO,
                        acc_input_hash: if i == 0 { B256::ZERO } else { local_acc(i) },
                        l2_data,
                    },
                )
                .await
                .unwrap();
        }
    }

    /// The status, virtual tx hash and accInputHash of the node's batch `n`.
    pub async fn batch(&self, n: u64) -> (BatchStatus, Option<B256>, Option<B256>) {
        let b = self
            .db
            .batch(n)
            .await
            .unwrap()
            .expect("the batch is stored");
        (b.status, b.virtual_tx_hash, b.acc_input_hash)
    }

    /// Sends the bridge's mainnet exit root: a new L1 info leaf.
    pub async fn new_leaf(&self, root: B256) -> TransactionReceipt {
        confirm(self.ger().updateExitRoot(root).send().await).await
    }

    /// Sequences `batches` (normal batches) with the L1 info root after `leaf_count` leaves.
    pub async fn sequence(&self, batches: &[Bytes], leaf_count: u32) -> TransactionReceipt {
        let (args, _) = self.sequence_args(batches, leaf_count).await;
        let r = self.rollup();
        confirm(
            r.sequenceBatches(args.0, args.1, args.2, args.3, args.4)
                .send()
                .await,
        )
        .await
    }

    /// The arguments of sequenceBatches, and the final accInputHash.
    pub async fn sequence_args(
        &self,
        batches: &[Bytes],
        leaf_count: u32,
    ) -> ((Vec<BatchData>, u32, u64, B256, Address), B256) {
        let args = zknode_l1::testing::sequence_args(
            &self.provider(),
            self.deployment.rollup,
            self.deployment.global_exit_root_manager,
            batches,
            leaf_count,
            coinbase(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let acc = args.3;
        (args, acc)
    }

    /// Verifies batches up to `last` (a sequence end).
    pub async fn verify(&self, init: u64, last: u64) -> TransactionReceipt {
        confirm(
            self.rollup()
                .verifyBatchesTrustedAggregator(
                    1,
                    0,
                    init,
                    last,
                    B256::repeat_byte(0x33),
                    B256::repeat_byte(0x22),
                    Address::ZERO,
                    Bytes::from(vec![1u8; 32]),
                )
                .send()
                .await,
        )
        .await
    }

    pub async fn snapshot(&self) -> U256 {
        self.provider()
            .raw_request("evm_snapshot".into(), ())
            .await
            .expect("evm_snapshot")
    }

    pub async fn revert(&self, id: U256) {
        let ok: bool = self
            .provider()
            .raw_request("evm_revert".into(), (id,))
            .await
            .expect("evm_revert");
        assert!(ok, "evm_revert({id})");
    }

    pub async fn mine(&self, blocks: u64) {
        for _ in 0..blocks {
            let _: serde_json::Value = self
                .provider()
                .raw_request("evm_mine".into(), ())
                .await
                .expect("evm_mine");
        }
    }

    /// Every stored L1 block has L1's hash.
    pub async fn assert_on_l1_chain(&self) {
        let blocks = self
            .db
            .l1_blocks_down_from(u64::MAX >> 2, 10_000)
            .await
            .unwrap();
        assert!(!blocks.is_empty());
        for b in blocks {
            let l1 = self
                .provider()
                .get_block_by_number(b.number.into())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("L1 has no block {}", b.number));
            assert_eq!(l1.header.hash, b.hash, "stored L1 block {}", b.number);
        }
    }

    /// Every stored leaf's root is the contract's l1InfoRootMap for its count.
    pub async fn assert_leaves_match(&self, expected: usize) {
        let leaves = self.db.l1_info_leaves().await.unwrap();
        assert_eq!(leaves.len(), expected);
        for l in &leaves {
            let root = self
                .ger()
                .l1InfoRootMap(l.index as u32 + 1)
                .call()
                .await
                .unwrap();
            assert_eq!(l.root, root, "leaf {}", l.index);
        }
    }
}

/// Waits for a sent transaction and checks that it succeeded.
pub async fn confirm(
    sent: Result<
        alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
        alloy::contract::Error,
    >,
) -> TransactionReceipt {
    let pending = sent.unwrap_or_else(|e| {
        let name = e
            .as_revert_data()
            .and_then(|d| zknode_l1::revert_error_name(&d));
        panic!("the transaction was refused: {name:?} {e}")
    });
    zknode_l1::confirm(pending, "test transaction")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
