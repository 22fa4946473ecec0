//! A bounded in-process cache of decoded nodes, in front of a database.
//!
//! Nodes are stored under their hash and never change, so a cached node can never be stale: the
//! cache needs no invalidation, only a bound. It is a two-way set-associative table of fixed
//! slots (128 bytes: the key and the node's words) in one allocation made once: a lookup touches
//! one set (two slots), so it costs about one memory access, where a general hash map with
//! eviction costs several on a table this size. Sets are guarded by striped locks, so rayon
//! threads rarely meet; a set evicts its less recently used slot.

use std::hash::BuildHasher;
use std::sync::Mutex;

use zknode_field::Goldilocks;

use crate::smt::hash::Hash;
use crate::smt::store::Node;

/// Words per slot: key (4), tag (1), elements (8), padding to 128 bytes.
const SLOT_WORDS: usize = 16;
const WAYS: usize = 2;
const SET_WORDS: usize = SLOT_WORDS * WAYS;
/// Lock stripes (each owns the sets whose index is congruent to it).
const STRIPES: usize = 256;

/// Bytes one slot takes.
pub const SLOT_BYTES: usize = SLOT_WORDS * 8;

// Slot layout.
const KEY: usize = 0;
const META: usize = 4;
const ELEMS: usize = 5;
/// In the meta word: the node tag plus one (0 marks an empty slot) in the low byte, and in way 0
/// of a set, bit 8 names the way used last; bit 9 says the node was checked against its hash
/// (or computed in this process), so readers need not hash it again.
const MRU_BIT: u64 = 1 << 8;
const CHECKED_BIT: u64 = 1 << 9;

/// Keys are Poseidon outputs, but an adversary who chooses state keys could grind some of their
/// bits, so the set index mixes them with a per-process random secret.
#[derive(Clone, Copy)]
struct Keyed {
    k0: u64,
    k1: u64,
}

impl Keyed {
    fn random() -> Self {
        let s = std::collections::hash_map::RandomState::new();
        Self {
            k0: s.hash_one(0x6a09_e667_f3bc_c908u64),
            k1: s.hash_one(0xbb67_ae85_84ca_a73bu64) | 1,
        }
    }

    #[inline]
    fn hash(&self, h: &Hash) -> u64 {
        let fold = |a: u64, b: u64| {
            let p = a as u128 * b as u128;
            (p as u64) ^ ((p >> 64) as u64)
        };
        let mut x = self.k0;
        for l in &h.0 {
            x = fold(x ^ l.value(), self.k1);
        }
        x
    }
}

/// A [`BuildHasher`] for maps keyed by node hashes (the same keyed mixing as the cache's set
/// index; much cheaper than SipHash on 32-byte keys).
#[derive(Clone, Copy)]
pub struct NodeHashBuilder(Keyed);

impl Default for NodeHashBuilder {
    fn default() -> Self {
        Self(Keyed::random())
    }
}

pub struct NodeHasher {
    x: u64,
    k1: u64,
}

impl std::hash::Hasher for NodeHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        let p = (self.x ^ v) as u128 * self.k1 as u128;
        self.x = (p as u64) ^ ((p >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.x
    }
}

impl BuildHasher for NodeHashBuilder {
    type Hasher = NodeHasher;
    #[inline]
    fn build_hasher(&self) -> NodeHasher {
        NodeHasher {
            x: self.0.k0,
            k1: self.0.k1,
        }
    }
}

/// A bounded map shared by threads, for values that never go stale (derived keys, values at a
/// root): shards of hash maps under their own locks, each emptied whole when it fills (a burst
/// of misses after, no bookkeeping on hits). Keys may be chosen by users (addresses, slots), so
/// shards and maps hash with SipHash under a per-process random key.
pub struct ShardedCache<K, V> {
    shards: Box<[Mutex<std::collections::HashMap<K, V>>]>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl<K: std::hash::Hash + Eq + Copy, V: Clone> ShardedCache<K, V> {
    /// A cache of at most `shards` × `per_shard` entries.
    pub fn new(shards: usize, per_shard: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Default::default()).collect(),
            per_shard: per_shard.max(1),
            hasher: Default::default(),
        }
    }

    fn shard(&self, k: &K) -> &Mutex<std::collections::HashMap<K, V>> {
        &self.shards[self.hasher.hash_one(k) as usize % self.shards.len()]
    }

    pub fn get(&self, k: &K) -> Option<V> {
        self.shard(k).lock().expect("cache lock").get(k).cloned()
    }

    pub fn insert(&self, k: K, v: V) {
        let mut m = self.shard(&k).lock().expect("cache lock");
        if m.len() >= self.per_shard && !m.contains_key(&k) {
            m.clear();
        }
        m.insert(k, v);
    }

    /// The cached value, else `f()`'s, cached (computed without holding the lock).
    pub fn get_or_insert_with(&self, k: K, f: impl FnOnce() -> V) -> V {
        if let Some(v) = self.get(&k) {
            return v;
        }
        let v = f();
        self.insert(k, v.clone());
        v
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("cache lock").len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type CodeMap = std::collections::HashMap<Hash, std::sync::Arc<[u8]>, NodeHashBuilder>;

/// A bounded cache of contract bytecode by its Poseidon hash, holding only code already checked
/// against its hash (so a hot contract's code is neither read from the database nor re-hashed
/// for every call). Code never changes under its hash. When the bound is reached the cache is
/// emptied and refills with what is read next.
pub struct CodeCache {
    /// The codes and their total length.
    inner: Mutex<(CodeMap, usize)>,
    max_bytes: usize,
}

impl CodeCache {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Default::default()),
            max_bytes,
        }
    }

    pub fn get(&self, h: &Hash) -> Option<std::sync::Arc<[u8]>> {
        self.inner
            .lock()
            .expect("code cache lock")
            .0
            .get(h)
            .cloned()
    }

    /// Caches `code`, which the caller has checked hashes to `h`. Code over an eighth of the
    /// bound is not cached.
    pub fn insert(&self, h: Hash, code: &[u8]) {
        if code.len() > self.max_bytes / 8 {
            return;
        }
        let mut g = self.inner.lock().expect("code cache lock");
        if g.0.contains_key(&h) {
            return;
        }
        if g.1 + code.len() > self.max_bytes {
            g.0.clear();
            g.1 = 0;
        }
        g.1 += code.len();
        g.0.insert(h, code.into());
    }
}

struct Stripe {
    /// `sets_per_stripe` sets of `SET_WORDS` words, from `base` (128-byte aligned).
    words: Vec<u64>,
    base: usize,
}

/// A bounded cache of decoded nodes by hash.
pub struct NodeCache {
    stripes: Box<[Mutex<Stripe>]>,
    sets_per_stripe: usize,
    keyed: Keyed,
}

fn encode(n: &Node) -> (u64, [u64; 8]) {
    let v = |x: &Goldilocks| x.value();
    match n {
        Node::Branch { left, right } => (
            1,
            core::array::from_fn(|i| {
                if i < 4 {
                    v(&left.0[i])
                } else {
                    v(&right.0[i - 4])
                }
            }),
        ),
        Node::Leaf { rkey, value_hash } => (
            2,
            core::array::from_fn(|i| {
                if i < 4 {
                    v(&rkey.0[i])
                } else {
                    v(&value_hash.0[i - 4])
                }
            }),
        ),
        Node::Value(e) => (3, e.map(|x| x.value())),
    }
}

fn decode(tag: u64, w: &[u64]) -> Option<Node> {
    // The words were canonical when cached, so `new` keeps them as they are.
    let h = |i: usize| Hash(core::array::from_fn(|j| Goldilocks::new(w[i + j])));
    Some(match tag {
        1 => Node::Branch {
            left: h(0),
            right: h(4),
        },
        2 => Node::Leaf {
            rkey: h(0),
            value_hash: h(4),
        },
        3 => Node::Value(core::array::from_fn(|j| Goldilocks::new(w[j]))),
        _ => return None,
    })
}

impl NodeCache {
    /// A cache that holds at most about `bytes` of slots (`None` for `bytes` too small to hold a
    /// useful number of nodes, i.e. caching off). Memory is reserved at once but the operating
    /// system maps it only as slots are first written.
    pub fn with_capacity_bytes(bytes: usize) -> Option<Self> {
        let sets_per_stripe = bytes / (STRIPES * SET_WORDS * 8);
        if sets_per_stripe < 4 {
            return None;
        }
        let stripes = (0..STRIPES)
            .map(|_| {
                // Zeroed (empty slots) and aligned by hand: one extra set of room.
                let words = vec![0u64; (sets_per_stripe + 1) * SET_WORDS];
                let misalign = (words.as_ptr() as usize % SLOT_BYTES) / 8;
                let base = (SLOT_WORDS - misalign) % SLOT_WORDS;
                Mutex::new(Stripe { words, base })
            })
            .collect();
        Some(Self {
            stripes,
            sets_per_stripe,
            keyed: Keyed::random(),
        })
    }

    /// The most nodes the cache holds.
    pub fn max_entries(&self) -> usize {
        STRIPES * self.sets_per_stripe * WAYS
    }

    /// The stripe and the set's first word in it.
    #[inline]
    fn locate(&self, h: &Hash) -> (&Mutex<Stripe>, usize) {
        let x = self.keyed.hash(h);
        let stripe = (x % STRIPES as u64) as usize;
        let set = ((x >> 8) % self.sets_per_stripe as u64) as usize;
        (&self.stripes[stripe], set * SET_WORDS)
    }

    pub fn get(&self, h: &Hash) -> Option<Node> {
        self.get_flagged(h).map(|(n, _)| n)
    }

    /// The node and whether it was inserted as checked ([`NodeCache::insert_checked`]).
    pub fn get_flagged(&self, h: &Hash) -> Option<(Node, bool)> {
        let key = h.0.map(|x| x.value());
        let (stripe, at) = self.locate(h);
        let mut s = stripe.lock().expect("node cache lock");
        let base = s.base + at;
        let set = &mut s.words[base..base + SET_WORDS];
        for way in 0..WAYS {
            let slot = &set[way * SLOT_WORDS..(way + 1) * SLOT_WORDS];
            if slot[KEY..KEY + 4] == key && slot[META] & 0xFF != 0 {
                let checked = slot[META] & CHECKED_BIT != 0;
                let n = decode(slot[META] & 0xFF, &slot[ELEMS..ELEMS + 8]);
                set[META] = (set[META] & !MRU_BIT) | if way == 1 { MRU_BIT } else { 0 };
                return n.map(|n| (n, checked));
            }
        }
        None
    }

    /// Inserts a node not (yet) checked against its hash.
    pub fn insert(&self, h: Hash, n: Node) {
        self.insert_flagged(h, n, false)
    }

    /// Inserts a node the caller has checked hashes to `h` (or computed itself): readers may
    /// take it without hashing it again.
    pub fn insert_checked(&self, h: Hash, n: Node) {
        self.insert_flagged(h, n, true)
    }

    fn insert_flagged(&self, h: Hash, n: Node, checked: bool) {
        let (stripe, at) = self.locate(&h);
        let mut s = stripe.lock().expect("node cache lock");
        let base = s.base + at;
        Self::insert_in(&mut s.words[base..base + SET_WORDS], &h, &n, checked);
    }

    fn insert_in(set: &mut [u64], h: &Hash, n: &Node, checked: bool) {
        let key = h.0.map(|x| x.value());
        let (tag, elems) = encode(n);
        // The way holding this key, else an empty one, else the one not used last.
        let empty = |w: usize| set[w * SLOT_WORDS + META] & 0xFF == 0;
        let holds =
            |w: usize| !empty(w) && set[w * SLOT_WORDS + KEY..w * SLOT_WORDS + KEY + 4] == key;
        let way = if holds(0) {
            0
        } else if holds(1) {
            1
        } else if empty(0) {
            0
        } else if empty(1) {
            1
        } else if set[META] & MRU_BIT != 0 {
            0
        } else {
            1
        };
        let slot = &mut set[way * SLOT_WORDS..(way + 1) * SLOT_WORDS];
        slot[KEY..KEY + 4].copy_from_slice(&key);
        let mru = slot[META] & MRU_BIT;
        slot[META] = tag | if way == 0 { mru } else { 0 } | if checked { CHECKED_BIT } else { 0 };
        slot[ELEMS..ELEMS + 8].copy_from_slice(&elems);
        set[META] = (set[META] & !MRU_BIT) | if way == 1 { MRU_BIT } else { 0 };
    }

    /// Inserts many nodes, taking each stripe's lock once, as checked: the caller computed each
    /// node's hash (a commit of the tree's own writes).
    pub fn insert_many_checked(&self, nodes: &[(Hash, Node)]) {
        let mut by_stripe: Vec<Vec<(usize, usize)>> = vec![Vec::new(); STRIPES];
        for (i, (h, _)) in nodes.iter().enumerate() {
            let x = self.keyed.hash(h);
            let set = ((x >> 8) % self.sets_per_stripe as u64) as usize;
            by_stripe[(x % STRIPES as u64) as usize].push((i, set * SET_WORDS));
        }
        for (stripe, items) in self.stripes.iter().zip(by_stripe) {
            if items.is_empty() {
                continue;
            }
            let mut s = stripe.lock().expect("node cache lock");
            let b = s.base;
            for (i, at) in items {
                let (h, n) = &nodes[i];
                Self::insert_in(&mut s.words[b + at..b + at + SET_WORDS], h, n, true);
            }
        }
    }

    /// Nodes held now.
    pub fn len(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| {
                let s = s.lock().expect("node cache lock");
                s.words[s.base..s.base + self.sets_per_stripe * SET_WORDS]
                    .chunks_exact(SLOT_WORDS)
                    .filter(|slot| slot[META] & 0xFF != 0)
                    .count()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> Hash {
        Hash([
            Goldilocks::new(i),
            Goldilocks::new(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            Goldilocks::ZERO,
            Goldilocks::ONE,
        ])
    }

    fn node(i: u64) -> Node {
        match i % 3 {
            0 => Node::Branch {
                left: h(i + 1),
                right: h(i + 2),
            },
            1 => Node::Leaf {
                rkey: h(i + 3),
                value_hash: h(i + 4),
            },
            _ => Node::Value(core::array::from_fn(|j| Goldilocks::new(i + j as u64))),
        }
    }

    #[test]
    fn holds_recent_nodes_and_stays_bounded() {
        assert!(NodeCache::with_capacity_bytes(0).is_none());
        let c = NodeCache::with_capacity_bytes(4 << 20).unwrap();
        let max = c.max_entries();
        assert!(max * SLOT_BYTES <= 4 << 20, "{max}");
        assert!(max * SLOT_BYTES >= 2 << 20, "{max}");
        assert!(c.is_empty());
        for i in 0..(4 * max as u64) {
            c.insert(h(i), node(i));
        }
        assert!(c.len() <= max);
        // What is there is right, and most of the most recent inserts are there.
        let n = 4 * max as u64;
        let recent = max as u64 / 4;
        let mut hits = 0;
        for i in n - recent..n {
            if let Some(x) = c.get(&h(i)) {
                assert_eq!(x, node(i), "{i}");
                hits += 1;
            }
        }
        assert!(hits * 10 >= recent * 8, "{hits} of {recent}");
        // A node read often survives a stream of inserts.
        let keep = h(n - 1);
        for i in n..n + 2 * max as u64 {
            c.insert(h(i), node(i));
            assert_eq!(c.get(&keep), Some(node(n - 1)), "{i}");
        }
        c.insert_many_checked(&[(h(7), node(7)), (h(8), node(8)), (h(9), node(9))]);
        for i in 7..10 {
            assert_eq!(c.get(&h(i)), Some(node(i)));
        }
        // Re-inserting a present key keeps one copy.
        let before = c.len();
        c.insert(h(7), node(7));
        assert_eq!(c.len(), before);
    }

    #[test]
    fn sharded_cache_stays_bounded_and_right() {
        let c: ShardedCache<u64, u64> = ShardedCache::new(4, 16);
        assert!(c.is_empty());
        for i in 0..1000u64 {
            assert_eq!(c.get_or_insert_with(i, || i * 3), i * 3);
            assert!(c.len() <= 64);
        }
        for i in 0..1000u64 {
            if let Some(v) = c.get(&i) {
                assert_eq!(v, i * 3);
            }
        }
        c.insert(5, 7);
        assert_eq!(c.get(&5), Some(7));
    }

    #[test]
    fn code_cache_stays_bounded() {
        let c = CodeCache::new(1000);
        c.insert(h(1), &[1; 100]);
        assert_eq!(c.get(&h(1)).as_deref(), Some(&[1u8; 100][..]));
        // Over an eighth of the bound: not cached.
        c.insert(h(2), &[2; 126]);
        assert!(c.get(&h(2)).is_none());
        for i in 3..40 {
            c.insert(h(i), &[i as u8; 100]);
            assert!(c.inner.lock().unwrap().1 <= 1000);
            assert_eq!(c.get(&h(i)).as_deref(), Some(&[i as u8; 100][..]));
        }
    }

    #[test]
    fn remembers_which_nodes_were_checked() {
        let c = NodeCache::with_capacity_bytes(1 << 20).unwrap();
        c.insert(h(1), node(1));
        c.insert_checked(h(2), node(2));
        c.insert_many_checked(&[(h(3), node(3))]);
        assert_eq!(c.get_flagged(&h(1)), Some((node(1), false)));
        assert_eq!(c.get_flagged(&h(2)), Some((node(2), true)));
        assert_eq!(c.get_flagged(&h(3)), Some((node(3), true)));
        // Checking a node later flags it; an unchecked insert over it clears the flag.
        c.insert_checked(h(1), node(1));
        assert_eq!(c.get_flagged(&h(1)), Some((node(1), true)));
        c.insert(h(1), node(1));
        assert_eq!(c.get_flagged(&h(1)), Some((node(1), false)));
        // Both ways of a set keep their own flag, whichever was used last.
        for i in 10..2000 {
            c.insert_flagged(h(i), node(i), i % 2 == 0);
        }
        for i in 10..2000 {
            if let Some((n, checked)) = c.get_flagged(&h(i)) {
                assert_eq!((n, checked), (node(i), i % 2 == 0), "{i}");
            }
        }
    }
}
