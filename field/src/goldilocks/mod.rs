//! The Goldilocks field and its transforms.

pub mod field;
pub mod ntt;

pub use field::{Goldilocks, P};
