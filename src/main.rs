//! Thin entry point: parse, dispatch, map errors to exit codes (0 done, 2 usage, config or
//! preflight error, 99 a threshold failed, 130 interrupted).

use clap::Parser;
use orysim::cli::{Cli, Command};
use orysim::commands;
use orysim::engine::runtime::{self, Flavor};
use std::process::ExitCode;

fn main() -> ExitCode {
    orysim::heap::tune_for_long_runs();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are not errors.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(0);
        }
        Err(e) => {
            // One line: what is wrong; clap's usage block is one `--help` away.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "orysim: {} (see orysim --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let flavor = match cli.command {
        Command::Sim(_) => Flavor::MultiThread,
        _ => Flavor::for_this_process(),
    };
    let runtime = match runtime::build(flavor) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("orysim: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => commands::run(*args).await,
            Command::Sim(args) => commands::sim(*args).await,
            Command::Scenarios(cmd) => commands::scenarios(cmd),
            Command::Merge(args) => commands::merge(args),
            Command::Report(args) => commands::report(args),
            Command::Compare(args) => commands::compare(args),
        }
    });
    // Do not wait for stray tasks (e.g. a stuck connection) at exit.
    runtime.shutdown_background();
    ExitCode::from(code)
}
