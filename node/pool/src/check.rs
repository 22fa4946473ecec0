//! Admission checks that need neither the pool nor a lock: decoding, the signature, the chain
//! id, sizes, the account's nonce and balance, prices and gas. What the pool's own contents
//! decide ("txpool is full", "already known", "replacement transaction underpriced") is
//! decided by the writer ([`crate::writer`]), at its place in zkevm-node's order.

use std::time::SystemTime;

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use zknode_executor::{decode_signed, RawTx, SignedTxError};

use crate::config::PoolConfig;
use crate::error::AddError;
use crate::AccountReader;

/// Bytes a transaction takes in a batch besides its signing payload: `r`, `s`, `v` and the
/// effective-percentage byte.
const BATCH_TAIL_BYTES: u64 = 66;

/// A transaction that passed the checks up to the account's nonce, with the refusals the
/// checks after those found, ranked as zkevm-node ranks them around the pool's own checks.
pub(crate) struct Candidate {
    pub tx: RawTx,
    pub raw: Bytes,
    pub hash: B256,
    pub sender: Address,
    /// The offered price per gas.
    pub price: U256,
    pub received_at_ms: u64,
    /// Polygon's L2 hash; computed only when no refusal was found.
    pub l2_hash: B256,
    /// The first refusal among "gas price too low", "insufficient funds" and "intrinsic gas
    /// too low": after "txpool is full", before "already known".
    pub before_known: Option<AddError>,
    /// The first refusal among "data size bigger than allowed" and "exceeds block gas limit":
    /// after "replacement transaction underpriced".
    pub after_known: Option<AddError>,
}

/// The gas a transaction pays before it runs (Berlin, as the executor charges it): 21,000, or
/// 53,000 for a creation, + 16 per non-zero and 4 per zero data byte, + 2,400 per access-list
/// address and 1,900 per storage key.
pub fn intrinsic_gas(tx: &RawTx) -> u64 {
    let base: u64 = if tx.to.is_none() { 53_000 } else { 21_000 };
    let zeros = tx.data.iter().filter(|b| **b == 0).count() as u64;
    let non_zeros = tx.data.len() as u64 - zeros;
    let mut gas = base
        .saturating_add(non_zeros.saturating_mul(16))
        .saturating_add(zeros.saturating_mul(4));
    for item in tx.access_list.iter() {
        let keys = item.storage_keys.len() as u64;
        gas = gas
            .saturating_add(2_400)
            .saturating_add(keys.saturating_mul(1_900));
    }
    gas
}

/// The checks of [`crate::Pool::add`] that come before and between the pool's own, in
/// zkevm-node's order: decoding, type, sender, chain id, encoded size, nonce; then gas price,
/// funds, intrinsic gas; then data size and the gas limit.
pub(crate) fn precheck(
    cfg: &PoolConfig,
    raw: &[u8],
    state: &dyn AccountReader,
) -> Result<Candidate, AddError> {
    let tx = decode_signed(raw).map_err(|e| match e {
        SignedTxError::UnsupportedType(tx_type) => AddError::TypeNotSupported { tx_type },
        other => AddError::Undecodable(other.to_string()),
    })?;
    let sender = tx.recover_sender().map_err(|e| AddError::InvalidSender {
        reason: e.to_string(),
    })?;
    match tx.chain_id {
        Some(id) if id == cfg.chain_id => {}
        None if tx.tx_type == 0 && cfg.allow_unprotected => {}
        chain_id => return Err(AddError::InvalidChainId { chain_id }),
    }
    let size = tx.sign_data().len() as u64 + BATCH_TAIL_BYTES;
    if size > cfg.max_tx_bytes {
        return Err(AddError::OversizedData {
            size,
            max: cfg.max_tx_bytes,
        });
    }
    let (state_nonce, balance) = state
        .account(sender)
        .map_err(|e| AddError::Internal(format!("reading account {sender}: {e}")))?;
    if tx.nonce < state_nonce {
        return Err(AddError::NonceTooLow {
            nonce: tx.nonce,
            state_nonce,
        });
    }
    if cfg.account_queue > 0 && tx.nonce - state_nonce > cfg.account_queue - 1 {
        return Err(AddError::NonceTooHigh {
            nonce: tx.nonce,
            state_nonce,
        });
    }

    let price = tx.offered_gas_price();
    let cost = U256::from(tx.gas_limit)
        .checked_mul(tx.gas_price)
        .and_then(|c| c.checked_add(tx.value));
    let intrinsic = intrinsic_gas(&tx);
    let before_known = if price < U256::from(cfg.min_gas_price) {
        Some(AddError::GasPriceTooLow)
    } else if cost.is_none_or(|c| c > balance) {
        Some(AddError::InsufficientFunds)
    } else if tx.gas_limit < intrinsic {
        Some(AddError::IntrinsicGasTooLow {
            gas_limit: tx.gas_limit,
            intrinsic,
        })
    } else {
        None
    };
    let data_size = tx.data.len() as u64;
    let after_known = if data_size > cfg.max_tx_data_bytes {
        Some(AddError::DataTooBig {
            size: data_size,
            max: cfg.max_tx_data_bytes,
        })
    } else if tx.gas_limit > cfg.block_gas_limit {
        Some(AddError::ExceedsBlockGasLimit {
            gas_limit: tx.gas_limit,
            max: cfg.block_gas_limit,
        })
    } else {
        None
    };
    // The L2 hash (a Poseidon hash of the whole transaction) only for a transaction that may
    // be accepted.
    let l2_hash = if before_known.is_none() && after_known.is_none() {
        B256::from(tx.l2_hash(&sender).to_be_bytes::<32>())
    } else {
        B256::ZERO
    };
    Ok(Candidate {
        hash: keccak256(raw),
        raw: Bytes::copy_from_slice(raw),
        sender,
        price,
        received_at_ms: now_ms(),
        l2_hash,
        before_known,
        after_known,
        tx,
    })
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
