//! Update proofs: everything a verifier needs to recompute the roots before and after one write,
//! for every shape a write can take. The tree builds its new nodes through the same function that
//! verifies a proof, so the two cannot disagree.

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::smt::hash::{branch_hash, leaf_hash, value_hash, value_limbs, Hash, Key};
use crate::smt::store::Node;

/// The node beside the deleted leaf (the other child of its parent), opened so the verifier
/// knows whether the tree collapses.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum SiblingNode {
    Leaf { rkey: Key, value_hash: Hash },
    Branch { left: Hash, right: Hash },
}

/// The shape of one write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum UpdateKind {
    /// A new leaf in an empty slot.
    InsertEmpty,
    /// The key's leaf gets a new non-zero value in place.
    Update,
    /// The slot holds another key's leaf (its remaining key and value hash at this depth): both
    /// move down to where their paths part.
    InsertSplit {
        other_rkey: Key,
        other_value_hash: Hash,
    },
    /// The key's leaf is removed; a lone leaf left beside it moves up to the shallowest unique
    /// depth. `sibling` is absent only when the leaf was the root.
    Delete { sibling: Option<SiblingNode> },
    /// Zero written to a key that has no leaf: nothing changes. `found` is the other leaf in the
    /// slot, if any.
    ZeroToAbsent { found: Option<(Key, Hash)> },
}

/// A proof of one write against the running root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProof {
    pub key: Key,
    pub old_value: U256,
    pub new_value: U256,
    /// Sibling hashes along the key's path, root first; their count is the depth of the slot.
    pub siblings: Vec<Hash>,
    pub kind: UpdateKind,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadProof(msg.into())
}

/// Hashes `h` (the node at depth `d = siblings.len()`) up to the root, emitting each new node.
fn fold(key: &Key, mut h: Hash, siblings: &[Hash], emit: &mut dyn FnMut(Hash, Node)) -> Hash {
    for level in (0..siblings.len()).rev() {
        let s = siblings[level];
        let (left, right) = if key.path_bit(level) == 0 {
            (h, s)
        } else {
            (s, h)
        };
        h = branch_hash(&left, &right);
        emit(h, Node::Branch { left, right });
    }
    h
}

/// A leaf at `depth` for a full key, with its value node.
fn new_leaf(key: &Key, depth: usize, value: U256, emit: &mut dyn FnMut(Hash, Node)) -> Hash {
    let limbs = value_limbs(value);
    let vh = value_hash(&limbs);
    emit(vh, Node::Value(limbs));
    place_leaf(key, depth, vh, emit)
}

fn place_leaf(key: &Key, depth: usize, vh: Hash, emit: &mut dyn FnMut(Hash, Node)) -> Hash {
    let rkey = key.remove_bits(depth);
    let h = leaf_hash(&rkey, &vh);
    emit(
        h,
        Node::Leaf {
            rkey,
            value_hash: vh,
        },
    );
    h
}

impl UpdateProof {
    /// Recomputes the roots before and after the write, calling `emit` with every node the
    /// write creates. Errors when the proof is inconsistent in itself.
    pub fn roots(&self, emit: &mut dyn FnMut(Hash, Node)) -> Result<(Hash, Hash)> {
        let key = &self.key;
        let d = self.siblings.len();
        if d > 255 {
            return Err(bad(format!("{d} siblings: a path has at most 255")));
        }
        let (old0, new0) = (self.old_value.is_zero(), self.new_value.is_zero());
        let value_leaf = |v: U256| leaf_hash(&key.remove_bits(d), &value_hash(&value_limbs(v)));
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(bad(what.to_string()))
            }
        };
        let no_emit = &mut |_: Hash, _: Node| {};
        match &self.kind {
            UpdateKind::InsertEmpty => {
                need(
                    old0 && !new0,
                    "an insertion into an empty slot needs old value 0 and a non-zero new value",
                )?;
                let old_root = fold(key, Hash::ZERO, &self.siblings, no_emit);
                let leaf = new_leaf(key, d, self.new_value, emit);
                Ok((old_root, fold(key, leaf, &self.siblings, emit)))
            }
            UpdateKind::Update => {
                need(
                    !old0 && !new0,
                    "an update in place needs non-zero old and new values",
                )?;
                let old_root = fold(key, value_leaf(self.old_value), &self.siblings, no_emit);
                let leaf = new_leaf(key, d, self.new_value, emit);
                Ok((old_root, fold(key, leaf, &self.siblings, emit)))
            }
            UpdateKind::InsertSplit {
                other_rkey,
                other_value_hash,
            } => {
                need(
                    old0 && !new0,
                    "an insertion that splits a leaf needs old value 0 and a non-zero new value",
                )?;
                let other = Hash::from_raw(other_rkey.join_bits(&key.raw(), d))
                    .ok_or_else(|| bad("the other leaf's key is not a field element"))?;
                if other.remove_bits(d) != *other_rkey {
                    return Err(bad("the other leaf's remaining key does not fit its depth"));
                }
                if other == *key {
                    return Err(bad("the leaf to split holds the key itself: that is an update, not an insertion"));
                }
                let old_root = fold(
                    key,
                    leaf_hash(other_rkey, other_value_hash),
                    &self.siblings,
                    no_emit,
                );
                // The first path bit (at or below d) where the two keys differ.
                let p = (d..256)
                    .find(|&i| key.path_bit(i) != other.path_bit(i))
                    .ok_or_else(|| bad("keys never part"))?;
                let mine = new_leaf(key, p + 1, self.new_value, emit);
                let theirs = place_leaf(&other, p + 1, *other_value_hash, emit);
                let (l, r) = if key.path_bit(p) == 0 {
                    (mine, theirs)
                } else {
                    (theirs, mine)
                };
                let mut h = branch_hash(&l, &r);
                emit(h, Node::Branch { left: l, right: r });
                for level in (d..p).rev() {
                    let (l, r) = if key.path_bit(level) == 0 {
                        (h, Hash::ZERO)
                    } else {
                        (Hash::ZERO, h)
                    };
                    h = branch_hash(&l, &r);
                    emit(h, Node::Branch { left: l, right: r });
                }
                Ok((old_root, fold(key, h, &self.siblings, emit)))
            }
            UpdateKind::Delete { sibling } => {
                need(
                    !old0 && new0,
                    "a deletion needs a non-zero old value and new value 0",
                )?;
                let old_root = fold(key, value_leaf(self.old_value), &self.siblings, no_emit);
                let new_root = match (d, sibling) {
                    (0, None) => Hash::ZERO,
                    (0, Some(_)) => return Err(bad("a root leaf has no sibling")),
                    (_, None) => {
                        return Err(bad("a deletion below the root must open the sibling node"))
                    }
                    (_, Some(SiblingNode::Branch { left, right })) => {
                        if branch_hash(left, right) != self.siblings[d - 1] {
                            return Err(bad(
                                "the opened sibling branch does not hash to the sibling",
                            ));
                        }
                        fold(key, Hash::ZERO, &self.siblings, emit)
                    }
                    (_, Some(SiblingNode::Leaf { rkey, value_hash })) => {
                        if leaf_hash(rkey, value_hash) != self.siblings[d - 1] {
                            return Err(bad(
                                "the opened sibling leaf does not hash to the sibling",
                            ));
                        }
                        // The sibling's full key: our path to depth d - 1, the other side, then rkey.
                        let mut prefix = key.raw();
                        prefix[(d - 1) % 4] ^= 1 << ((d - 1) / 4);
                        let full = Hash::from_raw(rkey.join_bits(&prefix, d))
                            .ok_or_else(|| bad("the sibling leaf's key is not a field element"))?;
                        let mut level = d - 1;
                        while level > 0 && self.siblings[level - 1].is_zero() {
                            level -= 1;
                        }
                        let leaf = place_leaf(&full, level, *value_hash, emit);
                        fold(key, leaf, &self.siblings[..level], emit)
                    }
                };
                Ok((old_root, new_root))
            }
            UpdateKind::ZeroToAbsent { found } => {
                need(
                    old0 && new0,
                    "writing zero to an absent key needs old and new values 0",
                )?;
                let slot = match found {
                    None => Hash::ZERO,
                    Some((rkey, vh)) => {
                        if rkey.join_bits(&key.raw(), d) == key.raw() {
                            return Err(bad(
                                "the slot's leaf holds the key itself, so the key is not absent",
                            ));
                        }
                        leaf_hash(rkey, vh)
                    }
                };
                let root = fold(key, slot, &self.siblings, no_emit);
                Ok((root, root))
            }
        }
    }

    /// Checks the proof against the roots before and after the write.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<()> {
        let (o, n) = self.roots(&mut |_, _| {})?;
        if o != *old_root {
            return Err(bad(format!(
                "old root: proof gives {o}, expected {old_root}"
            )));
        }
        if n != *new_root {
            return Err(bad(format!(
                "new root: proof gives {n}, expected {new_root}"
            )));
        }
        Ok(())
    }
}
