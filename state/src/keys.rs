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
pub fn key(address: &Address, leaf: LeafType, slot: U256) -> Key {
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
