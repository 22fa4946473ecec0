//! Radix-2 number-theoretic transforms over Goldilocks on the CPU.
//!
//! Conventions match plonky2: the forward transform of coefficients `c` gives the values
//! `v[i] = sum_j c[j] * w^(i*j)` in natural order, with `w` the primitive root of unity of
//! [`Goldilocks::primitive_root_of_unity`]; the inverse transform undoes it (including the
//! division by `n`). A coset transform evaluates at `shift * w^i`.

use rayon::prelude::*;

use super::field::Goldilocks;

/// Reverses the lowest `bits` bits of `i`.
#[inline(always)]
pub fn reverse_bits(i: usize, bits: usize) -> usize {
    if bits == 0 {
        0
    } else {
        i.reverse_bits() >> (usize::BITS as usize - bits)
    }
}

/// Permutes `v` (of length 2^bits) into bit-reversed index order.
pub fn reverse_index_bits_in_place<T>(v: &mut [T]) {
    let n = v.len();
    debug_assert!(n.is_power_of_two());
    let bits = n.trailing_zeros() as usize;
    for i in 0..n {
        let j = reverse_bits(i, bits);
        if i < j {
            v.swap(i, j);
        }
    }
}

/// Twiddle factors for a transform of size 2^log_n: `w^j` for `j < n/2`.
pub fn twiddles(log_n: usize, inverse: bool) -> Vec<Goldilocks> {
    let n = 1usize << log_n;
    let w = Goldilocks::primitive_root_of_unity(log_n).expect("log_n checked by caller");
    let w = if inverse {
        w.inverse().expect("root of unity is non-zero")
    } else {
        w
    };
    let half = n / 2;
    let mut out = vec![Goldilocks::ONE; half.max(1)];
    // Fill in parallel blocks: each block starts from its own power.
    const BLOCK: usize = 1 << 12;
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, chunk)| {
            let mut cur = w.pow((b * BLOCK) as u64);
            for x in chunk {
                *x = cur;
                cur *= w;
            }
        });
    out
}

/// In-place transform of one vector of length 2^log_n, natural order in and out.
/// `tw` comes from [`twiddles`] for the same `log_n` and direction.
pub fn ntt_in_place(v: &mut [Goldilocks], tw: &[Goldilocks], parallel: bool) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let log_n = n.trailing_zeros() as usize;
    reverse_index_bits_in_place(v);
    // Decimation in time: stage s combines blocks of size 2^s into blocks of size 2^(s+1).
    for s in 0..log_n {
        let half = 1usize << s;
        let block = half << 1;
        let stride = n / block; // twiddle index step: w_block^j = w_n^(j * stride)
        let butterfly_block = |chunk: &mut [Goldilocks]| {
            let (lo, hi) = chunk.split_at_mut(half);
            for j in 0..half {
                let t = hi[j] * tw[j * stride];
                let u = lo[j];
                lo[j] = u + t;
                hi[j] = u - t;
            }
        };
        let blocks = n / block;
        if !parallel || n < (1 << 14) {
            v.chunks_mut(block).for_each(butterfly_block);
        } else if blocks >= 64 {
            v.par_chunks_mut(block).for_each(butterfly_block);
        } else {
            // Few large blocks: split each block's butterflies across threads.
            for chunk in v.chunks_mut(block) {
                let (lo, hi) = chunk.split_at_mut(half);
                const PIECE: usize = 1 << 12;
                lo.par_chunks_mut(PIECE)
                    .zip(hi.par_chunks_mut(PIECE))
                    .enumerate()
                    .for_each(|(p, (l, h))| {
                        for k in 0..l.len() {
                            let j = p * PIECE + k;
                            let t = h[k] * tw[j * stride];
                            let u = l[k];
                            l[k] = u + t;
                            h[k] = u - t;
                        }
                    });
            }
        }
    }
}

/// Multiplies `v[i]` by `n^-1`.
pub fn scale_by_inverse_n(v: &mut [Goldilocks]) {
    let n_inv = Goldilocks::new(v.len() as u64).inverse().expect("n > 0");
    v.par_iter_mut().for_each(|x| *x *= n_inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dft(c: &[Goldilocks]) -> Vec<Goldilocks> {
        let n = c.len();
        let w = Goldilocks::primitive_root_of_unity(n.trailing_zeros() as usize).unwrap();
        (0..n)
            .map(|i| {
                let wi = w.pow(i as u64);
                let mut acc = Goldilocks::ZERO;
                let mut p = Goldilocks::ONE;
                for &cj in c {
                    acc += cj * p;
                    p *= wi;
                }
                acc
            })
            .collect()
    }

    #[test]
    fn matches_naive_dft_and_inverts() {
        for log_n in 0..=8 {
            let n = 1 << log_n;
            let c: Vec<_> = (0..n)
                .map(|i| Goldilocks::new(i as u64 * 7919 + 3))
                .collect();
            let mut v = c.clone();
            ntt_in_place(&mut v, &twiddles(log_n, false), true);
            assert_eq!(v, naive_dft(&c), "log_n {log_n}");
            ntt_in_place(&mut v, &twiddles(log_n, true), true);
            scale_by_inverse_n(&mut v);
            assert_eq!(v, c);
        }
    }

    #[test]
    fn parallel_paths_agree_with_serial() {
        let log_n = 15;
        let c: Vec<_> = (0..1u64 << log_n)
            .map(|i| Goldilocks::new(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        let tw = twiddles(log_n, false);
        let (mut a, mut b) = (c.clone(), c);
        ntt_in_place(&mut a, &tw, true);
        ntt_in_place(&mut b, &tw, false);
        assert_eq!(a, b);
    }
}
