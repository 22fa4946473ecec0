//! Recursive aggregation of batch proofs with plonky2.
//!
//! Three kinds of circuit, all over Goldilocks with plonky2's standard recursion configuration:
//!
//! - **wrap** (one per STARK size `2^k` rows, `k` in [`MIN_STARK_BITS`]`..=`[`MAX_STARK_BITS`]):
//!   verifies one batch STARK with starky's recursive verifier and exposes a [`RangeStatement`]
//!   covering that one batch. It also advances the batch accumulator (see [`acc_step`]) from a
//!   given previous value.
//! - **aggregate**: verifies two proofs, each either a wrap or an aggregate (one fixed circuit
//!   for every level of the tree), and checks that they chain: left new root = right old root,
//!   left last batch + 1 = right first batch, left new accumulator = right old accumulator. Its
//!   statement covers both ranges.
//! - **final**: verifies one wrap or aggregate and binds the aggregator's address; its public
//!   inputs are what L1 checks.
//!
//! Every wrap circuit is padded to the aggregate circuit's shape (the same
//! [`CommonCircuitData`]), so the aggregate circuit verifies either kind with one verifier and
//! tells them apart only by verifier data: a child's verifier data must be one of the wrap
//! circuits' (constants of the aggregate circuit), or the aggregate circuit's own, which it takes
//! as public inputs in plonky2's cyclic-recursion way and which the final circuit pins to the
//! real one.
//!
//! The batch accumulator chains what each batch commits to in order:
//! `acc' = Poseidon(acc ‖ ops commitment ‖ batch data commitment ‖ batch number)`, starting
//! from zero before batch 1 (or from the accumulator L1 last recorded). Because it is a chain, a
//! range's accumulator does not depend on how the range was split into a tree. The operation
//! commitments it absorbs are proven (the batch STARK recomputes them); the batch data
//! commitments and batch numbers are only carried (no constraint of the batch STARK uses them),
//! so the accumulator ties operations to batch bytes no more than each batch proof does.
//!
//! The code: `build` (the circuits, their shapes and the targets their witnesses set), `set`
//! ([`Circuits`], built or loaded through `cache`), `prove`, `verify`, `bytes` (the proof types
//! and their byte formats) and `error` ([`RecursionError`], which tells proofs at fault from
//! failures of the circuits).

mod build;
mod bytes;
mod cache;
mod error;
mod prove;
mod set;
mod verify;

use plonky2::field::types::{Field, PrimeField64};
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::config::Hasher;

use crate::batch::{Statement, F};

pub use build::DIRECT_WRAP_MAX_BITS;
pub use bytes::{FinalProof, Kind, RecursiveProof};
pub use cache::{config_id, load_or_build};
pub use error::{Input, RecursionError};
pub use set::Circuits;

/// Smallest batch STARK a wrap circuit exists for (`2^6` rows, the batch prover's minimum).
pub const MIN_STARK_BITS: usize = 6;
/// Largest batch STARK a wrap circuit exists for (`2^18` rows: about 8,000 state operations).
pub const MAX_STARK_BITS: usize = 18;

/// Number of field elements of a [`RangeStatement`] in public inputs.
pub const RANGE_FIELDS: usize = 18;

/// What a wrap or aggregate proof says: the batches `first..=last` take the state from
/// `old_root` to `new_root`, and advance the batch accumulator from `acc_old` to `acc_new`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RangeStatement {
    pub first_batch: u64,
    pub last_batch: u64,
    pub old_root: [u64; 4],
    pub new_root: [u64; 4],
    pub acc_old: [u64; 4],
    pub acc_new: [u64; 4],
}

impl RangeStatement {
    /// The statement of a wrap of `batch`, given the accumulator before it.
    pub fn of_batch(batch: &Statement, acc_old: [u64; 4]) -> Result<Self, RecursionError> {
        if batch.batch_number >= 1 << 63 {
            return Err(RecursionError::BatchNumberTooLarge {
                batch: batch.batch_number,
            });
        }
        Ok(Self {
            first_batch: batch.batch_number,
            last_batch: batch.batch_number,
            old_root: batch.old_root.raw(),
            new_root: batch.new_root.raw(),
            acc_old,
            acc_new: acc_step(acc_old, batch),
        })
    }

    pub fn to_fields(&self) -> Vec<F> {
        let mut v = vec![
            F::from_canonical_u64(self.first_batch),
            F::from_canonical_u64(self.last_batch),
        ];
        for limbs in [&self.old_root, &self.new_root, &self.acc_old, &self.acc_new] {
            v.extend(limbs.iter().map(|&x| F::from_canonical_u64(x)));
        }
        v
    }

    pub fn from_fields(v: &[F]) -> Result<Self, RecursionError> {
        if v.len() < RANGE_FIELDS {
            return Err(RecursionError::Malformed {
                what: "recursive proof",
                reason: format!(
                    "it carries {} public inputs, fewer than the {RANGE_FIELDS} of a range \
                     statement",
                    v.len()
                ),
            });
        }
        let four =
            |at: usize| -> [u64; 4] { core::array::from_fn(|i| v[at + i].to_canonical_u64()) };
        Ok(Self {
            first_batch: v[0].to_canonical_u64(),
            last_batch: v[1].to_canonical_u64(),
            old_root: four(2),
            new_root: four(6),
            acc_old: four(10),
            acc_new: four(14),
        })
    }

    /// The statement of `self` followed by `next`, if they chain.
    pub fn then(&self, next: &RangeStatement) -> Result<RangeStatement, RecursionError> {
        if self.last_batch.checked_add(1) != Some(next.first_batch) {
            return Err(RecursionError::NotAdjacent {
                left: self.first_batch..=self.last_batch,
                right: next.first_batch..=next.last_batch,
            });
        }
        if self.new_root != next.old_root {
            return Err(RecursionError::RootMismatch {
                left_last: self.last_batch,
                right_first: next.first_batch,
                expected: self.new_root,
                got: next.old_root,
            });
        }
        if self.acc_new != next.acc_old {
            return Err(RecursionError::AccumulatorMismatch {
                left_last: self.last_batch,
                right_first: next.first_batch,
                expected: self.acc_new,
                got: next.acc_old,
            });
        }
        Ok(RangeStatement {
            first_batch: self.first_batch,
            last_batch: next.last_batch,
            old_root: self.old_root,
            new_root: next.new_root,
            acc_old: self.acc_old,
            acc_new: next.acc_new,
        })
    }
}

/// What a final proof says: a [`RangeStatement`] and the address of the aggregator that may
/// settle it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FinalStatement {
    pub range: RangeStatement,
    pub aggregator: [u8; 20],
}

/// Number of field elements of a [`FinalStatement`]: the range, then the address as five
/// big-endian 32-bit limbs.
pub const FINAL_FIELDS: usize = RANGE_FIELDS + 5;

impl FinalStatement {
    pub fn to_fields(&self) -> Vec<F> {
        let mut v = self.range.to_fields();
        v.extend(address_limbs(&self.aggregator).map(F::from_canonical_u64));
        v
    }

    pub fn from_fields(v: &[F]) -> Result<Self, RecursionError> {
        if v.len() != FINAL_FIELDS {
            return Err(RecursionError::PublicInputs {
                what: "final proof",
                expected: FINAL_FIELDS,
                got: v.len(),
            });
        }
        let range = RangeStatement::from_fields(&v[..RANGE_FIELDS])?;
        let mut aggregator = [0u8; 20];
        for (i, limb) in v[RANGE_FIELDS..].iter().enumerate() {
            let x = limb.to_canonical_u64();
            if x >> 32 != 0 {
                return Err(RecursionError::Malformed {
                    what: "final proof",
                    reason: format!("address limb {i} is not 32-bit"),
                });
            }
            aggregator[4 * i..4 * i + 4].copy_from_slice(&(x as u32).to_be_bytes());
        }
        Ok(Self { range, aggregator })
    }
}

/// An address as five big-endian 32-bit limbs.
pub fn address_limbs(a: &[u8; 20]) -> [u64; 5] {
    core::array::from_fn(|i| {
        u32::from_be_bytes(a[4 * i..4 * i + 4].try_into().expect("4 bytes")) as u64
    })
}

/// Elements hashed by one accumulator step: previous accumulator, ops commitment, batch data
/// commitment, batch number.
pub const ACC_STEP_INPUTS: usize = 13;

/// One step of the batch accumulator.
pub fn acc_step(acc: [u64; 4], batch: &Statement) -> [u64; 4] {
    let mut input = Vec::with_capacity(ACC_STEP_INPUTS);
    for limbs in [
        acc,
        batch.ops_commitment.raw(),
        batch.batch_data_commitment.raw(),
    ] {
        input.extend(limbs.iter().map(|&x| F::from_canonical_u64(x)));
    }
    input.push(F::from_canonical_u64(batch.batch_number));
    PoseidonHash::hash_no_pad(&input)
        .elements
        .map(|x| x.to_canonical_u64())
}

/// The accumulator after a sequence of batches, from `acc` before the first.
pub fn acc_over<'a>(
    mut acc: [u64; 4],
    batches: impl IntoIterator<Item = &'a Statement>,
) -> [u64; 4] {
    for b in batches {
        acc = acc_step(acc, b);
    }
    acc
}
