//! A `zknode run` process on loopback, for the end-to-end tests.

#![allow(dead_code)]

pub mod l1;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The development account 0 (the "test test ... junk" mnemonic; public, development only).
pub const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Development account 1.
pub const DEV_KEY_1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub const CHAIN_ID: u64 = 1001;
pub const GWEI: u128 = 1_000_000_000;

const WS: u8 = 0;
const HTTP: u8 = 1;
const METRICS: u8 = 2;

/// A running node; killed when dropped.
pub struct Node {
    pub child: Child,
    pub url: String,
    /// Its WebSocket endpoint (`ws://…`).
    pub ws_url: String,
    pub data_dir: PathBuf,
    /// Where its stderr goes.
    pub log: PathBuf,
    /// The endpoint lines it prints after JSON-RPC's (the metrics endpoint's).
    lines: std::sync::mpsc::Receiver<(u8, String)>,
    metrics_url: std::sync::OnceLock<String>,
}

impl Node {
    /// Starts `zknode run` on `data_dir` with `extra` arguments and waits for its JSON-RPC.
    pub fn start(data_dir: &Path, database_url: Option<&str>, extra: &[&str]) -> Node {
        let log = data_dir.with_extension(format!("log{}", std::process::id()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zknode"));
        cmd.arg("run")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--rpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
            .args(["--ws-addr", "127.0.0.1:0"])
            .args(["--set", "sequencer.block_time_ms=200"])
            .args(["--set", "sequencer.empty_block_interval_ms=0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        let mut child = cmd.spawn().expect("starting zknode");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(u) = line.strip_prefix("zknode: WebSocket on ") {
                    let _ = tx.send((WS, u.to_string()));
                }
                if let Some(u) = line.strip_prefix("zknode: JSON-RPC on ") {
                    let _ = tx.send((HTTP, u.to_string()));
                }
                if let Some(u) = line.strip_prefix("zknode: metrics on ") {
                    let _ = tx.send((METRICS, u.to_string()));
                }
            }
        });
        // The WebSocket line comes first, when WebSocket is on.
        let mut ws_url = String::new();
        let url = loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok((WS, u)) => ws_url = u,
                Ok((HTTP, u)) => break u,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "zknode did not start its JSON-RPC within 60 s; its log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        };
        Node {
            child,
            url,
            ws_url,
            data_dir: data_dir.to_path_buf(),
            log,
            lines: rx,
            metrics_url: std::sync::OnceLock::new(),
        }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(Instant::now() < deadline, "zknode did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its metrics endpoint (`http://…/metrics`), once printed (waits at most 30 s).
    pub fn metrics_url(&self) -> String {
        if let Some(u) = self.metrics_url.get() {
            return u.clone();
        }
        let u = self.read_metrics_url();
        self.metrics_url.get_or_init(|| u).clone()
    }

    fn read_metrics_url(&self) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok((METRICS, u)) => return u,
                Ok(_) => {}
                Err(_) => panic!(
                    "zknode printed no metrics endpoint; its log:\n{}",
                    self.log_text()
                ),
            }
        }
    }

    /// Its metrics, as text.
    pub async fn metrics(&self) -> String {
        let url = self.metrics_url();
        alloy::transports::http::reqwest::get(&url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON-RPC call through alloy's client: the result, or the error's code and message.
pub async fn call<P: alloy::providers::Provider>(
    p: &P,
    method: &'static str,
    params: serde_json::Value,
) -> Result<serde_json::Value, (i64, String)> {
    match p
        .client()
        .request::<_, serde_json::Value>(method, params)
        .await
    {
        Ok(v) => Ok(v),
        Err(alloy::transports::RpcError::ErrorResp(e)) => Err((e.code, e.message.to_string())),
        Err(e) => panic!("{method}: {e}"),
    }
}
