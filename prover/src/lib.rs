//! The zkNode batch prover. For now: the kernel benchmark behind `zkprover bench`.

pub mod bench;
