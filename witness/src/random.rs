//! Random valid witnesses over random trees, for benchmarks and tests.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ruint::aliases::U256;
use zknode_state::keys::Address;
use zknode_state::{MemoryStore, SiblingNode, StateTree, UpdateKind};

use crate::build::{WitnessBuilder, Write};
use crate::types::{derive_key, BatchWitness, ChainInputs};

/// A leaf of the random tree: (address, leaf type, slot).
type Leaf = (Address, u8, U256);

/// From this many operations on, every operation kind appears in a random witness.
pub const ALL_KINDS_FROM: usize = 64;

/// Attempts (each a fresh tree) before giving up on showing every kind.
const ATTEMPTS: usize = 64;

/// A valid witness of `ops` random writes over a random tree, the same for the same seed.
///
/// The tree holds `max(2·ops, 32)` random leaves (balances, nonces, code hashes and lengths,
/// storage slots) before the batch. The writes mix updates of present leaves (about 40%),
/// insertions of new leaves (30%; they land in empty slots or split a leaf), deletions (20%;
/// the leaf's sibling is a leaf or a branch) and zero writes to absent keys (10%; into an empty
/// slot or another leaf's slot). The batch data and chain inputs are random too.
///
/// From [`ALL_KINDS_FROM`] operations on, every one of those shapes appears: an attempt that
/// misses one is replaced by the next attempt from the same random stream.
pub fn random_witness(ops: usize, seed: u64) -> BatchWitness {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let w = attempt_witness(&mut rng, ops);
        if ops < ALL_KINDS_FROM || attempt >= ATTEMPTS || covers_every_shape(&w) {
            return w;
        }
    }
}

/// Whether every kind appears, deletions with a leaf and with a branch beside them, and zero
/// writes to absent keys both in an empty slot and in another leaf's slot.
fn covers_every_shape(w: &BatchWitness) -> bool {
    // The last entry, a deletion of the only leaf, is not required.
    let mut seen = [false; 8];
    for op in &w.ops {
        let i = match &op.proof.kind {
            UpdateKind::InsertEmpty => 0,
            UpdateKind::Update => 1,
            UpdateKind::InsertSplit { .. } => 2,
            UpdateKind::Delete {
                sibling: Some(SiblingNode::Leaf { .. }),
            } => 3,
            UpdateKind::Delete {
                sibling: Some(SiblingNode::Branch { .. }),
            } => 4,
            UpdateKind::Delete { sibling: None } => 7,
            UpdateKind::ZeroToAbsent { found: None } => 5,
            UpdateKind::ZeroToAbsent { found: Some(_) } => 6,
        };
        seen[i] = true;
    }
    seen[..7].iter().all(|&s| s)
}

/// The random tree and the bookkeeping of which leaves it holds.
struct Gen {
    rng: ChaCha8Rng,
    accounts: Vec<Address>,
    /// Leaves with a non-zero value, in insertion order (picked by index, so deterministic).
    present: Vec<Leaf>,
    present_set: HashSet<Leaf>,
}

impl Gen {
    fn nonzero_u256(&mut self) -> U256 {
        let v = U256::from_limbs(self.rng.gen());
        if v.is_zero() {
            U256::from(1)
        } else {
            v
        }
    }

    fn value_for(&mut self, leaf_type: u8) -> U256 {
        match leaf_type {
            0 => U256::from(self.rng.gen_range(1..=u128::MAX >> 32)),
            1 => U256::from(self.rng.gen_range(1..100_000u64)),
            2 => self.nonzero_u256(),
            4 => U256::from(self.rng.gen_range(1..=24_576u64)),
            _ => {
                if self.rng.gen_bool(0.5) {
                    U256::from(self.rng.gen_range(1..=u32::MAX as u64))
                } else {
                    self.nonzero_u256()
                }
            }
        }
    }

    fn slot(&mut self) -> U256 {
        if self.rng.gen_bool(0.5) {
            U256::from(self.rng.gen_range(0..64u64))
        } else {
            U256::from_limbs(self.rng.gen())
        }
    }

    /// A leaf the tree does not hold: a new account's balance or nonce, or a known account's
    /// storage slot, nonce, code or code length.
    fn absent_leaf(&mut self) -> Leaf {
        loop {
            let leaf = if self.accounts.is_empty() || self.rng.gen_bool(0.35) {
                let a: Address = self.rng.gen();
                self.accounts.push(a);
                (a, self.rng.gen_range(0..2u8), U256::ZERO)
            } else {
                let a = self.accounts[self.rng.gen_range(0..self.accounts.len())];
                match self.rng.gen_range(0..10) {
                    0 => (a, 1, U256::ZERO),
                    1 => (a, 2, U256::ZERO),
                    2 => (a, 4, U256::ZERO),
                    _ => (a, 3, self.slot()),
                }
            };
            if !self.present_set.contains(&leaf) {
                return leaf;
            }
        }
    }

    fn add(&mut self, leaf: Leaf) {
        if self.present_set.insert(leaf) {
            self.present.push(leaf);
        }
    }

    fn remove_at(&mut self, i: usize) -> Leaf {
        let leaf = self.present.swap_remove(i);
        self.present_set.remove(&leaf);
        leaf
    }

    fn write(leaf: Leaf, value: U256) -> Write {
        Write {
            address: leaf.0,
            leaf_type: leaf.1,
            slot: leaf.2,
            value,
        }
    }
}

fn random_chain(rng: &mut ChaCha8Rng) -> ChainInputs {
    ChainInputs {
        chain_id: rng.gen_range(1..=u64::from(u32::MAX)),
        fork_id: rng.gen_range(1..=16),
        sequencer: rng.gen(),
        timestamp_limit: rng.gen_range(1_600_000_000..2_000_000_000),
        l1_info_root: rng.gen(),
        old_acc_input_hash: rng.gen(),
        batch_number: rng.gen_range(1..1u64 << 48),
    }
}

impl Gen {
    fn new(rng: &mut ChaCha8Rng) -> Self {
        Gen {
            rng: ChaCha8Rng::from_seed(rng.gen()),
            accounts: Vec::new(),
            present: Vec::new(),
            present_set: HashSet::new(),
        }
    }

    /// A tree of `leaves` random leaves.
    fn tree(&mut self, leaves: usize) -> StateTree<MemoryStore> {
        let mut initial = Vec::with_capacity(leaves);
        while self.present.len() < leaves {
            let leaf = self.absent_leaf();
            let value = self.value_for(leaf.1);
            self.add(leaf);
            initial.push((key_of(&leaf), value));
        }
        let mut tree = StateTree::at_root(MemoryStore::new(), zknode_state::Hash::ZERO);
        tree.apply_batch(&initial)
            .expect("a memory tree built from nothing cannot miss nodes");
        tree
    }

    fn batch_data(&mut self, ops: usize) -> Vec<u8> {
        let data_len = self.rng.gen_range(0..=64 + 48 * ops);
        (0..data_len).map(|_| self.rng.gen()).collect()
    }

    /// One random write: an update, insertion, deletion or zero write to an absent key.
    fn next_write(&mut self) -> Write {
        let roll = self.rng.gen_range(0..100);
        if roll < 40 && !self.present.is_empty() {
            let leaf = self.present[self.rng.gen_range(0..self.present.len())];
            let value = self.value_for(leaf.1);
            Gen::write(leaf, value)
        } else if roll < 70 || self.present.is_empty() {
            let leaf = self.absent_leaf();
            let value = self.value_for(leaf.1);
            self.add(leaf);
            Gen::write(leaf, value)
        } else if roll < 90 {
            let i = self.rng.gen_range(0..self.present.len());
            Gen::write(self.remove_at(i), U256::ZERO)
        } else {
            let leaf = self.absent_leaf();
            Gen::write(leaf, U256::ZERO)
        }
    }

    fn batch(
        &mut self,
        tree: &mut StateTree<MemoryStore>,
        ops: usize,
        chain: ChainInputs,
    ) -> BatchWitness {
        let batch_l2_data = self.batch_data(ops);
        let mut b = WitnessBuilder::new(tree);
        for _ in 0..ops {
            let w = self.next_write();
            b.write(w)
                .expect("valid writes to a memory tree cannot fail");
        }
        b.finish(chain, batch_l2_data)
    }
}

fn attempt_witness(rng: &mut ChaCha8Rng, ops: usize) -> BatchWitness {
    let mut g = Gen::new(rng);
    let mut tree = g.tree((2 * ops).max(32));
    let chain = random_chain(&mut g.rng);
    g.batch(&mut tree, ops, chain)
}

/// Valid witnesses of consecutive batches, one per entry of `ops` with that many random writes:
/// batch numbers `1..=ops.len()`, each starting from the state root the one before it ends at,
/// over one random tree. The same for the same seed. For tests and benchmarks of aggregation.
pub fn random_batches(ops: &[usize], seed: u64) -> Vec<BatchWitness> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut g = Gen::new(&mut rng);
    let most = ops.iter().copied().max().unwrap_or(0);
    let mut tree = g.tree((2 * most).max(32));
    let chain = random_chain(&mut g.rng);
    ops.iter()
        .zip(1u64..)
        .map(|(&count, n)| {
            let chain = ChainInputs {
                batch_number: n,
                ..chain.clone()
            };
            g.batch(&mut tree, count, chain)
        })
        .collect()
}

fn key_of(leaf: &Leaf) -> zknode_state::Key {
    derive_key(&leaf.0, leaf.1, leaf.2)
        .expect("the generator makes leaf types 0..=4, with a slot on storage leaves only")
}
