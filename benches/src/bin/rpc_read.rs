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

// ---------------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------------

/// A signed legacy (EIP-155) transaction: its bytes and hash.
#[allow(clippy::too_many_arguments)]
fn sign(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: TxKind,
    value: U256,
    gas_limit: u64,
    gas_price: u128,
    input: Vec<u8>,
) -> (alloy::primitives::Bytes, B256) {
    let tx = TxLegacy {
        chain_id: Some(chain_id),
        nonce,
        gas_price,
        gas_limit,
        to,
        value,
        input: input.into(),
    };
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .expect("signing a hash");
    let env: TxEnvelope = tx.into_signed(sig).into();
    (env.encoded_2718().into(), *env.tx_hash())
}

/// Account `i` of a kind: a fresh address nobody holds the key of.
fn account(kind: &str, i: usize) -> Address {
    let mut seed = format!("zknode rpc_read {kind} ").into_bytes();
    seed.extend_from_slice(&(i as u64).to_be_bytes());
    Address::from_slice(&keccak256(seed)[12..])
}

/// What account `i` is paid: distinct amounts, so a wrong account's balance shows.
fn funded_value(i: usize) -> U256 {
    U256::from(1_000_000_000_000_000u128 + i as u128)
}

/// The tokens holder `i` is sent.
fn holder_amount(i: usize) -> U256 {
    U256::from(1_000 + i as u128)
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

/// The ERC-20's creation code with its constructor argument (the total supply).
fn token_creation(supply: U256) -> Result<Vec<u8>, String> {
    let art: Value = serde_json::from_str(include_str!("../../../contracts/artifacts/Token.json"))
        .map_err(|e| format!("Token.json: {e}"))?;
    let hex = art["bytecode"]
        .as_str()
        .ok_or("Token.json has no bytecode")?
        .trim_start_matches("0x");
    let mut code = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| format!("Token.json bytecode: {e}"))?;
    code.extend_from_slice(&supply.to_be_bytes::<32>());
    Ok(code)
}

/// Sends the fixture's transactions one at a time and follows the blocks they land in.
struct Builder {
    p: RootProvider,
    timeout: Duration,
    /// The last block seen.
    block: u64,
    /// The block each transaction landed in, in sending order.
    tx_blocks: Vec<u64>,
    /// Blocks that hold none of the fixture's transactions (checked to hold none at all).
    empty_blocks: Vec<u64>,
    /// With --mirror: the block each transaction must land in, from the other node's fixture.
    mirror: Option<Vec<u64>>,
}

impl Builder {
    /// Sends one transaction and waits (bounded) for its receipt, which must say success.
    /// Mirroring, it first mines empty blocks (`evm_mine`) up to the block before the one the
    /// other node put this transaction in, and checks it lands there.
    async fn land(
        &mut self,
        (raw, hash): (alloy::primitives::Bytes, B256),
    ) -> Result<Value, String> {
        let want = match &self.mirror {
            Some(m) => Some(*m.get(self.tx_blocks.len()).ok_or_else(|| {
                format!("the mirrored fixture has only {} transactions", m.len())
            })?),
            None => None,
        };
        if let Some(want) = want {
            while self.block + 1 < want {
                let _: Value = self
                    .p
                    .client()
                    .request("evm_mine", ())
                    .await
                    .map_err(|e| format!("evm_mine: {e}"))?;
                self.block += 1;
                let head = self.p.get_block_number().await.map_err(|e| e.to_string())?;
                if head != self.block {
                    return Err(format!("evm_mine: head {head}, expected {}", self.block));
                }
                self.empty_blocks.push(self.block);
            }
        }
        let h: B256 = self
            .p
            .client()
            .request("eth_sendRawTransaction", (raw,))
            .await
            .map_err(|e| format!("sending {hash}: {e}"))?;
        if h != hash {
            return Err(format!("the node answered hash {h} for {hash}"));
        }
        let deadline = Instant::now() + self.timeout;
        let receipt = loop {
            let r: Option<Value> = self
                .p
                .client()
                .request("eth_getTransactionReceipt", (hash,))
                .await
                .map_err(|e| format!("eth_getTransactionReceipt({hash}): {e}"))?;
            if let Some(r) = r {
                break r;
            }
            if Instant::now() > deadline {
                return Err(format!("no receipt for {hash} after {:?}", self.timeout));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if receipt["status"] != "0x1" {
            return Err(format!("{hash} failed: {receipt}"));
        }
        let block = parse_u64(&receipt["blockNumber"], "receipt blockNumber")?;
        if want.is_some_and(|w| w != block) || block <= self.block {
            return Err(format!(
                "{hash} landed in block {block} (the last block seen was {}, the mirrored \
                 fixture has it in {want:?}): the fixture needs one block per transaction",
                self.block
            ));
        }
        // Blocks between the last transaction's and this one: made by the node on its own.
        for n in self.block + 1..block {
            let b: Option<Value> = self
                .p
                .client()
                .request("eth_getBlockByNumber", (format!("{n:#x}"), false))
                .await
                .map_err(|e| format!("eth_getBlockByNumber({n}): {e}"))?;
            let txs = b.as_ref().and_then(|b| b["transactions"].as_array());
            if !txs.is_some_and(|t| t.is_empty()) {
                return Err(format!(
                    "block {n} between the fixture's transactions is not empty: {b:?}"
                ));
            }
            self.empty_blocks.push(n);
        }
        self.block = block;
        self.tx_blocks.push(block);
        Ok(receipt)
    }
}

async fn fixture(a: FixtureArgs) -> Result<(), String> {
    let url = a.url.parse().map_err(|e| format!("--url: {e}"))?;
    let p: RootProvider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(url);
    let chain_id = p.get_chain_id().await.map_err(|e| e.to_string())?;
    if chain_id != a.chain_id {
        return Err(format!(
            "the node's chain id is {chain_id}, --chain-id says {}",
            a.chain_id
        ));
    }
    let key: PrivateKeySigner = a.key.parse().map_err(|e| format!("--key: {e}"))?;
    let mut nonce = p
        .get_transaction_count(key.address())
        .await
        .map_err(|e| e.to_string())?;
    let block = p.get_block_number().await.map_err(|e| e.to_string())?;
    let mirror = match &a.mirror {
        None => None,
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
            let m: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
            let same = m["start_block"] == block
                && m["funded"].as_array().map(Vec::len) == Some(a.funded)
                && m["holders"].as_array().map(Vec::len) == Some(a.transfers);
            if !same {
                return Err(format!(
                    "--mirror {file}: made from block {} with other --funded or --transfers",
                    m["start_block"]
                ));
            }
            Some(
                serde_json::from_value::<Vec<u64>>(m["tx_blocks"].clone())
                    .map_err(|e| format!("{file}: tx_blocks: {e}"))?,
            )
        }
    };
    let mut b = Builder {
        p: p.clone(),
        timeout: Duration::from_secs(a.receipt_timeout_s),
        block,
        tx_blocks: Vec::new(),
        empty_blocks: Vec::new(),
        mirror,
    };
    let started = Instant::now();
    let price = a.gas_price;

    let mut funded = Vec::with_capacity(a.funded);
    for i in 0..a.funded {
        let to = account("funded", i);
        let tx = sign(
            &key,
            chain_id,
            nonce,
            TxKind::Call(to),
            funded_value(i),
            21_000,
            price,
            Vec::new(),
        );
        b.land(tx).await?;
        nonce += 1;
        funded.push(json!([to, format!("{:#x}", funded_value(i))]));
    }
    println!(
        "{}: {} funded accounts, blocks up to {}, {:.1} s",
        a.url,
        a.funded,
        b.block,
        started.elapsed().as_secs_f64()
    );

    let supply = U256::from(10u64).pow(U256::from(27u64));
    let deploy = sign(
        &key,
        chain_id,
        nonce,
        TxKind::Create,
        U256::ZERO,
        1_000_000,
        price,
        token_creation(supply)?,
    );
    let receipt = b.land(deploy).await?;
    nonce += 1;
    let token: Address = serde_json::from_value(receipt["contractAddress"].clone())
        .map_err(|e| format!("the deployment's contractAddress: {e}: {receipt}"))?;
    let deploy_block = b.block;

    let mut holders = Vec::with_capacity(a.transfers);
    for i in 0..a.transfers {
        let to = account("holder", i);
        let mut input = TRANSFER.to_vec();
        input.extend_from_slice(&[0; 12]);
        input.extend_from_slice(to.as_slice());
        input.extend_from_slice(&holder_amount(i).to_be_bytes::<32>());
        let tx = sign(
            &key,
            chain_id,
            nonce,
            TxKind::Call(token),
            U256::ZERO,
            100_000,
            price,
            input,
        );
        b.land(tx).await?;
        nonce += 1;
        holders.push(json!([to, format!("{:#x}", holder_amount(i))]));
        if (i + 1) % 2_000 == 0 {
            println!(
                "{}: {} token transfers, block {}, {:.1} s",
                a.url,
                i + 1,
                b.block,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let head = p.get_block_number().await.map_err(|e| e.to_string())?;
    if head != b.block {
        return Err(format!(
            "the head is block {head} after the last transfer's block {}: the node made \
             blocks of its own",
            b.block
        ));
    }
    let out = json!({
        "url": a.url,
        "chain_id": chain_id,
        "token": token,
        "start_block": block,
        "deploy_block": deploy_block,
        "head": head,
        "funded": funded,
        "holders": holders,
        "transfer_blocks": &b.tx_blocks[a.funded + 1..],
        "tx_blocks": b.tx_blocks,
        "empty_blocks": b.empty_blocks,
    });
    std::fs::write(&a.out, serde_json::to_string(&out).expect("json"))
        .map_err(|e| format!("{}: {e}", a.out))?;
    println!(
        "{}: fixture ready in {:.1} s: token {token} (block {deploy_block}), {} token transfers \
         in blocks {}..={head}, {} empty blocks{}; written to {}",
        a.url,
        started.elapsed().as_secs_f64(),
        a.transfers,
        deploy_block + 1,
        b.empty_blocks.len(),
        if a.mirror.is_some() {
            " (mined to mirror the other fixture)"
        } else {
            ""
        },
        a.out
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

/// Where a target listens.
#[derive(Clone)]
struct Endpoint {
    /// host:port, to connect to and for the Host header.
    authority: String,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Self, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url}: only http:// URLs"));
        }
        let auth = uri.authority().ok_or_else(|| format!("{url}: no host"))?;
        let authority = match auth.port_u16() {
            Some(_) => auth.to_string(),
            None => format!("{}:80", auth.host()),
        };
        Ok(Self {
            authority,
            path: uri.path().to_string(),
        })
    }
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    ep: Endpoint,
}

impl Conn {
    async fn open(ep: &Endpoint) -> Result<Self, String> {
        let stream = tokio::net::TcpStream::connect(&ep.authority)
            .await
            .map_err(|e| format!("connecting to {}: {e}", ep.authority))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {}: {e}", ep.authority))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            ep: ep.clone(),
        })
    }

    /// Posts `body`; the answer's body when the status is 200.
    async fn post(&mut self, body: Bytes) -> Result<Bytes, String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let req = hyper::Request::post(self.ep.path.as_str())
            .header(HOST, self.ep.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status != hyper::StatusCode::OK {
            return Err(format!("HTTP {status}: {}", snippet(&body)));
        }
        Ok(body)
    }
}

fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
    if b.len() > 300 {
        format!("{s}… ({} bytes)", b.len())
    } else {
        s
    }
}

/// A target's requests for one method, each with the answer checked before the run.
struct Requests {
    bodies: Vec<Bytes>,
    answers: Vec<Bytes>,
}

struct Target {
    name: String,
    ep: Endpoint,
    fixture: Value,
    pid: Option<u32>,
}

fn request(method: &str, params: Value) -> Bytes {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .expect("json")
        .into()
}

/// `n` of `all`, spread evenly.
fn spread(all: &[Value], n: usize) -> Vec<&Value> {
    let n = n.clamp(1, all.len().max(1));
    (0..n).filter_map(|i| all.get(i * all.len() / n)).collect()
}

fn field<'a>(f: &'a Value, name: &str) -> Result<&'a Value, String> {
    f.get(name)
        .ok_or_else(|| format!("the fixture has no {name:?}"))
}

/// The request bodies of `method` against target `t`, each sent once and its answer checked
/// on `conn`.
async fn prepare(
    t: &Target,
    method: &str,
    a: &BenchArgs,
    conn: &mut Conn,
) -> Result<Requests, String> {
    let f = &t.fixture;
    let head = field(f, "head")?
        .as_u64()
        .ok_or("the fixture's head is not a number")?;
    let token = field(f, "token")?
        .as_str()
        .ok_or("the fixture's token is not a string")?
        .to_lowercase();
    // (body, check of the result)
    type Check = Box<dyn Fn(&Value) -> Result<(), String>>;
    let mut cases: Vec<(Bytes, Check)> = Vec::new();
    match method {
        "eth_blockNumber" => cases.push((
            request(method, json!([])),
            Box::new(move |r| {
                let n = parse_u64(r, "eth_blockNumber")?;
                (n == head)
                    .then_some(())
                    .ok_or(format!("block number {n}, the fixture's head is {head}"))
            }),
        )),
        "eth_getBalance" => {
            let funded = field(f, "funded")?
                .as_array()
                .ok_or("the fixture's funded is not a list")?;
            for acc in spread(funded, a.bodies) {
                let want = parse_u256(&acc[1], "the fixture's balance")?;
                cases.push((
                    request(method, json!([acc[0], "latest"])),
                    Box::new(move |r| {
                        let got = parse_u256(r, "eth_getBalance")?;
                        (got == want)
                            .then_some(())
                            .ok_or(format!("balance {got}, expected {want}"))
                    }),
                ));
            }
        }
        "eth_call" => {
            let holders = field(f, "holders")?
                .as_array()
                .ok_or("the fixture's holders is not a list")?;
            for h in spread(holders, a.bodies) {
                let want = parse_u256(&h[1], "the fixture's token balance")?;
                let holder = h[0]
                    .as_str()
                    .ok_or("a holder is not a string")?
                    .trim_start_matches("0x");
                let hex4: String = BALANCE_OF.iter().map(|b| format!("{b:02x}")).collect();
                let data = format!("0x{hex4}{:0>64}", holder.to_lowercase());
                cases.push((
                    request(method, json!([{"to": token, "data": data}, "latest"])),
                    Box::new(move |r| {
                        let got = parse_u256(r, "eth_call")?;
                        (got == want)
                            .then_some(())
                            .ok_or(format!("balanceOf {got}, expected {want}"))
                    }),
                ));
            }
        }
        "eth_getLogs" => {
            let transfer_blocks: Vec<u64> =
                serde_json::from_value(field(f, "transfer_blocks")?.clone())
                    .map_err(|e| format!("the fixture's transfer_blocks: {e}"))?;
            let from = (head + 1).saturating_sub(a.logs_range.max(1));
            // One Transfer log in each token-transfer block of the range, in block order.
            let want: Vec<u64> = transfer_blocks
                .into_iter()
                .filter(|b| (from..=head).contains(b))
                .collect();
            println!(
                "{}: eth_getLogs over blocks {from}..={head}: {} logs expected",
                t.name,
                want.len()
            );
            let token_c = token.clone();
            cases.push((
                request(
                    method,
                    json!([{
                        "fromBlock": format!("{from:#x}"),
                        "toBlock": format!("{head:#x}"),
                        "address": token,
                        "topics": [TRANSFER_TOPIC],
                    }]),
                ),
                Box::new(move |r| {
                    let logs = r.as_array().ok_or("eth_getLogs: not a list")?;
                    if logs.len() != want.len() {
                        return Err(format!("{} logs, expected {}", logs.len(), want.len()));
                    }
                    for (i, (l, &wb)) in logs.iter().zip(&want).enumerate() {
                        let b = parse_u64(&l["blockNumber"], "a log's blockNumber")?;
                        let addr = l["address"].as_str().unwrap_or("").to_lowercase();
                        if b != wb || addr != token_c || l["topics"][0] != TRANSFER_TOPIC {
                            return Err(format!("log {i} is not the expected one: {l}"));
                        }
                    }
                    Ok(())
                }),
            ));
        }
        m => {
            return Err(format!(
                "unknown method {m:?} (known: {})",
                METHODS.join(", ")
            ))
        }
    }
    let mut bodies = Vec::with_capacity(cases.len());
    let mut answers = Vec::with_capacity(cases.len());
    for (body, check) in cases {
        let answer = conn
            .post(body.clone())
            .await
            .map_err(|e| format!("{} {method}: {e}", t.name))?;
        let v: Value = serde_json::from_slice(&answer)
            .map_err(|e| format!("{} {method}: {e}: {}", t.name, snippet(&answer)))?;
        let result = v.get("result").ok_or_else(|| {
            format!(
                "{} {method}: no result: {} (request {})",
                t.name,
                snippet(&answer),
                snippet(&body)
            )
        })?;
        check(result)
            .map_err(|e| format!("{} {method}: {e} (request {})", t.name, snippet(&body)))?;
        bodies.push(body);
        answers.push(answer);
    }
    Ok(Requests { bodies, answers })
}

/// CPU time (user + system) of a process, from /proc (Linux); `None` elsewhere.
fn proc_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name; the
    // kernel counts them in 1/100 s (USER_HZ).
    Some(Duration::from_millis((ticks(11) + ticks(12)) * 10))
}

/// The whole machine's (busy, total) CPU time in ticks, from /proc/stat.
fn machine_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

struct CpuMark {
    own: Option<Duration>,
    server: Option<Duration>,
    machine: Option<(u64, u64)>,
}

impl CpuMark {
    fn now(pid: Option<u32>) -> Self {
        Self {
            own: proc_cpu("self"),
            server: pid.and_then(|p| proc_cpu(&p.to_string())),
            machine: machine_cpu(),
        }
    }
}

/// What one connection saw.
#[derive(Default)]
struct ConnResult {
    /// Latencies of the answers completed inside the timed window.
    latencies: Vec<Duration>,
    errors: u64,
    samples: Vec<String>,
    bytes: u64,
}

impl ConnResult {
    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.samples.len() < 3 {
            self.samples.push(e);
        }
    }
}

/// A cheap random index (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

struct Measured {
    rate: f64,
    ok: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: u64,
    samples: Vec<String>,
    mb_per_s: f64,
    own_cpu: Option<f64>,
    server_cpu: Option<f64>,
    machine_cpu: Option<f64>,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn measure(t: &Target, reqs: &std::sync::Arc<Requests>, a: &BenchArgs) -> Measured {
    let t0 = Instant::now();
    let start = t0 + Duration::from_secs_f64(a.warmup_s);
    let window = Duration::from_secs_f64(a.duration_s);
    let end = start + window;
    let timeout = Duration::from_secs_f64(a.request_timeout_s);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..a.connections {
        let reqs = reqs.clone();
        let ep = t.ep.clone();
        tasks.spawn(async move {
            let mut out = ConnResult::default();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((k as u64 + 1) * 0x2545_F491_4F6C_DD1D));
            let mut conn: Option<Conn> = None;
            let n = reqs.bodies.len();
            while Instant::now() < end {
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => match Conn::open(&ep).await {
                        Ok(c) => conn.insert(c),
                        Err(e) => {
                            out.error(e);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let i = rng.below(n);
                let sent = Instant::now();
                let r = tokio::time::timeout(timeout, c.post(reqs.bodies[i].clone())).await;
                let done = Instant::now();
                match r {
                    Ok(Ok(answer)) if answer == reqs.answers[i] => {
                        if done >= start && done <= end {
                            out.latencies.push(done - sent);
                            out.bytes += answer.len() as u64;
                        }
                    }
                    Ok(Ok(answer)) => out.error(format!(
                        "an answer other than the checked one: {}",
                        snippet(&answer)
                    )),
                    Ok(Err(e)) => {
                        out.error(e);
                        conn = None;
                    }
                    Err(_) => {
                        out.error(format!("no answer within {timeout:?}"));
                        conn = None;
                    }
                }
            }
            out
        });
    }
    tokio::time::sleep_until(start.into()).await;
    let c0 = CpuMark::now(t.pid);
    tokio::time::sleep_until(end.into()).await;
    let c1 = CpuMark::now(t.pid);
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut samples = Vec::new();
    let mut bytes = 0;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(r) => {
                lat.extend(r.latencies);
                errors += r.errors;
                bytes += r.bytes;
                for s in r.samples {
                    if samples.len() < 5 {
                        samples.push(s);
                    }
                }
            }
            Err(e) => {
                errors += 1;
                samples.push(format!("a connection task failed: {e}"));
            }
        }
    }
    lat.sort();
    let secs = window.as_secs_f64();
    let share = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() / secs),
        _ => None,
    };
    let machine = match (c0.machine, c1.machine) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
    Measured {
        rate: lat.len() as f64 / secs,
        ok: lat.len(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
        errors,
        samples,
        mb_per_s: bytes as f64 / secs / 1e6,
        own_cpu: share(c0.own, c1.own),
        server_cpu: share(c0.server, c1.server),
        machine_cpu: machine,
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.0} %", x * 100.0))
}

fn parse_pair(s: &str, what: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("{what} {s:?}: expected NAME=VALUE"))
}

async fn bench(a: BenchArgs) -> Result<bool, String> {
    if a.connections == 0 || a.duration_s <= 0.0 {
        return Err("--connections and --duration-s must be above 0".into());
    }
    let mut targets = Vec::new();
    for spec in &a.targets {
        let (name, file) = parse_pair(spec, "--target")?;
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
        let fixture: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
        let url = field(&fixture, "url")?
            .as_str()
            .ok_or("the fixture's url is not a string")?;
        let mut pid = None;
        for p in &a.pids {
            let (n, v) = parse_pair(p, "--pid")?;
            if n == name {
                pid = Some(v.parse().map_err(|e| format!("--pid {p}: {e}"))?);
            }
        }
        targets.push(Target {
            name,
            ep: Endpoint::parse(url)?,
            fixture,
            pid,
        });
    }
    let methods: Vec<&str> = a.methods.split(',').map(str::trim).collect();
    for t in &targets {
        let f = &t.fixture;
        let n = |k: &str| f[k].as_array().map_or(0, Vec::len);
        println!(
            "{}: {} ({} funded accounts, {} token transfers, {} empty blocks, head {})",
            t.name,
            f["url"].as_str().unwrap_or("?"),
            n("funded"),
            n("holders"),
            n("empty_blocks"),
            f["head"]
        );
    }
    let layout = |t: &Target| {
        (
            t.fixture["tx_blocks"].clone(),
            t.fixture["empty_blocks"].clone(),
        )
    };
    if targets.windows(2).any(|w| layout(&w[0]) != layout(&w[1])) {
        println!("!!! the targets' chains differ in block layout: the reads do not compare like for like");
    }

    // Every request prepared and checked before anything is timed.
    let mut prepared = Vec::new();
    for t in &targets {
        let mut conn = Conn::open(&t.ep).await?;
        let mut per_method = Vec::new();
        for m in &methods {
            let reqs = prepare(t, m, &a, &mut conn).await?;
            let size = reqs.answers.iter().map(Bytes::len).sum::<usize>() / reqs.answers.len();
            println!(
                "{}: {m}: {} requests checked (answers of {size} bytes on average)",
                t.name,
                reqs.bodies.len()
            );
            per_method.push(std::sync::Arc::new(reqs));
        }
        prepared.push(per_method);
    }
    println!(
        "load: {} keep-alive HTTP/1.1 connections (hyper), closed loop, {} s warm-up + {} s \
         timed per method and target, {} runtime thread(s); methods one at a time, targets in \
         turn",
        a.connections, a.warmup_s, a.duration_s, a.threads
    );

    let mut any_errors = false;
    for round in 1..=a.rounds.max(1) {
        let mut rows: Vec<(String, Vec<Measured>)> = Vec::new();
        for (mi, m) in methods.iter().enumerate() {
            let mut row = Vec::new();
            for (ti, t) in targets.iter().enumerate() {
                tokio::time::sleep(Duration::from_secs_f64(a.pause_s)).await;
                let r = measure(t, &prepared[ti][mi], &a).await;
                println!(
                    "round {round} {m} {}: {:.0} req/s ({} answers), p50 {}, p99 {}, max {}, \
                     {:.1} MB/s of answers; errors {}; CPU: load generator {}, server {}, \
                     machine {} of {} cores",
                    t.name,
                    r.rate,
                    r.ok,
                    ms(r.p50),
                    ms(r.p99),
                    ms(r.max),
                    r.mb_per_s,
                    r.errors,
                    pct(r.own_cpu),
                    pct(r.server_cpu),
                    pct(r.machine_cpu),
                    std::thread::available_parallelism().map_or(0, |n| n.get()),
                );
                if r.errors > 0 {
                    any_errors = true;
                    eprintln!(
                        "!!! {} {m}: {} ERRORS; the first: {:?}",
                        t.name, r.errors, r.samples
                    );
                }
                row.push(r);
            }
            rows.push((m.to_string(), row));
        }
        println!();
        println!(
            "round {round}: {} connections, {} s per method and target",
            a.connections, a.duration_s
        );
        let mut head = "| method |".to_string();
        let mut rule = "|---|".to_string();
        for t in &targets {
            head += &format!(" {0} req/s | {0} p50 | {0} p99 | {0} errors |", t.name);
            rule += "---:|---:|---:|---:|";
        }
        if targets.len() == 2 {
            head += &format!(" {} / {} |", targets[0].name, targets[1].name);
            rule += "---:|";
        }
        println!("{head}\n{rule}");
        for (m, row) in &rows {
            let mut line = format!("| {m} |");
            for r in row {
                line += &format!(
                    " {:.0} | {} | {} | {} |",
                    r.rate,
                    ms(r.p50),
                    ms(r.p99),
                    r.errors
                );
            }
            if row.len() == 2 && row[1].rate > 0.0 {
                line += &format!(" {:.2} |", row[0].rate / row[1].rate);
            }
            println!("{line}");
        }
        println!();
    }
    Ok(!any_errors)
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
