//! Errors of the batch STARK: reading, verifying and proving a batch proof.

use super::{Statement, TraceError};
use crate::envelope::EnvelopeError;

// Each message is complete by itself (it includes the text of what caused it), so no inner
// error is marked as a `source`: that would print it twice in an error chain.

/// What went wrong with a batch proof: it is malformed, it does not verify (or not of the
/// statement expected), the witness to prove is wrong, or the prover itself failed.
///
/// [`ProofError::is_prover_fault`] tells the first two apart from the others: a proof received
/// from someone else that fails that way is that prover's fault.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The bytes are not a batch proof, or not in a format this build reads.
    #[error(transparent)]
    Envelope(EnvelopeError),
    /// The proof cannot be decoded, or has a shape the verifier cannot read.
    #[error("the batch proof is malformed: {reason}")]
    Malformed { reason: String },
    /// The proof carries another number of public inputs than a batch statement has.
    #[error("the batch proof has {got} public inputs, not {expected}")]
    PublicInputs { expected: usize, got: usize },
    /// The proof has another number of FRI query rounds than the configuration.
    #[error("the batch proof has {got} FRI query rounds, not {expected}")]
    QueryRounds { expected: usize, got: usize },
    /// The STARK verifier refuses the proof.
    #[error("the batch proof does not verify: {reason}")]
    Invalid { reason: String },
    /// The proof verifies, but states something else than expected (see
    /// [`super::BatchProof::verify_expecting`]).
    #[error("the batch proof states {got:?}, not the expected {expected:?}")]
    WrongStatement {
        expected: Box<Statement>,
        got: Box<Statement>,
    },
    /// The witness to prove does not check (the error names the failing operation).
    #[error("the witness does not check: {0}")]
    Witness(zknode_witness::WitnessError),
    /// The operations cannot be laid out as a table (the error names the operation).
    #[error(transparent)]
    Trace(TraceError),
    /// A table breaks a constraint ([`super::check_table`]).
    #[error("row {row}: constraint #{constraint} ({section}) does not hold")]
    Unsatisfied {
        row: usize,
        constraint: usize,
        section: &'static str,
    },
    /// The compute backend failed to commit to the trace.
    #[error("committing to the trace on the compute backend: {0}")]
    Backend(zknode_kernels::KernelError),
    /// starky's prover failed.
    #[error("the STARK prover failed: {reason}")]
    Prover { reason: String },
    /// Something that cannot happen with a correct prover did.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProofError {
    /// The proof bytes or the proof's shape are wrong.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::Envelope(_)
                | Self::Malformed { .. }
                | Self::PublicInputs { .. }
                | Self::QueryRounds { .. }
        )
    }

    /// The proof is well formed but does not verify, or not of the statement expected.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid { .. } | Self::WrongStatement { .. })
    }

    /// Whoever made the proof is at fault: it is malformed, does not verify, or states
    /// something else than expected.
    pub fn is_prover_fault(&self) -> bool {
        self.is_malformed() || self.is_invalid()
    }

    /// What was to be proved is wrong: the witness does not check, or its table does not
    /// satisfy the constraints.
    pub fn is_witness_fault(&self) -> bool {
        matches!(
            self,
            Self::Witness(_) | Self::Trace(_) | Self::Unsatisfied { .. }
        )
    }

    /// The prover or its compute backend failed, not its input.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Backend(_) | Self::Prover { .. } | Self::Internal(_)
        )
    }
}

impl From<EnvelopeError> for ProofError {
    fn from(e: EnvelopeError) -> Self {
        Self::Envelope(e)
    }
}

impl From<TraceError> for ProofError {
    fn from(e: TraceError) -> Self {
        Self::Trace(e)
    }
}
