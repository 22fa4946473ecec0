//! One L1 block's logs turned into what it says ([`L1BlockEffects`]), checked against the state
//! derived so far: the L1 info tree (each `UpdateL1InfoTreeV2` root must be the root of the
//! tree rebuilt from the stored leaves), the accInputHash chain (a banana sequence's final hash
//! must be the `expectedFinalAccInputHash` its calldata carries), the batch and forced-batch
//! numbering.

use alloy::consensus::Transaction as _;
use alloy::network::TransactionResponse as _;
use alloy::primitives::{keccak256, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use zknode_executor::hashes::{
    acc_input_hash, batch_hash_data, l1_info_leaf_hash, AccInput, L1InfoLeaf,
};
use zknode_l1::GlobalExitRootManager::{UpdateL1InfoTree, UpdateL1InfoTreeV2};
use zknode_l1::ZkEvmRollup::{
    ForceBatch, SequenceBatches, SequenceForceBatches, VerifyBatchesTrustedAggregator,
};
use zknode_storage::{
    ForcedFields, L1Block, L1BlockEffects, L1ForcedBatch, L1InfoLeafRow, L1Verification,
    L1VirtualBatch, L1VirtualSequence,
};

use crate::decode::{decode_sequence, SequenceCall};
use crate::{Derived, SyncError, Synchronizer};

/// A log's transaction hash, or an error naming the block.
fn tx_of(log: &Log, block: u64) -> Result<B256, SyncError> {
    log.transaction_hash
        .ok_or_else(|| SyncError::BadL1(format!("a log of L1 block {block} names no transaction")))
}

fn decode<E: SolEvent>(log: &Log, block: u64) -> Result<E, SyncError> {
    E::decode_log_data(log.data()).map_err(|e| {
        SyncError::BadL1(format!(
            "L1 block {block}: a {} log does not decode: {e}",
            E::SIGNATURE
        ))
    })
}

impl Synchronizer {
    /// What L1 block `block` says, from its logs (in log order); advances `d`.
    pub(crate) async fn effects(
        &self,
        block: L1Block,
        logs: &[Log],
        d: &mut Derived,
    ) -> Result<L1BlockEffects, SyncError> {
        let n = block.number;
        let mut e = L1BlockEffects {
            block,
            ..Default::default()
        };
        // UpdateL1InfoTree (the exit roots, as topics) comes right before its V2 twin.
        let mut exit_roots: Option<(B256, B256, B256)> = None;
        for log in logs {
            let Some(topic0) = log.topics().first().copied() else {
                continue;
            };
            let address = log.address();
            if address == self.addresses.global_exit_root_manager {
                if topic0 == UpdateL1InfoTree::SIGNATURE_HASH {
                    let ev: UpdateL1InfoTree = decode(log, n)?;
                    exit_roots = Some((tx_of(log, n)?, ev.mainnetExitRoot, ev.rollupExitRoot));
                } else if topic0 == UpdateL1InfoTreeV2::SIGNATURE_HASH {
                    let ev: UpdateL1InfoTreeV2 = decode(log, n)?;
                    let tx = tx_of(log, n)?;
                    let (roots_tx, mainnet, rollup) = exit_roots.take().ok_or_else(|| {
                        SyncError::BadL1(format!(
                            "L1 block {n}: UpdateL1InfoTreeV2 of transaction {tx} without its \
                             UpdateL1InfoTree"
                        ))
                    })?;
                    if roots_tx != tx {
                        return Err(SyncError::BadL1(format!(
                            "L1 block {n}: UpdateL1InfoTreeV2 of transaction {tx} follows the \
                             UpdateL1InfoTree of another transaction {roots_tx}"
                        )));
                    }
                    e.leaves.push(leaf(&e.block, tx, &ev, mainnet, rollup, d)?);
                }
            } else if address == self.addresses.rollup {
                if topic0 == SequenceBatches::SIGNATURE_HASH {
                    let ev: SequenceBatches = decode(log, n)?;
                    let tx = tx_of(log, n)?;
                    let seq = self
                        .sequence(&e.block, tx, ev.numBatch, Some(ev.l1InfoRoot), d)
                        .await?;
                    e.sequences.push(seq);
                } else if topic0 == SequenceForceBatches::SIGNATURE_HASH {
                    let ev: SequenceForceBatches = decode(log, n)?;
                    let tx = tx_of(log, n)?;
                    let seq = self.sequence(&e.block, tx, ev.numBatch, None, d).await?;
                    e.sequences.push(seq);
                } else if topic0 == ForceBatch::SIGNATURE_HASH {
                    let ev: ForceBatch = decode(log, n)?;
                    if ev.forceBatchNum != d.pos.last_forced + 1 {
                        return Err(SyncError::Desynced(format!(
                            "L1 block {n}: forced batch {} follows forced batch {}",
                            ev.forceBatchNum, d.pos.last_forced
                        )));
                    }
                    d.pos.last_forced = ev.forceBatchNum;
                    e.forced_batches.push(L1ForcedBatch {
                        number: ev.forceBatchNum,
                        l1_block: n,
                        tx_hash: tx_of(log, n)?,
                        global_exit_root: ev.lastGlobalExitRoot,
                        sequencer: ev.sequencer,
                        transactions: ev.transactions,
                        forced_at: e.block.timestamp,
                        block_hash_l1: e.block.parent_hash,
                    });
                } else if topic0 == VerifyBatchesTrustedAggregator::SIGNATURE_HASH {
                    let ev: VerifyBatchesTrustedAggregator = decode(log, n)?;
                    if ev.numBatch <= d.pos.last_verified {
                        return Err(SyncError::Desynced(format!(
                            "L1 block {n}: batches up to {} verified after batch {}",
                            ev.numBatch, d.pos.last_verified
                        )));
                    }
                    d.pos.last_verified = ev.numBatch;
                    e.verifications.push(L1Verification {
                        batch_number: ev.numBatch,
                        l1_block: n,
                        tx_hash: tx_of(log, n)?,
                        state_root: ev.stateRoot,
                        exit_root: ev.exitRoot,
                        aggregator: ev.aggregator,
                    });
                }
            }
        }
        Ok(e)
    }

    /// A sequence from the calldata of `tx`, whose event says its last batch is `num_batch`
    /// (and, for sequenceBatches, its L1 info root).
    async fn sequence(
        &self,
        block: &L1Block,
        tx: B256,
        num_batch: u64,
        event_root: Option<B256>,
        d: &mut Derived,
    ) -> Result<(L1VirtualSequence, Vec<L1VirtualBatch>), SyncError> {
        let n = block.number;
        let t = self
            .l1
            .get_transaction_by_hash(tx)
            .await
            .map_err(|e| SyncError::Rpc(format!("eth_getTransactionByHash({tx}): {e}")))?
            .ok_or_else(|| {
                SyncError::Rpc(format!("L1 transaction {tx} of L1 block {n} is unknown"))
            })?;
        if t.tx_hash() != tx {
            return Err(SyncError::BadL1(format!(
                "eth_getTransactionByHash({tx}) answered transaction {}",
                t.tx_hash()
            )));
        }
        if t.block_hash != Some(block.hash) {
            return Err(SyncError::Rpc(format!(
                "L1 transaction {tx} is in block {:?} now, not in {} (an L1 reorg under way)",
                t.block_hash, block.hash
            )));
        }
        let call = decode_sequence(tx, t.input())?;
        let count = call.batches().len() as u64;
        let first = num_batch
            .checked_add(1)
            .and_then(|x| x.checked_sub(count))
            .filter(|f| count > 0 && *f >= 1)
            .ok_or_else(|| {
                SyncError::BadL1(format!(
                    "L1 transaction {tx}: a sequence of {count} batches cannot end at batch \
                     {num_batch}"
                ))
            })?;
        let (last_batch, mut acc) = d.pos.last_virtual.unwrap_or((0, B256::ZERO));
        if first != last_batch + 1 {
            return Err(SyncError::Desynced(format!(
                "L1 transaction {tx} sequences batches {first}..={num_batch}, but the last \
                 batch sequenced before it is {last_batch}"
            )));
        }
        let (l1_info_root, max_ts, coinbase, forced_seq) = match &call {
            SequenceCall::Banana {
                l1_info_tree_leaf_count,
                max_sequence_timestamp,
                l2_coinbase,
                ..
            } => {
                let root = event_root.ok_or_else(|| {
                    SyncError::BadL1(format!(
                        "L1 transaction {tx}: sequenceBatches calldata under a \
                         SequenceForceBatches event"
                    ))
                })?;
                let count = u64::from(*l1_info_tree_leaf_count);
                let ours = d.tree.root_at(count).map_err(|e| {
                    SyncError::Desynced(format!(
                        "L1 transaction {tx} uses L1 info leaf count {count}: {e}"
                    ))
                })?;
                if ours != root {
                    return Err(SyncError::Desynced(format!(
                        "L1 transaction {tx}: L1 info root {root} after {count} leaves, the \
                         stored leaves give {ours}"
                    )));
                }
                (root, *max_sequence_timestamp, *l2_coinbase, false)
            }
            SequenceCall::Forced { .. } => (B256::ZERO, 0, t.from(), true),
        };
        let mut batches = Vec::with_capacity(call.batches().len());
        for (i, b) in call.batches().iter().enumerate() {
            let number = first + i as u64;
            let forced = if b.forced_timestamp > 0 || forced_seq {
                d.pos.last_forced_sequenced += 1;
                Some(ForcedFields {
                    global_exit_root: b.forced_global_exit_root,
                    timestamp: b.forced_timestamp,
                    block_hash_l1: b.forced_block_hash_l1,
                    forced_batch_number: d.pos.last_forced_sequenced,
                })
            } else {
                None
            };
            acc = acc_input_hash(&AccInput {
                old_acc_input_hash: acc,
                batch_hash_data: batch_hash_data(&b.transactions),
                l1_info_root: forced.map_or(l1_info_root, |f| f.global_exit_root),
                timestamp_limit: forced.map_or(max_ts, |f| f.timestamp),
                sequencer: coinbase,
                forced_block_hash_l1: forced.map_or(B256::ZERO, |f| f.block_hash_l1),
            });
            batches.push(L1VirtualBatch {
                number,
                sequence_from: first,
                l1_block: n,
                tx_hash: tx,
                l2_data: b.transactions.clone(),
                l1_info_root,
                max_sequence_timestamp: max_ts,
                coinbase,
                forced,
                acc_input_hash: acc,
            });
        }
        if let SequenceCall::Banana {
            expected_final_acc_input_hash,
            ..
        } = call
        {
            if acc != expected_final_acc_input_hash {
                return Err(SyncError::Desynced(format!(
                    "L1 transaction {tx}: the accInputHash chained from the stored batches is \
                     {acc}, the sequence expected {expected_final_acc_input_hash}"
                )));
            }
        }
        d.pos.last_virtual = Some((num_batch, acc));
        let seq = L1VirtualSequence {
            from_batch: first,
            to_batch: num_batch,
            l1_block: n,
            tx_hash: tx,
            forced: forced_seq,
            l1_info_root,
            max_sequence_timestamp: max_ts,
            l2_coinbase: coinbase,
            acc_input_hash: acc,
        };
        Ok((seq, batches))
    }
}

/// The leaf an `UpdateL1InfoTreeV2` adds, checked against the tree and pushed onto it.
fn leaf(
    block: &L1Block,
    tx: B256,
    ev: &UpdateL1InfoTreeV2,
    mainnet: B256,
    rollup: B256,
    d: &mut Derived,
) -> Result<L1InfoLeafRow, SyncError> {
    let n = block.number;
    let index = u64::from(ev.leafCount).checked_sub(1).ok_or_else(|| {
        SyncError::BadL1(format!(
            "L1 block {n}: UpdateL1InfoTreeV2 with leaf count 0"
        ))
    })?;
    if index != d.tree.len() {
        return Err(SyncError::Desynced(format!(
            "L1 block {n}: L1 info leaf {index} follows {} stored leaves",
            d.tree.len()
        )));
    }
    let parent_hash = B256::from(ev.blockhash.to_be_bytes::<32>());
    if parent_hash != block.parent_hash {
        return Err(SyncError::BadL1(format!(
            "L1 block {n}: L1 info leaf {index} names parent block {parent_hash}, the block's \
             parent is {}",
            block.parent_hash
        )));
    }
    let mut pair = [0u8; 64];
    pair[..32].copy_from_slice(mainnet.as_slice());
    pair[32..].copy_from_slice(rollup.as_slice());
    let global_exit_root = keccak256(pair);
    let leaf = l1_info_leaf_hash(&L1InfoLeaf {
        global_exit_root,
        block_hash: parent_hash,
        timestamp: ev.minTimestamp,
        smt_proof: Vec::new(),
    });
    let root = d
        .tree
        .push(leaf)
        .map_err(|e| SyncError::Desynced(format!("L1 block {n}: {e}")))?;
    if root != ev.currentL1InfoRoot {
        return Err(SyncError::Desynced(format!(
            "L1 block {n}: L1 info root after leaf {index} is {} on L1, the stored leaves give \
             {root}",
            ev.currentL1InfoRoot
        )));
    }
    Ok(L1InfoLeafRow {
        index,
        l1_block: n,
        tx_hash: tx,
        global_exit_root,
        mainnet_exit_root: mainnet,
        rollup_exit_root: rollup,
        parent_hash,
        timestamp: ev.minTimestamp,
        leaf,
        root,
    })
}
