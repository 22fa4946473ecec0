//! `zknode`: the lean node (JSON-RPC, pool, sequencer, synchronizer, state).

use clap::Parser;

/// zkNode lean node: JSON-RPC, transaction pool, sequencer, sequence sender and L1 synchronizer
/// of a Polygon-CDK-style rollup.
///
/// Not implemented yet: this build only answers `--help` and `--version`.
#[derive(Parser, Debug)]
#[command(name = "zknode", version, about, long_about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!("zknode is not implemented in this build yet; see `zknode --help`")
}
