//! The `sequence-sender` component of `zknode run`: the L1 transaction manager and the sequence
//! sender (zknode-l1), each on a task of its own.

use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
use zknode_l1::{SenderError, SequenceSender, TxManager, ZkEvmRollup};
use zknode_storage::StateDb;

use crate::config::Config;

/// The environment variable that holds the sequencer's L1 key (it wins over
/// `l1.sequencer_key`).
pub const KEY_ENV: &str = "ZKNODE_L1_SEQUENCER_KEY";

/// The running sender and its transaction manager.
pub struct SenderTasks {
    sender: JoinHandle<Result<(), SenderError>>,
    txman: JoinHandle<()>,
    /// The transaction manager (its counters go on /metrics).
    pub manager: Arc<TxManager>,
}

impl SenderTasks {
    /// Whether either stopped (the sender stops only on an error it must not go past).
    pub fn is_finished(&self) -> bool {
        self.sender.is_finished() || self.txman.is_finished()
    }

    /// Stops both. What was recorded stays recorded: a restart resumes from it.
    pub fn stop(self) {
        self.sender.abort();
        self.txman.abort();
    }
}

/// Checks the settings, connects to L1, checks that the key is the rollup's trusted sequencer,
/// and starts both tasks.
pub async fn start(cfg: &Config, db: &StateDb) -> anyhow::Result<SenderTasks> {
    let l1 = &cfg.l1;
    if l1.rpc_url.is_empty() || l1.rollup.is_zero() || l1.global_exit_root_manager.is_zero() {
        anyhow::bail!(
            "the sequence-sender component needs l1.rpc_url, l1.rollup and \
             l1.global_exit_root_manager (`zknode l1 deploy --config FILE` writes them)"
        );
    }
    let key = std::env::var(KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .unwrap_or_else(|| l1.sequencer_key.0.clone());
    if key.trim().is_empty() {
        anyhow::bail!(
            "the sequence-sender component needs the trusted sequencer's L1 key: set {KEY_ENV} \
             in the environment (or l1.sequencer_key)"
        );
    }
    let signer = zknode_l1::parse_key(&key)
        .map_err(|_| anyhow::anyhow!("{KEY_ENV} / l1.sequencer_key is not a private key (hex)"))?;
    let provider = zknode_l1::connect(&l1.rpc_url, signer.clone())?;
    let txman = TxManager::new(db.clone(), provider.clone(), signer, l1.tx_manager.clone())
        .await
        .with_context(|| format!("starting the L1 transaction manager on {}", l1.rpc_url))?;
    let trusted = ZkEvmRollup::new(l1.rollup, &provider)
        .trustedSequencer()
        .call()
        .await
        .with_context(|| format!("reading the rollup {}'s trusted sequencer", l1.rollup))?;
    if trusted != txman.sender() {
        anyhow::bail!(
            "the sequencer's L1 key is account {}, but the rollup {} takes sequences from {trusted} \
             only",
            txman.sender(),
            l1.rollup
        );
    }
    tracing::info!(target: "zknode", sender = %txman.sender(), rollup = %l1.rollup, "sequence sender starting");
    let txman = Arc::new(txman);
    let t = txman.clone();
    let manager = txman.clone();
    let txman_task = tokio::spawn(async move { t.run().await });
    let sender = SequenceSender {
        db: db.clone(),
        txman,
        provider,
        rollup: l1.rollup,
        global_exit_root_manager: l1.global_exit_root_manager,
        config: l1.sequence_sender.clone(),
    };
    let sender_task = tokio::spawn(async move { sender.run().await });
    Ok(SenderTasks {
        sender: sender_task,
        txman: txman_task,
        manager,
    })
}
