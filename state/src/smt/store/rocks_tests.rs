//! Tests of [`RocksStore`](super::RocksStore): commits, the node cache, crashes between nodes
//! and head, secondaries, corrupt data.

use std::collections::HashMap;

use ruint::aliases::U256;
use zknode_field::Goldilocks;

use super::*;
use crate::smt::tree::StateTree;

fn key(i: u64) -> Hash {
    Hash([
        Goldilocks::new(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        Goldilocks::new(i ^ 0x5555),
        Goldilocks::new(i.rotate_left(17)),
        Goldilocks::new(i),
    ])
}

fn writes(n: u64) -> Vec<(Hash, U256)> {
    (1..=n).map(|i| (key(i), U256::from(i * 3 + 1))).collect()
}

/// Every node reachable from `root`, with its hash.
fn nodes(store: &RocksStore, root: Hash) -> Vec<(Hash, Node)> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(h) = stack.pop() {
        if h.is_zero() {
            continue;
        }
        let n = store.get_stored(&h).unwrap().unwrap();
        match n {
            Node::Branch { left, right } => stack.extend([left, right]),
            Node::Leaf { value_hash, .. } => stack.push(value_hash),
            Node::Value(_) => {}
        }
        out.push((h, n));
    }
    out
}

#[test]
fn cached_nodes_equal_the_stored_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = {
        let store = RocksStore::open(dir.path()).unwrap();
        assert!(store.cache().is_some());
        let mut t = StateTree::open(&store).unwrap();
        t.apply_batch(&writes(300)).unwrap();
        let root = t.commit().unwrap();
        // Filled on commit.
        let all = nodes(&store, root);
        assert!(all.len() > 600);
        for (h, n) in &all {
            assert_eq!(store.cache().unwrap().get(h), Some(*n));
            assert_eq!(store.get(h).unwrap(), Some(*n));
        }
        root
    };
    // A fresh process: filled on read misses, and equal to the database either way.
    let store = RocksStore::open(dir.path()).unwrap();
    assert!(store.cache().unwrap().is_empty());
    let all = nodes(&store, root);
    for (h, n) in &all {
        assert_eq!(store.get(h).unwrap(), Some(*n));
        assert_eq!(store.cache().unwrap().get(h), Some(*n));
        assert_eq!(store.get(h).unwrap(), Some(*n));
    }
    let t = StateTree::open(&store).unwrap();
    for (k, v) in writes(300) {
        assert_eq!(t.get(&k).unwrap(), v);
    }
    // Absent nodes are not cached as anything.
    assert_eq!(store.get(&key(999_999)).unwrap(), None);
    assert_eq!(store.cache().unwrap().get(&key(999_999)), None);
    // And with the cache off, the same answers.
    drop(t);
    drop(store);
    let store = RocksStore::open_with_cache(dir.path(), 0).unwrap();
    assert!(store.cache().is_none());
    for (h, n) in &all {
        assert_eq!(store.get(h).unwrap(), Some(*n));
    }
}

/// A store that dies between a commit's nodes and its head.
struct DiesBeforeHead<'a>(&'a RocksStore);

impl NodeReader for DiesBeforeHead<'_> {
    fn get(&self, hash: &Hash) -> Result<Option<Node>> {
        self.0.get(hash)
    }
}

impl NodeStore for DiesBeforeHead<'_> {
    fn commit(&self, nodes: &[(Hash, Node)], _head: Hash) -> Result<()> {
        self.0.write_nodes(nodes)?;
        Err(Error::Storage("died before the head".into()))
    }
    fn head(&self) -> Result<Hash> {
        self.0.head()
    }
}

#[test]
fn nodes_written_without_their_head_leave_the_old_root() {
    let dir = tempfile::tempdir().unwrap();
    let later: Vec<(Hash, U256)> = (1..=5000u64)
        .map(|i| (key(i * 7 + 3), U256::from(i)))
        .collect();
    let (old, new, old_nodes) = {
        let store = RocksStore::open(dir.path()).unwrap();
        let mut t = StateTree::open(&store).unwrap();
        t.apply_batch(&writes(2000)).unwrap();
        let old = t.commit().unwrap();
        let old_nodes = nodes(&store, old).len();
        // Large enough to be written as several runs from several threads.
        let mut t = StateTree::open(DiesBeforeHead(&store)).unwrap();
        let new = t.apply_batch(&later).unwrap();
        assert!(t.pending_len() >= PARALLEL_COMMIT_MIN);
        assert!(t.commit().is_err());
        // The new root's nodes are in the database, named by no head.
        assert!(store.get_stored(&new).unwrap().is_some());
        (old, new, old_nodes)
    };
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(store.head().unwrap(), old);
    assert_eq!(nodes(&store, old).len(), old_nodes);
    let mut t = StateTree::open(&store).unwrap();
    for (k, v) in writes(2000) {
        assert_eq!(t.get(&k).unwrap(), v);
    }
    // Redoing the batch gives the same root, now committed.
    assert_eq!(t.apply_batch(&later).unwrap(), new);
    assert_eq!(t.commit().unwrap(), new);
    drop(t);
    drop(store);
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(store.head().unwrap(), new);
    let t = StateTree::open(&store).unwrap();
    assert_eq!(t.get(&later[17].0).unwrap(), later[17].1);
}

#[test]
fn warming_loads_the_tree_top_down_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let root = {
        let store = RocksStore::open(dir.path()).unwrap();
        let mut t = StateTree::open(&store).unwrap();
        t.apply_batch(&writes(3000)).unwrap();
        t.commit().unwrap()
    };
    let all = {
        let store = RocksStore::open_with_cache(dir.path(), 0).unwrap();
        nodes(&store, root)
    };
    let tree_nodes: Vec<&(Hash, Node)> = all
        .iter()
        .filter(|(_, n)| !matches!(n, Node::Value(_)))
        .collect();
    let store = RocksStore::open(dir.path()).unwrap();
    assert!(store.cache().unwrap().is_empty());
    assert_eq!(store.warm(root).unwrap(), tree_nodes.len());
    let cache = store.cache().unwrap();
    // The cache is two-way set associative with a per-process hash key: now and then three of
    // the tree's nodes share a set and one is evicted again, so "all but a few" is what holds.
    let mut held = 0;
    for (h, n) in &tree_nodes {
        if let Some(got) = cache.get(h) {
            assert_eq!(got, *n);
            held += 1;
        }
    }
    assert!(
        held * 100 >= tree_nodes.len() * 99,
        "{held} of {} nodes",
        tree_nodes.len()
    );
    assert_eq!(cache.len(), held);
    assert_eq!(store.warm(Hash::ZERO).unwrap(), 0);
    drop(store);
    // A cache too small for the tree takes the top of it: every node it holds is among the
    // first `budget` of a breadth-first walk (some of those may have been evicted again, as
    // two-way sets collide, so only containment is certain).
    let small = RocksStore::open_with_cache(dir.path(), 1 << 20).unwrap();
    let budget = small.cache().unwrap().max_entries() / 2;
    assert!(budget < tree_nodes.len());
    assert_eq!(small.warm(root).unwrap(), budget);
    let by_hash: HashMap<Hash, Node> = all.iter().copied().collect();
    let mut top = std::collections::HashSet::new();
    let mut level = vec![root];
    while top.len() < budget {
        level.truncate(budget - top.len());
        top.extend(level.iter().copied());
        level = level
            .iter()
            .flat_map(|h| match by_hash[h] {
                Node::Branch { left, right } => vec![left, right],
                _ => vec![],
            })
            .filter(|h| !h.is_zero())
            .collect();
    }
    let held: Vec<Hash> = all
        .iter()
        .map(|(h, _)| *h)
        .filter(|h| small.cache().unwrap().get(h).is_some())
        .collect();
    assert!(held.len() > budget / 2, "{} of {budget} held", held.len());
    assert!(held.iter().all(|h| top.contains(h)));
    // A missing node is an error naming it, not a panic.
    drop(small);
    let store = RocksStore::open_with_cache(dir.path(), 0).unwrap();
    let Some(Node::Branch { left, .. }) = store.get(&root).unwrap() else {
        panic!("root is a branch")
    };
    store
        .db
        .delete_cf(store.cf(CF_NODES).unwrap(), left.to_bytes())
        .unwrap();
    drop(store);
    let store = RocksStore::open(dir.path()).unwrap();
    assert!(matches!(store.warm(root), Err(Error::MissingNode(h)) if h == left));
}

#[test]
fn values_read_at_a_root_are_cached_by_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path()).unwrap();
    let mut t = StateTree::open(&store).unwrap();
    t.apply_batch(&writes(40)).unwrap();
    let first = t.commit().unwrap();
    let (k, v) = writes(40)[7];
    assert_eq!(t.get(&k).unwrap(), v);
    let cache = store.value_cache().unwrap();
    assert_eq!(cache.get(&(first, k)), Some(v));
    // A new root: the old entry stays right for the old root, the new value is read anew.
    t.set(k, v + U256::from(1)).unwrap();
    let second = t.commit().unwrap();
    assert_eq!(t.get(&k).unwrap(), v + U256::from(1));
    assert_eq!(StateTree::at_root(&store, first).get(&k).unwrap(), v);
    let many = StateTree::at_root(&store, second)
        .get_many(&[k, writes(40)[3].0, k])
        .unwrap();
    assert_eq!(
        many,
        vec![v + U256::from(1), writes(40)[3].1, v + U256::from(1)]
    );
    assert_eq!(cache.get(&(second, writes(40)[3].0)), Some(writes(40)[3].1));
    // Without the node cache, no value cache either.
    drop(t);
    drop(store);
    let bare = RocksStore::open_with_cache(dir.path(), 0).unwrap();
    assert!(bare.value_cache().is_none());
}

#[test]
fn bytecode_under_a_wrong_hash_is_refused_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open_with_cache(dir.path(), 0).unwrap();
    let code = b"\x60\x01\x60\x00\x55".to_vec();
    let good = crate::keys::hash_bytecode(&code);
    let wrong = key(77);
    store.put_code(&[(good, &code), (wrong, &code)]).unwrap();
    for _ in 0..2 {
        assert_eq!(store.get_code(&good).unwrap(), Some(code.clone()));
        assert!(matches!(
            store.get_code(&wrong),
            Err(Error::CorruptNode { .. })
        ));
    }
    assert_eq!(store.get_code(&key(78)).unwrap(), None);
}

#[test]
fn corrupt_stored_nodes_are_still_detected_through_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (root, victim, garbage) = {
        let store = RocksStore::open(dir.path()).unwrap();
        let mut t = StateTree::open(&store).unwrap();
        t.apply_batch(&writes(50)).unwrap();
        let root = t.commit().unwrap();
        let Some(Node::Branch { left, right }) = store.get(&root).unwrap() else {
            panic!("root is a branch")
        };
        let victim = if left.is_zero() { right } else { left };
        // Another branch hashing to something else, and an undecodable value.
        let wrong = Node::Branch {
            left: root,
            right: Hash::ZERO,
        };
        let cf = store.cf(CF_NODES).unwrap();
        store
            .db
            .put_cf(cf, victim.to_bytes(), wrong.encode())
            .unwrap();
        let garbage = key(4242);
        store.db.put_cf(cf, garbage.to_bytes(), [9u8; 65]).unwrap();
        (root, victim, garbage)
    };
    let store = RocksStore::open(dir.path()).unwrap();
    // Undecodable: an error every time, never cached.
    for _ in 0..2 {
        assert!(matches!(
            store.get(&garbage),
            Err(Error::CorruptNode { .. })
        ));
    }
    assert_eq!(store.cache().unwrap().get(&garbage), None);
    // Decodable but not the node its hash names: the tree rejects it, also when it is
    // served from the cache the second time.
    let t = StateTree::at_root(&store, root);
    for _ in 0..2 {
        let errs: Vec<Error> = writes(50)
            .iter()
            .filter_map(|(k, _)| t.get(k).err())
            .collect();
        assert!(
            errs.iter()
                .any(|e| matches!(e, Error::CorruptNode { hash, .. } if *hash == victim)),
            "{errs:?}"
        );
        // Never cached as checked; and once the unchecked path (batched writes) has cached
        // it, readers still hash it and still refuse it.
        assert_ne!(
            store.cache().unwrap().get_flagged(&victim).map(|(_, c)| c),
            Some(true)
        );
        assert!(store.get(&victim).unwrap().is_some());
        assert_eq!(
            store.cache().unwrap().get_flagged(&victim).map(|(_, c)| c),
            Some(false)
        );
    }
    // The good nodes read on the way were checked once and are vouched for now.
    assert!(matches!(store.get_vouched(&root), Ok(Some((_, true)))));
}

#[test]
fn a_secondary_sees_the_primarys_commits_once_it_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let primary_dir = dir.path().join("primary");
    let primary = RocksStore::open(&primary_dir).unwrap();
    let mut t = StateTree::open(&primary).unwrap();
    t.apply_batch(&writes(200)).unwrap();
    let first = t.commit().unwrap();
    drop(t);
    let sec =
        RocksStore::open_secondary(&primary_dir, &dir.path().join("secondary"), 1 << 20).unwrap();
    assert!(sec.is_secondary() && !primary.is_secondary());
    // The head root is not read on a secondary (see `head`): roots come from elsewhere.
    let e = sec.head().unwrap_err();
    assert!(e.to_string().contains("secondary"), "{e}");
    assert!(sec.get(&first).unwrap().is_some());

    // A second root, its nodes still in the primary's memtable and log only, and code.
    let later: Vec<(Hash, U256)> = (1..=300u64)
        .map(|i| (key(1_000 + i * 11), U256::from(i)))
        .collect();
    let code = b"\x60\x2a\x60\x00\x52".to_vec();
    let code_hash = crate::keys::hash_bytecode(&code);
    primary.put_code(&[(code_hash, &code)]).unwrap();
    let mut t = StateTree::open(&primary).unwrap();
    let second = t.apply_batch(&later).unwrap();
    assert_eq!(t.commit().unwrap(), second);
    drop(t);
    // Until it catches up, the secondary answers from what it had seen: none of the new
    // nodes, no new code.
    assert_eq!(sec.get(&second).unwrap(), None);
    assert_eq!(sec.get_code(&code_hash).unwrap(), None);
    sec.catch_up().unwrap();
    assert!(sec.get(&second).unwrap().is_some());
    assert_eq!(sec.get_code(&code_hash).unwrap(), Some(code));
    let t = StateTree::at_root(&sec, second);
    for (k, v) in writes(200).iter().chain(&later) {
        assert_eq!(t.get(k).unwrap(), *v);
    }
    // The old root is still readable: nodes are never overwritten.
    let t = StateTree::at_root(&sec, first);
    assert_eq!(t.get(&later[0].0).unwrap(), U256::ZERO);

    // A third root the primary flushes to a table file: caught up from the files.
    let mut t = StateTree::open(&primary).unwrap();
    let third = t.apply_batch(&[(key(77_777), U256::from(5))]).unwrap();
    t.commit().unwrap();
    drop(t);
    for cf in [CF_NODES, CF_META, CF_CODE] {
        primary.db.flush_cf(primary.cf(cf).unwrap()).unwrap();
    }
    assert_eq!(sec.get(&third).unwrap(), None);
    sec.catch_up().unwrap();
    assert!(sec.get(&third).unwrap().is_some());
    let t = StateTree::at_root(&sec, third);
    assert_eq!(t.get(&key(77_777)).unwrap(), U256::from(5));
    assert_eq!(t.get(&later[9].0).unwrap(), later[9].1);

    // Writes on the secondary are errors, not panics, and change nothing.
    let e = sec.commit(&[], first).unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
    assert!(sec.put_code(&[(code_hash, b"x")]).is_err());
    let mut t = StateTree::at_root(&sec, third);
    let fourth = t.apply_batch(&[(key(1), U256::from(9))]).unwrap();
    assert!(t.commit().is_err());
    drop(t);
    assert_eq!(sec.get(&fourth).unwrap(), None);
    assert_eq!(primary.get(&fourth).unwrap(), None);
    // Catching up a primary is nothing to do.
    primary.catch_up().unwrap();
    assert_eq!(primary.head().unwrap(), third);
    // A secondary of a directory that holds no store is an error naming it.
    let e = RocksStore::open_secondary(&dir.path().join("none"), &dir.path().join("s2"), 0)
        .err()
        .unwrap();
    assert!(e.to_string().contains("none"), "{e}");
}
