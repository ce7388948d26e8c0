//! `gbau card ...`: run the soft card behind the virtual reader or on stdin/stdout.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use clap::{Args, Subcommand};
use gbau_card::SoftCard;
use gbau_host::session::CardOpts;

use crate::failure::Failure;

#[derive(Subcommand, Debug)]
pub enum CardCommand {
    /// Serve the soft card to PC/SC programs through the vsmartcard virtual reader (vpcd)
    Serve {
        /// State file (created from the profile when missing; written durably)
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// vpcd address: 127.0.0.1:35963 is reader "Virtual PCD 00 00", :35964 the second slot
        #[arg(long, value_name = "HOST:PORT", default_value = gbau_card::vpcd::DEFAULT_VPCD_ADDR)]
        vpcd: String,
        #[command(flatten)]
        profile: SoftProfile,
    },
    /// Drive the soft card over stdin/stdout: one hex APDU per line in, one hex response out
    Stdio {
        /// State file
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        #[command(flatten)]
        profile: SoftProfile,
    },
}

/// The soft card's definition.
#[derive(Args, Debug, Default)]
pub struct SoftProfile {
    /// Card profile (default: the embedded test profile, Milenage test set 1)
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

pub fn exec(cmd: CardCommand) -> Result<(), Failure> {
    match cmd {
        CardCommand::Serve {
            state,
            vpcd,
            profile,
        } => {
            let opts = CardOpts {
                profile: profile.profile,
                ..CardOpts::default()
            };
            let mut card = SoftCard::open(soft_profile(&opts)?, &state)?;
            eprintln!(
                "gbau card: serving {} (state {}) on vpcd {vpcd}",
                opts.profile_label(),
                state.display()
            );
            gbau_card::vpcd::run(&mut card, &vpcd, &AtomicBool::new(false))?;
        }
        CardCommand::Stdio { state, profile } => {
            let opts = CardOpts {
                profile: profile.profile,
                ..CardOpts::default()
            };
            let mut card = SoftCard::open(soft_profile(&opts)?, &state)?;
            gbau_card::stdio::serve(&mut card, std::io::stdin().lock(), std::io::stdout().lock())?;
        }
    }
    Ok(())
}

/// The profile `--profile` names, or the embedded one.
pub fn soft_profile(opts: &CardOpts) -> Result<gbau_card::Profile, Failure> {
    Ok(opts
        .load_profile(true)?
        .ok_or_else(|| gbau_host::input::UsageError::new("--profile", "no profile"))?)
}
