//! `gbau shell`: the interactive APDU shell.

use std::process::ExitCode;

use clap::Args;
use gbau_host::session::CardOpts;

use crate::failure::Failure;

#[derive(Args, Debug)]
pub struct ShellArgs {
    #[command(flatten)]
    pub card: CardOpts,
}

pub fn exec(card: CardOpts) -> Result<ExitCode, Failure> {
    gbau_host::shell::run(&card)?;
    Ok(ExitCode::SUCCESS)
}
