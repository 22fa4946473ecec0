//! A state tree from a genesis file of accounts.
//!
//! Accepted shapes: a JSON array of accounts; `{"genesis": [...]}` (zkevm-node's genesis file);
//! or `{"addresses": [...]}` (Polygon's genesis vectors). An account:
//! `{"address": "0x..", "balance": "..", "nonce": "..", "bytecode": "0x..", "storage": {"0x slot": "0x value"}}`;
//! numbers are decimal or `0x` hex strings (or JSON integers); all but `address` are optional.

use std::collections::BTreeMap;

use ruint::aliases::U256;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::keys::{self, Address};
use crate::smt::hash::{Hash, Key};
use crate::smt::store::NodeReader;
use crate::smt::tree::StateTree;

/// One genesis account.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisAccount {
    pub address: String,
    #[serde(default)]
    pub balance: Option<Number>,
    #[serde(default)]
    pub nonce: Option<Number>,
    #[serde(default)]
    pub bytecode: Option<String>,
    #[serde(default)]
    pub storage: Option<BTreeMap<String, Number>>,
}

/// A 256-bit number written as a decimal or hex string or a JSON integer.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Number {
    Str(String),
    Int(u64),
}

impl Number {
    pub fn to_u256(&self) -> Result<U256> {
        match self {
            Number::Int(v) => Ok(U256::from(*v)),
            Number::Str(s) => parse_u256(s),
        }
    }
}

/// Parses a decimal or `0x` hex 256-bit number.
pub fn parse_u256(s: &str) -> Result<U256> {
    let t = s.trim();
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if h.is_empty() {
            Ok(U256::ZERO)
        } else {
            U256::from_str_radix(h, 16)
        }
    } else {
        U256::from_str_radix(t, 10)
    };
    v.map_err(|e| Error::InvalidInput(format!("{s:?} is not a 256-bit number: {e}")))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum GenesisFile {
    List(Vec<GenesisAccount>),
    Genesis { genesis: Vec<GenesisAccount> },
    Addresses { addresses: Vec<GenesisAccount> },
}

/// Parses a genesis file's text.
pub fn parse(text: &str) -> Result<Vec<GenesisAccount>> {
    let f: GenesisFile = serde_json::from_str(text).map_err(|e| {
        Error::InvalidInput(format!(
            "genesis file: {e} (expected a list of accounts, {{\"genesis\": [...]}} or {{\"addresses\": [...]}})"
        ))
    })?;
    Ok(match f {
        GenesisFile::List(v)
        | GenesisFile::Genesis { genesis: v }
        | GenesisFile::Addresses { addresses: v } => v,
    })
}

/// The tree writes that create these accounts, in file order.
pub fn writes(accounts: &[GenesisAccount]) -> Result<Vec<(Key, U256)>> {
    let mut out = Vec::with_capacity(accounts.len() * 2);
    for (i, acc) in accounts.iter().enumerate() {
        let ctx =
            |e: Error| Error::InvalidInput(format!("genesis account {i} ({}): {e}", acc.address));
        let a: Address =
            keys::parse_address(&acc.address).map_err(|e| ctx(Error::InvalidInput(e)))?;
        let num = |n: &Option<Number>| n.as_ref().map(|n| n.to_u256()).transpose().map_err(ctx);
        out.push((
            keys::balance_key(&a),
            num(&acc.balance)?.unwrap_or_default(),
        ));
        out.push((keys::nonce_key(&a), num(&acc.nonce)?.unwrap_or_default()));
        if let Some(code) = &acc.bytecode {
            let code = keys::parse_hex_bytes(code).map_err(|e| ctx(Error::InvalidInput(e)))?;
            if !code.is_empty() {
                out.push((keys::code_key(&a), keys::hash_bytecode(&code).to_u256()));
                out.push((keys::code_length_key(&a), U256::from(code.len())));
            }
        }
        for (slot, value) in acc.storage.iter().flatten() {
            let slot = parse_u256(slot).map_err(ctx)?;
            out.push((keys::storage_key(&a, slot), value.to_u256().map_err(ctx)?));
        }
    }
    Ok(out)
}

/// Writes the accounts into `tree` (one batch) and returns the new root; commit to keep it.
pub fn apply<S: NodeReader>(tree: &mut StateTree<S>, accounts: &[GenesisAccount]) -> Result<Hash> {
    let w = writes(accounts)?;
    tracing::info!(target: "state::genesis", accounts = accounts.len(), writes = w.len(), "building genesis state");
    tree.apply_batch(&w)
}
