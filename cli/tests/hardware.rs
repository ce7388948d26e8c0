//! The hardware suite: the same checks against a card in a real PC/SC reader. Opt-in:
//!
//! ```text
//! GBAU_TEST_READER="<reader name>"   the reader (required; without it every trial is skipped)
//! GBAU_TEST_CARD=sja2|sja5|sjs1|soft the model (default: named from the ATR)
//! GBAU_TEST_PIN=1234                 PIN1 of the card (default 1234)
//! GBAU_TEST_PROFILE=FILE             the profile the card carries (default test-set-1.yaml)
//! GBAU_TEST_WRITE=1 GBAU_TEST_ADM=…  also personalize the card from that profile first
//! ```
//!
//! What it writes and how to restore the card: README.md, "Real cards".
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use gbau_card::scripts::run_file;
use gbau_card::Profile;
use gbau_core::sysmo::{model_by_atr, AtrMatch, Model};
use gbau_host::session::ready;
use gbau_host::transport::{PcscTransport, Transport};
use gbau_host::usim::Usim;
use libtest_mimic::{Arguments, Failed, Trial};

#[derive(Clone)]
struct Env {
    reader: String,
    card: Option<String>,
    pin: String,
    profile: PathBuf,
    write: bool,
    adm: Option<String>,
}

impl Env {
    fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Self {
            reader: var("GBAU_TEST_READER")?,
            card: var("GBAU_TEST_CARD"),
            pin: var("GBAU_TEST_PIN").unwrap_or_else(|| "1234".into()),
            profile: var("GBAU_TEST_PROFILE").map_or_else(support::profile, PathBuf::from),
            write: var("GBAU_TEST_WRITE").as_deref() == Some("1"),
            adm: var("GBAU_TEST_ADM"),
        })
    }

    fn gbau(&self) -> std::process::Command {
        let mut c = support::gbau();
        c.args(["--reader", &self.reader, "--pin", &self.pin]);
        c
    }

    /// The model: GBAU_TEST_CARD, else from the ATR, else the soft card.
    fn model(&self) -> Result<String, Failed> {
        if let Some(c) = &self.card {
            return Ok(c.clone());
        }
        let t = PcscTransport::connect(&self.reader, Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        let atr = t.atr().map_err(|e| e.to_string())?;
        Ok(match model_by_atr(&atr) {
            AtrMatch::Exact(m) => m.short().to_owned(),
            _ => "soft".to_owned(),
        })
    }

    fn gba_u(&self) -> Result<bool, Failed> {
        Ok(self.model()? != Model::Sjs1.short())
    }
}

fn json(out: std::process::Output) -> Result<serde_json::Value, Failed> {
    if !out.status.success() {
        return Err(format!(
            "exit {:?}: {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )
        .into());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| Failed::from(e.to_string()))
}

/// `gbau info` names the model by ATR and files and probes the GBA context.
fn model_and_gba_context(env: &Env) -> Result<(), Failed> {
    let info = json(env.gbau().args(["info", "--json"]).output()?)?;
    let model = env.model()?;
    let shown = info["model"].as_str().unwrap_or_default();
    let expected = match model.as_str() {
        "sja2" => "sysmoISIM-SJA2",
        "sja5" => "sysmoISIM-SJA5",
        "sjs1" => "sysmoUSIM-SJS1",
        _ => "",
    };
    if !shown.contains(expected) || shown.contains("not the model's") {
        return Err(format!("gbau info says {shown:?} for a {model}").into());
    }
    eprintln!(
        "    model: {shown}; GBA context: {}",
        info["gba_context"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// The dry run checks the model and the files and shows the ADM1 tries; it writes nothing.
fn personalize_dry_run(env: &Env) -> Result<(), Failed> {
    let model = env.model()?;
    let report = json(
        env.gbau()
            .args(["personalize", "--card", &model, "--json", "--profile"])
            .arg(&env.profile)
            .output()?,
    )?;
    if report["dry_run"] != true || report["adm1_tries_left"].is_null() && model != "soft" {
        return Err(format!("dry run report: {report}").into());
    }
    Ok(())
}

/// With GBAU_TEST_WRITE=1: write the profile, read it back, prove the keys.
fn personalize_write(env: &Env) -> Result<(), Failed> {
    let model = env.model()?;
    let adm = env
        .adm
        .clone()
        .ok_or("GBAU_TEST_WRITE=1 needs GBAU_TEST_ADM (the card's ADM1 digits)")?;
    let report = json(
        env.gbau()
            .env("GBAU_ADM", adm)
            .args([
                "personalize",
                "--card",
                &model,
                "--write",
                "--json",
                "--profile",
            ])
            .arg(&env.profile)
            .output()?,
    )?;
    let keys = report["key_check"].as_str().unwrap_or_default();
    if report["read_back"].is_null() || !keys.contains("match") {
        return Err(format!("personalization report: {report}").into());
    }
    eprintln!("    {keys}");
    Ok(())
}

/// The GBA_U chain vector (GBA_U cards) or the 3G context with the same challenge (SJS1),
/// byte for byte. The vector's SQN can be used once after each personalization.
fn conformance_chain(env: &Env) -> Result<(), Failed> {
    let profile = Profile::load(&env.profile).map_err(|e| e.to_string())?;
    // Decided before connecting: reading the ATR opens (and closes) a connection of its own.
    let script = if env.gba_u()? {
        "apdu-scripts/hardware/gba-u-chain.apdu"
    } else {
        "apdu-scripts/hardware/auth-3g-chain.apdu"
    };
    let mut t =
        PcscTransport::connect(&env.reader, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    {
        let mut u = Usim::new(&mut t as &mut dyn Transport);
        ready(&mut u, Some(&env.pin)).map_err(|e| e.to_string())?;
    }
    let mut transmit = |raw: &[u8]| t.transmit(raw);
    run_file(
        &mut transmit,
        &support::repo().join(script),
        profile.script_vars(),
    )
    .map_err(|e| {
        format!("{e}\n(a 'DC 0E' answer means the vector's SQN was used already: personalize again, which resets the SQN array)")
    })?;
    Ok(())
}

/// Bootstrap against a local BSF whose HSS holds the profile's keys: GBA_U, or GBA_ME on an
/// SJS1, then a NAF key.
fn end_to_end_bootstrap(env: &Env) -> Result<(), Failed> {
    let profile = Profile::load(&env.profile).map_err(|e| e.to_string())?;
    let dir = support::net::setup();
    let gba_u = env.gba_u()?;
    std::fs::write(
        dir.path("subs.yaml"),
        format!(
            "subscribers:\n  - imsi: \"{}\"\n    mnc_length: {}\n    k: \"{}\"\n    opc: \"{}\"\n    amf: \"8000\"\n    sqn: \"000000000020\"\n    uicc: {}\n    key_lifetime: 3600\n",
            profile.imsi.as_str(),
            profile.mnc_length.digits(),
            hex::encode(profile.k.expose()),
            hex::encode(profile.opc.expose()),
            if gba_u { "GBA_U" } else { "GBA_ME" },
        ),
    )?;
    let bsf = support::net::start_bsf(&dir);
    let boot = json(
        env.gbau()
            .env("HOME", &dir.0)
            .args([
                "gba",
                "bootstrap",
                "--bsf",
                &format!("{}/", bsf.ub),
                "--json",
            ])
            .output()?,
    )?;
    let want = if gba_u { "GBA_U" } else { "GBA_ME" };
    if boot["mode"] != want || boot["b_tid"].as_str().unwrap_or_default().is_empty() {
        return Err(format!("bootstrap: expected mode {want} and a B-TID: {boot}").into());
    }
    eprintln!("    {want}, B-TID {}", boot["b_tid"]);
    Ok(())
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let env = Env::from_env();
    if env.is_none() {
        eprintln!(
            "hardware suite skipped: set GBAU_TEST_READER=\"<reader name>\" to run it against a card in that reader (README.md, \"Real cards\")"
        );
    }
    let trial = |name: &'static str, f: fn(&Env) -> Result<(), Failed>, ignore: bool| {
        let e = env.clone();
        Trial::test(name, move || match &e {
            Some(e) => f(e),
            None => Ok(()),
        })
        .with_ignored_flag(ignore || env.is_none())
    };
    let write = env.as_ref().is_some_and(|e| e.write);
    if env.is_some() && !write {
        eprintln!("personalize_write skipped: set GBAU_TEST_WRITE=1 and GBAU_TEST_ADM to write the profile to the card");
    }
    // The chain vector is test set 1's: it needs a card carrying those keys.
    let chain_applies = env.as_ref().is_some_and(|e| {
        let load = |p: &std::path::Path| Profile::load(p).ok();
        match (load(&e.profile), load(&support::profile())) {
            (Some(a), Some(b)) => a.k == b.k && a.opc == b.opc && a.milenage == b.milenage,
            _ => false,
        }
    });
    if env.is_some() && !chain_applies {
        eprintln!("hw_04_conformance_chain skipped: the chain vector needs the keys of test-set-1.yaml, and GBAU_TEST_PROFILE names other keys");
    }
    let trials = vec![
        trial("hw_01_model_and_gba_context", model_and_gba_context, false),
        trial("hw_02_personalize_dry_run", personalize_dry_run, false),
        trial("hw_03_personalize_write", personalize_write, !write),
        trial("hw_04_conformance_chain", conformance_chain, !chain_applies),
        trial("hw_05_end_to_end_bootstrap", end_to_end_bootstrap, false),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}
