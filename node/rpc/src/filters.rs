//! Logs and filters: `eth_getLogs` with its limits, and the polled filters (`eth_newFilter`,
//! `eth_newBlockFilter`, `eth_newPendingTransactionFilter`, `eth_getFilterChanges`,
//! `eth_getFilterLogs`, `eth_uninstallFilter`), kept in memory and removed when not polled for
//! `filter_timeout_secs`.
//!
//! The limits and their texts are zkevm-node's: a range over `max_logs_block_range` blocks and
//! an answer over `max_logs` logs are refused with -32602 and say which limit. A filter that
//! fell behind catches up at most `max_logs_block_range` blocks per poll, so no poll is refused
//! for having waited.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{keccak256, Address, B256};
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use zknode_storage::{BlockReader, LogFilter, StoredLog};

use crate::params::param;
use crate::{json, BlockId, NodeApi, RpcConfig, RpcError};

/// Logs at most this many blocks' hashes per `eth_getFilterChanges` of a block filter.
const MAX_BLOCK_HASHES_PER_POLL: u64 = 1_024;

/// A new block, as the chain follower publishes it to filters and subscriptions.
#[derive(Debug)]
pub(crate) struct BlockEvent {
    pub(crate) number: u64,
    /// The header object of `newHeads`.
    pub(crate) header: Value,
    pub(crate) logs: Vec<StoredLog>,
}

/// The server's live state: installed filters, the feeds of new blocks and of transactions
/// entering the pool, and the limits. `Live::default()` when building [`NodeApi`];
/// [`crate::start`] applies the configuration.
pub struct Live {
    limits: Limits,
    filters: Mutex<HashMap<String, Installed>>,
    pub(crate) blocks: broadcast::Sender<Arc<BlockEvent>>,
    pub(crate) pending: broadcast::Sender<B256>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_logs: u64,
    pub(crate) max_block_range: u64,
    filter_timeout: Duration,
    max_filters: usize,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            limits: Limits::of(&RpcConfig::default()),
            filters: Mutex::new(HashMap::new()),
            blocks: broadcast::channel(256).0,
            pending: broadcast::channel(4_096).0,
        }
    }
}

impl Limits {
    fn of(cfg: &RpcConfig) -> Self {
        Self {
            max_logs: cfg.max_logs,
            max_block_range: cfg.max_logs_block_range.max(1),
            filter_timeout: Duration::from_secs(cfg.filter_timeout_secs.max(1)),
            max_filters: cfg.max_filters,
        }
    }
}

impl Live {
    pub(crate) fn configure(&mut self, cfg: &RpcConfig) {
        self.limits = Limits::of(cfg);
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Tells pending-transaction filters and subscribers about a transaction the pool took.
    pub fn publish_pending(&self, hash: B256) {
        let _ = self.pending.send(hash);
    }

    fn filters(&self) -> std::sync::MutexGuard<'_, HashMap<String, Installed>> {
        self.filters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many filters are installed.
    pub fn filter_count(&self) -> usize {
        self.filters().len()
    }

    fn install(&self, kind: Kind) -> Result<String, RpcError> {
        let mut f = self.filters();
        let timeout = self.limits.filter_timeout;
        f.retain(|_, i| i.last_poll.elapsed() < timeout);
        if f.len() >= self.limits.max_filters {
            return Err(RpcError::server(format!(
                "too many filters installed ({}); uninstall some or wait for unpolled ones to expire",
                self.limits.max_filters
            )));
        }
        let id = random_id();
        f.insert(
            id.clone(),
            Installed {
                kind,
                last_poll: Instant::now(),
            },
        );
        Ok(id)
    }
}

/// A fresh identifier: `0x` and up to 32 hex digits, not guessable by other clients. A
/// quantity, as execution-apis types filter ids and geth writes them: without leading zeros.
pub(crate) fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<B256> = std::sync::OnceLock::new();
    let seed = SEED.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let local = 0u8;
        keccak256(
            [
                &now.as_nanos().to_be_bytes()[..],
                &std::process::id().to_be_bytes(),
                &(std::ptr::addr_of!(local) as usize).to_be_bytes(),
            ]
            .concat(),
        )
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let h = keccak256([seed.as_slice(), &n.to_be_bytes()].concat());
    let digits = hex::encode(&h[..16]);
    let digits = digits.trim_start_matches('0');
    format!("0x{}", if digits.is_empty() { "0" } else { digits })
}

struct Installed {
    kind: Kind,
    last_poll: Instant,
}

enum Kind {
    /// Hashes of blocks from `next` on.
    Blocks { next: u64 },
    /// Logs matching `query` in blocks from `next` on.
    Logs { query: Box<LogQuery>, next: u64 },
    /// Hashes of transactions the pool took since the last poll.
    Pending { rx: broadcast::Receiver<B256> },
}

/// A log filter object: a block range (or one block by hash), addresses and topics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogQuery {
    pub(crate) from: Option<BlockId>,
    pub(crate) to: Option<BlockId>,
    pub(crate) block_hash: Option<B256>,
    pub(crate) addresses: Vec<Address>,
    pub(crate) topics: [Vec<B256>; 4],
}

fn one_or_many<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<Vec<T>, RpcError> {
    let bad = |e: serde_json::Error| RpcError::invalid_params(format!("invalid {what}: {e}"));
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| serde_json::from_value(i.clone()).map_err(bad))
            .collect(),
        one => Ok(vec![serde_json::from_value(one.clone()).map_err(bad)?]),
    }
}

impl LogQuery {
    pub(crate) fn parse(v: &Value) -> Result<Self, RpcError> {
        let Value::Object(o) = v else {
            return Err(RpcError::invalid_params("the filter must be an object"));
        };
        for k in o.keys() {
            if !["fromBlock", "toBlock", "blockHash", "address", "topics"].contains(&k.as_str()) {
                return Err(RpcError::invalid_params(format!(
                    "unknown filter field {k:?}"
                )));
            }
        }
        let block = |k: &str| -> Result<Option<BlockId>, RpcError> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v @ Value::String(_)) => BlockId::parse(Some(v))
                    .map(Some)
                    .map_err(|e| RpcError::invalid_params(format!("{k}: {}", e.message))),
                Some(other) => Err(RpcError::invalid_params(format!(
                    "{k}: {other} is not a block number or tag"
                ))),
            }
        };
        let mut q = LogQuery {
            from: block("fromBlock")?,
            to: block("toBlock")?,
            ..Default::default()
        };
        if let Some(h) = o.get("blockHash").filter(|h| !h.is_null()) {
            if q.from.is_some() || q.to.is_some() {
                return Err(RpcError::invalid_params(
                    "cannot specify both blockHash and fromBlock/toBlock, choose one or the other",
                ));
            }
            q.block_hash = Some(
                serde_json::from_value(h.clone())
                    .map_err(|e| RpcError::invalid_params(format!("invalid blockHash: {e}")))?,
            );
        }
        if let Some(a) = o.get("address") {
            q.addresses = one_or_many(a, "address")?;
        }
        match o.get("topics") {
            None | Some(Value::Null) => {}
            Some(Value::Array(ts)) => {
                if ts.len() > 4 {
                    return Err(RpcError::invalid_params(format!(
                        "too many topics: {} positions, a log has at most 4",
                        ts.len()
                    )));
                }
                for (i, t) in ts.iter().enumerate() {
                    q.topics[i] = one_or_many(t, &format!("topic {i}"))?;
                }
            }
            Some(other) => {
                return Err(RpcError::invalid_params(format!(
                    "topics: {other} is not an array"
                )))
            }
        }
        Ok(q)
    }

    fn filter(&self, from: u64, to: u64, limit: Option<u64>) -> LogFilter {
        LogFilter {
            from_block: from,
            to_block: to,
            addresses: self.addresses.clone(),
            topics: self.topics.clone(),
            limit,
        }
    }

    /// Whether a log matches the addresses and topics (not the range).
    pub(crate) fn matches(&self, l: &StoredLog) -> bool {
        (self.addresses.is_empty() || self.addresses.contains(&l.address))
            && self.topics.iter().enumerate().all(|(i, want)| {
                want.is_empty() || l.topics.get(i).is_some_and(|t| want.contains(t))
            })
    }
}

impl NodeApi {
    /// The block range a query covers, clamped to the head; `None`: empty.
    async fn log_range(&self, q: &LogQuery) -> Result<Option<(u64, u64)>, RpcError> {
        if let Some(h) = q.block_hash {
            return match self.db.block_by_hash(h).await? {
                Some(b) => Ok(Some((b.header.number, b.header.number))),
                None => Err(RpcError::server("unknown block")),
            };
        }
        let head = self.latest().await?.number;
        let resolve = |id: Option<BlockId>| async move {
            match id {
                None => Ok(head),
                Some(id) => Ok::<_, RpcError>(self.number_of(id).await?.unwrap_or(u64::MAX)),
            }
        };
        let from = resolve(q.from).await?;
        let to = resolve(q.to).await?;
        if q.from.is_some() && q.to.is_some() && from > to {
            return Err(RpcError::invalid_params("invalid block range"));
        }
        let to = to.min(head);
        Ok((from <= to).then_some((from, to)))
    }

    /// The filter of `q` over `from..=to`, after the block-range limit, with the result limit
    /// (one over the most allowed, to tell "too many" apart).
    fn limited_filter(&self, q: &LogQuery, from: u64, to: u64) -> Result<LogFilter, RpcError> {
        let lim = self.live.limits();
        if to - from >= lim.max_block_range {
            return Err(RpcError::invalid_params(format!(
                "logs are limited to a {} block range",
                lim.max_block_range
            )));
        }
        Ok(q.filter(from, to, (lim.max_logs > 0).then_some(lim.max_logs + 1)))
    }

    fn check_log_count(&self, n: u64) -> Result<(), RpcError> {
        let max = self.live.limits().max_logs;
        if max > 0 && n > max {
            return Err(RpcError::invalid_params(format!(
                "query returned more than {max} results"
            )));
        }
        Ok(())
    }

    /// The logs of `q` in `from..=to` under the answer-size limit.
    async fn logs_in(&self, q: &LogQuery, from: u64, to: u64) -> Result<Vec<StoredLog>, RpcError> {
        let logs = self.db.logs(&self.limited_filter(q, from, to)?).await?;
        self.check_log_count(logs.len() as u64)?;
        Ok(logs)
    }

    /// `eth_getLogs`: the JSON array as the database builds it (see
    /// `zknode_storage::LogsJson`), passed through without being parsed.
    pub(crate) async fn get_logs(&self, q: &LogQuery) -> Result<Box<RawValue>, RpcError> {
        let json = match self.log_range(q).await? {
            Some((from, to)) => {
                let found = self
                    .db
                    .logs_json(&self.limited_filter(q, from, to)?)
                    .await?;
                self.check_log_count(found.count)?;
                found.json
            }
            None => "[]".to_owned(),
        };
        RawValue::from_string(json).map_err(|e| RpcError::internal("eth_getLogs", e))
    }

    /// Publishes how many filters are installed (a gauge).
    fn count_filters(&self) {
        self.metrics
            .filters
            .store(self.live.filter_count() as u64, Ordering::Relaxed);
    }

    fn filter_not_found() -> RpcError {
        RpcError::server("filter not found")
    }

    /// What a filter saw since its last poll.
    async fn filter_changes(&self, id: &str) -> Result<Value, RpcError> {
        let head = self.latest().await?.number;
        // Take what the filter needs under the lock; query without it.
        enum Work {
            Blocks(u64, u64),
            Logs(Box<LogQuery>, u64, u64),
            Done(Value),
        }
        let work = {
            let mut f = self.live.filters();
            let timeout = self.live.limits().filter_timeout;
            let Some(i) = f.get_mut(id) else {
                return Err(Self::filter_not_found());
            };
            if i.last_poll.elapsed() >= timeout {
                f.remove(id);
                return Err(Self::filter_not_found());
            }
            i.last_poll = Instant::now();
            match &mut i.kind {
                Kind::Blocks { next } => {
                    let from = *next;
                    let to = head.min(from.saturating_add(MAX_BLOCK_HASHES_PER_POLL - 1));
                    if from <= to {
                        *next = to + 1;
                    }
                    Work::Blocks(from, to)
                }
                Kind::Logs { query, next } => {
                    let from = *next;
                    let mut to =
                        head.min(from.saturating_add(self.live.limits().max_block_range - 1));
                    if let Some(BlockId::Number(end)) = query.to {
                        to = to.min(end);
                    }
                    if from <= to {
                        *next = to + 1;
                    }
                    Work::Logs(query.clone(), from, to)
                }
                Kind::Pending { rx } => {
                    let mut hashes = Vec::new();
                    loop {
                        match rx.try_recv() {
                            Ok(h) => hashes.push(json!(h)),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                            Err(_) => break,
                        }
                    }
                    Work::Done(Value::Array(hashes))
                }
            }
        };
        match work {
            Work::Done(v) => Ok(v),
            Work::Blocks(from, to) => {
                let mut out = Vec::new();
                if from <= to {
                    for n in from..=to {
                        if let Some(b) = self.db.block_by_number(n).await? {
                            out.push(json!(b.hash));
                        }
                    }
                }
                Ok(Value::Array(out))
            }
            Work::Logs(q, from, to) => {
                if from > to {
                    return Ok(json!([]));
                }
                let logs = self.logs_in(&q, from, to).await?;
                Ok(Value::Array(
                    logs.iter().map(|l| json::log(l, false)).collect(),
                ))
            }
        }
    }
}

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(
        m,
        "eth_getLogs",
        1,
        raw | p,
        c | async move {
            let q = LogQuery::parse(&param::<Value>(&p, 0, "filter")?)?;
            c.get_logs(&q).await
        }
    );
    method!(m, "eth_newFilter", 1, |p, c| async move {
        let q = LogQuery::parse(&param::<Value>(&p, 0, "filter")?)?;
        if q.block_hash.is_some() {
            return Err(RpcError::invalid_params(
                "a filter follows new blocks: blockHash is for eth_getLogs",
            ));
        }
        let head = c.latest().await?.number;
        let next = match q.from {
            Some(BlockId::Number(n)) => n.max(head + 1),
            _ => head + 1,
        };
        let id = c.live.install(Kind::Logs {
            query: Box::new(q),
            next,
        })?;
        c.count_filters();
        Ok(json!(id))
    });
    method!(m, "eth_newBlockFilter", 0, |_p, c| async move {
        let next = c.latest().await?.number + 1;
        let id = c.live.install(Kind::Blocks { next })?;
        c.count_filters();
        Ok(json!(id))
    });
    method!(
        m,
        "eth_newPendingTransactionFilter",
        1,
        |_p, c| async move {
            let rx = c.live.pending.subscribe();
            let id = c.live.install(Kind::Pending { rx })?;
            c.count_filters();
            Ok(json!(id))
        }
    );
    method!(m, "eth_getFilterChanges", 1, |p, c| async move {
        let id: String = param(&p, 0, "filter id")?;
        c.filter_changes(&id).await
    });
    method!(m, "eth_getFilterLogs", 1, |p, c| async move {
        let id: String = param(&p, 0, "filter id")?;
        let q = {
            let mut f = c.live.filters();
            match f.get_mut(&id) {
                Some(Installed {
                    kind: Kind::Logs { query, .. },
                    last_poll,
                }) if last_poll.elapsed() < c.live.limits().filter_timeout => {
                    *last_poll = Instant::now();
                    (**query).clone()
                }
                _ => return Err(NodeApi::filter_not_found()),
            }
        };
        let raw = c.get_logs(&q).await?;
        serde_json::from_str(raw.get()).map_err(|e| RpcError::internal("eth_getFilterLogs", e))
    });
    method!(m, "eth_uninstallFilter", 1, |p, c| async move {
        let id: String = param(&p, 0, "filter id")?;
        let removed = c.live.filters().remove(&id).is_some();
        c.count_filters();
        Ok(json!(removed))
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(address: u8, topics: &[u8]) -> StoredLog {
        StoredLog {
            block_number: 1,
            block_hash: B256::ZERO,
            log_index: 0,
            tx_hash: B256::ZERO,
            tx_index: 0,
            address: Address::repeat_byte(address),
            topics: topics.iter().map(|&t| B256::repeat_byte(t)).collect(),
            data: Default::default(),
        }
    }

    #[test]
    fn filter_objects_parse_and_match() {
        let a = format!("{}", Address::repeat_byte(1));
        let t1 = format!("{}", B256::repeat_byte(1));
        let t2 = format!("{}", B256::repeat_byte(2));
        let q = LogQuery::parse(&json!({
            "fromBlock": "0x1", "toBlock": "latest", "address": a,
            "topics": [null, [t1, t2]],
        }))
        .unwrap();
        assert_eq!(q.from, Some(BlockId::Number(1)));
        assert_eq!(q.to, Some(BlockId::Latest));
        assert!(q.matches(&log(1, &[9, 2])));
        assert!(q.matches(&log(1, &[9, 1, 5])));
        assert!(!q.matches(&log(1, &[9])), "no second topic");
        assert!(!q.matches(&log(2, &[9, 1])), "another address");
        for bad in [
            json!({"blockHash": t1, "fromBlock": "0x1"}),
            json!({"topics": [null, null, null, null, null]}),
            json!({"fromBlock": 5}),
            json!({"address": "0x12"}),
            json!({"topics": "0x1"}),
            json!({"frmBlock": "0x1"}),
            json!([]),
        ] {
            assert!(LogQuery::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_distinct_hex() {
        let a = random_id();
        let b = random_id();
        assert_ne!(a, b);
        for id in (0..64).map(|_| random_id()).chain([a]) {
            assert!(id.len() <= 34, "{id}");
            assert!(id.starts_with("0x") && id[2..].chars().all(|c| c.is_ascii_hexdigit()));
            assert!(
                !id.starts_with("0x0"),
                "{id}: a quantity has no leading zeros"
            );
        }
    }
}
