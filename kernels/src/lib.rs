//! Compute kernels for zkNode.
//!
//! - [`goldilocks`]: the field p = 2^64 - 2^32 + 1, NTTs and coset LDEs with plonky2's conventions;
//! - [`poseidon`]: Poseidon (width 12) with Polygon zkEVM's parameters, sponge and compression
//!   (both from `zknode-field`, re-exported here);
//! - [`merkle`]: Merkle trees with caps in plonky2's layout;
//! - [`bn254`]: G1 MSM and scalar-field NTT for the final SNARK.
//!
//! Each runs through a [`Backend`] (the Goldilocks operations; [`Bn254Backend`] adds BN254,
//! [`BenchBackend`] benchmark timing): [`CpuBackend`] (rayon) or [`CudaBackend`] (CUDA kernels
//! compiled by NVRTC at run time, driver loaded dynamically). [`backend_from_env`] picks one from
//! `ZKNODE_DEVICE=auto|cpu|cuda`. The GPU results equal the CPU results bit for bit.

pub mod backend;
pub mod bn254;
pub mod cpu;
pub mod cuda;
pub mod error;
pub mod merkle;
pub mod sample;
pub mod shape;

pub use zknode_field::{goldilocks, poseidon};

pub use backend::{
    backend_from_env, open_backend, open_bench_backend, Backend, BenchBackend, Bn254Backend,
    DeviceInfo, DeviceKind, DeviceSelector, NttDirection, ResidentOp,
};
pub use cpu::CpuBackend;
pub use cuda::CudaBackend;
pub use error::{KernelError, Result};
pub use goldilocks::Goldilocks;
pub use merkle::MerkleTree;
