//! Batch proofs: honest ones verify; proofs of forged tables, or with changed public inputs or
//! bytes, do not.
//!
//! starky's own prover refuses a table that breaks a constraint, so the forged tables are proven
//! with `batch::forge::prove_anyway`, which goes on as a cheating prover would and sends a proof
//! in starky's format whose quotient is only the low-degree part of a non-polynomial.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use plonky2::field::types::Field;
use zknode_prover::batch::forge::prove_anyway;
use zknode_prover::batch::poseidon::fill_lane;
use zknode_prover::batch::{self, layout, trace, ProofError, Statement, F};

use layout::NUM_COLUMNS as W;

fn batch() -> (zknode_state::Hash, Vec<batch::TableOp>, trace::Table) {
    let (root, ops) = common::scenario(5, 12, 10);
    let t = trace::build(&root, &ops, batch::MIN_ROWS).expect("table");
    (root, ops, t)
}

/// Proves a table for a statement as a cheating prover would, after checking that the forgery
/// really breaks a constraint (a forgery the table's constraints allowed would be a bug of the
/// constraints, not something the proof system can catch).
fn forged_proof(t: &trace::Table, st: &Statement, what: &str) -> batch::Proof {
    assert!(
        batch::check_table(t, st).is_err(),
        "{what}: the forged table satisfies every constraint"
    );
    prove_anyway(batch::columns(t), &batch::public_inputs(st))
}

fn assert_rejected(t: &trace::Table, st: &Statement, what: &str) {
    let proof = forged_proof(t, st, what);
    let err = batch::verify(&proof).expect_err(what);
    eprintln!("{what}: rejected ({err})");
    assert!(err.is_prover_fault(), "{what}: {err}");
}

fn rows_where(t: &trace::Table, col: usize) -> impl Iterator<Item = usize> + '_ {
    (0..t.rows).filter(move |&r| t.cells[r * W + col] == F::ONE)
}

#[test]
fn honest_proof_verifies_and_changed_public_inputs_do_not() {
    let (root, ops, t) = batch();
    let (proof, _) = batch::prove_ops(&root, &ops, [11, 12, 13, 14], 42).expect("prove");
    let st = batch::verify(&proof).expect("verifies");
    assert_eq!(st, common::statement_of(&t));
    assert_eq!(st.batch_number, 42);

    // Another statement with the same proof.
    let mut p = proof.clone();
    p.public_inputs[layout::PI_NEW_ROOT] += F::ONE;
    let e = batch::verify(&p).expect_err("a changed new root verified");
    assert!(matches!(e, ProofError::Invalid { .. }), "{e}");
    let mut p = proof.clone();
    p.public_inputs[layout::PI_DATA] += F::ONE;
    let e = batch::verify(&p).expect_err("a changed batch data commitment verified");
    assert!(matches!(e, ProofError::Invalid { .. }), "{e}");
}

/// On an honest table the cheating prover is an honest prover: its proof verifies, and it
/// commits to the same quotient and opens the same values as starky's prover (the proof-of-work
/// witness, found by a parallel search, and the query answers that depend on it may differ).
#[test]
fn prove_anyway_on_an_honest_table_is_starkys_proof() {
    let (root, ops, t) = batch();
    let st = common::statement_of(&t);
    batch::check_table(&t, &st).expect("honest table");
    let ours = prove_anyway(batch::columns(&t), &batch::public_inputs(&st));
    assert_eq!(batch::verify(&ours).expect("verifies"), st);

    let (theirs, _) = batch::prove_ops(&root, &ops, [11, 12, 13, 14], 42).expect("prove");
    let (a, b) = (&ours.proof, &theirs.proof);
    assert_eq!(ours.public_inputs, theirs.public_inputs);
    assert_eq!(a.trace_cap, b.trace_cap);
    assert_eq!(a.quotient_polys_cap, b.quotient_polys_cap);
    assert!(a.auxiliary_polys_cap.is_none() && b.auxiliary_polys_cap.is_none());
    assert_eq!(a.openings.local_values, b.openings.local_values);
    assert_eq!(a.openings.next_values, b.openings.next_values);
    assert_eq!(a.openings.quotient_polys, b.openings.quotient_polys);
    assert_eq!(
        a.opening_proof.commit_phase_merkle_caps,
        b.opening_proof.commit_phase_merkle_caps
    );
    assert_eq!(a.opening_proof.final_poly, b.opening_proof.final_poly);
}

#[test]
fn forged_hash_output_is_rejected() {
    let (_, _, t) = batch();
    let walk_row = rows_where(&t, layout::F_WALK).next().expect("a walk row");
    let mut cells = t.cells.clone();
    cells[walk_row * W + layout::LANE1 + layout::L_OUT] += F::ONE;
    assert_rejected(
        &common::with_cells(&t, cells),
        &common::statement_of(&t),
        "a changed Poseidon output on a walk row",
    );
}

#[test]
fn swapped_new_root_is_rejected() {
    let (_, _, t) = batch();
    let mut st = common::statement_of(&t);
    assert_ne!(st.old_root, st.new_root);
    st.new_root = st.old_root;
    assert_rejected(&t, &st, "the old root claimed as the new root");
}

#[test]
fn dropped_operation_is_rejected() {
    let (root, ops, t) = batch();
    let short = trace::build(&root, &ops[..ops.len() - 1], batch::MIN_ROWS).expect("table");
    assert_ne!(short.new_root, t.new_root);
    let mut st = common::statement_of(&short);
    st.new_root = common::statement_of(&t).new_root;
    assert_rejected(
        &short,
        &st,
        "the last operation dropped, the full batch's root claimed",
    );
}

/// A sibling changed on a walk row where both chains walk, in both chains' registers and in both
/// lanes' hash inputs, and both hashes recomputed: the row is consistent in itself, and only the
/// link from its hashes to the next level breaks.
#[test]
fn changed_sibling_is_rejected() {
    let (_, _, t) = batch();
    let row = (0..t.rows)
        .find(|&r| {
            let c = &t.cells[r * W..(r + 1) * W];
            c[layout::F_WALK] == F::ONE && c[layout::ACT_O] == F::ONE && c[layout::ACT_N] == F::ONE
        })
        .expect("a walk row of both chains");
    let mut cells = t.cells.clone();
    let c = &mut cells[row * W..(row + 1) * W];
    let bit = c[layout::BIT] == F::ONE;
    for (lane, cur, sib) in [
        (layout::LANE0, layout::CUR_O, layout::SIB_O),
        (layout::LANE1, layout::CUR_N, layout::SIB_N),
    ] {
        c[sib] += F::ONE;
        let mut input = [F::ZERO; 12];
        let (left, right) = if bit { (sib, cur) } else { (cur, sib) };
        input[..4].copy_from_slice(&c[left..left + 4]);
        input[4..8].copy_from_slice(&c[right..right + 4]);
        fill_lane(c, lane, input);
    }
    let forged = common::with_cells(&t, cells);
    let st = common::statement_of(&t);
    let err = batch::check_table(&forged, &st).expect_err("the forged table checks");
    eprintln!("changed sibling: the table check says {err}");
    assert_rejected(&forged, &st, "a changed sibling, hashes recomputed");

    // And simply changed, hashes left as they were.
    let mut cells = t.cells.clone();
    cells[row * W + layout::SIB_O + 1] += F::ONE;
    assert_rejected(
        &common::with_cells(&t, cells),
        &st,
        "a changed sibling register",
    );
}

#[test]
fn flipped_key_bit_is_rejected() {
    let (_, _, t) = batch();
    let row = rows_where(&t, layout::F_RANGE).nth(1).expect("range rows");
    let mut cells = t.cells.clone();
    let cell = &mut cells[row * W + layout::R_BITS + 5];
    *cell = F::ONE - *cell;
    assert_rejected(
        &common::with_cells(&t, cells),
        &common::statement_of(&t),
        "a key bit flipped on a range row",
    );
}

/// A flipped byte anywhere in the middle third of a serialized proof makes it fail to
/// deserialize or fail to verify; neither panics.
#[test]
fn flipped_proof_byte_is_rejected() {
    let (root, ops, _) = batch();
    let (proof, _) = batch::prove_ops(&root, &ops, [11, 12, 13, 14], 42).expect("prove");
    let bytes = bincode::serialize(&proof).expect("serialize");
    let back: batch::Proof = bincode::deserialize(&bytes).expect("deserialize");
    batch::verify(&back).expect("the round trip verifies");

    let n = bytes.len();
    let (mut malformed, mut rejected, mut panicked) = (0, 0, Vec::new());
    for at in (0..64).map(|i| n / 3 + i * (n / 3) / 64).chain([n / 2]) {
        let mut b = bytes.clone();
        b[at] ^= 0x5a;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match bincode::deserialize::<batch::Proof>(&b) {
                Err(_) => "malformed",
                Ok(p) if batch::verify(&p).is_ok() => "verifies",
                Ok(_) => "rejected",
            }
        }));
        match outcome {
            Err(_) => panicked.push(at),
            Ok("verifies") => panic!("a flipped byte at {at} of {n} still verifies"),
            Ok("malformed") => malformed += 1,
            Ok(_) => rejected += 1,
        }
    }
    eprintln!("{n} proof bytes: {malformed} flips malformed, {rejected} rejected by the verifier");
    assert!(
        panicked.is_empty(),
        "flipped bytes at {panicked:?} of {n} made deserializing or verifying panic"
    );
}

/// Proofs of the wrong shape are refused. One is not refused but panics inside starky 1.1:
/// without query rounds, `StarkProof::recover_degree_bits` (called before the shape is checked)
/// indexes the first round. A single flipped byte does not produce it (zeroing the round count
/// leaves the rest unparseable), but a crafted proof does; `batch::verify` would have to refuse
/// it before starky sees it.
#[test]
fn malformed_shapes_are_rejected() {
    let (root, ops, _) = batch();
    let (proof, _) = batch::prove_ops(&root, &ops, [11, 12, 13, 14], 42).expect("prove");
    type Edit = fn(&mut batch::Proof);
    let cases: [(&str, Edit); 7] = [
        ("no quotient cap", |p| p.proof.quotient_polys_cap = None),
        ("a short Merkle path", |p| {
            p.proof.opening_proof.query_round_proofs[0]
                .initial_trees_proof
                .evals_proofs[0]
                .1
                .siblings
                .truncate(1)
        }),
        ("an empty leaf", |p| {
            p.proof.opening_proof.query_round_proofs[0]
                .initial_trees_proof
                .evals_proofs[0]
                .0
                .clear()
        }),
        ("no final polynomial", |p| {
            p.proof.opening_proof.final_poly.coeffs.clear()
        }),
        ("no FRI commitments", |p| {
            p.proof.opening_proof.commit_phase_merkle_caps.clear()
        }),
        ("one opening missing", |p| {
            p.proof.openings.local_values.pop();
        }),
        ("a public input missing", |p| {
            p.public_inputs.pop();
        }),
    ];
    for (what, edit) in cases {
        let mut p = proof.clone();
        edit(&mut p);
        let e = batch::verify(&p).expect_err(what);
        assert!(e.is_prover_fault(), "{what}: {e}");
    }

    let mut p = proof.clone();
    p.proof.opening_proof.query_round_proofs.clear();
    // starky's verifier would index the first round before checking; `batch::verify` refuses
    // the shape first.
    let e = batch::verify(&p).expect_err("a proof without query rounds verified");
    assert!(e.to_string().contains("FRI query rounds"), "{e}");
    assert!(
        matches!(
            e,
            ProofError::QueryRounds {
                expected: 28,
                got: 0
            }
        ),
        "{e:?}"
    );
    let mut p = proof.clone();
    p.proof.opening_proof.query_round_proofs.truncate(1);
    assert!(
        batch::verify(&p).is_err(),
        "a proof with one query round verified"
    );
}
