//! The page around the charts: one HTML document with its style sheet inline (nothing is
//! fetched: the file opens offline), and the small pieces both pages are made of.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['<', '>', '&', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Laptop and phone widths (charts scale to the column, tables scroll sideways), and print
/// (one chart per row, no figure split across pages).
const STYLE: &str = r#"
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #dde1e8; --ok: #0a7d45;
  --bad: #b3261e; --warn: #8a5a00; --card: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  margin: 0 auto; padding: 16px; max-width: 1200px; }
h1 { font-size: 1.5em; margin: 0 0 4px; } h2 { font-size: 1.2em; margin: 28px 0 10px;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0; }
.meta dt { color: var(--muted); } .meta dd { margin: 0; overflow-wrap: anywhere; }
.labels span { display: inline-block; background: #e8eefc; border-radius: 4px; padding: 0 6px;
  margin: 0 4px 2px 0; }
.warnings { background: #fff6e0; border-left: 4px solid var(--warn); padding: 6px 12px;
  margin: 10px 0; } .warnings li { margin: 2px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; }
.card { background: var(--card); border-radius: 6px; padding: 8px 12px; }
.card .label { color: var(--muted); font-size: .85em; }
.card .value { font-size: 1.35em; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .note { color: var(--muted); font-size: .8em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; width: 100%; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th:first-child, td:first-child, td.text { text-align: left; }
td.text { white-space: normal; } th { color: var(--muted); font-weight: 600; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .same { color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 460px), 1fr));
  gap: 18px; }
figure.chart { margin: 0; min-width: 0; }
figure.chart figcaption { font-weight: 600; margin-bottom: 2px; }
.plot { display: grid; } .plot > svg { grid-area: 1 / 1; width: 100%; height: auto; }
.plot > svg.data.side-1 polyline { stroke-dasharray: 9 5; }
.legend { list-style: none; padding: 0; margin: 2px 0 0; display: flex; flex-wrap: wrap;
  gap: 2px 14px; font-size: .85em; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px;
  vertical-align: -1px; }
.stroke { display: inline-block; width: 26px; border-top: 2px solid var(--fg); margin-right: 5px;
  vertical-align: 3px; } .stroke.side-1 { border-top-style: dashed; }
.note { color: var(--muted); } pre { overflow-x: auto; font-size: .85em; }
footer { color: var(--muted); font-size: .8em; margin-top: 30px; }
@media (max-width: 600px) { body { padding: 10px; font-size: 14px; } }
@media print { body { max-width: none; } .charts { grid-template-columns: 1fr; }
  figure.chart, table, .card { break-inside: avoid; } h2 { break-after: avoid; } }
"#;

/// The whole document.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"generator\" content=\"orysim {}\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\
         <footer>Written by orysim {}. Latencies in µs/ms/s; times in UTC; one file, no network \
         needed.</footer>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title),
        env!("CARGO_PKG_VERSION"),
    )
}

/// A summary figure.
pub fn card(label: &str, value: &str, note: &str) -> String {
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("<div class=\"note\">{}</div>", escape(note))
    };
    format!(
        "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div>{note}</div>",
        escape(label),
        escape(value)
    )
}

/// One table cell: its text, and a class for colour or alignment.
pub struct Cell {
    pub text: String,
    pub class: &'static str,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            class: "",
        }
    }

    pub fn with(text: impl Into<String>, class: &'static str) -> Self {
        Cell {
            text: text.into(),
            class,
        }
    }
}

/// A table that scrolls sideways on a narrow screen.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut html = format!(
        "<div class=\"table-wrap\"><table data-table=\"{}\"><thead><tr>",
        escape(id)
    );
    for h in headers {
        let _ = write!(html, "<th>{}</th>", escape(h));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            if cell.class.is_empty() {
                let _ = write!(html, "<td>{}</td>", escape(&cell.text));
            } else {
                let _ = write!(
                    html,
                    "<td class=\"{}\">{}</td>",
                    cell.class,
                    escape(&cell.text)
                );
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div>\n");
    html
}

/// A section heading.
pub fn heading(text: &str) -> String {
    format!("<h2>{}</h2>\n", escape(text))
}

/// A line of muted text.
pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>\n", escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_cannot_become_markup() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let t = table("t", &["<h>"], &[vec![Cell::with("<x>", "bad")]]);
        assert!(t.contains("<th>&lt;h&gt;</th>") && t.contains("<td class=\"bad\">&lt;x&gt;</td>"));
        let doc = document("a</title>", "<p>body</p>");
        assert!(doc.starts_with("<!DOCTYPE html>") && doc.contains("a&lt;/title&gt;"));
        assert!(
            !doc.contains("http://") && !doc.contains("https://"),
            "nothing fetched"
        );
    }
}
