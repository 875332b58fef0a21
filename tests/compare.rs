//! `orysim compare` on runs against the simulator: A/A pairs stay ⚪ at about the significance
//! level, injected latency is found with its sign and size, and bad input exits 2 naming the
//! file.

mod common;
use common::*;
use orysim::ground::Endpoint;
use orysim::sim::FaultSpec;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn keto_fault(latency_ms: u64) -> FaultSpec {
    FaultSpec {
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::from_millis(1),
        ..FaultSpec::default()
    }
}

/// Starts `orysim run --scope keto` against `url` (2.5 s, 200 ms intervals, 3 virtual users).
fn start_run(url: &str, report: &Path, label: &str) -> std::process::Child {
    orysim()
        .args(["run", "--scope", "keto", "-c", "3", "-d", "2500ms"])
        .args(["--interval", "200ms", "--read-ratio", "10", "--no-progress"])
        .args(["--keto-read", url, "--keto-write", url])
        .args(["--label", label])
        .arg("--report")
        .arg(report)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("orysim starts")
}

/// Runs the two sides at the same time, so that whatever else the machine does weighs on both
/// alike (as interleaved runs would), and returns their reports.
fn pair(dir: &Path, n: usize, before_url: &str, after_url: &str) -> (PathBuf, PathBuf) {
    let (b, a) = (
        dir.join(format!("before-{n}.json")),
        dir.join(format!("after-{n}.json")),
    );
    let mut runs = [
        start_run(before_url, &b, "side=before"),
        start_run(after_url, &a, "side=after"),
    ];
    for child in &mut runs {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "orysim run failed: {status}");
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("orysim run did not finish in 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    (b, a)
}

fn compare_json(before: &Path, after: &Path) -> Value {
    let out = run(orysim()
        .args(["compare", "--format", "json"])
        .arg(before)
        .arg(after));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("compare --format json is JSON")
}

fn figure<'a>(c: &'a Value, name: &str, fig: &str) -> &'a Value {
    c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["subject"]["name"] == name && r["subject"]["step"].is_null())
        .and_then(|r| {
            r["figures"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["figure"] == fig)
        })
        .unwrap_or_else(|| panic!("no {name} {fig} in {c}"))
}

#[test]
fn aa_pairs_stay_white_and_injected_latency_is_found_with_its_size() {
    let (_rt, base) = sim_with_keto(keto_fault(3));
    let (_rt2, slower) = sim_with_keto(keto_fault(5));
    let url = |sim: &orysim::sim::SimHandle| sim.urls[Endpoint::KetoRead].clone();
    let dir = tempfile::tempdir().unwrap();

    // A/A: both sides against the same simulator.
    let pairs = 10;
    let (mut judged, mut called, mut white) = (0usize, 0usize, 0usize);
    let mut interval_excludes_zero = 0usize;
    for n in 0..pairs {
        let (b, a) = pair(dir.path(), n, &url(&base), &url(&base));
        let c = compare_json(&b, &a);
        assert_eq!(c["before"]["runs"][0]["labels"]["side"], "before");
        for row in c["rows"].as_array().unwrap() {
            for f in row["figures"].as_array().unwrap() {
                if f["ci"].is_null() {
                    continue;
                }
                judged += 1;
                if f["verdict"] != "no_change" {
                    called += 1;
                }
                let (lo, hi) = (
                    f["ci"]["low"].as_f64().unwrap(),
                    f["ci"]["high"].as_f64().unwrap(),
                );
                if lo > 0.0 || hi < 0.0 {
                    interval_excludes_zero += 1;
                }
            }
        }
        if c["overall"]["verdict"] == "no_change" {
            white += 1;
        }
    }
    let per_figure = interval_excludes_zero as f64 / judged as f64;
    println!(
        "A/A: {judged} figures judged, {interval_excludes_zero} intervals exclude 0 \
         ({:.1}%), {called} called better/worse, {white}/{pairs} pairs ⚪ overall",
        per_figure * 100.0
    );
    assert!(judged >= pairs * 10, "too few figures judged: {judged}");
    // Per figure, the 95% intervals miss 0 about 5% of the time; after the false-discovery-rate
    // control, whole A/A comparisons come out ⚪ nearly always.
    assert!(per_figure <= 0.10, "per-figure rate {per_figure}");
    assert!(
        white + 1 >= pairs,
        "only {white}/{pairs} A/A pairs came out ⚪"
    );

    // +2 ms on every Keto call: the median is 2 ms later, throughput falls by about 3/5.
    for n in 0..2 {
        let (b, a) = pair(dir.path(), 100 + n, &url(&base), &url(&slower));
        let c = compare_json(&b, &a);
        let p50 = figure(&c, "keto.check", "p50");
        assert_eq!(p50["verdict"], "worse", "{p50}");
        let change = p50["change"].as_f64().unwrap();
        assert!(
            (1600.0..=2400.0).contains(&change),
            "p50 change {change} µs"
        );
        let (lo, hi) = (
            p50["ci"]["low"].as_f64().unwrap(),
            p50["ci"]["high"].as_f64().unwrap(),
        );
        assert!(
            lo > 0.0 && lo <= 2000.0 * 1.1 && hi >= 2000.0 * 0.9,
            "{p50}"
        );
        let tput = figure(&c, "keto.check", "throughput");
        assert_eq!(tput["verdict"], "worse", "{tput}");
        let r = tput["relative_change"].as_f64().unwrap();
        assert!((-0.5..=-0.2).contains(&r), "throughput change {r}");
        assert_ne!(c["overall"]["verdict"], "no_change");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("ok.json");
    let out = run(orysim()
        .args([
            "run",
            "--scope",
            "keto",
            "-c",
            "2",
            "-d",
            "1s",
            "--no-progress",
        ])
        .args(["--interval", "0", "--label", "tuning=none"])
        .arg("--report")
        .arg(&report));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Labels: tuning=none"),
        "{}",
        stdout(&out)
    );
    assert_eq!(read_json(&report)["labels"]["tuning"], "none");

    let not_json = write(dir.path(), "notes.json", "hello");
    let other_tool = write(dir.path(), "k6.json", r#"{"metrics": {}}"#);
    let newer = write(dir.path(), "newer.json", r#"{"schema_version": 99}"#);
    let broken = write(
        dir.path(),
        "broken.json",
        r#"{"schema_version": 1, "tool": "orysim"}"#,
    );
    let missing = dir.path().join("missing.json");
    for bad in [&not_json, &other_tool, &newer, &broken, &missing] {
        for args in [[&report, bad], [bad, &report]] {
            let out = run(orysim().arg("compare").args(args));
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            assert!(err.contains(&bad.display().to_string()), "{err}");
        }
    }
    for args in [
        vec!["compare"],
        vec!["compare", "a.json"],
        vec!["compare", "--before", "a.json"],
    ] {
        let out = run(orysim().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = run(orysim()
        .args(["compare", "--fail-on-regression", "-5"])
        .arg(&report)
        .arg(&report));
    assert_eq!(out.status.code(), Some(2));

    // Without a series: compares, says so, no verdicts; Markdown and plain text have no escapes.
    for format in ["terminal", "markdown"] {
        let out = run(orysim()
            .args(["compare", "--fail-on-regression", "0", "--format", format])
            .arg(&report)
            .arg(&report));
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(text.contains("single sample, no significance"), "{text}");
        assert!(text.contains("keto.check"), "{text}");
        assert!(!text.contains('\x1b'), "{text}");
        assert!(text.contains("tuning=none"), "{text}");
    }
    let bad_label = run(orysim().args(["run", "--dry-run", "--label", "9x=1"]));
    assert_eq!(bad_label.status.code(), Some(2));
    assert_eq!(stderr(&bad_label).trim_end().lines().count(), 1);
}

#[test]
fn fail_on_regression_exits_1_only_beyond_the_threshold() {
    let (_rt, fast) = sim_with_keto(keto_fault(2));
    let (_rt2, slow) = sim_with_keto(keto_fault(6));
    let dir = tempfile::tempdir().unwrap();
    let (b, a) = pair(
        dir.path(),
        0,
        &fast.urls[Endpoint::KetoRead],
        &slow.urls[Endpoint::KetoRead],
    );
    // p99 roughly triples (+200%) and throughput falls by about half.
    let gate = |pct: &str| {
        run(orysim()
            .args(["compare", "--fail-on-regression", pct])
            .arg(&b)
            .arg(&a))
    };
    let out = gate("20");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("keto.check"), "{}", stderr(&out));
    assert!(stdout(&out).contains("🔴"), "{}", stdout(&out));
    assert_eq!(gate("1000").status.code(), Some(0));
    // The same pair the other way round is an improvement: no regression.
    let out = run(orysim()
        .args(["compare", "--fail-on-regression", "1"])
        .arg(&a)
        .arg(&b));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("🟢"));
}
