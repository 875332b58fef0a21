//! Between two runs' DB statistics: the statements whose execution time changed most.
//!
//! Runs differ in length, so time is compared per second of run (ms of execution per second
//! between the snapshots), and the mean per call is shown beside it. Statements are matched by
//! database name, then by id and user or application, then by text (a queryid is only stable
//! within one PostgreSQL major version and platform).

use super::stats::{DbStats, StatementStats};
use super::text;
use serde::{Deserialize, Serialize};

/// One statement's figures in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub calls: u64,
    pub total_ms: f64,
    pub mean_ms: f64,
    /// Execution time per second of run.
    pub ms_per_s: f64,
}

/// A statement in both runs (or in one, when it ran only there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementChange {
    /// The database's `--db-stats` name.
    pub database: String,
    pub id: String,
    pub text: String,
    /// `None`: not among that run's stored top statements, so its figures are unknown
    /// (but smaller than the smallest stored one).
    pub before: Option<Side>,
    pub after: Option<Side>,
    /// after − before execution time per second of run (an unknown side counts as 0).
    pub delta_ms_per_s: f64,
}

/// The `n` statements whose time per second of run changed most, largest change first.
pub fn statement_changes(before: &[DbStats], after: &[DbStats], n: usize) -> Vec<StatementChange> {
    let mut changes = Vec::new();
    for a in after {
        let Some(b) = before.iter().find(|b| b.name == a.name) else {
            continue;
        };
        let mut unmatched: Vec<&StatementStats> = b.statements.iter().collect();
        for sa in &a.statements {
            let found = unmatched
                .iter()
                .position(|sb| sb.id == sa.id && sb.user == sa.user && sb.app == sa.app)
                .or_else(|| unmatched.iter().position(|sb| sb.text == sa.text));
            let sb = found.map(|i| unmatched.swap_remove(i));
            changes.push(change(
                &a.name,
                sa,
                sb.map(|s| side(s, b)).or_else(|| absent(b)),
                Some(side(sa, a)),
            ));
        }
        for sb in unmatched {
            changes.push(change(&a.name, sb, Some(side(sb, b)), absent(a)));
        }
    }
    changes.sort_by(|x, y| y.delta_ms_per_s.abs().total_cmp(&x.delta_ms_per_s.abs()));
    changes.truncate(n);
    changes
}

fn change(
    db: &str,
    s: &StatementStats,
    before: Option<Side>,
    after: Option<Side>,
) -> StatementChange {
    let rate = |x: &Option<Side>| x.as_ref().map_or(0.0, |s| s.ms_per_s);
    StatementChange {
        database: db.to_string(),
        id: s.id.clone(),
        text: s.text.clone(),
        delta_ms_per_s: rate(&after) - rate(&before),
        before,
        after,
    }
}

fn side(s: &StatementStats, run: &DbStats) -> Side {
    Side {
        calls: s.calls,
        total_ms: s.total_ms,
        mean_ms: s.mean_ms,
        ms_per_s: per_second(s.total_ms, run.seconds),
    }
}

/// A statement missing from a run's list: it did not run if the list holds every statement,
/// otherwise it is unknown.
fn absent(run: &DbStats) -> Option<Side> {
    let all_listed = run
        .statement_totals
        .as_ref()
        .is_some_and(|t| t.statements as usize == run.statements.len());
    all_listed.then_some(Side {
        calls: 0,
        total_ms: 0.0,
        mean_ms: 0.0,
        ms_per_s: 0.0,
    })
}

fn per_second(ms: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        ms / seconds
    } else {
        ms
    }
}

/// Plain text lines for the comparison output, at most `width` columns.
pub fn change_lines(changes: &[StatementChange], width: usize) -> Vec<String> {
    if changes.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![
        "  DB statements, ms of execution per s of run (mean ms per call): before → after"
            .to_string(),
    ];
    for c in changes {
        let show = |s: &Option<Side>| match s {
            Some(s) => format!("{:.1} ({:.2})", s.ms_per_s, s.mean_ms),
            None => "not in top".to_string(),
        };
        let head = format!(
            "  {:+8.1}  {} → {}  {}: ",
            c.delta_ms_per_s,
            show(&c.before),
            show(&c.after),
            c.database
        );
        let room = width.saturating_sub(head.chars().count()).max(10);
        lines.push(format!("{head}{}", text::cut(&c.text, room)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::stats::{DbKind, StatementTotals};

    fn st(id: &str, text: &str, calls: u64, total_ms: f64) -> StatementStats {
        StatementStats {
            id: id.into(),
            text: text.into(),
            user: Some("keto".into()),
            app: None,
            calls,
            total_ms,
            mean_ms: total_ms / calls as f64,
            rows: calls,
            rows_per_call: 1.0,
            share: 0.0,
            retries: None,
            restarted: false,
        }
    }

    fn run(name: &str, seconds: f64, statements: Vec<StatementStats>, all: usize) -> DbStats {
        DbStats {
            name: name.into(),
            url: "u".into(),
            kind: Some(DbKind::Postgresql),
            server_version: None,
            database: None,
            seconds,
            complete: true,
            warnings: vec![],
            statement_totals: Some(StatementTotals {
                statements: all as u64,
                calls: 0,
                total_ms: 0.0,
            }),
            statements,
            counters: None,
        }
    }

    #[test]
    fn ranks_by_change_per_second_and_normalises_run_length() {
        // The write got slower; the check ran twice as long in a run twice as long (no change).
        let before = run(
            "keto",
            10.0,
            vec![
                st("1", "SELECT check", 1000, 500.0),
                st("2", "INSERT tuple", 100, 100.0),
            ],
            2,
        );
        let after = run(
            "keto",
            20.0,
            vec![
                st("1", "SELECT check", 2000, 1000.0),
                st("2", "INSERT tuple", 200, 600.0),
            ],
            2,
        );
        let changes = statement_changes(&[before], &[after], 10);
        assert_eq!(changes[0].id, "2");
        assert!((changes[0].delta_ms_per_s - 20.0).abs() < 1e-9);
        assert_eq!(changes[0].after.as_ref().unwrap().mean_ms, 3.0);
        assert_eq!(changes[1].id, "1");
        assert!(changes[1].delta_ms_per_s.abs() < 1e-9);
        let lines = change_lines(&changes, 80);
        assert!(
            lines[1].contains("+20.0") && lines[1].contains("INSERT tuple"),
            "{lines:#?}"
        );
    }

    #[test]
    fn statements_of_one_run_only_and_text_fallback() {
        // queryid changed (new major version) but the text is the same: matched by text.
        let before = run(
            "k",
            10.0,
            vec![st("1", "SELECT a", 10, 10.0), st("7", "DELETE x", 5, 50.0)],
            2,
        );
        let after = run(
            "k",
            10.0,
            vec![st("99", "SELECT a", 10, 30.0), st("8", "UPDATE y", 5, 5.0)],
            3,
        );
        let changes = statement_changes(&[before], &[after], 10);
        let by_text = |t: &str| changes.iter().find(|c| c.text == t).unwrap();
        let a = by_text("SELECT a");
        assert!((a.delta_ms_per_s - 2.0).abs() < 1e-9);
        // Only before; after lists fewer statements than ran: unknown, shown as such.
        let d = by_text("DELETE x");
        assert!(d.after.is_none());
        assert!((d.delta_ms_per_s + 5.0).abs() < 1e-9);
        // Only after; before listed all it ran: did not run before.
        let u = by_text("UPDATE y");
        assert_eq!(u.before.as_ref().unwrap().calls, 0);
        assert_eq!(changes[0].text, "DELETE x");
        assert!(change_lines(&changes, 80)
            .iter()
            .any(|l| l.contains("not in top")));
    }

    #[test]
    fn databases_are_matched_by_name() {
        let before = run("kratos", 10.0, vec![st("1", "q", 1, 1.0)], 1);
        let after = run("keto", 10.0, vec![st("1", "q", 1, 100.0)], 1);
        assert!(statement_changes(&[before], &[after], 10).is_empty());
        assert!(change_lines(&[], 80).is_empty());
    }
}
