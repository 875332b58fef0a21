//! The pages from a report and series written like a run's (same records, same codec).

use super::*;
use crate::engine::sampler::{IntervalGenerator, IntervalSample};
use crate::report::intervals::{Header, IntervalRecord, Record, SeriesWriter};
use crate::report::json::tests::{sample_info, sample_snapshot};
use crate::report::json::{SeriesRef, SCHEMA_VERSION, TOOL_NAME};
use std::time::Duration;

/// A run of `intervals` identical 10 s intervals: its report path in `dir`.
pub(crate) fn write_run(dir: &Path, intervals: u64) -> std::path::PathBuf {
    let info = sample_info();
    let snap = sample_snapshot();
    let header = Header {
        schema_version: SCHEMA_VERSION,
        tool: TOOL_NAME.to_string(),
        tool_version: "0.1.0".to_string(),
        scenario: "all".to_string(),
        started_at: json::rfc3339(info.started_at),
        interval_seconds: 10.0,
        target: json::Target {
            kind: json::ReportTargetKind::BuiltinSimulator,
            urls: Default::default(),
            transport: Vec::new(),
            tls: None,
        },
        options: serde_json::json!({}),
        services: info.services.clone(),
        concurrency: info.concurrency.clone(),
        run_id: None,
        segment: None,
        labels: Default::default(),
    };
    let series_path = dir.join("run.intervals.jsonl");
    let mut w = SeriesWriter::create(&series_path, &header).unwrap();
    for i in 0..intervals {
        let sample = IntervalSample {
            index: i,
            started_at: info.started_at + Duration::from_secs(10 * i),
            ended_at: info.started_at + Duration::from_secs(10 * i + 10),
            offset: Duration::from_secs(10 * i),
            length: Duration::from_secs(10),
            snapshot: snap.clone(),
            generator: IntervalGenerator {
                cpu_time: Duration::from_millis(500 + i % 7 * 100),
                cores: 2,
                rss_bytes: Some((20 + i % 5) << 20),
                ..Default::default()
            },
            last: i + 1 == intervals,
        };
        let record = IntervalRecord::from_sample(&sample, &header);
        w.append(&Record::Interval(Box::new(record))).unwrap();
    }
    let mut report = json::build(&info, &snap);
    report.series = Some(SeriesRef {
        file: "run.intervals.jsonl".into(),
        interval_seconds: 10.0,
        intervals,
    });
    report.warnings = vec!["the load generator was the bottleneck <b>".into()];
    report.labels = [("db", "crdb"), ("tuning", "pool=50")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    let path = dir.join("run.json");
    json::write_atomic(&path, &report).unwrap();
    path
}

/// Every data polyline's points, per chart id.
fn data_lines(html: &str) -> Vec<(String, usize)> {
    html.split("<figure class=\"chart\" data-chart=\"")
        .skip(1)
        .map(|f| {
            let id = f[..f.find('"').unwrap()].to_string();
            let data = &f[f.find("class=\"data").unwrap()..];
            let points = data
                .split("points=\"")
                .skip(1)
                .map(|p| p[..p.find('"').unwrap()].split_whitespace().count())
                .max()
                .unwrap_or(0);
            (id, points)
        })
        .collect()
}

#[test]
fn a_run_page_holds_the_header_the_tables_and_every_chart_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_run(dir.path(), 30);
    let view = RunView::load(&path).unwrap();
    let html = render_run(&view).unwrap();

    assert!(html.contains("<span>db=crdb</span><span>tuning=pool=50</span>"));
    assert!(
        html.contains("bottleneck &lt;b&gt;"),
        "warnings are escaped"
    );
    assert!(html.contains("<table data-table=\"operations\">"));
    assert!(html.contains(">kratos.whoami<"));
    let charts = data_lines(&html);
    let ids: Vec<&str> = charts.iter().map(|(id, _)| id.as_str()).collect();
    for want in [
        "requests-per-second",
        "errors-per-second",
        "read-write-ratio",
        "generator-cpu",
        "generator-memory",
        "distribution-kratos",
        "distribution-hydra",
        "distribution-keto",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    assert!(ids.iter().any(|id| id.starts_with("latency-")), "{ids:?}");
    assert!(
        !ids.contains(&"start-lag"),
        "closed model: no start lag chart"
    );
    for (id, points) in &charts {
        if id.starts_with("distribution-") {
            assert!(*points > 20, "{id}: {points}");
        } else {
            assert_eq!(*points, 30, "{id}: one point per interval");
        }
    }
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
}

#[test]
fn a_long_series_is_merged_into_at_most_max_points_with_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_run(dir.path(), 1300);
    let view = RunView::load(&path).unwrap();
    let s = view.series.as_ref().unwrap();
    assert_eq!((s.intervals, s.intervals_per_point), (1300, 3));
    let rps = &s.requests_per_second[0];
    assert_eq!(rps.points.len(), 434);
    // Identical intervals: merged sums and merged histograms give the per-interval figures.
    let k = &view.report.services[0];
    let kratos = (k.reads + k.writes) as f64 / 10.0;
    assert!(rps.points.iter().all(|p| (p.1 - kratos).abs() < 1e-9));
    let (op, lines) = &s.latency[0];
    let one = view
        .report
        .operations
        .iter()
        .find(|o| &o.name == op)
        .unwrap();
    let p99 = lines.iter().find(|l| l.name == "p99").unwrap();
    assert!(p99.points.iter().all(|p| p.1 == one.latency_us.p99 as f64));
    assert_eq!(s.span_seconds, 13_000.0);

    let html = render_run(&view).unwrap();
    assert!(html.len() < 1 << 20, "{} bytes", html.len());
}

#[test]
fn a_comparison_page_overlays_both_runs_and_shows_the_rows_as_given() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = RunView::load(&write_run(dir_a.path(), 12)).unwrap();
    let b = RunView::load(&write_run(dir_b.path(), 20)).unwrap();
    assert_eq!(
        compare_page::default_side_name(&a),
        "db=crdb tuning=pool=50"
    );
    let c = Comparison {
        before: Side {
            name: "pool=50",
            run: &a,
        },
        after: Side {
            name: "pool=<100>",
            run: &b,
        },
        rows: vec![CompareRow {
            subject: "keto.check p99".into(),
            before: "4.0ms".into(),
            after: "3.1ms".into(),
            change: "-0.9ms (-22%)".into(),
            confidence_interval: Some("[-1.2ms, -0.6ms] 95%".into()),
            verdict: RowVerdict::Better,
        }],
        method: Some("Bootstrap of interval medians".into()),
        notes: vec!["durations differ".into()],
    };
    let html = render_comparison(&c).unwrap();
    assert!(html.contains("pool=&lt;100&gt;"));
    assert!(html.contains("🟢 better") && html.contains("[-1.2ms, -0.6ms] 95%"));
    assert!(html.contains("durations differ") && html.contains("Bootstrap"));
    let charts = data_lines(&html);
    assert!(charts.len() >= 8, "{charts:?}");
    for (id, _) in &charts {
        let f = &html[html.find(&format!("data-chart=\"{id}\"")).unwrap()..];
        let f = &f[..f.find("</figure>").unwrap()];
        assert!(f.contains("data-sides=\"2\""), "{id}");
        assert!(f.contains("class=\"data side-0\"") && f.contains("class=\"data side-1\""));
    }
    // Time from each run's start: the x axis spans the longer run (20 intervals, 200 s).
    assert!(html.contains("3m20s\n</text>"), "elapsed ticks");
}

#[test]
fn report_converts_to_html_by_extension_or_format_and_says_when_the_series_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_run(dir.path(), 3);
    let by_extension = dir.path().join("page.HTML");
    crate::report::convert::convert(&path, &by_extension, None, &[]).unwrap();
    let by_format = dir.path().join("page.txt");
    crate::report::convert::convert(&path, &by_format, Some(crate::cli::OutputForm::Html), &[])
        .unwrap();
    let page = std::fs::read_to_string(&by_format).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("requests-per-second"));
    assert_eq!(std::fs::read_to_string(&by_extension).unwrap(), page);

    std::fs::remove_file(dir.path().join("run.intervals.jsonl")).unwrap();
    let outcome = crate::report::convert::convert(&path, &by_extension, None, &[]).unwrap();
    assert!(
        outcome.notes[0].contains("could not be read"),
        "{:?}",
        outcome.notes
    );
    let page = std::fs::read_to_string(&by_extension).unwrap();
    assert!(page.contains("could not be read") && !page.contains("requests-per-second"));
}
