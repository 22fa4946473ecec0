//! `zknode`: the lean node (JSON-RPC, pool, sequencer, synchronizer, state).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use zknode_state::vectors::{self, Format};

/// zkNode lean node: JSON-RPC, transaction pool, sequencer, sequence sender and L1 synchronizer
/// of a Polygon-CDK-style rollup.
///
/// The node itself is not implemented yet. Available today: `zknode vectors`, which checks this
/// build's state tree and batch executor against Polygon's reference vector files.
#[derive(Parser, Debug)]
#[command(name = "zknode", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
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
        None => anyhow::bail!(
            "the node is not implemented in this build yet; see `zknode --help` for what is"
        ),
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
