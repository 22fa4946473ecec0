//! What the executor's tests share: deterministic keys and their addresses, the chain, the
//! sequencer, and a batch context.

#![allow(dead_code)]

use std::collections::BTreeMap;

use revm::primitives::{keccak256, Address, B256};
use zknode_executor::BatchContext;

pub const CHAIN: u64 = 1001;
pub const GWEI: u64 = 1_000_000_000;

/// The `i`-th test key (never zero).
pub fn key(i: u64) -> secp256k1::SecretKey {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&(i + 1).to_be_bytes());
    secp256k1::SecretKey::from_byte_array(b).unwrap()
}

/// The address of [`key`]`(i)`.
pub fn addr(i: u64) -> Address {
    let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &key(i));
    Address::from_slice(&keccak256(&pk.serialize_uncompressed()[1..])[12..])
}

/// The batches' sequencer (it receives the fees).
pub fn sequencer() -> Address {
    Address::repeat_byte(0x5e)
}

/// A sequenced batch on [`CHAIN`] with timestamp limit 1,000, with proofs.
pub fn ctx() -> BatchContext {
    BatchContext {
        chain_id: CHAIN,
        fork_id: 12,
        sequencer: sequencer(),
        timestamp_limit: 1_000,
        l1_info_root: B256::repeat_byte(1),
        old_acc_input_hash: B256::ZERO,
        forced_block_hash_l1: B256::ZERO,
        l1_info: BTreeMap::new(),
        verify_l1_info_proofs: true,
        with_proofs: true,
    }
}
