//! The system state the executor writes besides accounts: the L2 block bookkeeping of the system
//! contract (`0x…5ca1ab1e`), the global exit roots of the L2 global exit root manager, and the
//! per-block "block info" tree (header fields and receipts) whose root the system contract keeps.

use revm::primitives::{address, keccak256, Address, U256};
use zknode_field::poseidon::hash_with_capacity;
use zknode_field::Goldilocks;
use zknode_state::keys::zero_capacity;
use zknode_state::smt::hash::value_limbs;
use zknode_state::Key;

/// The system contract holding block number, timestamp, state roots and block info roots.
pub const SYSTEM_ADDRESS: Address = address!("000000000000000000000000000000005ca1ab1e");
/// The L2 global exit root manager.
pub const GER_MANAGER_ADDRESS: Address = address!("a40D5f56745a118D0906a34E69aeC8C0Db1cB8fA");

/// System contract slots.
pub const LAST_BLOCK_SLOT: u64 = 0;
pub const STATE_ROOT_SLOT: u64 = 1;
pub const TIMESTAMP_SLOT: u64 = 2;
pub const BLOCK_INFO_ROOT_SLOT: u64 = 3;
/// Global exit root manager slots.
pub const GER_MAPPING_SLOT: u64 = 0;
pub const LOCAL_EXIT_ROOT_SLOT: u64 = 1;

/// Gas limit of an L2 block (2^50) and of one transaction.
pub const BLOCK_GAS_LIMIT: u64 = 1_125_899_906_842_624;
pub const TX_GAS_LIMIT: u64 = 30_000_000;

/// Solidity's mapping slot: `keccak256(key ‖ slot)`, both as 32-byte words.
pub fn mapping_slot(key: U256, slot: u64) -> U256 {
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(&key.to_be_bytes::<32>());
    b[32..].copy_from_slice(&U256::from(slot).to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(b).0)
}

/// Leaf kinds of the block info tree.
#[derive(Copy, Clone, Debug)]
#[repr(u32)]
pub enum BlockInfoLeaf {
    HeaderParam = 7,
    TxHash = 8,
    TxStatus = 9,
    TxCumulativeGasUsed = 10,
    TxLog = 11,
    TxEffectivePercentage = 12,
}

/// Header fields of the block info tree.
#[derive(Copy, Clone, Debug)]
#[repr(u64)]
pub enum HeaderParam {
    PreviousBlockHash = 0,
    Coinbase = 1,
    Number = 2,
    GasLimit = 3,
    Timestamp = 4,
    GlobalExitRoot = 5,
    BlockHashL1 = 6,
    GasUsed = 7,
}

/// `Poseidon([index as six 32-bit limbs, kind, 0], capacity)`.
fn info_key(index: u64, kind: BlockInfoLeaf, capacity: [Goldilocks; 4]) -> Key {
    let l = value_limbs(U256::from(index));
    let input = [
        l[0],
        l[1],
        l[2],
        l[3],
        l[4],
        l[5],
        Goldilocks::from(kind as u32),
        Goldilocks::ZERO,
    ];
    zknode_state::Hash(hash_with_capacity(&input, &capacity))
}

/// The key of a header field.
pub fn header_key(p: HeaderParam) -> Key {
    info_key(p as u64, BlockInfoLeaf::HeaderParam, zero_capacity())
}

/// The key of a per-transaction field (`TxHash`, `TxStatus`, `TxCumulativeGasUsed`,
/// `TxEffectivePercentage`).
pub fn tx_key(tx_index: u64, kind: BlockInfoLeaf) -> Key {
    // The keys of the first transactions of a block recur in every block: derive them once.
    const MEMO: u64 = 4096;
    static KEYS: std::sync::OnceLock<std::sync::RwLock<Vec<[Key; 4]>>> = std::sync::OnceLock::new();
    let slot = match kind {
        BlockInfoLeaf::TxHash => 0,
        BlockInfoLeaf::TxStatus => 1,
        BlockInfoLeaf::TxCumulativeGasUsed => 2,
        BlockInfoLeaf::TxEffectivePercentage => 3,
        _ => return info_key(tx_index, kind, zero_capacity()),
    };
    if tx_index >= MEMO {
        return info_key(tx_index, kind, zero_capacity());
    }
    let memo = KEYS.get_or_init(Default::default);
    let i = tx_index as usize;
    if let Some(k) = memo.read().expect("lock").get(i) {
        return k[slot];
    }
    let mut w = memo.write().expect("lock");
    while w.len() <= i {
        let n = w.len() as u64;
        w.push(
            [
                BlockInfoLeaf::TxHash,
                BlockInfoLeaf::TxStatus,
                BlockInfoLeaf::TxCumulativeGasUsed,
                BlockInfoLeaf::TxEffectivePercentage,
            ]
            .map(|k| info_key(n, k, zero_capacity())),
        );
    }
    w[i][slot]
}

/// The key of log `log_index` (counted through the block) of transaction `tx_index`.
pub fn log_key(tx_index: u64, log_index: u64) -> Key {
    let cap = hash_with_capacity(&value_limbs(U256::from(log_index)), &[Goldilocks::ZERO; 4]);
    info_key(tx_index, BlockInfoLeaf::TxLog, cap)
}

/// The value of a log leaf: the linear Poseidon hash of `data ‖ topics`.
pub fn log_value(data: &[u8], topics: &[revm::primitives::B256]) -> U256 {
    let mut b = data.to_vec();
    for t in topics {
        b.extend_from_slice(t.as_slice());
    }
    zknode_state::keys::hash_bytecode(&b).to_u256()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memoized_tx_keys_equal_derived_ones() {
        for i in [0u64, 1, 7, 4095, 4096, 10_000] {
            for k in [
                BlockInfoLeaf::TxHash,
                BlockInfoLeaf::TxStatus,
                BlockInfoLeaf::TxCumulativeGasUsed,
                BlockInfoLeaf::TxEffectivePercentage,
            ] {
                assert_eq!(tx_key(i, k), info_key(i, k, zero_capacity()));
            }
        }
    }
}
