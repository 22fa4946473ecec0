//! Polygon's processor vectors (zkevm-commonjs `state-transition.json`): a genesis, a batch and
//! the expected roots, hashes, transaction outcomes and account leaves after it.

use std::collections::{BTreeMap, HashMap};

use revm::primitives::{Address, Bytes, B256};
use ruint::aliases::U256;
use serde::Deserialize;
use zknode_state::genesis::{self, parse_u256, GenesisAccount, Number};
use zknode_state::keys;
use zknode_state::vectors::Outcome;
use zknode_state::{Hash, MemoryStore, StateTree};

use crate::hashes::L1InfoLeaf;
use crate::processor::{execute_batch, BatchContext};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    #[serde(rename = "chainID")]
    chain_id: u64,
    #[serde(rename = "forkID")]
    fork_id: u64,
    sequencer_address: String,
    timestamp_limit: Number,
    genesis: Vec<GenesisAccount>,
    expected_old_root: String,
    txs: Vec<VectorTx>,
    expected_new_root: String,
    #[serde(default)]
    expected_new_leafs: BTreeMap<String, ExpectedLeaf>,
    batch_l2_data: String,
    l1_info_root: String,
    new_local_exit_root: String,
    batch_hash_data: String,
    old_acc_input_hash: String,
    expected_new_acc_input_hash: String,
    #[serde(default, rename = "forcedBlockHashL1")]
    forced_block_hash_l1: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorTx {
    #[serde(default, rename = "type")]
    kind: Option<u8>,
    #[serde(default)]
    index_l1_info_tree: Option<u32>,
    #[serde(default)]
    l1_info: Option<VectorL1Info>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    custom_raw_tx: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorL1Info {
    global_exit_root: String,
    block_hash: String,
    timestamp: Number,
    #[serde(default)]
    smt_proof: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedLeaf {
    balance: Number,
    nonce: Number,
    #[serde(default)]
    storage: Option<BTreeMap<String, String>>,
    #[serde(default)]
    hash_bytecode: Option<String>,
    #[serde(default)]
    bytecode_length: Option<Number>,
}

fn b256(s: &str) -> Result<B256, String> {
    let v = parse_u256(s).map_err(|e| e.to_string())?;
    Ok(B256::from(v.to_be_bytes::<32>()))
}

fn address(s: &str) -> Result<Address, String> {
    keys::parse_address(s).map(Address::from)
}

fn num(n: &Number) -> Result<U256, String> {
    n.to_u256().map_err(|e| e.to_string())
}

/// Runs every vector of a processor vector file's text.
pub fn run(text: &str) -> Result<Vec<Outcome>, String> {
    zknode_state::vectors::run_each(text, |v| {
        let v: Vector = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok::<_, String>(match one(&v)? {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        })
    })
    .map_err(|e| e.to_string())
}

fn check(diffs: &mut Vec<String>, what: &str, got: String, expected: String) {
    if got.to_lowercase() != expected.to_lowercase() {
        diffs.push(format!("{what}: got {got}, expected {expected}"));
    }
}

/// `Ok(Ok(summary))` passed, `Ok(Err(difference))` failed, `Err` malformed.
fn one(v: &Vector) -> Result<Result<String, String>, String> {
    let store = MemoryStore::new();
    let mut tree = StateTree::open(&store).map_err(|e| e.to_string())?;
    let old_root = genesis::apply(&mut tree, &v.genesis).map_err(|e| e.to_string())?;
    let expected_old: Hash = v.expected_old_root.parse()?;
    if old_root != expected_old {
        return Ok(Err(format!(
            "genesis root {old_root}, expected {expected_old}"
        )));
    }
    let mut codes: HashMap<Hash, Bytes> = HashMap::new();
    for a in &v.genesis {
        if let Some(b) = &a.bytecode {
            let code = keys::parse_hex_bytes(b)?;
            codes.insert(keys::hash_bytecode(&code), Bytes::from(code));
        }
    }
    let mut l1_info = BTreeMap::new();
    for t in &v.txs {
        if let (Some(11), Some(i), Some(l)) = (t.kind, t.index_l1_info_tree, &t.l1_info) {
            l1_info.insert(
                i,
                L1InfoLeaf {
                    global_exit_root: b256(&l.global_exit_root)?,
                    block_hash: b256(&l.block_hash)?,
                    timestamp: u64::try_from(num(&l.timestamp)?)
                        .map_err(|_| "L1 info timestamp above 2^64")?,
                    smt_proof: l
                        .smt_proof
                        .iter()
                        .map(|s| b256(s))
                        .collect::<Result<_, _>>()?,
                },
            );
        }
    }
    let ctx = BatchContext {
        chain_id: v.chain_id,
        fork_id: v.fork_id,
        sequencer: address(&v.sequencer_address)?,
        timestamp_limit: u64::try_from(num(&v.timestamp_limit)?)
            .map_err(|_| "timestampLimit above 2^64")?,
        l1_info_root: b256(&v.l1_info_root)?,
        old_acc_input_hash: b256(&v.old_acc_input_hash)?,
        forced_block_hash_l1: v
            .forced_block_hash_l1
            .as_deref()
            .map(b256)
            .transpose()?
            .unwrap_or_default(),
        l1_info,
        verify_l1_info_proofs: true,
        with_proofs: true,
    };
    let data = keys::parse_hex_bytes(&v.batch_l2_data)?;
    let (tree, res) =
        execute_batch(tree, &codes, &ctx, &data).map_err(|e| format!("execution failed: {e}"))?;

    let mut diffs = Vec::new();
    check(
        &mut diffs,
        "new root",
        res.new_state_root.to_string(),
        v.expected_new_root.clone(),
    );
    check(
        &mut diffs,
        "accInputHash",
        res.new_acc_input_hash.to_string(),
        v.expected_new_acc_input_hash.clone(),
    );
    check(
        &mut diffs,
        "batchHashData",
        res.batch_hash_data.to_string(),
        v.batch_hash_data.clone(),
    );
    check(
        &mut diffs,
        "newLocalExitRoot",
        res.new_local_exit_root.to_string(),
        v.new_local_exit_root.clone(),
    );
    // Transaction outcomes, in batch order (vectors list transactions they could not encode
    // without a raw form; those are not in the batch).
    if res.invalid_batch.is_none() {
        let expected: Vec<&str> = v
            .txs
            .iter()
            .filter(|t| t.kind != Some(11) && t.custom_raw_tx.is_some())
            .map(|t| t.reason.as_deref().unwrap_or(""))
            .collect();
        let got: Vec<String> = res
            .txs
            .iter()
            .map(|t| match &t.outcome {
                Ok(r) => r.failure.clone().unwrap_or_default(),
                Err(reason) => reason.clone(),
            })
            .collect();
        if got.len() != expected.len() {
            diffs.push(format!(
                "{} transactions decoded, expected {}",
                got.len(),
                expected.len()
            ));
        }
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            if g != e {
                diffs.push(format!("tx {i}: outcome {g:?}, expected {e:?}"));
            }
        }
    }
    for (a, leaf) in &v.expected_new_leafs {
        let k = keys::parse_address(a)?;
        let get = |key| tree.get(&key).map_err(|e| e.to_string());
        check(
            &mut diffs,
            &format!("{a} balance"),
            get(keys::balance_key(&k))?.to_string(),
            num(&leaf.balance)?.to_string(),
        );
        check(
            &mut diffs,
            &format!("{a} nonce"),
            get(keys::nonce_key(&k))?.to_string(),
            num(&leaf.nonce)?.to_string(),
        );
        if let Some(h) = &leaf.hash_bytecode {
            check(
                &mut diffs,
                &format!("{a} bytecode hash"),
                get(keys::code_key(&k))?.to_string(),
                parse_u256(h).map_err(|e| e.to_string())?.to_string(),
            );
        }
        if let Some(n) = &leaf.bytecode_length {
            check(
                &mut diffs,
                &format!("{a} bytecode length"),
                get(keys::code_length_key(&k))?.to_string(),
                num(n)?.to_string(),
            );
        }
        for (slot, val) in leaf.storage.iter().flatten() {
            let slot = parse_u256(slot).map_err(|e| e.to_string())?;
            check(
                &mut diffs,
                &format!("{a} storage {slot:#x}"),
                get(keys::storage_key(&k, slot))?.to_string(),
                parse_u256(val).map_err(|e| e.to_string())?.to_string(),
            );
        }
    }
    let executed = res.txs.iter().filter(|t| t.outcome.is_ok()).count();
    Ok(if diffs.is_empty() {
        Ok(format!(
            "{} transactions ({} executed), {} blocks, {} state updates, root {}{}",
            res.txs.len(),
            executed,
            res.blocks.len(),
            res.ops.len(),
            res.new_state_root,
            res.invalid_batch
                .as_ref()
                .map(|r| format!(", invalid batch: {r}"))
                .unwrap_or_default()
        ))
    } else {
        Err(diffs.join("; "))
    })
}
