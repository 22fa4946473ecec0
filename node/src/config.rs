//! The node's configuration: a TOML file (`node/config/node.example.toml` documents every key),
//! then environment variables, then `--set` flags, each overriding the one before.
//!
//! Any key can be overridden: `--set sequencer.block_time_ms=500` on the command line, or
//! `ZKNODE__SEQUENCER__BLOCK_TIME_MS=500` in the environment (two underscores between the
//! parts). A value is read as TOML when it parses as one (`500`, `true`, `["rpc"]`), else as a
//! string.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use serde::Deserialize;
use zknode_pool::PoolConfig;
use zknode_rpc::RpcConfig;
use zknode_sequencer::SequencerConfig;
use zknode_state::genesis::GenesisAccount;

/// The example configuration, with every key and its default.
pub const EXAMPLE: &str = include_str!("../config/node.example.toml");

/// The embedded development genesis (development only: its accounts' keys are public).
pub const DEV_GENESIS: &str = include_str!("../config/dev-genesis.json");

/// The first development account (the test mnemonic's account 0); it receives the fees of the
/// development chain.
pub const DEV_COINBASE: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/// A component the node can run.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Rpc,
    Sequencer,
    /// Posts closed batches to L1 (needs `[l1]` and the sequencer's L1 key).
    #[serde(rename = "sequence-sender")]
    SequenceSender,
    /// Follows the rollup on L1 (needs `[l1]`): L1 info tree, sequences, verifications; marks
    /// this node's batches virtual and verified, and halts sequencing when L1 disagrees.
    Synchronizer,
}

/// Everything `zknode run` reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the node keeps its state (the SQLite database, the state tree).
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://…`; empty: `sqlite:<data_dir>/state.sqlite`.
    pub database_url: String,
    /// A genesis JSON file of accounts; empty: the embedded development genesis.
    pub genesis: String,
    /// Unix seconds of block 0; used only when the chain is created.
    pub genesis_timestamp: u64,
    pub chain_id: u64,
    /// Receives the fees of the blocks this node sequences.
    pub coinbase: Address,
    pub components: Vec<Component>,
    /// Where Prometheus metrics are served (`/metrics`); empty: nowhere.
    pub metrics_addr: String,
    /// The log filter (`RUST_LOG` syntax) when `RUST_LOG` is unset.
    pub log: String,
    /// Bytes of the state tree's node cache.
    pub state_cache_bytes: usize,
    /// For a node without the sequencer component: the sequencer's state tree directory, which
    /// it opens as a read-only secondary; empty: `<data_dir>/state-tree`.
    pub state_tree_primary: PathBuf,
    pub rpc: RpcConfig,
    pub pool: PoolConfig,
    pub sequencer: SequencerConfig,
    pub l1: L1Config,
}

/// Where the rollup lives on L1 (`[l1]`; `zknode l1 deploy` writes it).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct L1Config {
    /// The L1 node's JSON-RPC (`http://HOST:PORT`); empty: none.
    pub rpc_url: String,
    /// The rollup contract (`contracts/ZkEvmRollup.sol`).
    pub rollup: Address,
    /// The global exit root manager (`contracts/GlobalExitRootManager.sol`), which holds the L1
    /// info tree.
    pub global_exit_root_manager: Address,
    /// The L1 block the contracts were deployed in: where following L1 starts.
    pub deploy_block: u64,
    /// The trusted sequencer's L1 private key (hex), which the sequence sender signs with;
    /// `ZKNODE_L1_SEQUENCER_KEY` in the environment wins over it. Never printed.
    pub sequencer_key: Secret,
    pub tx_manager: zknode_l1::TxManagerConfig,
    pub sequence_sender: zknode_l1::SequenceSenderConfig,
    /// `[l1.sync]`: the synchronizer's chunk size, head tag and interval.
    pub sync: zknode_sync::SyncConfig,
}

/// A setting that is never printed (its `Debug` is `"***"` once set).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl L1Config {
    fn check(&self) -> Result<(), String> {
        if !self.rpc_url.is_empty() && !self.rpc_url.starts_with("http://") {
            return Err(format!(
                "l1.rpc_url {:?}: expected http://HOST:PORT (no TLS is built in)",
                self.rpc_url
            ));
        }
        self.tx_manager.check()?;
        self.sequence_sender.check()?;
        self.sync.check()?;
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./zknode-data"),
            database_url: String::new(),
            genesis: String::new(),
            genesis_timestamp: 0,
            chain_id: 1001,
            coinbase: DEV_COINBASE.parse().expect("a valid address"),
            components: vec![Component::Rpc, Component::Sequencer],
            metrics_addr: "127.0.0.1:9091".into(),
            log: "info".into(),
            state_cache_bytes: 256 << 20,
            state_tree_primary: PathBuf::new(),
            rpc: RpcConfig::default(),
            pool: PoolConfig::default(),
            sequencer: SequencerConfig::default(),
            l1: L1Config::default(),
        }
    }
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("--set {0:?}: expected KEY=VALUE, e.g. sequencer.block_time_ms=500")]
    BadOverride(String),
    #[error("{0}")]
    Invalid(String),
}

/// Sets `path` (dotted) in `table` to `value`.
fn set_path(table: &mut toml::Table, path: &str, value: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::BadOverride(format!("{path}={value}")));
    }
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut t = table;
    for p in &parts[..parts.len() - 1] {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "{path}: {p} is not a table of settings"
                )))
            }
        };
    }
    t.insert(parts[parts.len() - 1].to_string(), parsed);
    Ok(())
}

impl Config {
    /// Reads `file` (when given), then the `ZKNODE__…` environment variables in `env`, then
    /// `sets` (`KEY=VALUE`), and checks the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        sets: &[String],
    ) -> Result<Config, ConfigError> {
        let (mut table, origin) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let t = text
                    .parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                (t, path.display().to_string())
            }
            None => (toml::Table::new(), "the settings".to_string()),
        };
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("ZKNODE__"))
            .collect();
        env.sort();
        for (k, v) in env {
            let path = k["ZKNODE__".len()..].to_lowercase().replace("__", ".");
            set_path(&mut table, &path, &v)?;
        }
        for s in sets {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| ConfigError::BadOverride(s.clone()))?;
            set_path(&mut table, k.trim(), v.trim())?;
        }
        // The pool checks transactions against the chain id: it follows `chain_id` unless set.
        if let Some(id) = table.get("chain_id").cloned() {
            let pool = table
                .entry("pool")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(pool) = pool {
                pool.entry("chain_id").or_insert(id);
            }
        }
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: origin,
                message: e.to_string(),
            })?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.components.is_empty() {
            return Err(ConfigError::Invalid(
                "components is empty: name at least one of \"rpc\", \"sequencer\"".into(),
            ));
        }
        if self.chain_id == 0 {
            return Err(ConfigError::Invalid("chain_id must not be 0".into()));
        }
        if self.pool.chain_id != self.chain_id {
            return Err(ConfigError::Invalid(format!(
                "pool.chain_id ({}) differs from chain_id ({}); set chain_id only",
                self.pool.chain_id, self.chain_id
            )));
        }
        if !self.metrics_addr.is_empty() {
            self.metrics_addr.parse::<SocketAddr>().map_err(|e| {
                ConfigError::Invalid(format!(
                    "metrics_addr {:?}: {e} (HOST:PORT, or empty to disable)",
                    self.metrics_addr
                ))
            })?;
        }
        self.sequencer.check().map_err(ConfigError::Invalid)?;
        self.l1.check().map_err(ConfigError::Invalid)?;
        let sequencing = self.components.contains(&Component::Sequencer);
        if sequencing && !self.rpc.sequencer_url.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "rpc.sequencer_url ({:?}) is for a node without the sequencer component; this \
                 node sequences the transactions it takes",
                self.rpc.sequencer_url
            )));
        }
        if !sequencing && self.components.contains(&Component::Rpc) {
            if self.rpc.sequencer_url.is_empty() {
                return Err(ConfigError::Invalid(
                    "a node without the sequencer component relays eth_sendRawTransaction to the \
                     sequencer: set rpc.sequencer_url to its JSON-RPC (http://HOST:PORT)"
                        .into(),
                ));
            }
            zknode_rpc::check_sequencer_url(&self.rpc.sequencer_url)
                .map_err(|e| ConfigError::Invalid(format!("rpc.sequencer_url: {e}")))?;
        }
        Ok(())
    }

    /// The genesis accounts: the `genesis` file's, or the embedded development genesis.
    pub fn genesis_accounts(&self) -> Result<Vec<GenesisAccount>, ConfigError> {
        let (text, origin) = if self.genesis.is_empty() {
            (DEV_GENESIS.to_string(), "the embedded genesis".to_string())
        } else {
            let text =
                std::fs::read_to_string(&self.genesis).map_err(|source| ConfigError::Read {
                    path: PathBuf::from(&self.genesis),
                    source,
                })?;
            (text, self.genesis.clone())
        };
        zknode_state::genesis::parse(&text).map_err(|e| ConfigError::Parse {
            path: origin,
            message: e.to_string(),
        })
    }

    /// The sequencer's state tree, which a node without the sequencer component follows.
    pub fn state_tree_primary(&self) -> PathBuf {
        if self.state_tree_primary.as_os_str().is_empty() {
            self.data_dir.join("state-tree")
        } else {
            self.state_tree_primary.clone()
        }
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            zknode_storage::sqlite_url(&self.data_dir.join("state.sqlite"))
        } else {
            self.database_url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        let c = Config::load(Some(&path), Vec::new(), &[]).unwrap();
        let d = Config::default();
        assert_eq!(c.rpc, d.rpc);
        assert_eq!(c.sequencer, d.sequencer);
        assert_eq!(c.chain_id, d.chain_id);
        assert_eq!(c.components, d.components);
        assert_eq!(format!("{:?}", c.pool), format!("{:?}", d.pool));
        assert_eq!(c.l1, d.l1);
    }

    #[test]
    fn env_and_flags_override_in_order() {
        let env = vec![
            (
                "ZKNODE__SEQUENCER__BLOCK_TIME_MS".to_string(),
                "250".to_string(),
            ),
            ("ZKNODE__CHAIN_ID".to_string(), "7".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let c = Config::load(None, env, &["sequencer.block_time_ms=100".into()]).unwrap();
        assert_eq!(c.sequencer.block_time_ms, 100);
        assert_eq!((c.chain_id, c.pool.chain_id), (7, 7));
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let e = Config::load(None, Vec::new(), &["sequencer.no_such_key=1".into()]).unwrap_err();
        assert!(e.to_string().contains("no_such_key"), "{e}");
        let e = Config::load(None, Vec::new(), &["nonsense".into()]).unwrap_err();
        assert!(e.to_string().contains("KEY=VALUE"), "{e}");
        let e =
            Config::load(None, Vec::new(), &["sequencer.block_time_ms=\"x\"".into()]).unwrap_err();
        assert!(e.to_string().contains("block_time_ms"), "{e}");
        let e = Config::load(
            None,
            Vec::new(),
            &["chain_id=5".into(), "pool.chain_id=6".into()],
        )
        .unwrap_err();
        assert!(e.to_string().contains("pool.chain_id"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "chain_id = [").unwrap();
        let e = Config::load(Some(&path), Vec::new(), &[]).unwrap_err();
        assert!(e.to_string().contains("bad.toml"), "{e}");
    }

    #[test]
    fn the_l1_rpc_is_plain_http() {
        let e = Config::load(None, Vec::new(), &["l1.rpc_url=https://x:1".into()]).unwrap_err();
        assert!(e.to_string().contains("l1.rpc_url"), "{e}");
        let c = Config::load(
            None,
            Vec::new(),
            &[
                "l1.rpc_url=http://127.0.0.1:8545".into(),
                "l1.deploy_block=12".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.l1.rpc_url.as_str(), c.l1.deploy_block),
            ("http://127.0.0.1:8545", 12)
        );
    }

    #[test]
    fn the_sequence_sender_settings_and_its_secret_key() {
        let with = |extra: &[&str]| {
            let mut sets = vec!["components=[\"rpc\", \"sequencer\", \"sequence-sender\"]".into()];
            sets.extend(extra.iter().map(|s| s.to_string()));
            Config::load(None, Vec::new(), &sets)
        };
        // `zknode l1 deploy` fills [l1] in later: `zknode run` refuses to start without it.
        assert!(with(&[]).is_ok());
        let c = with(&[
            "l1.rpc_url=http://127.0.0.1:8545",
            "l1.rollup=\"0x1000000000000000000000000000000000000001\"",
            "l1.global_exit_root_manager=\"0x2000000000000000000000000000000000000002\"",
            "l1.sequencer_key=\"0xabcdef\"",
            "l1.sequence_sender.max_batches_per_sequence=7",
            "l1.tx_manager.confirmations=1",
        ])
        .unwrap();
        assert!(c.components.contains(&Component::SequenceSender));
        assert_eq!(c.l1.sequence_sender.max_batches_per_sequence, 7);
        assert_eq!(c.l1.tx_manager.confirmations, 1);
        assert_eq!(c.l1.sequencer_key.0, "0xabcdef");
        assert!(!format!("{c:?}").contains("abcdef"));
        let e = with(&["l1.sequence_sender.max_batches_per_sequence=1001"]).unwrap_err();
        assert!(e.to_string().contains("max_batches_per_sequence"), "{e}");
    }

    #[test]
    fn the_synchronizer_settings() {
        let with = |extra: &[&str]| {
            let mut sets = vec!["components=[\"rpc\", \"sequencer\", \"synchronizer\"]".into()];
            sets.extend(extra.iter().map(|s| s.to_string()));
            Config::load(None, Vec::new(), &sets)
        };
        let l1 = [
            "l1.rpc_url=http://127.0.0.1:8545",
            "l1.rollup=\"0x1000000000000000000000000000000000000001\"",
            "l1.global_exit_root_manager=\"0x2000000000000000000000000000000000000002\"",
        ];
        let c = with(&l1).unwrap();
        assert!(c.components.contains(&Component::Synchronizer));
        assert_eq!(c.l1.sync, zknode_sync::SyncConfig::default());
        let mut more = l1.to_vec();
        more.extend(["l1.sync.chunk_size=7", "l1.sync.head=\"latest\""]);
        let c = with(&more).unwrap();
        assert_eq!(c.l1.sync.chunk_size, 7);
        assert_eq!(c.l1.sync.head, zknode_sync::HeadTag::Latest);
        more.push("l1.sync.chunk_size=0");
        let e = with(&more).unwrap_err();
        assert!(e.to_string().contains("chunk_size"), "{e}");
    }

    #[test]
    fn an_rpc_only_node_needs_the_sequencers_url_and_a_sequencer_none() {
        let rpc_only = || "components=[\"rpc\"]".to_string();
        let e = Config::load(None, Vec::new(), &[rpc_only()]).unwrap_err();
        assert!(e.to_string().contains("set rpc.sequencer_url"), "{e}");
        let e = Config::load(
            None,
            Vec::new(),
            &[rpc_only(), "rpc.sequencer_url=https://x:1".into()],
        )
        .unwrap_err();
        assert!(e.to_string().contains("https is not built in"), "{e}");
        let c = Config::load(
            None,
            Vec::new(),
            &[rpc_only(), "rpc.sequencer_url=http://10.0.0.5:8545".into()],
        )
        .unwrap();
        assert_eq!(c.rpc.sequencer_url, "http://10.0.0.5:8545");
        assert_eq!(c.state_tree_primary(), c.data_dir.join("state-tree"));
        let c = Config::load(
            None,
            Vec::new(),
            &[
                rpc_only(),
                "rpc.sequencer_url=http://10.0.0.5:8545".into(),
                "state_tree_primary=/srv/seq/state-tree".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.state_tree_primary(), PathBuf::from("/srv/seq/state-tree"));
        let e =
            Config::load(None, Vec::new(), &["rpc.sequencer_url=http://x:1".into()]).unwrap_err();
        assert!(
            e.to_string().contains("without the sequencer component"),
            "{e}"
        );
    }
}
