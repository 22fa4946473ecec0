//! Whose fault a failed job is. Only a prover's fault, a proof that does not decode, does not
//! verify, or proves something other than what was asked, benches the prover
//! ([`JobError::fault`]). A prover that could not do the job (it was busy, went away, took too
//! long or reported a failure) is not held to account, and neither is a failure of the
//! aggregator's own: its database, its own recursion, its settlement.
//!
//! The faults are told apart where the proof is read and checked (`BatchProof::from_bytes`,
//! `verify`, the comparison with the expected statement), so that what the prover library's
//! errors are made of does not decide who is blamed.

use std::fmt::Debug;
use std::time::Duration;

use crate::farm::ProverError;

/// An error of any type, kept as the source of a [`ProofFault`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What is wrong with a proof a prover returned.
#[derive(Debug, thiserror::Error)]
pub enum ProofFault {
    /// The bytes are not a proof of the kind asked for.
    #[error("the proof is malformed")]
    Malformed(#[source] BoxError),
    /// The proof does not verify.
    #[error("the proof does not verify")]
    Invalid(#[source] BoxError),
    /// The proof verifies but states something other than what was asked.
    #[error("the proof states {got}, not {expected}")]
    WrongStatement { expected: String, got: String },
}

impl ProofFault {
    pub fn malformed(e: impl Into<BoxError>) -> Self {
        Self::Malformed(e.into())
    }

    pub fn invalid(e: impl Into<BoxError>) -> Self {
        Self::Invalid(e.into())
    }

    /// The proof states `got` where `expected` was asked for.
    pub fn wrong_statement(expected: &impl Debug, got: &impl Debug) -> Self {
        Self::WrongStatement {
            expected: format!("{expected:?}"),
            got: format!("{got:?}"),
        }
    }

    /// The fault and its causes, each after a `: `.
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cause = e.source();
        }
        out
    }
}

/// Why a job sent to a prover gave no proof to keep.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The prover returned a bad proof: its fault.
    #[error("prover {prover_id} returned an invalid proof")]
    Fault {
        prover_id: String,
        #[source]
        fault: ProofFault,
    },
    /// A call to the prover failed: it refused the job (busy with another, say), went away,
    /// did not answer in time or answered with something else.
    #[error(transparent)]
    Call(#[from] ProverError),
    /// The job did not end within the job timeout; it was cancelled.
    #[error("prover {prover_id} did not finish job {job} within {after:?}")]
    TimedOut {
        prover_id: String,
        job: String,
        after: Duration,
    },
    /// The prover reports that the job failed.
    #[error("prover {prover_id} failed job {job}: {message}")]
    Failed {
        prover_id: String,
        job: String,
        message: String,
    },
    /// The prover reports that the job was cancelled.
    #[error("job {job} was cancelled")]
    Cancelled { prover_id: String, job: String },
    /// The aggregator's own failure: its database, a witness it holds, its own recursion.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl JobError {
    /// The prover's fault, if it is one: the prover is benched for it.
    pub fn fault(&self) -> Option<&ProofFault> {
        match self {
            Self::Fault { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use zknode_proto::pb::ResultCode;

    use super::*;

    fn refused(result: ResultCode) -> JobError {
        JobError::Call(ProverError::Refused {
            prover_id: "p".into(),
            request: "GenBatchProof",
            result,
            message: "busy: job j is running".into(),
        })
    }

    #[test]
    fn only_a_bad_proof_is_the_provers_fault() {
        let faults = [
            ProofFault::malformed(anyhow::anyhow!("not a batch proof")),
            ProofFault::invalid(anyhow::anyhow!("FRI check failed")),
            ProofFault::wrong_statement(&1u64, &2u64),
        ];
        for fault in faults {
            let e = JobError::Fault {
                prover_id: "p".into(),
                fault,
            };
            assert!(e.fault().is_some(), "{e}");
        }
        let not_faults = [
            refused(ResultCode::Busy),
            refused(ResultCode::Error),
            refused(ResultCode::InternalError),
            JobError::Call(ProverError::Disconnected {
                prover_id: "p".into(),
                reason: "gone".into(),
            }),
            JobError::TimedOut {
                prover_id: "p".into(),
                job: "j".into(),
                after: Duration::from_secs(1),
            },
            JobError::Failed {
                prover_id: "p".into(),
                job: "j".into(),
                message: "out of memory".into(),
            },
            JobError::Cancelled {
                prover_id: "p".into(),
                job: "j".into(),
            },
            JobError::Internal(anyhow::anyhow!("the database is locked")),
        ];
        for e in not_faults {
            assert!(e.fault().is_none(), "{e}");
        }
    }

    #[test]
    fn busy_is_told_by_its_code() {
        assert!(refused(ResultCode::Busy).fault().is_none());
        assert!(matches!(refused(ResultCode::Busy), JobError::Call(e) if e.is_busy()));
        assert!(!matches!(refused(ResultCode::Error), JobError::Call(e) if e.is_busy()));
    }

    #[test]
    fn a_fault_keeps_its_cause() {
        let e = JobError::Fault {
            prover_id: "p".into(),
            fault: ProofFault::invalid(anyhow::anyhow!("FRI check failed")),
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::new(e)),
            "prover p returned an invalid proof: the proof does not verify: FRI check failed"
        );
        let e = ProofFault::malformed(anyhow::anyhow!("7 bytes").context("not a batch proof"));
        assert_eq!(
            e.report(),
            "the proof is malformed: not a batch proof: 7 bytes"
        );
        let e = ProofFault::wrong_statement(&"batch 1", &"batch 2");
        assert_eq!(
            e.to_string(),
            "the proof states \"batch 2\", not \"batch 1\""
        );
    }
}
