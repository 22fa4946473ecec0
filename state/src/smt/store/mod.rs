//! Content-addressed node storage: every node is stored under its hash, so every root ever
//! committed stays readable until pruned. A commit writes its nodes and the new head root in one
//! atomic batch.

//!
//! [`MemoryStore`] keeps everything in memory (tests, short-lived trees, the prover's witness
//! checks); [`RocksStore`] (cargo feature `rocksdb`, on for the node) keeps it on disk. Contract
//! bytecode, which the tree refers to only by hash, is kept beside the nodes ([`CodeStore`]).

mod memory;
#[cfg(feature = "rocksdb")]
mod rocks;

pub use memory::MemoryStore;
#[cfg(feature = "rocksdb")]
pub use rocks::{RocksStore, DEFAULT_NODE_CACHE_BYTES};

use zknode_field::Goldilocks;

use crate::error::{Error, Result};
use crate::smt::hash::{branch_hash, leaf_hash, value_hash, Hash, Key};

/// What a hash stands for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// An inner node with its two children (zero for an empty side).
    Branch { left: Hash, right: Hash },
    /// A leaf: the key with the path bits above it removed, and the hash of its value.
    Leaf { rkey: Key, value_hash: Hash },
    /// The preimage of a value hash: eight 32-bit limbs, least significant first.
    Value([Goldilocks; 8]),
}

const TAG_BRANCH: u8 = 0;
const TAG_LEAF: u8 = 1;
const TAG_VALUE: u8 = 2;

impl Node {
    /// Whether this node's content hashes to `hash` (its name in the store).
    pub fn hashes_to(&self, hash: &Hash) -> bool {
        *hash
            == match self {
                Node::Branch { left, right } => branch_hash(left, right),
                Node::Leaf {
                    rkey,
                    value_hash: v,
                } => leaf_hash(rkey, v),
                Node::Value(limbs) => value_hash(limbs),
            }
    }

    /// `tag || elements as u64 little-endian`.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_array().to_vec()
    }

    /// [`Node::encode`] without an allocation: every node is 65 bytes.
    pub fn encode_array(&self) -> [u8; 65] {
        let (tag, elems): (u8, [Goldilocks; 8]) = match self {
            Node::Branch { left, right } => (
                TAG_BRANCH,
                core::array::from_fn(|i| if i < 4 { left.0[i] } else { right.0[i - 4] }),
            ),
            Node::Leaf { rkey, value_hash } => (
                TAG_LEAF,
                core::array::from_fn(|i| {
                    if i < 4 {
                        rkey.0[i]
                    } else {
                        value_hash.0[i - 4]
                    }
                }),
            ),
            Node::Value(v) => (TAG_VALUE, *v),
        };
        let mut out = [0u8; 65];
        out[0] = tag;
        for (i, e) in elems.iter().enumerate() {
            out[1 + 8 * i..9 + 8 * i].copy_from_slice(&e.value().to_le_bytes());
        }
        out
    }

    /// Decodes a stored node; `hash` names it in the error.
    pub fn decode(hash: &Hash, b: &[u8]) -> Result<Self> {
        let corrupt = |why: &str| Error::CorruptNode {
            hash: *hash,
            reason: why.to_string(),
        };
        if b.len() != 65 {
            return Err(corrupt(&format!(
                "stored node has {} bytes, expected 65",
                b.len()
            )));
        }
        let mut e = [Goldilocks::ZERO; 8];
        for (i, x) in e.iter_mut().enumerate() {
            let v = u64::from_le_bytes(b[1 + 8 * i..9 + 8 * i].try_into().expect("8 bytes"));
            *x = Goldilocks::from_canonical(v)
                .ok_or_else(|| corrupt("element not below the Goldilocks prime"))?;
        }
        let h = |i: usize| Hash([e[i], e[i + 1], e[i + 2], e[i + 3]]);
        Ok(match b[0] {
            TAG_BRANCH => Node::Branch {
                left: h(0),
                right: h(4),
            },
            TAG_LEAF => Node::Leaf {
                rkey: h(0),
                value_hash: h(4),
            },
            TAG_VALUE => Node::Value(e),
            t => return Err(corrupt(&format!("unknown node tag {t}"))),
        })
    }
}

/// Reads nodes by hash.
pub trait NodeReader: Send + Sync {
    /// The node stored under `hash`, `None` when absent.
    fn get(&self, hash: &Hash) -> Result<Option<Node>>;

    /// The node stored under `hash`, and whether the store vouches that it hashes to `hash`
    /// (`false`: the caller must check). A store whose cache remembers which nodes it has
    /// checked answers `true` for them, so a node on a hot path is hashed once per process
    /// instead of on every read. The default vouches for nothing.
    fn get_vouched(&self, hash: &Hash) -> Result<Option<(Node, bool)>> {
        Ok(self.get(hash)?.map(|n| (n, false)))
    }

    /// A cache of values read at roots, if the store keeps one ([`ValueCache`]).
    fn value_cache(&self) -> Option<&ValueCache> {
        None
    }
}

/// Values by (root, key): a root names its whole tree, so the value at a key under a root never
/// changes, whether or not the root was committed. Readers of the same root (an RPC node's
/// `latest` between two blocks) then skip the walk from the root.
pub type ValueCache = crate::smt::cache::ShardedCache<(Hash, Key), ruint::aliases::U256>;

/// A node store: reads, plus atomic commits of many nodes together with a new head root.
pub trait NodeStore: NodeReader {
    /// Writes `nodes` and sets the head root, all or nothing.
    fn commit(&self, nodes: &[(Hash, Node)], head: Hash) -> Result<()>;
    /// The last committed head root (zero for a new store).
    fn head(&self) -> Result<Hash>;
}

impl<T: NodeReader + ?Sized> NodeReader for &T {
    fn get(&self, hash: &Hash) -> Result<Option<Node>> {
        (**self).get(hash)
    }
    fn get_vouched(&self, hash: &Hash) -> Result<Option<(Node, bool)>> {
        (**self).get_vouched(hash)
    }
    fn value_cache(&self) -> Option<&ValueCache> {
        (**self).value_cache()
    }
}

impl<T: NodeStore + ?Sized> NodeStore for &T {
    fn commit(&self, nodes: &[(Hash, Node)], head: Hash) -> Result<()> {
        (**self).commit(nodes, head)
    }
    fn head(&self) -> Result<Hash> {
        (**self).head()
    }
}

/// Contract bytecode by its Poseidon bytecode hash (`keys::hash_bytecode`): the tree holds only
/// the hash.
pub trait CodeStore: Send + Sync {
    /// Stores bytecodes under their hashes, all or nothing. Write code before committing the
    /// root that refers to it: an interrupted sequence then leaves unused code, never a root
    /// whose code is missing.
    fn put_code(&self, codes: &[(Hash, &[u8])]) -> Result<()>;
    /// The bytecode with hash `hash`, checked against it; `None` when absent.
    fn get_code(&self, hash: &Hash) -> Result<Option<Vec<u8>>>;
}

impl<T: CodeStore + ?Sized> CodeStore for &T {
    fn put_code(&self, codes: &[(Hash, &[u8])]) -> Result<()> {
        (**self).put_code(codes)
    }
    fn get_code(&self, hash: &Hash) -> Result<Option<Vec<u8>>> {
        (**self).get_code(hash)
    }
}

/// Checks bytecode read from a store against the hash it was stored under.
pub(crate) fn checked_code(hash: &Hash, code: Vec<u8>) -> Result<Vec<u8>> {
    if crate::keys::hash_bytecode(&code) != *hash {
        return Err(Error::CorruptNode {
            hash: *hash,
            reason: "stored bytecode does not hash to its key".into(),
        });
    }
    Ok(code)
}
