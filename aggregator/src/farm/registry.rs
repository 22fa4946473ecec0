//! The connected provers: [`Registry`], the events of provers joining and leaving, and the
//! protocol's timeouts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tonic::Status;

use super::{lock, ProverHandle};

/// A prover joining or leaving the registry.
#[derive(Clone, Debug)]
pub enum ProverEvent {
    Connected {
        prover_id: String,
        session: u64,
    },
    Disconnected {
        prover_id: String,
        session: u64,
        reason: String,
    },
}

/// Timeouts of the prover protocol.
#[derive(Clone, Debug)]
pub struct ProtocolConfig {
    /// How long a call waits for its answer (GetProof waits its own timeout on top).
    pub request_timeout: Duration,
    /// How long a new stream may take to send its Hello.
    pub hello_timeout: Duration,
    /// HTTP/2 keep-alive pings on idle connections, to notice a prover that vanished without
    /// closing its connection.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            hello_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// The connected provers. Cheap to clone; every clone is the same registry.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    config: ProtocolConfig,
    provers: Mutex<HashMap<String, ProverHandle>>,
    events: broadcast::Sender<ProverEvent>,
    /// The ids of the connected provers, sorted.
    connected: watch::Sender<Vec<String>>,
    next_session: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::with_config(ProtocolConfig::default())
    }

    pub fn with_config(config: ProtocolConfig) -> Self {
        Self {
            inner: Arc::new(RegistryInner {
                config,
                provers: Mutex::new(HashMap::new()),
                events: broadcast::channel(256).0,
                connected: watch::channel(Vec::new()).0,
                next_session: AtomicU64::new(1),
            }),
        }
    }

    pub fn config(&self) -> &ProtocolConfig {
        &self.inner.config
    }

    fn provers_map(&self) -> MutexGuard<'_, HashMap<String, ProverHandle>> {
        lock(&self.inner.provers)
    }

    /// A new session number, unique in the registry's lifetime.
    pub(super) fn next_session(&self) -> u64 {
        self.inner.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Connection and disconnection events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ProverEvent> {
        self.inner.events.subscribe()
    }

    /// The ids of the connected provers (sorted), updated on every change.
    pub fn watch_connected(&self) -> watch::Receiver<Vec<String>> {
        self.inner.connected.subscribe()
    }

    /// The connected provers, by id.
    pub fn provers(&self) -> Vec<ProverHandle> {
        let mut v: Vec<_> = self
            .provers_map()
            .values()
            .filter(|h| h.is_announced())
            .cloned()
            .collect();
        v.sort_by(|a, b| a.prover_id().cmp(b.prover_id()));
        v
    }

    /// The connected provers not known to be running a job (see [`ProverHandle::is_idle`]).
    pub fn idle_provers(&self) -> Vec<ProverHandle> {
        self.provers().into_iter().filter(|p| p.is_idle()).collect()
    }

    pub fn get(&self, prover_id: &str) -> Option<ProverHandle> {
        self.provers_map()
            .get(prover_id)
            .filter(|h| h.is_announced())
            .cloned()
    }

    /// Waits until prover `prover_id` is connected, up to `timeout`.
    pub async fn wait_for(&self, prover_id: &str, timeout: Duration) -> Option<ProverHandle> {
        let mut rx = self.watch_connected();
        let found = tokio::time::timeout(
            timeout,
            rx.wait_for(|ids| ids.iter().any(|i| i == prover_id)),
        )
        .await;
        drop(found);
        self.get(prover_id)
    }

    /// Waits until some prover is connected, up to `timeout`, and returns the first by id.
    pub async fn wait_for_any(&self, timeout: Duration) -> Option<ProverHandle> {
        let mut rx = self.watch_connected();
        let found = tokio::time::timeout(timeout, rx.wait_for(|ids| !ids.is_empty())).await;
        drop(found);
        self.provers().into_iter().next()
    }

    /// Ends every prover's session (their calls fail with
    /// [`ProverError::Disconnected`](super::ProverError::Disconnected)); the provers will
    /// reconnect.
    pub fn disconnect_all(&self, reason: &str) {
        for p in self.provers() {
            p.close(reason);
        }
    }

    fn publish_connected(&self, map: &HashMap<String, ProverHandle>) {
        let mut ids: Vec<String> = map
            .values()
            .filter(|h| h.is_announced())
            .map(|h| h.prover_id().to_string())
            .collect();
        ids.sort();
        self.inner.connected.send_replace(ids);
    }

    pub(super) fn insert(&self, handle: &ProverHandle) -> Result<(), Status> {
        let mut map = self.provers_map();
        if let Some(old) = map.get(handle.prover_id()) {
            return Err(Status::already_exists(format!(
                "prover id {} is already connected (session {}{}); a second prover needs another id",
                old.prover_id(),
                old.session(),
                old.remote_addr()
                    .map(|a| format!(" from {a}"))
                    .unwrap_or_default()
            )));
        }
        map.insert(handle.prover_id().to_string(), handle.clone());
        Ok(())
    }

    /// Makes a registered prover visible ([`Registry::provers`], [`Registry::watch_connected`])
    /// and announces it, unless its session has already ended.
    pub(super) fn announce(&self, handle: &ProverHandle) {
        let map = self.provers_map();
        if map
            .get(handle.prover_id())
            .is_none_or(|h| h.session() != handle.session())
        {
            return;
        }
        handle.set_announced();
        self.publish_connected(&map);
        // Sent under the lock, so a Disconnected of the same session cannot come first.
        let _ = self.inner.events.send(ProverEvent::Connected {
            prover_id: handle.prover_id().to_string(),
            session: handle.session(),
        });
        drop(map);
    }

    pub(super) fn remove(&self, handle: &ProverHandle, reason: String) {
        let mut map = self.provers_map();
        if map
            .get(handle.prover_id())
            .is_some_and(|h| h.session() == handle.session())
        {
            map.remove(handle.prover_id());
            self.publish_connected(&map);
        }
        if handle.is_announced() {
            let _ = self.inner.events.send(ProverEvent::Disconnected {
                prover_id: handle.prover_id().to_string(),
                session: handle.session(),
                reason,
            });
        }
        drop(map);
    }
}
