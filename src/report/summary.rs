//! The end-of-run emoji summary, with the fields users know from the original Go tools.
//!
//! Layout rules: every line fits in `Style::width` columns (emoji measured as 2 columns), each
//! field label starts in the same column after its emoji (text-default symbols such as ⏱️ get one
//! extra space, because many terminals draw them 1 column wide), and without colour the output
//! holds no escape sequence at all. Every rate divides by the measured elapsed time.

use super::json::{headline_verdicts, per_second, services_in_order};
use crate::engine::{RunInfo, TargetKind};
use crate::ground::{Op, Service, Verdict};
use crate::metrics::{FlowStats, LatencyHistogram, OpStats, Snapshot};
use std::time::Duration;
use unicode_width::UnicodeWidthStr;

/// How to render: with ANSI colours or not, and the terminal width to stay within.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    pub width: usize,
}

impl Default for Style {
    /// Plain text, 80 columns: what a file, a pipe or a CI log should get.
    fn default() -> Self {
        Style {
            color: false,
            width: 80,
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Color {
    Green,
    Red,
    Yellow,
}

pub(crate) fn paint(style: &Style, color: Color, text: &str) -> String {
    if !style.color {
        return text.to_string();
    }
    let code = match color {
        Color::Green => "32",
        Color::Red => "31",
        Color::Yellow => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Green when zero, red otherwise.
fn paint_failures(style: &Style, n: u64) -> String {
    paint(
        style,
        if n == 0 { Color::Green } else { Color::Red },
        &n.to_string(),
    )
}

/// Columns taken on screen, as `unicode-width` counts them (wide characters and emoji 2, a
/// text-default symbol with U+FE0F such as ⏱️ ⚙️ ✏️ 👁️ ✔️ ⚠️ also 2, the most a terminal will
/// draw; zero-width characters 0); ANSI escape sequences count 0.
pub fn display_width(s: &str) -> usize {
    let mut width = 0;
    let mut rest = s;
    while let Some(at) = rest.find('\x1b') {
        width += rest[..at].width();
        rest = &rest[at + 1..];
        // A CSI sequence (`ESC [ ... final byte`) draws nothing.
        if let Some(csi) = rest.strip_prefix('[') {
            rest = match csi.find(|c: char| ('\x40'..='\x7e').contains(&c)) {
                Some(end) => &csi[end + 1..],
                None => "",
            };
        }
    }
    width + rest.width()
}

/// Emoji plus spacing so that labels start in the same column: one space after a wide emoji,
/// two after a text-default symbol with U+FE0F (drawn 1 column wide by many terminals).
fn icon(emoji: &str) -> String {
    if emoji.ends_with('\u{FE0F}') {
        format!("{emoji}  ")
    } else {
        format!("{emoji} ")
    }
}

const LABEL_WIDTH: usize = 19;

fn field(emoji: &str, label: &str, value: &str) -> String {
    format!("{}{label:<LABEL_WIDTH$}{value}", icon(emoji))
}

/// Latency in human units with 3 significant figures: `842µs`, `12.3ms`, `1.20s`.
/// The generator's own figures: CPU, memory and, in the open model, schedule keeping.
fn generator_items(info: &RunInfo) -> Vec<String> {
    let g = &info.generator;
    let mut items = vec![format!(
        "CPU {:.0}% of {} cores{}",
        g.cpu_share(info.elapsed) * 100.0,
        g.cores,
        if g.in_process_simulator {
            " (with the simulator)"
        } else {
            ""
        }
    )];
    if let Some(bytes) = g.peak_memory_bytes {
        items.push(format!("peak memory {:.0} MiB", bytes as f64 / 1048576.0));
    }
    if g.open_model {
        if let Some(lag) = &g.start_lag {
            items.push(format!(
                "start lag p99 {}",
                format_latency(lag.value_at_quantile(0.99))
            ));
        }
        items.push(format!("{} dropped", g.dropped));
    }
    items
}

pub fn format_latency(us: u64) -> String {
    if us < 1000 {
        return format!("{us}µs");
    }
    let digits = |v: u64| v.checked_ilog10().map_or(1, |d| d as usize + 1);
    let step = 10u64.pow(digits(us) as u32 - 3);
    let rounded = (us / step + u64::from(us % step * 2 >= step)).saturating_mul(step);
    let d = digits(rounded);
    if rounded < 1_000_000 {
        format!("{:.*}ms", 6 - d, rounded as f64 / 1e3)
    } else {
        format!("{:.*}s", 9usize.saturating_sub(d), rounded as f64 / 1e6)
    }
}

/// Measured duration: `10.02s`, or `125.03s (2m 05s)` from one minute on.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{secs:.2}s");
    }
    let whole = d.as_secs();
    let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60);
    if h > 0 {
        format!("{secs:.2}s ({h}h {m:02}m {s:02}s)")
    } else {
        format!("{secs:.2}s ({m}m {s:02}s)")
    }
}

/// Reads per write as `100.0:1`, or `n/a` without writes.
pub fn format_ratio(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r.is_finite() => format!("{r:.1}:1"),
        _ => "n/a".to_string(),
    }
}

fn format_rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".to_string(), |r| format!("{r:.1}"))
}

fn format_percent(errors: u64, total: u64) -> String {
    if total == 0 {
        return "0.00%".to_string();
    }
    let pct = errors as f64 * 100.0 / total as f64;
    if errors > 0 && pct < 0.005 {
        "<0.01%".to_string()
    } else {
        format!("{pct:.2}%")
    }
}

pub(crate) fn title(service: Service) -> &'static str {
    match service {
        Service::Kratos => "Kratos",
        Service::Hydra => "Hydra",
        Service::Keto => "Keto",
    }
}

/// Word-wraps `text` after `prefix`; continuation lines are indented by `indent` spaces. Words
/// longer than a line (URLs) are split.
pub(crate) fn wrap_words(prefix: &str, text: &str, indent: usize, width: usize) -> Vec<String> {
    let width = width.max(indent + 10);
    let mut lines = Vec::new();
    let mut line = prefix.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        loop {
            let sep = usize::from(!empty);
            if display_width(&line) + sep + display_width(&word) <= width {
                if !empty {
                    line.push(' ');
                }
                line.push_str(&word);
                empty = false;
                break;
            }
            if !empty {
                lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
                empty = true;
                continue;
            }
            // The word alone does not fit: split it.
            let room = width.saturating_sub(display_width(&line)).max(1);
            let mut head = String::new();
            let mut rest = word.chars();
            for c in rest.by_ref() {
                head.push(c);
                if display_width(&head) >= room {
                    break;
                }
            }
            line.push_str(&head);
            lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
            word = rest.collect();
            if word.is_empty() {
                break;
            }
        }
    }
    if !empty || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `prefix item, item, item` wrapped between items; continuation lines indented by `indent`.
fn wrap_items(prefix: &str, items: &[String], indent: usize, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = prefix.to_string();
    let mut line_has_item = false;
    for (i, item) in items.iter().enumerate() {
        let tail = if i + 1 < items.len() { "," } else { "" };
        let needed = 1 + display_width(item) + tail.len();
        if line_has_item && display_width(&line) + needed > width {
            lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
            line_has_item = false;
        }
        if line_has_item {
            line.push(' ');
        }
        line.push_str(item);
        line.push_str(tail);
        line_has_item = true;
    }
    lines.push(line);
    lines
}

/// One cell of the latency table; `color` applies to the figure only, after padding.
struct Cell {
    text: String,
    color: Option<Color>,
}

impl Cell {
    fn plain(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            color: None,
        }
    }
}

const TABLE_INDENT: usize = 3;
const HEADERS: [&str; 8] = [
    "operation",
    "count",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "errors",
];
/// Columns given up, in this order, when the table would not fit the width.
const DROP_ORDER: [usize; 4] = [5, 2, 3, 6];

fn latency_cells(h: &LatencyHistogram) -> [Cell; 5] {
    let q = |q: f64| {
        if h.is_empty() {
            Cell::plain("-")
        } else {
            Cell::plain(format_latency(h.value_at_quantile(q)))
        }
    };
    let max = if h.is_empty() {
        Cell::plain("-")
    } else {
        Cell::plain(format_latency(h.max()))
    };
    [q(0.5), q(0.9), q(0.99), q(0.999), max]
}

/// Row label: the operation name, or `op · step` for a named scenario step.
fn label(s: &OpStats) -> String {
    match &s.step {
        None => s.op.name().to_string(),
        Some(_) => crate::terminal_text::escape(&s.key().label()).into_owned(),
    }
}

/// `text` cut to at most `max` columns, ending in `…` when something was cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if display_width(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if display_width(&out) + 1 > max {
            out.pop();
            break;
        }
    }
    out.push('…');
    out
}

/// One measured line of the latency table: an operation, a named step or a flow.
struct Measured<'a> {
    label: String,
    count: u64,
    latency: &'a LatencyHistogram,
    uncorrected: Option<&'a LatencyHistogram>,
    errors: u64,
}

impl<'a> From<&&'a OpStats> for Measured<'a> {
    fn from(s: &&'a OpStats) -> Self {
        Measured {
            label: label(s),
            count: s.count(),
            latency: &s.latency,
            uncorrected: s.uncorrected.as_ref(),
            errors: s.error_count(),
        }
    }
}

impl<'a> From<&&'a FlowStats> for Measured<'a> {
    fn from(f: &&'a FlowStats) -> Self {
        Measured {
            label: flow_label(f),
            count: f.count(),
            latency: &f.duration,
            uncorrected: f.uncorrected.as_ref(),
            errors: f.error_count(),
        }
    }
}

/// Row label of a flow's duration: `flow scenario/name`.
fn flow_label(f: &FlowStats) -> String {
    format!("flow {}", crate::terminal_text::escape(&f.key().label()))
}

fn table_rows(measured: &[Measured]) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    for m in measured {
        let mut row = vec![
            Cell::plain(m.label.clone()),
            Cell::plain(m.count.to_string()),
        ];
        row.extend(latency_cells(m.latency));
        row.push(Cell {
            text: m.errors.to_string(),
            color: (m.errors > 0).then_some(Color::Red),
        });
        rows.push(row);
        if let Some(unc) = m.uncorrected {
            let mut row = vec![Cell::plain("  ↳ uncorrected"), Cell::plain("")];
            row.extend(latency_cells(unc));
            row.push(Cell::plain(""));
            rows.push(row);
        }
    }
    rows
}

fn render_table(measured: &[Measured], style: &Style) -> Vec<String> {
    let mut rows = table_rows(measured);
    let col_width = |rows: &[Vec<Cell>], i: usize| {
        rows.iter()
            .map(|r| display_width(&r[i].text))
            .chain([HEADERS[i].len()])
            .max()
            .unwrap_or(0)
    };
    let mut widths: Vec<usize> = (0..HEADERS.len()).map(|i| col_width(&rows, i)).collect();
    let mut shown: Vec<usize> = (0..HEADERS.len()).collect();
    let total = |widths: &[usize], shown: &[usize], gap: usize| {
        TABLE_INDENT + shown.iter().map(|&i| widths[i]).sum::<usize>() + gap * (shown.len() - 1)
    };
    let mut gap = 2;
    if total(&widths, &shown, gap) > style.width {
        gap = 1;
    }
    // Columns are dropped for the operation names alone: a named step's label counts as no
    // wider than the longest operation name here, and is cut afterwards to the room left.
    let op_names = longest_op_name();
    widths[0] = rows
        .iter()
        .map(|r| display_width(&r[0].text).min(op_names))
        .chain([HEADERS[0].len()])
        .max()
        .unwrap_or(0);
    for drop in DROP_ORDER {
        if total(&widths, &shown, gap) <= style.width {
            break;
        }
        shown.retain(|&i| i != drop);
    }
    let room = style
        .width
        .saturating_sub(total(&widths, &shown, gap) - widths[0]);
    let label_max = room.max(widths[0]);
    for row in &mut rows {
        row[0].text = truncate(&row[0].text, label_max);
    }
    widths[0] = col_width(&rows, 0);

    let render = |cells: Vec<(String, Option<Color>)>| {
        let mut line = " ".repeat(TABLE_INDENT);
        for (n, &i) in shown.iter().enumerate() {
            let (text, color) = &cells[i];
            let pad = widths[i].saturating_sub(display_width(text));
            if n > 0 {
                line.push_str(&" ".repeat(gap));
            }
            let painted = match color {
                Some(c) => paint(style, *c, text),
                None => text.clone(),
            };
            if i == 0 {
                line.push_str(&painted);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(&painted);
            }
        }
        line.trim_end().to_string()
    };

    let mut out = vec![render(
        HEADERS.iter().map(|h| (h.to_string(), None)).collect(),
    )];
    for row in rows {
        out.push(render(row.into_iter().map(|c| (c.text, c.color)).collect()));
    }
    out
}

fn render_service(
    out: &mut Vec<String>,
    info: &RunInfo,
    snap: &Snapshot,
    service: Service,
    style: &Style,
) {
    let totals = snap.service_totals(service);
    let elapsed = format_duration(info.elapsed);
    let users = info.concurrency.get(&service).copied();
    let users_text = match users {
        Some(1) => "1 virtual user".to_string(),
        Some(n) => format!("{n} virtual users"),
        None => "n/a".to_string(),
    };

    let name = title(service);
    let (emoji, header) = if info.interrupted {
        (
            "⚠\u{FE0F}",
            format!(
                "{name} workload {} after {elapsed}",
                paint(style, Color::Yellow, "interrupted")
            ),
        )
    } else if crate::metrics::completion::completed(snap, Some(service)) == 0 {
        (
            "❌",
            format!(
                "{name} workload: {}",
                paint(style, Color::Red, "NO REQUEST COMPLETED")
            ),
        )
    } else {
        ("✅", format!("{name} workload complete"))
    };
    out.extend(wrap_words(&icon(emoji), &header, 3, style.width));

    out.push(field("⏱\u{FE0F}", "Duration:", &elapsed));
    out.push(field("⚙\u{FE0F}", "Concurrency:", &users_text));
    out.push(field(
        "🚦",
        "Checks/sec:",
        // A batch call counts as the tuples it checked.
        &format_rate(per_second(totals.checks(), info.elapsed)),
    ));
    out.push(field(
        "🧪", "Mode:",
        // A dry run stops before the load and prints its plan instead of a summary.
        "LIVE",
    ));
    let [good, bad] = headline_verdicts(service);
    let (good_field, bad_field) = match service {
        Service::Kratos => (("🟢", "Active sessions:"), ("🔴", "Inactive sessions:")),
        Service::Hydra => (("🟢", "Active tokens:"), ("🔴", "Inactive tokens:")),
        Service::Keto => (("✔\u{FE0F}", "Allowed:"), ("🚫", "Denied:")),
    };
    out.push(field(
        good_field.0,
        good_field.1,
        &totals.verdict(good).to_string(),
    ));
    out.push(field(
        bad_field.0,
        bad_field.1,
        &totals.verdict(bad).to_string(),
    ));
    out.push(field("✏\u{FE0F}", "Writes:", &totals.writes.to_string()));
    out.push(field("👁\u{FE0F}", "Reads:", &totals.reads.to_string()));
    out.push(field(
        "📊",
        "Read/Write ratio:",
        &format_ratio(totals.read_write_ratio()),
    ));
    out.push(field(
        "🚨",
        "Failed writes:",
        &paint_failures(style, totals.failed_writes),
    ));
    out.push(field(
        "🚨",
        "Failed reads:",
        &paint_failures(style, totals.failed_reads),
    ));

    let stats: Vec<&OpStats> = snap.ops().filter(|s| s.op.service() == service).collect();
    if stats.is_empty() {
        out.push("   No requests recorded.".to_string());
        return;
    }
    out.push(String::new());
    if stats.iter().any(|s| s.uncorrected.is_some()) {
        out.extend(wrap_words(
            "   ",
            "Latency from when each call was due (coordinated-omission corrected; a later \
             step is due when the one before it ended); ↳ rows: from the actual send.",
            3,
            style.width,
        ));
    }
    let flows = shown_flows(snap, Some(service));
    let measured: Vec<Measured> = stats
        .iter()
        .map(Measured::from)
        .chain(flows.iter().map(Measured::from))
        .collect();
    out.extend(render_table(&measured, style));
    render_flow_errors(out, &flows, style);

    for s in &stats {
        if s.errors.is_empty() {
            continue;
        }
        let items: Vec<String> = s
            .errors
            .iter()
            .map(|(class, n)| format!("{class} {}", paint(style, Color::Red, &format!("×{n}"))))
            .collect();
        out.extend(wrap_items(
            &format!("   {}: ", truncate(&label(s), listing_label_max(style))),
            &items,
            5,
            style.width,
        ));
    }
    for s in stats.iter().filter(|s| s.op.is_batch() && s.count() > 0) {
        let c = &s.checks;
        let mut items = vec![
            format!("{} tuples in {} calls", c.total(), s.count()),
            format!("allowed {}", c.allowed),
            format!("denied {}", c.denied),
        ];
        if c.failed > 0 {
            items.push(format!(
                "failed {}",
                paint(style, Color::Red, &c.failed.to_string())
            ));
        }
        out.extend(wrap_items(
            &format!("   {}: ", truncate(&label(s), listing_label_max(style))),
            &items,
            5,
            style.width,
        ));
    }
    for s in &stats {
        let special = Verdict::ALL.into_iter().any(|v| {
            v != Verdict::Ok && !headline_verdicts(service).contains(&v) && s.verdict(v) > 0
        });
        if !special {
            continue;
        }
        let items: Vec<String> = Verdict::ALL
            .into_iter()
            .filter(|&v| s.verdict(v) > 0)
            .map(|v| format!("{} {}", v.name(), s.verdict(v)))
            .collect();
        out.extend(wrap_items(
            &format!("   {}: ", truncate(&label(s), listing_label_max(style))),
            &items,
            5,
            style.width,
        ));
    }
}

/// The flows the summary shows under `service` (`None`: flows that span several services):
/// those of more than one step, whose duration says more than their one call's latency.
fn shown_flows(snap: &Snapshot, service: Option<Service>) -> Vec<&FlowStats> {
    snap.flows()
        .filter(|f| f.info.service == service && f.info.steps > 1 && f.count() > 0)
        .collect()
}

fn render_flow_errors(out: &mut Vec<String>, flows: &[&FlowStats], style: &Style) {
    for f in flows.iter().filter(|f| !f.errors.is_empty()) {
        let items: Vec<String> = f
            .errors
            .iter()
            .map(|(class, n)| format!("{class} {}", paint(style, Color::Red, &format!("×{n}"))))
            .collect();
        out.extend(wrap_items(
            &format!(
                "   {}: ",
                truncate(&flow_label(f), listing_label_max(style))
            ),
            &items,
            5,
            style.width,
        ));
    }
}

/// Flows whose steps call several services get a block of their own after the services.
fn render_cross_service_flows(out: &mut Vec<String>, snap: &Snapshot, style: &Style) {
    let flows = shown_flows(snap, None);
    if flows.is_empty() {
        return;
    }
    out.push(String::new());
    out.extend(wrap_words(
        &format!("{}Flows across services: ", icon("🔀")),
        "iteration duration, start to last step's end",
        3,
        style.width,
    ));
    let measured: Vec<Measured> = flows.iter().map(Measured::from).collect();
    out.extend(render_table(&measured, style));
    render_flow_errors(out, &flows, style);
}

/// Labels before the error and verdict lists under the table take at most half the line, but
/// operation names are never cut.
fn listing_label_max(style: &Style) -> usize {
    (style.width / 2).max(longest_op_name())
}

fn longest_op_name() -> usize {
    Op::ALL.iter().map(|op| op.name().len()).max().unwrap_or(0)
}

/// Whether certificates were checked (unchecked on a line of its own, so that an unverified
/// run cannot pass for a verified one), the roots trusted, and per endpoint the protocol,
/// connections and TLS handshakes: the load's shape on the wire.
fn render_transport(out: &mut Vec<String>, info: &RunInfo, style: &Style) {
    if let Some(tls) = &info.tls {
        if tls.insecure {
            out.push(format!(
                "{}TLS NOT VERIFIED (--insecure): server certificates were not checked",
                icon("⚠️")
            ));
        }
        out.extend(wrap_words(
            &format!("{}TLS trust: ", icon("🔒")),
            &crate::terminal_text::escape(&tls.trust),
            3,
            style.width,
        ));
    }
    if info.transport.is_empty() {
        return;
    }
    out.push(format!("{}Connections:", icon("🔌")));
    for u in &info.transport {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut line = format!(
            "{} (--http-version {}), {}",
            u.protocol.as_deref().unwrap_or("no answer"),
            u.http_version,
            plural(u.connections, "connection", "connections"),
        );
        if u.tls {
            line.push_str(&format!(
                ", {} ({} resumed)",
                plural(u.tls_handshakes, "TLS handshake", "TLS handshakes"),
                u.tls_handshakes.saturating_sub(u.tls_full_handshakes),
            ));
        }
        if u.client_cert {
            line.push_str(", client certificate");
        }
        out.extend(wrap_words(
            &format!("   {}: ", u.endpoint),
            &line,
            5,
            style.width,
        ));
    }
}

/// Renders the whole summary; the returned text ends with a newline.
pub fn render(info: &RunInfo, snap: &Snapshot, style: &Style) -> String {
    let style = &Style {
        color: style.color,
        width: style.width.max(40),
    };
    let mut out: Vec<String> = Vec::new();

    match info.target_kind {
        TargetKind::BuiltinSimulator => out.push(format!(
            "{}Target: built-in simulator (in-process, 127.0.0.1)",
            icon("🎯")
        )),
        TargetKind::Remote => {
            out.push(format!("{}Target: remote", icon("🎯")));
            for (name, url) in &info.target_urls {
                out.extend(wrap_words(&format!("   {name}: "), url, 5, style.width));
            }
            render_transport(&mut out, info, style);
        }
    }
    out.extend(wrap_words(
        &format!("{}Scenario: ", icon("📋")),
        &crate::terminal_text::escape(&info.scenario),
        3,
        style.width,
    ));
    if let Some(id) = &info.split.run_id {
        // A segment's share, or the merge of all of them.
        let share = if info.split.segment.is_whole() {
            "the whole load".to_string()
        } else {
            format!("segment {} of the load", info.split.segment)
        };
        out.push(format!(
            "{}Run: {} ({share})",
            icon("🧩"),
            crate::terminal_text::escape(id)
        ));
    }

    if !info.labels.is_empty() {
        out.extend(wrap_words(
            &format!("{}Labels: ", icon("🏷\u{FE0F}")),
            &crate::terminal_text::escape(&crate::config::labels::describe(&info.labels)),
            3,
            style.width,
        ));
    }

    for service in services_in_order(info, snap) {
        out.push(String::new());
        render_service(&mut out, info, snap, service, style);
    }
    render_cross_service_flows(&mut out, snap, style);

    let requests = snap.total_requests();
    let errors = snap.total_errors();
    let rate_color = if errors == 0 {
        Color::Green
    } else if errors * 100 < requests {
        Color::Yellow
    } else {
        Color::Red
    };
    let overall = [
        format!("{requests} requests in {}", format_duration(info.elapsed)),
        format!("{} req/s", format_rate(per_second(requests, info.elapsed))),
        format!(
            "error rate {}",
            paint(style, rate_color, &format_percent(errors, requests))
        ),
    ];
    out.push(String::new());
    out.extend(wrap_items(
        &format!("{}Overall: ", icon("🏁")),
        &overall,
        3,
        style.width,
    ));
    if let Some(w) = &info.warmup {
        out.extend(wrap_items(
            &format!("{}Warm-up: ", icon("🔥")),
            &[
                format!("{} not counted", format_duration(w.duration)),
                format!("{} requests, {} errors", w.requests, w.errors),
            ],
            3,
            style.width,
        ));
    }
    out.extend(wrap_items(
        &format!("{}Generator: ", icon("🛠\u{FE0F}")),
        &generator_items(info),
        3,
        style.width,
    ));
    for warning in &info.warnings {
        let prefix = icon("⚠\u{FE0F}");
        let warning = crate::terminal_text::escape(warning);
        let lines = wrap_words("", &warning, 0, style.width - display_width(&prefix));
        for (i, line) in lines.iter().enumerate() {
            let lead = if i == 0 { prefix.as_str() } else { "   " };
            out.push(format!(
                "{lead}{}",
                paint(style, Color::Yellow, line.trim_start())
            ));
        }
    }

    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Thresholds (✅/❌ with the measured value beside the limit) and the operations whose drift
/// is beyond the run's noise; empty when there are neither.
pub fn render_observations(
    thresholds: &[super::thresholds::ThresholdResult],
    drift: Option<&super::drift::DriftReport>,
    style: &Style,
) -> String {
    let mut out: Vec<String> = Vec::new();
    if !thresholds.is_empty() {
        out.push(String::new());
        let failed = thresholds.iter().filter(|t| !t.ok).count();
        out.push(format!(
            "{}Thresholds: {} of {} passed",
            icon("🎯"),
            thresholds.len() - failed,
            thresholds.len()
        ));
        for t in thresholds {
            let (mark, color) = if t.ok {
                ("✅", Color::Green)
            } else {
                ("❌", Color::Red)
            };
            let mut text = format!("{} {}", crate::terminal_text::escape(&t.expr), t.describe());
            if let Some(at) = t.failed_at_seconds {
                text.push_str(&format!(
                    " (first failed at {})",
                    format_duration(Duration::from_secs_f64(at))
                ));
            }
            if t.aborted_run {
                text.push_str(" — stopped the run");
            }
            let lines = wrap_words("", &text, 0, style.width - 6);
            for (i, line) in lines.iter().enumerate() {
                let lead = if i == 0 {
                    format!("   {mark} ")
                } else {
                    "      ".to_string()
                };
                out.push(format!("{lead}{}", paint(style, color, line.trim_start())));
            }
        }
    }
    if let Some(d) = drift {
        let moved: Vec<String> = d
            .operations
            .iter()
            .flat_map(|o| {
                [
                    ("p50", &o.p50_us, true),
                    ("p99", &o.p99_us, true),
                    ("req/s", &o.requests_per_second, false),
                    ("error rate", &o.error_rate, false),
                ]
                .into_iter()
                .filter(|(_, f, _)| f.beyond_noise)
                .map(|(what, f, latency)| {
                    let show = |v: f64| {
                        if latency {
                            format_latency(v.round().max(0.0) as u64)
                        } else if what == "error rate" {
                            format!("{:.2}%", v * 100.0)
                        } else {
                            format!("{v:.1}")
                        }
                    };
                    let rel = f
                        .relative
                        .map(|r| format!(" ({:+.0}%)", r * 100.0))
                        .unwrap_or_default();
                    format!(
                        "{} {what} {} → {}{rel}",
                        crate::terminal_text::escape(&o.name),
                        show(f.first),
                        show(f.last)
                    )
                })
                .collect::<Vec<_>>()
            })
            .collect();
        out.push(String::new());
        if moved.is_empty() {
            out.push(format!(
                "{}Drift: first vs last {} interval(s): nothing beyond the run's own noise",
                icon("📈"),
                d.intervals_per_window
            ));
        } else {
            out.push(format!(
                "{}Drift beyond noise (first vs last {} interval(s)):",
                icon("📈"),
                d.intervals_per_window
            ));
            for m in moved {
                out.extend(wrap_words("   ", &m, 5, style.width));
            }
        }
    }
    if out.is_empty() {
        return String::new();
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::MetricKey;
    use crate::ground::{ErrorClass, Op, Outcome};
    use crate::metrics::OpStats;
    use crate::report::json::tests::{
        flows_snapshot, open_model_snapshot, sample_info, sample_snapshot, steps_snapshot,
    };

    fn plain() -> Style {
        Style::default()
    }

    fn assert_fits(text: &str, width: usize) {
        for line in text.lines() {
            assert!(
                display_width(line) <= width,
                "line is {} columns wide (max {width}): {line:?}",
                display_width(line)
            );
        }
    }

    #[test]
    fn display_width_counts_emoji_as_two_columns() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("✅"), 2);
        assert_eq!(display_width("🟢 x"), 4);
        assert_eq!(display_width("⏱\u{FE0F}"), 2);
        assert_eq!(display_width("👁\u{FE0F}"), 2);
        assert_eq!(display_width("842µs ×3"), 8);
        assert_eq!(display_width("\x1b[31mred\x1b[0m"), 3);
    }

    #[test]
    fn latency_uses_three_significant_figures_and_human_units() {
        assert_eq!(format_latency(0), "0µs");
        assert_eq!(format_latency(842), "842µs");
        assert_eq!(format_latency(999), "999µs");
        assert_eq!(format_latency(1000), "1.00ms");
        assert_eq!(format_latency(12_345), "12.3ms");
        assert_eq!(format_latency(123_456), "123ms");
        assert_eq!(format_latency(999_600), "1.00s");
        assert_eq!(format_latency(1_199_999), "1.20s");
        assert_eq!(format_latency(9_996), "10.0ms");
        assert_eq!(format_latency(45_678_000), "45.7s");
        assert_eq!(format_latency(3_600_000_000), "3600s");
    }

    #[test]
    fn durations_and_ratios_format_as_documented() {
        assert_eq!(format_duration(Duration::from_millis(10_020)), "10.02s");
        assert_eq!(
            format_duration(Duration::from_millis(125_030)),
            "125.03s (2m 05s)"
        );
        assert_eq!(
            format_duration(Duration::from_secs(3725)),
            "3725.00s (1h 02m 05s)"
        );
        assert_eq!(format_ratio(Some(100.0)), "100.0:1");
        assert_eq!(format_ratio(Some(2.0 / 3.0)), "0.7:1");
        assert_eq!(format_ratio(None), "n/a");
    }

    #[test]
    fn the_load_shape_and_an_unverified_run_are_shown() {
        use crate::ory::transport::{EndpointUsage, TlsUsage};
        let mut info = sample_info();
        info.target_kind = TargetKind::Remote;
        info.target_urls
            .insert("keto_read".into(), "https://keto.example:4466/".into());
        info.transport = vec![EndpointUsage {
            endpoint: "keto_read".into(),
            http_version: "1.1".into(),
            protocol: Some("HTTP/1.1".into()),
            tls: true,
            client_cert: true,
            connections: 12,
            tls_handshakes: 12,
            tls_full_handshakes: 2,
        }];
        info.tls = Some(TlsUsage {
            trust: "system store (140 roots) + ca.pem".into(),
            insecure: false,
        });
        let text = render(&info, &Snapshot::default(), &plain());
        assert!(
            text.replace("\n     ", " ").contains(
                "   keto_read: HTTP/1.1 (--http-version 1.1), 12 connections, 12 TLS \
                 handshakes (10 resumed), client certificate\n"
            ),
            "{text}"
        );
        assert!(text.contains("🔒 TLS trust: system store (140 roots) + ca.pem\n"));
        assert!(!text.contains("NOT VERIFIED"), "{text}");
        info.tls.as_mut().unwrap().insecure = true;
        let text = render(&info, &Snapshot::default(), &plain());
        assert!(
            text.lines()
                .any(|l| l
                    == "⚠️  TLS NOT VERIFIED (--insecure): server certificates were not checked"),
            "{text}"
        );
    }

    #[test]
    fn rates_divide_by_measured_elapsed_time() {
        let mut info = sample_info();
        info.elapsed = Duration::from_secs(10);
        info.services = vec![Service::Keto];
        let mut snap = Snapshot::default();
        let mut s = OpStats::new(Op::KetoCheck);
        for _ in 0..1000 {
            s.record(300, None, Outcome::Ok(Verdict::Allowed));
        }
        snap.insert(s);
        let text = render(&info, &snap, &plain());
        assert!(text.contains("🚦 Checks/sec:        100.0\n"), "{text}");
        assert!(
            text.contains("1000 requests in 10.00s, 100.0 req/s"),
            "{text}"
        );
        assert!(text.contains("📊 Read/Write ratio:  n/a\n"), "{text}");

        info.elapsed = Duration::ZERO;
        let text = render(&info, &snap, &plain());
        assert!(text.contains("🚦 Checks/sec:        n/a\n"), "{text}");
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    }

    #[test]
    fn a_batch_call_counts_as_its_tuples_in_checks_per_second() {
        let mut info = sample_info();
        info.elapsed = Duration::from_secs(10);
        info.services = vec![Service::Keto];
        let mut snap = Snapshot::default();
        let mut single = OpStats::new(Op::KetoCheck);
        for _ in 0..100 {
            single.record(300, None, Outcome::Ok(Verdict::Denied));
        }
        let mut batch = OpStats::new(Op::KetoBatchCheck);
        for _ in 0..100 {
            batch.record(900, None, Outcome::Ok(Verdict::Ok));
        }
        batch.checks = crate::metrics::BatchChecks {
            allowed: 700,
            denied: 300,
            failed: 0,
        };
        snap.insert(single);
        snap.insert(batch);
        let text = render(&info, &snap, &plain());
        // 100 single checks and 100 batches of 10 tuples in 10 s: 110 checks/s, 20 req/s.
        assert!(text.contains("🚦 Checks/sec:        110.0\n"), "{text}");
        assert!(text.contains("Allowed:           700\n"), "{text}");
        assert!(text.contains("🚫 Denied:            400\n"), "{text}");
        assert!(
            text.contains("200 requests in 10.00s, 20.0 req/s"),
            "{text}"
        );
        assert!(
            text.contains("keto.batch_check: 1000 tuples in 100 calls, allowed 700, denied 300"),
            "{text}"
        );
    }

    #[test]
    fn ratio_is_reads_per_write() {
        let info = sample_info();
        let text = render(&info, &sample_snapshot(), &plain());
        // Keto: 10000 checks, 50 writes.
        assert!(text.contains("📊 Read/Write ratio:  200.0:1\n"), "{text}");
    }

    #[test]
    fn every_line_fits_80_columns_and_has_no_escape_without_color() {
        let mut info = sample_info();
        info.warnings = vec![
            "the load generator was the bottleneck: CPU was saturated for 35% of the run, so \
             the rates below are a lower bound of what the target sustains"
                .into(),
        ];
        info.target_kind = TargetKind::Remote;
        info.target_urls.insert(
            "kratos_public".into(),
            "https://kratos.a-very-long-internal-hostname.example.internal.corp:4433/some/prefix/path"
                .into(),
        );
        let mut snap = sample_snapshot();
        snap.merge(&open_model_snapshot());
        let mut many = OpStats::new(Op::KratosLookupIdentity);
        for code in [400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504] {
            many.record(20_000_000, None, Outcome::Err(ErrorClass::Status(code)));
        }
        many.record(1, None, Outcome::Err(ErrorClass::UnexpectedBody));
        snap.insert(many);
        let text = render(&info, &snap, &plain());
        assert_fits(&text, 80);
        assert!(!text.contains('\x1b'));
        for width in [60, 72] {
            let narrow = render(
                &info,
                &snap,
                &Style {
                    color: false,
                    width,
                },
            );
            assert_fits(&narrow, width);
        }
        let colored = render(
            &info,
            &snap,
            &Style {
                color: true,
                width: 80,
            },
        );
        assert!(colored.contains("\x1b[31m"));
        assert_fits(&colored, 80);
        assert_eq!(
            text,
            strip_ansi(&colored),
            "colour changes nothing but the escapes"
        );
    }

    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn services_show_their_own_domain_fields() {
        let text = render(&sample_info(), &sample_snapshot(), &plain());
        let kratos = block(&text, "Kratos");
        assert!(kratos.contains("🟢 Active sessions:   1200\n"), "{kratos}");
        assert!(kratos.contains("🔴 Inactive sessions: 15\n"), "{kratos}");
        assert!(kratos.contains("⚙\u{FE0F}  Concurrency:       34 virtual users\n"));
        assert!(
            kratos.contains("   kratos.login: valid 1190, invalid 10\n"),
            "{kratos}"
        );
        let hydra = block(&text, "Hydra");
        assert!(hydra.contains("🟢 Active tokens:     380\n"), "{hydra}");
        assert!(hydra.contains("🔴 Inactive tokens:   20\n"), "{hydra}");
        let keto = block(&text, "Keto");
        assert!(
            keto.contains("✔\u{FE0F}  Allowed:           9000\n"),
            "{keto}"
        );
        assert!(keto.contains("🚫 Denied:            1000\n"), "{keto}");
        assert!(!keto.contains("sessions"));
        assert!(text.starts_with("🎯 Target: built-in simulator (in-process, 127.0.0.1)\n"));
    }

    fn block<'a>(text: &'a str, name: &str) -> &'a str {
        let header = format!("✅ {name} workload complete");
        let start = text.find(&header).unwrap();
        let rest = &text[start..];
        let end = ["\n\n✅", "\n\n🔀", "\n\n🏁"]
            .iter()
            .filter_map(|m| rest[header.len()..].find(m))
            .min()
            .map_or(rest.len(), |e| e + header.len() + 1);
        &rest[..end]
    }

    #[test]
    fn error_classes_are_listed_under_the_table() {
        let text = render(&sample_info(), &sample_snapshot(), &plain());
        assert!(text.contains("   kratos.register: http_400 ×3\n"), "{text}");
        assert!(text.contains("   kratos.whoami: timeout ×1\n"), "{text}");
        assert!(text.contains("🚨 Failed writes:     3\n"), "{text}");
        assert!(text.contains("🚨 Failed reads:      1\n"), "{text}");
        // 4 errors out of 13,586 requests.
        assert!(text.contains("error rate 0.03%"), "{text}");
    }

    #[test]
    fn uncorrected_latency_is_shown_beside_the_corrected_one() {
        let mut info = sample_info();
        info.services = vec![Service::Keto];
        let text = render(&info, &open_model_snapshot(), &plain());
        assert!(text.contains("coordinated-omission corrected"), "{text}");
        let row = text.lines().find(|l| l.contains("↳ uncorrected")).unwrap();
        let unc = open_model_snapshot()
            .op(Op::KetoCheck)
            .unwrap()
            .uncorrected
            .clone()
            .unwrap();
        assert!(
            row.contains(&format_latency(unc.value_at_quantile(0.99))),
            "{row}"
        );
        // Closed model: no such note.
        let closed = render(&sample_info(), &sample_snapshot(), &plain());
        assert!(!closed.contains("uncorrected"));
    }

    #[test]
    fn interruptions_and_warnings_are_visible() {
        let mut info = sample_info();
        info.interrupted = true;
        info.warnings = vec!["run interrupted by Ctrl-C after 10.02s of 60s".into()];
        let text = render(&info, &sample_snapshot(), &plain());
        assert!(text.contains("⚠\u{FE0F}  Kratos workload interrupted after 10.02s\n"));
        assert!(text.contains("⚠\u{FE0F}  run interrupted by Ctrl-C after 10.02s of 60s\n"));
        info.interrupted = false;
        let text = render(&info, &Snapshot::default(), &plain());
        assert!(text.contains("No requests recorded."));
    }

    /// The table row of `label`, split into cells.
    fn row<'a>(text: &'a str, label: &'a str) -> Vec<&'a str> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("   {label}  ")))
            .unwrap_or_else(|| panic!("no row {label:?} in\n{text}"));
        let rest = &line[3 + label.len()..];
        let mut cells = vec![label];
        cells.extend(rest.split_whitespace());
        cells
    }

    #[test]
    fn named_steps_get_their_own_rows_labelled_op_and_step() {
        let mut info = sample_info();
        info.services = vec![Service::Keto];
        let text = render(&info, &steps_snapshot(), &plain());
        assert_fits(&text, 80);
        let plain_row = row(&text, "keto.check");
        let admin = row(&text, "keto.check · admin-check");
        let after = row(&text, "keto.check · after-login");
        let grant = row(&text, "keto.write · grant");
        assert_eq!(plain_row.len(), HEADERS.len(), "all columns shown: {text}");
        assert_eq!((plain_row[1], plain_row[7]), ("100", "0"));
        assert_eq!((admin[1], admin[7]), ("12", "0"));
        assert_eq!((after[1], after[7]), ("32", "2"));
        assert_eq!(grant[1], "5");
        // The admin step was slow, the plain calls were not: the rows are not merged.
        assert!(admin[2].ends_with("ms"), "{admin:?}");
        assert!(plain_row[2].ends_with("µs"), "{plain_row:?}");
        // Rows follow the snapshot order: operation, then step, plain first.
        let pos = |l: &str| text.find(&format!("   {l}  ")).unwrap();
        assert!(pos("keto.write · grant") < pos("keto.check"));
        assert!(pos("keto.check") < pos("keto.check · admin-check"));
        assert!(pos("keto.check · admin-check") < pos("keto.check · after-login"));
        // The block's totals count named and plain calls alike.
        assert!(
            text.contains("👁\u{FE0F}  Reads:             144\n"),
            "{text}"
        );
        assert!(
            text.contains("✔\u{FE0F}  Allowed:           130\n"),
            "{text}"
        );
        assert!(
            text.contains("   keto.check · after-login: http_503 ×2\n"),
            "{text}"
        );
    }

    #[test]
    fn multi_step_flows_get_a_duration_row_under_their_service_or_across_services() {
        let mut info = sample_info();
        info.services = vec![Service::Keto];
        let text = render(&info, &flows_snapshot(), &plain());
        assert_fits(&text, 80);
        let keto = block(&text, "Keto");
        let share = row(keto, "flow keto/share-album");
        assert_eq!((share[1], share[7]), ("20", "2"), "{text}");
        assert!(share[2].ends_with("ms"), "{share:?}");
        assert!(
            keto.contains("   flow keto/share-album: timeout ×2\n"),
            "{text}"
        );
        // A one-step flow's duration is its call's latency: not repeated.
        assert!(!text.contains("flow keto/check"), "{text}");
        // A flow over several services is not any one service's.
        let cross = &text[text.find("Flows across services").expect(&text)..];
        let login = row(cross, "flow login-token-check/login");
        assert_eq!(login[1], "10");
        assert!(!keto.contains("login-token-check"), "{text}");
        // Flows are not requests: the overall count is the calls'.
        let requests = steps_snapshot().total_requests();
        assert!(
            text.contains(&format!("Overall: {requests} requests")),
            "{text}"
        );
    }

    #[test]
    fn long_step_names_are_cut_to_fit_the_width() {
        let mut info = sample_info();
        info.services = vec![Service::Keto];
        let mut snap = steps_snapshot();
        let long = "check-that-the-freshly-registered-user-may-read-the-shared-document";
        let mut s = OpStats::for_key(&MetricKey::step(Op::KetoCheck, long));
        s.record(250, None, Outcome::Err(ErrorClass::Timeout));
        snap.insert(s);
        for width in [80, 72, 60, 40] {
            let style = Style {
                color: false,
                width,
            };
            let text = render(&info, &snap, &style);
            if width >= 60 {
                assert_fits(&text, width);
            }
            assert!(!text.contains(long), "{text}");
            let cut = text
                .lines()
                .find(|l| l.starts_with("   keto.check · check-th") && l.contains('…'))
                .unwrap_or_else(|| panic!("no cut row at width {width}:\n{text}"));
            let label = cut.trim_start().split('…').next().unwrap();
            assert!(display_width(label) + 1 >= longest_op_name(), "{cut}");
            if width >= 72 {
                // Shorter labels are kept whole.
                assert!(text.contains("   keto.check · after-login "), "{text}");
            }
        }
        // At 80 columns the cut label leaves every column in place.
        let text = render(&info, &snap, &plain());
        let header = text.lines().find(|l| l.contains("operation")).unwrap();
        for h in HEADERS {
            assert!(header.contains(h), "{header}");
        }
    }

    #[test]
    fn truncation_cuts_by_columns_and_marks_the_cut() {
        assert_eq!(truncate("keto.check", 10), "keto.check");
        assert_eq!(truncate("keto.check", 9), "keto.che…");
        assert_eq!(truncate("ab🟢cd", 4), "ab…");
        assert_eq!(display_width(&truncate("ab🟢cd", 5)), 5);
        assert_eq!(longest_op_name(), "kratos.lookup_identity".len());
    }

    #[test]
    fn example_summary_for_all_three_services() {
        let text = render(&sample_info(), &sample_snapshot(), &plain());
        if std::env::var_os("ORYSIM_PRINT_SUMMARY").is_some() {
            println!("{text}");
            let mut info = sample_info();
            info.services = vec![Service::Keto];
            info.interrupted = true;
            info.target_kind = TargetKind::Remote;
            info.target_urls
                .insert("keto_read".into(), "http://keto.internal:4466".into());
            info.warnings.push("the load generator was the bottleneck: CPU was saturated for 35% of the run, so the rates are a lower bound".into());
            let narrow = Style {
                color: false,
                width: 60,
            };
            println!("{}", render(&info, &open_model_snapshot(), &narrow));
            info.interrupted = false;
            println!("{}", render(&info, &steps_snapshot(), &plain()));
        }
        assert_fits(&text, 80);
    }
}
