//! Property tests: whatever the input, the parsers, the scenario compiler and template engine
//! and the config loader answer (a value or one clear error) without panicking or hanging.
//! Inputs are kept small and the case counts fixed, so the whole file runs in seconds in CI.

use clap::Parser;
use orysim::cli::{Cli, Command};
use orysim::config::profile::parse_stages;
use orysim::ground::parse::parse_duration;
use orysim::ground::parse::parse_rate;
use orysim::scenario::{self, Overrides};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that looks like what the parsers take, with hostile characters mixed in.
fn flag_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9.eE+-]{0,24}(ns|us|ms|s|m|h|d|/s|/m|/h|/x|)",
        "([0-9]{1,22}(s|ms|m|h)?:[0-9.e]{0,22}(/s|/m)?,?){0,6}",
    ]
}

/// Compiles `source` as a scenario file; the error or the scenario, never a panic.
fn compile(source: &str) -> Result<scenario::Scenario, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, source).unwrap();
    scenario::load(path.to_str().unwrap(), &Overrides::new()).map_err(|e| e.to_string())
}

fn scenario_with(flow_name: &str, template: &str, weight: &str) -> String {
    let q = |s: &str| toml_string(s);
    format!(
        "name = \"p\"\n[params]\nn = 2\n[[flow]]\nname = {}\nweight = {}\n  [[flow.step]]\n  op = \"keto.check\"\n  namespace = \"documents\"\n  object = {}\n  relation = \"viewer\"\n  subject_id = \"u\"\n",
        q(flow_name),
        q(weight),
        q(template)
    )
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn duration_rate_and_stage_parsers_never_panic(text in flag_text()) {
        let started = Instant::now();
        let _ = parse_duration("--duration", &text);
        let _ = parse_rate("--rate", &text);
        if let Ok(spec) = parse_stages(&text) {
            // What is accepted is within the stated limits.
            let profile = match spec {
                orysim::config::profile::StagesSpec::VirtualUsers(p) => p,
                orysim::config::profile::StagesSpec::Rate(p) => p,
            };
            prop_assert!(profile.peak().is_finite());
        }
        prop_assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn whole_durations_round_trip(n in 1u64..1_000_000, unit in prop::sample::select(vec![("ms", 1u64), ("s", 1000), ("m", 60_000)])) {
        let d = parse_duration("--duration", &format!("{n}{}", unit.0)).unwrap();
        prop_assert_eq!(d, Duration::from_millis(n * unit.1));
    }

    #[test]
    fn any_scenario_text_compiles_or_is_one_clear_error(source in any::<String>()) {
        let started = Instant::now();
        if let Err(e) = compile(&source) {
            prop_assert!(!e.is_empty());
        }
        prop_assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn hostile_names_templates_and_weights_never_panic(
        name in any::<String>(),
        template in prop_oneof![
            any::<String>(),
            "[a-z{}. |()\"0-9,-]{0,60}",
            "\\{\\{ ?(random\\.int\\(|vu\\.id|seq|param\\.n|run\\.tag|uuid|x)[^}]{0,12}\\}\\}",
        ],
        weight in prop_oneof![
            3 => Just("1".to_string()),
            1 => any::<String>(),
            1 => "[0-9a-z.*+/() -]{0,30}",
        ],
    ) {
        let started = Instant::now();
        let _ = compile(&scenario_with(&name, &template, &weight));
        prop_assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn any_config_file_resolves_or_is_one_clear_error(
        source in prop_oneof![
            any::<String>(),
            "((concurrency|duration|rate|stages|max_vus|iterations|warmup|timeout|scope|scenario|seed) = (\"[^\"\n]{0,12}\"|[0-9e.-]{1,12})\n){0,5}",
        ]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, &source).unwrap();
        let cli = Cli::try_parse_from(["orysim", "run", "--no-report", "--config", path.to_str().unwrap()]).unwrap();
        let Command::Run(args) = cli.command else { unreachable!() };
        let started = Instant::now();
        if let Err(e) = orysim::config::resolve_run(*args, false) {
            prop_assert!(!e.to_string().is_empty());
        }
        prop_assert!(started.elapsed() < Duration::from_secs(2));
    }
}
