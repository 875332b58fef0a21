//! Accuracy against ground truth, using the simulator's fault injection: a fixed latency must be
//! reported as such, and a server stall must show in the coordinated-omission-corrected
//! latency of the open model, not in the uncorrected one, and be hidden by the closed model.

mod common;
use common::*;
use orysim::sim::{FaultSpec, SimConfig, Stall};
use serde_json::Value;
use std::time::Duration;

/// The two tests measure latency: run them one at a time so neither loads the CPU under the
/// other's measurement.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `orysim run --scope keto <args>` against `sim`'s Keto and returns the report.
fn run_keto(urls: &orysim::sim::SimUrls, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = run(orysim()
        .args([
            "run",
            "--scope",
            "keto",
            "--keto-read",
            &urls.keto_read,
            "--keto-write",
            &urls.keto_write,
        ])
        .args(args)
        .arg("--report")
        .arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    read_json(&path)
}

fn sim_with_keto(fault: FaultSpec) -> (tokio::runtime::Runtime, orysim::sim::SimHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = SimConfig::ephemeral();
    cfg.keto = fault;
    let handle = rt.block_on(orysim::sim::start(cfg)).unwrap();
    (rt, handle)
}

#[test]
fn a_fixed_20ms_latency_is_reported_within_1ms_at_p50() {
    let _serial = serial();
    let (rt, sim) = sim_with_keto(FaultSpec {
        latency: Duration::from_millis(20),
        ..FaultSpec::default()
    });
    let report = run_keto(&sim.urls, &["-c", "8", "-d", "3s", "--read-ratio", "20"]);
    let p50 = operation(&report, "keto.check").expect("keto.check ran")["latency_us"]["p50"]
        .as_u64()
        .unwrap();
    assert!(
        (19_000..=21_000).contains(&p50),
        "injected 20 ms, reported p50 {p50} µs"
    );
    rt.block_on(sim.shutdown());
}

#[test]
fn a_stall_shows_in_corrected_latency_only_and_the_closed_model_hides_it() {
    let _serial = serial();
    // 1 s stall in every 10 s; the simulator stalls during the last second of each period,
    // so an 11 s run from the simulator's start contains exactly one stall.
    let stall = FaultSpec {
        stall: Some(Stall {
            every: Duration::from_secs(10),
            length: Duration::from_secs(1),
        }),
        ..FaultSpec::default()
    };
    let (rt_open, sim_open) = sim_with_keto(stall.clone());
    let open = run_keto(
        &sim_open.urls,
        &[
            "--rate",
            "200/s",
            "--max-vus",
            "10",
            "-d",
            "11s",
            "--read-ratio",
            "50",
        ],
    );
    rt_open.block_on(sim_open.shutdown());

    let op = operation(&open, "keto.check").expect("keto.check ran");
    let corrected_p99 = op["latency_us"]["p99"].as_u64().unwrap();
    let uncorrected_p99 = op["latency_uncorrected_us"]["p99"].as_u64().unwrap();
    assert!(
        corrected_p99 >= 500_000,
        "corrected p99 {corrected_p99} µs must reflect the 1 s stall"
    );
    assert!(
        uncorrected_p99 < 100_000,
        "uncorrected p99 {uncorrected_p99} µs should miss the stall (only in-flight calls see it)"
    );
    assert_eq!(open["generator"]["dropped"], 0);
    assert!(open["generator"]["delayed"].as_u64().unwrap() > 0);

    let (rt_closed, sim_closed) = sim_with_keto(stall);
    let closed = run_keto(
        &sim_closed.urls,
        &["-c", "10", "-d", "11s", "--read-ratio", "50"],
    );
    rt_closed.block_on(sim_closed.shutdown());
    let op = operation(&closed, "keto.check").expect("keto.check ran");
    let closed_p99 = op["latency_us"]["p99"].as_u64().unwrap();
    let closed_max = op["latency_us"]["max"].as_u64().unwrap();
    assert!(
        closed_max >= 500_000,
        "the stall happened: max {closed_max} µs"
    );
    assert!(
        closed_p99 < 100_000,
        "the closed model hides the stall at p99 ({closed_p99} µs): coordinated omission"
    );
}
