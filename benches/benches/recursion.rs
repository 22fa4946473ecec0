//! Recursive aggregation: wrapping a batch proof, one 2-to-1 aggregation, and a final proof,
//! with the circuits loaded from the cache (built on the first run, about a minute on two
//! cores; the cache is `$ZKNODE_CIRCUIT_CACHE`, else the target directory's `tmp/circuits`,
//! which the recursion and farm tests share).
//!
//! `cargo bench -p zknode-benches --bench recursion`. The aggregation goal on a 2-core machine
//! is one 2-to-1 aggregation in at most 3 s.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use zknode_prover::batch::{prove_witness, Committer};
use zknode_prover::recursion;
use zknode_witness::random_batches;

fn cache() -> PathBuf {
    std::env::var_os("ZKNODE_CIRCUIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("circuits"))
}

fn bench(c: &mut Criterion) {
    let circuits = recursion::load_or_build(Some(&cache()), &mut |s| eprintln!("circuits: {s}"))
        .expect("recursion circuits");
    let witnesses = random_batches(&[8, 8], 1);
    let proofs: Vec<_> = witnesses
        .iter()
        .map(|w| prove_witness(w, Committer::Plonky2).expect("prove").0)
        .collect();
    let s0 = proofs[0].verify().expect("verifies");
    let w0 = circuits.wrap(&proofs[0], [0; 4]).expect("wrap");
    let w1 = circuits
        .wrap(&proofs[1], recursion::acc_step([0; 4], &s0))
        .expect("wrap");
    let agg = circuits.aggregate(&w0, &w1).expect("aggregate");

    let mut g = c.benchmark_group("recursion");
    g.sample_size(10);
    g.bench_function("wrap_8_op_batch", |b| {
        b.iter(|| circuits.wrap(&proofs[0], [0; 4]).expect("wrap"))
    });
    g.bench_function("aggregate_2to1", |b| {
        b.iter(|| circuits.aggregate(&w0, &w1).expect("aggregate"))
    });
    g.bench_function("final", |b| {
        b.iter(|| circuits.finalize(&agg, [7; 20]).expect("final"))
    });
    g.bench_function("verify_aggregate", |b| {
        b.iter(|| circuits.verify(&agg).expect("verify"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
