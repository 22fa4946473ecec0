//! `zknode l1 deploy` against anvil: the contracts answer at the addresses it writes into the
//! configuration file, with the configuration's chain id and genesis, and the rest of the file
//! is kept.

use std::process::{Command, Output};

use alloy::primitives::{Address, B256};
use zknode_l1::testing::{dev_address, Anvil, DEV_KEYS};
use zknode_l1::{GlobalExitRootManager, ZkEvmRollup};
use zknode_state::{Hash, MemoryStore, StateTree};

fn zknode(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_zknode"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("running zknode");
    eprintln!(
        "zknode {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The state root of the embedded development genesis.
fn dev_genesis_root() -> B256 {
    let text = include_str!("../config/dev-genesis.json");
    let accounts = zknode_state::genesis::parse(text).unwrap();
    let store = MemoryStore::new();
    let mut tree = StateTree::at_root(&store, Hash::default());
    let root = zknode_state::genesis::apply(&mut tree, &accounts).unwrap();
    B256::from(root.to_u256().to_be_bytes::<32>())
}

fn l1_section(path: &std::path::Path) -> (String, Address, Address, u64) {
    let t: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let l1 = t["l1"].as_table().expect("an [l1] section");
    (
        l1["rpc_url"].as_str().unwrap().to_string(),
        l1["rollup"].as_str().unwrap().parse().unwrap(),
        l1["global_exit_root_manager"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        l1["deploy_block"].as_integer().unwrap() as u64,
    )
}

#[tokio::test]
async fn deploy_writes_the_l1_section_and_the_contracts_answer() {
    let anvil = Anvil::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let original = "# A node on a local L1.\nchain_id = 1001 # the L2\n\n[sequencer]\n# fast blocks\nblock_time_ms = 250\n";
    std::fs::write(&path, original).unwrap();
    let config = path.to_str().unwrap();
    let sequencer = dev_address(3).to_string();

    // The key from the environment, as --help recommends.
    let out = zknode(
        &[
            "l1",
            "deploy",
            "--rpc",
            anvil.url(),
            "--config",
            config,
            "--trusted-sequencer",
            &sequencer,
        ],
        &[("ZKNODE_L1_KEY", DEV_KEYS[0])],
    );
    assert!(out.status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(original.trim_end()),
        "the rest is kept:\n{text}"
    );
    let (url, rollup, ger, block) = l1_section(&path);
    assert_eq!(url, anvil.url());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&rollup.to_string()));

    let p = anvil.provider(5);
    let r = ZkEvmRollup::new(rollup, &p);
    assert_eq!(r.chainID().call().await.unwrap(), 1001);
    assert_eq!(r.forkID().call().await.unwrap(), 12);
    assert_eq!(r.globalExitRootManager().call().await.unwrap(), ger);
    assert_eq!(r.trustedSequencer().call().await.unwrap(), dev_address(3));
    assert_eq!(r.trustedAggregator().call().await.unwrap(), dev_address(0));
    assert_eq!(r.admin().call().await.unwrap(), dev_address(0));
    assert_eq!(
        r.batchNumToStateRoot(0).call().await.unwrap(),
        dev_genesis_root(),
        "batch 0 is the genesis zknode run writes"
    );
    let g = GlobalExitRootManager::new(ger, &p);
    assert_eq!(g.rollupAddress().call().await.unwrap(), rollup);
    assert_eq!(g.bridgeAddress().call().await.unwrap(), dev_address(0));
    assert!(block >= 1);

    // The node reads the file back.
    let out = zknode(&["config", "show", "--config", config], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("deploy_block"));

    // Again with another chain id: new contracts, the section rewritten (not repeated), and
    // the file's chain_id follows.
    let out = zknode(
        &[
            "l1",
            "deploy",
            "--rpc",
            anvil.url(),
            "--key",
            DEV_KEYS[1],
            "--config",
            config,
            "--chain-id",
            "77",
        ],
        &[],
    );
    assert!(out.status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("[l1]").count(), 1, "{text}");
    assert!(text.contains("chain_id = 77"), "{text}");
    assert!(
        text.contains("# fast blocks\nblock_time_ms = 250"),
        "{text}"
    );
    let (_, rollup2, _, block2) = l1_section(&path);
    assert_ne!(rollup2, rollup);
    assert!(block2 > block);
    let r2 = ZkEvmRollup::new(rollup2, &p);
    assert_eq!(r2.chainID().call().await.unwrap(), 77);
    assert_eq!(r2.admin().call().await.unwrap(), dev_address(1));

    // Without --config the section goes to stdout, and a new file is created when missing.
    let out = zknode(
        &["l1", "deploy", "--rpc", anvil.url(), "--key", DEV_KEYS[2]],
        &[],
    );
    assert!(out.status.success());
    let printed: toml::Table = String::from_utf8_lossy(&out.stdout).parse().unwrap();
    assert!(printed["l1"]["rollup"].as_str().is_some());
    let fresh = dir.path().join("fresh.toml");
    let out = zknode(
        &[
            "l1",
            "deploy",
            "--rpc",
            anvil.url(),
            "--key",
            DEV_KEYS[2],
            "--config",
            fresh.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success());
    l1_section(&fresh);
}

#[test]
fn bad_input_is_reported() {
    let anvil_free = "http://127.0.0.1:9"; // nothing listens there
    let out = zknode(
        &["l1", "deploy", "--rpc", anvil_free, "--key", "0x1234"],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("private key"));
    let out = zknode(
        &[
            "l1",
            "deploy",
            "--rpc",
            "https://example.org",
            "--key",
            DEV_KEYS[0],
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only http://"));
    let out = zknode(
        &["l1", "deploy", "--rpc", anvil_free, "--key", DEV_KEYS[0]],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("deploying on"));
    let out = zknode(&["l1", "deploy", "--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--rpc",
        "--key",
        "ZKNODE_L1_KEY",
        "--config",
        "--chain-id",
        "--trusted-sequencer",
    ] {
        assert!(help.contains(flag), "{flag} in\n{help}");
    }
}
