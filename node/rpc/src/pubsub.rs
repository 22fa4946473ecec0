//! Subscriptions over WebSocket (`eth_subscribe` / `eth_unsubscribe`): `newHeads`, `logs` and
//! `newPendingTransactions`, fed by one task that follows the chain head and publishes each new
//! block once, with its logs, to every subscriber and filter.

use std::sync::Arc;

use jsonrpsee::core::{RegisterMethodError, SubscriptionResult};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage, SubscriptionSink};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use zknode_storage::{BlockReader, LogFilter};

use crate::filters::{BlockEvent, LogQuery};
use crate::{json, BlockId, NodeApi, RpcError};

/// Publishes each block after the current head, as the head moves, to [`crate::Live`]'s block
/// feed. Blocks are read only while someone listens.
pub(crate) fn follow_chain(api: Arc<NodeApi>) {
    tokio::spawn(async move {
        let mut head = api.head.clone();
        let mut last = head.borrow_and_update().number;
        while head.changed().await.is_ok() {
            let now = head.borrow_and_update().number;
            if now <= last || api.live.blocks.receiver_count() == 0 {
                last = now;
                continue;
            }
            for n in last + 1..=now {
                match block_event(&api, n).await {
                    Ok(Some(ev)) => {
                        let _ = api.live.blocks.send(Arc::new(ev));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(target: "rpc", block = n, error = e.message, "reading a new block for subscribers");
                        break;
                    }
                }
                last = n;
            }
        }
    });
}

async fn block_event(api: &NodeApi, n: u64) -> Result<Option<BlockEvent>, RpcError> {
    let mut header = api.block_json(BlockId::Number(n), false).await?;
    let Some(h) = header.as_object_mut() else {
        return Ok(None);
    };
    for k in ["transactions", "uncles", "size", "totalDifficulty"] {
        h.remove(k);
    }
    let logs = api
        .db
        .logs(&LogFilter {
            from_block: n,
            to_block: n,
            ..LogFilter::default()
        })
        .await?;
    Ok(Some(BlockEvent {
        number: n,
        header,
        logs,
    }))
}

async fn send(sink: &SubscriptionSink, v: &Value) -> Result<(), ()> {
    let raw = serde_json::value::to_raw_value(v).map_err(|_| ())?;
    sink.send(SubscriptionMessage::from(raw))
        .await
        .map_err(|_| ())
}

/// Forwards items from `rx` to `sink`, each turned into zero or more notifications by `f`,
/// until the client goes away. A subscriber that falls behind skips what it missed.
async fn pump<T: Clone>(
    metrics: &crate::RpcMetrics,
    sink: SubscriptionSink,
    rx: broadcast::Receiver<T>,
    f: impl FnMut(T) -> Vec<Value>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    metrics.subscriptions.fetch_add(1, Relaxed);
    forward(sink, rx, f).await;
    metrics.subscriptions.fetch_sub(1, Relaxed);
}

async fn forward<T: Clone>(
    sink: SubscriptionSink,
    mut rx: broadcast::Receiver<T>,
    mut f: impl FnMut(T) -> Vec<Value>,
) {
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            r = rx.recv() => match r {
                Ok(item) => {
                    for v in f(item) {
                        if send(&sink, &v).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(target: "rpc", missed = n, "a subscriber fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params, pending: PendingSubscriptionSink, c: Arc<NodeApi>, _| async move {
            c.metrics
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p: Vec<Value> = match params.parse::<Option<Vec<Value>>>() {
                Ok(p) => p.unwrap_or_default(),
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            let reject = |msg: String| RpcError::invalid_params(msg);
            match p.first().and_then(Value::as_str) {
                Some("newHeads") if p.len() == 1 => {
                    let rx = c.live.blocks.subscribe();
                    let sink = pending.accept().await?;
                    pump(&c.metrics, sink, rx, |ev: Arc<BlockEvent>| vec![ev.header.clone()]).await;
                }
                Some("logs") if p.len() <= 2 => {
                    let q = match p.get(1).map(LogQuery::parse).transpose() {
                        Ok(q) => q.unwrap_or_default(),
                        Err(e) => {
                            pending.reject(e).await;
                            return Ok(());
                        }
                    };
                    if q.block_hash.is_some() {
                        pending
                            .reject(reject("a logs subscription follows new blocks: blockHash is for eth_getLogs".into()))
                            .await;
                        return Ok(());
                    }
                    let rx = c.live.blocks.subscribe();
                    let sink = pending.accept().await?;
                    pump(&c.metrics, sink, rx, move |ev: Arc<BlockEvent>| {
                        let before = matches!(q.from, Some(BlockId::Number(n)) if ev.number < n);
                        let after = matches!(q.to, Some(BlockId::Number(n)) if ev.number > n);
                        if before || after {
                            return Vec::new();
                        }
                        ev.logs
                            .iter()
                            .filter(|l| q.matches(l))
                            .map(|l| json::log(l, false))
                            .collect()
                    })
                    .await;
                }
                Some("newPendingTransactions") if p.len() <= 2 => {
                    let full = match p.get(1) {
                        None | Some(Value::Null) => false,
                        Some(Value::Bool(b)) => *b,
                        Some(other) => {
                            pending
                                .reject(reject(format!("newPendingTransactions: {other} is not a boolean (full transactions)")))
                                .await;
                            return Ok(());
                        }
                    };
                    let rx = c.live.pending.subscribe();
                    let sink = pending.accept().await?;
                    let api = c.clone();
                    pump(&c.metrics, sink, rx, move |h| {
                        if !full {
                            return vec![json!(h)];
                        }
                        api.tx_from_pool(h).into_iter().collect()
                    })
                    .await;
                }
                Some(kind @ ("newHeads" | "logs" | "newPendingTransactions")) => {
                    pending
                        .reject(reject(format!("{kind}: too many parameters")))
                        .await;
                }
                other => {
                    pending
                        .reject(reject(format!(
                            "unsupported subscription {}: expected newHeads, logs or newPendingTransactions",
                            other.map_or_else(|| "(none)".to_string(), |s| format!("{s:?}"))
                        )))
                        .await;
                }
            }
            SubscriptionResult::Ok(())
        },
    )?;
    Ok(())
}
