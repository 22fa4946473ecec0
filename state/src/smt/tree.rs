//! The state tree: reads, writes with proofs, fast batched writes, and atomic commits.

use std::collections::HashMap;

use ruint::aliases::U256;
use zknode_field::Goldilocks;

use crate::error::{Error, Result};
use crate::smt::cache::NodeHashBuilder;
use crate::smt::hash::{
    branch_preimage, hash_many, leaf_preimage, value_from_limbs, value_hash, value_limbs,
    value_preimage, Hash, Key, Preimage,
};
use crate::smt::proof::{SiblingNode, UpdateKind, UpdateProof};
use crate::smt::store::{Node, NodeReader, NodeStore};

/// What a walk from the root along a key's path ends at.
enum Terminal {
    Empty,
    Leaf { rkey: Key, value_hash: Hash },
}

/// A state tree over a node store. Writes go to memory until [`StateTree::commit`] writes them
/// and the new root to the store in one atomic batch.
pub struct StateTree<S> {
    store: S,
    root: Hash,
    pending: HashMap<Hash, Node, NodeHashBuilder>,
}

impl<S: NodeStore> StateTree<S> {
    /// The tree at the store's last committed root.
    pub fn open(store: S) -> Result<Self> {
        let root = store.head()?;
        Ok(Self {
            store,
            root,
            pending: HashMap::default(),
        })
    }

    /// Writes the pending nodes and the current root to the store, atomically. Returns the root.
    pub fn commit(&mut self) -> Result<Hash> {
        let nodes: Vec<(Hash, Node)> = self.pending.iter().map(|(h, n)| (*h, *n)).collect();
        self.store.commit(&nodes, self.root)?;
        self.pending.clear();
        Ok(self.root)
    }
}

impl<S: NodeReader> StateTree<S> {
    /// The tree at any root the store holds (every committed root stays readable).
    pub fn at_root(store: S, root: Hash) -> Self {
        Self {
            store,
            root,
            pending: HashMap::default(),
        }
    }

    pub fn root(&self) -> Hash {
        self.root
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Nodes written since the last commit.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn node(&self, h: &Hash) -> Result<Node> {
        if let Some(n) = self.pending.get(h) {
            return Ok(*n);
        }
        self.store.get(h)?.ok_or(Error::MissingNode(*h))
    }

    /// A node and whether it is known to hash to `h`: pending nodes were hashed when written,
    /// and the store vouches for the nodes it has checked before.
    pub(crate) fn vouched_node(&self, h: &Hash) -> Result<(Node, bool)> {
        if let Some(n) = self.pending.get(h) {
            return Ok((*n, true));
        }
        self.store.get_vouched(h)?.ok_or(Error::MissingNode(*h))
    }

    /// A tree node (leaf or branch), checked to hash to its name (once per process where the
    /// store remembers it).
    fn tree_node(&self, h: &Hash) -> Result<Node> {
        let (n, vouched) = self.vouched_node(h)?;
        if matches!(n, Node::Value(_)) || !(vouched || n.hashes_to(h)) {
            return Err(Error::CorruptNode {
                hash: *h,
                reason:
                    "stored node does not hash to its key, or is a value where a tree node belongs"
                        .into(),
            });
        }
        Ok(n)
    }

    /// A tree node for the batched path: checked for type but not re-hashed (every node on a
    /// rewritten path is hashed anew anyway, and reads dominate otherwise).
    fn batch_node(&self, h: &Hash) -> Result<Node> {
        match self.node(h)? {
            Node::Value(_) => Err(Error::value_in_tree(*h)),
            n => Ok(n),
        }
    }

    fn value(&self, vh: &Hash) -> Result<U256> {
        match self.vouched_node(vh)? {
            (Node::Value(l), vouched) if vouched || value_hash(&l) == *vh => value_from_limbs(&l)
                .ok_or_else(|| Error::CorruptNode {
                    hash: *vh,
                    reason: "value limb over 32 bits".into(),
                }),
            _ => Err(Error::CorruptNode {
                hash: *vh,
                reason: "expected the preimage of a value hash".into(),
            }),
        }
    }

    fn walk(&self, key: &Key) -> Result<(Vec<Hash>, Terminal)> {
        let mut siblings = Vec::new();
        let mut cur = self.root;
        loop {
            if cur.is_zero() {
                return Ok((siblings, Terminal::Empty));
            }
            match self.tree_node(&cur)? {
                Node::Leaf { rkey, value_hash } => {
                    return Ok((siblings, Terminal::Leaf { rkey, value_hash }))
                }
                Node::Branch { left, right } => {
                    let depth = siblings.len();
                    if depth >= 255 {
                        return Err(Error::CorruptNode {
                            hash: cur,
                            reason: "path deeper than 255 levels".into(),
                        });
                    }
                    let (next, sib) = if key.path_bit(depth) == 0 {
                        (left, right)
                    } else {
                        (right, left)
                    };
                    siblings.push(sib);
                    cur = next;
                }
                Node::Value(_) => unreachable!("tree_node and batch_node reject values"),
            }
        }
    }

    /// The value at `key` (zero when absent).
    pub fn get(&self, key: &Key) -> Result<U256> {
        let cache = self.store.value_cache();
        if let Some(v) = cache.and_then(|c| c.get(&(self.root, *key))) {
            return Ok(v);
        }
        let (siblings, t) = self.walk(key)?;
        let v = match t {
            Terminal::Leaf { rkey, value_hash }
                if rkey.join_bits(&key.raw(), siblings.len()) == key.raw() =>
            {
                self.value(&value_hash)?
            }
            _ => U256::ZERO,
        };
        if let Some(c) = cache {
            c.insert((self.root, *key), v);
        }
        Ok(v)
    }

    /// Writes `value` at `key` (zero deletes) and returns the proof of the write.
    pub fn set(&mut self, key: Key, value: U256) -> Result<UpdateProof> {
        let (siblings, t) = self.walk(&key)?;
        let d = siblings.len();
        let (kind, old_value) = match t {
            Terminal::Empty if value.is_zero() => {
                (UpdateKind::ZeroToAbsent { found: None }, U256::ZERO)
            }
            Terminal::Empty => (UpdateKind::InsertEmpty, U256::ZERO),
            Terminal::Leaf { rkey, value_hash } => {
                if rkey.join_bits(&key.raw(), d) == key.raw() {
                    let old = self.value(&value_hash)?;
                    if value.is_zero() {
                        let sibling = if d == 0 {
                            None
                        } else {
                            Some(match self.tree_node(&siblings[d - 1])? {
                                Node::Leaf { rkey, value_hash } => {
                                    SiblingNode::Leaf { rkey, value_hash }
                                }
                                Node::Branch { left, right } => SiblingNode::Branch { left, right },
                                Node::Value(_) => {
                                    unreachable!("tree_node and batch_node reject values")
                                }
                            })
                        };
                        (UpdateKind::Delete { sibling }, old)
                    } else {
                        (UpdateKind::Update, old)
                    }
                } else if value.is_zero() {
                    (
                        UpdateKind::ZeroToAbsent {
                            found: Some((rkey, value_hash)),
                        },
                        U256::ZERO,
                    )
                } else {
                    (
                        UpdateKind::InsertSplit {
                            other_rkey: rkey,
                            other_value_hash: value_hash,
                        },
                        U256::ZERO,
                    )
                }
            }
        };
        let proof = UpdateProof {
            key,
            old_value,
            new_value: value,
            siblings,
            kind,
        };
        let mut created = Vec::new();
        let (old_root, new_root) = proof.roots(&mut |h, n| created.push((h, n)))?;
        if old_root != self.root {
            return Err(Error::CorruptNode {
                hash: self.root,
                reason: format!("the path to key {key} does not hash to the root (got {old_root})"),
            });
        }
        self.pending.extend(created);
        self.root = new_root;
        Ok(proof)
    }

    /// Applies writes in order, each with its proof against the running root.
    pub fn apply(&mut self, writes: &[(Key, U256)]) -> Result<Vec<UpdateProof>> {
        writes.iter().map(|&(k, v)| self.set(k, v)).collect()
    }
}

/// One write of a batch, its value already hashed (`None` deletes).
#[derive(Copy, Clone)]
struct BatchOp {
    key: Key,
    value_hash: Option<Hash>,
}

/// A rebuilt subtree, its new nodes not hashed yet.
enum Sub {
    Empty,
    /// A single leaf, not yet placed (its depth decides its remaining key).
    Leaf {
        key: Key,
        value_hash: Hash,
    },
    /// A branch built by this batch.
    Branch(Box<NewBranch>),
    /// An untouched node of the old tree, leaf or branch.
    Existing(Hash),
}

/// A child of a new branch.
enum Child {
    /// An old node (or zero for an empty side).
    Known(Hash),
    /// A new leaf, placed.
    Leaf { rkey: Key, value_hash: Hash },
    /// A new branch.
    Branch(Box<NewBranch>),
}

struct NewBranch {
    left: Child,
    right: Child,
}

/// Batches of this many writes or more are split across threads.
const PARALLEL_MIN: usize = 64;

impl<S: NodeReader> StateTree<S> {
    /// Applies many writes at once (later writes to a key win), sharing the hashing of common
    /// path nodes and using all cores. Gives the same root as [`StateTree::apply`]; produces no
    /// proofs. Returns the new root.
    ///
    /// Two passes: the first walks the old tree (reads in parallel) and shapes the new nodes
    /// without hashing them; the second hashes them by height, all nodes of one height at once
    /// ([`hash_many`]: several permutations per instruction where the CPU allows, all cores).
    pub fn apply_batch(&mut self, writes: &[(Key, U256)]) -> Result<Hash> {
        use rayon::prelude::*;
        // Sorted by path, the last write to a key wins.
        let mut ops: Vec<([u64; 4], usize)> = writes
            .par_iter()
            .enumerate()
            .map(|(i, (k, _))| (k.path_order(), i))
            .collect();
        ops.par_sort_unstable();
        ops.dedup_by(|later, earlier| {
            // `dedup_by` keeps the first of a run; move the later index into it.
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
        let values: Vec<Option<[Goldilocks; 8]>> = ops
            .iter()
            .map(|&(_, i)| {
                let v = writes[i].1;
                (!v.is_zero()).then(|| value_limbs(v))
            })
            .collect();
        let preimages: Vec<Preimage> = values.iter().flatten().map(value_preimage).collect();
        let mut value_hashes = hash_many(&preimages).into_iter();
        let mut out: Vec<(Hash, Node)> = Vec::with_capacity(ops.len() * 12);
        let ops: Vec<BatchOp> = ops
            .iter()
            .zip(&values)
            .map(|(&(_, i), limbs)| BatchOp {
                key: writes[i].0,
                value_hash: limbs.map(|l| {
                    let vh = value_hashes.next().expect("one hash per value");
                    out.push((vh, Node::Value(l)));
                    vh
                }),
            })
            .collect();
        let ctx = BatchCtx { tree: self };
        let sub = ctx.update(self.root, 0, &ops)?;
        let root = hash_new_nodes(materialize(sub, 0), &mut out);
        self.pending.reserve(out.len());
        self.pending.extend(out);
        self.root = root;
        Ok(root)
    }
}

/// A new node in the flattened list: a leaf, or a branch whose children are old hashes or
/// earlier entries of the list.
enum Flat {
    Leaf { rkey: Key, value_hash: Hash },
    Branch { left: FlatRef, right: FlatRef },
}

#[derive(Copy, Clone)]
enum FlatRef {
    Known(Hash),
    New(u32),
}

/// Appends the new nodes under `c` to `flat` (children first) with their heights above the
/// lowest new node; returns the reference to `c` and its height.
fn flatten(c: Child, flat: &mut Vec<Flat>, heights: &mut Vec<u16>) -> (FlatRef, u16) {
    let (node, height) = match c {
        Child::Known(h) => return (FlatRef::Known(h), 0),
        Child::Leaf { rkey, value_hash } => (Flat::Leaf { rkey, value_hash }, 0),
        Child::Branch(b) => {
            let NewBranch { left, right } = *b;
            let (l, hl) = flatten(left, flat, heights);
            let (r, hr) = flatten(right, flat, heights);
            (Flat::Branch { left: l, right: r }, hl.max(hr) + 1)
        }
    };
    flat.push(node);
    heights.push(height);
    (FlatRef::New(flat.len() as u32 - 1), height)
}

/// Hashes the new nodes under `root` (every node of one height together), appends them to
/// `out`, and returns the root's hash.
fn hash_new_nodes(root: Child, out: &mut Vec<(Hash, Node)>) -> Hash {
    let mut flat = Vec::new();
    let mut heights = Vec::new();
    let (root, _) = flatten(root, &mut flat, &mut heights);
    let max = heights.iter().copied().max().unwrap_or(0) as usize;
    let mut by_height: Vec<Vec<u32>> = vec![Vec::new(); max + 1];
    for (i, &h) in heights.iter().enumerate() {
        by_height[h as usize].push(i as u32);
    }
    let mut hashes = vec![Hash::ZERO; flat.len()];
    let resolve = |r: FlatRef, hashes: &[Hash]| match r {
        FlatRef::Known(h) => h,
        FlatRef::New(i) => hashes[i as usize],
    };
    for level in &by_height {
        // Children are all lower, so already hashed.
        let preimages: Vec<Preimage> = level
            .iter()
            .map(|&i| match &flat[i as usize] {
                Flat::Leaf { rkey, value_hash } => leaf_preimage(rkey, value_hash),
                Flat::Branch { left, right } => {
                    branch_preimage(&resolve(*left, &hashes), &resolve(*right, &hashes))
                }
            })
            .collect();
        for (&i, h) in level.iter().zip(hash_many(&preimages)) {
            hashes[i as usize] = h;
        }
    }
    out.extend(flat.iter().zip(&hashes).map(|(n, &h)| {
        let node = match n {
            Flat::Leaf { rkey, value_hash } => Node::Leaf {
                rkey: *rkey,
                value_hash: *value_hash,
            },
            Flat::Branch { left, right } => Node::Branch {
                left: resolve(*left, &hashes),
                right: resolve(*right, &hashes),
            },
        };
        (h, node)
    }));
    resolve(root, &hashes)
}

/// A rebuilt subtree placed at `depth`, as a child of a new branch (or the root).
fn materialize(sub: Sub, depth: usize) -> Child {
    match sub {
        Sub::Empty => Child::Known(Hash::ZERO),
        Sub::Existing(h) => Child::Known(h),
        Sub::Branch(b) => Child::Branch(b),
        Sub::Leaf { key, value_hash } => Child::Leaf {
            rkey: key.remove_bits(depth),
            value_hash,
        },
    }
}

struct BatchCtx<'a, S> {
    tree: &'a StateTree<S>,
}

impl<S: NodeReader> BatchCtx<'_, S> {
    fn both<A: Send, B: Send>(
        &self,
        n: usize,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B) {
        if n >= PARALLEL_MIN {
            rayon::join(a, b)
        } else {
            (a(), b())
        }
    }

    /// The subtree at `cur` (depth `depth`) after `ops`, which all lie under it.
    fn update(&self, cur: Hash, depth: usize, ops: &[BatchOp]) -> Result<Sub> {
        if ops.is_empty() {
            return Ok(if cur.is_zero() {
                Sub::Empty
            } else {
                Sub::Existing(cur)
            });
        }
        if cur.is_zero() {
            return Ok(self.build(depth, ops));
        }
        match self.tree.batch_node(&cur)? {
            Node::Leaf { rkey, value_hash } => {
                let full =
                    Hash::from_raw(rkey.join_bits(&ops[0].key.raw(), depth)).ok_or_else(|| {
                        Error::CorruptNode {
                            hash: cur,
                            reason: "leaf key is not a field element".into(),
                        }
                    })?;
                if ops.iter().any(|o| o.key == full) {
                    Ok(self.build(depth, ops))
                } else {
                    let order = full.path_order();
                    let at = ops.partition_point(|o| o.key.path_order() < order);
                    let mut merged = Vec::with_capacity(ops.len() + 1);
                    merged.extend_from_slice(&ops[..at]);
                    merged.push(BatchOp {
                        key: full,
                        value_hash: Some(value_hash),
                    });
                    merged.extend_from_slice(&ops[at..]);
                    Ok(self.build(depth, &merged))
                }
            }
            Node::Branch { left, right } => {
                let split = ops.partition_point(|o| o.key.path_bit(depth) == 0);
                let (l, r) = ops.split_at(split);
                let (a, b) = self.both(
                    ops.len(),
                    || self.update(left, depth + 1, l),
                    || self.update(right, depth + 1, r),
                );
                self.combine(a?, b?, depth, &ops[0].key)
            }
            Node::Value(_) => unreachable!("tree_node and batch_node reject values"),
        }
    }

    /// A subtree from nothing but `ops` (sorted, distinct keys).
    fn build(&self, depth: usize, ops: &[BatchOp]) -> Sub {
        let mut live = ops.iter().filter(|o| o.value_hash.is_some());
        match (live.next(), live.next()) {
            (None, _) => return Sub::Empty,
            (Some(o), None) => {
                return Sub::Leaf {
                    key: o.key,
                    value_hash: o.value_hash.expect("live"),
                }
            }
            _ => {}
        }
        let split = ops.partition_point(|o| o.key.path_bit(depth) == 0);
        let (l, r) = ops.split_at(split);
        let (a, b) = self.both(
            ops.len(),
            || self.build(depth + 1, l),
            || self.build(depth + 1, r),
        );
        branch(a, b, depth)
    }

    /// The node at `depth` over two rebuilt children; `probe` is any key under it.
    fn combine(&self, a: Sub, b: Sub, depth: usize, probe: &Key) -> Result<Sub> {
        match (a, b) {
            (Sub::Existing(h), Sub::Empty) => self.lone(h, 0, depth, probe),
            (Sub::Empty, Sub::Existing(h)) => self.lone(h, 1, depth, probe),
            (a, b) => Ok(branch(a, b, depth)),
        }
    }

    /// An untouched old node at `depth + 1` on `side` whose sibling became empty: a leaf moves up
    /// (it is now alone under the node at `depth`), a branch gets a new parent.
    fn lone(&self, h: Hash, side: u64, depth: usize, probe: &Key) -> Result<Sub> {
        match self.tree.batch_node(&h)? {
            Node::Leaf { rkey, value_hash } => {
                let mut prefix = probe.raw();
                let (j, bit) = (depth % 4, depth / 4);
                prefix[j] = (prefix[j] & !(1u64 << bit)) | (side << bit);
                let key = Hash::from_raw(rkey.join_bits(&prefix, depth + 1)).ok_or_else(|| {
                    Error::CorruptNode {
                        hash: h,
                        reason: "leaf key is not a field element".into(),
                    }
                })?;
                Ok(Sub::Leaf { key, value_hash })
            }
            _ => {
                let old = Child::Known(h);
                let empty = Child::Known(Hash::ZERO);
                let (left, right) = if side == 0 {
                    (old, empty)
                } else {
                    (empty, old)
                };
                Ok(Sub::Branch(Box::new(NewBranch { left, right })))
            }
        }
    }
}

/// The node at `depth` over two rebuilt children, neither an old node beside an empty side.
fn branch(a: Sub, b: Sub, depth: usize) -> Sub {
    match (a, b) {
        (Sub::Empty, Sub::Empty) => Sub::Empty,
        (leaf @ Sub::Leaf { .. }, Sub::Empty) | (Sub::Empty, leaf @ Sub::Leaf { .. }) => leaf,
        (a, b) => Sub::Branch(Box::new(NewBranch {
            left: materialize(a, depth + 1),
            right: materialize(b, depth + 1),
        })),
    }
}
