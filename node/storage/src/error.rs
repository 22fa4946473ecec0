//! What can go wrong in the state database.

use alloy_primitives::{Address, B256};

use crate::types::BatchStatus;

/// The result of a state database call.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// An error of the state database. Rows that do not read back as what the schema promises give
/// [`StorageError::CorruptRow`], never a panic; a refused write changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database could not be opened, reached or migrated.
    #[error(transparent)]
    Open(#[from] zknode_sqldb::OpenError),

    /// A statement failed.
    #[error("state database: {0}")]
    Sql(#[from] sqlx::Error),

    /// A number does not fit the database's signed 64-bit integers.
    #[error("{what} {value} is out of range: the state database stores numbers below 2^63")]
    OutOfRange { what: &'static str, value: String },

    /// A row holds a value the schema does not allow.
    #[error("corrupt row in table {table} ({key}): {problem}")]
    CorruptRow {
        table: &'static str,
        key: String,
        problem: String,
    },

    /// `write_block` of a number that is already stored.
    #[error("L2 block {0} is already stored")]
    BlockExists(u64),

    /// `write_block` of a block that does not follow the last stored one.
    #[error("L2 block {number} does not follow the last stored block: the next is {expected}")]
    BlockNotNext { number: u64, expected: u64 },

    /// `write_block` of a block whose parent hash is not the hash of the block before it.
    #[error(
        "L2 block {number} names parent {parent_hash}, but block {} has hash {expected}",
        number.saturating_sub(1)
    )]
    ParentMismatch {
        number: u64,
        parent_hash: B256,
        expected: B256,
    },

    /// `write_block` of a block that contradicts itself (more than four topics in a log,
    /// cumulative gas that does not add up, a type byte that does not match the raw bytes, …).
    #[error("L2 block {number} is invalid: {problem}")]
    InvalidBlock { number: u64, problem: String },

    /// `write_block` of a transaction (by hash or L2 hash) that is already stored.
    #[error("L2 block {block}: transaction {hash} (or its L2 hash) is already stored")]
    DuplicateTransaction { block: u64, hash: B256 },

    /// `write_block` into a batch that is not open (`status: None`: not stored).
    #[error("L2 block {block} cannot go into batch {batch}: the batch is {}", describe(*status))]
    BlockBatchNotOpen {
        block: u64,
        batch: u64,
        status: Option<BatchStatus>,
    },

    /// `update_open_batch` of a batch that is not open (`status: None`: not stored).
    #[error("batch {batch} is {}, not open", describe(*status))]
    BatchNotOpen {
        batch: u64,
        status: Option<BatchStatus>,
    },

    /// `close_batch` with an empty closing reason.
    #[error("batch {0} cannot be closed without a closing reason")]
    EmptyClosingReason(u64),

    /// `open_batch` of a number that is already stored.
    #[error("batch {0} is already stored")]
    BatchExists(u64),

    /// `open_batch` of a batch that does not follow the last stored one.
    #[error("batch {number} does not follow the last stored batch: the next is {expected}")]
    BatchNotNext { number: u64, expected: u64 },

    /// `open_batch` while the last batch is still open.
    #[error("batch {number} cannot be opened while batch {open} is open")]
    PreviousBatchOpen { number: u64, open: u64 },

    /// A status change the batch lifecycle (open → closed → virtual → verified) does not allow
    /// (`from: None`: the batch is not stored).
    #[error("batch {batch} cannot become {to}: it is {}", describe(*from))]
    BatchTransition {
        batch: u64,
        from: Option<BatchStatus>,
        to: BatchStatus,
    },

    /// A batch made virtual or verified before the batch before it.
    #[error(
        "batch {batch} cannot become {to} before batch {} (which is {previous})",
        batch.saturating_sub(1)
    )]
    BatchOutOfOrder {
        batch: u64,
        to: BatchStatus,
        previous: BatchStatus,
    },

    /// A pool transaction whose hash is stored already as pending or selected (a failed or
    /// invalid row of that hash is revived instead).
    #[error("pool transaction {0} is already stored as pending or selected")]
    PoolTxExists(B256),

    /// A row from L1 that is stored already (the synchronizer read an L1 block twice).
    #[error("{0} from L1 is already stored")]
    L1Duplicate(String),

    /// A new pending pool transaction whose sender and nonce a pending row has already.
    #[error("a pending pool transaction from {sender} with nonce {nonce} is already stored")]
    PoolNonceTaken { sender: Address, nonce: u64 },
}

fn describe(status: Option<BatchStatus>) -> String {
    match status {
        Some(s) => s.to_string(),
        None => "not stored".to_string(),
    }
}

impl StorageError {
    pub(crate) fn corrupt(table: &'static str, key: impl ToString, problem: impl ToString) -> Self {
        StorageError::CorruptRow {
            table,
            key: key.to_string(),
            problem: problem.to_string(),
        }
    }
}
