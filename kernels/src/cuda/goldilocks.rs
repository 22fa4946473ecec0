//! Goldilocks NTTs and coset LDEs on the GPU: pass planning, twiddle tables, launches.

use std::sync::Arc;

use cudarc::driver::CudaSlice;

use super::device::{grid, launch, Gpu, TableKey};
use crate::error::Result;
use crate::goldilocks::Goldilocks;

/// log2 of the shared-memory tile of the NTT kernels (`NTT_TILE_LOG` in ntt.cu).
const TILE_LOG: u32 = 12;
/// Threads per NTT block (`NTT_THREADS` in ntt.cu).
const NTT_THREADS: u32 = 256;
/// Entries each thread of `gl_twiddles` / `gl_powers` fills (`GL_RUN`).
const RUN: u64 = 32;

/// One kernel launch of a transform: stages `s0 .. s0 + r` over tiles of `2^c` groups of `2^r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pass {
    pub s0: u32,
    pub r: u32,
    pub c: u32,
}

/// The passes of a `2^log_n` transform. The first gathers the bit-reversed input: with
/// `log_n <= TILE_LOG` it transforms whole vectors, `2^c` of them per block; otherwise it runs 10
/// stages on 4 interleaved sub-vectors. Each later pass runs up to 9 stages, in place.
pub(crate) fn plan(log_n: u32) -> Vec<Pass> {
    let r0 = if log_n <= TILE_LOG {
        log_n
    } else {
        TILE_LOG - 2
    };
    let mut passes = vec![Pass {
        s0: 0,
        r: r0,
        c: TILE_LOG - r0,
    }];
    let mut s0 = r0;
    while s0 < log_n {
        let r = (log_n - s0).min(TILE_LOG - 3);
        let c = (TILE_LOG - r).min(s0);
        passes.push(Pass { s0, r, c });
        s0 += r;
    }
    passes
}

/// The bytes of the twiddle table of a `2^log_n` transform.
pub(crate) fn twiddle_bytes(log_n: usize) -> u64 {
    ((1u64 << log_n) - 1).max(1) * 8
}

/// The twiddle table of a `2^log_n` transform (`tw[2^s - 1 + j] = w_{s+1}^j`), cached.
pub(crate) fn twiddles(gpu: &Gpu, log_n: u32, inverse: bool) -> Result<Arc<CudaSlice<u64>>> {
    let key = TableKey::GoldilocksTwiddles { log_n, inverse };
    let mut tables = gpu.tables.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = tables.get(&key) {
        return Ok(t.clone());
    }
    gpu.ensure_free(twiddle_bytes(log_n as usize) + 8 * 64)?;
    let roots: Vec<u64> = (1..=log_n.max(1))
        .map(|s| {
            let w = Goldilocks::primitive_root_of_unity(s as usize)
                .expect("log_n <= 32 checked by the caller");
            if inverse {
                w.inverse().expect("roots of unity are non-zero")
            } else {
                w
            }
            .value()
        })
        .collect();
    let roots = gpu.upload(&roots)?;
    let total = (1u64 << log_n) - 1;
    let mut table = gpu.alloc::<u64>(total as usize)?;
    if total > 0 {
        launch!(
            gpu,
            "gl_twiddles",
            grid(total.div_ceil(RUN).div_ceil(256), 256)?,
            &mut table,
            &roots,
            &log_n
        )?;
    }
    let table = Arc::new(table);
    tables.insert(key, table.clone());
    Ok(table)
}

/// `[1, base, base^2, ..., base^(n-1)]` on the device.
pub(crate) fn powers(gpu: &Gpu, base: Goldilocks, n: u64) -> Result<CudaSlice<u64>> {
    let mut out = gpu.alloc::<u64>(n as usize)?;
    let b = base.value();
    launch!(
        gpu,
        "gl_powers",
        grid(n.div_ceil(RUN).div_ceil(256), 256)?,
        &mut out,
        &b,
        &n
    )?;
    Ok(out)
}

/// Coset-LDE input: vectors of `2^src_log` coefficients, coefficient `j` scaled by `scale[j]`.
pub(crate) struct LdeInput<'a> {
    pub scale: &'a CudaSlice<u64>,
    pub src_log: u32,
}

/// Transforms `count` vectors of `2^log_n` from `src` into `dst` (which must not alias it).
/// With `lde`, `src` holds `count` vectors of `2^src_log` coefficients, scaled and zero-padded
/// on the fly. The inverse includes the division by `n`.
pub(crate) fn ntt_into(
    gpu: &Gpu,
    src: &CudaSlice<u64>,
    dst: &mut CudaSlice<u64>,
    count: usize,
    log_n: u32,
    inverse: bool,
    lde: Option<LdeInput<'_>>,
) -> Result<()> {
    let tw = twiddles(gpu, log_n, inverse)?;
    let passes = plan(log_n);
    let n_inv = if inverse {
        Goldilocks::new(1u64 << log_n)
            .inverse()
            .expect("n is non-zero")
            .value()
    } else {
        1
    };
    let last = passes.len() - 1;
    for (k, p) in passes.iter().enumerate() {
        let factor: u64 = if k == last { n_inv } else { 1 };
        let total_groups = (count as u64) << (log_n - p.r);
        let (r, c, s0) = (p.r, p.c, p.s0);
        if k == 0 {
            let blocks = total_groups.div_ceil(1 << c);
            let (src_log, scale_ptr) = match &lde {
                Some(l) => (l.src_log, super::dptr(gpu, l.scale)),
                None => (log_n, 0u64),
            };
            launch!(
                gpu,
                "gl_ntt_first",
                grid(blocks, NTT_THREADS)?,
                src,
                &mut *dst,
                &*tw,
                &scale_ptr,
                &log_n,
                &src_log,
                &r,
                &c,
                &total_groups,
                &factor
            )?;
        } else {
            let blocks = total_groups >> c;
            launch!(
                gpu,
                "gl_ntt_pass",
                grid(blocks, NTT_THREADS)?,
                &mut *dst,
                &*tw,
                &log_n,
                &s0,
                &r,
                &c,
                &factor
            )?;
        }
    }
    Ok(())
}

/// Coset LDE of `count` polynomials of `2^log_n` coefficients in `coeffs` into `out`
/// (`count << (log_n + rate_bits)` values).
pub(crate) fn lde_into(
    gpu: &Gpu,
    coeffs: &CudaSlice<u64>,
    out: &mut CudaSlice<u64>,
    count: usize,
    log_n: usize,
    rate_bits: usize,
    shift: Goldilocks,
) -> Result<()> {
    let scale = powers(gpu, shift, 1u64 << log_n)?;
    let lde = LdeInput {
        scale: &scale,
        src_log: log_n as u32,
    };
    ntt_into(
        gpu,
        coeffs,
        out,
        count,
        (log_n + rate_bits) as u32,
        false,
        Some(lde),
    )
}

/// Device bytes an LDE of `count` polynomials needs besides its input and output.
pub(crate) fn lde_scratch_bytes(log_n: usize, rate_bits: usize) -> u64 {
    (8u64 << log_n) + twiddle_bytes(log_n + rate_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_stage_once_within_the_tile() {
        for log_n in 0..=32u32 {
            let p = plan(log_n);
            assert_eq!(p[0].s0, 0);
            assert_eq!(p[0].r + p[0].c, TILE_LOG, "{log_n}");
            if log_n > TILE_LOG {
                assert!(log_n - p[0].r >= p[0].c, "first pass needs 2^c sub-vectors");
            }
            let mut s = p[0].r;
            for q in &p[1..] {
                assert_eq!(q.s0, s);
                assert!(
                    q.r >= 1 && q.r + q.c <= TILE_LOG && q.c <= q.s0 && q.c >= 1,
                    "{log_n}: {q:?}"
                );
                s += q.r;
            }
            assert_eq!(s, log_n);
        }
    }
}
