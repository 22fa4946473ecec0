//! A batch built step by step: [`BatchBuilder`] opens L2 blocks, runs transactions (each of which
//! can be rolled back while it is the last step), closes blocks and seals the batch into the
//! [`BatchResult`] and the `batchL2Data` its entries encode to. [`super::execute_batch`] is a loop
//! over these steps; a sequencer calls them as transactions arrive.

use std::collections::BTreeMap;

use revm::primitives::{Address, Bytes, B256};
use ruint::aliases::U256;
use zknode_state::{Hash, NodeReader, StateTree};

use super::block::OpenBlock;
use super::evm::{new_evm, Evm};
use super::{
    BatchContext, BatchResult, ExecError, L2Block, TxResult, INVALID_CHAIN_ID, INVALID_SIGNATURE,
};
use crate::codec::{encode_batch, BatchEntry, ChangeL2Block, RawTx};
use crate::db::{prove_writes, rewind, CodeSource, StateDb};
use crate::hashes::{acc_input_hash, batch_hash_data, AccInput, L1InfoLeaf};
use crate::system::{GER_MANAGER_ADDRESS, LOCAL_EXIT_ROOT_SLOT, SYSTEM_ADDRESS, TIMESTAMP_SLOT};

/// Why an L2 block may not open (its timestamp, its L1 info leaf, or a forced batch). The
/// session is unchanged: the caller may try other values. In a batch read from L1 the same
/// reason makes the whole batch invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BlockRejected(pub String);

/// A block [`BatchBuilder::close_block`] ended.
#[derive(Debug)]
pub struct ClosedBlock<'a> {
    /// Its summary: number, timestamp, gas used, block-info root, hash (the state root after
    /// it), and its transactions' indexes.
    pub block: &'a L2Block,
    /// Its executed transactions, with their receipts.
    pub txs: Vec<&'a TxResult>,
    /// The block's last transaction failed or was skipped, so it ended without its info root
    /// reaching the system contract, as the reference ends such a block when another follows.
    /// If the batch is then sealed with no further block, the reference consolidates it after
    /// all: [`BatchBuilder::finish`] does so, and its `block_info_root` and `hash` change (the
    /// sealed [`BatchResult::blocks`] has the final ones).
    pub provisional: bool,
}

/// A sealed batch: the tree at the new root (its new nodes pending until the caller commits),
/// the result, and the batch data.
pub struct SealedBatch<S> {
    pub tree: StateTree<S>,
    pub result: BatchResult,
    /// `batchL2Data` of the session's entries, as [`encode_batch`] gives it.
    pub batch_l2_data: Vec<u8>,
}

/// How to undo the last transaction (with the database's checkpoint taken before it).
struct TxUndo {
    info_len: usize,
    gas_used: u64,
    tx_index: u64,
    log_index: u64,
    block_txs: usize,
    last_step_ok: bool,
}

/// One batch being executed, step by step, over a state tree at the batch's old root.
///
/// A sequenced batch: [`open_block`](Self::open_block) (or
/// [`open_block_at`](Self::open_block_at)), then [`execute_tx`](Self::execute_tx) for each
/// transaction (dropping one with [`rollback_last`](Self::rollback_last) when it does not fit),
/// [`close_block`](Self::close_block) before the next block, and [`finish`](Self::finish), which
/// also ends a block still open. A forced batch has no changeL2Block: its one block opens with
/// its first transaction.
///
/// The steps are those of [`super::execute_batch`] on the entries the session records, so
/// sealing gives the result that executing [`SealedBatch::batch_l2_data`] from the same root
/// gives. After an [`ExecError`] the session is in no defined state: drop it.
pub struct BatchBuilder<'c, S: NodeReader> {
    pub(super) ctx: &'c BatchContext,
    pub(super) evm: Evm<'c, S>,
    old_state_root: Hash,
    /// The open L2 block.
    pub(super) block: Option<OpenBlock>,
    /// The blocks ended so far.
    pub(super) blocks: Vec<L2Block>,
    pub(super) txs: Vec<TxResult>,
    entries: Vec<BatchEntry>,
    /// Whether the open block's last step (its opening, or its last transaction) succeeded: the
    /// reference consolidates a block before the next one only then.
    last_step_ok: bool,
    /// Set while the last step is a transaction.
    undo_tx: Option<TxUndo>,
    /// The last block, when it ended unconsolidated, with the mark of the writes flushed as it
    /// ended: sealing without a further block consolidates it after all.
    provisional: Option<(OpenBlock, usize)>,
    /// Set when the batch is invalid as a whole (only a batch read from L1 can be).
    invalid: Option<String>,
    /// L1 info leaves added after the session began ([`Self::add_l1_info`]).
    pub(super) added_l1_info: BTreeMap<u32, L1InfoLeaf>,
}

/// The sender of `tx` on chain `chain_id`, or why the transaction is skipped: its chain id is
/// checked before its signature.
pub(super) fn sender_of(tx: &RawTx, chain_id: u64) -> Result<Address, &'static str> {
    match tx.chain_id {
        Some(c) if c != chain_id => Err(INVALID_CHAIN_ID),
        _ => tx.recover_sender().map_err(|_| INVALID_SIGNATURE),
    }
}

impl<'c, S: NodeReader> BatchBuilder<'c, S> {
    /// A session over `tree` (at the batch's old root), reading bytecode from `codes`.
    pub fn new(tree: StateTree<S>, codes: &'c dyn CodeSource, ctx: &'c BatchContext) -> Self {
        let old_state_root = tree.root();
        let evm = new_evm(StateDb::new(tree, codes), ctx.chain_id);
        Self {
            ctx,
            evm,
            old_state_root,
            block: None,
            blocks: Vec::new(),
            txs: Vec::new(),
            entries: Vec::new(),
            last_step_ok: true,
            undo_tx: None,
            provisional: None,
            invalid: None,
            added_l1_info: BTreeMap::new(),
        }
    }

    /// Makes L1 info leaf `index` available to the blocks opened from now on, beside the
    /// context's leaves (a sequencer learns of new leaves while its batch is open). Where the
    /// context has a leaf of that index, the context's is used.
    pub fn add_l1_info(&mut self, index: u32, leaf: L1InfoLeaf) {
        self.added_l1_info.insert(index, leaf);
    }

    pub(super) fn db(&mut self) -> &mut StateDb<'c, S> {
        &mut self.evm.ctx.journaled_state.database
    }

    pub(super) fn sys(&mut self, slot: U256) -> Result<U256, ExecError> {
        Ok(self.db().storage_value(SYSTEM_ADDRESS, slot)?)
    }

    pub(super) fn set_sys(&mut self, slot: U256, v: U256) -> Result<(), ExecError> {
        Ok(self.db().set_storage(SYSTEM_ADDRESS, slot, v)?)
    }

    /// The entries so far: what [`SealedBatch::batch_l2_data`] will encode.
    pub fn entries(&self) -> &[BatchEntry] {
        &self.entries
    }

    /// The open block as it stands (`None` when no block is open).
    pub fn current_block(&self) -> Option<&L2Block> {
        self.block.as_ref().map(|b| &b.record)
    }

    /// Every transaction so far, executed or skipped, in batch order.
    pub fn txs(&self) -> &[TxResult] {
        &self.txs
    }

    /// Reads these accounts ahead, all at once.
    pub(super) fn prefetch(&mut self, addrs: &[Address]) -> Result<(), ExecError> {
        Ok(self.db().prefetch(addrs)?)
    }

    /// Makes the whole batch invalid: sealing rolls every write back.
    pub(super) fn invalidate(&mut self, reason: String) {
        self.invalid = Some(reason);
    }

    /// Opens an L2 block (a changeL2Block entry): the system contract's block number, previous
    /// state root and timestamp, the global exit root of L1 info leaf `index_l1_info_tree` (0:
    /// none), and the header fields of the block's info tree. A block must not be open.
    ///
    /// `Ok(Err(_))`: the block may not open (its timestamp is past the batch's limit or before
    /// its L1 info leaf's, the leaf is empty, or the batch is forced); nothing changed.
    pub fn open_block(
        &mut self,
        change: ChangeL2Block,
    ) -> Result<Result<&L2Block, BlockRejected>, ExecError> {
        if self.block.is_some() {
            return Err(ExecError::Session("a block is open: close it first"));
        }
        if self.ctx.is_forced() {
            return Ok(Err(BlockRejected(
                "a forced batch may not contain changeL2Block".into(),
            )));
        }
        if let Err(reason) = self.begin_block(Some(&change))? {
            return Ok(Err(BlockRejected(reason)));
        }
        self.provisional = None;
        self.undo_tx = None;
        self.last_step_ok = true;
        self.entries.push(BatchEntry::ChangeL2Block(change));
        Ok(Ok(self.current_block().expect("just opened")))
    }

    /// [`Self::open_block`] at an absolute `timestamp` (at or after the previous block's, at
    /// most 2^32 - 1 seconds later).
    pub fn open_block_at(
        &mut self,
        timestamp: u64,
        l1_info_index: u32,
    ) -> Result<Result<&L2Block, BlockRejected>, ExecError> {
        let previous = self.sys(U256::from(TIMESTAMP_SLOT))?;
        let delta = U256::from(timestamp)
            .checked_sub(previous)
            .and_then(|d| u32::try_from(d).ok());
        let Some(delta_timestamp) = delta else {
            return Ok(Err(BlockRejected(format!(
                "block timestamp {timestamp} is before the previous block's {previous} or more \
                 than 2^32 - 1 seconds after it"
            ))));
        };
        self.open_block(ChangeL2Block {
            delta_timestamp,
            index_l1_info_tree: l1_info_index,
        })
    }

    /// Runs one transaction in the open block. `sender` is the address `tx` recovers to when the
    /// caller already knows it (checked here only in debug builds); `None` recovers it.
    ///
    /// The outcome: a receipt (success or revert, gas, logs, created contract), or the reason
    /// the transaction is skipped (chain id, signature, nonce, funds, sender code, gas limit),
    /// in which case the state is unchanged by it but it stays in the batch, as the batch data
    /// would carry it, unless rolled back.
    pub fn execute_tx(
        &mut self,
        tx: RawTx,
        sender: Option<Address>,
    ) -> Result<&TxResult, ExecError> {
        let sender = match sender {
            None => sender_of(&tx, self.ctx.chain_id),
            Some(from) => {
                debug_assert!(
                    tx.recover_sender().map_or(true, |r| r == from),
                    "the given sender is not the signer"
                );
                match tx.chain_id {
                    Some(c) if c != self.ctx.chain_id => Err(INVALID_CHAIN_ID),
                    _ => Ok(from),
                }
            }
        };
        self.execute_recovered(tx, sender)
    }

    /// [`Self::execute_tx`] with the sender step already taken: its address, or why there is
    /// none.
    pub(super) fn execute_recovered(
        &mut self,
        tx: RawTx,
        sender: Result<Address, &'static str>,
    ) -> Result<&TxResult, ExecError> {
        if self.block.is_none() {
            // A forced batch's one block opens with its first transaction.
            if !(self.ctx.is_forced() && self.blocks.is_empty() && self.provisional.is_none()) {
                return Err(ExecError::Session("no L2 block is open"));
            }
            if let Err(reason) = self.begin_block(None)? {
                unreachable!("a forced batch's block always opens: {reason}");
            }
        }
        let b = self.block.as_ref().expect("a block is open");
        self.undo_tx = Some(TxUndo {
            info_len: b.info_len(),
            gas_used: b.record.gas_used,
            tx_index: b.tx_index,
            log_index: b.log_index,
            block_txs: b.record.txs.len(),
            last_step_ok: self.last_step_ok,
        });
        self.db().checkpoint();
        self.last_step_ok = self.transaction(&tx, sender)?;
        self.entries.push(BatchEntry::Tx(Box::new(tx)));
        Ok(self.txs.last().expect("the transaction was recorded"))
    }

    /// Takes the last transaction out of the batch, as if it had never run: its state changes,
    /// its receipt, its entry. Only right after [`Self::execute_tx`], once; never in a forced
    /// batch (which runs as L1 sequenced it).
    pub fn rollback_last(&mut self) -> Result<TxResult, ExecError> {
        if self.ctx.is_forced() {
            return Err(ExecError::Session("a forced batch is not built"));
        }
        let u = self
            .undo_tx
            .take()
            .ok_or(ExecError::Session("the last step is not a transaction"))?;
        if !self.db().revert_to_checkpoint() {
            return Err(ExecError::Session("the transaction's checkpoint is gone"));
        }
        let b = self
            .block
            .as_mut()
            .expect("a transaction's block stays open");
        b.truncate_info(u.info_len);
        b.record.gas_used = u.gas_used;
        b.tx_index = u.tx_index;
        b.log_index = u.log_index;
        b.record.txs.truncate(u.block_txs);
        self.last_step_ok = u.last_step_ok;
        self.entries.pop();
        Ok(self.txs.pop().expect("the transaction was recorded"))
    }

    /// Ends the open block, as the reference ends a block that another block follows: it is
    /// consolidated (its gas used into its info tree, the info tree's root into the system
    /// contract) unless its last transaction failed or was skipped (see
    /// [`ClosedBlock::provisional`]).
    pub fn close_block(&mut self) -> Result<ClosedBlock<'_>, ExecError> {
        let open = self
            .block
            .take()
            .ok_or(ExecError::Session("no L2 block is open"))?;
        self.undo_tx = None;
        let provisional = !self.last_step_ok;
        if provisional {
            let mark = self.db().flushed_len();
            self.end_unconsolidated(&open)?;
            self.provisional = Some((open, mark));
        } else {
            self.consolidate(Some(open))?;
        }
        let block = self.blocks.last().expect("the block was recorded");
        Ok(ClosedBlock {
            block,
            txs: block.txs.iter().map(|&i| &self.txs[i]).collect(),
            provisional,
        })
    }

    /// Writes the state of the blocks ended so far (new bytecode, then the tree's nodes) to the
    /// tree's store, so that their state roots stay readable after a crash; returns the root
    /// they reach. Call it between blocks: what the open block wrote is not in the tree yet.
    pub fn commit_state(&mut self) -> Result<Hash, ExecError>
    where
        S: zknode_state::NodeStore + zknode_state::CodeStore,
    {
        Ok(self.db().commit()?)
    }

    /// The nonce of `address` with every step so far applied.
    pub fn nonce(&mut self, address: Address) -> Result<u64, ExecError> {
        Ok(self.db().nonce(address)?)
    }

    /// How many state-tree writes the batch has made so far, counting each key the open block
    /// changed once: an upper bound on the operations its batch proof will have.
    pub fn state_writes(&mut self) -> usize {
        self.db().write_count()
    }

    /// Seals the batch: ends the open block (always consolidated, as the reference ends a
    /// batch's last block), and returns the tree, the [`BatchResult`] and the batch data.
    pub fn finish(self) -> Result<SealedBatch<S>, ExecError> {
        let data = encode_batch(&self.entries);
        self.seal(data)
    }

    /// Seals the batch whose data is `batch_l2_data` (the session's entries encoded, or, for a
    /// batch invalid before any step, the data as given).
    pub(super) fn seal(mut self, batch_l2_data: Vec<u8>) -> Result<SealedBatch<S>, ExecError> {
        let ctx = self.ctx;
        let old_state_root = self.old_state_root;
        if self.invalid.is_some() {
            self.db().rollback()?;
            self.txs.clear();
            self.blocks.clear();
        } else if let Some(open) = self.block.take() {
            self.consolidate(Some(open))?;
        } else if let Some((open, mark)) = self.provisional.take() {
            // The batch ends with the block after all: consolidated, its writes flushed in one
            // group with its info root, as when it is ended here directly.
            self.blocks.pop();
            self.db().unflush(mark)?;
            self.consolidate(Some(open))?;
        } else if self.blocks.is_empty() {
            // No block at all: the reference still writes an empty info root.
            self.consolidate(None)?;
        }
        let new_local_exit_root = B256::from(
            self.db()
                .storage_value(GER_MANAGER_ADDRESS, U256::from(LOCAL_EXIT_ROOT_SLOT))?
                .to_be_bytes::<32>(),
        );
        let (mut tree, writes, new_code) = self.evm.ctx.journaled_state.database.finish()?;
        let ops = if ctx.with_proofs && !writes.is_empty() {
            // Back to the old root, then forward one write at a time.
            let new_root = tree.root();
            rewind(&mut tree, &writes)?;
            debug_assert_eq!(tree.root(), old_state_root);
            let ops = prove_writes(&mut tree, &writes)?;
            debug_assert_eq!(tree.root(), new_root);
            ops
        } else {
            Vec::new()
        };
        let bh = batch_hash_data(&batch_l2_data);
        let new_acc_input_hash = acc_input_hash(&AccInput {
            old_acc_input_hash: ctx.old_acc_input_hash,
            batch_hash_data: bh,
            l1_info_root: ctx.l1_info_root,
            timestamp_limit: ctx.timestamp_limit,
            sequencer: ctx.sequencer,
            forced_block_hash_l1: ctx.forced_block_hash_l1,
        });
        if self.invalid.is_some() {
            debug_assert_eq!(tree.root(), old_state_root);
        }
        let mut new_code: Vec<(Hash, Bytes)> = new_code.into_iter().collect();
        new_code.sort_unstable_by_key(|(h, _)| *h);
        let new_state_root = tree.root();
        Ok(SealedBatch {
            tree,
            result: BatchResult {
                old_state_root,
                new_state_root,
                batch_hash_data: bh,
                new_acc_input_hash,
                new_local_exit_root,
                invalid_batch: self.invalid,
                txs: self.txs,
                blocks: self.blocks,
                writes,
                ops,
                new_code,
            },
            batch_l2_data,
        })
    }
}
