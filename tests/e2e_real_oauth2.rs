//! End to end against the real Hydra (scripts/ory-stack): the `oauth2` built-in, authorization
//! code with PKCE, refresh rotation and its reuse, userinfo, introspection, with no error.
//! Ignored by a plain `cargo test`; `scripts/test` runs it with `--include-ignored`.

mod common;
use common::*;

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn the_oauth2_scenario_runs_without_error_on_real_hydra() {
    for auth in ["client-secret-basic", "client-secret-post"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauth2.json");
        let out = run(orysim_real()
            .args(["run", "--scenario", "oauth2", "-c", "3", "-d", "4s"])
            .args(["--hydra-auth", auth, "--report"])
            .arg(&path));
        assert_eq!(
            out.status.code(),
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        );
        let report = read_json(&path);
        assert_eq!(
            report["totals"]["errors"], 0,
            "{auth}: {}",
            report["operations"]
        );
        for op in [
            "hydra.authorize",
            "hydra.accept_login",
            "hydra.accept_consent",
            "hydra.exchange_code",
            "hydra.userinfo",
        ] {
            let o = operation(&report, op).unwrap_or_else(|| panic!("{op} missing"));
            assert!(o["ok"].as_u64().unwrap() > 0, "{auth} {op}: {o}");
        }
        let hydra = service(&report, "hydra");
        assert!(outcome(hydra, "valid") > 0, "{auth}: refreshes must work");
        assert!(
            outcome(hydra, "invalid") > 0,
            "{auth}: a reused refresh token must be refused"
        );
    }
}
