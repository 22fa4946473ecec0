//! The last stored block, kept in memory by the process that writes blocks, so that reads of
//! `latest` (every `eth_blockNumber`, and the state root of every `latest` read) cost no
//! database round trip.
//!
//! Only the process that is the one writer of `l2_blocks` may trust it (turned on with
//! [`crate::StateDb::cache_head`]): a block written by another process would not be seen. A
//! write brackets itself with [`HeadCache::write`]: while one is under way, or after one has
//! finished, the cached head is not used, so a reader that has seen a block (a receipt, say)
//! never reads an older head afterwards.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;

use crate::types::BlockHead;

#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    enabled: AtomicBool,
    /// Writes of `l2_blocks` begun, and ended (committed or not).
    started: AtomicU64,
    finished: AtomicU64,
    /// The head, and the number of writes finished when it was read.
    cached: Mutex<Option<(u64, BlockHead)>>,
}

/// Marks a write of `l2_blocks` as under way until dropped.
pub(crate) struct Writing<'a>(&'a HeadCache);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, SeqCst);
    }
}

impl HeadCache {
    pub(crate) fn enable(&self) {
        self.enabled.store(true, SeqCst);
    }

    /// To hold across any change to `l2_blocks`.
    pub(crate) fn write(&self) -> Writing<'_> {
        self.started.fetch_add(1, SeqCst);
        Writing(self)
    }

    /// The cached head, when it is still the head. Otherwise `None`, and the generation to
    /// give [`Self::store`] with what the database says (`None` when none may be cached).
    pub(crate) fn get(&self) -> Result<BlockHead, Option<u64>> {
        if !self.enabled.load(SeqCst) {
            return Err(None);
        }
        let finished = self.finished.load(SeqCst);
        if self.started.load(SeqCst) != finished {
            return Err(None);
        }
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        match *cached {
            Some((generation, head)) if generation == finished => Ok(head),
            _ => Err(Some(finished)),
        }
    }

    /// Caches `head`, read from the database after [`Self::get`] gave `generation`, unless a
    /// write began since.
    pub(crate) fn store(&self, generation: u64, head: BlockHead) {
        if self.started.load(SeqCst) != generation || self.finished.load(SeqCst) != generation {
            return;
        }
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, head));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;

    fn head(n: u64) -> BlockHead {
        BlockHead {
            number: n,
            hash: B256::with_last_byte(n as u8),
            state_root: B256::ZERO,
        }
    }

    #[test]
    fn a_write_under_way_or_done_invalidates_the_head() {
        let c = HeadCache::default();
        assert_eq!(c.get(), Err(None), "off until enabled");
        c.enable();
        let g = c.get().unwrap_err().unwrap();
        c.store(g, head(1));
        assert_eq!(c.get(), Ok(head(1)));
        {
            let _w = c.write();
            assert_eq!(c.get(), Err(None), "a write is under way");
            c.store(g, head(1));
        }
        let g2 = c.get().unwrap_err().expect("a write finished: read again");
        assert_ne!(g, g2);
        // A head read while a write began and ended is not kept.
        let stale = c.get().unwrap_err().unwrap();
        drop(c.write());
        c.store(stale, head(1));
        assert!(c.get().is_err());
        let g3 = c.get().unwrap_err().unwrap();
        c.store(g3, head(2));
        assert_eq!(c.get(), Ok(head(2)));
    }
}
