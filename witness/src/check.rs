//! Checking a witness: every operation's key and proof, and the chain of roots.

use zknode_state::Hash;

use crate::commit::{batch_data_commitment, ops_commitment, PublicInputs};
use crate::error::WitnessError;
use crate::types::BatchWitness;

impl BatchWitness {
    /// Checks the witness and returns the state root after the batch.
    ///
    /// For each operation in order: its leaf type is known and its slot is 0 unless it is
    /// storage; its key is the key of (address, type, slot); its proof is consistent; and the
    /// proof's old root is the running root (the old state root for the first operation). The
    /// proof's new root becomes the running root. Errors name the operation.
    pub fn check(&self) -> Result<Hash, WitnessError> {
        let mut root = self.old_state_root;
        for (index, op) in self.ops.iter().enumerate() {
            root = op.apply_to(&root).map_err(|problem| WitnessError::Op {
                index,
                problem: Box::new(problem),
            })?;
        }
        Ok(root)
    }

    /// Like [`BatchWitness::check`], returning every running root: the old state root, then
    /// the root after each operation (`ops.len() + 1` roots).
    pub fn running_roots(&self) -> Result<Vec<Hash>, WitnessError> {
        let mut roots = Vec::with_capacity(self.ops.len() + 1);
        let mut root = self.old_state_root;
        roots.push(root);
        for (index, op) in self.ops.iter().enumerate() {
            root = op.apply_to(&root).map_err(|problem| WitnessError::Op {
                index,
                problem: Box::new(problem),
            })?;
            roots.push(root);
        }
        Ok(roots)
    }

    /// The public inputs of the batch proof; checks the witness (for the new root).
    pub fn public_inputs(&self) -> Result<PublicInputs, WitnessError> {
        let new_root = self.check()?;
        Ok(PublicInputs {
            old_root: self.old_state_root,
            new_root,
            ops_commitment: Hash(ops_commitment(&self.ops)),
            batch_data_commitment: Hash(batch_data_commitment(&self.batch_l2_data)),
            batch_number: self.chain.batch_number,
        })
    }
}
