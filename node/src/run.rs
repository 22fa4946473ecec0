//! `zknode run`: opens the data directory, writes genesis on first start, and runs the
//! components named in the configuration until SIGINT or SIGTERM.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use zknode_pool::Pool;
use zknode_rpc::{ChainHead, NodeApi, RpcMetrics};
use zknode_sequencer::{ChainSpec, Sequencer, SequencerMetrics};
use zknode_state::RocksStore;
use zknode_storage::{BlockReader, StateDb};

use crate::config::{Component, Config, DEV_GENESIS};
use crate::metrics::{self, Metrics};

/// Reads the head (last stored block) from the database.
async fn read_head(db: &StateDb) -> anyhow::Result<ChainHead> {
    let n = db
        .latest_block_number()
        .await?
        .context("the database holds no block")?;
    let b = db
        .block_by_number(n)
        .await?
        .with_context(|| format!("block {n} is missing"))?;
    Ok(ChainHead {
        number: n,
        hash: b.hash,
        state_root: b.header.state_root,
    })
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    let url = cfg.database_url();
    tracing::info!(target: "zknode", data_dir = %cfg.data_dir.display(), database = %zknode_sqldb::redact_url(&url), "starting");
    let db = StateDb::connect(&url)
        .await
        .context("opening the state database")?;
    let tree_dir = cfg.data_dir.join("state-tree");
    let store = Arc::new(
        RocksStore::open_with_cache(&tree_dir, cfg.state_cache_bytes)
            .with_context(|| format!("opening the state tree at {}", tree_dir.display()))?,
    );
    let genesis_text = if cfg.genesis.is_empty() {
        DEV_GENESIS.to_string()
    } else {
        std::fs::read_to_string(&cfg.genesis)
            .with_context(|| format!("reading the genesis file {}", cfg.genesis))?
    };
    let accounts = zknode_state::genesis::parse(&genesis_text).with_context(|| {
        format!(
            "in the genesis {}",
            if cfg.genesis.is_empty() {
                "(embedded)"
            } else {
                &cfg.genesis
            }
        )
    })?;
    let spec = ChainSpec {
        chain_id: cfg.chain_id,
        coinbase: cfg.coinbase,
    };
    zknode_sequencer::init_genesis(&db, &store, &accounts, &spec, cfg.genesis_timestamp).await?;
    let head = read_head(&db).await?;
    // Bring the tree's upper levels into the cache before serving.
    let warm_root = zknode_sequencer::root_hash(&head.state_root)?;
    let store2 = store.clone();
    let warmed = tokio::task::spawn_blocking(move || store2.warm(warm_root)).await??;
    tracing::info!(target: "zknode", block = head.number, nodes = warmed, "state tree cache warmed");

    let pool = Arc::new(Pool::open(db.clone(), cfg.pool.clone()).await?);
    let (head_tx, head_rx) = watch::channel(head);
    let seq_metrics = Arc::new(SequencerMetrics::default());
    let rpc_metrics = Arc::new(RpcMetrics::default());
    let accepting = Arc::new(AtomicBool::new(true));

    // Keep the head current: from the database, which the sequencer writes.
    let head_db = db.clone();
    let head_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            match read_head(&head_db).await {
                Ok(h) => {
                    head_tx.send_if_modified(|cur| {
                        let changed = *cur != h;
                        *cur = h;
                        changed
                    });
                }
                Err(e) => tracing::warn!(target: "zknode", error = %e, "reading the head"),
            }
        }
    });

    let sequencer = if cfg.components.contains(&Component::Sequencer) {
        Some(
            Sequencer {
                config: cfg.sequencer.clone(),
                spec: spec.clone(),
                db: db.clone(),
                store: store.clone(),
                pool: pool.clone(),
                metrics: seq_metrics.clone(),
            }
            .spawn(tokio::runtime::Handle::current()),
        )
    } else {
        None
    };

    let rpc = if cfg.components.contains(&Component::Rpc) {
        let api = NodeApi {
            chain_id: cfg.chain_id,
            coinbase: cfg.coinbase,
            db: db.clone(),
            store: store.clone(),
            pool: pool.clone(),
            gas_price: u128::from(cfg.pool.min_gas_price),
            head: head_rx,
            accepting: accepting.clone(),
            metrics: rpc_metrics.clone(),
            client_version: format!("zknode/v{}", env!("CARGO_PKG_VERSION")),
            batch_limits: zknode_rpc::BatchLimits {
                max_gas: cfg.sequencer.max_batch_gas,
                max_state_ops: cfg.sequencer.max_batch_state_ops,
                max_bytes: cfg.sequencer.max_batch_bytes,
            },
        };
        let (addr, handle) = zknode_rpc::start(&cfg.rpc, api)
            .await
            .with_context(|| format!("starting JSON-RPC on {}", cfg.rpc.http_addr))?;
        println!("zknode: JSON-RPC on http://{addr}");
        Some(handle)
    } else {
        None
    };

    let metrics_task = if cfg.metrics_addr.is_empty() {
        None
    } else {
        let m = Metrics {
            sequencer: seq_metrics.clone(),
            rpc: rpc_metrics.clone(),
            pool: pool.clone(),
        };
        let addr = cfg.metrics_addr.parse()?;
        let (bound, task) = metrics::serve(addr, m)
            .await
            .with_context(|| format!("starting metrics on {addr}"))?;
        println!("zknode: metrics on http://{bound}/metrics");
        Some(task)
    };

    // Run until a signal, or until the sequencer stops by itself (an error).
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut failed = None;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { tracing::info!(target: "zknode", "SIGINT: stopping"); break; }
            _ = sigterm.recv() => { tracing::info!(target: "zknode", "SIGTERM: stopping"); break; }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if sequencer.as_ref().is_some_and(|s| s.is_finished()) {
                    failed = Some("the sequencer stopped");
                    break;
                }
            }
        }
    }
    // Stop taking transactions, let the sequencer store its block in progress, then close.
    accepting.store(false, Ordering::SeqCst);
    if let Some(s) = sequencer {
        let r = tokio::task::spawn_blocking(move || s.stop()).await?;
        r.context("the sequencer")?;
    }
    if let Some(h) = rpc {
        let _ = h.stop();
        h.stopped().await;
    }
    if let Some(t) = metrics_task {
        t.abort();
    }
    head_task.abort();
    db.close().await;
    match failed {
        Some(why) => anyhow::bail!("{why}; see the log above"),
        None => {
            tracing::info!(target: "zknode", "stopped");
            Ok(())
        }
    }
}
