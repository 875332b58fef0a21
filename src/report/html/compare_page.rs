//! The page of a comparison: both runs on the same axes (their series from each run's own
//! start, their percentile curves), the comparison's table and both sides' descriptions.
//!
//! The statistics are not made here: the caller maps its comparison onto [`CompareRow`]s (text
//! already formatted, a verdict per row) and names the method; this module only draws.

use super::figures;
use super::page::{heading, note, table, Cell};
use super::run_page::{charts, header, labels, series_caption};
use super::RunView;

/// A row's verdict, as the comparison decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowVerdict {
    Better,
    Worse,
    NoSignificantChange,
    /// Not decided (e.g. a single sample on a side): shown without colour.
    Undecided,
}

impl RowVerdict {
    fn cell(self) -> Cell {
        match self {
            RowVerdict::Better => Cell::with("🟢 better", "ok"),
            RowVerdict::Worse => Cell::with("🔴 worse", "bad"),
            RowVerdict::NoSignificantChange => Cell::with("⚪ no significant change", "same"),
            RowVerdict::Undecided => Cell::with("–", "same"),
        }
    }
}

/// One row of the comparison table, its figures already formatted.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    /// What is compared: `keto.check p99`, `hydra throughput`, ...
    pub subject: String,
    pub before: String,
    pub after: String,
    /// Absolute and/or relative change, e.g. `+1.2ms (+8.0%)`.
    pub change: String,
    /// Confidence interval of the change, e.g. `[+0.4ms, +2.0ms] 95%`; `None` without one.
    pub confidence_interval: Option<String>,
    pub verdict: RowVerdict,
}

/// One side of the comparison: a name for the legend (e.g. its labels) and its run.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    pub name: &'a str,
    pub run: &'a RunView,
}

/// Everything the comparison page shows.
#[derive(Clone, Debug)]
pub struct Comparison<'a> {
    pub before: Side<'a>,
    pub after: Side<'a>,
    pub rows: Vec<CompareRow>,
    /// How significance was decided, in words (shown under the table).
    pub method: Option<String>,
    /// Why the runs may not be like for like.
    pub notes: Vec<String>,
}

/// The name a side gets when the caller has none better: its labels, else its start time.
pub fn default_side_name(run: &RunView) -> String {
    let l = labels(&run.report);
    if l.is_empty() {
        run.report.started_at.clone()
    } else {
        l.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The comparison page as a complete HTML document.
pub fn render(c: &Comparison) -> anyhow::Result<String> {
    let names = [c.before.name.to_string(), c.after.name.to_string()];
    let mut body = format!(
        "<header><h1>orysim comparison · {} → {}</h1></header>\n",
        super::page::escape(&names[0]),
        super::page::escape(&names[1])
    );
    body.push_str(&note(
        "Solid lines: before. Dashed lines: after. Both on the same axes; time counts from \
         each run's own start.",
    ));
    if !c.notes.is_empty() {
        body.push_str("<ul class=\"warnings\">");
        for n in &c.notes {
            body.push_str(&format!("<li>⚠️ {}</li>", super::page::escape(n)));
        }
        body.push_str("</ul>\n");
    }
    body.push_str(&heading("Comparison"));
    let rows: Vec<Vec<Cell>> = c
        .rows
        .iter()
        .map(|r| {
            vec![
                Cell::new(r.subject.clone()),
                Cell::new(r.before.clone()),
                Cell::new(r.after.clone()),
                Cell::new(r.change.clone()),
                Cell::new(r.confidence_interval.clone().unwrap_or_else(|| "–".into())),
                r.verdict.cell(),
            ]
        })
        .collect();
    let before_head = format!("Before ({})", names[0]);
    let after_head = format!("After ({})", names[1]);
    body.push_str(&table(
        "comparison",
        &[
            "Subject",
            &before_head,
            &after_head,
            "Change",
            "Confidence interval",
            "Verdict",
        ],
        &rows,
    ));
    if let Some(m) = &c.method {
        body.push_str(&note(m));
    }
    let views = [c.before.run, c.after.run];
    body.push_str(&heading("Over time"));
    let over_time = figures::over_time(&views);
    if over_time.is_empty() {
        body.push_str(&note("Neither run has an interval series."));
    } else {
        for (name, v) in names.iter().zip(views) {
            let caption = match &v.series {
                Some(s) => series_caption(s),
                None => "no interval series".to_string(),
            };
            body.push_str(&note(&format!("{name}: {caption}")));
        }
        body.push_str(&charts(&over_time, &names)?);
    }
    body.push_str(&heading("Latency distribution"));
    body.push_str(&charts(&figures::distributions(&views)?, &names)?);
    body.push_str(&heading("The runs"));
    body.push_str(&header(&c.before.run.report, Some(&names[0])));
    body.push_str(&header(&c.after.run.report, Some(&names[1])));
    Ok(super::page::document(
        &format!("orysim comparison · {} → {}", names[0], names[1]),
        &body,
    ))
}
