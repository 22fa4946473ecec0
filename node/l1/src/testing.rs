//! An anvil (Foundry's development L1) on loopback, for tests: this crate's and those of crates
//! that enable the `testing` feature (`zknode-l1 = { workspace = true, features = ["testing"] }`
//! in their dev-dependencies).
//!
//! anvil is looked for at `$ZKNODE_ANVIL`, then where `ci/install-deps.sh` installs it from npm
//! (`${ZKNODE_CACHE:-$HOME/.cache/zknode}/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`),
//! then on `PATH`. A missing anvil is an error that says to run `ci/install-deps.sh`: tests that
//! need an L1 fail rather than skip.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;

/// The private keys of anvil's ten funded accounts (the public "test test ... junk" mnemonic;
/// development only).
pub const DEV_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// Tries at free ports before giving up.
const START_ATTEMPTS: usize = 5;
/// How long one attempt waits for anvil's JSON-RPC.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The most output of anvil kept for an error message.
const LOG_KEEP: usize = 16 << 10;

/// Why no anvil could be started.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    #[error(
        "anvil not found (looked at {looked}); run ci/install-deps.sh, which installs it from \
         npm (@foundry-rs/anvil-linux-amd64), or set ZKNODE_ANVIL to its path"
    )]
    NotFound { looked: String },
    #[error("starting {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} did not answer JSON-RPC after {attempts} attempts; its last output:\n{log}")]
    NotReady {
        path: PathBuf,
        attempts: usize,
        log: String,
    },
}

/// The anvil binary: `$ZKNODE_ANVIL`, the npm install under the cache, or `anvil` on `PATH`.
pub fn anvil_path() -> Result<PathBuf, AnvilError> {
    let mut looked = Vec::new();
    if let Some(p) = std::env::var_os("ZKNODE_ANVIL") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        looked.push(format!("$ZKNODE_ANVIL={}", p.display()));
    }
    let cache = std::env::var_os("ZKNODE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/zknode")));
    if let Some(cache) = cache {
        let p = cache.join("anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        if p.is_file() {
            return Ok(p);
        }
        looked.push(p.display().to_string());
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(p) = std::env::split_paths(&path)
            .map(|d| d.join("anvil"))
            .find(|p| p.is_file())
        {
            return Ok(p);
        }
    }
    looked.push("anvil on PATH".into());
    Err(AnvilError::NotFound {
        looked: looked.join(", "),
    })
}

/// The signer of development account `i` (0..10).
pub fn dev_signer(i: usize) -> PrivateKeySigner {
    DEV_KEYS[i % DEV_KEYS.len()]
        .parse()
        .expect("the development keys are valid")
}

/// The address of development account `i`.
pub fn dev_address(i: usize) -> Address {
    dev_signer(i).address()
}

/// Ports this process has handed to an anvil, so that two tests running at once never pick the
/// same one.
static USED_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn free_port() -> Option<u16> {
    for _ in 0..20 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut used = USED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if used.get_or_insert_with(HashSet::new).insert(port) {
            return Some(port);
        }
    }
    None
}

/// A running anvil; killed when dropped.
pub struct Anvil {
    child: Child,
    port: u16,
    url: String,
    log: Arc<Mutex<String>>,
}

impl std::fmt::Debug for Anvil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anvil").field("url", &self.url).finish()
    }
}

impl Anvil {
    /// Starts anvil with its defaults (chain id 31337, ten funded accounts, a block per
    /// transaction).
    pub fn start() -> Result<Anvil, AnvilError> {
        Self::start_with(&[])
    }

    /// Starts anvil with `args` added (e.g. `["--timestamp", "1944498031"]`), on 127.0.0.1 and a
    /// free port; tries another port when the one picked was taken.
    pub fn start_with(args: &[&str]) -> Result<Anvil, AnvilError> {
        let path = anvil_path()?;
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let Some(port) = free_port() else {
                continue;
            };
            let mut child = Command::new(&path)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                // Anvil otherwise writes every state older than its in-memory window to
                // ~/.foundry/anvil/tmp as JSON and never removes it when killed: gigabytes
                // per long run. Tests only read recent state.
                .args(["--max-persisted-states", "0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| AnvilError::Spawn {
                    path: path.clone(),
                    source,
                })?;
            let log = Arc::new(Mutex::new(String::new()));
            if let Some(out) = child.stdout.take() {
                drain(out, log.clone());
            }
            if let Some(err) = child.stderr.take() {
                drain(err, log.clone());
            }
            let mut anvil = Anvil {
                child,
                port,
                url: format!("http://127.0.0.1:{port}"),
                log,
            };
            if anvil.wait_ready() {
                return Ok(anvil);
            }
            last_log = anvil.log();
            // Dropping it kills it; the next attempt takes another port.
        }
        Err(AnvilError::NotReady {
            path,
            attempts: START_ATTEMPTS,
            log: last_log,
        })
    }

    /// Waits, a bounded time, until anvil answers `eth_chainId`; false when it exits or does
    /// not answer in time.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if answers_json_rpc(self.port) {
                // Still ours: an anvil that lost the port to another process exits.
                std::thread::sleep(Duration::from_millis(20));
                return matches!(self.child.try_wait(), Ok(None));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What anvil printed so far (the last 16 KiB).
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// A provider that signs with development account `i`.
    pub fn provider(&self, i: usize) -> DynProvider {
        crate::connect(&self.url, dev_signer(i)).expect("anvil's URL is plain http")
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps the last `LOG_KEEP` bytes of `from` in `log`, on a thread of its own (so that anvil
/// never blocks on a full pipe).
fn drain(mut from: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut l) = log.lock() {
                l.push_str(&String::from_utf8_lossy(&buf[..n]));
                if l.len() > 2 * LOG_KEEP {
                    let mut cut = l.len() - LOG_KEEP;
                    while !l.is_char_boundary(cut) {
                        cut += 1;
                    }
                    l.drain(..cut);
                }
            }
        }
    });
}

/// Whether something on `port` answers a JSON-RPC `eth_chainId` over HTTP.
fn answers_json_rpc(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.set_read_timeout(Some(Duration::from_secs(2))).is_err()
        || s.write_all(req.as_bytes()).is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.contains("\"result\"")
}

/// `sequenceBatches`' arguments for normal `batches` (no forced ones): the L1 info root after
/// `leaf_count` leaves, the latest L1 block's timestamp as `maxSequenceTimestamp`, and the
/// accInputHash chained from the rollup's `lastAccInputHash` as the contract chains it (the
/// expected final one). Returns (batches, leaf count, max timestamp, final accInputHash,
/// coinbase) in the call's order.
pub async fn sequence_args(
    provider: &DynProvider,
    rollup: Address,
    global_exit_root_manager: Address,
    batches: &[alloy::primitives::Bytes],
    leaf_count: u32,
    coinbase: Address,
) -> Result<SequenceArgs, String> {
    use alloy::primitives::B256;
    use alloy::providers::Provider;
    use zknode_executor::hashes::{acc_input_hash, batch_hash_data, AccInput};

    use crate::bindings::{GlobalExitRootManager, ZkEvmRollup};
    let mut acc = ZkEvmRollup::new(rollup, provider)
        .lastAccInputHash()
        .call()
        .await
        .map_err(|e| format!("lastAccInputHash: {e}"))?;
    let root = GlobalExitRootManager::new(global_exit_root_manager, provider)
        .l1InfoRootMap(leaf_count)
        .call()
        .await
        .map_err(|e| format!("l1InfoRootMap({leaf_count}): {e}"))?;
    let n = provider
        .get_block_number()
        .await
        .map_err(|e| format!("L1 block number: {e}"))?;
    let ts = provider
        .get_block_by_number(n.into())
        .await
        .map_err(|e| format!("L1 block {n}: {e}"))?
        .ok_or_else(|| format!("L1 has no block {n}"))?
        .header
        .timestamp;
    for b in batches {
        acc = acc_input_hash(&AccInput {
            old_acc_input_hash: acc,
            batch_hash_data: batch_hash_data(b),
            l1_info_root: root,
            timestamp_limit: ts,
            sequencer: coinbase,
            forced_block_hash_l1: B256::ZERO,
        });
    }
    let data = batches
        .iter()
        .map(|b| crate::bindings::ZkEvmRollup::BatchData {
            transactions: b.clone(),
            forcedGlobalExitRoot: B256::ZERO,
            forcedTimestamp: 0,
            forcedBlockHashL1: B256::ZERO,
        })
        .collect();
    Ok((data, leaf_count, ts, acc, coinbase))
}

/// What [`sequence_args`] returns.
pub type SequenceArgs = (
    Vec<crate::bindings::ZkEvmRollup::BatchData>,
    u32,
    u64,
    alloy::primitives::B256,
    Address,
);
