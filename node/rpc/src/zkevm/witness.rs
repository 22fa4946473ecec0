//! The L1 context of a batch witness: what the batch proof binds besides the batch data.
//!
//! For a batch L1 sequenced it is the sequence's: its L1 info root and `maxSequenceTimestamp`
//! (a forced batch's: its global exit root, timestamp and L1 block hash), with every L1 info
//! leaf the batch's blocks name and the leaf's Merkle proof against that root, checked while the
//! batch executes; the accInputHash it gives is L1's. For a batch not yet on L1 it is the
//! sequencer's provisional context (no timestamp limit, a zero L1 info root, leaves without
//! proofs), whose accInputHash L1 will replace.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use zknode_executor::hashes::L1InfoLeaf;
use zknode_executor::{decode_batch, BatchContext, BatchEntry, L1InfoTree};
use zknode_storage::{Batch, L1InfoLeafRow, StateDb};

use crate::RpcError;

fn err(e: impl std::fmt::Display) -> RpcError {
    RpcError::internal("batch witness", e)
}

/// The context batch `batch` (after `prev`) is executed in for its witness.
pub(crate) async fn witness_context(
    db: &StateDb,
    chain_id: u64,
    batch: &Batch,
    prev: &Batch,
) -> Result<BatchContext, RpcError> {
    let mut ctx = BatchContext {
        chain_id,
        fork_id: super::FORK_ID,
        sequencer: batch.coinbase,
        timestamp_limit: u64::MAX,
        l1_info_root: B256::ZERO,
        old_acc_input_hash: prev.acc_input_hash.unwrap_or_default(),
        forced_block_hash_l1: B256::ZERO,
        l1_info: BTreeMap::new(),
        verify_l1_info_proofs: false,
        with_proofs: true,
    };
    let forced = match db.l1_virtual_batch(batch.number).await? {
        Some(vb) => {
            ctx.sequencer = vb.coinbase;
            ctx.l1_info_root = vb.l1_info_root;
            ctx.timestamp_limit = vb.max_sequence_timestamp;
            vb.forced
                .map(|f| (f.global_exit_root, f.timestamp, f.block_hash_l1))
        }
        None => match batch.forced_batch_number {
            Some(n) => {
                let f = db
                    .l1_forced_batch(n)
                    .await?
                    .ok_or_else(|| err(format!("forced batch {n} is not stored")))?;
                Some((f.global_exit_root, f.forced_at, f.block_hash_l1))
            }
            None => None,
        },
    };
    if let Some((ger, timestamp, block_hash)) = forced {
        ctx.l1_info_root = ger;
        ctx.timestamp_limit = timestamp;
        ctx.forced_block_hash_l1 = block_hash;
        return Ok(ctx);
    }
    let indexes: Vec<u32> = decode_batch(&batch.l2_data)
        .map_err(err)?
        .into_iter()
        .filter_map(|e| match e {
            BatchEntry::ChangeL2Block(c) if c.index_l1_info_tree != 0 => Some(c.index_l1_info_tree),
            _ => None,
        })
        .collect();
    if indexes.is_empty() {
        return Ok(ctx);
    }
    let leaves: Vec<L1InfoLeafRow> = db.l1_info_leaves().await?;
    let exec_leaf = |l: &L1InfoLeafRow, smt_proof: Vec<B256>| L1InfoLeaf {
        global_exit_root: l.global_exit_root,
        block_hash: l.parent_hash,
        timestamp: l.timestamp,
        smt_proof,
    };
    // On L1: proofs against the sequence's root (the root after the leaf whose `root` it is).
    let count = (!ctx.l1_info_root.is_zero())
        .then(|| leaves.iter().find(|l| l.root == ctx.l1_info_root))
        .flatten()
        .map(|l| l.index + 1);
    let tree = match count {
        Some(_) => Some(L1InfoTree::from_leaves(leaves.iter().map(|l| l.leaf)).map_err(err)?),
        None => None,
    };
    for i in indexes {
        let l = leaves
            .get(i as usize)
            .filter(|l| l.index == u64::from(i))
            .ok_or_else(|| err(format!("L1 info leaf {i} is not stored")))?;
        let proof = match (&tree, count) {
            (Some(t), Some(c)) => t.proof_at(u64::from(i), c).map_err(err)?,
            _ => Vec::new(),
        };
        ctx.l1_info.insert(i, exec_leaf(l, proof));
    }
    ctx.verify_l1_info_proofs = count.is_some();
    Ok(ctx)
}
