//! The sequencer's counters, read by the node's Prometheus endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Durations as a Prometheus summary without quantiles: a count and a sum.
#[derive(Debug, Default)]
pub struct Timer {
    count: AtomicU64,
    micros: AtomicU64,
}

impl Timer {
    pub fn observe(&self, d: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(
            d.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    pub fn sum_seconds(&self) -> f64 {
        self.micros.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// What the sequencer counts.
#[derive(Debug, Default)]
pub struct SequencerMetrics {
    /// Blocks stored.
    pub blocks: Counter,
    /// Batches closed.
    pub batches_closed: Counter,
    /// Transactions stored in blocks.
    pub txs_included: Counter,
    /// Transactions the executor skipped, failed in the pool.
    pub txs_failed: Counter,
    /// The last stored block.
    pub head_block: Gauge,
    /// Closing and storing a block (state commit and database write).
    pub block_store_seconds: Timer,
    /// Sealing and storing a batch.
    pub batch_close_seconds: Timer,
}
