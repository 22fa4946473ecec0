//! Merkle trees over rows of Goldilocks elements in plonky2's exact layout.
//!
//! Layout (plonky2 1.1 `MerkleTree`): the `2^cap_height` subtrees each own a contiguous slice of
//! `digests` of length `2 * (leaves_per_subtree - 1)`; inside a subtree the node at `level`
//! (0 = leaf digests) and index `j` sits at [`digest_index`]`(level, j)`. The subtree roots form
//! the cap. Leaves of at most four elements are their own digest (see
//! [`crate::poseidon::hash_or_noop`]).
//!
//! The CPU hashes leaves and levels eight at a time in lockstep ([`crate::poseidon::many`]), so
//! the multi-lane permutation does the work where the CPU has one.

use rayon::prelude::*;

use crate::error::{KernelError, Result};
use crate::goldilocks::Goldilocks;
use crate::poseidon::many::GROUP;
use crate::poseidon::{hash_or_noop, hash_or_noop_many, two_to_one, two_to_one_many, Digest, RATE};

/// Permutations one rayon task computes at least, so that scheduling stays a small cost.
const PERMUTATIONS_PER_TASK: usize = 64;

/// [`hash_or_noop`] of each `leaf_width`-element row of `leaves` (row-major), on all cores,
/// eight rows in lockstep per group (see [`hash_or_noop_many`]).
///
/// # Panics
/// If `leaf_width` is zero or does not divide `leaves.len()`.
pub fn hash_leaves(leaves: &[Goldilocks], leaf_width: usize) -> Vec<Digest> {
    assert!(
        leaf_width > 0 && leaves.len().is_multiple_of(leaf_width),
        "hash_leaves: {} elements do not split into rows of width {leaf_width}",
        leaves.len()
    );
    let mut out = vec![[Goldilocks::ZERO; 4]; leaves.len() / leaf_width];
    // Rows of at most four elements are copied, not hashed: count them as one permutation.
    let per_group = GROUP
        * if leaf_width <= 4 {
            1
        } else {
            leaf_width.div_ceil(RATE)
        };
    let rows_per_task = GROUP * PERMUTATIONS_PER_TASK.div_ceil(per_group);
    leaves
        .par_chunks(rows_per_task * leaf_width)
        .zip(out.par_chunks_mut(rows_per_task))
        .for_each(|(rows, out)| hash_or_noop_many(rows, leaf_width, out));
    out
}

/// One Merkle level up: `two_to_one` of each pair `2k`, `2k + 1`, on all cores, eight pairs in
/// lockstep per group (see [`two_to_one_many`]).
///
/// # Panics
/// If `level` has an odd number of digests.
pub fn compress_level(level: &[Digest]) -> Vec<Digest> {
    assert!(
        level.len().is_multiple_of(2),
        "compress_level: {} digests do not pair up",
        level.len()
    );
    let mut out = vec![[Goldilocks::ZERO; 4]; level.len() / 2];
    let pairs_per_task = PERMUTATIONS_PER_TASK.next_multiple_of(GROUP);
    level
        .par_chunks(2 * pairs_per_task)
        .zip(out.par_chunks_mut(pairs_per_task))
        .for_each(|(nodes, out)| two_to_one_many(nodes, out));
    out
}

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
        let leaf_digests = hash_leaves(&leaves, leaf_width);
        Ok(Self::from_leaf_digests(
            leaves,
            leaf_width,
            log_n,
            cap_height,
            leaf_digests,
            compress_level,
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
