//! Serde helpers: byte strings as `0x`-prefixed lower-case hex.
//!
//! Reading accepts upper or lower case and an optional `0x`; a fixed-size array must have
//! exactly its length in bytes.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

fn to_hex(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex::decode(h).map_err(|e| format!("{:?} is not hex bytes: {e}", shorten(s)))
}

/// The start of a long string, for error messages.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} characters)", &s[..end], s.len())
}

/// `Vec<u8>` as hex.
pub mod bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        from_hex(&s).map_err(D::Error::custom)
    }
}

/// `[u8; N]` as hex of exactly `N` bytes.
pub mod array {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let v = from_hex(&s).map_err(D::Error::custom)?;
        let n = v.len();
        v.try_into().map_err(|_| {
            D::Error::custom(format!(
                "{:?} has {n} bytes, expected {N} ({} hex digits)",
                shorten(&s),
                2 * N
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(from_hex("0xABcd").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(from_hex("abcd").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(from_hex("0x").unwrap(), Vec::<u8>::new());
        assert!(from_hex("0xabc").is_err());
        assert!(from_hex("0xzz").is_err());
        assert_eq!(to_hex(&[1, 2, 255]), "0x0102ff");
        let long = "é".repeat(100);
        assert!(shorten(&long).contains("characters"));
    }
}
