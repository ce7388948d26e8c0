//! Card options on the command line. Each card command carries [`CardOpts`] itself, so a
//! server's `--help` shows nothing about cards. The older spelling with the options before the
//! command (`gbau --sim FILE info`) keeps working through [`Legacy`]: hidden, read from the
//! command line only (never from the environment), merged into the command's own options, and
//! named in a warning (then ignored) for a command that does not use it.

use std::path::PathBuf;

use clap::Args;
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
    /// Fill what the command's own options leave open. An option the command does not use is
    /// named in a warning and ignored, as the older spelling accepted it everywhere.
    pub fn merge(&self, own: CardOpts, uses: Uses, command: &str) -> CardOpts {
        for (flag, given, used) in [
            ("--reader", self.top_reader.is_some(), uses.reader),
            ("--sim", self.top_sim.is_some(), uses.sim),
            ("--profile", self.top_profile.is_some(), uses.profile),
            ("--pin", self.top_pin.is_some(), uses.pin),
        ] {
            if given && !used {
                eprintln!("warning: {flag} does not apply to `gbau {command}`: ignored");
            }
        }
        let mut card = own;
        // An explicit option before the command wins over an environment default after it.
        if self.top_sim.is_some() && uses.sim {
            card.sim = self.top_sim.clone();
            card.reader = None;
        }
        if self.top_reader.is_some() && uses.reader {
            card.reader = self.top_reader.clone();
        }
        if card.profile.is_none() && uses.profile {
            card.profile = self.top_profile.clone();
        }
        if self.top_pin.is_some() && uses.pin {
            card.pin = self.top_pin.clone();
        }
        card
    }
}
