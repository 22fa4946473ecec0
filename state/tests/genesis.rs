//! Genesis files: every accepted shape, contracts with code and storage, and clear errors.

use ruint::aliases::U256;
use zknode_state::genesis::{self, parse_u256};
use zknode_state::keys::{self, parse_address};
use zknode_state::{Error, MemoryStore, StateTree};

const GENESIS: &str = r#"{"genesis": [
  {"accountName": "deployer", "address": "0x617b3a3528F9cDd6630fd3301B9c8911F7Bf063D", "balance": "100000000000000000000", "nonce": "1"},
  {"address": "0x4d5Cf5032B2a844602278b01199ED191A86c93ff", "balance": "0x10", "nonce": 0,
   "bytecode": "0x6080604052", "storage": {"0x0": "0x2a", "0x01": "7"}}
]}"#;

#[test]
fn genesis_sets_balances_nonces_code_and_storage() {
    let accounts = genesis::parse(GENESIS).unwrap();
    let store = MemoryStore::new();
    let mut tree = StateTree::open(&store).unwrap();
    let root = genesis::apply(&mut tree, &accounts).unwrap();
    let a = parse_address("0x617b3a3528F9cDd6630fd3301B9c8911F7Bf063D").unwrap();
    let c = parse_address("0x4d5Cf5032B2a844602278b01199ED191A86c93ff").unwrap();
    assert_eq!(
        tree.get(&keys::balance_key(&a)).unwrap(),
        parse_u256("100000000000000000000").unwrap()
    );
    assert_eq!(tree.get(&keys::nonce_key(&a)).unwrap(), U256::from(1));
    assert_eq!(tree.get(&keys::balance_key(&c)).unwrap(), U256::from(16));
    let code = [0x60, 0x80, 0x60, 0x40, 0x52];
    assert_eq!(
        tree.get(&keys::code_key(&c)).unwrap(),
        keys::hash_bytecode(&code).to_u256()
    );
    assert_eq!(tree.get(&keys::code_length_key(&c)).unwrap(), U256::from(5));
    assert_eq!(
        tree.get(&keys::storage_key(&c, U256::ZERO)).unwrap(),
        U256::from(42)
    );
    assert_eq!(
        tree.get(&keys::storage_key(&c, U256::from(1))).unwrap(),
        U256::from(7)
    );
    // The same accounts written one by one give the same root.
    let s2 = MemoryStore::new();
    let mut t2 = StateTree::open(&s2).unwrap();
    t2.apply(&genesis::writes(&accounts).unwrap()).unwrap();
    assert_eq!(t2.root(), root);
    // A bare list is accepted too.
    let list = r#"[{"address": "0x617b3a3528F9cDd6630fd3301B9c8911F7Bf063D", "balance": "5"}]"#;
    assert_eq!(genesis::parse(list).unwrap().len(), 1);
}

#[test]
fn malformed_genesis_files_give_clear_errors() {
    let e = genesis::parse("{\"genesis\": 5}").unwrap_err();
    assert!(e.to_string().contains("genesis file"), "{e}");
    let bad_address = genesis::parse(r#"[{"address": "0x1234", "balance": "1"}]"#).unwrap();
    let e = genesis::writes(&bad_address).unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput(_)) && e.to_string().contains("40 hex digits"),
        "{e}"
    );
    let bad_number = genesis::parse(
        r#"[{"address": "0x617b3a3528F9cDd6630fd3301B9c8911F7Bf063D", "balance": "12abc"}]"#,
    )
    .unwrap();
    let e = genesis::writes(&bad_number).unwrap_err();
    assert!(
        e.to_string().contains("genesis account 0") && e.to_string().contains("12abc"),
        "{e}"
    );
    // Non-ASCII text where hex belongs is an error, not a panic.
    assert!(keys::parse_hex_bytes("0xé1").is_err());
    assert!(keys::parse_hex_bytes("0x+f").is_err());
    assert!(parse_address("0x617b3a3528F9cDd6630fd3301B9c8911F7Bf06é").is_err());
    let bad_code = genesis::parse(
        r#"[{"address": "0x617b3a3528F9cDd6630fd3301B9c8911F7Bf063D", "bytecode": "0xzz"}]"#,
    )
    .unwrap();
    assert!(genesis::writes(&bad_code).is_err());
    let too_big = format!(
        r#"[{{"address": "0x617b3a3528F9cDd6630fd3301B9c8911F7Bf063D", "balance": "0x1{}"}}]"#,
        "0".repeat(64)
    );
    assert!(genesis::writes(&genesis::parse(&too_big).unwrap()).is_err());
}
