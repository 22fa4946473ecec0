//! Merkle trees over rows of Goldilocks elements in plonky2's exact layout.
//!
//! Layout (plonky2 1.1 `MerkleTree`): the `2^cap_height` subtrees each own a contiguous slice of
//! `digests` of length `2 * (leaves_per_subtree - 1)`; inside a subtree the node at `level`
//! (0 = leaf digests) and index `j` sits at [`digest_index`]`(level, j)`. The subtree roots form
//! the cap. Leaves of at most four elements are their own digest (see
//! [`crate::poseidon::hash_or_noop`]).

use rayon::prelude::*;

use crate::error::{KernelError, Result};
use crate::goldilocks::Goldilocks;
use crate::poseidon::{hash_or_noop, two_to_one, Digest};

/// A Merkle tree with a cap, holding its leaves row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    /// `num_leaves * leaf_width` elements, leaf `i` at `[i * leaf_width ..][.. leaf_width]`.
    pub leaves: Vec<Goldilocks>,
    pub leaf_width: usize,
    pub digests: Vec<Digest>,
    pub cap: Vec<Digest>,
}

/// Position inside one subtree's digest slice of the node at `level` with index `j`.
#[inline(always)]
pub fn digest_index(level: usize, j: usize) -> usize {
    let pair = j >> 1;
    let parity = j & 1;
    2 * ((pair << (level + 1)) + (1 << level) - 1) + parity
}

/// Checks the shape of a tree request and returns `log2(num_leaves)`.
pub fn check_shape(len: usize, leaf_width: usize, cap_height: usize) -> Result<usize> {
    if leaf_width == 0 {
        return Err(KernelError::InvalidArgument(
            "Merkle leaves must have at least one element".into(),
        ));
    }
    if !len.is_multiple_of(leaf_width) {
        return Err(KernelError::LengthMismatch {
            what: "Merkle leaf data (not a multiple of the leaf width)",
            expected: len.next_multiple_of(leaf_width),
            got: len,
        });
    }
    let n = len / leaf_width;
    if !n.is_power_of_two() {
        return Err(KernelError::NotPowerOfTwo {
            what: "number of Merkle leaves",
            len: n,
        });
    }
    let log_n = n.trailing_zeros() as usize;
    if cap_height > log_n {
        return Err(KernelError::InvalidArgument(format!(
            "cap height {cap_height} exceeds log2 of the {n} leaves ({log_n})"
        )));
    }
    Ok(log_n)
}

/// Places one level of node digests into the digest buffer.
/// `nodes` are the `2^(cap_height + layers - level)` digests of that level, left to right.
pub fn place_level(
    digests: &mut [Digest],
    cap_height: usize,
    level: usize,
    layers: usize,
    nodes: &[Digest],
) {
    let subtree_len = digests.len() >> cap_height;
    let per_subtree_shift = layers - level;
    let mask = (1usize << per_subtree_shift) - 1;
    for (k, d) in nodes.iter().enumerate() {
        let t = k >> per_subtree_shift;
        digests[t * subtree_len + digest_index(level, k & mask)] = *d;
    }
}

impl MerkleTree {
    /// Builds the tree on the CPU from row-major leaves.
    pub fn new(leaves: Vec<Goldilocks>, leaf_width: usize, cap_height: usize) -> Result<Self> {
        let log_n = check_shape(leaves.len(), leaf_width, cap_height)?;
        let leaf_digests: Vec<Digest> = leaves.par_chunks(leaf_width).map(hash_or_noop).collect();
        Ok(Self::from_leaf_digests(
            leaves,
            leaf_width,
            log_n,
            cap_height,
            leaf_digests,
            |level| {
                level
                    .par_chunks(2)
                    .map(|p| two_to_one(&p[0], &p[1]))
                    .collect()
            },
        ))
    }

    /// Assembles the layout from leaf digests, using `compress_level` to hash each level into the
    /// next one (pairs `2k`, `2k+1` into `k`).
    pub fn from_leaf_digests(
        leaves: Vec<Goldilocks>,
        leaf_width: usize,
        log_n: usize,
        cap_height: usize,
        leaf_digests: Vec<Digest>,
        mut compress_level: impl FnMut(&[Digest]) -> Vec<Digest>,
    ) -> Self {
        let n = 1usize << log_n;
        let layers = log_n - cap_height;
        let mut digests = vec![[Goldilocks::ZERO; 4]; 2 * (n - (1 << cap_height))];
        let mut cur = leaf_digests;
        for level in 0..layers {
            place_level(&mut digests, cap_height, level, layers, &cur);
            cur = compress_level(&cur);
        }
        Self {
            leaves,
            leaf_width,
            digests,
            cap: cur,
        }
    }

    pub fn num_leaves(&self) -> usize {
        self.leaves.len() / self.leaf_width
    }

    pub fn leaf(&self, i: usize) -> &[Goldilocks] {
        &self.leaves[i * self.leaf_width..(i + 1) * self.leaf_width]
    }

    pub fn cap_height(&self) -> usize {
        self.cap.len().trailing_zeros() as usize
    }

    /// The sibling path of leaf `i` up to its cap entry, bottom first.
    pub fn prove(&self, i: usize) -> Vec<Digest> {
        let n = self.num_leaves();
        let layers = n.trailing_zeros() as usize - self.cap_height();
        let subtree_len = if layers == 0 {
            0
        } else {
            self.digests.len() >> self.cap_height()
        };
        let t = i >> layers;
        let sub = &self.digests[t * subtree_len..(t + 1) * subtree_len];
        let mut j = i & ((1 << layers) - 1);
        (0..layers)
            .map(|level| {
                let s = sub[digest_index(level, j ^ 1)];
                j >>= 1;
                s
            })
            .collect()
    }

    /// Checks a leaf against a cap through its sibling path.
    pub fn verify(leaf: &[Goldilocks], index: usize, cap: &[Digest], siblings: &[Digest]) -> bool {
        let mut h = hash_or_noop(leaf);
        let mut j = index;
        for s in siblings {
            h = if j & 1 == 0 {
                two_to_one(&h, s)
            } else {
                two_to_one(s, &h)
            };
            j >>= 1;
        }
        cap.get(j) == Some(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_for_every_leaf_and_cap_height() {
        for log_n in 0..=5 {
            for cap_height in 0..=log_n {
                let n = 1 << log_n;
                let leaves: Vec<_> = (0..n * 7)
                    .map(|i| Goldilocks::new(i as u64 * 31 + 1))
                    .collect();
                let t = MerkleTree::new(leaves, 7, cap_height).unwrap();
                assert_eq!(t.cap.len(), 1 << cap_height);
                for i in 0..n {
                    let p = t.prove(i);
                    assert!(MerkleTree::verify(t.leaf(i), i, &t.cap, &p));
                    let mut bad = t.leaf(i).to_vec();
                    bad[0] += Goldilocks::ONE;
                    assert!(!MerkleTree::verify(&bad, i, &t.cap, &p));
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let v = vec![Goldilocks::ZERO; 12];
        assert!(matches!(
            MerkleTree::new(v.clone(), 4, 0),
            Err(KernelError::NotPowerOfTwo { .. })
        ));
        assert!(matches!(
            MerkleTree::new(v.clone(), 5, 0),
            Err(KernelError::LengthMismatch { .. })
        ));
        assert!(MerkleTree::new(v.clone(), 3, 3).is_err());
        assert!(MerkleTree::new(v, 0, 0).is_err());
    }
}
