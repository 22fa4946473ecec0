//! The L1 info tree as the global exit root manager on L1 keeps it: an append-only keccak Merkle
//! tree of depth 32 whose empty leaves are zero, with the root after any number of leaves (the
//! contract's `l1InfoRootMap(count)`) and Merkle proofs against it.
//!
//! Every node of every complete subtree is kept (about two hashes per leaf), so a push costs 32
//! hashes and a root or a proof, for the whole tree or for any prefix of it, at most 32 more.

use std::sync::LazyLock;

use revm::primitives::{keccak256, B256};

/// Levels of the tree.
pub const L1_INFO_TREE_DEPTH: usize = 32;

/// Leaves the tree can hold (the contract stops one short of 2^32).
pub const L1_INFO_TREE_MAX_LEAVES: u64 = (1 << L1_INFO_TREE_DEPTH) - 1;

/// `ZERO_HASHES[h]`: the root of an empty subtree of height `h`.
static ZERO_HASHES: LazyLock<[B256; L1_INFO_TREE_DEPTH + 1]> = LazyLock::new(|| {
    let mut z = [B256::ZERO; L1_INFO_TREE_DEPTH + 1];
    for h in 1..=L1_INFO_TREE_DEPTH {
        z[h] = hash_pair(&z[h - 1], &z[h - 1]);
    }
    z
});

fn hash_pair(left: &B256, right: &B256) -> B256 {
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(left.as_slice());
    b[32..].copy_from_slice(right.as_slice());
    keccak256(b)
}

/// The root of the tree with no leaves (`l1InfoRootMap(0)` of the contract).
pub fn l1_info_empty_root() -> B256 {
    ZERO_HASHES[L1_INFO_TREE_DEPTH]
}

/// A request the tree cannot answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum L1InfoTreeError {
    #[error("the L1 info tree is full ({L1_INFO_TREE_MAX_LEAVES} leaves)")]
    Full,
    #[error("the L1 info tree has {len} leaves; asked about the first {count}")]
    CountAboveLength { count: u64, len: u64 },
    #[error("leaf {index} is not among the first {count} leaves of the L1 info tree")]
    IndexOutOfRange { index: u64, count: u64 },
}

/// An incremental L1 info tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1InfoTree {
    /// `layers[h][i]`: the node at height `h` over leaves `i·2^h .. (i+1)·2^h`, hashed with zero
    /// leaves past the end; `layers[0]` are the leaves, `layers[32]` holds the root once there is
    /// a leaf. Only a level's last node can cover leaves past the end.
    layers: Vec<Vec<B256>>,
}

impl Default for L1InfoTree {
    fn default() -> Self {
        Self::new()
    }
}

impl L1InfoTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            layers: vec![Vec::new(); L1_INFO_TREE_DEPTH + 1],
        }
    }

    /// A tree of `leaves`, in order.
    pub fn from_leaves(leaves: impl IntoIterator<Item = B256>) -> Result<Self, L1InfoTreeError> {
        let mut t = Self::new();
        for leaf in leaves {
            t.push(leaf)?;
        }
        Ok(t)
    }

    /// Leaves in the tree.
    pub fn len(&self) -> u64 {
        self.layers[0].len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.layers[0].is_empty()
    }

    /// The leaves, in order.
    pub fn leaves(&self) -> &[B256] {
        &self.layers[0]
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: u64) -> Option<B256> {
        self.layers[0].get(usize::try_from(index).ok()?).copied()
    }

    /// The root now.
    pub fn root(&self) -> B256 {
        self.layers[L1_INFO_TREE_DEPTH]
            .first()
            .copied()
            .unwrap_or_else(l1_info_empty_root)
    }

    /// Appends `leaf` (its index is the old length) and returns the new root.
    pub fn push(&mut self, leaf: B256) -> Result<B256, L1InfoTreeError> {
        if self.len() >= L1_INFO_TREE_MAX_LEAVES {
            return Err(L1InfoTreeError::Full);
        }
        self.layers[0].push(leaf);
        let mut i = self.layers[0].len() - 1;
        for h in 0..L1_INFO_TREE_DEPTH {
            let parent = self.hash_children(h, i >> 1);
            let up = &mut self.layers[h + 1];
            if up.len() == i >> 1 {
                up.push(parent);
            } else {
                up[i >> 1] = parent;
            }
            i >>= 1;
        }
        Ok(self.root())
    }

    /// Drops the leaves from `count` on (an L1 reorg); nothing happens when there are fewer.
    pub fn truncate(&mut self, count: u64) {
        if count >= self.len() {
            return;
        }
        for h in 0..=L1_INFO_TREE_DEPTH {
            // Nodes at height h that hold at least one of the first `count` leaves.
            let keep = count.div_ceil(1 << h);
            self.layers[h].truncate(keep as usize);
        }
        // Each level's last node may now cover fewer leaves: rebuild it from below.
        for h in 1..=L1_INFO_TREE_DEPTH {
            if let Some(last) = self.layers[h].len().checked_sub(1) {
                self.layers[h][last] = self.hash_children(h - 1, last);
            }
        }
    }

    /// The root after the first `count` leaves: what the contract stored as
    /// `l1InfoRootMap(count)`.
    pub fn root_at(&self, count: u64) -> Result<B256, L1InfoTreeError> {
        self.check_count(count)?;
        Ok(self.node_at(L1_INFO_TREE_DEPTH, 0, count))
    }

    /// The 32 siblings of leaf `index`, from the leaf up, against [`root`](Self::root); they
    /// verify with [`verify_l1_info_proof`](crate::hashes::verify_l1_info_proof).
    pub fn proof(&self, index: u64) -> Result<Vec<B256>, L1InfoTreeError> {
        self.proof_at(index, self.len())
    }

    /// The siblings of leaf `index` in the tree of the first `count` leaves, against
    /// [`root_at(count)`](Self::root_at): the proof a batch that names the L1 info root after
    /// `count` leaves carries for one of them.
    pub fn proof_at(&self, index: u64, count: u64) -> Result<Vec<B256>, L1InfoTreeError> {
        self.check_count(count)?;
        if index >= count {
            return Err(L1InfoTreeError::IndexOutOfRange { index, count });
        }
        Ok((0..L1_INFO_TREE_DEPTH)
            .map(|h| self.node_at(h, (index >> h) ^ 1, count))
            .collect())
    }

    fn check_count(&self, count: u64) -> Result<(), L1InfoTreeError> {
        if count > self.len() {
            return Err(L1InfoTreeError::CountAboveLength {
                count,
                len: self.len(),
            });
        }
        Ok(())
    }

    /// The stored node at height `h`, index `i`, or the empty subtree's root past the end.
    fn stored(&self, h: usize, i: usize) -> B256 {
        self.layers[h].get(i).copied().unwrap_or(ZERO_HASHES[h])
    }

    /// The node at height `h + 1`, index `i`, from the stored nodes below it.
    fn hash_children(&self, h: usize, i: usize) -> B256 {
        hash_pair(&self.stored(h, 2 * i), &self.stored(h, 2 * i + 1))
    }

    /// The node at height `h`, index `i`, of the tree of the first `count` leaves. A complete
    /// subtree is stored; one past `count` is empty; only one node per level straddles `count`,
    /// and it is rebuilt from its children.
    fn node_at(&self, h: usize, i: u64, count: u64) -> B256 {
        let start = i << h;
        let end = (i + 1) << h;
        if start >= count {
            ZERO_HASHES[h]
        } else if end <= count || count == self.len() {
            // Complete, or covering the current end: stored as is.
            self.stored(h, i as usize)
        } else {
            hash_pair(
                &self.node_at(h - 1, 2 * i, count),
                &self.node_at(h - 1, 2 * i + 1, count),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashes::verify_l1_info_proof;
    use proptest::prelude::*;

    /// The root computed from scratch, level by level.
    fn naive_root(leaves: &[B256]) -> B256 {
        let mut layer = leaves.to_vec();
        for z in ZERO_HASHES.iter().take(L1_INFO_TREE_DEPTH) {
            layer = layer
                .chunks(2)
                .map(|p| hash_pair(&p[0], p.get(1).unwrap_or(z)))
                .collect();
        }
        layer.first().copied().unwrap_or_else(l1_info_empty_root)
    }

    fn leaf(i: u64) -> B256 {
        keccak256(i.to_be_bytes())
    }

    #[test]
    fn the_empty_root_is_the_contracts() {
        // The root of an empty depth-32 keccak tree, as the bridge and the L1 info tree have it.
        assert_eq!(
            l1_info_empty_root().to_string(),
            "0x27ae5ba08d7291c96c8cbddcc148bf48a6d68c7974b94356f53754ef6171d757"
        );
        assert_eq!(L1InfoTree::new().root(), l1_info_empty_root());
        assert_eq!(L1InfoTree::new().root_at(0), Ok(l1_info_empty_root()));
    }

    #[test]
    fn roots_and_proofs_match_a_tree_built_from_scratch() {
        let leaves: Vec<B256> = (0..70).map(leaf).collect();
        let mut t = L1InfoTree::new();
        for (n, l) in leaves.iter().enumerate() {
            let root = t.push(*l).unwrap();
            assert_eq!(root, naive_root(&leaves[..=n]), "after {} leaves", n + 1);
        }
        assert_eq!(t.len(), 70);
        for count in 0..=70u64 {
            let root = naive_root(&leaves[..count as usize]);
            assert_eq!(t.root_at(count).unwrap(), root, "count {count}");
            for index in 0..count {
                let p = t.proof_at(index, count).unwrap();
                assert_eq!(p.len(), 32);
                assert!(
                    verify_l1_info_proof(leaves[index as usize], &p, index as u32, root),
                    "leaf {index} of {count}"
                );
            }
        }
        let p = t.proof(69).unwrap();
        assert!(verify_l1_info_proof(leaves[69], &p, 69, t.root()));
        assert!(!verify_l1_info_proof(leaves[68], &p, 69, t.root()));
    }

    #[test]
    fn bad_requests_are_errors() {
        let t = L1InfoTree::from_leaves((0..3).map(leaf)).unwrap();
        assert_eq!(
            t.root_at(4),
            Err(L1InfoTreeError::CountAboveLength { count: 4, len: 3 })
        );
        assert_eq!(
            t.proof(3),
            Err(L1InfoTreeError::IndexOutOfRange { index: 3, count: 3 })
        );
        assert_eq!(
            t.proof_at(2, 2),
            Err(L1InfoTreeError::IndexOutOfRange { index: 2, count: 2 })
        );
        assert_eq!(t.leaf(2), Some(leaf(2)));
        assert_eq!(t.leaf(3), None);
    }

    #[test]
    fn truncate_then_push_equals_a_tree_that_never_had_the_dropped_leaves() {
        let mut t = L1InfoTree::from_leaves((0..37).map(leaf)).unwrap();
        for keep in [37u64, 36, 33, 32, 17, 16, 1, 0] {
            t.truncate(keep);
            let fresh = L1InfoTree::from_leaves((0..keep).map(leaf)).unwrap();
            assert_eq!(t, fresh, "kept {keep}");
            t.push(leaf(1000)).unwrap();
            let mut fresh = fresh;
            fresh.push(leaf(1000)).unwrap();
            assert_eq!(t.root(), fresh.root());
            t.truncate(keep);
        }
    }

    #[test]
    fn tens_of_thousands_of_leaves() {
        let mut t = L1InfoTree::new();
        for i in 0..40_000 {
            t.push(leaf(i)).unwrap();
        }
        let root = t.root_at(30_001).unwrap();
        let p = t.proof_at(29_999, 30_001).unwrap();
        assert!(verify_l1_info_proof(leaf(29_999), &p, 29_999, root));
        let p = t.proof(12_345).unwrap();
        assert!(verify_l1_info_proof(leaf(12_345), &p, 12_345, t.root()));
    }

    proptest! {
        #[test]
        fn any_prefix_and_leaf_verifies(n in 1u64..300, count_frac in 0.0f64..1.0, index_frac in 0.0f64..1.0) {
            let t = L1InfoTree::from_leaves((0..n).map(leaf)).unwrap();
            let count = 1 + ((n - 1) as f64 * count_frac) as u64;
            let index = ((count - 1) as f64 * index_frac) as u64;
            let leaves: Vec<B256> = (0..count).map(leaf).collect();
            let root = naive_root(&leaves);
            prop_assert_eq!(t.root_at(count).unwrap(), root);
            let p = t.proof_at(index, count).unwrap();
            prop_assert!(verify_l1_info_proof(leaf(index), &p, index as u32, root));
        }
    }
}
