//! `zkaggregator`: hands batch witnesses to the prover farm, aggregates the proofs recursively
//! and settles the final proof.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use zknode_aggregator::db::Db;
use zknode_aggregator::farm::{ProverServer, Registry};
use zknode_aggregator::follow::NodeFollower;
use zknode_aggregator::scheduler::{Scheduler, SchedulerConfig};
use zknode_aggregator::settle::Recording;
use zknode_witness::BatchWitness;

/// zkNode aggregator: schedules batch proofs on connected `zkprover` workers (which dial in with
/// `zkprover serve --aggregator URL`), checks and wraps every proof they return, aggregates
/// adjacent proofs recursively, and makes the final proof of the longest proven range.
#[derive(Parser, Debug)]
#[command(name = "zkaggregator", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct DbArgs {
    /// Job database: a `sqlite://PATH` or `postgres://…` URL, or a file path (SQLite).
    #[arg(
        long,
        env = "ZKAGG_DB",
        default_value = "zkaggregator-data/aggregator.db"
    )]
    db: String,
}

impl DbArgs {
    async fn open(&self) -> Result<Db> {
        let url = if self.db.contains("://") || self.db.starts_with("sqlite:") {
            self.db.clone()
        } else {
            let path = PathBuf::from(&self.db);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            Db::sqlite_url(&path)
        };
        Db::connect(&url)
            .await
            .with_context(|| format!("cannot open the job database {}", self.db))
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve provers and run the proving loop until interrupted (Ctrl-C).
    Run {
        #[command(flatten)]
        db: DbArgs,
        /// Where provers connect (gRPC).
        #[arg(long, env = "ZKAGG_LISTEN", default_value = "127.0.0.1:50081")]
        listen: SocketAddr,
        /// Folder for the recursion circuits' data, built on first start (about a minute on two
        /// cores) and loaded afterwards.
        #[arg(
            long,
            env = "ZKAGG_CIRCUIT_CACHE",
            default_value = "zkaggregator-data/circuits"
        )]
        circuit_cache: PathBuf,
        /// Folder where settlements are recorded (final proofs and settlements.jsonl) until the
        /// L1 call exists.
        #[arg(
            long,
            env = "ZKAGG_SETTLEMENTS",
            default_value = "zkaggregator-data/settlements"
        )]
        settlements: PathBuf,
        /// The aggregator's L1 address, which the final proof is bound to (20 bytes, hex).
        #[arg(
            long,
            env = "ZKAGG_ADDRESS",
            default_value = "0x0000000000000000000000000000000000000000"
        )]
        address: String,
        /// Seconds a job may take (a batch on a prover, an aggregation or final proof) before it
        /// is taken back and queued again (10 s to 7 days).
        #[arg(
            long,
            env = "ZKAGG_JOB_TIMEOUT",
            default_value_t = 1800,
            value_parser = clap::value_parser!(u64).range(10..=604_800)
        )]
        job_timeout: u64,
        /// Seconds to wait before finalizing a range that does not reach the newest batch.
        #[arg(long, env = "ZKAGG_FINAL_AFTER", default_value_t = 60)]
        final_after: u64,
        /// Send aggregations and final proofs to idle provers that can make them (started with
        /// `zkprover serve --recursion`) instead of proving them here; when none is idle, the
        /// aggregator proves them itself. Their proofs are verified here either way.
        #[arg(long, env = "ZKAGG_RECURSION_ON_PROVERS")]
        recursion_on_provers: bool,
        /// A node's JSON-RPC (http://HOST:PORT): take its virtual batches' witnesses from it
        /// (`zkevm_getBatchWitness`) as L1 sequences them, instead of only from `add-batches`.
        #[arg(long, env = "ZKAGG_NODE_URL")]
        node_url: Option<String>,
    },
    /// Take the witnesses of a node's virtual batches (after the last stored, or after the
    /// node's verified batch in an empty job database) into the job database, then exit:
    /// what `run --node-url` does continuously.
    Follow {
        #[command(flatten)]
        db: DbArgs,
        /// The node's JSON-RPC (http://HOST:PORT).
        #[arg(long, env = "ZKAGG_NODE_URL")]
        node_url: String,
    },
    /// Add batch witnesses (JSON files, as `zkprover witness chain` writes) to the job
    /// database under their batch numbers — what the node does as it closes batches.
    AddBatches {
        #[command(flatten)]
        db: DbArgs,
        /// Witness files.
        #[arg(required = true)]
        witnesses: Vec<PathBuf>,
    },
    /// Show the batches, proofs and settlements in the job database.
    Status {
        #[command(flatten)]
        db: DbArgs,
    },
}

fn parse_address(s: &str) -> Result<[u8; 20]> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if !h.is_ascii() {
        bail!("--address {s:?} is not hex");
    }
    let v = hex::decode(h).with_context(|| format!("--address {s:?} is not hex"))?;
    v.try_into()
        .map_err(|v: Vec<u8>| anyhow::anyhow!("--address has {} bytes, not 20", v.len()))
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async_main(cli))
}

async fn async_main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            db,
            listen,
            circuit_cache,
            settlements,
            address,
            job_timeout,
            final_after,
            recursion_on_provers,
            node_url,
        } => {
            let aggregator_address = parse_address(&address)?;
            let db = db.open().await?;
            let follower = match &node_url {
                Some(url) => {
                    let f = NodeFollower::new(url, db.clone())?;
                    tracing::info!("taking batches from the node at {url}");
                    Some(tokio::spawn(async move {
                        f.run(Duration::from_secs(2), std::future::pending()).await
                    }))
                }
                None => None,
            };
            let t = Instant::now();
            tracing::info!(
                "loading the recursion circuits from {}",
                circuit_cache.display()
            );
            let circuits = tokio::task::spawn_blocking(move || {
                zknode_prover::recursion::load_or_build(Some(&circuit_cache), &mut |step| {
                    tracing::info!("recursion circuits: {step}")
                })
            })
            .await??;
            tracing::info!("recursion circuits ready in {:.1?}", t.elapsed());
            let registry = Registry::new();
            let server = ProverServer::bind(listen, registry.clone())
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!("waiting for provers on {}", server.url());
            let scheduler = Scheduler::new(
                db,
                registry,
                Arc::new(circuits),
                Arc::new(Recording::new(Some(settlements))),
                SchedulerConfig {
                    job_timeout: Duration::from_secs(job_timeout),
                    final_after: Duration::from_secs(final_after),
                    aggregator_address,
                    recursion_on_provers,
                    ..SchedulerConfig::default()
                },
            );
            scheduler
                .run(async {
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::info!("interrupted: stopping");
                })
                .await?;
            server.shutdown().await;
            if let Some(f) = follower {
                f.abort();
            }
            Ok(())
        }
        Command::Follow { db, node_url } => {
            let db = db.open().await?;
            let f = NodeFollower::new(&node_url, db)?;
            let stored = f.step(u64::MAX).await?;
            match (stored.first(), stored.last()) {
                (Some(a), Some(b)) => println!("batches {a}..={b} taken from {node_url}"),
                _ => println!("no new virtual batch at {node_url}"),
            }
            Ok(())
        }
        Command::AddBatches { db, witnesses } => {
            let db = db.open().await?;
            for path in witnesses {
                let w = BatchWitness::read(&path)
                    .with_context(|| format!("cannot read the witness {}", path.display()))?;
                w.check()
                    .with_context(|| format!("the witness {} does not check", path.display()))?;
                let n = w.chain.batch_number;
                db.insert_batch(n, &w).await?;
                println!("batch {n}: {}", path.display());
            }
            Ok(())
        }
        Command::Status { db } => {
            let db = db.open().await?;
            let batches = db.batch_numbers().await?;
            println!(
                "batches: {} ({}..={})",
                batches.len(),
                batches.first().copied().unwrap_or(0),
                batches.last().copied().unwrap_or(0)
            );
            println!("last verified batch: {}", db.last_verified_batch().await?);
            for p in db.proofs().await? {
                println!(
                    "proof {:>4} {:<9} {}..={} {} attempts {}{}",
                    p.id,
                    p.kind,
                    p.first,
                    p.last,
                    if p.is_stored() {
                        "stored"
                    } else if p.is_locked() {
                        "generating"
                    } else {
                        "queued"
                    },
                    p.attempts,
                    p.prover_id
                        .map(|id| format!(" by {id}"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}
