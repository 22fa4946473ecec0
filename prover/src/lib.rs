//! The zkNode batch prover: the batch STARK ([`batch`]) and the kernel benchmark behind
//! `zkprover bench`.

pub mod batch;
pub mod bench;
mod envelope;
pub mod recursion;
pub mod worker;

pub use envelope::EnvelopeError;
