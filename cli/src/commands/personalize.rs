//! `gbau personalize`: write a card profile to a sysmo card or the soft card.

use std::process::ExitCode;

use clap::Args;
use gbau_host::input::UsageError;
use gbau_host::personalize::{self, Options, Target};
use gbau_host::session::CardOpts;

use crate::failure::Failure;
use crate::output::{emit, print_json};

#[derive(Args, Debug)]
pub struct PersonalizeArgs {
    #[command(flatten)]
    pub card: CardOpts,
    /// The card model: sja2, sja5, sjs1, or soft (gbau's soft card in a reader)
    #[arg(long = "card", value_enum, value_name = "MODEL")]
    model: Target,
    /// Write to the card (without it: show the plan and check the card, write nothing)
    #[arg(long)]
    write: bool,
    /// ADM1 digits, as printed with the card, or @FILE, or - (sysmo cards: required with
    /// --write, never taken from the profile; the soft card: default pins.adm1 of the profile)
    #[arg(long, env = "GBAU_ADM", value_name = "DIGITS", hide_env_values = true)]
    adm: Option<String>,
    /// Present ADM1 even when fewer than its 3 tries remain (never the last one)
    #[arg(long)]
    force: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub fn exec(card: CardOpts, a: &PersonalizeArgs) -> Result<ExitCode, Failure> {
    let path = card.profile.clone().ok_or_else(|| {
        UsageError::new(
            "--profile",
            "personalize writes a profile: pass --profile FILE (e.g. card-applet-sim/profiles/test-set-1.yaml)",
        )
    })?;
    let profile = gbau_card::Profile::load(&path)?;
    let mut session = if card.reader.is_some() || card.sim.is_some() {
        Some(card.open()?)
    } else {
        None
    };
    let opts = Options {
        target: a.model,
        write: a.write,
        adm: a
            .adm
            .as_deref()
            .map(|v| gbau_host::input::secret_value("--adm", v))
            .transpose()?,
        force: a.force,
        announce_adm_tries: Some(|tries| match tries {
            Some(n) => eprintln!("ADM1: {n} tries left; presenting ADM1"),
            None => eprintln!("ADM1: already verified on this connection"),
        }),
    };
    let (report, result) = personalize::run_reporting(session.as_mut(), &profile, &opts);
    // What was sent before a stop is shown too: it is what the card holds now.
    if a.json {
        print_json(&report)?;
    } else {
        emit(&report.to_string())?;
    }
    result?;
    Ok(ExitCode::SUCCESS)
}
