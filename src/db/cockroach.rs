//! CockroachDB: statement statistics from `crdb_internal.statement_statistics` (all nodes,
//! in-memory and flushed rows merged, so no flush lag), transaction restarts and SQL
//! transaction counters from `crdb_internal.node_metrics` (the gateway node), and contention
//! events from `crdb_internal.transaction_contention_events`.
//!
//! Written from CockroachDB's documented schema; no CockroachDB server could be run while
//! writing it (see docs/db-stats.md for what was and was not verified).

use super::connect::{error_text, APPLICATION_NAME};
use super::snapshot::{Since, Snapshot, StatementCounters, MARKER};
use super::stats::DbKind;
use std::collections::BTreeMap;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// The node_metrics counters kept besides every `txn.restarts.<reason>`.
/// `txn.commits`/`txn.aborts` count every KV transaction, implicit ones included (the SQL
/// `sql.txn.commit.count` counts only explicit COMMIT statements).
pub const METRICS: [&str; 5] = [
    "txn.commits",
    "txn.aborts",
    "sql.txn.rollback.count",
    "sql.distsql.contended_queries.count",
    "sql.failure.count",
];

/// The key under which the contention event count is stored with the counters.
pub const CONTENTION_EVENTS: &str = "contention_events";

/// `version` is the answer to `SELECT version()`.
pub async fn read(
    client: &Client,
    version: &str,
    before: Option<&Snapshot>,
) -> Result<Snapshot, String> {
    let row = client
        .query_one(
            &format!("{MARKER} SELECT current_database()::TEXT, current_user::TEXT, date_trunc('hour', now())::TEXT, now()::TEXT"),
            &[],
        )
        .await
        .map_err(|e| format!("reading the session settings failed: {}", error_text(&e)))?;
    let (database, user): (String, String) = (row.get(0), row.get(1));
    let mut snap = Snapshot::new(DbKind::Cockroachdb, version_name(version), database);
    // The second snapshot reads from the first one's bucket, so both sum the same buckets.
    let since = match before.and_then(|b| b.since.clone()) {
        Some(s) => s,
        None => Since {
            bucket: row.get(2),
            at: row.get(3),
        },
    };
    read_statements(client, &mut snap, &since, &user).await;
    read_metrics(client, &mut snap, &user).await;
    if before.is_some() {
        read_contention(client, &mut snap, &since, &user).await;
    } else if let Some(c) = snap.counters.as_mut() {
        c.insert(CONTENTION_EVENTS.into(), 0); // by definition: none since this moment
    }
    snap.since = Some(since);
    Ok(snap)
}

async fn read_statements(client: &Client, snap: &mut Snapshot, since: &Since, user: &str) {
    // Sums per (fingerprint, application) over the hourly buckets since the first snapshot:
    // Σcnt, Σcnt·mean service latency (s), Σcnt·mean rows, Σ(cnt − first attempts) = retries.
    let sql = format!(
        "{MARKER} SELECT encode(fingerprint_id, 'hex'), app_name, max(metadata->>'query'), \
         sum((statistics->'statistics'->>'cnt')::INT8)::INT8, \
         sum((statistics->'statistics'->>'cnt')::FLOAT8 * (statistics->'statistics'->'svcLat'->>'mean')::FLOAT8)::FLOAT8, \
         sum((statistics->'statistics'->>'cnt')::FLOAT8 * (statistics->'statistics'->'numRows'->>'mean')::FLOAT8)::FLOAT8, \
         sum((statistics->'statistics'->>'cnt')::INT8 - COALESCE((statistics->'statistics'->>'firstAttemptCnt')::INT8, (statistics->'statistics'->>'cnt')::INT8))::INT8 \
         FROM crdb_internal.statement_statistics \
         WHERE aggregated_ts >= $1::TEXT::TIMESTAMPTZ \
         AND app_name NOT LIKE '$ internal%' AND app_name != '{APPLICATION_NAME}' \
         AND metadata->>'db' = current_database() \
         GROUP BY fingerprint_id, app_name"
    );
    let rows = match client.query(&sql, &[&since.bucket]).await {
        Ok(rows) => rows,
        Err(e) => {
            snap.warnings.push(failure(
                &e,
                "crdb_internal.statement_statistics",
                &format!("GRANT SYSTEM VIEWACTIVITY TO {user};"),
            ));
            return;
        }
    };
    let mut statements = BTreeMap::new();
    for row in rows {
        let (id, app): (String, String) = (row.get(0), row.get(1));
        let c = StatementCounters {
            text: row.get(2),
            calls: row.get::<_, Option<i64>>(3).unwrap_or(0),
            total_ms: row.get::<_, Option<f64>>(4).unwrap_or(0.0) * 1000.0,
            rows: row.get::<_, Option<f64>>(5).unwrap_or(0.0),
            retries: Some(row.get::<_, Option<i64>>(6).unwrap_or(0)),
            user: None,
            app: Some(app.clone()),
            id: id.clone(),
        };
        statements.insert(format!("{id}/{app}"), c);
    }
    snap.statements = Some(statements);
}

async fn read_metrics(client: &Client, snap: &mut Snapshot, user: &str) {
    let sql = format!(
        "{MARKER} SELECT name, value::FLOAT8 FROM crdb_internal.node_metrics \
         WHERE name = ANY($1) OR name LIKE 'txn.restarts.%'"
    );
    let names: Vec<&str> = METRICS.to_vec();
    match client.query(&sql, &[&names]).await {
        Ok(rows) => {
            let counters = rows
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, f64>(1).round() as i64))
                .collect();
            snap.counters = Some(counters);
        }
        Err(e) => snap.warnings.push(failure(
            &e,
            "crdb_internal.node_metrics",
            &format!("GRANT SYSTEM VIEWCLUSTERMETADATA TO {user};"),
        )),
    }
}

async fn read_contention(client: &Client, snap: &mut Snapshot, since: &Since, user: &str) {
    let sql = format!(
        "{MARKER} SELECT count(*)::INT8 FROM crdb_internal.transaction_contention_events \
         WHERE collection_ts >= $1::TEXT::TIMESTAMPTZ"
    );
    match client.query_one(&sql, &[&since.at]).await {
        Ok(row) => {
            if let Some(c) = snap.counters.as_mut() {
                c.insert(CONTENTION_EVENTS.into(), row.get(0));
            }
        }
        Err(e) => snap.warnings.push(failure(
            &e,
            "crdb_internal.transaction_contention_events",
            &format!("GRANT SYSTEM VIEWACTIVITY TO {user};"),
        )),
    }
}

/// `CockroachDB CCL v23.1.11 (x86_64-…)` → `v23.1.11`.
pub fn version_name(version: &str) -> String {
    version
        .split_whitespace()
        .find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("unknown")
        .to_string()
}

fn failure(e: &tokio_postgres::Error, what: &str, grant: &str) -> String {
    match e.code() {
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            format!("no permission to read {what}: {grant}")
        }
        _ => format!("cannot read {what}: {}", error_text(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_taken_from_the_banner() {
        let banner =
            "CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, built 2023/09/27 01:53:43, go1.19.10)";
        assert_eq!(super::version_name(banner), "v23.1.11");
        assert_eq!(super::version_name("CockroachDB"), "unknown");
    }
}
