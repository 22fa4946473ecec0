//! The strict RLP reader of batch data: short and long strings, list headers and integers, as
//! Polygon's ROM reads them (canonical forms only), and the length of a transaction entry.

use super::{DecodeError, EIP1559_TX_TYPE, EIP2930_TX_TYPE, TAIL_LEN};

/// The longest RLP length-of-length the ROM reads (lengths below 2^24 bytes).
const MAX_LEN_OF_LEN: usize = 3;
/// The shortest payload the long RLP form may carry.
const MIN_LONG_LEN: usize = 56;

pub(super) struct Reader<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn err(&self, reason: impl Into<String>) -> DecodeError {
        self.err_at(self.pos, reason)
    }

    pub(super) fn err_at(&self, offset: usize, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            offset,
            reason: reason.into(),
        }
    }

    pub(super) fn byte(&self) -> Result<u8, DecodeError> {
        self.b
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err("unexpected end of data"))
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| self.err(format!("needs {n} more bytes")))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The payload length after a long-form prefix (`0xb8..=0xbf`, `0xf8..=0xff`) whose
    /// length-of-length is `n`, in canonical form as the ROM reads it: at most 3 bytes, no leading
    /// zero byte, and at least 56 (a shorter payload takes the short form).
    pub(super) fn be_len(&mut self, n: usize) -> Result<usize, DecodeError> {
        let prefix_at = self.pos.saturating_sub(1);
        if n > MAX_LEN_OF_LEN {
            return Err(self.err_at(
                prefix_at,
                format!("an RLP length of {n} bytes (at most {MAX_LEN_OF_LEN} allowed)"),
            ));
        }
        let bytes = self.take(n)?;
        if bytes.first() == Some(&0) {
            return Err(self.err_at(prefix_at, "an RLP length with a leading zero byte"));
        }
        let v = bytes.iter().fold(0usize, |v, &x| (v << 8) | x as usize);
        if v < MIN_LONG_LEN {
            return Err(self.err_at(
                prefix_at,
                format!(
                    "long-form RLP length for {v} bytes (under {MIN_LONG_LEN} take the short form)"
                ),
            ));
        }
        Ok(v)
    }

    /// A legacy transaction's RLP list header, as the ROM reads it: a
    /// [list header](Self::list_header), never the empty list (a transaction has fields).
    pub(super) fn tx_list_header(&mut self) -> Result<(usize, usize), DecodeError> {
        match self.byte()? {
            0xc0 => Err(self.err("an empty RLP list is not a transaction")),
            h @ 0..=0xbf => {
                Err(self.err(format!("expected a transaction (RLP list), found {h:#04x}")))
            }
            _ => self.list_header(),
        }
    }

    /// An RLP string of at most 55 bytes (a single byte below 0x80 is itself, and may not
    /// take the `0x81` prefix).
    pub(super) fn short_string(&mut self) -> Result<&'a [u8], DecodeError> {
        let b = self.byte()?;
        match b {
            0..=0x7f => self.take(1),
            0x80..=0xb7 => {
                let at = self.pos;
                self.pos += 1;
                let s = self.take((b - 0x80) as usize)?;
                if let [x @ 0..=0x7f] = s {
                    return Err(self.err_at(
                        at,
                        format!(
                            "the single byte {x:#04x} carries a 0x81 prefix \
                             (below 0x80 it is its own RLP)"
                        ),
                    ));
                }
                Ok(s)
            }
            _ => Err(self.err(format!(
                "expected a short RLP string, found prefix {b:#04x}"
            ))),
        }
    }

    /// An RLP list header: its own length and the payload's.
    pub(super) fn list_header(&mut self) -> Result<(usize, usize), DecodeError> {
        let h = self.byte()?;
        match h {
            0xf8.. => {
                self.pos += 1;
                let n = self.be_len((h - 0xf7) as usize)?;
                Ok((1 + (h - 0xf7) as usize, n))
            }
            0xc0..=0xf7 => {
                self.pos += 1;
                Ok((1, (h - 0xc0) as usize))
            }
            _ => Err(self.err(format!("expected an RLP list, found prefix {h:#04x}"))),
        }
    }

    /// An RLP string of any length.
    pub(super) fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let b = self.byte()?;
        match b {
            0xb8..=0xbf => {
                self.pos += 1;
                let n = self.be_len((b - 0xb7) as usize)?;
                self.take(n)
            }
            0xc0.. => Err(self.err("expected an RLP string, found a list")),
            _ => self.short_string(),
        }
    }
}

/// The integer `b` (an RLP string `r` just read) as `N` big-endian bytes: at most `N` bytes, and
/// minimal (no leading zero byte; a lone byte below 0x80, `0x00` included, is itself, as the ROM
/// reads it).
pub(super) fn uint<const N: usize>(
    r: &Reader<'_>,
    b: &[u8],
    what: &str,
) -> Result<[u8; N], DecodeError> {
    // Only a prefixed string (at least two bytes here) can be too long or start with zero.
    let at = r.pos.saturating_sub(b.len() + 1);
    if b.len() > N {
        return Err(r.err_at(
            at,
            format!("{what} has {} bytes, at most {N} allowed", b.len()),
        ));
    }
    if b.len() > 1 && b[0] == 0 {
        return Err(r.err_at(
            at,
            format!("{what} has a leading zero byte (an RLP integer is minimal)"),
        ));
    }
    let mut out = [0u8; N];
    out[N - b.len()..].copy_from_slice(b);
    Ok(out)
}

/// Total bytes of the transaction starting at `b[0]` (list header, payload, signature tail).
pub(super) fn tx_len(b: &[u8], at: usize) -> Result<usize, DecodeError> {
    let mut r = Reader { b, pos: at };
    let h = r.byte()?;
    if matches!(h, EIP2930_TX_TYPE | EIP1559_TX_TYPE) {
        r.pos += 1;
        let (header, payload) = r.list_header()?;
        return 1usize
            .checked_add(header)
            .and_then(|n| n.checked_add(payload))
            .and_then(|n| n.checked_add(TAIL_LEN))
            .ok_or_else(|| r.err("transaction length overflows"));
    }
    let (header, payload) = r.tx_list_header()?;
    header
        .checked_add(payload)
        .and_then(|n| n.checked_add(TAIL_LEN))
        .ok_or_else(|| r.err("transaction length overflows"))
}
