//! `gbau mt serve`: the MT's local-interface service for external devices (seed 001).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use gbau_host::input::UsageError;
use gbau_host::mt::{self, Mt};
use gbau_host::session::CardOpts;

use crate::card_args::{Legacy, Uses};
use crate::failure::Failure;
use crate::output::announce;

#[derive(Subcommand, Debug)]
pub enum MtCommand {
    /// Serve devices on unix:PATH or tcp:127.0.0.1:PORT; prints the address on one line
    Serve {
        #[command(flatten)]
        card: CardOpts,
        /// Local interface address
        #[arg(long, value_name = "ADDR")]
        local: String,
        /// BSF URL for bootstraps (default: derived from the IMSI)
        #[arg(long, value_name = "URL")]
        bsf: Option<String>,
        /// Directory of the per-device key store
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Serve only processes of this user id on the Unix socket (repeatable; checked with
        /// SO_PEERCRED). Without it any process that can open the 0600 socket is served
        #[arg(long = "allow-uid", value_name = "UID")]
        allow_uid: Vec<u32>,
    },
}

pub fn exec(legacy: &Legacy, c: MtCommand) -> Result<ExitCode, Failure> {
    let MtCommand::Serve {
        card,
        local,
        bsf,
        data,
        allow_uid,
    } = c;
    let card = legacy.merge(card, Uses::ALL, "mt serve");
    gbau_card::store::create_private_dir(&data)?;
    let session = card.open()?;
    let mt = Mt::new(session, bsf, data.join("local-keys.json"))
        .map_err(|e| UsageError::new("--data", e))?;
    mt::serve_for(mt, &local, &allow_uid, |a| announce(&format!("mt: {a}")))
        .map_err(|e| UsageError::new("--local", e))?;
    Ok(ExitCode::SUCCESS)
}
