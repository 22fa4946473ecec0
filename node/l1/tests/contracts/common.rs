//! A deployed rollup on a fresh anvil, with one development account per role, and what the
//! tests check against: revert selectors and the accInputHash chain computed by the executor.

#![allow(dead_code)]

use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Header, TransactionReceipt};
use alloy::sol_types::SolError;
use zknode_executor::hashes::{acc_input_hash, batch_hash_data, AccInput};
use zknode_l1::testing::{dev_address, Anvil};
use zknode_l1::{deploy, DeployParams, Deployment, GlobalExitRootManager, ZkEvmRollup};

pub use ZkEvmRollup::BatchData;

pub const ADMIN: usize = 0;
pub const SEQUENCER: usize = 1;
pub const AGGREGATOR: usize = 2;
pub const USER: usize = 3;
pub const L2_CHAIN_ID: u64 = 1001;

pub type Rollup = ZkEvmRollup::ZkEvmRollupInstance<DynProvider>;
pub type Ger = GlobalExitRootManager::GlobalExitRootManagerInstance<DynProvider>;

/// A genesis state root (its four limbs below the Goldilocks prime).
pub fn genesis_root() -> B256 {
    B256::repeat_byte(0x11)
}

/// An anvil with the rollup deployed: admin (and bridge) account 0, sequencer 1, aggregator 2.
pub struct Chain {
    pub anvil: Anvil,
    pub deployment: Deployment,
}

impl Chain {
    pub async fn start() -> Chain {
        Self::start_with(&[]).await
    }

    /// With extra anvil arguments.
    pub async fn start_with(args: &[&str]) -> Chain {
        let anvil = Anvil::start_with(args).unwrap_or_else(|e| panic!("{e}"));
        let params = DeployParams {
            admin: dev_address(ADMIN),
            trusted_sequencer: dev_address(SEQUENCER),
            trusted_aggregator: dev_address(AGGREGATOR),
            bridge: dev_address(ADMIN),
            chain_id: L2_CHAIN_ID,
            fork_id: zknode_l1::FORK_ID,
            genesis_state_root: genesis_root(),
        };
        let deployment = deploy(&anvil.provider(ADMIN), dev_address(ADMIN), &params)
            .await
            .unwrap_or_else(|e| panic!("deploying: {e}"));
        Chain { anvil, deployment }
    }

    pub fn provider(&self, who: usize) -> DynProvider {
        self.anvil.provider(who)
    }

    /// The rollup, as account `who` calls it.
    pub fn rollup(&self, who: usize) -> Rollup {
        ZkEvmRollup::new(self.deployment.rollup, self.provider(who))
    }

    /// The global exit root manager, as account `who` calls it.
    pub fn ger(&self, who: usize) -> Ger {
        GlobalExitRootManager::new(self.deployment.global_exit_root_manager, self.provider(who))
    }

    pub async fn block(&self, number: u64) -> Header {
        self.provider(ADMIN)
            .get_block_by_number(number.into())
            .await
            .expect("eth_getBlockByNumber")
            .expect("the block exists")
            .header
    }

    pub async fn latest(&self) -> Header {
        let n = self
            .provider(ADMIN)
            .get_block_number()
            .await
            .expect("eth_blockNumber");
        self.block(n).await
    }

    /// Moves anvil's clock `seconds` ahead and mines a block.
    pub async fn increase_time(&self, seconds: u64) {
        let p = self.provider(ADMIN);
        let _: serde_json::Value = p
            .raw_request("evm_increaseTime".into(), (seconds,))
            .await
            .expect("evm_increaseTime");
        let _: serde_json::Value = p
            .raw_request("evm_mine".into(), ())
            .await
            .expect("evm_mine");
    }

    /// Sends the bridge's mainnet exit root (account 0 plays the bridge).
    pub async fn update_mainnet_exit_root(&self, root: B256) -> TransactionReceipt {
        confirm(self.ger(ADMIN).updateExitRoot(root).send().await).await
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

/// Asserts that `r` is a revert with custom error `E`.
pub fn expect_revert<E: SolError, T>(r: Result<T, alloy::contract::Error>) {
    let e = match r {
        Ok(_) => panic!(
            "expected a revert with {}, the call went through",
            E::SIGNATURE
        ),
        Err(e) => e,
    };
    let data = e
        .as_revert_data()
        .unwrap_or_else(|| panic!("expected a revert with {}, got {e}", E::SIGNATURE));
    assert!(
        data.len() >= 4,
        "revert data {data} is shorter than a selector"
    );
    assert_eq!(
        &data[..4],
        E::SELECTOR.as_slice(),
        "expected {}, got {:?} ({data})",
        E::SIGNATURE,
        zknode_l1::revert_error_name(&data)
    );
}

/// A normal (not forced) batch.
pub fn batch(transactions: impl Into<Bytes>) -> BatchData {
    BatchData {
        transactions: transactions.into(),
        forcedGlobalExitRoot: B256::ZERO,
        forcedTimestamp: 0,
        forcedBlockHashL1: B256::ZERO,
    }
}

/// The accInputHash chain as the node computes it (the executor's `acc_input_hash`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccChain(pub B256);

impl AccChain {
    pub fn normal(&mut self, txs: &[u8], l1_info_root: B256, max_ts: u64, coinbase: Address) {
        self.0 = acc_input_hash(&AccInput {
            old_acc_input_hash: self.0,
            batch_hash_data: batch_hash_data(txs),
            l1_info_root,
            timestamp_limit: max_ts,
            sequencer: coinbase,
            forced_block_hash_l1: B256::ZERO,
        });
    }

    /// A forced batch: the forced GER stands where the L1 info root is, the forced timestamp
    /// where the time limit is.
    pub fn forced(&mut self, b: &BatchData, coinbase: Address) {
        self.0 = acc_input_hash(&AccInput {
            old_acc_input_hash: self.0,
            batch_hash_data: batch_hash_data(&b.transactions),
            l1_info_root: b.forcedGlobalExitRoot,
            timestamp_limit: b.forcedTimestamp,
            sequencer: coinbase,
            forced_block_hash_l1: b.forcedBlockHashL1,
        });
    }

    /// Every batch of a sequenceBatches call.
    pub fn sequence(
        &mut self,
        batches: &[BatchData],
        l1_info_root: B256,
        max_ts: u64,
        coinbase: Address,
    ) {
        for b in batches {
            if b.forcedTimestamp > 0 {
                self.forced(b, coinbase);
            } else {
                self.normal(&b.transactions, l1_info_root, max_ts, coinbase);
            }
        }
    }
}

/// Every log of event `E` in `receipt`, decoded.
pub fn events<E: alloy::sol_types::SolEvent>(receipt: &TransactionReceipt) -> Vec<E> {
    receipt
        .inner
        .logs()
        .iter()
        .filter_map(|l| l.log_decode::<E>().ok())
        .map(|l| l.inner.data)
        .collect()
}
