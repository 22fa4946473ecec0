//! Runners for Polygon's state-tree vector files (zkevm-commonjs formats): raw key/value sets,
//! genesis roots, key derivation and bytecode hashes. Each vector gives one [`Outcome`]; a
//! malformed vector fails with its reason, a malformed file is an error.

use ruint::aliases::U256;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use zknode_field::Goldilocks;

use crate::error::{Error, Result};
use crate::genesis::{self, parse_u256, GenesisAccount};
use crate::keys::{self, LeafType};
use crate::smt::hash::Hash;
use crate::smt::store::MemoryStore;
use crate::smt::tree::StateTree;

/// Where Polygon's vector files are: `$ZKNODE_VECTORS`, else the `shared/vectors` folder beside
/// this checkout (where the project keeps them; they are AGPL-3.0 and never copied in).
pub fn vectors_dir() -> std::path::PathBuf {
    std::env::var_os("ZKNODE_VECTORS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
        })
}

/// The result of one vector.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub index: usize,
    pub passed: bool,
    /// What was checked and, on failure, what differed.
    pub detail: String,
}

/// Which vector format a file holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    SmtRaw,
    SmtGenesis,
    SmtKey,
    SmtHashBytecode,
}

/// Runs every vector of a file's text.
pub fn run(format: Format, text: &str) -> Result<Vec<Outcome>> {
    run_each(text, |v| match format {
        Format::SmtRaw => typed(v).and_then(|v| raw(&v)),
        Format::SmtGenesis => typed(v).and_then(|v| genesis_root(&v)),
        Format::SmtKey => typed(v).and_then(|v| key(&v)),
        Format::SmtHashBytecode => typed(v).and_then(|v| bytecode(&v)),
    })
}

/// Runs `one` on each vector of a JSON array: `Ok((passed, detail))`, or `Err` for a malformed
/// vector (which fails with its reason). A text that is not a JSON array is an error.
pub fn run_each<E: std::fmt::Display>(
    text: &str,
    one: impl Fn(serde_json::Value) -> std::result::Result<(bool, String), E>,
) -> Result<Vec<Outcome>> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| Error::InvalidInput(format!("vector file is not a JSON array: {e}")))?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(index, v)| match one(v) {
            Ok((passed, detail)) => Outcome {
                index,
                passed,
                detail,
            },
            Err(e) => Outcome {
                index,
                passed: false,
                detail: format!("malformed vector: {e}"),
            },
        })
        .collect())
}

fn typed<T: DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::InvalidInput(e.to_string()))
}

fn compare(
    what: &str,
    got: impl std::fmt::Display,
    expected: impl std::fmt::Display,
) -> (bool, String) {
    let (g, e) = (got.to_string(), expected.to_string());
    if g == e {
        (true, format!("{what} {g}"))
    } else {
        (false, format!("{what}: got {g}, expected {e}"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    keys: Vec<String>,
    values: Vec<String>,
    expected_root: String,
}

/// A raw key: the scalar split into four 64-bit limbs, each reduced into the field.
fn raw_key(s: &str) -> Result<Hash> {
    let v = parse_u256(s)?;
    Ok(Hash(v.as_limbs().map(Goldilocks::new)))
}

fn raw(v: &Raw) -> Result<(bool, String)> {
    if v.keys.len() != v.values.len() {
        return Err(Error::InvalidInput(format!(
            "{} keys but {} values",
            v.keys.len(),
            v.values.len()
        )));
    }
    let expected: Hash = v.expected_root.parse().map_err(Error::InvalidInput)?;
    let store = MemoryStore::new();
    let mut tree = StateTree::open(&store)?;
    for (k, val) in v.keys.iter().zip(&v.values) {
        let before = tree.root();
        let proof = tree.set(raw_key(k)?, parse_u256(val)?)?;
        proof.verify(&before, &tree.root())?;
    }
    Ok(compare(
        &format!("{} writes, root", v.keys.len()),
        tree.root(),
        expected,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenesisVector {
    addresses: Vec<GenesisAccount>,
    expected_root: String,
}

fn genesis_root(v: &GenesisVector) -> Result<(bool, String)> {
    let expected: Hash = v.expected_root.parse().map_err(Error::InvalidInput)?;
    let store = MemoryStore::new();
    let mut tree = StateTree::open(&store)?;
    let root = genesis::apply(&mut tree, &v.addresses)?;
    Ok(compare(
        &format!("{} accounts, root", v.addresses.len()),
        root,
        expected,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyVector {
    leaf_type: u8,
    eth_addr: String,
    #[serde(default)]
    storage_position: Option<String>,
    expected_key: String,
}

fn key(v: &KeyVector) -> Result<(bool, String)> {
    let leaf = LeafType::from_u8(v.leaf_type)
        .ok_or_else(|| Error::InvalidInput(format!("unknown leaf type {}", v.leaf_type)))?;
    let a = keys::parse_address(&v.eth_addr).map_err(Error::InvalidInput)?;
    let slot = v
        .storage_position
        .as_deref()
        .map(parse_u256)
        .transpose()?
        .unwrap_or(U256::ZERO);
    let expected = parse_u256(&v.expected_key)?;
    Ok(compare(
        &format!("{leaf:?} key of {}", v.eth_addr),
        keys::key(&a, leaf, slot).to_u256(),
        expected,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BytecodeVector {
    bytecode: String,
    expected_hash: String,
}

fn bytecode(v: &BytecodeVector) -> Result<(bool, String)> {
    let code = keys::parse_hex_bytes(&v.bytecode).map_err(Error::InvalidInput)?;
    let expected: Hash = v.expected_hash.parse().map_err(Error::InvalidInput)?;
    Ok(compare(
        &format!("hash of {} bytes", code.len()),
        keys::hash_bytecode(&code),
        expected,
    ))
}
