//! Runs a plan: picks the target (starting the built-in simulator when nothing is configured),
//! checks every endpoint is ready, sets up what the workloads need, runs the virtual users
//! until the deadline or Ctrl-C, tears down, and hands back `RunInfo` + `Snapshot`.

pub mod arrival_timer;
pub mod arrivals;
pub mod data;
pub mod executor;
pub mod failure_backoff;
pub mod fd_budget;
pub mod in_flight;
pub mod interp;
pub mod iteration_boxes;
pub mod mix;
pub mod plan;
pub mod pool;
pub mod progress;
mod run_info;
pub mod runtime;
pub mod sampler;
pub mod start;
mod step_preflight;
pub mod traits_fill;
pub mod vu;
pub mod watch;
pub mod workload;

use crate::config::{endpoint_urls, LoadModel, RunConfig, Target};
use crate::ground::MetricKey;
use crate::ground::Service;
use crate::ground::{Endpoint, Endpoints};
use crate::metrics::{GeneratorStats, WarmupTotals};
use crate::metrics::{Recorder, Snapshot};
use crate::ory::{self, ClientOptions};
use crate::scenario::model::{split_users, Group};
use executor::{
    drain, spawn_closed, spawn_level_controller, spawn_open, IterationBudget, Shared, StopFlag,
};
use interp::{Clients, Env, GroupWorkload, PhaseTotals, RuntimePool};
pub use run_info::{RunInfo, TargetKind};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinSet;
use watch::GeneratorWatch;
use workload::Workload;

/// Why a run could not start. Both are the user's to fix: exit code 2.
#[derive(Debug)]
pub enum RunError {
    /// One line per endpoint that is not ready.
    Preflight(Vec<String>),
    /// A setup call (e.g. registering the OAuth2 client) failed.
    Setup(String),
    /// The built-in simulator could not start.
    Simulator(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Preflight(lines) => f.write_str(&lines.join("\n")),
            RunError::Setup(msg) | RunError::Simulator(msg) => f.write_str(msg),
        }
    }
}

pub struct RunResult {
    pub info: RunInfo,
    pub snapshot: Snapshot,
    /// `--cleanup`: per scenario group, the deletions made.
    pub cleanup: Vec<(String, PhaseTotals)>,
}

/// What the caller hooks into a run: where the time series and the live view go, and a way
/// to stop the run early (a threshold that can no longer hold).
#[derive(Clone, Default)]
pub struct RunHooks {
    pub sinks: sampler::SamplerSinks,
    pub abort: AbortHandle,
}

/// Stops a run before its planned end for a reason that is not an interrupt.
#[derive(Clone, Default)]
pub struct AbortHandle(Arc<AbortState>);

#[derive(Default)]
struct AbortState {
    notify: tokio::sync::Notify,
    reason: std::sync::Mutex<Option<String>>,
}

impl AbortHandle {
    /// Asks the run to stop; the first reason given is kept.
    pub fn abort(&self, reason: String) {
        let mut slot = self.0.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.0.notify.notify_one();
    }

    pub fn reason(&self) -> Option<String> {
        self.0
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn aborted(&self) {
        if self.reason().is_none() {
            self.0.notify.notified().await;
        }
    }
}

/// How long virtual users may take to finish their in-flight call once told to stop.
fn grace_period(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(3))
}

/// Runs the whole plan. `interrupt` resolves when the user asks to stop (a stop signal).
pub async fn run(
    cfg: &RunConfig,
    interrupt: impl std::future::Future<Output = ()>,
    hooks: RunHooks,
) -> Result<RunResult, RunError> {
    let started_at = SystemTime::now();
    failure_backoff::RUN.reset();
    let (endpoints, target_kind, sim) = match &cfg.target {
        Target::Remote(e) => ((**e).clone(), TargetKind::Remote, None),
        Target::BuiltinSimulator => {
            let handle = crate::sim::start(crate::sim::SimConfig::ephemeral())
                .await
                .map_err(|e| RunError::Simulator(format!("built-in simulator: {e:#}")))?;
            (
                sim_endpoints(&handle.urls),
                TargetKind::BuiltinSimulator,
                Some(handle),
            )
        }
    };
    let services = cfg.services();
    let abort = hooks.abort.clone();
    let result = run_against(cfg, &endpoints, &services, interrupt, hooks).await;
    let in_process_simulator = sim.is_some();
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    let Measured {
        snapshot,
        measured_from,
        elapsed,
        interrupted,
        ended_at,
        warmup,
        mut generator,
        phase_warnings,
        cleanup,
        transport,
        tls,
    } = result?;
    generator.in_process_simulator = in_process_simulator;

    // This process's virtual users: a segment's share of each group's ids.
    let mut concurrency: BTreeMap<Service, usize> = BTreeMap::new();
    let mut first_id = 0;
    for (group, users) in cfg
        .scenario
        .groups
        .iter()
        .zip(split_users(cfg.concurrency, cfg.scenario.groups.len()))
    {
        let owned = cfg.split.segment.share_of(first_id..first_id + users);
        first_id += users;
        for service in group.services() {
            *concurrency.entry(service).or_insert(0) += owned;
        }
    }
    let mut warnings = generator.warnings(elapsed);
    warnings.extend(crate::metrics::completion::warning(&snapshot));
    warnings.extend(failure_backoff::warning(&failure_backoff::RUN.pauses()));
    warnings.extend(phase_warnings);
    let aborted = abort.reason();
    if interrupted {
        warnings.insert(
            0,
            format!(
                "interrupted by {} before the planned end",
                crate::signals::received().map_or("Ctrl-C", crate::signals::name)
            ),
        );
    } else if let Some(reason) = &aborted {
        warnings.insert(0, format!("aborted before the planned end: {reason}"));
    }
    Ok(RunResult {
        info: RunInfo {
            tool_version: env!("CARGO_PKG_VERSION"),
            started_at,
            ended_at,
            elapsed,
            interrupted,
            aborted,
            scenario: cfg.scenario.name.clone(),
            services,
            concurrency,
            target_kind,
            target_urls: endpoint_urls(&endpoints)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            transport,
            tls,
            labels: cfg.labels.clone(),
            options: cfg.redacted_options(),
            warnings,
            warmup,
            generator,
            split: cfg.split.clone(),
            measured_from: Some(measured_from),
        },
        snapshot,
        cleanup,
    })
}

fn sim_endpoints(urls: &crate::ground::PerEndpoint<String>) -> Endpoints {
    urls.map(|_, url| reqwest::Url::parse(url).ok())
}

/// The endpoints a set of services needs, in the services' order.
fn needed_endpoints<'a>(
    endpoints: &'a Endpoints,
    services: &[Service],
) -> Vec<(Endpoint, &'a reqwest::Url)> {
    services
        .iter()
        .flat_map(|&service| {
            Endpoint::ALL
                .into_iter()
                .filter(move |e| e.service() == service)
        })
        .filter_map(|e| endpoints[e].as_ref().map(|url| (e, url)))
        .collect()
}

async fn preflight(
    transports: &ory::transport::Transports,
    endpoints: &Endpoints,
    services: &[Service],
) -> Result<(), RunError> {
    let mut probes = JoinSet::new();
    for (i, (endpoint, url)) in needed_endpoints(endpoints, services)
        .into_iter()
        .enumerate()
    {
        let Some(transport) = transports.per_endpoint[endpoint].clone() else {
            continue;
        };
        let url = url.clone();
        // "kratos public": the endpoint's name as words.
        let name = endpoint.name().replace('_', " ");
        probes.spawn(async move {
            let result =
                ory::probe_ready_noting(&transport.http, &url, Some(&transport.stats)).await;
            (
                i,
                result.map_err(|e| format!("preflight: {name} not ready: {e}")),
            )
        });
    }
    let mut failures: Vec<(usize, String)> = Vec::new();
    while let Some(joined) = probes.join_next().await {
        if let Ok((i, Err(msg))) = joined {
            failures.push((i, msg));
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    failures.sort();
    Err(RunError::Preflight(
        failures.into_iter().map(|(_, m)| m).collect(),
    ))
}

/// What the load phase produced, before it becomes a `RunInfo`.
struct Measured {
    snapshot: Snapshot,
    /// Wall-clock time at which the measured run started.
    measured_from: SystemTime,
    elapsed: Duration,
    interrupted: bool,
    ended_at: SystemTime,
    warmup: Option<WarmupTotals>,
    generator: GeneratorStats,
    /// Failed teardown or cleanup calls, as warning lines.
    phase_warnings: Vec<String>,
    cleanup: Vec<(String, PhaseTotals)>,
    transport: Vec<ory::transport::EndpointUsage>,
    tls: Option<ory::transport::TlsUsage>,
}

/// Starts the virtual users of one scenario group under the configured model.
fn launch<W: Workload>(
    users: &mut JoinSet<()>,
    workload: Arc<W>,
    cfg: &RunConfig,
    groups: usize,
    ids: std::ops::Range<usize>,
    start: Instant,
    shared: &Shared,
) {
    match &cfg.model {
        LoadModel::Closed(profile)
            if profile.stages.len() == 1 && profile.start == profile.peak() =>
        {
            spawn_closed(users, workload, ids, None, shared)
        }
        LoadModel::Closed(profile) => {
            // This service's share of the ramp: the same split as for a fixed level.
            let factor = ids.len() as f64 / cfg.concurrency.max(1) as f64;
            let level = Arc::new(AtomicUsize::new(0));
            spawn_level_controller(
                users,
                profile.scaled(factor),
                level.clone(),
                start,
                shared.stop.clone(),
            );
            spawn_closed(users, workload, ids, Some(level), shared)
        }
        LoadModel::Open { profile, .. } => spawn_open(
            users,
            workload,
            ids,
            profile.scaled(1.0 / groups as f64),
            start,
            shared,
        ),
    }
}

async fn run_against(
    cfg: &RunConfig,
    endpoints: &Endpoints,
    services: &[Service],
    interrupt: impl std::future::Future<Output = ()>,
    hooks: RunHooks,
) -> Result<Measured, RunError> {
    let opts = ClientOptions {
        timeout: cfg.timeout,
        admin_token: cfg.admin_token.clone(),
        max_connections_per_host: cfg.concurrency,
        proxy_from_env: true,
    };
    ory::check_options(&opts)
        .map_err(|e| RunError::Setup(format!("cannot build the HTTP client: {e:#}")))?;
    let transports =
        ory::transport::Transports::build(&opts, endpoints, &cfg.tls).map_err(RunError::Setup)?;
    preflight(&transports, endpoints, services).await?;

    let scenario = &cfg.scenario;
    let keys: Vec<MetricKey> = scenario
        .groups
        .iter()
        .flat_map(|g| interp::metric_keys(g))
        .collect();
    let flows: Vec<_> = scenario
        .groups
        .iter()
        .flat_map(|g| interp::flow_infos(g))
        .collect();
    let recorder = Recorder::with_steps_and_flows(&keys, &flows);
    let env = Arc::new(Env {
        clients: Clients::builder(endpoints, &opts)
            .transports(&transports)
            .build()
            .map_err(RunError::Setup)?,
        // The segment in every generated name: segments of one run start in the same second.
        run_tag: data::run_tag(SystemTime::now()) + &cfg.split.segment.tag_suffix(),
        endpoints: interp::render::Endpoints::from_urls(endpoints),
    });
    let segment = cfg.split.segment;
    let problems = step_preflight::check(scenario, &env.clients).await;
    if !problems.is_empty() {
        return Err(RunError::Preflight(problems));
    }
    let shared = Shared {
        seed: segment.seed(cfg.seed),
        segment,
        recorder: Arc::clone(&recorder),
        stop: StopFlag::default(),
        budget: IterationBudget::new(cfg.iterations.map(|n| segment.share(n))),
        watch: Arc::new(GeneratorWatch::default()),
    };

    // Setup first (it must not count against the load phase), then start everyone at once.
    let split = split_users(cfg.concurrency, scenario.groups.len());
    let mut workloads: Vec<(Arc<GroupWorkload>, std::ops::Range<usize>)> = Vec::new();
    let mut next_id = 0;
    for (group, count) in scenario.groups.iter().zip(split) {
        let prepared = prepare_group(group, &env, &recorder, cfg, next_id).await;
        match prepared {
            Ok(w) => workloads.push((Arc::new(w), next_id..next_id + count)),
            Err(e) => {
                // Undo what the groups already set up (e.g. their OAuth2 clients).
                for (w, _) in &workloads {
                    interp::run_teardown(w).await;
                }
                return Err(e);
            }
        }
        next_id += count;
    }

    let mut users = JoinSet::new();
    let stop = shared.stop.clone();
    users.spawn(async move {
        while !stop.is_raised() {
            tokio::select! {
                _ = tokio::time::sleep(watch::RELEASE_MEMORY_EVERY) => watch::release_free_memory(),
                _ = stop.raised() => {}
            }
        }
    });
    tokio::pin!(interrupt);
    let mut interrupted = false;
    let mut load_start = Instant::now();
    if let Some(at) = cfg.split.start_at {
        match start::wait_for(at, &mut interrupt).await {
            start::Start::Go { anchor } => load_start = anchor,
            start::Start::Interrupted => {
                // Nobody starts: the users see the raised flag before their first step.
                interrupted = true;
                shared.stop.raise();
            }
            start::Start::TooLate { late } => {
                for (w, _) in &workloads {
                    interp::run_teardown(w).await;
                }
                return Err(RunError::Setup(format!(
                    "segment {} reached --start-at {} {} late (setup or the process start                      took too long): it would run beside the other segments rather than with                      them; run again with a later --start-at",
                    cfg.split.segment,
                    humantime::format_rfc3339_millis(at),
                    humantime::format_duration(Duration::from_millis(late.as_millis() as u64))
                )));
            }
        }
    }
    let cpu_start = watch::process_cpu_time();
    for (w, ids) in &workloads {
        launch(
            &mut users,
            Arc::clone(w),
            cfg,
            workloads.len(),
            ids.clone(),
            load_start,
            &shared,
        );
    }

    let progress = cfg
        .progress
        .then(|| progress::Progress::start(Arc::clone(&recorder), cfg.duration));
    let deadline = cfg.duration.and_then(|d| load_start.checked_add(d));
    let sleep_until = |at: Option<Instant>| async move {
        match at {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending::<()>().await,
        }
    };

    // Warm-up: run, then forget what was recorded; the measured run starts here.
    let mut measure_start = load_start;
    let mut cpu_measure_start = cpu_start;
    let mut warmup = None;
    if let Some(w) = cfg.warmup {
        tokio::select! {
            _ = tokio::time::sleep(w) => {}
            _ = &mut interrupt => interrupted = true,
            _ = shared.stop.raised() => {}
        }
        if !interrupted && !shared.stop.is_raised() {
            let totals = recorder.totals();
            recorder.reset();
            shared.watch.reset();
            measure_start = Instant::now();
            cpu_measure_start = watch::process_cpu_time();
            warmup = Some(WarmupTotals {
                duration: measure_start - load_start,
                requests: totals.requests,
                errors: totals.errors,
            });
        }
    }
    // The measured run starts here: the time series with it.
    let sampler = sampler::Sampler::new(
        Arc::clone(&recorder),
        Arc::clone(&shared.watch),
        hooks.sinks.clone(),
    )
    .anchored(measure_start);
    let (stop_ticks, ticks_stopped) = tokio::sync::oneshot::channel::<()>();
    let ticks = tokio::spawn(sampler::run_ticks(sampler, async {
        let _ = ticks_stopped.await;
    }));
    if !interrupted && !shared.stop.is_raised() {
        interrupted = tokio::select! {
            _ = sleep_until(deadline) => false,
            _ = &mut interrupt => true,
            _ = shared.stop.raised() => false,
            _ = hooks.abort.aborted() => false,
        };
    }
    shared.stop.raise();
    let load_end = drain(&mut users, grace_period(cfg.timeout)).await;
    let cpu_used = watch::process_cpu_time().saturating_sub(cpu_measure_start);
    if let Some(p) = progress {
        p.finish();
    }
    let elapsed = load_end.saturating_duration_since(measure_start);
    let ended_at = SystemTime::now();
    let measured_from = ended_at
        .checked_sub(measure_start.elapsed())
        .unwrap_or(ended_at);
    let _ = stop_ticks.send(());
    let snapshot = match ticks.await {
        Ok(sampler) => sampler.finish(),
        // The sampler task panicked: what it drained is lost, what is left is not.
        Err(_) => recorder.drain(),
    };

    // Teardown (e.g. the OAuth2 client setup registered, so nightly runs do not pile them
    // up) and, when asked, cleanup. Not part of the measured snapshot, which is taken.
    let mut phase_warnings = Vec::new();
    let mut cleanup = Vec::new();
    for (w, _) in &workloads {
        let name = &w.group().name;
        let t = interp::run_teardown(w).await;
        if t.failed > 0 {
            phase_warnings.push(format!(
                "teardown of `{name}`: {} of {} calls failed",
                t.failed, t.calls
            ));
        }
        if cfg.cleanup {
            let c = interp::run_cleanup(w).await;
            if c.failed > 0 {
                phase_warnings.push(format!(
                    "cleanup of `{name}`: {} of {} deletions failed (the rest are done)",
                    c.failed, c.calls
                ));
            }
            cleanup.push((name.clone(), c));
        }
    }
    let generator = GeneratorStats {
        open_model: cfg.model.is_open(),
        cpu_time: cpu_used,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        arrivals: shared.watch.arrivals(),
        delayed: shared.watch.delayed(),
        dropped: shared.watch.dropped(),
        dispatch_lag: shared.watch.dispatch_lag(),
        start_lag: shared.watch.start_lag(),
        peak_memory_bytes: watch::peak_memory_bytes(),
        in_process_simulator: false,
    };
    Ok(Measured {
        snapshot,
        measured_from,
        elapsed,
        interrupted,
        ended_at,
        warmup,
        generator,
        phase_warnings,
        cleanup,
        transport: transports.usage(),
        tls: transports.tls_usage(),
    })
}

/// Creates a group's pools (with ledgers when cleanup needs them) and runs its setup.
async fn prepare_group(
    group: &Arc<Group>,
    env: &Arc<Env>,
    recorder: &Arc<Recorder>,
    cfg: &RunConfig,
    first_id: usize,
) -> Result<GroupWorkload, RunError> {
    let pools = group
        .pools
        .iter()
        .enumerate()
        .map(|(i, decl)| {
            let fields = cfg.cleanup.then(|| interp::ledger_fields(group, i));
            RuntimePool::new(decl, fields)
        })
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| RunError::Setup(format!("cannot create a cleanup ledger file: {e}")))?;
    let pools = Arc::new(pools);
    let seed = cfg.split.segment.seed(cfg.seed);
    let run_values = interp::run_setup(group, env, &pools, recorder, seed)
        .await
        .map_err(RunError::Setup)?;
    Ok(GroupWorkload::new(
        Arc::clone(group),
        Arc::clone(env),
        pools,
        Arc::new(run_values),
        cfg.read_ratio,
        recorder,
        first_id,
    ))
}
