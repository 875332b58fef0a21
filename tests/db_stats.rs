//! Database statistics (`orysim::db`) against the real PostgreSQL of the local stack
//! (scripts/ory-stack enables pg_stat_statements there and exports `ORY_STACK_DB_URL`). The
//! real-database tests are ignored by a plain `cargo test`; `scripts/test` runs them with
//! `--include-ignored`. Only loopback addresses are used.

use orysim::db::{summary_lines, DbKind, DbProbe, DbStats, DbTarget, ProbeOptions};
use std::time::{Duration, Instant};

/// The stack's Keto database (`postgres://keto:keto@127.0.0.1:5432/keto?sslmode=disable`).
fn stack_url() -> String {
    std::env::var("ORY_STACK_DB_URL").unwrap_or_else(|_| {
        panic!("ORY_STACK_DB_URL is not set: run scripts/ory-stack up and eval \"$(scripts/ory-stack env)\" (scripts/test does both)")
    })
}

/// The same server and user, another database.
fn url_for_database(db: &str) -> String {
    let url = stack_url();
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let server = &base[..base.rfind('/').expect("URL has a database")];
    format!("{server}/{db}?{query}")
}

fn options(settle_ms: u64) -> ProbeOptions {
    ProbeOptions {
        timeout: Duration::from_secs(5),
        settle: Some(Duration::from_millis(settle_ms)),
        top: 10_000, // keep every statement: the test looks for its own
    }
}

/// A plain driver connection for the test's own statements (not through orysim::db).
async fn session(url: &str) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the stack's PostgreSQL accepts the Keto user");
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, task)
}

fn only(stats: Vec<DbStats>) -> DbStats {
    assert_eq!(stats.len(), 1);
    stats.into_iter().next().unwrap()
}

#[tokio::test]
#[ignore = "needs the real Ory stack: scripts/test"]
async fn statements_run_between_the_snapshots_are_counted_exactly() {
    let target = DbTarget::parse(&format!("keto={}", stack_url())).unwrap();
    let probe = DbProbe::before(vec![target], options(2000)).await;
    assert!(
        probe
            .problems()
            .iter()
            .all(|p| p.contains("statements of other roles are hidden")),
        "{:?}",
        probe.problems()
    );

    // A temporary table gets a new OID every run, so these statements have a queryid no
    // earlier run (or other client) can share.
    let (client, task) = session(&stack_url()).await;
    let table = format!("orysim_db_stats_{}", std::process::id());
    client
        .batch_execute(&format!("CREATE TEMP TABLE {table} (x int8)"))
        .await
        .unwrap();
    for i in 0..37_i64 {
        client
            .execute(&format!("INSERT INTO {table} VALUES ($1)"), &[&i])
            .await
            .unwrap();
    }
    for i in 0..11_i64 {
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE x >= $1"),
                &[&i],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 37 - i);
    }
    client
        .batch_execute("BEGIN; SELECT 1; ROLLBACK")
        .await
        .unwrap();
    // Closing the session makes its backend publish its database counters at exit.
    drop(client);
    task.await.unwrap();

    let stats = only(probe.after().await);
    println!("{}", serde_json::to_string_pretty(&stats).unwrap());
    for line in summary_lines(std::slice::from_ref(&stats), 5, 80) {
        println!("{line}");
    }
    assert_eq!(stats.name, "keto");
    assert_eq!(stats.kind, Some(DbKind::Postgresql));
    assert_eq!(stats.database.as_deref(), Some("keto"));
    assert!(
        !stats.url.contains("keto:keto@"),
        "password shown: {}",
        stats.url
    );
    assert!(
        stats.seconds >= 2.0,
        "settle wait was skipped: {}",
        stats.seconds
    );
    assert!(
        stats
            .warnings
            .iter()
            .all(|w| w.contains("statements of other roles are hidden")),
        "{:?}",
        stats.warnings
    );

    let find = |prefix: &str| {
        stats
            .statements
            .iter()
            .find(|s| s.text.starts_with(prefix) && s.text.contains(&table))
            .unwrap_or_else(|| panic!("no '{prefix} … {table}' among {:#?}", stats.statements))
    };
    let insert = find("INSERT INTO");
    assert_eq!((insert.calls, insert.rows), (37, 37));
    assert_eq!(insert.user.as_deref(), Some("keto"));
    assert!(insert.total_ms > 0.0 && (insert.mean_ms - insert.total_ms / 37.0).abs() < 1e-9);
    let select = find("SELECT count(*)");
    assert_eq!((select.calls, select.rows), (11, 11));
    assert_eq!(select.rows_per_call, 1.0);
    assert!(
        select.text.contains("$1"),
        "normalised text: {}",
        select.text
    );
    let totals = stats.statement_totals.as_ref().unwrap();
    assert!(totals.calls >= 37 + 11 && totals.total_ms >= insert.total_ms + select.total_ms);
    // orysim's own snapshot queries are left out.
    assert!(stats
        .statements
        .iter()
        .all(|s| !s.text.contains("pg_stat_statements") && !s.text.contains("orysim db-stats")));

    let c = stats.counters.as_ref().unwrap();
    assert!(c.commits.unwrap() >= 37 + 11, "{c:?}");
    assert!(c.rollbacks.unwrap() >= 1, "{c:?}");
    assert!(c.blocks_hit.unwrap() > 0, "{c:?}");
    let ratio = c.buffer_hit_ratio.unwrap();
    assert!((0.0..=1.0).contains(&ratio));
}

#[tokio::test]
#[ignore = "needs the real Ory stack: scripts/test"]
async fn the_default_wait_sees_the_counts_of_a_session_left_idle_like_a_pool() {
    let target = DbTarget::parse(&stack_url()).unwrap();
    let probe = DbProbe::before(
        vec![target],
        ProbeOptions {
            settle: None, // PostgreSQL's: long enough for an idle session to publish
            ..options(0)
        },
    )
    .await;
    let (client, task) = session(&stack_url()).await;
    for _ in 0..150 {
        client.execute("SELECT 1", &[]).await.unwrap();
    }
    let stats = only(probe.after().await); // the session stays open and idle meanwhile
    let commits = stats.counters.as_ref().unwrap().commits.unwrap();
    assert!(
        commits >= 150,
        "an idle session's 150 commits are missing: {commits}"
    );
    assert!(stats.seconds >= 11.0, "{}", stats.seconds);
    drop(client);
    task.await.unwrap();
}

#[tokio::test]
#[ignore = "needs the real Ory stack: scripts/test"]
async fn a_database_without_the_extension_gives_the_warning_and_still_its_counters() {
    let url = url_for_database("postgres");
    let (client, task) = session(&url).await;
    let installed = client
        .query_opt(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .unwrap();
    assert!(
        installed.is_none(),
        "this test needs a database without pg_stat_statements: the stack's 'postgres' database has it"
    );
    drop(client);
    task.await.unwrap();

    let probe = DbProbe::before(vec![DbTarget::parse(&url).unwrap()], options(0)).await;
    let stats = only(probe.after().await);
    assert_eq!(stats.kind, Some(DbKind::Postgresql));
    let w = stats.warnings.join("\n");
    assert!(
        w.contains("pg_stat_statements is not installed in database 'postgres'"),
        "{w}"
    );
    assert!(
        w.contains("shared_preload_libraries = 'pg_stat_statements'")
            && w.contains("CREATE EXTENSION pg_stat_statements"),
        "{w}"
    );
    assert!(stats.statement_totals.is_none() && stats.statements.is_empty());
    assert!(stats.counters.as_ref().unwrap().commits.is_some());
    let lines = summary_lines(&[stats], 5, 80);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("  warning: pg_stat_statements is not installed")));
}

#[tokio::test]
#[ignore = "needs the real Ory stack: scripts/test"]
async fn tls_modes_against_the_stacks_postgresql() {
    let (client, task) = session(&stack_url()).await;
    let row = client
        .query_one(
            "SELECT current_setting('ssl'), current_setting('ssl_cert_file')",
            &[],
        )
        .await
        .unwrap();
    let (ssl, cert): (String, String) = (row.get(0), row.get(1));
    assert_eq!(
        ssl, "on",
        "this test needs PostgreSQL with ssl = on (Debian's default)"
    );
    drop(client);
    task.await.unwrap();
    let with_mode = |mode: &str| stack_url().replace("sslmode=disable", mode);
    let timeout = Duration::from_secs(5);

    // require: encrypted, certificate not checked (as libpq does).
    let target = DbTarget::parse(&with_mode("sslmode=require")).unwrap();
    let client = orysim::db::connect::connect(&target, timeout)
        .await
        .unwrap();
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted);

    // verify-ca with the server's own certificate as the root: any host name passes.
    let ca = format!("sslmode=verify-ca&sslrootcert={cert}");
    let target = DbTarget::parse(&with_mode(&ca)).unwrap();
    orysim::db::connect::connect(&target, timeout)
        .await
        .unwrap();

    // verify-full: 127.0.0.1 is not the name in the certificate; without the root, the
    // self-signed certificate is not trusted at all.
    let full = format!("sslmode=verify-full&sslrootcert={cert}");
    for url in [with_mode(&full), with_mode("sslmode=verify-full")] {
        let target = DbTarget::parse(&url).unwrap();
        let e = orysim::db::connect::connect(&target, timeout)
            .await
            .err()
            .unwrap_or_else(|| panic!("{url} must be refused"));
        assert!(e.contains("certificate"), "{e}");
        assert!(!e.contains("keto:keto"), "{e}");
    }
}

#[tokio::test]
async fn an_unreachable_or_silent_database_is_a_warning_within_the_timeout() {
    // A port nobody listens on, and a listener that accepts but never answers.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let targets = vec![
        DbTarget::parse(&format!("closed=postgres://u:hunter2@127.0.0.1:{closed}/d")).unwrap(),
        DbTarget::parse(&format!(
            "silent=postgres://u:hunter2@127.0.0.1:{}/d",
            silent.local_addr().unwrap().port()
        ))
        .unwrap(),
    ];
    let opts = ProbeOptions {
        timeout: Duration::from_millis(700),
        settle: Some(Duration::ZERO),
        top: 5,
    };
    let start = Instant::now();
    let probe = DbProbe::before(targets, opts).await;
    assert_eq!(probe.problems().len(), 2, "{:?}", probe.problems());
    let stats = probe.after().await;
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    for s in &stats {
        assert_eq!(s.kind, None);
        assert!(!s.complete);
        let text = format!("{s:?} {}", serde_json::to_string(s).unwrap());
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert!(
        stats[0].warnings[0]
            .starts_with("before the run: cannot connect to postgres://u:[redacted]@127.0.0.1"),
        "{:?}",
        stats[0].warnings
    );
    assert!(
        stats[1].warnings[0].contains("within 700ms"),
        "{:?}",
        stats[1].warnings
    );
    let lines = summary_lines(&stats, 5, 80);
    assert_eq!(lines[0], "DB closed: no statistics");
}
