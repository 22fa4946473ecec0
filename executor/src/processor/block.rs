//! L2 block bookkeeping: opening a block (the checks that refuse it, then the system contract's
//! block number, previous state root and timestamp, the global exit root from the L1 info leaf,
//! the header fields of the block's info tree), ending one (consolidated: its info root into the
//! system contract; or not) and the record of each block the batch opened.

use revm::primitives::B256;
use ruint::aliases::U256;
use zknode_state::{Hash, MemoryStore, NodeReader, StateTree};

use super::{BatchBuilder, ExecError, L2Block};
use crate::codec::ChangeL2Block;
use crate::db::StateError;
use crate::hashes::{l1_info_leaf_hash, l1_info_zero_leaf, verify_l1_info_proof};
use crate::system::{
    header_key, mapping_slot, HeaderParam, BLOCK_GAS_LIMIT, BLOCK_INFO_ROOT_SLOT,
    GER_MANAGER_ADDRESS, GER_MAPPING_SLOT, LAST_BLOCK_SLOT, STATE_ROOT_SLOT, TIMESTAMP_SLOT,
};

fn hash_to_b256(h: &Hash) -> B256 {
    B256::from(h.to_u256().to_be_bytes::<32>())
}

fn b256_to_u256(b: &B256) -> U256 {
    U256::from_be_bytes(b.0)
}

/// The open L2 block.
pub(super) struct OpenBlock {
    pub(super) record: L2Block,
    /// Writes to the block info tree (built at once when the block closes).
    info: Vec<(Hash, U256)>,
    pub(super) tx_index: u64,
    pub(super) log_index: u64,
}

impl OpenBlock {
    pub(super) fn set(&mut self, key: Hash, value: U256) {
        self.info.push((key, value));
    }

    /// Writes to the info tree so far (a mark for [`Self::truncate_info`]).
    pub(super) fn info_len(&self) -> usize {
        self.info.len()
    }

    /// Forgets the info tree writes after `mark`.
    pub(super) fn truncate_info(&mut self, mark: usize) {
        self.info.truncate(mark);
    }

    /// The block info tree's root.
    fn info_root(&self) -> Result<Hash, ExecError> {
        let mut t = StateTree::open(MemoryStore::new()).map_err(StateError::from)?;
        Ok(t.apply_batch(&self.info).map_err(StateError::from)?)
    }
}

impl<S: NodeReader> BatchBuilder<'_, S> {
    /// Opens an L2 block (`None`: the implicit block of a forced batch). No block may be open.
    /// `Ok(Err(reason))`: the block may not open, and nothing was written.
    pub(super) fn begin_block(
        &mut self,
        c: Option<&ChangeL2Block>,
    ) -> Result<Result<(), String>, ExecError> {
        debug_assert!(self.block.is_none());
        let current_ts = self.sys(U256::from(TIMESTAMP_SLOT))?;
        let limit = U256::from(self.ctx.timestamp_limit);
        // First every check that refuses the block, so that a refused block writes nothing.
        // The block's timestamp, the GER and L1 block hash the block carries, and whether to
        // record that GER in the global exit root manager.
        let (timestamp, ger, block_hash_l1, record_ger) = match c {
            // A forced batch's block, as the ROM opens it: the timestamp moves up to the batch's
            // limit, or stays (and the block carries the current one) when the limit is not
            // later; the GER is the batch's L1 info root, recorded with the forced L1 block
            // hash unless it is zero or already recorded.
            None => {
                let ger = self.ctx.l1_info_root;
                (
                    limit.max(current_ts),
                    ger,
                    self.ctx.forced_block_hash_l1,
                    self.ger_unrecorded(ger)?,
                )
            }
            Some(c) => {
                let new_ts = current_ts + U256::from(c.delta_timestamp);
                if new_ts > limit {
                    return Ok(Err(format!(
                        "block timestamp {new_ts} is past the batch's limit {limit}"
                    )));
                }
                let idx = c.index_l1_info_tree;
                if idx == 0 {
                    (new_ts, B256::ZERO, B256::ZERO, false)
                } else {
                    let leaf = self
                        .ctx
                        .l1_info
                        .get(&idx)
                        .or_else(|| self.added_l1_info.get(&idx))
                        .cloned()
                        .ok_or(ExecError::MissingL1Info(idx))?;
                    let mut value = l1_info_leaf_hash(&leaf);
                    if value == l1_info_zero_leaf() {
                        value = B256::ZERO;
                    }
                    if self.ctx.verify_l1_info_proofs {
                        if !verify_l1_info_proof(value, &leaf.smt_proof, idx, self.ctx.l1_info_root)
                        {
                            return Err(ExecError::BadL1InfoProof(idx));
                        }
                        if value.is_zero() {
                            return Ok(Err(format!("L1 info leaf {idx} is empty")));
                        }
                    }
                    if new_ts < U256::from(leaf.timestamp) {
                        return Ok(Err(format!(
                            "block timestamp {new_ts} is before L1 info leaf {idx}'s {}",
                            leaf.timestamp
                        )));
                    }
                    let ger = leaf.global_exit_root;
                    // The block carries the leaf's L1 block hash; the global exit root manager
                    // records a GER once, with the L1 block hash that first brought it in.
                    (new_ts, ger, leaf.block_hash, self.ger_unrecorded(ger)?)
                }
            }
        };
        let old_number = self.sys(U256::from(LAST_BLOCK_SLOT))?;
        let parent = self.db().root()?;
        let parent_u = parent.to_u256();
        self.set_sys(mapping_slot(old_number, STATE_ROOT_SLOT), parent_u)?;
        let number = old_number + U256::from(1);
        self.set_sys(U256::from(LAST_BLOCK_SLOT), number)?;
        // An unchanged timestamp (a forced block at or past the limit) writes nothing.
        self.set_sys(U256::from(TIMESTAMP_SLOT), timestamp)?;
        if record_ger {
            self.set_ger(ger, block_hash_l1)?;
        }
        let number_u64 = u64::try_from(number).unwrap_or(u64::MAX);
        let timestamp_u64 = u64::try_from(timestamp).unwrap_or(u64::MAX);
        let mut block = OpenBlock {
            record: L2Block {
                number: number_u64,
                timestamp: timestamp_u64,
                coinbase: self.ctx.sequencer,
                gas_limit: BLOCK_GAS_LIMIT,
                gas_used: 0,
                global_exit_root: ger,
                block_hash_l1,
                parent_hash: hash_to_b256(&parent),
                block_info_root: B256::ZERO,
                hash: B256::ZERO,
                txs: Vec::new(),
            },
            info: Vec::with_capacity(64),
            tx_index: 0,
            log_index: 0,
        };
        let coinbase = U256::from_be_slice(self.ctx.sequencer.as_slice());
        for (p, v) in [
            (HeaderParam::PreviousBlockHash, parent_u),
            (HeaderParam::Coinbase, coinbase),
            (HeaderParam::Number, number),
            (HeaderParam::GasLimit, U256::from(BLOCK_GAS_LIMIT)),
            (HeaderParam::Timestamp, timestamp),
            (HeaderParam::GlobalExitRoot, b256_to_u256(&ger)),
            (HeaderParam::BlockHashL1, b256_to_u256(&block_hash_l1)),
        ] {
            block.set(header_key(p), v);
        }
        self.block = Some(block);
        Ok(Ok(()))
    }

    /// Whether `ger` is to be recorded in the global exit root manager: it is not zero, and no
    /// L1 block hash is recorded for it yet.
    fn ger_unrecorded(&mut self, ger: B256) -> Result<bool, ExecError> {
        if ger.is_zero() {
            return Ok(false);
        }
        let slot = mapping_slot(b256_to_u256(&ger), GER_MAPPING_SLOT);
        Ok(self
            .db()
            .storage_value(GER_MANAGER_ADDRESS, slot)?
            .is_zero())
    }

    fn set_ger(&mut self, ger: B256, block_hash: B256) -> Result<(), ExecError> {
        let slot = mapping_slot(b256_to_u256(&ger), GER_MAPPING_SLOT);
        Ok(self
            .db()
            .set_storage(GER_MANAGER_ADDRESS, slot, b256_to_u256(&block_hash))?)
    }

    /// Records `open` as ended without consolidation (the reference's way with a block whose
    /// last transaction failed or was skipped, when another block follows): its info root never
    /// reaches the system contract, and its hash is the state root as it ends.
    pub(super) fn end_unconsolidated(&mut self, open: &OpenBlock) -> Result<(), ExecError> {
        let mut r = open.record.clone();
        r.block_info_root = hash_to_b256(&open.info_root()?);
        r.hash = hash_to_b256(&self.db().root()?);
        self.blocks.push(r);
        Ok(())
    }

    /// Consolidates a block: its gas used goes into its info tree, whose root goes into the
    /// system contract. With no block (a batch that opened none), an empty info root is written
    /// (as the reference does).
    pub(super) fn consolidate(&mut self, block: Option<OpenBlock>) -> Result<(), ExecError> {
        let (info_root, record) = match block {
            Some(mut b) => {
                let gas = U256::from(b.record.gas_used);
                b.set(header_key(HeaderParam::GasUsed), gas);
                (b.info_root()?, Some(b.record))
            }
            None => (Hash::ZERO, None),
        };
        self.set_sys(U256::from(BLOCK_INFO_ROOT_SLOT), info_root.to_u256())?;
        if let Some(mut r) = record {
            r.block_info_root = hash_to_b256(&info_root);
            r.hash = hash_to_b256(&self.db().root()?);
            self.blocks.push(r);
        }
        Ok(())
    }
}
