//! PostgreSQL: `pg_stat_statements` (per normalised statement) and `pg_stat_database`, both for
//! the database the URL names. Every value is cast in SQL to a type the driver reads directly.

use super::connect::error_text;
use super::snapshot::{quote_ident, Snapshot, StatementCounters, MARKER};
use super::stats::DbKind;
use std::collections::BTreeMap;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// `150018` → `15.18`, `90624` → `9.6.24` (server_version_num's layout changed with 10).
pub fn version_name(num: i32) -> String {
    if num >= 100000 {
        format!("{}.{}", num / 10000, num % 10000)
    } else {
        format!("{}.{}.{}", num / 10000, num / 100 % 100, num % 100)
    }
}

/// What to do to get statement statistics, for the warnings.
pub const ENABLE_HINT: &str = "set shared_preload_libraries = 'pg_stat_statements' in postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in this database as a superuser";

/// The `pg_stat_database` columns kept, in this order.
pub const DATABASE_COUNTERS: [&str; 6] = [
    "xact_commit",
    "xact_rollback",
    "deadlocks",
    "conflicts",
    "blks_hit",
    "blks_read",
];

pub async fn read(client: &Client) -> Result<Snapshot, String> {
    let row = client
        .query_one(
            &format!("{MARKER} SELECT current_database()::text, current_user::text, current_setting('server_version_num')::int4"),
            &[],
        )
        .await
        .map_err(|e| format!("reading the server version failed: {}", error_text(&e)))?;
    let (database, user, version_num): (String, String, i32) = (row.get(0), row.get(1), row.get(2));
    let mut snap = Snapshot::new(DbKind::Postgresql, version_name(version_num), database);
    read_database(client, &mut snap).await;
    read_statements(client, &mut snap, &user, version_num).await;
    Ok(snap)
}

async fn read_database(client: &Client, snap: &mut Snapshot) {
    let sql = format!(
        "{MARKER} SELECT {}, stats_reset::text FROM pg_stat_database WHERE datname = current_database()",
        DATABASE_COUNTERS.map(|c| format!("{c}::int8")).join(", ")
    );
    match client.query_opt(&sql, &[]).await {
        Ok(Some(row)) => {
            let counters = DATABASE_COUNTERS
                .iter()
                .enumerate()
                .filter_map(|(i, name)| Some((name.to_string(), row.get::<_, Option<i64>>(i)?)))
                .collect();
            snap.counters = Some(counters);
            snap.counters_epoch = row.get(DATABASE_COUNTERS.len());
        }
        Ok(None) => snap.warnings.push(format!(
            "pg_stat_database has no row for '{}'",
            snap.database
        )),
        Err(e) => snap
            .warnings
            .push(format!("cannot read pg_stat_database: {}", error_text(&e))),
    }
}

async fn read_statements(client: &Client, snap: &mut Snapshot, user: &str, version_num: i32) {
    let db = snap.database.clone();
    let schema = match client
        .query_opt(
            &format!("{MARKER} SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'"),
            &[],
        )
        .await
    {
        Ok(Some(row)) => quote_ident(row.get::<_, &str>(0)),
        Ok(None) => {
            snap.warnings.push(format!(
                "pg_stat_statements is not installed in database '{db}', so there are no statement statistics: {ENABLE_HINT}"
            ));
            return;
        }
        Err(e) => {
            snap.warnings
                .push(format!("cannot look up pg_stat_statements: {}", error_text(&e)));
            return;
        }
    };
    // Column names changed in 13 (total_time → total_exec_time); toplevel exists from 14.
    let total = if version_num >= 130000 {
        "total_exec_time"
    } else {
        "total_time"
    };
    let toplevel = if version_num >= 140000 {
        "s.toplevel"
    } else {
        "true"
    };
    let sql = format!(
        "{MARKER} SELECT s.queryid::int8, s.userid::int8, {toplevel}, r.rolname::text, s.query, \
         s.calls::int8, s.{total}::float8, s.rows::int8 \
         FROM {schema}.pg_stat_statements s LEFT JOIN pg_roles r ON r.oid = s.userid \
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND (s.query IS NULL OR s.query NOT LIKE '{MARKER}%')"
    );
    let rows = match client.query(&sql, &[]).await {
        Ok(rows) => rows,
        Err(e) => {
            snap.warnings.push(statements_failure(&e, &db, user));
            return;
        }
    };
    let mut statements = BTreeMap::new();
    let mut hidden = 0;
    for row in rows {
        let Some(queryid) = row.get::<_, Option<i64>>(0) else {
            hidden += 1; // another role's statement, without pg_read_all_stats
            continue;
        };
        let (userid, top): (i64, bool) = (row.get(1), row.get(2));
        let c = StatementCounters {
            id: queryid.to_string(),
            user: row.get(3),
            text: row.get(4),
            app: None,
            calls: row.get::<_, Option<i64>>(5).unwrap_or(0),
            total_ms: row.get::<_, Option<f64>>(6).unwrap_or(0.0),
            rows: row.get::<_, Option<i64>>(7).unwrap_or(0) as f64,
            retries: None,
        };
        // One entry per (userid, dbid, queryid, toplevel); dbid is fixed by the WHERE clause.
        let nested = if top { "" } else { "/nested" };
        statements.insert(format!("{queryid}/{userid}{nested}"), c);
    }
    if hidden > 0 {
        snap.warnings.push(format!(
            "{hidden} statements of other roles are hidden from '{user}': GRANT pg_read_all_stats TO {user}; (or connect as a superuser)"
        ));
    }
    snap.statements = Some(statements);
    if version_num >= 140000 {
        let info = format!(
            "{MARKER} SELECT dealloc::int8, stats_reset::text FROM {schema}.pg_stat_statements_info"
        );
        match client.query_one(&info, &[]).await {
            Ok(row) => {
                snap.evictions = row.get(0);
                snap.statements_epoch = row.get(1);
            }
            Err(e) => snap.warnings.push(format!(
                "cannot read pg_stat_statements_info (resets will go unnoticed): {}",
                error_text(&e)
            )),
        }
    }
}

/// The warning for a failed read of pg_stat_statements, with what to enable.
fn statements_failure(e: &tokio_postgres::Error, db: &str, user: &str) -> String {
    match e.code() {
        Some(c) if *c == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE => format!(
            "pg_stat_statements is installed in '{db}' but not loaded: set shared_preload_libraries = 'pg_stat_statements' in postgresql.conf and restart PostgreSQL"
        ),
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => format!(
            "'{user}' may not read pg_stat_statements: GRANT pg_read_all_stats TO {user};"
        ),
        _ => format!("cannot read pg_stat_statements: {}", error_text(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_numbers_read_as_people_write_them() {
        assert_eq!(super::version_name(150018), "15.18");
        assert_eq!(super::version_name(130000), "13.0");
        assert_eq!(super::version_name(90624), "9.6.24");
    }
}
