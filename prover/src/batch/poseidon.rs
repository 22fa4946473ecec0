//! Poseidon (width 12, x^7, 8 full + 22 partial rounds, plonky2's constants) as constraints on
//! one lane of a row, and the matching trace filler. Each round's S-box input is a committed
//! cell, so every constraint has degree 7.

use plonky2::field::goldilocks_field::GoldilocksField as F;
use plonky2::field::types::{Field, PrimeField64};
use plonky2::hash::poseidon::{Poseidon, ALL_ROUND_CONSTANTS, N_PARTIAL_ROUNDS};

use super::alg::Alg;
use super::layout::*;

const W: usize = 12;
const HALF_FULL: usize = 4;

fn rc(round: usize, i: usize) -> u64 {
    ALL_ROUND_CONSTANTS[W * round + i]
}

fn mds<A: Alg>(a: &mut A, s: &[A::E; W]) -> [A::E; W] {
    core::array::from_fn(|r| {
        let mut acc = a.scale(<F as Poseidon>::MDS_MATRIX_DIAG[r], s[r]);
        for (i, &c) in <F as Poseidon>::MDS_MATRIX_CIRC.iter().enumerate() {
            let t = a.scale(c, s[(i + r) % W]);
            acc = a.add(acc, t);
        }
        acc
    })
}

fn add_rc<A: Alg>(a: &mut A, s: &mut [A::E; W], round: usize) {
    for (i, x) in s.iter_mut().enumerate() {
        let c = a.constant(rc(round, i));
        *x = a.add(*x, c);
    }
}

/// Constrains the lane at `lane` of `row` to be a Poseidon permutation of its input cells with
/// its output cells, on rows where `gate` is one.
pub fn eval_lane<A: Alg>(a: &mut A, row: &[A::E], lane: usize, gate: A::E) {
    let c = |i: usize| row[lane + i];
    let mut s: [A::E; W] = core::array::from_fn(|i| c(L_IN + i));
    let mut round = 0;
    // Full round 0 works on the input directly.
    add_rc(a, &mut s, round);
    s = s.map(|x| a.pow7(x));
    s = mds(a, &s);
    round += 1;
    for k in 0..HALF_FULL - 1 {
        add_rc(a, &mut s, round);
        for (i, x) in s.iter_mut().enumerate() {
            let cell = c(L_FULL_A + W * k + i);
            let d = a.sub(cell, *x);
            let g = a.mul(gate, d);
            a.on_all(g);
            *x = a.pow7(cell);
        }
        s = mds(a, &s);
        round += 1;
    }
    for k in 0..N_PARTIAL_ROUNDS {
        add_rc(a, &mut s, round);
        let cell = c(L_PART + k);
        let d = a.sub(cell, s[0]);
        let g = a.mul(gate, d);
        a.on_all(g);
        s[0] = a.pow7(cell);
        s = mds(a, &s);
        round += 1;
    }
    for k in 0..HALF_FULL {
        add_rc(a, &mut s, round);
        for (i, x) in s.iter_mut().enumerate() {
            let cell = c(L_FULL_B + W * k + i);
            let d = a.sub(cell, *x);
            let g = a.mul(gate, d);
            a.on_all(g);
            *x = a.pow7(cell);
        }
        s = mds(a, &s);
        round += 1;
    }
    for (i, &x) in s.iter().take(4).enumerate() {
        let d = a.sub(c(L_OUT + i), x);
        let g = a.mul(gate, d);
        a.on_all(g);
    }
}

fn sbox(x: F) -> F {
    let x2 = x * x;
    let x3 = x2 * x;
    x3 * x2 * x2
}

fn mds_f(s: &[F; W]) -> [F; W] {
    core::array::from_fn(|r| {
        let mut acc = s[r] * F::from_canonical_u64(<F as Poseidon>::MDS_MATRIX_DIAG[r]);
        for (i, &c) in <F as Poseidon>::MDS_MATRIX_CIRC.iter().enumerate() {
            acc += s[(i + r) % W] * F::from_canonical_u64(c);
        }
        acc
    })
}

fn add_rc_f(s: &mut [F; W], round: usize) {
    for (i, x) in s.iter_mut().enumerate() {
        *x += F::from_canonical_u64(rc(round, i));
    }
}

/// Writes the permutation of `input` into the lane at `lane` of `row` and returns the first
/// four output words.
pub fn fill_lane(row: &mut [F], lane: usize, input: [F; W]) -> [F; 4] {
    row[lane + L_IN..lane + L_IN + W].copy_from_slice(&input);
    let mut s = input;
    let mut round = 0;
    add_rc_f(&mut s, round);
    s = mds_f(&s.map(sbox));
    round += 1;
    for k in 0..HALF_FULL - 1 {
        add_rc_f(&mut s, round);
        row[lane + L_FULL_A + W * k..lane + L_FULL_A + W * (k + 1)].copy_from_slice(&s);
        s = mds_f(&s.map(sbox));
        round += 1;
    }
    for k in 0..N_PARTIAL_ROUNDS {
        add_rc_f(&mut s, round);
        row[lane + L_PART + k] = s[0];
        s[0] = sbox(s[0]);
        s = mds_f(&s);
        round += 1;
    }
    for k in 0..HALF_FULL {
        add_rc_f(&mut s, round);
        row[lane + L_FULL_B + W * k..lane + L_FULL_B + W * (k + 1)].copy_from_slice(&s);
        s = mds_f(&s.map(sbox));
        round += 1;
    }
    let out = [s[0], s[1], s[2], s[3]];
    row[lane + L_OUT..lane + L_OUT + 4].copy_from_slice(&out);
    out
}

/// The canonical value of a field element (for tests and trace code).
pub fn canon(x: F) -> u64 {
    x.to_canonical_u64()
}
