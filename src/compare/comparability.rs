//! Whether the runs are like for like: every way they differ besides what was changed on
//! purpose (the labels), one line each.

use super::input::Run;
use super::model::Difference;
use crate::report::json::ReportTargetKind;
use serde_json::Value;

/// The settings that must match, as (name, where in the report).
const SETTINGS: [(&str, &str); 9] = [
    ("scenario", "/scenario"),
    ("params", "/options/params"),
    ("model", "/options/model"),
    ("concurrency", "/options/concurrency"),
    ("rate", "/options/profile"),
    ("duration", "/options/duration_seconds"),
    ("iterations", "/options/iterations"),
    ("read_ratio", "/options/read_ratio"),
    ("warmup", "/options/warmup_seconds"),
];

fn value_at(run: &Run, pointer: &str) -> Value {
    match pointer {
        "/scenario" => Value::String(run.report.scenario.clone()),
        _ => run
            .report
            .options
            .pointer(pointer)
            .cloned()
            .unwrap_or(Value::Null),
    }
}

/// Distinct values in first-seen order.
fn distinct(values: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn show(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => "none".to_string(),
                other => other.to_string(),
            };
            crate::db::text::cut(&text, 60)
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// One difference per setting that is not the same in every run.
fn differ(
    what: &str,
    before: &[Run],
    after: &[Run],
    get: impl Fn(&Run) -> Value,
) -> Option<Difference> {
    let b = distinct(before.iter().map(&get));
    let a = distinct(after.iter().map(&get));
    if b.len() <= 1 && a.len() <= 1 && b == a {
        return None;
    }
    let message = if b.len() > 1 || a.len() > 1 {
        format!(
            "{what} differs between runs of a side: before {}, after {}",
            show(&b),
            show(&a)
        )
    } else {
        format!("{what} differs: before {}, after {}", show(&b), show(&a))
    };
    Some(Difference {
        what: what.to_string(),
        message,
    })
}

/// Every way the runs are not like for like.
pub fn differences(before: &[Run], after: &[Run]) -> Vec<Difference> {
    let mut out: Vec<Difference> = SETTINGS
        .iter()
        .filter_map(|(what, pointer)| differ(what, before, after, |r| value_at(r, pointer)))
        .collect();
    out.extend(differ("target_kind", before, after, |r| {
        serde_json::to_value(r.report.target.kind).unwrap_or(Value::Null)
    }));
    // The built-in simulator listens on ephemeral ports: its URLs differ every run.
    let remote = |r: &Run| r.report.target.kind == ReportTargetKind::Remote;
    if before.iter().chain(after).any(remote) {
        out.extend(differ("target_urls", before, after, |r| {
            serde_json::to_value(&r.report.target.urls).unwrap_or(Value::Null)
        }));
    }
    out.extend(differ("tool_version", before, after, |r| {
        Value::String(r.report.tool_version.clone())
    }));
    for (side, runs) in [("before", before), ("after", after)] {
        for run in runs {
            for w in run
                .report
                .warnings
                .iter()
                .filter(|w| w.starts_with("generator-bound"))
            {
                out.push(Difference {
                    what: "generator_bound".to_string(),
                    message: format!(
                        "{side} run {} was generator-bound: {}",
                        run.file,
                        crate::db::text::cut(w, 120)
                    ),
                });
            }
            if run.report.interrupted || run.report.aborted.is_some() {
                out.push(Difference {
                    what: "interrupted".to_string(),
                    message: format!("{side} run {} stopped before its planned end", run.file),
                });
            }
        }
    }
    out
}
