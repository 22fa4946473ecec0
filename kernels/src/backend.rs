//! The traits every device implements, and the choice of device at the edge.
//!
//! - [`Backend`]: the Goldilocks operations a STARK prover needs (NTT, coset LDE, Poseidon,
//!   Merkle trees, the trace commitment);
//! - [`Bn254Backend`]: the BN254 operations of the final SNARK (MSM, scalar-field NTT);
//! - [`BenchBackend`]: what only benchmarks use, timing with the data resident on the device.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bn254::{Fr, G1Affine, G1Projective};
use crate::error::{KernelError, Result};
use crate::goldilocks::Goldilocks;
use crate::merkle::MerkleTree;
use crate::poseidon::{Digest, State};

/// Direction of a transform.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NttDirection {
    Forward,
    Inverse,
}

/// What kind of device runs the kernels.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        })
    }
}

/// A description of the device behind a backend.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    /// Marketing name (`NVIDIA H100 80GB HBM3`, or the CPU model).
    pub name: String,
    /// Total memory in bytes (device memory for a GPU, RAM for the CPU).
    pub memory_bytes: u64,
    /// CUDA compute capability, `(major, minor)`.
    pub compute_capability: Option<(u32, u32)>,
    /// Streaming multiprocessors on a GPU, worker threads on the CPU.
    pub parallelism: u32,
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gib = self.memory_bytes as f64 / (1u64 << 30) as f64;
        write!(f, "{} {} ({gib:.1} GiB", self.kind, self.name)?;
        match (self.kind, self.compute_capability) {
            (DeviceKind::Cuda, Some((maj, min))) => {
                write!(f, ", compute {maj}.{min}, {} SMs)", self.parallelism)
            }
            _ => write!(f, ", {} threads)", self.parallelism),
        }
    }
}

/// An operation with its inputs, for [`BenchBackend::time_resident`].
pub enum ResidentOp<'a> {
    /// Forward NTT of each 2^log_n chunk of `data`.
    GoldilocksNtt {
        data: &'a [Goldilocks],
        log_n: usize,
    },
    /// LDE + Merkle commitment as in [`Backend::lde_commit`].
    LdeCommit {
        coeffs: &'a [Goldilocks],
        log_n: usize,
        rate_bits: usize,
        cap_height: usize,
    },
    /// Poseidon permutations.
    Poseidon { states: &'a [State] },
    /// BN254 G1 MSM.
    Bn254Msm {
        points: &'a [G1Affine],
        scalars: &'a [Fr],
    },
}

/// The Goldilocks kernels a STARK prover needs. Every implementation gives bit-for-bit the
/// results of the CPU backend.
pub trait Backend: Send + Sync {
    fn info(&self) -> &DeviceInfo;

    /// Transforms each consecutive chunk of `2^log_n` elements of `data` in place (natural order
    /// in and out; the inverse divides by `n`).
    fn goldilocks_ntt(
        &self,
        data: &mut [Goldilocks],
        log_n: usize,
        dir: NttDirection,
    ) -> Result<()>;

    /// Coset low-degree extension. `coeffs` holds polynomials of `2^log_n` coefficients back to
    /// back; the result holds, polynomial after polynomial, their values at `shift * w^i` for
    /// `i < 2^(log_n + rate_bits)`, `w` the primitive root of that order, in natural order —
    /// what plonky2's `p.lde(rate_bits).coset_fft(shift)` gives.
    fn coset_lde(
        &self,
        coeffs: &[Goldilocks],
        log_n: usize,
        rate_bits: usize,
        shift: Goldilocks,
    ) -> Result<Vec<Goldilocks>>;

    /// Applies the Poseidon permutation to every state.
    fn poseidon_permute(&self, states: &mut [State]) -> Result<()>;

    /// `hash_or_noop` of each row of a row-major matrix with `width` columns.
    fn hash_rows(&self, rows: &[Goldilocks], width: usize) -> Result<Vec<Digest>>;

    /// A Merkle tree over row-major leaves, in plonky2's layout.
    fn merkle_tree(
        &self,
        leaves: Vec<Goldilocks>,
        width: usize,
        cap_height: usize,
    ) -> Result<MerkleTree>;

    /// The commitment plonky2's `PolynomialBatch::from_coeffs` builds (no blinding): coset LDE
    /// with plonky2's coset shift (`Goldilocks::MULTIPLICATIVE_GENERATOR`), rows (one value per polynomial) in bit-reversed order as leaves, Merkle tree.
    /// On a GPU the LDE stays on the device until the tree is built.
    fn lde_commit(
        &self,
        coeffs: &[Goldilocks],
        log_n: usize,
        rate_bits: usize,
        cap_height: usize,
    ) -> Result<MerkleTree>;
}

/// The BN254 kernels (for the final SNARK). Results equal the CPU backend's bit for bit.
pub trait Bn254Backend: Backend {
    /// BN254 G1 multi-scalar multiplication.
    fn bn254_msm(&self, points: &[G1Affine], scalars: &[Fr]) -> Result<G1Projective>;

    /// In-place NTT over the BN254 scalar field (natural order in and out).
    fn bn254_ntt(&self, values: &mut [Fr], dir: NttDirection) -> Result<()>;
}

/// What only the benchmarks need: every operation, and timing with the data kept on the device.
pub trait BenchBackend: Bn254Backend {
    /// Time of `iters` runs of `op` with inputs and outputs kept on the device between runs (host
    /// transfers excluded). The CPU backend times the plain operation.
    fn time_resident(&self, op: ResidentOp<'_>, iters: usize) -> Result<Duration> {
        let start = Instant::now();
        for _ in 0..iters {
            match &op {
                ResidentOp::GoldilocksNtt { data, log_n } => {
                    let mut d = data.to_vec();
                    self.goldilocks_ntt(&mut d, *log_n, NttDirection::Forward)?;
                }
                ResidentOp::LdeCommit {
                    coeffs,
                    log_n,
                    rate_bits,
                    cap_height,
                } => {
                    std::hint::black_box(self.lde_commit(
                        coeffs,
                        *log_n,
                        *rate_bits,
                        *cap_height,
                    )?);
                }
                ResidentOp::Poseidon { states } => {
                    let mut s = states.to_vec();
                    self.poseidon_permute(&mut s)?;
                }
                ResidentOp::Bn254Msm { points, scalars } => {
                    let _ = std::hint::black_box(self.bn254_msm(points, scalars)?);
                }
            }
        }
        Ok(start.elapsed())
    }
}

/// Which device `ZKNODE_DEVICE` asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum DeviceSelector {
    /// A GPU when one answers, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// A GPU or an error.
    Cuda,
}

impl std::str::FromStr for DeviceSelector {
    type Err = KernelError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            _ => Err(KernelError::BadDeviceSelector(s.to_string())),
        }
    }
}

impl DeviceSelector {
    /// Reads `ZKNODE_DEVICE` (unset means `auto`).
    pub fn from_env() -> Result<Self> {
        match std::env::var("ZKNODE_DEVICE") {
            Ok(v) => v.parse(),
            Err(std::env::VarError::NotPresent) => Ok(Self::Auto),
            Err(std::env::VarError::NotUnicode(v)) => Err(KernelError::BadDeviceSelector(
                v.to_string_lossy().into_owned(),
            )),
        }
    }
}

/// Opens the backend a selector asks for. `Cuda` without a usable GPU is an error, never a
/// silent fallback; `Auto` falls back to the CPU and logs why.
pub fn open_backend(selector: DeviceSelector) -> Result<Arc<dyn Backend>> {
    Ok(open_bench_backend(selector)?)
}

/// [`open_backend`] with every operation, for the benchmarks.
pub fn open_bench_backend(selector: DeviceSelector) -> Result<Arc<dyn BenchBackend>> {
    match selector {
        DeviceSelector::Cpu => Ok(Arc::new(crate::cpu::CpuBackend::new())),
        DeviceSelector::Cuda => Ok(Arc::new(crate::cuda::CudaBackend::new()?)),
        DeviceSelector::Auto => match crate::cuda::CudaBackend::new() {
            Ok(b) => Ok(Arc::new(b)),
            Err(e) => {
                tracing::info!(target: "kernels::device", reason = %e, "no usable GPU, using the CPU backend");
                Ok(Arc::new(crate::cpu::CpuBackend::new()))
            }
        },
    }
}

/// Opens the backend `ZKNODE_DEVICE` asks for.
pub fn backend_from_env() -> Result<Arc<dyn Backend>> {
    open_backend(DeviceSelector::from_env()?)
}
