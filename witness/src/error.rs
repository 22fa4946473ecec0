//! Errors of the batch witness.

use std::path::PathBuf;

use ruint::aliases::U256;
use zknode_state::Hash;

/// What is wrong with a witness, its file, or the writes it is built from.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The text is not JSON, or not JSON of a batch witness.
    #[error("malformed witness JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    // The inner errors are part of the message, so none is marked as a `source` (that would
    // print it twice in an error chain).
    #[error("witness file {}: {error}", path.display())]
    File {
        path: PathBuf,
        error: Box<WitnessError>,
    },
    #[error("{0}")]
    Io(std::io::Error),
    #[error("witness version {found} is not supported: this build reads version {supported}")]
    Version { found: u64, supported: u32 },
    /// One operation is wrong; `index` counts from 0 in the witness's order.
    #[error("operation {index}: {problem}")]
    Op {
        index: usize,
        problem: Box<OpProblem>,
    },
    /// The state tree failed while a builder applied write `index`.
    #[error("write {index}: state tree error: {error}")]
    Tree {
        index: usize,
        error: zknode_state::Error,
    },
    #[error("public inputs: {0}")]
    PublicInputs(String),
}

impl WitnessError {
    /// The index of the operation the error is about, if it is about one.
    pub fn op_index(&self) -> Option<usize> {
        match self {
            Self::Op { index, .. } | Self::Tree { index, .. } => Some(*index),
            Self::File { error, .. } => error.op_index(),
            _ => None,
        }
    }

    pub(crate) fn from_json(e: serde_json::Error) -> Self {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        Self::Json {
            line: e.line(),
            column: e.column(),
            message,
        }
    }
}

impl From<std::io::Error> for WitnessError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// What is wrong with one operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpProblem {
    #[error(
        "leaf type {0} is not one of 0 (balance), 1 (nonce), 2 (code), 3 (storage), 4 (code length)"
    )]
    BadLeafType(u8),
    #[error("slot {slot:#x} must be 0 for leaf type {leaf_type}: only storage leaves (type 3) have a slot")]
    NonZeroSlot { leaf_type: u8, slot: U256 },
    #[error(
        "key {found} is not the key of address 0x{}, type {leaf_type}, slot {slot:#x}, which is {expected} (wrong key, address, type or slot?)",
        hex::encode(address)
    )]
    KeyMismatch {
        address: [u8; 20],
        leaf_type: u8,
        slot: U256,
        expected: Hash,
        found: Hash,
    },
    /// The update proof contradicts itself (values against its kind, an opened node against
    /// its sibling, a path too long…).
    #[error("invalid update proof: {0}")]
    BadProof(String),
    #[error(
        "old root {proof} does not match running root {running} (wrong siblings or old value?)"
    )]
    RootMismatch { proof: Hash, running: Hash },
}
