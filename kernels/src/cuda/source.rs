//! The CUDA C programs: the `kernels/cuda/*.cu` files, embedded at build time and concatenated
//! behind a prelude of constants generated from the Rust tables (Poseidon round constants and
//! MDS matrix, BN254 moduli from arkworks), so the device can never disagree with the host.

use std::fmt::Write;

use ark_ff::{Field, PrimeField};

use crate::goldilocks::Goldilocks;
use crate::poseidon::{HALF_FULL_ROUNDS, MDS_CIRC, MDS_DIAG, PARTIAL_ROUNDS, ROUND_CONSTANTS};

const COMMON: &str = include_str!("../../cuda/common.cu");
const GOLDILOCKS: &str = include_str!("../../cuda/goldilocks.cu");
const NTT: &str = include_str!("../../cuda/ntt.cu");
const POSEIDON: &str = include_str!("../../cuda/poseidon.cu");
const MERKLE: &str = include_str!("../../cuda/merkle.cu");
const BN254_FIELD: &str = include_str!("../../cuda/bn254.cu");
const MSM: &str = include_str!("../../cuda/msm.cu");
const BN254_NTT: &str = include_str!("../../cuda/bn254_ntt.cu");

/// Kernels of the Goldilocks program (NTT, Poseidon, Merkle trees).
pub(crate) const GOLDILOCKS_KERNELS: &[&str] = &[
    "gl_twiddles",
    "gl_powers",
    "gl_ntt_first",
    "gl_ntt_pass",
    "poseidon_permute_states",
    "merkle_hash_rows",
    "merkle_level",
];

/// Kernels of the BN254 program (MSM, scalar-field NTT).
pub(crate) const BN254_KERNELS: &[&str] = &[
    "bn_scalars_canonical",
    "msm_histogram",
    "msm_scan",
    "msm_scatter",
    "msm_chunks",
    "msm_finish",
    "msm_segments",
    "bn_sum_groups",
    "fr_twiddles",
    "fr_bitrev",
    "fr_ntt_stage",
    "fr_scale",
];

/// One CUDA C program as NVRTC compiles it.
#[derive(Clone, Debug)]
pub struct CudaProgram {
    /// Program name (`goldilocks` or `bn254`).
    pub name: &'static str,
    /// The complete source: generated prelude and the `.cu` files.
    pub source: String,
}

/// Every program the CUDA backend compiles, with its complete source. Useful to inspect the
/// exact code or to build it ahead of time with `nvcc`.
pub fn program_sources() -> Vec<CudaProgram> {
    let goldilocks = [
        COMMON,
        &goldilocks_prelude(),
        GOLDILOCKS,
        NTT,
        POSEIDON,
        MERKLE,
    ]
    .concat();
    let bn254 = [COMMON, &bn254_prelude(), BN254_FIELD, MSM, BN254_NTT].concat();
    vec![
        CudaProgram {
            name: "goldilocks",
            source: goldilocks,
        },
        CudaProgram {
            name: "bn254",
            source: bn254,
        },
    ]
}

fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>, suffix: &str) -> String {
    items
        .into_iter()
        .map(|x| format!("{x}{suffix}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn goldilocks_prelude() -> String {
    let mut s =
        String::from("\n// ---- generated from the Rust tables (kernels/src/poseidon) ----\n");
    let _ = writeln!(s, "#define POSEIDON_HALF_FULL_ROUNDS {HALF_FULL_ROUNDS}");
    let _ = writeln!(s, "#define POSEIDON_PARTIAL_ROUNDS {PARTIAL_ROUNDS}");
    let _ = writeln!(s, "#define POSEIDON_MDS_CIRC {{{}}}", list(MDS_CIRC, "u"));
    let _ = writeln!(s, "#define POSEIDON_MDS_DIAG {{{}}}", list(MDS_DIAG, "u"));
    let _ = writeln!(
        s,
        "__constant__ u64 POSEIDON_RC[{}] = {{",
        ROUND_CONSTANTS.len()
    );
    for row in ROUND_CONSTANTS.chunks(4) {
        // Canonical, as the CPU adds `Goldilocks::new(c)`.
        let words = row
            .iter()
            .map(|&c| format!("0x{:016x}", Goldilocks::new(c).value()));
        let _ = writeln!(s, "    {},", list(words, "ull"));
    }
    s.push_str("};\n\n");
    s
}

/// `-p^-1 mod 2^64` for an odd `p0`.
fn mont_inv(p0: u64) -> u64 {
    let mut x: u64 = 1;
    for _ in 0..6 {
        x = x.wrapping_mul(2u64.wrapping_sub(p0.wrapping_mul(x)));
    }
    x.wrapping_neg()
}

fn field_defines<F: PrimeField<BigInt = ark_ff::BigInt<4>>>(
    s: &mut String,
    prefix: &str,
    one: [u64; 4],
) {
    let m = F::MODULUS.0;
    for (i, limb) in m.iter().enumerate() {
        let _ = writeln!(s, "#define {prefix}_P{i} 0x{limb:016x}ull");
    }
    for (i, limb) in one.iter().enumerate() {
        let _ = writeln!(s, "#define {prefix}_ONE{i} 0x{limb:016x}ull");
    }
    let _ = writeln!(s, "#define {prefix}_INV 0x{:016x}ull", mont_inv(m[0]));
}

fn bn254_prelude() -> String {
    let mut s = String::from("\n// ---- generated from arkworks (ark-bn254) ----\n");
    field_defines::<ark_bn254::Fq>(&mut s, "FQ", ark_bn254::Fq::ONE.0 .0);
    field_defines::<ark_bn254::Fr>(&mut s, "FR", ark_bn254::Fr::ONE.0 .0);
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn montgomery_constants_match_arkworks() {
        use ark_ff::fields::models::fp::MontConfig;
        assert_eq!(
            mont_inv(ark_bn254::Fq::MODULUS.0[0]),
            ark_bn254::FqConfig::INV
        );
        assert_eq!(
            mont_inv(ark_bn254::Fr::MODULUS.0[0]),
            ark_bn254::FrConfig::INV
        );
    }

    #[test]
    fn prelude_has_every_round_constant() {
        let p = goldilocks_prelude();
        assert_eq!(p.matches("ull").count(), ROUND_CONSTANTS.len());
        assert!(bn254_prelude().contains("#define FR_INV"));
    }
}
