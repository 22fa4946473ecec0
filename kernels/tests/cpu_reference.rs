//! The CPU backend against the references it must agree with: plonky2 1.1 for Goldilocks
//! transforms, Poseidon and Merkle commitments; arkworks (and naive sums) for BN254.
//! Inputs are fresh random values on every run; the seed is printed so a failure can be replayed
//! with `ZKNODE_TEST_SEED`.

use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field as _, UniformRand};
use plonky2::field::goldilocks_field::GoldilocksField as PF;
use plonky2::field::polynomial::PolynomialCoeffs;
use plonky2::field::types::{Field, PrimeField64};
use plonky2::fri::oracle::PolynomialBatch;
use plonky2::hash::hash_types::HashOut;
use plonky2::hash::merkle_tree::MerkleTree as PMerkleTree;
use plonky2::hash::poseidon::{Poseidon, PoseidonHash};
use plonky2::plonk::config::{Hasher, PoseidonGoldilocksConfig};
use plonky2::util::timing::TimingTree;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zknode_kernels::bn254::{Fr, G1Affine, G1Projective};
use zknode_kernels::poseidon::{Digest, State};
use zknode_kernels::{Backend, Bn254Backend, CpuBackend, Goldilocks, KernelError, NttDirection};

fn rng() -> ChaCha8Rng {
    let seed = std::env::var("ZKNODE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("seed {seed} (replay with ZKNODE_TEST_SEED={seed})");
    ChaCha8Rng::seed_from_u64(seed)
}

fn random_vec(rng: &mut impl Rng, n: usize) -> Vec<Goldilocks> {
    (0..n).map(|_| Goldilocks::new(rng.gen())).collect()
}

fn to_p(v: &[Goldilocks]) -> Vec<PF> {
    v.iter()
        .map(|x| PF::from_canonical_u64(x.value()))
        .collect()
}

fn from_p(v: &[PF]) -> Vec<Goldilocks> {
    v.iter()
        .map(|x| Goldilocks::new(x.to_canonical_u64()))
        .collect()
}

fn digest_from_p(h: &HashOut<PF>) -> Digest {
    core::array::from_fn(|i| Goldilocks::new(h.elements[i].to_canonical_u64()))
}

#[test]
fn ntt_matches_plonky2_fft_and_ifft() {
    let cpu = CpuBackend::new();
    let mut rng = rng();
    for log_n in [0, 1, 2, 5, 10, 16, 20] {
        let n = 1 << log_n;
        let count = if log_n < 10 { 3 } else { 1 };
        let coeffs = random_vec(&mut rng, n * count);
        let mut ours = coeffs.clone();
        cpu.goldilocks_ntt(&mut ours, log_n, NttDirection::Forward)
            .unwrap();
        for (c, o) in coeffs.chunks(n).zip(ours.chunks(n)) {
            let theirs = PolynomialCoeffs::new(to_p(c)).fft();
            assert_eq!(from_p(&theirs.values), o, "forward NTT, log_n {log_n}");
        }
        cpu.goldilocks_ntt(&mut ours, log_n, NttDirection::Inverse)
            .unwrap();
        assert_eq!(ours, coeffs, "inverse NTT, log_n {log_n}");
    }
}

#[test]
fn coset_lde_matches_plonky2() {
    let cpu = CpuBackend::new();
    let mut rng = rng();
    for (log_n, rate_bits, count) in [
        (0, 1, 1),
        (2, 3, 5),
        (6, 1, 3),
        (8, 3, 7),
        (12, 2, 2),
        (14, 4, 1),
    ] {
        let n = 1 << log_n;
        let coeffs = random_vec(&mut rng, n * count);
        let shift = Goldilocks::new(rng.gen());
        let ours = cpu.coset_lde(&coeffs, log_n, rate_bits, shift).unwrap();
        let big = n << rate_bits;
        for (k, c) in coeffs.chunks(n).enumerate() {
            let theirs = PolynomialCoeffs::new(to_p(c))
                .lde(rate_bits)
                .coset_fft(PF::from_canonical_u64(shift.value()));
            assert_eq!(
                from_p(&theirs.values),
                &ours[k * big..(k + 1) * big],
                "log_n {log_n} rate_bits {rate_bits} poly {k}"
            );
        }
    }
}

#[test]
fn poseidon_matches_plonky2() {
    let cpu = CpuBackend::new();
    let mut rng = rng();
    // Counts below, at and around the eight lanes of the multi-lane permutation, and one with a
    // partial last group behind full parallel chunks.
    for count in [0, 1, 5, 8, 9, 1000] {
        let mut states: Vec<State> = (0..count)
            .map(|_| core::array::from_fn(|_| Goldilocks::new(rng.gen())))
            .collect();
        // Edge lanes: zero and p - 1.
        states.push([Goldilocks::ZERO; 12]);
        states.push([Goldilocks::new(u64::MAX); 12]);
        let inputs = states.clone();
        cpu.poseidon_permute(&mut states).unwrap();
        for (input, ours) in inputs.iter().zip(&states) {
            let theirs = PF::poseidon(core::array::from_fn(|i| {
                PF::from_canonical_u64(input[i].value())
            }));
            assert_eq!(from_p(&theirs), ours.to_vec(), "{} states", count + 2);
        }
    }
}

#[test]
fn row_hashes_match_plonky2_hash_or_noop() {
    let cpu = CpuBackend::new();
    let mut rng = rng();
    // Row counts that fill eight-row groups and ones that leave a short last group (hashed with
    // spare lanes or one by one); widths that are and are not multiples of the rate of 8.
    for width in [1, 3, 4, 5, 8, 9, 16, 17, 135, 368] {
        for count in [1, 3, 4, 13, 16, 1000] {
            let rows = random_vec(&mut rng, count * width);
            let ours = cpu.hash_rows(&rows, width).unwrap();
            assert_eq!(ours.len(), count);
            for (r, d) in rows.chunks(width).zip(&ours) {
                assert_eq!(
                    &digest_from_p(&PoseidonHash::hash_or_noop(&to_p(r))),
                    d,
                    "width {width}, {count} rows"
                );
            }
        }
    }
    assert!(cpu.hash_rows(&[Goldilocks::ZERO; 7], 3).is_err());
}

#[test]
fn merkle_tree_matches_plonky2_layout() {
    let cpu = CpuBackend::new();
    let mut rng = rng();
    for (log_n, width, cap_height) in [
        (0, 1, 0),
        (1, 7, 0),
        (1, 7, 1),
        (2, 4, 0),
        (2, 6, 1),
        (3, 8, 0),
        (4, 3, 2),
        (5, 368, 2),
        (6, 12, 0),
        (7, 5, 7),
        (10, 9, 4),
    ] {
        let n = 1usize << log_n;
        let leaves = random_vec(&mut rng, n * width);
        let ours = cpu.merkle_tree(leaves.clone(), width, cap_height).unwrap();
        let theirs = PMerkleTree::<PF, PoseidonHash>::new(
            leaves.chunks(width).map(to_p).collect(),
            cap_height,
        );
        let their_digests: Vec<Digest> = theirs.digests.iter().map(digest_from_p).collect();
        let their_cap: Vec<Digest> = theirs.cap.0.iter().map(digest_from_p).collect();
        assert_eq!(
            ours.digests, their_digests,
            "digests, log_n {log_n} width {width} cap {cap_height}"
        );
        assert_eq!(
            ours.cap, their_cap,
            "cap, log_n {log_n} width {width} cap {cap_height}"
        );
        for i in [0, n / 2, n - 1] {
            let their_path: Vec<Digest> =
                theirs.prove(i).siblings.iter().map(digest_from_p).collect();
            assert_eq!(ours.prove(i), their_path);
        }
    }
}

/// The commitment equals plonky2's `PolynomialBatch::from_coeffs`, leaves, digests and cap, so it
/// can stand in a `PolynomialBatch`.
#[test]
fn lde_commit_matches_plonky2_polynomial_batch() {
    let cpu = CpuBackend::new();
    let mut rng = rng();
    for (log_n, count, rate_bits, cap_height) in [
        (0, 1, 1, 0),
        (1, 5, 1, 0),
        (3, 1, 1, 2),
        (5, 7, 3, 4),
        (4, 8, 3, 1),
        (8, 33, 3, 4),
        (6, 368, 3, 4),
        (10, 4, 2, 0),
    ] {
        let n = 1 << log_n;
        let coeffs = random_vec(&mut rng, n * count);
        let ours = cpu
            .lde_commit(&coeffs, log_n, rate_bits, cap_height)
            .unwrap();
        let polys = coeffs
            .chunks(n)
            .map(|c| PolynomialCoeffs::new(to_p(c)))
            .collect();
        let theirs = PolynomialBatch::<PF, PoseidonGoldilocksConfig, 2>::from_coeffs(
            polys,
            rate_bits,
            false,
            cap_height,
            &mut TimingTree::default(),
            None,
        );
        let t = &theirs.merkle_tree;
        let their_leaves: Vec<Goldilocks> = t.leaves.iter().flat_map(|l| from_p(l)).collect();
        assert_eq!(ours.leaf_width, count);
        assert_eq!(
            ours.leaves, their_leaves,
            "leaves, log_n {log_n} count {count}"
        );
        assert_eq!(
            ours.digests,
            t.digests.iter().map(digest_from_p).collect::<Vec<_>>()
        );
        assert_eq!(
            ours.cap,
            t.cap.0.iter().map(digest_from_p).collect::<Vec<_>>()
        );
    }
}

#[test]
fn bad_sizes_are_clear_errors() {
    let cpu = CpuBackend::new();
    let mut v = vec![Goldilocks::ZERO; 24];
    assert!(matches!(
        cpu.goldilocks_ntt(&mut v, 4, NttDirection::Forward),
        Err(KernelError::LengthMismatch { .. })
    ));
    assert!(matches!(
        cpu.goldilocks_ntt(&mut v, 33, NttDirection::Forward),
        Err(KernelError::TooLarge { .. })
    ));
    assert!(matches!(
        cpu.goldilocks_ntt(&mut [], 2, NttDirection::Forward),
        Err(KernelError::InvalidArgument(_))
    ));
    assert!(matches!(
        cpu.coset_lde(&v, 3, 30, Goldilocks::ONE),
        Err(KernelError::TooLarge { .. })
    ));
    assert!(matches!(
        cpu.lde_commit(&v, 3, 1, 5),
        Err(KernelError::InvalidArgument(_))
    ));
    // Sixteen LDEs of 2^32 values cannot fit in memory: refused before any allocation.
    let one = vec![Goldilocks::ONE; 16];
    assert!(matches!(
        cpu.coset_lde(&one, 0, 32, Goldilocks::ONE),
        Err(KernelError::OutOfDeviceMemory { .. })
    ));
    let e = cpu
        .merkle_tree(vec![Goldilocks::ZERO; 12], 4, 0)
        .unwrap_err();
    assert!(e.to_string().contains("not a power of two"), "{e}");
    let mut fr = vec![Fr::from(1u64); 6];
    assert!(matches!(
        cpu.bn254_ntt(&mut fr, NttDirection::Forward),
        Err(KernelError::NotPowerOfTwo { .. })
    ));
    let p = vec![G1Affine::generator(); 3];
    assert!(matches!(
        cpu.bn254_msm(&p, &fr[..2]),
        Err(KernelError::LengthMismatch { .. })
    ));
}

#[test]
fn bn254_msm_matches_naive_sum() {
    let cpu = CpuBackend::new();
    let mut rng = rng();
    for n in [1, 2, 3, 100, 1 << 10] {
        let points: Vec<G1Affine> = (0..n)
            .map(|_| G1Projective::rand(&mut rng).into_affine())
            .collect();
        let mut scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        scalars[0] = Fr::from(0u64);
        if n > 1 {
            scalars[1] = -Fr::from(1u64);
        }
        let naive: G1Projective = points.iter().zip(&scalars).map(|(p, s)| *p * s).sum();
        assert_eq!(cpu.bn254_msm(&points, &scalars).unwrap(), naive, "n {n}");
    }
    assert_eq!(cpu.bn254_msm(&[], &[]).unwrap(), G1Projective::default());
}

#[test]
fn bn254_ntt_matches_naive_evaluation() {
    use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
    let cpu = CpuBackend::new();
    let mut rng = rng();
    for log_n in [0, 1, 3, 6] {
        let n = 1usize << log_n;
        let coeffs: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let w = Radix2EvaluationDomain::<Fr>::new(n).unwrap().group_gen;
        assert_eq!(w.pow([n as u64]), Fr::from(1u64));
        let naive: Vec<Fr> = (0..n)
            .map(|i| {
                let x = w.pow([i as u64]);
                coeffs
                    .iter()
                    .rev()
                    .fold(Fr::from(0u64), |acc, c| acc * x + c)
            })
            .collect();
        let mut v = coeffs.clone();
        cpu.bn254_ntt(&mut v, NttDirection::Forward).unwrap();
        assert_eq!(v, naive, "log_n {log_n}");
        cpu.bn254_ntt(&mut v, NttDirection::Inverse).unwrap();
        assert_eq!(v, coeffs);
    }
}
