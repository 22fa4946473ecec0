//! Building a witness: from writes applied to a state tree, or from proofs already made.

use ruint::aliases::U256;
use zknode_state::keys::Address;
use zknode_state::{Hash, NodeReader, StateTree, UpdateProof};

use crate::error::WitnessError;
use crate::types::{derive_key, BatchWitness, ChainInputs, WitnessOp, WITNESS_VERSION};

/// One state write: the leaf `(address, leaf_type, slot)` gets `value` (zero deletes).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub address: Address,
    /// 0 balance, 1 nonce, 2 code, 3 storage, 4 code length.
    pub leaf_type: u8,
    /// The storage slot; must be 0 for every other leaf type.
    pub slot: U256,
    pub value: U256,
}

impl From<(Address, u8, U256, U256)> for Write {
    fn from((address, leaf_type, slot, value): (Address, u8, U256, U256)) -> Self {
        Self {
            address,
            leaf_type,
            slot,
            value,
        }
    }
}

/// Applies writes to a state tree one by one, recording each write's proof.
///
/// The tree keeps the writes (as pending nodes, not committed). If a write fails, the writes
/// before it stay applied and the failing one is not.
pub struct WitnessBuilder<'t, S> {
    tree: &'t mut StateTree<S>,
    old_root: Hash,
    ops: Vec<WitnessOp>,
}

impl<'t, S: NodeReader> WitnessBuilder<'t, S> {
    /// A builder whose old state root is the tree's current root.
    pub fn new(tree: &'t mut StateTree<S>) -> Self {
        let old_root = tree.root();
        Self {
            tree,
            old_root,
            ops: Vec::new(),
        }
    }

    /// Applies one write to the tree and records it; returns the recorded operation.
    pub fn write(&mut self, w: impl Into<Write>) -> Result<&WitnessOp, WitnessError> {
        let w = w.into();
        let index = self.ops.len();
        let key =
            derive_key(&w.address, w.leaf_type, w.slot).map_err(|problem| WitnessError::Op {
                index,
                problem: Box::new(problem),
            })?;
        let proof = self
            .tree
            .set(key, w.value)
            .map_err(|error| WitnessError::Tree { index, error })?;
        self.ops.push(WitnessOp {
            address: w.address,
            leaf_type: w.leaf_type,
            slot: w.slot,
            proof,
        });
        Ok(&self.ops[index])
    }

    /// The operations recorded so far.
    pub fn ops(&self) -> &[WitnessOp] {
        &self.ops
    }

    /// The tree's root now (after the recorded writes).
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The witness of the recorded writes.
    pub fn finish(self, chain: ChainInputs, batch_l2_data: Vec<u8>) -> BatchWitness {
        BatchWitness {
            version: WITNESS_VERSION,
            old_state_root: self.old_root,
            chain,
            batch_l2_data,
            ops: self.ops,
        }
    }
}

impl BatchWitness {
    /// Applies `writes` in order to `tree` and returns their witness; its old state root is the
    /// tree's root before the first write. See [`WitnessBuilder`] for what a failure leaves.
    pub fn build<S: NodeReader, W: Into<Write>>(
        tree: &mut StateTree<S>,
        chain: ChainInputs,
        batch_l2_data: Vec<u8>,
        writes: impl IntoIterator<Item = W>,
    ) -> Result<Self, WitnessError> {
        let mut b = WitnessBuilder::new(tree);
        for w in writes {
            b.write(w)?;
        }
        Ok(b.finish(chain, batch_l2_data))
    }

    /// A witness from proofs made elsewhere (each `(address, leaf_type, slot, proof)`), in
    /// order. Nothing is checked here: call [`BatchWitness::check`].
    pub fn from_proofs(
        old_state_root: Hash,
        ops: Vec<(Address, u8, U256, UpdateProof)>,
        chain: ChainInputs,
        batch_l2_data: Vec<u8>,
    ) -> Self {
        BatchWitness {
            version: WITNESS_VERSION,
            old_state_root,
            chain,
            batch_l2_data,
            ops: ops
                .into_iter()
                .map(|(address, leaf_type, slot, proof)| WitnessOp {
                    address,
                    leaf_type,
                    slot,
                    proof,
                })
                .collect(),
        }
    }
}
