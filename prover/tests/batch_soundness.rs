//! The holes of issue 18, each shown with the forged table that used it. Every forgery here
//! satisfied all the constraints the table had before the fix: `broken_sections` shows that the
//! only constraints it breaks are the ones added for it, so without them starky's own prover
//! would have proved it and the verifier accepted the proof. With them, the cheating prover's
//! proof (`prove_anyway`) is rejected.

mod common;

use plonky2::field::types::Field;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ruint::aliases::U256;
use zknode_prover::batch::forge::{deep_split, prove_anyway};
use zknode_prover::batch::poseidon::fill_lane;
use zknode_prover::batch::{self, layout, trace, Statement, TableOp, F};
use zknode_state::keys::{key, LeafType};
use zknode_state::{Hash, UpdateKind, UpdateProof};
use zknode_witness::commit::ops_commitment_step;

use layout::NUM_COLUMNS as W;

fn kernel_to_f(x: [zknode_kernels::Goldilocks; 4]) -> [F; 4] {
    x.map(|v| F::from_canonical_u64(v.value()))
}

/// The operation commitment of a list, as the witness computes it.
fn commitment_of(ops: &[TableOp]) -> [F; 4] {
    let acc = ops
        .iter()
        .fold([zknode_kernels::Goldilocks::ZERO; 4], |acc, op| {
            ops_commitment_step(&acc, &op.proof.key, op.proof.old_value, op.proof.new_value)
        });
    kernel_to_f(acc)
}

/// Asserts that the forged table breaks exactly the constraint sections `only`, then proves it
/// as a cheating prover would and asserts that the verifier rejects the proof.
fn rejected_only_by(t: &trace::Table, st: &Statement, only: &[&str], what: &str) {
    let broken = batch::broken_sections(t, st);
    let names: Vec<&str> = broken.keys().copied().collect();
    assert_eq!(
        names, only,
        "{what}: broken sections {broken:?}; the forgery must break only the new constraints"
    );
    let proof = prove_anyway(batch::columns(t), &batch::public_inputs(st));
    let err = batch::verify(&proof).expect_err(what);
    eprintln!("{what}: rejected ({err})");
    assert!(err.is_prover_fault(), "{what}: {err}");
}

/// Hole 1: the operation commitment was free on commit rows. The table applies the operations
/// X honestly, and its last commit row hashes the step of another list Y (X without its first
/// operation) instead: the public inputs state the new root of X with the commitment of Y.
#[test]
fn commitment_to_other_operations_is_rejected() {
    let (root, ops) = common::scenario(5, 12, 10);
    let t = trace::build(&root, &ops, batch::MIN_ROWS).expect("table");
    assert_eq!(t.ops_commitment, commitment_of(&ops));
    let y = &ops[1..];
    let acc_y = commitment_of(&y[..y.len() - 1]);

    let commit_row = (0..t.rows)
        .rev()
        .find(|&r| t.cells[r * W + layout::F_COMMIT] == F::ONE)
        .expect("a commit row");
    let mut cells = t.cells.clone();
    let row = &mut cells[commit_row * W..(commit_row + 1) * W];
    let mut input = [F::ZERO; 12];
    input[..4].copy_from_slice(&row[layout::HVO..layout::HVO + 4]);
    input[4..8].copy_from_slice(&row[layout::HVN..layout::HVN + 4]);
    input[8..].copy_from_slice(&acc_y);
    let u = fill_lane(row, layout::LANE0, input);
    let mut input = [F::ZERO; 12];
    input[..4].copy_from_slice(&row[layout::K..layout::K + 4]);
    input[4..8].copy_from_slice(&u);
    let comm_y = fill_lane(row, layout::LANE1, input);
    assert_eq!(comm_y, commitment_of(y), "the row hashes Y's last step");
    for r in commit_row + 1..t.rows {
        cells[r * W + layout::COMM..r * W + layout::COMM + 4].copy_from_slice(&comm_y);
    }
    let mut forged = common::with_cells(&t, cells);
    forged.ops_commitment = comm_y;
    let st = common::statement_of(&forged);
    assert_eq!(st.new_root, common::statement_of(&t).new_root);
    rejected_only_by(
        &forged,
        &st,
        &["commit row"],
        "X's new root with the commitment of X minus its first operation",
    );

    // Even a batch of one operation could commit to anything: its commit row's lane inputs
    // feed the commitment alone.
    let one = &ops[..1];
    let t = trace::build(&root, one, batch::MIN_ROWS).expect("table");
    let commit_row = (0..t.rows)
        .find(|&r| t.cells[r * W + layout::F_COMMIT] == F::ONE)
        .expect("a commit row");
    let mut cells = t.cells.clone();
    let row = &mut cells[commit_row * W..(commit_row + 1) * W];
    let mut input = [F::ZERO; 12];
    input[0] = F::from_canonical_u64(0xdead_beef);
    let any = fill_lane(row, layout::LANE1, input);
    for r in commit_row + 1..t.rows {
        cells[r * W + layout::COMM..r * W + layout::COMM + 4].copy_from_slice(&any);
    }
    let mut forged = common::with_cells(&t, cells);
    forged.ops_commitment = any;
    rejected_only_by(
        &forged,
        &common::statement_of(&forged),
        &["commit row"],
        "one operation, a commitment chosen freely",
    );
}

/// Hole 2: walk depth was unbounded. The batch's last operation splits a leaf, and its new
/// chain walks 4 · 192 levels deeper than the tree: path values, remaining keys and masks are
/// the honest ones (2^192 = 1), the new root is another tree's, and only the level count
/// notices.
#[test]
fn split_walked_below_the_tree_is_rejected() {
    let (root, mut ops) = common::scenario(11, 16, 24);
    let last_split = ops
        .iter()
        .rposition(|o| matches!(o.proof.kind, UpdateKind::InsertSplit { .. }))
        .expect("a split in the scenario");
    ops.truncate(last_split + 1);
    let honest = trace::build(&root, &ops, batch::MIN_ROWS).expect("table");
    let forged = deep_split(&root, &ops).expect("forged table");
    assert_eq!(
        forged.used_rows,
        honest.used_rows + 4 * batch::forge::POW_PERIOD
    );
    assert_ne!(forged.new_root, honest.new_root, "another tree's root");
    assert_eq!(forged.ops_commitment, honest.ops_commitment);
    rejected_only_by(
        &forged,
        &common::statement_of(&forged),
        &["depth"],
        "a split walked 768 levels below the tree",
    );
}

/// An update `depth` levels deep on a path of random siblings, and the root it starts from.
fn deep_update(depth: usize) -> (Hash, TableOp) {
    let mut rng = ChaCha8Rng::seed_from_u64(depth as u64);
    let address = [0x42u8; 20];
    let k = key(&address, LeafType::Balance, U256::ZERO);
    let siblings = (0..depth)
        .map(|_| {
            Hash::from_raw(core::array::from_fn(|_| rng.gen_range(1..1u64 << 63)))
                .expect("canonical")
        })
        .collect();
    let proof = UpdateProof {
        key: k,
        old_value: U256::from(5u64),
        new_value: U256::from(6u64),
        siblings,
        kind: UpdateKind::Update,
    };
    let (old, _) = proof.roots(&mut |_, _| {}).expect("a consistent proof");
    let op = TableOp {
        address,
        leaf_type: 0,
        slot: U256::ZERO,
        proof,
    };
    (old, op)
}

/// The bound itself: a leaf 252 levels deep (63 levels in every key limb, the most a limb may
/// have) is proved; one level deeper is refused with the reason, before any proving.
#[test]
fn depth_limit_is_exact() {
    let (root, op) = deep_update(layout::MAX_DEPTH);
    let t = trace::build(&root, &[op], batch::MIN_ROWS).expect("252 levels");
    batch::check_table(&t, &common::statement_of(&t)).expect("an honest table at the limit");

    let (root, op) = deep_update(layout::MAX_DEPTH + 1);
    let e = trace::build(&root, &[op], batch::MIN_ROWS)
        .err()
        .expect("253 levels are refused")
        .to_string();
    assert!(
        e.starts_with("operation 0:") && e.contains("253 levels deep"),
        "{e}"
    );
}

/// A level counter that disagrees with the walk breaks the depth constraints even when it is
/// consistent with itself: one walk row fewer counted.
#[test]
fn miscounted_levels_are_rejected() {
    let (root, ops) = common::scenario(5, 12, 10);
    let t = trace::build(&root, &ops, batch::MIN_ROWS).expect("table");
    let first_walk = (0..t.rows)
        .find(|&r| t.cells[r * W + layout::F_WALK] == F::ONE)
        .expect("a walk row");
    let mut cells = t.cells.clone();
    // From the first walk row to the end of that operation, one less.
    let mut r = first_walk;
    while cells[r * W + layout::F_KEY] != F::ONE && cells[r * W + layout::F_PAD] != F::ONE {
        cells[r * W + layout::LVL] -= F::ONE;
        r += 1;
    }
    let forged = common::with_cells(&t, cells);
    rejected_only_by(
        &forged,
        &common::statement_of(&forged),
        &["depth"],
        "a level counter one short",
    );
}
