//! Card options on the command line. Each card command carries [`CardOpts`] itself, so a
//! server's `--help` shows nothing about cards. The older spelling with the options before the
//! command (`gbau --sim FILE info`) keeps working through [`Legacy`]: hidden, read from the
//! command line only (never from the environment), merged into the command's own options, and
//! refused with a clear message for a command that uses no card.

use std::path::PathBuf;

use clap::Args;
use gbau_host::input::UsageError;
use gbau_host::session::CardOpts;

/// `--reader/--sim/--profile/--pin` given before the command name.
#[derive(Args, Debug, Default, Clone)]
pub struct Legacy {
    #[arg(
        long = "reader",
        value_name = "NAME",
        hide = true,
        conflicts_with = "top_sim"
    )]
    pub top_reader: Option<String>,
    #[arg(long = "sim", value_name = "STATE_FILE", hide = true)]
    pub top_sim: Option<PathBuf>,
    #[arg(long = "profile", value_name = "FILE", hide = true)]
    pub top_profile: Option<PathBuf>,
    #[arg(long = "pin", value_name = "PIN", hide = true)]
    pub top_pin: Option<String>,
}

/// Which card options a command uses.
#[derive(Debug, Clone, Copy)]
pub struct Uses {
    pub reader: bool,
    pub sim: bool,
    pub profile: bool,
    pub pin: bool,
}

impl Uses {
    /// Every card option.
    pub const ALL: Self = Self {
        reader: true,
        sim: true,
        profile: true,
        pin: true,
    };
    /// None: a server, a calculator, the device.
    pub const NONE: Self = Self {
        reader: false,
        sim: false,
        profile: false,
        pin: false,
    };
}

impl Legacy {
    /// Fill what the command's own options leave open; refuse an option the command does not
    /// use, naming it and the command.
    pub fn merge(&self, own: CardOpts, uses: Uses, command: &str) -> Result<CardOpts, UsageError> {
        let refuse = |flag: &'static str| {
            Err(UsageError::new(
                flag,
                format!("does not apply to `gbau {command}`"),
            ))
        };
        if self.top_reader.is_some() && !uses.reader {
            return refuse("--reader");
        }
        if self.top_sim.is_some() && !uses.sim {
            return refuse("--sim");
        }
        if self.top_profile.is_some() && !uses.profile {
            return refuse("--profile");
        }
        if self.top_pin.is_some() && !uses.pin {
            return refuse("--pin");
        }
        let mut card = own;
        // An explicit option before the command wins over an environment default after it.
        if self.top_sim.is_some() {
            card.sim = self.top_sim.clone();
            card.reader = None;
        }
        if self.top_reader.is_some() {
            card.reader = self.top_reader.clone();
        }
        if card.profile.is_none() {
            card.profile = self.top_profile.clone();
        }
        if self.top_pin.is_some() {
            card.pin = self.top_pin.clone();
        }
        Ok(card)
    }
}
