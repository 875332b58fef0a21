//! Fixtures (shared with the summary's tests) and the report's tests.

use super::*;
use crate::engine::{RunInfo, TargetKind};
use crate::ground::{ErrorClass, Kind, MetricKey, Op, Outcome, Service, Verdict};
use crate::metrics::{FlowInfo, FlowKey, FlowStats, OpStats, Snapshot};
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

/// A three-service run used by the JSON and summary tests.
pub(crate) fn sample_info() -> RunInfo {
    let start = UNIX_EPOCH + Duration::from_secs(1_714_564_800);
    RunInfo {
        tool_version: "0.1.0",
        started_at: start,
        ended_at: start + Duration::from_millis(10_020),
        elapsed: Duration::from_millis(10_020),
        interrupted: false,
        aborted: None,
        scenario: "all".into(),
        services: vec![Service::Kratos, Service::Hydra, Service::Keto],
        concurrency: [
            (Service::Kratos, 34),
            (Service::Hydra, 33),
            (Service::Keto, 33),
        ]
        .into_iter()
        .collect(),
        target_kind: TargetKind::BuiltinSimulator,
        target_urls: BTreeMap::new(),
        transport: vec![],
        tls: None,
        labels: BTreeMap::new(),
        options: serde_json::json!({"concurrency": 100, "duration": "10s", "seed": 42}),
        warnings: vec![],
        warmup: None,
        generator: Default::default(),
        split: Default::default(),
        measured_from: None,
    }
}

fn record(snap: &mut Snapshot, op: Op, n: u64, base_us: u64, outcome: Outcome) {
    let mut s = OpStats::new(op);
    for i in 0..n {
        s.record(base_us + (i * 37) % (base_us + 1), None, outcome);
    }
    snap.insert(s);
}

pub(crate) fn sample_snapshot() -> Snapshot {
    use crate::ground::ErrorClass::*;
    let mut snap = Snapshot::default();
    record(
        &mut snap,
        Op::KratosRegister,
        117,
        9_000,
        Outcome::Ok(Verdict::Ok),
    );
    record(
        &mut snap,
        Op::KratosRegister,
        3,
        2_000,
        Outcome::Err(Status(400)),
    );
    record(
        &mut snap,
        Op::KratosLogin,
        1190,
        4_000,
        Outcome::Ok(Verdict::Valid),
    );
    record(
        &mut snap,
        Op::KratosLogin,
        10,
        4_000,
        Outcome::Ok(Verdict::Invalid),
    );
    record(
        &mut snap,
        Op::KratosWhoami,
        1200,
        800,
        Outcome::Ok(Verdict::Active),
    );
    record(
        &mut snap,
        Op::KratosWhoami,
        15,
        700,
        Outcome::Ok(Verdict::Inactive),
    );
    record(
        &mut snap,
        Op::KratosWhoami,
        1,
        1_500_000,
        Outcome::Err(Timeout),
    );
    record(
        &mut snap,
        Op::HydraToken,
        400,
        3_000,
        Outcome::Ok(Verdict::Ok),
    );
    record(
        &mut snap,
        Op::HydraIntrospect,
        380,
        600,
        Outcome::Ok(Verdict::Active),
    );
    record(
        &mut snap,
        Op::HydraIntrospect,
        20,
        600,
        Outcome::Ok(Verdict::Inactive),
    );
    record(
        &mut snap,
        Op::KetoWrite,
        50,
        1_200,
        Outcome::Ok(Verdict::Ok),
    );
    record(
        &mut snap,
        Op::KetoCheck,
        9000,
        300,
        Outcome::Ok(Verdict::Allowed),
    );
    record(
        &mut snap,
        Op::KetoCheck,
        1000,
        300,
        Outcome::Ok(Verdict::Denied),
    );
    snap
}

/// Open-model stats: corrected and uncorrected histograms.
pub(crate) fn open_model_snapshot() -> Snapshot {
    let mut snap = Snapshot::default();
    let mut s = OpStats::new(Op::KetoCheck);
    for i in 0..1000u64 {
        s.record(500 + i * 20, Some(400 + i), Outcome::Ok(Verdict::Allowed));
    }
    snap.insert(s);
    snap
}

/// Two named steps of keto.check beside the plain operation, and a named keto.write.
pub(crate) fn steps_snapshot() -> Snapshot {
    let mut snap = Snapshot::default();
    let mut add = |key: MetricKey, n: u64, us: u64, outcome: Outcome| {
        let mut s = OpStats::for_key(&key);
        for i in 0..n {
            s.record(us + i % 7, None, outcome);
        }
        snap.insert(s);
    };
    let after_login = MetricKey::step(Op::KetoCheck, "after-login");
    let admin = MetricKey::step(Op::KetoCheck, "admin-check");
    add(after_login.clone(), 30, 200, Outcome::Ok(Verdict::Allowed));
    add(after_login, 2, 200, Outcome::Err(ErrorClass::Status(503)));
    add(admin, 12, 9_000, Outcome::Ok(Verdict::Denied));
    add(
        MetricKey::op(Op::KetoCheck),
        100,
        400,
        Outcome::Ok(Verdict::Allowed),
    );
    add(
        MetricKey::step(Op::KetoWrite, "grant"),
        5,
        1_000,
        Outcome::Ok(Verdict::Ok),
    );
    snap
}

/// `steps_snapshot` plus flows: a multi-step Keto flow with failed iterations, a
/// single-step one, and one that spans services (open model: both durations).
pub(crate) fn flows_snapshot() -> Snapshot {
    let mut snap = steps_snapshot();
    let mut add = |scenario: &str, flow: &str, service, steps, n: u64, us: u64| {
        let mut f = FlowStats::new(FlowInfo {
            key: FlowKey::new(scenario, flow),
            service,
            steps,
        });
        for i in 0..n {
            let failed = (i % 10 == 9).then_some(ErrorClass::Timeout);
            f.record(us + i, Some(us * 9 / 10 + i), failed);
        }
        snap.insert_flow(f);
    };
    add("keto", "share-album", Some(Service::Keto), 4, 20, 42_000);
    add("keto", "check", Some(Service::Keto), 1, 50, 400);
    add("login-token-check", "login", None, 3, 10, 150_000);
    snap
}

#[test]
fn flows_are_reported_apart_from_requests() {
    let snap = flows_snapshot();
    let r = build(&sample_info(), &snap);
    assert_eq!(r.totals.requests, steps_snapshot().total_requests());
    assert_eq!(r.flows.len(), 3);
    let share = r.flows.iter().find(|f| f.name == "share-album").unwrap();
    assert_eq!(
        (share.scenario.as_str(), share.service),
        ("keto", Some(Service::Keto))
    );
    assert_eq!(
        (share.steps, share.count, share.ok, share.errors),
        (4, 20, 18, 2)
    );
    assert_eq!(share.error_classes.get("timeout"), Some(&2));
    assert!((share.duration_us.p50 as i64 - 42_010).abs() <= 50);
    assert!(share.duration_uncorrected_us.as_ref().unwrap().p50 < share.duration_us.p50);
    let login = r.flows.iter().find(|f| f.name == "login").unwrap();
    assert_eq!(login.service, None);
    let v = serde_json::to_value(&r).unwrap();
    assert!(v["flows"][0]["histogram"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    // A report without flows (older, or closed to flows) leaves the key out and still reads.
    let plain = build(&sample_info(), &sample_snapshot());
    let v = serde_json::to_value(&plain).unwrap();
    assert!(v.get("flows").is_none());
    let parsed: Report = serde_json::from_value(v).unwrap();
    assert!(parsed.flows.is_empty());
}

fn json_has_no_non_finite(v: &serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                assert!(f.is_finite());
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(json_has_no_non_finite),
        serde_json::Value::Object(o) => o.values().for_each(json_has_no_non_finite),
        _ => {}
    }
}

#[test]
fn rates_divide_by_measured_elapsed_time() {
    let mut info = sample_info();
    info.elapsed = Duration::from_secs(10);
    let mut snap = Snapshot::default();
    record(
        &mut snap,
        Op::KetoCheck,
        1000,
        300,
        Outcome::Ok(Verdict::Allowed),
    );
    let r = build(&info, &snap);
    assert_eq!(r.totals.requests, 1000);
    assert_eq!(r.totals.requests_per_second, Some(100.0));
    assert_eq!(r.operations[0].requests_per_second, Some(100.0));
    let keto = r.services.iter().find(|s| s.name == Service::Keto).unwrap();
    assert_eq!(keto.reads_per_second, Some(100.0));
    assert_eq!(keto.read_write_ratio, None);
    assert_eq!(r.elapsed_seconds, 10.0);
}

#[test]
fn zero_elapsed_yields_null_rates_and_no_non_finite_numbers() {
    let mut info = sample_info();
    info.elapsed = Duration::ZERO;
    let r = build(&info, &sample_snapshot());
    assert_eq!(r.totals.requests_per_second, None);
    assert!(r.services.iter().all(|s| s.reads_per_second.is_none()));
    let text = serde_json::to_string(&r).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    json_has_no_non_finite(&v);
    assert!(v["totals"]["requests_per_second"].is_null());

    // No requests at all: error rate is 0, not NaN.
    let empty = build(&info, &Snapshot::default());
    assert_eq!(empty.totals.error_rate, 0.0);
}

#[test]
fn report_carries_counts_outcomes_and_error_classes() {
    let r = build(&sample_info(), &sample_snapshot());
    assert_eq!(r.schema_version, 1);
    assert_eq!(r.tool, "orysim");
    assert_eq!(r.started_at, "2024-05-01T12:00:00.000Z");
    assert_eq!(r.ended_at, "2024-05-01T12:00:10.020Z");
    let kratos = &r.services[0];
    assert_eq!(kratos.name, Service::Kratos);
    assert_eq!(kratos.concurrency, Some(34));
    assert_eq!((kratos.writes, kratos.failed_writes), (120, 3));
    assert_eq!((kratos.reads, kratos.failed_reads), (2416, 1));
    assert_eq!(kratos.outcomes["active"], 1200);
    assert_eq!(kratos.outcomes["valid"], 1190);
    let keto = &r.services[2];
    assert_eq!(keto.outcomes["allowed"], 9000);
    assert_eq!(keto.outcomes["denied"], 1000);
    assert!(!keto.outcomes.contains_key("active"));

    let reg = r
        .operations
        .iter()
        .find(|o| o.name == "kratos.register")
        .unwrap();
    assert_eq!(reg.kind, Kind::Write);
    assert_eq!(reg.error_classes["http_400"], 3);
    assert_eq!((reg.count, reg.ok, reg.errors), (120, 117, 3));
    let names: Vec<&str> = r.operations.iter().map(|o| o.name.as_str()).collect();
    let mut sorted: Vec<Op> = names.iter().map(|n| Op::from_name(n).unwrap()).collect();
    sorted.sort();
    assert_eq!(
        names,
        sorted.iter().map(|o| o.name()).collect::<Vec<_>>(),
        "operations are ordered by op"
    );

    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["mode"], "live");
    assert_eq!(v["target"]["kind"], "builtin_simulator");
    assert!(v["operations"][0]["latency_us"]["p99_9"].is_u64());
    assert!(v["operations"][0].get("histogram_uncorrected").is_none());
}

#[test]
fn named_steps_get_their_own_entries_and_count_in_the_totals() {
    let mut info = sample_info();
    info.elapsed = Duration::from_secs(1);
    let r = build(&info, &steps_snapshot());
    let entries: Vec<(&str, Option<&str>, u64)> = r
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o.step.as_deref(), o.count))
        .collect();
    assert_eq!(
        entries,
        vec![
            ("keto.write", Some("grant"), 5),
            ("keto.check", None, 100),
            ("keto.check", Some("admin-check"), 12),
            ("keto.check", Some("after-login"), 32),
        ]
    );
    let after_login = &r.operations[3];
    assert_eq!(after_login.service, Service::Keto);
    assert_eq!(after_login.kind, Kind::Read);
    assert_eq!(after_login.outcomes["allowed"], 30);
    assert_eq!(after_login.error_classes["http_503"], 2);
    assert_eq!(after_login.requests_per_second, Some(32.0));
    assert!(r.operations[2].latency_us.p50 >= 9_000);
    assert!(r.operations[1].latency_us.p50 < 1_000);

    assert_eq!((r.totals.requests, r.totals.errors), (149, 2));
    let keto = r.services.iter().find(|s| s.name == Service::Keto).unwrap();
    assert_eq!((keto.reads, keto.writes, keto.failed_reads), (144, 5, 2));
    assert_eq!(keto.outcomes["allowed"], 130);
    assert_eq!(keto.outcomes["denied"], 12);

    // `step` is written for named entries only.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["operations"][3]["name"], "keto.check");
    assert_eq!(v["operations"][3]["step"], "after-login");
    assert!(v["operations"][1].get("step").is_none());
    // A report written before steps existed still loads: no `step` means the plain entry.
    let mut old = v.clone();
    old["operations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .for_each(|o| {
            o.as_object_mut().unwrap().remove("step");
        });
    let old: Report = serde_json::from_value(old).unwrap();
    assert!(old.operations.iter().all(|o| o.step.is_none()));
    let snap = old.snapshot().unwrap();
    assert_eq!(
        snap.op(Op::KetoCheck).unwrap().count(),
        144,
        "entries merge"
    );
    assert_eq!(snap.op(Op::KetoWrite).unwrap().count(), 5);

    // A corrupt named entry is reported with its step.
    let mut bad = r.clone();
    bad.operations[3].count += 1;
    let err = format!("{:#}", bad.snapshot().unwrap_err());
    assert!(
        err.contains("keto.check") && err.contains("after-login"),
        "{err}"
    );
}

/// Batch checks: 40 calls of 10 tuples (one failed call), beside 100 single checks.
fn batch_snapshot() -> Snapshot {
    let mut snap = Snapshot::default();
    record(
        &mut snap,
        Op::KetoCheck,
        100,
        200,
        Outcome::Ok(Verdict::Allowed),
    );
    let mut s = OpStats::new(Op::KetoBatchCheck);
    for i in 0..39 {
        s.record(900 + i, None, Outcome::Ok(Verdict::Ok));
    }
    s.record(5_000, None, Outcome::Err(ErrorClass::Expectation));
    s.checks = crate::metrics::BatchChecks {
        allowed: 300,
        denied: 99,
        failed: 1,
    };
    snap.insert(s);
    snap
}

#[test]
fn batch_checks_are_counted_per_tuple_beside_their_calls() {
    let mut info = sample_info();
    info.elapsed = Duration::from_secs(10);
    let r = build(&info, &batch_snapshot());
    let op = r
        .operations
        .iter()
        .find(|o| o.name == "keto.batch_check")
        .unwrap();
    assert_eq!((op.count, op.ok, op.errors), (40, 39, 1));
    let c = op.checks.as_ref().unwrap();
    assert_eq!((c.count, c.allowed, c.denied, c.failed), (400, 300, 99, 1));
    assert_eq!(c.per_second, Some(40.0));
    let keto = r.services.iter().find(|s| s.name == Service::Keto).unwrap();
    assert_eq!(keto.reads, 140);
    assert_eq!(keto.checks, Some(500));
    assert_eq!(keto.checks_per_second, Some(50.0));
    assert_eq!(keto.outcomes["allowed"], 400);
    assert_eq!(keto.outcomes["denied"], 99);
    assert!(!keto.outcomes.contains_key("ok"), "{:?}", keto.outcomes);
    let single = r
        .operations
        .iter()
        .find(|o| o.name == "keto.check")
        .unwrap();
    assert!(single.checks.is_none());
    let text = serde_json::to_string(&build(&info, &sample_snapshot())).unwrap();
    assert!(!text.contains("\"checks\""), "no batch, no checks fields");
}

#[test]
fn json_round_trip_rebuilds_an_equal_snapshot() {
    for original in [
        sample_snapshot(),
        open_model_snapshot(),
        steps_snapshot(),
        flows_snapshot(),
        batch_snapshot(),
    ] {
        let report = build(&sample_info(), &original);
        let text = serde_json::to_string_pretty(&report).unwrap();
        let parsed: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, report);
        let rebuilt = parsed.snapshot().unwrap();
        assert_eq!(rebuilt.total_requests(), original.total_requests());
        assert_eq!(rebuilt.total_errors(), original.total_errors());
        assert_eq!(rebuilt.ops().count(), original.ops().count());
        for a in original.ops() {
            let b = rebuilt.get(&a.key()).unwrap();
            assert_eq!(a.step, b.step);
            assert_eq!(a.verdicts, b.verdicts);
            assert_eq!(a.errors, b.errors);
            assert_eq!(a.latency, b.latency, "{}", a.op);
            assert_eq!(
                a.latency.value_at_quantile(0.99),
                b.latency.value_at_quantile(0.99)
            );
            assert_eq!(a.uncorrected, b.uncorrected);
            assert_eq!(a.checks, b.checks);
        }
        assert_eq!(rebuilt.flows().count(), original.flows().count());
        for a in original.flows() {
            let b = rebuilt.flow(a.key()).unwrap();
            assert_eq!(a.info, b.info);
            assert_eq!((a.ok, &a.errors), (b.ok, &b.errors));
            assert_eq!(a.duration, b.duration);
            assert_eq!(a.uncorrected, b.uncorrected);
        }
        // The rebuilt snapshot is mergeable with live data.
        let mut merged = rebuilt.clone();
        merged.merge(&original);
        assert_eq!(merged.total_requests(), 2 * original.total_requests());
    }
}

#[test]
fn uncorrected_latency_is_reported_only_when_present() {
    let r = build(&sample_info(), &open_model_snapshot());
    let op = &r.operations[0];
    let unc = op.latency_uncorrected_us.as_ref().unwrap();
    assert!(unc.p99 < op.latency_us.p99);
    assert!(op.histogram_uncorrected.is_some());
}

#[test]
fn inconsistent_or_corrupt_reports_are_rejected() {
    let mut r = build(&sample_info(), &sample_snapshot());
    r.operations[0].count += 1;
    assert!(r.snapshot().is_err());
    let mut r = build(&sample_info(), &sample_snapshot());
    r.operations[0].histogram = "not base64!".into();
    let err = format!("{:#}", r.snapshot().unwrap_err());
    assert!(
        err.contains("kratos.register") && err.contains("base64"),
        "{err}"
    );
    let mut r = build(&sample_info(), &sample_snapshot());
    r.operations[0].name = "kratos.nope".into();
    assert!(r.snapshot().is_err());
}

#[test]
fn atomic_write_creates_dirs_overwrites_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/report.json");
    let first = build(&sample_info(), &sample_snapshot());
    write_atomic(&path, &first).unwrap();
    assert_eq!(load(&path).unwrap(), first);

    let mut info = sample_info();
    info.scenario = "keto".into();
    let second = build(&info, &open_model_snapshot());
    write_atomic(&path, &second).unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded, second);
    assert_eq!(loaded.scenario, "keto");

    let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries, vec!["report.json".to_string()]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("{\n  \"schema_version\": 1,"),
        "pretty JSON"
    );
}

#[test]
fn load_rejects_newer_schemas_and_non_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let mut v = serde_json::to_value(build(&sample_info(), &sample_snapshot())).unwrap();
    v["schema_version"] = 2.into();
    std::fs::write(&path, v.to_string()).unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert!(err.contains("newer"), "{err}");
    std::fs::write(&path, "{}").unwrap();
    assert!(load(&path).is_err());
    // Unknown (future, additive) fields are ignored.
    v["schema_version"] = 1.into();
    v["some_new_field"] = "x".into();
    std::fs::write(&path, v.to_string()).unwrap();
    assert!(load(&path).is_ok());
}

#[test]
fn options_are_copied_exactly() {
    let mut info = sample_info();
    info.options = serde_json::json!({
        "kratos_public_url": "http://127.0.0.1:4433",
        "concurrency": 12,
        "nested": {"rate": 50.5, "stages": ["10s:5", "20s:10"]},
        "api_key": "[redacted]"
    });
    let r = build(&info, &sample_snapshot());
    assert_eq!(r.options, info.options);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["options"], info.options);
}

#[test]
fn timestamps_outside_the_formattable_range_do_not_panic() {
    assert_eq!(
        rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
        "1970-01-01T00:00:00.000Z"
    );
    assert!(rfc3339(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4)).starts_with("9999-"));
}
