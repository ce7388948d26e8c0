//! `gbau personalize`: write a card profile to a programmable card (sysmoISIM-SJA2/SJA5,
//! sysmoUSIM-SJS1) or to the soft card with the scripts of `apdu-scripts/personalize/`.
//! A dry run by default (the plan, keys masked); with `--write`: model and file checks, ADM1
//! tries shown and the last one never spent, the scripts, a read-back of everything written,
//! and an AUTHENTICATE that proves the card's keys are the profile's.

mod access;
mod files;
mod model;
mod report;
mod steps;
mod variables;

pub use model::{
    CardTables, FileShape, Options, PersonalizeError, Target, ADM1_MAX_TRIES, SCRIPTS,
};
pub use report::{Report, StepReport};
pub use variables::{luhn_ok, variables, with_mnc_length};

use std::collections::BTreeMap;

use gbau_card::Profile;
use gbau_core::hexutil::to_hex;
use gbau_core::sysmo::{self, AtrMatch};

use crate::session::{LockedUsim, Session};

use files::{assumed_shapes, probe_files, with_isim};
use steps::{
    adm_block, adm_tries, check_writable, execute, guard_pin1, key_check, plan, read_iccid,
    read_tables, sjs1_auth_counter, step_report, sync_gsm_files,
};

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
    // For a sysmo card ADM1 comes only from the user: refuse before anything is sent.
    if opts.write && adm.is_none() {
        return Err(PersonalizeError::AdmMissing);
    }
    // A dry run shows ADM1 masked; without a value the plan carries a placeholder.
    let adm = adm.unwrap_or([b'0'; 8]);
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
    let (target, write) = (opts.target, opts.write);
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
        u, report, profile, target, &shapes, tables, adm, pin, tries, opts,
    )
}

/// Verify ADM1, check every target file's rules, write, read back, check the keys, probe
/// the GBA context.
#[allow(clippy::too_many_arguments)] // the steps of one procedure, named at the call
fn write_card(
    u: &mut LockedUsim<'_>,
    report: &mut Report,
    profile: &Profile,
    target: Target,
    shapes: &BTreeMap<&'static str, FileShape>,
    tables: CardTables,
    adm: &[u8; 8],
    pin: Option<&str>,
    tries: Option<u8>,
    opts: &Options,
) -> Result<(), PersonalizeError> {
    let isim = with_isim(profile, target);
    present_adm(
        u, report, profile, target, shapes, &tables, adm, tries, opts,
    )?;
    let tables = after_adm(u, isim, tables, pin)?;
    report
        .notes
        .extend(check_writable(u, target, isim, shapes)?);
    before_writing(u, report, profile, target)?;
    let (vars, secrets) = variables(profile, target, shapes, &tables, adm)?;
    let (_, write_steps, read_back) = plan(target, isim, &vars, &secrets)?;
    execute(u, &write_steps, &mut report.steps)?;
    if target.model().is_some() {
        let imsi = gbau_core::ef::encode_imsi(&profile.imsi);
        report
            .notes
            .extend(sync_gsm_files(u, &imsi, profile.mnc_length)?);
    }
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

/// ADM1's guard, then VERIFY ADM1 (unless this connection has it verified already): never the
/// last try, and below the maximum only with --force (a wrong value was presented before).
#[allow(clippy::too_many_arguments)] // the steps of one procedure, named at the call
fn present_adm(
    u: &mut LockedUsim<'_>,
    report: &mut Report,
    profile: &Profile,
    target: Target,
    shapes: &BTreeMap<&'static str, FileShape>,
    tables: &CardTables,
    adm: &[u8; 8],
    tries: Option<u8>,
    opts: &Options,
) -> Result<(), PersonalizeError> {
    let Some(n) = tries else {
        if let Some(announce) = opts.announce_adm_tries {
            announce(None);
        }
        return Ok(());
    };
    if n <= 1 {
        return Err(PersonalizeError::LastAdmTry(n));
    }
    if target.model().is_some() && n < ADM1_MAX_TRIES && !opts.force {
        return Err(PersonalizeError::FewerAdmTries { left: n });
    }
    if let Some(announce) = opts.announce_adm_tries {
        announce(tries);
    }
    let isim = with_isim(profile, target);
    let (vars, secrets) = variables(profile, target, shapes, tables, adm)?;
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
    Ok(())
}

/// With ADM1 verified: PIN1 when the card's rules want it (never its last try), then the
/// service tables, which gbau merges and will not overwrite unread.
fn after_adm(
    u: &mut LockedUsim<'_>,
    isim: bool,
    mut tables: CardTables,
    pin: Option<&str>,
) -> Result<CardTables, PersonalizeError> {
    u.select_usim()?;
    if u.pin1_verification_needed()? {
        if let Some(pin) = pin {
            guard_pin1(u)?;
            u.verify_pin1(pin)?;
        }
    }
    if tables.ust.is_none() || (isim && tables.ist.is_none()) || tables.ad.is_none() {
        tables = read_tables(u, isim)?;
    }
    if tables.ust.is_none() || (isim && tables.ist.is_none()) {
        return Err(PersonalizeError::Step(
            "cannot read the card's service tables (EF_UST/EF_IST) with ADM1: gbau adds the profile's services to the card's and will not overwrite what it cannot read; pass --pin; nothing was written".into(),
        ));
    }
    Ok(tables)
}

/// What gbau reads and says before writing: the ICCID it leaves alone on SJA2/SJA5, the
/// SJS1's authentication counter.
fn before_writing(
    u: &mut LockedUsim<'_>,
    report: &mut Report,
    profile: &Profile,
    target: Target,
) -> Result<(), PersonalizeError> {
    if matches!(target, Target::Sja2 | Target::Sja5) {
        let have = read_iccid(u)?;
        let want = gbau_core::ef::encode_iccid(&profile.iccid).ok();
        report.notes.push(match (have, want) {
            (Some(h), Some(w)) if h == w => "EF_ICCID: the card's equals the profile's".into(),
            (Some(h), _) => format!(
                "EF_ICCID is left as the card has it ({}), not the profile's {}: sysmocom ties the ICCID to the card OS licence and these cards never allow updating it (pySim)",
                gbau_core::ef::decode_swapped_bcd(&h),
                profile.iccid
            ),
            (None, _) => "EF_ICCID could not be read; it is never written on this card".into(),
        });
    }
    if target == Target::Sjs1 {
        report.notes.push(sjs1_auth_counter(u)?);
    }
    Ok(())
}
