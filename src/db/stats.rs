//! What a run stores about each database: the difference between the snapshot before the load
//! and the one after it. Serialisable for the JSON report, readable back for `compare`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which server answered `SELECT version()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Postgresql,
    Cockroachdb,
}

impl DbKind {
    /// CockroachDB is tested first: it also claims PostgreSQL compatibility.
    pub fn from_version(version: &str) -> DbKind {
        if version.trim_start().starts_with("CockroachDB") {
            DbKind::Cockroachdb
        } else {
            DbKind::Postgresql
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DbKind::Postgresql => "PostgreSQL",
            DbKind::Cockroachdb => "CockroachDB",
        }
    }
}

/// One database's statistics over the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbStats {
    /// The `NAME=` given with `--db-stats`, else the database name.
    pub name: String,
    /// The URL with its password redacted.
    pub url: String,
    /// `None` when no snapshot could be taken (see `warnings`).
    pub kind: Option<DbKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// The database the figures are for (the URL's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Wall-clock seconds between the two snapshots.
    pub seconds: f64,
    /// False when a reset, an eviction or a counter going backwards means some activity of the
    /// run is missing from the figures; `warnings` says which.
    pub complete: bool,
    /// What could not be read or trusted, each with what to enable or check.
    pub warnings: Vec<String>,
    /// All statements of the run, `None` when statement statistics could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_totals: Option<StatementTotals>,
    /// The statements with the most total time, most first (at most the configured top N).
    pub statements: Vec<StatementStats>,
    /// Database-wide counters, `None` when they could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<DatabaseCounters>,
}

/// Sums over every statement of the run, not only the top N.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementTotals {
    /// Distinct normalised statements that ran.
    pub statements: u64,
    pub calls: u64,
    pub total_ms: f64,
}

/// One normalised statement (PostgreSQL: queryid, database, user; CockroachDB: fingerprint and
/// application).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementStats {
    /// PostgreSQL's queryid or CockroachDB's fingerprint id (hex).
    pub id: String,
    /// The normalised text, one line, truncated.
    pub text: String,
    /// PostgreSQL: the role that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// CockroachDB: the application name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub calls: u64,
    /// Execution time (PostgreSQL: total_exec_time; CockroachDB: service latency).
    pub total_ms: f64,
    pub mean_ms: f64,
    /// Rows returned or affected.
    pub rows: u64,
    pub rows_per_call: f64,
    /// This statement's part of all statements' total time, 0..1.
    pub share: f64,
    /// CockroachDB: executions that were automatic retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Its counters went backwards between the snapshots (reset or evicted and re-added): the
    /// figures count from zero and may miss part of the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarted: bool,
}

/// Database-wide counters over the run; each is present when the server has it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseCounters {
    /// Committed transactions (PostgreSQL xact_commit; CockroachDB txn.commits, which also
    /// counts the cluster's internal transactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commits: Option<u64>,
    /// Rolled-back transactions (xact_rollback; sql.txn.rollback.count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollbacks: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadlocks: Option<u64>,
    /// PostgreSQL: queries cancelled by recovery conflicts (standbys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_hit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_read: Option<u64>,
    /// blocks_hit / (blocks_hit + blocks_read), when any block was touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_hit_ratio: Option<f64>,
    /// CockroachDB: KV transactions aborted (txn.aborts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborts: Option<u64>,
    /// CockroachDB: KV transaction restarts, all reasons (txn.restarts.*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub restarts_by_reason: BTreeMap<String, u64>,
    /// CockroachDB: statements that met contention (sql.distsql.contended_queries.count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contended_queries: Option<u64>,
    /// CockroachDB: contention events recorded during the run
    /// (crdb_internal.transaction_contention_events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contention_events: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_is_told_from_the_version_string() {
        assert_eq!(
            DbKind::from_version("CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu)"),
            DbKind::Cockroachdb
        );
        assert_eq!(
            DbKind::from_version("PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64"),
            DbKind::Postgresql
        );
    }

    #[test]
    fn round_trips_through_json_and_leaves_out_what_is_absent() {
        let stats = DbStats {
            name: "keto".into(),
            url: "postgres://keto:[redacted]@127.0.0.1/keto".into(),
            kind: Some(DbKind::Postgresql),
            server_version: Some("150018".into()),
            database: Some("keto".into()),
            seconds: 10.5,
            complete: true,
            warnings: vec![],
            statement_totals: None,
            statements: vec![],
            counters: Some(DatabaseCounters {
                commits: Some(3),
                ..Default::default()
            }),
        };
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["kind"], "postgresql");
        assert_eq!(json["counters"], serde_json::json!({"commits": 3}));
        assert!(json.get("statement_totals").is_none());
        let back: DbStats = serde_json::from_value(json).unwrap();
        assert_eq!(back, stats);
    }
}
