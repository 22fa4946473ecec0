//! The listeners: JSON-RPC over HTTP and over WebSocket, each with its own accept loop so that
//! the peer's address reaches the per-IP rate limit; CORS on HTTP; limits on batches, bodies,
//! connections and subscriptions.
//!
//! jsonrpsee's own `Server::start` does not tell the methods (or their middleware) who is
//! calling, so the loop here accepts the TCP connection itself, puts the peer's IP into every
//! HTTP request's extensions ([`PeerIp`]), and jsonrpsee carries those into each call's.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{
    serve_with_graceful_shutdown, stop_channel, BatchRequestConfig, HttpRequest, IdProvider,
    MethodResponse, Methods, ServerConfig, ServerHandle, StopHandle,
};
use jsonrpsee::types::{ErrorObject, Request, SubscriptionId};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{RpcConfig, RpcMetrics};

/// `-32005`: the caller sends more than its rate allows (EIP-1474's "limit exceeded").
pub const LIMIT_EXCEEDED: i32 = -32005;

/// Where the server listens, and how to stop it.
pub struct RpcServer {
    /// JSON-RPC over HTTP.
    pub http: SocketAddr,
    /// JSON-RPC over WebSocket, when enabled.
    pub ws: Option<SocketAddr>,
    pub handle: ServerHandle,
}

/// The calling peer's IP address, in each request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerIp(pub IpAddr);

/// Subscription ids as Ethereum clients expect them: `0x` and 32 hex digits, unpredictable.
#[derive(Debug, Default)]
struct HexIds;

impl IdProvider for HexIds {
    fn next_id(&self) -> SubscriptionId<'static> {
        SubscriptionId::Str(crate::filters::random_id().into())
    }
}

/// A token bucket per IP address: `per_second` calls a second, bursts of as many.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// How many addresses the limiter tracks before it forgets the ones whose bucket is full.
const RATE_LIMIT_TRACKED: usize = 10_000;

impl RateLimit {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` calls from `ip`'s bucket; false (and nothing taken) when it lacks them.
    pub(crate) fn take(&self, ip: IpAddr, n: usize) -> bool {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() >= RATE_LIMIT_TRACKED && !b.contains_key(&ip) {
            let rate = self.per_second;
            b.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < rate
            });
        }
        let (tokens, at) = b.entry(ip).or_insert((self.per_second, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second)
            .min(self.per_second);
        *at = now;
        if *tokens >= n as f64 {
            *tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

fn limited() -> ErrorObject<'static> {
    ErrorObject::owned(
        LIMIT_EXCEEDED,
        "rate limit exceeded: too many requests from this address; retry later",
        None::<()>,
    )
}

/// The rate limit as jsonrpsee middleware: a refused call is answered `-32005`; in a batch,
/// each call the bucket cannot pay for is.
#[derive(Clone)]
struct RateLimited<S> {
    inner: S,
    limit: Option<Arc<RateLimit>>,
    metrics: Arc<RpcMetrics>,
}

impl<S> RateLimited<S> {
    fn allows(&self, ext: &http::Extensions, n: usize) -> bool {
        let ok = match (&self.limit, ext.get::<PeerIp>()) {
            (Some(l), Some(ip)) => l.take(ip.0, n),
            _ => true,
        };
        if !ok {
            self.refused();
        }
        ok
    }

    fn refused(&self) {
        self.metrics
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl<S> RpcServiceT for RateLimited<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(
        &self,
        req: Request<'a>,
    ) -> impl std::future::Future<Output = MethodResponse> + Send + 'a {
        let ok = self.allows(req.extensions(), 1);
        let inner = self.inner.clone();
        async move {
            if ok {
                inner.call(req).await
            } else {
                MethodResponse::error(req.id, limited())
            }
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl std::future::Future<Output = MethodResponse> + Send + 'a {
        let ip = batch.extensions().get::<PeerIp>().copied();
        if let (Some(l), Some(ip)) = (&self.limit, ip) {
            for entry in batch.iter_mut() {
                if let Ok(BatchEntry::Call(req)) = entry {
                    if !l.take(ip.0, 1) {
                        self.refused();
                        *entry = Err(BatchEntryErr::new(req.id.clone(), limited()));
                    }
                }
            }
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl std::future::Future<Output = MethodResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([http::Method::POST, http::Method::GET, http::Method::OPTIONS])
        .allow_headers([
            http::header::CONTENT_TYPE,
            http::header::ACCEPT,
            http::header::AUTHORIZATION,
        ])
}

fn server_config(cfg: &RpcConfig, ws: bool) -> ServerConfig {
    let b = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_bytes)
        .max_response_body_size(cfg.max_response_bytes)
        .set_batch_request_config(match cfg.batch_limit {
            _ if !cfg.batch_requests => BatchRequestConfig::Disabled,
            0 => BatchRequestConfig::Unlimited,
            n => BatchRequestConfig::Limit(n),
        })
        .set_id_provider(HexIds);
    if ws {
        b.ws_only()
            .max_connections(cfg.ws_max_connections)
            .max_subscriptions_per_connection(cfg.ws_max_subscriptions)
            .build()
    } else {
        b.http_only().max_connections(cfg.max_connections).build()
    }
}

/// Binds the listeners and starts serving `methods`.
pub(crate) async fn serve(
    cfg: &RpcConfig,
    methods: Methods,
    metrics: Arc<RpcMetrics>,
) -> std::io::Result<RpcServer> {
    let limit = (cfg.requests_per_ip_per_second > 0)
        .then(|| Arc::new(RateLimit::new(cfg.requests_per_ip_per_second)));
    let (stop, handle) = stop_channel();
    let http_listener = TcpListener::bind(cfg.http_addr).await?;
    let http = http_listener.local_addr()?;
    let ws = match cfg.ws_addr()? {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    let ws_addr = ws.as_ref().map(|l| l.local_addr()).transpose()?;

    let rpc_mw = |limit: Option<Arc<RateLimit>>| {
        let metrics = metrics.clone();
        RpcServiceBuilder::new().layer_fn(move |inner| RateLimited {
            inner,
            limit: limit.clone(),
            metrics: metrics.clone(),
        })
    };
    let http_builder = jsonrpsee::server::Server::builder()
        .set_config(server_config(cfg, false))
        .set_rpc_middleware(rpc_mw(limit.clone()))
        .set_http_middleware(tower::ServiceBuilder::new().layer(cors(&cfg.cors_origins)))
        .to_service_builder();
    {
        let (methods, stop) = (methods.clone(), stop.clone());
        tokio::spawn(async move {
            accept_loop(http_listener, stop, move |stop| {
                http_builder.clone().build(methods.clone(), stop)
            })
            .await
        });
    }
    if let Some(listener) = ws {
        let ws_builder = jsonrpsee::server::Server::builder()
            .set_config(server_config(cfg, true))
            .set_rpc_middleware(rpc_mw(limit))
            .to_service_builder();
        tokio::spawn(async move {
            accept_loop(listener, stop, move |stop| {
                ws_builder.clone().build(methods.clone(), stop)
            })
            .await
        });
    }
    tracing::info!(target: "rpc", %http, ws = ?ws_addr, "JSON-RPC listening");
    Ok(RpcServer {
        http,
        ws: ws_addr,
        handle,
    })
}

/// Accepts connections until stopped; each gets a service from `make`, and each of its
/// requests carries the peer's address.
async fn accept_loop<S, B>(listener: TcpListener, stop: StopHandle, make: impl Fn(StopHandle) -> S)
where
    S: tower::Service<HttpRequest<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body<Data = hyper::body::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let (socket, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, typically: wait rather than spin.
                    tracing::warn!(target: "rpc", error = %e, "accepting a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.clone().shutdown() => break,
        };
        let _ = socket.set_nodelay(true);
        let svc = make(stop.clone());
        let svc = tower::service_fn(move |mut req: HttpRequest<hyper::body::Incoming>| {
            req.extensions_mut().insert(PeerIp(peer.ip()));
            let mut svc = svc.clone();
            async move { tower::Service::call(&mut svc, req).await }
        });
        let stopped = stop.clone().shutdown();
        tokio::spawn(async move {
            if let Err(e) = serve_with_graceful_shutdown(socket, svc, stopped).await {
                tracing::debug!(target: "rpc", %peer, error = %e, "connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_and_refuses_past_its_rate() {
        let l = RateLimit::new(5);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        assert!(l.take(ip, 5));
        assert!(!l.take(ip, 1), "the burst is spent");
        assert!(l.take(other, 1), "each address has its own bucket");
        assert!(!l.take(other, 6), "more than the burst is never allowed");
        std::thread::sleep(std::time::Duration::from_millis(450));
        assert!(l.take(ip, 1), "two calls' worth came back in 0.45 s");
    }
}
