//! `gbau personalize`: write a card profile to a programmable card (sysmoISIM-SJA2/SJA5,
//! sysmoUSIM-SJS1) or to the soft card with the scripts of `apdu-scripts/personalize/`.
//! A dry run by default (the plan, keys masked); with `--write`: model and file checks, ADM1
//! tries shown and the last one never spent, the scripts, a read-back of everything written,
//! and an AUTHENTICATE that proves the card's keys are the profile's.

mod files;
mod model;
mod report;
mod steps;
mod variables;

pub use model::{CardTables, FileShape, Options, PersonalizeError, Target, SCRIPTS};
pub use report::{Report, StepReport};
pub use variables::variables;

use std::collections::BTreeMap;

use gbau_card::Profile;
use gbau_core::hexutil::to_hex;
use gbau_core::sysmo::{self, AtrMatch};

use crate::session::{LockedUsim, Session};

use files::{assumed_shapes, probe_files, with_isim};
use steps::{adm_block, adm_tries, execute, key_check, plan, read_tables, step_report};

/// Run `gbau personalize`. `session` is `None` for a dry run without a card.
pub fn run(
    session: Option<&mut Session>,
    profile: &Profile,
    opts: &Options,
) -> Result<Report, PersonalizeError> {
    let (report, result) = run_reporting(session, profile, opts);
    result.map(|()| report)
}

/// [`run`], keeping the report of what was done also when it stops: the commands already
/// sent and their answers are part of the answer to "what is on my card now".
pub fn run_reporting(
    session: Option<&mut Session>,
    profile: &Profile,
    opts: &Options,
) -> (Report, Result<(), PersonalizeError>) {
    let mut report = Report {
        target: opts.target,
        model: opts.target.name(),
        card: None,
        atr: None,
        recognised_as: None,
        adm1_tries_left: None,
        dry_run: !opts.write,
        files: Vec::new(),
        steps: Vec::new(),
        read_back: None,
        key_check: None,
        gba: None,
        notes: Vec::new(),
        error: None,
    };
    let result = run_into(&mut report, session, profile, opts);
    if let Err(e) = &result {
        report.error = Some(e.to_string());
    }
    (report, result)
}

fn run_into(
    report: &mut Report,
    session: Option<&mut Session>,
    profile: &Profile,
    opts: &Options,
) -> Result<(), PersonalizeError> {
    let target = opts.target;
    notes(report, profile, target);
    let adm = adm_block(opts, profile, target)?;
    let Some(session) = session else {
        return dry_run_without_card(report, profile, target, &adm);
    };
    check_model(report, session, target)?;
    let pin = session.pin.clone();
    session.with_card(|u| personalize_card(u, report, profile, opts, &adm, pin.as_deref()))
}

/// Notes that hold whatever the card says: limits that do not fit, GBA_ME on the SJS1.
fn notes(report: &mut Report, profile: &Profile, target: Target) {
    if target.model().is_some() {
        for (what, value) in [
            ("Δ", profile.sqn_policy.delta),
            ("age limit", profile.sqn_policy.age_limit),
        ] {
            if let Some(v) = value.filter(|v| sysmo::limit_to_file(*v).1) {
                report.notes.push(format!(
                    "the profile's SQN {what} ({v} SEQ steps) exceeds what the card's SQN file holds: written as the largest value"
                ));
            }
        }
    }
    if target == Target::Sjs1 {
        report.gba = Some("no GBA_U on the sysmoUSIM-SJS1: gbau uses GBA_ME with it (3G context, Ks_NAF derived in the MT)".into());
    }
}

/// The plan with file sizes assumed from the profile: nothing is sent.
fn dry_run_without_card(
    report: &mut Report,
    profile: &Profile,
    target: Target,
    adm: &[u8; 8],
) -> Result<(), PersonalizeError> {
    let shapes = assumed_shapes(profile, target);
    let (vars, secrets) = variables(profile, target, &shapes, &CardTables::default(), adm)?;
    let (a, w, r) = plan(target, with_isim(profile, target), &vars, &secrets)?;
    report.files = shapes.into_values().collect();
    report.steps = a.iter().chain(&w).chain(&r).map(step_report).collect();
    report.notes.push("no card given (--reader): file sizes assumed from the profile, EF_UST from the profile's services only".into());
    report.notes.push(
        "dry run: nothing was sent; add --reader NAME to check the card, --write to write".into(),
    );
    Ok(())
}

/// The card must be the model asked for, by its ATR.
fn check_model(
    report: &mut Report,
    session: &mut Session,
    target: Target,
) -> Result<(), PersonalizeError> {
    let atr = session.atr()?;
    report.card = Some(session.label.clone());
    report.atr = Some(gbau_core::apdu::spaced_hex(&atr));
    let found = sysmo::model_by_atr(&atr);
    report.recognised_as = Some(match found {
        AtrMatch::Exact(m) => m.name().to_owned(),
        AtrMatch::SjaFamily => "a sysmoISIM (SJA family) variant gbau does not list".into(),
        AtrMatch::Unknown if gbau_card::card::is_soft_atr(&atr) => "gbau soft card".into(),
        AtrMatch::Unknown => "unknown".into(),
    });
    let matches = match target.model() {
        Some(m) => found == AtrMatch::Exact(m),
        None => gbau_card::card::is_soft_atr(&atr),
    };
    if !matches {
        return Err(PersonalizeError::WrongModel {
            wanted: target.name(),
            atr: to_hex(&atr).to_ascii_uppercase(),
            found: format!("says {}", report.recognised_as.clone().unwrap_or_default()),
        });
    }
    Ok(())
}

/// Check the files and ADM1, then (with --write) verify ADM1, write, read back, check the keys
/// and probe the GBA context, all in one exclusive use of the card.
fn personalize_card(
    u: &mut LockedUsim<'_>,
    report: &mut Report,
    profile: &Profile,
    opts: &Options,
    adm: &[u8; 8],
    pin: Option<&str>,
) -> Result<(), PersonalizeError> {
    let (target, write, announce) = (opts.target, opts.write, opts.announce_adm_tries);
    let isim = with_isim(profile, target);
    let shapes = probe_files(u, target, isim)?;
    report.files = shapes.values().cloned().collect();
    let tries = adm_tries(u)?;
    report.adm1_tries_left = tries;
    let tables = read_tables(u, isim)?;
    if !write {
        let (vars, secrets) = variables(profile, target, &shapes, &tables, adm)?;
        let (a, w, r) = plan(target, isim, &vars, &secrets)?;
        report.steps = a.iter().chain(&w).chain(&r).map(step_report).collect();
        if tables.ust.is_none() {
            report.notes.push("EF_UST needs PIN1 or ADM1 to read: the plan shows the profile's services only; --write adds them to the card's".into());
        }
        report
            .notes
            .push("dry run: nothing was written; add --write to write".into());
        return Ok(());
    }
    write_card(
        u, report, profile, target, &shapes, tables, adm, pin, tries, announce,
    )
}

/// Verify ADM1, write, read back, check the keys, probe the GBA context.
#[allow(clippy::too_many_arguments)] // the steps of one procedure, named at the call
fn write_card(
    u: &mut LockedUsim<'_>,
    report: &mut Report,
    profile: &Profile,
    target: Target,
    shapes: &BTreeMap<&'static str, FileShape>,
    mut tables: CardTables,
    adm: &[u8; 8],
    pin: Option<&str>,
    tries: Option<u8>,
    announce: Option<fn(Option<u8>)>,
) -> Result<(), PersonalizeError> {
    let isim = with_isim(profile, target);
    if let Some(n) = tries {
        if n <= 1 {
            return Err(PersonalizeError::LastAdmTry(n));
        }
    }
    if let Some(announce) = announce {
        announce(tries);
    }
    // VERIFY ADM1 first (unless this connection has it verified already): then EF_UST and
    // EF_IST can be read and merged.
    if tries.is_some() {
        let (vars, secrets) = variables(profile, target, shapes, &tables, adm)?;
        let (adm_steps, _, _) = plan(target, isim, &vars, &secrets)?;
        if let Err(e) = execute(u, &adm_steps, &mut report.steps) {
            let left = adm_tries(u).ok().flatten();
            return Err(match left {
                Some(n) => PersonalizeError::Step(format!(
                    "wrong ADM1: {n} tries left; nothing was written ({e})"
                )),
                None => e,
            });
        }
    }
    // Cards whose access rules say "PIN1" and not "PIN1 or ADM1" need PIN1 for the
    // service tables, EF_GBABP and the read-back.
    u.select_usim()?;
    if u.pin1_verification_needed()? {
        if let Some(pin) = pin {
            u.verify_pin1(pin)?;
        }
    }
    if tables.ust.is_none() || (isim && tables.ist.is_none()) {
        tables = read_tables(u, isim)?;
    }
    if tables.ust.is_none() || (isim && tables.ist.is_none()) {
        return Err(PersonalizeError::Step(
            "cannot read the card's service tables (EF_UST/EF_IST) with ADM1: gbau adds the profile's services to the card's and will not overwrite what it cannot read; pass --pin; nothing was written".into(),
        ));
    }
    let (vars, secrets) = variables(profile, target, shapes, &tables, adm)?;
    let (_, write_steps, read_back) = plan(target, isim, &vars, &secrets)?;
    execute(u, &write_steps, &mut report.steps)?;
    execute(u, &read_back, &mut report.steps)?;
    report.read_back = Some(format!(
        "all {} read-back commands answered as written",
        read_back.len()
    ));
    report.key_check = Some(key_check(u, profile, pin)?);
    if target != Target::Sjs1 {
        u.select_usim()?;
        report.gba = Some(match crate::cmd::probe_gba(u) {
            Ok(s) if s == "supported" => {
                "the card answers the GBA context: gbau uses GBA_U with it".to_owned()
            }
            Ok(s) => format!("the card's GBA context: {s}: gbau uses GBA_ME with it"),
            Err(e) => format!("GBA context probe failed: {e}"),
        });
    }
    Ok(())
}
