//! The batch witness, its operations and chain inputs, and their JSON form.

use std::path::Path;

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use zknode_state::keys::{Address, LeafType};
use zknode_state::{Hash, Key, SiblingNode, UpdateKind, UpdateProof};

use crate::error::{OpProblem, WitnessError};
use crate::hexser;

/// The witness format this build writes and reads.
pub const WITNESS_VERSION: u32 = 1;

/// Everything a batch proof is computed from: the state root before the batch, the batch's state
/// operations in order with their tree proofs, the batch data and the chain inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchWitness {
    /// Always [`WITNESS_VERSION`]; reading another version is an error.
    #[serde(deserialize_with = "version_de")]
    pub version: u32,
    pub old_state_root: Hash,
    pub chain: ChainInputs,
    /// The batch's `batchL2Data` bytes (hex in JSON).
    #[serde(with = "hexser::bytes")]
    pub batch_l2_data: Vec<u8>,
    pub ops: Vec<WitnessOp>,
}

/// The chain inputs of a batch (what Polygon's prover receives beside the batch data).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainInputs {
    pub chain_id: u64,
    pub fork_id: u64,
    #[serde(with = "hexser::array")]
    pub sequencer: Address,
    pub timestamp_limit: u64,
    #[serde(with = "hexser::array")]
    pub l1_info_root: [u8; 32],
    #[serde(with = "hexser::array")]
    pub old_acc_input_hash: [u8; 32],
    pub batch_number: u64,
}

/// One state write of the batch: which leaf of which account, and the proof of the write
/// against the running root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "OpJson", into = "OpJson")]
pub struct WitnessOp {
    pub address: Address,
    /// 0 balance, 1 nonce, 2 code, 3 storage, 4 code length.
    pub leaf_type: u8,
    /// The storage slot; 0 for every other leaf type.
    pub slot: U256,
    pub proof: UpdateProof,
}

fn version_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u64::deserialize(d)?;
    if v != u64::from(WITNESS_VERSION) {
        return Err(serde::de::Error::custom(format!(
            "witness version {v} is not supported: this build reads version {WITNESS_VERSION}"
        )));
    }
    Ok(WITNESS_VERSION)
}

impl BatchWitness {
    /// Parses a witness from JSON. Malformed JSON, a missing or mistyped field and an unknown
    /// version are errors with the line and column where serde_json stopped.
    pub fn from_json(s: &str) -> Result<Self, WitnessError> {
        #[derive(Deserialize)]
        struct Probe {
            version: Option<serde_json::Value>,
        }
        // The version first, so a future format gives "unsupported version", not whatever
        // field it changed.
        let probe: Probe = serde_json::from_str(s).map_err(WitnessError::from_json)?;
        if let Some(found) = probe.version.as_ref().and_then(|v| v.as_u64()) {
            if found != u64::from(WITNESS_VERSION) {
                return Err(WitnessError::Version {
                    found,
                    supported: WITNESS_VERSION,
                });
            }
        }
        serde_json::from_str(s).map_err(WitnessError::from_json)
    }

    /// Reads a witness file; errors name the file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, WitnessError> {
        let path = path.as_ref();
        let in_file = |e: WitnessError| WitnessError::File {
            path: path.to_path_buf(),
            error: Box::new(e),
        };
        let text = std::fs::read_to_string(path).map_err(|e| in_file(e.into()))?;
        Self::from_json(&text).map_err(in_file)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a witness always serializes")
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a witness always serializes")
    }

    /// Writes the pretty JSON form to a file.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), WitnessError> {
        let path = path.as_ref();
        let mut text = self.to_json_pretty();
        text.push('\n');
        std::fs::write(path, text).map_err(|e| WitnessError::File {
            path: path.to_path_buf(),
            error: Box::new(e.into()),
        })
    }

    /// How many operations of each kind, in the order of [`KIND_NAMES`].
    pub fn kind_histogram(&self) -> [(&'static str, usize); 5] {
        let mut h = KIND_NAMES.map(|k| (k, 0));
        for op in &self.ops {
            h[kind_index(&op.proof.kind)].1 += 1;
        }
        h
    }
}

/// The names of the operation kinds, as the JSON `kind.type` spells them.
pub const KIND_NAMES: [&str; 5] = [
    "insertEmpty",
    "update",
    "insertSplit",
    "delete",
    "zeroToAbsent",
];

fn kind_index(k: &UpdateKind) -> usize {
    match k {
        UpdateKind::InsertEmpty => 0,
        UpdateKind::Update => 1,
        UpdateKind::InsertSplit { .. } => 2,
        UpdateKind::Delete { .. } => 3,
        UpdateKind::ZeroToAbsent { .. } => 4,
    }
}

impl WitnessOp {
    /// The JSON name of this operation's kind (one of [`KIND_NAMES`]).
    pub fn kind_name(&self) -> &'static str {
        KIND_NAMES[kind_index(&self.proof.kind)]
    }

    /// The key of `(address, leaf_type, slot)`; errors for an unknown type, or a non-zero slot
    /// on a leaf that is not storage.
    pub fn derived_key(&self) -> Result<Key, OpProblem> {
        derive_key(&self.address, self.leaf_type, self.slot)
    }

    /// Checks this operation against the running root and returns the root after it: the key
    /// is the address's, the proof is consistent, and its old root is `running`.
    pub fn apply_to(&self, running: &Hash) -> Result<Hash, OpProblem> {
        let expected = self.derived_key()?;
        if expected != self.proof.key {
            return Err(OpProblem::KeyMismatch {
                address: self.address,
                leaf_type: self.leaf_type,
                slot: self.slot,
                expected,
                found: self.proof.key,
            });
        }
        let (old, new) = self.proof.roots(&mut |_, _| {}).map_err(|e| match e {
            zknode_state::Error::BadProof(m) => OpProblem::BadProof(m),
            other => OpProblem::BadProof(other.to_string()),
        })?;
        if old != *running {
            return Err(OpProblem::RootMismatch {
                proof: old,
                running: *running,
            });
        }
        Ok(new)
    }
}

/// The tree key of `(address, leaf_type, slot)`, with the witness's rules: the type is 0..=4
/// and the slot is 0 unless the type is storage.
pub fn derive_key(address: &Address, leaf_type: u8, slot: U256) -> Result<Key, OpProblem> {
    let t = LeafType::from_u8(leaf_type).ok_or(OpProblem::BadLeafType(leaf_type))?;
    if t != LeafType::Storage && !slot.is_zero() {
        return Err(OpProblem::NonZeroSlot { leaf_type, slot });
    }
    Ok(zknode_state::keys::key(address, t, slot))
}

// ---- JSON form of an operation ----------------------------------------------------------------
//
// Flat: the account fields, then the proof's fields, then the kind with what it opens. Hashes are
// hex strings as `Hash` prints them (`0x` h3 h2 h1 h0), values and slots minimal `0x` hex.

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OpJson {
    #[serde(with = "hexser::array")]
    address: Address,
    leaf_type: u8,
    slot: U256,
    key: Key,
    old_value: U256,
    new_value: U256,
    /// Root first.
    siblings: Vec<Hash>,
    kind: KindJson,
}

#[derive(Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "type"
)]
enum KindJson {
    InsertEmpty,
    Update,
    InsertSplit {
        other_rkey: Key,
        other_value_hash: Hash,
    },
    Delete {
        #[serde(default)]
        sibling: Option<SiblingJson>,
    },
    ZeroToAbsent {
        #[serde(default)]
        found: Option<LeafJson>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "type"
)]
enum SiblingJson {
    Leaf { rkey: Key, value_hash: Hash },
    Branch { left: Hash, right: Hash },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LeafJson {
    rkey: Key,
    value_hash: Hash,
}

impl From<WitnessOp> for OpJson {
    fn from(op: WitnessOp) -> Self {
        let p = op.proof;
        let kind = match p.kind {
            UpdateKind::InsertEmpty => KindJson::InsertEmpty,
            UpdateKind::Update => KindJson::Update,
            UpdateKind::InsertSplit {
                other_rkey,
                other_value_hash,
            } => KindJson::InsertSplit {
                other_rkey,
                other_value_hash,
            },
            UpdateKind::Delete { sibling } => KindJson::Delete {
                sibling: sibling.map(|s| match s {
                    SiblingNode::Leaf { rkey, value_hash } => {
                        SiblingJson::Leaf { rkey, value_hash }
                    }
                    SiblingNode::Branch { left, right } => SiblingJson::Branch { left, right },
                }),
            },
            UpdateKind::ZeroToAbsent { found } => KindJson::ZeroToAbsent {
                found: found.map(|(rkey, value_hash)| LeafJson { rkey, value_hash }),
            },
        };
        OpJson {
            address: op.address,
            leaf_type: op.leaf_type,
            slot: op.slot,
            key: p.key,
            old_value: p.old_value,
            new_value: p.new_value,
            siblings: p.siblings,
            kind,
        }
    }
}

impl From<OpJson> for WitnessOp {
    fn from(j: OpJson) -> Self {
        let kind = match j.kind {
            KindJson::InsertEmpty => UpdateKind::InsertEmpty,
            KindJson::Update => UpdateKind::Update,
            KindJson::InsertSplit {
                other_rkey,
                other_value_hash,
            } => UpdateKind::InsertSplit {
                other_rkey,
                other_value_hash,
            },
            KindJson::Delete { sibling } => UpdateKind::Delete {
                sibling: sibling.map(|s| match s {
                    SiblingJson::Leaf { rkey, value_hash } => {
                        SiblingNode::Leaf { rkey, value_hash }
                    }
                    SiblingJson::Branch { left, right } => SiblingNode::Branch { left, right },
                }),
            },
            KindJson::ZeroToAbsent { found } => UpdateKind::ZeroToAbsent {
                found: found.map(|l| (l.rkey, l.value_hash)),
            },
        };
        WitnessOp {
            address: j.address,
            leaf_type: j.leaf_type,
            slot: j.slot,
            proof: UpdateProof {
                key: j.key,
                old_value: j.old_value,
                new_value: j.new_value,
                siblings: j.siblings,
                kind,
            },
        }
    }
}
