//! BN254 on the CPU: G1 multi-scalar multiplication and scalar-field NTT, through arkworks.

use ark_ec::VariableBaseMSM;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};

pub use ark_bn254::{Fr, G1Affine, G1Projective};

use crate::backend::NttDirection;
use crate::error::{KernelError, Result};

/// The largest power-of-two NTT the BN254 scalar field supports (its two-adicity).
pub const MAX_LOG_NTT: usize = 28;

/// `sum_i scalars[i] * points[i]` (Pippenger, parallel).
pub fn msm(points: &[G1Affine], scalars: &[Fr]) -> Result<G1Projective> {
    if points.len() != scalars.len() {
        return Err(KernelError::LengthMismatch {
            what: "BN254 MSM scalars (one per point)",
            expected: points.len(),
            got: scalars.len(),
        });
    }
    G1Projective::msm(points, scalars).map_err(|got| KernelError::LengthMismatch {
        what: "BN254 MSM scalars",
        expected: points.len(),
        got,
    })
}

/// Checks an NTT length and returns its log2.
pub fn check_ntt_len(len: usize) -> Result<usize> {
    if !len.is_power_of_two() {
        return Err(KernelError::NotPowerOfTwo {
            what: "BN254 NTT length",
            len,
        });
    }
    let log_n = len.trailing_zeros() as usize;
    if log_n > MAX_LOG_NTT {
        return Err(KernelError::TooLarge {
            what: "BN254 NTT",
            log_n,
            max_log_n: MAX_LOG_NTT,
        });
    }
    Ok(log_n)
}

/// In-place NTT over the BN254 scalar field, natural order in and out, using arkworks' radix-2
/// domain (generator: its 2^log_n-th root of unity). The inverse includes the division by n.
pub fn ntt(values: &mut [Fr], dir: NttDirection) -> Result<()> {
    check_ntt_len(values.len())?;
    let domain = Radix2EvaluationDomain::<Fr>::new(values.len()).ok_or(KernelError::TooLarge {
        what: "BN254 NTT",
        log_n: values.len().trailing_zeros() as usize,
        max_log_n: MAX_LOG_NTT,
    })?;
    // arkworks transforms a `Vec` (it may pad); ours is already a power of two.
    let mut v = values.to_vec();
    match dir {
        NttDirection::Forward => domain.fft_in_place(&mut v),
        NttDirection::Inverse => domain.ifft_in_place(&mut v),
    }
    values.copy_from_slice(&v);
    Ok(())
}
