//! The listening side: [`ProverServer`] serves provers on a tokio task; [`serve`] is the same
//! server for a caller that runs it itself.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use super::Registry;

/// The prover server, running on a tokio task.
pub struct ProverServer {
    local_addr: SocketAddr,
    registry: Registry,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ProverServer {
    /// Binds `addr` (port 0 picks a free port) and serves provers into `registry`.
    pub async fn bind(addr: SocketAddr, registry: Registry) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::start(listener, registry))
    }

    /// Serves provers on `listener` into `registry`.
    pub fn start(listener: TcpListener, registry: Registry) -> Self {
        let local_addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, registry.clone(), async move {
            let _ = signal.await;
        }));
        tracing::info!("prover server listening on {local_addr}");
        Self {
            local_addr,
            registry,
            shutdown: Some(shutdown),
            task,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://address`, for `zkprover serve --aggregator`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Stops accepting connections, ends every prover's session and waits (up to 5 s) for the
    /// connections to close.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        self.registry
            .disconnect_all("the aggregator is shutting down");
        match tokio::time::timeout(Duration::from_secs(5), &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("the prover server stopped with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("the prover server task failed: {e}"),
            Err(_) => {
                tracing::warn!("the prover server did not stop within 5 s; aborting it");
                self.task.abort();
            }
        }
    }
}

/// Serves provers on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let config = registry.config().clone();
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout))
        .add_service(registry.service())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}
