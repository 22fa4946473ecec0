//! Criterion benchmarks of every kernel on every available backend.
//!
//! `cargo bench -p zknode-benches` runs the sizes a 2-core CPU finishes in minutes;
//! `ZKNODE_BENCH_FULL=1` adds the large sizes (NTT to 2^24, LDE + Merkle to 2^20 rows × 256
//! columns, MSM to 2^22), meant for GPU machines. The CUDA backend joins when a GPU answers.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zknode_kernels::{sample, BenchBackend, CpuBackend, CudaBackend, NttDirection, ResidentOp};

/// The backends to measure, opened once per process (the CUDA one compiles its kernels).
fn backends() -> Vec<(String, Arc<dyn BenchBackend>)> {
    static BACKENDS: OnceLock<Vec<(String, Arc<dyn BenchBackend>)>> = OnceLock::new();
    BACKENDS
        .get_or_init(|| {
            let mut v: Vec<(String, Arc<dyn BenchBackend>)> =
                vec![("cpu".into(), Arc::new(CpuBackend::new()))];
            match CudaBackend::new() {
                Ok(b) => v.push(("cuda".into(), Arc::new(b))),
                Err(e) => eprintln!("CUDA backend not benchmarked: {e}"),
            }
            v
        })
        .clone()
}

fn full() -> bool {
    std::env::var_os("ZKNODE_BENCH_FULL").is_some()
}

fn sizes(small: &[usize], large: &[usize]) -> Vec<usize> {
    let mut v = small.to_vec();
    if full() {
        v.extend_from_slice(large);
    }
    v
}

fn goldilocks_ntt(c: &mut Criterion) {
    let mut g = c.benchmark_group("goldilocks_ntt");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for (name, b) in backends() {
        for log_n in sizes(&[16, 18, 20], &[22, 24]) {
            let data = sample::goldilocks(&mut sample::rng(log_n as u64), 1 << log_n);
            g.throughput(Throughput::Elements(1 << log_n));
            g.bench_with_input(
                BenchmarkId::new(format!("{name}/end_to_end"), format!("2^{log_n}")),
                &data,
                |bench, data| {
                    bench.iter_batched(
                        || data.clone(),
                        |mut d| {
                            b.goldilocks_ntt(&mut d, log_n, NttDirection::Forward)
                                .unwrap()
                        },
                        criterion::BatchSize::LargeInput,
                    )
                },
            );
            if name != "cpu" {
                g.bench_with_input(
                    BenchmarkId::new(format!("{name}/resident"), format!("2^{log_n}")),
                    &data,
                    |bench, data| {
                        bench.iter_custom(|iters| {
                            b.time_resident(
                                ResidentOp::GoldilocksNtt { data, log_n },
                                iters as usize,
                            )
                            .unwrap()
                        })
                    },
                );
            }
        }
    }
}

fn lde_merkle(c: &mut Criterion) {
    let mut g = c.benchmark_group("lde_merkle_rate3");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let cases: Vec<(usize, usize)> = if full() {
        [16, 18, 20]
            .iter()
            .flat_map(|&r| [32, 64, 128, 256].map(|c| (r, c)))
            .collect()
    } else {
        vec![(12, 32), (14, 32), (14, 64)]
    };
    for (name, b) in backends() {
        for &(log_rows, cols) in &cases {
            let coeffs = sample::goldilocks(&mut sample::rng(1), cols << log_rows);
            g.throughput(Throughput::Elements((cols << (log_rows + 3)) as u64));
            let id = format!("2^{log_rows}x{cols}");
            g.bench_function(
                BenchmarkId::new(format!("{name}/end_to_end"), &id),
                |bench| bench.iter(|| b.lde_commit(&coeffs, log_rows, 3, 4).unwrap()),
            );
            if name != "cpu" {
                g.bench_function(BenchmarkId::new(format!("{name}/resident"), &id), |bench| {
                    bench.iter_custom(|iters| {
                        b.time_resident(
                            ResidentOp::LdeCommit {
                                coeffs: &coeffs,
                                log_n: log_rows,
                                rate_bits: 3,
                                cap_height: 4,
                            },
                            iters as usize,
                        )
                        .unwrap()
                    })
                });
            }
        }
    }
}

fn poseidon(c: &mut Criterion) {
    let mut g = c.benchmark_group("poseidon_permutations");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for (name, b) in backends() {
        for log_n in sizes(&[12, 16], &[20, 22]) {
            let states = sample::poseidon_states(&mut sample::rng(2), 1 << log_n);
            g.throughput(Throughput::Elements(1 << log_n));
            g.bench_function(
                BenchmarkId::new(name.clone(), format!("2^{log_n}")),
                |bench| {
                    bench.iter_custom(|iters| {
                        b.time_resident(ResidentOp::Poseidon { states: &states }, iters as usize)
                            .unwrap()
                    })
                },
            );
        }
    }
}

fn bn254_msm(c: &mut Criterion) {
    let mut g = c.benchmark_group("bn254_msm");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (name, b) in backends() {
        for log_n in sizes(&[12, 16], &[18, 20, 22]) {
            let mut rng = sample::rng(3);
            let points = sample::bn254_points(&mut rng, 1 << log_n);
            let scalars = sample::bn254_scalars(&mut rng, 1 << log_n);
            g.throughput(Throughput::Elements(1 << log_n));
            g.bench_function(
                BenchmarkId::new(format!("{name}/end_to_end"), format!("2^{log_n}")),
                |bench| bench.iter(|| b.bn254_msm(&points, &scalars).unwrap()),
            );
            if name != "cpu" {
                g.bench_function(
                    BenchmarkId::new(format!("{name}/resident"), format!("2^{log_n}")),
                    |bench| {
                        bench.iter_custom(|iters| {
                            b.time_resident(
                                ResidentOp::Bn254Msm {
                                    points: &points,
                                    scalars: &scalars,
                                },
                                iters as usize,
                            )
                            .unwrap()
                        })
                    },
                );
            }
        }
    }
}

fn bn254_ntt(c: &mut Criterion) {
    let mut g = c.benchmark_group("bn254_ntt");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for (name, b) in backends() {
        for log_n in sizes(&[12, 16], &[20, 22]) {
            let values = sample::bn254_scalars(&mut sample::rng(4), 1 << log_n);
            g.throughput(Throughput::Elements(1 << log_n));
            g.bench_function(
                BenchmarkId::new(name.clone(), format!("2^{log_n}")),
                |bench| {
                    bench.iter_batched(
                        || values.clone(),
                        |mut v| b.bn254_ntt(&mut v, NttDirection::Forward).unwrap(),
                        criterion::BatchSize::LargeInput,
                    )
                },
            );
        }
    }
}

criterion_group!(
    benches,
    goldilocks_ntt,
    lde_merkle,
    poseidon,
    bn254_msm,
    bn254_ntt
);
criterion_main!(benches);
