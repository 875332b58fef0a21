//! One chart as inline SVG, drawn with plotters' SVG backend (no font or bitmap dependency:
//! text stays `<text>` for the browser to render).
//!
//! A chart is a stack of SVG layers of the same size in one CSS grid cell: the axes, grid and
//! labels, then one layer per side holding only the data lines. Keeping the data apart lets the
//! page style a side (the comparison's second run is dashed by CSS) and lets a test find the
//! data without guessing which polyline is an axis. Legends are HTML, so they wrap on a phone.

use super::page::escape;
use crate::report::summary::format_latency;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use std::fmt::Write as _;

/// Drawing size in SVG units; the page scales it to its width.
const WIDTH: u32 = 900;
const HEIGHT: u32 = 300;

/// Okabe-Ito: told apart by colour-blind readers too.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// One line of data, in the chart's units.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// What the horizontal axis shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum XAxis {
    /// Seconds from the run's start, labelled as UTC wall-clock time.
    Utc { start_unix_seconds: f64 },
    /// Seconds from each run's own start (runs compared at different times).
    Elapsed,
    /// Percentiles on a log "nines" scale: x = -log10(1 - q), so 1 is p90, 2 is p99.
    Nines,
}

/// What the vertical axis measures, and so how its labels read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Latency in microseconds, shown as µs/ms/s.
    Micros,
    PerSecond,
    Percent,
    Bytes,
    /// Reads per write.
    Ratio,
}

impl Unit {
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Micros => format_latency(v.max(0.0).round() as u64),
            Unit::PerSecond => format!("{}/s", compact(v)),
            Unit::Percent => format!("{}%", compact(v)),
            Unit::Bytes => bytes(v),
            Unit::Ratio => format!("{}:1", compact(v)),
        }
    }
}

/// `1.5k`, `12`, `0.25`: short tick labels.
fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{} {}", compact(v), UNITS[unit])
}

/// A nines-axis tick: 0 → p0, 1 → p90, 2 → p99, 3 → p99.9; between whole nines, nothing.
fn nines_label(x: f64) -> String {
    if (x - x.round()).abs() > 1e-9 || x < 0.0 {
        return String::new();
    }
    let n = x.round() as i32;
    if n == 0 {
        return "p0".to_string();
    }
    let q = 100.0 * (1.0 - 10f64.powi(-n));
    let text = format!("{q:.*}", (n - 2).max(0) as usize);
    format!("p{text}")
}

/// `HH:MM:SS` (or `HH:MM` for long spans) of a UTC instant.
fn utc_label(unix_seconds: f64, span_seconds: f64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(unix_seconds.max(0.0));
    let text = humantime::format_rfc3339_seconds(t).to_string();
    // 2024-05-01T12:00:00Z
    let time = text.get(11..19).unwrap_or("");
    if span_seconds >= 4.0 * 3600.0 {
        time.get(..5).unwrap_or(time).to_string()
    } else {
        time.to_string()
    }
}

/// `1m30s`-style label of an elapsed time.
fn elapsed_label(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// A chart to draw: lines per side (one side on a run page, two on a comparison page).
#[derive(Clone, Debug)]
pub struct Chart {
    /// Stable name for the page and its tests, e.g. `rps`.
    pub id: String,
    pub title: String,
    pub x: XAxis,
    /// The run's span on the x axis (seconds, or nines).
    pub x_range: (f64, f64),
    pub unit: Unit,
    pub log_y: bool,
    /// One list of lines per side; a line's colour follows its name, so one series has one
    /// colour on both sides.
    pub sides: Vec<Vec<Line>>,
}

impl Chart {
    pub fn has_data(&self) -> bool {
        self.sides
            .iter()
            .flatten()
            .any(|l| l.points.len() >= 2 || (l.points.len() == 1 && self.sides.len() == 1))
    }

    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for line in self.sides.iter().flatten() {
            if !names.contains(&line.name.as_str()) {
                names.push(&line.name);
            }
        }
        names
    }

    fn y_range(&self) -> (f64, f64) {
        let values = self
            .sides
            .iter()
            .flatten()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if !lo.is_finite() {
            return if self.log_y { (1.0, 10.0) } else { (0.0, 1.0) };
        }
        if self.log_y {
            let lo = lo.max(1.0);
            (lo / 1.5, (hi.max(lo) * 1.5).max(lo * 10.0))
        } else {
            let hi = if hi <= 0.0 { 1.0 } else { hi * 1.1 };
            (lo.min(0.0), hi)
        }
    }
}

/// The chart as an HTML `<figure>`: title, stacked SVG layers and an HTML legend. `side_names`
/// labels the sides in the legend when there are several.
pub fn render(chart: &Chart, side_names: &[String]) -> anyhow::Result<String> {
    let (y0, y1) = chart.y_range();
    let layers = if chart.log_y {
        draw_layers(chart, (y0..y1).log_scale())?
    } else {
        draw_layers(chart, y0..y1)?
    };
    let names = chart.names();
    let mut html = String::new();
    let _ = write!(
        html,
        "<figure class=\"chart\" data-chart=\"{}\" data-plot-left=\"{}\" data-plot-right=\"{}\" \
         data-sides=\"{}\"><figcaption>{}</figcaption><div class=\"plot\">",
        escape(&chart.id),
        layers.plot_x.0,
        layers.plot_x.1,
        chart.sides.len(),
        escape(&chart.title)
    );
    for svg in &layers.svgs {
        html.push_str(svg);
    }
    html.push_str("</div><ul class=\"legend\">");
    for (i, name) in names.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let _ = write!(
            html,
            "<li><span class=\"swatch\" style=\"background:#{:02x}{:02x}{:02x}\"></span>{}</li>",
            c.0,
            c.1,
            c.2,
            escape(name)
        );
    }
    if chart.sides.len() > 1 {
        for (i, side) in side_names.iter().enumerate().take(chart.sides.len()) {
            let _ = write!(
                html,
                "<li><span class=\"stroke side-{i}\"></span>{}</li>",
                escape(side)
            );
        }
    }
    html.push_str("</ul></figure>\n");
    Ok(html)
}

struct Layers {
    svgs: Vec<String>,
    /// The plotting area's left and right edge, in SVG units.
    plot_x: (i32, i32),
}

fn draw_layers<Y>(chart: &Chart, y: Y) -> anyhow::Result<Layers>
where
    Y: AsRangedCoord<Value = f64> + Clone,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let names = chart.names();
    let (x0, x1) = chart.x_range;
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let span = x1 - x0;
    let x_label = |x: &f64| match chart.x {
        XAxis::Utc { start_unix_seconds } => utc_label(start_unix_seconds + x, span),
        XAxis::Elapsed => elapsed_label(*x),
        XAxis::Nines => nines_label(*x),
    };
    let y_label = |v: &f64| chart.unit.format(*v);
    let x_labels = match chart.x {
        XAxis::Nines => (x1 - x0).round() as usize + 1,
        _ => 8,
    };

    let mut svgs = Vec::new();
    let mut plot_x = (0, 0);
    // Layer 0: the frame; layers 1..: one side's data each, on the same coordinates.
    for layer in 0..=chart.sides.len() {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            let mut cc = ChartBuilder::on(&root)
                .margin(10)
                .margin_right(30)
                .x_label_area_size(32)
                .y_label_area_size(78)
                .build_cartesian_2d(x0..x1, y.clone())
                .map_err(|e| anyhow::anyhow!("chart {}: {e}", chart.id))?;
            if layer == 0 {
                cc.configure_mesh()
                    .x_labels(x_labels)
                    .y_labels(6)
                    .x_label_formatter(&x_label)
                    .y_label_formatter(&y_label)
                    .light_line_style(RGBColor(238, 238, 238))
                    .bold_line_style(RGBColor(215, 215, 215))
                    .axis_style(RGBColor(120, 120, 120))
                    // plotters scales text by 1/1.24²: 19 is drawn at about 12.4.
                    .label_style(("sans-serif", 19))
                    .draw()
                    .map_err(|e| anyhow::anyhow!("chart {}: {e}", chart.id))?;
                let range = cc.plotting_area().get_pixel_range();
                plot_x = (range.0.start, range.0.end);
            } else {
                for line in &chart.sides[layer - 1] {
                    let i = names.iter().position(|n| *n == line.name).unwrap_or(0);
                    let style = PALETTE[i % PALETTE.len()].stroke_width(2);
                    let points = line
                        .points
                        .iter()
                        .copied()
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                        .map(|(x, v)| (x, if chart.log_y { v.max(1.0) } else { v }));
                    cc.draw_series(LineSeries::new(points, style))
                        .map_err(|e| anyhow::anyhow!("chart {}: {e}", chart.id))?;
                }
            }
            root.present()
                .map_err(|e| anyhow::anyhow!("chart {}: {e}", chart.id))?;
        }
        let class = if layer == 0 {
            "frame".to_string()
        } else {
            format!("data side-{}", layer - 1)
        };
        let tagged = svg.replacen("<svg ", &format!("<svg class=\"{class}\" "), 1);
        svgs.push(tagged);
    }
    Ok(Layers { svgs, plot_x })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(sides: Vec<Vec<Line>>, log_y: bool, x: XAxis) -> Chart {
        Chart {
            id: "t".into(),
            title: "A <title>".into(),
            x,
            x_range: (0.0, 60.0),
            unit: Unit::Micros,
            log_y,
            sides,
        }
    }

    fn line(name: &str, n: usize) -> Line {
        Line {
            name: name.into(),
            points: (0..n)
                .map(|i| (i as f64 * 60.0 / (n - 1) as f64, 1000.0 + i as f64))
                .collect(),
        }
    }

    #[test]
    fn a_chart_is_a_frame_plus_one_data_layer_per_side_with_its_lines() {
        for log_y in [false, true] {
            let c = chart(
                vec![vec![line("p50", 10), line("p99", 10)], vec![line("p50", 5)]],
                log_y,
                XAxis::Utc {
                    start_unix_seconds: 1_700_000_000.0,
                },
            );
            let html = render(&c, &["before".into(), "after".into()]).unwrap();
            assert_eq!(html.matches("<svg class=\"frame\"").count(), 1);
            assert_eq!(html.matches("<svg class=\"data side-0\"").count(), 1);
            assert_eq!(html.matches("<svg class=\"data side-1\"").count(), 1);
            let data = &html[html.find("data side-0").unwrap()..];
            assert_eq!(data.matches("<polyline").count(), 3, "{html}");
            assert!(html.contains("A &lt;title&gt;"));
            assert!(html.contains("22:13:20"), "UTC tick labels: {html}");
            assert!(html.contains(">before<") && html.contains(">after<"));
            // One series keeps one colour on both sides: two legend entries, not three.
            assert_eq!(html.matches("class=\"swatch\"").count(), 2);
        }
    }

    #[test]
    fn labels_read_in_the_units_people_use() {
        assert_eq!(nines_label(0.0), "p0");
        assert_eq!(nines_label(1.0), "p90");
        assert_eq!(nines_label(2.0), "p99");
        assert_eq!(nines_label(3.0), "p99.9");
        assert_eq!(nines_label(5.0), "p99.999");
        assert_eq!(nines_label(1.5), "");
        assert_eq!(Unit::Micros.format(1500.0), "1.50ms");
        assert_eq!(Unit::Bytes.format(3.0 * 1024.0 * 1024.0), "3 MiB");
        assert_eq!(Unit::PerSecond.format(25_000.0), "25.0k/s");
        assert_eq!(Unit::Percent.format(0.5), "0.50%");
        assert_eq!(elapsed_label(90.0), "1m30s");
        assert_eq!(elapsed_label(7260.0), "2h01m");
        assert_eq!(utc_label(1_700_000_000.0, 60.0), "22:13:20");
        assert_eq!(utc_label(1_700_000_000.0, 86_400.0), "22:13");
    }

    #[test]
    fn an_empty_chart_says_so_and_still_draws() {
        let c = chart(vec![vec![]], true, XAxis::Nines);
        assert!(!c.has_data());
        assert!(render(&c, &[]).is_ok());
        assert!(chart(vec![vec![line("a", 3)]], false, XAxis::Elapsed).has_data());
    }
}
