//! Timings of the CPU backend's bulk hashing, scalar against multi-lane: run with
//! `cargo test --release -p zknode-kernels --test hash_timing -- --ignored --nocapture`.
//! Not a correctness test (`cpu_reference.rs` is); ignored by default.

use std::time::{Duration, Instant};

use plonky2::field::goldilocks_field::GoldilocksField as PF;
use plonky2::field::polynomial::PolynomialCoeffs;
use plonky2::field::types::Field;
use plonky2::fri::oracle::PolynomialBatch;
use plonky2::hash::poseidon::Poseidon;
use plonky2::plonk::config::PoseidonGoldilocksConfig;
use plonky2::util::timing::TimingTree;
use zknode_kernels::merkle::{compress_level, hash_leaves};
use zknode_kernels::poseidon::{self, Digest, State};
use zknode_kernels::{cpu, Backend, CpuBackend, Goldilocks, MerkleTree};

fn data(n: usize, seed: u64) -> Vec<Goldilocks> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Goldilocks::new(x)
        })
        .collect()
}

/// The median of `runs` timed runs after one warm-up.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    std::hint::black_box(f());
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(f());
            s.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

fn per(d: Duration, n: usize) -> String {
    format!("{:.3} µs", d.as_secs_f64() * 1e6 / n as f64)
}

#[test]
#[ignore = "timing, not correctness"]
fn bulk_hashing_timings() {
    let cpu = CpuBackend::new();
    println!(
        "{}: {} threads, permute_many lanes {}",
        cpu.info().name,
        rayon::current_num_threads(),
        poseidon::simd_lanes()
    );

    // One thread: the permutation alone.
    let n = 1 << 14;
    let states: Vec<State> = data(12 * n, 1)
        .chunks(12)
        .map(|c| core::array::from_fn(|i| c[i]))
        .collect();
    let scalar = time(5, || {
        let mut s = states.clone();
        s.iter_mut().for_each(poseidon::permute);
        s
    });
    let many = time(5, || {
        let mut s = states.clone();
        poseidon::permute_many(&mut s);
        s
    });
    let plonky2 = time(5, || {
        states
            .iter()
            .map(|s| {
                PF::poseidon(core::array::from_fn(|i| {
                    PF::from_canonical_u64(s[i].value())
                }))
            })
            .collect::<Vec<_>>()
    });
    println!(
        "one thread, per permutation: scalar {}, permute_many {}, plonky2 {}",
        per(scalar, n),
        per(many, n),
        per(plonky2, n)
    );
    let backend = time(5, || {
        let mut s = states.clone();
        cpu.poseidon_permute(&mut s).unwrap();
        s
    });
    println!(
        "poseidon_permute, {n} states, all threads: {:.2?} ({} per permutation)",
        backend,
        per(backend, n)
    );

    // Leaves as lde_commit hashes them: 368 columns, 2^15 rows.
    for (log_rows, width) in [(12, 368), (15, 368), (17, 64)] {
        let rows = 1usize << log_rows;
        let leaves = data(rows * width, 2);
        let perms = rows * width.div_ceil(8);
        let scalar = time(3, || {
            use rayon::prelude::*;
            leaves
                .par_chunks(width)
                .with_min_len(64)
                .map(poseidon::hash_or_noop)
                .collect::<Vec<Digest>>()
        });
        let many = time(3, || hash_leaves(&leaves, width));
        println!(
            "leaves 2^{log_rows} x {width}, all threads: one by one {:.2?} ({}/perm), eight in lockstep {:.2?} ({}/perm)",
            scalar,
            per(scalar, perms),
            many,
            per(many, perms)
        );
        let digests = hash_leaves(&leaves, width);
        let scalar = time(3, || {
            use rayon::prelude::*;
            digests
                .par_chunks(2)
                .map(|p| poseidon::two_to_one(&p[0], &p[1]))
                .collect::<Vec<Digest>>()
        });
        let many = time(3, || compress_level(&digests));
        println!(
            "  first Merkle level ({} pairs): one by one {:.2?}, eight in lockstep {:.2?}",
            rows / 2,
            scalar,
            many
        );
    }

    // The whole commitment of the batch prover's trace shape, and its steps.
    for log_n in [12, 13, 15] {
        let coeffs = data((1 << log_n) * 368, 3);
        let t = time(3, || cpu.lde_commit(&coeffs, log_n, 3, 4).unwrap());
        let s = Instant::now();
        let lde = cpu::coset_lde(&coeffs, log_n, 3, Goldilocks::MULTIPLICATIVE_GENERATOR).unwrap();
        let t_lde = s.elapsed();
        let s = Instant::now();
        let leaves = cpu::lde_to_leaves(&lde, 368, log_n + 3);
        let t_rows = s.elapsed();
        drop(lde);
        let s = Instant::now();
        let tree = MerkleTree::new(leaves, 368, 4).unwrap();
        let t_tree = s.elapsed();
        drop(tree);
        let polys: Vec<PolynomialCoeffs<PF>> = coeffs
            .chunks(1 << log_n)
            .map(|c| {
                PolynomialCoeffs::new(
                    c.iter()
                        .map(|x| PF::from_canonical_u64(x.value()))
                        .collect(),
                )
            })
            .collect();
        let theirs = time(1, || {
            PolynomialBatch::<PF, PoseidonGoldilocksConfig, 2>::from_coeffs(
                polys.clone(),
                3,
                false,
                4,
                &mut TimingTree::default(),
                None,
            )
        });
        println!(
            "lde_commit 2^{log_n} x 368, blowup 8, cap 2^4: {t:.2?} (coset LDE {t_lde:.2?}, leaves in bit-reversed rows {t_rows:.2?}, Merkle tree {t_tree:.2?}); plonky2's from_coeffs {theirs:.2?}"
        );
    }
}
