//! The sparse Merkle tree.

pub mod cache;
pub mod hash;
pub mod proof;
pub mod store;
pub mod tree;
