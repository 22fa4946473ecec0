#[test]
fn zknode_answers_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zknode"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: zknode"));
}
