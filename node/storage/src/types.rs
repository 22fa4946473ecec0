//! What goes into the state database and what comes out of it.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::{Address, Bytes, B256, U256};

use crate::header::L2Header;

// ---------------------------------------------------------------------------------------------
// Blocks, as written
// ---------------------------------------------------------------------------------------------

/// An L2 block to store with its transactions, receipts and logs. The header fields that follow
/// from the contents (transactions and receipts roots, logs bloom, gas used) are computed by
/// [`NewBlock::header`], so a stored hash always matches the stored contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBlock {
    pub number: u64,
    /// The hash of block `number - 1` (zero for the first block).
    pub parent_hash: B256,
    /// The batch the block belongs to; it must be open.
    pub batch_number: u64,
    /// Unix seconds.
    pub timestamp: u64,
    pub coinbase: Address,
    /// The state tree root after the block.
    pub state_root: B256,
    /// The global exit root the block's changeL2Block set (zero when unchanged).
    pub global_exit_root: B256,
    /// The root of the block's info tree (zero when none was computed).
    pub block_info_root: B256,
    pub gas_limit: u64,
    pub base_fee: u64,
    /// In block order.
    pub transactions: Vec<NewTransaction>,
}

/// A transaction of a [`NewBlock`] with its receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTransaction {
    /// The Ethereum hash: keccak256 of `raw`.
    pub hash: B256,
    /// Polygon's L2 transaction hash.
    pub l2_hash: B256,
    /// The signed bytes as received: a legacy transaction's RLP list, or an EIP-2718 type byte
    /// followed by its payload.
    pub raw: Bytes,
    pub sender: Address,
    /// 0 for legacy, else the EIP-2718 type (the first byte of `raw`).
    pub tx_type: u8,
    /// The effective-gas-price percentage byte (255: the full gas price).
    pub effective_percentage: u8,
    pub receipt: NewReceipt,
}

/// The receipt of a [`NewTransaction`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReceipt {
    pub success: bool,
    /// Gas used by this and every earlier transaction of the block.
    pub cumulative_gas_used: u64,
    pub gas_used: u64,
    /// Wei per gas actually paid; the database refuses values of 2^63 or more.
    pub effective_gas_price: U256,
    /// The contract a creation made.
    pub contract_address: Option<Address>,
    pub logs: Vec<NewLog>,
}

/// A log of a [`NewReceipt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLog {
    pub address: Address,
    /// At most four.
    pub topics: Vec<B256>,
    pub data: Bytes,
}

// ---------------------------------------------------------------------------------------------
// Blocks, as read
// ---------------------------------------------------------------------------------------------

/// A stored L2 block: its header and the two values the header does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// keccak256 of the header's RLP.
    pub hash: B256,
    pub header: L2Header,
    pub batch_number: u64,
    pub global_exit_root: B256,
}

/// A stored transaction and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTransaction {
    pub hash: B256,
    pub l2_hash: B256,
    pub block_number: u64,
    pub block_hash: B256,
    pub tx_index: u64,
    pub raw: Bytes,
    pub sender: Address,
    pub tx_type: u8,
    pub effective_percentage: u8,
}

/// A stored receipt with its logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReceipt {
    pub tx_hash: B256,
    pub block_number: u64,
    pub block_hash: B256,
    pub tx_index: u64,
    /// The transaction's type, which the receipt's own encoding uses.
    pub tx_type: u8,
    pub success: bool,
    pub cumulative_gas_used: u64,
    pub gas_used: u64,
    pub effective_gas_price: U256,
    pub contract_address: Option<Address>,
    pub logs: Vec<StoredLog>,
}

/// A stored log and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLog {
    pub block_number: u64,
    pub block_hash: B256,
    /// The log's position among all the logs of its block.
    pub log_index: u64,
    pub tx_hash: B256,
    pub tx_index: u64,
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: Bytes,
}

/// Where the chain is: the last stored block's number, hash and state root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHead {
    pub number: u64,
    pub hash: B256,
    pub state_root: B256,
}

/// Which logs [`crate::BlockReader::logs`] returns: those of blocks `from_block..=to_block`
/// whose address is one of `addresses` (any address when empty) and whose topic `i` is one of
/// `topics[i]` (any topic, or none, when empty). A log with fewer than `i + 1` topics does not
/// match a non-empty `topics[i]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub from_block: u64,
    pub to_block: u64,
    pub addresses: Vec<Address>,
    pub topics: [Vec<B256>; 4],
    /// At most this many logs, the first ones; `None`: all.
    pub limit: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/// Where a batch is in its life. The order is the lifecycle's: a batch only moves forward,
/// one step at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BatchStatus {
    /// The sequencer is adding blocks to it.
    Open,
    /// Complete: its data, roots and accInputHash are final.
    Closed,
    /// Sequenced on L1.
    Virtual,
    /// Proved on L1.
    Verified,
}

impl BatchStatus {
    /// The name stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Open => "open",
            BatchStatus::Closed => "closed",
            BatchStatus::Virtual => "virtual",
            BatchStatus::Verified => "verified",
        }
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BatchStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(BatchStatus::Open),
            "closed" => Ok(BatchStatus::Closed),
            "virtual" => Ok(BatchStatus::Virtual),
            "verified" => Ok(BatchStatus::Verified),
            other => Err(format!(
                "batch status {other:?} is none of open, closed, virtual, verified"
            )),
        }
    }
}

/// A batch to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBatch {
    pub number: u64,
    pub coinbase: Address,
    /// Unix seconds.
    pub timestamp: u64,
    pub global_exit_root: B256,
    /// The state root the batch starts from (the previous batch's).
    pub state_root: B256,
    /// The local exit root the batch starts from.
    pub local_exit_root: B256,
    /// The forced batch (its number in L1's queue) this batch executes; `None` for a batch the
    /// sequencer builds.
    pub forced_batch_number: Option<u64>,
}

/// What the sequencer saves of an open batch as it goes, to resume it after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBatchProgress {
    pub number: u64,
    pub state_root: B256,
    pub local_exit_root: B256,
    /// batchL2Data so far.
    pub l2_data: Bytes,
    /// The sequencer's used-resource counters, in its own format.
    pub resources: Option<String>,
}

/// What closes a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchClose {
    /// Why it was closed ("Max transactions", "Sync L1: sequenced", …); not empty.
    pub closing_reason: String,
    pub state_root: B256,
    pub local_exit_root: B256,
    pub acc_input_hash: B256,
    /// The final batchL2Data.
    pub l2_data: Bytes,
}

/// A stored batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub number: u64,
    pub status: BatchStatus,
    pub coinbase: Address,
    /// Unix seconds: when the batch was opened.
    pub timestamp: u64,
    pub global_exit_root: B256,
    pub state_root: B256,
    pub local_exit_root: B256,
    pub l2_data: Bytes,
    pub resources: Option<String>,
    /// Set once closed.
    pub acc_input_hash: Option<B256>,
    /// Set once closed.
    pub closing_reason: Option<String>,
    /// The L1 transaction that sequenced it, once virtual.
    pub virtual_tx_hash: Option<B256>,
    /// The L1 transaction that verified it, once verified.
    pub verified_tx_hash: Option<B256>,
    /// The forced batch it executes, if it is one.
    pub forced_batch_number: Option<u64>,
}

/// The last batch of each stage: `last` (any status, the open one included), `closed` (closed
/// or beyond), `virtualized` (virtual or verified) and `verified`. `None` where no batch got
/// that far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatestBatchNumbers {
    pub last: Option<u64>,
    pub closed: Option<u64>,
    pub virtualized: Option<u64>,
    pub verified: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// L1
// ---------------------------------------------------------------------------------------------

/// An L1 block the synchronizer has processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Block {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
}

// ---------------------------------------------------------------------------------------------
// The transaction pool
// ---------------------------------------------------------------------------------------------

/// What became of a transaction the pool accepted (zkevm-node's pool statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolTxStatus {
    /// Accepted, waiting for the sequencer.
    Pending,
    /// Included in a stored L2 block.
    Selected,
    /// The sequencer could not include it; the sender may send the same nonce again.
    Failed,
    /// The executor refused it outright (out of counters, executor error).
    Invalid,
}

impl PoolTxStatus {
    /// The name stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolTxStatus::Pending => "pending",
            PoolTxStatus::Selected => "selected",
            PoolTxStatus::Failed => "failed",
            PoolTxStatus::Invalid => "invalid",
        }
    }
}

impl fmt::Display for PoolTxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PoolTxStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(PoolTxStatus::Pending),
            "selected" => Ok(PoolTxStatus::Selected),
            "failed" => Ok(PoolTxStatus::Failed),
            "invalid" => Ok(PoolTxStatus::Invalid),
            other => Err(format!(
                "pool status {other:?} is none of pending, selected, failed, invalid"
            )),
        }
    }
}

/// A pool transaction as stored: what [`crate::PoolStore::insert_pool_txs`] writes as pending
/// and [`crate::PoolStore::pending_pool_txs`] reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolTxRow {
    /// The Ethereum hash: keccak256 of `raw`.
    pub hash: B256,
    /// Polygon's L2 transaction hash.
    pub l2_hash: B256,
    pub sender: Address,
    pub nonce: u64,
    /// The offered price per gas (for EIP-1559, maxPriorityFeePerGas capped by maxFeePerGas).
    pub gas_price: U256,
    pub gas_limit: u64,
    /// 0 for legacy, else the EIP-2718 type.
    pub tx_type: u8,
    /// The signed bytes as received.
    pub raw: Bytes,
    /// Unix milliseconds.
    pub received_at_ms: u64,
}

/// How [`crate::PoolStore::insert_pool_txs`] stores a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolInsert {
    /// A new pending row; refused when a pending row of the same sender and nonce exists.
    New,
    /// Replaces the pending row of the same sender and nonce (deleted), if any.
    Replace,
}

/// The status of a pool transaction and, once failed or invalid, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolTxState {
    pub status: PoolTxStatus,
    pub failed_reason: Option<String>,
}
