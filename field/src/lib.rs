//! The Goldilocks field and Poseidon on the CPU.
//!
//! - [`goldilocks`]: the field p = 2^64 - 2^32 + 1, NTTs and coset LDEs with plonky2's conventions;
//! - [`poseidon`]: Poseidon (width 12) with Polygon zkEVM's parameters, sponge and compression,
//!   one state at a time or eight in lockstep.
//!
//! This is what the state tree, the witness and the executor need. The compute backends (CPU and
//! CUDA), Merkle trees and the BN254 kernels are in `zknode-kernels`, which re-exports both
//! modules, so a program that does not prove links neither cudarc nor arkworks.

pub mod goldilocks;
pub mod poseidon;

pub use goldilocks::Goldilocks;
