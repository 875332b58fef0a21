//! The comparison as an HTML page: the comparison model mapped onto the report's comparison
//! page (both runs overlaid, the table with verdicts and confidence intervals, the method).

use super::model::{Comparison, FigureChange, Verdict};
use super::render_terminal::{format_change, format_interval, format_value};
use crate::report::html::{self, CompareRow, RowVerdict, RunView, Side};
use std::path::Path;

/// The page for `comparison`, drawing the runs of `before` and `after` (the first report of
/// each side: charts of pooled repeated runs would overlay several timelines) over each other.
pub fn render(comparison: &Comparison, before: &Path, after: &Path) -> anyhow::Result<String> {
    let before_run = RunView::load(before)?;
    let after_run = RunView::load(after)?;
    let mut before_name = html::compare_page::default_side_name(&before_run);
    let mut after_name = html::compare_page::default_side_name(&after_run);
    if before_name == after_name {
        before_name = format!("before: {before_name}");
        after_name = format!("after: {after_name}");
    }
    let mut notes: Vec<String> = comparison
        .warnings
        .iter()
        .map(|w| w.message.clone())
        .collect();
    notes.extend(comparison.notes.iter().cloned());
    let page = html::Comparison {
        before: Side {
            name: &before_name,
            run: &before_run,
        },
        after: Side {
            name: &after_name,
            run: &after_run,
        },
        rows: rows(comparison),
        method: Some(format!(
            "{}: {}",
            comparison.method.name, comparison.method.description
        )),
        notes,
    };
    html::render_comparison(&page)
}

fn rows(comparison: &Comparison) -> Vec<CompareRow> {
    comparison
        .rows
        .iter()
        .flat_map(|row| {
            row.figures.iter().map(|f| CompareRow {
                subject: format!("{} {}", row.subject.label(), f.figure.name()),
                before: format_value(f.figure, f.before),
                after: format_value(f.figure, f.after),
                change: format_change(f),
                confidence_interval: format_interval(f),
                verdict: verdict(f),
            })
        })
        .collect()
}

fn verdict(f: &FigureChange) -> RowVerdict {
    match f.verdict {
        Verdict::Better if f.significant => RowVerdict::Better,
        Verdict::Worse if f.significant => RowVerdict::Worse,
        // A figure that was not judged (a single sample, too few calls) is not "no change".
        _ if f.note.is_some() => RowVerdict::Undecided,
        _ => RowVerdict::NoSignificantChange,
    }
}
