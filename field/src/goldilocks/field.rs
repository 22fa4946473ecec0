//! The Goldilocks field, p = 2^64 - 2^32 + 1.
//!
//! Elements are always kept canonical (in `0..p`), so equality of the stored words is equality
//! of field elements and a value can be handed to any other implementation as it is.

use core::fmt;
use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// The modulus.
pub const P: u64 = 0xFFFF_FFFF_0000_0001;
/// 2^64 mod p = 2^32 - 1.
const EPSILON: u64 = 0xFFFF_FFFF;

/// An element of the Goldilocks field in canonical form.
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Goldilocks(u64);

impl Goldilocks {
    pub const ZERO: Self = Self(0);
    pub const ONE: Self = Self(1);
    /// The largest `k` with 2^k dividing p - 1.
    pub const TWO_ADICITY: usize = 32;
    /// The generator of the multiplicative group that plonky2 1.x uses as the coset shift of its
    /// LDEs (`F::coset_shift()`).
    pub const MULTIPLICATIVE_GENERATOR: Self = Self(14_293_326_489_335_486_720);
    /// A primitive 2^32-th root of unity (the one plonky2 and Polygon use).
    pub const POWER_OF_TWO_GENERATOR: Self = Self(7_277_203_076_849_721_926);

    /// Reduces any `u64` into the field.
    #[inline(always)]
    pub const fn new(v: u64) -> Self {
        Self(if v >= P { v - P } else { v })
    }

    /// Returns the element if `v` is canonical (`v < p`).
    #[inline]
    pub const fn from_canonical(v: u64) -> Option<Self> {
        if v < P {
            Some(Self(v))
        } else {
            None
        }
    }

    /// The canonical representative.
    #[inline(always)]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Reduces a 128-bit integer into the field.
    #[inline(always)]
    pub const fn reduce128(x: u128) -> Self {
        let lo = x as u64;
        let hi = (x >> 64) as u64;
        let hi_hi = hi >> 32;
        let hi_lo = hi & EPSILON;
        // 2^96 = -1 (mod p): subtract the top 32 bits.
        let (mut t0, borrow) = lo.overflowing_sub(hi_hi);
        if borrow {
            t0 = t0.wrapping_sub(EPSILON);
        }
        // 2^64 = 2^32 - 1 (mod p): add the middle 32 bits times epsilon.
        let t1 = hi_lo * EPSILON;
        let (res, carry) = t0.overflowing_add(t1);
        let res = res.wrapping_add(EPSILON * carry as u64);
        Self::new(res)
    }

    #[inline(always)]
    pub fn square(self) -> Self {
        self * self
    }

    pub fn pow(self, mut e: u64) -> Self {
        let mut base = self;
        let mut acc = Self::ONE;
        while e > 0 {
            if e & 1 == 1 {
                acc *= base;
            }
            base = base.square();
            e >>= 1;
        }
        acc
    }

    /// The multiplicative inverse; `None` for zero.
    pub fn inverse(self) -> Option<Self> {
        if self.0 == 0 {
            None
        } else {
            Some(self.pow(P - 2))
        }
    }

    /// A primitive 2^log_n-th root of unity, `None` when `log_n > 32`.
    pub fn primitive_root_of_unity(log_n: usize) -> Option<Self> {
        if log_n > Self::TWO_ADICITY {
            return None;
        }
        let mut g = Self::POWER_OF_TWO_GENERATOR;
        for _ in log_n..Self::TWO_ADICITY {
            g = g.square();
        }
        Some(g)
    }

    /// `[1, x, x^2, ..., x^(n-1)]`.
    pub fn powers(self, n: usize) -> Vec<Self> {
        let mut out = Vec::with_capacity(n);
        let mut cur = Self::ONE;
        for _ in 0..n {
            out.push(cur);
            cur *= self;
        }
        out
    }
}

impl fmt::Debug for Goldilocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Goldilocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u32> for Goldilocks {
    fn from(v: u32) -> Self {
        Self(v as u64)
    }
}

impl Add for Goldilocks {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        let (s, over) = self.0.overflowing_add(rhs.0);
        // Both inputs are < p, so with overflow s + epsilon cannot overflow again.
        let s = if over { s + EPSILON } else { s };
        Self::new(s)
    }
}

impl Sub for Goldilocks {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        let (d, under) = self.0.overflowing_sub(rhs.0);
        Self(if under { d.wrapping_sub(EPSILON) } else { d })
    }
}

impl Neg for Goldilocks {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self::ZERO - self
    }
}

impl Mul for Goldilocks {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        Self::reduce128(self.0 as u128 * rhs.0 as u128)
    }
}

impl AddAssign for Goldilocks {
    #[inline(always)]
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl SubAssign for Goldilocks {
    #[inline(always)]
    fn sub_assign(&mut self, rhs: Self) {
        *self = *self - rhs;
    }
}

impl MulAssign for Goldilocks {
    #[inline(always)]
    fn mul_assign(&mut self, rhs: Self) {
        *self = *self * rhs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_mul(a: u64, b: u64) -> u64 {
        ((a as u128 * b as u128) % P as u128) as u64
    }

    #[test]
    fn arithmetic_matches_bigint() {
        let edge = [
            0,
            1,
            2,
            EPSILON,
            EPSILON + 1,
            P - 2,
            P - 1,
            1 << 63,
            (1 << 32) + 5,
        ];
        for &a in &edge {
            for &b in &edge {
                let (x, y) = (Goldilocks::new(a), Goldilocks::new(b));
                assert_eq!((x * y).value(), naive_mul(a, b), "{a} * {b}");
                assert_eq!(
                    (x + y).value(),
                    ((a as u128 + b as u128) % P as u128) as u64
                );
                assert_eq!(
                    (x - y).value(),
                    ((a as u128 + P as u128 - b as u128) % P as u128) as u64
                );
            }
        }
        assert_eq!(
            Goldilocks::reduce128(u128::MAX).value(),
            (u128::MAX % P as u128) as u64
        );
    }

    #[test]
    fn inverse_and_roots() {
        let x = Goldilocks::new(123_456_789);
        assert_eq!(x * x.inverse().unwrap(), Goldilocks::ONE);
        assert!(Goldilocks::ZERO.inverse().is_none());
        for log_n in 0..=32 {
            let w = Goldilocks::primitive_root_of_unity(log_n).unwrap();
            assert_eq!(w.pow(1 << log_n), Goldilocks::ONE);
            if log_n > 0 {
                assert_ne!(w.pow(1 << (log_n - 1)), Goldilocks::ONE);
            }
        }
        assert!(Goldilocks::primitive_root_of_unity(33).is_none());
        // The coset shift generates the whole group: g^((p-1)/q) != 1 for each prime q | p - 1.
        let g = Goldilocks::MULTIPLICATIVE_GENERATOR;
        for q in [2u64, 3, 5, 17, 257, 65537] {
            assert_ne!(g.pow((P - 1) / q), Goldilocks::ONE, "q = {q}");
        }
        assert_eq!(Goldilocks::new(P).value(), 0);
        assert!(Goldilocks::from_canonical(P).is_none());
    }
}
