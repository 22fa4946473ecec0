//! The partial rounds of Poseidon with sparse matrices, derived here from the MDS matrix.
//!
//! A partial round is `s <- M * sbox0(s + c)`. Two rewrites, both exact:
//! - constants: only lane 0 of `c` passes through the S-box, so lanes 1..11 of `c` can be moved
//!   through `M` into the next round's constants, leaving one scalar per partial round (the
//!   remainder of the last one joins the first constants of the second full half);
//! - matrices: write `M * P` (with `P = diag(1, D)` carried from the previous round) as
//!   `P' * S`, with `P' = diag(1, D')` and `S = [[a, b^T], [D'^-1 c, I]]` sparse. `P'` commutes
//!   with the lane-0 S-box and constant, so it is carried to the next round, and only the last
//!   `D` is applied as a dense 11×11 product.
//!
//! That replaces 22 dense 12×12 products with 22 sparse ones (23 multiplications each) and one
//! 11×11 product. The permutation's output is unchanged; the tests compare it with the plain
//! rounds and with plonky2.

// Small fixed-size linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

use super::{HALF_FULL_ROUNDS, MDS_CIRC, MDS_DIAG, PARTIAL_ROUNDS, ROUND_CONSTANTS, WIDTH};
use crate::goldilocks::Goldilocks;

const R: usize = WIDTH - 1;
type Mat = [[Goldilocks; R]; R];

/// Everything the fast partial rounds need.
pub struct FastPartial {
    /// The scalar constant of each partial round.
    pub k: [Goldilocks; PARTIAL_ROUNDS],
    /// Row 0 of each sparse matrix: `a` then `b`.
    pub row0: [[Goldilocks; WIDTH]; PARTIAL_ROUNDS],
    /// Column 0 below the diagonal of each sparse matrix (`D'^-1 c`).
    pub col0: [[Goldilocks; R]; PARTIAL_ROUNDS],
    /// The 11×11 block applied after the last partial round.
    pub last: Mat,
    /// The constants of the first round of the second full half, with the moved remainder.
    pub next_full_constants: [Goldilocks; WIDTH],
}

fn mds_matrix() -> [[Goldilocks; WIDTH]; WIDTH] {
    core::array::from_fn(|r| {
        core::array::from_fn(|c| {
            let mut v = MDS_CIRC[(c + WIDTH - r) % WIDTH];
            if r == c {
                v += MDS_DIAG[r];
            }
            Goldilocks::new(v)
        })
    })
}

fn identity() -> Mat {
    core::array::from_fn(|r| {
        core::array::from_fn(|c| {
            if r == c {
                Goldilocks::ONE
            } else {
                Goldilocks::ZERO
            }
        })
    })
}

fn mat_mul(a: &Mat, b: &Mat) -> Mat {
    core::array::from_fn(|r| {
        core::array::from_fn(|c| (0..R).fold(Goldilocks::ZERO, |acc, k| acc + a[r][k] * b[k][c]))
    })
}

/// Gauss-Jordan inverse; the MDS property makes every block used here invertible.
fn invert(m: &Mat) -> Mat {
    let mut a = *m;
    let mut inv = identity();
    for col in 0..R {
        let pivot = (col..R)
            .find(|&r| a[r][col] != Goldilocks::ZERO)
            .expect("MDS sub-blocks are invertible");
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col].inverse().expect("non-zero pivot");
        for c in 0..R {
            a[col][c] *= p;
            inv[col][c] *= p;
        }
        for r in 0..R {
            if r != col && a[r][col] != Goldilocks::ZERO {
                let f = a[r][col];
                for c in 0..R {
                    let (x, y) = (a[col][c], inv[col][c]);
                    a[r][c] -= f * x;
                    inv[r][c] -= f * y;
                }
            }
        }
    }
    inv
}

fn derive() -> FastPartial {
    let m = mds_matrix();
    // Constants, moved forward round by round.
    let mut consts: Vec<[Goldilocks; WIDTH]> = (0..2 * HALF_FULL_ROUNDS + PARTIAL_ROUNDS)
        .map(|r| core::array::from_fn(|i| Goldilocks::new(ROUND_CONSTANTS[WIDTH * r + i])))
        .collect();
    let mut k = [Goldilocks::ZERO; PARTIAL_ROUNDS];
    for i in 0..PARTIAL_ROUNDS {
        let round = HALF_FULL_ROUNDS + i;
        k[i] = consts[round][0];
        let rest: [Goldilocks; WIDTH] = core::array::from_fn(|j| {
            if j == 0 {
                Goldilocks::ZERO
            } else {
                consts[round][j]
            }
        });
        for (r, row) in m.iter().enumerate() {
            let moved = (0..WIDTH).fold(Goldilocks::ZERO, |acc, j| acc + row[j] * rest[j]);
            consts[round + 1][r] += moved;
        }
    }
    // Matrices.
    let m_rr: Mat = core::array::from_fn(|r| core::array::from_fn(|c| m[r + 1][c + 1]));
    let mut d = identity();
    let mut row0 = [[Goldilocks::ZERO; WIDTH]; PARTIAL_ROUNDS];
    let mut col0 = [[Goldilocks::ZERO; R]; PARTIAL_ROUNDS];
    for i in 0..PARTIAL_ROUNDS {
        row0[i][0] = m[0][0];
        for j in 0..R {
            row0[i][j + 1] = (0..R).fold(Goldilocks::ZERO, |acc, r| acc + m[0][r + 1] * d[r][j]);
        }
        d = mat_mul(&m_rr, &d);
        let d_inv = invert(&d);
        for r in 0..R {
            col0[i][r] = (0..R).fold(Goldilocks::ZERO, |acc, c| acc + d_inv[r][c] * m[c + 1][0]);
        }
    }
    FastPartial {
        k,
        row0,
        col0,
        last: d,
        next_full_constants: consts[HALF_FULL_ROUNDS + PARTIAL_ROUNDS],
    }
}

/// The derived tables (computed once).
pub fn tables() -> &'static FastPartial {
    static T: OnceLock<FastPartial> = OnceLock::new();
    T.get_or_init(derive)
}
