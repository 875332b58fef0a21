//! Helpers shared by the integration tests: run the real `orysim` binary with a clean
//! environment (no endpoint variables leaking in from the shell or CI), capture its output.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What a split run reads from the environment; never inherited by a test's processes.
pub const SPLIT_VARS: [&str; 4] = [
    "ORYSIM_SEGMENT",
    "ORYSIM_RUN_ID",
    "ORYSIM_START_AT",
    "JOB_COMPLETION_INDEX",
];

pub const ENDPOINT_VARS: [&str; 7] = [
    "KRATOS_PUBLIC_URL",
    "KRATOS_ADMIN_URL",
    "HYDRA_PUBLIC_URL",
    "HYDRA_ADMIN_URL",
    "KETO_READ_REMOTE",
    "KETO_WRITE_REMOTE",
    "ORYSIM_ADMIN_TOKEN",
];

/// `orysim` with no endpoint configured in its environment, so it uses the built-in simulator
/// unless the test passes flags.
pub fn orysim() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orysim"));
    for var in ENDPOINT_VARS.into_iter().chain(SPLIT_VARS) {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd.stdin(Stdio::null());
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("orysim binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("report exists");
    serde_json::from_str(&text).expect("report is JSON")
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `orysim` pointed at the real Ory stack whose URLs are in the environment (as
/// `scripts/ory-stack env` exports them). Panics, never skips, when they are missing: these
/// tests are `#[ignore]`d and run on purpose by `scripts/test`.
pub fn orysim_real() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orysim"));
    for var in &ENDPOINT_VARS[..6] {
        let value = std::env::var(var).unwrap_or_else(|_| {
            panic!("{var} is not set: start the real stack with scripts/ory-stack up and eval \"$(scripts/ory-stack env)\" (scripts/test does both)")
        });
        cmd.env(var, value);
    }
    cmd.env_remove("ORYSIM_ADMIN_TOKEN");
    for var in SPLIT_VARS {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd.stdin(Stdio::null());
    cmd
}

/// The real stack's URLs, as exported by `scripts/ory-stack env`.
pub fn real_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run scripts/ory-stack up"))
}

/// A service's entry in a JSON report.
pub fn service<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["services"]
        .as_array()
        .expect("services array")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name} in the report"))
}

/// An operation's entry in a JSON report, if it ran.
pub fn operation<'a>(report: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    report["operations"]
        .as_array()
        .expect("operations array")
        .iter()
        .find(|o| o["name"] == name)
}

/// A verdict count from a service or operation entry (0 when absent).
pub fn outcome(v: &serde_json::Value, key: &str) -> u64 {
    v["outcomes"][key].as_u64().unwrap_or(0)
}

/// The built-in simulator on its own runtime (one worker, apart from the tests' threads), with
/// `fault` injected into Keto.
pub fn sim_with_keto(
    fault: orysim::sim::FaultSpec,
) -> (tokio::runtime::Runtime, orysim::sim::SimHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = orysim::sim::SimConfig::ephemeral();
    cfg.keto = fault;
    let handle = rt.block_on(orysim::sim::start(cfg)).unwrap();
    (rt, handle)
}

/// Runs `cmd` to its end, killing it (and failing) after `limit`: the old failure modes hang.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, limit)
}

/// Waits for a child started with piped output, killing it (and failing) after `limit`.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let until = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > until {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "orysim still running after {limit:?}\nstdout: {}\nstderr: {}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port offset for `orysim sim` below the ephemeral range (so no client connection can take
/// a port while the simulator is down) whose six ports are free now.
pub fn free_sim_offset() -> u16 {
    // Tests of one binary run side by side: each call starts elsewhere.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for i in 0..200u32 {
        let offset = 10_000 + ((std::process::id() + (call * 61 + i) * 7919) % 15_000) as u16;
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if [4433, 4434, 4444, 4445, 4466, 4467]
            .iter()
            .all(|&p| free(p + offset))
        {
            return offset;
        }
    }
    panic!("no free ports for the simulator");
}

/// `orysim sim` on `offset`, once it serves.
pub fn start_sim(offset: u16) -> Child {
    use std::io::BufRead;
    let mut child = orysim()
        .args(["sim", "--port-offset", &offset.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let started = std::io::BufReader::new(out)
        .lines()
        .any(|line| line.is_ok_and(|l| l.contains("KETO_WRITE_REMOTE")));
    if !started {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the simulator did not start");
    }
    child
}

/// The endpoint variables pointing at `orysim sim --port-offset offset`.
pub fn sim_env(offset: u16) -> Vec<(&'static str, String)> {
    let url = |port: u16| format!("http://127.0.0.1:{}", port + offset);
    vec![
        ("KRATOS_PUBLIC_URL", url(4433)),
        ("KRATOS_ADMIN_URL", url(4434)),
        ("HYDRA_PUBLIC_URL", url(4444)),
        ("HYDRA_ADMIN_URL", url(4445)),
        ("KETO_READ_REMOTE", url(4466)),
        ("KETO_WRITE_REMOTE", url(4467)),
    ]
}
