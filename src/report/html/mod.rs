//! The HTML report: one self-contained file (style inline, charts as inline SVG drawn with
//! plotters, no script, nothing fetched) that shows a run, or two runs compared.
//!
//! `page` is the document and its pieces, `chart` draws one chart, `series` turns the interval
//! series into drawable lines (downsampled), `figures` makes the charts of one or two runs,
//! `run_page` and `compare_page` assemble the two pages.

mod chart;
pub mod compare_page;
mod figures;
mod page;
mod run_page;
pub mod series;
#[cfg(test)]
mod tests;

pub use chart::Line;
pub use compare_page::{CompareRow, Comparison, RowVerdict, Side};
pub use series::RunSeries;

use crate::report::json::{self, Report};
use std::path::Path;

/// A run as the pages draw it: its report and, when it has one, its interval series.
#[derive(Clone, Debug)]
pub struct RunView {
    pub report: Report,
    pub series: Option<RunSeries>,
    /// Why there is no series, when the report names one that could not be read.
    pub series_note: Option<String>,
}

impl RunView {
    /// The run of `report`, with the series at `series_path` when given. A series that cannot
    /// be read leaves the page without its charts over time (and says why), not without a page.
    pub fn new(report: Report, series_path: Option<&Path>) -> Self {
        let (series, series_note) = match series_path {
            None => (None, None),
            Some(path) => {
                let main = figures::main_operations(&report);
                let expected = report.series.as_ref().map(|s| s.intervals);
                match series::read(path, &main, expected) {
                    Ok(s) => (Some(s), None),
                    Err(e) => (
                        None,
                        Some(format!(
                            "The interval series {} could not be read: {e:#}",
                            path.display()
                        )),
                    ),
                }
            }
        };
        RunView {
            report,
            series,
            series_note,
        }
    }

    /// The report at `path` with the series its `series` field names, beside it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let report = json::load(path)?;
        let series = series_beside(path, &report);
        Ok(RunView::new(report, series.as_deref()))
    }
}

/// Where a report's series is: its `series.file`, relative to the report's directory.
pub fn series_beside(report_path: &Path, report: &Report) -> Option<std::path::PathBuf> {
    let s = report.series.as_ref()?;
    Some(report_path.parent().unwrap_or(Path::new("")).join(&s.file))
}

/// The run page of `view`.
pub fn render_run(view: &RunView) -> anyhow::Result<String> {
    run_page::render(view)
}

/// The comparison page.
pub fn render_comparison(c: &Comparison) -> anyhow::Result<String> {
    compare_page::render(c)
}

/// Writes a page atomically (temporary file, then rename).
pub fn write(path: &Path, html: &str) -> std::io::Result<()> {
    json::write_file_atomic(path, html.as_bytes())
}
