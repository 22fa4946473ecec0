//! The few RLP encodings the executor writes (canonical form); decoding follows the prover's
//! stricter custom reader in [`crate::codec`].

/// Appends the canonical RLP encoding of the byte string `b`.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        put_len(out, 0x80, b.len());
        out.extend_from_slice(b);
    }
}

/// Appends the canonical RLP encoding of an unsigned integer given big-endian (leading zeros
/// are stripped; zero is the empty string).
pub fn put_uint(out: &mut Vec<u8>, be: &[u8]) {
    let first = be.iter().position(|&x| x != 0).unwrap_or(be.len());
    put_bytes(out, &be[first..]);
}

/// Wraps `payload` (already-encoded items) as an RLP list.
pub fn list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    put_len(&mut out, 0xc0, payload.len());
    out.extend_from_slice(payload);
    out
}

fn put_len(out: &mut Vec<u8>, base: u8, len: usize) {
    if len <= 55 {
        out.push(base + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let first = be.iter().position(|&x| x != 0).unwrap_or(7);
        out.push(base + 55 + (8 - first) as u8);
        out.extend_from_slice(&be[first..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        let mut o = Vec::new();
        put_uint(&mut o, &[0, 0]);
        assert_eq!(o, [0x80]);
        o.clear();
        put_uint(&mut o, &[0x00, 0x7f]);
        assert_eq!(o, [0x7f]);
        o.clear();
        put_uint(&mut o, &[0x04, 0x00]);
        assert_eq!(o, [0x82, 0x04, 0x00]);
        o.clear();
        put_bytes(&mut o, &[0xaa; 56]);
        assert_eq!(&o[..2], &[0xb8, 56]);
        assert_eq!(list(&[1, 2, 3]), [0xc3, 1, 2, 3]);
        assert_eq!(&list(&[0; 60])[..2], &[0xf8, 60]);
    }
}
