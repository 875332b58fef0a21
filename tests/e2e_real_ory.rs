//! End to end against real Kratos, Hydra and Keto on PostgreSQL (scripts/ory-stack). Ignored by
//! a plain `cargo test`; `scripts/test` (and so CI) runs them with `--include-ignored`.

mod common;
use common::*;
use serde_json::Value;

fn run_scope(scope: &str, concurrency: &str, duration: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{scope}.json"));
    let out = run(orysim_real().args([
        "run",
        "--scope",
        scope,
        "-c",
        concurrency,
        "-d",
        duration,
        "--read-ratio",
        "10",
        "--report",
        path.to_str().unwrap(),
    ]));
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    println!("{text}");
    (read_json(&path), text)
}

fn assert_complete(report: &Value, services: &[&str]) {
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["target"]["kind"], "remote");
    assert_eq!(report["interrupted"], false);
    assert_eq!(
        report["totals"]["errors"], 0,
        "unexpected errors: {}",
        report["operations"]
    );
    for name in services {
        let s = service(report, name);
        let (reads, writes) = (s["reads"].as_u64().unwrap(), s["writes"].as_u64().unwrap());
        assert!(writes >= 3, "{name}: only {writes} writes");
        let ratio = reads as f64 / writes as f64;
        // Exact up to the decisions in flight when the run stopped (one per virtual user).
        let slack = 1.0 + s["concurrency"].as_f64().unwrap() / writes as f64;
        assert!(
            (ratio - 10.0).abs() <= 10.0 * 0.1 + slack,
            "{name}: read/write ratio {ratio} ({reads}/{writes})"
        );
    }
    for op in report["operations"].as_array().unwrap() {
        assert!(op["histogram"].as_str().unwrap().starts_with("HISTF"));
        assert!(op["latency_us"]["p99"].as_u64().unwrap() > 0);
    }
}

fn assert_kratos(report: &Value) {
    let kratos = service(report, "kratos");
    assert!(
        outcome(kratos, "active") > 0,
        "whoami of fresh sessions must be active"
    );
    assert!(
        outcome(kratos, "inactive") > 0,
        "logged-out sessions must be inactive"
    );
    assert!(outcome(kratos, "valid") > 0, "registered users must log in");
}

fn assert_hydra(report: &Value) {
    let hydra = service(report, "hydra");
    assert!(
        outcome(hydra, "active") > 0,
        "issued tokens must introspect active"
    );
    assert!(
        outcome(hydra, "inactive") > 0,
        "revoked or unknown tokens must be inactive"
    );
}

fn assert_keto(report: &Value) {
    let keto = service(report, "keto");
    assert!(
        outcome(keto, "allowed") > 0,
        "written tuples must be allowed"
    );
    assert!(
        outcome(keto, "denied") > 0,
        "unwritten tuples must be denied"
    );
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn kratos_against_real_ory() {
    let (report, _) = run_scope("kratos", "4", "8s");
    assert_complete(&report, &["kratos"]);
    assert_kratos(&report);
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn hydra_against_real_ory() {
    let (report, _) = run_scope("hydra", "4", "5s");
    assert_complete(&report, &["hydra"]);
    assert_hydra(&report);
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn keto_against_real_ory() {
    let (report, _) = run_scope("keto", "4", "5s");
    assert_complete(&report, &["keto"]);
    assert_keto(&report);
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn all_services_against_real_ory() {
    let (report, text) = run_scope("all", "9", "8s");
    assert_complete(&report, &["kratos", "hydra", "keto"]);
    assert_kratos(&report);
    assert_hydra(&report);
    assert_keto(&report);
    assert!(!text.contains("built-in simulator"));
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn hydra_client_secret_post_against_real_ory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("post.json");
    let out = run(orysim_real()
        .args([
            "run",
            "--scope",
            "hydra",
            "-c",
            "2",
            "-d",
            "3s",
            "--hydra-auth",
            "client-secret-post",
            "--report",
        ])
        .arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = read_json(&path);
    assert_eq!(report["totals"]["errors"], 0, "{}", report["operations"]);
    assert!(outcome(service(&report, "hydra"), "active") > 0);
}

/// Runs `--scenario <scenario>` against the real stack and returns the report.
fn run_real_scenario(scenario: &str, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.json");
    let out = run(orysim_real()
        .args(["run", "--scenario", scenario])
        .args(args)
        .arg("--report")
        .arg(&path));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    read_json(&path)
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn the_shared_album_example_checks_and_expands_through_a_subject_set_on_real_keto() {
    let report = run_real_scenario("keto", &["-c", "3", "-d", "4s", "--read-ratio", "3"]);
    assert_eq!(report["totals"]["errors"], 0, "{}", report["operations"]);
    let step = |name: &str| {
        report["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["step"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("step {name} missing: {}", report["operations"]))
    };
    let check = step("friend views album");
    assert!(check["outcomes"]["allowed"].as_u64().unwrap() > 0);
    assert!(operation(&report, "keto.expand").is_some());
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn a_user_scenario_chaining_login_token_and_check_runs_on_real_ory() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scenarios/login-token-check.toml"
    );
    let report = run_real_scenario(path, &["-c", "3", "-d", "5s"]);
    assert_eq!(report["totals"]["errors"], 0, "{}", report["operations"]);
    for op in ["kratos.login", "hydra.token", "keto.check"] {
        let o = operation(&report, op).unwrap_or_else(|| panic!("{op} missing"));
        assert!(o["ok"].as_u64().unwrap() > 0, "{op}: {o}");
    }
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn seed_parity_and_cleanup_on_real_ory() {
    let report = run_real_scenario(
        "seed-parity",
        &["-c", "12", "-d", "4s", "--read-ratio", "3"],
    );
    assert_eq!(report["totals"]["errors"], 0, "{}", report["operations"]);
    for name in ["kratos", "hydra", "keto"] {
        let s = service(&report, name);
        assert!(s["writes"].as_u64().unwrap() > 0, "{name}");
    }
    let out = run(orysim_real().args([
        "run",
        "--scenario",
        "kratos",
        "-c",
        "2",
        "-d",
        "3s",
        "--read-ratio",
        "2",
        "--cleanup",
        "--no-report",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("🧹 Cleanup of kratos:") && err.contains(", 0 failed"),
        "every identity the run registered is deleted: {err}"
    );
}

/// `orysim run --db-stats` against the real Keto on the stack's PostgreSQL: the report holds
/// what Keto's database did during the load (its statements, the commits), the summary a DB
/// block, and the password appears nowhere.
#[test]
#[ignore = "needs the real Ory stack (scripts/test starts it)"]
fn a_run_records_the_databases_own_statistics() {
    let db_url = std::env::var("ORY_STACK_DB_URL").expect("scripts/ory-stack env exports it");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let out = run(orysim_real()
        .args([
            "run",
            "--scope",
            "keto",
            "-c",
            "4",
            "-d",
            "3s",
            "--no-progress",
        ])
        .arg("--db-stats")
        .arg(format!("keto={db_url}"))
        .arg("--report")
        .arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("DB keto: PostgreSQL"), "{text}");
    let raw = std::fs::read_to_string(&path).unwrap();
    let password = db_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p.to_string())
        .expect("the stack's URL has a password");
    assert!(
        !raw.contains(&format!(":{password}@")),
        "the DB password leaked into the report"
    );
    assert!(
        !text.contains(&format!(":{password}@"))
            && !stderr(&out).contains(&format!(":{password}@"))
    );
    let report: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let stats = &report["db_stats"][0];
    assert_eq!(stats["name"], "keto");
    let calls = stats["statement_totals"]["calls"].as_u64().unwrap_or(0);
    let writes = report["services"][0]["writes"].as_u64().unwrap();
    assert!(
        writes > 0 && calls >= writes,
        "{writes} Keto writes, {calls} statement calls: {stats}"
    );
}
