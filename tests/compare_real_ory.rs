//! The tuning loop on real Ory, end to end: a Keto of its own (scripts/ory-stack at port offset
//! 500, so the shared stack is never restarted) on PostgreSQL, the `keto` scenario run twice
//! with synchronous commits, then Keto restarted with `synchronous_commit=off` in its DSN (a real
//! setting that matters: a write no longer waits for its WAL flush) and run again. `orysim
//! compare` must call the write latency significantly better, and the A/A pair ⚪.
//! Ignored by a plain `cargo test`; `scripts/test` runs it with `--include-ignored`.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const OFFSET: &str = "500";

/// `scripts/ory-stack CMD` for the offset stack, with Keto's extra DSN parameters.
fn ory_stack(cmd: &str, keto_dsn_params: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ory-stack");
    let out = Command::new(script)
        .arg(cmd)
        .env("ORY_STACK_PORT_OFFSET", OFFSET)
        .env("ORY_STACK_KETO_DSN_PARAMS", keto_dsn_params)
        .env(
            "ORY_STACK_BCRYPT_COST",
            std::env::var("ORY_STACK_BCRYPT_COST").unwrap_or_else(|_| "4".into()),
        )
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
        let _ = std::panic::catch_unwind(|| ory_stack("down", ""));
    }
}

fn export(lines: &str, var: &str) -> String {
    lines
        .lines()
        .find_map(|l| l.strip_prefix(&format!("export {var}=")))
        .unwrap_or_else(|| panic!("no {var} in:\n{lines}"))
        .to_string()
}

fn keto_run(urls: &str, report: &Path, label: &str) {
    let url = |v| export(urls, v);
    let out = run(orysim()
        .args([
            "run", "--scope", "keto", "-c", "8", "-d", "15s", "--warmup", "2s",
        ])
        .args(["--interval", "250ms", "--read-ratio", "1", "--no-progress"])
        .args(["--keto-read", &url("KETO_READ_REMOTE")])
        .args(["--keto-write", &url("KETO_WRITE_REMOTE")])
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
fn synchronous_commit_off_makes_keto_writes_significantly_faster_and_an_aa_pair_stays_white() {
    assert_eq!(
        std::env::var("ORYSIM_REAL_ORY").as_deref(),
        Ok("1"),
        "run by scripts/test (ORYSIM_REAL_ORY=1)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let _stack = Stack;
    let on = "max_conns=4";
    let urls = ory_stack("up", on);
    keto_run(&urls, &path("on-1.json"), "synchronous_commit=on");
    keto_run(&urls, &path("on-2.json"), "synchronous_commit=on");
    // The config changes, so `up` restarts Keto with the new DSN.
    let urls = ory_stack("up", &format!("{on}&synchronous_commit=off"));
    keto_run(&urls, &path("off.json"), "synchronous_commit=off");

    let aa = compare(&path("on-1.json"), &path("on-2.json"));
    for op in ["keto.write", "keto.check"] {
        assert_eq!(
            p50(&aa, op)["verdict"],
            "no_change",
            "A/A {op}: {}",
            p50(&aa, op)
        );
    }
    assert_eq!(
        aa["overall"]["verdict"], "no_change",
        "A/A: {}",
        aa["overall"]
    );

    let tuned = compare(&path("on-2.json"), &path("off.json"));
    let write = p50(&tuned, "keto.write");
    assert_eq!(write["verdict"], "better", "{write}");
    assert!(write["change"].as_f64().unwrap() < 0.0, "{write}");
    assert!(write["ci"]["high"].as_f64().unwrap() < 0.0, "{write}");
    assert_eq!(
        tuned["after"]["runs"][0]["labels"]["synchronous_commit"],
        "off"
    );
}
