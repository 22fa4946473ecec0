//! The code column of the RocksDB store: bytecode by its Poseidon hash, checked on read.

use zknode_state::keys::hash_bytecode;
use zknode_state::{CodeStore, Hash, RocksStore};

#[test]
fn code_round_trips_and_a_mislabelled_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let code = vec![0x60, 0x01, 0x60, 0x00, 0x55, 0x00];
    let h = hash_bytecode(&code);
    {
        let store = RocksStore::open(dir.path()).unwrap();
        assert_eq!(store.get_code(&h).unwrap(), None);
        store.put_code(&[(h, &code[..])]).unwrap();
        // Stored under another code's hash: reading it back must fail, not return it.
        store
            .put_code(&[(hash_bytecode(&[0x00]), &code[..])])
            .unwrap();
    }
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(store.get_code(&h).unwrap(), Some(code));
    let err = store.get_code(&hash_bytecode(&[0x00])).unwrap_err();
    assert!(err.to_string().contains("does not hash"), "{err}");
    assert_eq!(store.get_code(&Hash::ZERO).unwrap(), None);
}
