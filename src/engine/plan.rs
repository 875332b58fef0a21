//! The plan as words: what a run will do, printed by `--dry-run` (and nothing is sent).

use crate::config::{endpoint_urls, LoadModel, RunConfig, Target};
use crate::scenario::model::split_users;
use std::fmt::Write;

pub fn describe(cfg: &RunConfig) -> String {
    let mut out = String::new();
    let scenario = &cfg.scenario;
    let _ = writeln!(out, "🧪 Mode:        DRY RUN (validated; nothing was sent)");
    let _ = writeln!(
        out,
        "📋 Scenario:    {} ({})",
        scenario.name, scenario.origin
    );
    let split = split_users(cfg.concurrency, scenario.groups.len());
    let users: Vec<String> = scenario
        .groups
        .iter()
        .zip(&split)
        .map(|(g, n)| format!("{} {n}", g.name))
        .collect();
    let _ = writeln!(
        out,
        "⚙️  Concurrency: {} virtual users ({})",
        cfg.concurrency,
        users.join(", ")
    );
    match &cfg.model {
        LoadModel::Closed(p) if p.stages.len() > 1 || p.start != p.peak() => {
            let _ = writeln!(out, "📈 Model:       closed, stages {}", stages(p, ""));
        }
        LoadModel::Closed(_) => {
            let _ = writeln!(out, "📈 Model:       closed (virtual users back to back)");
        }
        LoadModel::Open { profile, max_vus } => {
            let _ = writeln!(
                out,
                "📈 Model:       open, arrivals {}, at most {max_vus} virtual users",
                stages(profile, "/s")
            );
        }
    }
    if let Some(n) = cfg.iterations {
        let _ = writeln!(out, "🔁 Iterations:  at most {n}");
    }
    let split = &cfg.split;
    if !split.segment.is_whole() {
        let segment = split.segment;
        let mut first = 0;
        let mine: usize = split_users(cfg.concurrency, scenario.groups.len())
            .into_iter()
            .map(|n| {
                first += n;
                segment.share_of(first - n..first)
            })
            .sum();
        let arrivals = match cfg.model {
            LoadModel::Open { .. } => format!(", 1 arrival in {}", segment.count()),
            LoadModel::Closed(_) => String::new(),
        };
        let _ = writeln!(
            out,
            "🧩 Segment:     {segment} of run {}: {mine} of the virtual users{arrivals}{}",
            split.run_id.as_deref().unwrap_or("-"),
            cfg.iterations
                .map(|n| format!(", {} iterations", segment.share(n)))
                .unwrap_or_default()
        );
    }
    if let Some(at) = split.start_at {
        let _ = writeln!(
            out,
            "🕐 Start at:    {} (after setup)",
            humantime::format_rfc3339_millis(at)
        );
    }
    if let Some(w) = cfg.warmup {
        let _ = writeln!(
            out,
            "🔥 Warm-up:     {} (not counted)",
            humantime::format_duration(w)
        );
    }
    let duration = match cfg.duration {
        Some(d) => humantime::format_duration(d).to_string(),
        None => "until Ctrl-C".to_string(),
    };
    let _ = writeln!(out, "⏱️  Duration:    {duration}");
    let _ = writeln!(out, "📊 Read ratio:  {}:1 reads per write", cfg.read_ratio);
    let _ = writeln!(
        out,
        "🎲 Seed:        {}   Timeout: {}",
        cfg.seed,
        humantime::format_duration(cfg.timeout),
    );
    if !scenario.params.is_empty() {
        let params: Vec<String> = scenario
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::terminal_text::escape(&v.to_string())))
            .collect();
        let _ = writeln!(out, "🔧 Parameters:  {}", params.join(", "));
    }
    for group in &scenario.groups {
        // Weights split the iterations of their kind (read or write) when flows have a mix.
        let total = |mix| -> f64 {
            group
                .flows
                .iter()
                .filter(|f| f.dedicated_vus.is_none() && f.mix == mix)
                .map(|f| f.weight)
                .sum::<f64>()
                .max(f64::MIN_POSITIVE)
        };
        let flows: Vec<String> = group
            .flows
            .iter()
            .map(|f| (f, crate::terminal_text::escape(&f.name)))
            .map(|(f, name)| match (f.dedicated_vus, f.mix) {
                (Some(n), _) => format!("{name} ({n} dedicated)"),
                (None, mix) => {
                    let kind = match mix {
                        Some(crate::ground::Kind::Read) => "of reads ",
                        Some(crate::ground::Kind::Write) => "of writes ",
                        None => "",
                    };
                    let share = 100.0 * f.weight / total(mix);
                    format!("{name} ({share:.0}% {kind})").replace(" )", ")")
                }
            })
            .collect();
        let _ = writeln!(out, "🧭 Flows of {}: {}", group.name, flows.join(", "));
    }
    if cfg.cleanup {
        let _ = writeln!(out, "🧹 Cleanup:     after the run, as the scenario says");
    }
    match &cfg.target {
        Target::BuiltinSimulator => {
            let _ = writeln!(
                out,
                "🎯 Target:      built-in simulator (in-process, 127.0.0.1)"
            );
        }
        Target::Remote(endpoints) => {
            let _ = writeln!(out, "🎯 Target:");
            for (name, url) in endpoint_urls(endpoints) {
                let _ = writeln!(out, "   {name:<13} {url}");
            }
        }
    }
    match &cfg.report {
        Some(path) => {
            let _ = writeln!(out, "📝 Report:      {}", path.display());
        }
        None => {
            let _ = writeln!(out, "📝 Report:      none");
        }
    }
    out
}

fn stages(p: &crate::config::profile::Profile, unit: &str) -> String {
    if p.stages.len() == 1 && p.start == p.peak() {
        return format!("{}{unit}", p.start);
    }
    p.stages
        .iter()
        .map(|s| {
            let d = if s.duration == std::time::Duration::MAX {
                "∞".to_string()
            } else {
                humantime::format_duration(s.duration).to_string()
            };
            format!("{d}:{}{unit}", s.target)
        })
        .collect::<Vec<_>>()
        .join(", ")
}
