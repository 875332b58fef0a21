//! What each subcommand does, from resolved options to printed output and an exit code.

use crate::cli::{
    CompareArgs, CompareFormat, MergeArgs, ReportArgs, RunArgs, ScenariosCommand, SimArgs,
};
use crate::config;
use crate::db::{DbProbe, ProbeOptions};
use crate::engine;
use crate::engine::sampler::{LiveView, SamplerSinks};
use crate::ground::parse::{parse_duration, UsageError};
use crate::report::prometheus::{MetricsServer, RunLabels};
use crate::report::{convert, destination, drift, html, intervals, json, merge, observer, summary};
use std::io::IsTerminal;
use std::sync::Arc;

pub const EXIT_OK: u8 = 0;
pub const EXIT_USAGE: u8 = 2;
/// The run ended without a single completed request (a stalled or silent target).
pub const EXIT_NOTHING_COMPLETED: u8 = 3;
pub const EXIT_INTERRUPTED: u8 = 130;

fn fail(e: impl std::fmt::Display) -> u8 {
    for line in e.to_string().lines() {
        eprintln!("orysim: {}", crate::terminal_text::escape(line));
    }
    EXIT_USAGE
}

/// A threshold failed (k6's code): the run itself went fine.
pub const EXIT_THRESHOLD_FAILED: u8 = 99;

pub async fn run(args: RunArgs) -> u8 {
    let stop_signals = match crate::signals::StopSignals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("orysim: cannot install the signal handlers: {e}");
            return 1;
        }
    };
    let cfg = match config::resolve_run(args, std::io::stderr().is_terminal()) {
        Ok(cfg) => cfg,
        Err(e) => return fail(e),
    };
    if cfg.dry_run {
        print!("{}", engine::plan::describe(&cfg));
        return EXIT_OK;
    }
    let destination = match cfg.report.as_deref().map(destination::check).transpose() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let html_destination = match cfg
        .html
        .as_deref()
        .map(|p| destination::check_for("--html", p))
        .transpose()
    {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if let Err(e) = engine::fd_budget::ensure(engine::fd_budget::need(&cfg)) {
        return fail(e);
    }
    let live = Arc::new(LiveView::default());
    let metrics = match cfg.observe.metrics_listen {
        Some(addr) => match MetricsServer::bind(addr).await {
            Ok(server) => {
                let run = RunLabels {
                    scenario: cfg.scenario.name.clone(),
                    run_tag: String::new(),
                };
                Some(server.serve(Arc::clone(&live), run))
            }
            Err(e) => return fail(format!("cannot listen on --metrics-listen {addr}: {e}")),
        },
        None => None,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let abort = engine::AbortHandle::default();
    let series = match (&cfg.report, cfg.observe.interval) {
        (Some(path), Some(interval)) => Some((
            intervals::series_path(path),
            intervals::Header {
                schema_version: json::SCHEMA_VERSION,
                tool: json::TOOL_NAME.to_string(),
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                scenario: cfg.scenario.name.clone(),
                started_at: json::rfc3339(std::time::SystemTime::now()),
                interval_seconds: interval.as_secs_f64(),
                target: json::Target {
                    kind: match cfg.target {
                        config::Target::BuiltinSimulator => {
                            json::ReportTargetKind::BuiltinSimulator
                        }
                        config::Target::Remote(_) => json::ReportTargetKind::Remote,
                    },
                    urls: Default::default(),
                    transport: Vec::new(),
                    tls: None,
                },
                options: cfg.redacted_options(),
                services: cfg.services(),
                concurrency: Default::default(),
                run_id: cfg.split.run_id.clone(),
                segment: (!cfg.split.segment.is_whole()).then_some(cfg.split.segment),
                labels: cfg.labels.clone(),
            },
        )),
        _ => None,
    };
    let observer = tokio::spawn(observer::observe(
        observer::ObserverPlan {
            series,
            lines: cfg.observe.interval_summary,
            thresholds: cfg.observe.thresholds.clone(),
            abort: abort.clone(),
        },
        rx,
    ));
    // The database's side: its statistics just before the load and just after it.
    let db_probe = if cfg.observe.db_stats.is_empty() {
        None
    } else {
        let probe = DbProbe::before(cfg.observe.db_stats.clone(), ProbeOptions::default()).await;
        for line in probe.problems() {
            eprintln!("⚠️  {line}");
        }
        Some(probe)
    };
    if let Some(at) = cfg.split.start_at {
        eprintln!(
            "⏳ The load{} starts at {} (--start-at), once setup is done",
            match &cfg.split.run_id {
                Some(id) if !cfg.split.segment.is_whole() =>
                    format!(" (segment {} of run {id})", cfg.split.segment),
                _ => String::new(),
            },
            json::rfc3339(at)
        );
    }
    let hooks = engine::RunHooks {
        sinks: SamplerSinks {
            interval: cfg.observe.interval,
            intervals: Some(tx),
            live: cfg.observe.metrics_listen.map(|_| Arc::clone(&live)),
        },
        abort,
    };
    let result = match engine::run(&cfg, stop_signals.first(), hooks).await {
        Ok(result) => result,
        Err(e) => return fail(e),
    };
    if let Some(server) = metrics {
        server.abort();
    }
    let seen = match observer.await {
        Ok(seen) => seen,
        Err(e) => return fail(format!("the interval observer failed: {e}")),
    };
    let thresholds = seen.evaluator.finish(&result.snapshot, result.info.elapsed);
    let db_stats = match db_probe {
        Some(probe) => {
            eprintln!("🗄️  Reading the database statistics after the load ...");
            probe.after().await
        }
        None => Vec::new(),
    };
    let mut info = result.info;
    if let Some(e) = &seen.series_error {
        info.warnings.push(e.clone());
    }
    let style = summary::Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        width: 80,
    };
    let drift = match &seen.series {
        Some((path, _)) => drift::from_series(path).unwrap_or_else(|e| {
            info.warnings.push(format!("drift not computed: {e:#}"));
            None
        }),
        None => None,
    };
    print!("{}", summary::render(&info, &result.snapshot, &style));
    print!(
        "{}",
        summary::render_observations(&thresholds, drift.as_ref(), &style)
    );
    if !db_stats.is_empty() {
        println!();
        for line in crate::db::summary_lines(&db_stats, 5, style.width.saturating_sub(3)) {
            println!("🗄️ {line}");
        }
    }
    if destination.is_some() || html_destination.is_some() {
        let mut report = json::build(&info, &result.snapshot);
        report.thresholds = thresholds.clone();
        report.drift = drift;
        report.db_stats = db_stats;
        report.series = seen.series.as_ref().map(|(series, n)| json::SeriesRef {
            file: series
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            interval_seconds: cfg.observe.interval.map_or(0.0, |d| d.as_secs_f64()),
            intervals: *n,
        });
        if let (Some(path), Some(dest)) = (&cfg.report, &destination) {
            match destination::write(dest, &report) {
                Ok(()) => eprintln!("📝 Report written to {}", path.display()),
                Err(e) => {
                    eprintln!("orysim: cannot write the report to {}: {e}", path.display());
                    return 1;
                }
            }
        }
        if let (Some(path), Some(dest)) = (&cfg.html, &html_destination) {
            let series = seen.series.as_ref().map(|(p, _)| p.as_path());
            let view = html::RunView::new(report, series);
            let written = html::render_run(&view)
                .and_then(|page| Ok(destination::write_bytes(dest, page.as_bytes())?));
            match written {
                Ok(()) => eprintln!("📊 HTML report written to {}", path.display()),
                Err(e) => {
                    eprintln!(
                        "orysim: cannot write the HTML report to {}: {e:#}",
                        path.display()
                    );
                    return 1;
                }
            }
        }
    }
    for (group, c) in &result.cleanup {
        eprintln!(
            "🧹 Cleanup of {group}: {} deletions, {} failed",
            c.calls, c.failed
        );
    }
    if info.interrupted {
        crate::signals::received().map_or(EXIT_INTERRUPTED, crate::signals::exit_code)
    } else if crate::metrics::completion::completed(&result.snapshot, None) == 0 {
        EXIT_NOTHING_COMPLETED
    } else if thresholds.iter().any(|t| !t.ok) {
        EXIT_THRESHOLD_FAILED
    } else {
        EXIT_OK
    }
}

/// `orysim report INPUT -o OUTPUT`: turns a report or an interval series into another form,
/// chosen by OUTPUT's extension.
pub fn report(args: ReportArgs) -> u8 {
    match convert::convert(&args.input, &args.output, args.format, &args.thresholds) {
        Ok(outcome) => {
            eprintln!(
                "📝 {} written from {}",
                args.output.display(),
                args.input.display()
            );
            for line in &outcome.notes {
                eprintln!("⚠️  {line}");
            }
            if outcome.thresholds_failed {
                EXIT_THRESHOLD_FAILED
            } else {
                EXIT_OK
            }
        }
        Err(e) => fail(format!("{e:#}")),
    }
}

/// A regression beyond `--fail-on-regression` (the comparison itself worked).
pub const EXIT_REGRESSION: u8 = 1;

/// `orysim compare BEFORE AFTER` or `--before ... --after ...`.
pub fn compare(args: CompareArgs) -> u8 {
    let (before, after) = match (
        args.reports.as_slice(),
        args.before.is_empty(),
        args.after.is_empty(),
    ) {
        ([b, a], true, true) => (vec![b.clone()], vec![a.clone()]),
        ([], false, false) => (args.before, args.after),
        ([], _, _) if !args.before.is_empty() || !args.after.is_empty() => {
            return fail("give both --before and --after (one or more reports each)")
        }
        _ => return fail(
            "give two reports (orysim compare BEFORE.json AFTER.json) or --before ... --after ...",
        ),
    };
    if let Some(pct) = args.fail_on_regression {
        if !pct.is_finite() || pct < 0.0 {
            return fail(format!(
                "invalid --fail-on-regression {pct}: a percentage, 0 or more"
            ));
        }
    }
    let html_destination = match args
        .html
        .as_deref()
        .map(|p| destination::check_for("--html", p))
        .transpose()
    {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let load = |paths: &[std::path::PathBuf]| -> Result<Vec<crate::compare::Run>, String> {
        paths
            .iter()
            .map(|p| crate::compare::Run::load(p).map_err(|e| format!("{e:#}")))
            .collect()
    };
    let (before, after) = match (load(&before), load(&after)) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(e), _) | (_, Err(e)) => return fail(e.replace('\n', " ")),
    };
    let comparison = crate::compare::compare(&before, &after);
    match args.format {
        CompareFormat::Terminal => {
            let style = summary::Style {
                color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
                width: 80,
            };
            print!(
                "{}",
                crate::compare::render_terminal::render(&comparison, &style)
            );
        }
        CompareFormat::Markdown => {
            print!("{}", crate::compare::render_markdown::render(&comparison))
        }
        CompareFormat::Json => match serde_json::to_string_pretty(&comparison) {
            Ok(text) => println!("{text}"),
            Err(e) => return fail(format!("cannot write the comparison as JSON: {e}")),
        },
    }
    if let Some(dest) = &html_destination {
        let page = crate::compare::render_html::render(
            &comparison,
            std::path::Path::new(&before[0].file),
            std::path::Path::new(&after[0].file),
        );
        let written = page.map_err(|e| format!("{e:#}")).and_then(|html| {
            destination::write_bytes(dest, html.as_bytes()).map_err(|e| e.to_string())
        });
        if let Err(e) = written {
            eprintln!(
                "orysim: cannot write the HTML comparison: {}",
                crate::terminal_text::escape(&e)
            );
            return 1;
        }
    }
    if let Some(pct) = args.fail_on_regression {
        let regressions = crate::compare::regressions(&comparison, pct);
        if !regressions.is_empty() {
            for r in &regressions {
                eprintln!("🔴 regression beyond {pct}%: {r}");
            }
            return EXIT_REGRESSION;
        }
    }
    EXIT_OK
}

fn fault(
    what: &str,
    latency: &Option<String>,
    jitter: &Option<String>,
    error_rate: Option<f64>,
) -> Result<crate::sim::FaultSpec, UsageError> {
    let mut spec = crate::sim::FaultSpec::default();
    if let Some(v) = latency {
        spec.latency = parse_duration(&format!("--{what}latency"), v)?;
    }
    if let Some(v) = jitter {
        spec.jitter = parse_duration(&format!("--{what}jitter"), v)?;
    }
    if let Some(rate) = error_rate {
        if !(0.0..=1.0).contains(&rate) {
            return Err(UsageError(format!(
                "invalid --{what}error-rate {rate}: must be between 0 and 1"
            )));
        }
        spec.error_rate = rate;
    }
    Ok(spec)
}

pub async fn sim(args: SimArgs) -> u8 {
    // The shared flags are checked under their own names before they fill the per-service ones.
    if let Err(e) = fault("", &args.latency, &args.jitter, args.error_rate) {
        return fail(e);
    }
    let highest = 4467 + u32::from(args.port_offset);
    if highest > u32::from(u16::MAX) {
        return fail(format!(
            "invalid --port-offset {}: the highest port would be {highest}, above 65535 (at most {})",
            args.port_offset,
            u16::MAX - 4467
        ));
    }
    let faults = (|| -> Result<_, UsageError> {
        let base = |own: &Option<String>, all: &Option<String>| own.clone().or(all.clone());
        Ok((
            fault(
                "kratos-",
                &base(&args.kratos_latency, &args.latency),
                &base(&args.kratos_jitter, &args.jitter),
                args.kratos_error_rate.or(args.error_rate),
            )?,
            fault(
                "hydra-",
                &base(&args.hydra_latency, &args.latency),
                &base(&args.hydra_jitter, &args.jitter),
                args.hydra_error_rate.or(args.error_rate),
            )?,
            fault(
                "keto-",
                &base(&args.keto_latency, &args.latency),
                &base(&args.keto_jitter, &args.jitter),
                args.keto_error_rate.or(args.error_rate),
            )?,
        ))
    })();
    let (kratos, hydra, keto) = match faults {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let mut cfg = crate::sim::SimConfig::ephemeral();
    if let Some(path) = &args.identity_schema {
        match crate::sim::read_identity_schema(path) {
            Ok(schema) => cfg.identity_schema = Some(schema),
            Err(e) => return fail(e),
        }
    }
    cfg.host = args.host;
    cfg.ports = crate::ground::PerEndpoint::ory_defaults(args.port_offset);
    cfg.kratos = kratos;
    cfg.hydra = hydra;
    cfg.keto = keto;
    cfg.seed = args.seed;
    let handle = match crate::sim::start(cfg).await {
        Ok(h) => h,
        Err(e) => return fail(format!("cannot start the simulator: {e:#}")),
    };
    eprintln!("🧪 orysim simulator serving Kratos, Hydra and Keto. Point orysim run at it with:");
    println!("{}", handle.urls.export_lines().trim_end());
    eprintln!("Ctrl-C (or SIGTERM) stops it.");
    match crate::signals::StopSignals::install() {
        Ok(signals) => signals.first().await,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    handle.shutdown().await;
    EXIT_OK
}

/// `orysim scenarios list|show|validate`.
pub fn scenarios(cmd: ScenariosCommand) -> u8 {
    use crate::scenario::{self, Overrides, BUILTINS};
    match cmd {
        ScenariosCommand::List => {
            for (name, _) in BUILTINS {
                match scenario::load(name, &Overrides::new()) {
                    Ok(s) => println!("{name:<12} {}", s.description),
                    Err(e) => println!("{name:<12} (broken: {e})"),
                }
            }
            println!();
            println!("Run one with `orysim run --scenario NAME`; print it with `orysim scenarios show NAME`.");
            EXIT_OK
        }
        ScenariosCommand::Show { name } => match scenario::builtin_source(&name) {
            Some(source) => {
                print!("{source}");
                EXIT_OK
            }
            None => fail(format!(
                "no built-in scenario `{name}` (built-ins: {})",
                BUILTINS.map(|(n, _)| n).join(", ")
            )),
        },
        ScenariosCommand::Validate { paths } => {
            let mut code = EXIT_OK;
            for path in paths {
                match scenario::load(&path, &Overrides::new()) {
                    Ok(s) => {
                        let flows: usize = s.groups.iter().map(|g| g.flows.len()).sum();
                        let plural = if flows == 1 { "" } else { "s" };
                        println!("{path}: ok (scenario `{}`, {flows} flow{plural})", s.name);
                    }
                    Err(e) => {
                        eprintln!("{}", crate::terminal_text::escape_lines(&e.to_string()));
                        code = EXIT_USAGE;
                    }
                }
            }
            code
        }
    }
}

/// `orysim merge SEGMENT.json... -o RUN.json`: one report of a split run's segments, its
/// summary on stdout; exit 99 when a threshold fails on the merged figures.
pub fn merge(args: MergeArgs) -> u8 {
    let merged = match merge::merge(&args.inputs, &args.output, &args.thresholds, args.force) {
        Ok(m) => m,
        Err(e) => return fail(format!("{e:#}")),
    };
    let style = summary::Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        width: 80,
    };
    let report = &merged.report;
    print!(
        "{}",
        summary::render(&merged.info, &merged.snapshot, &style)
    );
    print!(
        "{}",
        summary::render_observations(&report.thresholds, report.drift.as_ref(), &style)
    );
    for line in &merged.notes {
        eprintln!("⚠️  {}", crate::terminal_text::escape(line));
    }
    eprintln!(
        "📝 Merged report of {} segments written to {}",
        report.segments.len(),
        args.output.display()
    );
    if report.thresholds.iter().any(|t| !t.ok) {
        EXIT_THRESHOLD_FAILED
    } else {
        EXIT_OK
    }
}
