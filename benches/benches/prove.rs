//! Batch proving: random batch witnesses of 64, 256 and 1024 state operations proved on the
//! CPU (plonky2's commitment) and, where a GPU answers, with the GPU's LDE + Merkle commitment;
//! and the trace commitment alone (LDE + Merkle tree of the 368 columns), with each committer.
//!
//! `cargo bench -p zknode-benches --bench prove`; `ZKNODE_BENCH_PROVE_OPS=64,256` picks the
//! sizes of both groups (`-- batch_commit` runs only the commitment). The 4096-operation point
//! is measured once per run by `zkprover bench --prove` (criterion's ten samples would take
//! many minutes on a small machine).

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use zknode_kernels::{CpuBackend, CudaBackend};
use zknode_prover::batch::{self, prove_witness, trace, Committer};
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

/// The trace commitment of a batch's table with plonky2's `PolynomialBatch::from_values`, the
/// CPU backend's `lde_commit` and, where a GPU answers, the GPU's. Throughput counts LDE cells
/// (rows × blowup × columns), as `zkprover bench` does for its LDE + Merkle cases.
fn commit(c: &mut Criterion) {
    let cpu = CpuBackend::new();
    let gpu = CudaBackend::new().ok();
    let mut g = c.benchmark_group("batch_commit");
    // One run per sample: a 1024-operation table takes seconds on a small CPU.
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    for ops in sizes() {
        let w = random_witness(ops, 1);
        let table_ops: Vec<trace::TableOp> = w
            .ops
            .iter()
            .map(|o| trace::TableOp {
                address: o.address,
                leaf_type: o.leaf_type,
                slot: o.slot,
                proof: o.proof.clone(),
            })
            .collect();
        let table = trace::build(&w.old_state_root, &table_ops, batch::MIN_ROWS).expect("table");
        let cols = batch::columns(&table);
        let rate_bits = batch::stark_config().fri_config.rate_bits;
        g.throughput(Throughput::Elements(
            ((table.rows << rate_bits) * cols.len()) as u64,
        ));
        let mut committers = vec![
            ("cpu-plonky2", Committer::Plonky2),
            ("cpu-backend", Committer::Backend(&cpu)),
        ];
        if let Some(gpu) = &gpu {
            committers.push(("gpu", Committer::Backend(gpu)));
        }
        for (name, committer) in committers {
            g.bench_with_input(BenchmarkId::new(name, ops), &cols, |b, cols| {
                b.iter(|| batch::commit_trace(cols, committer).expect("commit"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, prove, commit);
criterion_main!(benches);
