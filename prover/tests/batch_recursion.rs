//! A batch STARK proof wrapped in a plonky2 proof by starky's recursive verifier: the wrap
//! proves and verifies, carries the STARK's public inputs as its own, and a tampered STARK proof
//! cannot be wrapped.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use plonky2::field::types::Field;
use plonky2::iop::target::Target;
use plonky2::iop::witness::PartialWitness;
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::circuit_data::{CircuitConfig, CircuitData};
use starky::proof::StarkProofWithPublicInputsTarget;
use starky::recursive_verifier::{
    add_virtual_stark_proof_with_pis, set_stark_proof_with_pis_target, verify_stark_proof_circuit,
};
use zknode_prover::batch::{self, layout, BatchStark, C, D, F};

struct Wrap {
    data: CircuitData<F, C, D>,
    target: StarkProofWithPublicInputsTarget<D>,
    zero: Target,
    degree_bits: usize,
}

/// The circuit that verifies a batch proof of `2^degree_bits` rows and exposes its public
/// inputs as the circuit's.
fn wrap_circuit(degree_bits: usize) -> (Wrap, usize) {
    let config = batch::stark_config();
    let mut b = CircuitBuilder::<F, D>::new(CircuitConfig::standard_recursion_config());
    let target = add_virtual_stark_proof_with_pis(&mut b, &BatchStark, &config, degree_bits, 0, 0);
    b.register_public_inputs(&target.public_inputs);
    verify_stark_proof_circuit::<F, C, BatchStark, D>(
        &mut b,
        BatchStark,
        target.clone(),
        &config,
        None,
    );
    let zero = b.zero();
    let gates = b.num_gates();
    let data = b.build::<C>();
    (
        Wrap {
            data,
            target,
            zero,
            degree_bits,
        },
        gates,
    )
}

fn wrap(
    w: &Wrap,
    proof: &batch::Proof,
) -> anyhow::Result<plonky2::plonk::proof::ProofWithPublicInputs<F, C, D>> {
    let mut pw = PartialWitness::new();
    set_stark_proof_with_pis_target(&mut pw, &w.target, proof, w.degree_bits, w.zero)?;
    w.data.prove(pw)
}

#[test]
fn batch_proof_wraps_in_plonky2() {
    let (root, ops) = common::scenario(5, 8, 4);
    let (proof, timings) = batch::prove_ops(&root, &ops, [11, 12, 13, 14], 42).expect("prove");
    batch::verify(&proof).expect("the STARK proof verifies");
    let degree_bits = proof.proof.recover_degree_bits(&batch::stark_config());
    assert_eq!(1 << degree_bits, timings.rows);

    let t = Instant::now();
    let (w, gates) = wrap_circuit(degree_bits);
    let build = t.elapsed();
    let t = Instant::now();
    let outer = wrap(&w, &proof).expect("the wrap proves");
    let prove = t.elapsed();
    let t = Instant::now();
    w.data.verify(outer.clone()).expect("the wrap verifies");
    let verify = t.elapsed();
    eprintln!(
        "STARK of 2^{degree_bits} rows; wrap circuit: {gates} gates, degree_bits {}; \
         build {build:.2?}, prove {prove:.2?}, verify {verify:.2?}",
        w.data.common.degree_bits()
    );
    assert_eq!(outer.public_inputs, proof.public_inputs);

    // A STARK proof of another statement: the witness cannot satisfy the circuit.
    let mut forged = proof.clone();
    forged.public_inputs[layout::PI_NEW_ROOT] += F::ONE;
    assert!(batch::verify(&forged).is_err());
    let outcome = catch_unwind(AssertUnwindSafe(|| wrap(&w, &forged)));
    match outcome {
        Ok(Ok(_)) => panic!("a tampered STARK proof was wrapped"),
        Ok(Err(e)) => eprintln!("tampered proof: plonky2 refused ({e})"),
        Err(_) => eprintln!("tampered proof: plonky2's prover panicked"),
    }
}
