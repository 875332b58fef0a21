//! The hot-path recorder. Virtual users are spread over a few shards, each behind its own
//! mutex, so recording never serialises all virtual users behind one lock: with twice as many
//! shards as worker threads a lock is almost always uncontended, and taking an uncontended
//! mutex costs about as much as an atomic add.

use super::snapshot::{OpStats, Snapshot};
use crate::model::{Op, Outcome};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

#[derive(Default)]
struct Shard {
    /// Indexed by `Op::index`; allocated on first use so unused operations cost nothing.
    ops: Vec<Option<OpStats>>,
    requests: u64,
    errors: u64,
}

/// Cheap running totals for the progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
}

pub struct Recorder {
    shards: Box<[Mutex<Shard>]>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Recorder::with_shards((threads * 2).max(4))
    }

    pub fn with_shards(n: usize) -> Arc<Recorder> {
        let shards = (0..n.max(1))
            .map(|_| {
                Mutex::new(Shard {
                    ops: (0..Op::ALL.len()).map(|_| None).collect(),
                    ..Shard::default()
                })
            })
            .collect();
        Arc::new(Recorder { shards })
    }

    /// A handle for one virtual user; handles spread round-robin over the shards.
    pub fn handle(self: &Arc<Self>, vu_id: usize) -> RecorderHandle {
        RecorderHandle {
            recorder: Arc::clone(self),
            shard: vu_id % self.shards.len(),
        }
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding the lock cannot leave a shard half-updated in a way that
        // matters for counting, so a poisoned lock is still usable.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for i in 0..self.shards.len() {
            let shard = self.lock(i);
            t.requests += shard.requests;
            t.errors += shard.errors;
        }
        t
    }

    /// Merges every shard into one snapshot. Holds one shard lock at a time.
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::default();
        for i in 0..self.shards.len() {
            let shard = self.lock(i);
            for stats in shard.ops.iter().flatten() {
                snap.insert(stats.clone());
            }
        }
        snap
    }

    /// Forgets everything recorded so far (end of a warm-up period).
    pub fn reset(&self) {
        for i in 0..self.shards.len() {
            let mut shard = self.lock(i);
            shard.ops.iter_mut().for_each(|s| *s = None);
            shard.requests = 0;
            shard.errors = 0;
        }
    }
}

/// What a virtual user holds to record its calls.
#[derive(Clone)]
pub struct RecorderHandle {
    recorder: Arc<Recorder>,
    shard: usize,
}

impl RecorderHandle {
    /// Records one call. `intended` is the scheduled start in the open model: latency is then
    /// counted from it (coordinated-omission correction) and the latency from `start` is kept
    /// beside it. In the closed model `intended` is `None`.
    pub fn record(
        &self,
        op: Op,
        intended: Option<Instant>,
        start: Instant,
        end: Instant,
        outcome: Outcome,
    ) {
        let actual_us = micros(end.saturating_duration_since(start));
        let (latency_us, uncorrected_us) = match intended {
            Some(at) => (micros(end.saturating_duration_since(at)), Some(actual_us)),
            None => (actual_us, None),
        };
        let mut shard = self.recorder.lock(self.shard);
        shard.requests += 1;
        if !outcome.is_ok() {
            shard.errors += 1;
        }
        shard.ops[op.index()]
            .get_or_insert_with(|| OpStats::new(op))
            .record(latency_us, uncorrected_us, outcome);
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorClass, Verdict};
    use std::time::Duration;

    #[test]
    fn handles_on_different_shards_merge_into_one_snapshot() {
        let rec = Recorder::with_shards(3);
        let t0 = Instant::now();
        for vu in 0..9 {
            let h = rec.handle(vu);
            h.record(
                Op::KetoCheck,
                None,
                t0,
                t0 + Duration::from_micros(250),
                Outcome::Ok(Verdict::Allowed),
            );
        }
        rec.handle(1).record(
            Op::KetoWrite,
            None,
            t0,
            t0 + Duration::from_millis(2),
            Outcome::Err(ErrorClass::Status(500)),
        );
        let snap = rec.snapshot();
        let check = snap.op(Op::KetoCheck).unwrap();
        assert_eq!(check.verdict(Verdict::Allowed), 9);
        assert!((check.latency.value_at_quantile(0.5) as i64 - 250).abs() <= 1);
        assert_eq!(
            rec.totals(),
            Totals {
                requests: 10,
                errors: 1
            }
        );
    }

    #[test]
    fn intended_start_corrects_latency_and_keeps_the_uncorrected_figure() {
        let rec = Recorder::with_shards(1);
        let intended = Instant::now();
        let start = intended + Duration::from_millis(900);
        let end = start + Duration::from_millis(100);
        rec.handle(0).record(
            Op::HydraToken,
            Some(intended),
            start,
            end,
            Outcome::Ok(Verdict::Ok),
        );
        let snap = rec.snapshot();
        let s = snap.op(Op::HydraToken).unwrap();
        let corrected = s.latency.max();
        let uncorrected = s.uncorrected.as_ref().unwrap().max();
        assert!((999_000..=1_001_000).contains(&corrected), "{corrected}");
        assert!((99_900..=100_100).contains(&uncorrected), "{uncorrected}");
    }

    #[test]
    fn reset_forgets_everything() {
        let rec = Recorder::with_shards(2);
        let t = Instant::now();
        rec.handle(0)
            .record(Op::KratosLogin, None, t, t, Outcome::Ok(Verdict::Valid));
        rec.reset();
        assert_eq!(rec.totals(), Totals::default());
        assert_eq!(rec.snapshot().total_requests(), 0);
    }
}
