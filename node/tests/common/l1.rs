//! The L1 side of the end-to-end tests: anvil with a block a second, the rollup deployed into a
//! node config by `zknode l1 deploy` (development account 0 the admin, account 1 the trusted
//! sequencer), the configs of a trusted and a permissionless node, and the L2 transactions the
//! tests send.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use zknode_l1::testing::{dev_address, Anvil, DEV_KEYS};

use super::{Node, CHAIN_ID, GWEI};

/// The `[l1.*]` tables of a test node: fast polling, one confirmation, the `latest` L1 tags.
pub const FAST_L1: &str = "[l1.tx_manager]\npoll_interval_ms = 200\nconfirmations = 1\n\n\
     [l1.sequence_sender]\npoll_interval_ms = 200\nl1_info_block = \"latest\"\n\n\
     [l1.sync]\nhead = \"latest\"\ninterval_ms = 200\nchunk_size = 7\n";

/// The trusted sequencer's L1 key (development account 1).
pub fn sequencer_key() -> &'static str {
    DEV_KEYS[1]
}

/// Starts anvil (a block a second), writes a trusted node's config to `config` (`top`, then
/// `[l1]` with the sequencer key, then [`FAST_L1`]) and deploys the rollup into it with
/// `zknode l1 deploy`. Returns anvil and the config as deployed.
pub fn deploy(config: &Path, top: &str) -> (Anvil, toml::Table) {
    let anvil = Anvil::start_with(&["--block-time", "1"]).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        config,
        format!(
            "{top}\n\n[l1]\nsequencer_key = \"{}\"\n\n{FAST_L1}",
            sequencer_key()
        ),
    )
    .unwrap();
    let deploy = std::process::Command::new(env!("CARGO_BIN_EXE_zknode"))
        .args(["l1", "deploy", "--rpc", anvil.url(), "--config"])
        .arg(config)
        .args(["--trusted-sequencer", &dev_address(1).to_string()])
        .env("ZKNODE_L1_KEY", DEV_KEYS[0])
        .output()
        .unwrap();
    assert!(
        deploy.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    let t: toml::Table = std::fs::read_to_string(config).unwrap().parse().unwrap();
    (anvil, t)
}

/// An address the deployed config names (`rollup`, `global_exit_root_manager`).
pub fn address(t: &toml::Table, key: &str) -> Address {
    t["l1"][key].as_str().unwrap().parse().unwrap()
}

/// Writes a permissionless node's config (`rpc` and `synchronizer`, the same L1 contracts as
/// the deployed `t`, transactions relayed to `sequencer_url`) to `path`.
pub fn permissionless_config(path: &Path, t: &toml::Table, sequencer_url: &str) {
    std::fs::write(
        path,
        format!(
            "components = [\"rpc\", \"synchronizer\"]\n\n\
             [rpc]\nsequencer_url = \"{sequencer_url}\"\n\n\
             [l1]\nrpc_url = \"{}\"\nrollup = \"{}\"\nglobal_exit_root_manager = \"{}\"\n\
             deploy_block = {}\n\n{FAST_L1}",
            t["l1"]["rpc_url"].as_str().unwrap(),
            address(t, "rollup"),
            address(t, "global_exit_root_manager"),
            t["l1"]["deploy_block"].as_integer().unwrap(),
        ),
    )
    .unwrap();
}

/// A legacy L2 transaction from `key`: a transfer of 1 wei to `to`, or (`None`) the deployment
/// of a contract whose constructor emits a log (PUSH1 0 PUSH1 0 LOG0 STOP).
pub fn signed(key: &PrivateKeySigner, nonce: u64, to: Option<Address>) -> Bytes {
    let tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: GWEI,
        gas_limit: if to.is_some() { 21_000 } else { 100_000 },
        to: to.map_or(TxKind::Create, TxKind::Call),
        value: U256::from(u8::from(to.is_some())),
        input: if to.is_some() {
            Bytes::new()
        } else {
            Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xa0, 0x00])
        },
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    env.encoded_2718().into()
}

/// Polls `f` every 250 ms until it holds, at most `secs` seconds; the failure shows `node`'s
/// log.
pub async fn wait<F, Fut>(what: &str, secs: u64, node: &Node, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {secs} s; the node's log:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Sends `raw` and waits (bounded) for its receipt; the receipt's block number.
pub async fn included<P: Provider>(l2: &P, raw: &Bytes) -> u64 {
    let hash = *l2.send_raw_transaction(raw).await.unwrap().tx_hash();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = l2.get_transaction_receipt(hash).await.unwrap() {
            return r.block_number.unwrap();
        }
        assert!(Instant::now() < deadline, "no receipt for {hash}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The batch of L2 block `block` (zkevm_batchNumberByBlockNumber).
pub async fn batch_of<P: Provider>(l2: &P, block: u64) -> u64 {
    let batch: String = l2
        .raw_request(
            "zkevm_batchNumberByBlockNumber".into(),
            (format!("{block:#x}"),),
        )
        .await
        .unwrap();
    u64::from_str_radix(batch.trim_start_matches("0x"), 16).unwrap()
}

/// Blocks `0..=last` of `a` and `b` have the same hash and state root.
pub async fn assert_same_blocks<A: Provider, B: Provider>(a: &A, b: &B, last: u64) {
    for n in 0..=last {
        let x = a.get_block_by_number(n.into()).await.unwrap().unwrap();
        let y = b.get_block_by_number(n.into()).await.unwrap().unwrap();
        assert_eq!(x.header.hash, y.header.hash, "block {n}");
        assert_eq!(x.header.state_root, y.header.state_root, "block {n}");
    }
}
