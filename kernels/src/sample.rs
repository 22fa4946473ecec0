//! Random inputs for benchmarks and tests, fast enough for 2^22-element cases.

use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::UniformRand;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::bn254::{Fr, G1Affine, G1Projective};
use crate::goldilocks::Goldilocks;
use crate::poseidon::State;

/// A deterministic generator for a seed.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` uniformly random field elements.
pub fn goldilocks(rng: &mut impl Rng, n: usize) -> Vec<Goldilocks> {
    (0..n).map(|_| Goldilocks::new(rng.gen())).collect()
}

/// `n` random Poseidon states.
pub fn poseidon_states(rng: &mut impl Rng, n: usize) -> Vec<State> {
    (0..n)
        .map(|_| core::array::from_fn(|_| Goldilocks::new(rng.gen())))
        .collect()
}

/// `n` uniformly random scalars.
pub fn bn254_scalars(rng: &mut impl Rng, n: usize) -> Vec<Fr> {
    (0..n).map(|_| Fr::rand(rng)).collect()
}

/// `n` distinct curve points `a + i*b` for random `a`, `b` (one addition per point rather than a
/// scalar multiplication, so millions of points take seconds).
pub fn bn254_points(rng: &mut impl Rng, n: usize) -> Vec<G1Affine> {
    const CHUNK: usize = 1 << 12;
    let g = G1Projective::generator();
    let a = g * Fr::rand(rng);
    let b = g * Fr::rand(rng);
    let proj: Vec<G1Projective> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|c| {
            let start = c * CHUNK;
            let len = CHUNK.min(n - start);
            let mut p = a + b * Fr::from(start as u64);
            (0..len).map(move |_| {
                let out = p;
                p += b;
                out
            })
        })
        .collect();
    G1Projective::normalize_batch(&proj)
}
