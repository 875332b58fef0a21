//! The segments' interval series merged by wall-clock time. Segments started at one
//! `--start-at` cut their intervals at the same instants (to a few milliseconds), so interval
//! `k` of every segment is put in the bucket of its start time, rounded to whole intervals
//! from the run's start; each bucket's histograms are added as the report's are.
//!
//! Memory: one merged interval per bucket is kept, in its encoded form (compressed
//! histograms, a few kilobytes per operation), and each segment's series is read line by line.

use super::Part;
use crate::engine::sampler::{IntervalGenerator, IntervalSample};
use crate::engine::RunInfo;
use crate::report::intervals::{
    read_series, series_path, Header, IntervalRecord, Record, SeriesWriter,
};
use crate::report::json::{self, SeriesRef};
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Writes the merged series beside `output`. `Ok(None)` when no segment has a series (the
/// runs turned it off); an error, which the merge reports as a note, when only some have one
/// or they cannot be lined up.
pub(super) fn merge(
    parts: &[Part],
    output: &Path,
    info: &RunInfo,
    start: SystemTime,
) -> anyhow::Result<Option<(PathBuf, SeriesRef)>> {
    if parts.iter().all(|p| p.report.series.is_none()) {
        return Ok(None);
    }
    let mut header: Option<Header> = None;
    let mut buckets: BTreeMap<u64, IntervalRecord> = BTreeMap::new();
    for p in parts {
        let Some(reference) = &p.report.series else {
            bail!("segment {} ({}) has none", p.segment, p.name());
        };
        let path = p
            .path
            .parent()
            .unwrap_or(Path::new(""))
            .join(&reference.file);
        let (h, _) = read_series(&path, |h, r| {
            add(&mut buckets, h, r, start).with_context(|| format!("segment {}", p.segment))
        })?;
        match &header {
            None => header = Some(h),
            Some(first) if first.interval_seconds != h.interval_seconds => bail!(
                "the segments' intervals differ ({}s in {}, {}s in {})",
                first.interval_seconds,
                parts[0].name(),
                h.interval_seconds,
                p.name()
            ),
            Some(_) => {}
        }
    }
    let mut header = header.ok_or_else(|| anyhow!("no series"))?;
    header.started_at = json::rfc3339(start);
    header.options = info.options.clone();
    header.services = info.services.clone();
    header.concurrency = info.concurrency.clone();
    let path = series_path(output);
    let mut writer = SeriesWriter::create(&path, &header)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let count = buckets.len() as u64;
    for (i, (_, mut record)) in buckets.into_iter().enumerate() {
        record.index = i as u64;
        // Every segment wrote its report, so the run ended: the last bucket is its last.
        record.last = i as u64 + 1 == count;
        writer
            .append(&Record::Interval(Box::new(record)))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let reference = SeriesRef {
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        interval_seconds: header.interval_seconds,
        intervals: count,
    };
    Ok(Some((path, reference)))
}

fn time(text: &str) -> anyhow::Result<SystemTime> {
    crate::config::split::parse_rfc3339(text).ok_or_else(|| anyhow!("unreadable time `{text}`"))
}

/// Adds one segment's interval to its wall-clock bucket.
fn add(
    buckets: &mut BTreeMap<u64, IntervalRecord>,
    header: &Header,
    r: IntervalRecord,
    start: SystemTime,
) -> anyhow::Result<()> {
    let interval = header.interval_seconds.max(1e-3);
    let from = time(&r.started_at)?;
    let offset = from.duration_since(start).unwrap_or_default().as_secs_f64();
    let bucket = (offset / interval).round() as u64;
    let merged = match buckets.remove(&bucket) {
        None => sample(&[&r], header, start)?,
        Some(existing) => sample(&[&existing, &r], header, start)?,
    };
    buckets.insert(bucket, merged);
    Ok(())
}

/// What is summed in a bucket.
fn generator(records: &[&IntervalRecord]) -> anyhow::Result<IntervalGenerator> {
    let mut g = IntervalGenerator::default();
    for r in records {
        let s = &r.generator;
        g.cpu_time += Duration::from_secs_f64(s.cpu_seconds.max(0.0));
        g.cores += s.cores as usize;
        // Every generator's memory: the run's footprint across its machines.
        g.rss_bytes = match (g.rss_bytes, s.rss_bytes) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        g.active_vus += s.active_vus as usize;
        g.arrivals += s.arrivals;
        g.delayed += s.delayed;
        g.dropped += s.dropped;
        if let Some(lag) = r.start_lag()? {
            match &mut g.start_lag {
                Some(h) => h
                    .add(&lag)
                    .map_err(|e| anyhow!("start lag histogram: {e:?}"))?,
                None => g.start_lag = Some(lag),
            }
        }
    }
    Ok(g)
}

/// One interval made of `records`: histograms added, counts summed, rates over the window
/// from the earliest start to the latest end (at least the longest measured length).
fn sample(
    records: &[&IntervalRecord],
    header: &Header,
    start: SystemTime,
) -> anyhow::Result<IntervalRecord> {
    let mut snapshot = crate::metrics::Snapshot::default();
    let mut from: Option<SystemTime> = None;
    let mut to: Option<SystemTime> = None;
    let mut longest = Duration::ZERO;
    for r in records {
        snapshot.merge(&r.snapshot()?);
        let (s, e) = (time(&r.started_at)?, time(&r.ended_at)?);
        from = Some(from.map_or(s, |f| f.min(s)));
        to = Some(to.map_or(e, |t| t.max(e)));
        longest = longest.max(Duration::from_secs_f64(r.elapsed_seconds.max(0.0)));
    }
    let (from, to) = (from.unwrap_or(start), to.unwrap_or(start));
    let s = IntervalSample {
        index: 0,
        started_at: from,
        ended_at: to,
        offset: from.duration_since(start).unwrap_or_default(),
        length: to.duration_since(from).unwrap_or_default().max(longest),
        snapshot,
        generator: generator(records)?,
        last: false,
    };
    Ok(IntervalRecord::from_sample(&s, header))
}
