//! Which L1 info leaf a new L2 block points at.
//!
//! A block's changeL2Block entry names an L1 info tree leaf (`indexL1InfoTree`, 0 for none);
//! the executor then records the leaf's global exit root in L2's global exit root manager, so
//! that bridge claims on L2 can prove against it. The sequencer points a block at the newest
//! leaf the synchronizer stored (at least [`crate::SequencerConfig::l1_info_confirmations`] L1
//! blocks deep, index 1 or more) when its global exit root differs from the last one an L2 block
//! carried, and when the block's timestamp is not before the leaf's L1 block. The sequence
//! sender later posts the batch with a leaf count that covers every index its blocks use, so the
//! batch verifies against the L1 info root L1 holds.
//!
//! The sequencer looks for a newer leaf before each block it opens (one indexed query) and
//! hands it to the batch being built ([`zknode_executor::BatchBuilder::add_l1_info`]).

use std::collections::BTreeMap;

use alloy_primitives::B256;
use zknode_executor::hashes::L1InfoLeaf;
use zknode_executor::{decode_batch, BatchEntry};
use zknode_storage::{Block, BlockReader, L1InfoLeafRow, StateDb};

use crate::SequencerError;

/// The executor's view of a stored leaf, without a Merkle proof (for execution that does not
/// check them: the sequencer's, a permissionless node's).
pub fn exec_leaf(l: &L1InfoLeafRow) -> L1InfoLeaf {
    L1InfoLeaf {
        global_exit_root: l.global_exit_root,
        block_hash: l.parent_hash,
        timestamp: l.timestamp,
        smt_proof: Vec::new(),
    }
}

fn leaf_index(l: &L1InfoLeafRow) -> Result<u32, SequencerError> {
    u32::try_from(l.index)
        .map_err(|_| SequencerError::Chain(format!("L1 info leaf index {} above 2^32", l.index)))
}

/// The sequencer's L1 info state across batches.
pub(crate) struct L1InfoChoice {
    /// The global exit root of the last L2 block that carried one (zero: none yet).
    last_ger: B256,
    /// A newer leaf to put in the next block that may take it.
    next: Option<(u32, L1InfoLeafRow)>,
}

impl L1InfoChoice {
    pub(crate) async fn load(db: &StateDb) -> Result<Self, SequencerError> {
        Ok(Self {
            last_ger: db.latest_global_exit_root().await?.unwrap_or_default(),
            next: None,
        })
    }

    /// Looks for a leaf newer than the last used one (called before a block opens).
    pub(crate) async fn refresh(
        &mut self,
        db: &StateDb,
        confirmations: u64,
    ) -> Result<(), SequencerError> {
        self.next = match db.l1_info_leaf_for_sequencing(confirmations).await? {
            Some(l) if l.global_exit_root != self.last_ger && !l.global_exit_root.is_zero() => {
                Some((leaf_index(&l)?, l))
            }
            _ => None,
        };
        Ok(())
    }

    /// The leaf the next blocks may use, for the batch being built.
    pub(crate) fn next_leaf(&self) -> Option<(u32, L1InfoLeaf)> {
        self.next.as_ref().map(|(i, l)| (*i, exec_leaf(l)))
    }

    /// The index a block opening at `timestamp` points at (0: none).
    pub(crate) fn index_for(&self, timestamp: u64) -> u32 {
        match &self.next {
            Some((i, l)) if l.timestamp <= timestamp => *i,
            _ => 0,
        }
    }

    /// A block that points at `index` was stored.
    pub(crate) fn used(&mut self, index: u32) {
        if let Some((i, l)) = &self.next {
            if *i == index {
                self.last_ger = l.global_exit_root;
                self.next = None;
            }
        }
    }
}

/// The L1 info indexes of the open batch's stored blocks, in order, and the leaves they name.
///
/// The open batch's stored data holds a changeL2Block per block stored before its last update;
/// a block stored just before a crash (its data update lost) is matched by the global exit root
/// the block carries. The replay then checks every block's state root, so a wrong guess here
/// stops the sequencer with an error instead of forking the chain.
pub(crate) async fn replay_indexes(
    db: &StateDb,
    batch: u64,
    l2_data: &[u8],
    blocks: &[Block],
    leaves: &mut BTreeMap<u32, L1InfoLeaf>,
) -> Result<Vec<u32>, SequencerError> {
    let stored: Vec<u32> = decode_batch(l2_data)
        .map_err(|e| SequencerError::Chain(format!("open batch {batch}'s stored data: {e}")))?
        .into_iter()
        .filter_map(|e| match e {
            BatchEntry::ChangeL2Block(c) => Some(c.index_l1_info_tree),
            BatchEntry::Tx(_) => None,
        })
        .collect();
    let mut out = Vec::with_capacity(blocks.len());
    for (k, block) in blocks.iter().enumerate() {
        let index = match stored.get(k) {
            Some(i) => *i,
            None if block.global_exit_root.is_zero() => 0,
            None => {
                let leaf = db
                    .l1_info_leaf_by_ger(block.global_exit_root)
                    .await?
                    .ok_or_else(|| {
                        SequencerError::Chain(format!(
                            "block {} carries global exit root {}, which no stored L1 info leaf \
                             holds",
                            block.header.number, block.global_exit_root
                        ))
                    })?;
                leaf_index(&leaf)?
            }
        };
        if index != 0 && !leaves.contains_key(&index) {
            let leaf = db.l1_info_leaf(u64::from(index)).await?.ok_or_else(|| {
                SequencerError::Chain(format!(
                    "block {} uses L1 info leaf {index}, which is not stored (an L1 reorg \
                     removed it?)",
                    block.header.number
                ))
            })?;
            leaves.insert(index, exec_leaf(&leaf));
        }
        out.push(index);
    }
    Ok(out)
}
