//! What production does to a load generator: stop signals, descriptor limits, stalled or dead
//! targets, report paths that are not files. Each test drives the real binary, against the
//! built-in simulator or a tiny loopback server, bounded in time.

mod common;
use common::*;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn ledger_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("orysim-ledger-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (bounded) until the run has created its ledger files, i.e. the load has started.
fn wait_for_ledgers(dir: &Path) {
    let until = Instant::now() + Duration::from_secs(60);
    while ledger_files(dir).is_empty() {
        assert!(
            Instant::now() < until,
            "the run never created its ledger files"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(child: &Child, signo: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signo) };
}

fn spawn_long_run(tmp: &Path, report: &Path) -> Child {
    orysim()
        .args([
            "run",
            "--scope",
            "keto",
            "-c",
            "2",
            "-d",
            "120s",
            "--cleanup",
            "--no-progress",
            "--report",
        ])
        .arg(report)
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_and_sighup_stop_like_ctrl_c_with_summary_report_cleanup_and_their_exit_code() {
    for (signo, code, name) in [
        (libc::SIGTERM, 143, "SIGTERM"),
        (libc::SIGHUP, 129, "SIGHUP"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let report = tmp.path().join("report.json");
        let child = spawn_long_run(tmp.path(), &report);
        wait_for_ledgers(tmp.path());
        std::thread::sleep(Duration::from_millis(500));
        signal(&child, signo);
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{name}: {err}");
        assert!(stdout(&out).contains("Keto"), "{name}: summary printed");
        assert!(
            stdout(&out).contains(name),
            "{name}: the summary names the signal"
        );
        assert!(err.contains("Cleanup of"), "{name}: cleanup ran: {err}");
        let json = read_json(&report);
        assert_eq!(json["interrupted"], true);
        assert!(json["elapsed_seconds"].as_f64().unwrap() < 100.0);
        assert_eq!(ledger_files(tmp.path()), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn a_second_signal_quits_at_once_and_still_removes_the_ledger_files() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let child = spawn_long_run(tmp.path(), &report);
    wait_for_ledgers(tmp.path());
    signal(&child, libc::SIGTERM);
    // Far enough apart not to be merged into one delivery, well within the grace period.
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert_eq!(ledger_files(tmp.path()), Vec::<String>::new());
}
