//! The short DB block of the end-of-run summary: per database, what ran (statements, calls,
//! time), the transaction counters and the buffer hit ratio, the top statements by time, and
//! the warnings. Plain text lines; the caller indents or colours them.

use super::stats::{DatabaseCounters, DbStats};
use super::text;

/// The lines for `stats`, at most `width` columns each, `top` statements per database.
pub fn summary_lines(stats: &[DbStats], top: usize, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for s in stats {
        let what = match (s.kind, &s.server_version, &s.database) {
            (Some(k), Some(v), Some(d)) => {
                format!("{} {v}, database {d}, {:.1} s", k.label(), s.seconds)
            }
            _ => "no statistics".to_string(),
        };
        lines.push(text::cut(&format!("DB {}: {what}", s.name), width));
        if let Some(t) = &s.statement_totals {
            lines.push(text::cut(
                &format!(
                    "  {} calls of {} statements, {} ms of execution{}",
                    t.calls,
                    t.statements,
                    ms(t.total_ms),
                    if s.complete {
                        ""
                    } else {
                        " (incomplete, see warnings)"
                    }
                ),
                width,
            ));
        }
        if let Some(c) = &s.counters {
            let line = counters_line(c);
            if !line.is_empty() {
                lines.push(text::cut(&format!("  {line}"), width));
            }
        }
        if !s.statements.is_empty() && top > 0 {
            lines.push(format!(
                "  {:>7} {:>8} {:>9}  top statements by time",
                "share", "calls", "mean ms"
            ));
            for st in s.statements.iter().take(top) {
                let head = format!(
                    "  {:>6.1}% {:>8} {:>9}  ",
                    st.share * 100.0,
                    st.calls,
                    ms(st.mean_ms)
                );
                let room = width.saturating_sub(head.chars().count()).max(10);
                lines.push(format!("{head}{}", text::cut(&st.text, room)));
            }
        }
        for w in &s.warnings {
            lines.push(text::cut(&format!("  warning: {w}"), width));
        }
    }
    lines
}

/// `commits 150  rollbacks 1  deadlocks 0 ...`, only what the server reported.
fn counters_line(c: &DatabaseCounters) -> String {
    let mut parts = Vec::new();
    let named = [
        ("commits", c.commits),
        ("rollbacks", c.rollbacks),
        ("aborts", c.aborts),
        ("deadlocks", c.deadlocks),
        ("conflicts", c.conflicts),
        ("restarts", c.restarts),
        ("contention events", c.contention_events),
    ];
    for (name, value) in named {
        if let Some(v) = value {
            parts.push(format!("{name} {v}"));
        }
    }
    if let Some(r) = c.buffer_hit_ratio {
        parts.push(format!("buffer hits {:.1}%", r * 100.0));
    }
    parts.join("  ")
}

/// Milliseconds with about three significant digits.
fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::stats::{DbKind, StatementStats, StatementTotals};

    fn sample() -> DbStats {
        DbStats {
            name: "keto".into(),
            url: "postgres://keto:[redacted]@127.0.0.1/keto".into(),
            kind: Some(DbKind::Postgresql),
            server_version: Some("15.18".into()),
            database: Some("keto".into()),
            seconds: 10.04,
            complete: true,
            warnings: vec![
                "'keto' may not read pg_stat_statements: GRANT pg_read_all_stats TO keto;".into(),
            ],
            statement_totals: Some(StatementTotals {
                statements: 2,
                calls: 150,
                total_ms: 400.0,
            }),
            statements: vec![
                StatementStats {
                    id: "3".into(),
                    text: format!("INSERT INTO keto_relation_tuples {}", "x".repeat(200)),
                    user: None,
                    app: None,
                    calls: 50,
                    total_ms: 300.0,
                    mean_ms: 6.0,
                    rows: 50,
                    rows_per_call: 1.0,
                    share: 0.75,
                    retries: None,
                    restarted: false,
                },
                StatementStats {
                    id: "1".into(),
                    text: "SELECT 1".into(),
                    user: None,
                    app: None,
                    calls: 100,
                    total_ms: 100.0,
                    mean_ms: 1.0,
                    rows: 100,
                    rows_per_call: 1.0,
                    share: 0.25,
                    retries: None,
                    restarted: false,
                },
            ],
            counters: Some(DatabaseCounters {
                commits: Some(150),
                rollbacks: Some(1),
                deadlocks: Some(0),
                conflicts: Some(0),
                blocks_hit: Some(990),
                blocks_read: Some(10),
                buffer_hit_ratio: Some(0.99),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn block_shows_totals_counters_top_statements_and_warnings_within_width() {
        let lines = summary_lines(&[sample()], 1, 80);
        assert_eq!(lines[0], "DB keto: PostgreSQL 15.18, database keto, 10.0 s");
        assert_eq!(lines[1], "  150 calls of 2 statements, 400 ms of execution");
        assert_eq!(
            lines[2],
            "  commits 150  rollbacks 1  deadlocks 0  conflicts 0  buffer hits 99.0%"
        );
        assert_eq!(
            lines[3],
            "    share    calls   mean ms  top statements by time"
        );
        assert!(
            lines[4].starts_with("    75.0%       50      6.00  INSERT"),
            "{}",
            lines[4]
        );
        assert!(lines[4].contains("75.0%") && lines[4].contains("50") && lines[4].contains("6.00"));
        assert!(lines[4].contains("INSERT INTO keto_relation_tuples") && lines[4].ends_with('…'));
        assert!(lines[5].starts_with("  warning: 'keto' may not read"));
        assert_eq!(lines.len(), 6, "top 1 only: {lines:#?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{lines:#?}");
    }

    #[test]
    fn an_unreachable_database_is_one_line_and_its_warning() {
        let s = crate::db::diff::unavailable("crdb", "postgres://x", vec!["no connection".into()]);
        assert_eq!(
            summary_lines(&[s], 5, 80),
            ["DB crdb: no statistics", "  warning: no connection"]
        );
    }
}
