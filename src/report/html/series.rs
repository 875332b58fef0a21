//! The interval series made drawable: per chart, lines of at most [`MAX_POINTS`] points.
//!
//! A long run has more intervals than a chart has pixels (24 h at 10 s is 8640), so
//! consecutive intervals are merged into one point: counts are added and divided by the
//! merged time, and percentiles come from the merged histograms, never from averaging the
//! intervals' percentiles. The file is read once, line by line, so memory stays bounded by one
//! point's worth of histograms however long the run was.

use super::chart::Line;
use crate::metrics::LatencyHistogram;
use crate::report::intervals::{read_series, IntervalRecord};
use crate::report::json::decode_histogram;
use std::collections::BTreeMap;
use std::path::Path;

/// Points per line at most: about one per horizontal pixel of a chart.
pub const MAX_POINTS: u64 = 600;

/// What the pages draw over time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSeries {
    /// Wall-clock start of the measured run (seconds since the Unix epoch).
    pub start_unix_seconds: f64,
    /// End of the last interval, in seconds from the start.
    pub span_seconds: f64,
    pub intervals: u64,
    /// Intervals merged into one point (1 for runs of at most `MAX_POINTS` intervals).
    pub intervals_per_point: u64,
    /// Requests per second, one line per service.
    pub requests_per_second: Vec<Line>,
    /// Per main operation, its p50 and p99 lines.
    pub latency: Vec<(String, Vec<Line>)>,
    /// Errors per second, one line per error class (0 where a class did not occur).
    pub errors_per_second: Vec<Line>,
    /// Reads per write, one line per service that wrote.
    pub read_write_ratio: Vec<Line>,
    /// Generator CPU in percent of all cores.
    pub cpu_percent: Line,
    /// Generator resident memory (the highest in each point).
    pub rss_bytes: Line,
    /// Open model: p99 of how late iterations started; empty in the closed model.
    pub start_lag_p99_us: Line,
}

/// Seconds since the epoch of an RFC 3339 UTC time as the report writes it.
pub fn unix_seconds(text: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

/// Reads the series at `path`. `main_ops` names the operations whose percentiles are drawn;
/// `expected_intervals` (from the report) saves counting the file's lines first.
pub fn read(
    path: &Path,
    main_ops: &[String],
    expected_intervals: Option<u64>,
) -> anyhow::Result<RunSeries> {
    let total = match expected_intervals.filter(|n| *n > 0) {
        Some(n) => n,
        None => count_lines(path)?.saturating_sub(1),
    };
    let per_point = total.div_ceil(MAX_POINTS).max(1);
    let mut acc = Accumulator::new(main_ops, per_point);
    read_series(path, |_, record| acc.add(&record))?;
    acc.flush()?;
    Ok(acc.finish())
}

fn count_lines(path: &Path) -> anyhow::Result<u64> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Lines that share x positions; a name first seen late is back-filled with zeros when
/// `zero_when_missing`, else it simply starts there.
#[derive(Default)]
struct Lines {
    xs: Vec<f64>,
    lines: BTreeMap<String, Vec<(f64, f64)>>,
    order: Vec<String>,
}

impl Lines {
    fn push(&mut self, x: f64, values: &[(String, f64)], zero_when_missing: bool) {
        for (name, v) in values {
            if !self.lines.contains_key(name) {
                let back = if zero_when_missing {
                    self.xs.iter().map(|&x| (x, 0.0)).collect()
                } else {
                    Vec::new()
                };
                self.lines.insert(name.clone(), back);
                self.order.push(name.clone());
            }
            self.lines.get_mut(name).expect("inserted").push((x, *v));
        }
        if zero_when_missing {
            for (name, points) in &mut self.lines {
                if !values.iter().any(|(n, _)| n == name) {
                    points.push((x, 0.0));
                }
            }
        }
        self.xs.push(x);
    }

    fn into_lines(mut self) -> Vec<Line> {
        self.order
            .iter()
            .map(|name| Line {
                name: name.clone(),
                points: self.lines.remove(name).unwrap_or_default(),
            })
            .collect()
    }
}

/// One point in the making: the sums of up to `per_point` intervals.
#[derive(Default)]
struct Bucket {
    intervals: u64,
    start: f64,
    end: f64,
    elapsed: f64,
    /// Per service, in the series' service order: requests, reads, writes.
    services: Vec<(String, u64, u64, u64)>,
    errors: BTreeMap<String, u64>,
    latency: BTreeMap<String, LatencyHistogram>,
    cpu_seconds: f64,
    cores: u64,
    rss: Option<u64>,
    start_lag: Option<LatencyHistogram>,
}

struct Accumulator {
    main_ops: Vec<String>,
    per_point: u64,
    start_unix_seconds: Option<f64>,
    intervals: u64,
    bucket: Bucket,
    rps: Lines,
    latency: Vec<(Lines, Lines)>,
    errors: Lines,
    ratio: Lines,
    cpu: Vec<(f64, f64)>,
    rss: Vec<(f64, f64)>,
    lag: Vec<(f64, f64)>,
    span: f64,
}

fn merge_into(slot: &mut Option<LatencyHistogram>, h: &LatencyHistogram) {
    match slot {
        Some(into) => {
            // Same bounds everywhere (the recorder's): adding cannot fail in practice, and a
            // failure would only thin one point.
            let _ = into.add(h);
        }
        None => *slot = Some(h.clone()),
    }
}

impl Accumulator {
    fn new(main_ops: &[String], per_point: u64) -> Self {
        Accumulator {
            main_ops: main_ops.to_vec(),
            per_point,
            start_unix_seconds: None,
            intervals: 0,
            bucket: Bucket::default(),
            rps: Lines::default(),
            latency: main_ops
                .iter()
                .map(|_| (Lines::default(), Lines::default()))
                .collect(),
            errors: Lines::default(),
            ratio: Lines::default(),
            cpu: Vec::new(),
            rss: Vec::new(),
            lag: Vec::new(),
            span: 0.0,
        }
    }

    fn add(&mut self, r: &IntervalRecord) -> anyhow::Result<()> {
        if self.start_unix_seconds.is_none() {
            self.start_unix_seconds = unix_seconds(&r.started_at).map(|s| s - r.offset_seconds);
        }
        self.intervals += 1;
        let b = &mut self.bucket;
        if b.intervals == 0 {
            b.start = r.offset_seconds;
        }
        b.intervals += 1;
        b.end = r.offset_seconds + r.elapsed_seconds;
        b.elapsed += r.elapsed_seconds;
        for s in &r.services {
            let name = s.name.name();
            let slot = match b.services.iter().position(|(n, ..)| n == name) {
                Some(i) => &mut b.services[i],
                None => {
                    b.services.push((name.to_string(), 0, 0, 0));
                    b.services.last_mut().expect("pushed")
                }
            };
            slot.1 += s.reads + s.writes;
            slot.2 += s.reads;
            slot.3 += s.writes;
        }
        let mut latest: BTreeMap<&str, Option<LatencyHistogram>> = BTreeMap::new();
        for op in &r.operations {
            for (class, n) in &op.error_classes {
                *b.errors.entry(class.clone()).or_default() += n;
            }
            if self.main_ops.contains(&op.name) && op.count > 0 {
                let h = decode_histogram(&op.histogram)?;
                merge_into(latest.entry(&op.name).or_default(), &h);
            }
        }
        for (name, h) in latest {
            if let Some(h) = h {
                let mut slot = b.latency.remove(name);
                merge_into(&mut slot, &h);
                if let Some(h) = slot {
                    b.latency.insert(name.to_string(), h);
                }
            }
        }
        let g = &r.generator;
        b.cpu_seconds += g.cpu_seconds;
        b.cores = b.cores.max(g.cores);
        b.rss = b.rss.max(g.rss_bytes);
        if let Some(lag) = r.start_lag()? {
            merge_into(&mut b.start_lag, &lag);
        }
        if b.intervals >= self.per_point {
            self.flush()?;
        }
        Ok(())
    }

    /// Turns the bucket into one point of every line.
    fn flush(&mut self) -> anyhow::Result<()> {
        let b = std::mem::take(&mut self.bucket);
        if b.intervals == 0 {
            return Ok(());
        }
        let x = (b.start + b.end) / 2.0;
        self.span = b.end;
        let per_second = |n: u64| {
            if b.elapsed > 0.0 {
                n as f64 / b.elapsed
            } else {
                0.0
            }
        };
        let rps: Vec<_> = b
            .services
            .iter()
            .map(|(k, n, ..)| (k.clone(), per_second(*n)))
            .collect();
        self.rps.push(x, &rps, true);
        let errors: Vec<_> = b
            .errors
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), per_second(*n)))
            .collect();
        self.errors.push(x, &errors, true);
        let ratio: Vec<_> = b
            .services
            .iter()
            .filter(|(.., writes)| *writes > 0)
            .map(|(k, _, reads, writes)| (k.clone(), *reads as f64 / *writes as f64))
            .collect();
        self.ratio.push(x, &ratio, false);
        for (i, op) in self.main_ops.iter().enumerate() {
            if let Some(h) = b.latency.get(op) {
                let p50 = [("p50".to_string(), h.value_at_quantile(0.5) as f64)];
                let p99 = [("p99".to_string(), h.value_at_quantile(0.99) as f64)];
                self.latency[i].0.push(x, &p50, false);
                self.latency[i].1.push(x, &p99, false);
            }
        }
        if b.elapsed > 0.0 && b.cores > 0 {
            self.cpu
                .push((x, b.cpu_seconds * 100.0 / (b.elapsed * b.cores as f64)));
        }
        if let Some(rss) = b.rss {
            self.rss.push((x, rss as f64));
        }
        if let Some(lag) = &b.start_lag {
            if !lag.is_empty() {
                self.lag.push((x, lag.value_at_quantile(0.99) as f64));
            }
        }
        Ok(())
    }

    fn finish(self) -> RunSeries {
        let line = |name: &str, points: Vec<(f64, f64)>| Line {
            name: name.to_string(),
            points,
        };
        RunSeries {
            start_unix_seconds: self.start_unix_seconds.unwrap_or(0.0),
            span_seconds: self.span,
            intervals: self.intervals,
            intervals_per_point: self.per_point,
            requests_per_second: self.rps.into_lines(),
            latency: self
                .main_ops
                .iter()
                .zip(self.latency)
                .map(|(op, (p50, p99))| {
                    let mut lines = p50.into_lines();
                    lines.extend(p99.into_lines());
                    (op.clone(), lines)
                })
                .filter(|(_, lines)| !lines.is_empty())
                .collect(),
            errors_per_second: self.errors.into_lines(),
            read_write_ratio: self.ratio.into_lines(),
            cpu_percent: line("CPU", self.cpu),
            rss_bytes: line("RSS", self.rss),
            start_lag_p99_us: line("start lag p99", self.lag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_error_class_is_zero_before_it_and_a_missing_figure_leaves_a_gap() {
        let mut lines = Lines::default();
        lines.push(1.0, &[("a".into(), 2.0)], true);
        lines.push(2.0, &[("b".into(), 3.0)], true);
        let l = lines.into_lines();
        assert_eq!(l[0].points, vec![(1.0, 2.0), (2.0, 0.0)]);
        assert_eq!(l[1].points, vec![(1.0, 0.0), (2.0, 3.0)]);

        let mut gaps = Lines::default();
        gaps.push(1.0, &[], false);
        gaps.push(2.0, &[("a".into(), 5.0)], false);
        assert_eq!(gaps.into_lines()[0].points, vec![(2.0, 5.0)]);
    }

    #[test]
    fn times_read_back_as_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:01:00.500Z"), Some(60.5));
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
