//! `zknode run`: opens the data directory, writes genesis on first start, and runs the
//! components named in the configuration until SIGINT or SIGTERM.
//!
//! With the synchronizer but not the sequencer (`--components rpc,synchronizer`) the node is a
//! permissionless node: it builds its own chain, in its own data directory and database, by
//! executing every batch L1 sequences ([`zknode_sync::L2Stage`]), and relays transactions to
//! the sequencer (`rpc.sequencer_url`).
//!
//! With neither (`zknode run --components rpc`) the node is an extra JSON-RPC process beside
//! the sequencer, on the same host: it reads the sequencer's database (PostgreSQL) and opens
//! the sequencer's state tree as a RocksDB secondary instance, which it catches up each time
//! the database shows a new block; it relays transactions to the sequencer. It writes nothing
//! the sequencer owns.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use anyhow::Context;
use tokio::sync::watch;
use zknode_pool::Pool;
use zknode_rpc::{ChainHead, NodeApi, Relay, RpcMetrics};
use zknode_sequencer::{ChainSpec, Sequencer, SequencerMetrics};
use zknode_state::{NodeReader, RocksStore};
use zknode_storage::{BlockReader, StateDb};

use crate::config::{Component, Config};
use crate::metrics::{self, Metrics};

/// Reads the head (last stored block) from the database.
async fn read_head(db: &StateDb) -> anyhow::Result<ChainHead> {
    let b = db
        .latest_block_head()
        .await?
        .context("the database holds no block")?;
    Ok(ChainHead {
        number: b.number,
        hash: b.hash,
        state_root: b.state_root,
    })
}

/// The sequencer's side: the state tree as the primary (the one writer), and genesis written on
/// first start.
async fn open_primary(
    cfg: &Config,
    db: &StateDb,
    spec: &ChainSpec,
) -> anyhow::Result<Arc<RocksStore>> {
    let tree_dir = cfg.data_dir.join("state-tree");
    let store = Arc::new(
        RocksStore::open_with_cache(&tree_dir, cfg.state_cache_bytes)
            .with_context(|| format!("opening the state tree at {}", tree_dir.display()))?,
    );
    let accounts = cfg.genesis_accounts()?;
    zknode_sequencer::init_genesis(db, &store, &accounts, spec, cfg.genesis_timestamp).await?;
    Ok(store)
}

/// An RPC-only node's side: the chain must exist (the sequencer creates it), and the state tree
/// is a read-only secondary of the sequencer's, in a directory of this process's own under the
/// data directory.
async fn open_follower(cfg: &Config, db: &StateDb) -> anyhow::Result<Arc<RocksStore>> {
    if db.latest_block_number().await?.is_none() {
        anyhow::bail!(
            "the database holds no chain; start the sequencer first (a node without the \
             sequencer component only reads the chain the sequencer writes)"
        );
    }
    let primary = cfg.state_tree_primary();
    let secondary = secondary_dir(cfg);
    let store = RocksStore::open_secondary(&primary, &secondary, cfg.state_cache_bytes)
        .with_context(|| {
            format!(
                "opening the sequencer's state tree at {} (state_tree_primary)",
                primary.display()
            )
        })?;
    tracing::info!(target: "zknode", primary = %primary.display(), secondary = %secondary.display(), "following the sequencer's state tree");
    Ok(Arc::new(store))
}

/// Where this process's secondary keeps its logs: one directory per process, as several RPC
/// processes may share a data directory. Removed when the process stops.
fn secondary_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir
        .join("state-tree-secondary")
        .join(std::process::id().to_string())
}

/// Catches a secondary state tree up with the sequencer's and says whether it now holds `root`.
/// The sequencer commits a block's state before it stores the block, so once the database has a
/// block, one catch-up brings its root; a root still missing means the tree is not the one
/// the sequencer writes.
async fn caught_up(store: &Arc<RocksStore>, root: B256) -> anyhow::Result<bool> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        store.catch_up()?;
        let h = zknode_sequencer::root_hash(&root)?;
        Ok(h.is_zero() || store.get(&h)?.is_some())
    })
    .await?
}

/// Keeps the published head current, from the database, which the sequencer writes. A node
/// that follows the sequencer's tree (`secondary`) publishes a new head only once its tree has
/// caught up to it, so that its JSON-RPC never names a block whose state it cannot read.
async fn follow_head(
    db: StateDb,
    secondary: Option<Arc<RocksStore>>,
    head_tx: watch::Sender<ChainHead>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let h = match read_head(&db).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(target: "zknode", error = %e, "reading the head");
                continue;
            }
        };
        if *head_tx.borrow() == h {
            continue;
        }
        if let Some(store) = &secondary {
            match caught_up(store, h.state_root).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(target: "zknode", block = h.number, root = %h.state_root, "the state tree does not hold this block's state yet");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(target: "zknode", error = %e, "catching up with the sequencer's state tree");
                    continue;
                }
            }
        }
        head_tx.send_replace(h);
    }
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    let url = cfg.database_url();
    let sequencing = cfg.components.contains(&Component::Sequencer);
    // A node without a sequencer but with the synchronizer executes L1's batches itself.
    let executing = !sequencing && cfg.components.contains(&Component::Synchronizer);
    // Whether this process writes the chain (blocks and the state tree).
    let writer = sequencing || executing;
    tracing::info!(target: "zknode", data_dir = %cfg.data_dir.display(), database = %zknode_sqldb::redact_url(&url), sequencing, executing_l1_batches = executing, "starting");
    // Migrations are run under a lock (PostgreSQL) and only when missing, so RPC-only processes
    // starting beside the sequencer find them applied and leave them be.
    let db = StateDb::connect(&url)
        .await
        .context("opening the state database")?;
    if writer {
        // This process is the one writer of blocks: reads of the head need no round trip.
        db.cache_head();
    }
    let spec = ChainSpec {
        chain_id: cfg.chain_id,
        coinbase: cfg.coinbase,
    };
    let store = if writer {
        open_primary(&cfg, &db, &spec).await?
    } else {
        open_follower(&cfg, &db).await?
    };
    let head = read_head(&db).await?;
    if !writer && !caught_up(&store, head.state_root).await? {
        anyhow::bail!(
            "the state tree at {} does not hold the state of block {} (root {}): \
             state_tree_primary must name the state tree of the sequencer that writes {}",
            cfg.state_tree_primary().display(),
            head.number,
            head.state_root,
            zknode_sqldb::redact_url(&url)
        );
    }
    // Bring the tree's upper levels into the cache before serving.
    let warm_root = zknode_sequencer::root_hash(&head.state_root)?;
    let store2 = store.clone();
    let warmed = tokio::task::spawn_blocking(move || store2.warm(warm_root)).await??;
    tracing::info!(target: "zknode", block = head.number, nodes = warmed, "state tree cache warmed");

    // A node that does not sequence relays transactions: its pool stays empty (the stored
    // pending transactions are the sequencer's).
    let pool = Arc::new(if sequencing {
        Pool::open(db.clone(), cfg.pool.clone()).await?
    } else {
        Pool::empty(db.clone(), cfg.pool.clone())
    });
    let relay = if cfg.rpc.sequencer_url.is_empty() {
        None
    } else {
        let r = Relay::new(&cfg.rpc.sequencer_url).map_err(anyhow::Error::msg)?;
        tracing::info!(target: "zknode", sequencer = r.url(), "relaying transactions to the sequencer");
        Some(r)
    };
    let (head_tx, head_rx) = watch::channel(head);
    let seq_metrics = Arc::new(SequencerMetrics::default());
    let rpc_metrics = Arc::new(RpcMetrics::default());
    let accepting = Arc::new(AtomicBool::new(true));
    let head_task = tokio::spawn(follow_head(
        db.clone(),
        (!writer).then(|| store.clone()),
        head_tx,
    ));

    let sequencer = if sequencing {
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

    let l1_sender = if cfg.components.contains(&Component::SequenceSender) {
        Some(crate::l1_sender::start(&cfg, &db).await?)
    } else {
        None
    };

    let sync_metrics = Arc::new(zknode_sync::SyncMetrics::default());
    let synchronizer = if cfg.components.contains(&Component::Synchronizer) {
        let l1 = &cfg.l1;
        if l1.rpc_url.is_empty() || l1.rollup.is_zero() || l1.global_exit_root_manager.is_zero() {
            anyhow::bail!(
                "the synchronizer component needs l1.rpc_url, l1.rollup and \
                 l1.global_exit_root_manager (`zknode l1 deploy --config FILE` writes them)"
            );
        }
        let addresses = zknode_sync::L1Addresses {
            rollup: cfg.l1.rollup,
            global_exit_root_manager: cfg.l1.global_exit_root_manager,
            deploy_block: cfg.l1.deploy_block,
        };
        let l1 = zknode_sync::l1_reader(&cfg.l1.rpc_url)?;
        let mut s = zknode_sync::Synchronizer::new(db.clone(), l1, addresses, cfg.l1.sync.clone());
        if executing {
            let mut stage = zknode_sync::L2Stage::new(
                db.clone(),
                store.clone(),
                cfg.chain_id,
                sync_metrics.clone(),
            );
            if cfg.l1.sync.trusted_state {
                if cfg.rpc.sequencer_url.is_empty() {
                    anyhow::bail!(
                        "l1.sync.trusted_state follows the trusted sequencer's batches from \
                         rpc.sequencer_url: set it"
                    );
                }
                stage = stage.following(zknode_sync::l1_reader(&cfg.rpc.sequencer_url)?);
                tracing::info!(target: "zknode", sequencer = %cfg.rpc.sequencer_url, "following the trusted sequencer's batches ahead of L1");
            }
            s = s.with_execution(stage);
        }
        Some(tokio::spawn(s.with_metrics(sync_metrics.clone()).run()))
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
            relay,
            follows_primary: !sequencing,
            live: Default::default(),
        };
        let server = zknode_rpc::start(&cfg.rpc, api)
            .await
            .with_context(|| format!("starting JSON-RPC on {}", cfg.rpc.http_addr))?;
        if let Some(ws) = server.ws {
            println!("zknode: WebSocket on ws://{ws}");
        }
        println!("zknode: JSON-RPC on http://{}", server.http);
        Some(server.handle)
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
            sync: sync_metrics.clone(),
            txman: l1_sender.as_ref().map(|s| s.manager.clone()),
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
                if synchronizer.as_ref().is_some_and(|s| s.is_finished()) {
                    failed = Some("the synchronizer stopped");
                    break;
                }
                if l1_sender.as_ref().is_some_and(|s| s.is_finished()) {
                    failed = Some("the sequence sender stopped");
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
    if let Some(s) = l1_sender {
        s.stop();
    }
    if let Some(h) = rpc {
        let _ = h.stop();
        h.stopped().await;
    }
    if let Some(t) = metrics_task {
        t.abort();
    }
    // Each L1 block is stored in one database transaction: stopping mid-way loses nothing.
    if let Some(t) = synchronizer {
        t.abort();
    }
    head_task.abort();
    db.close().await;
    if !sequencing {
        // Only the secondary's logs; the tree itself is the sequencer's.
        let _ = std::fs::remove_dir_all(secondary_dir(&cfg));
    }
    match failed {
        Some(why) => anyhow::bail!("{why}; see the log above"),
        None => {
            tracing::info!(target: "zknode", "stopped");
            Ok(())
        }
    }
}
