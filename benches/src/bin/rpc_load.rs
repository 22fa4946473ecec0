//! A load generator for a running node, end to end through JSON-RPC.
//!
//! It funds `--senders` fresh accounts from `--key` (the development account by default),
//! signs `--txs` legacy transfers from them beforehand, then sends them with
//! `eth_sendRawTransaction` from one task per sender (each sender's nonces in order, so
//! `--senders` requests are in flight at once) while another task polls
//! `eth_getBlockByNumber` for each new block and notes when each transaction's block appeared.
//! It reports the rates at which transactions were accepted and included, and the time from
//! sending a transaction to seeing its block (p50, p90, p99, max). With `--rate` the load is
//! offered at a fixed rate instead of as fast as the node accepts it.
//!
//! A refusal that only says "not now" ("txpool is full", "nonce too high": the pool's
//! `global_queue` and `account_queue` limits) is retried after a short wait and counted; the
//! time to inclusion is counted from the first attempt. Any other refusal stops the run.
//!
//! ```sh
//! cargo run --release -p zknode-benches --bin rpc_load -- \
//!     --url http://127.0.0.1:8545 --senders 64 --txs 20000
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use alloy::transports::RpcError;
use clap::Parser;

/// The development account 0 (the public "test test ... junk" mnemonic; development only).
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[derive(Parser, Debug)]
#[command(about = "Sends signed transfers to a node over JSON-RPC and measures their inclusion")]
struct Args {
    /// The node's JSON-RPC address.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    url: String,
    /// Fresh accounts that send, each from its own task.
    #[arg(long, default_value_t = 64)]
    senders: usize,
    /// Transfers to send, spread evenly over the senders.
    #[arg(long, default_value_t = 20_000)]
    txs: usize,
    /// The funded key that pays the senders.
    #[arg(long, default_value = DEV_KEY)]
    key: String,
    #[arg(long, default_value_t = 1001)]
    chain_id: u64,
    /// Gas price of every transaction, in wei (the node's minimum by default).
    #[arg(long, default_value_t = 1_000_000_000)]
    gas_price: u128,
    /// Offered load in transactions per second, spread evenly in time (transaction i is due
    /// i / rate seconds after the start; its time to inclusion counts from then, even when its
    /// sender was still waiting for an answer). 0: each sender sends its next transaction as
    /// soon as the previous one is accepted.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// How often the block watcher asks for the next block, in milliseconds.
    #[arg(long, default_value_t = 10)]
    poll_ms: u64,
    /// Give up when the last transaction is not included this many seconds after the start.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

type Client = RootProvider;

/// A signed legacy (EIP-155) transfer: its bytes and hash.
fn transfer(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
    price: u128,
) -> (Bytes, B256) {
    let tx = TxLegacy {
        chain_id: Some(chain_id),
        nonce,
        gas_price: price,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value,
        input: Bytes::new(),
    };
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .expect("signing a hash");
    let env: TxEnvelope = tx.into_signed(sig).into();
    (env.encoded_2718().into(), *env.tx_hash())
}

/// Whether a refusal only asks to come back later.
fn retryable(message: &str) -> bool {
    message.contains("txpool is full") || message.contains("nonce too high")
}

/// What sending one transaction gave.
#[derive(Default)]
struct Sent {
    /// The first attempt.
    at: Option<Instant>,
    /// The accepting answer.
    acked: Option<Instant>,
}

/// Sends `raw` until the node accepts it; returns the retries, counted per refusal message.
async fn send(
    p: &Client,
    raw: &Bytes,
    want: B256,
    retries: &mut BTreeMap<String, u64>,
) -> Result<(), String> {
    loop {
        match p
            .client()
            .request::<_, B256>("eth_sendRawTransaction", (raw,))
            .await
        {
            Ok(h) if h == want => return Ok(()),
            Ok(h) => return Err(format!("the node answered hash {h} for {want}")),
            Err(RpcError::ErrorResp(e)) if retryable(&e.message) => {
                *retries.entry(e.message.to_string()).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(format!("sending {want}: {e}")),
        }
    }
}

async fn block_number(p: &Client) -> Result<u64, String> {
    p.get_block_number().await.map_err(|e| e.to_string())
}

/// Block `n`'s transaction hashes, once it exists.
async fn block_hashes(p: &Client, n: u64) -> Result<Option<Vec<B256>>, String> {
    let b: Option<serde_json::Value> = p
        .client()
        .request("eth_getBlockByNumber", (format!("{n:#x}"), false))
        .await
        .map_err(|e| format!("eth_getBlockByNumber({n}): {e}"))?;
    let Some(b) = b else { return Ok(None) };
    let hashes = b["transactions"]
        .as_array()
        .ok_or_else(|| format!("block {n} has no transaction list"))?
        .iter()
        .map(|h| serde_json::from_value(h.clone()).map_err(|e| format!("block {n}: {e}")))
        .collect::<Result<Vec<B256>, String>>()?;
    Ok(Some(hashes))
}

/// A block that held transactions of this run, as the watcher saw it.
struct SeenBlock {
    number: u64,
    at: Instant,
    ours: usize,
}

/// Follows the chain from block `from` until every hash in `index` has been seen in a block;
/// returns when each was seen, and the blocks that held any.
async fn watch(
    p: Client,
    from: u64,
    index: HashMap<B256, usize>,
    poll: Duration,
    deadline: Instant,
) -> Result<(Vec<Option<Instant>>, Vec<SeenBlock>), String> {
    let mut seen = vec![None; index.len()];
    let mut left = index.len();
    let mut blocks = Vec::new();
    let mut next = from;
    while left > 0 {
        if Instant::now() > deadline {
            return Err(format!(
                "{left} transactions not included by the deadline (block {next} not yet seen)"
            ));
        }
        match block_hashes(&p, next).await? {
            None => tokio::time::sleep(poll).await,
            Some(hashes) => {
                let at = Instant::now();
                let mut ours = 0;
                for h in hashes {
                    if let Some(&i) = index.get(&h) {
                        if seen[i].is_none() {
                            seen[i] = Some(at);
                            ours += 1;
                            left -= 1;
                        }
                    }
                }
                if ours > 0 {
                    blocks.push(SeenBlock {
                        number: next,
                        at,
                        ours,
                    });
                }
                next += 1;
            }
        }
    }
    Ok((seen, blocks))
}

/// This process's CPU time (user + system) so far, from /proc (Linux); zero elsewhere.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Pays each sender from `funder` and waits until every payment is in a block.
async fn fund(
    p: &Client,
    args: &Args,
    funder: &PrivateKeySigner,
    senders: &[PrivateKeySigner],
) -> Result<(), String> {
    let from = funder.address();
    let start = p
        .get_transaction_count(from)
        .pending()
        .await
        .map_err(|e| e.to_string())?;
    // Each sender pays 21,000 gas and 1 wei per transfer; give it ample room.
    let per_tx = 21_000 * args.gas_price + 1;
    let each = U256::from(per_tx * (args.txs / senders.len() + 1) as u128 * 4);
    let mut retries = BTreeMap::new();
    for (i, s) in senders.iter().enumerate() {
        let (raw, hash) = transfer(
            funder,
            args.chain_id,
            start + i as u64,
            s.address(),
            each,
            args.gas_price,
        );
        send(p, &raw, hash, &mut retries).await?;
    }
    let target = start + senders.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while p
        .get_transaction_count(from)
        .await
        .map_err(|e| e.to_string())?
        < target
    {
        if Instant::now() > deadline {
            return Err("the funding transfers were not included within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    if args.senders == 0 || args.txs == 0 {
        return Err("--senders and --txs must be above 0".into());
    }
    let url = args.url.parse().map_err(|e| format!("--url: {e}"))?;
    let p: Client = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(url);
    let chain_id = p.get_chain_id().await.map_err(|e| e.to_string())?;
    if chain_id != args.chain_id {
        return Err(format!(
            "the node's chain id is {chain_id}, --chain-id says {}",
            args.chain_id
        ));
    }
    let funder: PrivateKeySigner = args.key.parse().map_err(|e| format!("--key: {e}"))?;
    let senders: Vec<PrivateKeySigner> = (0..args.senders)
        .map(|_| PrivateKeySigner::random())
        .collect();

    let t = Instant::now();
    fund(&p, &args, &funder, &senders).await?;
    println!(
        "funded {} senders in {:.1} s",
        senders.len(),
        t.elapsed().as_secs_f64()
    );

    // Sign everything before the clock starts: sender s sends transactions s, s + S, s + 2S, …
    let t = Instant::now();
    let recipients: Vec<Address> = (0..1024u32)
        .map(|i| Address::from_slice(&keccak256(i.to_be_bytes())[12..]))
        .collect();
    let mut plan: Vec<Vec<(usize, Bytes, B256)>> = vec![Vec::new(); senders.len()];
    let mut index = HashMap::with_capacity(args.txs);
    for i in 0..args.txs {
        let s = i % senders.len();
        let nonce = (i / senders.len()) as u64;
        let to = recipients[i % recipients.len()];
        let (raw, hash) = transfer(
            &senders[s],
            args.chain_id,
            nonce,
            to,
            U256::from(1),
            args.gas_price,
        );
        index.insert(hash, i);
        plan[s].push((i, raw, hash));
    }
    println!(
        "signed {} transfers in {:.1} s",
        args.txs,
        t.elapsed().as_secs_f64()
    );

    let head = block_number(&p).await?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout_s);
    let watcher = tokio::spawn(watch(
        p.clone(),
        head + 1,
        index,
        Duration::from_millis(args.poll_ms),
        deadline,
    ));
    let cpu0 = cpu_time();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let rate = args.rate;
    for txs in plan {
        let p = p.clone();
        tasks.spawn(async move {
            let mut out = Vec::with_capacity(txs.len());
            let mut retries = BTreeMap::new();
            for (i, raw, hash) in txs {
                let at = if rate > 0.0 {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                    due
                } else {
                    Instant::now()
                };
                send(&p, &raw, hash, &mut retries).await?;
                out.push((
                    i,
                    Sent {
                        at: Some(at),
                        acked: Some(Instant::now()),
                    },
                ));
            }
            Ok::<_, String>((out, retries))
        });
    }
    let mut sent: Vec<Sent> = (0..args.txs).map(|_| Sent::default()).collect();
    let mut retries: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        let (out, r) = r.map_err(|e| e.to_string())??;
        for (i, s) in out {
            sent[i] = s;
        }
        for (m, n) in r {
            *retries.entry(m).or_default() += n;
        }
    }
    let all_acked = Instant::now();
    let (seen, blocks) = watcher.await.map_err(|e| e.to_string())??;
    let all_included = Instant::now();
    let cpu = cpu_time().saturating_sub(cpu0);

    let n = args.txs as f64;
    let last_ack = sent
        .iter()
        .filter_map(|s| s.acked)
        .max()
        .unwrap_or(all_acked);
    let last_seen = seen.iter().flatten().max().copied().unwrap_or(all_included);
    let send_secs = (last_ack - started).as_secs_f64();
    let incl_secs = (last_seen - started).as_secs_f64();
    let mut latency: Vec<Duration> = sent
        .iter()
        .zip(&seen)
        .map(|(s, b)| match (s.at, b) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::MAX,
        })
        .collect();
    latency.sort();
    let mut ack: Vec<Duration> = sent
        .iter()
        .map(|s| match (s.at, s.acked) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::MAX,
        })
        .collect();
    ack.sort();

    println!(
        "{} transfers from {} senders, {} requests in flight at most, offered {}",
        args.txs,
        args.senders,
        args.senders,
        if rate > 0.0 {
            format!("at {rate} tx/s")
        } else {
            "as fast as they are accepted".into()
        }
    );
    println!(
        "sent (accepted): {:.1} s, {:.0} tx/s; answer time p50 {}, p99 {}",
        send_secs,
        n / send_secs,
        ms(percentile(&ack, 0.5)),
        ms(percentile(&ack, 0.99))
    );
    println!(
        "included: the last seen {:.1} s after the first send, {:.0} tx/s overall",
        incl_secs,
        n / incl_secs
    );
    if blocks.len() >= 3 {
        // The steady rate: the blocks after the first that held any, up to the one before the
        // last (the last holds the tail, which waits for its block to close).
        let first = &blocks[0];
        let end = &blocks[blocks.len() - 2];
        let middle: usize = blocks[1..blocks.len() - 1].iter().map(|b| b.ours).sum();
        let secs = (end.at - first.at).as_secs_f64();
        println!(
            "included, steady: {middle} transactions in blocks {}..={}, seen over {:.2} s after \
             block {}: {:.0} tx/s",
            blocks[1].number,
            end.number,
            secs,
            first.number,
            middle as f64 / secs
        );
    }
    let per_block: Vec<String> = blocks.iter().map(|b| b.ours.to_string()).collect();
    println!(
        "blocks: {} held these transactions ({}..={}), per block: {}",
        blocks.len(),
        blocks.first().map_or(0, |b| b.number),
        blocks.last().map_or(0, |b| b.number),
        per_block.join(" ")
    );
    println!(
        "time from send to its block seen: p50 {}, p90 {}, p99 {}, max {}",
        ms(percentile(&latency, 0.5)),
        ms(percentile(&latency, 0.9)),
        ms(percentile(&latency, 0.99)),
        ms(latency.last().copied().unwrap_or_default())
    );
    if retries.is_empty() {
        println!("retries: none");
    } else {
        for (m, k) in &retries {
            println!("retries: {k} × {m:?}");
        }
    }
    println!(
        "load generator CPU: {:.1} s over {:.1} s ({:.0} % of one core)",
        cpu.as_secs_f64(),
        incl_secs,
        100.0 * cpu.as_secs_f64() / incl_secs
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rpc_load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
