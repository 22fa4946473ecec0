//! The batch witness as a protobuf message: [`zknode_witness::BatchWitness`] to
//! [`pb::BatchWitness`] and back.
//!
//! Hashes travel as 32 bytes (limb 0 first, each limb little-endian, as
//! [`zknode_witness::Hash::to_bytes`] writes them), 256-bit values and slots as big-endian bytes
//! without leading zeros, addresses as 20 bytes. Reading a message checks every length, every
//! hash limb (below the Goldilocks prime), the version and that each operation has a kind; it
//! does not check the witness itself (keys, proofs, roots): that is
//! [`zknode_witness::BatchWitness::check`].

use ruint::aliases::U256;
use zknode_witness::{
    BatchWitness, ChainInputs, Hash, SiblingNode, UpdateKind, UpdateProof, WitnessOp,
    WITNESS_VERSION,
};

use crate::pb;

/// What is wrong with a batch witness message: the field (a path such as
/// `ops[3].siblings[2]`) and the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("batch witness message: {field}: {problem}")]
pub struct WitnessMessageError {
    pub field: String,
    pub problem: String,
}

fn err(field: impl Into<String>, problem: impl Into<String>) -> WitnessMessageError {
    WitnessMessageError {
        field: field.into(),
        problem: problem.into(),
    }
}

fn u256_bytes(v: &U256) -> Vec<u8> {
    let b = v.to_be_bytes::<32>();
    let first = b.iter().position(|&x| x != 0).unwrap_or(32);
    b[first..].to_vec()
}

fn hash_bytes(h: &Hash) -> Vec<u8> {
    h.to_bytes().to_vec()
}

fn read_u256(field: &str, b: &[u8]) -> Result<U256, WitnessMessageError> {
    if b.len() > 32 {
        return Err(err(
            field,
            format!(
                "a 256-bit value takes at most 32 bytes, this one has {}",
                b.len()
            ),
        ));
    }
    let mut full = [0u8; 32];
    full[32 - b.len()..].copy_from_slice(b);
    Ok(U256::from_be_bytes(full))
}

fn read_hash(field: &str, b: &[u8]) -> Result<Hash, WitnessMessageError> {
    if b.len() != 32 {
        return Err(err(
            field,
            format!("a hash takes 32 bytes, this one has {}", b.len()),
        ));
    }
    Hash::from_bytes(b).ok_or_else(|| {
        err(
            field,
            "not a hash: a 64-bit limb is not below the Goldilocks prime",
        )
    })
}

fn read_array<const N: usize>(field: &str, b: &[u8]) -> Result<[u8; N], WitnessMessageError> {
    b.try_into()
        .map_err(|_| err(field, format!("expected {N} bytes, got {}", b.len())))
}

impl From<&ChainInputs> for pb::ChainInputs {
    fn from(c: &ChainInputs) -> Self {
        pb::ChainInputs {
            chain_id: c.chain_id,
            fork_id: c.fork_id,
            sequencer: c.sequencer.to_vec(),
            timestamp_limit: c.timestamp_limit,
            l1_info_root: c.l1_info_root.to_vec(),
            old_acc_input_hash: c.old_acc_input_hash.to_vec(),
            batch_number: c.batch_number,
        }
    }
}

impl TryFrom<pb::ChainInputs> for ChainInputs {
    type Error = WitnessMessageError;

    fn try_from(c: pb::ChainInputs) -> Result<Self, Self::Error> {
        Ok(ChainInputs {
            chain_id: c.chain_id,
            fork_id: c.fork_id,
            sequencer: read_array("chain.sequencer", &c.sequencer)?,
            timestamp_limit: c.timestamp_limit,
            l1_info_root: read_array("chain.l1_info_root", &c.l1_info_root)?,
            old_acc_input_hash: read_array("chain.old_acc_input_hash", &c.old_acc_input_hash)?,
            batch_number: c.batch_number,
        })
    }
}

fn leaf_node(rkey: &Hash, value_hash: &Hash) -> pb::LeafNode {
    pb::LeafNode {
        rkey: hash_bytes(rkey),
        value_hash: hash_bytes(value_hash),
    }
}

fn read_leaf_node(field: &str, l: &pb::LeafNode) -> Result<(Hash, Hash), WitnessMessageError> {
    Ok((
        read_hash(&format!("{field}.rkey"), &l.rkey)?,
        read_hash(&format!("{field}.value_hash"), &l.value_hash)?,
    ))
}

impl From<&UpdateKind> for pb::witness_op::Kind {
    fn from(k: &UpdateKind) -> Self {
        use pb::witness_op::Kind;
        match k {
            UpdateKind::InsertEmpty => Kind::InsertEmpty(pb::InsertEmpty {}),
            UpdateKind::Update => Kind::Update(pb::Update {}),
            UpdateKind::InsertSplit {
                other_rkey,
                other_value_hash,
            } => Kind::InsertSplit(pb::InsertSplit {
                other_rkey: hash_bytes(other_rkey),
                other_value_hash: hash_bytes(other_value_hash),
            }),
            UpdateKind::Delete { sibling } => Kind::Delete(pb::Delete {
                sibling: sibling.as_ref().map(|s| match s {
                    SiblingNode::Leaf { rkey, value_hash } => {
                        pb::delete::Sibling::Leaf(leaf_node(rkey, value_hash))
                    }
                    SiblingNode::Branch { left, right } => {
                        pb::delete::Sibling::Branch(pb::BranchNode {
                            left: hash_bytes(left),
                            right: hash_bytes(right),
                        })
                    }
                }),
            }),
            UpdateKind::ZeroToAbsent { found } => Kind::ZeroToAbsent(pb::ZeroToAbsent {
                found: found.as_ref().map(|(rkey, vh)| leaf_node(rkey, vh)),
            }),
        }
    }
}

fn read_kind(
    field: &str,
    k: Option<pb::witness_op::Kind>,
) -> Result<UpdateKind, WitnessMessageError> {
    use pb::witness_op::Kind;
    let Some(k) = k else {
        return Err(err(
            field,
            "not set: every operation needs one of insert_empty, update, insert_split, delete, \
             zero_to_absent (or the sender used a kind this build does not know)",
        ));
    };
    Ok(match k {
        Kind::InsertEmpty(_) => UpdateKind::InsertEmpty,
        Kind::Update(_) => UpdateKind::Update,
        Kind::InsertSplit(s) => UpdateKind::InsertSplit {
            other_rkey: read_hash(&format!("{field}.insert_split.other_rkey"), &s.other_rkey)?,
            other_value_hash: read_hash(
                &format!("{field}.insert_split.other_value_hash"),
                &s.other_value_hash,
            )?,
        },
        Kind::Delete(d) => UpdateKind::Delete {
            sibling: match d.sibling {
                None => None,
                Some(pb::delete::Sibling::Leaf(l)) => {
                    let (rkey, value_hash) = read_leaf_node(&format!("{field}.delete.leaf"), &l)?;
                    Some(SiblingNode::Leaf { rkey, value_hash })
                }
                Some(pb::delete::Sibling::Branch(b)) => Some(SiblingNode::Branch {
                    left: read_hash(&format!("{field}.delete.branch.left"), &b.left)?,
                    right: read_hash(&format!("{field}.delete.branch.right"), &b.right)?,
                }),
            },
        },
        Kind::ZeroToAbsent(z) => UpdateKind::ZeroToAbsent {
            found: match z.found {
                None => None,
                Some(l) => Some(read_leaf_node(
                    &format!("{field}.zero_to_absent.found"),
                    &l,
                )?),
            },
        },
    })
}

impl From<&WitnessOp> for pb::WitnessOp {
    fn from(op: &WitnessOp) -> Self {
        let p = &op.proof;
        pb::WitnessOp {
            address: op.address.to_vec(),
            leaf_type: u32::from(op.leaf_type),
            slot: u256_bytes(&op.slot),
            key: hash_bytes(&p.key),
            old_value: u256_bytes(&p.old_value),
            new_value: u256_bytes(&p.new_value),
            siblings: p.siblings.iter().map(hash_bytes).collect(),
            kind: Some((&p.kind).into()),
        }
    }
}

fn read_op(index: usize, op: pb::WitnessOp) -> Result<WitnessOp, WitnessMessageError> {
    let f = |name: &str| format!("ops[{index}].{name}");
    let leaf_type = u8::try_from(op.leaf_type).map_err(|_| {
        err(
            f("leaf_type"),
            format!(
                "{} is not a leaf type (0 balance, 1 nonce, 2 code, 3 storage, 4 code length)",
                op.leaf_type
            ),
        )
    })?;
    let siblings = op
        .siblings
        .iter()
        .enumerate()
        .map(|(i, s)| read_hash(&f(&format!("siblings[{i}]")), s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WitnessOp {
        address: read_array(&f("address"), &op.address)?,
        leaf_type,
        slot: read_u256(&f("slot"), &op.slot)?,
        proof: UpdateProof {
            key: read_hash(&f("key"), &op.key)?,
            old_value: read_u256(&f("old_value"), &op.old_value)?,
            new_value: read_u256(&f("new_value"), &op.new_value)?,
            siblings,
            kind: read_kind(&f("kind"), op.kind)?,
        },
    })
}

impl From<&BatchWitness> for pb::BatchWitness {
    fn from(w: &BatchWitness) -> Self {
        pb::BatchWitness {
            version: w.version,
            old_state_root: hash_bytes(&w.old_state_root),
            chain: Some((&w.chain).into()),
            batch_l2_data: w.batch_l2_data.clone(),
            ops: w.ops.iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::BatchWitness> for BatchWitness {
    type Error = WitnessMessageError;

    fn try_from(w: pb::BatchWitness) -> Result<Self, Self::Error> {
        if w.version != WITNESS_VERSION {
            return Err(err(
                "version",
                format!(
                    "witness version {} is not supported: this build reads version {WITNESS_VERSION}",
                    w.version
                ),
            ));
        }
        let old_state_root = read_hash("old_state_root", &w.old_state_root)?;
        let chain = w
            .chain
            .ok_or_else(|| err("chain", "missing: the chain inputs are required"))?
            .try_into()?;
        let ops = w
            .ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| read_op(i, op))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BatchWitness {
            version: WITNESS_VERSION,
            old_state_root,
            chain,
            batch_l2_data: w.batch_l2_data,
            ops,
        })
    }
}
