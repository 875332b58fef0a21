use super::*;
use crate::engine::sampler::{IntervalGenerator, IntervalSample};
use crate::ground::{ErrorClass, Op, Outcome, Verdict};
use crate::metrics::{new_latency_histogram, OpStats};
use crate::report::intervals::{Header, IntervalRecord, Record, SeriesWriter};
use crate::report::json::tests::sample_info;
use proptest::prelude::*;
use std::time::UNIX_EPOCH;

const T0: u64 = 1_796_407_200;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_millis(ms)
}

fn snapshot_of(latencies: &[u64], errors: u64) -> Snapshot {
    let mut s = OpStats::new(Op::KetoCheck);
    for &us in latencies {
        s.record(us, None, Outcome::Ok(Verdict::Allowed));
    }
    for _ in 0..errors {
        s.record(5_000, None, Outcome::Err(ErrorClass::Timeout));
    }
    let mut snap = Snapshot::default();
    snap.insert(s);
    snap
}

/// The report of segment `segment` of run `run_id`, measured from `from_ms` for `elapsed_ms`.
fn segment_report(
    segment: &str,
    run_id: Option<&str>,
    snap: &Snapshot,
    from_ms: u64,
    elapsed_ms: u64,
) -> Report {
    let mut info = sample_info();
    info.scenario = "keto".into();
    info.services = vec![Service::Keto];
    info.concurrency = [(Service::Keto, 5)].into_iter().collect();
    info.split = Split {
        segment: segment.parse().unwrap(),
        run_id: run_id.map(str::to_string),
        start_at: Some(at(0)),
    };
    info.measured_from = Some(at(from_ms));
    info.started_at = at(from_ms) - Duration::from_secs(1);
    info.ended_at = at(from_ms + elapsed_ms);
    info.elapsed = Duration::from_millis(elapsed_ms);
    info.warnings = vec![format!("note from {segment}")];
    info.generator.cpu_time = Duration::from_millis(100);
    info.generator.cores = 2;
    json::build(&info, snap)
}

fn write(dir: &Path, name: &str, report: &Report) -> PathBuf {
    let path = dir.join(name);
    json::write_atomic(&path, report).unwrap();
    path
}

fn err(inputs: &[PathBuf], dir: &Path, force: bool) -> String {
    match merge(inputs, &dir.join("merged.json"), &[], force) {
        Ok(_) => panic!("merged"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn counts_add_up_and_rates_divide_by_the_common_window() {
    let dir = tempfile::tempdir().unwrap();
    let a = segment_report(
        "1/2",
        Some("r"),
        &snapshot_of(&[100, 200, 300], 1),
        0,
        10_000,
    );
    // Started 40 ms later and ran 10.06 s: the window is 10.1 s.
    let b = segment_report("2/2", Some("r"), &snapshot_of(&[400, 500], 0), 40, 10_060);
    let inputs = [
        write(dir.path(), "b.json", &b),
        write(dir.path(), "a.json", &a),
    ];
    let out = dir.path().join("merged.json");
    let m = merge(&inputs, &out, &["keto.check:count<10".into()], false).unwrap();
    let r = json::load(&out).unwrap();
    assert_eq!(r, m.report);
    assert_eq!((r.totals.requests, r.totals.errors), (6, 1));
    assert_eq!(r.elapsed_seconds, 10.1);
    assert_eq!(r.totals.requests_per_second, Some(0.594059), "6 in 10.1 s");
    assert_eq!(r.run_id.as_deref(), Some("r"));
    assert_eq!(r.segment, None);
    assert_eq!(
        r.measured_from.as_deref(),
        Some("2026-12-04T18:00:00.000000Z")
    );
    assert_eq!(r.services[0].concurrency, Some(10));
    let segs: Vec<String> = r.segments.iter().map(|s| s.segment.to_string()).collect();
    assert_eq!(segs, ["1/2", "2/2"], "in segment order");
    assert_eq!(
        r.warnings,
        ["segment 1/2: note from 1/2", "segment 2/2: note from 2/2"]
    );
    assert_eq!((r.generator.cores, r.generator.cpu_seconds), (4, 0.2));
    assert_eq!(r.thresholds.len(), 1);
    assert!(r.thresholds[0].ok);
    assert_eq!(r.thresholds[0].value, Some(6.0));
    // The merged report is a report like any other: it reads back into the same figures.
    assert_eq!(r.snapshot().unwrap().total_requests(), 6);
}

#[test]
fn segments_started_apart_are_merged_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let a = segment_report("1/2", Some("r"), &snapshot_of(&[100], 0), 0, 5_000);
    let b = segment_report("2/2", Some("r"), &snapshot_of(&[100], 0), 3_000, 5_000);
    let inputs = [
        write(dir.path(), "a.json", &a),
        write(dir.path(), "b.json", &b),
    ];
    let m = merge(&inputs, &dir.path().join("m.json"), &[], false).unwrap();
    assert_eq!(m.report.elapsed_seconds, 8.0);
    assert!(
        m.report.warnings[0].starts_with("the segments' measured runs started up to 3.0s apart"),
        "{:?}",
        m.report.warnings
    );
}

#[test]
fn what_is_not_one_run_exactly_once_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let snap = snapshot_of(&[100], 0);
    let d = dir.path();
    let one = write(
        d,
        "1.json",
        &segment_report("1/3", Some("r"), &snap, 0, 1000),
    );
    let two = write(
        d,
        "2.json",
        &segment_report("2/3", Some("r"), &snap, 0, 1000),
    );
    let three = write(
        d,
        "3.json",
        &segment_report("3/3", Some("r"), &snap, 0, 1000),
    );
    let other_run = write(
        d,
        "x.json",
        &segment_report("3/3", Some("s"), &snap, 0, 1000),
    );
    let no_run = write(d, "n.json", &segment_report("3/3", None, &snap, 0, 1000));
    let of_four = write(
        d,
        "4.json",
        &segment_report("3/4", Some("r"), &snap, 0, 1000),
    );
    let mut other_scenario = segment_report("3/3", Some("r"), &snap, 0, 1000);
    other_scenario.scenario = "all".into();
    let other_scenario = write(d, "o.json", &other_scenario);
    let mut other_options = segment_report("3/3", Some("r"), &snap, 0, 1000);
    other_options.options["concurrency"] = 7.into();
    other_options.options["seed"] = 1.into();
    let other_options = write(d, "p.json", &other_options);

    let cases: [(&[&PathBuf], &str); 7] = [
        (
            &[&one, &two, &other_run],
            "cannot merge reports of different runs: ",
        ),
        (&[&one, &two, &no_run], "has run id r, "),
        (
            &[&one, &two, &other_scenario],
            "cannot merge reports of different scenarios: ",
        ),
        (
            &[&one, &two, &other_options],
            "`concurrency` differs between",
        ),
        (&[&one, &two], "cannot merge: segment 3/3 missing"),
        (
            &[&one, &two, &two, &three],
            "cannot merge: segment 2/3 given more than once",
        ),
        (&[&one, &two, &of_four], "segments of different splits"),
    ];
    for (inputs, says) in cases {
        let inputs: Vec<PathBuf> = inputs.iter().map(|p| (*p).clone()).collect();
        let e = err(&inputs, d, false);
        assert!(e.contains(says), "{says}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // --force merges other runs, but never an incomplete or doubled set.
    let forced = merge(
        &[one.clone(), two.clone(), other_run],
        &d.join("f.json"),
        &[],
        true,
    )
    .unwrap();
    assert_eq!(forced.report.totals.requests, 3);
    assert!(err(&[one.clone(), two.clone()], d, true).contains("missing"));
    let e = merge(&[one, two, three], &d.join("merged.txt"), &[], false)
        .err()
        .unwrap();
    assert!(e.to_string().contains("give it a .json name"), "{e}");
}

#[test]
fn a_whole_report_alone_merges_into_itself() {
    let dir = tempfile::tempdir().unwrap();
    let whole = segment_report("1/1", None, &snapshot_of(&[100, 200], 0), 0, 2000);
    let input = write(dir.path(), "w.json", &whole);
    let m = merge(
        &[input.clone(), input.clone()],
        &dir.path().join("m.json"),
        &[],
        false,
    );
    assert!(format!("{:#}", m.err().unwrap()).contains("segment 1/1 given more than once"));
    let m = merge(&[input], &dir.path().join("m.json"), &[], false).unwrap();
    assert_eq!(m.report.totals, whole.totals);
    assert_eq!(m.report.operations, whole.operations);
}

fn header() -> Header {
    Header {
        schema_version: json::SCHEMA_VERSION,
        tool: json::TOOL_NAME.into(),
        tool_version: "0.1.0".into(),
        scenario: "keto".into(),
        started_at: json::rfc3339(at(0)),
        interval_seconds: 1.0,
        target: json::Target {
            kind: json::ReportTargetKind::BuiltinSimulator,
            urls: Default::default(),
            transport: Vec::new(),
            tls: None,
        },
        options: serde_json::json!({}),
        services: vec![Service::Keto],
        concurrency: Default::default(),
        run_id: Some("r".into()),
        segment: None,
        labels: Default::default(),
    }
}

/// A series of one interval per entry of `per_second` (requests in it), starting `skew_ms`
/// after the common start.
fn write_series(dir: &Path, report: &mut Report, name: &str, skew_ms: u64, per_second: &[u64]) {
    let path = dir.join(format!("{name}.intervals.jsonl"));
    let mut w = SeriesWriter::create(&path, &header()).unwrap();
    for (i, &n) in per_second.iter().enumerate() {
        let start = skew_ms + 1000 * i as u64;
        let sample = IntervalSample {
            index: i as u64,
            started_at: at(start),
            ended_at: at(start + 1000),
            offset: Duration::from_millis(1000 * i as u64),
            length: Duration::from_secs(1),
            snapshot: snapshot_of(&vec![1000 + i as u64; n as usize], 0),
            generator: IntervalGenerator {
                arrivals: n,
                cores: 1,
                ..Default::default()
            },
            last: i + 1 == per_second.len(),
        };
        let record = IntervalRecord::from_sample(&sample, &header());
        w.append(&Record::Interval(Box::new(record))).unwrap();
    }
    report.series = Some(json::SeriesRef {
        file: format!("{name}.intervals.jsonl"),
        interval_seconds: 1.0,
        intervals: per_second.len() as u64,
    });
}

#[test]
fn interval_series_are_merged_by_wall_clock_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut a = segment_report("1/2", Some("r"), &snapshot_of(&[1000; 9], 0), 0, 3000);
    let mut b = segment_report("2/2", Some("r"), &snapshot_of(&[1000; 6], 0), 12, 2000);
    write_series(d, &mut a, "a", 0, &[2, 3, 4]);
    // The second segment cut its intervals 12 ms later and ran two of them.
    write_series(d, &mut b, "b", 12, &[5, 1]);
    let inputs = [write(d, "a.json", &a), write(d, "b.json", &b)];
    let out = d.join("m.json");
    let m = merge(&inputs, &out, &["all:count>0@every1s".into()], false).unwrap();
    let series = m.report.series.clone().unwrap();
    assert_eq!(
        (series.file.as_str(), series.intervals),
        ("m.intervals.jsonl", 3)
    );
    let mut seen = Vec::new();
    let (h, end) = crate::report::intervals::read_series(&d.join(&series.file), |_, r| {
        seen.push((
            r.index,
            r.totals.requests,
            r.generator.arrivals,
            r.started_at.clone(),
            r.elapsed_seconds,
        ));
        Ok(())
    })
    .unwrap();
    assert!(end.finished);
    assert_eq!(h.run_id.as_deref(), Some("r"));
    assert_eq!(
        seen,
        vec![
            (0, 7, 7, "2026-12-04T18:00:00.000Z".into(), 1.012),
            (1, 4, 4, "2026-12-04T18:00:01.000Z".into(), 1.012),
            (2, 4, 4, "2026-12-04T18:00:02.000Z".into(), 1.0),
        ]
    );
    // The windowed threshold was judged on the merged intervals.
    assert_eq!(m.report.thresholds.len(), 1);
    assert!(m.report.thresholds[0].ok);

    // A segment without its series: the merge still gives the report, and says why there is
    // no merged series.
    std::fs::remove_file(d.join("b.intervals.jsonl")).unwrap();
    let m = merge(&inputs, &out, &[], false).unwrap();
    assert!(m.report.series.is_none());
    assert!(
        m.notes[0].starts_with("no merged interval series: "),
        "{:?}",
        m.notes
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Merged percentiles are those of all the calls together, not an average of the
    /// segments': the merge adds histograms.
    #[test]
    fn merged_percentiles_are_those_of_all_samples(
        samples in proptest::collection::vec(1u64..5_000_000, 1..400),
        n in 1u32..6,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut inputs = Vec::new();
        for i in 0..n {
            let mine: Vec<u64> = samples
                .iter()
                .enumerate()
                .filter(|(k, _)| *k as u32 % n == i)
                .map(|(_, &v)| v)
                .collect();
            let seg = format!("{}/{n}", i + 1);
            let report = segment_report(&seg, Some("p"), &snapshot_of(&mine, 0), 0, 1000);
            inputs.push(write(dir.path(), &format!("{i}.json"), &report));
        }
        let m = merge(&inputs, &dir.path().join("m.json"), &[], false).unwrap();
        let mut all = new_latency_histogram();
        for &v in &samples {
            all.record(v).unwrap();
        }
        let op = m.snapshot.op(Op::KetoCheck).unwrap();
        prop_assert_eq!(op.count(), samples.len() as u64);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            prop_assert_eq!(op.latency.value_at_quantile(q), all.value_at_quantile(q));
        }
        let written = &m.report.operations[0].latency_us;
        prop_assert_eq!(written.p99, all.value_at_quantile(0.99));
        prop_assert_eq!(written.max, all.max());
        prop_assert_eq!(written.min, all.min());
    }
}
