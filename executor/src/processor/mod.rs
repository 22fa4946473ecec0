//! Executes one batch the way Polygon's fork-12 processor does: decode, open L2 blocks, run each
//! transaction on revm over the state tree, keep the system contract's block bookkeeping and the
//! per-block info tree, and compute the batch's commitments.
//!
//! The entry point is [`execute_batch`]: it takes a state tree at the batch's old root, the code
//! store, the [`BatchContext`] (chain, sequencer, timestamp limit, L1 info leaves, …) and the
//! `batchL2Data`, and returns the tree at the new root (its new nodes not yet committed) with a
//! [`BatchResult`].
//!
//! A batch run, step by step:
//! 1. The EVM is built over a [`StateDb`] on the tree: Berlin, plus fork 12's PUSH0 and
//!    BLOCKHASH (`evm.rs`).
//! 2. The data is decoded and its shape checked (a forced batch has no changeL2Block, a sequenced
//!    one starts with one); a failure makes the whole batch invalid (`mod.rs`, `Run::process`).
//! 3. Every transaction's sender is recovered (its chain id checked first), on all cores, and
//!    every account the batch names is read ahead (`mod.rs`).
//! 4. The entries run in order (`mod.rs`):
//!    - a changeL2Block (and, in a forced batch, the implicit first block) ends the open block
//!      and opens the next one: the system contract's block number, previous state root and
//!      timestamp, the global exit root from its L1 info leaf (the proof checked when asked),
//!      and the header fields of the block's info tree; a timestamp past the batch's limit or
//!      before the leaf's makes the batch invalid (`block.rs`, `Run::change_l2_block`);
//!    - a transaction whose sender step 3 could not give (wrong chain id, bad signature) is
//!      skipped with that reason; any other is checked (nonce, funds, sender code, gas limit)
//!      and skipped with a reason, or run on revm, its state changes written to the tree and its
//!      receipt added to the block's info tree (`tx.rs`, `Run::transaction`);
//!    - a block is consolidated (its gas used into its info tree, the info tree's root into the
//!      system contract) when a changeL2Block follows a changeL2Block or a successful
//!      transaction, and after the last entry (`block.rs`, `Run::consolidate`); a block whose
//!      last transaction failed or was skipped is ended by the next changeL2Block, its info root
//!      never reaching the system contract.
//! 5. An invalid batch rolls every write back: the state stays at the old root, and no
//!    transaction or block is reported (`mod.rs`).
//! 6. The batch is finished (`mod.rs`, [`execute_batch`]): the local exit root is read, the
//!    ordered writes and the new bytecode are taken from the database (with each write's proof
//!    when [`BatchContext::with_proofs`] asks, by rewinding to the old root and replaying), and
//!    the batch hash and accumulated input hash are computed.
//!
//! Files: `mod.rs` the entry point, its inputs and errors, and the batch loop; `result.rs` what a
//! run returns (the result types, the skip reasons, the batch witness); `evm.rs` EVM construction
//! and the custom opcodes; `block.rs` L2 block bookkeeping; `tx.rs` one transaction's checks,
//! execution and receipt.

mod block;
mod evm;
mod result;
mod tx;

use std::collections::BTreeMap;

use rayon::prelude::*;
use revm::primitives::{Address, Bytes, B256};
use ruint::aliases::U256;
use zknode_state::{Hash, NodeReader, StateTree};

use crate::codec::{decode_batch, BatchEntry};
use crate::db::{prove_writes, rewind, CodeSource, StateDb, StateError};
use crate::hashes::{acc_input_hash, batch_hash_data, AccInput, L1InfoLeaf};
use crate::system::{GER_MANAGER_ADDRESS, LOCAL_EXIT_ROOT_SLOT, SYSTEM_ADDRESS};

use block::OpenBlock;
use evm::{new_evm, Evm};
pub use result::{
    BatchResult, L2Block, Receipt, TxResult, INVALID_CHAIN_ID, INVALID_FUNDS, INVALID_GAS_LIMIT,
    INVALID_NONCE, INVALID_SENDER_CODE, INVALID_SIGNATURE,
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
}

/// One batch run in progress: the EVM over the state, the open L2 block, and the blocks and
/// transactions recorded so far. Its steps live in `block.rs` and `tx.rs`.
struct Run<'c, S: NodeReader> {
    ctx: &'c BatchContext,
    evm: Evm<'c, S>,
    block: Option<OpenBlock>,
    blocks: Vec<L2Block>,
    txs: Vec<TxResult>,
}

/// Executes `batch_l2_data` on `tree` (whose current root is the batch's old root). Returns the
/// tree at the new root (its new nodes pending until the caller commits) and the result.
pub fn execute_batch<'c, S: NodeReader>(
    tree: StateTree<S>,
    codes: &'c dyn CodeSource,
    ctx: &'c BatchContext,
    batch_l2_data: &[u8],
) -> Result<(StateTree<S>, BatchResult), ExecError> {
    let old_state_root = tree.root();
    let db = StateDb::new(tree, codes);
    let evm = new_evm(db, ctx.chain_id);
    let mut run = Run {
        ctx,
        evm,
        block: None,
        blocks: Vec::new(),
        txs: Vec::new(),
    };
    let mut invalid_batch = run.process(batch_l2_data)?;
    if invalid_batch.is_some() {
        run.db().rollback()?;
        run.txs.clear();
        run.blocks.clear();
    }
    let new_local_exit_root = B256::from(
        run.db()
            .storage_value(GER_MANAGER_ADDRESS, U256::from(LOCAL_EXIT_ROOT_SLOT))?
            .to_be_bytes::<32>(),
    );
    let (mut tree, writes, new_code) = run.evm.ctx.journaled_state.database.finish()?;
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
    let bh = batch_hash_data(batch_l2_data);
    let new_acc_input_hash = acc_input_hash(&AccInput {
        old_acc_input_hash: ctx.old_acc_input_hash,
        batch_hash_data: bh,
        l1_info_root: ctx.l1_info_root,
        timestamp_limit: ctx.timestamp_limit,
        sequencer: ctx.sequencer,
        forced_block_hash_l1: ctx.forced_block_hash_l1,
    });
    if invalid_batch.is_some() {
        debug_assert_eq!(tree.root(), old_state_root);
    }
    let mut new_code: Vec<(Hash, Bytes)> = new_code.into_iter().collect();
    new_code.sort_unstable_by_key(|(h, _)| *h);
    let new_state_root = tree.root();
    Ok((
        tree,
        BatchResult {
            old_state_root,
            new_state_root,
            batch_hash_data: bh,
            new_acc_input_hash,
            new_local_exit_root,
            invalid_batch: invalid_batch.take(),
            txs: run.txs,
            blocks: run.blocks,
            writes,
            ops,
            new_code,
        },
    ))
}

impl<'c, S: NodeReader> Run<'c, S> {
    fn db(&mut self) -> &mut StateDb<'c, S> {
        &mut self.evm.ctx.journaled_state.database
    }

    fn sys(&mut self, slot: U256) -> Result<U256, ExecError> {
        Ok(self.db().storage_value(SYSTEM_ADDRESS, slot)?)
    }

    fn set_sys(&mut self, slot: U256, v: U256) -> Result<(), ExecError> {
        Ok(self.db().set_storage(SYSTEM_ADDRESS, slot, v)?)
    }

    /// Runs the batch; `Some(reason)` when it is invalid as a whole.
    fn process(&mut self, data: &[u8]) -> Result<Option<String>, ExecError> {
        let entries = match decode_batch(data) {
            Ok(e) => e,
            Err(e) => return Ok(Some(e.to_string())),
        };
        let forced = self.ctx.is_forced();
        if forced
            && entries
                .iter()
                .any(|e| matches!(e, BatchEntry::ChangeL2Block(_)))
        {
            return Ok(Some("a forced batch may not contain changeL2Block".into()));
        }
        if !forced && !matches!(entries.first(), None | Some(BatchEntry::ChangeL2Block(_))) {
            return Ok(Some(
                "a sequenced batch must start with changeL2Block".into(),
            ));
        }
        // Senders first, on all cores: signature checks need no state.
        let senders: Vec<Option<Result<Address, &'static str>>> = entries
            .par_iter()
            .map(|e| match e {
                BatchEntry::ChangeL2Block(_) => None,
                BatchEntry::Tx(tx) => Some(match tx.chain_id {
                    Some(c) if c != self.ctx.chain_id => Err(INVALID_CHAIN_ID),
                    _ => tx.recover_sender().map_err(|_| INVALID_SIGNATURE),
                }),
            })
            .collect();
        // Every account the batch names, read in parallel before execution needs it.
        let mut named: Vec<Address> = vec![self.ctx.sequencer];
        for (e, s) in entries.iter().zip(&senders) {
            if let (BatchEntry::Tx(tx), Some(Ok(from))) = (e, s) {
                named.push(*from);
                named.extend(tx.to);
            }
        }
        self.db().prefetch(&named)?;
        let mut n_tx = 0;
        for (i, entry) in entries.iter().enumerate() {
            if i == 0 && forced {
                if let Some(r) = self.change_l2_block(None)? {
                    return Ok(Some(r));
                }
            }
            let next_is_change = matches!(entries.get(i + 1), Some(BatchEntry::ChangeL2Block(_)));
            match (entry, &senders[i]) {
                (BatchEntry::ChangeL2Block(c), _) => {
                    if let Some(r) = self.change_l2_block(Some(c))? {
                        return Ok(Some(r));
                    }
                    if next_is_change {
                        self.consolidate()?;
                    }
                }
                (BatchEntry::Tx(tx), Some(sender)) => {
                    let index = n_tx;
                    n_tx += 1;
                    let executed_ok = self.transaction(index, tx, *sender)?;
                    // Polygon's processor closes a block early only after a transaction that
                    // ran to success.
                    if executed_ok && next_is_change {
                        self.consolidate()?;
                    }
                }
                (BatchEntry::Tx(_), None) => unreachable!("every transaction has a sender entry"),
            }
        }
        self.consolidate()?;
        Ok(None)
    }
}
