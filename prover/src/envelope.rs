//! The framing every proof file and message of the prover shares: a four-byte magic that names
//! the kind of proof, the format version (little-endian `u32`), then the body.

use anyhow::{ensure, Result};

/// The header of a body of kind `magic` in format `version`; the body follows.
pub(crate) fn seal(magic: &[u8; 4], version: u32) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out
}

/// The body of `b`, after checking that it is a `what` (its magic) in format `version`.
pub(crate) fn open<'a>(b: &'a [u8], magic: &[u8; 4], what: &str, version: u32) -> Result<&'a [u8]> {
    ensure!(
        b.len() >= 8 && &b[..4] == magic,
        "not a zkNode {what} (it does not start with {:?})",
        String::from_utf8_lossy(magic)
    );
    let v = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    ensure!(
        v == version,
        "{what} format {v} is not supported (this build reads format {version})"
    );
    Ok(&b[8..])
}
