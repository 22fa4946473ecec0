//! The sparse Merkle tree.

pub mod cache;
pub mod hash;
pub mod proof;
mod read;
pub mod store;
pub mod tree;
