//! Turns what the user typed (flags, environment, config file) into one validated `RunConfig`.
//! Precedence: flag > environment > config file > built-in default. Every problem becomes a
//! one-line `UsageError` (exit code 2) that says what is wrong and how to fix it.

pub mod labels;
pub mod profile;
pub mod split;
mod target;
mod tls;

use crate::cli::{HydraAuth, RunArgs, Scope};
use crate::ground::parse::UsageError;
use crate::ground::parse::{line_col, parse_duration, parse_rate, usage};
use crate::ground::Endpoints;
use crate::ground::{AuthMethod, Service};
use crate::scenario::{self, Scenario};
use crate::secret::Secret;
use profile::{parse_stages, Profile, StagesSpec};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
pub use target::endpoint_urls;
use target::{resolve_target, FileTargets};

pub const DEFAULT_CONCURRENCY: usize = 10;
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
pub const DEFAULT_READ_RATIO: f64 = 100.0;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_VUS: usize = 100;

/// How load is generated.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadModel {
    /// Virtual users running back to back; the profile gives how many at each moment.
    Closed(Profile),
    /// Iterations arriving on a schedule; the profile gives iterations per second, served by
    /// at most `max_vus` virtual users.
    Open { profile: Profile, max_vus: usize },
}

impl LoadModel {
    pub fn is_open(&self) -> bool {
        matches!(self, LoadModel::Open { .. })
    }
}

/// Where the load goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// Nothing configured anywhere: start the built-in simulator in-process.
    BuiltinSimulator,
    /// Every endpoint the scope needs, validated.
    Remote(Box<Endpoints>),
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub scenario: Arc<Scenario>,
    /// Most virtual users the run will have at once (closed: the peak of the profile; open:
    /// `max_vus`).
    pub concurrency: usize,
    /// Planned length; `None` runs until Ctrl-C or the iteration limit.
    pub duration: Option<Duration>,
    pub model: LoadModel,
    pub iterations: Option<u64>,
    /// Left out of the statistics; part of `duration`.
    pub warmup: Option<Duration>,
    pub read_ratio: f64,
    pub seed: u64,
    pub timeout: Duration,
    pub report: Option<PathBuf>,
    /// Where to write the HTML report of the run, if anywhere.
    pub html: Option<PathBuf>,
    /// Run the scenario's cleanup section after the load.
    pub cleanup: bool,
    pub progress: bool,
    pub dry_run: bool,
    pub target: Target,
    pub admin_token: Option<Secret>,
    /// Trust, client certificates and HTTP versions of the endpoints.
    pub tls: crate::ory::transport::TlsOptions,
    pub observe: ObserveOptions,
    /// `--segment`, `--run-id`, `--start-at`: this process's share of a split run.
    pub split: split::Split,
    /// `--label KEY=VALUE` and `[labels]`: what this run is.
    pub labels: BTreeMap<String, String>,
}

/// Time series, thresholds and live metrics of a run.
#[derive(Debug, Clone, Default)]
pub struct ObserveOptions {
    /// Interval of the time series; `None` when turned off.
    pub interval: Option<Duration>,
    pub interval_summary: bool,
    pub thresholds: Vec<crate::report::thresholds::Threshold>,
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Databases whose statistics are taken before and after the load.
    pub db_stats: Vec<crate::db::DbTarget>,
}

/// The series' default interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

fn resolve_observe(
    args: &crate::cli::ObserveArgs,
    file: &FileConfig,
    scenario_thresholds: &[crate::report::thresholds::Threshold],
) -> Result<ObserveOptions, UsageError> {
    let interval = match args.interval.as_deref().or(file.interval.as_deref()) {
        Some(v) => {
            let d = parse_duration("--interval", v)?;
            if !d.is_zero() && d < Duration::from_millis(100) {
                return usage(format!(
                    "invalid --interval '{v}': at least 100ms (or 0 to turn the series off)"
                ));
            }
            (!d.is_zero()).then_some(d)
        }
        None => Some(DEFAULT_INTERVAL),
    };
    // The file's thresholds and the flags' both apply: a gate in a checked-in config file
    // cannot be dropped by adding one on the command line.
    let mut thresholds = scenario_thresholds.to_vec();
    for t in file.thresholds.iter().chain(&args.thresholds) {
        thresholds
            .push(crate::report::thresholds::parse(t).map_err(|e| UsageError(e.to_string()))?);
    }
    let needs_series = thresholds
        .iter()
        .any(|t| t.abort || t.window != crate::report::thresholds::Window::WholeRun);
    if needs_series && interval.is_none() {
        return usage(
            "--interval 0 turns the series off, but windowed (@...) and aborting (!) \
             thresholds are judged on it",
        );
    }
    let metrics_listen = match args
        .metrics_listen
        .as_deref()
        .or(file.metrics_listen.as_deref())
    {
        Some(v) => Some(v.parse::<std::net::SocketAddr>().or_else(|_| {
            usage(format!(
                "invalid --metrics-listen {v:?}: an address and port, e.g. 127.0.0.1:9464"
            ))
        })?),
        None => None,
    };
    // Flags replace the file's databases: a URL given on the command line is the one meant.
    let db_values = if args.db_stats.is_empty() {
        &file.db_stats
    } else {
        &args.db_stats
    };
    let db_stats = db_values
        .iter()
        .map(|v| crate::db::DbTarget::parse(v).map_err(|e| UsageError(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    crate::db::check_unique_names(&db_stats).map_err(|e| UsageError(e.to_string()))?;
    Ok(ObserveOptions {
        interval,
        interval_summary: args.interval_summary || file.interval_summary,
        thresholds,
        metrics_listen,
        db_stats,
    })
}

impl RunConfig {
    pub fn services(&self) -> Vec<Service> {
        self.scenario.services()
    }

    fn profile_json(&self) -> serde_json::Value {
        let (unit, profile, max_vus) = match &self.model {
            LoadModel::Closed(p) => ("virtual_users", p, None),
            LoadModel::Open { profile, max_vus } => {
                ("iterations_per_second", profile, Some(*max_vus))
            }
        };
        serde_json::json!({
            "unit": unit,
            "start": profile.start,
            "stages": profile.stages.iter().map(|s| serde_json::json!({
                "seconds": (s.duration != Duration::MAX).then_some(s.duration.as_secs_f64()),
                "target": s.target,
            })).collect::<Vec<_>>(),
            "max_vus": max_vus,
        })
    }

    /// The TLS settings as the report shows them: file names, never a key's content.
    fn tls_json(&self) -> serde_json::Value {
        let t = &self.tls;
        serde_json::json!({
            "insecure": t.insecure,
            "ca_certs": t.ca_certs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "endpoints": t.endpoints.iter().map(|(e, s)| (e.name().to_string(), serde_json::json!({
                "client_cert": s.identity.as_ref().map(|i| i.cert.display().to_string()),
                "http_version": s.http_version
                    .unwrap_or_else(|| crate::ory::transport::default_http_version(e))
                    .as_str(),
            }))).collect::<serde_json::Map<_, _>>(),
        })
    }

    /// The options as they appear in the report: everything that shapes the run, nothing secret.
    pub fn redacted_options(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.scenario.name,
            "scenario_origin": self.scenario.origin,
            "params": self.scenario.params,
            "cleanup": self.cleanup,
            "model": if self.model.is_open() { "open" } else { "closed" },
            "concurrency": self.concurrency,
            "duration_seconds": self.duration.map(|d| d.as_secs_f64()),
            "profile": self.profile_json(),
            "iterations": self.iterations,
            "warmup_seconds": self.warmup.map(|d| d.as_secs_f64()),
            "read_ratio": self.read_ratio,
            "seed": self.seed,
            "timeout_seconds": self.timeout.as_secs_f64(),
            "admin_token": self.admin_token.as_ref().map(|_| crate::secret::REDACTED),
            "tls": self.tls_json(),
            "db_stats": self.observe.db_stats.iter().map(|t| t.redacted_url()).collect::<Vec<_>>(),
            "interval_seconds": self.observe.interval.map(|d| d.as_secs_f64()),
            "thresholds": self.observe.thresholds.iter().map(|t| t.expr.as_str()).collect::<Vec<_>>(),
        })
    }
}

/// The settings a `--config` TOML file may hold: the same as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    concurrency: Option<usize>,
    duration: Option<String>,
    stages: Option<String>,
    rate: Option<String>,
    max_vus: Option<usize>,
    iterations: Option<u64>,
    warmup: Option<String>,
    scope: Option<Scope>,
    scenario: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    cleanup: bool,
    read_ratio: Option<f64>,
    seed: Option<u64>,
    timeout: Option<String>,
    negative_share: Option<f64>,
    keto_namespace: Option<String>,
    hydra_auth: Option<HydraAuth>,
    report: Option<PathBuf>,
    html: Option<PathBuf>,
    #[serde(default)]
    targets: FileTargets,
    interval: Option<String>,
    #[serde(default)]
    interval_summary: bool,
    #[serde(default)]
    thresholds: Vec<String>,
    metrics_listen: Option<String>,
    #[serde(default)]
    db_stats: Vec<String>,
    #[serde(default)]
    ca_cert: Vec<PathBuf>,
    #[serde(default)]
    insecure: bool,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    http_version: Option<String>,
    #[serde(default)]
    tls: BTreeMap<String, tls::FileEndpointTls>,
}

impl FileConfig {
    /// The TLS keys, taken out of the file's settings.
    fn take_tls(&mut self) -> tls::FileTls {
        tls::FileTls {
            ca_cert: std::mem::take(&mut self.ca_cert),
            insecure: self.insecure,
            client_cert: self.client_cert.take(),
            client_key: self.client_key.take(),
            http_version: self.http_version.take(),
            tls: std::mem::take(&mut self.tls),
        }
    }
}

fn load_file(path: &Path) -> Result<FileConfig, UsageError> {
    let text = match crate::limits::read_text(path, crate::limits::MAX_CONFIG_BYTES) {
        Ok(text) => text,
        Err(crate::limits::ReadError::NotUtf8 { line, col }) => {
            return usage(format!("{}:{line}:{col}: not UTF-8 text", path.display()))
        }
        Err(e) => return usage(format!("cannot read config file {}: {e}", path.display())),
    };
    toml::from_str(&text).or_else(|e: toml::de::Error| {
        let (line, col) = e
            .span()
            .map(|span| line_col(&text, span.start))
            .unwrap_or((1, 1));
        let msg = e.message().replace('\n', " ");
        usage(format!("{}:{line}:{col}: {msg}", path.display()))
    })
}

fn default_report_path(scenario: &str) -> PathBuf {
    // 2026-11-30T04:05:06Z → 20261130T040506Z: sortable and safe in every file system.
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let name: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from("reports").join(format!("{stamp}-{name}.json"))
}

fn share(what: &str, v: f64) -> Result<f64, UsageError> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        usage(format!("invalid {what} {v}: must be between 0 and 1"))
    }
}

/// The scenario named by --scenario or --scope (default `all`), with parameters from
/// `--param` (which must exist) and from the generic flags that map onto parameters
/// (applied when the scenario has them).
fn load_scenario(args: &RunArgs, file: &FileConfig) -> Result<Scenario, UsageError> {
    // As the flags: one or the other.
    if file.scenario.is_some() && file.scope.is_some() {
        return usage("the config file sets both `scenario` and `scope`: keep one");
    }
    let spec = match (&args.scenario, args.scope, &file.scenario, file.scope) {
        (Some(s), _, _, _) => s.clone(),
        (None, Some(scope), _, _) => scope.name().to_string(),
        (None, None, Some(s), _) => s.clone(),
        (None, None, None, Some(scope)) => scope.name().to_string(),
        (None, None, None, None) => "all".to_string(),
    };
    let mut strict: BTreeMap<String, String> = file.params.clone();
    for p in &args.params {
        let Some((k, v)) = p.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return usage(format!("invalid --param '{p}': write KEY=VALUE"));
        };
        strict.insert(k.trim().to_string(), v.to_string());
    }
    let mut lenient = BTreeMap::new();
    if let Some(v) = args.negative_share.or(file.negative_share) {
        lenient.insert("negative_share", share("--negative-share", v)?.to_string());
    }
    if let Some(ns) = args
        .keto_namespace
        .as_ref()
        .or(file.keto_namespace.as_ref())
    {
        if ns.trim().is_empty() {
            return usage("invalid --keto-namespace: must not be empty");
        }
        lenient.insert("namespace", ns.clone());
    }
    if let Some(auth) = args.hydra_auth.or(file.hydra_auth) {
        let method = match auth {
            HydraAuth::ClientSecretPost => AuthMethod::ClientSecretPost,
            HydraAuth::ClientSecretBasic => AuthMethod::ClientSecretBasic,
        };
        lenient.insert("auth_method", method.as_str().to_string());
    }
    let first = scenario::load(&spec, &strict).map_err(|e| UsageError(e.to_string()))?;
    let applicable: Vec<(&str, String)> = lenient
        .into_iter()
        .filter(|(k, _)| first.params.contains_key(*k) && !strict.contains_key(*k))
        .collect();
    if applicable.is_empty() {
        return Ok(first);
    }
    for (k, v) in applicable {
        strict.insert(k.to_string(), v);
    }
    scenario::load(&spec, &strict).map_err(|e| UsageError(e.to_string()))
}

/// Each group of the scenario gets an even share of the virtual users; flows with `vus` need
/// theirs, plus one for the shared flows.
fn check_enough_users(scenario: &Scenario, concurrency: usize) -> Result<(), UsageError> {
    let groups = scenario.groups.len();
    let needed: Vec<usize> = scenario
        .groups
        .iter()
        .map(|g| {
            let shared = g.flows.iter().any(|f| f.dedicated_vus.is_none());
            (g.dedicated_vus() + usize::from(shared)).max(1)
        })
        .collect();
    let split = crate::scenario::model::split_users(concurrency, groups);
    if split.iter().zip(&needed).all(|(have, need)| have >= need) {
        return Ok(());
    }
    let least = needed.iter().max().copied().unwrap_or(1) * groups;
    usage(format!(
        "invalid --concurrency {concurrency}: scenario `{}` needs at least {least} virtual users \
         ({} side by side, with {} each)",
        scenario.name,
        groups,
        needed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    ))
}

pub fn resolve_run(args: RunArgs, stderr_is_tty: bool) -> Result<RunConfig, UsageError> {
    let mut file = match &args.config {
        Some(path) => load_file(path)?,
        None => FileConfig::default(),
    };
    let labels = labels::resolve(&args.labels, &file.labels)?;
    let scenario = Arc::new(load_scenario(&args, &file)?);
    let services = scenario.services();
    let observe = resolve_observe(&args.observe, &file, &scenario.thresholds)?;

    let stages = match args.stages.as_deref().or(file.stages.as_deref()) {
        Some(v) => Some(parse_stages(v)?),
        None => None,
    };
    let rate = match args.rate.as_deref().or(file.rate.as_deref()) {
        Some(v) => match parse_rate("--rate", v)? {
            r if r > 0.0 => Some(r),
            _ => return usage(format!("invalid --rate '{v}': must be above 0")),
        },
        None => None,
    };
    let iterations = args.iterations.or(file.iterations);
    if iterations.is_some() && (args.warmup.is_some() || file.warmup.is_some()) {
        // The warm-up's iterations would count against the limit yet be left out of the totals.
        return usage("--warmup cannot be used with --iterations: use --duration for a warm-up");
    }
    if iterations == Some(0) {
        return usage("invalid --iterations 0: at least one iteration is needed");
    }
    let duration_flag = args.duration.as_deref().or(file.duration.as_deref());
    let duration = match duration_flag {
        Some(v) => parse_duration("--duration", v)?,
        // With only an iteration limit, the run lasts until the iterations are done.
        None if iterations.is_some() => Duration::ZERO,
        None => DEFAULT_DURATION,
    };
    let duration = (!duration.is_zero()).then_some(duration);
    let concurrency_flag = args.concurrency.or(file.concurrency);
    let model = match (stages, rate) {
        (Some(StagesSpec::VirtualUsers(profile)), _) => LoadModel::Closed(profile),
        (Some(StagesSpec::Rate(profile)), _) => LoadModel::Open {
            profile,
            max_vus: args
                .max_vus
                .or(file.max_vus)
                .or(concurrency_flag)
                .unwrap_or(DEFAULT_MAX_VUS),
        },
        (None, Some(rate)) => LoadModel::Open {
            profile: Profile::constant(rate, duration),
            max_vus: args
                .max_vus
                .or(file.max_vus)
                .or(concurrency_flag)
                .unwrap_or(DEFAULT_MAX_VUS),
        },
        (None, None) => LoadModel::Closed(Profile::constant(
            concurrency_flag.unwrap_or(DEFAULT_CONCURRENCY) as f64,
            duration,
        )),
    };
    let (concurrency, duration) = match &model {
        LoadModel::Closed(p) => (p.peak().round() as usize, p.duration()),
        LoadModel::Open { profile, max_vus } => (*max_vus, profile.duration()),
    };
    // Name the flag the number came from.
    let users_flag = match &model {
        LoadModel::Open { .. } if args.max_vus.or(file.max_vus).is_some() => "--max-vus",
        LoadModel::Closed(_) if args.stages.is_some() || file.stages.is_some() => "--stages",
        _ => "--concurrency",
    };
    if concurrency == 0 {
        return usage(format!(
            "invalid {users_flag} 0: at least one virtual user is needed"
        ));
    }
    if concurrency > crate::limits::MAX_VIRTUAL_USERS {
        return usage(format!(
            "invalid {users_flag} {concurrency}: at most {} virtual users",
            crate::limits::MAX_VIRTUAL_USERS
        ));
    }
    if let LoadModel::Open { profile, .. } = &model {
        if profile.peak() > crate::limits::MAX_RATE_PER_SECOND {
            let flag = if args.stages.is_some() || file.stages.is_some() {
                "--stages"
            } else {
                "--rate"
            };
            return usage(format!(
                "invalid {flag}: {} iterations/s is above {}/s, the highest rate orysim runs",
                profile.peak(),
                crate::limits::MAX_RATE_PER_SECOND
            ));
        }
    }
    check_enough_users(&scenario, concurrency)?;
    let split = split::resolve(
        args.segment.as_deref(),
        args.run_id.as_deref(),
        args.start_at.as_deref(),
        std::env::var(crate::segment::COMPLETION_INDEX_VAR)
            .ok()
            .as_deref(),
        std::time::SystemTime::now(),
    )?;
    split::check_shares(
        split.segment,
        &scenario,
        (users_flag, concurrency),
        model.is_open(),
        iterations,
    )?;
    let warmup = match args.warmup.as_deref().or(file.warmup.as_deref()) {
        Some(v) => Some(parse_duration("--warmup", v)?).filter(|d| !d.is_zero()),
        None => None,
    };
    if let (Some(w), Some(d)) = (warmup, duration) {
        if w >= d {
            return usage(format!(
                "invalid --warmup {}: it must be shorter than the run ({})",
                humantime::format_duration(w),
                humantime::format_duration(d)
            ));
        }
    }
    let timeout = match args.timeout.as_deref().or(file.timeout.as_deref()) {
        Some(v) => parse_duration("--timeout", v)?,
        None => DEFAULT_TIMEOUT,
    };
    if timeout.is_zero() {
        return usage("invalid --timeout 0: a request timeout must be positive, e.g. 10s");
    }

    let read_ratio = args
        .read_ratio
        .or(file.read_ratio)
        .unwrap_or(DEFAULT_READ_RATIO);
    if !read_ratio.is_finite() || read_ratio < 0.0 {
        return usage(format!(
            "invalid --read-ratio {read_ratio}: must be a number of reads per write, 0 or more"
        ));
    }
    let seed = args.seed.or(file.seed).unwrap_or_else(random_seed);
    let target = resolve_target(&args.targets, &file.targets, &services)?;
    let tls = tls::resolve_tls(&args.tls, &file.take_tls())?;

    let report = if args.no_report || args.dry_run {
        None
    } else {
        Some(
            args.report
                .or(file.report)
                .unwrap_or_else(|| default_report_path(&scenario.name)),
        )
    };

    let html = if args.dry_run {
        None
    } else {
        args.html.or(file.html)
    };

    let admin_token = args
        .admin_token
        .filter(|t| !t.trim().is_empty())
        .map(Secret::new);

    Ok(RunConfig {
        scenario,
        concurrency,
        duration,
        model,
        iterations,
        warmup,
        read_ratio,
        seed,
        timeout,
        report,
        html,
        cleanup: args.cleanup || file.cleanup,
        progress: stderr_is_tty && !args.no_progress,
        dry_run: args.dry_run,
        target,
        admin_token,
        tls,
        observe,
        split,
        labels,
    })
}

/// A seed for when the user gives none; it is printed and stored in the report so the run
/// can be repeated.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::Endpoint;

    fn args() -> RunArgs {
        RunArgs::default()
    }

    #[test]
    fn defaults_use_the_builtin_simulator() {
        let cfg = resolve_run(args(), false).unwrap();
        assert!(matches!(cfg.target, Target::BuiltinSimulator));
        assert_eq!(cfg.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(cfg.duration, Some(DEFAULT_DURATION));
        assert_eq!(cfg.read_ratio, 100.0);
        assert_eq!(cfg.scenario.name, "all");
        assert!(cfg.report.unwrap().starts_with("reports"));
        assert!(!cfg.progress);
    }

    #[test]
    fn generic_flags_set_the_parameters_of_scenarios_that_have_them() {
        let mut a = args();
        a.scope = Some(Scope::Keto);
        a.negative_share = Some(0.4);
        a.keto_namespace = Some("groups".into());
        a.hydra_auth = Some(HydraAuth::ClientSecretPost);
        let cfg = resolve_run(a, false).unwrap();
        let params = &cfg.scenario.params;
        assert_eq!(params["negative_share"], "0.4");
        assert_eq!(params["namespace"], "groups");
        assert!(
            !params.contains_key("auth_method"),
            "keto has no such parameter"
        );

        let mut a = args();
        a.scope = Some(Scope::Hydra);
        a.hydra_auth = Some(HydraAuth::ClientSecretPost);
        a.params = vec!["negative_share=0.2".into()];
        a.negative_share = Some(0.9);
        let cfg = resolve_run(a, false).unwrap();
        assert_eq!(cfg.scenario.params["auth_method"], "client_secret_post");
        assert_eq!(
            cfg.scenario.params["negative_share"], "0.2",
            "--param wins over the generic flag"
        );
    }

    #[test]
    fn durations_parse_and_zero_means_unbounded() {
        assert_eq!(parse_duration("d", "10s").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_duration("d", "2h").unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            parse_duration("d", "250ms").unwrap(),
            Duration::from_millis(250)
        );
        let mut a = args();
        a.duration = Some("0".into());
        assert_eq!(resolve_run(a, false).unwrap().duration, None);
        let err = parse_duration("--duration", "ten").unwrap_err().0;
        assert!(err.starts_with("invalid --duration 'ten'"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn partial_endpoints_name_every_missing_variable() {
        let mut a = args();
        a.scope = Some(Scope::All);
        a.targets.keto_read = Some("http://127.0.0.1:4466".into());
        let err = resolve_run(a, false).unwrap_err().0;
        for var in [
            "KRATOS_PUBLIC_URL",
            "KRATOS_ADMIN_URL",
            "HYDRA_PUBLIC_URL",
            "HYDRA_ADMIN_URL",
            "KETO_WRITE_REMOTE",
        ] {
            assert!(err.contains(var), "{err} lacks {var}");
        }
        assert!(!err.contains("KETO_READ_REMOTE"));
    }

    #[test]
    fn a_scope_needs_only_its_own_endpoints() {
        let mut a = args();
        a.scope = Some(Scope::Keto);
        a.targets.keto_read = Some("127.0.0.1:4466".into());
        a.targets.keto_write = Some("http://127.0.0.1:4467/".into());
        match resolve_run(a, false).unwrap().target {
            Target::Remote(e) => {
                let read = e[Endpoint::KetoRead].as_ref().unwrap();
                assert_eq!(read.as_str(), "http://127.0.0.1:4466/");
                assert!(e[Endpoint::KratosPublic].is_none());
            }
            other => panic!("expected remote, got {other:?}"),
        }
    }

    #[test]
    fn concurrency_must_cover_every_service() {
        let mut a = args();
        a.concurrency = Some(2);
        let err = resolve_run(a, false).unwrap_err().0;
        assert!(err.contains("needs at least 3 virtual users"), "{err}");
        let mut a = args();
        a.concurrency = Some(0);
        assert!(resolve_run(a, false).is_err());
    }

    #[test]
    fn config_file_fills_gaps_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orysim.toml");
        std::fs::write(
            &path,
            "concurrency = 7\nread_ratio = 5\nduration = \"3s\"\n[targets]\nketo_read = \"http://127.0.0.1:1\"\nketo_write = \"http://127.0.0.1:2\"\n",
        )
        .unwrap();
        let mut a = args();
        a.config = Some(path.clone());
        a.scope = Some(Scope::Keto);
        a.read_ratio = Some(9.0);
        let cfg = resolve_run(a, false).unwrap();
        assert_eq!(cfg.concurrency, 7);
        assert_eq!(cfg.read_ratio, 9.0);
        assert_eq!(cfg.duration, Some(Duration::from_secs(3)));
        assert!(matches!(cfg.target, Target::Remote(_)));
    }

    #[test]
    fn config_file_errors_point_at_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "concurrency = 3\nfrobnicate = true\n").unwrap();
        let mut a = args();
        a.config = Some(path.clone());
        let err = resolve_run(a, false).unwrap_err().0;
        assert!(
            err.starts_with(&format!("{}:2:1:", path.display())),
            "{err}"
        );
        assert!(err.contains("frobnicate"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn redacted_options_hold_no_token() {
        let mut a = args();
        a.admin_token = Some("ory_apikey_supersecret".into());
        let cfg = resolve_run(a, false).unwrap();
        let text = cfg.redacted_options().to_string();
        assert!(!text.contains("supersecret"));
        assert!(text.contains(crate::secret::REDACTED));
    }

    #[test]
    fn ratios_and_shares_are_validated() {
        let mut a = args();
        a.read_ratio = Some(-1.0);
        assert!(resolve_run(a, false).is_err());
        let mut a = args();
        a.negative_share = Some(1.5);
        assert!(resolve_run(a, false).is_err());
    }

    #[test]
    fn rate_selects_the_open_model_and_stages_pick_theirs() {
        let mut a = args();
        a.rate = Some("300/s".into());
        a.duration = Some("5s".into());
        let cfg = resolve_run(a, false).unwrap();
        match &cfg.model {
            LoadModel::Open { profile, max_vus } => {
                assert_eq!(profile.start, 300.0);
                assert_eq!(*max_vus, DEFAULT_MAX_VUS);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cfg.duration, Some(Duration::from_secs(5)));

        let mut a = args();
        a.stages = Some("1s:6,2s:9".into());
        let cfg = resolve_run(a, false).unwrap();
        assert!(matches!(cfg.model, LoadModel::Closed(_)));
        assert_eq!(cfg.concurrency, 9);
        assert_eq!(cfg.duration, Some(Duration::from_secs(3)));
    }

    #[test]
    fn iterations_without_duration_run_until_done_and_warmup_must_fit() {
        let mut a = args();
        a.iterations = Some(50);
        let cfg = resolve_run(a, false).unwrap();
        assert_eq!(cfg.duration, None);
        assert_eq!(cfg.iterations, Some(50));

        let mut a = args();
        a.duration = Some("5s".into());
        a.warmup = Some("5s".into());
        let err = resolve_run(a, false).unwrap_err().0;
        assert!(err.contains("shorter than the run"), "{err}");

        let mut a = args();
        a.rate = Some("0/s".into());
        assert!(resolve_run(a, false).is_err());
    }
}
