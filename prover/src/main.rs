//! `zkprover`: the proving worker of the zkNode prover farm.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::time::Instant;
use zknode_kernels::{open_backend, open_bench_backend, Backend, DeviceSelector};

use zknode_prover::batch::{prove_witness, BatchProof, Committer, Statement};
use zknode_prover::bench;

/// zkNode prover worker: proves batches on a GPU (CUDA) or the CPU.
///
/// Device selection: `--device` or the environment variable ZKNODE_DEVICE (auto, cpu or cuda).
/// `auto` uses a GPU when one answers and the CPU otherwise; `cuda` without a usable GPU is an
/// error. The worker serves an aggregator (`serve`), proves batch witnesses (`prove`, `verify`),
/// makes random ones (`witness`), and benchmarks its kernels.
#[derive(Parser, Debug)]
#[command(name = "zkprover", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Benchmark the compute kernels (NTT, LDE + Merkle, Poseidon, BN254 MSM and NTT) on the
    /// selected device and print a throughput table.
    Bench(BenchArgs),
    /// Print the selected device: kind, name, memory, compute capability.
    Device(DeviceArgs),
    /// Batch witnesses: make a random one, or check one.
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Prove a batch witness and write the batch proof. Prints progress and a timing summary
    /// (witness, trace, commit, quotient + FRI).
    Prove(ProveArgs),
    /// Serve an aggregator: dial it, hold one gRPC stream, and prove the batches it sends.
    /// Reconnects with exponential backoff when the connection drops or cannot be made; exits
    /// with an error if the aggregator refuses this prover's protocol version.
    Serve(ServeArgs),
    /// Verify a batch proof file and print what it proves.
    Verify {
        /// The proof file.
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
struct ProveArgs {
    /// The batch witness (JSON, as `zkprover witness random` writes it).
    #[arg(long)]
    witness: PathBuf,
    /// Where to write the proof.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The aggregator's address.
    #[arg(
        long,
        env = "ZKNODE_AGGREGATOR",
        default_value = "http://127.0.0.1:50081"
    )]
    aggregator: String,
    /// This prover's id, stable across reconnections (default: host name and process id).
    #[arg(long)]
    prover_id: Option<String>,
    /// A human-readable name for the aggregator's logs (default: the prover id).
    #[arg(long)]
    prover_name: Option<String>,
    #[command(flatten)]
    device: DeviceArgs,
    /// The longest wait between two reconnection attempts, in milliseconds (the wait starts at
    /// 250 ms and doubles).
    #[arg(long, default_value_t = 30_000)]
    max_backoff_ms: u64,
    /// Also make aggregated and final proofs (GenAggregatedProof, GenFinalProof) when the
    /// aggregator asks (`zkaggregator run --recursion-on-provers`). The recursion circuits are
    /// built on first start (about a minute on two cores) and cached in `--circuit-cache`.
    #[arg(long)]
    recursion: bool,
    /// Folder for the recursion circuits' data (with `--recursion`).
    #[arg(long, default_value = "zkprover-data/circuits")]
    circuit_cache: PathBuf,
    /// Test only: flip a byte in every proof returned.
    #[arg(long, hide = true)]
    corrupt_proofs: bool,
}

#[derive(Subcommand, Debug)]
enum WitnessCommand {
    /// Write a valid random batch witness over a random tree (the same for the same seed).
    Random {
        /// Number of state operations.
        #[arg(long)]
        ops: usize,
        /// Seed of the random tree, operations, batch data and chain inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output file (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write witnesses of consecutive batches (numbered from 1) over one random tree, each
    /// starting at the root the previous one ends at: input for `zkaggregator add-batches`.
    Chain {
        /// State operations per batch, one number per batch (`64,64,64,64`: four batches).
        #[arg(long, value_delimiter = ',', required = true)]
        ops: Vec<usize>,
        /// Seed of the tree, operations, batch data and chain inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Folder for the files `batch-N.json` (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Check a witness file: every operation's key and proof, and the chain of roots.
    Check {
        /// The witness file (JSON).
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
struct DeviceArgs {
    /// Device to use: auto, cpu or cuda.
    #[arg(long, env = "ZKNODE_DEVICE", default_value = "auto")]
    device: DeviceSelector,
}

#[derive(Args, Debug)]
struct BenchArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Small sizes only: finishes in under a minute on a 2-core CPU.
    #[arg(long)]
    quick: bool,
    /// Timed runs per case (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// Only run cases whose operation name contains one of these (comma separated:
    /// goldilocks-ntt, lde+merkle, poseidon, bn254-msm, bn254-ntt).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
    /// Benchmark batch proving instead of the kernels: random witnesses of `--ops` sizes,
    /// proved and verified once each, with the time of each step and the peak memory.
    #[arg(long)]
    prove: bool,
    /// Batch sizes (state operations) for `--prove`, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "64,256,1024,4096")]
    ops: Vec<usize>,
    /// Skip cases whose host memory need exceeds this many GiB (default: half of the RAM).
    #[arg(long)]
    max_memory_gib: Option<f64>,
    /// Replace the suite's LDE + Merkle cases with these shapes, `LOG_ROWSxCOLS` (rate_bits 3),
    /// e.g. `--lde 18x64 --lde 16x32`.
    #[arg(long = "lde", value_parser = parse_lde_shape)]
    lde_shapes: Vec<(usize, usize)>,
}

fn parse_lde_shape(s: &str) -> Result<(usize, usize), String> {
    let (r, c) = s
        .split_once('x')
        .ok_or_else(|| format!("{s:?} is not LOG_ROWSxCOLS (e.g. 18x64)"))?;
    let log_rows: usize = r.parse().map_err(|e| format!("log rows {r:?}: {e}"))?;
    let cols: usize = c.parse().map_err(|e| format!("columns {c:?}: {e}"))?;
    if log_rows > 29 || cols == 0 {
        return Err(format!("{s:?}: need 0 <= LOG_ROWS <= 29 and COLS >= 1"));
    }
    Ok((log_rows, cols))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_witness_summary(w: &zknode_witness::BatchWitness, new_root: &zknode_witness::Hash) {
    println!("operations:   {}", w.ops.len());
    println!("batch number: {}", w.chain.batch_number);
    println!("batch data:   {} bytes", w.batch_l2_data.len());
    println!("old root:     {}", w.old_state_root);
    println!("new root:     {new_root}");
    let kinds: Vec<String> = w
        .kind_histogram()
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!("kinds:        {}", kinds.join(", "));
}

fn run_witness(cmd: WitnessCommand) -> Result<()> {
    use zknode_witness::{random_batches, random_witness, BatchWitness};
    match cmd {
        WitnessCommand::Random { ops, seed, out } => {
            let w = random_witness(ops, seed);
            let new_root = w.check().context("the random witness does not check")?;
            w.write(&out)?;
            println!("wrote {}", out.display());
            print_witness_summary(&w, &new_root);
            Ok(())
        }
        WitnessCommand::Chain { ops, seed, out_dir } => {
            if ops.contains(&0) {
                anyhow::bail!("--ops: every batch needs at least one operation");
            }
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("cannot create {}", out_dir.display()))?;
            for w in random_batches(&ops, seed) {
                let path = out_dir.join(format!("batch-{}.json", w.chain.batch_number));
                let new_root = w.check().context("a random witness does not check")?;
                w.write(&path)?;
                println!(
                    "wrote {} ({} operations, new root {})",
                    path.display(),
                    w.ops.len(),
                    new_root
                );
            }
            Ok(())
        }
        WitnessCommand::Check { file } => {
            let w = BatchWitness::read(&file)?;
            let pi = w
                .public_inputs()
                .with_context(|| format!("witness {} is invalid", file.display()))?;
            println!("{}: valid", file.display());
            print_witness_summary(&w, &pi.new_root);
            println!("ops commitment:  {}", pi.ops_commitment);
            println!("data commitment: {}", pi.batch_data_commitment);
            Ok(())
        }
    }
}

fn print_statement(st: &Statement) {
    println!("batch number:    {}", st.batch_number);
    println!("old root:        {}", st.old_root);
    println!("new root:        {}", st.new_root);
    println!("ops commitment:  {}", st.ops_commitment);
    println!("data commitment: {}", st.batch_data_commitment);
}

fn run_prove(args: ProveArgs) -> Result<()> {
    let t = Instant::now();
    let w = zknode_witness::BatchWitness::read(&args.witness)?;
    let read = t.elapsed();
    let backend = open_backend(args.device.device).context("opening the compute device")?;
    let committer = Committer::for_backend(backend.as_ref());
    eprintln!(
        "proving {} operations of batch {} on {}",
        w.ops.len(),
        w.chain.batch_number,
        backend.info()
    );
    let total = Instant::now();
    let (proof, tm) = prove_witness(&w, committer)?;
    let total = total.elapsed() + read;
    let bytes = proof.to_bytes();
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    println!(
        "table: {} rows ({} used) x {} columns",
        tm.rows,
        tm.used_rows,
        zknode_prover::batch::layout::NUM_COLUMNS
    );
    println!("  witness (read + check)  {:>9.2?}", read + tm.witness);
    println!("  trace                   {:>9.2?}", tm.trace);
    println!("  commit (LDE + Merkle)   {:>9.2?}", tm.commit);
    println!("  quotient + FRI          {:>9.2?}", tm.quotient_and_fri);
    println!("  total                   {total:>9.2?}");
    println!(
        "  {:.1} operations/s",
        w.ops.len() as f64 / total.as_secs_f64()
    );
    Ok(())
}

/// The process's peak resident memory so far, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn bench_prove(args: &BenchArgs) -> Result<()> {
    let backend = open_backend(args.device.device).context("opening the compute device")?;
    let committer = Committer::for_backend(backend.as_ref());
    eprintln!("batch proving on {}", backend.info());
    let mut sizes = args.ops.clone();
    // Ascending, so the process's peak memory after each size is that size's peak.
    sizes.sort_unstable();
    println!(
        "{:>6} {:>8} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>10}",
        "ops",
        "rows",
        "witness",
        "trace",
        "commit",
        "quot+FRI",
        "total",
        "ops/s",
        "proof",
        "peak MiB"
    );
    for ops in sizes {
        anyhow::ensure!(ops > 0, "--ops sizes must be positive");
        let w = zknode_witness::random_witness(ops, args.seed);
        let t = Instant::now();
        let (proof, tm) = prove_witness(&w, committer)?;
        let total = t.elapsed();
        proof.verify().context("a benchmark proof did not verify")?;
        let secs = |d: std::time::Duration| format!("{:.3}s", d.as_secs_f64());
        println!(
            "{:>6} {:>8} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9.1} {:>8}K {:>10}",
            ops,
            tm.rows,
            secs(tm.witness),
            secs(tm.trace),
            secs(tm.commit),
            secs(tm.quotient_and_fri),
            secs(total),
            ops as f64 / total.as_secs_f64(),
            proof.to_bytes().len() / 1024,
            peak_rss_mib().map_or("n/a".into(), |m| format!("{m:.0}")),
        );
    }
    Ok(())
}

fn run_serve(args: ServeArgs) -> Result<()> {
    use zknode_prover::worker::{default_prover_id, run, WorkerConfig};
    let backend = open_backend(args.device.device).context("opening the compute device")?;
    let prover_id = args.prover_id.unwrap_or_else(default_prover_id);
    let mut config = WorkerConfig::new(args.aggregator, prover_id, backend);
    if let Some(name) = args.prover_name {
        config.prover_name = name;
    }
    config.backoff_max = std::time::Duration::from_millis(args.max_backoff_ms.max(1));
    config.backoff_initial = config.backoff_initial.min(config.backoff_max);
    config.corrupt_proofs = args.corrupt_proofs;
    if config.corrupt_proofs {
        tracing::warn!("--corrupt-proofs: every proof returned will be corrupted");
    }
    if args.recursion {
        eprintln!(
            "loading the recursion circuits from {}",
            args.circuit_cache.display()
        );
        let t = Instant::now();
        let circuits =
            zknode_prover::recursion::load_or_build(Some(&args.circuit_cache), &mut |step| {
                eprintln!("recursion circuits: {step}")
            })
            .context("preparing the recursion circuits")?;
        eprintln!("recursion circuits ready in {:.1?}", t.elapsed());
        config.recursion = Some(Arc::new(circuits));
    }
    eprintln!(
        "prover {} serving {} on {}",
        config.prover_id,
        config.aggregator,
        config.backend.info()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(config, async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("interrupted; stopping");
        }
    }))?;
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => run_serve(args),
        Command::Witness(cmd) => run_witness(cmd),
        Command::Prove(args) => run_prove(args),
        Command::Verify { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let proof = BatchProof::from_bytes(&bytes)
                .with_context(|| format!("{} is not a batch proof", file.display()))?;
            let t = Instant::now();
            let st = proof
                .verify()
                .with_context(|| format!("{} does not verify", file.display()))?;
            println!("{}: valid ({:.2?})", file.display(), t.elapsed());
            print_statement(&st);
            Ok(())
        }
        Command::Device(args) => {
            let backend = open_backend(args.device).context("opening the compute device")?;
            println!("{}", backend.info());
            Ok(())
        }
        Command::Bench(args) if args.prove => bench_prove(&args),
        Command::Bench(args) => {
            let backend =
                open_bench_backend(args.device.device).context("opening the compute device")?;
            eprintln!("benchmarking on {}", backend.info());
            bench::sanity(&*backend)?;
            let mut cases = bench::suite(args.quick);
            if !args.lde_shapes.is_empty() {
                cases.retain(|c| !matches!(c, bench::Case::LdeMerkle { .. }));
                cases.extend(args.lde_shapes.iter().map(|&(log_rows, cols)| {
                    bench::Case::LdeMerkle {
                        log_rows,
                        cols,
                        rate_bits: 3,
                    }
                }));
            }
            if !args.only.is_empty() {
                cases.retain(|c| args.only.iter().any(|o| c.name().contains(o.as_str())));
                anyhow::ensure!(
                    !cases.is_empty(),
                    "--only {:?} matches no benchmark case",
                    args.only
                );
            }
            let limit = match args.max_memory_gib {
                Some(g) => (g * (1u64 << 30) as f64) as u64,
                None => zknode_kernels::CpuBackend::new().info().memory_bytes / 2,
            };
            let rows = bench::run_suite(backend.as_ref(), &cases, args.iters, args.seed, limit)?;
            print!("{}", bench::table(&*backend, &rows));
            Ok(())
        }
    }
}
