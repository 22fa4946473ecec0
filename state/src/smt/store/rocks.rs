//! Nodes and bytecode in RocksDB, behind a bounded cache of decoded nodes.

use std::path::Path;

use super::{checked_code, CodeStore, Node, NodeReader, NodeStore, ValueCache};
use crate::error::{Error, Result};
use crate::smt::cache::{CodeCache, NodeCache};
use crate::smt::hash::Hash;

/// Nodes in RocksDB: one column family of hash → node, and a metadata key for the head root;
/// in front of it, a bounded in-process cache of decoded nodes (see [`NodeCache`]).
pub struct RocksStore {
    db: rocksdb::DB,
    cache: Option<NodeCache>,
    /// Bytecode already checked against its hash.
    codes: CodeCache,
    /// Values read at roots (none when the node cache is off: the store then caches nothing).
    values: Option<ValueCache>,
    /// Opened with [`RocksStore::open_secondary`]: reads only.
    secondary: bool,
}

const CF_NODES: &str = "smt_nodes";
const CF_META: &str = "smt_meta";
/// Contract bytecode by its Poseidon bytecode hash (the tree holds only the hash).
const CF_CODE: &str = "code";
const HEAD_KEY: &[u8] = b"head";
/// The bound of the checked-bytecode cache: a few thousand contracts of a few KiB.
const CODE_CACHE_BYTES: usize = 32 << 20;

/// The cache of values at roots: 64 shards of 8,192 (about 50 MiB at most), when the node cache
/// is on.
fn value_cache(node_cache_bytes: usize) -> Option<ValueCache> {
    (node_cache_bytes > 0).then(|| ValueCache::new(64, 8192))
}

/// The default bound of [`RocksStore`]'s in-process node cache: 1 GiB, about eight million
/// nodes (every path of a tree of a million leaves, with room for the nodes that recent commits
/// replaced). At 256 MiB a third of the reads of batched updates into a 1M-leaf tree missed and
/// went to RocksDB, most of them into the memtable's skip list; at 1 GiB one in eight does.
/// Memory is taken a 4 KiB page at a time as slots are first written, so a small tree costs
/// little. (Huge pages were tried: no measurable gain in lookups, and a small tree then touches
/// every 2 MiB page of the cache, a full GiB of memory per store.)
pub const DEFAULT_NODE_CACHE_BYTES: usize = 1 << 30;

/// The database and column family options both ways of opening share (a secondary must open
/// the primary's column families).
fn options() -> (rocksdb::Options, Vec<rocksdb::ColumnFamilyDescriptor>) {
    let mut opts = rocksdb::Options::default();
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    // Reads of nodes not in the in-process cache are scattered over files much larger than
    // any cache: reading them in place from the page cache saves a system call and a copy
    // per read (blocks are uncompressed, see below; checksums are still verified).
    opts.set_allow_mmap_reads(true);
    // Commits write their nodes from several threads (see `write_nodes`); this lets each
    // writer insert into the memtable without waiting for the others. Nothing here reads
    // through snapshots, whose immutability is what it relaxes.
    opts.set_unordered_write(true);
    let mut nodes_opts = rocksdb::Options::default();
    // Nodes are hashes and field elements: incompressible, so compressing them only costs
    // time in flushes and compactions.
    nodes_opts.set_compression_type(rocksdb::DBCompressionType::None);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(256 << 20));
    // Keys are hashes: point lookups only, so a hash index inside data blocks.
    table.set_data_block_index_type(rocksdb::DataBlockIndexType::BinaryAndHash);
    table.set_data_block_hash_ratio(0.75);
    // Small blocks: a read wants one 100-byte node from a block it then checksums whole, and
    // reads are scattered, so 1 KiB blocks cut the work per read (and the index grows to one
    // entry per ten nodes, kept in memory).
    table.set_block_size(1 << 10);
    nodes_opts.set_block_based_table_factory(&table);
    // A whole-key bloom filter on the memtable, so reads of nodes not written recently skip
    // its skip list.
    nodes_opts.set_memtable_prefix_bloom_ratio(0.05);
    nodes_opts.set_memtable_whole_key_filtering(true);
    // Large memtables and a large first level: each commit writes some 100 bytes per node
    // (about 10 MB for 10,000 writes), and with random keys every compaction into a level
    // rewrites most of it, so fewer, larger levels write much less. Memory: up to two
    // memtables of 256 MiB.
    nodes_opts.set_write_buffer_size(256 << 20);
    nodes_opts.set_max_bytes_for_level_base(1 << 30);
    nodes_opts.set_target_file_size_base(128 << 20);
    let cfs = vec![
        rocksdb::ColumnFamilyDescriptor::new(CF_NODES, nodes_opts),
        rocksdb::ColumnFamilyDescriptor::new(CF_META, rocksdb::Options::default()),
        rocksdb::ColumnFamilyDescriptor::new(CF_CODE, rocksdb::Options::default()),
    ];
    (opts, cfs)
}

impl RocksStore {
    /// Opens (creating if needed) a store in directory `path`, with a node cache of
    /// [`DEFAULT_NODE_CACHE_BYTES`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_cache(path, DEFAULT_NODE_CACHE_BYTES)
    }

    /// Opens (creating if needed) a store in directory `path` whose in-process node cache holds
    /// at most about `cache_bytes` (0: no cache).
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self> {
        let (mut opts, cfs) = options();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| {
            Error::Storage(format!(
                "opening the state tree database at {}: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            db,
            cache: NodeCache::with_capacity_bytes(cache_bytes),
            codes: CodeCache::new(CODE_CACHE_BYTES),
            values: value_cache(cache_bytes),
            secondary: false,
        })
    }

    /// Opens the store in directory `primary` as a read-only secondary instance of the process
    /// that has it open (see [`RocksStore::catch_up`]); `secondary` is a directory of its own,
    /// created if needed, where RocksDB keeps the secondary's logs. Several processes can each
    /// hold a secondary beside one primary. Writes ([`NodeStore::commit`],
    /// [`CodeStore::put_code`]) fail with an error, and so does [`NodeStore::head`] (see
    /// there): open trees at roots named elsewhere. The node cache is safe here: nodes are
    /// stored under their hash and never change.
    pub fn open_secondary(primary: &Path, secondary: &Path, cache_bytes: usize) -> Result<Self> {
        std::fs::create_dir_all(secondary).map_err(|e| {
            Error::Storage(format!(
                "creating the secondary's directory {}: {e}",
                secondary.display()
            ))
        })?;
        let (mut opts, cfs) = options();
        // A secondary keeps every file it has seen open, so that files the primary's
        // compactions delete stay readable until the next catch-up (RocksDB asks for this).
        opts.set_max_open_files(-1);
        let db = rocksdb::DB::open_cf_descriptors_as_secondary(&opts, primary, secondary, cfs)
            .map_err(|e| {
                Error::Storage(format!(
                    "opening the state tree database at {} as a secondary (in {}): {e}",
                    primary.display(),
                    secondary.display()
                ))
            })?;
        Ok(Self {
            db,
            cache: NodeCache::with_capacity_bytes(cache_bytes),
            codes: CodeCache::new(CODE_CACHE_BYTES),
            values: value_cache(cache_bytes),
            secondary: true,
        })
    }

    /// Whether this is a read-only secondary ([`RocksStore::open_secondary`]).
    pub fn is_secondary(&self) -> bool {
        self.secondary
    }

    /// On a secondary, reads what the primary has written since the last catch-up (its log and
    /// its new files); until then the secondary answers from what it had seen. After it, every
    /// root the primary had committed before the call is readable. On a primary, nothing to do.
    pub fn catch_up(&self) -> Result<()> {
        if !self.secondary {
            return Ok(());
        }
        self.db
            .try_catch_up_with_primary()
            .map_err(|e| Error::Storage(format!("catching up with the primary: {e}")))
    }

    /// An error for a write on a secondary.
    fn writable(&self, what: &str) -> Result<()> {
        if self.secondary {
            return Err(Error::Storage(format!(
                "{what}: this state tree is a read-only secondary instance"
            )));
        }
        Ok(())
    }

    /// The in-process node cache, if on.
    pub fn cache(&self) -> Option<&NodeCache> {
        self.cache.as_ref()
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::Storage(format!("column family {name} is missing")))
    }

    /// Loads the tree under `root` into the node cache, level by level from the top, in
    /// parallel, until it holds the whole tree or half the cache's slots; returns how many
    /// nodes it loaded. A node that has just started, or just loaded a genesis (bulk commits skip
    /// the cache), reads its upper levels from RocksDB one miss at a time otherwise. Values are
    /// not loaded: batched writes never read them.
    pub fn warm(&self, root: Hash) -> Result<usize> {
        use rayon::prelude::*;
        let Some(cache) = &self.cache else {
            return Ok(0);
        };
        let budget = cache.max_entries() / 2;
        let mut level = if root.is_zero() { vec![] } else { vec![root] };
        let mut loaded = 0;
        while !level.is_empty() && loaded < budget {
            level.truncate(budget - loaded);
            loaded += level.len();
            let children = level
                .par_iter()
                .map(|h| match self.get(h)? {
                    Some(Node::Branch { left, right }) => Ok([left, right]),
                    Some(Node::Leaf { .. }) => Ok([Hash::ZERO; 2]),
                    Some(Node::Value(_)) => Err(Error::value_in_tree(*h)),
                    None => Err(Error::MissingNode(*h)),
                })
                .collect::<Result<Vec<_>>>()?;
            level = children
                .into_iter()
                .flatten()
                .filter(|h| !h.is_zero())
                .collect();
        }
        Ok(loaded)
    }

    /// Reads a node from the database, bypassing the cache.
    fn get_stored(&self, hash: &Hash) -> Result<Option<Node>> {
        let v = self
            .db
            .get_pinned_cf(self.cf(CF_NODES)?, hash.to_bytes())
            .map_err(|e| Error::Storage(format!("reading node {hash}: {e}")))?;
        v.map(|b| Node::decode(hash, &b)).transpose()
    }
}

impl NodeReader for RocksStore {
    fn get(&self, hash: &Hash) -> Result<Option<Node>> {
        let Some(cache) = &self.cache else {
            return self.get_stored(hash);
        };
        if let Some(n) = cache.get(hash) {
            return Ok(Some(n));
        }
        // Only nodes that decode are cached, unchecked: the batched write path does not check
        // nodes (it rehashes every path it rewrites), so it does not pay for a hash here.
        let n = self.get_stored(hash)?;
        if let Some(n) = n {
            cache.insert(*hash, n);
        }
        Ok(n)
    }

    fn value_cache(&self) -> Option<&ValueCache> {
        self.values.as_ref()
    }

    /// Nodes from the cache that were checked before (or computed here) are vouched for; any
    /// other node is hashed once, and cached as checked when it hashes to its name. A node that
    /// does not is returned unvouched and uncached, for the reader to report.
    fn get_vouched(&self, hash: &Hash) -> Result<Option<(Node, bool)>> {
        let Some(cache) = &self.cache else {
            return Ok(self.get_stored(hash)?.map(|n| (n, false)));
        };
        let n = match cache.get_flagged(hash) {
            Some((n, true)) => return Ok(Some((n, true))),
            Some((n, false)) => n,
            None => match self.get_stored(hash)? {
                Some(n) => n,
                None => return Ok(None),
            },
        };
        if n.hashes_to(hash) {
            cache.insert_checked(*hash, n);
            Ok(Some((n, true)))
        } else {
            Ok(Some((n, false)))
        }
    }
}

impl RocksStore {
    /// Writes nodes without touching the head: the first half of [`NodeStore::commit`]. Nodes
    /// are content-addressed, so nodes that no head names are harmless (garbage until pruned).
    fn write_nodes(&self, nodes: &[(Hash, Node)]) -> Result<()> {
        use rayon::prelude::*;
        self.writable("writing nodes")?;
        let cf = self.cf(CF_NODES)?;
        // Keys in order: the memtable's skip list takes a sorted run much faster than random
        // hashes (unsorted, its insertion was a quarter of a batched update's time).
        let mut entries: Vec<([u8; 32], [u8; 65])> = nodes
            .par_iter()
            .map(|(h, n)| (h.to_bytes(), n.encode_array()))
            .collect();
        entries.par_sort_unstable_by_key(|e| e.0);
        // Sorted runs written from several threads at once. The store opens with
        // `unordered_write`, so each run's memtable insertion proceeds beside the others: a
        // single writer inserted them one after the other, about a microsecond per node, and
        // that was the largest share of a commit.
        let runs = if entries.len() >= PARALLEL_COMMIT_MIN {
            rayon::current_num_threads().clamp(1, 8)
        } else {
            1
        };
        let mut wo = rocksdb::WriteOptions::default();
        // A run's keys are sorted: each insertion starts from the run's previous one.
        wo.set_memtable_insert_hint_per_batch(true);
        entries
            .par_chunks(entries.len().div_ceil(runs).max(1))
            .try_for_each(|run| {
                let mut batch = rocksdb::WriteBatch::default();
                for (k, v) in run {
                    batch.put_cf(cf, k, v);
                }
                self.db.write_opt(batch, &wo)
            })
            .map_err(|e| Error::Storage(format!("writing {} nodes: {e}", nodes.len())))
    }
}

/// Commits of this many nodes or more (about 25,000 writes: a genesis, an import) are bulk
/// loads and skip the node cache. Their nodes are read back, if at all, one path at a time, and
/// writing them into a cold cache costs a page fault per slot: for the 500,000 nodes of a
/// 100,000-account genesis that was 0.2 s with a 256 MiB cache and about 0.8 s with 1 GiB, on
/// top of a 0.25 s commit. Nodes of ordinary commits stay written through: a batch rewrites the
/// upper levels, and the next one reads them. [`RocksStore::warm`] fills the cache afterwards.
const BULK_COMMIT_NODES: usize = 1 << 18;

/// Commits of this many nodes or more are written from several threads.
const PARALLEL_COMMIT_MIN: usize = 4096;

impl NodeStore for RocksStore {
    /// Nodes first, the head root last, once every node is in. Atomic all the same: RocksDB
    /// replays its log as a prefix, and the log holds the head after every node the head
    /// names, so after a crash the head is the old root or the new one with all of its nodes.
    fn commit(&self, nodes: &[(Hash, Node)], head: Hash) -> Result<()> {
        self.writable("committing a root")?;
        self.write_nodes(nodes)?;
        self.db
            .put_cf(self.cf(CF_META)?, HEAD_KEY, head.to_bytes())
            .map_err(|e| Error::Storage(format!("writing the head root {head}: {e}")))?;
        // Only once the nodes are in the log; a failed write leaves the cache as it was. A bulk
        // load is not written through (see `BULK_COMMIT_NODES`).
        if let Some(cache) = &self
            .cache
            .as_ref()
            .filter(|_| nodes.len() < BULK_COMMIT_NODES)
        {
            // A commit's nodes are named by the hashes their writer computed (the trees commit
            // only their own writes): cached as checked.
            cache.insert_many_checked(nodes);
        }
        Ok(())
    }

    /// On a secondary, an error: RocksDB's secondary can keep answering a key the primary has
    /// since overwritten, from the memtable it replayed, once the primary has flushed that key
    /// to a file (seen with RocksDB 10.4). Nodes and code are stored under their hash and never
    /// overwritten, so they are unaffected; the head root is, so a reader of a secondary takes
    /// its roots from elsewhere (the node: the blocks in its database).
    fn head(&self) -> Result<Hash> {
        if self.secondary {
            return Err(Error::Storage(
                "the head root of a secondary state tree is not read: open the tree at a root \
                 the database names"
                    .into(),
            ));
        }
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

impl CodeStore for RocksStore {
    fn put_code(&self, codes: &[(Hash, &[u8])]) -> Result<()> {
        self.writable("storing bytecode")?;
        let cf = self.cf(CF_CODE)?;
        let mut batch = rocksdb::WriteBatch::default();
        for (h, code) in codes {
            batch.put_cf(cf, h.to_bytes(), code);
        }
        self.db
            .write(batch)
            .map_err(|e| Error::Storage(format!("storing {} bytecodes: {e}", codes.len())))
    }

    fn get_code(&self, hash: &Hash) -> Result<Option<Vec<u8>>> {
        if let Some(c) = self.codes.get(hash) {
            return Ok(Some(c.to_vec()));
        }
        let code = self
            .db
            .get_cf(self.cf(CF_CODE)?, hash.to_bytes())
            .map_err(|e| Error::Storage(format!("reading bytecode {hash}: {e}")))?;
        let code = code.map(|c| checked_code(hash, c)).transpose()?;
        if let Some(c) = &code {
            self.codes.insert(*hash, c);
        }
        Ok(code)
    }
}

#[cfg(test)]
#[path = "rocks_tests.rs"]
mod tests;
