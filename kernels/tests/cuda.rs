//! The CUDA backend against the CPU backend, bit for bit, on fresh random inputs of many sizes.
//!
//! Without a usable GPU every test prints `skipping: no usable CUDA device (<reason>)` and
//! passes. The seed comes from the clock (printed; `ZKNODE_TEST_SEED` replays one), and
//! `ZKNODE_CUDA_TEST_MAX_LOG` (default 20) bounds the largest transform sizes.
//! `ZKNODE_REQUIRE_CUDA=1` turns a missing device into a failure (`ci/cuda-emu.sh` sets it, so
//! the emulated run cannot pass by skipping).

use std::time::{SystemTime, UNIX_EPOCH};

use ark_ec::{AdditiveGroup, CurveGroup};
use ark_ff::{Field, PrimeField};
use ark_std::UniformRand;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zknode_kernels::bn254::{Fr, G1Affine, G1Projective};
use zknode_kernels::goldilocks::P;
use zknode_kernels::poseidon::State;
use zknode_kernels::{
    Backend, BenchBackend, Bn254Backend, CpuBackend, CudaBackend, Goldilocks, KernelError,
    NttDirection, ResidentOp,
};

/// The backend, or `None` (after the skip line) when no GPU is usable. A GPU whose kernels fail
/// to compile or load is a failure, not a skip.
fn gpu() -> Option<CudaBackend> {
    match CudaBackend::new() {
        Ok(b) => {
            eprintln!("device: {}", b.info());
            Some(b)
        }
        Err(KernelError::NoCudaDevice(reason)) => {
            if std::env::var_os("ZKNODE_REQUIRE_CUDA").is_some() {
                panic!("ZKNODE_REQUIRE_CUDA is set but no CUDA device is usable: {reason}");
            }
            println!("skipping: no usable CUDA device ({reason})");
            None
        }
        Err(e) => panic!("the CUDA backend failed to open: {e}"),
    }
}

fn rng(test: &str) -> ChaCha8Rng {
    let seed = std::env::var("ZKNODE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("{test}: seed {seed} (ZKNODE_TEST_SEED={seed} replays it)");
    ChaCha8Rng::seed_from_u64(seed)
}

fn max_log() -> usize {
    std::env::var("ZKNODE_CUDA_TEST_MAX_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// Random elements with the edge values 0, 1 and p - 1 mixed in.
fn gl_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<Goldilocks> {
    (0..n)
        .map(|_| match rng.gen_range(0..16) {
            0 => Goldilocks::ZERO,
            1 => Goldilocks::ONE,
            2 => Goldilocks::new(P - 1),
            _ => Goldilocks::new(rng.gen()),
        })
        .collect()
}

fn assert_same<T: PartialEq + std::fmt::Debug>(gpu: &[T], cpu: &[T], what: &str) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths differ");
    if let Some(i) = (0..gpu.len()).find(|&i| gpu[i] != cpu[i]) {
        panic!(
            "{what}: first difference at {i} of {}: gpu {:?}, cpu {:?}",
            gpu.len(),
            gpu[i],
            cpu[i]
        );
    }
}

fn same_error<T: std::fmt::Debug, U: std::fmt::Debug>(
    gpu: Result<T, KernelError>,
    cpu: Result<U, KernelError>,
    what: &str,
) {
    match (gpu, cpu) {
        (Err(g), Err(c)) => {
            assert_eq!(
                std::mem::discriminant(&g),
                std::mem::discriminant(&c),
                "{what}: gpu {g}, cpu {c}"
            );
            assert_eq!(g.to_string(), c.to_string(), "{what}");
        }
        (g, c) => panic!("{what}: expected errors, gpu {g:?}, cpu {c:?}"),
    }
}

#[test]
fn cuda_sources_compile_with_nvrtc() {
    match zknode_kernels::cuda::compile_all_sources() {
        Ok(()) => println!(
            "all CUDA programs compile ({})",
            CudaBackend::nvrtc_library().unwrap_or_default()
        ),
        Err(KernelError::NoCudaDevice(reason)) => {
            println!("skipping: NVRTC not available ({reason})")
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn opening_never_panics() {
    match CudaBackend::new() {
        Ok(b) => println!("opened {}", b.info()),
        Err(e @ (KernelError::NoCudaDevice(_) | KernelError::Cuda { .. })) => {
            println!("no backend: {e}")
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

#[test]
fn goldilocks_ntt_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("goldilocks_ntt");
    for log_n in [0, 1, 2, 3, 5, 8, 11, 12, 13, 14, 16, 18, 20, 22, 24]
        .into_iter()
        .filter(|&l| l <= max_log())
    {
        for count in [1usize, 3, 5] {
            if count > 1 && log_n > max_log().saturating_sub(2) {
                continue;
            }
            let data = gl_vec(&mut rng, count << log_n);
            for dir in [NttDirection::Forward, NttDirection::Inverse] {
                let (mut g, mut c) = (data.clone(), data.clone());
                gpu.goldilocks_ntt(&mut g, log_n, dir).unwrap();
                CpuBackend::new()
                    .goldilocks_ntt(&mut c, log_n, dir)
                    .unwrap();
                assert_same(&g, &c, &format!("NTT 2^{log_n} x {count} {dir:?}"));
            }
        }
    }
}

#[test]
fn coset_lde_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("coset_lde");
    for log_n in [0, 1, 3, 6, 10, 12, 13, 16]
        .into_iter()
        .filter(|&l| l < max_log())
    {
        for rate_bits in [0, 1, 2, 3].into_iter().filter(|&r| log_n + r <= max_log()) {
            for count in [1usize, 3] {
                let coeffs = gl_vec(&mut rng, count << log_n);
                let shift = if rng.gen() {
                    Goldilocks::MULTIPLICATIVE_GENERATOR
                } else {
                    Goldilocks::new(rng.gen_range(1..P))
                };
                let g = gpu.coset_lde(&coeffs, log_n, rate_bits, shift).unwrap();
                let c = CpuBackend::new()
                    .coset_lde(&coeffs, log_n, rate_bits, shift)
                    .unwrap();
                assert_same(&g, &c, &format!("LDE 2^{log_n} rate {rate_bits} x {count}"));
            }
        }
    }
}

#[test]
fn poseidon_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("poseidon");
    for count in [0usize, 1, 2, 255, 257, 1000, 4099] {
        let states: Vec<State> = (0..count)
            .map(|_| gl_vec(&mut rng, 12).try_into().unwrap())
            .collect();
        let (mut g, mut c) = (states.clone(), states);
        gpu.poseidon_permute(&mut g).unwrap();
        CpuBackend::new().poseidon_permute(&mut c).unwrap();
        assert_same(&g, &c, &format!("Poseidon x {count}"));
    }
}

#[test]
fn hash_rows_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("hash_rows");
    for width in [1usize, 3, 4, 5, 7, 8, 9, 16, 17, 135] {
        for rows in [0usize, 1, 7, 64, 300] {
            let data = gl_vec(&mut rng, rows * width);
            let g = gpu.hash_rows(&data, width).unwrap();
            let c = CpuBackend::new().hash_rows(&data, width).unwrap();
            assert_same(&g, &c, &format!("{rows} rows of {width}"));
        }
    }
}

#[test]
fn merkle_tree_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("merkle_tree");
    for width in [1usize, 4, 5, 12] {
        for log_n in [0usize, 1, 2, 3, 5, 8, 11] {
            for cap_height in [0, 1, 3, log_n].into_iter().filter(|&h| h <= log_n) {
                let leaves = gl_vec(&mut rng, width << log_n);
                let g = gpu.merkle_tree(leaves.clone(), width, cap_height).unwrap();
                let c = CpuBackend::new()
                    .merkle_tree(leaves, width, cap_height)
                    .unwrap();
                let what = format!("tree 2^{log_n} x {width} cap {cap_height}");
                assert_same(&g.digests, &c.digests, &what);
                assert_same(&g.cap, &c.cap, &what);
                assert_eq!(g, c, "{what}");
            }
        }
    }
}

#[test]
fn lde_commit_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("lde_commit");
    for count in [1usize, 2, 5, 9] {
        for log_n in [0usize, 1, 4, 8, 11, 13]
            .into_iter()
            .filter(|&l| l + 3 <= max_log())
        {
            for rate_bits in [0usize, 1, 3] {
                let cap_height = (log_n + rate_bits).min(rng.gen_range(0..5));
                let coeffs = gl_vec(&mut rng, count << log_n);
                let g = gpu
                    .lde_commit(&coeffs, log_n, rate_bits, cap_height)
                    .unwrap();
                let c = CpuBackend::new()
                    .lde_commit(&coeffs, log_n, rate_bits, cap_height)
                    .unwrap();
                let what = format!("commit {count} x 2^{log_n} rate {rate_bits} cap {cap_height}");
                assert_same(&g.leaves, &c.leaves, &what);
                assert_same(&g.digests, &c.digests, &what);
                assert_same(&g.cap, &c.cap, &what);
            }
        }
    }
}

/// Random points: an arithmetic progression from a random point, with the point at infinity,
/// repeats and negations mixed in (the special cases of the addition formulas).
fn msm_inputs(rng: &mut ChaCha8Rng, n: usize) -> (Vec<G1Affine>, Vec<Fr>) {
    let step = G1Projective::rand(rng);
    let mut cur = G1Projective::rand(rng);
    let mut proj = Vec::with_capacity(n);
    for i in 0..n {
        proj.push(match i % 29 {
            7 => G1Projective::ZERO,
            11 if i > 0 => proj[i - 1],
            13 if i > 0 => -proj[i - 1],
            _ => {
                cur += step;
                cur
            }
        });
    }
    let points = G1Projective::normalize_batch(&proj);
    let scalars = (0..n)
        .map(|i| match i % 23 {
            3 => Fr::ZERO,
            5 => Fr::ONE,
            9 => -Fr::ONE,
            17 => Fr::from(rng.gen_range(0..1u64 << 20)),
            _ => Fr::rand(rng),
        })
        .collect();
    (points, scalars)
}

#[test]
fn bn254_msm_matches_arkworks() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("bn254_msm");
    for n in [0usize, 1, 2, 3, 31, 100, 1000, 5000, 1 << 16]
        .into_iter()
        .filter(|&n| n <= 1 << max_log())
    {
        let (points, scalars) = msm_inputs(&mut rng, n);
        let g = gpu.bn254_msm(&points, &scalars).unwrap();
        let c = CpuBackend::new().bn254_msm(&points, &scalars).unwrap();
        assert_eq!(g.into_affine(), c.into_affine(), "MSM of {n} points");
    }
    // Every scalar in the same bucket, and all scalars equal to r - 1.
    let (points, _) = msm_inputs(&mut rng, 3000);
    for s in [Fr::from(5u64), -Fr::ONE] {
        let scalars = vec![s; points.len()];
        let g = gpu.bn254_msm(&points, &scalars).unwrap();
        let c = CpuBackend::new().bn254_msm(&points, &scalars).unwrap();
        assert_eq!(g, c, "MSM with all scalars {s}");
    }
}

#[test]
fn bn254_ntt_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("bn254_ntt");
    for log_n in [0usize, 1, 2, 5, 10, 14, 16]
        .into_iter()
        .filter(|&l| l <= max_log())
    {
        let values: Vec<Fr> = (0..1usize << log_n).map(|_| Fr::rand(&mut rng)).collect();
        for dir in [NttDirection::Forward, NttDirection::Inverse] {
            let (mut g, mut c) = (values.clone(), values.clone());
            gpu.bn254_ntt(&mut g, dir).unwrap();
            CpuBackend::new().bn254_ntt(&mut c, dir).unwrap();
            assert_same(&g, &c, &format!("BN254 NTT 2^{log_n} {dir:?}"));
        }
    }
    assert_eq!(Fr::MODULUS_BIT_SIZE, 254);
}

#[test]
fn bad_sizes_give_the_cpu_errors() {
    let Some(gpu) = gpu() else { return };
    let cpu = CpuBackend::new();
    let v = vec![Goldilocks::ONE; 12];
    for (len, log_n) in [(12, 3), (0, 2), (8, 33)] {
        let (mut a, mut b) = (v[..len].to_vec(), v[..len].to_vec());
        same_error(
            gpu.goldilocks_ntt(&mut a, log_n, NttDirection::Forward),
            cpu.goldilocks_ntt(&mut b, log_n, NttDirection::Forward),
            "NTT",
        );
    }
    for (len, log_n, rate) in [(12, 3, 1), (0, 1, 1), (8, 3, 30)] {
        let s = Goldilocks::MULTIPLICATIVE_GENERATOR;
        same_error(
            gpu.coset_lde(&v[..len], log_n, rate, s),
            cpu.coset_lde(&v[..len], log_n, rate, s),
            "LDE",
        );
        same_error(
            gpu.lde_commit(&v[..len], log_n, rate, 0),
            cpu.lde_commit(&v[..len], log_n, rate, 0),
            "commit",
        );
    }
    same_error(
        gpu.lde_commit(&v[..8], 2, 1, 4),
        cpu.lde_commit(&v[..8], 2, 1, 4),
        "commit cap",
    );
    same_error(gpu.hash_rows(&v, 0), cpu.hash_rows(&v, 0), "rows width 0");
    same_error(gpu.hash_rows(&v, 5), cpu.hash_rows(&v, 5), "rows width 5");
    for (width, cap) in [(4, 0), (5, 0), (3, 3), (0, 0)] {
        same_error(
            gpu.merkle_tree(v.clone(), width, cap),
            cpu.merkle_tree(v.clone(), width, cap),
            "tree",
        );
    }
    let (points, scalars) = msm_inputs(&mut rng("bad_sizes"), 4);
    same_error(
        gpu.bn254_msm(&points, &scalars[..3]),
        cpu.bn254_msm(&points, &scalars[..3]),
        "MSM",
    );
    for len in [0, 3, 12] {
        let (mut a, mut b) = (vec![Fr::ONE; len], vec![Fr::ONE; len]);
        same_error(
            gpu.bn254_ntt(&mut a, NttDirection::Forward),
            cpu.bn254_ntt(&mut b, NttDirection::Forward),
            "BN254 NTT",
        );
    }
}

#[test]
fn resident_timing_runs_every_op() {
    let Some(gpu) = gpu() else { return };
    let mut rng = rng("time_resident");
    let data = gl_vec(&mut rng, 3 << 12);
    let states: Vec<State> = (0..100)
        .map(|_| gl_vec(&mut rng, 12).try_into().unwrap())
        .collect();
    let (points, scalars) = msm_inputs(&mut rng, 300);
    let ops = [
        ResidentOp::GoldilocksNtt {
            data: &data,
            log_n: 12,
        },
        ResidentOp::LdeCommit {
            coeffs: &data,
            log_n: 10,
            rate_bits: 2,
            cap_height: 2,
        },
        ResidentOp::Poseidon { states: &states },
        ResidentOp::Bn254Msm {
            points: &points,
            scalars: &scalars,
        },
    ];
    for op in ops {
        let t = gpu.time_resident(op, 2).unwrap();
        println!("resident run: {t:?}");
    }
}

/// Writes the complete CUDA programs (prelude included) into `$ZKNODE_CUDA_SOURCES_OUT`, to
/// inspect them or build them with nvcc: `cargo test --test cuda -- --ignored write_cuda_sources`.
#[test]
#[ignore]
fn write_cuda_sources() {
    let dir =
        std::env::var("ZKNODE_CUDA_SOURCES_OUT").unwrap_or_else(|_| "target/cuda-sources".into());
    std::fs::create_dir_all(&dir).unwrap();
    for p in zknode_kernels::cuda::program_sources() {
        let path = format!("{dir}/{}.cu", p.name);
        std::fs::write(&path, &p.source).unwrap();
        println!("wrote {path}");
    }
}
