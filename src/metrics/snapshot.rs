//! A point-in-time, mergeable copy of everything recorded: per operation latency histograms,
//! domain verdicts and error classes. Exporters read snapshots; they never touch the recorder.

use super::histogram::{new_latency_histogram, LatencyHistogram};
use crate::model::{ErrorClass, Kind, Op, Outcome, Service, Verdict};
use std::collections::BTreeMap;

/// Everything recorded for one operation.
#[derive(Clone, Debug)]
pub struct OpStats {
    pub op: Op,
    /// Latency of every call (ok or not), in microseconds. In the open model this counts from
    /// the intended start (coordinated-omission corrected).
    pub latency: LatencyHistogram,
    /// Open model only: latency counted from the actual send, kept beside the corrected one.
    pub uncorrected: Option<LatencyHistogram>,
    /// Count per verdict, indexed by `Verdict::index`.
    pub verdicts: [u64; Verdict::ALL.len()],
    pub errors: BTreeMap<ErrorClass, u64>,
}

impl OpStats {
    pub fn new(op: Op) -> Self {
        OpStats {
            op,
            latency: new_latency_histogram(),
            uncorrected: None,
            verdicts: [0; Verdict::ALL.len()],
            errors: BTreeMap::new(),
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
        debug_assert_eq!(self.op, other.op);
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
}

impl ServiceTotals {
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

/// All operations recorded so far, ordered by operation.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    ops: BTreeMap<Op, OpStats>,
}

impl Snapshot {
    pub fn ops(&self) -> impl Iterator<Item = &OpStats> {
        self.ops.values()
    }

    pub fn op(&self, op: Op) -> Option<&OpStats> {
        self.ops.get(&op)
    }

    pub fn insert(&mut self, stats: OpStats) {
        match self.ops.get_mut(&stats.op) {
            Some(existing) => existing.merge(&stats),
            None => {
                self.ops.insert(stats.op, stats);
            }
        }
    }

    pub fn merge(&mut self, other: &Snapshot) {
        for stats in other.ops.values() {
            match self.ops.get_mut(&stats.op) {
                Some(existing) => existing.merge(stats),
                None => {
                    self.ops.insert(stats.op, stats.clone());
                }
            }
        }
    }

    pub fn services(&self) -> Vec<Service> {
        let mut services: Vec<Service> = self.ops.keys().map(|op| op.service()).collect();
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

    #[test]
    fn latencies_beyond_the_range_are_clamped_not_dropped() {
        let mut s = OpStats::new(Op::HydraToken);
        s.record(u64::MAX, None, Outcome::Err(ErrorClass::Timeout));
        s.record(0, None, Outcome::Ok(Verdict::Ok));
        assert_eq!(s.latency.len(), 2);
    }
}
