//! `cargo fuzz run decode_batch` (from `executor/`): the batch decoder must never panic, and
//! whatever it accepts must re-encode to the same bytes. The same property runs in CI as a
//! proptest (`executor/tests/codec.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zknode_executor::{decode_batch, encode_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = decode_batch(data) {
        assert_eq!(encode_batch(&entries), data);
        for e in &entries {
            if let zknode_executor::BatchEntry::Tx(tx) = e {
                let _ = tx.recover_sender();
                let _ = tx.eth_hash();
            }
        }
    }
});
