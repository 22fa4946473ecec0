//! The node's state database: the L2 chain (batches, blocks, transactions, receipts, logs), the
//! L1 blocks the synchronizer has seen, the services' checkpoints and the transaction pool's
//! table, on SQLite (the default, a
//! file in the data directory) or PostgreSQL (a `postgres://` URL).
//!
//! # Seams
//!
//! Services see the [`BlockReader`] and [`BlockWriter`] traits, and the pool [`PoolStore`];
//! [`StateDb`] implements them over SQL through [`zknode_sqldb::Database`].
//!
//! # Schema
//!
//! One set of migrations (`migrations/*.sql`) serves both databases: BIGINT, TEXT and BYTEA
//! columns with CHECK and UNIQUE constraints, queried through sqlx's `Any` driver with `$N`
//! placeholders. Hashes are 32-byte BYTEA, addresses 20-byte BYTEA, numbers BIGINT (values of
//! 2^63 or more are refused with [`StorageError::OutOfRange`]).
//!
//! - `batches(number PK, status, coinbase, timestamp, global_exit_root, state_root,
//!   local_exit_root, l2_data, resources, acc_input_hash, closing_reason, virtual_tx_hash,
//!   verified_tx_hash)`: status `open` → `closed` → `virtual` → `verified`; while open,
//!   `l2_data`, the roots and `resources` hold the sequencer's progress.
//! - `l2_blocks(number PK, hash UNIQUE, parent_hash, batch_number, timestamp, state_root,
//!   global_exit_root, block_info_root, coinbase, gas_limit, gas_used, base_fee, header)`:
//!   `header` is the RLP whose keccak256 is `hash` ([`header`], `docs/l2-blocks.md`).
//! - `transactions(hash PK, l2_hash UNIQUE, block_number, tx_index, raw, sender, tx_type,
//!   effective_percentage)`, unique `(block_number, tx_index)`.
//! - `receipts(tx_hash PK, block_number, tx_index, status, cumulative_gas_used, gas_used,
//!   effective_gas_price, contract_address)`.
//! - `logs((block_number, log_index) PK, tx_hash, tx_index, address, topic0..topic3, data)`,
//!   indexed by `(address, block_number)` and `(topic0, block_number)`.
//! - `l1_blocks(number PK, hash UNIQUE, parent_hash, timestamp)` and
//!   `sync_checkpoints(name PK, value, updated_at)`.
//! - `pool_transactions(hash PK, l2_hash, sender, nonce, gas_price, gas_limit, tx_type, raw,
//!   status, failed_reason, received_at)` (migration 2): every transaction the pool accepted.
//!   `gas_price` is the offered price as 32 big-endian bytes (so it sorts), `raw` the signed
//!   bytes as received, `received_at` Unix milliseconds. `status` is zkevm-node's: `pending`,
//!   `selected` (included in a stored block), `failed` or `invalid` (with `failed_reason`).
//!   A partial unique index keeps one pending row per `(sender, nonce)`; `status` is indexed.
//! - What the synchronizer reads from L1 (migration 4; SQL in `sql/l1_sync.rs`, types in
//!   `l1_types.rs`): `l1_info_leaves`, `l1_virtual_sequences`, `l1_virtual_batches` (every batch L1
//!   sequenced, with its data, L1 info root, time limit, coinbase, forced fields and accInputHash),
//!   `l1_forced_batches`, `l1_verifications`, each row naming its L1 block so that a reorg
//!   removes exactly what dropped blocks added ([`StateDb::unwind_l1_from`]); and `l1_sync_halt`,
//!   set when L1 disagrees with the node's own batches ([`StateDb::sync_halt`]).
//! - `l1_txs(id PK, owner, sender, to_address, nonce, value, data, gas_limit, max_fee,
//!   max_priority_fee, status, mined_*, error, created_at, updated_at, sent_at)` and
//!   `l1_tx_hashes(hash PK, tx_id, fees, sent_at)` (migration 3): the L1 transaction manager's
//!   transactions, each recorded before it is sent, with every signed version; unique
//!   `(sender, nonce)`. `l1_sequences(id PK, from_batch, to_batch, leaf count, max timestamp,
//!   l1_info_root, l2_coinbase, old and final accInputHash, status)` and
//!   `l1_sequence_batches(sequence_id, batch_number, acc_input_hash)`: what the sequence sender
//!   sent; one live (pending or done) sequence per first batch.
//!
//! # Invariants the writer keeps
//!
//! Blocks are contiguous, each naming the previous one's hash as parent, and go only into the
//! open batch; batches are contiguous and only the last may be open; a batch becomes virtual
//! (verified) only after the batch before it. A block is written with its transactions,
//! receipts and logs in one transaction, so a crash leaves it wholly stored or absent; that
//! transaction also marks the block's transactions `selected` in the pool's table, so a stored
//! block never leaves one of its transactions pending. A pool replacement deletes the pending
//! row it replaces in the transaction that inserts the new one.

mod error;
mod head;
pub mod header;
mod l1_types;
mod sql;
mod traits;
mod types;

use zknode_sqldb::{Database, Migration};

pub use error::{Result, StorageError};
pub use header::{block_hash, header_rlp, L2Header};
pub use l1_types::{
    BatchMismatch, ForcedFields, L1Applied, L1BlockEffects, L1ForcedBatch, L1InfoLeafRow,
    L1SyncPosition, L1Unwound, L1Verification, L1VirtualBatch, L1VirtualSequence, SyncHalt,
};
pub use sql::LogsJson;
pub use sql::{
    L1TxInsert, L1TxMined, L1TxRecord, L1TxStatus, NewL1Tx, SequenceRecord, SequenceStatus,
};
pub use traits::{BlockReader, BlockWriter, PoolStore};
pub use types::{
    Batch, BatchClose, BatchStatus, Block, BlockHead, L1Block, LatestBatchNumbers, LogFilter,
    NewBatch, NewBlock, NewLog, NewReceipt, NewTransaction, OpenBatchProgress, PoolInsert,
    PoolTxRow, PoolTxState, PoolTxStatus, StoredLog, StoredReceipt, StoredTransaction,
};
pub use zknode_sqldb::{sqlite_url, Backend};

/// The migrations, in order.
static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "state tables",
        sql: include_str!("../migrations/0001_state_tables.sql"),
    },
    Migration {
        version: 2,
        description: "pool",
        sql: include_str!("../migrations/0002_pool.sql"),
    },
    Migration {
        version: 3,
        description: "l1 transactions and sequences",
        sql: include_str!("../migrations/0003_l1_txs.sql"),
    },
    Migration {
        version: 4,
        description: "l1 sync",
        sql: include_str!("../migrations/0004_l1_sync.sql"),
    },
    Migration {
        version: 5,
        description: "forced batches in batches",
        sql: include_str!("../migrations/0005_forced_in_batches.sql"),
    },
];

/// The state database over SQL. Cloning is cheap and shares the connection pool.
#[derive(Clone, Debug)]
pub struct StateDb {
    db: Database,
    head: std::sync::Arc<head::HeadCache>,
}

impl StateDb {
    /// Opens the database at `url` (`sqlite:PATH` or `postgres://…`) and brings its schema up
    /// to date. A SQLite file (and its directory) is created when missing.
    pub async fn connect(url: &str) -> Result<StateDb> {
        let db = Database::connect(url, "state database", MIGRATIONS).await?;
        Ok(StateDb {
            db,
            head: Default::default(),
        })
    }

    /// Keeps the last block in memory for [`BlockReader::latest_block_head`] and
    /// [`BlockReader::latest_block_number`]: only for the process that is the one writer of
    /// blocks (a block another process writes would not be seen).
    pub fn cache_head(&self) {
        self.head.enable();
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The connection pool.
    pub fn pool(&self) -> &sqlx::AnyPool {
        self.db.pool()
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.db.close().await
    }
}
