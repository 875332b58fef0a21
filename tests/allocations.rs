//! The Keto check on the lean path, once warm, does not allocate. A global allocator counts the
//! allocations of the thread that makes the calls (a current-thread runtime); the server
//! answering them is a plain loopback one on threads of its own, not counted.

use orysim::ground::{Endpoint, Endpoints, Verdict};
use orysim::ory::{ClientOptions, OryClients, SubjectRef, TupleRef};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The allocations one check makes on the lean path once warm: none. The target is built in a
/// buffer reused from call to call, the request is encoded into the connection's own buffer,
/// the answer's head is parsed in place, and the body is a share of the connection's read
/// buffer, not a copy.
const MAX_PER_CHECK: f64 = 0.0;
const WARM_UP: usize = 200;
const COUNTED: usize = 2_000;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on unchanged to the system allocator; counting only reads a
// const-initialised thread-local and bumps an atomic, neither of which allocates.
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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_allowed(stream));
        }
    });
    format!("http://{addr}")
}

fn answer_allowed(mut stream: TcpStream) {
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
        content-length: 16\r\n\r\n{\"allowed\":true}";
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
            if stream.write_all(ANSWER).is_err() {
                return;
            }
        }
    }
}

#[test]
fn a_warm_keto_check_on_the_lean_path_does_not_allocate() {
    let base = url::Url::parse(&allowed_server()).unwrap();
    let mut endpoints = Endpoints::default();
    endpoints[Endpoint::KetoRead] = Some(base.clone());
    endpoints[Endpoint::KetoWrite] = Some(base);
    let opts = ClientOptions {
        timeout: Duration::from_secs(10),
        max_connections_per_host: 1,
        // Always the lean path, whatever the environment says about proxies.
        proxy_from_env: false,
        ..ClientOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let per_check = runtime.block_on(async {
        let clients = OryClients::builder(&endpoints, &opts).build().unwrap();
        assert_eq!(clients.is_lean(Endpoint::KetoRead), Some(true));
        let keto = clients.keto.unwrap();
        let tuple = TupleRef {
            namespace: "documents",
            object: "doc-1",
            relation: "viewer",
            subject: SubjectRef::Id("user:alice"),
        };
        for _ in 0..WARM_UP {
            let call = keto.check_ref(&tuple, None).await;
            assert!(call.is_ok(), "{:?}", call.outcome);
        }
        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        let mut allowed = 0;
        for _ in 0..COUNTED {
            let call = keto.check_ref(&tuple, None).await;
            allowed += usize::from(call.outcome == orysim::ground::Outcome::Ok(Verdict::Allowed));
        }
        COUNTING.with(|c| c.set(false));
        assert_eq!(allowed, COUNTED, "every check answered allowed");
        ALLOCATIONS.load(Ordering::Relaxed) as f64 / COUNTED as f64
    });
    eprintln!("{per_check:.2} allocations per Keto check (lean path, warm)");
    assert!(
        per_check <= MAX_PER_CHECK,
        "{per_check:.2} allocations per check, more than {MAX_PER_CHECK}"
    );
}
