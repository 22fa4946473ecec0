//! Eight permutations at once with AVX-512: lane `k` of vector `i` is element `i` of state `k`.
//!
//! The arithmetic is that of `raw.rs` (words congruent mod p, not necessarily below it), done on
//! eight words per instruction: a 64×64-bit product from four 32×32-bit ones, carries from
//! unsigned compares into mask registers. Selected at run time (see [`super::permute_many`]);
//! the tests compare every lane with the scalar permutation.

// Fixed-size linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::raw::{raw_tables, RawTables};
use super::{HALF_FULL_ROUNDS, MDS_DIAG, PARTIAL_ROUNDS, WIDTH};

const EPSILON: u64 = 0xFFFF_FFFF;
const P: u64 = 0xFFFF_FFFF_0000_0001;
const R: usize = WIDTH - 1;

/// How many states one call permutes.
pub(super) const LANES: usize = 8;

/// Whether this CPU can run [`permute8`].
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
}

type V = __m512i;

#[inline]
#[target_feature(enable = "avx512f")]
fn splat(x: u64) -> V {
    _mm512_set1_epi64(x as i64)
}

/// `a + b`, a carry out replaced by 2^64 mod p (same preconditions as in `raw.rs`).
#[inline]
#[target_feature(enable = "avx512f")]
fn add_with_wrap(a: V, b: V) -> V {
    let s = _mm512_add_epi64(a, b);
    let carry = _mm512_cmplt_epu64_mask(s, b);
    _mm512_mask_add_epi64(s, carry, s, splat(EPSILON))
}

/// The full product: (high, low) 64-bit halves.
#[inline]
#[target_feature(enable = "avx512f")]
fn mul_wide(a: V, b: V) -> (V, V) {
    let a_hi = _mm512_srli_epi64::<32>(a);
    let b_hi = _mm512_srli_epi64::<32>(b);
    let ll = _mm512_mul_epu32(a, b);
    let lh = _mm512_mul_epu32(a, b_hi);
    let hl = _mm512_mul_epu32(a_hi, b);
    let hh = _mm512_mul_epu32(a_hi, b_hi);
    // hl + (ll >> 32) and lh + (t mod 2^32) both stay below 2^64.
    let t = _mm512_add_epi64(hl, _mm512_srli_epi64::<32>(ll));
    let u = _mm512_add_epi64(lh, _mm512_and_si512(t, splat(EPSILON)));
    let lo = _mm512_or_si512(
        _mm512_slli_epi64::<32>(u),
        _mm512_and_si512(ll, splat(EPSILON)),
    );
    let hi = _mm512_add_epi64(
        _mm512_add_epi64(hh, _mm512_srli_epi64::<32>(t)),
        _mm512_srli_epi64::<32>(u),
    );
    (hi, lo)
}

/// `hi · 2^64 + lo` to a word congruent to it mod p (as `raw::reduce128`).
#[inline]
#[target_feature(enable = "avx512f")]
fn reduce128(hi: V, lo: V) -> V {
    let hi_hi = _mm512_srli_epi64::<32>(hi);
    let borrow = _mm512_cmplt_epu64_mask(lo, hi_hi);
    let t0 = _mm512_sub_epi64(lo, hi_hi);
    let t0 = _mm512_mask_sub_epi64(t0, borrow, t0, splat(EPSILON));
    // (hi mod 2^32) · EPSILON, from the low 32 bits of each lane.
    let t1 = _mm512_mul_epu32(hi, splat(EPSILON));
    add_with_wrap(t0, t1)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn mul(a: V, b: V) -> V {
    let (hi, lo) = mul_wide(a, b);
    reduce128(hi, lo)
}

/// `s + a · b` (any `s`, `a`; canonical `b`), below 2^128 before the reduction.
#[inline]
#[target_feature(enable = "avx512f")]
fn mul_add(s: V, a: V, b: V) -> V {
    let (hi, lo) = mul_wide(a, b);
    let lo2 = _mm512_add_epi64(lo, s);
    let carry = _mm512_cmplt_epu64_mask(lo2, s);
    let hi = _mm512_mask_add_epi64(hi, carry, hi, splat(1));
    reduce128(hi, lo2)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn sbox(x: V) -> V {
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    mul(x3, x4)
}

/// A sum of up to 2^32 words: the wrapped sum and the number of carries out.
#[derive(Clone, Copy)]
struct Acc {
    sum: V,
    carries: V,
}

impl Acc {
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn new(x: V) -> Self {
        Self {
            sum: x,
            carries: _mm512_setzero_si512(),
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add(&mut self, x: V) {
        let s = _mm512_add_epi64(self.sum, x);
        let carry = _mm512_cmplt_epu64_mask(s, x);
        self.carries = _mm512_mask_add_epi64(self.carries, carry, self.carries, splat(1));
        self.sum = s;
    }

    /// `sum + carries · 2^64`, with 2^64 = EPSILON (mod p); carries · EPSILON is far below the
    /// bound `add_with_wrap` needs.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce(self) -> V {
        add_with_wrap(self.sum, _mm512_mul_epu32(self.carries, splat(EPSILON)))
    }
}

// The split-FFT MDS of `mds.rs`, on vectors of i64.

#[inline]
#[target_feature(enable = "avx512f")]
fn add(a: V, b: V) -> V {
    _mm512_add_epi64(a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn sub(a: V, b: V) -> V {
    _mm512_sub_epi64(a, b)
}

/// `x · c` for a small constant `c` (the compiler turns the powers of two into shifts).
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn mulc(x: V, c: i64) -> V {
    _mm512_mullo_epi64(x, _mm512_set1_epi64(c))
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn circ_multiply_freq(s: [V; 12]) -> [V; 12] {
    let (u0, u1, u2) = fft4_real([s[0], s[3], s[6], s[9]]);
    let (u4, u5, u6) = fft4_real([s[1], s[4], s[7], s[10]]);
    let (u8, u9, u10) = fft4_real([s[2], s[5], s[8], s[11]]);

    let [v0, v4, v8] = block1([u0, u4, u8]);
    let [v1, v5, v9] = block2([u1, u5, u9]);
    let [v2, v6, v10] = block3([u2, u6, u10]);

    let [s0, s3, s6, s9] = ifft4_real((v0, v1, v2));
    let [s1, s4, s7, s10] = ifft4_real((v4, v5, v6));
    let [s2, s5, s8, s11] = ifft4_real((v8, v9, v10));
    [s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11]
}

/// `block1` of `mds.rs` with y = [16, 32, 16].
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn block1(x: [V; 3]) -> [V; 3] {
    let [x0, x1, x2] = x;
    let z0 = add(add(mulc(x0, 16), mulc(x1, 16)), mulc(x2, 32));
    let z1 = add(add(mulc(x0, 32), mulc(x1, 16)), mulc(x2, 16));
    let z2 = add(add(mulc(x0, 16), mulc(x1, 32)), mulc(x2, 16));
    [z0, z1, z2]
}

/// `block2` of `mds.rs` with y = [(2, -1), (-4, 1), (16, 1)].
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn block2(x: [(V, V); 3]) -> [(V, V); 3] {
    const Y: [(i64, i64); 3] = [(2, -1), (-4, 1), (16, 1)];
    let [(x0r, x0i), (x1r, x1i), (x2r, x2i)] = x;
    let [(y0r, y0i), (y1r, y1i), (y2r, y2i)] = Y;
    let x0s = add(x0r, x0i);
    let x1s = add(x1r, x1i);
    let x2s = add(x2r, x2i);
    let (y0s, y1s, y2s) = (y0r + y0i, y1r + y1i, y2r + y2i);

    let m0 = (mulc(x0r, y0r), mulc(x0i, y0i));
    let m1 = (mulc(x1r, y2r), mulc(x1i, y2i));
    let m2 = (mulc(x2r, y1r), mulc(x2i, y1i));
    let z0r = add(
        add(sub(m0.0, m0.1), sub(sub(mulc(x1s, y2s), m1.0), m1.1)),
        sub(sub(mulc(x2s, y1s), m2.0), m2.1),
    );
    let z0i = add(
        add(sub(sub(mulc(x0s, y0s), m0.0), m0.1), sub(m1.1, m1.0)),
        sub(m2.1, m2.0),
    );

    let m0 = (mulc(x0r, y1r), mulc(x0i, y1i));
    let m1 = (mulc(x1r, y0r), mulc(x1i, y0i));
    let m2 = (mulc(x2r, y2r), mulc(x2i, y2i));
    let z1r = add(
        add(sub(m0.0, m0.1), sub(m1.0, m1.1)),
        sub(sub(mulc(x2s, y2s), m2.0), m2.1),
    );
    let z1i = add(
        add(
            sub(sub(mulc(x0s, y1s), m0.0), m0.1),
            sub(sub(mulc(x1s, y0s), m1.0), m1.1),
        ),
        sub(m2.1, m2.0),
    );

    let m0 = (mulc(x0r, y2r), mulc(x0i, y2i));
    let m1 = (mulc(x1r, y1r), mulc(x1i, y1i));
    let m2 = (mulc(x2r, y0r), mulc(x2i, y0i));
    let z2r = add(add(sub(m0.0, m0.1), sub(m1.0, m1.1)), sub(m2.0, m2.1));
    let z2i = add(
        add(
            sub(sub(mulc(x0s, y2s), m0.0), m0.1),
            sub(sub(mulc(x1s, y1s), m1.0), m1.1),
        ),
        sub(sub(mulc(x2s, y0s), m2.0), m2.1),
    );

    [(z0r, z0i), (z1r, z1i), (z2r, z2i)]
}

/// `block3` of `mds.rs` with y = [-1, -8, 2].
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn block3(x: [V; 3]) -> [V; 3] {
    let [x0, x1, x2] = x;
    // z0 = -x0 - 2 x1 + 8 x2; z1 = -8 x0 - x1 - 2 x2; z2 = 2 x0 - 8 x1 - x2.
    let z0 = sub(sub(mulc(x2, 8), x0), mulc(x1, 2));
    let z1 = sub(
        sub(_mm512_setzero_si512(), mulc(x0, 8)),
        add(x1, mulc(x2, 2)),
    );
    let z2 = sub(sub(mulc(x0, 2), mulc(x1, 8)), x2);
    [z0, z1, z2]
}

#[inline]
#[target_feature(enable = "avx512f")]
fn fft4_real(x: [V; 4]) -> (V, (V, V), V) {
    let (z0, z2) = (add(x[0], x[2]), sub(x[0], x[2]));
    let (z1, z3) = (add(x[1], x[3]), sub(x[1], x[3]));
    (
        add(z0, z1),
        (z2, sub(_mm512_setzero_si512(), z3)),
        sub(z0, z1),
    )
}

#[inline]
#[target_feature(enable = "avx512f")]
fn ifft4_real(y: (V, (V, V), V)) -> [V; 4] {
    let z0 = add(y.0, y.2);
    let z1 = sub(y.0, y.2);
    let z2 = y.1 .0;
    let z3 = sub(_mm512_setzero_si512(), y.1 .1);
    [add(z0, z2), add(z1, z3), sub(z0, z2), sub(z1, z3)]
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn mds(state: &[V; WIDTH]) -> [V; WIDTH] {
    let mut lo = [_mm512_setzero_si512(); WIDTH];
    let mut hi = [_mm512_setzero_si512(); WIDTH];
    for i in 0..WIDTH {
        lo[i] = _mm512_and_si512(state[i], splat(EPSILON));
        hi[i] = _mm512_srli_epi64::<32>(state[i]);
    }
    let mut lo = circ_multiply_freq(lo);
    let mut hi = circ_multiply_freq(hi);
    lo[0] = add(
        lo[0],
        mulc(
            _mm512_and_si512(state[0], splat(EPSILON)),
            MDS_DIAG[0] as i64,
        ),
    );
    hi[0] = add(
        hi[0],
        mulc(_mm512_srli_epi64::<32>(state[0]), MDS_DIAG[0] as i64),
    );
    let mut out = [_mm512_setzero_si512(); WIDTH];
    for i in 0..WIDTH {
        // lo + hi · 2^32 < 2^74 as (high, low) words, then reduced as a 96-bit number.
        let shifted = _mm512_slli_epi64::<32>(hi[i]);
        let s_lo = add(lo[i], shifted);
        let carry = _mm512_cmplt_epu64_mask(s_lo, shifted);
        let s_hi = _mm512_mask_add_epi64(
            _mm512_srli_epi64::<32>(hi[i]),
            carry,
            _mm512_srli_epi64::<32>(hi[i]),
            splat(1),
        );
        out[i] = add_with_wrap(s_lo, _mm512_mul_epu32(s_hi, splat(EPSILON)));
    }
    out
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn full_round(state: &mut [V; WIDTH], constants: &[u64; WIDTH]) {
    for i in 0..WIDTH {
        state[i] = sbox(add_with_wrap(state[i], splat(constants[i])));
    }
    *state = mds(state);
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn partial_rounds(state: &mut [V; WIDTH], t: &RawTables) {
    for i in 0..PARTIAL_ROUNDS {
        let row0 = &t.row0[i];
        let col0 = &t.col0[i];
        let mut acc = Acc::new(mul(state[1], splat(row0[1])));
        for j in 2..WIDTH {
            acc.add(mul(state[j], splat(row0[j])));
        }
        let u0 = sbox(add_with_wrap(state[0], splat(t.k[i])));
        acc.add(mul(u0, splat(row0[0])));
        for j in 1..WIDTH {
            state[j] = mul_add(state[j], u0, splat(col0[j - 1]));
        }
        state[0] = acc.reduce();
    }
    let mut tail = [_mm512_setzero_si512(); R];
    for r in 0..R {
        let row = &t.last[r];
        let mut acc = Acc::new(mul(state[1], splat(row[0])));
        for c in 1..R {
            acc.add(mul(state[c + 1], splat(row[c])));
        }
        tail[r] = acc.reduce();
    }
    state[1..].copy_from_slice(&tail);
}

/// Permutes eight states (canonical words in, canonical words out).
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn permute8(states: &mut [[u64; WIDTH]; LANES]) {
    let t = raw_tables();
    let mut v = [_mm512_setzero_si512(); WIDTH];
    for i in 0..WIDTH {
        let lanes: [u64; LANES] = core::array::from_fn(|k| states[k][i]);
        // SAFETY: reads 64 bytes from an array of eight u64.
        v[i] = unsafe { _mm512_loadu_si512(lanes.as_ptr().cast()) };
    }
    for r in 0..HALF_FULL_ROUNDS {
        full_round(&mut v, &t.full_constants[r]);
    }
    partial_rounds(&mut v, t);
    for r in HALF_FULL_ROUNDS..2 * HALF_FULL_ROUNDS {
        full_round(&mut v, &t.full_constants[r]);
    }
    for i in 0..WIDTH {
        // Any word is below 2p: subtract p where it is not below p.
        let x = v[i];
        let ge = _mm512_cmpge_epu64_mask(x, splat(P));
        let x = _mm512_mask_sub_epi64(x, ge, x, splat(P));
        let mut lanes = [0u64; LANES];
        // SAFETY: writes 64 bytes into an array of eight u64.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), x) };
        for k in 0..LANES {
            states[k][i] = lanes[k];
        }
    }
}
