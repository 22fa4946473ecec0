//! Poseidon over Goldilocks, width 12 (rate 8, capacity 4), 8 full and 22 partial rounds,
//! S-box x^7, with the parameters Polygon zkEVM and plonky2 share.
//!
//! The sponge is plonky2's "overwrite mode": each chunk of up to 8 inputs overwrites the start
//! of the state before a permutation, and the first four lanes of the final state are the hash.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod constants;
mod fast;
pub mod many;
mod mds;
mod raw;

pub use constants::ROUND_CONSTANTS;
pub use many::{hash_or_noop_many, two_to_one_many};

use crate::goldilocks::Goldilocks;

pub const WIDTH: usize = 12;
pub const RATE: usize = 8;
pub const HALF_FULL_ROUNDS: usize = 4;
pub const PARTIAL_ROUNDS: usize = 22;
pub const ROUNDS: usize = 2 * HALF_FULL_ROUNDS + PARTIAL_ROUNDS;

/// First row of the circulant part of the MDS matrix.
pub const MDS_CIRC: [u64; WIDTH] = [17, 15, 41, 16, 2, 28, 13, 13, 39, 18, 34, 20];
/// Diagonal added to the circulant matrix (only lane 0 is non-zero).
pub const MDS_DIAG: [u64; WIDTH] = [8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// A Poseidon state.
pub type State = [Goldilocks; WIDTH];
/// A 4-element hash output.
pub type Digest = [Goldilocks; 4];

#[inline(always)]
fn sbox(x: Goldilocks) -> Goldilocks {
    let x2 = x.square();
    let x4 = x2.square();
    x4 * x2 * x
}

/// The full MDS matrix: row `r` is the circulant row rotated by `r`, plus the diagonal.
const MDS: [[u64; WIDTH]; WIDTH] = {
    let mut m = [[0u64; WIDTH]; WIDTH];
    let mut r = 0;
    while r < WIDTH {
        let mut i = 0;
        while i < WIDTH {
            m[r][(i + r) % WIDTH] = MDS_CIRC[i];
            i += 1;
        }
        m[r][r] += MDS_DIAG[r];
        r += 1;
    }
    m
};

/// The dense MDS layer (for the reference permutation).
fn mds(state: &State) -> State {
    // Entries are < 2^7: split each lane into 32-bit halves so that every row sum of twelve
    // products fits in a u64, then recombine once and reduce.
    let mut lo = [0u64; WIDTH];
    let mut hi = [0u64; WIDTH];
    for i in 0..WIDTH {
        lo[i] = state[i].value() & 0xFFFF_FFFF;
        hi[i] = state[i].value() >> 32;
    }
    let mut out = [Goldilocks::ZERO; WIDTH];
    for r in 0..WIDTH {
        let row = &MDS[r];
        let mut acc_lo = 0u64;
        let mut acc_hi = 0u64;
        for i in 0..WIDTH {
            acc_lo += lo[i] * row[i];
            acc_hi += hi[i] * row[i];
        }
        out[r] = Goldilocks::reduce128(acc_lo as u128 + ((acc_hi as u128) << 32));
    }
    out
}

#[inline(always)]
fn add_round_constants(state: &mut State, round: usize) {
    for (i, s) in state.iter_mut().enumerate() {
        *s += Goldilocks::new(ROUND_CONSTANTS[WIDTH * round + i]);
    }
}

/// The Poseidon permutation: partial rounds in their sparse form (see `fast.rs`), computed on
/// raw 64-bit words with lazy reduction (see `raw.rs`).
pub fn permute(state: &mut State) {
    let mut raw = state.map(Goldilocks::value);
    raw::permute(&mut raw);
    *state = raw.map(Goldilocks::new);
}

/// Permutes every state of `states`, with the same result as [`permute`] on each: eight at a
/// time with AVX-512 where the CPU has it (detected once), one at a time otherwise.
pub fn permute_many(states: &mut [State]) {
    permute_many_with(states, simd_lanes())
}

/// How many permutations [`permute_many`] computes at once on this CPU (1: scalar).
pub fn simd_lanes() -> usize {
    static LANES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LANES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            return avx512::LANES;
        }
        1
    })
}

fn permute_many_with(states: &mut [State], lanes: usize) {
    #[cfg(target_arch = "x86_64")]
    if lanes == avx512::LANES {
        let mut chunks = states.chunks_exact_mut(avx512::LANES);
        for chunk in &mut chunks {
            let mut raw: [[u64; WIDTH]; avx512::LANES] =
                core::array::from_fn(|k| chunk[k].map(Goldilocks::value));
            // SAFETY: `lanes` is `avx512::LANES` only when `avx512::available()` said the CPU
            // has the features `permute8` is compiled for.
            unsafe { avx512::permute8(&mut raw) };
            for (s, r) in chunk.iter_mut().zip(&raw) {
                *s = r.map(Goldilocks::new);
            }
        }
        chunks.into_remainder().iter_mut().for_each(permute);
        return;
    }
    let _ = lanes;
    states.iter_mut().for_each(permute);
}

/// [`hash_with_capacity`] of many inputs at once (see [`permute_many`]).
pub fn hash_with_capacity_many(inputs: &[([Goldilocks; 8], [Goldilocks; 4])]) -> Vec<Digest> {
    let mut states: Vec<State> = inputs
        .iter()
        .map(|(i, c)| core::array::from_fn(|k| if k < 8 { i[k] } else { c[k - 8] }))
        .collect();
    permute_many(&mut states);
    states.iter().map(|s| [s[0], s[1], s[2], s[3]]).collect()
}

/// The permutation as specified, every round dense: the reference for [`permute`].
pub fn permute_reference(state: &mut State) {
    for r in 0..ROUNDS {
        let full = !(HALF_FULL_ROUNDS..HALF_FULL_ROUNDS + PARTIAL_ROUNDS).contains(&r);
        add_round_constants(state, r);
        if full {
            state.iter_mut().for_each(|s| *s = sbox(*s));
        } else {
            state[0] = sbox(state[0]);
        }
        *state = mds(state);
    }
}

/// Sponge hash of `inputs` without padding (plonky2's `hash_no_pad`).
pub fn hash_no_pad(inputs: &[Goldilocks]) -> Digest {
    let mut state = [Goldilocks::ZERO; WIDTH];
    for chunk in inputs.chunks(RATE) {
        state[..chunk.len()].copy_from_slice(chunk);
        permute(&mut state);
    }
    [state[0], state[1], state[2], state[3]]
}

/// Hashes a Merkle leaf as plonky2 does: leaves of at most four elements are their own digest
/// (zero padded), longer ones go through [`hash_no_pad`].
pub fn hash_or_noop(inputs: &[Goldilocks]) -> Digest {
    if inputs.len() <= 4 {
        let mut d = [Goldilocks::ZERO; 4];
        d[..inputs.len()].copy_from_slice(inputs);
        d
    } else {
        hash_no_pad(inputs)
    }
}

/// Two-to-one compression (plonky2's `two_to_one`): permute `[left, right, 0^4]`.
pub fn two_to_one(left: &Digest, right: &Digest) -> Digest {
    let mut state = [Goldilocks::ZERO; WIDTH];
    state[..4].copy_from_slice(left);
    state[4..8].copy_from_slice(right);
    permute(&mut state);
    [state[0], state[1], state[2], state[3]]
}

/// Polygon's hash with an explicit capacity: permute `[inputs (8), capacity (4)]` and return the
/// first four lanes. The state tree uses it for keys, leaves and nodes.
pub fn hash_with_capacity(inputs: &[Goldilocks; 8], capacity: &[Goldilocks; 4]) -> Digest {
    let mut state = [Goldilocks::ZERO; WIDTH];
    state[..8].copy_from_slice(inputs);
    state[8..].copy_from_slice(capacity);
    permute(&mut state);
    [state[0], state[1], state[2], state[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex4(s: &State) -> [u64; 4] {
        [s[0].value(), s[1].value(), s[2].value(), s[3].value()]
    }

    /// The two reference outputs DESIGN.md fixes.
    #[test]
    fn reference_vectors() {
        let mut s = [Goldilocks::ZERO; WIDTH];
        permute(&mut s);
        assert_eq!(
            hex4(&s),
            [
                0x3c18a9786cb0b359,
                0xc4055e3364a246c3,
                0x7953db0ab48808f4,
                0xc71603f33a1144ca
            ]
        );
        let mut s: State = core::array::from_fn(|i| Goldilocks::new(i as u64));
        permute(&mut s);
        assert_eq!(
            hex4(&s),
            [
                0xd64e1e3efc5b8e9e,
                0x53666633020aaa47,
                0xd40285597c6a8825,
                0x613a4f81e81231d2
            ]
        );
    }

    #[test]
    fn sparse_partial_rounds_equal_the_dense_ones() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            let mut a: State = core::array::from_fn(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                Goldilocks::new(x)
            });
            let mut b = a;
            permute(&mut a);
            permute_reference(&mut b);
            assert_eq!(a, b);
        }
    }

    /// Lanes at the edges of the range (0, 1, p - 1, 2^32 ± 1, ...) drive every carry and
    /// borrow of the lazily reduced arithmetic.
    #[test]
    fn extreme_lanes_equal_the_dense_rounds() {
        const P: u64 = 0xFFFF_FFFF_0000_0001;
        let edges = [
            0,
            1,
            2,
            P - 1,
            P - 2,
            (1 << 32) - 1,
            1 << 32,
            (1 << 32) + 1,
            P - (1 << 32),
            1 << 63,
            (1 << 63) - 1,
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for case in 0..2000 {
            let mut a: State = core::array::from_fn(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = match case % 4 {
                    0 => edges[(x as usize) % edges.len()],
                    1 => edges[(case / 4 + i) % edges.len()],
                    2 if x.is_multiple_of(3) => x,
                    _ => edges[(x >> 8) as usize % edges.len()],
                };
                Goldilocks::new(v)
            });
            let mut b = a;
            permute(&mut a);
            permute_reference(&mut b);
            assert_eq!(a, b, "case {case}");
        }
        for v in edges {
            let mut a = [Goldilocks::new(v); WIDTH];
            let mut b = a;
            permute(&mut a);
            permute_reference(&mut b);
            assert_eq!(a, b, "all lanes {v:#x}");
        }
    }

    #[test]
    fn multi_lane_equals_scalar_on_every_lane() {
        let mut x = 0x853c_49e6_748f_ea9bu64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const P: u64 = 0xFFFF_FFFF_0000_0001;
        for n in [0usize, 1, 7, 8, 9, 16, 23, 64, 333] {
            let states: Vec<State> = (0..n)
                .map(|k| {
                    core::array::from_fn(|i| {
                        let r = next();
                        // Some lanes at the edges of the range.
                        Goldilocks::new(match (k + i) % 7 {
                            0 => P - 1 - (r % 3),
                            1 => r & 0xFFFF_FFFF,
                            _ => r,
                        })
                    })
                })
                .collect();
            let mut want = states.clone();
            want.iter_mut().for_each(permute);
            for lanes in [1, simd_lanes()] {
                let mut got = states.clone();
                permute_many_with(&mut got, lanes);
                for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g, w, "n = {n}, state {k}, {lanes} lanes");
                }
            }
        }
        eprintln!("permute_many: {} lanes on this CPU", simd_lanes());
        let inputs: Vec<([Goldilocks; 8], [Goldilocks; 4])> = (0..20)
            .map(|_| {
                (
                    core::array::from_fn(|_| Goldilocks::new(next())),
                    core::array::from_fn(|_| Goldilocks::new(next() % 3)),
                )
            })
            .collect();
        let got = hash_with_capacity_many(&inputs);
        for ((i, c), g) in inputs.iter().zip(&got) {
            assert_eq!(*g, hash_with_capacity(i, c));
        }
    }

    #[test]
    fn hash_or_noop_short_leaves_are_padded() {
        let x = [Goldilocks::new(5), Goldilocks::new(6)];
        assert_eq!(
            hash_or_noop(&x),
            [x[0], x[1], Goldilocks::ZERO, Goldilocks::ZERO]
        );
        assert_eq!(hash_no_pad(&[]), [Goldilocks::ZERO; 4]);
    }
}
