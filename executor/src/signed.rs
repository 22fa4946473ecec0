//! Transactions as wallets sign and send them (`eth_sendRawTransaction`): a legacy RLP list, with
//! or without EIP-155, or an EIP-2718 envelope of type 1 (EIP-2930) or 2 (EIP-1559).
//!
//! [`decode_signed`] turns those bytes into the [`RawTx`] a batch carries. It is strict: the RLP
//! must be canonical (alloy-rlp's decoder refuses leading zeros and long forms that fit a short
//! one), every byte must belong to the transaction, and the transaction re-encodes to exactly the
//! bytes received, so its hash is the keccak256 of what the wallet sent.

use alloy_rlp::{Decodable, Header};
use revm::primitives::{Address, Bytes, B256, U256};

use crate::codec::{AccessList, AccessListItem, RawTx, EIP1559_TX_TYPE, EIP2930_TX_TYPE};

/// Why bytes are not a signed transaction this node takes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignedTxError {
    #[error("empty transaction")]
    Empty,
    #[error("transaction type {0:#04x} not supported (legacy, EIP-2930 and EIP-1559 are)")]
    UnsupportedType(u8),
    #[error("rlp: {0}")]
    Rlp(String),
    #[error("{0}")]
    Field(String),
    #[error("transaction is not canonically encoded")]
    NotCanonical,
}

impl From<alloy_rlp::Error> for SignedTxError {
    fn from(e: alloy_rlp::Error) -> Self {
        SignedTxError::Rlp(e.to_string())
    }
}

/// Decodes a signed transaction from what a wallet sends. The result has the effective
/// percentage 255 (the full price); the sequencer sets its own.
pub fn decode_signed(raw: &[u8]) -> Result<RawTx, SignedTxError> {
    let Some(&first) = raw.first() else {
        return Err(SignedTxError::Empty);
    };
    let tx = match first {
        0xc0.. => legacy(raw)?,
        EIP2930_TX_TYPE | EIP1559_TX_TYPE => typed(first, &raw[1..])?,
        t if t <= 0x7f => return Err(SignedTxError::UnsupportedType(t)),
        _ => {
            return Err(SignedTxError::Rlp(
                "expected a list or a transaction type".into(),
            ))
        }
    };
    if tx.to_eth_bytes() != raw {
        return Err(SignedTxError::NotCanonical);
    }
    Ok(tx)
}

/// The payload of the list at the front of `buf`, which must be all of `buf`.
fn whole_list<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], SignedTxError> {
    let h = Header::decode(buf)?;
    if !h.list {
        return Err(SignedTxError::Rlp("expected a list".into()));
    }
    if h.payload_length != buf.len() {
        return Err(SignedTxError::Rlp(format!(
            "list says {} bytes, {} follow",
            h.payload_length,
            buf.len()
        )));
    }
    let payload = &buf[..h.payload_length];
    *buf = &buf[h.payload_length..];
    Ok(payload)
}

fn to_field(buf: &mut &[u8]) -> Result<Option<Address>, SignedTxError> {
    let b = Bytes::decode(buf)?;
    match b.len() {
        0 => Ok(None),
        20 => Ok(Some(Address::from_slice(&b))),
        n => Err(SignedTxError::Field(format!(
            "`to` must be empty or 20 bytes, got {n}"
        ))),
    }
}

fn signature(buf: &mut &[u8]) -> Result<(B256, B256), SignedTxError> {
    let r = U256::decode(buf)?;
    let s = U256::decode(buf)?;
    Ok((B256::from(r.to_be_bytes()), B256::from(s.to_be_bytes())))
}

fn legacy(raw: &[u8]) -> Result<RawTx, SignedTxError> {
    let mut buf = raw;
    let mut p = whole_list(&mut buf)?;
    let nonce = u64::decode(&mut p)?;
    let gas_price = U256::decode(&mut p)?;
    let gas_limit = u64::decode(&mut p)?;
    let to = to_field(&mut p)?;
    let value = U256::decode(&mut p)?;
    let data = Bytes::decode(&mut p)?;
    let v = u64::decode(&mut p)?;
    let (r, s) = signature(&mut p)?;
    if !p.is_empty() {
        return Err(SignedTxError::Rlp("extra fields after `s`".into()));
    }
    let (chain_id, parity) = match v {
        27 | 28 => (None, v - 27),
        35.. => (Some((v - 35) / 2), (v - 35) % 2),
        _ => {
            return Err(SignedTxError::Field(format!(
                "invalid v {v}: 27, 28 or chainId * 2 + 35/36 expected"
            )))
        }
    };
    let mut tx = RawTx::new(nonce, gas_price, gas_limit, to, value, data, chain_id);
    tx.r = r;
    tx.s = s;
    tx.v = 27 + parity as u8;
    Ok(tx)
}

fn access_list(buf: &mut &[u8]) -> Result<AccessList, SignedTxError> {
    let h = Header::decode(buf)?;
    if !h.list {
        return Err(SignedTxError::Rlp("the access list must be a list".into()));
    }
    let (mut items, rest) = buf.split_at(h.payload_length.min(buf.len()));
    *buf = rest;
    let mut out = Vec::new();
    while !items.is_empty() {
        let ih = Header::decode(&mut items)?;
        if !ih.list || ih.payload_length > items.len() {
            return Err(SignedTxError::Rlp(
                "an access list item must be a list".into(),
            ));
        }
        let (mut item, rest) = items.split_at(ih.payload_length);
        items = rest;
        let address = Address::decode(&mut item)?;
        let kh = Header::decode(&mut item)?;
        if !kh.list || kh.payload_length != item.len() {
            return Err(SignedTxError::Rlp(
                "an access list item is [address, [storageKeys]]".into(),
            ));
        }
        let mut storage_keys = Vec::new();
        while !item.is_empty() {
            storage_keys.push(B256::decode(&mut item)?);
        }
        out.push(AccessListItem {
            address,
            storage_keys,
        });
    }
    Ok(AccessList(out))
}

fn typed(tx_type: u8, body: &[u8]) -> Result<RawTx, SignedTxError> {
    let mut buf = body;
    let mut p = whole_list(&mut buf)?;
    let chain_id = u64::decode(&mut p)?;
    let nonce = u64::decode(&mut p)?;
    let priority = if tx_type == EIP1559_TX_TYPE {
        Some(U256::decode(&mut p)?)
    } else {
        None
    };
    let gas_price = U256::decode(&mut p)?;
    let gas_limit = u64::decode(&mut p)?;
    let to = to_field(&mut p)?;
    let value = U256::decode(&mut p)?;
    let data = Bytes::decode(&mut p)?;
    let list = access_list(&mut p)?;
    let parity = u64::decode(&mut p)?;
    if parity > 1 {
        return Err(SignedTxError::Field(format!(
            "yParity must be 0 or 1, got {parity}"
        )));
    }
    let (r, s) = signature(&mut p)?;
    if !p.is_empty() {
        return Err(SignedTxError::Rlp("extra fields after `s`".into()));
    }
    let mut tx = match priority {
        Some(tip) => RawTx::new_eip1559(
            chain_id, nonce, tip, gas_price, gas_limit, to, value, data, list,
        ),
        None => RawTx::new_eip2930(chain_id, nonce, gas_price, gas_limit, to, value, data, list),
    };
    tx.r = r;
    tx.s = s;
    tx.v = 27 + parity as u8;
    Ok(tx)
}
