//! The batch codec: Polygon's encoded batches decode and re-encode byte for byte, transaction
//! hashes and senders match the reference's signed transactions, and no input makes the decoder
//! panic (whatever it accepts re-encodes to the same bytes).

use proptest::prelude::*;
use revm::primitives::{keccak256, Address, Bytes, U256};
use zknode_executor::{decode_batch, encode_batch, BatchEntry, ChangeL2Block, RawTx};
use zknode_state::keys::parse_hex_bytes;

fn processor_vectors() -> Option<Vec<serde_json::Value>> {
    let path = zknode_state::vectors::vectors_dir().join("polygon-processor/state-transition.json");
    match std::fs::read_to_string(&path) {
        Ok(t) => Some(serde_json::from_str(&t).unwrap()),
        Err(_) => {
            println!("skipping: {} is absent", path.display());
            None
        }
    }
}

#[test]
fn reference_batches_round_trip_and_recover_their_senders() {
    let Some(vectors) = processor_vectors() else {
        return;
    };
    let mut txs_checked = 0;
    for v in &vectors {
        let data = parse_hex_bytes(v["batchL2Data"].as_str().unwrap()).unwrap();
        let entries = match decode_batch(&data) {
            Ok(e) => e,
            Err(e) => {
                // Vector 4 cuts a transaction short on purpose.
                assert_eq!(v["id"], 4, "{e}");
                continue;
            }
        };
        assert_eq!(encode_batch(&entries), data, "vector {}", v["id"]);
        let with_raw: Vec<&serde_json::Value> = v["txs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["type"] != 11 && t["customRawTx"].is_string())
            .collect();
        let txs: Vec<&RawTx> = entries
            .iter()
            .filter_map(|e| match e {
                BatchEntry::Tx(t) => Some(&**t),
                BatchEntry::ChangeL2Block(_) => None,
            })
            .collect();
        assert_eq!(txs.len(), with_raw.len());
        for (tx, want) in txs.iter().zip(with_raw) {
            // A chain id of 0 is signed in the EIP-155 form by the reference's generator, which
            // has no Ethereum encoding; its `rawTx` is not what was signed.
            let Some(raw) = want["rawTx"].as_str().filter(|_| want["chainId"] != 0) else {
                continue;
            };
            let raw = parse_hex_bytes(raw).unwrap();
            assert_eq!(
                tx.eth_hash(),
                keccak256(&raw),
                "vector {} tx {}",
                v["id"],
                want
            );
            let from: Address = want["from"].as_str().unwrap().parse().unwrap();
            // Transactions signed for another chain still recover (the executor rejects them
            // on the chain id, before the signature).
            assert_eq!(tx.recover_sender().unwrap(), from);
            assert_eq!(tx.nonce, want["nonce"].as_u64().unwrap());
            txs_checked += 1;
        }
    }
    assert!(txs_checked >= 20, "only {txs_checked} transactions checked");
}

fn key(seed: u64) -> secp256k1::SecretKey {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(seed | 1).to_be_bytes());
    b[31] = 1;
    secp256k1::SecretKey::from_byte_array(b).unwrap()
}

fn address_of(k: &secp256k1::SecretKey) -> Address {
    let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, k);
    Address::from_slice(&keccak256(&pk.serialize_uncompressed()[1..])[12..])
}

prop_compose! {
    fn any_tx()(
        nonce in any::<u64>(),
        gas_price in any::<[u8; 32]>(),
        gas_limit in any::<u64>(),
        to in proptest::option::of(any::<[u8; 20]>()),
        value in any::<u128>(),
        data in proptest::collection::vec(any::<u8>(), 0..300),
        chain_id in proptest::option::of(any::<u64>()),
        pct in any::<u8>(),
        signer in any::<u64>(),
    ) -> (RawTx, Address) {
        let k = key(signer);
        let mut tx = RawTx::new(
            nonce,
            U256::from_be_bytes(gas_price),
            gas_limit,
            to.map(Address::from),
            U256::from(value),
            Bytes::from(data),
            chain_id,
        )
        .sign(&k);
        tx.effective_percentage = pct;
        (tx, address_of(&k))
    }
}

fn any_entry() -> impl Strategy<Value = (BatchEntry, Option<Address>)> {
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(d, i)| (
            BatchEntry::ChangeL2Block(ChangeL2Block {
                delta_timestamp: d,
                index_l1_info_tree: i
            }),
            None
        )),
        any_tx().prop_map(|(t, a)| (BatchEntry::Tx(Box::new(t)), Some(a))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn encoded_batches_decode_to_the_same_entries(
        entries in proptest::collection::vec(any_entry(), 0..8)
    ) {
        let (entries, senders): (Vec<BatchEntry>, Vec<Option<Address>>) =
            entries.into_iter().unzip();
        let data = encode_batch(&entries);
        let back = decode_batch(&data).unwrap();
        prop_assert_eq!(&back, &entries);
        prop_assert_eq!(encode_batch(&back), data);
        for (e, s) in back.iter().zip(senders) {
            if let (BatchEntry::Tx(t), Some(s)) = (e, s) {
                prop_assert_eq!(t.recover_sender().unwrap(), s);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_accepted_input_re_encodes(
        data in proptest::collection::vec(any::<u8>(), 0..400)
    ) {
        if let Ok(e) = decode_batch(&data) {
            prop_assert_eq!(encode_batch(&e), data);
        }
    }

    #[test]
    fn damaged_batches_never_panic(
        entries in proptest::collection::vec(any_entry(), 1..4),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let entries: Vec<BatchEntry> = entries.into_iter().map(|(e, _)| e).collect();
        let mut data = encode_batch(&entries);
        let i = at.index(data.len());
        if cut {
            data.truncate(i);
        } else {
            data[i] = byte;
        }
        if let Ok(e) = decode_batch(&data) {
            prop_assert_eq!(encode_batch(&e), data);
        }
    }
}

#[test]
fn signatures_outside_the_rules_do_not_recover() {
    let k = key(7);
    let tx = RawTx::new(
        0,
        U256::from(1),
        21_000,
        None,
        U256::ZERO,
        Bytes::new(),
        Some(1),
    )
    .sign(&k);
    assert_eq!(tx.recover_sender().unwrap(), address_of(&k));
    for v in [0, 1, 29] {
        let mut bad_v = tx.clone();
        bad_v.v = v;
        assert!(bad_v.recover_sender().is_err(), "v = {v}");
    }
    // EIP-2: the mirrored signature (n - s, other parity) is valid ECDSA but refused.
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let mut high_s = tx.clone();
    high_s.s = (n - U256::from_be_bytes(tx.s.0)).to_be_bytes::<32>().into();
    high_s.v = if tx.v == 27 { 28 } else { 27 };
    assert!(high_s.recover_sender().is_err());
    let mut zero_r = tx.clone();
    zero_r.r = Default::default();
    assert!(zero_r.recover_sender().is_err());
    // Another payload under the same signature gives another sender (or none).
    let mut forged = RawTx::new(
        1,
        U256::from(1),
        21_000,
        None,
        U256::ZERO,
        Bytes::new(),
        Some(1),
    );
    (forged.r, forged.s, forged.v) = (tx.r, tx.s, tx.v);
    assert_ne!(forged.recover_sender().ok(), Some(address_of(&k)));
}

#[test]
fn decode_errors_name_the_place() {
    // A changeL2Block cut short.
    let e = decode_batch(&[0x0b, 0, 0, 0]).unwrap_err();
    assert_eq!(e.offset, 0);
    assert!(e.reason.contains("changeL2Block"), "{e}");
    // Not a transaction.
    let e = decode_batch(&[0x0b, 0, 0, 0, 1, 0, 0, 0, 0, 0x42]).unwrap_err();
    assert_eq!(e.offset, 9);
    // A list that claims more than the batch holds.
    let e = decode_batch(&[0xf9, 0xff, 0xff]).unwrap_err();
    assert!(e.reason.contains("past the end"), "{e}");
}

/// One signed transaction of each type, with its sender.
fn one_of_each(k: &secp256k1::SecretKey) -> Vec<RawTx> {
    use zknode_executor::codec::{AccessList, AccessListItem};
    let list = AccessList(vec![AccessListItem {
        address: Address::repeat_byte(7),
        storage_keys: vec![Default::default(), [9u8; 32].into()],
    }]);
    vec![
        RawTx::new(
            3,
            U256::from(5),
            21_000,
            None,
            U256::ZERO,
            Bytes::new(),
            None,
        )
        .sign(k),
        RawTx::new(
            3,
            U256::from(5),
            21_000,
            Some(Address::repeat_byte(1)),
            U256::from(1),
            Bytes::from_static(b"hi"),
            Some(1001),
        )
        .sign(k),
        RawTx::new_eip2930(
            1001,
            4,
            U256::from(7),
            50_000,
            Some(Address::repeat_byte(2)),
            U256::from(2),
            Bytes::new(),
            list.clone(),
        )
        .sign(k),
        RawTx::new_eip1559(
            1001,
            5,
            U256::from(1),
            U256::from(1_000_000_000u64),
            60_000,
            None,
            U256::ZERO,
            Bytes::from(vec![0x60; 100]),
            list,
        )
        .sign(k),
    ]
}

#[test]
fn signed_transactions_of_every_type_round_trip_and_recover() {
    use zknode_executor::decode_signed;
    let k = key(11);
    for tx in one_of_each(&k) {
        let raw = tx.to_eth_bytes();
        let back = decode_signed(&raw).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.eth_hash(), keccak256(&raw));
        assert_eq!(back.recover_sender().unwrap(), address_of(&k));
        if tx.tx_type != 0 {
            assert_eq!(raw[0], tx.tx_type);
        }
        // In a batch, the entry is the signing payload and the tail, and decodes back.
        let entries = vec![
            BatchEntry::ChangeL2Block(ChangeL2Block {
                delta_timestamp: 1,
                index_l1_info_tree: 0,
            }),
            BatchEntry::Tx(Box::new(tx.clone())),
        ];
        let data = encode_batch(&entries);
        assert_eq!(data[9], if tx.tx_type == 0 { data[9] } else { tx.tx_type });
        assert_eq!(decode_batch(&data).unwrap(), entries);
    }
}

#[test]
fn malformed_signed_transactions_are_refused_with_a_reason() {
    use zknode_executor::{decode_signed, SignedTxError};
    let k = key(12);
    let txs = one_of_each(&k);
    assert_eq!(decode_signed(&[]), Err(SignedTxError::Empty));
    assert_eq!(
        decode_signed(&[0x03, 0xc0]),
        Err(SignedTxError::UnsupportedType(3))
    );
    for tx in &txs {
        let raw = tx.to_eth_bytes();
        // Cut short, or with a byte too many.
        assert!(decode_signed(&raw[..raw.len() - 1]).is_err());
        let mut long = raw.clone();
        long.push(0);
        assert!(decode_signed(&long).is_err());
    }
    // A legacy transaction whose nonce carries a leading zero: not canonical.
    let legacy = txs[1].to_eth_bytes();
    // [list header (1 or 2 bytes)][nonce 0x03] → [0x81 0x03] is refused by the RLP reader.
    let at = if legacy[0] >= 0xf8 {
        1 + (legacy[0] - 0xf7) as usize
    } else {
        1
    };
    assert_eq!(legacy[at], 0x03);
    let mut bad = legacy[..at].to_vec();
    bad.extend_from_slice(&[0x81, 0x03]);
    bad.extend_from_slice(&legacy[at + 1..]);
    bad[at - 1] += 1; // one more payload byte (the header is short here)
    assert!(decode_signed(&bad).is_err());
    // A legacy v that is neither 27/28 nor EIP-155.
    let mut v30 = RawTx::new(
        0,
        U256::from(1),
        21_000,
        None,
        U256::ZERO,
        Bytes::new(),
        None,
    )
    .sign(&k);
    v30.v = 27;
    let mut raw = v30.to_eth_bytes();
    let pos = raw.len() - 1 - 33 - 33; // v is the byte before r's 0xa0 header
    assert_eq!(raw[pos], 0x1b);
    raw[pos] = 0x1e;
    assert!(matches!(decode_signed(&raw), Err(SignedTxError::Field(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_signed_bytes_never_panic(
        ty in prop_oneof![Just(None), Just(Some(1u8)), Just(Some(2u8))],
        body in proptest::collection::vec(any::<u8>(), 0..200)
    ) {
        let mut raw: Vec<u8> = ty.into_iter().collect();
        raw.extend(body);
        if let Ok(tx) = zknode_executor::decode_signed(&raw) {
            prop_assert_eq!(tx.to_eth_bytes(), raw);
        }
    }
}
