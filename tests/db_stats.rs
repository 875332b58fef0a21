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
    // self-signed certificate is not trusted at all, by verify-ca either.
    let full = format!("sslmode=verify-full&sslrootcert={cert}");
    for url in [
        with_mode(&full),
        with_mode("sslmode=verify-full"),
        with_mode("sslmode=verify-ca"),
    ] {
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

/// CockroachDB cannot run here. Its reader's SQL is plain enough to run on PostgreSQL too, so
/// it runs against a stand-in `crdb_internal` with the documented columns and JSON layout,
/// inside a transaction that is rolled back: this checks the SQL, the filters (internal and
/// orysim's own applications, other databases, older buckets) and the count-weighted sums. It
/// cannot check that CockroachDB itself accepts the SQL or fills the columns this way.
#[tokio::test]
#[ignore = "needs the real Ory stack: scripts/test"]
async fn cockroach_sql_on_a_stand_in_of_its_documented_schema() {
    let (client, task) = session(&stack_url()).await;
    client
        .batch_execute(
            r#"BEGIN;
            CREATE SCHEMA crdb_internal;
            CREATE TABLE crdb_internal.statement_statistics (aggregated_ts timestamptz,
              fingerprint_id bytea, transaction_fingerprint_id bytea, plan_hash bytea,
              app_name text, metadata jsonb, statistics jsonb, aggregation_interval interval);
            CREATE TABLE crdb_internal.node_metrics (store_id int8, name text, value float8);
            CREATE TABLE crdb_internal.transaction_contention_events (collection_ts timestamptz,
              contention_duration interval);
            INSERT INTO crdb_internal.statement_statistics
              (aggregated_ts, fingerprint_id, transaction_fingerprint_id, app_name, metadata, statistics) VALUES
              (date_trunc('hour', now()), '\x0102030405060708', '\xaa', 'ory/keto',
               '{"query": "SELECT * FROM keto_relation_tuples WHERE nid = $1", "db": "keto"}',
               '{"statistics": {"cnt": 10, "firstAttemptCnt": 9, "svcLat": {"mean": 0.002, "sqDiff": 0}, "numRows": {"mean": 1, "sqDiff": 0}}}'),
              (date_trunc('hour', now()), '\x09', '\xaa', '$ internal-job',
               '{"query": "internal", "db": "keto"}', '{"statistics": {"cnt": 99, "firstAttemptCnt": 99, "svcLat": {"mean": 1}, "numRows": {"mean": 1}}}'),
              (date_trunc('hour', now()), '\x0a', '\xaa', 'orysim-db-stats',
               '{"query": "own", "db": "keto"}', '{"statistics": {"cnt": 99, "firstAttemptCnt": 99, "svcLat": {"mean": 1}, "numRows": {"mean": 1}}}'),
              (date_trunc('hour', now()), '\x0c', '\xaa', 'ory/kratos',
               '{"query": "other database", "db": "kratos"}', '{"statistics": {"cnt": 99, "firstAttemptCnt": 99, "svcLat": {"mean": 1}, "numRows": {"mean": 1}}}');
            INSERT INTO crdb_internal.node_metrics (name, value) VALUES
              ('txn.commits', 100), ('txn.aborts', 3), ('sql.txn.rollback.count', 1),
              ('sql.distsql.contended_queries.count', 0), ('sql.failure.count', 0),
              ('txn.restarts.writetooold', 5), ('txn.restarts.serializable', 1),
              ('txn.restarts-p99', 4), ('sql.conns', 7);"#,
        )
        .await
        .unwrap();
    let banner =
        "CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, built 2023/09/27 01:53:43, go1.19.10)";
    let before = orysim::db::cockroach::read(&client, banner, None)
        .await
        .unwrap();
    assert!(before.warnings.is_empty(), "{:?}", before.warnings);
    client
        .batch_execute(
            r#"INSERT INTO crdb_internal.statement_statistics
              (aggregated_ts, fingerprint_id, transaction_fingerprint_id, app_name, metadata, statistics) VALUES
              (date_trunc('hour', now()), '\x0102030405060708', '\xbb', 'ory/keto',
               '{"query": "SELECT * FROM keto_relation_tuples WHERE nid = $1", "db": "keto"}',
               '{"statistics": {"cnt": 5, "firstAttemptCnt": 4, "svcLat": {"mean": 0.004, "sqDiff": 0}, "numRows": {"mean": 2, "sqDiff": 0}}}'),
              (date_trunc('hour', now()), '\x0b0b0b0b0b0b0b0b', '\xbb', 'ory/keto',
               '{"query": "INSERT INTO keto_relation_tuples VALUES ($1, $2)", "db": "keto"}',
               '{"statistics": {"cnt": 3, "firstAttemptCnt": 3, "svcLat": {"mean": 0.010, "sqDiff": 0}, "numRows": {"mean": 0, "sqDiff": 0}}}'),
              (date_trunc('hour', now()) - interval '2 hours', '\x0d', '\xaa', 'ory/keto',
               '{"query": "an older bucket", "db": "keto"}', '{"statistics": {"cnt": 99, "firstAttemptCnt": 99, "svcLat": {"mean": 1}, "numRows": {"mean": 1}}}');
            UPDATE crdb_internal.node_metrics SET value = value + 40 WHERE name = 'txn.commits';
            UPDATE crdb_internal.node_metrics SET value = value + 2 WHERE name = 'txn.restarts.writetooold';
            INSERT INTO crdb_internal.transaction_contention_events VALUES
              (now(), '1 ms'), (now(), '2 ms'), (now() - interval '1 hour', '1 ms');"#,
        )
        .await
        .unwrap();
    let after = orysim::db::cockroach::read(&client, banner, Some(&before))
        .await
        .unwrap();
    client.batch_execute("ROLLBACK").await.unwrap();
    drop(client);
    task.await.unwrap();

    let stats = orysim::db::diff::diff("crdb", "postgres://root@h/keto", &before, &after, 10);
    println!("{}", serde_json::to_string_pretty(&stats).unwrap());
    assert_eq!(stats.kind, Some(DbKind::Cockroachdb));
    assert_eq!(stats.server_version.as_deref(), Some("v23.1.11"));
    assert!(
        stats.complete && stats.warnings.is_empty(),
        "{:?}",
        stats.warnings
    );
    let totals = stats.statement_totals.as_ref().unwrap();
    assert_eq!((totals.statements, totals.calls), (2, 8));
    let (insert, select) = (&stats.statements[0], &stats.statements[1]);
    assert_eq!(insert.id, "0b0b0b0b0b0b0b0b");
    assert_eq!(insert.app.as_deref(), Some("ory/keto"));
    assert_eq!((insert.calls, insert.rows, insert.retries), (3, 0, Some(0)));
    assert!((insert.total_ms - 30.0).abs() < 1e-9, "{}", insert.total_ms);
    assert_eq!(
        select.text,
        "SELECT * FROM keto_relation_tuples WHERE nid = $1"
    );
    // Only the new row's 5 executions: 5 × 4 ms, 10 rows, one retry.
    assert_eq!(
        (select.calls, select.rows, select.retries),
        (5, 10, Some(1))
    );
    assert!((select.total_ms - 20.0).abs() < 1e-9, "{}", select.total_ms);
    let c = stats.counters.as_ref().unwrap();
    assert_eq!(
        (c.commits, c.aborts, c.rollbacks),
        (Some(40), Some(0), Some(0))
    );
    assert_eq!(c.restarts, Some(2));
    assert_eq!(c.restarts_by_reason.len(), 2, "{:?}", c.restarts_by_reason);
    assert_eq!(c.contention_events, Some(2));
    assert_eq!(c.buffer_hit_ratio, None);
}
