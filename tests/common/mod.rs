//! Helpers shared by the integration tests: run the real `orysim` binary with a clean
//! environment (no endpoint variables leaking in from the shell or CI), capture its output.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

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
    for var in ENDPOINT_VARS {
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
