//! The permutation on raw 64-bit words, the fast path behind [`super::permute`].
//!
//! Inside the permutation a lane is any `u64` congruent to the field element (not necessarily
//! below p); only the output is made canonical. That saves a conditional subtraction per
//! operation, and sums of products are accumulated in 128 (or 160) bits and reduced once.
//!
//! Bounds used below: every constant is canonical (< p); a product of a lane and a constant is
//! below `2^64 · p`; a lane plus such a product is below `2^128`.

// Small fixed-size linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

use super::fast::{tables, FastPartial};
use super::mds::circ_multiply_freq;
use super::{HALF_FULL_ROUNDS, MDS_DIAG, PARTIAL_ROUNDS, ROUND_CONSTANTS, WIDTH};
use crate::goldilocks::Goldilocks;

/// 2^64 mod p.
const EPSILON: u64 = 0xFFFF_FFFF;
const P: u64 = 0xFFFF_FFFF_0000_0001;
const R: usize = WIDTH - 1;

/// `a + c` for any `a` and a canonical `c`. The wrapped sum is at most `p - 2`, so adding
/// 2^64 mod p back cannot overflow.
#[inline(always)]
pub(super) fn add_canonical(a: u64, c: u64) -> u64 {
    add_with_wrap(a, c)
}

/// Any 128-bit integer to a 64-bit word congruent to it mod p.
#[inline(always)]
pub(super) fn reduce128(x: u128) -> u64 {
    let lo = x as u64;
    let hi = (x >> 64) as u64;
    let hi_hi = hi >> 32;
    let hi_lo = hi & EPSILON;
    // 2^96 = -1 (mod p).
    let (mut t0, borrow) = lo.overflowing_sub(hi_hi);
    if borrow {
        // The wrapped difference is at least 2^64 - 2^32 + 1, so this cannot underflow.
        t0 = t0.wrapping_sub(EPSILON);
    }
    // 2^64 = 2^32 - 1 (mod p); hi_lo · EPSILON < 2^64 - 2^33 + 2, so a carry leaves room for
    // adding EPSILON once.
    add_with_wrap(t0, hi_lo * EPSILON)
}

/// A 96-bit integer `lo + hi · 2^64` to a 64-bit word congruent to it.
#[inline(always)]
fn reduce96(lo: u64, hi: u32) -> u64 {
    add_any(lo, hi as u64 * EPSILON)
}

/// `a + b` for `b < 2^64 - 2^33 + 2` (any `a`): as in [`reduce128`], a carry leaves room.
#[inline(always)]
fn add_any(a: u64, b: u64) -> u64 {
    add_with_wrap(a, b)
}

/// `a + b`, a carry out replaced by 2^64 mod p, for operands whose wrapped sum leaves room for
/// that (see the callers). Branch-free: the carry is random on field data, and compilers turn
/// the portable form into a conditional jump that mispredicts half the time.
#[inline(always)]
fn add_with_wrap(a: u64, b: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let sum: u64;
        let adjustment: u64;
        // SAFETY: register-only arithmetic, no memory access; `sbb` of a 32-bit register with
        // itself writes 0xFFFF_FFFF (EPSILON) after a carry and 0 otherwise, zero-extended.
        unsafe {
            core::arch::asm!(
                "add {0}, {1}",
                "sbb {1:e}, {1:e}",
                inlateout(reg) a => sum,
                inlateout(reg) b => adjustment,
                options(pure, nomem, nostack),
            );
        }
        sum.wrapping_add(adjustment)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (s, over) = a.overflowing_add(b);
        s.wrapping_add(EPSILON * over as u64)
    }
}

/// A 160-bit accumulator: a 128-bit sum and the count of its carries out (each worth 2^128).
#[derive(Copy, Clone)]
struct Acc160 {
    lo: u128,
    carries: u32,
}

impl Acc160 {
    #[inline(always)]
    fn new(x: u128) -> Self {
        Self { lo: x, carries: 0 }
    }

    #[inline(always)]
    fn add(&mut self, x: u128) {
        let (s, over) = self.lo.overflowing_add(x);
        self.lo = s;
        self.carries += over as u32;
    }

    /// Reduces `lo + carries · 2^128`: the high 64 bits and the carries form a 96-bit number
    /// reduced first, then the resulting 128-bit number.
    #[inline(always)]
    fn reduce(self) -> u64 {
        let hi = reduce96((self.lo >> 64) as u64, self.carries);
        reduce128(((hi as u128) << 64) | (self.lo as u64 as u128))
    }
}

#[inline(always)]
pub(super) fn mul(a: u64, b: u64) -> u64 {
    reduce128(a as u128 * b as u128)
}

#[inline(always)]
fn sbox(x: u64) -> u64 {
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    mul(x3, x4)
}

/// The full MDS layer: circulant by split FFT on 32-bit halves, plus the diagonal.
#[inline(always)]
fn mds(state: &[u64; WIDTH]) -> [u64; WIDTH] {
    let mut lo = [0u64; WIDTH];
    let mut hi = [0u64; WIDTH];
    for i in 0..WIDTH {
        lo[i] = state[i] & EPSILON;
        hi[i] = state[i] >> 32;
    }
    let mut lo = circ_multiply_freq(lo);
    let mut hi = circ_multiply_freq(hi);
    // The diagonal (lane 0 only); each half stays below 2^41.
    lo[0] += MDS_DIAG[0] * (state[0] & EPSILON);
    hi[0] += MDS_DIAG[0] * (state[0] >> 32);
    let mut out = [0u64; WIDTH];
    for i in 0..WIDTH {
        // lo + hi · 2^32 < 2^74: split into the low 64 bits and the 10 above.
        let s = lo[i] as u128 + ((hi[i] as u128) << 32);
        out[i] = reduce96(s as u64, (s >> 64) as u32);
    }
    out
}

/// The tables of [`FastPartial`] and the full-round constants as raw words.
pub(super) struct RawTables {
    pub full_constants: [[u64; WIDTH]; 2 * HALF_FULL_ROUNDS],
    pub k: [u64; PARTIAL_ROUNDS],
    pub row0: [[u64; WIDTH]; PARTIAL_ROUNDS],
    pub col0: [[u64; R]; PARTIAL_ROUNDS],
    pub last: [[u64; R]; R],
}

fn derive(t: &FastPartial) -> RawTables {
    let v = |x: Goldilocks| x.value();
    let mut full_constants = [[0u64; WIDTH]; 2 * HALF_FULL_ROUNDS];
    for (r, c) in full_constants.iter_mut().enumerate() {
        if r == HALF_FULL_ROUNDS {
            *c = t.next_full_constants.map(v);
        } else {
            let round = if r < HALF_FULL_ROUNDS {
                r
            } else {
                r + PARTIAL_ROUNDS
            };
            for i in 0..WIDTH {
                c[i] = Goldilocks::new(ROUND_CONSTANTS[WIDTH * round + i]).value();
            }
        }
    }
    RawTables {
        full_constants,
        k: t.k.map(v),
        row0: t.row0.map(|r| r.map(v)),
        col0: t.col0.map(|r| r.map(v)),
        last: t.last.map(|r| r.map(v)),
    }
}

pub(super) fn raw_tables() -> &'static RawTables {
    static T: OnceLock<RawTables> = OnceLock::new();
    T.get_or_init(|| derive(tables()))
}

#[inline(always)]
fn full_round(state: &mut [u64; WIDTH], constants: &[u64; WIDTH]) {
    for i in 0..WIDTH {
        state[i] = sbox(add_canonical(state[i], constants[i]));
    }
    *state = mds(state);
}

#[inline(always)]
fn partial_rounds(state: &mut [u64; WIDTH], t: &RawTables) {
    for i in 0..PARTIAL_ROUNDS {
        let row0 = &t.row0[i];
        let col0 = &t.col0[i];
        // The row-0 sum over lanes 1.. does not depend on the S-box: start it first.
        let mut acc = Acc160::new(row0[1] as u128 * state[1] as u128);
        for j in 2..WIDTH {
            acc.add(row0[j] as u128 * state[j] as u128);
        }
        let u0 = sbox(add_canonical(state[0], t.k[i]));
        acc.add(row0[0] as u128 * u0 as u128);
        for j in 1..WIDTH {
            state[j] = reduce128(state[j] as u128 + col0[j - 1] as u128 * u0 as u128);
        }
        state[0] = acc.reduce();
    }
    let mut tail = [0u64; R];
    for r in 0..R {
        let row = &t.last[r];
        let mut acc = Acc160::new(row[0] as u128 * state[1] as u128);
        for c in 1..R {
            acc.add(row[c] as u128 * state[c + 1] as u128);
        }
        tail[r] = acc.reduce();
    }
    state[1..].copy_from_slice(&tail);
}

/// The permutation on canonical words in, canonical words out.
#[inline]
pub(super) fn permute(state: &mut [u64; WIDTH]) {
    let t = raw_tables();
    for r in 0..HALF_FULL_ROUNDS {
        full_round(state, &t.full_constants[r]);
    }
    partial_rounds(state, t);
    for r in HALF_FULL_ROUNDS..2 * HALF_FULL_ROUNDS {
        full_round(state, &t.full_constants[r]);
    }
    for x in state.iter_mut() {
        // Any u64 is below 2p: one conditional subtraction makes it canonical.
        if *x >= P {
            *x -= P;
        }
    }
}
