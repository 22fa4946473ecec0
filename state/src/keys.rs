//! Key derivation of the state tree and Polygon's linear Poseidon bytecode hash.

use std::sync::OnceLock;

use ruint::aliases::U256;
use zknode_field::poseidon::hash_with_capacity;
use zknode_field::Goldilocks;

use crate::smt::hash::{value_limbs, Hash, Key};

/// A 20-byte account address.
pub type Address = [u8; 20];

/// What a leaf holds for an account.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LeafType {
    Balance = 0,
    Nonce = 1,
    /// The bytecode hash.
    Code = 2,
    Storage = 3,
    /// The bytecode length in bytes.
    CodeLength = 4,
}

impl LeafType {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Balance,
            1 => Self::Nonce,
            2 => Self::Code,
            3 => Self::Storage,
            4 => Self::CodeLength,
            _ => return None,
        })
    }
}

/// `Poseidon(0^8, 0^4)`, the capacity of every key but storage keys (and of the block info
/// tree's keys but its log keys).
pub fn zero_capacity() -> [Goldilocks; 4] {
    static C: OnceLock<[Goldilocks; 4]> = OnceLock::new();
    *C.get_or_init(|| hash_with_capacity(&[Goldilocks::ZERO; 8], &[Goldilocks::ZERO; 4]))
}

/// The address as five 32-bit limbs, least significant first.
fn address_limbs(a: &Address) -> [Goldilocks; 5] {
    core::array::from_fn(|i| {
        let off = 20 - 4 * (i + 1);
        Goldilocks::from(u32::from_be_bytes(
            a[off..off + 4].try_into().expect("4 bytes"),
        ))
    })
}

/// The key of `(address, type)`; `slot` matters only for [`LeafType::Storage`].
///
/// Keys cost one or two Poseidon permutations, the largest share of a state read once the tree's
/// nodes are cached, and the same few accounts and slots are read again and again (an RPC
/// node's hot contracts, a block's senders): recent keys are kept in a bounded process-wide
/// cache. Keys are a pure function of their inputs, so the cache is never stale.
pub fn key(address: &Address, leaf: LeafType, slot: U256) -> Key {
    let slot = if leaf == LeafType::Storage {
        slot
    } else {
        U256::ZERO
    };
    key_cache().get_or_insert_with((*address, leaf as u8, slot), || {
        derive_key(address, leaf, slot)
    })
}

/// Entries kept: 64 shards of 4,096 keys, about 40 MiB at most.
const KEY_CACHE_SHARDS: usize = 64;
const KEY_CACHE_SHARD_ENTRIES: usize = 4096;

type KeyCache = crate::smt::cache::ShardedCache<(Address, u8, U256), Key>;

fn key_cache() -> &'static KeyCache {
    static C: OnceLock<KeyCache> = OnceLock::new();
    C.get_or_init(|| KeyCache::new(KEY_CACHE_SHARDS, KEY_CACHE_SHARD_ENTRIES))
}

fn derive_key(address: &Address, leaf: LeafType, slot: U256) -> Key {
    let a = address_limbs(address);
    let input = [
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        Goldilocks::ZERO,
        Goldilocks::from(leaf as u32),
        Goldilocks::ZERO,
    ];
    let capacity = match leaf {
        LeafType::Storage => hash_with_capacity(&value_limbs(slot), &[Goldilocks::ZERO; 4]),
        _ => zero_capacity(),
    };
    Hash(hash_with_capacity(&input, &capacity))
}

pub fn balance_key(a: &Address) -> Key {
    key(a, LeafType::Balance, U256::ZERO)
}

pub fn nonce_key(a: &Address) -> Key {
    key(a, LeafType::Nonce, U256::ZERO)
}

pub fn code_key(a: &Address) -> Key {
    key(a, LeafType::Code, U256::ZERO)
}

pub fn code_length_key(a: &Address) -> Key {
    key(a, LeafType::CodeLength, U256::ZERO)
}

pub fn storage_key(a: &Address, slot: U256) -> Key {
    key(a, LeafType::Storage, slot)
}

/// Polygon's linear Poseidon hash of contract bytecode: append `0x01`, zero-pad to a multiple of
/// 56 bytes, set the top bit of the last byte; then for each 56-byte chunk, eight elements of
/// seven little-endian bytes are hashed with the previous hash as capacity.
pub fn hash_bytecode(code: &[u8]) -> Hash {
    let mut bytes = code.to_vec();
    bytes.push(0x01);
    bytes.resize(bytes.len().next_multiple_of(56), 0);
    let last = bytes.len() - 1;
    bytes[last] |= 0x80;
    let mut h = [Goldilocks::ZERO; 4];
    for chunk in bytes.chunks(56) {
        let elems: [Goldilocks; 8] = core::array::from_fn(|i| {
            let mut v = 0u64;
            for (k, &b) in chunk[7 * i..7 * i + 7].iter().enumerate() {
                v |= (b as u64) << (8 * k);
            }
            Goldilocks::new(v)
        });
        h = hash_with_capacity(&elems, &h);
    }
    Hash(h)
}

/// Parses `0x`-prefixed (or bare) hex into an address.
pub fn parse_address(s: &str) -> Result<Address, String> {
    let h = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    if h.len() != 40 {
        return Err(format!("address {s:?} must have 40 hex digits"));
    }
    let mut a = [0u8; 20];
    hex::decode_to_slice(h, &mut a)
        .map_err(|_| format!("address {s:?} must have 40 hex digits"))?;
    Ok(a)
}

/// Parses hex bytes, with or without `0x`; an odd digit count gets a leading zero, as Polygon does.
pub fn parse_hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let h = s.trim().trim_start_matches("0x");
    let padded;
    let h = if h.len() % 2 == 1 {
        padded = format!("0{h}");
        &padded
    } else {
        h
    };
    hex::decode(h).map_err(|_| format!("{s:?} is not hex"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_keys_equal_derived_ones_through_evictions() {
        // More distinct keys than the cache holds, twice over: every answer, hit or miss, is
        // the derivation's.
        let n = (KEY_CACHE_SHARDS * KEY_CACHE_SHARD_ENTRIES / 8) as u64 + 100;
        for round in 0..2 {
            for i in (0..n).step_by(97) {
                let mut a = [0u8; 20];
                a[12..].copy_from_slice(&i.to_be_bytes());
                for leaf in [LeafType::Balance, LeafType::Nonce, LeafType::Storage] {
                    let slot = U256::from(i * 3 + round);
                    assert_eq!(key(&a, leaf, slot), derive_key(&a, leaf, slot), "{i}");
                }
            }
        }
        // The slot of an account key does not matter.
        let a = [7u8; 20];
        assert_eq!(
            key(&a, LeafType::Nonce, U256::from(5)),
            derive_key(&a, LeafType::Nonce, U256::ZERO)
        );
        assert_ne!(balance_key(&a), nonce_key(&a));
    }
}
