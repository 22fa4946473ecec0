//! What the synchronizer stores from L1 (migration 4): L1 info leaves, sequences and their
//! virtual batches, forced batches, verifications, and the halt a mismatch records.

use alloy_primitives::{Address, Bytes, B256};

use crate::types::L1Block;

/// A leaf of the L1 info tree (an `UpdateL1InfoTreeV2` event with its `UpdateL1InfoTree`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1InfoLeafRow {
    /// The leaf's index (the event's leafCount − 1).
    pub index: u64,
    pub l1_block: u64,
    pub tx_hash: B256,
    /// keccak256(mainnet_exit_root ‖ rollup_exit_root).
    pub global_exit_root: B256,
    pub mainnet_exit_root: B256,
    pub rollup_exit_root: B256,
    /// The hash of the L1 block before the one that added the leaf.
    pub parent_hash: B256,
    /// The L1 block's timestamp (the leaf's minTimestamp).
    pub timestamp: u64,
    /// keccak256(global_exit_root ‖ parent_hash ‖ uint64 timestamp).
    pub leaf: B256,
    /// The tree's root after this leaf.
    pub root: B256,
}

/// The forced fields of a sequenced batch (`forcedTimestamp > 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForcedFields {
    pub global_exit_root: B256,
    pub timestamp: u64,
    pub block_hash_l1: B256,
    /// Its number in the forced-batch queue (`ForceBatch`'s forceBatchNum).
    pub forced_batch_number: u64,
}

/// A batch as L1 sequenced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1VirtualBatch {
    pub number: u64,
    /// The first batch of its sequence.
    pub sequence_from: u64,
    pub l1_block: u64,
    pub tx_hash: B256,
    /// The batch's data from the calldata (batchL2Data).
    pub l2_data: Bytes,
    /// The sequence's L1 info root (zero in a sequenceForceBatches).
    pub l1_info_root: B256,
    /// The sequence's maxSequenceTimestamp (zero in a sequenceForceBatches).
    pub max_sequence_timestamp: u64,
    /// The coinbase the contract hashed: l2Coinbase, or the sender of sequenceForceBatches.
    pub coinbase: Address,
    /// Set for a forced batch.
    pub forced: Option<ForcedFields>,
    /// The accInputHash after this batch, chained as the contract does.
    pub acc_input_hash: B256,
}

/// A sequenceBatches or sequenceForceBatches transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1VirtualSequence {
    pub from_batch: u64,
    pub to_batch: u64,
    pub l1_block: u64,
    pub tx_hash: B256,
    /// A sequenceForceBatches.
    pub forced: bool,
    pub l1_info_root: B256,
    pub max_sequence_timestamp: u64,
    pub l2_coinbase: Address,
    /// The accInputHash after `to_batch`.
    pub acc_input_hash: B256,
}

/// A `ForceBatch` event: an entry of the forced-batch queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1ForcedBatch {
    pub number: u64,
    pub l1_block: u64,
    pub tx_hash: B256,
    /// The last global exit root when it was forced.
    pub global_exit_root: B256,
    /// Who forced it.
    pub sequencer: Address,
    pub transactions: Bytes,
    /// The L1 block's timestamp.
    pub forced_at: u64,
    /// The L1 block's parent hash.
    pub block_hash_l1: B256,
}

/// A `VerifyBatchesTrustedAggregator` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Verification {
    /// Batches up to this one are verified.
    pub batch_number: u64,
    pub l1_block: u64,
    pub tx_hash: B256,
    pub state_root: B256,
    pub exit_root: B256,
    pub aggregator: Address,
}

/// Everything one L1 block says, stored in one database transaction by
/// [`crate::StateDb::apply_l1_block`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct L1BlockEffects {
    pub block: L1Block,
    /// In index order.
    pub leaves: Vec<L1InfoLeafRow>,
    pub forced_batches: Vec<L1ForcedBatch>,
    /// Each sequence with its batches, in order.
    pub sequences: Vec<(L1VirtualSequence, Vec<L1VirtualBatch>)>,
    pub verifications: Vec<L1Verification>,
}

impl Default for L1Block {
    fn default() -> Self {
        L1Block {
            number: 0,
            hash: B256::ZERO,
            parent_hash: B256::ZERO,
            timestamp: 0,
        }
    }
}

/// What L1 says about a batch that differs from the node's own batch of that number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchMismatch {
    pub batch: u64,
    pub l1_block: u64,
    pub tx_hash: B256,
    /// What differs, in words.
    pub what: String,
}

/// What [`crate::StateDb::apply_l1_block`] did to the node's own batches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct L1Applied {
    /// Batches of this node now virtual (their data matched L1's).
    pub virtualized: Vec<u64>,
    /// Batches of this node now verified.
    pub verified: Vec<u64>,
    /// Sequenced batches this node does not have (kept for re-execution).
    pub unknown: Vec<u64>,
    /// With `l1_wins`: batches of this node that differed from L1's, and how; each was removed
    /// with the batches after it.
    pub replaced: Vec<(u64, String)>,
    /// Set when a batch differs: nothing of the block was stored, and the halt was recorded.
    pub mismatch: Option<BatchMismatch>,
}

/// What [`crate::StateDb::unwind_l1_from`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L1Unwound {
    pub l1_blocks: u64,
    pub leaves: u64,
    pub sequences: u64,
    pub virtual_batches: u64,
    pub forced_batches: u64,
    pub verifications: u64,
    /// The node's batches set back to closed.
    pub batches_unvirtualized: u64,
    /// The node's batches set back from verified to virtual.
    pub batches_unverified: u64,
}

/// The halt the synchronizer records when L1 disagrees with the node's own batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncHalt {
    pub batch_number: u64,
    pub l1_block: u64,
    pub reason: String,
}

/// Where the synchronizer's derived state stands, read back from storage after a start or an
/// unwind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L1SyncPosition {
    /// The last virtual batch L1 sequenced, with its accInputHash; `None`: none yet (batch 0,
    /// the genesis, has accInputHash zero).
    pub last_virtual: Option<(u64, B256)>,
    /// The last forced batch queued on L1 (0: none).
    pub last_forced: u64,
    /// The last forced batch sequenced on L1 (0: none).
    pub last_forced_sequenced: u64,
    /// The last batch verified on L1 (0: none).
    pub last_verified: u64,
}
