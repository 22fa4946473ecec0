//! Errors of the recursion circuits: reading, verifying, chaining and proving recursive proofs.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use super::{FinalStatement, RangeStatement, MAX_STARK_BITS, MIN_STARK_BITS};
use crate::batch::ProofError;
use crate::envelope::EnvelopeError;

// Each message is complete by itself (it includes the text of what caused it), so no inner
// error is marked as a `source`: that would print it twice in an error chain.

/// What went wrong with a recursive proof or the recursion circuits.
///
/// Three groups, told apart by [`RecursionError::is_prover_fault`] and
/// [`RecursionError::is_internal`]: the proofs given are at fault (malformed, do not verify, do
/// not chain), the circuits or their cache failed, or neither (a batch proof of a size no wrap
/// circuit exists for).
#[derive(Debug, thiserror::Error)]
pub enum RecursionError {
    /// The bytes are not a recursive (or final) proof, or not in a format this build reads.
    #[error(transparent)]
    Envelope(EnvelopeError),
    /// A proof (`what`: "recursive proof", "wrap proof", …) cannot be decoded or read.
    #[error("the {what} is malformed: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// A proof carries another number of public inputs than its circuit has.
    #[error("the {what} has {got} public inputs, not {expected}")]
    PublicInputs {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// No wrap circuit exists for a batch STARK of `2^bits` rows.
    #[error(
        "no wrap circuit for a batch proof of 2^{bits} rows (from 2^{MIN_STARK_BITS} to \
         2^{MAX_STARK_BITS})"
    )]
    UnsupportedSize { bits: usize },
    /// The batch proof to wrap is refused.
    #[error("refusing to wrap a batch proof: {0}")]
    Batch(ProofError),
    /// A batch number that the recursion circuits cannot carry.
    #[error("batch number {batch} is too large for recursion (at most 2^63 - 1)")]
    BatchNumberTooLarge { batch: u64 },
    /// plonky2's verifier refuses a proof (`what`: "wrap proof", "aggregate proof", …), or the
    /// proof is not of the circuit it claims.
    #[error("the {what} does not verify: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// Two ranges to aggregate are not consecutive.
    #[error(
        "batches {}..={} and {}..={} are not adjacent",
        .left.start(),
        .left.end(),
        .right.start(),
        .right.end()
    )]
    NotAdjacent {
        left: RangeInclusive<u64>,
        right: RangeInclusive<u64>,
    },
    /// The right range starts from another state root than the left one ends at.
    #[error("batch {left_last} ends at another state root than batch {right_first} starts from")]
    RootMismatch {
        left_last: u64,
        right_first: u64,
        /// The left range's new root.
        expected: [u64; 4],
        /// The right range's old root.
        got: [u64; 4],
    },
    /// The right range starts from another batch accumulator than the left one ends at.
    #[error(
        "the batch accumulator after batch {left_last} is not the one batch {right_first} \
         starts from"
    )]
    AccumulatorMismatch {
        left_last: u64,
        right_first: u64,
        /// The left range's new accumulator.
        expected: [u64; 4],
        /// The right range's old accumulator.
        got: [u64; 4],
    },
    /// One of the inputs of an operation is at fault: `error` says how.
    #[error("{input}: {error}")]
    Input {
        input: Input,
        error: Box<RecursionError>,
    },
    /// A wrap or aggregate proof just made states something else than it should: a circuit or
    /// the prover is wrong.
    #[error("the {what} states {got:?}, not {expected:?}")]
    WrongOutput {
        what: &'static str,
        expected: Box<RangeStatement>,
        got: Box<RangeStatement>,
    },
    /// A final proof just made states something else than it should.
    #[error("the final proof states {got:?}, not {expected:?}")]
    WrongFinalOutput {
        expected: Box<FinalStatement>,
        got: Box<FinalStatement>,
    },
    /// A circuit (`circuit`: "wrap", "aggregate", …) refused its witness: plonky2's prover
    /// failed.
    #[error("the {circuit} circuit refused its witness: {reason}")]
    Refused {
        circuit: &'static str,
        reason: String,
    },
    /// A circuit (`circuit`: "rewrap circuit", …) loaded from the cache is not the one the
    /// aggregate circuit accepts.
    #[error("the {circuit} is not the one the aggregate circuit accepts (a stale cache?)")]
    StaleCircuit { circuit: String },
    /// A circuit cannot be built as it should (its shape, its public inputs).
    #[error("{0}")]
    Circuit(String),
    /// Reading or writing the circuit cache failed.
    #[error("cannot {action} {}: {reason}", .path.display())]
    Cache {
        action: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// Something that cannot happen with correct circuits did (a witness that cannot be set).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Which input of an operation an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The left proof of an aggregation.
    Left,
    /// The right proof of an aggregation.
    Right,
    /// The proof to finalize.
    ToFinalize,
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Input::Left => "the left proof",
            Input::Right => "the right proof",
            Input::ToFinalize => "the proof to finalize",
        })
    }
}

impl RecursionError {
    /// The same error, said to be about `input`.
    pub fn about(self, input: Input) -> Self {
        Self::Input {
            input,
            error: Box::new(self),
        }
    }

    /// The error itself, without the [`RecursionError::Input`] that says which input it is
    /// about.
    pub fn innermost(&self) -> &Self {
        match self {
            Self::Input { error, .. } => error.innermost(),
            e => e,
        }
    }

    /// The input the error is about, if it is about one.
    pub fn input(&self) -> Option<Input> {
        match self {
            Self::Input { input, .. } => Some(*input),
            _ => None,
        }
    }

    /// The bytes or the shape of a proof are wrong.
    pub fn is_malformed(&self) -> bool {
        match self.innermost() {
            Self::Envelope(_) | Self::Malformed { .. } | Self::PublicInputs { .. } => true,
            Self::Batch(e) => e.is_malformed(),
            _ => false,
        }
    }

    /// A proof is well formed but does not verify.
    pub fn is_invalid(&self) -> bool {
        match self.innermost() {
            Self::Invalid { .. } => true,
            Self::Batch(e) => e.is_invalid(),
            _ => false,
        }
    }

    /// The proofs given are at fault: malformed, invalid, of a statement that cannot be
    /// carried, or not chaining. A proof received from a prover that fails this way is that
    /// prover's fault.
    pub fn is_prover_fault(&self) -> bool {
        match self.innermost() {
            Self::Envelope(_)
            | Self::Malformed { .. }
            | Self::PublicInputs { .. }
            | Self::Invalid { .. }
            | Self::BatchNumberTooLarge { .. }
            | Self::NotAdjacent { .. }
            | Self::RootMismatch { .. }
            | Self::AccumulatorMismatch { .. } => true,
            Self::Batch(e) => e.is_prover_fault(),
            _ => false,
        }
    }

    /// The circuits, their cache or plonky2's prover failed: not the inputs' fault.
    pub fn is_internal(&self) -> bool {
        match self.innermost() {
            Self::WrongOutput { .. }
            | Self::WrongFinalOutput { .. }
            | Self::Refused { .. }
            | Self::StaleCircuit { .. }
            | Self::Circuit(_)
            | Self::Cache { .. }
            | Self::Internal(_) => true,
            Self::Batch(e) => e.is_internal(),
            _ => false,
        }
    }
}

impl From<EnvelopeError> for RecursionError {
    fn from(e: EnvelopeError) -> Self {
        Self::Envelope(e)
    }
}

/// plonky2 reports most failures (a witness that cannot be set, …) as `anyhow` errors: here they
/// are internal errors, with their whole chain of causes.
pub(super) fn internal(e: impl fmt::Display) -> RecursionError {
    RecursionError::Internal(format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u64, last: u64, root: u64, acc: u64) -> RangeStatement {
        RangeStatement {
            first_batch: first,
            last_batch: last,
            old_root: [root; 4],
            new_root: [root + 1; 4],
            acc_old: [acc; 4],
            acc_new: [acc + 1; 4],
        }
    }

    #[test]
    fn ranges_that_do_not_chain_say_where_and_what() {
        let left = range(1, 2, 10, 20);
        assert!(left.then(&range(3, 3, 11, 21)).is_ok());

        let e = left.then(&range(4, 4, 11, 21)).unwrap_err();
        assert_eq!(e.to_string(), "batches 1..=2 and 4..=4 are not adjacent");
        assert!(matches!(&e, RecursionError::NotAdjacent { left, right }
            if *left == (1..=2) && *right == (4..=4)));

        let e = left.then(&range(3, 3, 12, 21)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "batch 2 ends at another state root than batch 3 starts from"
        );
        assert!(matches!(
            e,
            RecursionError::RootMismatch {
                left_last: 2,
                right_first: 3,
                expected,
                got,
            } if expected == [11; 4] && got == [12; 4]
        ));

        let e = left.then(&range(3, 3, 11, 22)).unwrap_err();
        assert!(matches!(
            e,
            RecursionError::AccumulatorMismatch { expected, got, .. }
                if expected == [21; 4] && got == [22; 4]
        ));
        assert!(e.is_prover_fault() && !e.is_internal() && !e.is_malformed());
    }

    #[test]
    fn an_error_about_an_input_keeps_its_kind_and_names_the_input() {
        let e = RecursionError::Invalid {
            what: "wrap proof",
            reason: "the FRI check fails".into(),
        }
        .about(Input::Left);
        assert_eq!(
            e.to_string(),
            "the left proof: the wrap proof does not verify: the FRI check fails"
        );
        assert_eq!(e.input(), Some(Input::Left));
        assert!(e.is_invalid() && e.is_prover_fault() && !e.is_internal());
        assert!(matches!(e.innermost(), RecursionError::Invalid { .. }));

        let e = RecursionError::StaleCircuit {
            circuit: "rewrap circuit".into(),
        };
        assert!(e.is_internal() && !e.is_prover_fault());
        let e = RecursionError::UnsupportedSize { bits: 30 };
        assert_eq!(
            e.to_string(),
            "no wrap circuit for a batch proof of 2^30 rows (from 2^6 to 2^18)"
        );
        assert!(!e.is_internal() && !e.is_prover_fault());
    }
}
