//! Recursive aggregation: batch proofs of consecutive batches are wrapped, aggregated (a wrap
//! with a wrap, then an aggregate with a wrap) and finalized; every proof verifies and states
//! the range, roots and accumulators of the batches it covers. Proofs that do not chain cannot
//! be aggregated, not even by a prover that skips the checks, and tampered proofs are refused.
//!
//! The circuits are cached under the target directory; the first run builds them (about a
//! minute on two cores), later runs load them.

use std::path::PathBuf;
use std::time::Instant;

use plonky2::field::types::Field;
use zknode_prover::batch::{self, BatchProof, Committer, Statement, F};
use zknode_prover::recursion::{
    self, acc_over, Circuits, FinalStatement, Input, RangeStatement, RecursionError,
};
use zknode_witness::random_batches;

fn circuits() -> Circuits {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("circuits");
    let t = Instant::now();
    let c = recursion::load_or_build(Some(&dir), &mut |step| eprintln!("recursion: {step}"))
        .expect("the recursion circuits build");
    eprintln!(
        "circuits ready in {:.2?}; aggregate circuit 2^{} rows",
        t.elapsed(),
        c.aggregate_degree_bits()
    );
    c
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    eprintln!("{what}: {:.2?}", t.elapsed());
    out
}

#[test]
fn batches_wrap_aggregate_and_finalize() {
    let c = circuits();
    // The last batch is large enough that its wrap goes through the rewrap circuit.
    let witnesses = random_batches(&[3, 3, 500], 21);
    let proofs: Vec<(BatchProof, Statement)> = witnesses
        .iter()
        .map(|w| {
            let (p, _) = batch::prove_witness(w, Committer::Plonky2).expect("batch proof");
            let s = p.verify().expect("batch proof verifies");
            (p, s)
        })
        .collect();
    let statements: Vec<Statement> = proofs.iter().map(|(_, s)| *s).collect();

    // Wrap each with the accumulator before it.
    let mut acc = [0u64; 4];
    let mut wraps = Vec::new();
    for (p, s) in &proofs {
        let w = timed("wrap", || c.wrap(p, acc)).expect("wrap");
        let st = c.verify(&w).expect("the wrap verifies");
        assert_eq!(st, RangeStatement::of_batch(s, acc).unwrap());
        acc = st.acc_new;
        wraps.push(w);
    }
    match wraps[2].kind {
        recursion::Kind::Wrap(bits) => assert!(bits > recursion::DIRECT_WRAP_MAX_BITS),
        k => panic!("{k:?}"),
    }

    // Wrap + wrap, then aggregate + wrap: the one aggregate circuit takes both kinds.
    let a01 = timed("aggregate", || c.aggregate(&wraps[0], &wraps[1])).expect("aggregate");
    let a012 = timed("aggregate", || c.aggregate(&a01, &wraps[2])).expect("aggregate");
    let st = c.verify(&a012).expect("the aggregate verifies");
    assert_eq!(st.first_batch, 1);
    assert_eq!(st.last_batch, 3);
    assert_eq!(st.old_root, statements[0].old_root.raw());
    assert_eq!(st.new_root, statements[2].new_root.raw());
    assert_eq!(st.acc_old, [0; 4]);
    assert_eq!(st.acc_new, acc_over([0; 4], &statements));

    // The other tree shape states the same range and accumulator.
    let a12 = c.aggregate(&wraps[1], &wraps[2]).expect("aggregate");
    let other = c.aggregate(&wraps[0], &a12).expect("aggregate");
    assert_eq!(c.verify(&other).unwrap(), st);

    let aggregator = [0xabu8; 20];
    let fin = timed("final", || c.finalize(&a012, aggregator)).expect("final");
    let fs = c.verify_final(&fin).expect("the final proof verifies");
    assert_eq!(
        fs,
        FinalStatement {
            range: st,
            aggregator
        }
    );
    // A single batch can be finalized too.
    let one = c.finalize(&wraps[0], aggregator).expect("final of a wrap");
    assert_eq!(c.verify_final(&one).unwrap().range.last_batch, 1);

    // Bytes round trip.
    let b = a012.to_bytes();
    assert_eq!(c.verify(&c.read_recursive(&b).unwrap()).unwrap(), st);
    let fb = fin.to_bytes();
    assert_eq!(c.verify_final(&c.read_final(&fb).unwrap()).unwrap(), fs);
    eprintln!(
        "sizes: wrap {} B, aggregate {} B, final {} B",
        wraps[0].to_bytes().len(),
        b.len(),
        fb.len()
    );

    // Not adjacent, out of order, or not chaining: refused before proving...
    let refused_unchained = |r: Result<recursion::RecursiveProof, RecursionError>| {
        let e = r.expect_err("an aggregate of proofs that do not chain");
        assert!(e.is_prover_fault() && !e.is_internal(), "{e}");
        e
    };
    let e = refused_unchained(c.aggregate(&wraps[0], &wraps[2]));
    assert!(
        matches!(&e, RecursionError::NotAdjacent { left, right } if *left == (1..=1) && *right == (3..=3)),
        "{e}"
    );
    assert_eq!(e.to_string(), "batches 1..=1 and 3..=3 are not adjacent");
    let e = refused_unchained(c.aggregate(&wraps[1], &wraps[0]));
    assert!(matches!(e, RecursionError::NotAdjacent { .. }), "{e}");
    // ...and by the circuit itself when a prover skips the checks.
    let refused_by_circuit = |r: Result<recursion::RecursiveProof, RecursionError>| {
        let e = r.expect_err("the aggregate circuit proved proofs that do not chain");
        assert!(
            matches!(
                e,
                RecursionError::Refused {
                    circuit: "aggregate",
                    ..
                }
            ),
            "{e}"
        );
    };
    refused_by_circuit(c.prove_aggregate(&wraps[0], &wraps[2]));
    refused_by_circuit(c.prove_aggregate(&wraps[1], &wraps[0]));
    // A wrap that starts from another accumulator does not chain either.
    let stray = c.wrap(&proofs[1].0, [1, 2, 3, 4]).expect("wrap");
    let e = refused_unchained(c.aggregate(&wraps[0], &stray));
    assert!(
        matches!(
            &e,
            RecursionError::AccumulatorMismatch { left_last: 1, right_first: 2, expected, got }
                if *expected == wraps[0].statement().unwrap().acc_new && *got == [1, 2, 3, 4]
        ),
        "{e}"
    );
    refused_by_circuit(c.prove_aggregate(&wraps[0], &stray));

    // A child from a circuit outside the allowed set: it states a batch that chains with
    // wraps[0] and ends at a root of its choosing, and verifies against its own circuit. The
    // aggregate circuit refuses it whichever kind it is presented as, and so does `verify`.
    let l = c.verify(&wraps[0]).expect("verifies");
    let claim = RangeStatement {
        first_batch: l.last_batch + 1,
        last_batch: l.last_batch + 1,
        old_root: l.new_root,
        new_root: [7, 7, 7, 7],
        acc_old: l.acc_new,
        acc_new: [8, 8, 8, 8],
    };
    let (foreign, foreign_vd) = c.foreign_proof(&claim).expect("the foreign circuit proves");
    for kind in [
        recursion::Kind::Wrap(recursion::MIN_STARK_BITS),
        recursion::Kind::Wrap(recursion::MAX_STARK_BITS),
        recursion::Kind::Aggregate,
    ] {
        let e = c
            .prove_aggregate_with(&wraps[0], &foreign, &foreign_vd, kind)
            .expect_err("an aggregate over a foreign child");
        eprintln!("foreign child as {kind:?}: {e}");
        let as_ours = recursion::RecursiveProof {
            kind,
            proof: foreign.clone(),
        };
        let e = c
            .verify(&as_ours)
            .expect_err(&format!("a foreign proof verified as {kind:?}"));
        assert!(e.is_prover_fault(), "{e}");
    }
    // The same call with an allowed child proves: the refusal above is the verifier data's.
    let vd = c.verifier_data_of(wraps[1].kind).expect("a known kind");
    c.prove_aggregate_with(&wraps[0], &wraps[1].proof, &vd, wraps[1].kind)
        .expect("an allowed child aggregates");

    // Tampered public inputs: the proof no longer verifies.
    let invalid = |r: Result<_, RecursionError>| {
        let e = r.expect_err("a tampered proof verified");
        assert!(e.is_invalid() && e.is_prover_fault(), "{e}");
    };
    let mut t = a012.clone();
    t.proof.public_inputs[1] += F::ONE;
    invalid(c.verify(&t));
    let mut t = fin.clone();
    t.proof.public_inputs[20] += F::ONE;
    let e = c
        .verify_final(&t)
        .expect_err("a tampered final proof verified");
    assert!(e.is_invalid(), "{e}");
    let mut t = wraps[0].clone();
    t.proof.public_inputs[6] += F::ONE;
    invalid(c.verify(&t));
    // An aggregate that names other verifier data for itself is refused.
    let mut t = a012.clone();
    t.proof.public_inputs[recursion::RANGE_FIELDS] += F::ONE;
    invalid(c.verify(&t));
    // A wrap presented as an aggregate (and the other way round) is refused.
    let mut t = wraps[0].clone();
    t.kind = recursion::Kind::Aggregate;
    invalid(c.verify(&t));
    // Aggregating or finalizing a proof that does not verify names the input at fault.
    let e = c
        .aggregate(&wraps[0], &t)
        .expect_err("an aggregate over an invalid right proof");
    assert_eq!(e.input(), Some(Input::Right), "{e}");
    assert!(e.is_invalid(), "{e}");
    assert!(e.to_string().starts_with("the right proof: "), "{e}");
    let e = c
        .finalize(&t, aggregator)
        .expect_err("a final proof of an invalid proof");
    assert_eq!(e.input(), Some(Input::ToFinalize), "{e}");

    // Malformed bytes: errors, never a panic.
    for bad in [
        Vec::new(),
        b"ZKRP".to_vec(),
        b[..b.len() / 2].to_vec(),
        b"ZKBP\x01\0\0\0".to_vec(),
    ] {
        let e = c.read_recursive(&bad).expect_err("malformed bytes read");
        assert!(e.is_malformed(), "{e}");
    }
    let mut flipped = b.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    if let Ok(p) = c.read_recursive(&flipped) {
        assert!(c.verify(&p).is_err(), "a flipped byte must not verify");
    }
    let mut flipped = fb.clone();
    flipped[40] ^= 0x10;
    if let Ok(p) = c.read_final(&flipped) {
        assert!(
            c.verify_final(&p).is_err(),
            "a flipped byte must not verify"
        );
    }
    let e = c
        .read_final(&b)
        .expect_err("a recursive proof is not a final proof");
    assert!(e.to_string().contains("not a zkNode final proof"), "{e}");
}
