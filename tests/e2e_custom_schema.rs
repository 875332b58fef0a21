//! Registration against an identity schema that is not the quickstart's
//! (`deploy/ory/identity.username.schema.json`: a username identifier, a phone number, a
//! required boolean, `additionalProperties: false`), with and without `traits`, and Keto's
//! batch check: on the simulator (`--identity-schema`) and on real servers. The real Kratos
//! with that schema is a second stack that `scripts/test` starts at port offset 300 and names
//! in `ORYSIM_CUSTOM_KRATOS_PUBLIC_URL` / `ORYSIM_CUSTOM_KRATOS_ADMIN_URL`.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const SCHEMA: &str = "deploy/ory/identity.username.schema.json";
const TRAITS_SCENARIO: &str = "tests/scenarios/custom-schema-traits.toml";

fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A Kratos to run against: public and admin base URLs.
struct Kratos {
    public: String,
    admin: String,
}

/// The simulator serving the custom schema, on its own runtime.
fn simulator() -> (tokio::runtime::Runtime, orysim::sim::SimHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = orysim::sim::SimConfig::ephemeral();
    cfg.identity_schema = Some(orysim::sim::read_identity_schema(&project(SCHEMA)).unwrap());
    let handle = rt.block_on(orysim::sim::start(cfg)).unwrap();
    (rt, handle)
}

fn sim_kratos(h: &orysim::sim::SimHandle) -> Kratos {
    use orysim::ground::Endpoint;
    Kratos {
        public: h.urls[Endpoint::KratosPublic].clone(),
        admin: h.urls[Endpoint::KratosAdmin].clone(),
    }
}

/// The second real Kratos. Panics, never skips, when it is not configured.
fn real_kratos() -> Kratos {
    let var = |name: &str| {
        let v = std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: scripts/test starts the custom-schema Kratos and sets it")
        });
        assert!(
            v.starts_with("http://127.0.0.1:"),
            "{name}={v}: only a local stack on loopback"
        );
        v
    };
    Kratos {
        public: var("ORYSIM_CUSTOM_KRATOS_PUBLIC_URL"),
        admin: var("ORYSIM_CUSTOM_KRATOS_ADMIN_URL"),
    }
}

/// `orysim run` against `k` with a bounded number of iterations; the report and the output.
fn run_kratos(k: &Kratos, args: &[&str]) -> (Output, Option<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = run(orysim()
        .env("KRATOS_PUBLIC_URL", &k.public)
        .env("KRATOS_ADMIN_URL", &k.admin)
        .args(["run", "--no-progress", "--timeout", "20s", "--report"])
        .arg(&report)
        .args(args));
    let json = report.exists().then(|| read_json(&report));
    (out, json)
}

fn assert_clean(out: &Output, report: &Option<Value>) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    let r = report.clone().expect("a report");
    assert_eq!(r["totals"]["errors"], 0, "{}", r["operations"]);
    r
}

/// The built-in `kratos` scenario, unchanged: traits come from the registration form.
fn kratos_scenario_fills_the_form(k: &Kratos) {
    let (out, report) = run_kratos(
        k,
        &[
            "--scenario",
            "kratos",
            "-c",
            "4",
            "--iterations",
            "60",
            "--read-ratio",
            "3",
        ],
    );
    let r = assert_clean(&out, &report);
    let register = operation(&r, "kratos.register").expect("registrations");
    assert!(outcome(register, "ok") >= 5, "{register}");
    let login = operation(&r, "kratos.login").expect("logins");
    assert!(outcome(login, "valid") > 0, "{login}");
    assert!(outcome(service(&r, "kratos"), "active") > 0);
}

/// `traits` given outright, then login with the captured identifier, whoami, logout.
fn traits_then_session(k: &Kratos) {
    let scenario = project(TRAITS_SCENARIO);
    let (out, report) = run_kratos(
        k,
        &[
            "--scenario",
            scenario.to_str().unwrap(),
            "-c",
            "2",
            "--iterations",
            "8",
        ],
    );
    let r = assert_clean(&out, &report);
    for (op, verdict) in [
        ("kratos.register", "ok"),
        ("kratos.login", "valid"),
        ("kratos.whoami", "active"),
        ("kratos.logout", "ok"),
    ] {
        let o = operation(&r, op).unwrap_or_else(|| panic!("no {op}"));
        assert_eq!(outcome(o, verdict), 8, "{op}: {o}");
    }
}

/// A trait the schema does not have: one line naming it, exit 2, nothing sent.
fn unknown_trait_is_refused(k: &Kratos) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(project(TRAITS_SCENARIO))
        .unwrap()
        .replace("tenant = \"acme\"", "tenant = \"acme\", nickname = \"x\"");
    std::fs::write(&file, text).unwrap();
    let (out, _) = run_kratos(
        k,
        &["--scenario", file.to_str().unwrap(), "--iterations", "1"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("nickname"))
        .unwrap_or_else(|| panic!("no line names the trait: {err}"));
    assert!(
        line.contains("line 9") && line.contains("is not in Kratos's registration form"),
        "{line}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn simulator_custom_schema_kratos_scenario() {
    let (_rt, h) = simulator();
    kratos_scenario_fills_the_form(&sim_kratos(&h));
}

#[test]
fn simulator_custom_schema_traits_and_session() {
    let (_rt, h) = simulator();
    traits_then_session(&sim_kratos(&h));
}

#[test]
fn simulator_custom_schema_unknown_trait() {
    let (_rt, h) = simulator();
    unknown_trait_is_refused(&sim_kratos(&h));
}

#[test]
#[ignore = "needs the custom-schema Kratos: scripts/test"]
fn real_custom_schema_kratos_scenario() {
    kratos_scenario_fills_the_form(&real_kratos());
}

#[test]
#[ignore = "needs the custom-schema Kratos: scripts/test"]
fn real_custom_schema_traits_and_session() {
    traits_then_session(&real_kratos());
}

#[test]
#[ignore = "needs the custom-schema Kratos: scripts/test"]
fn real_custom_schema_unknown_trait() {
    unknown_trait_is_refused(&real_kratos());
}

/// `keto-batch`: every call checks ten tuples, five allowed and five denied.
fn assert_batch_report(r: &Value) {
    let op = operation(r, "keto.batch_check").expect("batch checks");
    let calls = op["count"].as_u64().unwrap();
    assert!(calls > 0, "{op}");
    let checks = &op["checks"];
    assert_eq!(checks["count"].as_u64(), Some(10 * calls), "{op}");
    assert_eq!(checks["allowed"].as_u64(), Some(5 * calls), "{op}");
    assert_eq!(checks["denied"].as_u64(), Some(5 * calls), "{op}");
    let keto = service(r, "keto");
    let writes = keto["writes"].as_u64().unwrap();
    assert_eq!(keto["checks"].as_u64(), Some(10 * calls), "{keto}");
    assert_eq!(keto["reads"].as_u64(), Some(calls), "{keto}");
    assert!(writes > 0);
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn real_keto_batch_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.json");
    let out = run(orysim_real().args([
        "run",
        "--scenario",
        "keto-batch",
        "-c",
        "4",
        "--iterations",
        "200",
        "--read-ratio",
        "5",
        "--no-progress",
        "--report",
        path.to_str().unwrap(),
    ]));
    let r = assert_clean(&out, &Some(read_json(&path)));
    assert_batch_report(&r);
}

#[test]
fn simulator_keto_batch_scenario_and_a_batch_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.json");
    let out = run(orysim().args([
        "run",
        "--scenario",
        "keto-batch",
        "-c",
        "4",
        "--iterations",
        "300",
        "--no-progress",
        "--report",
        path.to_str().unwrap(),
    ]));
    let r = assert_clean(&out, &Some(read_json(&path)));
    assert_batch_report(&r);

    // Eleven tuples: Keto's default limit is ten.
    let tuple =
        r#"{ namespace = "documents", object = "o", relation = "viewer", subject_id = "u" }"#;
    let file = dir.path().join("over.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"over\"\n[[flow]]\nname = \"f\"\n  [[flow.step]]\n  op = \"keto.batch_check\"\n  tuples = [{}]\n",
            [tuple; 11].join(", ")
        ),
    )
    .unwrap();
    let out = run(orysim().args([
        "run",
        "--scenario",
        file.to_str().unwrap(),
        "--iterations",
        "1",
        "--no-report",
        "--no-progress",
    ]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.lines().any(|l| l.contains("line 4")
            && l.contains("keto.batch_check sends 11 tuples but Keto checks at most 10 per batch")),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
