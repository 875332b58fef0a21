//! The comparison as a terminal table: one block per service, operation and step, one line per
//! figure with its verdict; colour only when `Style::color` (never when piped or NO_COLOR).

use super::model::*;
use crate::report::summary::{display_width, format_latency, paint, wrap_words, Color, Style};

/// A figure's value in its unit: `1520.3/s`, `0.12%`, `12.3ms`.
pub fn format_value(figure: Figure, v: Option<f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(v) => match figure {
            Figure::Throughput => format!("{v:.1}/s"),
            Figure::ErrorRate => format!("{:.2}%", v * 100.0),
            _ => format_latency(v.round().max(0.0) as u64),
        },
    }
}

fn signed(v: f64, body: String) -> String {
    let sign = if v < 0.0 { "−" } else { "+" };
    format!("{sign}{body}")
}

/// after − before in the figure's unit: `+192.6/s`, `+0.12pp`, `−130µs`.
pub fn format_absolute(figure: Figure, d: f64) -> String {
    match figure {
        Figure::Throughput => signed(d, format!("{:.1}/s", d.abs())),
        Figure::ErrorRate => signed(d, format!("{:.2}pp", d.abs() * 100.0)),
        _ => signed(d, format_latency(d.abs().round() as u64)),
    }
}

/// A relative change: `+12.7%`, `−3.0%`.
pub fn percent(r: f64) -> String {
    signed(r, format!("{:.1}%", r.abs() * 100.0))
}

/// The change as the verdict reads it: relative (`+12.7%`), or in percentage points for an
/// error rate (`+0.12pp`).
pub fn format_change(f: &FigureChange) -> String {
    match (f.figure, f.relative_change, f.change) {
        (Figure::ErrorRate, _, Some(d)) => format_absolute(Figure::ErrorRate, d),
        (_, Some(r), _) => percent(r),
        (_, None, Some(d)) => format_absolute(f.figure, d),
        _ => "-".to_string(),
    }
}

/// The confidence interval as the change is shown: `+8.1…+17.0%` or `+0.01…+0.20pp`.
pub fn format_interval(f: &FigureChange) -> Option<String> {
    match (f.figure, f.relative_ci, f.ci) {
        (Figure::ErrorRate, _, Some(c)) => Some(format!(
            "{}…{}pp",
            signed(c.low, format!("{:.2}", c.low.abs() * 100.0)),
            signed(c.high, format!("{:.2}", c.high.abs() * 100.0))
        )),
        (_, Some(c), _) => Some(format!(
            "{}…{}%",
            signed(c.low, format!("{:.1}", c.low.abs() * 100.0)),
            signed(c.high, format!("{:.1}", c.high.abs() * 100.0))
        )),
        (_, None, Some(c)) => Some(format!(
            "{}…{}",
            format_absolute(f.figure, c.low),
            format_absolute(f.figure, c.high)
        )),
        _ => None,
    }
}

/// What stands in the interval's column when a figure was not judged.
pub fn short_note(note: &str) -> &'static str {
    if note.starts_with("single sample") {
        "single sample"
    } else if note.starts_with("too few calls") {
        "too few calls"
    } else if note.contains("only before") {
        "only before"
    } else if note.contains("only after") {
        "only after"
    } else {
        "too few samples"
    }
}

const WIDTHS: [usize; 6] = [11, 10, 10, 10, 8, 17];

fn cells(cells: [&str; 6]) -> String {
    let mut line = String::from("  ");
    for (i, (text, w)) in cells.iter().zip(WIDTHS).enumerate() {
        let pad = w.saturating_sub(display_width(text));
        if i == 0 {
            line.push_str(text);
            line.push_str(&" ".repeat(pad + 1));
        } else {
            line.push_str(&" ".repeat(pad));
            line.push_str(text);
            line.push(' ');
        }
    }
    line
}

fn run_lines(out: &mut Vec<String>, name: &str, side: &Side, style: &Style) {
    for (i, run) in side.runs.iter().enumerate() {
        let lead = if i == 0 {
            format!("   {name}: ")
        } else {
            " ".repeat(name.len() + 5)
        };
        let samples = if run.intervals > 0 {
            format!("{} intervals", run.intervals)
        } else {
            "no interval series".to_string()
        };
        let text = format!(
            "{} ({}, {}, {:.1} s, {samples})",
            run.file, run.scenario, run.started_at, run.elapsed_seconds
        );
        out.extend(wrap_words(
            &lead,
            &crate::terminal_text::escape(&text),
            name.len() + 7,
            style.width,
        ));
        if !run.labels.is_empty() {
            out.extend(wrap_words(
                &format!("{}labels: ", " ".repeat(name.len() + 7)),
                &crate::terminal_text::escape(&crate::config::labels::describe(&run.labels)),
                name.len() + 9,
                style.width,
            ));
        }
    }
}

fn verdict_color(v: Verdict) -> Option<Color> {
    match v {
        Verdict::Better => Some(Color::Green),
        Verdict::Worse => Some(Color::Red),
        Verdict::Mixed => Some(Color::Yellow),
        Verdict::NoChange => None,
    }
}

/// The whole comparison; ends with a newline.
pub fn render(c: &Comparison, style: &Style) -> String {
    let mut out: Vec<String> = Vec::new();
    let plural = |n: usize| if n == 1 { "run" } else { "runs" };
    out.push(format!(
        "⚖️  orysim compare: {} {} before, {} {} after",
        c.before.runs.len(),
        plural(c.before.runs.len()),
        c.after.runs.len(),
        plural(c.after.runs.len())
    ));
    run_lines(&mut out, "before", &c.before, style);
    run_lines(&mut out, "after", &c.after, style);
    for w in &c.warnings {
        let text = crate::terminal_text::escape(&w.message);
        for line in wrap_words("⚠️  ", &text, 4, style.width) {
            out.push(paint(style, Color::Yellow, &line));
        }
    }
    for n in &c.notes {
        out.extend(wrap_words(
            "ℹ️  ",
            &crate::terminal_text::escape(n),
            4,
            style.width,
        ));
    }
    for row in &c.rows {
        out.push(String::new());
        let title = format!(
            "{}  (calls {} → {})",
            crate::terminal_text::escape(&row.subject.label()),
            row.calls_before,
            row.calls_after
        );
        out.push(crate::report::summary::truncate(&title, style.width));
        out.push(cells([
            "",
            "before",
            "after",
            "change",
            "change%",
            "95% CI of change",
        ]));
        for f in &row.figures {
            let interval = match (&f.note, format_interval(f)) {
                (Some(note), _) => short_note(note).to_string(),
                (None, Some(ci)) => ci,
                (None, None) => "-".to_string(),
            };
            let relative = match f.figure {
                Figure::ErrorRate => String::new(),
                _ => f.relative_change.map(percent).unwrap_or_else(|| "-".into()),
            };
            let mut line = cells([
                f.figure.name(),
                &format_value(f.figure, f.before),
                &format_value(f.figure, f.after),
                &f.change
                    .map(|d| format_absolute(f.figure, d))
                    .unwrap_or_else(|| "-".into()),
                &relative,
                &interval,
            ]);
            match verdict_color(f.verdict) {
                Some(color) => line.push_str(&paint(style, color, f.verdict.emoji())),
                None => line.push_str(f.verdict.emoji()),
            }
            out.push(line);
        }
    }
    if !c.db_statements.is_empty() {
        out.push(String::new());
        if let Some(from) = &c.db_statements_from {
            out.extend(wrap_words(
                "🗄️  Database: ",
                &crate::terminal_text::escape(from),
                4,
                style.width,
            ));
        }
        for line in crate::db::change_lines(&c.db_statements, style.width) {
            out.push(crate::terminal_text::escape(&line).into_owned());
        }
    }
    out.push(String::new());
    out.extend(wrap_words(
        "📐 Method: ",
        &format!("{}: {}.", c.method.name, c.method.description),
        3,
        style.width,
    ));
    out.push("   🟢 better   🔴 worse   ⚪ no significant change".to_string());
    let o = &c.overall;
    let verdict = format!("{} {}", o.verdict.emoji(), o.verdict.words());
    let verdict = match verdict_color(o.verdict) {
        Some(color) => paint(style, color, &verdict),
        None => verdict,
    };
    let mut text = format!(
        "{verdict} ({} better, {} worse, {} no significant change)",
        o.better, o.worse, o.unchanged
    );
    if !o.highlights.is_empty() {
        text.push_str(": ");
        text.push_str(&crate::terminal_text::escape(&o.highlights.join(", ")));
    }
    out.extend(wrap_words("🏁 Overall: ", &text, 3, style.width));
    let mut text = out.join("\n");
    text.push('\n');
    text
}
