//! The batch table: honest tables satisfy every constraint, and tampered ones do not.

mod common;

use common::scenario;
use plonky2::field::types::Field;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ruint::aliases::U256;
use zknode_prover::batch::{self, layout, trace, Statement, TableOp};
use zknode_state::keys::{key, LeafType};
use zknode_state::{Hash, MemoryStore, StateTree, UpdateKind};

fn statement(t: &trace::Table) -> Statement {
    batch::table_statement(t, [1, 2, 3, 4], 7)
}

fn kinds(ops: &[TableOp]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = ops
        .iter()
        .map(|o| match &o.proof.kind {
            UpdateKind::InsertEmpty => "insert-empty",
            UpdateKind::Update => "update",
            UpdateKind::InsertSplit { .. } => "split",
            UpdateKind::Delete { sibling: None } => "delete-root",
            UpdateKind::Delete {
                sibling: Some(zknode_state::SiblingNode::Leaf { .. }),
            } => "collapse",
            UpdateKind::Delete { .. } => "delete-branch",
            UpdateKind::ZeroToAbsent { found: None } => "absent-empty",
            UpdateKind::ZeroToAbsent { .. } => "absent-found",
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn honest_tables_satisfy_every_constraint() {
    // From an empty tree: insert into the empty root, split, delete the root leaf.
    let (root, ops) = scenario(1, 0, 40);
    let t = trace::build(&root, &ops, 64).expect("table");
    batch::check_table(&t, &statement(&t)).expect("constraints");
    // From a populated tree: every other kind.
    let (root, ops) = scenario(2, 40, 120);
    let seen = kinds(&ops);
    for k in [
        "update",
        "split",
        "collapse",
        "delete-branch",
        "absent-empty",
        "absent-found",
        "insert-empty",
    ] {
        assert!(seen.contains(&k), "{k} missing from {seen:?}");
    }
    let t = trace::build(&root, &ops, 64).expect("table");
    batch::check_table(&t, &statement(&t)).expect("constraints");
}

#[test]
fn tree_of_one_leaf_cases() {
    let mut tree = StateTree::open(MemoryStore::new()).expect("tree");
    let a = [7u8; 20];
    let b = [9u8; 20];
    let ka = key(&a, LeafType::Balance, U256::ZERO);
    let kb = key(&b, LeafType::Balance, U256::ZERO);
    let root = tree.root();
    let mut ops = Vec::new();
    for (addr, k, v) in [
        (a, ka, 5u64),
        (a, ka, 6),
        (b, kb, 1),
        (b, kb, 0),
        (a, ka, 0),
        (b, kb, 0),
    ] {
        let proof = tree.set(k, U256::from(v)).expect("set");
        ops.push(TableOp {
            address: addr,
            leaf_type: 0,
            slot: U256::ZERO,
            proof,
        });
    }
    assert_eq!(tree.root(), Hash::ZERO);
    let t = trace::build(&root, &ops, 64).expect("table");
    batch::check_table(&t, &statement(&t)).expect("constraints");
}

#[test]
fn tampered_cells_break_a_constraint() {
    let (root, ops) = scenario(3, 16, 12);
    let t = trace::build(&root, &ops, 64).expect("table");
    let st = statement(&t);
    batch::check_table(&t, &st).expect("honest");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    // Flip one cell among those that matter: a hash output, a sibling, a path bit, a root.
    let flag = |r: usize, f: usize| t.cells[r * layout::NUM_COLUMNS + f] == batch::F::ONE;
    let rows_where = |f: &dyn Fn(usize) -> bool| (0..t.rows).filter(|&r| f(r)).collect::<Vec<_>>();
    let hashing = rows_where(&|r| !flag(r, layout::F_RANGE));
    let walk = rows_where(&|r| flag(r, layout::F_WALK));
    let ops_rows = rows_where(&|r| !flag(r, layout::F_PAD));
    let all = rows_where(&|_| true);
    for (col, what, rows) in [
        (layout::LANE1 + layout::L_OUT, "hash output", &hashing),
        (layout::LANE0 + layout::L_PART + 5, "round cell", &hashing),
        (layout::SIB_O, "sibling", &walk),
        (layout::BIT, "path bit", &walk),
        (layout::ROOT, "root", &all),
        (layout::K, "key", &ops_rows),
        (layout::RK, "remaining key", &ops_rows),
    ] {
        for _ in 0..5 {
            let r = rows[rng.gen_range(0..rows.len())];
            let mut bad = common::with_cells(&t, t.cells.clone());
            let cell = &mut bad.cells[r * layout::NUM_COLUMNS + col];
            *cell += batch::F::ONE;
            assert!(
                batch::check_table(&bad, &st).is_err(),
                "changing the {what} on row {r} went unnoticed"
            );
        }
    }
    // A statement with another new root is not satisfied.
    let mut other = st;
    other.new_root.0[0] = zknode_kernels::Goldilocks::new(other.new_root.0[0].value() ^ 1);
    assert!(batch::check_table(&t, &other).is_err());
}

#[test]
fn bad_witness_is_refused_naming_the_operation() {
    let (root, mut ops) = scenario(4, 16, 6);
    ops[3].proof.old_value += U256::from(1u64);
    let e = trace::build(&root, &ops, 64)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.starts_with("operation 3:"), "{e}");
    let (root, mut ops) = scenario(4, 16, 6);
    if let Some(s) = ops[2].proof.siblings.first_mut() {
        s.0[0] += zknode_kernels::Goldilocks::ONE;
        let e = trace::build(&root, &ops, 64)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.starts_with("operation 2:"), "{e}");
    }
    let (root, mut ops) = scenario(4, 16, 6);
    ops[1].address[0] ^= 1;
    let e = trace::build(&root, &ops, 64)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.starts_with("operation 1:") && e.contains("is not the key"),
        "{e}"
    );
}
