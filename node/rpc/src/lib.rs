//! The node's JSON-RPC server (jsonrpsee, HTTP): what wallets and tools such as `cast` need to
//! send a transaction and see it land. Result shapes follow ethereum/execution-apis
//! ([`json`]); pool refusals are `-32000` with the pool's text, as zkevm-node and geth answer.
//!
//! Reads are answered from the state database and, for account state, from the state tree at
//! the block's root: `latest` and `pending` are the last stored block, `safe` the last block of
//! the last batch sequenced on L1, `finalized` that of the last verified batch.

/// Registers an async method on module `$m`: counts the request, checks the number of
/// positional parameters (at most `$max`), runs `$body` with the parameters as `$p` and the
/// context as `$c`, and answers its error with its code.
macro_rules! method {
    ($m:ident, $name:literal, $max:expr, |$p:ident, $c:ident| $body:expr) => {
        method!($m, $name, $max, serde_json::Value, |$p, $c| $body)
    };
    // An answer already serialised (`raw`): passed through unparsed.
    ($m:ident, $name:literal, $max:expr, raw |$p:ident, $c:ident| $body:expr) => {
        method!(
            $m,
            $name,
            $max,
            Box<serde_json::value::RawValue>,
            |$p, $c| $body
        )
    };
    ($m:ident, $name:literal, $max:expr, $ty:ty, |$p:ident, $c:ident| $body:expr) => {
        $m.register_async_method(
            $name,
            |params, ctx: std::sync::Arc<$crate::NodeApi>, _| async move {
                ctx.metrics
                    .requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let $p = $crate::params::params_vec(&params, $max)?;
                let $c = ctx;
                let r: Result<$ty, $crate::RpcError> = $body.await;
                r.map_err(jsonrpsee::types::ErrorObjectOwned::from)
            },
        )?;
    };
}

mod api;
mod block_id;
mod blocks;
mod call;
mod debug;
mod error;
mod eth;
mod filters;
pub mod json;
mod net;
mod params;
mod pubsub;
mod relay;
mod server;
mod state;
mod txpool;
mod zkevm;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use jsonrpsee::server::RpcModule;
use serde::Deserialize;
use tokio::sync::watch;
use zknode_pool::Pool;
use zknode_state::RocksStore;
use zknode_storage::StateDb;

pub use block_id::{parse_quantity, BlockId};
pub use error::{RpcError, RpcResult};
pub use filters::Live;
pub use relay::{check_sequencer_url, Relay};
pub use server::{PeerIp, RpcServer, LIMIT_EXCEEDED};
pub use zkevm::BatchLimits;

/// The server's settings (`[rpc]` in the node's config file).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Where JSON-RPC over HTTP listens.
    pub http_addr: SocketAddr,
    /// Simultaneous connections.
    pub max_connections: u32,
    /// The largest request body, in bytes.
    pub max_request_bytes: u32,
    /// The largest response body, in bytes: a larger answer is refused with an error.
    pub max_response_bytes: u32,
    /// Where JSON-RPC over WebSocket listens (subscriptions); empty: no WebSocket.
    pub ws_addr: String,
    /// Simultaneous WebSocket connections.
    pub ws_max_connections: u32,
    /// Subscriptions per WebSocket connection.
    pub ws_max_subscriptions: u32,
    /// Whether batch requests (a JSON array of calls) are answered.
    pub batch_requests: bool,
    /// The most calls in one batch; 0: no limit.
    pub batch_limit: u32,
    /// Calls a second from one IP address, in bursts of as many; past it calls are answered
    /// -32005. 0: no limit.
    pub requests_per_ip_per_second: u32,
    /// Origins browsers may call from (CORS); `*`: any.
    pub cors_origins: Vec<String>,
    /// The most logs one `eth_getLogs` (or filter) answer holds.
    pub max_logs: u64,
    /// The most blocks one `eth_getLogs` may span.
    pub max_logs_block_range: u64,
    /// Seconds after which a filter that was not polled is removed.
    pub filter_timeout_secs: u64,
    /// The most filters installed at once (all clients together).
    pub max_filters: usize,
    /// The sequencer's JSON-RPC (`http://HOST:PORT`), for a node without the sequencer
    /// component: `eth_sendRawTransaction` is relayed there, and pending nonces asked from it.
    /// Empty: this node has its own pool and sequencer.
    pub sequencer_url: String,
    /// Serves the `debug` namespace (`debug_traceTransaction`, `debug_traceBlockByNumber`,
    /// `debug_traceBlockByHash`, `debug_traceCall`). Off by default, as in geth and reth: a
    /// trace replays a whole block. When off, its methods answer -32601 (method not found).
    pub debug: bool,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_connections: 1_000,
            max_request_bytes: 10 * 1024 * 1024,
            max_response_bytes: 100 * 1024 * 1024,
            ws_addr: "127.0.0.1:8546".into(),
            ws_max_connections: 100,
            ws_max_subscriptions: 1_024,
            batch_requests: true,
            batch_limit: 100,
            requests_per_ip_per_second: 500,
            cors_origins: vec!["*".into()],
            max_logs: 10_000,
            max_logs_block_range: 10_000,
            filter_timeout_secs: 300,
            max_filters: 10_000,
            sequencer_url: String::new(),
            debug: false,
        }
    }
}

impl RpcConfig {
    /// The WebSocket address; `None` when WebSocket is off.
    pub fn ws_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        if self.ws_addr.trim().is_empty() {
            return Ok(None);
        }
        self.ws_addr.trim().parse().map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("rpc.ws_addr {:?}: {e}", self.ws_addr),
            )
        })
    }
}

/// The last stored block, as the sequencer (or the synchronizer) publishes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainHead {
    pub number: u64,
    pub hash: B256,
    pub state_root: B256,
}

/// What the server counts.
#[derive(Debug, Default)]
pub struct RpcMetrics {
    pub requests: AtomicU64,
    pub send_raw_accepted: AtomicU64,
    /// Calls answered -32005 by the per-IP rate limit.
    pub rate_limited: AtomicU64,
    /// Polled filters installed now.
    pub filters: AtomicU64,
    /// WebSocket subscriptions open now.
    pub subscriptions: AtomicU64,
    /// Pool refusals by reason.
    rejected: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl RpcMetrics {
    fn reject(&self, reason: &'static str) {
        let mut m = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    /// Pool refusals so far, by reason.
    pub fn rejections(&self) -> Vec<(&'static str, u64)> {
        let m = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// What the methods read from.
pub struct NodeApi {
    pub chain_id: u64,
    pub coinbase: Address,
    pub db: StateDb,
    pub store: Arc<RocksStore>,
    pub pool: Arc<Pool>,
    /// What `eth_gasPrice` and `eth_maxPriorityFeePerGas` suggest (wei).
    pub gas_price: u128,
    pub head: watch::Receiver<ChainHead>,
    /// Cleared when the node shuts down: `eth_sendRawTransaction` is then refused.
    pub accepting: Arc<AtomicBool>,
    pub metrics: Arc<RpcMetrics>,
    pub client_version: String,
    /// The sequencer's batch limits, which `zkevm_estimateCounters` reports against.
    pub batch_limits: BatchLimits,
    /// Where `eth_sendRawTransaction` goes when this node does not sequence (see [`Relay`]);
    /// `None`: into [`NodeApi::pool`].
    pub relay: Option<Relay>,
    /// The state tree is a secondary following the sequencer's (`zknode run --components
    /// rpc`): `latest` is then the head as published, which the tree has caught up to, rather
    /// than the database's last block, whose state the tree may not have read yet.
    pub follows_primary: bool,
    /// Filters, subscriptions' feeds and limits: `Live::default()`; [`start`] sets it up.
    pub live: Live,
}

/// Starts the server (HTTP, and WebSocket when configured) and the feed of new blocks that
/// filters and subscriptions read.
pub async fn start(cfg: &RpcConfig, mut api: NodeApi) -> std::io::Result<RpcServer> {
    api.live.configure(cfg);
    let api = Arc::new(api);
    let metrics = api.metrics.clone();
    let module = methods(api.clone(), cfg.debug).map_err(std::io::Error::other)?;
    pubsub::follow_chain(api);
    server::serve(cfg, module.into(), metrics).await
}

/// Every method, on one module; the `debug` namespace only when `debug` is set.
fn methods(
    api: Arc<NodeApi>,
    debug: bool,
) -> Result<RpcModule<NodeApi>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::from_arc(api);
    eth::register(&mut m)?;
    net::register(&mut m)?;
    zkevm::register(&mut m)?;
    txpool::register(&mut m)?;
    blocks::register(&mut m)?;
    call::register(&mut m)?;
    filters::register(&mut m)?;
    pubsub::register(&mut m)?;
    if debug {
        debug::register(&mut m)?;
    }
    Ok(m)
}
