//! Content-addressed node storage: every node is stored under its hash, so every root ever
//! committed stays readable until pruned. A commit writes its nodes and the new head root in one
//! atomic batch.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use zknode_kernels::Goldilocks;

use crate::error::{Error, Result};
use crate::smt::hash::{Hash, Key};

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
    /// `tag || elements as u64 little-endian`.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, elems): (u8, Vec<Goldilocks>) = match self {
            Node::Branch { left, right } => {
                (TAG_BRANCH, left.0.iter().chain(&right.0).copied().collect())
            }
            Node::Leaf { rkey, value_hash } => (
                TAG_LEAF,
                rkey.0.iter().chain(&value_hash.0).copied().collect(),
            ),
            Node::Value(v) => (TAG_VALUE, v.to_vec()),
        };
        let mut out = Vec::with_capacity(1 + 8 * elems.len());
        out.push(tag);
        for e in elems {
            out.extend_from_slice(&e.value().to_le_bytes());
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
}

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
}

impl<T: NodeStore + ?Sized> NodeStore for &T {
    fn commit(&self, nodes: &[(Hash, Node)], head: Hash) -> Result<()> {
        (**self).commit(nodes, head)
    }
    fn head(&self) -> Result<Hash> {
        (**self).head()
    }
}

/// Nodes in memory, for tests and short-lived trees.
#[derive(Default)]
pub struct MemoryStore {
    nodes: RwLock<HashMap<Hash, Node>>,
    head: RwLock<Hash>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.read().expect("lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes a node (for tests of missing-node handling).
    pub fn remove(&self, hash: &Hash) -> Option<Node> {
        self.nodes.write().expect("lock").remove(hash)
    }

    /// Replaces a node (for tests of corrupt-node handling).
    pub fn insert(&self, hash: Hash, node: Node) {
        self.nodes.write().expect("lock").insert(hash, node);
    }
}

impl NodeReader for MemoryStore {
    fn get(&self, hash: &Hash) -> Result<Option<Node>> {
        Ok(self.nodes.read().expect("lock").get(hash).copied())
    }
}

impl NodeStore for MemoryStore {
    fn commit(&self, nodes: &[(Hash, Node)], head: Hash) -> Result<()> {
        let mut m = self.nodes.write().expect("lock");
        m.extend(nodes.iter().copied());
        *self.head.write().expect("lock") = head;
        Ok(())
    }
    fn head(&self) -> Result<Hash> {
        Ok(*self.head.read().expect("lock"))
    }
}

/// Nodes in RocksDB: one column family of hash → node, and a metadata key for the head root.
pub struct RocksStore {
    db: rocksdb::DB,
}

const CF_NODES: &str = "smt_nodes";
const CF_META: &str = "smt_meta";
const HEAD_KEY: &[u8] = b"head";

impl RocksStore {
    /// Opens (creating if needed) a store in directory `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let mut nodes_opts = rocksdb::Options::default();
        nodes_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(256 << 20));
        nodes_opts.set_block_based_table_factory(&table);
        // Keys are hashes: point lookups only.
        nodes_opts.optimize_for_point_lookup(256);
        let cfs = vec![
            rocksdb::ColumnFamilyDescriptor::new(CF_NODES, nodes_opts),
            rocksdb::ColumnFamilyDescriptor::new(CF_META, rocksdb::Options::default()),
        ];
        let db = rocksdb::DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| {
            Error::Storage(format!(
                "opening the state tree database at {}: {e}",
                path.display()
            ))
        })?;
        Ok(Self { db })
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::Storage(format!("column family {name} is missing")))
    }
}

impl NodeReader for RocksStore {
    fn get(&self, hash: &Hash) -> Result<Option<Node>> {
        let v = self
            .db
            .get_pinned_cf(self.cf(CF_NODES)?, hash.to_bytes())
            .map_err(|e| Error::Storage(format!("reading node {hash}: {e}")))?;
        v.map(|b| Node::decode(hash, &b)).transpose()
    }
}

impl NodeStore for RocksStore {
    fn commit(&self, nodes: &[(Hash, Node)], head: Hash) -> Result<()> {
        let cf = self.cf(CF_NODES)?;
        // Keys in order: the memtable's skip list takes a sorted run much faster than random
        // hashes (unsorted, its insertion was a quarter of a batched update's time).
        let mut entries: Vec<([u8; 32], Vec<u8>)> = nodes
            .iter()
            .map(|(h, n)| (h.to_bytes(), n.encode()))
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        let mut batch = rocksdb::WriteBatch::default();
        for (k, v) in &entries {
            batch.put_cf(cf, k, v);
        }
        batch.put_cf(self.cf(CF_META)?, HEAD_KEY, head.to_bytes());
        self.db
            .write(batch)
            .map_err(|e| Error::Storage(format!("committing {} nodes: {e}", nodes.len())))
    }

    fn head(&self) -> Result<Hash> {
        match self
            .db
            .get_cf(self.cf(CF_META)?, HEAD_KEY)
            .map_err(|e| Error::Storage(format!("reading the head root: {e}")))?
        {
            None => Ok(Hash::ZERO),
            Some(b) => Hash::from_bytes(&b).ok_or_else(|| Error::CorruptNode {
                hash: Hash::ZERO,
                reason: "stored head root is malformed".into(),
            }),
        }
    }
}
