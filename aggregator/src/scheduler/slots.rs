//! What the scheduler has each prover doing, in one place: a [`Slot`] per prover id, all under
//! one lock. A prover gets work only through [`Slots::try_take_batch`] or
//! [`Slots::try_take_recursion`], which decide under that lock, and is free again when the
//! [`Taken`] guard they return drops (also when the task holding it panics).
//!
//! What the prover itself says (whether it runs a job, whether it does recursion) comes from its
//! [`ProverHandle`]: the last status it sent and the jobs it accepted since. The slot holds what
//! only the scheduler knows: the work it gave the prover, until when the prover is benched, and
//! when a prover that is not idle was last asked for its status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::farm::ProverHandle;

/// How often a prover that is not idle, and has no work from the scheduler, is asked for its
/// status (which marks it idle once its job has ended).
pub(super) const REFRESH_EVERY: Duration = Duration::from_secs(3);

/// The work the scheduler gives a prover.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Work {
    /// A batch to prove.
    Batch,
    /// An aggregation or a final proof.
    Recursion,
}

/// What a prover says about itself, as its handle knows it.
#[derive(Copy, Clone, Debug)]
struct Said {
    /// Connected and running no job.
    idle: bool,
    /// Takes aggregations and final proofs.
    can_aggregate: bool,
}

impl Said {
    fn of(prover: &ProverHandle) -> Self {
        Self {
            idle: prover.is_idle(),
            can_aggregate: prover.last_status().is_some_and(|s| s.can_aggregate),
        }
    }
}

/// One prover, as the scheduler sees it.
#[derive(Debug, Default)]
struct Slot {
    /// What the scheduler has the prover doing; `None`: nothing.
    work: Option<Work>,
    /// The prover returned a bad proof: no work for it before then.
    benched_until: Option<Instant>,
    /// When the prover, not idle, was last asked for its status.
    refreshed_at: Option<Instant>,
}

/// Every prover's slot, by prover id. Cheap to clone; the clones share the slots.
#[derive(Clone, Default)]
pub(super) struct Slots {
    inner: Arc<Mutex<HashMap<String, Slot>>>,
}

/// A prover taken for some work. The prover is free again when this drops.
#[must_use = "the prover is free again as soon as this is dropped"]
pub(super) struct Taken {
    slots: Slots,
    prover_id: String,
}

impl Taken {
    pub(super) fn prover_id(&self) -> &str {
        &self.prover_id
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if let Some(slot) = self.slots.lock().get_mut(&self.prover_id) {
            slot.work = None;
        }
    }
}

impl Slots {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `prover` for a batch, if it is idle, has no work from the scheduler and is not
    /// benched.
    pub(super) fn try_take_batch(&self, prover: &ProverHandle) -> Option<Taken> {
        self.try_take(
            prover.prover_id(),
            Said::of(prover),
            Work::Batch,
            Instant::now(),
        )
    }

    /// Takes `prover` for an aggregation or a final proof, if it does recursion, is idle, has
    /// no work from the scheduler and is not benched.
    pub(super) fn try_take_recursion(&self, prover: &ProverHandle) -> Option<Taken> {
        self.try_take(
            prover.prover_id(),
            Said::of(prover),
            Work::Recursion,
            Instant::now(),
        )
    }

    fn try_take(&self, prover_id: &str, said: Said, work: Work, now: Instant) -> Option<Taken> {
        let able = said.idle && (work == Work::Batch || said.can_aggregate);
        if !able {
            return None;
        }
        let mut slots = self.lock();
        let slot = slots.entry(prover_id.to_string()).or_default();
        if slot.work.is_some() || slot.benched_until.is_some_and(|until| now < until) {
            return None;
        }
        slot.work = Some(work);
        drop(slots);
        Some(Taken {
            slots: self.clone(),
            prover_id: prover_id.to_string(),
        })
    }

    /// Gives prover `prover_id` no work before `until`.
    pub(super) fn bench(&self, prover_id: &str, until: Instant) {
        self.lock()
            .entry(prover_id.to_string())
            .or_default()
            .benched_until = Some(until);
    }

    /// Whether to ask `prover` for its status now: it is not idle (a job from before a
    /// reconnection, or a cancelled one still computing), the scheduler gave it no work (a task
    /// of the scheduler polls those), and it was not asked within [`REFRESH_EVERY`]. A `true`
    /// counts as the asking.
    pub(super) fn needs_refresh(&self, prover: &ProverHandle) -> bool {
        self.needs_refresh_at(prover.prover_id(), Said::of(prover), Instant::now())
    }

    fn needs_refresh_at(&self, prover_id: &str, said: Said, now: Instant) -> bool {
        if said.idle {
            return false;
        }
        let mut slots = self.lock();
        let slot = slots.entry(prover_id.to_string()).or_default();
        let recent = slot
            .refreshed_at
            .is_some_and(|at| now.duration_since(at) < REFRESH_EVERY);
        if slot.work.is_some() || recent {
            return false;
        }
        slot.refreshed_at = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Said = Said {
        idle: true,
        can_aggregate: false,
    };
    const IDLE_RECURSIVE: Said = Said {
        idle: true,
        can_aggregate: true,
    };
    const RUNNING: Said = Said {
        idle: false,
        can_aggregate: true,
    };

    #[test]
    fn a_prover_has_one_piece_of_work_at_a_time() {
        let slots = Slots::default();
        let now = Instant::now();
        let batch = slots.try_take("p", IDLE_RECURSIVE, Work::Batch, now);
        assert!(batch.is_some());
        assert!(slots
            .try_take("p", IDLE_RECURSIVE, Work::Batch, now)
            .is_none());
        assert!(
            slots
                .try_take("p", IDLE_RECURSIVE, Work::Recursion, now)
                .is_none(),
            "a prover with a batch is not given recursion"
        );
        // Another prover is another slot.
        assert!(slots.try_take("q", IDLE, Work::Batch, now).is_some());
        drop(batch);
        let recursion = slots.try_take("p", IDLE_RECURSIVE, Work::Recursion, now);
        assert_eq!(recursion.as_ref().map(Taken::prover_id), Some("p"));
        assert!(
            slots
                .try_take("p", IDLE_RECURSIVE, Work::Batch, now)
                .is_none(),
            "a prover doing recursion is not given a batch"
        );
    }

    #[test]
    fn only_an_idle_prover_is_taken_and_recursion_needs_a_prover_that_does_it() {
        let slots = Slots::default();
        let now = Instant::now();
        assert!(slots.try_take("p", RUNNING, Work::Batch, now).is_none());
        assert!(slots.try_take("p", RUNNING, Work::Recursion, now).is_none());
        assert!(slots.try_take("p", IDLE, Work::Recursion, now).is_none());
        assert!(slots.try_take("p", IDLE, Work::Batch, now).is_some());
    }

    #[test]
    fn a_benched_prover_gets_no_work_until_its_bench_ends() {
        let slots = Slots::default();
        let now = Instant::now();
        slots.bench("p", now + Duration::from_secs(60));
        assert!(slots
            .try_take("p", IDLE_RECURSIVE, Work::Batch, now)
            .is_none());
        let later = now + Duration::from_secs(59);
        assert!(slots
            .try_take("p", IDLE_RECURSIVE, Work::Recursion, later)
            .is_none());
        assert!(slots.try_take("q", IDLE, Work::Batch, now).is_some());
        let after = now + Duration::from_secs(60);
        assert!(slots
            .try_take("p", IDLE_RECURSIVE, Work::Batch, after)
            .is_some());
    }

    #[test]
    fn the_prover_is_free_again_when_its_task_panics() {
        let slots = Slots::default();
        let taken = slots
            .try_take("p", IDLE, Work::Batch, Instant::now())
            .unwrap();
        let task = std::thread::spawn(move || {
            let _taken = taken;
            panic!("the task fails");
        });
        assert!(task.join().is_err());
        assert!(slots
            .try_take("p", IDLE, Work::Batch, Instant::now())
            .is_some());
    }

    #[test]
    fn a_prover_that_is_not_idle_is_refreshed_at_most_every_period() {
        let slots = Slots::default();
        let now = Instant::now();
        assert!(
            !slots.needs_refresh_at("p", IDLE, now),
            "idle: nothing to ask"
        );
        assert!(slots.needs_refresh_at("p", RUNNING, now));
        assert!(!slots.needs_refresh_at("p", RUNNING, now + REFRESH_EVERY / 2));
        assert!(slots.needs_refresh_at("p", RUNNING, now + REFRESH_EVERY));

        // A prover with work from the scheduler is polled by that work's task instead.
        let taken = slots.try_take("q", IDLE, Work::Batch, now).unwrap();
        assert!(!slots.needs_refresh_at("q", RUNNING, now));
        drop(taken);
        assert!(slots.needs_refresh_at("q", RUNNING, now));
    }
}
