//! Verifying wrap, aggregate and final proofs against the circuits of this set.

use anyhow::{anyhow, bail, ensure, Result};
use plonky2::plonk::circuit_data::VerifierCircuitData;

use super::build::{vd_elements, Plonky2Proof};
use super::{Circuits, FinalProof, FinalStatement, Kind, RangeStatement, RecursiveProof};
use super::{FINAL_FIELDS, RANGE_FIELDS};
use crate::batch::{C, D, F};

impl Circuits {
    /// Verifies a wrap or aggregate proof and returns its statement.
    pub fn verify(&self, p: &RecursiveProof) -> Result<RangeStatement> {
        let (vd, _) = self.leaf(p.kind)?;
        let what = match p.kind {
            Kind::Aggregate => "aggregate",
            Kind::Wrap(_) => "wrap",
        };
        ensure!(
            p.proof.public_inputs.len() == self.shape.num_public_inputs,
            "the {what} proof has {} public inputs, not {}",
            p.proof.public_inputs.len(),
            self.shape.num_public_inputs
        );
        if p.kind == Kind::Aggregate {
            // The verifier data it checked its children against must be this circuit's.
            let cap: Vec<[F; 4]> = vd
                .constants_sigmas_cap
                .0
                .iter()
                .map(|h| h.elements)
                .collect();
            let own = vd_elements(&vd.circuit_digest.elements, &cap);
            ensure!(
                p.proof.public_inputs[RANGE_FIELDS..] == own[..],
                "the aggregate proof names other verifier data than this aggregate circuit's"
            );
        }
        let data = VerifierCircuitData {
            verifier_only: vd.clone(),
            common: self.shape.clone(),
        };
        verify_guarded(&data, &p.proof, what)?;
        RangeStatement::from_fields(&p.proof.public_inputs)
    }

    /// Verifies a final proof and returns its statement.
    pub fn verify_final(&self, p: &FinalProof) -> Result<FinalStatement> {
        ensure!(
            p.proof.public_inputs.len() == FINAL_FIELDS,
            "the final proof has {} public inputs, not {FINAL_FIELDS}",
            p.proof.public_inputs.len()
        );
        verify_guarded(&self.fin.data.verifier_data(), &p.proof, "final")?;
        FinalStatement::from_fields(&p.proof.public_inputs)
    }

    /// The final circuit's verifier data: what a settlement verifier needs.
    pub fn final_verifier_data(&self) -> VerifierCircuitData<F, C, D> {
        self.fin.data.verifier_data()
    }
}

pub(super) fn verify_guarded(
    data: &VerifierCircuitData<F, C, D>,
    p: &Plonky2Proof,
    what: &str,
) -> Result<()> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| data.verify(p.clone()))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow!("the {what} proof does not verify: {e}")),
        Err(_) => bail!("the {what} proof is malformed (the verifier could not read it)"),
    }
}
