//! The page of one run: what ran, its headline figures, per-operation percentiles, the charts,
//! thresholds, drift and the database's side.

use super::chart;
use super::figures;
use super::page::{card, escape, heading, note, table, Cell};
use super::RunView;
use crate::report::json::{LatencySummary, Report};
use crate::report::summary::{format_duration, format_latency, format_ratio, title};
use std::fmt::Write as _;
use std::time::Duration;

/// The run page as a complete HTML document.
pub fn render(view: &RunView) -> anyhow::Result<String> {
    let r = &view.report;
    let mut body = String::new();
    body.push_str(&header(r, None));
    body.push_str(&cards(r));
    body.push_str(&heading("Operations"));
    body.push_str(&operations_table(r));
    if !r.flows.is_empty() {
        body.push_str(&heading("Flows (whole iterations)"));
        body.push_str(&flows_table(r));
    }
    let views = [view];
    body.push_str(&heading("Over time"));
    let over_time = figures::over_time(&views);
    if over_time.is_empty() {
        body.push_str(&note(view.series_note.as_deref().unwrap_or(
            "No interval series: run with --interval (on by default) to get charts over time.",
        )));
    } else {
        if let Some(s) = &view.series {
            body.push_str(&note(&series_caption(s)));
        }
        body.push_str(&charts(&over_time, &[])?);
    }
    body.push_str(&heading("Latency distribution"));
    body.push_str(&note(
        "Every call's latency by percentile (log scale), from the run's full histograms.",
    ));
    body.push_str(&charts(&figures::distributions(&views)?, &[])?);
    body.push_str(&observations(r));
    Ok(super::page::document(
        &format!("orysim · {} · {}", r.scenario, r.started_at),
        &body,
    ))
}

pub(super) fn series_caption(s: &super::series::RunSeries) -> String {
    if s.intervals_per_point > 1 {
        format!(
            "{} intervals; each point merges {} of them (sums and merged histograms).",
            s.intervals, s.intervals_per_point
        )
    } else {
        format!("{} intervals, one point each.", s.intervals)
    }
}

pub(super) fn charts(charts: &[chart::Chart], side_names: &[String]) -> anyhow::Result<String> {
    let mut html = String::from("<div class=\"charts\">\n");
    for c in charts {
        html.push_str(&chart::render(c, side_names)?);
    }
    html.push_str("</div>\n");
    Ok(html)
}

/// `KEY=VALUE` labels the run was given (`--label`).
pub fn labels(r: &Report) -> Vec<(String, String)> {
    r.labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// How the load was applied: `closed, 10 virtual users` or `open, 100/s`.
fn model(r: &Report) -> String {
    let o = &r.options;
    let mut text = if r.generator.model.is_empty() {
        o.get("model")
            .and_then(|m| m.as_str())
            .unwrap_or("?")
            .to_string()
    } else {
        r.generator.model.clone()
    };
    if let Some(c) = o.get("concurrency").and_then(|c| c.as_u64()) {
        let most = if text == "open" { "at most " } else { "" };
        let _ = write!(text, ", {most}{c} virtual users");
    }
    text
}

/// What ran: the page's title block. `side` names the side on a comparison page.
pub(super) fn header(r: &Report, side: Option<&str>) -> String {
    let mut html = match side {
        None => format!("<header><h1>orysim run · {}</h1>", escape(&r.scenario)),
        Some(side) => format!(
            "<section class=\"side\"><h2>{} · {}</h2>",
            escape(side),
            escape(&r.scenario)
        ),
    };
    let labels = labels(r);
    let mut rows: Vec<(&str, String)> = Vec::new();
    if !labels.is_empty() {
        let spans: String = labels
            .iter()
            .map(|(k, v)| format!("<span>{}={}</span>", escape(k), escape(v)))
            .collect();
        rows.push(("Labels", format!("<span class=\"labels\">{spans}</span>")));
    }
    let target = match r.target.kind {
        crate::report::json::ReportTargetKind::BuiltinSimulator => "built-in simulator".to_string(),
        crate::report::json::ReportTargetKind::Remote => "remote".to_string(),
    };
    let urls: Vec<String> = r
        .target
        .urls
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let target = if urls.is_empty() {
        target
    } else {
        format!("{target}: {}", urls.join(", "))
    };
    rows.push(("Target", escape(&target).into_owned()));
    rows.push(("Model", escape(&model(r)).into_owned()));
    rows.push((
        "Time (UTC)",
        escape(&format!("{} → {}", r.started_at, r.ended_at)).into_owned(),
    ));
    rows.push((
        "Duration",
        escape(&format_duration(Duration::from_secs_f64(
            r.elapsed_seconds.max(0.0),
        )))
        .into_owned(),
    ));
    rows.push((
        "orysim",
        escape(&format!(
            "{} (report schema {})",
            r.tool_version, r.schema_version
        ))
        .into_owned(),
    ));
    html.push_str("<dl class=\"meta\">");
    for (k, v) in rows {
        let _ = write!(html, "<dt>{k}</dt><dd>{v}</dd>");
    }
    html.push_str("</dl>");
    let mut warnings: Vec<String> = Vec::new();
    if r.interrupted {
        warnings.push("The run was interrupted: the figures cover what ran.".to_string());
    }
    if let Some(why) = &r.aborted {
        warnings.push(format!("The run was aborted: {why}"));
    }
    warnings.extend(r.warnings.iter().cloned());
    if !warnings.is_empty() {
        html.push_str("<ul class=\"warnings\">");
        for w in warnings {
            let _ = write!(html, "<li>⚠️ {}</li>", escape(&w));
        }
        html.push_str("</ul>");
    }
    html.push_str(if side.is_none() {
        "</header>\n"
    } else {
        "</section>\n"
    });
    html
}

fn percent(errors: u64, total: u64) -> String {
    if total == 0 {
        "0%".to_string()
    } else {
        format!("{:.2}%", errors as f64 * 100.0 / total as f64)
    }
}

fn rate(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}/s"))
}

/// The summary's headline figures as cards.
fn cards(r: &Report) -> String {
    let mut html = String::from("<div class=\"cards\">");
    html.push_str(&card(
        "Requests",
        &r.totals.requests.to_string(),
        &rate(r.totals.requests_per_second),
    ));
    html.push_str(&card(
        "Errors",
        &r.totals.errors.to_string(),
        &percent(r.totals.errors, r.totals.requests),
    ));
    for s in &r.services {
        let verdicts: Vec<String> = s.outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        html.push_str(&card(
            &format!("{} reads", title(s.name)),
            &rate(s.reads_per_second),
            &verdicts.join(" · "),
        ));
        html.push_str(&card(
            &format!("{} reads per write", title(s.name)),
            &format_ratio(s.read_write_ratio),
            &format!(
                "{} reads, {} writes, {} failed",
                s.reads,
                s.writes,
                s.failed_reads + s.failed_writes
            ),
        ));
    }
    let g = &r.generator;
    html.push_str(&card(
        "Generator CPU",
        &format!("{:.1}%", g.cpu_percent_of_all_cores),
        &format!("of {} cores", g.cores),
    ));
    if let Some(lag) = &g.start_lag_us {
        html.push_str(&card(
            "Start lag p99",
            &format_latency(lag.p99),
            "iterations started late (open model)",
        ));
    }
    html.push_str("</div>\n");
    html
}

fn latency_cells(l: &LatencySummary) -> Vec<Cell> {
    [l.p50, l.p90, l.p95, l.p99, l.p99_9, l.max]
        .into_iter()
        .map(|v| Cell::new(format_latency(v)))
        .collect()
}

const LATENCY_HEADERS: [&str; 6] = ["p50", "p90", "p95", "p99", "p99.9", "max"];

fn operations_table(r: &Report) -> String {
    let mut headers = vec!["Operation", "Kind", "Calls", "Rate", "Errors"];
    headers.extend(LATENCY_HEADERS);
    let rows: Vec<Vec<Cell>> = r
        .operations
        .iter()
        .map(|o| {
            let name = match &o.step {
                Some(step) => format!("{} · {step}", o.name),
                None => o.name.clone(),
            };
            let errors = if o.errors == 0 {
                Cell::new("0")
            } else {
                Cell::with(
                    format!("{} ({})", o.errors, percent(o.errors, o.count)),
                    "bad",
                )
            };
            let mut row = vec![
                Cell::new(name),
                Cell::new(format!("{:?}", o.kind).to_lowercase()),
                Cell::new(o.count.to_string()),
                Cell::new(rate(o.requests_per_second)),
                errors,
            ];
            row.extend(latency_cells(&o.latency_us));
            row
        })
        .collect();
    table("operations", &headers, &rows)
}

fn flows_table(r: &Report) -> String {
    let mut headers = vec!["Flow", "Steps", "Iterations", "Failed"];
    headers.extend(LATENCY_HEADERS);
    let rows: Vec<Vec<Cell>> = r
        .flows
        .iter()
        .map(|f| {
            let mut row = vec![
                Cell::new(format!("{}/{}", f.scenario, f.name)),
                Cell::new(f.steps.to_string()),
                Cell::new(f.count.to_string()),
                Cell::new(f.errors.to_string()),
            ];
            row.extend(latency_cells(&f.duration_us));
            row
        })
        .collect();
    table("flows", &headers, &rows)
}

/// Thresholds, drift and the database block: the report's judgements.
fn observations(r: &Report) -> String {
    let mut html = String::new();
    if !r.thresholds.is_empty() {
        html.push_str(&heading("Thresholds"));
        let rows: Vec<Vec<Cell>> = r
            .thresholds
            .iter()
            .map(|t| {
                let (verdict, class) = if t.ok {
                    ("✅ pass", "ok")
                } else {
                    ("❌ fail", "bad")
                };
                vec![
                    Cell::with(verdict, class),
                    Cell::with(t.expr.clone(), "text"),
                    Cell::new(t.describe()),
                    Cell::new(
                        t.failed_at_seconds
                            .map(|s| format!("from {s:.0}s"))
                            .unwrap_or_default(),
                    ),
                ]
            })
            .collect();
        html.push_str(&table(
            "thresholds",
            &["Verdict", "Threshold", "Measured", "Failed"],
            &rows,
        ));
    }
    if let Some(d) = &r.drift {
        html.push_str(&heading(
            "Drift: the first against the last part of the run",
        ));
        html.push_str(&note(&format!(
            "{:.0}–{:.0}s against {:.0}–{:.0}s ({} intervals each). {}",
            d.first_window_seconds[0],
            d.first_window_seconds[1],
            d.last_window_seconds[0],
            d.last_window_seconds[1],
            d.intervals_per_window,
            d.method
        )));
        let figure = |f: &crate::report::drift::DriftFigure, show: &dyn Fn(f64) -> String| {
            let change = f
                .relative
                .map(|r| format!(" ({:+.1}%)", r * 100.0))
                .unwrap_or_default();
            Cell::with(
                format!("{} → {}{change}", show(f.first), show(f.last)),
                if f.beyond_noise { "bad" } else { "same" },
            )
        };
        let us = |v: f64| format_latency(v.max(0.0).round() as u64);
        let per_s = |v: f64| format!("{v:.1}/s");
        let pct = |v: f64| format!("{:.2}%", v * 100.0);
        let rows: Vec<Vec<Cell>> = d
            .operations
            .iter()
            .map(|o| {
                vec![
                    Cell::new(o.name.clone()),
                    figure(&o.p50_us, &us),
                    figure(&o.p99_us, &us),
                    figure(&o.requests_per_second, &per_s),
                    figure(&o.error_rate, &pct),
                ]
            })
            .collect();
        html.push_str(&table(
            "drift",
            &["Operation", "p50", "p99", "Rate", "Error rate"],
            &rows,
        ));
        html.push_str(&note(
            "Red: beyond the run's own interval-to-interval noise.",
        ));
    }
    if !r.db_stats.is_empty() {
        html.push_str(&heading("Database"));
        let lines = crate::db::summary_lines(&r.db_stats, 10, 160);
        let _ = writeln!(html, "<pre>{}</pre>", escape(&lines.join("\n")));
    }
    html
}
