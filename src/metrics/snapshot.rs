//! A point-in-time, mergeable copy of everything recorded: per operation (and per named scenario
//! step) latency histograms, domain verdicts and error classes. Exporters read snapshots; they
//! never touch the recorder.

use super::flow::{FlowKey, FlowStats};
use super::histogram::{new_latency_histogram, LatencyHistogram};
use crate::ground::{ErrorClass, Kind, MetricKey, Op, Outcome, Service, Verdict};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the tuples of batch calls (`keto.batch_check`) answered: one request checks many
/// tuples, so these are counted apart from the requests' own verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchChecks {
    pub allowed: u64,
    pub denied: u64,
    /// Tuples the server could not check (answered with an `error`).
    pub failed: u64,
}

impl BatchChecks {
    pub fn total(&self) -> u64 {
        self.allowed + self.denied + self.failed
    }

    pub fn add(&mut self, other: &BatchChecks) {
        self.allowed += other.allowed;
        self.denied += other.denied;
        self.failed += other.failed;
    }
}

/// Everything recorded for one operation, or for one operation as called by one named scenario
/// step (`op` and `step` together are its [`MetricKey`]).
#[derive(Clone, Debug)]
pub struct OpStats {
    pub op: Op,
    /// The scenario step's name; `None` for calls not made by a named step.
    pub step: Option<Arc<str>>,
    /// Latency of every call (ok or not), in microseconds. In the open model this counts from
    /// the intended start (coordinated-omission corrected).
    pub latency: LatencyHistogram,
    /// Open model only: latency counted from the actual send, kept beside the corrected one.
    pub uncorrected: Option<LatencyHistogram>,
    /// Count per verdict, indexed by `Verdict::index`.
    pub verdicts: [u64; Verdict::ALL.len()],
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Batch calls only: what their tuples answered.
    pub checks: BatchChecks,
}

impl OpStats {
    /// Empty stats for the plain (unnamed) operation.
    pub fn new(op: Op) -> Self {
        OpStats::for_key(&MetricKey::op(op))
    }

    /// Empty stats for any key, named step or not.
    pub fn for_key(key: &MetricKey) -> Self {
        OpStats {
            op: key.op,
            step: key.step.clone(),
            latency: new_latency_histogram(),
            uncorrected: None,
            verdicts: [0; Verdict::ALL.len()],
            errors: BTreeMap::new(),
            checks: BatchChecks::default(),
        }
    }

    /// Adds one call. `latency_us` is the figure the summary shows; `uncorrected_us` is given
    /// only when the two differ in meaning (open model).
    pub fn record(&mut self, latency_us: u64, uncorrected_us: Option<u64>, outcome: Outcome) {
        self.latency.saturating_record(latency_us.max(1));
        if let Some(us) = uncorrected_us {
            self.uncorrected
                .get_or_insert_with(new_latency_histogram)
                .saturating_record(us.max(1));
        }
        match outcome {
            Outcome::Ok(verdict) => self.verdicts[verdict.index()] += 1,
            Outcome::Err(class) => *self.errors.entry(class).or_insert(0) += 1,
        }
    }

    /// What these stats count under.
    pub fn key(&self) -> MetricKey {
        MetricKey {
            op: self.op,
            step: self.step.clone(),
        }
    }

    pub fn count(&self) -> u64 {
        self.ok_count() + self.error_count()
    }

    pub fn ok_count(&self) -> u64 {
        self.verdicts.iter().sum()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn verdict(&self, verdict: Verdict) -> u64 {
        self.verdicts[verdict.index()]
    }

    pub fn merge(&mut self, other: &OpStats) {
        debug_assert_eq!(self.key(), other.key());
        // Both histograms have the same bounds, so `add` cannot fail.
        let _ = self.latency.add(&other.latency);
        if let Some(other_unc) = &other.uncorrected {
            let _ = self
                .uncorrected
                .get_or_insert_with(new_latency_histogram)
                .add(other_unc);
        }
        for (a, b) in self.verdicts.iter_mut().zip(other.verdicts) {
            *a += b;
        }
        for (class, n) in &other.errors {
            *self.errors.entry(*class).or_insert(0) += n;
        }
        self.checks.add(&other.checks);
    }
}

/// Per-service roll-up used by the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceTotals {
    pub reads: u64,
    pub writes: u64,
    pub failed_reads: u64,
    pub failed_writes: u64,
    pub verdicts: [u64; Verdict::ALL.len()],
    /// Batch calls among the reads, and what their tuples answered.
    pub batch_calls: u64,
    pub batch_checks: BatchChecks,
}

impl ServiceTotals {
    /// Checks (Keto) or reads (the others) answered: a batch call counts as the tuples it
    /// checked, every other read as one, so a rate of these stays a rate of checks.
    pub fn checks(&self) -> u64 {
        self.reads - self.batch_calls + self.batch_checks.total()
    }

    pub fn verdict(&self, verdict: Verdict) -> u64 {
        self.verdicts[verdict.index()]
    }

    pub fn requests(&self) -> u64 {
        self.reads + self.writes
    }

    pub fn errors(&self) -> u64 {
        self.failed_reads + self.failed_writes
    }

    /// Reads per write, `None` when nothing was written.
    pub fn read_write_ratio(&self) -> Option<f64> {
        (self.writes > 0).then(|| self.reads as f64 / self.writes as f64)
    }
}

/// All operations and named steps recorded so far, keyed by [`MetricKey`]: ordered by operation,
/// then step name, the plain (unnamed) operation first. Roll-ups (per service, totals, error
/// classes) count every entry, named or not.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    ops: BTreeMap<MetricKey, OpStats>,
    /// Per-flow iteration durations; not requests, so no roll-up counts them.
    flows: BTreeMap<FlowKey, FlowStats>,
}

impl Snapshot {
    /// Every entry, plain operations and named steps, in key order.
    pub fn ops(&self) -> impl Iterator<Item = &OpStats> {
        self.ops.values()
    }

    /// The plain (unnamed) stats of `op`; calls made by named steps are under [`Snapshot::get`].
    pub fn op(&self, op: Op) -> Option<&OpStats> {
        self.ops.get(&MetricKey::op(op))
    }

    pub fn get(&self, key: &MetricKey) -> Option<&OpStats> {
        self.ops.get(key)
    }

    /// Adds `stats` under its key, merging with what is already there.
    pub fn insert(&mut self, stats: OpStats) {
        let key = stats.key();
        match self.ops.get_mut(&key) {
            Some(existing) => existing.merge(&stats),
            None => {
                self.ops.insert(key, stats);
            }
        }
    }

    /// Adds a copy of `stats` under its key (for stats the caller keeps, such as a drain's).
    /// A new key starts from an empty histogram that `stats` is merged into rather than from a
    /// clone: a fresh histogram's memory is resident only where values landed (see
    /// `crate::heap`), a cloned one is resident in full, which matters for the run's
    /// cumulative and per-interval snapshots of a long run.
    pub fn add(&mut self, stats: &OpStats) {
        let key = stats.key();
        self.ops
            .entry(key)
            .or_insert_with_key(OpStats::for_key)
            .merge(stats);
    }

    /// Adds a copy of a flow's `stats` under its key, as [`Snapshot::add`] does.
    pub fn add_flow(&mut self, stats: &FlowStats) {
        self.flows
            .entry(stats.key().clone())
            .or_insert_with(|| FlowStats::new(stats.info.clone()))
            .merge(stats);
    }

    pub fn merge(&mut self, other: &Snapshot) {
        other.ops.values().for_each(|stats| self.add(stats));
        other.flows.values().for_each(|stats| self.add_flow(stats));
    }

    /// Like [`Snapshot::merge`], but a key new to `self` gets a whole copy, resident in full
    /// from the start. For a snapshot that lives as long as the run (its cumulative figures):
    /// a sparse histogram would become resident page by page as the latency distribution's
    /// tail reaches new buckets, so memory would keep creeping up for hours.
    pub fn merge_resident(&mut self, other: &Snapshot) {
        for (key, stats) in &other.ops {
            match self.ops.get_mut(key) {
                Some(existing) => existing.merge(stats),
                None => {
                    self.ops.insert(key.clone(), stats.clone());
                }
            }
        }
        for stats in other.flows.values() {
            match self.flows.get_mut(stats.key()) {
                Some(existing) => existing.merge(stats),
                None => {
                    self.flows.insert(stats.key().clone(), stats.clone());
                }
            }
        }
    }

    /// Every flow's durations, ordered by scenario, then flow name.
    pub fn flows(&self) -> impl Iterator<Item = &FlowStats> {
        self.flows.values()
    }

    pub fn flow(&self, key: &FlowKey) -> Option<&FlowStats> {
        self.flows.get(key)
    }

    /// Adds `stats` under its flow, merging with what is already there.
    pub fn insert_flow(&mut self, stats: FlowStats) {
        match self.flows.get_mut(stats.key()) {
            Some(existing) => existing.merge(&stats),
            None => {
                self.flows.insert(stats.key().clone(), stats);
            }
        }
    }

    pub fn services(&self) -> Vec<Service> {
        let mut services: Vec<Service> = self.ops.keys().map(|k| k.op.service()).collect();
        services.dedup();
        services
    }

    pub fn service_totals(&self, service: Service) -> ServiceTotals {
        let mut totals = ServiceTotals::default();
        for stats in self.ops.values().filter(|s| s.op.service() == service) {
            match stats.op.kind() {
                Kind::Read => {
                    totals.reads += stats.count();
                    totals.failed_reads += stats.error_count();
                }
                Kind::Write => {
                    totals.writes += stats.count();
                    totals.failed_writes += stats.error_count();
                }
            }
            for (a, b) in totals.verdicts.iter_mut().zip(stats.verdicts) {
                *a += b;
            }
            if stats.op.is_batch() {
                totals.batch_calls += stats.count();
                totals.batch_checks.add(&stats.checks);
                // The batch's tuples count as the checks they are; the calls' own `ok` does not.
                totals.verdicts[Verdict::Ok.index()] -= stats.verdict(Verdict::Ok);
                totals.verdicts[Verdict::Allowed.index()] += stats.checks.allowed;
                totals.verdicts[Verdict::Denied.index()] += stats.checks.denied;
            }
        }
        totals
    }

    pub fn total_requests(&self) -> u64 {
        self.ops.values().map(OpStats::count).sum()
    }

    pub fn total_errors(&self) -> u64 {
        self.ops.values().map(OpStats::error_count).sum()
    }

    /// Error counts by class over all operations.
    pub fn errors_by_class(&self) -> BTreeMap<ErrorClass, u64> {
        let mut out = BTreeMap::new();
        for stats in self.ops.values() {
            for (class, n) in &stats.errors {
                *out.entry(*class).or_insert(0) += n;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_totals_split_reads_writes_and_failures() {
        let mut snap = Snapshot::default();
        let mut reg = OpStats::new(Op::KratosRegister);
        reg.record(1000, None, Outcome::Ok(Verdict::Ok));
        reg.record(1000, None, Outcome::Err(ErrorClass::Status(500)));
        let mut whoami = OpStats::new(Op::KratosWhoami);
        for _ in 0..5 {
            whoami.record(200, None, Outcome::Ok(Verdict::Active));
        }
        whoami.record(200, None, Outcome::Ok(Verdict::Inactive));
        whoami.record(200, None, Outcome::Err(ErrorClass::Timeout));
        snap.insert(reg);
        snap.insert(whoami);

        let t = snap.service_totals(Service::Kratos);
        assert_eq!((t.writes, t.failed_writes), (2, 1));
        assert_eq!((t.reads, t.failed_reads), (7, 1));
        assert_eq!(t.verdict(Verdict::Active), 5);
        assert_eq!(t.verdict(Verdict::Inactive), 1);
        assert_eq!(t.read_write_ratio(), Some(3.5));
        assert_eq!(snap.total_requests(), 9);
        assert_eq!(snap.total_errors(), 2);
        assert_eq!(snap.service_totals(Service::Keto), ServiceTotals::default());
    }

    #[test]
    fn merging_snapshots_adds_counts_and_histograms() {
        let mut a = Snapshot::default();
        let mut b = Snapshot::default();
        let mut s1 = OpStats::new(Op::KetoCheck);
        s1.record(100, None, Outcome::Ok(Verdict::Allowed));
        let mut s2 = OpStats::new(Op::KetoCheck);
        s2.record(300, Some(250), Outcome::Ok(Verdict::Denied));
        a.insert(s1);
        b.insert(s2);
        a.merge(&b);
        let merged = a.op(Op::KetoCheck).unwrap();
        assert_eq!(merged.count(), 2);
        assert_eq!(merged.latency.len(), 2);
        assert_eq!(merged.uncorrected.as_ref().unwrap().len(), 1);
        assert_eq!(merged.verdict(Verdict::Allowed), 1);
        assert_eq!(merged.verdict(Verdict::Denied), 1);
    }

    fn stats(key: &MetricKey, n: u64, latency_us: u64, outcome: Outcome) -> OpStats {
        let mut s = OpStats::for_key(key);
        for _ in 0..n {
            s.record(latency_us, None, outcome);
        }
        s
    }

    #[test]
    fn named_steps_are_kept_apart_from_the_plain_op_and_counted_in_every_total() {
        let plain = MetricKey::op(Op::KetoCheck);
        let after_login = MetricKey::step(Op::KetoCheck, "check-after-login");
        let admin = MetricKey::step(Op::KetoCheck, "admin-check");
        let write = MetricKey::step(Op::KetoWrite, "grant");
        let mut snap = Snapshot::default();
        snap.insert(stats(&after_login, 3, 100, Outcome::Ok(Verdict::Allowed)));
        snap.insert(stats(&plain, 5, 200, Outcome::Ok(Verdict::Denied)));
        snap.insert(stats(&admin, 7, 300, Outcome::Err(ErrorClass::Timeout)));
        snap.insert(stats(&write, 2, 400, Outcome::Ok(Verdict::Ok)));
        // A second insert under the same named key merges into it.
        snap.insert(stats(&after_login, 1, 100, Outcome::Ok(Verdict::Denied)));

        assert_eq!(snap.op(Op::KetoCheck).unwrap().count(), 5, "plain only");
        assert_eq!(snap.get(&plain).unwrap().verdict(Verdict::Denied), 5);
        let a = snap.get(&after_login).unwrap();
        assert_eq!(a.step.as_deref(), Some("check-after-login"));
        assert_eq!(a.key(), after_login);
        assert_eq!(
            (a.verdict(Verdict::Allowed), a.verdict(Verdict::Denied)),
            (3, 1)
        );
        assert_eq!(a.latency.max(), 100);
        let b = snap.get(&admin).unwrap();
        assert_eq!((b.count(), b.error_count()), (7, 7));
        assert!(snap.get(&MetricKey::step(Op::KetoCheck, "nope")).is_none());
        assert!(
            snap.op(Op::KetoWrite).is_none(),
            "only a named keto.write ran"
        );

        let keys: Vec<MetricKey> = snap.ops().map(OpStats::key).collect();
        assert_eq!(keys, vec![write, plain, admin, after_login]);

        assert_eq!(snap.total_requests(), 2 + 5 + 7 + 4);
        assert_eq!(snap.total_errors(), 7);
        assert_eq!(snap.errors_by_class()[&ErrorClass::Timeout], 7);
        assert_eq!(snap.services(), vec![Service::Keto]);
        let t = snap.service_totals(Service::Keto);
        assert_eq!((t.reads, t.failed_reads), (16, 7));
        assert_eq!((t.writes, t.failed_writes), (2, 0));
        assert_eq!(t.verdict(Verdict::Allowed), 3);
        assert_eq!(t.verdict(Verdict::Denied), 6);
    }

    #[test]
    fn merging_snapshots_matches_entries_by_op_and_step() {
        let named = MetricKey::step(Op::KratosLogin, "login");
        let mut a = Snapshot::default();
        a.insert(stats(&named, 2, 100, Outcome::Ok(Verdict::Valid)));
        a.insert(OpStats::new(Op::KratosLogin));
        let mut b = Snapshot::default();
        b.insert(stats(&named, 3, 100, Outcome::Ok(Verdict::Valid)));
        b.insert(stats(
            &MetricKey::op(Op::KratosLogin),
            4,
            100,
            Outcome::Ok(Verdict::Invalid),
        ));
        b.insert(stats(
            &MetricKey::step(Op::KratosLogin, "other"),
            1,
            100,
            Outcome::Ok(Verdict::Valid),
        ));
        a.merge(&b);
        assert_eq!(a.get(&named).unwrap().count(), 5);
        assert_eq!(a.op(Op::KratosLogin).unwrap().count(), 4);
        assert_eq!(
            a.get(&MetricKey::step(Op::KratosLogin, "other"))
                .unwrap()
                .count(),
            1
        );
        assert_eq!(a.ops().count(), 3);
        assert_eq!(a.total_requests(), 10);
    }

    #[test]
    fn latencies_beyond_the_range_are_clamped_not_dropped() {
        let mut s = OpStats::new(Op::HydraToken);
        s.record(u64::MAX, None, Outcome::Err(ErrorClass::Timeout));
        s.record(0, None, Outcome::Ok(Verdict::Ok));
        assert_eq!(s.latency.len(), 2);
    }
}
