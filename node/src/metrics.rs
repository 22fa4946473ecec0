//! Prometheus metrics over HTTP (`GET /metrics`, text format 0.0.4), on their own port.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zknode_pool::Pool;
use zknode_rpc::RpcMetrics;
use zknode_sequencer::SequencerMetrics;

/// What the endpoint reports.
pub struct Metrics {
    pub sequencer: Arc<SequencerMetrics>,
    pub rpc: Arc<RpcMetrics>,
    pub pool: Arc<Pool>,
    pub sync: Arc<zknode_sync::SyncMetrics>,
    /// The L1 transaction manager, with the sequence-sender component.
    pub txman: Option<Arc<zknode_l1::TxManager>>,
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

impl Metrics {
    /// The exposition text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let s = &self.sequencer;
        metric(
            &mut o,
            "zknode_blocks_total",
            "counter",
            "L2 blocks stored by the sequencer",
            s.blocks.get(),
        );
        metric(
            &mut o,
            "zknode_batches_closed_total",
            "counter",
            "Batches closed",
            s.batches_closed.get(),
        );
        metric(
            &mut o,
            "zknode_transactions_included_total",
            "counter",
            "Transactions stored in blocks (rate() of it is transactions/s)",
            s.txs_included.get(),
        );
        metric(
            &mut o,
            "zknode_transactions_failed_total",
            "counter",
            "Transactions the executor skipped, failed in the pool",
            s.txs_failed.get(),
        );
        metric(
            &mut o,
            "zknode_head_block",
            "gauge",
            "The last stored L2 block",
            s.head_block.get(),
        );
        for (name, help, t) in [
            (
                "zknode_block_close_seconds",
                "Closing and storing a block",
                &s.block_store_seconds,
            ),
            (
                "zknode_batch_close_seconds",
                "Sealing and storing a batch",
                &s.batch_close_seconds,
            ),
        ] {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} summary\n{name}_sum {}\n{name}_count {}",
                t.sum_seconds(),
                t.count()
            );
        }
        let c = self.pool.counts();
        let _ = writeln!(
            o,
            "# HELP zknode_pool_transactions Transactions in the pool by status (failed: since start)\n\
             # TYPE zknode_pool_transactions gauge\n\
             zknode_pool_transactions{{status=\"pending\"}} {}\n\
             zknode_pool_transactions{{status=\"failed\"}} {}",
            c.pending,
            s.txs_failed.get()
        );
        metric(
            &mut o,
            "zknode_pool_senders",
            "gauge",
            "Senders with pending transactions",
            c.senders,
        );
        let _ = writeln!(o, "# HELP zknode_pool_rejections_total Transactions refused at admission, by reason\n# TYPE zknode_pool_rejections_total counter");
        for (reason, n) in self.rpc.rejections() {
            let _ = writeln!(o, "zknode_pool_rejections_total{{reason=\"{reason}\"}} {n}");
        }
        metric(
            &mut o,
            "zknode_rpc_requests_total",
            "counter",
            "JSON-RPC calls",
            self.rpc.requests.load(Ordering::Relaxed),
        );
        metric(
            &mut o,
            "zknode_rpc_transactions_accepted_total",
            "counter",
            "eth_sendRawTransaction calls accepted",
            self.rpc.send_raw_accepted.load(Ordering::Relaxed),
        );
        metric(
            &mut o,
            "zknode_rpc_rate_limited_total",
            "counter",
            "JSON-RPC calls refused by the per-IP rate limit (-32005)",
            self.rpc.rate_limited.load(Ordering::Relaxed),
        );
        metric(
            &mut o,
            "zknode_rpc_filters",
            "gauge",
            "Polled filters installed (eth_newFilter and the like)",
            self.rpc.filters.load(Ordering::Relaxed),
        );
        metric(
            &mut o,
            "zknode_rpc_subscriptions",
            "gauge",
            "WebSocket subscriptions open",
            self.rpc.subscriptions.load(Ordering::Relaxed),
        );
        let y = &self.sync;
        for (name, kind, help, v) in [
            (
                "zknode_l1_synced_block",
                "gauge",
                "The last L1 block the synchronizer stored",
                &y.last_l1_block,
            ),
            (
                "zknode_l1_sync_target_block",
                "gauge",
                "The L1 block the synchronizer follows up to (its head tag's)",
                &y.target_l1_block,
            ),
            (
                "zknode_l1_reorgs_total",
                "counter",
                "L1 reorgs the synchronizer unwound",
                &y.reorgs,
            ),
            (
                "zknode_l1_reorged_blocks_total",
                "counter",
                "Stored L1 blocks removed by reorgs",
                &y.reorged_blocks,
            ),
            (
                "zknode_l1_verification_mismatches_total",
                "counter",
                "L1 verifications whose state root is not this node's for the batch",
                &y.verification_mismatches,
            ),
            (
                "zknode_l1_deep_reorgs_total",
                "counter",
                "L1 reorgs that dropped a block at or below the finalized block seen before",
                &y.deep_reorgs,
            ),
            (
                "zknode_l1_virtual_batches_total",
                "counter",
                "Batches read from L1 sequences",
                &y.virtual_batches,
            ),
            (
                "zknode_l1_sync_halted",
                "gauge",
                "1 while L1 disagrees with a batch of this node (sequencing halted)",
                &y.halted,
            ),
            (
                "zknode_l2_executed_batches_total",
                "counter",
                "Batches executed from L1 (a node without a sequencer)",
                &y.l2_batches_executed,
            ),
            (
                "zknode_l2_executed_blocks_total",
                "counter",
                "L2 blocks executed from L1 (a node without a sequencer)",
                &y.l2_blocks_executed,
            ),
            (
                "zknode_l2_executed_transactions_total",
                "counter",
                "Transactions executed from L1 (a node without a sequencer)",
                &y.l2_txs_executed,
            ),
            (
                "zknode_l2_execute_microseconds_total",
                "counter",
                "Time spent executing and storing batches from L1, in microseconds",
                &y.l2_execute_micros,
            ),
        ] {
            metric(&mut o, name, kind, help, v.load(Ordering::Relaxed));
        }
        if let Some(t) = &self.txman {
            let t = &t.metrics;
            for (name, help, v) in [
                (
                    "zknode_l1_txs_sent_total",
                    "Signed L1 transaction versions sent (first sends, resends and bumps)",
                    &t.sent,
                ),
                (
                    "zknode_l1_txs_bumped_total",
                    "L1 transaction versions sent with raised fees",
                    &t.bumped,
                ),
                (
                    "zknode_l1_txs_resent_total",
                    "L1 transactions sent again after the L1 dropped them",
                    &t.resent,
                ),
                (
                    "zknode_l1_txs_mined_total",
                    "L1 transactions mined",
                    &t.mined,
                ),
                (
                    "zknode_l1_txs_confirmed_total",
                    "L1 transactions confirmed",
                    &t.confirmed,
                ),
                (
                    "zknode_l1_txs_failed_total",
                    "L1 transactions that failed (reverted or refused)",
                    &t.failed,
                ),
                (
                    "zknode_l1_txs_reorged_total",
                    "Mined L1 transactions whose block a reorg removed",
                    &t.reorged,
                ),
            ] {
                metric(&mut o, name, "counter", help, v.load(Ordering::Relaxed));
            }
        }
        o
    }
}

/// Serves `m` on `addr`; returns the bound address and the server task.
pub async fn serve(
    addr: SocketAddr,
    m: Metrics,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let m = Arc::new(m);
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let m = m.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sock.read(&mut buf),
                )
                .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
                let req = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if req.starts_with("GET /metrics ") {
                    ("200 OK", m.render())
                } else {
                    ("404 Not Found", "try GET /metrics\n".to_string())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok((bound, task))
}
