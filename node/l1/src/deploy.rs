//! Deploys a rollup: the global exit root manager, then the rollup contract, from one account.
//!
//! The two contracts name each other: the manager takes the rollup's address in its constructor
//! (only the rollup may set the rollup exit root) and the rollup takes the manager's and checks
//! that the manager names it. The deployer's next two nonces fix both addresses, so the manager
//! is deployed with nonce n and the address the rollup will get at nonce n + 1.

use alloy::network::Ethereum;
use alloy::primitives::{Address, B256};
use alloy::providers::{PendingTransactionBuilder, Provider};
use alloy::rpc::types::TransactionReceipt;

use crate::bindings::{GlobalExitRootManager, ZkEvmRollup};
use crate::{L1Error, Result};

/// The fork the contracts speak (Polygon's fork 12, "banana").
pub const FORK_ID: u64 = 12;

/// The rollup's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployParams {
    /// May change the roles and the forced-batch settings.
    pub admin: Address,
    /// Sends sequenceBatches.
    pub trusted_sequencer: Address,
    /// Sends verifyBatchesTrustedAggregator.
    pub trusted_aggregator: Address,
    /// Plays the bridge on the global exit root manager (sets the mainnet exit root); on a
    /// development chain, the admin.
    pub bridge: Address,
    /// The L2 chain id.
    pub chain_id: u64,
    pub fork_id: u64,
    /// The state root of the L2 genesis (batch 0).
    pub genesis_state_root: B256,
}

impl DeployParams {
    /// Every role held by `account`, fork 12.
    pub fn single_account(account: Address, chain_id: u64, genesis_state_root: B256) -> Self {
        Self {
            admin: account,
            trusted_sequencer: account,
            trusted_aggregator: account,
            bridge: account,
            chain_id,
            fork_id: FORK_ID,
            genesis_state_root,
        }
    }
}

/// Where a rollup was deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub rollup: Address,
    pub global_exit_root_manager: Address,
    /// The L1 block of the first deployment transaction (the manager's): a synchronizer
    /// starts there.
    pub deploy_block: u64,
}

/// Deploys both contracts from `from`, an account `provider` signs for, and waits for each
/// receipt.
pub async fn deploy<P: Provider>(
    provider: &P,
    from: Address,
    params: &DeployParams,
) -> Result<Deployment> {
    let nonce = provider.get_transaction_count(from).pending().await?;
    let rollup_address = from.create(nonce + 1);

    let ger_tx = GlobalExitRootManager::deploy_builder(provider, params.bridge, rollup_address)
        .from(from)
        .nonce(nonce);
    let what = "deploying the global exit root manager";
    let pending = ger_tx.send().await.map_err(|source| L1Error::Contract {
        what,
        source: Box::new(source),
    })?;
    let ger_receipt = confirm(pending, what).await?;
    let ger = created(&ger_receipt, "deploying the global exit root manager")?;

    let rollup_tx = ZkEvmRollup::deploy_builder(
        provider,
        params.admin,
        params.trusted_sequencer,
        params.trusted_aggregator,
        ger,
        params.chain_id,
        params.fork_id,
        params.genesis_state_root,
    )
    .from(from)
    .nonce(nonce + 1);
    let what = "deploying the rollup";
    let pending = rollup_tx.send().await.map_err(|source| L1Error::Contract {
        what,
        source: Box::new(source),
    })?;
    let rollup_receipt = confirm(pending, what).await?;
    let rollup = created(&rollup_receipt, "deploying the rollup")?;
    if rollup != rollup_address {
        return Err(L1Error::Unexpected {
            what: "deploying the rollup",
            message: format!(
                "it was created at {rollup}, not at {rollup_address} where the exit root \
                 manager expects it"
            ),
        });
    }
    let deploy_block = ger_receipt.block_number.ok_or(L1Error::Unexpected {
        what: "deploying the global exit root manager",
        message: "the receipt names no block".into(),
    })?;
    Ok(Deployment {
        rollup,
        global_exit_root_manager: ger,
        deploy_block,
    })
}

/// Waits for the receipt of `pending` and checks that the transaction succeeded.
pub async fn confirm(
    pending: PendingTransactionBuilder<Ethereum>,
    what: &'static str,
) -> Result<TransactionReceipt> {
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|source| L1Error::Pending {
            what,
            source: Box::new(source),
        })?;
    if !receipt.status() {
        return Err(L1Error::Reverted {
            what,
            tx: receipt.transaction_hash,
            block: receipt.block_number,
        });
    }
    Ok(receipt)
}

fn created(receipt: &TransactionReceipt, what: &'static str) -> Result<Address> {
    receipt.contract_address.ok_or(L1Error::Unexpected {
        what,
        message: "the receipt names no created contract".into(),
    })
}
