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

impl Error {
    /// A value node found where a branch or leaf belongs.
    pub(crate) fn value_in_tree(hash: Hash) -> Self {
        Error::CorruptNode {
            hash,
            reason: "a value where a tree node belongs".into(),
        }
    }
}

pub type Result<T, E = Error> = core::result::Result<T, E>;
