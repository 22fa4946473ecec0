//! Polygon zkEVM batch execution (fork 12) on revm over the zkNode state tree.
//!
//! - [`codec`]: `batchL2Data` decoding and encoding, transaction hashes and sender recovery;
//! - [`signed`]: transactions as wallets send them (legacy, EIP-2930, EIP-1559);
//! - [`hashes`]: batch hash, accumulated input hash, L1 info tree;
//! - [`l1_info_tree`]: the L1 info tree as the contract keeps it (roots after any leaf count,
//!   proofs);
//! - [`system`]: the system contract's slots and the per-block info tree keys;
//! - [`db`]: the EVM's database over the state tree;
//! - [`overrides`]: state and block overrides for read-only calls;
//! - [`processor`]: executing a batch, whole or step by step, read-only calls, and debug traces;
//! - [`vectors`]: Polygon's processor test vectors.

pub mod codec;
pub mod db;
pub mod hashes;
pub mod l1_info_tree;
pub mod overrides;
pub mod processor;
mod rlp;
pub mod signed;
pub mod system;
pub mod vectors;

pub use codec::{decode_batch, encode_batch, BatchEntry, ChangeL2Block, DecodeError, RawTx};
pub use db::{CodeSource, StateDb, StateError};
pub use l1_info_tree::{l1_info_empty_root, L1InfoTree, L1InfoTreeError};
pub use processor::{
    execute_batch, BatchBuilder, BatchContext, BatchResult, BlockRejected, CallRequest, CallResult,
    ClosedBlock, ExecError, L2Block, ReadOnlyEvm, Receipt, SealedBatch, TxResult,
};
pub use processor::{trace_block, ReplayBlock, TraceError, TraceOptions};
pub use signed::{decode_signed, SignedTxError};
