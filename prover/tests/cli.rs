//! The `zkprover` binary as a user runs it.

use std::process::Command;

fn zkprover(args: &[&str], device: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zkprover"));
    c.args(args)
        .env_remove("ZKNODE_DEVICE")
        .env("RUST_LOG", "warn");
    if let Some(d) = device {
        c.env("ZKNODE_DEVICE", d);
    }
    c.output().expect("run zkprover")
}

#[test]
fn help_describes_commands_and_device_selection() {
    let out = zkprover(&["--help"], None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["bench", "device", "ZKNODE_DEVICE"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let out = zkprover(&["bench", "--help"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--quick"));
}

#[test]
fn cpu_device_is_reported() {
    let out = zkprover(&["device"], Some("cpu"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("cpu "));
}

#[test]
fn bad_device_selector_is_a_clear_error() {
    let out = zkprover(&["device"], Some("tpu"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auto, cpu or cuda"), "{err}");
}

/// `cuda` never falls back silently: without a GPU it is an error that says why.
#[test]
fn cuda_without_gpu_is_an_error_not_a_fallback() {
    let out = zkprover(&["device"], Some("cuda"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        assert!(stdout.starts_with("cuda "), "{stdout}");
        println!("a GPU is present: {stdout}");
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("CUDA"), "{err}");
        assert!(!stdout.contains("cpu"));
    }
}

#[test]
fn bench_only_filter_runs_the_named_operation() {
    let out = zkprover(
        &["bench", "--quick", "--only", "bn254-ntt", "--iters", "1"],
        Some("cpu"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("bn254-ntt") && !table.contains("poseidon"),
        "{table}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("[1/1] bn254-ntt"));
    let out = zkprover(&["bench", "--only", "nothing"], Some("cpu"));
    assert!(!out.status.success());
}
