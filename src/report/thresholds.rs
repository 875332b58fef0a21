//! Thresholds: pass/fail conditions on a run's figures, the CI gate of a nightly soak. The
//! vocabulary is k6's on orysim's names:
//!
//! ```text
//! keto.check:p99<50ms                 an operation's percentile over the whole run
//! keto.check · friend views album:p99<80ms     a named step
//! flow:keto/share-album:p95<200ms     a flow's iteration duration
//! hydra:error_rate<1%   all:rps>500   keto:read_write_ratio>90
//! keto.check:p99<50ms@every1m         every 1-minute window must hold
//! keto.check:p99<50ms@last10m         the last 10 minutes; @first5m the first 5
//! keto.check:p99<50ms!  ...!after2m   abort the run once it fails (after a grace period)
//! ```
//!
//! Whole-run thresholds are judged on the final snapshot; windowed ones on the interval
//! series, streamed through [`Evaluator`] so memory stays bounded however long the run is.

use crate::ground::{Kind, Op, Service};
use crate::metrics::{LatencyHistogram, Snapshot};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// What a threshold measures.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// An operation, or one named step of it.
    Operation {
        op: Op,
        step: Option<String>,
    },
    Flow(String),
    Service(Service),
    All,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Aggregate {
    /// Latency quantile (0.5, 0.99, ...), or 1.0 for the maximum.
    Quantile(f64),
    Mean,
    ErrorRate,
    Rps,
    ReadWriteRatio,
    Count,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    #[serde(rename = "<")]
    Less,
    #[serde(rename = "<=")]
    LessOrEqual,
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = ">=")]
    GreaterOrEqual,
}

impl Comparison {
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Comparison::Less => value < limit,
            Comparison::LessOrEqual => value <= limit,
            Comparison::Greater => value > limit,
            Comparison::GreaterOrEqual => value >= limit,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Window {
    WholeRun,
    Every(Duration),
    Last(Duration),
    First(Duration),
}

/// One parsed threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// As the user wrote it, for messages and the report.
    pub expr: String,
    pub subject: Subject,
    pub aggregate: Aggregate,
    pub comparison: Comparison,
    /// In the aggregate's unit: µs for latencies, a fraction for error rates.
    pub limit: f64,
    pub window: Window,
    /// `!`: abort the run once it fails, after `abort_grace`.
    pub abort: bool,
    pub abort_grace: Duration,
}

/// A malformed threshold: what is wrong and at which character (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdError {
    pub expr: String,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid threshold {:?} at column {}: {}",
            self.expr, self.column, self.message
        )
    }
}

const EXAMPLES: &str = "e.g. keto.check:p99<50ms, hydra:error_rate<1%, all:rps>500";

/// Parses `SUBJECT:AGGREGATE OP VALUE[@WINDOW][!][afterDUR]`.
pub fn parse(expr: &str) -> Result<Threshold, ThresholdError> {
    let err = |column: usize, message: String| ThresholdError {
        expr: expr.to_string(),
        column: column + 1,
        message,
    };
    let text = expr.trim_end();
    if text.trim().is_empty() {
        return Err(err(0, format!("empty ({EXAMPLES})")));
    }
    // The subject ends at the last ':' before the comparison (flow names hold one).
    let cmp_at = text
        .find(['<', '>'])
        .ok_or_else(|| err(text.len(), format!("no comparison < <= > >= ({EXAMPLES})")))?;
    let colon = text[..cmp_at].rfind(':').ok_or_else(|| {
        err(
            0,
            format!("no `SUBJECT:` before the aggregate ({EXAMPLES})"),
        )
    })?;
    let subject = parse_subject(text[..colon].trim()).map_err(|m| err(0, m))?;
    let aggregate_text = text[colon + 1..cmp_at].trim();
    let aggregate = parse_aggregate(aggregate_text).map_err(|m| err(colon + 1, m))?;
    check_fits(&subject, aggregate).map_err(|m| err(colon + 1, m))?;

    let rest = &text[cmp_at..];
    let (comparison, width) = if rest.starts_with("<=") {
        (Comparison::LessOrEqual, 2)
    } else if rest.starts_with(">=") {
        (Comparison::GreaterOrEqual, 2)
    } else if rest.starts_with('<') {
        (Comparison::Less, 1)
    } else {
        (Comparison::Greater, 1)
    };
    let value_at = cmp_at + width;
    let tail = &text[value_at..];
    let value_end = tail.find(['@', '!']).unwrap_or(tail.len());
    let value_text = tail[..value_end].trim();
    let limit = parse_limit(aggregate, value_text).map_err(|m| err(value_at, m))?;

    let mut window = Window::WholeRun;
    let mut abort = false;
    let mut abort_grace = Duration::ZERO;
    let mut pos = value_at + value_end;
    let mut after = &text[pos..];
    if let Some(w) = after.strip_prefix('@') {
        let end = w.find('!').unwrap_or(w.len());
        window = parse_window(w[..end].trim()).map_err(|m| err(pos + 1, m))?;
        pos += 1 + end;
        after = &text[pos..];
    }
    if let Some(a) = after.strip_prefix('!') {
        abort = true;
        let a = a.trim();
        if !a.is_empty() {
            let grace = a.strip_prefix("after").ok_or_else(|| {
                err(
                    pos + 1,
                    "after `!` only `afterDUR` may follow, e.g. `!after2m`".into(),
                )
            })?;
            abort_grace = parse_window_duration(grace.trim()).map_err(|m| err(pos + 6, m))?;
        }
        if matches!(window, Window::Last(_)) {
            return Err(err(
                pos,
                "a @last window is known only at the end of the run: it cannot abort it".into(),
            ));
        }
    } else if !after.trim().is_empty() {
        return Err(err(pos, format!("unexpected `{}`", after.trim())));
    }
    Ok(Threshold {
        expr: expr.trim().to_string(),
        subject,
        aggregate,
        comparison,
        limit,
        window,
        abort,
        abort_grace,
    })
}

fn parse_subject(text: &str) -> Result<Subject, String> {
    if text.is_empty() {
        return Err(format!("no subject before `:` ({EXAMPLES})"));
    }
    if let Some(flow) = text.strip_prefix("flow:") {
        let flow = flow.trim();
        if flow.is_empty() {
            return Err("`flow:` needs the flow's name, e.g. flow:keto/share-album".into());
        }
        return Ok(Subject::Flow(flow.to_string()));
    }
    if text == "all" {
        return Ok(Subject::All);
    }
    if let Some(service) = Service::ALL.into_iter().find(|s| s.name() == text) {
        return Ok(Subject::Service(service));
    }
    let (op_name, step) = match text.split_once('·') {
        Some((op, step)) => (op.trim(), Some(step.trim().to_string())),
        None => (text, None),
    };
    match Op::from_name(op_name) {
        Some(op) => Ok(Subject::Operation { op, step }),
        None => {
            let names: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
            let hint = crate::ground::text::closest(op_name, &names)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            Err(format!(
                "unknown subject {:?}: an operation (keto.check), `kratos`, `hydra`, `keto`, \
                 `all` or `flow:NAME`{hint}",
                op_name
            ))
        }
    }
}

fn parse_aggregate(text: &str) -> Result<Aggregate, String> {
    Ok(match text {
        "min" => Aggregate::Quantile(0.0),
        "max" => Aggregate::Quantile(1.0),
        "mean" | "avg" => Aggregate::Mean,
        "error_rate" => Aggregate::ErrorRate,
        "rps" => Aggregate::Rps,
        "read_write_ratio" => Aggregate::ReadWriteRatio,
        "count" => Aggregate::Count,
        p if p.starts_with('p') => {
            let q: f64 = p[1..]
                .parse()
                .map_err(|_| format!("`{p}` is not a percentile (p50, p95, p99, p99.9)"))?;
            if !(0.0..=100.0).contains(&q) {
                return Err(format!("`{p}`: a percentile is between p0 and p100"));
            }
            Aggregate::Quantile(q / 100.0)
        }
        other => {
            return Err(format!(
                "unknown aggregate {:?} (p50..p99.9, min, max, mean, error_rate, rps, \
                 read_write_ratio, count)",
                other
            ))
        }
    })
}

fn is_latency(a: Aggregate) -> bool {
    matches!(a, Aggregate::Quantile(_) | Aggregate::Mean)
}

fn check_fits(subject: &Subject, aggregate: Aggregate) -> Result<(), String> {
    match (subject, aggregate) {
        (Subject::Service(_) | Subject::All, a) if is_latency(a) => Err(
            "latency thresholds name an operation, a step or a flow (e.g. keto.check:p99<50ms)"
                .into(),
        ),
        (Subject::Operation { .. } | Subject::Flow(_), Aggregate::ReadWriteRatio) => Err(
            "read_write_ratio is a service's (or `all`'s), e.g. keto:read_write_ratio>90".into(),
        ),
        _ => Ok(()),
    }
}

/// The limit in the aggregate's unit: µs for latencies, a fraction for error rates.
fn parse_limit(aggregate: Aggregate, text: &str) -> Result<f64, String> {
    if text.is_empty() {
        return Err("no value after the comparison".into());
    }
    let number = |t: &str| -> Result<f64, String> {
        t.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("{:?} is not a number", t))
    };
    match aggregate {
        Aggregate::Quantile(_) | Aggregate::Mean => {
            let (digits, unit) = split_unit(text);
            let scale = match unit {
                "us" | "µs" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                "" => return Err(format!("`{text}` needs a unit: us, ms or s (e.g. 50ms)")),
                u => return Err(format!("unknown unit `{u}`: us, ms or s")),
            };
            Ok(number(digits)? * scale)
        }
        Aggregate::ErrorRate => match text.strip_suffix('%') {
            Some(pct) => Ok(number(pct.trim())? / 100.0),
            None => {
                let v = number(text)?;
                if v > 1.0 {
                    return Err(format!(
                        "error rate {text} is above 1: write a percentage as {text}%"
                    ));
                }
                Ok(v)
            }
        },
        _ => number(text),
    }
}

fn split_unit(text: &str) -> (&str, &str) {
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (text[..at].trim(), text[at..].trim())
}

fn parse_window(text: &str) -> Result<Window, String> {
    let pick = |prefix: &str| text.strip_prefix(prefix).map(parse_window_duration);
    if let Some(d) = pick("every") {
        return Ok(Window::Every(d?));
    }
    if let Some(d) = pick("last") {
        return Ok(Window::Last(d?));
    }
    if let Some(d) = pick("first") {
        return Ok(Window::First(d?));
    }
    Err(format!(
        "unknown window {:?}: @every1m, @last10m or @first5m",
        format!("@{text}")
    ))
}

fn parse_window_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|_| format!("`{text}` is not a duration (e.g. 30s, 1m, 2h)"))?;
    if d.is_zero() {
        return Err("a window must be longer than 0".into());
    }
    Ok(d)
}

/// A threshold's outcome, as stored in the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub expr: String,
    pub ok: bool,
    /// The measured value in the threshold's unit (µs, fraction, per second, ratio): the
    /// worst window's for `@every`. Null when there was nothing to measure (which fails).
    pub value: Option<f64>,
    pub limit: f64,
    pub comparison: Comparison,
    /// `µs`, `fraction`, `per_second`, `ratio` or `count`.
    pub unit: String,
    /// For `@every`: the offset, in seconds from the run's start, of the first failing window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at_seconds: Option<f64>,
    /// This threshold stopped the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aborted_run: bool,
}

impl ThresholdResult {
    /// `p99 42.1ms < 50ms`-style text for the summary.
    pub fn describe(&self) -> String {
        let value = match self.value {
            Some(v) => format_value(&self.unit, v),
            None => "no data".to_string(),
        };
        format!(
            "{value} {} {}",
            self.comparison.symbol(),
            format_value(&self.unit, self.limit)
        )
    }
}

fn format_value(unit: &str, v: f64) -> String {
    match unit {
        "µs" => crate::report::summary::format_latency(v.round().max(0.0) as u64),
        "fraction" => format!("{:.2}%", v * 100.0),
        "per_second" => format!("{v:.1}/s"),
        "ratio" => format!("{v:.1}:1"),
        _ => format!("{v:.0}"),
    }
}

impl Threshold {
    fn unit(&self) -> &'static str {
        match self.aggregate {
            Aggregate::Quantile(_) | Aggregate::Mean => "µs",
            Aggregate::ErrorRate => "fraction",
            Aggregate::Rps => "per_second",
            Aggregate::ReadWriteRatio => "ratio",
            Aggregate::Count => "count",
        }
    }

    /// The threshold's figure on `snap` over `elapsed`; `None` when there is nothing to
    /// measure (no call of that operation, no write for a ratio).
    pub fn measure(&self, snap: &Snapshot, elapsed: Duration) -> Option<f64> {
        let seconds = elapsed.as_secs_f64();
        let rate = |n: u64| (seconds > 0.0).then(|| n as f64 / seconds);
        let latency = |h: &LatencyHistogram| -> Option<f64> {
            if h.is_empty() {
                return None;
            }
            Some(match self.aggregate {
                Aggregate::Mean => h.mean(),
                Aggregate::Quantile(q) if q >= 1.0 => h.max() as f64,
                Aggregate::Quantile(q) if q <= 0.0 => h.min() as f64,
                Aggregate::Quantile(q) => h.value_at_quantile(q) as f64,
                _ => return None,
            })
        };
        match &self.subject {
            Subject::Operation { op, step } => {
                let key = crate::ground::MetricKey {
                    op: *op,
                    step: step.as_deref().map(std::sync::Arc::from),
                };
                // A plain operation counts every call of it, named steps included.
                let mut merged: Option<crate::metrics::OpStats> = None;
                for s in snap.ops().filter(|s| s.op == *op) {
                    if step.is_some() && s.key() != key {
                        continue;
                    }
                    // Merged as one plain key: a named step's calls count for its operation.
                    let mut plain = s.clone();
                    plain.step = None;
                    match &mut merged {
                        Some(m) => m.merge(&plain),
                        None => merged = Some(plain),
                    }
                }
                let s = merged?;
                match self.aggregate {
                    Aggregate::ErrorRate => {
                        (s.count() > 0).then(|| s.error_count() as f64 / s.count() as f64)
                    }
                    Aggregate::Rps => rate(s.count()),
                    Aggregate::Count => Some(s.count() as f64),
                    _ => latency(&s.latency),
                }
            }
            Subject::Flow(name) => {
                let f = snap
                    .flows()
                    .find(|f| f.key().label() == *name || &*f.key().flow == name.as_str())?;
                match self.aggregate {
                    Aggregate::ErrorRate => {
                        (f.count() > 0).then(|| f.error_count() as f64 / f.count() as f64)
                    }
                    Aggregate::Rps => rate(f.count()),
                    Aggregate::Count => Some(f.count() as f64),
                    _ => latency(&f.duration),
                }
            }
            Subject::Service(_) | Subject::All => {
                let (mut reads, mut writes, mut errors) = (0u64, 0u64, 0u64);
                for s in snap.ops() {
                    if let Subject::Service(service) = self.subject {
                        if s.op.service() != service {
                            continue;
                        }
                    }
                    match s.op.kind() {
                        Kind::Read => reads += s.count(),
                        Kind::Write => writes += s.count(),
                    }
                    errors += s.error_count();
                }
                let requests = reads + writes;
                match self.aggregate {
                    Aggregate::ErrorRate => (requests > 0).then(|| errors as f64 / requests as f64),
                    Aggregate::Rps => rate(requests),
                    Aggregate::Count => Some(requests as f64),
                    Aggregate::ReadWriteRatio => (writes > 0).then(|| reads as f64 / writes as f64),
                    _ => None,
                }
            }
        }
    }

    fn holds(&self, value: Option<f64>) -> bool {
        value.is_some_and(|v| self.comparison.holds(v, self.limit))
    }
}

/// One threshold's state while intervals stream in.
struct Tracker {
    threshold: Threshold,
    /// `@every`: the window being filled, its start offset and length so far.
    window: Snapshot,
    window_start: Duration,
    window_len: Duration,
    /// `@every`: the worst value so far and where the first failure was.
    worst: Option<f64>,
    failed_at: Option<Duration>,
    any_window: bool,
    /// `@last`: the intervals inside the window, oldest first.
    recent: VecDeque<(Duration, Duration, Snapshot)>,
    aborted_run: bool,
}

impl Tracker {
    fn new(threshold: Threshold) -> Self {
        Tracker {
            threshold,
            window: Snapshot::default(),
            window_start: Duration::ZERO,
            window_len: Duration::ZERO,
            worst: None,
            failed_at: None,
            any_window: false,
            recent: VecDeque::new(),
            aborted_run: false,
        }
    }

    fn worse(&self, a: f64, b: f64) -> f64 {
        match self.threshold.comparison {
            Comparison::Less | Comparison::LessOrEqual => a.max(b),
            _ => a.min(b),
        }
    }

    /// Closes the `@every` window being filled. A final window cut short by the run's end to
    /// less than half its length is not judged: it holds too few calls to stand for a window.
    fn close_window(&mut self, final_window: bool) {
        if self.window_len.is_zero() {
            return;
        }
        if let (true, Window::Every(every)) = (final_window, self.threshold.window) {
            if self.window_len < every / 2 && self.any_window {
                return;
            }
        }
        let value = self.threshold.measure(&self.window, self.window_len);
        self.any_window = true;
        if let Some(v) = value {
            self.worst = Some(match self.worst {
                Some(w) => self.worse(w, v),
                None => v,
            });
        }
        if !self.threshold.holds(value) && self.failed_at.is_none() {
            // A window without a single call of the subject has nothing to hold the
            // threshold to: only a measured value fails it.
            if value.is_some() {
                self.failed_at = Some(self.window_start);
            }
        }
        self.window = Snapshot::default();
        self.window_len = Duration::ZERO;
    }

    fn add(&mut self, offset: Duration, length: Duration, snap: &Snapshot) {
        let end = offset + length;
        match self.threshold.window {
            Window::WholeRun => {}
            Window::Every(every) => {
                if self.window_len.is_zero() {
                    self.window_start = offset;
                }
                self.window.merge(snap);
                self.window_len += length;
                // Windows follow the run's clock: an interval belongs to the window its start
                // falls in; the window closes with the interval that reaches its end.
                if end >= self.window_start + every {
                    self.close_window(false);
                }
            }
            Window::First(first) => {
                if offset < first {
                    self.window.merge(snap);
                    self.window_len += length;
                }
            }
            Window::Last(last) => {
                self.recent.push_back((offset, length, snap.clone()));
                while let Some((o, l, _)) = self.recent.front() {
                    let front_end = *o + *l;
                    if front_end + last <= end {
                        self.recent.pop_front();
                    } else {
                        break;
                    }
                }
            }
        }
    }

    /// True when the threshold has failed for good as of `now` (for aborts).
    fn failed_so_far(&self, cumulative: &Snapshot, now: Duration) -> bool {
        match self.threshold.window {
            Window::Every(_) => self.failed_at.is_some(),
            Window::First(first) => {
                now >= first
                    && !self
                        .threshold
                        .holds(self.threshold.measure(&self.window, self.window_len))
            }
            Window::WholeRun => {
                let value = self.threshold.measure(cumulative, now);
                value.is_some() && !self.threshold.holds(value)
            }
            Window::Last(_) => false,
        }
    }

    fn result(mut self, whole: &Snapshot, elapsed: Duration) -> ThresholdResult {
        let (value, failed_at) = match self.threshold.window {
            Window::WholeRun => (self.threshold.measure(whole, elapsed), None),
            Window::Every(_) => {
                self.close_window(true);
                (self.worst, self.failed_at)
            }
            Window::First(_) => (self.threshold.measure(&self.window, self.window_len), None),
            Window::Last(_) => {
                let mut snap = Snapshot::default();
                let mut len = Duration::ZERO;
                for (_, l, s) in &self.recent {
                    snap.merge(s);
                    len += *l;
                }
                (self.threshold.measure(&snap, len), None)
            }
        };
        let ok = match self.threshold.window {
            Window::Every(_) => self.any_window && failed_at.is_none() && value.is_some(),
            _ => self.threshold.holds(value),
        };
        ThresholdResult {
            expr: self.threshold.expr.clone(),
            ok,
            value,
            limit: self.threshold.limit,
            comparison: self.threshold.comparison,
            unit: self.threshold.unit().to_string(),
            failed_at_seconds: failed_at.map(|d| d.as_secs_f64()),
            aborted_run: self.aborted_run,
        }
    }
}

/// Judges a set of thresholds on a run: intervals as they come (for windows and aborts),
/// then the whole run at the end.
pub struct Evaluator {
    trackers: Vec<Tracker>,
    cumulative: Snapshot,
    elapsed: Duration,
}

impl Evaluator {
    pub fn new(thresholds: &[Threshold]) -> Self {
        Evaluator {
            trackers: thresholds.iter().cloned().map(Tracker::new).collect(),
            cumulative: Snapshot::default(),
            elapsed: Duration::ZERO,
        }
    }

    pub fn needs_intervals(&self) -> bool {
        self.trackers
            .iter()
            .any(|t| t.threshold.abort || t.threshold.window != Window::WholeRun)
    }

    /// Adds one interval. Returns the expression of an abort threshold that failed for good,
    /// if one did (the first only; it is marked as having stopped the run).
    pub fn add_interval(
        &mut self,
        offset: Duration,
        length: Duration,
        snap: &Snapshot,
    ) -> Option<String> {
        self.cumulative.merge(snap);
        self.elapsed = offset + length;
        for t in &mut self.trackers {
            t.add(offset, length, snap);
        }
        let now = self.elapsed;
        let cumulative = &self.cumulative;
        let failing = self.trackers.iter_mut().find(|t| {
            t.threshold.abort && now >= t.threshold.abort_grace && t.failed_so_far(cumulative, now)
        })?;
        failing.aborted_run = true;
        Some(failing.threshold.expr.clone())
    }

    /// Every threshold's result; whole-run ones judged on `whole` over `elapsed`.
    pub fn finish(self, whole: &Snapshot, elapsed: Duration) -> Vec<ThresholdResult> {
        self.trackers
            .into_iter()
            .map(|t| t.result(whole, elapsed))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::{ErrorClass, Outcome, Verdict};
    use crate::metrics::OpStats;

    fn snap_with(op: Op, n: u64, us: u64, errors: u64) -> Snapshot {
        let mut s = OpStats::new(op);
        for _ in 0..n {
            s.record(us, None, Outcome::Ok(Verdict::Allowed));
        }
        for _ in 0..errors {
            s.record(us, None, Outcome::Err(ErrorClass::Timeout));
        }
        let mut snap = Snapshot::default();
        snap.insert(s);
        snap
    }

    #[test]
    fn the_k6_vocabulary_parses_on_orysim_names() {
        let t = parse("keto.check:p99<50ms").unwrap();
        assert_eq!(
            t.subject,
            Subject::Operation {
                op: Op::KetoCheck,
                step: None
            }
        );
        assert_eq!(t.aggregate, Aggregate::Quantile(0.99));
        assert_eq!(
            (t.comparison, t.limit, t.window),
            (Comparison::Less, 50_000.0, Window::WholeRun)
        );
        let t = parse("kratos.login:p95<=300ms").unwrap();
        assert_eq!(t.comparison, Comparison::LessOrEqual);
        assert_eq!(parse("hydra:error_rate<1%").unwrap().limit, 0.01);
        assert_eq!(parse("all:rps>500").unwrap().subject, Subject::All);
        let t = parse("keto.check · friend views album:p99<80ms").unwrap();
        assert_eq!(
            t.subject,
            Subject::Operation {
                op: Op::KetoCheck,
                step: Some("friend views album".into())
            }
        );
        assert_eq!(
            parse("keto:read_write_ratio>90").unwrap().aggregate,
            Aggregate::ReadWriteRatio
        );
        let t = parse("keto.check:p99<50ms@every1m").unwrap();
        assert_eq!(t.window, Window::Every(Duration::from_secs(60)));
        assert_eq!(
            parse("keto.check:p99<50ms@last10m").unwrap().window,
            Window::Last(Duration::from_secs(600))
        );
        assert_eq!(
            parse("keto.check:p99<50ms@first5m").unwrap().window,
            Window::First(Duration::from_secs(300))
        );
        let t = parse("keto.check:p99<50ms!after2m").unwrap();
        assert!(t.abort);
        assert_eq!(t.abort_grace, Duration::from_secs(120));
        let t = parse("flow:keto/share-album:p99.9<1.5s@every30s!").unwrap();
        assert_eq!(t.subject, Subject::Flow("keto/share-album".into()));
        assert_eq!((t.limit, t.abort), (1_500_000.0, true));
    }

    #[test]
    fn malformed_thresholds_say_what_and_where() {
        let cases = [
            ("keto.check:p99", "no comparison", 15),
            ("keto.chek:p99<50ms", "did you mean `keto.check`", 1),
            ("keto.check:p99<50", "needs a unit", 16),
            ("keto.check:p999x<5ms", "not a percentile", 12),
            ("keto:p99<5ms", "latency thresholds name an operation", 6),
            ("keto.check:rps>5@weekly", "unknown window", 18),
            ("keto.check:p99<5ms@last1m!", "cannot abort", 26),
            ("hydra:error_rate<5", "above 1", 18),
            ("", "empty", 1),
        ];
        for (expr, want, column) in cases {
            let e = parse(expr).unwrap_err();
            assert!(e.message.contains(want), "{expr}: {e}");
            assert_eq!(e.column, column, "{expr}: {e}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn whole_run_thresholds_measure_the_final_snapshot() {
        let snap = snap_with(Op::KetoCheck, 99, 10_000, 1);
        let eval = Evaluator::new(&[
            parse("keto.check:p50<20ms").unwrap(),
            parse("keto.check:p50<5ms").unwrap(),
            parse("keto:error_rate<=1%").unwrap(),
            parse("all:rps>=10").unwrap(),
            parse("keto.write:p99<1s").unwrap(),
        ]);
        let results = eval.finish(&snap, Duration::from_secs(10));
        let oks: Vec<bool> = results.iter().map(|r| r.ok).collect();
        assert_eq!(oks, vec![true, false, true, true, false]);
        assert_eq!(results[0].describe(), "10.0ms < 20.0ms");
        assert_eq!(results[2].value, Some(0.01));
        // Nothing measured is no pass.
        assert_eq!(results[4].value, None);
    }

    #[test]
    fn windows_judge_the_series_and_aborts_fire_when_failed_for_good() {
        let fast = snap_with(Op::KetoCheck, 100, 1_000, 0);
        let slow = snap_with(Op::KetoCheck, 100, 900_000, 0);
        let ten = Duration::from_secs(10);
        let mut eval = Evaluator::new(&[
            parse("keto.check:p99<50ms@every20s").unwrap(),
            parse("keto.check:p99<50ms@first20s").unwrap(),
            parse("keto.check:p99<50ms@last20s").unwrap(),
            parse("keto.check:p99<50ms@every20s!after30s").unwrap(),
        ]);
        let series = [&fast, &fast, &slow, &fast, &fast, &fast];
        let mut aborted_at = None;
        let mut whole = Snapshot::default();
        for (i, s) in series.iter().enumerate() {
            whole.merge(s);
            if let Some(expr) = eval.add_interval(ten * i as u32, ten, s) {
                aborted_at.get_or_insert((i, expr));
            }
        }
        // The window 20-40 s fails once it closes at 40 s; the grace of 30 s has passed.
        assert_eq!(aborted_at.map(|(i, _)| i), Some(3));
        let r = eval.finish(&whole, ten * 6);
        assert!(!r[0].ok);
        assert_eq!(r[0].failed_at_seconds, Some(20.0));
        assert!(r[1].ok, "the first 20 s were fast");
        assert!(r[2].ok, "the last 20 s were fast");
        assert!(r[3].aborted_run);
    }
}
