//! Errors of the compute kernels.

/// Everything a kernel call can fail with. Bad sizes are reported before any work starts.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{what}: {len} is not a power of two")]
    NotPowerOfTwo { what: &'static str, len: usize },
    #[error("{what}: expected {expected}, got {got}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what}: size 2^{log_n} exceeds the largest supported size 2^{max_log_n}")]
    TooLarge {
        what: &'static str,
        log_n: usize,
        max_log_n: usize,
    },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("out of device memory on {device}: the operation needs {needed} bytes, {free} bytes are free")]
    OutOfDeviceMemory {
        device: String,
        needed: u64,
        free: u64,
    },
    #[error("no usable CUDA device: {0}")]
    NoCudaDevice(String),
    #[error("CUDA error during {op}: {message}")]
    Cuda { op: &'static str, message: String },
    #[error("invalid ZKNODE_DEVICE value {0:?}: expected auto, cpu or cuda")]
    BadDeviceSelector(String),
}

pub type Result<T, E = KernelError> = core::result::Result<T, E>;
