//! The CUDA backend: kernels in `kernels/cuda/*.cu`, compiled at run time by NVRTC for the
//! device's compute capability, launched through cudarc with the driver loaded dynamically.
//!
//! [`CudaBackend::new`] never panics: it first checks with `libloading` that the driver and
//! NVRTC libraries can be loaded (cudarc itself panics when they cannot) and catches any panic of
//! the first driver calls, reporting [`KernelError::NoCudaDevice`]. Every operation checks its
//! arguments with the CPU backend's functions, so bad sizes give the same errors, checks free
//! device memory before allocating, and maps every driver failure to [`KernelError::Cuda`].
//! Results equal the CPU backend's bit for bit.

mod bn254;
mod device;
mod goldilocks;
mod nvrtc;
mod poseidon;
mod source;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::driver::{CudaSlice, DevicePtr};

use crate::backend::{Backend, BenchBackend, Bn254Backend, DeviceInfo, NttDirection, ResidentOp};
use crate::bn254::{Fr, G1Affine, G1Projective};
use crate::error::{KernelError, Result};
use crate::goldilocks::Goldilocks;
use crate::merkle::MerkleTree;
use crate::poseidon::{Digest, State};
use crate::shape;
use device::Gpu;

pub use source::{program_sources, CudaProgram};

/// Runs every kernel on one NVIDIA GPU.
pub struct CudaBackend {
    gpu: Arc<Gpu>,
}

impl CudaBackend {
    /// Opens GPU 0. Fails with [`KernelError::NoCudaDevice`] (never a panic) when the driver or
    /// NVRTC library is missing or no device answers, and with [`KernelError::Cuda`] when the
    /// kernels do not compile or load.
    pub fn new() -> Result<Self> {
        Self::with_device(0)
    }

    /// Opens GPU `ordinal` (as the driver numbers them, after `CUDA_VISIBLE_DEVICES`).
    pub fn with_device(ordinal: usize) -> Result<Self> {
        Ok(Self {
            gpu: Arc::new(Gpu::open(ordinal)?),
        })
    }

    /// Path or name of the NVRTC library in use.
    pub fn nvrtc_library() -> Result<String> {
        nvrtc::load()
            .map(|n| n.path.clone())
            .map_err(KernelError::NoCudaDevice)
    }
}

/// Compiles every CUDA program with NVRTC for `compute_90` and `sm_90` and fails on the first
/// compile error (with NVRTC's log). Needs only the NVRTC library (`$ZKNODE_NVRTC` or the
/// standard names), no driver or GPU; a missing library is [`KernelError::NoCudaDevice`].
pub fn compile_all_sources() -> Result<()> {
    guarded("NVRTC compilation", device::compile_all)
}

/// Runs `f`, turning a panic (e.g. a driver symbol cudarc cannot find) into an error.
fn guarded<T>(op: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(KernelError::Cuda {
            op,
            message: format!("panic: {}", device::panic_text(p.as_ref())),
        })
    })
}

/// The raw device address of a buffer (for kernel parameters that may be null).
pub(crate) fn dptr<T>(gpu: &Gpu, buf: &CudaSlice<T>) -> u64 {
    let (p, _sync) = buf.device_ptr(&gpu.stream);
    p
}

/// The words of field elements (`Goldilocks` is `repr(transparent)` over `u64`).
pub(crate) fn gl_words(x: &[Goldilocks]) -> &[u64] {
    // SAFETY: same layout, same length, shared borrow.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) }
}

/// Mutable words of field elements. Only canonical values (what every kernel writes) may be
/// stored through it.
pub(crate) fn gl_words_mut(x: &mut [Goldilocks]) -> &mut [u64] {
    // SAFETY: same layout, same length, unique borrow.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast(), x.len()) }
}

/// The words of Poseidon states, 12 per state.
pub(crate) fn state_words_mut(x: &mut [State]) -> &mut [u64] {
    // SAFETY: `[Goldilocks; 12]` is 12 consecutive `u64`s; unique borrow.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast(), 12 * x.len()) }
}

/// Digests from words, four per digest.
pub(crate) fn digests_from_words(w: &[u64]) -> Vec<Digest> {
    w.chunks_exact(4)
        .map(|d| {
            [
                Goldilocks::new(d[0]),
                Goldilocks::new(d[1]),
                Goldilocks::new(d[2]),
                Goldilocks::new(d[3]),
            ]
        })
        .collect()
}

impl CudaBackend {
    fn ntt(&self, data: &mut [Goldilocks], log_n: usize, dir: NttDirection) -> Result<()> {
        let gpu = &*self.gpu;
        let count = shape::ntt_batch(data.len(), log_n, "Goldilocks NTT input")?;
        gpu.ensure_free(
            2 * shape::goldilocks_bytes(count, log_n) + goldilocks::twiddle_bytes(log_n),
        )?;
        let src = gpu.upload(gl_words(data))?;
        let mut dst = gpu.alloc::<u64>(data.len())?;
        goldilocks::ntt_into(
            gpu,
            &src,
            &mut dst,
            count,
            log_n as u32,
            dir == NttDirection::Inverse,
            None,
        )?;
        drop(src);
        gpu.download_into(&dst, gl_words_mut(data))
    }

    fn lde(
        &self,
        coeffs: &[Goldilocks],
        log_n: usize,
        rate_bits: usize,
        shift: Goldilocks,
    ) -> Result<Vec<Goldilocks>> {
        let gpu = &*self.gpu;
        let count = shape::lde(coeffs.len(), log_n, rate_bits)?;
        let out_len = count << (log_n + rate_bits);
        gpu.ensure_free(
            8 * (coeffs.len() + out_len) as u64 + goldilocks::lde_scratch_bytes(log_n, rate_bits),
        )?;
        let src = gpu.upload(gl_words(coeffs))?;
        let mut dst = gpu.alloc::<u64>(out_len)?;
        goldilocks::lde_into(gpu, &src, &mut dst, count, log_n, rate_bits, shift)?;
        drop(src);
        let mut out = vec![Goldilocks::ZERO; out_len];
        gpu.download_into(&dst, gl_words_mut(&mut out))?;
        Ok(out)
    }

    fn time_ops(&self, op: ResidentOp<'_>, iters: usize) -> Result<Duration> {
        let gpu = &*self.gpu;
        // Upload and set up first; the clock covers only the queued kernels and the final sync.
        let elapsed = match op {
            ResidentOp::GoldilocksNtt { data, log_n } => {
                let count = shape::ntt_batch(data.len(), log_n, "Goldilocks NTT input")?;
                gpu.ensure_free(
                    2 * shape::goldilocks_bytes(count, log_n) + goldilocks::twiddle_bytes(log_n),
                )?;
                let src = gpu.upload(gl_words(data))?;
                let mut dst = gpu.alloc::<u64>(data.len())?;
                goldilocks::twiddles(gpu, log_n as u32, false)?;
                gpu.sync("Goldilocks NTT setup")?;
                let start = Instant::now();
                for _ in 0..iters {
                    goldilocks::ntt_into(gpu, &src, &mut dst, count, log_n as u32, false, None)?;
                }
                gpu.sync("Goldilocks NTT")?;
                start.elapsed()
            }
            ResidentOp::LdeCommit {
                coeffs,
                log_n,
                rate_bits,
                cap_height,
            } => {
                let mut job = poseidon::LdeCommit::new(gpu, coeffs, log_n, rate_bits, cap_height)?;
                goldilocks::twiddles(gpu, (log_n + rate_bits) as u32, false)?;
                gpu.sync("LDE commitment setup")?;
                let start = Instant::now();
                for _ in 0..iters {
                    drop(job.run(gpu)?);
                }
                gpu.sync("LDE commitment")?;
                start.elapsed()
            }
            ResidentOp::Poseidon { states } => {
                if states.is_empty() {
                    return Ok(Duration::ZERO);
                }
                gpu.ensure_free(96 * states.len() as u64)?;
                let words: Vec<u64> = states.iter().flatten().map(|x| x.value()).collect();
                let mut buf = gpu.upload(&words)?;
                gpu.sync("Poseidon setup")?;
                let start = Instant::now();
                for _ in 0..iters {
                    poseidon::permute_on_device(gpu, &mut buf, states.len() as u64)?;
                }
                gpu.sync("Poseidon")?;
                start.elapsed()
            }
            ResidentOp::Bn254Msm { points, scalars } => {
                bn254::check_msm(points, scalars)?;
                if points.is_empty() {
                    return Ok(Duration::ZERO);
                }
                let (p, s) = bn254::pack_msm(points, scalars);
                gpu.ensure_free((p.len() + s.len()) as u64 * 8)?;
                let (pb, sb) = (gpu.upload(&p)?, gpu.upload(&s)?);
                let mut plan = bn254::Msm::new(gpu, points.len())?;
                gpu.sync("BN254 MSM setup")?;
                // Each run ends by reading back one point per window (a few hundred bytes).
                let start = Instant::now();
                for _ in 0..iters {
                    let _ = std::hint::black_box(plan.run(gpu, &pb, &sb)?);
                }
                start.elapsed()
            }
        };
        Ok(elapsed)
    }
}

impl Backend for CudaBackend {
    fn info(&self) -> &DeviceInfo {
        &self.gpu.info
    }

    fn goldilocks_ntt(
        &self,
        data: &mut [Goldilocks],
        log_n: usize,
        dir: NttDirection,
    ) -> Result<()> {
        guarded("Goldilocks NTT", || self.ntt(data, log_n, dir))
    }

    fn coset_lde(
        &self,
        coeffs: &[Goldilocks],
        log_n: usize,
        rate_bits: usize,
        shift: Goldilocks,
    ) -> Result<Vec<Goldilocks>> {
        guarded("coset LDE", || self.lde(coeffs, log_n, rate_bits, shift))
    }

    fn poseidon_permute(&self, states: &mut [State]) -> Result<()> {
        guarded("Poseidon", || poseidon::poseidon_permute(&self.gpu, states))
    }

    fn hash_rows(&self, rows: &[Goldilocks], width: usize) -> Result<Vec<Digest>> {
        guarded("hashing rows", || {
            poseidon::hash_rows(&self.gpu, rows, width)
        })
    }

    fn merkle_tree(
        &self,
        leaves: Vec<Goldilocks>,
        width: usize,
        cap_height: usize,
    ) -> Result<MerkleTree> {
        guarded("Merkle tree", || {
            poseidon::merkle_tree(&self.gpu, leaves, width, cap_height)
        })
    }

    fn lde_commit(
        &self,
        coeffs: &[Goldilocks],
        log_n: usize,
        rate_bits: usize,
        cap_height: usize,
    ) -> Result<MerkleTree> {
        guarded("LDE commitment", || {
            poseidon::LdeCommit::new(&self.gpu, coeffs, log_n, rate_bits, cap_height)?
                .commit(&self.gpu)
        })
    }
}

impl Bn254Backend for CudaBackend {
    fn bn254_msm(&self, points: &[G1Affine], scalars: &[Fr]) -> Result<G1Projective> {
        guarded("BN254 MSM", || bn254::msm(&self.gpu, points, scalars))
    }

    fn bn254_ntt(&self, values: &mut [Fr], dir: NttDirection) -> Result<()> {
        guarded("BN254 NTT", || bn254::ntt(&self.gpu, values, dir))
    }
}

impl BenchBackend for CudaBackend {
    /// Uploads the inputs once, then times `iters` runs of the kernels with the data resident
    /// (synchronising before the clock stops). Setup (upload, allocation, twiddle tables) is not
    /// timed; the MSM includes reading back its per-window sums and combining them on the host.
    fn time_resident(&self, op: ResidentOp<'_>, iters: usize) -> Result<Duration> {
        guarded("timing", || self.time_ops(op, iters))
    }
}
