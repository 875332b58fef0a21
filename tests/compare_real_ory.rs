//! The tuning loop on real Ory, end to end: a stack of its own (scripts/ory-stack at port offset
//! 500, so the shared stack is never restarted) on PostgreSQL, the `kratos` scenario run twice
//! with Kratos hashing passwords at bcrypt cost 10, then Kratos restarted at cost 4 (a real
//! setting that matters: every login and registration verifies or computes one hash, 64 times
//! less work at cost 4) and run again. `orysim compare` must call the login latency
//! significantly better with the right sign, and the A/A pair ⚪.
//!
//! (`synchronous_commit=off` in Keto's DSN was the first candidate; on this machine's virtual
//! disk a WAL flush costs from nothing to several ms depending on what else writes, so its
//! effect could not be relied on. `ORY_STACK_<SVC>_DSN_PARAMS` stays for such DSN tuning.)
//! Ignored by a plain `cargo test`; `scripts/test` runs it with `--include-ignored`.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const OFFSET: &str = "500";

/// `scripts/ory-stack CMD` for the offset stack, Kratos hashing at `bcrypt_cost`.
fn ory_stack(cmd: &str, bcrypt_cost: u32) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ory-stack");
    let out = Command::new(script)
        .arg(cmd)
        .env("ORY_STACK_PORT_OFFSET", OFFSET)
        .env("ORY_STACK_BCRYPT_COST", bcrypt_cost.to_string())
        .output()
        .expect("scripts/ory-stack runs");
    assert!(
        out.status.success(),
        "scripts/ory-stack {cmd} failed:\n{}",
        stderr(&out)
    );
    stdout(&out)
}

/// Stops the offset stack however the test ends.
struct Stack;

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| ory_stack("down", 4));
    }
}

fn export(lines: &str, var: &str) -> String {
    lines
        .lines()
        .find_map(|l| l.strip_prefix(&format!("export {var}=")))
        .unwrap_or_else(|| panic!("no {var} in:\n{lines}"))
        .to_string()
}

fn kratos_run(urls: &str, report: &Path, label: &str) {
    let url = |v| export(urls, v);
    let out = run(orysim()
        .args([
            "run", "--scope", "kratos", "-c", "6", "-d", "12s", "--warmup", "2s",
        ])
        .args(["--interval", "250ms", "--read-ratio", "4", "--no-progress"])
        .args(["--kratos-public", &url("KRATOS_PUBLIC_URL")])
        .args(["--kratos-admin", &url("KRATOS_ADMIN_URL")])
        .args(["--label", label])
        .arg("--report")
        .arg(report));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn compare(before: &Path, after: &Path) -> Value {
    let out = run(orysim()
        .args(["compare", "--format", "json"])
        .arg(before)
        .arg(after));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = run(orysim().arg("compare").arg(before).arg(after));
    println!("{}", stdout(&text));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn p50<'a>(c: &'a Value, op: &str) -> &'a Value {
    c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["subject"]["name"] == op && r["subject"]["step"].is_null())
        .and_then(|r| {
            r["figures"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["figure"] == "p50")
        })
        .unwrap_or_else(|| panic!("no {op} p50"))
}

#[test]
#[ignore = "needs the real Ory stack: scripts/test"]
fn a_lower_bcrypt_cost_makes_kratos_logins_significantly_faster_and_an_aa_pair_stays_white() {
    assert_eq!(
        std::env::var("ORYSIM_REAL_ORY").as_deref(),
        Ok("1"),
        "run by scripts/test (ORYSIM_REAL_ORY=1)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let _stack = Stack;
    let urls = ory_stack("up", 10);
    // Left out of the comparison: the first run after a start warms Kratos's and PostgreSQL's
    // pools and caches, and its register p50 came out 10% slower than the next run's, which
    // the A/A pair rightly called significant.
    kratos_run(&urls, &path("warm-up.json"), "bcrypt_cost=10");
    kratos_run(&urls, &path("cost10-1.json"), "bcrypt_cost=10");
    kratos_run(&urls, &path("cost10-2.json"), "bcrypt_cost=10");
    // The config changes, so `up` restarts Kratos with the new cost.
    let urls = ory_stack("up", 4);
    kratos_run(&urls, &path("cost4.json"), "bcrypt_cost=4");

    let aa = compare(&path("cost10-1.json"), &path("cost10-2.json"));
    assert_eq!(
        p50(&aa, "kratos.login")["verdict"],
        "no_change",
        "A/A kratos.login: {}",
        p50(&aa, "kratos.login")
    );
    assert_eq!(
        aa["overall"]["verdict"], "no_change",
        "A/A: {}",
        aa["overall"]
    );

    let tuned = compare(&path("cost10-2.json"), &path("cost4.json"));
    let login = p50(&tuned, "kratos.login");
    assert_eq!(login["verdict"], "better", "{login}");
    assert!(login["change"].as_f64().unwrap() < 0.0, "{login}");
    assert!(login["ci"]["high"].as_f64().unwrap() < 0.0, "{login}");
    assert_eq!(tuned["after"]["runs"][0]["labels"]["bcrypt_cost"], "4");
}
