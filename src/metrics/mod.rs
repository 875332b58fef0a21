//! Collecting what happened: a sharded recorder on the hot path, and mergeable snapshots for
//! everything downstream (progress, summary, reports, comparisons).

pub mod completion;
mod flow;
mod generator;
mod histogram;
mod recorder;
mod snapshot;

pub use flow::{FlowInfo, FlowKey, FlowStats};
pub use generator::{GeneratorStats, WarmupTotals};
pub use histogram::{new_latency_histogram, LatencyHistogram, LATENCY_MAX_US};
pub use recorder::{FlowId, MetricId, Recorder, RecorderHandle, Totals};
pub use snapshot::{BatchChecks, OpStats, ServiceTotals, Snapshot};
