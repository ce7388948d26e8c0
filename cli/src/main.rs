//! gbau-cli: the `gbau` binary.
//!
//! What it is: a table of commands. `main` parses the command line and dispatches; each
//! command group lives in its own module under [`commands`], holding its clap arguments and an
//! `exec` that calls the libraries and prints. [`demo`] and [`bench`](mod@bench) start every role (soft
//! card, MT, BSF, NAF, Key Center, device) on loopback, so they live here, above the roles.
//!
//! What it may depend on: every gbau crate — gbau-core, gbau-card (the soft card), gbau-host
//! (the MT and the device) and gbau-network (BSF, NAF, Key Center). Nothing depends on it.
//!
//! Where to start reading: [`commands`] (the list of groups), then the group you use.

mod bench;
mod bench_bsf;
mod card_args;
mod commands;
mod demo;
mod failure;
mod flood;
mod oracle;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;
use crate::failure::EXIT_USAGE;

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GBAU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match commands::exec(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
