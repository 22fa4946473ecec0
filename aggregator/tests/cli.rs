//! `zkaggregator` on the command line: help, and bad input refused with a clear error (never a
//! panic) before anything starts.

use std::process::{Command, Output};

fn zkaggregator(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkaggregator"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn zkaggregator_answers_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = zkaggregator(&["--help"], dir.path());
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: zkaggregator"));
    for cmd in ["run", "add-batches", "status"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let db = db.to_str().unwrap();
    for (args, expect) in [
        (vec!["run", "--db", db, "--job-timeout", "0"], "job-timeout"),
        (vec!["run", "--db", db, "--address", "0x0é0"], "not hex"),
        (
            vec!["run", "--db", db, "--address", "0x1234"],
            "2 bytes, not 20",
        ),
        (vec!["run", "--db", "mysql://x/y"], "mysql"),
    ] {
        let out = zkaggregator(&args, dir.path());
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn add_batches_refuses_a_bad_witness_and_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("batch-1.json");
    zknode_witness::random_batches(&[3], 1)[0]
        .write(&good)
        .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"version\": 1, \"oldStateRoot\": 7}").unwrap();
    let db = dir.path().join("a.db");
    let db = db.to_str().unwrap();
    let out = zkaggregator(
        &[
            "add-batches",
            "--db",
            db,
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bad.json"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let status = zkaggregator(&["status", "--db", db], dir.path());
    assert!(status.status.success(), "{}", stderr(&status));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("batches: 1 (1..=1)"), "{text}");
}
