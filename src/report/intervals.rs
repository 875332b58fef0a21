//! The interval series: one JSON line per interval, appended beside the report while the run
//! goes on (`<report>.intervals.jsonl`), flushed and fsync'd after every line, so that a run
//! killed at any moment leaves every finished interval readable. The first line is a header
//! (what ran); every other line is one interval with the same figures as the report's, for
//! that interval only, histograms included, so the series can be merged back into a report.
//!
//! A reader ignores a torn last line (the process died while writing it) and refuses a broken
//! line anywhere else.

use super::json::{
    decode_histogram, encode_histogram, figures, rfc3339, FlowReport, LatencySummary,
    OperationReport, Report, ServiceReport, Target, Totals, SCHEMA_VERSION, TOOL_NAME,
};
use crate::engine::sampler::IntervalSample;
use crate::ground::Service;
use crate::metrics::{LatencyHistogram, Snapshot};
use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The series file that belongs to a report path: `run.json` → `run.intervals.jsonl`.
pub fn series_path(report: &Path) -> PathBuf {
    let name = report
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    report.with_file_name(format!("{stem}.intervals.jsonl"))
}

/// One line of the series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Header(Box<Header>),
    Interval(Box<IntervalRecord>),
}

/// What ran: the first line of every series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub schema_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub scenario: String,
    /// When the measured run started, RFC 3339 UTC.
    pub started_at: String,
    pub interval_seconds: f64,
    pub target: Target,
    /// The resolved options, secrets redacted (as in the report).
    pub options: serde_json::Value,
    /// Services in summary order.
    pub services: Vec<Service>,
    /// Virtual users per service.
    pub concurrency: BTreeMap<Service, usize>,
    /// `--run-id` and `--segment`, as in the report, so that a series rebuilt into a report
    /// still says which run and which share it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<crate::segment::Segment>,
    /// `--label KEY=VALUE` (additive; absent in older series).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// One interval: the report's figures for that interval alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalRecord {
    /// 0 for the first interval.
    pub index: u64,
    pub started_at: String,
    pub ended_at: String,
    /// Start of the interval, in seconds from the start of the measured run.
    pub offset_seconds: f64,
    /// Measured length of the interval; its rates divide by it.
    pub elapsed_seconds: f64,
    /// True for the run's last interval (cut short by the end of the run). A series without
    /// one belongs to a run that did not finish.
    #[serde(default)]
    pub last: bool,
    pub totals: Totals,
    pub services: Vec<ServiceReport>,
    pub operations: Vec<OperationReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowReport>,
    pub generator: IntervalGeneratorReport,
}

/// What the generator measured about itself during one interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalGeneratorReport {
    pub cpu_seconds: f64,
    /// `cpu_seconds` as a share of all cores over the interval, in percent.
    pub cpu_percent_of_all_cores: f64,
    pub cores: u64,
    /// Resident memory at the interval's end.
    pub rss_bytes: Option<u64>,
    /// Virtual users holding an iteration at the interval's end.
    pub active_vus: u64,
    pub arrivals: u64,
    pub delayed: u64,
    pub dropped: u64,
    /// Open model: how late the interval's iterations started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lag_us: Option<LatencySummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lag_histogram: Option<String>,
}

impl IntervalRecord {
    pub fn from_sample(sample: &IntervalSample, header: &Header) -> Self {
        let figures = figures(
            &header.services,
            &header.concurrency,
            &sample.snapshot,
            sample.length,
        );
        let g = &sample.generator;
        let seconds = sample.length.as_secs_f64();
        let cpu = g.cpu_time.as_secs_f64();
        IntervalRecord {
            index: sample.index,
            started_at: rfc3339(sample.started_at),
            ended_at: rfc3339(sample.ended_at),
            offset_seconds: micros_as_seconds(sample.offset),
            elapsed_seconds: micros_as_seconds(sample.length),
            last: sample.last,
            totals: figures.totals,
            services: figures.services,
            operations: figures.operations,
            flows: figures.flows,
            generator: IntervalGeneratorReport {
                cpu_seconds: cpu,
                cpu_percent_of_all_cores: if seconds > 0.0 && g.cores > 0 {
                    cpu * 100.0 / (seconds * g.cores as f64)
                } else {
                    0.0
                },
                cores: g.cores as u64,
                rss_bytes: g.rss_bytes,
                active_vus: g.active_vus as u64,
                arrivals: g.arrivals,
                delayed: g.delayed,
                dropped: g.dropped,
                start_lag_us: g.start_lag.as_ref().map(LatencySummary::of),
                start_lag_histogram: g.start_lag.as_ref().map(encode_histogram),
            },
        }
    }

    /// The interval's measurements as a mergeable snapshot.
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        partial_report(&self.operations, &self.flows).snapshot()
    }

    pub fn start_lag(&self) -> anyhow::Result<Option<LatencyHistogram>> {
        self.generator
            .start_lag_histogram
            .as_deref()
            .map(decode_histogram)
            .transpose()
    }
}

fn micros_as_seconds(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// A report holding only operations and flows: the one way to turn either back into a
/// snapshot (`Report::snapshot` checks every count against its histogram).
fn partial_report(operations: &[OperationReport], flows: &[FlowReport]) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        tool: TOOL_NAME.to_string(),
        tool_version: String::new(),
        scenario: String::new(),
        mode: super::json::ReportMode::Live,
        interrupted: false,
        started_at: String::new(),
        ended_at: String::new(),
        elapsed_seconds: 0.0,
        target: Target {
            kind: super::json::ReportTargetKind::BuiltinSimulator,
            urls: BTreeMap::new(),
            transport: Vec::new(),
            tls: None,
        },
        labels: BTreeMap::new(),
        options: serde_json::Value::Null,
        warnings: Vec::new(),
        totals: Totals {
            requests: 0,
            errors: 0,
            error_rate: 0.0,
            requests_per_second: None,
        },
        services: Vec::new(),
        operations: operations.to_vec(),
        flows: flows.to_vec(),
        warmup: None,
        generator: Default::default(),
        aborted: None,
        series: None,
        drift: None,
        thresholds: Vec::new(),
        db_stats: Vec::new(),
        run_id: None,
        segment: None,
        start_at: None,
        measured_from: None,
        segments: Vec::new(),
    }
}

/// Appends records to the series file, each flushed and fsync'd before the next.
pub struct SeriesWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl SeriesWriter {
    /// Creates (or truncates) the series file and writes its header line.
    pub fn create(path: &Path, header: &Header) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::File::create(path)?;
        let mut writer = SeriesWriter {
            file,
            path: path.to_path_buf(),
        };
        writer.append(&Record::Header(Box::new(header.clone())))?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One line, written with a single `write_all` and synced: a crash leaves either the
    /// whole line or a torn last line that readers skip.
    pub fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// What reading a series found besides its records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeriesEnd {
    /// Complete interval lines read.
    pub intervals: u64,
    /// The last interval says it was the run's last: the run ended rather than died.
    pub finished: bool,
    /// The last line was cut off (the writer died mid-line) and was left out.
    pub torn_tail: bool,
}

/// The longest line a reader accepts: far above any real interval, far below memory trouble.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Reads a series file line by line, handing each interval to `each` in order (memory stays
/// bounded however long the run was). A torn last line is skipped; any other unreadable line
/// is an error naming its line number.
pub fn read_series(
    path: &Path,
    mut each: impl FnMut(&Header, IntervalRecord) -> anyhow::Result<()>,
) -> anyhow::Result<(Header, SeriesEnd)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    read_series_from(&mut reader, &mut each).with_context(|| path.display().to_string())
}

fn read_series_from(
    reader: &mut impl std::io::BufRead,
    each: &mut impl FnMut(&Header, IntervalRecord) -> anyhow::Result<()>,
) -> anyhow::Result<(Header, SeriesEnd)> {
    let mut header: Option<Header> = None;
    let mut end = SeriesEnd::default();
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = std::io::BufRead::read_until(
            &mut std::io::Read::take(&mut *reader, MAX_LINE_BYTES as u64 + 1),
            b'\n',
            &mut line,
        )?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.len() > MAX_LINE_BYTES {
            bail!("line {number}: longer than {} MiB", MAX_LINE_BYTES >> 20);
        }
        let complete = line.last() == Some(&b'\n');
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Record = match serde_json::from_slice(&line) {
            Ok(r) => r,
            // Only a final line without its newline can be torn.
            Err(_) if !complete => {
                end.torn_tail = true;
                break;
            }
            Err(e) => bail!("line {number}: not an orysim interval record: {e}"),
        };
        match record {
            Record::Header(h) if header.is_none() && number == 1 => {
                if h.tool != TOOL_NAME {
                    bail!("line 1: written by `{}`, not orysim", h.tool);
                }
                if h.schema_version > SCHEMA_VERSION {
                    bail!(
                        "line 1: series schema {} is newer than this orysim understands \
                         ({SCHEMA_VERSION})",
                        h.schema_version
                    );
                }
                header = Some(*h);
            }
            Record::Header(_) => bail!("line {number}: a header where an interval belongs"),
            Record::Interval(r) => {
                let Some(h) = &header else {
                    bail!("line {number}: the series has no header line");
                };
                end.intervals += 1;
                end.finished = r.last;
                each(h, *r).with_context(|| format!("line {number}"))?;
            }
        }
    }
    let header = header.ok_or_else(|| anyhow!("empty: not an orysim interval series"))?;
    Ok((header, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            schema_version: SCHEMA_VERSION,
            tool: TOOL_NAME.to_string(),
            tool_version: "0.1.0".to_string(),
            scenario: "keto".to_string(),
            started_at: "2026-01-01T00:00:00.000Z".to_string(),
            interval_seconds: 10.0,
            target: Target {
                kind: super::super::json::ReportTargetKind::BuiltinSimulator,
                urls: BTreeMap::new(),
                transport: Vec::new(),
                tls: None,
            },
            options: serde_json::json!({}),
            services: vec![Service::Keto],
            concurrency: BTreeMap::new(),
            run_id: None,
            segment: None,
            labels: BTreeMap::new(),
        }
    }

    fn interval(index: u64, snap: &Snapshot, last: bool) -> IntervalRecord {
        let sample = IntervalSample {
            index,
            started_at: std::time::UNIX_EPOCH + std::time::Duration::from_secs(10 * index),
            ended_at: std::time::UNIX_EPOCH + std::time::Duration::from_secs(10 * index + 10),
            offset: std::time::Duration::from_secs(10 * index),
            length: std::time::Duration::from_secs(10),
            snapshot: snap.clone(),
            generator: Default::default(),
            last,
        };
        IntervalRecord::from_sample(&sample, &header())
    }

    fn lines(records: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            out.extend(serde_json::to_vec(r).unwrap());
            out.push(b'\n');
        }
        out
    }

    fn read(bytes: &[u8]) -> anyhow::Result<(Vec<u64>, SeriesEnd)> {
        let mut seen = Vec::new();
        let (_, end) = read_series_from(&mut &bytes[..], &mut |_, r: IntervalRecord| {
            seen.push(r.totals.requests);
            Ok(())
        })?;
        Ok((seen, end))
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_a_broken_middle_line_is_an_error() {
        let snap = crate::report::json::tests::sample_snapshot();
        let n = snap.total_requests();
        let mut bytes = lines(&[
            Record::Header(Box::new(header())),
            Record::Interval(Box::new(interval(0, &snap, false))),
            Record::Interval(Box::new(interval(1, &snap, false))),
        ]);
        let whole = read(&bytes).unwrap();
        assert_eq!(whole.0, vec![n, n]);
        assert_eq!(
            whole.1,
            SeriesEnd {
                intervals: 2,
                finished: false,
                torn_tail: false
            }
        );
        // Killed while writing the third line: every prefix of it is a torn tail.
        let third = lines(&[Record::Interval(Box::new(interval(2, &snap, true)))]);
        for cut in [1, third.len() / 2, third.len() - 2] {
            let mut torn = bytes.clone();
            torn.extend_from_slice(&third[..cut]);
            let (seen, end) = read(&torn).unwrap();
            assert_eq!(seen.len(), 2);
            assert!(end.torn_tail && !end.finished);
        }
        // Everything but the newline: the record is whole, and read.
        let mut whole_but_newline = bytes.clone();
        whole_but_newline.extend_from_slice(&third[..third.len() - 1]);
        assert_eq!(read(&whole_but_newline).unwrap().0.len(), 3);
        bytes.extend_from_slice(&third);
        let (seen, end) = read(&bytes).unwrap();
        assert_eq!((seen.len(), end.finished), (3, true));
        // A broken line that is not the last is corruption, not a crash.
        let mut broken = lines(&[Record::Header(Box::new(header()))]);
        broken.extend_from_slice(b"{\"record\":\"interval\"\n");
        broken.extend_from_slice(&third);
        let err = read(&broken).unwrap_err().to_string();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(read(b"").is_err());
        assert!(read(&third).unwrap_err().to_string().contains("no header"));
    }

    #[test]
    fn an_interval_record_round_trips_to_its_snapshot() {
        let snap = crate::report::json::tests::flows_snapshot();
        let record = interval(0, &snap, true);
        let text = serde_json::to_string(&Record::Interval(Box::new(record.clone()))).unwrap();
        assert!(!text.contains('\n'));
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back, Record::Interval(Box::new(record.clone())));
        let rebuilt = record.snapshot().unwrap();
        assert_eq!(rebuilt.total_requests(), snap.total_requests());
        assert_eq!(rebuilt.flows().count(), snap.flows().count());
        assert_eq!(
            record.totals.requests_per_second,
            Some(snap.total_requests() as f64 / 10.0)
        );
    }

    #[test]
    fn series_path_sits_beside_the_report() {
        assert_eq!(
            series_path(Path::new("reports/run.json")),
            PathBuf::from("reports/run.intervals.jsonl")
        );
        assert_eq!(
            series_path(Path::new("out")),
            PathBuf::from("out.intervals.jsonl")
        );
    }
}
