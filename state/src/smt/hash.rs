//! Hashes, keys and values of the Polygon zkEVM state tree, and the three Poseidon uses:
//! value hash, leaf hash and branch hash.

use core::fmt;

use ruint::aliases::U256;
use zknode_field::poseidon::{hash_with_capacity, hash_with_capacity_many};
use zknode_field::Goldilocks;

/// A Poseidon digest of four Goldilocks elements; the all-zero hash is the empty tree.
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [Goldilocks; 4]);

/// A tree key: four Goldilocks elements (Poseidon output), walked bit by bit.
pub type Key = Hash;

impl Hash {
    pub const ZERO: Self = Self([Goldilocks::ZERO; 4]);

    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// The 256-bit integer `h0 + h1·2^64 + h2·2^128 + h3·2^192` (Polygon's `h4toScalar`).
    pub fn to_u256(&self) -> U256 {
        U256::from_limbs(self.0.map(|x| x.value()))
    }

    /// The inverse of [`Hash::to_u256`]; `None` when a 64-bit limb is not below p.
    pub fn from_u256(v: U256) -> Option<Self> {
        let l = v.as_limbs();
        let mut out = [Goldilocks::ZERO; 4];
        for (o, &x) in out.iter_mut().zip(l) {
            *o = Goldilocks::from_canonical(x)?;
        }
        Some(Self(out))
    }

    /// 32 bytes, limb 0 first, each little-endian: the storage key of a node.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, x) in self.0.iter().enumerate() {
            b[8 * i..8 * i + 8].copy_from_slice(&x.value().to_le_bytes());
        }
        b
    }

    /// The inverse of [`Hash::to_bytes`]; `None` for a wrong length or a non-canonical limb.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 32 {
            return None;
        }
        let mut out = [Goldilocks::ZERO; 4];
        for (i, o) in out.iter_mut().enumerate() {
            let v = u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().ok()?);
            *o = Goldilocks::from_canonical(v)?;
        }
        Some(Self(out))
    }

    /// Bit `i` of the path from the root: bit `i / 4` of limb `i % 4`.
    #[inline]
    pub fn path_bit(&self, i: usize) -> u8 {
        ((self.0[i % 4].value() >> (i / 4)) & 1) as u8
    }

    /// The four limbs as integers.
    pub fn raw(&self) -> [u64; 4] {
        self.0.map(|x| x.value())
    }

    /// A hash from integer limbs; `None` when one is not below p.
    pub fn from_raw(v: [u64; 4]) -> Option<Self> {
        Some(Self([
            Goldilocks::from_canonical(v[0])?,
            Goldilocks::from_canonical(v[1])?,
            Goldilocks::from_canonical(v[2])?,
            Goldilocks::from_canonical(v[3])?,
        ]))
    }

    /// The key with its first `n` path bits consumed (what a leaf at depth `n` stores).
    pub fn remove_bits(&self, n: usize) -> Self {
        Self(core::array::from_fn(|j| {
            let used = consumed(n, j);
            Goldilocks::new(if used >= 64 {
                0
            } else {
                self.0[j].value() >> used
            })
        }))
    }

    /// The full key (as integer limbs) of a leaf at depth `n` whose remaining key is `self` and
    /// whose path prefix is the first `n` path bits of `prefix`. Integer limbs, because a
    /// prefix built by flipping bits need not be a field element; [`Hash::from_raw`] checks the
    /// result.
    pub fn join_bits(&self, prefix: &[u64; 4], n: usize) -> [u64; 4] {
        core::array::from_fn(|j| {
            let used = consumed(n, j);
            let low = if used >= 64 {
                prefix[j]
            } else {
                prefix[j] & ((1u64 << used) - 1)
            };
            let high = if used >= 64 {
                0
            } else {
                self.0[j].value() << used
            };
            high | low
        })
    }

    /// A sort key that orders keys as an in-order walk of the tree visits them: path bit `i`
    /// becomes bit `63 - i % 64` of word `i / 64`. Path bit `i` is bit `i / 4` of limb `i % 4`,
    /// so word `w` interleaves bits `16w..16w + 16` of the four limbs.
    #[inline]
    pub fn path_order(&self) -> [u64; 4] {
        core::array::from_fn(|w| {
            let mut out = 0u64;
            for (j, limb) in self.0.iter().enumerate() {
                let x = (limb.value() >> (16 * w)) & 0xFFFF;
                // Bit b of x to bit 4b, then to bit 63 - 4b - j.
                out |= spread4(x).reverse_bits() >> j;
            }
            out
        })
    }
}

/// Moves bit `b` of a 16-bit `x` to bit `4b`.
#[inline(always)]
fn spread4(x: u64) -> u64 {
    let x = (x | (x << 24)) & 0x0000_00FF_0000_00FF;
    let x = (x | (x << 12)) & 0x000F_000F_000F_000F;
    let x = (x | (x << 6)) & 0x0303_0303_0303_0303;
    (x | (x << 3)) & 0x1111_1111_1111_1111
}

/// How many bits of limb `j` the first `n` path bits use.
#[inline]
fn consumed(n: usize, j: usize) -> usize {
    n / 4 + usize::from(j < n % 4)
}

/// Roots and hashes print as Polygon prints them: `0x` then h3, h2, h1, h0, 16 hex digits each.
impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x")?;
        for x in self.0.iter().rev() {
            write!(f, "{:016x}", x.value())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Hash {
    type Err = String;
    /// Parses the printed form (`0x` + 64 hex digits) or a decimal 256-bit integer.
    fn from_str(s: &str) -> Result<Self, String> {
        let v: U256 = s
            .trim()
            .parse()
            .map_err(|e| format!("{s:?} is not a 256-bit number: {e}"))?;
        Self::from_u256(v)
            .ok_or_else(|| format!("{s:?} has a 64-bit limb not below the Goldilocks prime"))
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A 256-bit value as eight 32-bit limbs, least significant first.
pub fn value_limbs(v: U256) -> [Goldilocks; 8] {
    let l = v.as_limbs();
    core::array::from_fn(|i| Goldilocks::new((l[i / 2] >> (32 * (i % 2))) & 0xFFFF_FFFF))
}

/// The inverse of [`value_limbs`]; `None` when a limb does not fit in 32 bits.
pub fn value_from_limbs(l: &[Goldilocks; 8]) -> Option<U256> {
    let mut out = [0u64; 4];
    for (i, x) in l.iter().enumerate() {
        if x.value() > u32::MAX as u64 {
            return None;
        }
        out[i / 2] |= x.value() << (32 * (i % 2));
    }
    Some(U256::from_limbs(out))
}

const ZERO4: [Goldilocks; 4] = [Goldilocks::ZERO; 4];
const LEAF_CAPACITY: [Goldilocks; 4] = [
    Goldilocks::ONE,
    Goldilocks::ZERO,
    Goldilocks::ZERO,
    Goldilocks::ZERO,
];

fn cat(a: &[Goldilocks; 4], b: &[Goldilocks; 4]) -> [Goldilocks; 8] {
    core::array::from_fn(|i| if i < 4 { a[i] } else { b[i - 4] })
}

/// `hV = Poseidon(limbs, 0^4)`.
pub fn value_hash(limbs: &[Goldilocks; 8]) -> Hash {
    Hash(hash_with_capacity(limbs, &ZERO4))
}

/// `leaf = Poseidon([remaining key, hV], [1, 0, 0, 0])`.
pub fn leaf_hash(rkey: &Key, value_hash: &Hash) -> Hash {
    Hash(hash_with_capacity(
        &cat(&rkey.0, &value_hash.0),
        &LEAF_CAPACITY,
    ))
}

/// `node = Poseidon([left, right], 0^4)`.
pub fn branch_hash(left: &Hash, right: &Hash) -> Hash {
    Hash(hash_with_capacity(&cat(&left.0, &right.0), &ZERO4))
}

/// What a hash of the tree is the Poseidon of: eight inputs and the capacity.
pub type Preimage = ([Goldilocks; 8], [Goldilocks; 4]);

/// The preimage of [`value_hash`].
pub fn value_preimage(limbs: &[Goldilocks; 8]) -> Preimage {
    (*limbs, ZERO4)
}

/// The preimage of [`leaf_hash`].
pub fn leaf_preimage(rkey: &Key, value_hash: &Hash) -> Preimage {
    (cat(&rkey.0, &value_hash.0), LEAF_CAPACITY)
}

/// The preimage of [`branch_hash`].
pub fn branch_preimage(left: &Hash, right: &Hash) -> Preimage {
    (cat(&left.0, &right.0), ZERO4)
}

/// Hashes many preimages: several permutations at once where the CPU allows
/// ([`zknode_field::poseidon::permute_many`]), chunks spread over the rayon pool.
pub fn hash_many(preimages: &[Preimage]) -> Vec<Hash> {
    use rayon::prelude::*;
    const CHUNK: usize = 128;
    if preimages.len() <= CHUNK {
        return hash_with_capacity_many(preimages)
            .into_iter()
            .map(Hash)
            .collect();
    }
    preimages
        .par_chunks(CHUNK)
        .flat_map_iter(|c| hash_with_capacity_many(c).into_iter().map(Hash))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_bits_remove_and_join_round_trip() {
        let k = Hash([
            Goldilocks::new(0x1234_5678_9abc_def0),
            Goldilocks::new(77),
            Goldilocks::new(u32::MAX as u64),
            Goldilocks::new(5),
        ]);
        for n in [0, 1, 3, 4, 5, 17, 64, 200, 255, 256] {
            let r = k.remove_bits(n);
            assert_eq!(r.join_bits(&k.raw(), n), k.raw(), "n = {n}");
        }
        assert_eq!(k.path_bit(0), 0);
        assert_eq!(k.path_bit(1), 1);
        assert_eq!(k.path_bit(3), 1);
        let v = U256::from(0x0123_4567_89ab_cdefu64) << 100;
        assert_eq!(value_from_limbs(&value_limbs(v)), Some(v));
        assert_eq!(k.to_string().len(), 66);
        assert_eq!(k.to_string().parse::<Hash>().unwrap(), k);
        assert_eq!(Hash::from_bytes(&k.to_bytes()), Some(k));
    }

    #[test]
    fn hash_many_equals_one_by_one() {
        let h = |i: u64| Hash(core::array::from_fn(|j| Goldilocks::new(i * 31 + j as u64)));
        let pre: Vec<Preimage> = (0..300)
            .map(|i| match i % 3 {
                0 => value_preimage(&value_limbs(U256::from(i))),
                1 => leaf_preimage(&h(i), &h(i + 1)),
                _ => branch_preimage(&h(i), &h(i + 7)),
            })
            .collect();
        let want: Vec<Hash> = (0..300)
            .map(|i| match i % 3 {
                0 => value_hash(&value_limbs(U256::from(i))),
                1 => leaf_hash(&h(i), &h(i + 1)),
                _ => branch_hash(&h(i), &h(i + 7)),
            })
            .collect();
        for n in [0, 1, 5, 128, 129, 300] {
            assert_eq!(hash_many(&pre[..n]), want[..n]);
        }
    }

    #[test]
    fn path_order_interleaves_the_path_bits() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for case in 0..500 {
            let k = Hash(core::array::from_fn(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                Goldilocks::new(if case % 5 == 0 { u64::MAX } else { x })
            }));
            let mut want = [0u64; 4];
            for i in 0..256 {
                if k.path_bit(i) == 1 {
                    want[i / 64] |= 1 << (63 - (i % 64));
                }
            }
            assert_eq!(k.path_order(), want, "{k}");
        }
    }
}
