//! The framing every proof file and message of the prover shares: a four-byte magic that names
//! the kind of proof, the format version (little-endian `u32`), then the body.

/// Why bytes are not a proof of the kind and format this build reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes do not start with the magic of the expected kind (or are shorter than a
    /// header).
    #[error(
        "not a zkNode {what} (it does not start with {:?})",
        String::from_utf8_lossy(.expected)
    )]
    WrongMagic {
        /// The kind expected, in words ("batch proof", "final proof", …).
        what: &'static str,
        expected: [u8; 4],
        /// The first bytes found (at most four).
        got: Vec<u8>,
    },
    /// The magic is right, the format version is not one this build reads.
    #[error("{what} format {got} is not supported (this build reads format {expected})")]
    UnsupportedVersion {
        what: &'static str,
        expected: u32,
        got: u32,
    },
}

/// The header of a body of kind `magic` in format `version`; the body follows.
pub(crate) fn seal(magic: &[u8; 4], version: u32) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out
}

/// The body of `b`, after checking that it is a `what` (its magic) in format `version`.
pub(crate) fn open<'a>(
    b: &'a [u8],
    magic: &[u8; 4],
    what: &'static str,
    version: u32,
) -> Result<&'a [u8], EnvelopeError> {
    if b.len() < 8 || &b[..4] != magic {
        return Err(EnvelopeError::WrongMagic {
            what,
            expected: *magic,
            got: b[..b.len().min(4)].to_vec(),
        });
    }
    let v = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    if v != version {
        return Err(EnvelopeError::UnsupportedVersion {
            what,
            expected: version,
            got: v,
        });
    }
    Ok(&b[8..])
}
