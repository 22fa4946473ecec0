//! The blocks the sequencer stores: from a block it closed (with the pool's transactions) or
//! from a batch the executor ran whole (a forced batch, a batch read from L1).

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256};
use zknode_executor::{BatchEntry, BatchResult, ClosedBlock, L2Block, RawTx};
use zknode_pool::PoolTx;
use zknode_storage::{NewBlock, NewLog, NewReceipt, NewTransaction};

use crate::SequencerError;

/// The transactions of decoded batch data, in order (none for data that does not decode).
pub fn batch_txs(entries: Option<Vec<BatchEntry>>) -> Vec<RawTx> {
    entries
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e {
            BatchEntry::Tx(tx) => Some(*tx),
            BatchEntry::ChangeL2Block(_) => None,
        })
        .collect()
}

/// The block to store for block `b` of an executed batch whose transactions are `txs` (in
/// batch order): its transactions with receipts. A transaction the executor skipped is in the
/// batch data but in no block.
pub fn executed_block(
    batch: u64,
    parent_hash: B256,
    b: &L2Block,
    res: &BatchResult,
    txs: &[RawTx],
) -> Result<NewBlock, String> {
    let mut transactions = Vec::with_capacity(b.txs.len());
    for &i in &b.txs {
        let (Some(r), Some(tx)) = (res.txs.get(i), txs.get(i)) else {
            return Err(format!(
                "block {} names transaction {i} of a batch with {}",
                b.number,
                txs.len()
            ));
        };
        let (Ok(receipt), Some(sender)) = (&r.outcome, r.from) else {
            continue;
        };
        transactions.push(NewTransaction {
            hash: r.eth_hash,
            l2_hash: B256::from(r.l2_hash.unwrap_or_default().to_be_bytes::<32>()),
            raw: Bytes::from(tx.to_eth_bytes()),
            sender,
            tx_type: tx.tx_type,
            effective_percentage: r.effective_percentage,
            receipt: new_receipt(tx, receipt),
        });
    }
    Ok(stored_block(
        batch,
        parent_hash,
        b,
        b.coinbase,
        transactions,
    ))
}

/// Executed block `b` as the state database stores it, with its `transactions`.
fn stored_block(
    batch: u64,
    parent_hash: B256,
    b: &L2Block,
    coinbase: Address,
    transactions: Vec<NewTransaction>,
) -> NewBlock {
    NewBlock {
        number: b.number,
        parent_hash,
        batch_number: batch,
        timestamp: b.timestamp,
        coinbase,
        state_root: b.hash,
        global_exit_root: b.global_exit_root,
        block_info_root: b.block_info_root,
        gas_limit: b.gas_limit,
        base_fee: 0,
        transactions,
    }
}

/// The block to store for a closed block.
pub(crate) fn new_block(
    batch: u64,
    parent_hash: B256,
    closed: &ClosedBlock<'_>,
    included: &[Arc<PoolTx>],
    coinbase: Address,
) -> Result<NewBlock, SequencerError> {
    if closed.txs.len() != included.len() {
        return Err(SequencerError::Chain(format!(
            "block {} closed with {} transactions, {} were included",
            closed.block.number,
            closed.txs.len(),
            included.len()
        )));
    }
    let mut transactions = Vec::with_capacity(included.len());
    for (r, p) in closed.txs.iter().zip(included) {
        let receipt = r.outcome.as_ref().map_err(|e| {
            SequencerError::Chain(format!("an included transaction was skipped: {e}"))
        })?;
        if r.eth_hash != p.hash {
            return Err(SequencerError::Chain(format!(
                "block {} transaction {} is not pool transaction {}",
                closed.block.number, r.eth_hash, p.hash
            )));
        }
        transactions.push(NewTransaction {
            hash: p.hash,
            l2_hash: B256::from(r.l2_hash.unwrap_or_default().to_be_bytes::<32>()),
            raw: p.raw.clone(),
            sender: p.sender,
            tx_type: p.tx.tx_type,
            effective_percentage: r.effective_percentage,
            receipt: new_receipt(&p.tx, receipt),
        });
    }
    Ok(stored_block(
        batch,
        parent_hash,
        closed.block,
        coinbase,
        transactions,
    ))
}

fn new_receipt(tx: &RawTx, r: &zknode_executor::Receipt) -> NewReceipt {
    NewReceipt {
        success: r.success,
        cumulative_gas_used: r.cumulative_gas_used,
        gas_used: r.gas_used,
        effective_gas_price: tx.effective_gas_price(),
        contract_address: r.contract_address,
        logs: r
            .logs
            .iter()
            .map(|l| NewLog {
                address: l.address,
                topics: l.data.topics().to_vec(),
                data: l.data.data.clone(),
            })
            .collect(),
    }
}
