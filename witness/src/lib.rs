//! The batch witness: what a batch proof is computed from, shared by the node (which builds it),
//! the aggregator (which sends it) and the prover (which proves it). This crate does not link
//! the proving stack.
//!
//! - [`BatchWitness`]: the old state root, the batch's state operations in order with their
//!   tree proofs ([`WitnessOp`]), the batch data and the [`ChainInputs`]; versioned
//!   ([`WITNESS_VERSION`]), with a JSON form for files ([`BatchWitness::from_json`],
//!   [`BatchWitness::read`], [`BatchWitness::to_json_pretty`]);
//! - [`BatchWitness::check`]: every key and proof, and the chain of roots from the old state
//!   root to the new one; errors name the operation;
//! - [`WitnessBuilder`], [`BatchWitness::build`], [`BatchWitness::from_proofs`]: witnesses from
//!   writes applied to a [`zknode_state::StateTree`], or from proofs made elsewhere;
//! - [`random_witness`]: a valid random witness over a random tree, deterministic for a seed;
//! - [`commit`]: the operation and batch data commitments and the proof's [`PublicInputs`].
//!
//! # JSON
//!
//! ```json
//! {
//!   "version": 1,
//!   "oldStateRoot": "0x…",
//!   "chain": { "chainId": 1001, "forkId": 12, "sequencer": "0x…", "timestampLimit": 1700000000,
//!              "l1InfoRoot": "0x…", "oldAccInputHash": "0x…", "batchNumber": 7 },
//!   "batchL2Data": "0x…",
//!   "ops": [ { "address": "0x…", "leafType": 3, "slot": "0x5", "key": "0x…",
//!              "oldValue": "0x0", "newValue": "0x2a", "siblings": ["0x…", "0x…"],
//!              "kind": { "type": "insertSplit", "otherRkey": "0x…", "otherValueHash": "0x…" } } ]
//! }
//! ```
//!
//! Hashes (roots, keys, siblings) print as the state tree prints them: `0x` then limbs h3, h2,
//! h1, h0, 16 hex digits each. Values and slots are minimal `0x` hex. Siblings are root first.
//! `kind.type` is one of `insertEmpty`, `update`, `insertSplit` (with `otherRkey`,
//! `otherValueHash`), `delete` (with `sibling`: `null` when the leaf was the root, else
//! `{"type": "leaf", "rkey", "valueHash"}` or `{"type": "branch", "left", "right"}`) and
//! `zeroToAbsent` (with `found`: `null` or `{"rkey", "valueHash"}`).

mod build;
mod check;
pub mod commit;
mod error;
mod hexser;
mod random;
mod types;

pub use build::{WitnessBuilder, Write};
pub use commit::{
    batch_data_commitment, batch_data_elements, ops_commitment, ops_commitment_step, PublicInputs,
};
pub use error::{OpProblem, WitnessError};
pub use random::{random_batches, random_witness, ALL_KINDS_FROM};
pub use types::{derive_key, BatchWitness, ChainInputs, WitnessOp, KIND_NAMES, WITNESS_VERSION};
pub use zknode_state::keys::Address;
pub use zknode_state::{Hash, Key, SiblingNode, UpdateKind, UpdateProof};
