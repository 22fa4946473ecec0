//! Executes batches the way Polygon's fork-12 processor does: decode, open L2 blocks, run each
//! transaction on revm over the state tree, keep the system contract's block bookkeeping and the
//! per-block info tree, and compute the batch's commitments; and runs read-only calls on the
//! same EVM.
//!
//! Entry points:
//! - [`execute_batch`] takes a state tree at the batch's old root, the code store, the
//!   [`BatchContext`] (chain, sequencer, timestamp limit, L1 info leaves, …) and the
//!   `batchL2Data`, and returns the tree at the new root (its new nodes not yet committed) with a
//!   [`BatchResult`];
//! - [`BatchBuilder`] takes the same steps one at a time, for a sequencer: open a block, run a
//!   transaction (and roll it back when it does not fit), close the block, seal the batch into
//!   the same [`BatchResult`] and the batch data its entries encode to. `execute_batch` is a loop
//!   over these steps, so each step has one implementation;
//! - [`ReadOnlyEvm`] runs calls (eth_call) and estimates gas (eth_estimateGas) over a state root,
//!   writing nothing;
//! - [`trace_block`] replays a stored block and [`ReadOnlyEvm::trace_call`] runs a call with
//!   geth's debug tracers (struct logger, callTracer, prestateTracer) watching.
//!
//! A batch run, step by step:
//! 1. The EVM is built over a [`StateDb`] on the tree: Berlin, plus fork 12's PUSH0 and
//!    BLOCKHASH, SELFDESTRUCT as SENDALL (the balance moves, the account stays, no refund) and
//!    EIP-3541 (no new code starting with 0xEF) (`evm.rs`), inside a [`BatchBuilder`]
//!    (`session.rs`).
//! 2. The data is decoded and its shape checked (a forced batch has no changeL2Block, a sequenced
//!    one starts with one); a failure makes the whole batch invalid (`mod.rs`, [`execute_batch`]).
//! 3. Every transaction's sender is recovered (its chain id checked first), on all cores, and
//!    every account the batch names is read ahead (`mod.rs`).
//! 4. The entries run in order:
//!    - a changeL2Block ends the open block ([`BatchBuilder::close_block`]) and opens the next
//!      one ([`BatchBuilder::open_block`]): first the checks that refuse it (a timestamp past the
//!      batch's limit or before its L1 info leaf's, an empty leaf; the proof checked when asked),
//!      which make a batch from L1 invalid; then the system contract's block number, previous
//!      state root and timestamp, the global exit root from its L1 info leaf, and the header
//!      fields of the block's info tree (`block.rs`, `begin_block`). A forced batch's one block
//!      opens with its first transaction, at the batch's timestamp limit or, when the limit is
//!      not later, at the current timestamp; its GER is the batch's L1 info root, recorded with
//!      the forced L1 block hash unless it is zero or already recorded (as the ROM does);
//!    - a transaction ([`BatchBuilder::execute_tx`], after a checkpoint of the open block and of
//!      the database, which [`BatchBuilder::rollback_last`] returns to) whose sender step 3
//!      could not give (wrong chain id, bad signature) is skipped with that reason; any other is
//!      checked (nonce, funds, sender code, gas limit) and skipped with a reason, or run on revm,
//!      its state changes written to the tree and its receipt added to the block's info tree
//!      (`tx.rs`, `transaction`);
//!    - a block is consolidated (its gas used into its info tree, the info tree's root into the
//!      system contract) when it ends and its last step (its opening or its last transaction)
//!      succeeded, and always when it is the batch's last (`block.rs`, `consolidate`); a block
//!      whose last transaction failed or was skipped, ended by the next changeL2Block, never has
//!      its info root reach the system contract (`block.rs`, `end_unconsolidated`).
//! 5. The batch is sealed ([`BatchBuilder::finish`], `session.rs`): an invalid batch rolls every
//!    write back (the state stays at the old root, and no transaction or block is reported);
//!    the local exit root is read, the ordered writes and the new bytecode are taken from the
//!    database (with each write's proof when [`BatchContext::with_proofs`] asks, by rewinding to
//!    the old root and replaying), and the batch hash and accumulated input hash are computed.
//!
//! Files: `mod.rs` the batch's inputs and errors, and [`execute_batch`]'s loop; `session.rs` the
//! step-by-step session ([`BatchBuilder`]: its state, the per-transaction checkpoint, sealing);
//! `block.rs` L2 block bookkeeping; `tx.rs` one transaction's checks, execution and receipt;
//! `evm.rs` EVM construction, the custom opcodes, the block environment and what a run's result
//! means; `call.rs` read-only calls and gas estimation; `trace.rs` debug traces (the tracer every
//! EVM carries, block replay); `result.rs` what a batch returns (the result types, the skip
//! reasons, the batch witness).

mod block;
mod call;
mod evm;
mod result;
mod session;
mod trace;
mod tx;

use std::collections::BTreeMap;

use rayon::prelude::*;
use revm::primitives::{Address, B256};
use zknode_state::{NodeReader, StateTree};

use crate::codec::{decode_batch, BatchEntry};
use crate::db::CodeSource;
#[cfg(doc)]
use crate::db::StateDb;
use crate::db::StateError;
use crate::hashes::L1InfoLeaf;

pub use call::{CallRequest, CallResult, ReadOnlyEvm};
pub use result::{
    BatchResult, L2Block, Receipt, TxResult, INVALID_CHAIN_ID, INVALID_FUNDS, INVALID_GAS_LIMIT,
    INVALID_NONCE, INVALID_SENDER_CODE, INVALID_SIGNATURE,
};
pub use session::{BatchBuilder, BlockRejected, ClosedBlock, SealedBatch};
pub use trace::{
    trace_block, GethDebugTracingOptions, GethTrace, ReplayBlock, TraceError, TraceOptions,
    TracerKind, MAX_SNAPSHOT_BYTES, MAX_STRUCT_LOG_STEPS,
};

/// What a batch is executed against, besides the state.
#[derive(Clone, Debug)]
pub struct BatchContext {
    pub chain_id: u64,
    pub fork_id: u64,
    pub sequencer: Address,
    pub timestamp_limit: u64,
    pub l1_info_root: B256,
    pub old_acc_input_hash: B256,
    /// Zero for a sequenced batch; the L1 block hash for a forced batch.
    pub forced_block_hash_l1: B256,
    /// The L1 info leaves the batch's changeL2Block entries point at, by index.
    pub l1_info: BTreeMap<u32, L1InfoLeaf>,
    /// Check each used L1 info leaf's Merkle proof against `l1_info_root`.
    pub verify_l1_info_proofs: bool,
    /// Also return each state update's proof ([`BatchResult::ops`]), as the batch witness
    /// needs; without, only the ordered writes (the proofs can be rebuilt later with
    /// [`crate::db::prove_writes`] from the old root).
    pub with_proofs: bool,
}

impl BatchContext {
    pub fn is_forced(&self) -> bool {
        !self.forced_block_hash_l1.is_zero()
    }
}

/// Errors that stop execution. Bad batch contents are not errors: they give an invalid batch or
/// skipped transactions in the [`BatchResult`].
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("changeL2Block names L1 info leaf {0}, which the batch context does not provide")]
    MissingL1Info(u32),
    #[error("L1 info leaf {0} does not verify against the batch's L1 info root")]
    BadL1InfoProof(u32),
    /// A [`BatchBuilder`] step called out of order (a transaction with no block open, …).
    #[error("batch session: {0}")]
    Session(&'static str),
}

/// Executes `batch_l2_data` on `tree` (whose current root is the batch's old root). Returns the
/// tree at the new root (its new nodes pending until the caller commits) and the result.
pub fn execute_batch<'c, S: NodeReader>(
    tree: StateTree<S>,
    codes: &'c dyn CodeSource,
    ctx: &'c BatchContext,
    batch_l2_data: &[u8],
) -> Result<(StateTree<S>, BatchResult), ExecError> {
    let mut batch = BatchBuilder::new(tree, codes, ctx);
    match decode_batch(batch_l2_data) {
        Err(e) => batch.invalidate(e.to_string()),
        Ok(entries) => match shape_error(ctx, &entries) {
            Some(reason) => batch.invalidate(reason.into()),
            None => run_entries(&mut batch, entries)?,
        },
    }
    let sealed = batch.seal(batch_l2_data.to_vec())?;
    Ok((sealed.tree, sealed.result))
}

/// Why the entries cannot be a batch of this kind.
fn shape_error(ctx: &BatchContext, entries: &[BatchEntry]) -> Option<&'static str> {
    let is_change = |e: &BatchEntry| matches!(e, BatchEntry::ChangeL2Block(_));
    if ctx.is_forced() && entries.iter().any(is_change) {
        return Some("a forced batch may not contain changeL2Block");
    }
    if !ctx.is_forced() && entries.first().is_some_and(|e| !is_change(e)) {
        return Some("a sequenced batch must start with changeL2Block");
    }
    None
}

/// Runs a batch's entries through the session, as a sequencer would have built it.
fn run_entries<S: NodeReader>(
    batch: &mut BatchBuilder<'_, S>,
    entries: Vec<BatchEntry>,
) -> Result<(), ExecError> {
    let chain_id = batch.ctx.chain_id;
    // Senders first, on all cores: signature checks need no state.
    let senders: Vec<Option<Result<Address, &'static str>>> = entries
        .par_iter()
        .map(|e| match e {
            BatchEntry::ChangeL2Block(_) => None,
            BatchEntry::Tx(tx) => Some(session::sender_of(tx, chain_id)),
        })
        .collect();
    // Every account the batch names, read in parallel before execution needs it.
    let mut named: Vec<Address> = vec![batch.ctx.sequencer];
    for (e, s) in entries.iter().zip(&senders) {
        if let (BatchEntry::Tx(tx), Some(Ok(from))) = (e, s) {
            named.push(*from);
            named.extend(tx.to);
        }
    }
    batch.prefetch(&named)?;
    for (entry, sender) in entries.into_iter().zip(senders) {
        match (entry, sender) {
            (BatchEntry::ChangeL2Block(c), _) => {
                if batch.current_block().is_some() {
                    batch.close_block()?;
                }
                if let Err(rejected) = batch.open_block(c)? {
                    batch.invalidate(rejected.0);
                    return Ok(());
                }
            }
            (BatchEntry::Tx(tx), Some(sender)) => {
                batch.execute_recovered(*tx, sender)?;
            }
            (BatchEntry::Tx(_), None) => unreachable!("every transaction has a sender entry"),
        }
    }
    Ok(())
}
