//! zkNode on L1: the rollup contracts' bindings, their deployment, and (feature `testing`) an
//! anvil process for tests.
//!
//! - [`bindings`]: `sol!` bindings generated from the committed artifacts
//!   (`contracts/artifacts/*.json`, built from `contracts/*.sol` by `contracts/build.sh`):
//!   [`ZkEvmRollup`] and [`GlobalExitRootManager`];
//! - [`deploy`](mod@deploy): deploys both and says where and in which L1 block;
//! - [`testing`] (feature `testing`): an anvil on loopback, killed on drop;
//! - [`txman`]: the L1 transaction manager (recorded before sent, nonces, fees, bumps,
//!   resends, confirmations, reorgs);
//! - [`sender`]: the sequence sender, which posts closed batches with `sequenceBatches`.
//!
//! The rollup contract does not check proofs yet: until the BN254 SNARK verifier exists it
//! records the proof's hash and trusts the trusted aggregator role (see `contracts/ZkEvmRollup.sol`).

pub mod bindings;
pub mod deploy;
pub mod sender;
#[cfg(feature = "testing")]
pub mod testing;
pub mod txman;

use alloy::network::{Ethereum, EthereumWallet};
use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

pub use bindings::{GlobalExitRootManager, ZkEvmRollup};
pub use deploy::{confirm, deploy, DeployParams, Deployment, FORK_ID};
pub use sender::{L1BlockTag, Progress, SenderError, SequenceSender, SequenceSenderConfig};
pub use txman::{TxManager, TxManagerConfig, TxManagerError, TxManagerMetrics};

/// What an L1 call or deployment ran into.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    #[error("L1 RPC URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("private key: {0}")]
    BadKey(String),
    #[error("L1 RPC: {0}")]
    Rpc(#[from] Box<alloy::transports::TransportError>),
    /// A contract call or transaction failed; a revert names the contract's custom error.
    #[error("{what}: {}", describe_contract_error(.source))]
    Contract {
        what: &'static str,
        #[source]
        source: Box<alloy::contract::Error>,
    },
    #[error("{what}: waiting for the transaction: {source}")]
    Pending {
        what: &'static str,
        #[source]
        source: Box<alloy::providers::PendingTransactionError>,
    },
    #[error("{what}: transaction {tx} reverted in L1 block {block:?}")]
    Reverted {
        what: &'static str,
        tx: B256,
        block: Option<u64>,
    },
    #[error("{what}: {message}")]
    Unexpected { what: &'static str, message: String },
}

pub type Result<T, E = L1Error> = std::result::Result<T, E>;

impl From<alloy::transports::TransportError> for L1Error {
    fn from(e: alloy::transports::TransportError) -> Self {
        L1Error::Rpc(Box::new(e))
    }
}

/// The name of the custom error (of either contract) that revert data starts with.
pub fn revert_error_name(data: &[u8]) -> Option<&'static str> {
    let selector: [u8; 4] = data.get(..4)?.try_into().ok()?;
    ZkEvmRollup::ZkEvmRollupErrors::name_by_selector(selector)
        .or_else(|| GlobalExitRootManager::GlobalExitRootManagerErrors::name_by_selector(selector))
}

fn describe_contract_error(e: &alloy::contract::Error) -> String {
    match e.as_revert_data().and_then(|d| revert_error_name(&d)) {
        Some(name) => format!("reverted with {name}() ({e})"),
        None => e.to_string(),
    }
}

/// A private key as hex (with or without `0x`).
pub fn parse_key(hex: &str) -> Result<PrivateKeySigner> {
    hex.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|e| L1Error::BadKey(e.to_string()))
}

/// An HTTP provider for `url` (`http://HOST:PORT`; no TLS is built in) that signs with
/// `signer`, filling in the nonce, the gas limit and EIP-1559 fees, and the chain id.
pub fn connect(url: &str, signer: PrivateKeySigner) -> Result<DynProvider> {
    let bad = |reason: String| L1Error::BadUrl {
        url: url.to_string(),
        reason,
    };
    let parsed = url
        .parse::<alloy::transports::http::reqwest::Url>()
        .map_err(|e| bad(e.to_string()))?;
    if parsed.scheme() != "http" {
        return Err(bad(format!(
            "{} is not supported: only http:// (no TLS is built in)",
            parsed.scheme()
        )));
    }
    // Nonces from the node each time (`eth_getTransactionCount(pending)`): a cached nonce
    // would be spent by a transaction that failed its gas estimation and never went out.
    Ok(ProviderBuilder::<_, _, Ethereum>::default()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(parsed)
        .erased())
}
