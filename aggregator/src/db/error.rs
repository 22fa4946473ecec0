//! What can go wrong in the job database.

use zknode_witness::WitnessError;

use super::ProofKind;

/// An error of the job database. Rows that do not read back as what the schema promises give
/// [`DbError::CorruptRow`] or [`DbError::CorruptWitness`], never a panic.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be opened, reached or migrated.
    #[error(transparent)]
    Open(#[from] zknode_sqldb::OpenError),

    /// A statement failed.
    #[error("job database: {0}")]
    Sql(#[from] sqlx::Error),

    /// A batch number does not fit the database's signed 64-bit integers.
    #[error("batch number {0} is out of range: the database stores numbers below 2^63")]
    OutOfRange(u64),

    /// The stored witness of a batch does not parse.
    #[error("batch {batch}: the stored witness is not a valid batch witness: {source}")]
    CorruptWitness { batch: u64, source: WitnessError },

    /// A witness names another batch than the row that holds it.
    #[error("batch {batch}: the witness is for batch {found}")]
    WitnessMismatch { batch: u64, found: u64 },

    /// A row holds a value the schema does not allow.
    #[error("corrupt row in table {table} ({key}): {problem}")]
    CorruptRow {
        table: &'static str,
        key: String,
        problem: String,
    },

    /// `insert_batch` of a batch that is already stored.
    #[error("batch {0} is already stored")]
    BatchExists(u64),

    /// A range with its first batch after its last, or a batch proof of more than one batch.
    #[error("invalid {kind} proof range {first}..={last}")]
    BadRange {
        kind: ProofKind,
        first: u64,
        last: u64,
    },

    /// `store_proof` with no bytes.
    #[error("the {kind} proof of batches {first}..={last} is empty")]
    EmptyProof {
        kind: ProofKind,
        first: u64,
        last: u64,
    },

    /// `store_proof` for a range that has no job (it was never locked, or was released or
    /// cleaned up, or the batches were verified meanwhile).
    #[error("no {kind} proof job for batches {first}..={last}")]
    NoJob {
        kind: ProofKind,
        first: u64,
        last: u64,
    },

    /// The proof is stored already.
    #[error("the {kind} proof of batches {first}..={last} is already stored (proof id {id})")]
    AlreadyStored {
        kind: ProofKind,
        first: u64,
        last: u64,
        id: i64,
    },

    /// A settlement that does not follow the last verified batch with a stored final proof.
    #[error(
        "cannot record batches up to {last_batch} as verified with proof {proof_id}: {reason}"
    )]
    Settlement {
        last_batch: u64,
        proof_id: i64,
        reason: String,
    },

    /// A guarded update found its row changed by someone else; the transaction was rolled back
    /// and nothing changed.
    #[error("job database conflict: {0}; nothing was changed")]
    Conflict(String),
}
