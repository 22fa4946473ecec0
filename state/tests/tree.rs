//! Properties of the state tree: roots independent of write order, deletes restore roots,
//! every proof verifies, any changed proof field is rejected, batched writes equal sequential
//! ones, and a damaged store gives clear errors.

use proptest::prelude::*;
use ruint::aliases::U256;
use zknode_field::Goldilocks;
use zknode_state::keys;
use zknode_state::{Error, Hash, MemoryStore, Node, StateTree, UpdateKind, UpdateProof};

/// Keys from a small pool, so writes hit the same keys again: half are Poseidon-derived account
/// keys, half raw small integers whose paths share long prefixes (deep splits and collapses).
fn pool_key(i: u8) -> Hash {
    if i.is_multiple_of(2) {
        let mut a = [0u8; 20];
        a[19] = i;
        a[0] = 0x42;
        keys::balance_key(&a)
    } else {
        Hash([
            Goldilocks::new(i as u64 * 4),
            Goldilocks::ZERO,
            Goldilocks::ZERO,
            Goldilocks::ZERO,
        ])
    }
}

fn writes_strategy() -> impl Strategy<Value = Vec<(u8, u64)>> {
    // About a third of the writes are zero (deletes or no-ops).
    prop::collection::vec(
        (0u8..24, prop_oneof![Just(0u64), 1u64..1000, Just(u64::MAX)]),
        1..40,
    )
}

fn to_writes(w: &[(u8, u64)]) -> Vec<(Hash, U256)> {
    w.iter()
        .map(|&(k, v)| (pool_key(k), U256::from(v)))
        .collect()
}

fn final_state(w: &[(Hash, U256)]) -> Vec<(Hash, U256)> {
    let mut m = std::collections::BTreeMap::new();
    for &(k, v) in w {
        m.insert(k, v);
    }
    m.into_iter().filter(|(_, v)| !v.is_zero()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sequential_batched_and_reordered_writes_agree(w in writes_strategy(), seed in any::<u64>()) {
        let writes = to_writes(&w);
        let store = MemoryStore::new();
        let mut seq = StateTree::open(&store).unwrap();
        for &(k, v) in &writes {
            let before = seq.root();
            let proof = seq.set(k, v).unwrap();
            proof.verify(&before, &seq.root()).unwrap();
        }
        for (k, v) in final_state(&writes) {
            prop_assert_eq!(seq.get(&k).unwrap(), v);
        }
        let batch_store = MemoryStore::new();
        let mut batch = StateTree::open(&batch_store).unwrap();
        prop_assert_eq!(batch.apply_batch(&writes).unwrap(), seq.root());

        // Only the final state matters, in any order.
        let mut fin = final_state(&writes);
        let n = fin.len();
        if n > 1 {
            let mut s = seed;
            for i in (1..n).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                fin.swap(i, (s >> 33) as usize % (i + 1));
            }
        }
        let other = MemoryStore::new();
        let mut t = StateTree::open(&other).unwrap();
        t.apply(&fin).unwrap();
        prop_assert_eq!(t.root(), seq.root());
    }

    #[test]
    fn batches_on_top_of_existing_trees_agree(a in writes_strategy(), b in writes_strategy()) {
        let (a, b) = (to_writes(&a), to_writes(&b));
        let s1 = MemoryStore::new();
        let mut seq = StateTree::open(&s1).unwrap();
        seq.apply(&a).unwrap();
        seq.commit().unwrap();
        seq.apply(&b).unwrap();
        let s2 = MemoryStore::new();
        let mut bat = StateTree::open(&s2).unwrap();
        bat.apply_batch(&a).unwrap();
        bat.commit().unwrap();
        prop_assert_eq!(bat.apply_batch(&b).unwrap(), seq.root());
    }

    #[test]
    fn insert_then_delete_restores_the_root(w in writes_strategy(), k in 24u8..60, v in 1u64..u64::MAX) {
        let store = MemoryStore::new();
        let mut t = StateTree::open(&store).unwrap();
        t.apply(&to_writes(&w)).unwrap();
        let before = t.root();
        t.set(pool_key(k), U256::from(v)).unwrap();
        prop_assert_ne!(t.root(), before);
        let p = t.set(pool_key(k), U256::ZERO).unwrap();
        let is_delete = matches!(p.kind, UpdateKind::Delete { .. });
        prop_assert!(is_delete);
        prop_assert_eq!(t.root(), before);
    }

    #[test]
    fn any_changed_proof_field_is_rejected(w in writes_strategy(), k in 0u8..30, v in 0u64..5, which in 0usize..7) {
        let store = MemoryStore::new();
        let mut t = StateTree::open(&store).unwrap();
        t.apply(&to_writes(&w)).unwrap();
        let old = t.root();
        let proof = t.set(pool_key(k), U256::from(v)).unwrap();
        let new = t.root();
        proof.verify(&old, &new).unwrap();
        if let Some(bad) = tamper(&proof, which) {
            prop_assert!(bad.verify(&old, &new).is_err(), "tampered proof accepted: {:?}", bad);
        }
    }
}

/// One change to one field; `None` when the proof has no such field to change, or when the
/// change leaves a true statement (another absent key is just as absent).
fn tamper(p: &UpdateProof, which: usize) -> Option<UpdateProof> {
    let mut b = p.clone();
    if which == 0 && matches!(p.kind, UpdateKind::ZeroToAbsent { .. }) {
        return None;
    }
    let bump = |h: &mut Hash| h.0[0] += Goldilocks::ONE;
    match which {
        0 => b.key.0[0] += Goldilocks::new(1 << 8),
        1 => b.old_value += U256::from(1),
        2 => b.new_value += U256::from(1),
        3 => bump(b.siblings.first_mut()?),
        4 => {
            b.siblings.pop()?;
        }
        5 => b.siblings.push(Hash::ZERO),
        _ => match &mut b.kind {
            UpdateKind::InsertSplit {
                other_value_hash, ..
            } => bump(other_value_hash),
            UpdateKind::Delete {
                sibling: Some(zknode_state::SiblingNode::Leaf { value_hash, .. }),
            } => bump(value_hash),
            UpdateKind::Delete {
                sibling: Some(zknode_state::SiblingNode::Branch { left, .. }),
            } => bump(left),
            UpdateKind::ZeroToAbsent {
                found: Some((_, vh)),
            } => bump(vh),
            UpdateKind::Update => b.kind = UpdateKind::InsertEmpty,
            UpdateKind::InsertEmpty => b.kind = UpdateKind::Update,
            _ => return None,
        },
    }
    Some(b)
}

#[test]
fn the_empty_tree_has_root_zero_and_single_leaf_is_the_root() {
    let store = MemoryStore::new();
    let mut t = StateTree::open(&store).unwrap();
    assert_eq!(t.root(), Hash::ZERO);
    let k = pool_key(2);
    let p = t.set(k, U256::from(7)).unwrap();
    assert!(p.siblings.is_empty() && p.kind == UpdateKind::InsertEmpty);
    let p = t.set(k, U256::ZERO).unwrap();
    assert_eq!(p.kind, UpdateKind::Delete { sibling: None });
    assert_eq!(t.root(), Hash::ZERO);
}

#[test]
fn committed_roots_stay_readable() {
    let store = MemoryStore::new();
    let mut t = StateTree::open(&store).unwrap();
    t.set(pool_key(1), U256::from(1)).unwrap();
    let r1 = t.commit().unwrap();
    t.set(pool_key(1), U256::from(2)).unwrap();
    t.set(pool_key(3), U256::from(3)).unwrap();
    t.commit().unwrap();
    let old = StateTree::at_root(&store, r1);
    assert_eq!(old.get(&pool_key(1)).unwrap(), U256::from(1));
    assert_eq!(old.get(&pool_key(3)).unwrap(), U256::ZERO);
    assert_eq!(
        StateTree::open(&store).unwrap().get(&pool_key(3)).unwrap(),
        U256::from(3)
    );
}

#[test]
fn missing_and_corrupt_nodes_are_clear_errors() {
    let store = MemoryStore::new();
    let mut t = StateTree::open(&store).unwrap();
    t.apply(&to_writes(&[(1, 5), (3, 6), (5, 7), (2, 8)]))
        .unwrap();
    let root = t.commit().unwrap();
    let Some(Node::Branch { left, right }) = store_get(&store, &root) else {
        panic!("root is a branch")
    };
    let child = if left.is_zero() { right } else { left };
    let saved = store.remove(&child).unwrap();
    let t = StateTree::at_root(&store, root);
    let errs: Vec<Error> = (0..6u8).filter_map(|k| t.get(&pool_key(k)).err()).collect();
    assert!(
        errs.iter()
            .any(|e| matches!(e, Error::MissingNode(h) if *h == child)),
        "{errs:?}"
    );
    assert!(errs[0].to_string().contains("missing"));
    // A node whose content does not hash to its name.
    store.insert(
        child,
        Node::Branch {
            left: Hash::ZERO,
            right: root,
        },
    );
    let errs: Vec<Error> = (0..6u8).filter_map(|k| t.get(&pool_key(k)).err()).collect();
    assert!(
        errs.iter().any(|e| matches!(e, Error::CorruptNode { .. })),
        "{errs:?}"
    );
    store.insert(child, saved);
    for k in 0..6u8 {
        t.get(&pool_key(k)).unwrap();
    }
}

fn store_get(s: &MemoryStore, h: &Hash) -> Option<Node> {
    use zknode_state::NodeReader;
    s.get(h).unwrap()
}

mod get_many {
    use super::*;
    use zknode_state::NodeReader;

    fn small_key(i: u64) -> Hash {
        pool_key((i % 200) as u8)
    }

    fn node_of(store: &MemoryStore, h: &Hash) -> Node {
        store.get(h).unwrap().expect("node present")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// `get_many` gives what `get` gives for each key: present, absent, repeated, any order.
        #[test]
        fn equals_get_one_by_one(
            writes in proptest::collection::vec((0u64..40, 0u64..4), 0..48),
            probes in proptest::collection::vec(0u64..48, 0..40),
        ) {
            let store = MemoryStore::new();
            let mut tree = StateTree::open(&store).unwrap();
            for (k, v) in &writes {
                tree.set(small_key(*k), U256::from(*v)).unwrap();
            }
            let keys: Vec<Hash> = probes.iter().map(|k| small_key(*k)).collect();
            let many = tree.get_many(&keys).unwrap();
            for (k, v) in keys.iter().zip(&many) {
                prop_assert_eq!(*v, tree.get(k).unwrap());
            }
        }
    }

    #[test]
    fn a_corrupt_node_on_any_path_is_reported() {
        let store = MemoryStore::new();
        let mut tree = StateTree::open(&store).unwrap();
        for k in 0..32 {
            tree.set(small_key(k), U256::from(k + 1)).unwrap();
        }
        tree.commit().unwrap();
        let keys: Vec<Hash> = (0..32).map(small_key).collect();
        assert!(tree.get_many(&keys).is_ok());
        // Swap one leaf's value hash for another's: the leaf no longer hashes to its name.
        let root = tree.root();
        let mut h = root;
        let leaf = loop {
            match node_of(&store, &h) {
                Node::Branch { left, right } => h = if left.is_zero() { right } else { left },
                n => break n,
            }
        };
        let Node::Leaf { rkey, .. } = leaf else {
            panic!("a leaf")
        };
        store.insert(
            h,
            Node::Leaf {
                rkey,
                value_hash: Hash::ZERO,
            },
        );
        let err = tree.get_many(&keys).unwrap_err();
        assert!(err.to_string().contains("does not hash"), "{err}");
    }
}
