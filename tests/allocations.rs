//! The Keto check on the lean path, once warm, does not allocate. A global allocator counts the
//! allocations of the thread that makes the calls (a current-thread runtime); the server
//! answering them is a plain loopback one on threads of its own, not counted.

use orysim::ground::{Endpoint, Endpoints, Verdict};
use orysim::ory::{ClientOptions, OryClients, SubjectRef, TupleRef};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The allocations one check makes on the lean path once warm: none. The target is built in a
/// buffer reused from call to call, the request is encoded into the connection's own buffer,
/// the answer's head is parsed in place, and the body is a share of the connection's read
/// buffer, not a copy.
const MAX_PER_CHECK: f64 = 0.0;
const WARM_UP: usize = 200;
const COUNTED: usize = 2_000;

struct Counting;

// Per thread, so that tests running side by side do not count each other's allocations.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

/// Counts this thread's allocations from here on.
fn start_counting() {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
}

/// Stops counting and returns how many allocations this thread made since `start_counting`.
fn stop_counting() -> u64 {
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is passed on unchanged to the system allocator; counting only reads and
// writes const-initialised thread-locals, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A keep-alive HTTP/1.1 server on loopback answering every request with `{"allowed":true}`.
/// Each connection's thread ends when the client closes it.
fn allowed_server() -> String {
    check_server(true)
}

/// The same server answering every check with `{"allowed":false}`: what the benchmark
/// scenario expects.
fn denied_server() -> String {
    check_server(false)
}

fn check_server(allowed: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream, allowed));
        }
    });
    format!("http://{addr}")
}

fn answer(mut stream: TcpStream, allowed: bool) {
    const ALLOWED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
        content-length: 16\r\n\r\n{\"allowed\":true}";
    const DENIED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
        content-length: 17\r\n\r\n{\"allowed\":false}";
    let answer = if allowed { ALLOWED } else { DENIED };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
        // Requests without a body: one answer per complete head.
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            if stream.write_all(answer).is_err() {
                return;
            }
        }
    }
}

/// Both Keto endpoints at `base`.
fn keto_endpoints(base: &str) -> Endpoints {
    let base = url::Url::parse(base).unwrap();
    let mut endpoints = Endpoints::default();
    endpoints[Endpoint::KetoRead] = Some(base.clone());
    endpoints[Endpoint::KetoWrite] = Some(base);
    endpoints
}

/// The scheduler `orysim run` uses on one core: everything runs on this thread, so every
/// allocation of the calls is counted.
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const ALICE_VIEWS_DOC_1: TupleRef<'static> = TupleRef {
    namespace: "documents",
    object: "doc-1",
    relation: "viewer",
    subject: SubjectRef::Id("user:alice"),
};

#[test]
fn a_warm_keto_check_on_the_lean_path_does_not_allocate() {
    let endpoints = keto_endpoints(&allowed_server());
    let opts = ClientOptions {
        timeout: Duration::from_secs(10),
        max_connections_per_host: 1,
        // Always the lean path, whatever the environment says about proxies.
        proxy_from_env: false,
        ..ClientOptions::default()
    };
    let runtime = current_thread_runtime();
    let per_check = runtime.block_on(async {
        let clients = OryClients::builder(&endpoints, &opts).build().unwrap();
        assert_eq!(clients.is_lean(Endpoint::KetoRead), Some(true));
        let keto = clients.keto.unwrap();
        let tuple = ALICE_VIEWS_DOC_1;
        for _ in 0..WARM_UP {
            let call = keto.check_ref(&tuple, None).await;
            assert!(call.is_ok(), "{:?}", call.outcome);
        }
        start_counting();
        let mut allowed = 0;
        for _ in 0..COUNTED {
            let call = keto.check_ref(&tuple, None).await;
            allowed += usize::from(call.outcome == orysim::ground::Outcome::Ok(Verdict::Allowed));
        }
        let allocations = stop_counting();
        assert_eq!(allowed, COUNTED, "every check answered allowed");
        allocations as f64 / COUNTED as f64
    });
    eprintln!("{per_check:.2} allocations per Keto check (lean path, warm)");
    assert!(
        per_check <= MAX_PER_CHECK,
        "{per_check:.2} allocations per check, more than {MAX_PER_CHECK}"
    );
}

/// Allocations of this thread while `orysim run ARGS --iterations N` runs on a current-thread
/// runtime (the scheduler `orysim run` uses on one core, so every virtual user, the
/// recorder's handle and the engine run here and are counted).
fn allocations_of_a_run(runtime: &tokio::runtime::Runtime, args: &[&str], iterations: u64) -> u64 {
    let iterations = iterations.to_string();
    let mut argv = vec![
        "orysim",
        "run",
        "--no-progress",
        "--no-report",
        "--interval",
        "0",
    ];
    argv.extend_from_slice(args);
    argv.extend(["--iterations", &iterations]);
    let cli = <orysim::cli::Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let orysim::cli::Command::Run(args) = cli.command else {
        unreachable!("a run command")
    };
    runtime.block_on(async {
        start_counting();
        let code = orysim::commands::run(*args).await;
        let allocations = stop_counting();
        assert_eq!(code, 0, "the run succeeded");
        allocations
    })
}

/// What each further iteration adds to a run's allocations: a run's set-up and summary
/// allocate, so two runs that differ only in their iteration count are compared.
fn allocations_per_iteration(args: &[&str]) -> f64 {
    let runtime = current_thread_runtime();
    // The first run warms what lives for the process (the TLS roots, lazy statics).
    allocations_of_a_run(&runtime, args, 500);
    let short = allocations_of_a_run(&runtime, args, 1_000);
    let long = allocations_of_a_run(&runtime, args, 6_000);
    (long as f64 - short as f64) / 5_000.0
}

/// The whole engine, not only the client: the virtual users' loop, the scenario's step runner,
/// the recorder and (open model) the arrival scheduler, running the generator benchmark's
/// Keto check against a loopback server.
fn keto_check_allocations_per_iteration(model: &[&str]) -> f64 {
    let base = denied_server();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench-keto-check.toml");
    let mut args = vec![
        "--scenario",
        scenario,
        "--keto-read",
        &base,
        "--keto-write",
        &base,
    ];
    args.extend_from_slice(model);
    allocations_per_iteration(&args)
}

#[test]
fn a_closed_model_run_does_not_allocate_per_iteration() {
    let per_iteration =
        keto_check_allocations_per_iteration(&["--concurrency", "4", "--duration", "60s"]);
    eprintln!("{per_iteration:.3} allocations per iteration (closed model)");
    assert!(
        per_iteration < 0.05,
        "{per_iteration:.3} allocations per iteration of the whole engine"
    );
}

#[test]
fn an_open_model_run_does_not_allocate_per_iteration() {
    let per_iteration = keto_check_allocations_per_iteration(&[
        "--rate",
        "5000/s",
        "--max-vus",
        "8",
        "--duration",
        "60s",
    ]);
    eprintln!("{per_iteration:.3} allocations per iteration (open model)");
    assert!(
        per_iteration < 0.05,
        "{per_iteration:.3} allocations per iteration of the whole engine"
    );
}

#[test]
fn a_closed_model_run_with_stages_does_not_allocate_per_iteration() {
    // Users park between iterations while the stage target is below them, so their iterations
    // run in boxes, as in the open model.
    let per_iteration = keto_check_allocations_per_iteration(&["--stages", "1s:4,60s:4"]);
    eprintln!("{per_iteration:.3} allocations per iteration (closed model, stages)");
    assert!(
        per_iteration < 0.05,
        "{per_iteration:.3} allocations per iteration of the whole engine"
    );
}

/// The built-in simulator on a runtime of its own, on threads of its own (not counted).
fn simulator_urls() -> Vec<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let sim = orysim::sim::start(orysim::sim::SimConfig::ephemeral())
                .await
                .unwrap();
            let urls: Vec<String> = orysim::ground::Endpoint::ALL
                .iter()
                .map(|&e| format!("{}={}", e.flag(), sim.urls[e]))
                .collect();
            tx.send(urls).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

/// Allocations per iteration of each built-in scenario against the simulator, as measured when
/// this test was written, with about 25% of room: a change that makes the engine or a client
/// allocate more per call fails here. What is left is named beside each: the values drawn from
/// a pool (one `Arc<str>` per field), the session token's header value, serde_json's scratch
/// stack when an answer has nested objects to skip, and the bodies and ids of writes.
const SCENARIO_ALLOCATIONS: [(&str, f64); 6] = [
    // registration (bodies, ids), login, whoami's token header, identity look-ups
    ("kratos", 10.0),
    // client_credentials grants, introspection's form body, revocation
    ("hydra", 4.0),
    // tuple writes; checks and expands of drawn tuples (expand decodes a tree)
    ("keto", 4.0),
    // the authorization code flow: forms, cookies, redirects, PKCE, JSON of every answer
    ("oauth2", 520.0),
    // ten tuples rendered, encoded and their ten verdicts decoded per call
    ("keto-batch", 85.0),
    // one writer per service, readers of fresh entities
    ("seed-parity", 21.0),
];

#[test]
fn built_in_scenarios_allocate_no_more_per_iteration_than_measured() {
    let urls = simulator_urls();
    for (scenario, most) in SCENARIO_ALLOCATIONS {
        let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
        args.extend([
            "--scenario",
            scenario,
            "--concurrency",
            "4",
            "--duration",
            "60s",
        ]);
        let per_iteration = allocations_per_iteration(&args);
        eprintln!("{scenario}: {per_iteration:.2} allocations per iteration (at most {most})");
        assert!(
            per_iteration <= most,
            "{scenario}: {per_iteration:.2} allocations per iteration, more than {most}"
        );
    }
}

/// A call's future is moved (copied byte by byte) several times on its way into the virtual
/// user's task, so its size is paid on every request. The Keto check's was 8.8 KiB while a
/// TLS handshake's state sat inline in it and two futures held what they awaited twice.
#[test]
fn a_keto_check_s_future_stays_small() {
    let endpoints = keto_endpoints("http://127.0.0.1:9");
    let opts = ClientOptions {
        proxy_from_env: false,
        ..ClientOptions::default()
    };
    let runtime = current_thread_runtime();
    runtime.block_on(async {
        let clients = OryClients::builder(&endpoints, &opts).build().unwrap();
        let keto = clients.keto.unwrap();
        let tuple = ALICE_VIEWS_DOC_1;
        let check = keto.check_ref(&tuple, None);
        let size = std::mem::size_of_val(&check);
        eprintln!("a Keto check's future: {size} bytes");
        assert!(size <= 2048, "a Keto check's future is {size} bytes");
    });
}
