//! The seams the node's services see: [`BlockReader`] for the JSON-RPC server and whatever
//! else only reads, [`BlockWriter`] for the sequencer and the synchronizer, [`PoolStore`] for
//! the transaction pool.
//!
//! The methods return `impl Future + Send` rather than going through `async-trait`: no box and
//! no allocation per call, no macro, and the `Send` bound is written where callers (tokio
//! tasks) need it. The price is that the traits are not object safe; the node picks its
//! implementation once, at start-up, and passes it as a generic parameter, so it needs no
//! `dyn BlockReader`.

use std::future::Future;

use alloy_primitives::B256;

use crate::error::Result;
use crate::types::{
    Batch, BatchClose, Block, BlockHead, L1Block, LatestBatchNumbers, LogFilter, NewBatch,
    NewBlock, OpenBatchProgress, PoolInsert, PoolTxRow, PoolTxState, StoredLog, StoredReceipt,
    StoredTransaction,
};

/// Reads the L2 chain, the batches, the L1 blocks and the checkpoints.
pub trait BlockReader: Send + Sync {
    /// The block with this number.
    fn block_by_number(&self, number: u64) -> impl Future<Output = Result<Option<Block>>> + Send;

    /// The block with this hash.
    fn block_by_hash(&self, hash: B256) -> impl Future<Output = Result<Option<Block>>> + Send;

    /// The number of the last stored block; `None` when no block is stored.
    fn latest_block_number(&self) -> impl Future<Output = Result<Option<u64>>> + Send;

    /// The number, hash and state root of the last stored block, in one read; `None` when no
    /// block is stored.
    fn latest_block_head(&self) -> impl Future<Output = Result<Option<BlockHead>>> + Send;

    /// The transactions of a block, in order; empty when the block is not stored.
    fn block_transactions(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Vec<StoredTransaction>>> + Send;

    /// A transaction by its Ethereum hash, with its block and position.
    fn transaction_by_hash(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<Option<StoredTransaction>>> + Send;

    /// A transaction by Polygon's L2 transaction hash.
    fn transaction_by_l2_hash(
        &self,
        l2_hash: B256,
    ) -> impl Future<Output = Result<Option<StoredTransaction>>> + Send;

    /// The receipt of a transaction, with its logs in order.
    fn receipt(&self, tx_hash: B256) -> impl Future<Output = Result<Option<StoredReceipt>>> + Send;

    /// The receipts of a block, in order, each with its logs; empty when the block is not
    /// stored.
    fn block_receipts(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Vec<StoredReceipt>>> + Send;

    /// The logs that match a filter, by block and then log index.
    fn logs(&self, filter: &LogFilter) -> impl Future<Output = Result<Vec<StoredLog>>> + Send;

    /// The batch with this number.
    fn batch(&self, number: u64) -> impl Future<Output = Result<Option<Batch>>> + Send;

    /// The numbers of the blocks of a batch, in order.
    fn batch_block_numbers(&self, batch: u64) -> impl Future<Output = Result<Vec<u64>>> + Send;

    /// The last batch of each stage of the lifecycle.
    fn latest_batch_numbers(&self) -> impl Future<Output = Result<LatestBatchNumbers>> + Send;

    /// The L1 block with this number.
    fn l1_block(&self, number: u64) -> impl Future<Output = Result<Option<L1Block>>> + Send;

    /// The last stored L1 block.
    fn latest_l1_block(&self) -> impl Future<Output = Result<Option<L1Block>>> + Send;

    /// A checkpoint's value; `None` when it was never set.
    fn checkpoint(&self, name: &str) -> impl Future<Output = Result<Option<u64>>> + Send;

    // The `zkevm` JSON-RPC namespace's reads.

    /// The number of the last block of batch `batch` or of an earlier batch (a batch may hold
    /// no block); `None` when no such block is stored.
    fn last_block_up_to_batch(
        &self,
        batch: u64,
    ) -> impl Future<Output = Result<Option<u64>>> + Send;

    /// The state roots (Polygon's "native block hashes") of the stored blocks
    /// `from..=to`, in block order.
    fn block_state_roots(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<B256>>> + Send;

    /// The last non-zero global exit root a block set; `None` when no block set one.
    fn latest_global_exit_root(&self) -> impl Future<Output = Result<Option<B256>>> + Send;
}

/// Writes the L2 chain, the batches, the L1 blocks and the checkpoints. Every method is one
/// database transaction: a refused or interrupted call leaves nothing of itself behind.
pub trait BlockWriter: Send + Sync {
    /// Stores a block with its transactions, receipts and logs, and returns its hash. The pool
    /// rows of its transactions become `selected` in the same transaction, so a stored block
    /// never leaves one of its transactions pending in the pool.
    ///
    /// Refused, with nothing stored, when the number is stored already
    /// ([`crate::StorageError::BlockExists`]), when it does not follow the last stored block
    /// (`BlockNotNext`, `ParentMismatch`), when its batch is not open (`BlockBatchNotOpen`), when a
    /// transaction is stored already (`DuplicateTransaction`) or when the block contradicts
    /// itself (`InvalidBlock`). The first block stored may have any number.
    fn write_block(&self, block: &NewBlock) -> impl Future<Output = Result<B256>> + Send;

    /// Opens a batch: the first one stored may have any number, then each must follow the
    /// last, which must be closed.
    fn open_batch(&self, batch: &NewBatch) -> impl Future<Output = Result<()>> + Send;

    /// Saves the sequencer's progress on an open batch.
    fn update_open_batch(
        &self,
        progress: &OpenBatchProgress,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Closes an open batch with its final data and roots.
    fn close_batch(
        &self,
        number: u64,
        close: &BatchClose,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Marks a closed batch as sequenced on L1 by `tx_hash`. The batch before it, when stored,
    /// must be virtual or verified already.
    fn set_batch_virtual(
        &self,
        number: u64,
        tx_hash: B256,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Marks a virtual batch as verified on L1 by `tx_hash`. The batch before it, when stored,
    /// must be verified already.
    fn set_batch_verified(
        &self,
        number: u64,
        tx_hash: B256,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Stores an L1 block, replacing a stored block of the same number.
    fn write_l1_block(&self, block: &L1Block) -> impl Future<Output = Result<()>> + Send;

    /// Removes the L1 blocks from `number` on (an L1 reorg); returns how many were removed.
    fn remove_l1_blocks_from(&self, number: u64) -> impl Future<Output = Result<u64>> + Send;

    /// Sets a checkpoint.
    fn set_checkpoint(&self, name: &str, value: u64) -> impl Future<Output = Result<()>> + Send;
}

/// The transaction pool's table: pending rows, and what became of the others. Every method is
/// one database transaction.
pub trait PoolStore: Send + Sync {
    /// Stores rows as pending, in order, all or none. A [`PoolInsert::Replace`] row first
    /// deletes the pending row of its sender and nonce; the result holds, for each row, the
    /// hash of the row it replaced. A row whose hash is stored as failed or invalid is revived
    /// as pending with the new values.
    ///
    /// Refused, with nothing stored, when a hash is stored already as pending or selected
    /// ([`crate::StorageError::PoolTxExists`]) or when a [`PoolInsert::New`] row's sender and
    /// nonce are pending already (`PoolNonceTaken`).
    fn insert_pool_txs(
        &self,
        rows: &[(PoolTxRow, PoolInsert)],
    ) -> impl Future<Output = Result<Vec<Option<B256>>>> + Send;

    /// Stores one new pending row; see [`PoolStore::insert_pool_txs`].
    fn insert_pool_tx(&self, row: &PoolTxRow) -> impl Future<Output = Result<()>> + Send;

    /// Stores one pending row in place of the pending row of its sender and nonce, whose hash
    /// it returns (`None`: there was none); see [`PoolStore::insert_pool_txs`].
    fn replace_pool_tx(&self, row: &PoolTxRow)
        -> impl Future<Output = Result<Option<B256>>> + Send;

    /// Marks a pending row failed (or, with `invalid`, invalid) with the reason. Returns
    /// whether a pending row of that hash was found; other rows are left as they are.
    fn fail_pool_tx(
        &self,
        hash: B256,
        reason: &str,
        invalid: bool,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Every pending row, oldest first (by `received_at_ms`, then hash).
    fn pending_pool_txs(&self) -> impl Future<Output = Result<Vec<PoolTxRow>>> + Send;

    /// The status of a pool transaction; `None` when the pool never stored it (or a
    /// replacement deleted it).
    fn pool_tx_state(&self, hash: B256)
        -> impl Future<Output = Result<Option<PoolTxState>>> + Send;

    /// How many rows are pending.
    fn count_pending_pool_txs(&self) -> impl Future<Output = Result<u64>> + Send;
}
