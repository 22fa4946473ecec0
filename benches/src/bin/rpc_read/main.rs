//! A JSON-RPC read benchmark: the same read requests against one or more nodes, side by side.
//!
//! `rpc_read fixture` builds the chain the reads look at, through JSON-RPC, on a fresh chain
//! whose development account 0 is funded (zknode's development genesis, anvil's default
//! accounts): `--funded` plain transfers to fresh accounts, the ERC-20 of `contracts/Token.sol`,
//! then `--transfers` token transfers to fresh holders. It sends one transaction at a time and
//! waits for its receipt, and checks that each landed in the block after the last one, so that
//! every block holds exactly one transaction on every node: the same content everywhere. It
//! writes what the reads need (token, accounts and their balances, head) to a JSON file.
//!
//! `rpc_read bench` then measures, one method at a time and one target after the other, a
//! closed loop of `--connections` HTTP/1.1 keep-alive connections (hyper, one connection per
//! task; each sends its next request as soon as the last answer is read) for `--duration-s`
//! seconds after `--warmup-s` seconds of warm-up:
//! - `eth_blockNumber`;
//! - `eth_getBalance` of a random funded account at `latest`;
//! - `eth_call` of `balanceOf(holder)` on the token at `latest`, a random holder;
//! - `eth_getLogs` of the token's `Transfer` topic over the last `--logs-range` blocks.
//!
//! Every request body is prepared, sent once and its answer checked (the balance, the block
//! number, the number and place of the logs) before the clock starts. During the run each
//! answer must be HTTP 200 with exactly the bytes of that checked answer; anything else is an
//! error, counted and reported, and a run with errors says so and exits with status 2. It
//! reports requests per second (answers completed inside the timed window over its length),
//! latency p50, p99 and max, and the CPU used by the load generator, by each server (with
//! `--pid`) and by the whole machine during the window.
//!
//! ```sh
//! rpc_read fixture --url http://127.0.0.1:8545 --out zknode.json
//! rpc_read bench --target zknode=zknode.json --target anvil=anvil.json --connections 16
//! ```
//! `benches/rpc_read.sh` runs both against a fresh zknode and a fresh anvil.

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{keccak256, Address, TxKind, B256, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use bytes::Bytes;
use clap::{Args as ClapArgs, Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

mod fixture;
mod load;

use fixture::fixture;
use load::bench;

/// The development account 0 (the public "test test ... junk" mnemonic; development only).
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// `keccak256("Transfer(address,address,uint256)")`.
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// `balanceOf(address)`.
const BALANCE_OF: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];

/// `transfer(address,uint256)`.
const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

const METHODS: [&str; 4] = [
    "eth_blockNumber",
    "eth_getBalance",
    "eth_call",
    "eth_getLogs",
];

#[derive(Parser, Debug)]
#[command(about = "JSON-RPC read benchmark: builds a fixture chain, then measures reads")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Builds the chain the reads look at and writes its description to --out.
    Fixture(FixtureArgs),
    /// Measures the reads against each --target.
    Bench(BenchArgs),
}

#[derive(ClapArgs, Debug)]
struct FixtureArgs {
    /// The node's JSON-RPC address.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    url: String,
    /// Where to write the fixture's description (JSON).
    #[arg(long)]
    out: String,
    /// The funded key that sends everything.
    #[arg(long, default_value = DEV_KEY)]
    key: String,
    /// The chain id the node must report (transactions are signed for it).
    #[arg(long, default_value_t = 1001)]
    chain_id: u64,
    /// Fresh accounts paid with a plain transfer each (the eth_getBalance accounts).
    #[arg(long, default_value_t = 1_000)]
    funded: usize,
    /// Token transfers to fresh holders, one block each (the eth_call holders, the logs).
    #[arg(long, default_value_t = 10_000)]
    transfers: usize,
    /// Gas price of every transaction, in wei.
    #[arg(long, default_value_t = 1_000_000_000)]
    gas_price: u128,
    /// Give up when one transaction has no receipt this many seconds after it was sent.
    #[arg(long, default_value_t = 30)]
    receipt_timeout_s: u64,
    /// Another node's fixture (same --funded and --transfers, same starting block) whose block
    /// layout to copy: empty blocks where it has them (`evm_mine`, anvil's), and each
    /// transaction in the block it has it in. The node must make one block per transaction.
    #[arg(long)]
    mirror: Option<String>,
}

#[derive(ClapArgs, Debug)]
struct BenchArgs {
    /// NAME=FIXTURE.json (repeatable): a node and the fixture `rpc_read fixture` wrote for it.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// NAME=PID (repeatable): the server process of target NAME, whose CPU time is reported.
    #[arg(long = "pid")]
    pids: Vec<String>,
    /// Comma-separated methods, in the order they are measured.
    #[arg(
        long,
        default_value = "eth_blockNumber,eth_getBalance,eth_call,eth_getLogs"
    )]
    methods: String,
    /// Concurrent keep-alive connections (closed loop: one request in flight on each).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Timed seconds per method and target.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Untimed seconds before each timed window (same load).
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    /// Idle seconds between two measurements.
    #[arg(long, default_value_t = 1.0)]
    pause_s: f64,
    /// Different eth_getBalance and eth_call bodies (accounts spread over the fixture's).
    #[arg(long, default_value_t = 1_000)]
    bodies: usize,
    /// eth_getLogs asks for the logs of the last this many blocks: [head - N + 1, head].
    #[arg(long, default_value_t = 10_000)]
    logs_range: u64,
    /// A request without an answer after this many seconds is an error.
    #[arg(long, default_value_t = 30.0)]
    request_timeout_s: f64,
    /// Worker threads of the load generator's runtime (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Measure everything this many times (one table per round).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
}

fn parse_u64(v: &Value, what: &str) -> Result<u64, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{what}: expected a hex quantity, got {v}"))?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{what} {s:?}: {e}"))
}

fn parse_u256(v: &Value, what: &str) -> Result<U256, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{what}: expected a hex string, got {v}"))?;
    let digits = s.trim_start_matches("0x");
    if digits.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(digits, 16).map_err(|e| format!("{what} {s:?}: {e}"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.cmd {
        Cmd::Bench(a) => a.threads,
        Cmd::Fixture(_) => 1,
    };
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("a tokio runtime");
    let r = rt.block_on(async move {
        match cli.cmd {
            Cmd::Fixture(a) => fixture(a).await.map(|()| true),
            Cmd::Bench(a) => bench(a).await,
        }
    });
    match r {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("rpc_read: THE RUN HAD ERRORS (see the lines marked !!! above)");
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("rpc_read: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
