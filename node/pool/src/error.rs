//! Why the pool refuses a transaction, and what else can go wrong.

use zknode_storage::StorageError;

/// Why [`crate::Pool::add`] refused a transaction. The message (`Display`) is zkevm-node's
/// (geth's where zkevm-node took it from geth) wherever it has one, since wallets and tools
/// match on it; the fields are for logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// The bytes are not a signed transaction; the decoder's message ("rlp: …").
    #[error("{0}")]
    Undecodable(String),

    /// An EIP-2718 type other than 1 (EIP-2930) and 2 (EIP-1559).
    #[error("transaction type not supported")]
    TypeNotSupported { tx_type: u8 },

    /// The signature recovers no sender.
    #[error("invalid sender")]
    InvalidSender { reason: String },

    /// Another chain's transaction, or an unprotected one where they are not allowed.
    #[error("invalid chain id")]
    InvalidChainId { chain_id: Option<u64> },

    /// The transaction as a batch carries it is larger than `max_tx_bytes`.
    #[error("oversized data")]
    OversizedData { size: u64, max: u64 },

    /// The `data` field is larger than `max_tx_data_bytes`.
    #[error("data size bigger than allowed, current size is {size} bytes and max allowed is {max} bytes")]
    DataTooBig { size: u64, max: u64 },

    /// The nonce is below the account's.
    #[error("nonce too low")]
    NonceTooLow { nonce: u64, state_nonce: u64 },

    /// The nonce is more than `account_queue` − 1 ahead of the account's.
    #[error("nonce too high")]
    NonceTooHigh { nonce: u64, state_nonce: u64 },

    /// `global_queue` transactions are pending already.
    #[error("txpool is full")]
    PoolFull { pending: u64 },

    /// The offered price per gas is below `min_gas_price`.
    #[error("gas price too low")]
    GasPriceTooLow,

    /// The balance does not cover value + gas limit × gas price (maxFeePerGas for EIP-1559).
    #[error("insufficient funds for gas * price + value")]
    InsufficientFunds,

    /// The gas limit is below the transaction's intrinsic gas.
    #[error("intrinsic gas too low")]
    IntrinsicGasTooLow { gas_limit: u64, intrinsic: u64 },

    /// The gas limit is above `block_gas_limit`.
    #[error("exceeds block gas limit")]
    ExceedsBlockGasLimit { gas_limit: u64, max: u64 },

    /// The same transaction is pending already.
    #[error("already known")]
    AlreadyKnown,

    /// A pending transaction of the same sender and nonce offers at least as much per gas.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,

    /// The pool could not store the transaction (the database failed, or the pool is shutting
    /// down).
    #[error("failed to add tx to the pool: {0}")]
    Internal(String),
}

impl AddError {
    /// A short snake_case name of the reason, for the metric of refusals by reason.
    pub fn label(&self) -> &'static str {
        match self {
            AddError::Undecodable(_) => "undecodable",
            AddError::TypeNotSupported { .. } => "type_not_supported",
            AddError::InvalidSender { .. } => "invalid_sender",
            AddError::InvalidChainId { .. } => "invalid_chain_id",
            AddError::OversizedData { .. } => "oversized_data",
            AddError::DataTooBig { .. } => "data_too_big",
            AddError::NonceTooLow { .. } => "nonce_too_low",
            AddError::NonceTooHigh { .. } => "nonce_too_high",
            AddError::PoolFull { .. } => "pool_full",
            AddError::GasPriceTooLow => "gas_price_too_low",
            AddError::InsufficientFunds => "insufficient_funds",
            AddError::IntrinsicGasTooLow { .. } => "intrinsic_gas_too_low",
            AddError::ExceedsBlockGasLimit { .. } => "exceeds_block_gas_limit",
            AddError::AlreadyKnown => "already_known",
            AddError::ReplacementUnderpriced => "replacement_underpriced",
            AddError::Internal(_) => "internal",
        }
    }
}

/// An error of the pool other than a refusal: its database failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("pool: {0}")]
    Storage(#[from] StorageError),
}
