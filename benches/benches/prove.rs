//! Batch proving: random batch witnesses of 64, 256 and 1024 state operations proved on the
//! CPU (plonky2's commitment) and, where a GPU answers, with the GPU's LDE + Merkle commitment.
//!
//! `cargo bench -p zknode-benches --bench prove`; `ZKNODE_BENCH_PROVE_OPS=64,256` picks the
//! sizes. The 4096-operation point is measured once per run by `zkprover bench --prove`
//! (criterion's ten samples would take many minutes on a small machine).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zknode_kernels::CudaBackend;
use zknode_prover::batch::{prove_witness, Committer};
use zknode_witness::random_witness;

fn sizes() -> Vec<usize> {
    std::env::var("ZKNODE_BENCH_PROVE_OPS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 256, 1024])
}

fn prove(c: &mut Criterion) {
    let gpu = CudaBackend::new().ok();
    if gpu.is_none() {
        eprintln!("no usable GPU: measuring the CPU only");
    }
    let mut g = c.benchmark_group("batch_prove");
    g.sample_size(10);
    for ops in sizes() {
        let w = random_witness(ops, 1);
        g.throughput(Throughput::Elements(ops as u64));
        g.bench_with_input(BenchmarkId::new("cpu", ops), &w, |b, w| {
            b.iter(|| prove_witness(w, Committer::Plonky2).expect("prove"))
        });
        if let Some(gpu) = &gpu {
            g.bench_with_input(BenchmarkId::new("gpu-commit", ops), &w, |b, w| {
                b.iter(|| prove_witness(w, Committer::Backend(gpu)).expect("prove"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, prove);
criterion_main!(benches);
