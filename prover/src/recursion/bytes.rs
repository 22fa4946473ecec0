//! The proofs the recursion circuits make, and their byte formats.

use plonky2::plonk::proof::ProofWithPublicInputs;

use super::build::{Common, Plonky2Proof};
use super::{Circuits, FinalStatement, RangeStatement, RecursionError};
use crate::batch::{C, D, F};

impl Circuits {
    /// Reads a wrap or aggregate proof from its bytes (see [`RecursiveProof::to_bytes`]).
    pub fn read_recursive(&self, b: &[u8]) -> Result<RecursiveProof, RecursionError> {
        let what = "recursive proof";
        let rest = crate::envelope::open(b, RECURSIVE_MAGIC, what, FORMAT_VERSION)?;
        let (&tag, body) = rest.split_first().ok_or(RecursionError::Malformed {
            what,
            reason: "it is empty".into(),
        })?;
        let kind = match tag {
            0 => Kind::Aggregate,
            bits => {
                // A kind no circuit exists for: the bytes are wrong, whatever they say.
                Self::check_bits(bits as usize).map_err(|e| RecursionError::Malformed {
                    what,
                    reason: e.to_string(),
                })?;
                Kind::Wrap(bits as usize)
            }
        };
        let proof = read_guarded(body, &self.shape, "recursive proof")?;
        Ok(RecursiveProof { kind, proof })
    }

    /// Reads a final proof from its bytes (see [`FinalProof::to_bytes`]).
    pub fn read_final(&self, b: &[u8]) -> Result<FinalProof, RecursionError> {
        let body = crate::envelope::open(b, FINAL_MAGIC, "final proof", FORMAT_VERSION)?;
        let proof = read_guarded(body, &self.fin.data.common, "final proof")?;
        Ok(FinalProof { proof })
    }
}

/// plonky2's proof decoder, with bytes it cannot read (it may index past them) an error instead
/// of a panic.
fn read_guarded(
    b: &[u8],
    common: &Common,
    what: &'static str,
) -> Result<Plonky2Proof, RecursionError> {
    let bytes = b.to_vec();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ProofWithPublicInputs::<F, C, D>::from_bytes(bytes, common)
    })) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(RecursionError::Malformed {
            what,
            reason: e.to_string(),
        }),
        Err(_) => Err(RecursionError::Malformed {
            what,
            reason: "the decoder could not read it".into(),
        }),
    }
}

const RECURSIVE_MAGIC: &[u8; 4] = b"ZKRP";
const FINAL_MAGIC: &[u8; 4] = b"ZKFP";
const FORMAT_VERSION: u32 = 1;

/// Which circuit a recursive proof is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A wrap of a batch STARK of `2^bits` rows.
    Wrap(usize),
    Aggregate,
}

/// A wrap or aggregate proof.
#[derive(Clone, Debug)]
pub struct RecursiveProof {
    pub kind: Kind,
    pub proof: Plonky2Proof,
}

impl RecursiveProof {
    /// Magic `ZKRP`, format version, the kind (0 for aggregate, else the wrapped STARK's degree
    /// bits), then plonky2's proof bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = crate::envelope::seal(RECURSIVE_MAGIC, FORMAT_VERSION);
        out.push(match self.kind {
            Kind::Aggregate => 0,
            Kind::Wrap(bits) => bits as u8,
        });
        out.extend(self.proof.to_bytes());
        out
    }

    /// The statement in its public inputs, unverified.
    pub fn statement(&self) -> Result<RangeStatement, RecursionError> {
        RangeStatement::from_fields(&self.proof.public_inputs)
    }
}

/// A final proof: what the settlement step sends to L1.
#[derive(Clone, Debug)]
pub struct FinalProof {
    pub proof: Plonky2Proof,
}

impl FinalProof {
    /// Magic `ZKFP`, format version, then plonky2's proof bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = crate::envelope::seal(FINAL_MAGIC, FORMAT_VERSION);
        out.extend(self.proof.to_bytes());
        out
    }

    /// The statement in its public inputs, unverified.
    pub fn statement(&self) -> Result<FinalStatement, RecursionError> {
        FinalStatement::from_fields(&self.proof.public_inputs)
    }
}
