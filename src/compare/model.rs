//! The comparison as data: what every renderer (terminal, Markdown, JSON, HTML) shows. This is
//! the `--format json` output, documented in `docs/compare.md`; its versioning rule is the
//! report's (additive changes keep `format_version`, anything else bumps it).

use crate::db::StatementChange;
use crate::ground::Service;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of this structure.
pub const FORMAT_VERSION: u32 = 1;

/// Everything `orysim compare` found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub format_version: u32,
    pub method: Method,
    pub before: Side,
    pub after: Side,
    /// Where the runs are not like for like; the comparison may then measure the difference.
    pub warnings: Vec<Difference>,
    /// Things about the data the reader must know (a single sample, a missing series).
    pub notes: Vec<String>,
    /// Per service, then per operation and named step, in summary order.
    pub rows: Vec<Row>,
    /// The database statements whose execution time per second of run changed most (both
    /// sides need `--db-stats`); empty otherwise.
    pub db_statements: Vec<StatementChange>,
    /// Which runs the statements come from (`db_statements` is from one run per side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_statements_from: Option<String>,
    pub overall: Overall,
}

/// How significance was decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Method {
    /// Short name, e.g. `circular block bootstrap`.
    pub name: String,
    /// One sentence for the footer.
    pub description: String,
    /// Two-sided confidence level of every interval, e.g. 0.95.
    pub confidence: f64,
    pub resamples: u64,
    /// Relative changes smaller than this (a fraction) are never called better or worse: they
    /// are below the bootstrap's latency resolution.
    pub min_relative_change: f64,
    /// False-discovery rate the verdicts are controlled at (Benjamini-Hochberg over every
    /// judged figure).
    pub false_discovery_rate: f64,
}

/// One side of the comparison: the runs it pools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub runs: Vec<RunRef>,
}

/// A run as the comparison saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    /// The report file as given on the command line.
    pub file: String,
    pub scenario: String,
    pub started_at: String,
    pub elapsed_seconds: f64,
    pub tool_version: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Interval samples used (0: the run counts as one sample).
    pub intervals: u64,
}

/// A way in which the runs differ besides what was changed on purpose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// What differs: `scenario`, `params`, `model`, `concurrency`, `rate`, `duration`,
    /// `target_kind`, `target_urls`, `tool_version`, `read_ratio`, `generator_bound`, ...
    pub what: String,
    /// One line for the reader.
    pub message: String,
}

/// Whose figures a row holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Subject {
    /// Every call to the service.
    Service { service: Service },
    /// One operation, or the calls one named scenario step made to it.
    Operation {
        service: Service,
        /// Dotted name, e.g. `keto.check`.
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
}

impl Subject {
    pub fn service(&self) -> Service {
        match self {
            Subject::Service { service } | Subject::Operation { service, .. } => *service,
        }
    }

    /// `keto`, `keto.check`, `keto.check · may view`.
    pub fn label(&self) -> String {
        match self {
            Subject::Service { service } => format!("{} (all calls)", service.name()),
            Subject::Operation {
                name, step: None, ..
            } => name.clone(),
            Subject::Operation {
                name,
                step: Some(step),
                ..
            } => format!("{name} · {step}"),
        }
    }
}

/// Which sides measured the subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Both,
    BeforeOnly,
    AfterOnly,
}

/// One subject's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub subject: Subject,
    pub presence: Presence,
    /// Calls on each side (all runs of the side together).
    pub calls_before: u64,
    pub calls_after: u64,
    pub figures: Vec<FigureChange>,
}

/// What a figure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Calls per second of measured time (higher is better).
    Throughput,
    /// Failed calls over all calls, a fraction (lower is better).
    ErrorRate,
    P50,
    P90,
    P99,
    #[serde(rename = "p99_9")]
    P99_9,
}

impl Figure {
    pub const ALL: [Figure; 6] = [
        Figure::Throughput,
        Figure::ErrorRate,
        Figure::P50,
        Figure::P90,
        Figure::P99,
        Figure::P99_9,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Figure::Throughput => "throughput",
            Figure::ErrorRate => "error rate",
            Figure::P50 => "p50",
            Figure::P90 => "p90",
            Figure::P99 => "p99",
            Figure::P99_9 => "p99.9",
        }
    }

    /// `req/s`, `fraction` or `us` (microseconds).
    pub fn unit(self) -> &'static str {
        match self {
            Figure::Throughput => "req/s",
            Figure::ErrorRate => "fraction",
            _ => "us",
        }
    }

    pub fn higher_is_better(self) -> bool {
        self == Figure::Throughput
    }

    /// The latency quantile, for the percentile figures.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Figure::P50 => Some(0.5),
            Figure::P90 => Some(0.9),
            Figure::P99 => Some(0.99),
            Figure::P99_9 => Some(0.999),
            _ => None,
        }
    }
}

/// Verdict of one figure, or of the whole comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// 🟢 significantly better.
    Better,
    /// 🔴 significantly worse.
    Worse,
    /// ⚪ no significant change (or not judged: see the figure's `note`).
    NoChange,
    /// Overall only: some figures better, some worse.
    Mixed,
}

impl Verdict {
    pub fn emoji(self) -> &'static str {
        match self {
            Verdict::Better => "🟢",
            Verdict::Worse => "🔴",
            Verdict::NoChange => "⚪",
            Verdict::Mixed => "🟡",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoChange => "no significant change",
            Verdict::Mixed => "mixed",
        }
    }
}

/// A confidence interval of a change, in the change's unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// One figure on both sides, and its change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FigureChange {
    pub figure: Figure,
    /// `req/s`, `fraction` or `us`.
    pub unit: String,
    /// The side's figure over all its runs (percentiles of the merged histograms, rates over
    /// the summed measured time); null when the side has no such figure.
    pub before: Option<f64>,
    pub after: Option<f64>,
    /// after − before, in `unit`.
    pub change: Option<f64>,
    /// after / before − 1; null when before is 0.
    pub relative_change: Option<f64>,
    /// Confidence interval of `change`; null when not judged.
    pub ci: Option<Interval>,
    /// Confidence interval of `relative_change`.
    pub relative_ci: Option<Interval>,
    /// Bootstrap p-value of "no change", before the false-discovery-rate control.
    pub p_value: Option<f64>,
    /// A discovery after Benjamini-Hochberg control of the false-discovery rate over every
    /// judged figure of the comparison (at 1 − confidence), and the interval excludes zero.
    pub significant: bool,
    pub verdict: Verdict,
    /// Why the figure was not judged, when it was not (single sample, too few calls, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The verdict line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overall {
    pub verdict: Verdict,
    /// Figures judged significantly better, worse, and the rest.
    pub better: u64,
    pub worse: u64,
    pub unchanged: u64,
    /// The largest significant changes, e.g. `keto.check p99 −38.2%`.
    pub highlights: Vec<String>,
}
