//! The CPU backend: rayon over all cores.

use rayon::prelude::*;

use crate::backend::{Backend, BenchBackend, Bn254Backend, DeviceInfo, DeviceKind, NttDirection};
use crate::bn254::{self, Fr, G1Affine, G1Projective};
use crate::error::{KernelError, Result};
use crate::goldilocks::ntt::{ntt_in_place, reverse_bits, scale_by_inverse_n, twiddles};
use crate::goldilocks::Goldilocks;
use crate::merkle::{check_shape, hash_leaves, MerkleTree};
use crate::poseidon::{self, Digest, State};
use crate::shape;

/// Runs every kernel on the host CPU.
pub struct CpuBackend {
    info: DeviceInfo,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// Refuses work whose buffers would not fit in this machine's memory, rather than letting the
    /// allocation abort the process.
    fn check_memory(&self, needed: u64) -> Result<()> {
        if self.info.memory_bytes != 0 && needed > self.info.memory_bytes {
            return Err(KernelError::OutOfDeviceMemory {
                device: self.info.name.clone(),
                needed,
                free: self.info.memory_bytes,
            });
        }
        Ok(())
    }

    pub fn new() -> Self {
        Self {
            info: DeviceInfo {
                kind: DeviceKind::Cpu,
                name: cpu_model_name(),
                memory_bytes: total_memory_bytes(),
                compute_capability: None,
                parallelism: rayon::current_num_threads() as u32,
            },
        }
    }
}

fn cpu_model_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn total_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// Forward or inverse NTT of each `2^log_n` chunk.
pub fn goldilocks_ntt(data: &mut [Goldilocks], log_n: usize, dir: NttDirection) -> Result<()> {
    let count = shape::ntt_batch(data.len(), log_n, "Goldilocks NTT input")?;
    let inverse = dir == NttDirection::Inverse;
    let tw = twiddles(log_n, inverse);
    let n = 1usize << log_n;
    if count >= rayon::current_num_threads() {
        data.par_chunks_mut(n)
            .for_each(|v| ntt_in_place(v, &tw, false));
    } else {
        data.chunks_mut(n).for_each(|v| ntt_in_place(v, &tw, true));
    }
    if inverse {
        data.par_chunks_mut(n).for_each(scale_by_inverse_n);
    }
    Ok(())
}

/// Coset LDE of polynomials given back to back.
pub fn coset_lde(
    coeffs: &[Goldilocks],
    log_n: usize,
    rate_bits: usize,
    shift: Goldilocks,
) -> Result<Vec<Goldilocks>> {
    let count = shape::lde(coeffs.len(), log_n, rate_bits)?;
    let n = 1usize << log_n;
    let big = n << rate_bits;
    let log_big = log_n + rate_bits;
    let tw = twiddles(log_big, false);
    let shifts = shift.powers(n);
    let mut out = vec![Goldilocks::ZERO; count * big];
    let one_poly = |(c, v): (&[Goldilocks], &mut [Goldilocks]), parallel: bool| {
        for ((o, &ci), &s) in v.iter_mut().zip(c).zip(&shifts) {
            *o = ci * s;
        }
        ntt_in_place(v, &tw, parallel);
    };
    if count >= rayon::current_num_threads() {
        coeffs
            .par_chunks(n)
            .zip(out.par_chunks_mut(big))
            .for_each(|p| one_poly(p, false));
    } else {
        coeffs
            .chunks(n)
            .zip(out.chunks_mut(big))
            .for_each(|p| one_poly(p, true));
    }
    Ok(out)
}

/// Turns polynomial-major LDE values into row-major leaves in bit-reversed row order.
///
/// Row `i` holds the values at point `reverse_bits(i)`. The rows `j + m · big / 8` (`m` in
/// `0..8`) read the eight consecutive points `reverse_bits(j) + reverse_bits(m, 3)`, one cache
/// line of each polynomial: they are written together, so every line of the LDE is read once
/// (reading row by row would touch a fresh line for each value).
pub fn lde_to_leaves(lde: &[Goldilocks], count: usize, log_big: usize) -> Vec<Goldilocks> {
    const SPREAD_BITS: usize = 3;
    const SPREAD: usize = 1 << SPREAD_BITS;
    let big = 1usize << log_big;
    assert_eq!(lde.len(), count * big, "lde_to_leaves: LDE length");
    let mut rows = vec![Goldilocks::ZERO; count * big];
    if count == 0 {
        return rows;
    }
    if log_big < SPREAD_BITS {
        rows.par_chunks_mut(count).enumerate().for_each(|(i, row)| {
            let src = reverse_bits(i, log_big);
            for (k, x) in row.iter_mut().enumerate() {
                *x = lde[k * big + src];
            }
        });
        return rows;
    }
    // Plane `m` is rows `m · big / 8 ..`; a task takes the same rows of every plane.
    let plane = big / SPREAD;
    let rows_per_task = (1usize << 13).div_ceil(SPREAD * count).clamp(1, plane);
    let mut planes: Vec<_> = rows
        .chunks_mut(plane * count)
        .map(|p| p.chunks_mut(rows_per_task * count))
        .collect();
    let tasks: Vec<(usize, [&mut [Goldilocks]; SPREAD])> = (0..plane.div_ceil(rows_per_task))
        .map(|t| {
            let parts = core::array::from_fn(|m| planes[m].next().expect("equal planes"));
            (t * rows_per_task, parts)
        })
        .collect();
    let lane = core::array::from_fn::<usize, SPREAD, _>(|m| reverse_bits(m, SPREAD_BITS));
    tasks.into_par_iter().for_each(|(j0, mut parts)| {
        let n = parts[0].len() / count;
        for dj in 0..n {
            let base = reverse_bits(j0 + dj, log_big);
            for k in 0..count {
                let src = &lde[k * big + base..][..SPREAD];
                for (part, &l) in parts.iter_mut().zip(&lane) {
                    part[dj * count + k] = src[l];
                }
            }
        }
    });
    rows
}

impl Backend for CpuBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn goldilocks_ntt(
        &self,
        data: &mut [Goldilocks],
        log_n: usize,
        dir: NttDirection,
    ) -> Result<()> {
        goldilocks_ntt(data, log_n, dir)
    }

    fn coset_lde(
        &self,
        coeffs: &[Goldilocks],
        log_n: usize,
        rate_bits: usize,
        shift: Goldilocks,
    ) -> Result<Vec<Goldilocks>> {
        let count = shape::lde(coeffs.len(), log_n, rate_bits)?;
        self.check_memory(shape::goldilocks_bytes(count, log_n + rate_bits))?;
        coset_lde(coeffs, log_n, rate_bits, shift)
    }

    fn poseidon_permute(&self, states: &mut [State]) -> Result<()> {
        // Chunks of a multiple of eight, so every group but the last fills the lanes.
        states.par_chunks_mut(256).for_each(poseidon::permute_many);
        Ok(())
    }

    fn hash_rows(&self, rows: &[Goldilocks], width: usize) -> Result<Vec<Digest>> {
        if width == 0 || !rows.len().is_multiple_of(width) {
            return Err(KernelError::InvalidArgument(format!(
                "cannot split {} elements into rows of width {width}",
                rows.len()
            )));
        }
        Ok(hash_leaves(rows, width))
    }

    fn merkle_tree(
        &self,
        leaves: Vec<Goldilocks>,
        width: usize,
        cap_height: usize,
    ) -> Result<MerkleTree> {
        MerkleTree::new(leaves, width, cap_height)
    }

    fn lde_commit(
        &self,
        coeffs: &[Goldilocks],
        log_n: usize,
        rate_bits: usize,
        cap_height: usize,
    ) -> Result<MerkleTree> {
        let count = shape::lde(coeffs.len(), log_n, rate_bits)?;
        check_shape(count << (log_n + rate_bits), count, cap_height)?;
        // The LDE and its transposed leaves live side by side for a moment.
        self.check_memory(2 * shape::goldilocks_bytes(count, log_n + rate_bits))?;
        let lde = coset_lde(
            coeffs,
            log_n,
            rate_bits,
            Goldilocks::MULTIPLICATIVE_GENERATOR,
        )?;
        let leaves = lde_to_leaves(&lde, count, log_n + rate_bits);
        drop(lde);
        MerkleTree::new(leaves, count, cap_height)
    }
}

impl Bn254Backend for CpuBackend {
    fn bn254_msm(&self, points: &[G1Affine], scalars: &[Fr]) -> Result<G1Projective> {
        bn254::msm(points, scalars)
    }

    fn bn254_ntt(&self, values: &mut [Fr], dir: NttDirection) -> Result<()> {
        bn254::ntt(values, dir)
    }
}

/// Times the plain operations (there is no device to keep data on).
impl BenchBackend for CpuBackend {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_the_bit_reversed_rows_of_the_lde() {
        for log_big in 0..=10 {
            for count in [1, 2, 3, 8, 37] {
                let big = 1usize << log_big;
                let lde: Vec<Goldilocks> = (0..count * big)
                    .map(|i| Goldilocks::new(i as u64 * 0x9e37_79b9 + 7))
                    .collect();
                let rows = lde_to_leaves(&lde, count, log_big);
                for i in 0..big {
                    for k in 0..count {
                        assert_eq!(
                            rows[i * count + k],
                            lde[k * big + reverse_bits(i, log_big)],
                            "log_big {log_big}, count {count}, row {i}, column {k}"
                        );
                    }
                }
            }
        }
    }
}
