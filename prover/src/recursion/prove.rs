//! Proving with the recursion circuits: wrapping a batch proof, aggregating two proofs, and
//! the final proof. Every input is verified before anything is proved, and what a proof states
//! is checked against what it should state.

use plonky2::field::types::Field;
use plonky2::iop::target::Target;
use plonky2::iop::witness::{PartialWitness, WitnessWrite};
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::circuit_data::VerifierOnlyCircuitData;
use starky::recursive_verifier::set_stark_proof_with_pis_target;

use super::build::{circuit_config, pad_to, ChildTargets, Data, Plonky2Proof, Vd};
use super::error::internal;
use super::verify::verify_guarded;
use super::{
    address_limbs, Circuits, FinalProof, FinalStatement, Input, Kind, RangeStatement,
    RecursionError, RecursiveProof, DIRECT_WRAP_MAX_BITS, RANGE_FIELDS,
};
use crate::batch::{self, BatchProof, C, D, F};

impl Circuits {
    /// Wraps a batch proof, with the batch accumulator before it. The batch proof is verified
    /// first; a proof that does not verify is refused.
    pub fn wrap(
        &self,
        proof: &BatchProof,
        acc_old: [u64; 4],
    ) -> Result<RecursiveProof, RecursionError> {
        let statement = proof.verify().map_err(RecursionError::Batch)?;
        let expected = RangeStatement::of_batch(&statement, acc_old)?;
        let bits = proof
            .proof
            .proof
            .recover_degree_bits(&batch::stark_config());
        let w = self.wrap_circuit(bits)?;
        let mut pw = PartialWitness::new();
        set_stark_proof_with_pis_target(
            &mut pw,
            &w.targets.stark,
            &proof.proof,
            bits,
            w.targets.zero,
        )
        .map_err(internal)?;
        for (t, &x) in w.targets.acc_old.iter().zip(&acc_old) {
            pw.set_target(*t, F::from_canonical_u64(x))
                .map_err(internal)?;
        }
        let mut out = prove_guarded(&w.data, pw, "wrap")?;
        if bits > DIRECT_WRAP_MAX_BITS {
            let r = self.rewrap_circuit()?;
            let mut pw = PartialWitness::new();
            let index = bits - DIRECT_WRAP_MAX_BITS - 1;
            set_child_as(&mut pw, &r.child, &out, &w.data.verifier_only, index)?;
            out = prove_guarded(&r.data, pw, "rewrap")?;
        }
        let got = RangeStatement::from_fields(&out.public_inputs)?;
        if got != expected {
            return Err(RecursionError::WrongOutput {
                what: "wrap proof",
                expected: Box::new(expected),
                got: Box::new(got),
            });
        }
        Ok(RecursiveProof {
            kind: Kind::Wrap(bits),
            proof: out,
        })
    }

    fn set_child(
        &self,
        pw: &mut PartialWitness<F>,
        t: &ChildTargets,
        p: &RecursiveProof,
    ) -> Result<(), RecursionError> {
        let (vd, index) = self.leaf(p.kind)?;
        set_child_as(pw, t, &p.proof, vd, index)
    }

    /// Aggregates two proofs of adjacent ranges into one. Both are verified first, and must
    /// chain.
    pub fn aggregate(
        &self,
        left: &RecursiveProof,
        right: &RecursiveProof,
    ) -> Result<RecursiveProof, RecursionError> {
        let l = self.verify(left).map_err(|e| e.about(Input::Left))?;
        let r = self.verify(right).map_err(|e| e.about(Input::Right))?;
        let expected = l.then(&r)?;
        let out = self.prove_aggregate(left, right)?;
        let got = out.statement()?;
        if got != expected {
            return Err(RecursionError::WrongOutput {
                what: "aggregate proof",
                expected: Box::new(expected),
                got: Box::new(got),
            });
        }
        Ok(out)
    }

    /// The aggregate circuit's prover, without the checks [`Circuits::aggregate`] makes first:
    /// for tests that show the circuit itself refuses what those checks refuse.
    #[doc(hidden)]
    pub fn prove_aggregate(
        &self,
        left: &RecursiveProof,
        right: &RecursiveProof,
    ) -> Result<RecursiveProof, RecursionError> {
        let (vd, _) = self.leaf(right.kind)?;
        self.prove_aggregate_with(left, &right.proof, vd, right.kind)
    }

    /// For soundness tests: a proof of the recursion shape, from a circuit outside the allowed
    /// set that states `statement` and checks nothing, with that circuit's verifier data. The
    /// proof verifies against its own circuit (checked here), so a recursive verifier that
    /// refuses it does so only because of whose proof it is.
    #[doc(hidden)]
    pub fn foreign_proof(
        &self,
        statement: &RangeStatement,
    ) -> Result<(Plonky2Proof, VerifierOnlyCircuitData<C, D>), RecursionError> {
        let mut b = CircuitBuilder::<F, D>::new(circuit_config());
        let claimed: Vec<Target> = (0..RANGE_FIELDS).map(|_| b.add_virtual_target()).collect();
        b.register_public_inputs(&claimed);
        pad_to(&mut b, &self.shape)?;
        let data = b.build::<C>();
        if data.common != self.shape {
            return Err(RecursionError::Circuit(
                "the foreign circuit does not have the recursion shape".into(),
            ));
        }
        let mut pw = PartialWitness::new();
        for (t, v) in claimed.iter().zip(statement.to_fields()) {
            pw.set_target(*t, v).map_err(internal)?;
        }
        let proof = prove_guarded(&data, pw, "foreign")?;
        verify_guarded(&data.verifier_data(), &proof, "foreign proof")?;
        Ok((proof, data.verifier_only))
    }

    /// The verifier data a proof of `kind` is checked against.
    #[doc(hidden)]
    pub fn verifier_data_of(
        &self,
        kind: Kind,
    ) -> Result<VerifierOnlyCircuitData<C, D>, RecursionError> {
        Ok(self.leaf(kind)?.0.clone())
    }

    /// The aggregate circuit's prover on `left` and a right child given with its verifier data
    /// and claimed kind, without any check first: [`Circuits::prove_aggregate`] with the right
    /// child's verifier data its kind's, and soundness tests with a foreign one.
    #[doc(hidden)]
    pub fn prove_aggregate_with(
        &self,
        left: &RecursiveProof,
        right: &Plonky2Proof,
        right_vd: &VerifierOnlyCircuitData<C, D>,
        right_kind: Kind,
    ) -> Result<RecursiveProof, RecursionError> {
        let a = &self.aggregate;
        let (_, index) = self.leaf(right_kind)?;
        let mut pw = PartialWitness::new();
        self.set_child(&mut pw, &a.targets.children[0], left)?;
        set_child_as(&mut pw, &a.targets.children[1], right, right_vd, index)?;
        pw.set_verifier_data_target(&a.targets.self_vd, &a.data.verifier_only)
            .map_err(internal)?;
        let out = prove_guarded(&a.data, pw, "aggregate")?;
        Ok(RecursiveProof {
            kind: Kind::Aggregate,
            proof: out,
        })
    }

    /// The final proof of a wrap or aggregate, bound to the aggregator's address.
    pub fn finalize(
        &self,
        p: &RecursiveProof,
        aggregator: [u8; 20],
    ) -> Result<FinalProof, RecursionError> {
        let range = self.verify(p).map_err(|e| e.about(Input::ToFinalize))?;
        let f = &self.fin;
        let mut pw = PartialWitness::new();
        self.set_child(&mut pw, &f.targets.child, p)?;
        for (t, x) in f.targets.aggregator.iter().zip(address_limbs(&aggregator)) {
            pw.set_target(*t, F::from_canonical_u64(x))
                .map_err(internal)?;
        }
        let out = prove_guarded(&f.data, pw, "final")?;
        let expected = FinalStatement { range, aggregator };
        let got = FinalStatement::from_fields(&out.public_inputs)?;
        if got != expected {
            return Err(RecursionError::WrongFinalOutput {
                expected: Box::new(expected),
                got: Box::new(got),
            });
        }
        Ok(FinalProof { proof: out })
    }
}

/// Sets a child's proof, verifier data and one-hot kind selector.
fn set_child_as(
    pw: &mut PartialWitness<F>,
    t: &ChildTargets,
    proof: &Plonky2Proof,
    vd: &Vd,
    index: usize,
) -> Result<(), RecursionError> {
    pw.set_proof_with_pis_target(&t.proof, proof)
        .map_err(internal)?;
    pw.set_verifier_data_target(&t.vd, vd).map_err(internal)?;
    for (i, s) in t.select.iter().enumerate() {
        pw.set_bool_target(*s, i == index).map_err(internal)?;
    }
    Ok(())
}

/// plonky2's prover panics on a witness that breaks a constraint it checks while generating; a
/// refused witness is an error here.
fn prove_guarded(
    data: &Data,
    pw: PartialWitness<F>,
    circuit: &'static str,
) -> Result<Plonky2Proof, RecursionError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| data.prove(pw))) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(RecursionError::Refused {
            circuit,
            reason: format!("{e:#}"),
        }),
        Err(_) => Err(RecursionError::Refused {
            circuit,
            reason: "a constraint does not hold".into(),
        }),
    }
}
