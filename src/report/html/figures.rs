//! From runs to charts: the same charts serve a run page (one side) and a comparison page (two
//! sides overlaid on the same axes).

use super::chart::{Chart, Line, Unit, XAxis};
use super::series::RunSeries;
use super::RunView;
use crate::metrics::LatencyHistogram;
use crate::report::json::{decode_histogram, Report};
use std::collections::BTreeMap;

/// Each service's busiest operation (all its steps together): the ones whose percentiles are
/// drawn over time.
pub fn main_operations(report: &Report) -> Vec<String> {
    let mut calls: BTreeMap<&str, u64> = BTreeMap::new();
    for op in &report.operations {
        *calls.entry(&op.name).or_default() += op.count;
    }
    report
        .services
        .iter()
        .filter_map(|s| {
            report
                .operations
                .iter()
                .filter(|o| o.service == s.name && o.count > 0)
                .max_by_key(|o| calls[o.name.as_str()])
                .map(|o| o.name.clone())
        })
        .collect()
}

/// Charts over time of every side's series, in page order, only those with data.
pub fn over_time(views: &[&RunView]) -> Vec<Chart> {
    let series: Vec<&RunSeries> = views.iter().filter_map(|v| v.series.as_ref()).collect();
    if series.is_empty() {
        return Vec::new();
    }
    let x = match series.as_slice() {
        [one] if views.len() == 1 => XAxis::Utc {
            start_unix_seconds: one.start_unix_seconds,
        },
        _ => XAxis::Elapsed,
    };
    let span = series.iter().map(|s| s.span_seconds).fold(0.0, f64::max);
    let chart = |id: &str, title: &str, unit: Unit, pick: &dyn Fn(&RunSeries) -> Vec<Line>| Chart {
        id: id.to_string(),
        title: title.to_string(),
        x,
        x_range: (0.0, span),
        unit,
        log_y: false,
        sides: views
            .iter()
            .map(|v| v.series.as_ref().map(pick).unwrap_or_default())
            .collect(),
    };
    let mut charts = vec![chart(
        "requests-per-second",
        "Requests per second, by service",
        Unit::PerSecond,
        &|s| s.requests_per_second.clone(),
    )];
    let mut ops: Vec<&str> = Vec::new();
    for s in &series {
        for (op, _) in &s.latency {
            if !ops.contains(&op.as_str()) {
                ops.push(op);
            }
        }
    }
    for op in ops {
        charts.push(chart(
            &format!("latency-{op}"),
            &format!("{op}: p50 and p99 latency"),
            Unit::Micros,
            &|s| {
                s.latency
                    .iter()
                    .find(|(o, _)| o == op)
                    .map(|(_, lines)| lines.clone())
                    .unwrap_or_default()
            },
        ));
    }
    charts.push(chart(
        "errors-per-second",
        "Errors per second, by class",
        Unit::PerSecond,
        &|s| s.errors_per_second.clone(),
    ));
    charts.push(chart(
        "read-write-ratio",
        "Reads per write, by service",
        Unit::Ratio,
        &|s| s.read_write_ratio.clone(),
    ));
    charts.push(chart(
        "generator-cpu",
        "Load generator CPU, % of all cores",
        Unit::Percent,
        &|s| vec![s.cpu_percent.clone()],
    ));
    charts.push(chart(
        "generator-memory",
        "Load generator memory (RSS)",
        Unit::Bytes,
        &|s| vec![s.rss_bytes.clone()],
    ));
    charts.push(chart(
        "start-lag",
        "Iteration start lag, p99 (open model)",
        Unit::Micros,
        &|s| vec![s.start_lag_p99_us.clone()],
    ));
    charts.retain(Chart::has_data);
    charts
}

/// Steps of the nines axis: 20 points per nine.
const NINES_STEP: f64 = 0.05;

/// The latency distribution per service: one percentile curve per operation on a log "nines"
/// axis, as far out as the calls made support (p99.9 needs a thousand calls).
pub fn distributions(views: &[&RunView]) -> anyhow::Result<Vec<Chart>> {
    let mut services: Vec<crate::ground::Service> = Vec::new();
    for v in views {
        for s in &v.report.services {
            if !services.contains(&s.name) {
                services.push(s.name);
            }
        }
    }
    let mut charts = Vec::new();
    for service in services {
        let mut sides = Vec::new();
        let mut most_nines: f64 = 1.0;
        for v in views {
            let mut lines = Vec::new();
            for (name, h) in merged_histograms(&v.report, service)? {
                let nines = (h.len() as f64).log10().floor().clamp(1.0, 6.0);
                most_nines = most_nines.max(nines);
                let steps = (nines / NINES_STEP).round() as usize;
                let points = (0..=steps)
                    .map(|i| {
                        let x = i as f64 * NINES_STEP;
                        let q = (1.0 - 10f64.powf(-x)).clamp(0.0, 1.0);
                        (x, h.value_at_quantile(q) as f64)
                    })
                    .collect();
                lines.push(Line { name, points });
            }
            sides.push(lines);
        }
        let chart = Chart {
            id: format!("distribution-{}", service.name()),
            title: format!(
                "{} latency by percentile",
                crate::report::summary::title(service)
            ),
            x: XAxis::Nines,
            x_range: (0.0, most_nines),
            unit: Unit::Micros,
            log_y: true,
            sides,
        };
        if chart.has_data() {
            charts.push(chart);
        }
    }
    Ok(charts)
}

/// Per operation of `service` (its steps merged), the latency histogram of the whole run.
fn merged_histograms(
    report: &Report,
    service: crate::ground::Service,
) -> anyhow::Result<Vec<(String, LatencyHistogram)>> {
    let mut out: Vec<(String, LatencyHistogram)> = Vec::new();
    for op in report
        .operations
        .iter()
        .filter(|o| o.service == service && o.count > 0)
    {
        let h = decode_histogram(&op.histogram)?;
        match out.iter_mut().find(|(n, _)| *n == op.name) {
            Some((_, into)) => {
                let _ = into.add(&h);
            }
            None => out.push((op.name.clone(), h)),
        }
    }
    Ok(out)
}
