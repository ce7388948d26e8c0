//! `gbau demo`: the whole GBA_U flow on loopback, on the embedded soft card or a real card.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use gbau_host::input::UsageError;
use gbau_host::session::CardOpts;

use crate::card_args::{Legacy, Uses};
use crate::demo::{self, DemoCard, DemoReport};
use crate::failure::{Failure, EXIT_FAILURE};
use crate::output::print_json;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Run on the card in this PC/SC reader instead of the embedded soft card (needs --profile)
    #[arg(long, env = "GBAU_READER", value_name = "NAME")]
    reader: Option<String>,
    /// With --reader: the card's profile (its K/OPc drive the in-process HSS)
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// With --reader: PIN1, verified when the card requires it
    #[arg(long, env = "GBAU_PIN", value_name = "PIN", hide_env_values = true)]
    pin: Option<String>,
    /// Print one JSON object instead of the narrative
    #[arg(long)]
    json: bool,
}

pub fn exec(legacy: &Legacy, a: DemoArgs) -> Result<ExitCode, Failure> {
    let own = CardOpts {
        reader: a.reader,
        sim: None,
        profile: a.profile,
        pin: a.pin,
    };
    let uses = Uses {
        sim: false,
        ..Uses::ALL
    };
    let card = legacy.merge(own, uses, "demo");
    let target = match &card.reader {
        None => DemoCard::Embedded,
        Some(name) => {
            let path = card.profile.clone().ok_or_else(|| {
                UsageError::new(
                    "--profile",
                    "with --reader, give the card's profile (its K/OPc drive the in-process HSS)",
                )
            })?;
            DemoCard::Reader {
                name: name.clone(),
                profile: Box::new(gbau_card::Profile::load(&path)?),
                pin: card.pin.clone(),
            }
        }
    };
    let report = demo::run(target)?;
    if a.json {
        print_json(&report)?;
    } else {
        narrate(&report);
    }
    let ok = report.keys_equal
        && report.key_update_rebootstrapped
        && report.ks_local_mt_mt == report.ks_local_mt_device
        && report.optimized_procedure_used
        && report.local_key_reestablished;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

fn narrate(report: &DemoReport) {
    println!("gbau demo: GBA_U bootstrap, NAF key and key update (Milenage test set 1, test keys)");
    println!(
        "card: {}; BSF {} (Zn {}); NAF {}",
        report.card, report.bsf_ub, report.bsf_zn, report.naf
    );
    for (i, s) in report.steps.iter().enumerate() {
        println!("{:>2}. {:<5} {}", i + 1, s.actor, s.what);
    }
    println!("Ks_ext_NAF at the MT : {}", report.ks_ext_naf_mt);
    println!("Ks_ext_NAF at the NAF: {}", report.ks_ext_naf_naf);
    println!(
        "Ks_local_MT at the MT    ({}): {}",
        report.device_id, report.ks_local_mt_mt
    );
    println!(
        "Ks_local_MT at the device ({}): {}",
        report.device_id, report.ks_local_mt_device
    );
    println!("device procedures: {}", report.device_procedures.join(", "));
    println!(
        "{}",
        if report.keys_equal {
            "equal: MT and NAF share the NAF-specific key"
        } else {
            "DIFFERENT"
        }
    );
}
