//! Result objects in the shapes of ethereum/execution-apis: blocks, transactions, receipts.

use alloy_primitives::{Address, Bloom, BloomInput, B256, U256};
use serde_json::{json, Value};
use zknode_executor::RawTx;
use zknode_storage::header::EMPTY_OMMERS_HASH;
use zknode_storage::{Block, StoredLog, StoredReceipt, StoredTransaction};

/// A quantity: hex without leading zeros.
pub fn qty(n: u64) -> String {
    format!("{n:#x}")
}

/// A 256-bit quantity.
pub fn qty256(n: U256) -> String {
    format!("{n:#x}")
}

pub fn data(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

/// Where a transaction is, when it is in a block.
pub struct Position {
    pub block_hash: B256,
    pub block_number: u64,
    pub index: u64,
    /// The block's timestamp (`blockTimestamp`, which execution-apis requires of a mined
    /// transaction).
    pub block_timestamp: u64,
    /// What the sender paid per gas.
    pub effective_gas_price: U256,
}

/// A transaction object (`eth_getTransactionByHash`, full blocks).
pub fn transaction(tx: &RawTx, hash: B256, from: Address, at: Option<&Position>) -> Value {
    let parity = (tx.v as u64).saturating_sub(27) & 1;
    let mut o = json!({
        "hash": hash,
        "nonce": qty(tx.nonce),
        "blockHash": at.map(|p| p.block_hash),
        "blockNumber": at.map(|p| qty(p.block_number)),
        "blockTimestamp": at.map(|p| qty(p.block_timestamp)),
        "transactionIndex": at.map(|p| qty(p.index)),
        "from": from,
        "to": tx.to,
        "value": qty256(tx.value),
        "gas": qty(tx.gas_limit),
        "input": data(&tx.data),
        "r": qty256(U256::from_be_bytes(tx.r.0)),
        "s": qty256(U256::from_be_bytes(tx.s.0)),
        "type": qty(tx.tx_type as u64),
    });
    let m = o.as_object_mut().expect("an object");
    match tx.tx_type {
        0 => {
            let v = match tx.chain_id {
                Some(c) => c.saturating_mul(2).saturating_add(35 + parity),
                None => 27 + parity,
            };
            m.insert("v".into(), qty(v).into());
            m.insert("gasPrice".into(), qty256(tx.gas_price).into());
            if let Some(c) = tx.chain_id {
                m.insert("chainId".into(), qty(c).into());
            }
        }
        t => {
            m.insert("v".into(), qty(parity).into());
            m.insert("yParity".into(), qty(parity).into());
            m.insert("chainId".into(), qty(tx.chain_id.unwrap_or(0)).into());
            m.insert(
                "accessList".into(),
                Value::Array(
                    tx.access_list
                        .iter()
                        .map(|i| json!({"address": i.address, "storageKeys": i.storage_keys}))
                        .collect(),
                ),
            );
            if t == zknode_executor::codec::EIP1559_TX_TYPE {
                m.insert("maxFeePerGas".into(), qty256(tx.gas_price).into());
                m.insert(
                    "maxPriorityFeePerGas".into(),
                    qty256(tx.max_priority_fee).into(),
                );
                // Mined: what was paid; pending: the most it may pay.
                let price = at.map_or(tx.gas_price, |p| p.effective_gas_price);
                m.insert("gasPrice".into(), qty256(price).into());
            } else {
                m.insert("gasPrice".into(), qty256(tx.gas_price).into());
            }
        }
    }
    o
}

/// A block object; `txs` are hashes, or full objects when `full`.
pub fn block(b: &Block, txs: Vec<Value>, size: usize) -> Value {
    let h = &b.header;
    json!({
        "number": qty(h.number),
        "hash": b.hash,
        "parentHash": h.parent_hash,
        "nonce": "0x0000000000000000",
        "sha3Uncles": EMPTY_OMMERS_HASH,
        "logsBloom": h.logs_bloom,
        "transactionsRoot": h.transactions_root,
        "stateRoot": h.state_root,
        "receiptsRoot": h.receipts_root,
        "miner": h.coinbase,
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "extraData": "0x",
        "size": qty(size as u64),
        "gasLimit": qty(h.gas_limit),
        "gasUsed": qty(h.gas_used),
        "timestamp": qty(h.timestamp),
        "mixHash": h.block_info_root,
        "baseFeePerGas": qty(h.base_fee),
        "transactions": txs,
        "uncles": [],
    })
}

/// A log object; `removed` for a log of a block that left the chain.
pub fn log(l: &StoredLog, removed: bool) -> Value {
    json!({
        "address": l.address,
        "topics": l.topics,
        "data": data(&l.data),
        "blockNumber": qty(l.block_number),
        "blockHash": l.block_hash,
        "transactionHash": l.tx_hash,
        "transactionIndex": qty(l.tx_index),
        "logIndex": qty(l.log_index),
        "removed": removed,
    })
}

/// A receipt object.
pub fn receipt(r: &StoredReceipt, tx: &StoredTransaction, decoded: &RawTx) -> Value {
    let mut bloom = Bloom::default();
    for l in &r.logs {
        bloom.accrue(BloomInput::Raw(l.address.as_slice()));
        for t in &l.topics {
            bloom.accrue(BloomInput::Raw(t.as_slice()));
        }
    }
    json!({
        "transactionHash": r.tx_hash,
        "transactionIndex": qty(r.tx_index),
        "blockHash": r.block_hash,
        "blockNumber": qty(r.block_number),
        "from": tx.sender,
        "to": decoded.to,
        "cumulativeGasUsed": qty(r.cumulative_gas_used),
        "gasUsed": qty(r.gas_used),
        "effectiveGasPrice": qty256(r.effective_gas_price),
        "contractAddress": r.contract_address,
        "logs": r.logs.iter().map(|l| log(l, false)).collect::<Vec<_>>(),
        "logsBloom": bloom,
        "type": qty(r.tx_type as u64),
        "status": qty(r.success as u64),
        "transactionL2Hash": tx.l2_hash,
    })
}
