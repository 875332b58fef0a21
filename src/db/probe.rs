//! Before and after the load: one snapshot of every target before, one after, and their
//! difference. Targets are read concurrently, each bounded by a timeout; a target that cannot
//! be read gives warnings, never an error, so the run goes on whatever the databases say.

use super::diff::{diff, unavailable};
use super::snapshot::{take, Snapshot};
use super::stats::{DbKind, DbStats};
use super::target::DbTarget;
use std::time::Duration;

/// How the probe reads.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// Bound of each connection attempt and of each snapshot.
    pub timeout: Duration,
    /// Wait before the second snapshot, so that the server publishes what it has counted;
    /// `None`: as each server needs ([`settle_for`]), the longest of the targets'.
    pub settle: Option<Duration>,
    /// How many statements (most total time first) each report keeps.
    pub top: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            timeout: Duration::from_secs(5),
            settle: None,
            top: 20,
        }
    }
}

/// The first snapshots, waiting for the load to end.
pub struct DbProbe {
    options: ProbeOptions,
    before: Vec<(DbTarget, Result<Snapshot, String>)>,
}

impl DbProbe {
    /// Takes the snapshot before the load of every target, concurrently.
    pub async fn before(targets: Vec<DbTarget>, options: ProbeOptions) -> DbProbe {
        let jobs = targets.iter().map(|t| (t.clone(), None)).collect();
        let snapshots = take_all(jobs, options.timeout).await;
        DbProbe {
            options,
            before: targets.into_iter().zip(snapshots).collect(),
        }
    }

    /// What went wrong with the first snapshots, one line per target, to show before the load.
    pub fn problems(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (target, snap) in &self.before {
            match snap {
                Err(e) => lines.push(format!("db {}: {e}", target.name)),
                Ok(s) => lines.extend(
                    s.warnings
                        .iter()
                        .map(|w| format!("db {}: {w}", target.name)),
                ),
            }
        }
        lines
    }

    /// Waits `settle`, takes the second snapshots and returns each target's difference.
    pub async fn after(self) -> Vec<DbStats> {
        let reachable: Vec<(DbTarget, Option<Snapshot>)> = self
            .before
            .iter()
            .filter_map(|(t, s)| Some((t.clone(), Some(s.as_ref().ok()?.clone()))))
            .collect();
        let settle = self.options.settle.unwrap_or_else(|| {
            reachable
                .iter()
                .filter_map(|(_, s)| Some(settle_for(s.as_ref()?.kind)))
                .max()
                .unwrap_or_default()
        });
        if !reachable.is_empty() {
            tokio::time::sleep(settle).await;
        }
        let mut afters = take_all(reachable, self.options.timeout).await.into_iter();
        self.before
            .iter()
            .map(|(target, before)| {
                let (name, url) = (target.name.as_str(), target.redacted_url());
                let before = match before {
                    Err(e) => return unavailable(name, url, vec![format!("before the run: {e}")]),
                    Ok(b) => b,
                };
                // `afters` holds one result per reachable target, in the same order.
                match afters.next() {
                    Some(Ok(after)) => diff(name, url, before, &after, self.options.top),
                    Some(Err(e)) => unavailable(name, url, vec![format!("after the run: {e}")]),
                    None => unavailable(name, url, vec!["no snapshot after the run".into()]),
                }
            })
            .collect()
    }
}

/// How long after the load a server's statistics are complete. PostgreSQL 15 updates
/// pg_stat_statements at once, but a session that goes idle publishes its pg_stat_database
/// counts only 10 s later (measured: an idle psql session's 200 commits appeared after 10 s),
/// and connection pools keep their sessions idle. CockroachDB's statement statistics and node
/// metrics are read from memory.
pub fn settle_for(kind: DbKind) -> Duration {
    match kind {
        DbKind::Postgresql => Duration::from_secs(11),
        DbKind::Cockroachdb => Duration::from_secs(1),
    }
}

/// One snapshot per target (the second when its first is given), concurrently, in order.
async fn take_all(
    jobs: Vec<(DbTarget, Option<Snapshot>)>,
    timeout: Duration,
) -> Vec<Result<Snapshot, String>> {
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|(t, before)| tokio::spawn(async move { take(&t, timeout, before.as_ref()).await }))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("snapshot task does not panic"));
    }
    out
}
