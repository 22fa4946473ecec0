//! `zknode`: the lean node (JSON-RPC, pool, sequencer, synchronizer, state).

mod config;
mod l1;
mod l1_sender;
mod metrics;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use zknode_state::vectors::{self, Format};

/// zkNode lean node: JSON-RPC, transaction pool and sequencer of a Polygon-CDK-style rollup
/// (the sequence sender and the L1 synchronizer come next).
///
/// `zknode run` with no arguments runs a single-node development chain: the embedded
/// development genesis, SQLite and RocksDB under ./zknode-data, JSON-RPC on 127.0.0.1:8545,
/// metrics on 127.0.0.1:9091. Run it again on the same directory and it resumes the chain.
#[derive(Parser, Debug)]
#[command(name = "zknode", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the node: the components the configuration names (default: rpc and sequencer).
    ///
    /// Settings come from the config file (`zknode config example` prints every key with its
    /// default), then from ZKNODE__SECTION__KEY environment variables, then from --set flags and
    /// the flags below. SIGINT or SIGTERM stops taking transactions, stores the block in
    /// progress and exits 0.
    Run(RunArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// The rollup's contracts on L1.
    #[command(subcommand)]
    L1(L1Cmd),
    /// Run Polygon's reference vector files (zkevm-commonjs formats) against this build; prints
    /// one line per vector and `N passed, M failed`, exits non-zero on any failure.
    #[command(subcommand)]
    Vectors(VectorCmd),
}

/// The names follow Polygon's vector files (`smt-*.json`).
#[derive(Subcommand, Debug)]
#[allow(clippy::enum_variant_names)]
enum VectorCmd {
    /// Roots after setting raw keys to values (smt-raw.json).
    SmtRaw { file: PathBuf },
    /// Roots of genesis states (smt-genesis.json).
    SmtGenesis { file: PathBuf },
    /// Key derivation (smt-key-*.json).
    SmtKey { file: PathBuf },
    /// The linear Poseidon bytecode hash (smt-hash-bytecode.json).
    SmtHashBytecode { file: PathBuf },
    /// Whole batches on a genesis, executed on revm over the state tree: roots, accInputHash,
    /// transaction outcomes and account leaves (processor format, e.g. state-transition.json).
    Processor { file: PathBuf },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// A TOML configuration file.
    #[arg(long, env = "ZKNODE_CONFIG")]
    config: Option<PathBuf>,
    /// Where the node keeps its state (default ./zknode-data); same as --set data_dir=DIR.
    #[arg(long, env = "ZKNODE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// JSON-RPC listen address (default 127.0.0.1:8545); same as --set rpc.http_addr=ADDR.
    #[arg(long)]
    rpc_addr: Option<String>,
    /// JSON-RPC over WebSocket listen address (default 127.0.0.1:8546; "" turns it off); same
    /// as --set rpc.ws_addr=ADDR.
    #[arg(long)]
    ws_addr: Option<String>,
    /// `sqlite:PATH` or `postgres://…` (default: SQLite in the data directory).
    #[arg(long, env = "ZKNODE_DATABASE_URL")]
    database_url: Option<String>,
    /// Metrics listen address (default 127.0.0.1:9091; "" turns metrics off).
    #[arg(long)]
    metrics_addr: Option<String>,
    /// What to run, comma-separated: rpc, sequencer, sequence-sender, synchronizer (default
    /// rpc,sequencer). `rpc,synchronizer` is a permissionless node: it executes every batch L1
    /// sequences into its own chain and relays transactions to rpc.sequencer_url. `rpc` alone
    /// is an extra JSON-RPC process beside the sequencer: it reads the sequencer's database and
    /// state tree (state_tree_primary) and relays transactions to rpc.sequencer_url.
    #[arg(long, value_name = "LIST")]
    components: Option<String>,
    /// Override any configuration key: --set sequencer.block_time_ms=500 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum L1Cmd {
    /// Deploy the rollup contracts (the global exit root manager, then the rollup) and record
    /// their addresses and the deployment block in the node's configuration.
    ///
    /// The rollup is given the L2 chain id and the genesis state root of the configuration
    /// (--config: its `chain_id` and `genesis`; without it, chain id 1001 and the embedded
    /// development genesis), fork id 12, and its roles: admin, trusted sequencer and trusted
    /// aggregator (each the deploying account unless named). The admin also plays the bridge on
    /// the global exit root manager. With --config the [l1] section of that file is written
    /// (rpc_url, rollup, global_exit_root_manager, deploy_block; the file is created when
    /// missing, and its other settings and comments are kept); without it the section is
    /// printed on stdout.
    Deploy(l1::DeployArgs),
    /// Clear the halt the synchronizer stored when L1 disagreed with a batch of this node, so
    /// that the sequencer may store blocks again; prints the halt it cleared. Run it with the
    /// node stopped, once the cause is dealt with: a synchronizer that finds the same mismatch
    /// halts again. Takes the options of `zknode run` (--config, --data-dir, --database-url).
    ClearHalt(RunArgs),
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Print the example configuration: every key, documented, with its default.
    Example,
    /// Print the configuration `zknode run` would use with these settings, then exit.
    Show(RunArgs),
}

fn load_config(a: &RunArgs) -> anyhow::Result<config::Config> {
    let mut sets = Vec::new();
    let quoted = |v: &str| format!("{v:?}");
    if let Some(d) = &a.data_dir {
        sets.push(format!("data_dir={}", quoted(&d.display().to_string())));
    }
    if let Some(v) = &a.rpc_addr {
        sets.push(format!("rpc.http_addr={}", quoted(v)));
    }
    if let Some(v) = &a.ws_addr {
        sets.push(format!("rpc.ws_addr={}", quoted(v)));
    }
    if let Some(v) = &a.database_url {
        sets.push(format!("database_url={}", quoted(v)));
    }
    if let Some(v) = &a.metrics_addr {
        sets.push(format!("metrics_addr={}", quoted(v)));
    }
    if let Some(v) = &a.components {
        let names: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(quoted)
            .collect();
        sets.push(format!("components=[{}]", names.join(",")));
    }
    sets.extend(a.sets.iter().cloned());
    Ok(config::Config::load(
        a.config.as_deref(),
        std::env::vars(),
        &sets,
    )?)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => anyhow::bail!("no command given; `zknode run` starts a development node, `zknode --help` lists the rest"),
        Some(Command::Config(ConfigCmd::Example)) => {
            print!("{}", config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Config(ConfigCmd::Show(a))) => {
            let c = load_config(&a)?;
            println!("{c:#?}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::L1(L1Cmd::Deploy(a))) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(l1::deploy(a))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::L1(L1Cmd::ClearHalt(a))) => {
            let c = load_config(&a)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(l1::clear_halt(&c))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Run(a)) => {
            let c = load_config(&a)?;
            let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| c.log.clone());
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).with_context(
                    || format!("log filter {filter:?}"),
                )?)
                .with_writer(std::io::stderr)
                .init();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(run::run(c))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Vectors(v)) => {
            let (format, file) = match v {
                VectorCmd::SmtRaw { file } => (Some(Format::SmtRaw), file),
                VectorCmd::SmtGenesis { file } => (Some(Format::SmtGenesis), file),
                VectorCmd::SmtKey { file } => (Some(Format::SmtKey), file),
                VectorCmd::SmtHashBytecode { file } => (Some(Format::SmtHashBytecode), file),
                VectorCmd::Processor { file } => (None, file),
            };
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let outcomes = match format {
                Some(format) => vectors::run(format, &text).map_err(anyhow::Error::from),
                None => zknode_executor::vectors::run(&text).map_err(anyhow::Error::msg),
            }
            .with_context(|| format!("in {}", file.display()))?;
            let failed = outcomes.iter().filter(|o| !o.passed).count();
            for o in &outcomes {
                println!(
                    "{} #{}: {} ({})",
                    file.display(),
                    o.index,
                    if o.passed { "ok" } else { "FAIL" },
                    o.detail
                );
            }
            println!("{} passed, {failed} failed", outcomes.len() - failed);
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
