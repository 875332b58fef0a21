//! One reading of a database's cumulative statistics, the same shape for PostgreSQL and
//! CockroachDB, so that one diff serves both. Taking it: connect, tell the server by
//! `SELECT version()`, read with that server's SQL; whatever cannot be read is a warning.

use super::connect::{connect, error_text};
use super::stats::DbKind;
use super::target::DbTarget;
use super::{cockroach, postgres};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Leads every query orysim sends, so that its own statements can be left out of the figures
/// (PostgreSQL keeps the first text it saw of a statement, comments included).
pub const MARKER: &str = "/* orysim db-stats */";

/// Cumulative counters of one normalised statement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementCounters {
    /// queryid (PostgreSQL) or fingerprint id in hex (CockroachDB).
    pub id: String,
    pub text: Option<String>,
    pub user: Option<String>,
    pub app: Option<String>,
    pub calls: i64,
    pub total_ms: f64,
    pub rows: f64,
    /// CockroachDB: executions that were retries.
    pub retries: Option<i64>,
}

/// Everything read at one moment. Absent parts (`None`) could not be read; `warnings` says why.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub kind: DbKind,
    pub server_version: String,
    pub database: String,
    pub taken_at: Instant,
    /// Keyed by what identifies a statement on this server (see `StatementCounters::id`).
    pub statements: Option<BTreeMap<String, StatementCounters>>,
    /// Changes when the statement statistics are reset (PostgreSQL: pg_stat_statements_info).
    pub statements_epoch: Option<String>,
    /// Entries dropped for lack of room so far (PostgreSQL: pg_stat_statements_info.dealloc).
    pub evictions: Option<i64>,
    /// Database-wide cumulative counters by their server-side name.
    pub counters: Option<BTreeMap<String, i64>>,
    /// Changes when the database counters are reset (PostgreSQL: pg_stat_database.stats_reset).
    pub counters_epoch: Option<String>,
    /// CockroachDB: the server's clock at the first snapshot, bounding what the second reads.
    pub since: Option<Since>,
    pub warnings: Vec<String>,
}

/// CockroachDB: where the first snapshot started, in the server's own clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Since {
    /// Start of the hourly aggregation bucket: both snapshots sum the buckets from here on.
    pub bucket: String,
    /// The moment itself: contention events after it belong to the run.
    pub at: String,
}

impl Snapshot {
    pub fn new(kind: DbKind, server_version: String, database: String) -> Snapshot {
        Snapshot {
            kind,
            server_version,
            database,
            taken_at: Instant::now(),
            statements: None,
            statements_epoch: None,
            evictions: None,
            counters: None,
            counters_epoch: None,
            since: None,
            warnings: Vec::new(),
        }
    }
}

/// Takes a snapshot of `target`; `before` is the first snapshot when this is the second.
/// Errors (unreachable, refused, timed out) come back as one line without the password.
/// (Warnings are orysim's own words and the server's messages, which never hold it.)
pub async fn take(
    target: &DbTarget,
    timeout: Duration,
    before: Option<&Snapshot>,
) -> Result<Snapshot, String> {
    let work = async {
        let client = connect(target, timeout).await?;
        let version: String = client
            .query_one(&format!("{MARKER} SELECT version()"), &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| format!("SELECT version() failed: {}", error_text(&e)))?;
        let mut snap = match DbKind::from_version(&version) {
            DbKind::Postgresql => postgres::read(&client).await?,
            DbKind::Cockroachdb => cockroach::read(&client, &version, before).await?,
        };
        snap.taken_at = Instant::now();
        Ok::<_, String>(snap)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result.map_err(|e| target.scrub(&e)),
        Err(_) => Err(format!(
            "reading statistics from {} took longer than {timeout:?}",
            target.redacted_url()
        )),
    }
}

/// SQL identifier quoting, for a schema name read from the catalogue.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
