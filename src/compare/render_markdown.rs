//! The comparison as Markdown, for a pull request or a tuning log.

use super::model::*;
use super::render_terminal::{format_absolute, format_interval, format_value, percent, short_note};

/// A table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.replace(['\n', '\r'], " ").replace('|', "\\|")
}

fn runs(out: &mut String, name: &str, side: &Side) {
    for run in &side.runs {
        out.push_str(&format!(
            "| {name} | `{}` | {} | {} | {:.1} s | {} | {} |\n",
            cell(&run.file),
            cell(&run.scenario),
            cell(&run.started_at),
            run.elapsed_seconds,
            run.intervals,
            cell(&crate::config::labels::describe(&run.labels))
        ));
    }
}

/// The whole comparison as GitHub-flavoured Markdown; ends with a newline.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "## orysim compare: {} {}\n\n",
        c.overall.verdict.emoji(),
        c.overall.verdict.words()
    ));
    out.push_str("| side | report | scenario | started | duration | intervals | labels |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    runs(&mut out, "before", &c.before);
    runs(&mut out, "after", &c.after);
    out.push('\n');
    for w in &c.warnings {
        out.push_str(&format!("> ⚠️ {}\n", cell(&w.message)));
    }
    for n in &c.notes {
        out.push_str(&format!("> ℹ️ {}\n", cell(n)));
    }
    if !c.warnings.is_empty() || !c.notes.is_empty() {
        out.push('\n');
    }
    out.push_str("| calls of | figure | before | after | change | change % | 95% CI | |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---|\n");
    for row in &c.rows {
        for (i, f) in row.figures.iter().enumerate() {
            let subject = if i == 0 {
                format!("**{}**", cell(&row.subject.label()))
            } else {
                String::new()
            };
            let interval = match (&f.note, format_interval(f)) {
                (Some(note), _) => short_note(note).to_string(),
                (None, Some(ci)) => ci,
                (None, None) => "-".to_string(),
            };
            let relative = match (f.figure, f.relative_change) {
                (Figure::ErrorRate, _) | (_, None) => String::new(),
                (_, Some(r)) => percent(r),
            };
            out.push_str(&format!(
                "| {subject} | {} | {} | {} | {} | {relative} | {interval} | {} |\n",
                f.figure.name(),
                format_value(f.figure, f.before),
                format_value(f.figure, f.after),
                f.change
                    .map(|d| format_absolute(f.figure, d))
                    .unwrap_or_else(|| "-".into()),
                f.verdict.emoji()
            ));
        }
    }
    if !c.db_statements.is_empty() {
        out.push_str("\n### Database statements whose time changed most\n\n");
        if let Some(from) = &c.db_statements_from {
            out.push_str(&format!("From `{}`. ", cell(from)));
        }
        out.push_str("ms of execution per second of run (mean ms per call).\n\n");
        out.push_str("| change | before | after | database | statement |\n");
        out.push_str("|---:|---:|---:|---|---|\n");
        let side = |s: &Option<crate::db::compare::Side>| match s {
            Some(s) => format!("{:.1} ({:.2})", s.ms_per_s, s.mean_ms),
            None => "not in top".to_string(),
        };
        for s in &c.db_statements {
            out.push_str(&format!(
                "| {:+.1} | {} | {} | {} | `{}` |\n",
                s.delta_ms_per_s,
                side(&s.before),
                side(&s.after),
                cell(&s.database),
                cell(&crate::db::text::cut(&s.text, 120)).replace('`', "'")
            ));
        }
    }
    out.push_str(&format!(
        "\n*Method: {}: {}.* 🟢 better, 🔴 worse, ⚪ no significant change.\n\n",
        c.method.name, c.method.description
    ));
    let o = &c.overall;
    out.push_str(&format!(
        "**Overall: {} {}** ({} better, {} worse, {} no significant change)",
        o.verdict.emoji(),
        o.verdict.words(),
        o.better,
        o.worse,
        o.unchanged
    ));
    if !o.highlights.is_empty() {
        out.push_str(&format!(": {}", cell(&o.highlights.join(", "))));
    }
    out.push('\n');
    out
}
