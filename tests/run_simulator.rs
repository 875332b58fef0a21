//! `orysim run` end to end against the built-in simulator (started in-process by orysim because
//! no endpoint is configured): counts, outcomes, the read/write ratio, the report, exit codes.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

#[test]
fn all_scope_run_exercises_every_service_with_the_expected_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.json");
    let secret = "orysim-test-admin-token-9f3c1";
    let out = run(orysim().args([
        "run",
        "-c",
        "9",
        "-d",
        "4s",
        "--read-ratio",
        "10",
        "--seed",
        "7",
        "--admin-token",
        secret,
        "--report",
        path.to_str().unwrap(),
    ]));
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{text}\nstderr:\n{err}"
    );
    assert!(text.contains("built-in simulator"), "{text}");
    for title in ["Kratos", "Hydra", "Keto"] {
        assert!(text.contains(title), "summary lacks {title}:\n{text}");
    }

    let raw = std::fs::read_to_string(&path).unwrap();
    for leaked in [secret, "ory_st_", "ory_at_", "password\":\""] {
        assert!(!raw.contains(leaked), "report leaks {leaked}");
        assert!(
            !text.contains(leaked) && !err.contains(leaked),
            "output leaks {leaked}"
        );
    }
    let report: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["target"]["kind"], "builtin_simulator");
    assert_eq!(report["interrupted"], false);
    assert_eq!(report["options"]["seed"], 7);
    assert!(report["elapsed_seconds"].as_f64().unwrap() >= 4.0);
    assert_eq!(
        report["totals"]["errors"], 0,
        "no errors expected: {}",
        report["operations"]
    );

    for name in ["kratos", "hydra", "keto"] {
        let s = service(&report, name);
        let (reads, writes) = (s["reads"].as_u64().unwrap(), s["writes"].as_u64().unwrap());
        assert!(writes >= 20, "{name}: {writes} writes");
        let ratio = reads as f64 / writes as f64;
        assert!(
            (9.0..=11.0).contains(&ratio),
            "{name} read/write ratio {ratio}"
        );
        assert_eq!(s["concurrency"], 3);
    }
    let kratos = service(&report, "kratos");
    assert!(outcome(kratos, "active") > 0);
    assert!(
        outcome(kratos, "inactive") > 0,
        "logged-out sessions must show inactive"
    );
    let hydra = service(&report, "hydra");
    assert!(outcome(hydra, "active") > 0);
    assert!(
        outcome(hydra, "inactive") > 0,
        "revoked/unknown tokens must show inactive"
    );
    let keto = service(&report, "keto");
    assert!(outcome(keto, "allowed") > 0);
    assert!(
        outcome(keto, "denied") > 0,
        "unwritten tuples must show denied"
    );

    for op in [
        "kratos.register",
        "kratos.login",
        "kratos.whoami",
        "kratos.logout",
        "kratos.lookup_identity",
        "hydra.token",
        "hydra.introspect",
        "keto.write",
        "keto.check",
    ] {
        let o = operation(&report, op).unwrap_or_else(|| panic!("{op} missing"));
        assert!(o["count"].as_u64().unwrap() > 0, "{op}");
        assert!(o["latency_us"]["p50"].as_u64().unwrap() > 0, "{op}");
        assert!(
            o["histogram"].as_str().unwrap().starts_with("HISTF"),
            "{op}"
        );
    }
    // The report can be loaded back into a mergeable snapshot without loss.
    let loaded = orysim::report::json::load(&path)
        .unwrap()
        .snapshot()
        .unwrap();
    assert_eq!(
        loaded.total_requests(),
        report["totals"]["requests"].as_u64().unwrap()
    );
}

#[test]
fn ctrl_c_prints_the_summary_writes_the_report_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interrupted.json");
    let child = orysim()
        .args(["run", "--scope", "keto", "-c", "2", "-d", "60s", "--report"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stdout(&out).contains("Keto"), "{}", stdout(&out));
    let report = read_json(&path);
    assert_eq!(report["interrupted"], true);
    let elapsed = report["elapsed_seconds"].as_f64().unwrap();
    assert!(elapsed < 30.0, "stopped early: {elapsed}");
    assert!(report["totals"]["requests"].as_u64().unwrap() > 0);
}

#[test]
fn an_iteration_limit_runs_exactly_that_many_flow_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iterations.json");
    // One iteration is one run of a flow: here two calls, a write and its check.
    let scenario = dir.path().join("two-steps.toml");
    std::fs::write(
        &scenario,
        r#"name = "two-steps"
[[flow]]
let = { object = "doc-{{ vu.id }}-{{ seq }}" }
  [[flow.step]]
  op = "keto.write"
  namespace = "documents"
  object = "{{ object }}"
  relation = "viewer"
  subject_id = "user:1"
  expect = "ok"
  [[flow.step]]
  op = "keto.check"
  namespace = "documents"
  object = "{{ object }}"
  relation = "viewer"
  subject_id = "user:1"
  expect = "allowed"
"#,
    )
    .unwrap();
    let out = run(orysim()
        .args(["run", "--scenario"])
        .arg(&scenario)
        .args(["-c", "4", "--iterations", "150", "--report"])
        .arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = read_json(&path);
    assert_eq!(report["totals"]["requests"], 300);
    assert_eq!(report["totals"]["errors"], 0);
}

#[test]
fn the_open_model_keeps_its_rate_and_records_both_latencies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.json");
    let out = run(orysim()
        .args([
            "run",
            "--scope",
            "keto",
            "--rate",
            "200/s",
            "-d",
            "3s",
            "--max-vus",
            "20",
            "--report",
        ])
        .arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("coordinated-omission corrected"),
        "summary must say latency is corrected:\n{text}"
    );
    let report = read_json(&path);
    let total = report["totals"]["requests"].as_u64().unwrap();
    assert!((570..=630).contains(&total), "200/s for 3 s gave {total}");
    let check = operation(&report, "keto.check").unwrap();
    assert!(check["latency_uncorrected_us"]["p50"].as_u64().is_some());
    assert!(check["histogram_uncorrected"].as_str().is_some());
    assert_eq!(report["generator"]["dropped"], 0);
}

#[test]
fn warmup_is_left_out_of_the_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warm.json");
    let out = run(orysim()
        .args([
            "run", "--scope", "keto", "--rate", "100/s", "-d", "3s", "--warmup", "1s", "--report",
        ])
        .arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = read_json(&path);
    let total = report["totals"]["requests"].as_u64().unwrap();
    assert!(
        (180..=215).contains(&total),
        "2 s measured at 100/s gave {total}"
    );
    let warm = report["warmup"]["requests"].as_u64().unwrap();
    assert!(
        (85..=115).contains(&warm),
        "1 s warm-up at 100/s gave {warm}"
    );
}

#[test]
fn stages_ramp_virtual_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stages.json");
    let out = run(orysim()
        .args([
            "run",
            "--scope",
            "hydra",
            "--stages",
            "1s:4,1s:4,1s:0",
            "--report",
        ])
        .arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = read_json(&path);
    let elapsed = report["elapsed_seconds"].as_f64().unwrap();
    assert!((3.0..6.0).contains(&elapsed), "{elapsed}");
    assert!(report["totals"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(report["totals"]["errors"], 0);
}
