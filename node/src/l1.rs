//! `zknode l1 deploy`: deploys the rollup contracts on L1 and records where they are in the
//! `[l1]` section of the node's configuration file, keeping the rest of the file as it was.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use anyhow::Context;
use zknode_l1::{DeployParams, Deployment};
use zknode_state::genesis::GenesisAccount;
use zknode_state::{Hash, MemoryStore, StateTree};

use crate::config::{Config, L1Config};

#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    /// The L1 node's JSON-RPC (http://HOST:PORT; no TLS is built in).
    #[arg(long, value_name = "URL")]
    pub rpc: String,
    /// The deploying account's private key (hex); better given through the environment
    /// (ZKNODE_L1_KEY) than on the command line.
    #[arg(
        long,
        env = "ZKNODE_L1_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub key: String,
    /// The node's TOML configuration: read for chain_id and genesis, and its [l1] section
    /// written (the file is created when missing).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The L2 chain id, instead of the configuration's; with --config it is also written to
    /// the file's chain_id, so that the node and the contract agree.
    #[arg(long)]
    pub chain_id: Option<u64>,
    /// The admin (changes roles and forced-batch settings; plays the bridge); default: the
    /// deploying account.
    #[arg(long, value_name = "ADDRESS")]
    pub admin: Option<Address>,
    /// The account allowed to sequence batches; default: the deploying account.
    #[arg(long, value_name = "ADDRESS")]
    pub trusted_sequencer: Option<Address>,
    /// The account allowed to verify batches; default: the deploying account.
    #[arg(long, value_name = "ADDRESS")]
    pub trusted_aggregator: Option<Address>,
}

/// The state root of `accounts` as a genesis (what `zknode run` writes as block 0's).
fn genesis_state_root(accounts: &[GenesisAccount]) -> anyhow::Result<B256> {
    let store = MemoryStore::new();
    let mut tree = StateTree::at_root(&store, Hash::default());
    let root =
        zknode_state::genesis::apply(&mut tree, accounts).context("building the genesis state")?;
    Ok(zknode_sequencer::root_b256(&root))
}

/// The configuration deploy reads: the file's when it exists, with --chain-id over it.
fn load(args: &DeployArgs) -> anyhow::Result<Config> {
    let sets: Vec<String> = args
        .chain_id
        .map(|id| format!("chain_id={id}"))
        .into_iter()
        .collect();
    let file = args.config.as_deref().filter(|p| p.exists());
    Ok(Config::load(file, std::env::vars(), &sets)?)
}

pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let cfg = load(&args)?;
    let root = genesis_state_root(&cfg.genesis_accounts()?)?;
    let signer = zknode_l1::parse_key(&args.key)?;
    let from = signer.address();
    let provider = zknode_l1::connect(&args.rpc, signer)?;
    let admin = args.admin.unwrap_or(from);
    let params = DeployParams {
        admin,
        trusted_sequencer: args.trusted_sequencer.unwrap_or(from),
        trusted_aggregator: args.trusted_aggregator.unwrap_or(from),
        bridge: admin,
        chain_id: cfg.chain_id,
        fork_id: zknode_l1::FORK_ID,
        genesis_state_root: root,
    };
    let d: Deployment = zknode_l1::deploy(&provider, from, &params)
        .await
        .with_context(|| format!("deploying on {} from {from}", args.rpc))?;
    let section = L1Config {
        rpc_url: args.rpc.clone(),
        rollup: d.rollup,
        global_exit_root_manager: d.global_exit_root_manager,
        deploy_block: d.deploy_block,
        ..L1Config::default()
    };
    let summary = format!(
        "zknode: rollup {} and global exit root manager {} deployed in L1 block {} (L2 chain id \
         {}, genesis state root {root})",
        d.rollup, d.global_exit_root_manager, d.deploy_block, cfg.chain_id
    );
    match &args.config {
        Some(path) => {
            write_l1_section(path, &section, args.chain_id)?;
            println!("{summary}");
            println!("zknode: wrote [l1] to {}", path.display());
        }
        None => {
            eprintln!("{summary}");
            print!("{}", edit(String::new(), &section, None)?);
        }
    }
    Ok(())
}

/// `text` (a TOML document) with its `[l1]` keys set to `section`'s and, when given, its
/// `chain_id`; everything else, comments included, is kept.
fn edit(text: String, section: &L1Config, chain_id: Option<u64>) -> anyhow::Result<String> {
    use toml_edit::{value, DocumentMut, Item, Table};

    let mut doc: DocumentMut = text.parse()?;
    if let Some(id) = chain_id {
        let id = i64::try_from(id).context("chain id above i64::MAX")?;
        doc["chain_id"] = value(id);
    }
    let l1 = doc
        .entry("l1")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .context("l1 is not a table of settings")?;
    let block = i64::try_from(section.deploy_block).context("deploy block above i64::MAX")?;
    set(l1, "rpc_url", section.rpc_url.as_str().into());
    set(l1, "rollup", section.rollup.to_string().into());
    set(
        l1,
        "global_exit_root_manager",
        section.global_exit_root_manager.to_string().into(),
    );
    set(l1, "deploy_block", block.into());
    Ok(doc.to_string())
}

/// Sets `key` to `v`, keeping the comments around a value that was there.
fn set(table: &mut dyn toml_edit::TableLike, key: &str, mut v: toml_edit::Value) {
    match table.get_mut(key) {
        Some(item) => {
            if let Some(old) = item.as_value() {
                *v.decor_mut() = old.decor().clone();
            }
            *item = toml_edit::Item::Value(v);
        }
        None => {
            table.insert(key, toml_edit::Item::Value(v));
        }
    }
}

/// Writes `section` into the `[l1]` table of the file at `path` (created when missing); the new
/// file must load as a configuration before it replaces the old one.
fn write_l1_section(path: &Path, section: &L1Config, chain_id: Option<u64>) -> anyhow::Result<()> {
    let old = if path.exists() {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    } else {
        String::new()
    };
    let new = edit(old, section, chain_id).with_context(|| format!("in {}", path.display()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, &new).with_context(|| format!("writing {}", tmp.display()))?;
    if let Err(e) = Config::load(Some(&tmp), Vec::new(), &[]) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::from(e).context("the configuration with [l1] written"));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// `zknode l1 clear-halt`: removes the synchronizer's halt from the node's database.
pub async fn clear_halt(cfg: &crate::config::Config) -> anyhow::Result<()> {
    let url = cfg.database_url();
    let db = zknode_storage::StateDb::connect(&url)
        .await
        .with_context(|| format!("opening {}", zknode_sqldb::redact_url(&url)))?;
    match db.sync_halt().await? {
        None => println!("no halt is stored: the sequencer is free to run"),
        Some(h) => {
            db.clear_sync_halt().await?;
            println!(
                "cleared the halt on batch {} (L1 block {}): {}",
                h.batch_number, h.l1_block, h.reason
            );
        }
    }
    db.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> L1Config {
        L1Config {
            rpc_url: "http://127.0.0.1:8545".into(),
            rollup: Address::repeat_byte(0xaa),
            global_exit_root_manager: Address::repeat_byte(0xbb),
            deploy_block: 7,
            ..L1Config::default()
        }
    }

    #[test]
    fn the_l1_section_is_written_and_the_rest_kept() {
        let text = "# my node\nchain_id = 5 # the L2\n\n[l1]\n# where L1 is\nrpc_url = \"x\" # local\n\n[sequencer]\nblock_time_ms = 500\n";
        let out = edit(text.into(), &section(), None).unwrap();
        assert!(
            out.starts_with("# my node\nchain_id = 5 # the L2\n"),
            "{out}"
        );
        assert!(out.contains("[sequencer]\nblock_time_ms = 500\n"), "{out}");
        assert!(
            out.contains("# where L1 is\nrpc_url = \"http://127.0.0.1:8545\" # local\n"),
            "{out}"
        );
        assert_eq!(out.matches("[l1]").count(), 1, "{out}");
        let t: toml::Table = out.parse().unwrap();
        let l1 = t["l1"].as_table().unwrap();
        assert_eq!(l1["rpc_url"].as_str(), Some("http://127.0.0.1:8545"));
        assert_eq!(l1["deploy_block"].as_integer(), Some(7));
        assert_eq!(
            l1["rollup"].as_str().unwrap().parse::<Address>().unwrap(),
            Address::repeat_byte(0xaa)
        );
        let out = edit(out, &section(), Some(9)).unwrap();
        assert!(out.contains("chain_id = 9"), "{out}");
        assert!(edit("l1 = 3\n".into(), &section(), None).is_err());
    }

    #[test]
    fn the_dev_genesis_root_is_the_one_zknode_run_writes() {
        let cfg = Config::default();
        let root = genesis_state_root(&cfg.genesis_accounts().unwrap()).unwrap();
        assert_ne!(root, B256::ZERO);
        assert!(zknode_sequencer::root_hash(&root).is_ok());
    }
}
