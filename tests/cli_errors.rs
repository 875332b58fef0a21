//! Bad input gets one clear line and exit code 2, never a panic.

mod common;
use common::*;

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = run(orysim().args(args));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "args {args:?}\nstderr: {err}");
    assert!(
        err.contains(needle),
        "args {args:?}: stderr lacks {needle:?}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line, got:\n{err}");
}

#[test]
fn bad_flags_exit_2() {
    assert_usage_error(&["run", "-c", "abc"], "invalid value 'abc'");
    assert_usage_error(&["run", "--duration", "ten"], "invalid --duration 'ten'");
    assert_usage_error(&["run", "--timeout", "0"], "--timeout");
    assert_usage_error(&["run", "--scope", "redis"], "invalid value 'redis'");
    assert_usage_error(&["run", "--read-ratio=-3"], "--read-ratio");
    assert_usage_error(&["run", "--frobnicate"], "unexpected argument");
    assert_usage_error(
        &["run", "-c", "2", "--scope", "all"],
        "scenario `all` needs at least 3 virtual users",
    );
    assert_usage_error(
        &["run", "-c", "3", "--scenario", "seed-parity"],
        "scenario `seed-parity` needs at least 4 virtual users",
    );
    assert_usage_error(&["run", "--param", "novalue"], "invalid --param 'novalue'");
    assert_usage_error(
        &["run", "--scenario", "keto", "--param", "colour=red"],
        "--param colour: the scenario has no such parameter",
    );
    assert_usage_error(&["run", "--scenario", "kratoss"], "built-ins: kratos");
    assert_usage_error(
        &["run", "--scenario", "keto", "--scope", "hydra"],
        "cannot be used with",
    );
    assert_usage_error(
        &["run", "--config", "/nonexistent/orysim.toml"],
        "cannot read config file",
    );
    assert_usage_error(&["sim", "--error-rate", "2"], "between 0 and 1");
}

#[test]
fn bad_urls_exit_2_with_the_flag_named() {
    assert_usage_error(
        &[
            "run",
            "--scope",
            "keto",
            "--keto-read",
            "ftp://x",
            "--keto-write",
            "http://127.0.0.1:1",
        ],
        "--keto-read",
    );
}

#[test]
fn partially_configured_endpoints_name_the_missing_variables() {
    let out = run(orysim()
        .args(["run", "--scope", "hydra", "-d", "1s"])
        .env("HYDRA_PUBLIC_URL", "http://127.0.0.1:4444"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("HYDRA_ADMIN_URL"), "{err}");
    assert!(!err.contains("KRATOS"), "kratos is not in scope: {err}");
}

#[test]
fn unreachable_targets_fail_preflight_with_one_line_each() {
    let (a, b) = (closed_port(), closed_port());
    let out = run(orysim().args([
        "run",
        "--scope",
        "keto",
        "-d",
        "1s",
        "--timeout",
        "2s",
        "--keto-read",
        &format!("http://127.0.0.1:{a}"),
        "--keto-write",
        &format!("127.0.0.1:{b}"),
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("preflight")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines.iter().any(|l| l.contains(&a.to_string())), "{err}");
    assert!(lines.iter().any(|l| l.contains(&b.to_string())), "{err}");
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let port = closed_port();
    let out = run(orysim().args([
        "run",
        "--dry-run",
        "--scope",
        "keto",
        "-c",
        "4",
        "--keto-read",
        &format!("http://127.0.0.1:{port}"),
        "--keto-write",
        &format!("http://127.0.0.1:{port}"),
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("DRY RUN"), "{text}");
    assert!(text.contains(&port.to_string()), "{text}");
}

#[test]
fn help_and_version_exit_0() {
    assert_eq!(run(orysim().arg("--help")).status.code(), Some(0));
    let out = run(orysim().arg("--version"));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn absurd_numbers_are_refused_with_the_limit_named() {
    assert_usage_error(
        &["run", "-c", "99999999999"],
        "at most 100000 virtual users",
    );
    assert_usage_error(&["run", "--rate", "1e9/s"], "--rate");
    assert_usage_error(&["run", "--rate", "1e9/s"], "1000000/s");
    assert_usage_error(
        &["run", "--rate", "10/s", "--max-vus", "999999"],
        "invalid --max-vus 999999",
    );
    assert_usage_error(
        &["run", "--stages", "1s:99999999999"],
        "above 100000 virtual users",
    );
    assert_usage_error(&["run", "--stages", "1s:2000000/s"], "invalid --stages");
    let help = stdout(&run(orysim().args(["run", "--help"])));
    for limit in ["at most 100000", "1000000/s", "1 MiB", "8 MiB"] {
        assert!(help.contains(limit), "--help states {limit:?}");
    }
}

#[test]
fn endless_or_huge_files_are_read_only_up_to_their_cap() {
    let started = std::time::Instant::now();
    assert_usage_error(&["run", "--config", "/dev/zero"], "larger than 1 MiB");
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (8 << 20) + 1]).unwrap();
    assert_usage_error(
        &["scenarios", "validate", big.to_str().unwrap()],
        "larger than 8 MiB",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn a_scenario_file_that_is_not_utf8_gets_the_position_of_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, b"name = \"x\"\n# caf\xE9\n").unwrap();
    let shown = format!("{}:2:6", path.display());
    assert_usage_error(&["scenarios", "validate", path.to_str().unwrap()], &shown);
    let config = dir.path().join("bad-config.toml");
    std::fs::write(&config, b"concurrency = 3 # \xFF\n").unwrap();
    let shown = format!("{}:1:19", config.display());
    assert_usage_error(&["run", "--config", config.to_str().unwrap()], &shown);
}

#[test]
fn messages_name_the_flag_or_key_the_user_gave() {
    assert_usage_error(
        &["run", "--rate", "10/s", "--max-vus", "0"],
        "invalid --max-vus 0",
    );
    assert_usage_error(&["sim", "--error-rate", "1.5"], "invalid --error-rate 1.5");
    assert_usage_error(&["sim", "--latency", "soon"], "--latency");
    assert_usage_error(
        &["sim", "--port-offset", "61200"],
        "invalid --port-offset 61200",
    );
    assert_usage_error(
        &["run", "--iterations", "10", "--warmup", "1s"],
        "--warmup cannot be used with --iterations",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("both.toml");
    std::fs::write(&config, "scope = \"keto\"\nscenario = \"hydra\"\n").unwrap();
    assert_usage_error(
        &["run", "--config", config.to_str().unwrap()],
        "both `scenario` and `scope`",
    );
}

#[test]
fn compiling_a_large_scenario_takes_linear_time() {
    // 40,000 flows (5.9 MB): about a second when linear; the quadratic compiler took minutes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.toml");
    let mut text = String::from("name = \"large\"\n");
    for i in 0..40_000 {
        text.push_str(&format!(
            "[[flow]]\nname = \"f{i}\"\n  [[flow.step]]\n  op = \"keto.check\"\n  namespace = \"documents\"\n  object = \"o{i}\"\n  relation = \"viewer\"\n  subject_id = \"u\"\n"
        ));
    }
    std::fs::write(&path, text).unwrap();
    let started = std::time::Instant::now();
    let out = run(orysim().args(["scenarios", "validate", path.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("40000 flows"), "{}", stdout(&out));
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
}

#[test]
fn a_report_that_is_not_orysims_or_of_an_unknown_schema_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (r#"{"schema_version": 1, "tool": "k6"}"#, "not orysim"),
        (r#"{"schema_version": 9, "tool": "orysim"}"#, "newer than"),
        (r#"{"schema_version": 0, "tool": "orysim"}"#, "schema 0"),
        (r#"{"tool": "orysim"}"#, "no schema_version"),
        (
            r#"{"schema_version": 1, "tool": "orysim"}"#,
            "invalid report",
        ),
        ("[1, 2]", "not a JSON report"),
        ("<html></html>", "not a JSON report"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let input = dir.path().join(format!("in{i}.json"));
        std::fs::write(&input, text).unwrap();
        for output in ["out.html", "out.json"] {
            let output = dir.path().join(output);
            assert_usage_error(
                &[
                    "report",
                    input.to_str().unwrap(),
                    "-o",
                    output.to_str().unwrap(),
                ],
                needle,
            );
            assert!(!output.exists(), "nothing written for {text}");
        }
    }
    assert_usage_error(
        &["report", "in0.json", "-o", "x.html", "--format", "pdf"],
        "invalid value 'pdf'",
    );
}
