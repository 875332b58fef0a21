//! The difference of two snapshots: what the database did during the run.
//!
//! Counters are cumulative, so after − before is the run's activity, with three exceptions that
//! are detected and said, never turned into negative numbers: a statement first seen after the
//! load counts fully; a reset of the statistics (a changed reset time, or a counter that went
//! backwards) counts from the reset on and marks the figures incomplete; entries evicted for
//! lack of room are left out and said. min/max/stddev are never diffed: they do not subtract.

use super::cockroach::CONTENTION_EVENTS;
use super::snapshot::{Snapshot, StatementCounters};
use super::stats::{DatabaseCounters, DbKind, DbStats, StatementStats, StatementTotals};
use super::text;
use std::collections::BTreeMap;

/// Statistics for a target whose snapshots could not be (both) taken.
pub fn unavailable(name: &str, url: &str, warnings: Vec<String>) -> DbStats {
    DbStats {
        name: name.to_string(),
        url: url.to_string(),
        kind: None,
        server_version: None,
        database: None,
        seconds: 0.0,
        complete: false,
        warnings,
        statement_totals: None,
        statements: Vec::new(),
        counters: None,
    }
}

/// After − before for one target, keeping the `top_n` statements with the most time.
pub fn diff(name: &str, url: &str, before: &Snapshot, after: &Snapshot, top_n: usize) -> DbStats {
    let mut warnings = Vec::new();
    for w in before.warnings.iter().chain(&after.warnings) {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    let mut stats = DbStats {
        name: name.to_string(),
        url: url.to_string(),
        kind: Some(after.kind),
        server_version: Some(after.server_version.clone()),
        database: Some(after.database.clone()),
        seconds: after
            .taken_at
            .saturating_duration_since(before.taken_at)
            .as_secs_f64(),
        complete: true,
        warnings,
        statement_totals: None,
        statements: Vec::new(),
        counters: None,
    };
    if before.kind != after.kind || before.database != after.database {
        stats.complete = false;
        stats.warnings.push(format!(
            "the snapshots came from different databases ({} '{}', then {} '{}'): no figures",
            before.kind.label(),
            before.database,
            after.kind.label(),
            after.database
        ));
        return stats;
    }
    if let (Some(b), Some(a)) = (&before.statements, &after.statements) {
        let reset = changed(&before.statements_epoch, &after.statements_epoch);
        if let Some(at) = &reset {
            stats.warnings.push(format!(
                "the statement statistics were reset during the run (at {at}): statement figures count from the reset on"
            ));
            stats.complete = false;
        }
        let empty = BTreeMap::new();
        let b = if reset.is_some() { &empty } else { b };
        let (totals, top) = statements(b, a, top_n, &mut stats);
        stats.statement_totals = Some(totals);
        stats.statements = top;
        if let (Some(eb), Some(ea)) = (before.evictions, after.evictions) {
            if ea > eb && reset.is_none() {
                stats.complete = false;
                stats.warnings.push(format!(
                    "{} statement entries were evicted during the run (pg_stat_statements.max is full): rarely run statements may be missing; raise pg_stat_statements.max",
                    ea - eb
                ));
            }
        }
    }
    if let (Some(b), Some(a)) = (&before.counters, &after.counters) {
        let deltas = counters(
            b,
            a,
            &before.counters_epoch,
            &after.counters_epoch,
            &mut stats,
        );
        stats.counters = Some(database_counters(after.kind, &deltas));
    }
    stats
}

/// `Some(new epoch)` when both are known and differ.
fn changed(before: &Option<String>, after: &Option<String>) -> Option<String> {
    match (before, after) {
        (Some(b), Some(a)) if a != b => Some(a.clone()),
        _ => None,
    }
}

fn statements(
    before: &BTreeMap<String, StatementCounters>,
    after: &BTreeMap<String, StatementCounters>,
    top_n: usize,
    stats: &mut DbStats,
) -> (StatementTotals, Vec<StatementStats>) {
    let mut ran = Vec::new();
    let mut restarted = 0;
    for (key, a) in after {
        let (delta, went_back) = match before.get(key) {
            None => (a.clone(), false),
            Some(b) if a.calls < b.calls || a.total_ms < b.total_ms => (a.clone(), true),
            Some(b) => (
                StatementCounters {
                    calls: a.calls - b.calls,
                    total_ms: a.total_ms - b.total_ms,
                    rows: (a.rows - b.rows).max(0.0),
                    retries: a.retries.map(|r| (r - b.retries.unwrap_or(0)).max(0)),
                    ..a.clone()
                },
                false,
            ),
        };
        if delta.calls > 0 {
            restarted += usize::from(went_back);
            ran.push((delta, went_back));
        }
    }
    let gone = before.keys().filter(|k| !after.contains_key(*k)).count();
    if restarted > 0 {
        stats.complete = false;
        stats.warnings.push(format!(
            "{restarted} statements' counters went backwards during the run (statistics reset, or evicted and seen again): they count from zero"
        ));
    }
    if gone > 0 {
        stats.complete = false;
        stats.warnings.push(format!(
            "{gone} statements known before the run were gone after it (evicted or reset): their activity during the run is missing"
        ));
    }
    let totals = StatementTotals {
        statements: ran.len() as u64,
        calls: ran.iter().map(|(d, _)| d.calls as u64).sum(),
        total_ms: ran.iter().map(|(d, _)| d.total_ms).sum(),
    };
    ran.sort_by(|(x, _), (y, _)| {
        y.total_ms
            .total_cmp(&x.total_ms)
            .then(y.calls.cmp(&x.calls))
            .then(x.id.cmp(&y.id))
    });
    let top = ran
        .into_iter()
        .take(top_n)
        .map(|(d, went_back)| {
            let calls = d.calls as u64;
            StatementStats {
                text: text::one_line(
                    d.text.as_deref().unwrap_or("(text not available)"),
                    text::MAX_CHARS,
                ),
                user: d.user,
                app: d.app,
                calls,
                total_ms: d.total_ms,
                mean_ms: d.total_ms / calls as f64,
                rows: d.rows.round() as u64,
                rows_per_call: d.rows / calls as f64,
                share: if totals.total_ms > 0.0 {
                    d.total_ms / totals.total_ms
                } else {
                    0.0
                },
                retries: d.retries.map(|r| r as u64),
                restarted: went_back,
                id: d.id,
            }
        })
        .collect();
    (totals, top)
}

fn counters(
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
    before_epoch: &Option<String>,
    after_epoch: &Option<String>,
    stats: &mut DbStats,
) -> BTreeMap<String, u64> {
    let reset = changed(before_epoch, after_epoch);
    if let Some(at) = &reset {
        stats.complete = false;
        stats.warnings.push(format!(
            "the database counters were reset during the run (at {at}): they count from the reset on"
        ));
    }
    let mut backwards = Vec::new();
    let deltas = after
        .iter()
        .map(|(name, &a)| {
            let b = if reset.is_some() {
                0
            } else {
                before.get(name).copied().unwrap_or(0)
            };
            let d = if a < b {
                backwards.push(name.as_str());
                a
            } else {
                a - b
            };
            (name.clone(), d.max(0) as u64)
        })
        .collect();
    if !backwards.is_empty() {
        stats.complete = false;
        stats.warnings.push(format!(
            "counters went backwards during the run (server restarted or statistics reset): {} count from zero",
            backwards.join(", ")
        ));
    }
    deltas
}

/// Names the server's counters in the report's terms.
fn database_counters(kind: DbKind, d: &BTreeMap<String, u64>) -> DatabaseCounters {
    let get = |name: &str| d.get(name).copied();
    match kind {
        DbKind::Postgresql => {
            let (hit, read) = (get("blks_hit"), get("blks_read"));
            DatabaseCounters {
                commits: get("xact_commit"),
                rollbacks: get("xact_rollback"),
                deadlocks: get("deadlocks"),
                conflicts: get("conflicts"),
                blocks_hit: hit,
                blocks_read: read,
                buffer_hit_ratio: match (hit, read) {
                    (Some(h), Some(r)) if h + r > 0 => Some(h as f64 / (h + r) as f64),
                    _ => None,
                },
                ..Default::default()
            }
        }
        DbKind::Cockroachdb => {
            let restarts_by_reason: BTreeMap<String, u64> = d
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("txn.restarts.")?.to_string(), *v)))
                .collect();
            DatabaseCounters {
                commits: get("txn.commits"),
                rollbacks: get("sql.txn.rollback.count"),
                aborts: get("txn.aborts"),
                contended_queries: get("sql.distsql.contended_queries.count"),
                restarts: (!restarts_by_reason.is_empty())
                    .then(|| restarts_by_reason.values().sum()),
                restarts_by_reason,
                contention_events: get(CONTENTION_EVENTS),
                ..Default::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn stmt(
        id: &str,
        text: &str,
        calls: i64,
        total_ms: f64,
        rows: i64,
    ) -> (String, StatementCounters) {
        (
            format!("{id}/10"),
            StatementCounters {
                id: id.into(),
                text: Some(text.into()),
                user: Some("keto".into()),
                calls,
                total_ms,
                rows: rows as f64,
                ..Default::default()
            },
        )
    }

    fn snap(
        statements: Vec<(String, StatementCounters)>,
        counters: &[(&str, i64)],
        epoch: &str,
        evictions: i64,
    ) -> Snapshot {
        let mut s = Snapshot::new(DbKind::Postgresql, "150018".into(), "keto".into());
        s.statements = Some(statements.into_iter().collect());
        s.statements_epoch = Some(epoch.into());
        s.evictions = Some(evictions);
        s.counters = Some(counters.iter().map(|(k, v)| (k.to_string(), *v)).collect());
        s.counters_epoch = Some("2026-12-01".into());
        s
    }

    fn later(mut s: Snapshot) -> Snapshot {
        s.taken_at = Instant::now() + Duration::from_secs(10);
        s
    }

    const DB: [(&str, i64); 6] = [
        ("xact_commit", 100),
        ("xact_rollback", 5),
        ("deadlocks", 0),
        ("conflicts", 0),
        ("blks_hit", 900),
        ("blks_read", 100),
    ];

    #[test]
    fn deltas_new_statements_shares_and_hit_ratio() {
        let before = snap(
            vec![
                stmt("1", "SELECT a", 10, 5.0, 10),
                stmt("2", "SELECT b", 3, 1.0, 3),
            ],
            &DB,
            "e1",
            0,
        );
        let after = later(snap(
            vec![
                stmt("1", "SELECT a", 110, 105.0, 210),
                stmt("2", "SELECT b", 3, 1.0, 3), // idle during the run: left out
                stmt("3", "INSERT\n  INTO c", 50, 300.0, 50), // new: counts fully
            ],
            &[
                ("xact_commit", 250),
                ("xact_rollback", 6),
                ("deadlocks", 1),
                ("conflicts", 0),
                ("blks_hit", 1890),
                ("blks_read", 110),
            ],
            "e1",
            0,
        ));
        let s = diff("keto", "postgres://keto@h/keto", &before, &after, 10);
        assert!(s.complete, "{:?}", s.warnings);
        assert!(s.warnings.is_empty());
        assert!((s.seconds - 10.0).abs() < 0.5);
        let totals = s.statement_totals.unwrap();
        assert_eq!((totals.statements, totals.calls), (2, 150));
        assert_eq!(totals.total_ms, 400.0);
        assert_eq!(s.statements.len(), 2);
        let (top, second) = (&s.statements[0], &s.statements[1]);
        assert_eq!((top.id.as_str(), top.text.as_str()), ("3", "INSERT INTO c"));
        assert_eq!(
            (top.calls, top.total_ms, top.mean_ms, top.rows),
            (50, 300.0, 6.0, 50)
        );
        assert_eq!(top.share, 0.75);
        assert_eq!(
            (second.id.as_str(), second.calls, second.total_ms),
            ("1", 100, 100.0)
        );
        assert_eq!((second.mean_ms, second.rows_per_call), (1.0, 2.0));
        assert!(!second.restarted);
        let c = s.counters.unwrap();
        assert_eq!(
            (c.commits, c.rollbacks, c.deadlocks),
            (Some(150), Some(1), Some(1))
        );
        assert_eq!((c.blocks_hit, c.blocks_read), (Some(990), Some(10)));
        assert_eq!(c.buffer_hit_ratio, Some(0.99));
    }

    #[test]
    fn top_n_keeps_the_most_time_and_totals_keep_everything() {
        let before = snap(vec![], &DB, "e1", 0);
        let after = later(snap(
            (1..=5)
                .map(|i| stmt(&i.to_string(), "q", i, i as f64 * 10.0, 0))
                .collect(),
            &DB,
            "e1",
            0,
        ));
        let s = diff("k", "u", &before, &after, 2);
        let ids: Vec<_> = s.statements.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["5", "4"]);
        assert_eq!(s.statement_totals.unwrap().calls, 15);
    }

    #[test]
    fn a_full_reset_counts_from_the_reset_and_is_said() {
        let before = snap(vec![stmt("1", "SELECT a", 1000, 900.0, 1000)], &DB, "e1", 0);
        let after = later(snap(
            vec![stmt("1", "SELECT a", 40, 20.0, 40)],
            &DB,
            "e2",
            0,
        ));
        let s = diff("k", "u", &before, &after, 10);
        assert!(!s.complete);
        assert!(
            s.warnings
                .iter()
                .any(|w| w.contains("reset during the run (at e2)")),
            "{:?}",
            s.warnings
        );
        assert_eq!(s.statements[0].calls, 40);
        assert_eq!(s.statements[0].total_ms, 20.0);
        assert!(s.statements.iter().all(|x| x.total_ms >= 0.0));
    }

    #[test]
    fn a_counter_going_backwards_is_flagged_not_negative() {
        // A per-statement reset (no epoch change), a vanished entry, and evictions.
        let before = snap(
            vec![
                stmt("1", "SELECT a", 1000, 900.0, 1000),
                stmt("9", "gone", 5, 1.0, 5),
            ],
            &DB,
            "e1",
            3,
        );
        let after = later(snap(vec![stmt("1", "SELECT a", 7, 2.0, 7)], &DB, "e1", 5));
        let s = diff("k", "u", &before, &after, 10);
        assert!(!s.complete);
        let st = &s.statements[0];
        assert_eq!((st.calls, st.total_ms, st.restarted), (7, 2.0, true));
        let all = s.warnings.join("\n");
        assert!(
            all.contains("1 statements' counters went backwards"),
            "{all}"
        );
        assert!(
            all.contains("1 statements known before the run were gone"),
            "{all}"
        );
        assert!(all.contains("2 statement entries were evicted"), "{all}");
    }

    #[test]
    fn database_counter_resets_are_detected() {
        let before = snap(vec![], &DB, "e1", 0);
        let mut after = later(snap(
            vec![],
            &[("xact_commit", 30), ("blks_hit", 0), ("blks_read", 0)],
            "e1",
            0,
        ));
        let s = diff("k", "u", &before, &after, 10);
        assert!(!s.complete);
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("went backwards") && w.contains("xact_commit")));
        let c = s.counters.unwrap();
        assert_eq!(c.commits, Some(30));
        assert_eq!(c.buffer_hit_ratio, None, "no block touched: no ratio");

        after.counters = Some(DB.iter().map(|(k, v)| (k.to_string(), v + 1)).collect());
        after.counters_epoch = Some("2026-12-04".into());
        let s = diff("k", "u", &before, &after, 10);
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("database counters were reset")));
        assert_eq!(
            s.counters.unwrap().commits,
            Some(101),
            "counted from the reset"
        );
    }

    #[test]
    fn warnings_of_both_snapshots_are_kept_once_and_missing_parts_stay_absent() {
        let mut before = snap(vec![], &DB, "e1", 0);
        before.statements = None;
        before.warnings = vec!["pg_stat_statements is not installed".into()];
        let mut after = later(snap(vec![], &DB, "e1", 0));
        after.statements = None;
        after.warnings = before.warnings.clone();
        let s = diff("k", "u", &before, &after, 10);
        assert_eq!(s.warnings, ["pg_stat_statements is not installed"]);
        assert!(s.statement_totals.is_none() && s.statements.is_empty());
        assert!(s.counters.is_some());
    }

    #[test]
    fn cockroach_counters_are_named_and_restarts_summed() {
        let mk = |commits: i64, ww: i64, ser: i64, ev: i64| {
            let mut s = Snapshot::new(DbKind::Cockroachdb, "130000".into(), "kratos".into());
            s.counters = Some(
                [
                    ("txn.commits", commits),
                    ("sql.txn.rollback.count", 2),
                    ("txn.aborts", 1),
                    ("sql.distsql.contended_queries.count", 4),
                    ("txn.restarts.writetooold", ww),
                    ("txn.restarts.serializable", ser),
                    (CONTENTION_EVENTS, ev),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            );
            s
        };
        let s = diff("c", "u", &mk(10, 1, 0, 0), &later(mk(60, 4, 2, 7)), 10);
        let c = s.counters.unwrap();
        assert_eq!(
            (c.commits, c.rollbacks, c.aborts),
            (Some(50), Some(0), Some(0))
        );
        assert_eq!(c.restarts, Some(5));
        assert_eq!(c.restarts_by_reason["writetooold"], 3);
        assert_eq!(c.contention_events, Some(7));
        assert_eq!(c.buffer_hit_ratio, None);
    }
}
