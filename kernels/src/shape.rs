//! Argument checks shared by every backend, so each reports bad sizes the same way.

use crate::error::{KernelError, Result};
use crate::goldilocks::Goldilocks;

/// The largest Goldilocks transform: the field's two-adicity.
pub const MAX_LOG_NTT: usize = Goldilocks::TWO_ADICITY;

/// Checks a batch of `2^log_n`-element vectors and returns how many there are.
pub fn ntt_batch(len: usize, log_n: usize, what: &'static str) -> Result<usize> {
    if log_n > MAX_LOG_NTT {
        return Err(KernelError::TooLarge {
            what,
            log_n,
            max_log_n: MAX_LOG_NTT,
        });
    }
    let n = 1usize << log_n;
    if len == 0 {
        return Err(KernelError::InvalidArgument(format!(
            "{what}: no input vectors"
        )));
    }
    if !len.is_multiple_of(n) {
        return Err(KernelError::LengthMismatch {
            what,
            expected: len.next_multiple_of(n),
            got: len,
        });
    }
    Ok(len / n)
}

/// Checks an LDE request and returns the number of polynomials.
pub fn lde(len: usize, log_n: usize, rate_bits: usize) -> Result<usize> {
    let log_big = log_n + rate_bits;
    if log_big > MAX_LOG_NTT {
        return Err(KernelError::TooLarge {
            what: "coset LDE",
            log_n: log_big,
            max_log_n: MAX_LOG_NTT,
        });
    }
    ntt_batch(
        len,
        log_n,
        "coset LDE coefficients (whole polynomials of 2^log_n)",
    )
}

/// The number of elements a transform of `2^log_n` over `count` vectors touches, as bytes.
pub fn goldilocks_bytes(count: usize, log_n: usize) -> u64 {
    (count as u64) << log_n << 3
}
