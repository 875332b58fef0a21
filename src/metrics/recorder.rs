//! The hot-path recorder. Virtual users are spread over a few shards, each behind its own
//! mutex, so recording never serialises all virtual users behind one lock: with twice as many
//! shards as worker threads a lock is almost always uncontended, and taking an uncontended
//! mutex costs about as much as an atomic add.
//!
//! Calls are recorded under a [`MetricId`], a dense index the recorder hands out for each
//! [`MetricKey`] it knows: every plain operation (id `op.index()`), then the named scenario steps
//! registered when the recorder was built. Recording is an index into a vector, no hashing.

use super::flow::{FlowInfo, FlowKey, FlowStats};
use super::snapshot::{OpStats, Snapshot};
use crate::ground::{ErrorClass, MetricKey, Op, Outcome};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Dense index of a [`MetricKey`] in one [`Recorder`]. Plain operations have the id
/// `op.index()` in every recorder (`MetricId::from(op)`); ids of named steps come from
/// [`Recorder::metric_id`] and are only meaningful for the recorder that issued them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MetricId(u32);

impl MetricId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl From<Op> for MetricId {
    fn from(op: Op) -> Self {
        MetricId(op.index() as u32)
    }
}

/// Dense index of a registered flow in one [`Recorder`] ([`Recorder::flow_id`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowId(u32);

#[derive(Default)]
struct Shard {
    /// Indexed by `MetricId::index`; allocated on first use so unused keys cost nothing.
    ops: Vec<Option<OpStats>>,
    /// Indexed by `FlowId`; allocated on first use. Flows are not requests: they add nothing to
    /// `requests` or `errors`.
    flows: Vec<Option<FlowStats>>,
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
    /// The key of each id: `Op::ALL` in order, then the registered named steps.
    keys: Box<[MetricKey]>,
    /// Id of each registered named step (plain operations need no look-up).
    steps: HashMap<MetricKey, MetricId>,
    /// The registered flows, indexed by `FlowId`.
    flows: Box<[FlowInfo]>,
}

impl Recorder {
    /// A recorder for plain operations only.
    pub fn new() -> Arc<Recorder> {
        Recorder::with_steps(&[])
    }

    pub fn with_shards(n: usize) -> Arc<Recorder> {
        Recorder::with_shards_and_steps(n, &[])
    }

    /// A recorder that also counts the given named steps apart (see [`Recorder::metric_id`]).
    pub fn with_steps(steps: &[MetricKey]) -> Arc<Recorder> {
        Recorder::with_shards_and_steps(default_shards(), steps)
    }

    /// A recorder for named steps and for the durations of the given flows
    /// (see [`Recorder::flow_id`]).
    pub fn with_steps_and_flows(steps: &[MetricKey], flows: &[FlowInfo]) -> Arc<Recorder> {
        Recorder::build(default_shards(), steps, flows)
    }

    /// `n` shards; every plain operation plus the given keys. Keys without a step name are
    /// plain operations, which are always there; a key given twice gets one id.
    pub fn with_shards_and_steps(n: usize, steps: &[MetricKey]) -> Arc<Recorder> {
        Recorder::build(n, steps, &[])
    }

    /// A flow given twice gets one id.
    fn build(n: usize, steps: &[MetricKey], flows: &[FlowInfo]) -> Arc<Recorder> {
        let mut keys: Vec<MetricKey> = Op::ALL.iter().map(|&op| MetricKey::op(op)).collect();
        let mut ids = HashMap::new();
        for key in steps.iter().filter(|k| k.step.is_some()) {
            ids.entry(key.clone()).or_insert_with(|| {
                let id = u32::try_from(keys.len()).expect("fewer than 2^32 named steps");
                keys.push(key.clone());
                MetricId(id)
            });
        }
        let mut unique_flows: Vec<FlowInfo> = Vec::new();
        for flow in flows {
            if !unique_flows.iter().any(|f| f.key == flow.key) {
                unique_flows.push(flow.clone());
            }
        }
        let shards = (0..n.max(1))
            .map(|_| {
                Mutex::new(Shard {
                    ops: (0..keys.len()).map(|_| None).collect(),
                    flows: (0..unique_flows.len()).map(|_| None).collect(),
                    ..Shard::default()
                })
            })
            .collect();
        Arc::new(Recorder {
            shards,
            keys: keys.into_boxed_slice(),
            steps: ids,
            flows: unique_flows.into_boxed_slice(),
        })
    }

    /// The id to record the duration of `key`'s iterations under, when it was registered.
    pub fn flow_id(&self, key: &FlowKey) -> Option<FlowId> {
        self.flows
            .iter()
            .position(|f| &f.key == key)
            .map(|i| FlowId(i as u32))
    }

    /// The id to record `key` under: plain operations always have one, named steps only when
    /// they were registered at construction.
    pub fn metric_id(&self, key: &MetricKey) -> Option<MetricId> {
        match key.step {
            None => Some(key.op.into()),
            Some(_) => self.steps.get(key).copied(),
        }
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
            for stats in shard.flows.iter().flatten() {
                snap.insert_flow(stats.clone());
            }
        }
        snap
    }

    /// Takes everything recorded since the last drain out of the shards and returns it: the
    /// interval sampler's view. Each shard's lock is held only to swap two vectors, so a
    /// drain never makes a virtual user wait for histograms to be copied; the next call on
    /// each key allocates its stats afresh. The running totals are not drained.
    pub fn drain(&self) -> Snapshot {
        let mut snap = Snapshot::default();
        for i in 0..self.shards.len() {
            let mut ops: Vec<Option<OpStats>> = (0..self.keys.len()).map(|_| None).collect();
            let mut flows: Vec<Option<FlowStats>> = (0..self.flows.len()).map(|_| None).collect();
            {
                let mut shard = self.lock(i);
                std::mem::swap(&mut shard.ops, &mut ops);
                std::mem::swap(&mut shard.flows, &mut flows);
            }
            for stats in ops.into_iter().flatten() {
                snap.insert(stats);
            }
            for stats in flows.into_iter().flatten() {
                snap.insert_flow(stats);
            }
        }
        snap
    }

    /// Forgets everything recorded so far (end of a warm-up period).
    pub fn reset(&self) {
        for i in 0..self.shards.len() {
            let mut shard = self.lock(i);
            shard.ops.iter_mut().for_each(|s| *s = None);
            shard.flows.iter_mut().for_each(|s| *s = None);
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
    ///
    /// `id` is an operation (`Op` converts) or an id from this recorder's
    /// [`Recorder::metric_id`]; an id from another recorder with fewer keys panics.
    pub fn record(
        &self,
        id: impl Into<MetricId>,
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
        let i = id.into().index();
        let keys = &self.recorder.keys;
        assert!(
            i < keys.len(),
            "metric id {i} was not issued by this recorder"
        );
        let mut shard = self.recorder.lock(self.shard);
        shard.requests += 1;
        if !outcome.is_ok() {
            shard.errors += 1;
        }
        shard.ops[i]
            .get_or_insert_with(|| OpStats::for_key(&keys[i]))
            .record(latency_us, uncorrected_us, outcome);
    }
}

impl RecorderHandle {
    /// Adds what the tuples of one batch call answered, beside the call `record` counted.
    pub fn record_checks(&self, id: impl Into<MetricId>, checks: &super::BatchChecks) {
        let i = id.into().index();
        let keys = &self.recorder.keys;
        assert!(
            i < keys.len(),
            "metric id {i} was not issued by this recorder"
        );
        let mut shard = self.recorder.lock(self.shard);
        shard.ops[i]
            .get_or_insert_with(|| OpStats::for_key(&keys[i]))
            .checks
            .add(checks);
    }

    /// Records one iteration of a flow, from `start` to its last step's `end`. `intended` is
    /// the iteration's scheduled start in the open model (the duration then counts from it, and
    /// the duration from `start` is kept beside it); `failed` is the error class of the step
    /// the iteration ended at, if one failed.
    pub fn record_flow(
        &self,
        id: FlowId,
        intended: Option<Instant>,
        start: Instant,
        end: Instant,
        failed: Option<ErrorClass>,
    ) {
        let actual_us = micros(end.saturating_duration_since(start));
        let (duration_us, uncorrected_us) = match intended {
            Some(at) => (micros(end.saturating_duration_since(at)), Some(actual_us)),
            None => (actual_us, None),
        };
        let i = id.0 as usize;
        let flows = &self.recorder.flows;
        assert!(
            i < flows.len(),
            "flow id {i} was not issued by this recorder"
        );
        let mut shard = self.recorder.lock(self.shard);
        shard.flows[i]
            .get_or_insert_with(|| FlowStats::new(flows[i].clone()))
            .record(duration_us, uncorrected_us, failed);
    }
}

fn default_shards() -> usize {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    (threads * 2).max(4)
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::{ErrorClass, Verdict};
    use std::time::Duration;

    #[test]
    fn a_drain_takes_what_was_recorded_since_the_last_one_and_keeps_the_totals() {
        let rec = Recorder::with_shards(2);
        let t0 = Instant::now();
        let ok = Outcome::Ok(Verdict::Allowed);
        let check = |n: u64| {
            for vu in 0..n as usize {
                rec.handle(vu)
                    .record(Op::KetoCheck, None, t0, t0 + Duration::from_micros(100), ok);
            }
        };
        check(5);
        let first = rec.drain();
        assert_eq!(first.op(Op::KetoCheck).map(OpStats::count), Some(5));
        assert_eq!(rec.drain().total_requests(), 0);
        check(3);
        assert_eq!(rec.drain().op(Op::KetoCheck).map(OpStats::count), Some(3));
        assert_eq!(rec.totals().requests, 8);
    }

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
    fn named_steps_get_their_own_ids_and_stats() {
        let after_login = MetricKey::step(Op::KetoCheck, "check-after-login");
        let admin = MetricKey::step(Op::KetoCheck, "admin-check");
        let rec = Recorder::with_shards_and_steps(
            2,
            &[
                after_login.clone(),
                MetricKey::op(Op::KetoCheck),
                admin.clone(),
                after_login.clone(),
            ],
        );
        let plain_id = rec.metric_id(&MetricKey::op(Op::KetoCheck)).unwrap();
        assert_eq!(plain_id, MetricId::from(Op::KetoCheck));
        assert_eq!(plain_id.index(), Op::KetoCheck.index());
        let a = rec.metric_id(&after_login).unwrap();
        let b = rec.metric_id(&admin).unwrap();
        assert_ne!(a, b);
        assert!(a != plain_id && b != plain_id);
        assert!(a.index() >= Op::ALL.len() && b.index() >= Op::ALL.len());
        assert_eq!(rec.keys.len(), Op::ALL.len() + 2, "duplicates share one id");
        assert_eq!(
            rec.metric_id(&MetricKey::step(Op::KetoCheck, "unknown")),
            None
        );
        // A name registered for one operation does not resolve for another.
        assert_eq!(
            rec.metric_id(&MetricKey::step(Op::KetoWrite, "admin-check")),
            None
        );
        // Plain operations resolve in a recorder without steps too.
        assert_eq!(
            Recorder::with_shards(1).metric_id(&MetricKey::op(Op::HydraToken)),
            Some(MetricId::from(Op::HydraToken))
        );

        let t0 = Instant::now();
        let us = Duration::from_micros;
        for vu in 0..4 {
            let h = rec.handle(vu);
            h.record(a, None, t0, t0 + us(100), Outcome::Ok(Verdict::Allowed));
            h.record(b, None, t0, t0 + us(900), Outcome::Ok(Verdict::Denied));
        }
        rec.handle(0).record(
            Op::KetoCheck,
            None,
            t0,
            t0 + us(5000),
            Outcome::Err(ErrorClass::Timeout),
        );
        let snap = rec.snapshot();
        let sa = snap.get(&after_login).unwrap();
        assert_eq!(sa.step.as_deref(), Some("check-after-login"));
        assert_eq!((sa.count(), sa.verdict(Verdict::Allowed)), (4, 4));
        assert!((99..=101).contains(&sa.latency.max()));
        let sb = snap.get(&admin).unwrap();
        assert_eq!((sb.count(), sb.verdict(Verdict::Denied)), (4, 4));
        assert!((899..=901).contains(&sb.latency.min()));
        let plain = snap.op(Op::KetoCheck).unwrap();
        assert_eq!((plain.count(), plain.error_count()), (1, 1));
        assert_eq!(snap.ops().count(), 3);
        assert_eq!(snap.total_requests(), 9);
        assert_eq!(
            rec.totals(),
            Totals {
                requests: 9,
                errors: 1
            }
        );
        rec.reset();
        assert_eq!(rec.snapshot().ops().count(), 0);
    }

    #[test]
    #[should_panic(expected = "not issued by this recorder")]
    fn an_id_from_another_recorder_is_refused() {
        let big = Recorder::with_shards_and_steps(1, &[MetricKey::step(Op::KetoCheck, "x")]);
        let id = big.metric_id(&MetricKey::step(Op::KetoCheck, "x")).unwrap();
        let t = Instant::now();
        Recorder::with_shards(1)
            .handle(0)
            .record(id, None, t, t, Outcome::Ok(Verdict::Ok));
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
