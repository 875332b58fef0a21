//! Scenarios end to end on the built-in simulator: every built-in runs with the outcomes it
//! expects, a user-written scenario chaining Kratos, Hydra and Keto runs, the `scenarios`
//! commands work, and a broken file stops `run` with its position and exit 2.

mod common;
use common::*;
use orysim::ground::Endpoint;
use serde_json::Value;

/// Runs `orysim run --scenario <scenario> <args>` on the simulator; returns the report and
/// the summary.
fn run_scenario(scenario: &str, args: &[&str]) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = run(orysim()
        .args(["run", "--scenario", scenario, "--seed", "11"])
        .args(args)
        .arg("--report")
        .arg(&path));
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{scenario}: stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    (read_json(&path), text)
}

fn ops(report: &Value) -> Vec<String> {
    report["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

fn assert_no_errors(report: &Value) {
    assert_eq!(
        report["totals"]["errors"], 0,
        "every step must get the outcome it expects: {:#}",
        report["operations"]
    );
}

#[test]
fn the_kratos_builtin_runs_the_tutorial_sequence_with_expected_outcomes() {
    let (report, _) = run_scenario("kratos", &["-c", "4", "-d", "3s", "--read-ratio", "10"]);
    assert_no_errors(&report);
    let names = ops(&report);
    for op in [
        "kratos.register",
        "kratos.login",
        "kratos.whoami",
        "kratos.logout",
        "kratos.lookup_identity",
    ] {
        assert!(names.iter().any(|n| n == op), "{op} missing: {names:?}");
    }
    let kratos = service(&report, "kratos");
    assert!(outcome(kratos, "active") > 0 && outcome(kratos, "inactive") > 0);
    assert!(outcome(kratos, "valid") > 0);
    assert_eq!(report["scenario"], "kratos");
}

#[test]
fn the_hydra_builtin_creates_its_client_and_sees_active_and_inactive_tokens() {
    let (report, _) = run_scenario("hydra", &["-c", "4", "-d", "3s", "--read-ratio", "5"]);
    assert_no_errors(&report);
    let names = ops(&report);
    for op in [
        "hydra.create_client",
        "hydra.token",
        "hydra.introspect",
        "hydra.revoke",
    ] {
        assert!(names.iter().any(|n| n == op), "{op} missing: {names:?}");
    }
    let hydra = service(&report, "hydra");
    assert!(outcome(hydra, "active") > 0 && outcome(hydra, "inactive") > 0);
}

#[test]
fn the_keto_builtin_checks_allowed_and_denied_and_expands_shared_albums() {
    let (report, _) = run_scenario(
        "keto",
        &[
            "-c",
            "4",
            "-d",
            "3s",
            "--read-ratio",
            "5",
            "--param",
            "negative_share=0.3",
        ],
    );
    assert_no_errors(&report);
    let keto = service(&report, "keto");
    assert!(outcome(keto, "allowed") > 0 && outcome(keto, "denied") > 0);
    let named: Vec<&str> = report["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["step"].as_str())
        .collect();
    assert!(
        named.contains(&"friend views album"),
        "the shared-album check through a subject set is reported as its own step: {named:?}"
    );
    assert!(ops(&report).iter().any(|n| n == "keto.expand"));
    assert_eq!(report["options"]["params"]["negative_share"], "0.3");
}

#[test]
fn all_runs_three_groups_with_their_own_ratio() {
    let (report, text) = run_scenario("all", &["-c", "6", "-d", "3s", "--read-ratio", "4"]);
    assert_no_errors(&report);
    for name in ["kratos", "hydra", "keto"] {
        let s = service(&report, name);
        assert_eq!(s["concurrency"], 2, "{name}");
        let (reads, writes) = (s["reads"].as_u64().unwrap(), s["writes"].as_u64().unwrap());
        assert!(writes > 0 && reads > 0, "{name}: {reads}/{writes}");
    }
    assert!(text.contains("Keto"), "{text}");
}

#[test]
fn seed_parity_keeps_one_writer_per_service_and_paces_readers_to_the_ratio() {
    let (report, _) = run_scenario(
        "seed-parity",
        &["-c", "21", "-d", "3s", "--read-ratio", "3"],
    );
    assert_no_errors(&report);
    for name in ["hydra", "keto"] {
        let s = service(&report, name);
        let (reads, writes) = (s["reads"].as_u64().unwrap(), s["writes"].as_u64().unwrap());
        assert!(writes >= 20, "{name}: {writes} writes");
        let ratio = reads as f64 / writes as f64;
        // Readers wait for the one writer: the ratio holds although six readers could read
        // far faster than one writer writes.
        assert!((2.5..=3.5).contains(&ratio), "{name}: ratio {ratio}");
    }
}

#[test]
fn a_user_scenario_chaining_login_token_and_check_runs_end_to_end() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scenarios/login-token-check.toml"
    );
    let (report, _) = run_scenario(path, &["-c", "3", "-d", "3s"]);
    assert_no_errors(&report);
    let names = ops(&report);
    for op in [
        "kratos.register",
        "kratos.login",
        "hydra.token",
        "keto.check",
    ] {
        assert!(names.iter().any(|n| n == op), "{op} missing: {names:?}");
    }
}

/// Starts a simulator the test can inspect after orysim is done with it.
fn external_sim() -> (tokio::runtime::Runtime, orysim::sim::SimHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(orysim::sim::start(orysim::sim::SimConfig::ephemeral()))
        .unwrap();
    (rt, sim)
}

fn get_json(rt: &tokio::runtime::Runtime, url: String) -> Value {
    rt.block_on(async { reqwest::get(url).await.unwrap().json().await.unwrap() })
}

fn run_against(sim: &orysim::sim::SimHandle, scenario: &str, extra: &[&str]) -> String {
    let u = &sim.urls;
    let out = run(orysim()
        .args([
            "run",
            "--scenario",
            scenario,
            "-c",
            "2",
            "-d",
            "2s",
            "--read-ratio",
            "2",
        ])
        .args([
            "--kratos-public",
            &u[Endpoint::KratosPublic],
            "--kratos-admin",
            &u[Endpoint::KratosAdmin],
        ])
        .args([
            "--keto-read",
            &u[Endpoint::KetoRead],
            "--keto-write",
            &u[Endpoint::KetoWrite],
        ])
        .args(["--no-report"])
        .args(extra));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stderr(&out)
}

#[test]
fn cleanup_deletes_every_identity_and_tuple_the_run_created() {
    let (rt, sim) = external_sim();
    let identities = |rt: &tokio::runtime::Runtime| {
        get_json(
            rt,
            format!(
                "{}/admin/identities?page_size=1000",
                sim.urls[Endpoint::KratosAdmin]
            ),
        )
        .as_array()
        .unwrap()
        .len()
    };
    let tuples = |rt: &tokio::runtime::Runtime, ns: &str| {
        get_json(
            rt,
            format!(
                "{}/relation-tuples?namespace={ns}",
                sim.urls[Endpoint::KetoRead]
            ),
        )["relation_tuples"]
            .as_array()
            .unwrap()
            .len()
    };
    // Without --cleanup the run's entities stay: the control for what follows.
    run_against(&sim, "kratos", &[]);
    let kept = identities(&rt);
    assert!(kept > 0);

    let err = run_against(&sim, "kratos", &["--cleanup"]);
    assert_eq!(
        identities(&rt),
        kept,
        "the second run removed all it registered: {err}"
    );
    assert!(
        err.contains("🧹 Cleanup of kratos:") && err.contains(", 0 failed"),
        "{err}"
    );

    run_against(&sim, "keto", &["--cleanup"]);
    assert_eq!(
        tuples(&rt, "documents"),
        0,
        "plain tuples and albums are gone"
    );
    assert_eq!(tuples(&rt, "groups"), 0, "album friend groups are gone");
    rt.block_on(sim.shutdown());
}

#[test]
fn scenarios_list_show_and_validate() {
    let out = run(orysim().args(["scenarios", "list"]));
    let text = stdout(&out);
    for name in ["kratos", "hydra", "keto", "all", "seed-parity", "oauth2"] {
        assert!(text.contains(name), "{text}");
    }
    let out = run(orysim().args(["scenarios", "show", "keto"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("# Keto"));
    let out = run(orysim().args(["scenarios", "show", "nope"]));
    assert_eq!(out.status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, orysim::scenario::builtin_source("keto").unwrap()).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n[[flow]]\n  [[flow.step]]\n  op = \"keto.chek\"\n",
    )
    .unwrap();
    let out = run(orysim()
        .args(["scenarios", "validate"])
        .arg(&good)
        .arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("good.toml: ok"), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.toml:4:8: unknown step type `keto.chek` (did you mean `keto.check`?)"),
        "{err}"
    );
}

#[test]
fn run_refuses_a_broken_scenario_before_sending_anything() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n[[flow]]\nweight = 0\n  [[flow.step]]\n  op = \"keto.check\"\n",
    )
    .unwrap();
    let out = run(orysim().args(["run", "--scenario"]).arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.toml:3:10: flow `flow-1` has a weight of zero"),
        "{err}"
    );
}

#[test]
fn the_readme_example_is_valid_and_runs_without_errors() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = readme
        .split("A complete scenario")
        .nth(1)
        .expect("the README has its complete scenario example");
    let example = after
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a toml block follows");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readme-example.toml");
    std::fs::write(&path, example).unwrap();
    let (report, _) = run_scenario(path.to_str().unwrap(), &["-c", "3", "-d", "2s"]);
    assert_no_errors(&report);
    assert!(
        report["operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["step"] == "may view own profile"
                && o["outcomes"]["denied"].as_u64() > Some(0))
    );
}

#[test]
fn oauth2_runs_every_leg_and_sees_rotation_on_the_simulator() {
    let (report, _) = run_scenario("oauth2", &["-c", "4", "-d", "2s"]);
    assert_no_errors(&report);
    let step = |op: &str, name: Option<&str>| {
        report["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == op && o["step"].as_str() == name)
            .cloned()
            .unwrap_or_else(|| panic!("{op} {name:?} missing: {}", report["operations"]))
    };
    for op in [
        "hydra.authorize",
        "hydra.accept_login",
        "hydra.accept_consent",
        "hydra.exchange_code",
        "hydra.userinfo",
        "hydra.token",
    ] {
        assert!(step(op, None)["ok"].as_u64().unwrap() > 0, "{op}");
    }
    assert!(
        step("hydra.refresh", None)["outcomes"]["valid"]
            .as_u64()
            .unwrap()
            > 0
    );
    let reused = step("hydra.refresh", Some("reused refresh token"));
    assert!(
        reused["outcomes"]["invalid"].as_u64().unwrap() > 0,
        "{reused}"
    );
    let revoked = step("hydra.introspect", Some("revoked by the reuse"));
    assert!(
        revoked["outcomes"]["inactive"].as_u64().unwrap() > 0,
        "{revoked}"
    );
}
