//! The Polygon zkEVM state tree: a sparse Merkle tree over Poseidon/Goldilocks, stored
//! content-addressed in RocksDB (or memory), shared by the node, the executor and the prover.
//!
//! - [`smt::hash`]: hashes, keys, values, and the value/leaf/branch hashes;
//! - [`keys`]: key derivation for balance, nonce, code, storage and code length, and Polygon's
//!   linear Poseidon bytecode hash;
//! - [`smt::tree`]: get, set with an [`UpdateProof`], batched writes, atomic commits;
//! - [`smt::proof`]: update proofs and their verifier;
//! - [`genesis`]: a tree from a genesis file; [`vectors`]: Polygon's reference vectors.

pub mod error;
pub mod genesis;
pub mod keys;
pub mod smt;
pub mod vectors;

pub use error::{Error, Result};
pub use smt::hash::{Hash, Key};
pub use smt::proof::{SiblingNode, UpdateKind, UpdateProof};
pub use smt::store::{CodeStore, MemoryStore, Node, NodeReader, NodeStore, ValueCache};
#[cfg(feature = "rocksdb")]
pub use smt::store::{RocksStore, DEFAULT_NODE_CACHE_BYTES};
pub use smt::tree::StateTree;
