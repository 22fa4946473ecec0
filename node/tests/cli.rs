use std::path::PathBuf;
use std::process::Command;

fn zknode(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zknode"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn zknode_answers_help() {
    let out = zknode(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Usage: zknode") && text.contains("vectors"),
        "{text}"
    );
}

fn smt_vectors() -> Option<PathBuf> {
    let dir = zknode_state::vectors::vectors_dir().join("polygon-smt");
    dir.is_dir().then_some(dir).or_else(|| {
        println!("skipping: no vectors (set ZKNODE_VECTORS)");
        None
    })
}

#[test]
fn vectors_commands_pass_on_polygon_files() {
    let Some(dir) = smt_vectors() else { return };
    for (cmd, file) in [
        ("smt-raw", "smt-raw.json"),
        ("smt-genesis", "smt-genesis.json"),
        ("smt-key", "smt-key-contract-storage.json"),
        ("smt-hash-bytecode", "smt-hash-bytecode.json"),
    ] {
        let out = zknode(&["vectors", cmd, dir.join(file).to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cmd}: {text}");
        let last = text.lines().last().unwrap();
        assert!(last.ends_with("passed, 0 failed"), "{last}");
    }
}

#[test]
fn vectors_command_fails_on_a_wrong_vector_and_on_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(
        &f,
        r#"[{"keys": ["1"], "values": ["5"], "expectedRoot": "0x1"}]"#,
    )
    .unwrap();
    let out = zknode(&["vectors", "smt-raw", f.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 passed, 1 failed"));
    std::fs::write(&f, "not json").unwrap();
    let out = zknode(&["vectors", "smt-raw", f.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JSON array"));
    let out = zknode(&["vectors", "smt-raw", "/nonexistent/file.json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading /nonexistent/file.json"));
}

#[test]
fn processor_vectors_pass_and_a_tampered_one_fails() {
    let path = zknode_state::vectors::vectors_dir().join("polygon-processor/state-transition.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!(
            "skipping: {} is absent (set ZKNODE_VECTORS)",
            path.display()
        );
        return;
    };
    let out = zknode(&["vectors", "processor", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.lines().count(), 16, "{stdout}");
    assert!(stdout.ends_with("15 passed, 0 failed\n"), "{stdout}");

    // One changed expectation (the sender's new balance in vector 0) must fail that vector.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let leaf = &mut v[0]["expectedNewLeafs"]["0x617b3a3528f9cdd6630fd3301b9c8911f7bf063d"];
    leaf["balance"] = "99900000000000000001".into();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tampered.json");
    std::fs::write(&f, serde_json::to_string(&v).unwrap()).unwrap();
    let out = zknode(&["vectors", "processor", f.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("#0: FAIL") && stdout.contains("balance"),
        "{stdout}"
    );
    assert!(stdout.ends_with("14 passed, 1 failed\n"), "{stdout}");

    // A vector whose batch data is not hex is malformed, not a panic.
    v[1]["batchL2Data"] = "0xzz".into();
    std::fs::write(&f, serde_json::to_string(&v).unwrap()).unwrap();
    let out = zknode(&["vectors", "processor", f.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("#1: FAIL (malformed vector"), "{stdout}");
}

#[test]
fn bad_configuration_is_refused_with_the_reason_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "chain_id = [").unwrap();
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[sequencer]\nblock_tiem_ms = 5\n").unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (args, want) in [
        (vec!["run", "--config", bad.to_str().unwrap()], "bad.toml"),
        (
            vec!["run", "--config", unknown.to_str().unwrap()],
            "block_tiem_ms",
        ),
        (
            vec!["run", "--config", "/no/such/file.toml"],
            "/no/such/file.toml",
        ),
        (
            vec![
                "run",
                "--data-dir",
                data,
                "--set",
                "sequencer.block_time_ms=0",
            ],
            "block_time_ms",
        ),
        (
            vec!["run", "--data-dir", data, "--set", "oops"],
            "KEY=VALUE",
        ),
        (
            vec!["run", "--data-dir", data, "--metrics-addr", "nowhere"],
            "metrics_addr",
        ),
        (
            vec![
                "run",
                "--data-dir",
                data,
                "--set",
                "genesis=\"/no/genesis.json\"",
            ],
            "/no/genesis.json",
        ),
    ] {
        let out = zknode(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn the_example_configuration_is_what_run_reads() {
    let out = zknode(&["config", "example"]);
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("node.toml");
    std::fs::write(&f, &out.stdout).unwrap();
    let show = zknode(&["config", "show", "--config", f.to_str().unwrap()]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains("block_time_ms: 1000") && text.contains("8545"),
        "{text}"
    );
}

/// `zknode l1 clear-halt` removes the synchronizer's halt from the node's database and says
/// which halt it was; with none stored it says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_halt_removes_the_synchronizers_halt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db =
        zknode_storage::StateDb::connect(&zknode_storage::sqlite_url(&data.join("state.sqlite")))
            .await
            .unwrap();
    db.set_sync_halt(&zknode_storage::SyncHalt {
        batch_number: 7,
        l1_block: 99,
        reason: "batch 7 differs from L1 (test)".into(),
    })
    .await
    .unwrap();
    let clear = || zknode(&["l1", "clear-halt", "--data-dir", data.to_str().unwrap()]);
    let out = clear();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("batch 7") && text.contains("differs from L1 (test)"),
        "{text}"
    );
    assert!(db.sync_halt().await.unwrap().is_none());
    let out = clear();
    assert!(String::from_utf8_lossy(&out.stdout).contains("no halt"));
    db.close().await;
}
