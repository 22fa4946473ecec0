//! Verifying wrap, aggregate and final proofs against the circuits of this set.

use plonky2::plonk::circuit_data::VerifierCircuitData;

use super::build::{vd_elements, Plonky2Proof};
use super::{Circuits, FinalProof, FinalStatement, Kind, RangeStatement, RecursiveProof};
use super::{RecursionError, FINAL_FIELDS, RANGE_FIELDS};
use crate::batch::{C, D, F};

impl Circuits {
    /// Verifies a wrap or aggregate proof and returns its statement.
    pub fn verify(&self, p: &RecursiveProof) -> Result<RangeStatement, RecursionError> {
        let (vd, _) = self.leaf(p.kind)?;
        let what = match p.kind {
            Kind::Aggregate => "aggregate proof",
            Kind::Wrap(_) => "wrap proof",
        };
        if p.proof.public_inputs.len() != self.shape.num_public_inputs {
            return Err(RecursionError::PublicInputs {
                what,
                expected: self.shape.num_public_inputs,
                got: p.proof.public_inputs.len(),
            });
        }
        if p.kind == Kind::Aggregate {
            // The verifier data it checked its children against must be this circuit's.
            let cap: Vec<[F; 4]> = vd
                .constants_sigmas_cap
                .0
                .iter()
                .map(|h| h.elements)
                .collect();
            let own = vd_elements(&vd.circuit_digest.elements, &cap);
            if p.proof.public_inputs[RANGE_FIELDS..] != own[..] {
                return Err(RecursionError::Invalid {
                    what,
                    reason: "it names other verifier data than this aggregate circuit's".into(),
                });
            }
        }
        let data = VerifierCircuitData {
            verifier_only: vd.clone(),
            common: self.shape.clone(),
        };
        verify_guarded(&data, &p.proof, what)?;
        RangeStatement::from_fields(&p.proof.public_inputs)
    }

    /// Verifies a final proof and returns its statement.
    pub fn verify_final(&self, p: &FinalProof) -> Result<FinalStatement, RecursionError> {
        if p.proof.public_inputs.len() != FINAL_FIELDS {
            return Err(RecursionError::PublicInputs {
                what: "final proof",
                expected: FINAL_FIELDS,
                got: p.proof.public_inputs.len(),
            });
        }
        verify_guarded(&self.fin.data.verifier_data(), &p.proof, "final proof")?;
        FinalStatement::from_fields(&p.proof.public_inputs)
    }

    /// The final circuit's verifier data: what a settlement verifier needs.
    pub fn final_verifier_data(&self) -> VerifierCircuitData<F, C, D> {
        self.fin.data.verifier_data()
    }
}

/// plonky2's verifier, with a proof it cannot read (it indexes before it checks shapes) an
/// error instead of a panic. `what` names the proof: "wrap proof", "final proof", …
pub(super) fn verify_guarded(
    data: &VerifierCircuitData<F, C, D>,
    p: &Plonky2Proof,
    what: &'static str,
) -> Result<(), RecursionError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| data.verify(p.clone()))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(RecursionError::Invalid {
            what,
            reason: format!("{e:#}"),
        }),
        Err(_) => Err(RecursionError::Malformed {
            what,
            reason: "the verifier could not read it".into(),
        }),
    }
}
