//! BN254 on the GPU: Pippenger G1 MSM and the scalar-field NTT.
//!
//! Field elements cross the bus as arkworks stores them, Montgomery-form little-endian limbs, so
//! conversion is a copy. MSM: scalars are reduced to canonical integers on the device and cut
//! into `windows` digits of `c` bits; per window the (point, digit) pairs are counting-sorted by
//! digit and summed per bucket by levels of chunk sums: each thread adds `K` consecutive entries,
//! so a crowded bucket is spread over many threads and each level divides the entries by `K`.
//! Each window's `sum_b b * S_b` is formed over segments of 16 buckets and the segments are added
//! up on the device; the host combines the windows (`c` doublings each).

use std::sync::Arc;

use ark_ec::AdditiveGroup;
use ark_ff::{BigInt, Field, PrimeField, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use cudarc::driver::CudaSlice;
use rayon::prelude::*;

use super::device::{grid, launch, per_item, Gpu, TableKey};
use crate::backend::NttDirection;
use crate::bn254::{check_ntt_len, Fr, G1Affine, G1Projective, MAX_LOG_NTT};
use crate::error::{KernelError, Result};

/// Threads per block of the BN254 kernels (`__launch_bounds__` in the .cu files).
const THREADS: u32 = 128;
/// Entries summed by one thread of `msm_chunks`.
const CHUNK: u32 = 32;
/// log2 of the buckets one thread of `msm_segments` weighs.
const SEGMENT_LOG: u32 = 4;

type Fq = ark_bn254::Fq;

/// Montgomery limbs of points (x, y) and scalars, ready to upload. Points at infinity get a zero
/// scalar, so they are never added.
pub(crate) fn pack_msm(points: &[G1Affine], scalars: &[Fr]) -> (Vec<u64>, Vec<u64>) {
    let mut p = vec![0u64; 8 * points.len()];
    let mut s = vec![0u64; 4 * points.len()];
    p.par_chunks_mut(8)
        .zip(s.par_chunks_mut(4))
        .zip(points.par_iter().zip(scalars))
        .for_each(|((pw, sw), (pt, sc))| {
            if !pt.infinity {
                pw[..4].copy_from_slice(&pt.x.0 .0);
                pw[4..].copy_from_slice(&pt.y.0 .0);
                sw.copy_from_slice(&sc.0 .0);
            }
        });
    (p, s)
}

/// The checks of [`crate::bn254::msm`].
pub(crate) fn check_msm(points: &[G1Affine], scalars: &[Fr]) -> Result<()> {
    if points.len() != scalars.len() {
        return Err(KernelError::LengthMismatch {
            what: "BN254 MSM scalars (one per point)",
            expected: points.len(),
            got: scalars.len(),
        });
    }
    if points.len() > u32::MAX as usize {
        return Err(KernelError::InvalidArgument(format!(
            "{} MSM points exceed the GPU kernels' 2^32 limit",
            points.len()
        )));
    }
    Ok(())
}

/// Device buffers and parameters of an MSM over `n` points.
pub(crate) struct Msm {
    n: u64,
    c: u32,
    windows: u32,
    cpw: u64,
    seg_log: u32,
    canon: CudaSlice<u64>,
    counts: CudaSlice<u32>,
    cursor: CudaSlice<u32>,
    totals: CudaSlice<u32>,
    sorted_idx: CudaSlice<u32>,
    sorted_bucket: CudaSlice<u32>,
    partial: [CudaSlice<u64>; 2],
    labels: [CudaSlice<u32>; 2],
    buckets: CudaSlice<u64>,
    seg: CudaSlice<u64>,
    tmp: CudaSlice<u64>,
}

impl Msm {
    /// Picks the window size for `n` points, checks free memory and allocates.
    pub fn new(gpu: &Gpu, n: usize) -> Result<Self> {
        let n = n as u64;
        let lg = 64 - n.saturating_sub(1).leading_zeros();
        let c = lg.saturating_sub(4).clamp(4, 16);
        let windows = Fr::MODULUS_BIT_SIZE.div_ceil(c);
        let cpw = n.div_ceil(CHUNK as u64);
        let seg_log = c.saturating_sub(SEGMENT_LOG);
        let w = windows as u64;
        let bytes = 32 * n
            + 8 * (w << c)
            + 8 * w * n
            + 2 * 100 * w * cpw
            + 96 * (w << c)
            + 2 * 96 * (w << seg_log);
        gpu.ensure_free(bytes)?;
        let wl = |shift: u32| (windows as usize) << shift;
        let parts = (w * cpw) as usize;
        Ok(Self {
            n,
            c,
            windows,
            cpw,
            seg_log,
            canon: gpu.alloc(4 * n as usize)?,
            counts: gpu.alloc(wl(c))?,
            cursor: gpu.alloc(wl(c))?,
            totals: gpu.alloc(windows as usize)?,
            sorted_idx: gpu.alloc((w * n) as usize)?,
            sorted_bucket: gpu.alloc((w * n) as usize)?,
            partial: [gpu.alloc(12 * parts)?, gpu.alloc(12 * parts)?],
            labels: [gpu.alloc(parts)?, gpu.alloc(parts)?],
            buckets: gpu.alloc(12 * wl(c))?,
            seg: gpu.alloc(12 * wl(seg_log))?,
            tmp: gpu.alloc(12 * wl(seg_log))?,
        })
    }

    /// Runs the MSM of `points` (8 words each) and `scalars` (4 Montgomery words each).
    pub fn run(
        &mut self,
        gpu: &Gpu,
        points: &CudaSlice<u64>,
        scalars: &CudaSlice<u64>,
    ) -> Result<G1Projective> {
        let (n, c, windows, cpw, seg_log, k) =
            (self.n, self.c, self.windows, self.cpw, self.seg_log, CHUNK);
        let w = windows as u64;
        let memset = super::device::cuda_err("cuMemsetD8");
        launch!(
            gpu,
            "bn_scalars_canonical",
            per_item(n, THREADS)?,
            scalars,
            &mut self.canon,
            &n
        )?;
        gpu.stream.memset_zeros(&mut self.counts).map_err(&memset)?;
        launch!(
            gpu,
            "msm_histogram",
            per_item(n, THREADS)?,
            &self.canon,
            &mut self.counts,
            &n,
            &c,
            &windows
        )?;
        launch!(
            gpu,
            "msm_scan",
            grid(w, 256)?,
            &self.counts,
            &mut self.cursor,
            &mut self.totals,
            &c
        )?;
        launch!(
            gpu,
            "msm_scatter",
            per_item(n, THREADS)?,
            &self.canon,
            &mut self.cursor,
            &mut self.sorted_idx,
            &mut self.sorted_bucket,
            &n,
            &c,
            &windows
        )?;
        // Bucket sums: level 0 reads the sorted pairs, each later level the previous level's
        // chunk sums, until one entry per window is left.
        gpu.stream
            .memset_zeros(&mut self.buckets)
            .map_err(&memset)?;
        let (mut div, mut level, mut src) = (1u64, 0u32, 0usize);
        loop {
            let entries = n.div_ceil(div);
            let qpw = entries.div_ceil(k as u64);
            let (in_stride, null) = (if level == 0 { n } else { cpw }, 0u64);
            let (lo, hi) = self.partial.split_at_mut(1);
            let (in_pts, out_pts) = if src == 0 {
                (&lo[0], &mut hi[0])
            } else {
                (&hi[0], &mut lo[0])
            };
            let (lo, hi) = self.labels.split_at_mut(1);
            let (in_lab, out_lab) = if src == 0 {
                (&lo[0], &mut hi[0])
            } else {
                (&hi[0], &mut lo[0])
            };
            let in_label = if level == 0 {
                &self.sorted_bucket
            } else {
                in_lab
            };
            let in_pts_ptr = if level == 0 {
                null
            } else {
                super::dptr(gpu, in_pts)
            };
            launch!(
                gpu,
                "msm_chunks",
                per_item(w * qpw, THREADS)?,
                points,
                &self.sorted_idx,
                &in_pts_ptr,
                in_label,
                &in_stride,
                &self.totals,
                &div,
                out_pts,
                out_lab,
                &mut self.buckets,
                &c,
                &windows,
                &k,
                &qpw,
                &cpw,
                &level
            )?;
            src ^= 1;
            div *= k as u64;
            level += 1;
            if qpw <= 1 {
                break;
            }
        }
        launch!(
            gpu,
            "msm_finish",
            per_item(w, THREADS)?,
            &self.partial[src],
            &self.labels[src],
            &self.totals,
            &mut self.buckets,
            &c,
            &windows,
            &cpw
        )?;
        launch!(
            gpu,
            "msm_segments",
            per_item(w << seg_log, THREADS)?,
            &self.buckets,
            &mut self.seg,
            &c,
            &windows,
            &seg_log
        )?;
        let mut m = seg_log;
        while m > 0 {
            let f = m.min(3);
            let count_out = w << (m - f);
            let group = 1u32 << f;
            launch!(
                gpu,
                "bn_sum_groups",
                per_item(count_out, THREADS)?,
                &self.seg,
                &mut self.tmp,
                &count_out,
                &group
            )?;
            std::mem::swap(&mut self.seg, &mut self.tmp);
            m -= f;
        }
        let mut words = vec![0u64; 12 * windows as usize];
        gpu.download_into(&self.seg, &mut words)?;
        let mut acc = G1Projective::ZERO;
        for p in words.chunks_exact(12).rev() {
            for _ in 0..c {
                acc.double_in_place();
            }
            acc += jacobian_from_words(p);
        }
        Ok(acc)
    }
}

/// A device Jacobian point (X, Y, Z Montgomery limbs) as arkworks' projective point, which uses
/// the same Jacobian coordinates.
fn jacobian_from_words(w: &[u64]) -> G1Projective {
    let f = |i: usize| Fq::new_unchecked(BigInt([w[i], w[i + 1], w[i + 2], w[i + 3]]));
    let z = f(8);
    if z.is_zero() {
        G1Projective::ZERO
    } else {
        G1Projective::new_unchecked(f(0), f(4), z)
    }
}

pub(crate) fn msm(gpu: &Gpu, points: &[G1Affine], scalars: &[Fr]) -> Result<G1Projective> {
    check_msm(points, scalars)?;
    if points.is_empty() {
        return Ok(G1Projective::ZERO);
    }
    let (p, s) = pack_msm(points, scalars);
    gpu.ensure_free((p.len() + s.len()) as u64 * 8)?;
    let pb = gpu.upload(&p)?;
    let sb = gpu.upload(&s)?;
    let mut plan = Msm::new(gpu, points.len())?;
    plan.run(gpu, &pb, &sb)
}

/// Twiddles of a `2^log_n` scalar-field transform with arkworks' root (or its inverse), cached.
fn twiddles(gpu: &Gpu, log_n: u32, root: Fr, inverse: bool) -> Result<Arc<CudaSlice<u64>>> {
    let key = TableKey::Bn254Twiddles { log_n, inverse };
    let mut tables = gpu.tables.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = tables.get(&key) {
        return Ok(t.clone());
    }
    let total = (1u64 << log_n) - 1;
    gpu.ensure_free(32 * total + 32 * 64)?;
    // roots[s] = root^(2^(log_n - 1 - s)), a primitive 2^(s+1)-th root.
    let mut roots = vec![Fr::ONE; log_n as usize];
    let mut r = root;
    for s in (0..log_n as usize).rev() {
        roots[s] = r;
        r.square_in_place();
    }
    let words: Vec<u64> = roots.iter().flat_map(|x| x.0 .0).collect();
    let roots = gpu.upload(&words)?;
    let mut table = gpu.alloc::<u64>(4 * total as usize)?;
    launch!(
        gpu,
        "fr_twiddles",
        per_item(total.div_ceil(32), THREADS)?,
        &mut table,
        &roots,
        &log_n
    )?;
    let table = Arc::new(table);
    tables.insert(key, table.clone());
    Ok(table)
}

pub(crate) fn ntt(gpu: &Gpu, values: &mut [Fr], dir: NttDirection) -> Result<()> {
    let log_n = check_ntt_len(values.len())?;
    if log_n == 0 {
        return Ok(());
    }
    let domain = Radix2EvaluationDomain::<Fr>::new(values.len()).ok_or(KernelError::TooLarge {
        what: "BN254 NTT",
        log_n,
        max_log_n: MAX_LOG_NTT,
    })?;
    let inverse = dir == NttDirection::Inverse;
    let n = values.len() as u64;
    gpu.ensure_free(32 * 3 * n)?;
    let log_n = log_n as u32;
    let tw = twiddles(
        gpu,
        log_n,
        if inverse {
            domain.group_gen_inv
        } else {
            domain.group_gen
        },
        inverse,
    )?;
    let words: Vec<u64> = values.par_iter().flat_map_iter(|x| x.0 .0).collect();
    let src = gpu.upload(&words)?;
    let mut data = gpu.alloc::<u64>(words.len())?;
    launch!(
        gpu,
        "fr_bitrev",
        per_item(n, THREADS)?,
        &src,
        &mut data,
        &log_n
    )?;
    for s in 0..log_n {
        launch!(
            gpu,
            "fr_ntt_stage",
            per_item(n / 2, THREADS)?,
            &mut data,
            &*tw,
            &log_n,
            &s
        )?;
    }
    if inverse {
        let f = domain.size_inv.0 .0;
        launch!(
            gpu,
            "fr_scale",
            per_item(n, THREADS)?,
            &mut data,
            &n,
            &f[0],
            &f[1],
            &f[2],
            &f[3]
        )?;
    }
    let mut out = vec![0u64; words.len()];
    gpu.download_into(&data, &mut out)?;
    values
        .par_iter_mut()
        .zip(out.par_chunks_exact(4))
        .for_each(|(v, w)| *v = Fr::new_unchecked(BigInt([w[0], w[1], w[2], w[3]])));
    Ok(())
}
