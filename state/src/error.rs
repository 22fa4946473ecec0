//! Errors of the state tree.

use crate::smt::hash::Hash;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "state tree node {0} is missing from the store (pruned, or the database is incomplete)"
    )]
    MissingNode(Hash),
    #[error("state tree node {hash} is corrupt: {reason}")]
    CorruptNode { hash: Hash, reason: String },
    #[error("storage error: {0}")]
    Storage(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("proof rejected: {0}")]
    BadProof(String),
}

pub type Result<T, E = Error> = core::result::Result<T, E>;
