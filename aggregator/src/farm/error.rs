//! How a call to a prover can end: [`ProverError`] when it did not get an answer it could use,
//! [`GetProofOutcome`] for what a GetProof found.

use std::time::Duration;

use zknode_proto::pb::ResultCode;

/// Why a call to a prover failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProverError {
    /// The prover's stream ended before it answered (or before the call was sent).
    #[error("prover {prover_id} disconnected: {reason}")]
    Disconnected { prover_id: String, reason: String },
    /// No answer within the call's timeout; the prover is still connected.
    #[error("prover {prover_id} did not answer {request} within {after:.1?}")]
    Timeout {
        prover_id: String,
        request: &'static str,
        after: Duration,
    },
    /// The prover answered with ERROR, INTERNAL_ERROR or BUSY (a bad witness, another job
    /// running, no recursion…), or could not understand the request.
    #[error("prover {prover_id} refused {request} ({result}): {message}")]
    Refused {
        prover_id: String,
        request: &'static str,
        result: ResultCode,
        message: String,
    },
    /// The prover answered with another kind of response.
    #[error("prover {prover_id} answered {request} with {got}")]
    UnexpectedResponse {
        prover_id: String,
        request: &'static str,
        got: String,
    },
}

impl ProverError {
    /// Whether the prover refused a job because it is running another (result code BUSY).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                result: ResultCode::Busy,
                ..
            }
        )
    }

    /// Whether the prover is gone (the job it had is lost).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected { .. })
    }
}

/// What GetProof found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetProofOutcome {
    /// The proof's bytes (not verified: that is the caller's job).
    Ok(Vec<u8>),
    /// Still running when the wait ended.
    Pending,
    /// The job failed, or the prover does not know it.
    Error(String),
    Cancelled,
}
