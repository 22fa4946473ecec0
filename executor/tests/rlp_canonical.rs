//! The batch decoder takes canonical RLP only, as the fork-12 ROM does (any departure makes the
//! batch invalid): no leading zeros in integers, no `0x81` prefix on a single byte below 0x80, the
//! long form only from 56 bytes and without a leading zero in the length, lengths of at most 3
//! bytes, no empty list. Each refusal names the place and the reason. Transactions are assembled
//! here field by field; the decoder does not look at signatures.

use zknode_executor::{decode_batch, encode_batch, BatchEntry, DecodeError};

const NONCE: usize = 0;
const GAS_PRICE: usize = 1;
const GAS_LIMIT: usize = 2;
const VALUE: usize = 4;
const DATA: usize = 5;
const CHAIN_ID: usize = 6;

/// The RLP fields of an EIP-155 signing payload, canonical: nonce 0, gasPrice 1 gwei, gasLimit
/// 21,000, to 0xaa…aa, value 5, no data, chainId 1001, then 0, 0.
fn fields() -> Vec<Vec<u8>> {
    let mut to = vec![0x94];
    to.extend_from_slice(&[0xaa; 20]);
    vec![
        vec![0x80],
        vec![0x84, 0x3b, 0x9a, 0xca, 0x00],
        vec![0x82, 0x52, 0x08],
        to,
        vec![0x05],
        vec![0x80],
        vec![0x82, 0x03, 0xe9],
        vec![0x80],
        vec![0x80],
    ]
}

/// The canonical list header of a `len`-byte payload.
fn list_header(len: usize) -> Vec<u8> {
    if len < 56 {
        vec![0xc0 + len as u8]
    } else {
        let be = (len as u64).to_be_bytes();
        let first = be.iter().position(|&b| b != 0).unwrap();
        let mut h = vec![0xf7 + (8 - first) as u8];
        h.extend_from_slice(&be[first..]);
        h
    }
}

/// A transaction: `header`, the fields, and a signature tail (r, s, v, effective percentage).
fn tx_with_header(header: Vec<u8>, fields: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header;
    out.extend(fields.concat());
    out.extend_from_slice(&[0x11; 64]);
    out.extend_from_slice(&[27, 0xff]);
    out
}

/// A transaction with its canonical list header.
fn tx(fields: &[Vec<u8>]) -> Vec<u8> {
    let len = fields.iter().map(Vec::len).sum();
    tx_with_header(list_header(len), fields)
}

/// The fields with field `i` replaced by `with`.
fn with(i: usize, with: &[u8]) -> Vec<Vec<u8>> {
    let mut f = fields();
    f[i] = with.to_vec();
    f
}

/// Where field `i` starts in `tx(f)`.
fn offset_of(f: &[Vec<u8>], i: usize) -> usize {
    let len = f.iter().map(Vec::len).sum();
    list_header(len).len() + f[..i].iter().map(Vec::len).sum::<usize>()
}

fn refused(data: &[u8]) -> DecodeError {
    decode_batch(data).expect_err("non-canonical RLP is refused")
}

fn the_tx(data: &[u8]) -> zknode_executor::RawTx {
    let entries = decode_batch(data).expect("canonical RLP decodes");
    assert_eq!(encode_batch(&entries), data);
    match entries.as_slice() {
        [BatchEntry::Tx(t)] => (**t).clone(),
        other => panic!("one transaction expected, got {other:?}"),
    }
}

#[test]
fn canonical_transactions_decode() {
    let t = the_tx(&tx(&fields()));
    assert_eq!(t.nonce, 0);
    assert_eq!(t.gas_limit, 21_000);
    assert_eq!(t.value, revm::primitives::U256::from(5));
    assert_eq!(t.chain_id, Some(1001));
    // A lone byte below 0x80 is the integer itself, 0x00 included: the ROM reads a bare 0x00 as
    // zero, so it is taken (the canonical zero is 0x80).
    let t = the_tx(&tx(&with(NONCE, &[0x00])));
    assert_eq!(t.nonce, 0);
    let t = the_tx(&tx(&with(VALUE, &[0x00])));
    assert!(t.value.is_zero());
    // One byte from 0x80 up takes the 0x81 prefix.
    let t = the_tx(&tx(&with(NONCE, &[0x81, 0x80])));
    assert_eq!(t.nonce, 0x80);
    let t = the_tx(&tx(&with(DATA, &[0x81, 0xff])));
    assert_eq!(t.data.as_ref(), [0xff]);
    // 56 bytes of data take the long form, and so does the list around them.
    let mut long = vec![0xb8, 56];
    long.extend_from_slice(&[0x33; 56]);
    let f = with(DATA, &long);
    let data = tx(&f);
    assert_eq!(data[0], 0xf8);
    assert_eq!(the_tx(&data).data.len(), 56);
}

#[test]
fn integers_with_leading_zeros_are_refused() {
    for (i, name) in [
        (NONCE, "nonce"),
        (GAS_PRICE, "gasPrice"),
        (GAS_LIMIT, "gasLimit"),
        (VALUE, "value"),
        (CHAIN_ID, "chainId"),
    ] {
        let f = with(i, &[0x82, 0x00, 0x05]);
        let e = refused(&tx(&f));
        assert!(
            e.reason
                .contains(&format!("{name} has a leading zero byte")),
            "{name}: {e}"
        );
        assert_eq!(e.offset, offset_of(&f, i), "{name}: {e}");
        // Zero prefixed: the single byte 0x00 behind 0x81.
        let f = with(i, &[0x81, 0x00]);
        let e = refused(&tx(&f));
        assert!(e.reason.contains("0x81 prefix"), "{name}: {e}");
        assert_eq!(e.offset, offset_of(&f, i), "{name}: {e}");
    }
}

#[test]
fn a_single_byte_below_0x80_may_not_take_the_0x81_prefix() {
    for (i, name) in [(NONCE, "nonce"), (VALUE, "value"), (DATA, "data")] {
        let f = with(i, &[0x81, 0x7f]);
        let e = refused(&tx(&f));
        assert!(
            e.reason
                .contains("the single byte 0x7f carries a 0x81 prefix"),
            "{name}: {e}"
        );
        assert_eq!(e.offset, offset_of(&f, i), "{name}: {e}");
    }
}

#[test]
fn the_long_form_is_only_for_56_bytes_or_more() {
    // A 5-byte string in the long form.
    let f = with(DATA, &[0xb8, 5, 1, 2, 3, 4, 5]);
    let e = refused(&tx(&f));
    assert!(e.reason.contains("long-form RLP length for 5 bytes"), "{e}");
    assert_eq!(e.offset, offset_of(&f, DATA));
    // 55 bytes: still the short form's.
    let mut s = vec![0xb8, 55];
    s.extend_from_slice(&[0x33; 55]);
    let e = refused(&tx(&with(DATA, &s)));
    assert!(e.reason.contains("for 55 bytes"), "{e}");
    // 56 bytes with a zero-padded length.
    let mut s = vec![0xb9, 0, 56];
    s.extend_from_slice(&[0x33; 56]);
    let e = refused(&tx(&with(DATA, &s)));
    assert!(e.reason.contains("leading zero byte"), "{e}");
    // The list: a short payload behind 0xf8, and a long one with a zero-padded length.
    let f = fields();
    let len: usize = f.iter().map(Vec::len).sum();
    assert!(len < 56);
    let e = refused(&tx_with_header(vec![0xf8, len as u8], &f));
    assert!(e.reason.contains("long-form RLP length"), "{e}");
    assert_eq!(e.offset, 0);
    let mut long = vec![0xb8, 56];
    long.extend_from_slice(&[0x33; 56]);
    let f = with(DATA, &long);
    let len: usize = f.iter().map(Vec::len).sum();
    let e = refused(&tx_with_header(vec![0xf9, 0, len as u8], &f));
    assert!(e.reason.contains("leading zero byte"), "{e}");
    assert_eq!(e.offset, 0);
}

#[test]
fn lengths_of_more_than_three_bytes_are_refused() {
    // A string whose length takes 4 bytes (0xbb), however long the data.
    let f = with(DATA, &[0xbb, 0, 0, 0, 56]);
    let e = refused(&tx(&f));
    assert!(
        e.reason
            .contains("an RLP length of 4 bytes (at most 3 allowed)"),
        "{e}"
    );
    assert_eq!(e.offset, offset_of(&f, DATA));
    // A list header with 4 to 8 length bytes.
    for h in 0xfbu8..=0xff {
        let mut data = vec![h];
        data.extend_from_slice(&[0x01; 8]);
        data.extend_from_slice(&[0x11; 80]);
        let e = refused(&data);
        assert!(
            e.reason
                .contains(&format!("an RLP length of {} bytes", h - 0xf7)),
            "{h:#x}: {e}"
        );
        assert_eq!(e.offset, 0);
    }
    // Three are allowed: the ROM reads lengths below 2^24.
    let mut data = vec![0xfa, 0x01, 0x00, 0x00];
    data.extend_from_slice(&[0x80; 8]);
    let e = refused(&data);
    assert!(e.reason.contains("past the end"), "{e}");
}

#[test]
fn the_empty_list_is_refused() {
    let e = refused(&tx_with_header(vec![0xc0], &[]));
    assert!(e.reason.contains("an empty RLP list"), "{e}");
    assert_eq!(e.offset, 0);
    // After a changeL2Block, at its place.
    let mut data = vec![0x0b, 0, 0, 0, 1, 0, 0, 0, 0];
    data.extend(tx_with_header(vec![0xc0], &[]));
    let e = refused(&data);
    assert!(e.reason.contains("an empty RLP list"), "{e}");
    assert_eq!(e.offset, 9);
}
