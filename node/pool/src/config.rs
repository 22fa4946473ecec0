//! The pool's settings (`[pool]` in the node's config file).

use serde::Deserialize;

/// The pool's settings. The defaults are zkevm-node's (`[Pool]` of its `config/default.go`),
/// except the chain id, which the node sets from its own.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// The chain id a transaction must carry: a typed transaction always, a legacy one when it
    /// is EIP-155 protected ("invalid chain id" otherwise).
    pub chain_id: u64,
    /// The largest transaction as a batch carries it (its signing payload, `r`, `s`, `v` and
    /// the effective-percentage byte), in bytes ("oversized data" above). zkevm-node's
    /// `MaxTxBytesSize`.
    pub max_tx_bytes: u64,
    /// The largest `data` field, in bytes ("data size bigger than allowed" above).
    /// zkevm-node's `MaxTxDataBytesSize`.
    pub max_tx_data_bytes: u64,
    /// How far ahead of the account's nonce a transaction may be: its nonce must be at most the
    /// state nonce + `account_queue` − 1 ("nonce too high" above). 0 sets no limit.
    /// zkevm-node's `AccountQueue`.
    pub account_queue: u64,
    /// How many transactions may be pending at once ("txpool is full" at that count; a
    /// replacement does not add one). 0 sets no limit. zkevm-node's `GlobalQueue`.
    pub global_queue: u64,
    /// The lowest offered price per gas accepted, in wei ("gas price too low" below).
    /// zkevm-node's `DefaultMinGasPriceAllowed`.
    pub min_gas_price: u64,
    /// The most gas one transaction may ask for ("exceeds block gas limit" above): the
    /// executor's per-transaction limit, [`zknode_executor::system::TX_GAS_LIMIT`].
    pub block_gas_limit: u64,
    /// Whether legacy transactions without EIP-155 replay protection (no chain id) are
    /// accepted; zkevm-node accepts them.
    pub allow_unprotected: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            chain_id: 1001,
            max_tx_bytes: 100_132,
            max_tx_data_bytes: 100_000,
            account_queue: 64,
            global_queue: 1024,
            min_gas_price: 1_000_000_000,
            block_gas_limit: zknode_executor::system::TX_GAS_LIMIT,
            allow_unprotected: true,
        }
    }
}
