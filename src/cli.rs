//! Command-line definitions only: what the user can type. Resolution (precedence with the
//! environment and the config file, validation) lives in `config`.

use crate::ground::Endpoint;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "orysim",
    version,
    about = "Load-testing workload simulator for Ory Kratos, Hydra and Keto",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Drive virtual users against Kratos, Hydra and Keto and report what happened.
    Run(Box<RunArgs>),
    /// Serve the built-in Ory simulator (Ory's default ports unless told otherwise).
    Sim(Box<SimArgs>),
    /// List, print and check scenario files.
    #[command(subcommand)]
    Scenarios(ScenariosCommand),
    /// One report of the segments of a split run (`run --segment I/N`), as if one process had
    /// run the whole load: histograms added, counts summed, thresholds judged on the result.
    Merge(MergeArgs),
    /// Turn orysim's data into another form: a report or an interval series (.jsonl) into a
    /// report (.json) or an HTML page (.html); a series of a killed run is rebuilt into its
    /// report.
    Report(ReportArgs),
    /// Compare runs before and after a change: per operation, better, worse or no significant
    /// change, with confidence intervals (exit 1 with --fail-on-regression, 2 on bad input).
    Compare(CompareArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// A table for the terminal (coloured when it is one, unless NO_COLOR)
    Terminal,
    /// GitHub-flavoured Markdown, for a pull request or a tuning log
    Markdown,
    /// The comparison as JSON (documented in docs/compare.md)
    Json,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// BEFORE.json AFTER.json (or use --before and --after for repeated runs)
    #[arg(value_name = "REPORT", num_args = 0..=2)]
    pub reports: Vec<PathBuf>,
    /// Reports of the runs before the change (repeated runs pool)
    #[arg(long, value_name = "REPORT", num_args = 1..)]
    pub before: Vec<PathBuf>,
    /// Reports of the runs after the change
    #[arg(long, value_name = "REPORT", num_args = 1..)]
    pub after: Vec<PathBuf>,
    /// Output form
    #[arg(long, value_enum, default_value = "terminal")]
    pub format: CompareFormat,
    /// Also write the comparison as one self-contained HTML page (both runs overlaid)
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Exit 1 when an operation's throughput or p99 got significantly worse by more than PCT
    /// percent, or its error rate by more than PCT percentage points
    #[arg(long, value_name = "PCT")]
    pub fail_on_regression: Option<f64>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A report (.json) or an interval series (.intervals.jsonl)
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Where to write; the extension picks the form (.json, .html) unless --format does
    #[arg(short = 'o', long = "output", value_name = "OUTPUT")]
    pub output: PathBuf,
    /// The form to write, whatever OUTPUT's extension
    #[arg(long, value_enum, value_name = "FORM")]
    pub format: Option<OutputForm>,
    /// Judge these thresholds on the data (repeatable; exit 99 when one fails)
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The segments' reports (.json), one per segment, in any order
    #[arg(value_name = "REPORT", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Where to write the merged report (.json); its interval series goes beside it
    #[arg(short = 'o', long = "output", value_name = "OUTPUT")]
    pub output: PathBuf,
    /// Judge these thresholds on the merged data too (repeatable; exit 99 when one fails);
    /// the segments' own thresholds are judged again on the merged data
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Merge reports of different run ids, scenarios or options anyway
    #[arg(long)]
    pub force: bool,
}

/// What `orysim report` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputForm {
    /// The JSON report
    Json,
    /// One self-contained HTML page
    Html,
}

#[derive(Subcommand, Debug)]
pub enum ScenariosCommand {
    /// The built-in scenarios, with what each does.
    List,
    /// Print a built-in scenario's file (a starting point for your own).
    Show {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Check scenario files without running them; one line per file, exit 2 if any is wrong.
    Validate {
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Kratos,
    Hydra,
    Keto,
    All,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Kratos => "kratos",
            Scope::Hydra => "hydra",
            Scope::Keto => "keto",
            Scope::All => "all",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HydraAuth {
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// Virtual users (split between the services when --scope all; at most 100000) [default: 10]
    #[arg(short = 'c', long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// How long to run: 10s, 5m, 2h; 0 runs until Ctrl-C [default: 10s]
    #[arg(short = 'd', long, value_name = "DUR")]
    pub duration: Option<String>,

    /// Ramping load instead of a fixed one: "30s:10,5m:100,30s:0" ramps virtual users
    /// (closed model), "30s:100/s,5m:500/s" ramps the arrival rate (open model); ramps start at 0;
    /// targets at most 100000 virtual users or 1000000/s
    #[arg(long, value_name = "STAGES", conflicts_with_all = ["duration", "rate"])]
    pub stages: Option<String>,

    /// Open model: a constant arrival rate of iterations, e.g. 500/s (latency is then measured
    /// from each iteration's scheduled start; at most 1000000/s)
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,

    /// Open model: most virtual users serving arrivals; an arrival that finds them all busy
    /// and the queue full is dropped and counted; at most 100000 [default: --concurrency, else
    /// 100]
    #[arg(long, value_name = "N")]
    pub max_vus: Option<usize>,

    /// Stop after this many iterations in all (runs until then when no duration is given)
    #[arg(long, value_name = "N")]
    pub iterations: Option<u64>,

    /// The first DUR of the run warms up and is left out of the statistics
    #[arg(long, value_name = "DUR")]
    pub warmup: Option<String>,

    /// Which built-in workload to run (shorthand for --scenario NAME) [default: all]
    #[arg(long, value_enum, conflicts_with = "scenario")]
    pub scope: Option<Scope>,

    /// The scenario to run: a built-in name (see `orysim scenarios list`) or a file path (files
    /// of at most 8 MiB)
    #[arg(long, value_name = "NAME|PATH")]
    pub scenario: Option<String>,

    /// What this run is, e.g. --label db=crdb --label tuning=pool-16 (repeatable): stored in the
    /// report, shown in the summary and in `orysim compare`
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Set a scenario parameter, e.g. --param negative_share=0.2 (repeatable)
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,

    /// After the run, delete what it created (identities, tuples) as the scenario's cleanup
    /// section says
    #[arg(long)]
    pub cleanup: bool,

    /// Reads per write for every service [default: 100]
    #[arg(long, value_name = "N")]
    pub read_ratio: Option<f64>,

    /// Seed for generated data: the same seed gives the same names, passwords and objects
    #[arg(long, value_name = "U64")]
    pub seed: Option<u64>,

    /// Run only this segment of the load: I/N (e.g. 2/8), or job/N in a Kubernetes Indexed
    /// Job (segment JOB_COMPLETION_INDEX+1 of N). The N segments together run exactly the
    /// whole load; `orysim merge` makes one report of theirs
    #[arg(long, value_name = "I/N", env = "ORYSIM_SEGMENT")]
    pub segment: Option<String>,

    /// The id every segment of one run shares, stored in each report and checked by `orysim
    /// merge` (letters, digits, `.`, `_`, `-`; at most 128); needed with --segment
    #[arg(long, value_name = "ID", env = "ORYSIM_RUN_ID")]
    pub run_id: Option<String>,

    /// Start the load (after setup) at this wall-clock time, RFC 3339 such as
    /// 2026-12-04T18:00:00Z, so that segments on different machines run together; at most
    /// 24h ahead, and refused when already past by more than 2s
    #[arg(long, value_name = "TIME", env = "ORYSIM_START_AT")]
    pub start_at: Option<String>,

    /// Per-request timeout [default: 10s]
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,

    /// Share of reads aimed at entities that are not active or not allowed (logged-out
    /// sessions, revoked or unknown tokens, unwritten tuples) [default: 0.1]
    #[arg(long, value_name = "F")]
    pub negative_share: Option<f64>,

    /// Keto namespace for generated tuples [default: documents]
    #[arg(long, value_name = "NAME")]
    pub keto_namespace: Option<String>,

    /// Client authentication method of the Hydra OAuth2 client orysim registers
    /// [default: client-secret-basic]
    #[arg(long, value_enum)]
    pub hydra_auth: Option<HydraAuth>,

    /// Where to write the JSON report [default: reports/<UTC timestamp>-<scope>.json]
    #[arg(long, value_name = "PATH", conflicts_with = "no_report")]
    pub report: Option<PathBuf>,

    /// Do not write a JSON report
    #[arg(long)]
    pub no_report: bool,

    /// Also write the run as one self-contained HTML page (charts inline, opens offline)
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// No live progress bar (it is also off when stderr is not a terminal)
    #[arg(long)]
    pub no_progress: bool,

    /// Validate everything and print the plan, but send nothing
    #[arg(long)]
    pub dry_run: bool,

    /// TOML file holding the same settings (flags and environment take precedence; at most
    /// 1 MiB)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub targets: TargetArgs,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub observe: ObserveArgs,

    /// Bearer token for the admin APIs (Ory Network API key); never printed or stored
    #[arg(
        long,
        env = "ORYSIM_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
}

/// What long runs need: a time series, CI gates and live metrics.
#[derive(Args, Debug, Default)]
pub struct ObserveArgs {
    /// Length of one record of the time series, written beside the report as
    /// <report>.intervals.jsonl: 10s, 1m; 0 turns it off [default: 10s]
    #[arg(long, value_name = "DUR")]
    pub interval: Option<String>,

    /// One line per interval on stderr: time, req/s, p99 of the main read, errors
    #[arg(long)]
    pub interval_summary: bool,

    /// Pass/fail condition, repeatable: keto.check:p99<50ms, hydra:error_rate<1%, all:rps>500,
    /// flow:keto/share-album:p95<200ms; @every1m, @last10m, @first5m judge windows; a trailing
    /// ! (or !after2m) aborts the run once it fails. Any failed threshold exits 99
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,

    /// Serve Prometheus metrics during the run at ADDR, e.g. 127.0.0.1:9464
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,

    /// Take the database's own statistics before and after the load (PostgreSQL
    /// pg_stat_statements, CockroachDB crdb_internal), repeatable: [NAME=]postgres://...
    #[arg(long = "db-stats", value_name = "[NAME=]URL")]
    pub db_stats: Vec<String>,
}

/// How the endpoints are reached over TLS and which HTTP version is spoken.
#[derive(Args, Debug, Default, Clone)]
pub struct TlsArgs {
    /// Also trust this CA (PEM), on top of the system's store (which honours SSL_CERT_FILE and
    /// SSL_CERT_DIR); repeatable
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,

    /// Do not verify server certificates (throwaway tests only: the summary and the report say
    /// so)
    #[arg(long)]
    pub insecure: bool,

    /// Client certificate (PEM chain) for every endpoint that asks for one; per endpoint in the
    /// config file's [tls.ENDPOINT] tables
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,

    /// Private key of --client-cert (PEM: PKCS#8, RSA or EC); never printed
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,

    /// HTTP version for every endpoint: 1.1, 2 or auto (what the server offers over TLS)
    /// [default: auto for the public APIs, 1.1 for the admin, read and write APIs]
    #[arg(long, value_name = "1.1|2|auto")]
    pub http_version: Option<String>,
}

/// Endpoint flags; each falls back to the variable users already export for the
/// CockroachDB + Ory tutorial.
#[derive(Args, Debug, Default, Clone)]
pub struct TargetArgs {
    /// Kratos public API base URL
    #[arg(long, env = "KRATOS_PUBLIC_URL", value_name = "URL")]
    pub kratos_public: Option<String>,
    /// Kratos admin API base URL
    #[arg(long, env = "KRATOS_ADMIN_URL", value_name = "URL")]
    pub kratos_admin: Option<String>,
    /// Hydra public API base URL
    #[arg(long, env = "HYDRA_PUBLIC_URL", value_name = "URL")]
    pub hydra_public: Option<String>,
    /// Hydra admin API base URL
    #[arg(long, env = "HYDRA_ADMIN_URL", value_name = "URL")]
    pub hydra_admin: Option<String>,
    /// Keto read API base URL (host:port is accepted)
    #[arg(long, env = "KETO_READ_REMOTE", value_name = "URL")]
    pub keto_read: Option<String>,
    /// Keto write API base URL (host:port is accepted)
    #[arg(long, env = "KETO_WRITE_REMOTE", value_name = "URL")]
    pub keto_write: Option<String>,
}

impl TargetArgs {
    /// The value given for `e`, by flag or environment.
    pub fn get(&self, e: Endpoint) -> Option<&String> {
        match e {
            Endpoint::KratosPublic => self.kratos_public.as_ref(),
            Endpoint::KratosAdmin => self.kratos_admin.as_ref(),
            Endpoint::HydraPublic => self.hydra_public.as_ref(),
            Endpoint::HydraAdmin => self.hydra_admin.as_ref(),
            Endpoint::KetoRead => self.keto_read.as_ref(),
            Endpoint::KetoWrite => self.keto_write.as_ref(),
        }
    }
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,

    /// Added to every default port (4433/4434, 4444/4445, 4466/4467)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub port_offset: u16,

    /// Kratos's identity schema (JSON): registration forms and validation follow it
    /// instead of the project's email-and-names schema
    #[arg(long, value_name = "FILE")]
    pub identity_schema: Option<std::path::PathBuf>,

    /// Added latency for every service, e.g. 20ms
    #[arg(long, value_name = "DUR")]
    pub latency: Option<String>,
    /// Uniform ± jitter around the latency for every service
    #[arg(long, value_name = "DUR")]
    pub jitter: Option<String>,
    /// Share of requests answered with 500, for every service (0..1)
    #[arg(long, value_name = "F")]
    pub error_rate: Option<f64>,

    /// Per-service overrides
    #[arg(long, value_name = "DUR")]
    pub kratos_latency: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub kratos_jitter: Option<String>,
    #[arg(long, value_name = "F")]
    pub kratos_error_rate: Option<f64>,
    #[arg(long, value_name = "DUR")]
    pub hydra_latency: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub hydra_jitter: Option<String>,
    #[arg(long, value_name = "F")]
    pub hydra_error_rate: Option<f64>,
    #[arg(long, value_name = "DUR")]
    pub keto_latency: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub keto_jitter: Option<String>,
    #[arg(long, value_name = "F")]
    pub keto_error_rate: Option<f64>,

    /// Seed for latency jitter and error draws
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
