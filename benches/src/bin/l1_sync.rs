//! A permissionless node syncing from anvil (issue 15): how many batches and transfers per
//! second a node without a sequencer reads from L1, re-executes and stores.
//!
//! The fixture: a fresh anvil (`Anvil::start_with`, one block per transaction), the rollup
//! deployed on it (account 0 is the trusted sequencer), an L2 genesis funding `--senders`
//! accounts, and `--batches` batches of `--txs-per-batch` legacy transfers each (1 wei to a new
//! address per transfer, so the state grows as real traffic makes it), sequenced on L1 by
//! `sequenceBatches` (`--batches-per-sequence` per call) with the accInputHash chained as the
//! contract does.
//!
//! Then, measured, on a fresh SQLite state database and RocksDB state tree:
//! 1. L1 fetch: a synchronizer without execution runs rounds until it stands at L1's latest
//!    block (eth_getLogs in `--chunk-size` block chunks, the sequences' calldata decoded and
//!    stored).
//! 2. Execution: a second synchronizer on the same database with the execution stage
//!    (`L2Stage`) runs rounds until every batch is executed and stored (blocks, transactions,
//!    receipts, batches virtual).
//! 3. Executor only (unless `--no-executor-only`): the same batches executed again with the
//!    executor into another state tree, committed per batch as the stage does, without the
//!    SQL stores: the difference with 2 is what storing the blocks costs.
//!
//! The result is checked (every batch virtual, every transfer stored, the executor-only state
//! root equal to the stored one); nothing asserts a speed.
//!
//!   cargo run --release -p zknode-benches --bin l1_sync -- --batches 40 --txs-per-batch 500

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use zknode_executor::{
    decode_signed, encode_batch, execute_batch, BatchContext, BatchEntry, ChangeL2Block,
};
use zknode_l1::testing::{dev_address, Anvil};
use zknode_l1::{deploy, DeployParams, ZkEvmRollup};
use zknode_state::genesis::{GenesisAccount, Number};
use zknode_state::{CodeStore, RocksStore, StateTree};
use zknode_storage::{BlockReader, StateDb};
use zknode_sync::{HeadTag, L1Addresses, L2Stage, SyncConfig, SyncMetrics, Synchronizer};

const CHAIN_ID: u64 = 1001;
/// The fork whose rules the executor implements (the synchronizer's stage uses the same).
const FORK_ID: u64 = 12;
/// The rollup contract refuses a batch's data over this many bytes.
const MAX_BATCH_BYTES: usize = 120_000;

#[derive(Parser, Debug)]
#[command(
    about = "A permissionless node syncing sequenced transfers from anvil: L1 fetch and \
                   execution measured apart"
)]
struct Args {
    /// Batches sequenced on L1.
    #[arg(long, default_value_t = 40)]
    batches: u64,
    /// Transfers per batch (one L2 block per batch).
    #[arg(long, default_value_t = 500)]
    txs_per_batch: u64,
    /// Funded L2 accounts the transfers are sent from, round-robin.
    #[arg(long, default_value_t = 50)]
    senders: usize,
    /// L1 blocks per eth_getLogs.
    #[arg(long, default_value_t = 1000)]
    chunk_size: u64,
    /// Batches per sequenceBatches transaction.
    #[arg(long, default_value_t = 10)]
    batches_per_sequence: usize,
    /// Skip the third phase (the batches executed again without the SQL stores).
    #[arg(long)]
    no_executor_only: bool,
}

/// The coinbase of the sequences (l2Coinbase) and of the genesis.
fn coinbase() -> Address {
    Address::repeat_byte(0xcb)
}

/// Sender `i`'s key, derived from its index (never zero, far below the curve order).
fn sender_key(i: usize) -> Result<PrivateKeySigner> {
    let seed = keccak256(format!("l1_sync sender {i}"));
    PrivateKeySigner::from_bytes(&seed).with_context(|| format!("sender key {i}"))
}

/// A fresh recipient for transfer `n`.
fn recipient(n: u64) -> Address {
    Address::from_word(keccak256(format!("l1_sync recipient {n}")))
}

fn transfer(key: &PrivateKeySigner, nonce: u64, to: Address) -> Result<Bytes> {
    let tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: 1_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .context("signing a transfer")?;
    let env: TxEnvelope = tx.into_signed(sig).into();
    Ok(env.encoded_2718().into())
}

/// Every batch's data: one L2 block of `per_batch` transfers, round-robin over the senders.
fn batches(args: &Args, keys: &[PrivateKeySigner]) -> Result<Vec<Bytes>> {
    let mut nonces = vec![0u64; keys.len()];
    let mut n = 0u64;
    let mut out = Vec::with_capacity(args.batches as usize);
    for b in 0..args.batches {
        let mut entries = Vec::with_capacity(args.txs_per_batch as usize + 1);
        entries.push(BatchEntry::ChangeL2Block(ChangeL2Block {
            delta_timestamp: 1,
            index_l1_info_tree: 0,
        }));
        for _ in 0..args.txs_per_batch {
            let s = (n % keys.len() as u64) as usize;
            let raw = transfer(&keys[s], nonces[s], recipient(n))?;
            nonces[s] += 1;
            n += 1;
            let tx =
                decode_signed(&raw).map_err(|e| anyhow::anyhow!("decoding a transfer: {e}"))?;
            entries.push(BatchEntry::Tx(Box::new(tx)));
        }
        let data = encode_batch(&entries);
        if data.len() > MAX_BATCH_BYTES {
            bail!(
                "batch {} holds {} bytes, over the contract's {MAX_BATCH_BYTES}: use fewer \
                 --txs-per-batch",
                b + 1,
                data.len()
            );
        }
        out.push(Bytes::from(data));
    }
    Ok(out)
}

fn rate(n: f64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n / s
    } else {
        f64::INFINITY
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn date_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.batches > 0, "--batches must be at least 1");
    ensure!(args.txs_per_batch > 0, "--txs-per-batch must be at least 1");
    ensure!(args.senders > 0, "--senders must be at least 1");
    ensure!(args.chunk_size > 0, "--chunk-size must be at least 1");
    ensure!(
        args.batches_per_sequence > 0,
        "--batches-per-sequence must be at least 1"
    );
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("date: {}", date_utc());
    println!("machine: {cores} cores, {}", cpu_model());
    println!("command: {command}");

    // L1: anvil and the rollup.
    let anvil = Anvil::start_with(&["--gas-limit", "1000000000", "--disable-code-size-limit"])
        .map_err(|e| anyhow::anyhow!("starting anvil: {e}"))?;
    let l1 = anvil.provider(0);
    let params = DeployParams::single_account(dev_address(0), CHAIN_ID, B256::repeat_byte(0x11));
    let deployment = deploy(&l1, dev_address(0), &params)
        .await
        .map_err(|e| anyhow::anyhow!("deploying the rollup: {e}"))?;
    println!(
        "anvil at {}; rollup {} deployed in L1 block {}",
        anvil.url(),
        deployment.rollup,
        deployment.deploy_block
    );

    // L2: the genesis, in a fresh state database and tree.
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let keys = (0..args.senders)
        .map(sender_key)
        .collect::<Result<Vec<_>>>()?;
    let accounts: Vec<GenesisAccount> = keys
        .iter()
        .map(|k| GenesisAccount {
            address: k.address().to_string(),
            balance: Some(Number::Str("1000000000000000000000".into())),
            nonce: None,
            bytecode: None,
            storage: None,
        })
        .collect();
    let spec = zknode_sequencer::ChainSpec {
        chain_id: CHAIN_ID,
        coinbase: coinbase(),
    };
    let db = StateDb::connect(&zknode_storage::sqlite_url(
        &dir.path().join("state.sqlite"),
    ))
    .await
    .context("opening the state database")?;
    let store = Arc::new(RocksStore::open(&dir.path().join("tree")).context("opening the tree")?);
    zknode_sequencer::init_genesis(&db, &store, &accounts, &spec, 0)
        .await
        .context("writing the genesis")?;

    // The batches, sequenced on L1 (not measured).
    let t = Instant::now();
    let data = batches(&args, &keys)?;
    let bytes: usize = data.iter().map(|d| d.len()).sum();
    println!(
        "signed {} transfers in {} batches ({} KB of batch data, {} bytes per batch at most) in {:.1} s",
        args.batches * args.txs_per_batch,
        args.batches,
        bytes / 1000,
        data.iter().map(|d| d.len()).max().unwrap_or(0),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let rollup = ZkEvmRollup::new(deployment.rollup, l1.clone());
    let mut sequenced = 0usize;
    for chunk in data.chunks(args.batches_per_sequence) {
        let (batch_data, _, ts, acc, _) = zknode_l1::testing::sequence_args(
            &l1,
            deployment.rollup,
            deployment.global_exit_root_manager,
            chunk,
            0,
            coinbase(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        let pending = rollup
            .sequenceBatches(batch_data, 0, ts, acc, coinbase())
            .send()
            .await
            .map_err(|e| {
                let name = e
                    .as_revert_data()
                    .and_then(|d| zknode_l1::revert_error_name(&d));
                anyhow::anyhow!("sequenceBatches refused ({name:?}): {e}")
            })?;
        let receipt = zknode_l1::confirm(pending, "sequenceBatches")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        sequenced += chunk.len();
        println!(
            "sequenced batches {}..={} in L1 block {} ({} gas)",
            sequenced - chunk.len() + 1,
            sequenced,
            receipt.block_number.unwrap_or_default(),
            receipt.gas_used
        );
    }
    let latest = l1.get_block_number().await.context("L1 block number")?;
    println!(
        "sequenced {} batches on L1 in {:.1} s; L1 is at block {latest}",
        args.batches,
        t.elapsed().as_secs_f64()
    );

    let addresses = L1Addresses {
        rollup: deployment.rollup,
        global_exit_root_manager: deployment.global_exit_root_manager,
        deploy_block: deployment.deploy_block,
    };
    let config = SyncConfig {
        chunk_size: args.chunk_size,
        head: HeadTag::Latest,
        interval_ms: 50,
        ..SyncConfig::default()
    };
    let reader = || zknode_sync::l1_reader(anvil.url()).map_err(|e| anyhow::anyhow!("{e}"));

    // Phase 1: the L1 fetch (events, sequences' calldata decoded and stored), no execution.
    let mut fetch = Synchronizer::new(db.clone(), reader()?, addresses, config.clone());
    let t = Instant::now();
    let mut rounds = 0;
    loop {
        let p = fetch
            .sync_once()
            .await
            .map_err(|e| anyhow::anyhow!("sync round (L1 fetch): {e}"))?;
        rounds += 1;
        if p.synced_to == Some(latest) {
            break;
        }
        ensure!(
            rounds < 1000,
            "the synchronizer did not reach L1 block {latest} ({p:?})"
        );
    }
    let fetch_time = t.elapsed();
    drop(fetch);
    ensure!(
        db.l1_virtual_batch(args.batches).await?.is_some(),
        "after the L1 fetch, batch {} is not among the stored sequences",
        args.batches
    );
    println!(
        "L1 fetch: {} L1 blocks in {rounds} rounds, {:.3} s",
        latest - deployment.deploy_block,
        fetch_time.as_secs_f64()
    );

    // Phase 2: execution and storing of every batch.
    let metrics = Arc::new(SyncMetrics::default());
    let stage = L2Stage::new(db.clone(), store.clone(), CHAIN_ID, metrics.clone());
    let mut exec =
        Synchronizer::new(db.clone(), reader()?, addresses, config).with_execution(stage);
    let t = Instant::now();
    let mut executed = 0;
    let mut rounds = 0;
    while executed < args.batches {
        let p = exec
            .sync_once()
            .await
            .map_err(|e| anyhow::anyhow!("sync round (execution): {e}"))?;
        executed += p.executed_batches;
        rounds += 1;
        ensure!(
            p.executed_batches > 0 || rounds < 100,
            "execution stalled at {executed} of {} batches",
            args.batches
        );
    }
    let exec_time = t.elapsed();
    drop(exec);
    let stage_micros = metrics.l2_execute_micros.load(Relaxed);
    let txs_executed = metrics.l2_txs_executed.load(Relaxed);
    let blocks_executed = metrics.l2_blocks_executed.load(Relaxed);
    println!(
        "execution: {executed} batches, {blocks_executed} blocks, {txs_executed} transactions in {rounds} rounds, {:.3} s",
        exec_time.as_secs_f64()
    );

    // The result really happened.
    let numbers = db.latest_batch_numbers().await?;
    if numbers.virtualized != Some(args.batches) {
        bail!(
            "expected batches 1..={} virtual, the database has {numbers:?}",
            args.batches
        );
    }
    let last_block = db
        .latest_block_number()
        .await?
        .context("no L2 block stored")?;
    let mut stored_txs = 0u64;
    for n in 1..=last_block {
        stored_txs += db.block_transactions(n).await?.len() as u64;
    }
    let expected = args.batches * args.txs_per_batch;
    if stored_txs != expected || txs_executed != expected {
        bail!(
            "expected {expected} transfers stored, the database holds {stored_txs} in {last_block} \
             blocks (the stage counted {txs_executed}): batches invalid or transfers skipped?"
        );
    }
    let stored_root = db
        .batch(args.batches)
        .await?
        .context("the last batch is not stored")?
        .state_root;

    // Phase 3: the executor alone, into another tree, no SQL stores.
    let executor_only = if args.no_executor_only {
        None
    } else {
        let other = dir.path().join("executor-only");
        let db2 = StateDb::connect(&zknode_storage::sqlite_url(&other.join("state.sqlite")))
            .await
            .context("opening the second state database")?;
        let store2 = Arc::new(RocksStore::open(&other.join("tree")).context("opening the tree")?);
        let genesis = zknode_sequencer::init_genesis(&db2, &store2, &accounts, &spec, 0)
            .await
            .context("writing the genesis again")?;
        let mut vbs = Vec::with_capacity(args.batches as usize);
        for n in 1..=args.batches {
            vbs.push(
                db.l1_virtual_batch(n)
                    .await?
                    .with_context(|| format!("L1 batch {n} is not stored"))?,
            );
        }
        let mut old_acc = db
            .batch(0)
            .await?
            .context("batch 0 is not stored")?
            .acc_input_hash
            .unwrap_or_default();
        let t = Instant::now();
        let root = tokio::task::spawn_blocking(move || -> Result<B256> {
            let mut root = zknode_sequencer::root_hash(&genesis)?;
            for vb in &vbs {
                let ctx = BatchContext {
                    chain_id: CHAIN_ID,
                    fork_id: FORK_ID,
                    sequencer: vb.coinbase,
                    timestamp_limit: vb.max_sequence_timestamp,
                    l1_info_root: vb.l1_info_root,
                    old_acc_input_hash: old_acc,
                    forced_block_hash_l1: B256::ZERO,
                    l1_info: Default::default(),
                    verify_l1_info_proofs: false,
                    with_proofs: false,
                };
                let tree = StateTree::at_root(&*store2, root);
                let (mut tree, res) = execute_batch(tree, &*store2, &ctx, &vb.l2_data)
                    .with_context(|| format!("executing batch {}", vb.number))?;
                ensure!(
                    res.invalid_batch.is_none(),
                    "batch {} is invalid: {:?}",
                    vb.number,
                    res.invalid_batch
                );
                ensure!(
                    res.new_acc_input_hash == vb.acc_input_hash,
                    "batch {}'s accInputHash differs from L1's",
                    vb.number
                );
                let code: Vec<_> = res.new_code.iter().map(|(h, c)| (*h, &c[..])).collect();
                store2.put_code(&code)?;
                tree.commit()?;
                root = res.new_state_root;
                old_acc = res.new_acc_input_hash;
            }
            Ok(zknode_sequencer::root_b256(&root))
        })
        .await
        .context("the executor-only thread")??;
        let d = t.elapsed();
        ensure!(
            root == stored_root,
            "the executor alone ends on state root {root}, the synchronized node on {stored_root}"
        );
        Some(d)
    };

    let batches = args.batches as f64;
    let transfers = expected as f64;
    let stage_time = Duration::from_micros(stage_micros);
    println!();
    println!("== l1_sync report ==");
    println!("date:      {}", date_utc());
    println!("machine:   {cores} cores (nproc), {}", cpu_model());
    println!("command:   {command}");
    println!(
        "workload:  {} batches x {} transfers = {expected} transfers, {} senders, {} batches per \
         sequence, {} L1 blocks, chunk size {}",
        args.batches,
        args.txs_per_batch,
        args.senders,
        args.batches_per_sequence,
        latest - deployment.deploy_block,
        args.chunk_size
    );
    println!(
        "{:<44} {:>10} {:>12} {:>14}",
        "phase", "seconds", "batches/s", "transfers/s"
    );
    let row = |name: &str, d: Duration| {
        println!(
            "{name:<44} {:>10.3} {:>12.1} {:>14.0}",
            d.as_secs_f64(),
            rate(batches, d),
            rate(transfers, d)
        );
    };
    row("L1 fetch (getLogs, decode, store sequences)", fetch_time);
    row("execution + store (sync rounds)", exec_time);
    row("  of which in the stage (l2_execute_micros)", stage_time);
    if let Some(d) = executor_only {
        row("executor alone + tree commit (no SQL)", d);
    }
    row("end to end (fetch + execution)", fetch_time + exec_time);
    println!(
        "stage counters: {} batches, {blocks_executed} blocks, {txs_executed} transactions; \
         {stored_txs} transactions stored in {last_block} blocks; state root {stored_root}",
        metrics.l2_batches_executed.load(Relaxed)
    );
    Ok(())
}
