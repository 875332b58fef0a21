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

/// A loopback Keto: it answers the health probes, and every other request with what `reply`
/// gives for the request's bytes, or never when `reply` gives `None`. Its base URL.
fn loopback_keto(reply: fn(&[u8]) -> Option<String>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).unwrap_or(0);
                let answer = if buf[..n].starts_with(b"GET /health/") {
                    Some(http_answer("200 OK", "", "{\"status\":\"ok\"}"))
                } else {
                    reply(&buf[..n])
                };
                match answer {
                    Some(text) => {
                        let _ = stream.write_all(text.as_bytes());
                    }
                    // Hold the connection open, unanswered, until the test process ends.
                    None => loop {
                        std::thread::park();
                    },
                }
            });
        }
    });
    url
}

/// An HTTP/1.1 answer that closes its connection; `headers` are extra `name: value\r\n` lines.
fn http_answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `orysim run --scope keto` against `url` for `duration`, its report in `report`; bounded.
fn keto_run(url: &str, duration: &str, extra: &[&str], report: &Path) -> std::process::Output {
    run_bounded(
        orysim()
            .args([
                "run",
                "--scope",
                "keto",
                "-c",
                "2",
                "-d",
                duration,
                "--no-progress",
            ])
            .args(["--keto-read", url, "--keto-write", url])
            .args(extra)
            .arg("--report")
            .arg(report),
        Duration::from_secs(60),
    )
}

#[test]
fn a_second_signal_quits_at_once_even_in_a_hung_cleanup_and_removes_the_ledger_files() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static A_DELETION_HANGS: AtomicBool = AtomicBool::new(false);
    // Everything is answered but deletions: the run writes ledger entries (its reads must be
    // answered too, or both virtual users may wait on a read and never write), and its
    // cleanup's deletions then hang.
    let url = loopback_keto(|request| {
        if request.starts_with(b"DELETE ") {
            A_DELETION_HANGS.store(true, Ordering::SeqCst);
            return None;
        }
        Some(if request.starts_with(b"PUT ") {
            http_answer("201 Created", "", "")
        } else {
            http_answer("200 OK", "", "{\"allowed\":true}")
        })
    });
    let tmp = tempfile::tempdir().unwrap();
    let child = orysim()
        .args([
            "run",
            "--scope",
            "keto",
            "-c",
            "2",
            "-d",
            "1s",
            "--timeout",
            "120s",
        ])
        .args(["--cleanup", "--no-progress", "--no-report"])
        .args(["--keto-read", &url, "--keto-write", &url])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_ledgers(tmp.path());
    // The cleanup has begun and its deletions hang, each for up to the 120 s timeout.
    let until = Instant::now() + Duration::from_secs(60);
    while !A_DELETION_HANGS.load(Ordering::SeqCst) {
        assert!(Instant::now() < until, "the cleanup never sent a deletion");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let second = Instant::now();
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert!(
        second.elapsed() < Duration::from_secs(60),
        "the second signal did not quit at once"
    );
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert_eq!(ledger_files(tmp.path()), Vec::<String>::new());
}

/// `orysim ARGS` started by `sh` after `ulimit_args` (e.g. `-n 256`).
fn under_ulimit(ulimit_args: &str, args: &[&str]) -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_orysim");
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(format!("ulimit {ulimit_args} && exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args);
    for var in ENDPOINT_VARS {
        sh.env_remove(var);
    }
    sh.env("NO_COLOR", "1").stdin(Stdio::null());
    sh
}

#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every platform.
fn hard_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_max as u64
}

#[test]
fn a_run_the_descriptor_limit_cannot_hold_is_refused_before_the_load() {
    let out = run_bounded(
        &mut under_ulimit(
            "-n 256",
            &[
                "run",
                "--scope",
                "keto",
                "-c",
                "1000",
                "-d",
                "2s",
                "--no-report",
            ],
        ),
        Duration::from_secs(60),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("RLIMIT_NOFILE") && err.contains("ulimit -n"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(stdout(&out).is_empty(), "no load, no summary");
}

#[test]
fn a_low_soft_descriptor_limit_is_raised_to_the_hard_one() {
    if hard_nofile() < 2048 {
        eprintln!("hard RLIMIT_NOFILE below 2048: nothing to raise to");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let report_arg = report.to_str().unwrap();
    let out = run_bounded(
        &mut under_ulimit(
            "-S -n 256",
            &[
                "run",
                "--scope",
                "keto",
                "-c",
                "300",
                "-d",
                "2s",
                "--no-progress",
                "--report",
                report_arg,
            ],
        ),
        Duration::from_secs(90),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json = read_json(&report);
    assert!(json["totals"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(class_count(&json, "descriptors"), 0, "{json}");
}

/// Calls of an error class, summed over the report's operations.
fn class_count(report: &serde_json::Value, class: &str) -> u64 {
    report["operations"]
        .as_array()
        .expect("operations array")
        .iter()
        .map(|o| o["error_classes"][class].as_u64().unwrap_or(0))
        .sum()
}

fn short_run(report: &Path) -> std::process::Command {
    let mut cmd = orysim();
    cmd.args([
        "run",
        "--scope",
        "keto",
        "-c",
        "2",
        "-d",
        "1s",
        "--no-progress",
        "--report",
    ])
    .arg(report);
    cmd
}

#[test]
fn a_report_path_that_is_not_a_file_is_refused_before_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let missing_parent_unwritable = Path::new("/proc/orysim-no-such-dir/r.json");
    for (path, needle) in [
        (fifo.as_path(), "a FIFO"),
        (dir.path(), "a directory"),
        (Path::new("/proc/orysim-report.json"), "cannot be written"),
        (missing_parent_unwritable, "cannot be written"),
    ] {
        let started = Instant::now();
        let out = run_bounded(&mut short_run(path), Duration::from_secs(60));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{path:?}: {err}");
        assert!(err.contains(needle), "{path:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(stdout(&out).is_empty(), "{path:?}: refused before the load");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the FIFO is kept"
    );
}

#[test]
fn a_report_symlink_is_followed_and_dev_stdout_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    std::fs::write(&real, "old").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = run_bounded(&mut short_run(&link), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(read_json(&real)["totals"]["requests"].as_u64().unwrap() > 0);

    let out = run_bounded(
        &mut short_run(Path::new("/dev/stdout")),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\"schema_version\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_stalled_target_is_never_reported_healthy() {
    let url = loopback_keto(|_| None);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = keto_run(&url, "1s", &["--timeout", "60s"], &report);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    assert!(text.contains("NO REQUEST COMPLETED"), "{text}");
    assert!(!text.contains('✅'), "{text}");
    let json = read_json(&report);
    assert!(class_count(&json, "unfinished") >= 2, "{json}");
}

#[test]
fn a_dead_target_is_backed_off_and_the_load_recovers_when_it_is_back() {
    let offset = free_sim_offset();
    let mut sim = start_sim(offset);
    let read = format!("http://127.0.0.1:{}", 4466 + offset);
    let write = format!("http://127.0.0.1:{}", 4467 + offset);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let run = orysim()
        .args([
            "run",
            "--scope",
            "keto",
            "-c",
            "4",
            "-d",
            "6s",
            "--no-progress",
        ])
        .args(["--keto-read", &read, "--keto-write", &write, "--report"])
        .arg(&report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sim.kill().unwrap();
    sim.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut sim = start_sim(offset);
    let out = run.wait_with_output().unwrap();
    sim.kill().unwrap();
    let _ = sim.wait();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("pauses after connection failures"), "{text}");
    let json = read_json(&report);
    let connect = class_count(&json, "connect");
    // Without backoff, 1.5 s of a dead loopback target is tens of thousands of refusals.
    assert!(connect > 0 && connect < 3000, "connect errors: {connect}");
    // The restarted simulator does not know the tuples written before: checks of them come
    // back denied, which only an answered call after the restart can produce.
    assert!(
        class_count(&json, "expectation") > 0,
        "no call was answered after the restart: {json}"
    );
}

/// Raw control or bidirectional characters in what orysim printed.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
        .collect()
}

#[test]
fn hostile_names_are_shown_escaped_in_the_plan_the_summary_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.toml");
    std::fs::write(
        &path,
        r#"name = "hostile"
[[flow]]
name = "f\u001b]0;pwned\u0007\u202e\n🏁 Overall forged"
  [[flow.step]]
  op = "keto.check"
  namespace = "documents"
  object = "o"
  relation = "viewer"
  subject_id = "u"
  expect = "denied"
  [[flow.step]]
  op = "keto.check"
  namespace = "documents"
  object = "o2"
  relation = "viewer"
  subject_id = "u"
  expect = "denied"
"#,
    )
    .unwrap();
    let scenario = path.to_str().unwrap();
    let out = run_bounded(
        orysim().args(["run", "--scenario", scenario, "--dry-run"]),
        Duration::from_secs(60),
    );
    let plan = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(raw_controls(&plan), Vec::<char>::new(), "{plan}");
    assert!(plan.contains("\\u{1b}]0;pwned"), "{plan}");
    assert!(
        !plan.lines().any(|l| l.starts_with("🏁 Overall forged")),
        "{plan}"
    );

    let out = run_bounded(
        orysim().args([
            "run",
            "--scenario",
            scenario,
            "-c",
            "1",
            "-d",
            "1s",
            "--no-report",
        ]),
        Duration::from_secs(60),
    );
    let summary = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{summary}\n{}", stderr(&out));
    assert_eq!(raw_controls(&summary), Vec::<char>::new(), "{summary}");
    assert!(!summary.contains("\n🏁 Overall forged"), "{summary}");

    let out = run_bounded(
        orysim().args(["run", "--scenario", "evil\u{1b}[2J\u{202e}"]),
        Duration::from_secs(30),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(raw_controls(&err), Vec::<char>::new(), "{err}");
    assert!(err.contains("\\u{1b}[2J"), "{err}");
}

#[test]
fn a_write_answered_with_a_large_echo_is_a_write_that_worked() {
    // Tuple writes answer 201 with a body beyond the client's cap (an echo of a large value);
    // checks answer allowed.
    let url = loopback_keto(|request| {
        Some(if request.starts_with(b"PUT ") {
            let echo = format!("{{\"object\":\"{}\"}}", "x".repeat(2 << 20));
            http_answer("201 Created", "", &echo)
        } else {
            http_answer("200 OK", "", "{\"allowed\":true}")
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = keto_run(&url, "1s", &[], &report);
    assert!(out.status.code().is_some(), "{}", stderr(&out));
    let json = read_json(&report);
    let write = operation(&json, "keto.write").expect("writes ran");
    assert_eq!(
        write["error_classes"]["protocol"].as_u64().unwrap_or(0),
        0,
        "{write}"
    );
    assert!(write["count"].as_u64().unwrap_or(0) > 0, "{write}");
    assert_eq!(write["errors"].as_u64(), Some(0), "{write}");
}

#[test]
fn the_closed_model_follows_retry_after() {
    let url = loopback_keto(|_| {
        Some(http_answer(
            "429 Too Many Requests",
            "retry-after: 1\r\n",
            "",
        ))
    });
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = keto_run(&url, "3s", &[], &report);
    assert!(out.status.code().is_some(), "{}", stderr(&out));
    let json = read_json(&report);
    let limited = class_count(&json, "http_429");
    // Two users waiting 1 s after each answer: a handful in 3 s, not thousands.
    assert!(limited > 0 && limited <= 16, "429 answers: {limited}");
}

/// A loopback API answering every request but the health probes with `answer`, and noting
/// when. With `outage = Some((after, length))` it refuses connections (its port closed) from
/// `after` past the first such request, for `length`, then answers again.
struct LoopbackApi {
    url: String,
    /// When each answered request (health probes aside) arrived.
    answered: std::sync::Arc<std::sync::Mutex<Vec<Instant>>>,
}

fn loopback_api(answer: String, outage: Option<(Duration, Duration)>) -> LoopbackApi {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let noted = answered.clone();
    let answer = std::sync::Arc::new(answer);
    let start = Instant::now();
    std::thread::spawn(move || {
        let mut listener = Some(listener);
        while start.elapsed() < Duration::from_secs(60) {
            let first = noted.lock().unwrap().first().copied();
            let down = match (first, outage) {
                (Some(first), Some((after, length))) => {
                    let since = first.elapsed();
                    since >= after && since < after + length
                }
                _ => false,
            };
            if down {
                listener = None;
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            if listener.is_none() {
                // Std listeners reuse the address: the port of a moment ago is bound again.
                match TcpListener::bind(addr) {
                    Ok(l) => listener = Some(l),
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                }
            }
            let l = listener.as_ref().unwrap();
            l.set_nonblocking(true).unwrap();
            let Ok((mut stream, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let (noted, answer) = (noted.clone(), answer.clone());
            std::thread::spawn(move || {
                stream.set_nonblocking(false).unwrap();
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).unwrap_or(0);
                let text = if buf[..n].starts_with(b"GET /health/") {
                    http_answer("200 OK", "", "{\"status\":\"ok\"}")
                } else {
                    noted.lock().unwrap().push(Instant::now());
                    answer.to_string()
                };
                let _ = stream.write_all(text.as_bytes());
            });
        }
    });
    LoopbackApi {
        url: format!("http://{addr}"),
        answered,
    }
}

#[test]
fn an_endpoint_that_is_down_backs_off_alone_while_the_other_keeps_its_rate() {
    // Two dedicated writers against a Keto write API that goes down for 1.5 s, 0.7 s after the
    // first write; two readers (one check every 20 ms each) against a read API that stays up.
    let (after, length) = (Duration::from_millis(700), Duration::from_millis(1500));
    let read = loopback_api(http_answer("200 OK", "", "{\"allowed\":true}"), None);
    let write = loopback_api(
        http_answer("201 Created", "", "{\"object\":\"o\"}"),
        Some((after, length)),
    );
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("split.toml");
    let tuple = "namespace = \"n\"\nobject = \"o\"\nrelation = \"r\"\nsubject_id = \"s\"\n";
    std::fs::write(
        &scenario,
        format!(
            "name = \"split\"\n\
             [[flow]]\nname = \"writer\"\nvus = 2\n[[flow.step]]\nop = \"keto.write\"\n{tuple}\
             [[flow]]\nname = \"reader\"\nthink = \"20ms\"\n[[flow.step]]\nop = \"keto.check\"\n{tuple}"
        ),
    )
    .unwrap();
    let report = dir.path().join("r.json");
    let out = run_bounded(
        orysim()
            .args(["run", "-c", "4", "-d", "5s", "--no-progress", "--scenario"])
            .arg(&scenario)
            .args([
                "--keto-read",
                &read.url,
                "--keto-write",
                &write.url,
                "--report",
            ])
            .arg(&report),
        Duration::from_secs(60),
    );
    let text = stdout(&out);
    assert!(out.status.code().is_some(), "{text}\n{}", stderr(&out));
    let json = read_json(&report);
    let check = operation(&json, "keto.check").expect("checks ran");
    assert_eq!(check["errors"].as_u64(), Some(0), "{check}");

    // The reads kept their rate while the writes were refused: as many checks in the middle
    // of the outage as in as long a stretch after it (a shared pause would leave almost none).
    let writes = write.answered.lock().unwrap().clone();
    let first = writes[0];
    let back = first + after + length;
    let reads = read.answered.lock().unwrap().clone();
    let between =
        |from: Instant, to: Instant| reads.iter().filter(|t| **t >= from && **t < to).count();
    let window = Duration::from_millis(1200);
    let during = between(
        first + after + Duration::from_millis(150),
        first + after + Duration::from_millis(150) + window,
    );
    let later = between(
        back + Duration::from_millis(100),
        back + Duration::from_millis(100) + window,
    );
    assert!(
        later > 0 && during * 2 >= later,
        "checks: {during} during the outage, {later} after"
    );

    // The writes backed off: without a streak of their own (reset by every answered read),
    // 1.5 s down is hundreds of refused connections; backed off, a few dozen.
    let written = operation(&json, "keto.write").expect("writes ran");
    let refused = written["error_classes"]["connect"].as_u64().unwrap_or(0);
    assert!(refused > 0 && refused < 100, "refused writes: {refused}");
    assert!(
        text.contains("pauses after connection failures:") && text.contains("to keto_write"),
        "{text}"
    );
    assert!(!text.contains("to keto_read"), "{text}");

    // And came back as soon as the write API did: within one longest pause (500 ms, plus
    // slack for a busy machine).
    let after_back: Vec<&Instant> = writes.iter().filter(|t| **t >= back).collect();
    assert!(
        after_back.len() > 10,
        "writes answered after the write API came back: {}",
        after_back.len()
    );
    let recovered_after = after_back[0].duration_since(back);
    assert!(
        recovered_after < Duration::from_millis(1000),
        "first write {recovered_after:?} after the write API came back"
    );
}
