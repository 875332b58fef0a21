//! The plan as words: what a run will do, printed by `--dry-run` (and nothing is sent).

use super::executor::split_users;
use crate::config::{endpoint_urls, RunConfig, Target};
use std::fmt::Write;

pub fn describe(cfg: &RunConfig) -> String {
    let mut out = String::new();
    let services = cfg.services();
    let _ = writeln!(out, "🧪 Mode:        DRY RUN (validated; nothing was sent)");
    let _ = writeln!(out, "📋 Scope:       {}", cfg.scope.name());
    let split = split_users(cfg.concurrency, services.len());
    let users: Vec<String> = services
        .iter()
        .zip(&split)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "⚙️  Concurrency: {} virtual users ({})",
        cfg.concurrency,
        users.join(", ")
    );
    let duration = match cfg.duration {
        Some(d) => humantime::format_duration(d).to_string(),
        None => "until Ctrl-C".to_string(),
    };
    let _ = writeln!(out, "⏱️  Duration:    {duration}");
    let _ = writeln!(out, "📊 Read ratio:  {}:1 reads per write", cfg.read_ratio);
    let _ = writeln!(
        out,
        "🎲 Seed:        {}   Timeout: {}   Negative share: {}",
        cfg.seed,
        humantime::format_duration(cfg.timeout),
        cfg.negative_share
    );
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
