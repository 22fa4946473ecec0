//! Polygon's state-tree vectors (from `../shared/vectors/polygon-smt`, or `$ZKNODE_VECTORS`):
//! every one must pass. Without the files the test says so and skips.

use std::path::PathBuf;

use zknode_state::vectors::{run, Format};

fn vectors_dir() -> Option<PathBuf> {
    let smt = zknode_state::vectors::vectors_dir().join("polygon-smt");
    if smt.is_dir() {
        Some(smt)
    } else {
        println!(
            "skipping: no vectors at {} (set ZKNODE_VECTORS)",
            smt.display()
        );
        None
    }
}

fn check(format: Format, files: &[&str]) {
    let Some(dir) = vectors_dir() else { return };
    for f in files {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let outcomes = run(format, &text).unwrap();
        assert!(!outcomes.is_empty(), "{f} has no vectors");
        for o in &outcomes {
            println!(
                "{f} #{}: {} {}",
                o.index,
                if o.passed { "ok" } else { "FAIL" },
                o.detail
            );
        }
        let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
        assert!(
            failed.is_empty(),
            "{f}: {} of {} vectors failed: {failed:?}",
            failed.len(),
            outcomes.len()
        );
    }
}

#[test]
fn smt_raw_vectors_pass() {
    check(Format::SmtRaw, &["smt-raw.json"]);
}

#[test]
fn smt_genesis_vectors_pass() {
    check(Format::SmtGenesis, &["smt-genesis.json"]);
}

#[test]
fn smt_key_vectors_pass() {
    check(
        Format::SmtKey,
        &[
            "smt-key-eth-balance.json",
            "smt-key-eth-nonce.json",
            "smt-key-contract-code.json",
            "smt-key-contract-length.json",
            "smt-key-contract-storage.json",
        ],
    );
}

#[test]
fn smt_hash_bytecode_vectors_pass() {
    check(Format::SmtHashBytecode, &["smt-hash-bytecode.json"]);
}

#[test]
fn malformed_vector_files_are_errors_and_bad_vectors_fail() {
    assert!(run(Format::SmtRaw, "{not json").is_err());
    assert!(run(Format::SmtRaw, "{\"keys\": []}").is_err());
    let o = run(
        Format::SmtRaw,
        r#"[{"keys": ["1"], "values": [], "expectedRoot": "0x0"}]"#,
    )
    .unwrap();
    assert!(
        !o[0].passed && o[0].detail.contains("1 keys but 0 values"),
        "{o:?}"
    );
    let o = run(
        Format::SmtKey,
        r#"[{"leafType": 9, "ethAddr": "0x00", "expectedKey": "1"}]"#,
    )
    .unwrap();
    assert!(!o[0].passed, "{o:?}");
    let o = run(
        Format::SmtHashBytecode,
        r#"[{"bytecode": "zz", "expectedHash": "0x1"}]"#,
    )
    .unwrap();
    assert!(!o[0].passed && o[0].detail.contains("not hex"), "{o:?}");
    // A wrong expected root is a failure, not a pass.
    let o = run(
        Format::SmtRaw,
        r#"[{"keys": ["1"], "values": ["5"], "expectedRoot": "0x1"}]"#,
    )
    .unwrap();
    assert!(!o[0].passed, "{o:?}");
}
