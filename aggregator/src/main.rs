//! `zkaggregator`: hands batch witnesses to the prover farm, aggregates the proofs recursively
//! and settles the final proof on L1.

use clap::Parser;

/// zkNode aggregator: schedules batch proofs on connected `zkprover` workers, aggregates them
/// recursively and settles the final proof on L1.
///
/// Not implemented yet: this build only answers `--help` and `--version`.
#[derive(Parser, Debug)]
#[command(name = "zkaggregator", version, about, long_about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!("zkaggregator is not implemented in this build yet; see `zkaggregator --help`")
}
