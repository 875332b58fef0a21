//! The config loader: any file resolves into a run or is one clear error.
#![no_main]

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use orysim::cli::{Cli, Command};
use std::path::PathBuf;
use std::sync::OnceLock;

/// One file per fuzzing process, rewritten for every input.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("orysim-fuzz-config-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).expect("temporary config file");
    let cli = Cli::try_parse_from([
        "orysim",
        "run",
        "--no-report",
        "--config",
        path.to_str().unwrap(),
    ])
    .expect("the fixed arguments parse");
    let Command::Run(args) = cli.command else {
        unreachable!("a run command")
    };
    if let Err(e) = orysim::config::resolve_run(*args, false) {
        assert!(!e.to_string().is_empty());
    }
});
