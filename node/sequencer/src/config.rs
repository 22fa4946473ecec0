//! When the sequencer closes blocks and batches.

use std::time::Duration;

use serde::Deserialize;

/// The sequencer's settings (`[sequencer]` in the node's config file). Durations are in
/// milliseconds.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SequencerConfig {
    /// A block that holds transactions is closed this long after it opened.
    pub block_time_ms: u64,
    /// With no transactions, an empty block is made at most this often (0: never), so that an
    /// idle chain does not fill batches with empty blocks but its head still moves.
    pub empty_block_interval_ms: u64,
    /// A batch is closed at this many transactions.
    pub max_batch_txs: usize,
    /// A batch is closed before its `batchL2Data` would pass this many bytes (L1 takes 120,000
    /// per batch).
    pub max_batch_bytes: usize,
    /// A batch is closed before its transactions would use more gas than this.
    pub max_batch_gas: u64,
    /// A batch is closed this many seconds after its first block (the maximum delta timestamp
    /// of a batch).
    pub max_batch_seconds: u64,
    /// A batch is closed before its batch proof would have more state-tree operations than
    /// this: the prover's capacity (each operation is depth + 9 rows of the batch table).
    pub max_batch_state_ops: usize,
    /// Transactions taken from the pool per round.
    pub pool_take: usize,
    /// An L2 block points at a new L1 info tree leaf (bringing its global exit root to L2) only
    /// once the leaf is this many L1 blocks below the synchronizer's head. The synchronizer
    /// follows `l1.sync.head` (`finalized` by default), which already keeps reorged leaves
    /// out; with `head = "latest"` set this to the depth an L1 reorg can reach (zkevm-node: 64).
    pub l1_info_confirmations: u64,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            block_time_ms: 1_000,
            empty_block_interval_ms: 60_000,
            max_batch_txs: 1_000,
            max_batch_bytes: 120_000,
            max_batch_gas: 300_000_000,
            max_batch_seconds: 60,
            max_batch_state_ops: 16_384,
            pool_take: 512,
            l1_info_confirmations: 0,
        }
    }
}

impl SequencerConfig {
    pub fn block_time(&self) -> Duration {
        Duration::from_millis(self.block_time_ms)
    }

    pub fn empty_block_interval(&self) -> Option<Duration> {
        (self.empty_block_interval_ms > 0)
            .then(|| Duration::from_millis(self.empty_block_interval_ms))
    }

    /// Refuses settings the sequencer cannot run with.
    pub fn check(&self) -> Result<(), String> {
        if self.block_time_ms == 0 {
            return Err("sequencer.block_time_ms must be above 0".into());
        }
        if self.max_batch_txs == 0 || self.max_batch_bytes < 200 || self.max_batch_state_ops < 64 {
            return Err(
                "sequencer.max_batch_txs must be above 0, max_batch_bytes at least 200 and \
                 max_batch_state_ops at least 64"
                    .into(),
            );
        }
        if self.max_batch_bytes > 120_000 {
            return Err(format!(
                "sequencer.max_batch_bytes is {}; L1 takes at most 120000 bytes per batch",
                self.max_batch_bytes
            ));
        }
        if self.pool_take == 0 {
            return Err("sequencer.pool_take must be above 0".into());
        }
        Ok(())
    }
}

/// Why a batch was closed (stored with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosingReason {
    MaxTxs,
    MaxBytes,
    MaxGas,
    MaxStateOps,
    MaxDeltaTimestamp,
    /// L1 queued a forced batch: it goes next.
    ForcedBatch,
    Shutdown,
}

impl ClosingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosingReason::MaxTxs => "max transactions",
            ClosingReason::MaxBytes => "max batch data bytes",
            ClosingReason::MaxGas => "max gas",
            ClosingReason::MaxStateOps => "max state-tree operations (prover capacity)",
            ClosingReason::MaxDeltaTimestamp => "max delta timestamp",
            ClosingReason::ForcedBatch => "a forced batch is queued",
            ClosingReason::Shutdown => "shutdown",
        }
    }
}
