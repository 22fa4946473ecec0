//! The commitments and public inputs of a batch proof.
//!
//! The batch AIR recomputes [`ops_commitment`] in-circuit (on each operation's commit row, from
//! the key and value hashes that operation applies), so its definition is part of the proof
//! statement: change it only together with the AIR. [`batch_data_commitment`] is not: the AIR
//! carries it as a public input and constrains nothing with it, so a proof binds the batch data
//! only as far as whoever checks the proof recomputes it from the bytes.

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use zknode_field::poseidon::hash_with_capacity;
use zknode_field::Goldilocks;
use zknode_state::smt::hash::{value_hash, value_limbs};
use zknode_state::{Hash, Key};

use crate::error::WitnessError;
use crate::types::WitnessOp;

const ZERO4: [Goldilocks; 4] = [Goldilocks::ZERO; 4];

fn cat(a: &[Goldilocks; 4], b: &[Goldilocks; 4]) -> [Goldilocks; 8] {
    core::array::from_fn(|i| if i < 4 { a[i] } else { b[i - 4] })
}

/// One step of the operation commitment: with `hvo`, `hvn` the value hashes of the old and new
/// values, `u = Poseidon([hvo, hvn], acc)` and the result is `Poseidon([key, u], 0^4)`.
pub fn ops_commitment_step(
    acc: &[Goldilocks; 4],
    key: &Key,
    old_value: U256,
    new_value: U256,
) -> [Goldilocks; 4] {
    let hvo = value_hash(&value_limbs(old_value));
    let hvn = value_hash(&value_limbs(new_value));
    let u = hash_with_capacity(&cat(&hvo.0, &hvn.0), acc);
    hash_with_capacity(&cat(&key.0, &u), &ZERO4)
}

/// The commitment to the ordered operations: starting from `0^4`, [`ops_commitment_step`] over
/// each operation's key, old value and new value. An empty list commits to `0^4`.
pub fn ops_commitment(ops: &[WitnessOp]) -> [Goldilocks; 4] {
    ops.iter().fold(ZERO4, |acc, op| {
        ops_commitment_step(&acc, &op.proof.key, op.proof.old_value, op.proof.new_value)
    })
}

/// The field elements the batch data commitment absorbs: each 7-byte chunk read little-endian
/// (the last one zero-padded), then zeros up to a multiple of 8 elements (at least 8).
pub fn batch_data_elements(bytes: &[u8]) -> Vec<Goldilocks> {
    let mut out: Vec<Goldilocks> = bytes
        .chunks(7)
        .map(|c| {
            let v = c
                .iter()
                .enumerate()
                .fold(0u64, |v, (k, &b)| v | (u64::from(b) << (8 * k)));
            Goldilocks::new(v)
        })
        .collect();
    let n = out.len().next_multiple_of(8).max(8);
    out.resize(n, Goldilocks::ZERO);
    out
}

/// The commitment to the batch data: the capacity starts as `[byte length, 0, 0, 0]` and each
/// block of 8 elements of [`batch_data_elements`] sets it to `Poseidon(block, capacity)`.
pub fn batch_data_commitment(bytes: &[u8]) -> [Goldilocks; 4] {
    let mut cap = [
        Goldilocks::new(bytes.len() as u64),
        Goldilocks::ZERO,
        Goldilocks::ZERO,
        Goldilocks::ZERO,
    ];
    for block in batch_data_elements(bytes).chunks_exact(8) {
        let block: [Goldilocks; 8] = core::array::from_fn(|i| block[i]);
        cap = hash_with_capacity(&block, &cap);
    }
    cap
}

/// The public inputs of a batch proof. Digests are [`struct@Hash`]es (four limbs, limb 0 first).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicInputs {
    pub old_root: Hash,
    pub new_root: Hash,
    pub ops_commitment: Hash,
    pub batch_data_commitment: Hash,
    pub batch_number: u64,
}

impl PublicInputs {
    /// How many field elements [`PublicInputs::to_fields`] gives.
    pub const NUM_FIELDS: usize = 18;

    /// The proof's public input elements, in this order: old root (4 limbs, limb 0 first), new
    /// root (4), operation commitment (4), batch data commitment (4), batch number as two 32-bit
    /// limbs (low, high).
    pub fn to_fields(&self) -> Vec<Goldilocks> {
        let mut v = Vec::with_capacity(Self::NUM_FIELDS);
        for h in [
            &self.old_root,
            &self.new_root,
            &self.ops_commitment,
            &self.batch_data_commitment,
        ] {
            v.extend_from_slice(&h.0);
        }
        v.push(Goldilocks::new(self.batch_number & 0xFFFF_FFFF));
        v.push(Goldilocks::new(self.batch_number >> 32));
        v
    }

    /// The inverse of [`PublicInputs::to_fields`]; errors for a wrong count or a batch number
    /// limb over 32 bits.
    pub fn from_fields(f: &[Goldilocks]) -> Result<Self, WitnessError> {
        if f.len() != Self::NUM_FIELDS {
            return Err(WitnessError::PublicInputs(format!(
                "{} field elements, expected {}",
                f.len(),
                Self::NUM_FIELDS
            )));
        }
        let h = |i: usize| Hash(core::array::from_fn(|j| f[4 * i + j]));
        let (lo, hi) = (f[16].value(), f[17].value());
        if lo > u64::from(u32::MAX) || hi > u64::from(u32::MAX) {
            return Err(WitnessError::PublicInputs(format!(
                "batch number limbs {lo:#x}, {hi:#x}: each must fit in 32 bits"
            )));
        }
        Ok(Self {
            old_root: h(0),
            new_root: h(1),
            ops_commitment: h(2),
            batch_data_commitment: h(3),
            batch_number: lo | (hi << 32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_data_elements_chunk_and_pad() {
        assert_eq!(batch_data_elements(&[]), vec![Goldilocks::ZERO; 8]);
        let e = batch_data_elements(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(e.len(), 8);
        assert_eq!(e[0].value(), 0x07_06_05_04_03_02_01);
        assert_eq!(e[1].value(), 8);
        assert!(e[2..].iter().all(|x| *x == Goldilocks::ZERO));
        assert_eq!(batch_data_elements(&[0xff; 56]).len(), 8);
        assert_eq!(batch_data_elements(&[0xff; 57]).len(), 16);
        assert_eq!(batch_data_elements(&[0xff; 56])[7].value(), (1 << 56) - 1);
    }

    #[test]
    fn batch_data_commitment_binds_the_length() {
        // Trailing zero bytes change the length, so the commitment.
        assert_ne!(batch_data_commitment(&[]), batch_data_commitment(&[0]));
        assert_ne!(batch_data_commitment(&[1]), batch_data_commitment(&[1, 0]));
        // One block: the hash of the block with capacity [len, 0, 0, 0].
        let want = hash_with_capacity(
            &core::array::from_fn(|i| Goldilocks::new(if i == 0 { 0x0201 } else { 0 })),
            &[
                Goldilocks::new(2),
                Goldilocks::ZERO,
                Goldilocks::ZERO,
                Goldilocks::ZERO,
            ],
        );
        assert_eq!(batch_data_commitment(&[1, 2]), want);
    }

    #[test]
    fn public_inputs_fields_round_trip() {
        let h = |k: u64| Hash(core::array::from_fn(|j| Goldilocks::new(k * 10 + j as u64)));
        let p = PublicInputs {
            old_root: h(1),
            new_root: h(2),
            ops_commitment: h(3),
            batch_data_commitment: h(4),
            batch_number: 0x1234_5678_9abc_def0,
        };
        let f = p.to_fields();
        assert_eq!(f.len(), PublicInputs::NUM_FIELDS);
        assert_eq!(f[0].value(), 10);
        assert_eq!(f[4].value(), 20);
        assert_eq!(f[15].value(), 43);
        assert_eq!(f[16].value(), 0x9abc_def0);
        assert_eq!(f[17].value(), 0x1234_5678);
        assert_eq!(PublicInputs::from_fields(&f).unwrap(), p);
        assert!(PublicInputs::from_fields(&f[..17]).is_err());
        let mut bad = f.clone();
        bad[17] = Goldilocks::new(1 << 32);
        assert!(PublicInputs::from_fields(&bad).is_err());
    }
}
