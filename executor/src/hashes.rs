//! The keccak commitments of a batch: its data hash, the accumulated input hash that chains
//! batches on L1, and the L1 info tree (leaves and Merkle proofs).

use revm::primitives::{keccak256, Address, B256};

/// `keccak256(batchL2Data)`.
pub fn batch_hash_data(batch_l2_data: &[u8]) -> B256 {
    keccak256(batch_l2_data)
}

/// What the accumulated input hash of a batch commits to (fork 12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccInput {
    pub old_acc_input_hash: B256,
    pub batch_hash_data: B256,
    pub l1_info_root: B256,
    pub timestamp_limit: u64,
    pub sequencer: Address,
    /// Zero for a sequenced batch; the L1 block hash for a forced one.
    pub forced_block_hash_l1: B256,
}

/// `keccak256(oldAccInputHash ‖ batchHashData ‖ l1InfoRoot ‖ timestampLimit (u64) ‖ sequencer ‖
/// forcedBlockHashL1)`, packed as Solidity's `abi.encodePacked` does.
pub fn acc_input_hash(i: &AccInput) -> B256 {
    let mut b = Vec::with_capacity(32 * 4 + 8 + 20);
    b.extend_from_slice(i.old_acc_input_hash.as_slice());
    b.extend_from_slice(i.batch_hash_data.as_slice());
    b.extend_from_slice(i.l1_info_root.as_slice());
    b.extend_from_slice(&i.timestamp_limit.to_be_bytes());
    b.extend_from_slice(i.sequencer.as_slice());
    b.extend_from_slice(i.forced_block_hash_l1.as_slice());
    keccak256(&b)
}

/// A leaf of the L1 info tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1InfoLeaf {
    pub global_exit_root: B256,
    pub block_hash: B256,
    pub timestamp: u64,
    /// Siblings from the leaf up (32 for the contract's tree).
    pub smt_proof: Vec<B256>,
}

/// `keccak256(ger ‖ blockHash ‖ timestamp (u64))`.
pub fn l1_info_leaf_hash(l: &L1InfoLeaf) -> B256 {
    let mut b = [0u8; 72];
    b[..32].copy_from_slice(l.global_exit_root.as_slice());
    b[32..64].copy_from_slice(l.block_hash.as_slice());
    b[64..].copy_from_slice(&l.timestamp.to_be_bytes());
    keccak256(b)
}

/// The leaf value of an all-zero L1 info entry (`l1_info_leaf_hash` of zeros), which the
/// protocol treats as an empty leaf.
pub fn l1_info_zero_leaf() -> B256 {
    l1_info_leaf_hash(&L1InfoLeaf {
        global_exit_root: B256::ZERO,
        block_hash: B256::ZERO,
        timestamp: 0,
        smt_proof: Vec::new(),
    })
}

/// Whether `leaf` at `index` hashes through `proof` (keccak, sibling order by index bit) to
/// `root`.
pub fn verify_l1_info_proof(leaf: B256, proof: &[B256], index: u32, root: B256) -> bool {
    let mut v = leaf;
    for (i, s) in proof.iter().enumerate() {
        let mut b = [0u8; 64];
        if i < 32 && (index >> i) & 1 == 1 {
            b[..32].copy_from_slice(s.as_slice());
            b[32..].copy_from_slice(v.as_slice());
        } else {
            b[..32].copy_from_slice(v.as_slice());
            b[32..].copy_from_slice(s.as_slice());
        }
        v = keccak256(b);
    }
    v == root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_leaf_matches_the_protocol_constant() {
        assert_eq!(
            l1_info_zero_leaf().to_string(),
            "0x3cac317908c699fe873a7f6ee4e8cd63fbe9918b2315c97be91585590168e301"
        );
    }

    #[test]
    fn proof_of_a_two_leaf_tree() {
        let a = B256::repeat_byte(1);
        let b = B256::repeat_byte(2);
        let mut cat = [0u8; 64];
        cat[..32].copy_from_slice(a.as_slice());
        cat[32..].copy_from_slice(b.as_slice());
        let root = keccak256(cat);
        assert!(verify_l1_info_proof(a, &[b], 0, root));
        assert!(verify_l1_info_proof(b, &[a], 1, root));
        assert!(!verify_l1_info_proof(b, &[a], 0, root));
    }
}
