//! Per-flow duration: how long one iteration of a scenario flow took, from its start to its last
//! step's end. This is what answers "how long does a user's login-check-logout take"; the
//! per-step figures answer "which call was slow". Flows are counted apart from requests: a flow
//! is not a call, so it adds nothing to request totals, rates or error rates.

use super::histogram::{new_latency_histogram, LatencyHistogram};
use crate::ground::{ErrorClass, Service};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A flow of a scenario group: `scenario/flow`, e.g. `keto/share-album`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    /// The scenario (group) the flow belongs to; `all` runs several side by side.
    pub scenario: Arc<str>,
    pub flow: Arc<str>,
}

impl FlowKey {
    pub fn new(scenario: &str, flow: &str) -> Self {
        FlowKey {
            scenario: Arc::from(scenario),
            flow: Arc::from(flow),
        }
    }

    /// How reports and thresholds name the flow: `scenario/flow`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.scenario, self.flow)
    }
}

/// What a flow is made of, fixed when the recorder is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowInfo {
    pub key: FlowKey,
    /// The service every step calls; `None` when the flow spans several services.
    pub service: Option<Service>,
    /// Steps in the flow.
    pub steps: usize,
}

/// Every completed or failed iteration of one flow.
#[derive(Clone, Debug)]
pub struct FlowStats {
    pub info: FlowInfo,
    /// Iteration duration in microseconds, from its start to its last step's end. In the open
    /// model the start is the intended (scheduled) one: coordinated-omission corrected.
    pub duration: LatencyHistogram,
    /// Open model only: from the iteration's actual start.
    pub uncorrected: Option<LatencyHistogram>,
    /// Iterations whose every step worked as expected.
    pub ok: u64,
    /// Iterations that ended at a failed step, by that step's error class.
    pub errors: BTreeMap<ErrorClass, u64>,
}

impl FlowStats {
    pub fn new(info: FlowInfo) -> Self {
        FlowStats {
            info,
            duration: new_latency_histogram(),
            uncorrected: None,
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    pub fn key(&self) -> &FlowKey {
        &self.info.key
    }

    /// Adds one iteration; `failed` is the error class of the step it ended at, if any.
    pub fn record(
        &mut self,
        duration_us: u64,
        uncorrected_us: Option<u64>,
        failed: Option<ErrorClass>,
    ) {
        self.duration.saturating_record(duration_us.max(1));
        if let Some(us) = uncorrected_us {
            self.uncorrected
                .get_or_insert_with(new_latency_histogram)
                .saturating_record(us.max(1));
        }
        match failed {
            None => self.ok += 1,
            Some(class) => *self.errors.entry(class).or_insert(0) += 1,
        }
    }

    pub fn count(&self) -> u64 {
        self.ok + self.error_count()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &FlowStats) {
        debug_assert_eq!(self.key(), other.key());
        // Both histograms have the same bounds, so `add` cannot fail.
        let _ = self.duration.add(&other.duration);
        if let Some(other_unc) = &other.uncorrected {
            let _ = self
                .uncorrected
                .get_or_insert_with(new_latency_histogram)
                .add(other_unc);
        }
        self.ok += other.ok;
        for (class, n) in &other.errors {
            *self.errors.entry(*class).or_insert(0) += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> FlowInfo {
        FlowInfo {
            key: FlowKey::new("keto", "share-album"),
            service: Some(Service::Keto),
            steps: 4,
        }
    }

    #[test]
    fn iterations_count_ok_and_failed_apart_and_merge() {
        let mut a = FlowStats::new(info());
        a.record(40_000, Some(39_000), None);
        a.record(10_000, Some(9_000), Some(ErrorClass::Timeout));
        let mut b = FlowStats::new(info());
        b.record(20_000, None, None);
        a.merge(&b);
        assert_eq!((a.count(), a.ok, a.error_count()), (3, 2, 1));
        assert_eq!(a.duration.len(), 3);
        assert_eq!(a.uncorrected.as_ref().map(|h| h.len()), Some(2));
        assert_eq!(a.key().label(), "keto/share-album");
    }
}
