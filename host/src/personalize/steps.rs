//! The steps of a personalization: the plan from the scripts, running it, ADM1 tries, the
//! service tables, and the AUTHENTICATE that proves the keys.

use std::collections::{BTreeMap, BTreeSet};

use gbau_card::Profile;
use gbau_core::aka::{generate_vector, verify_auts, Amf, Rand};
use gbau_core::ef;
use gbau_core::hexutil::to_hex;
use gbau_core::milenage::Milenage;
use gbau_core::script::{self, PlannedStep};
use gbau_core::sqn::{Sqn, IND_BITS};
use gbau_core::sysmo::{self};
use gbau_core::{CommandApdu, StatusWord};

use crate::session::LockedUsim;
use crate::usim::{pin_block, AuthOutcome, UsimError};

use super::files::select_ok;
use super::model::{load, CardTables, Options, PersonalizeError, Target};
use super::report::StepReport;

/// The three parts of a personalization: VERIFY ADM1, the model's writes, the read-back.
pub(crate) type Plan = (Vec<PlannedStep>, Vec<PlannedStep>, Vec<PlannedStep>);

/// The plan: (ADM1 verify when writing,) the model's write script and the ISIM's, their
/// read-back.
pub(crate) fn plan(
    target: Target,
    isim: bool,
    vars: &BTreeMap<String, String>,
    secrets: &BTreeSet<String>,
) -> Result<Plan, PersonalizeError> {
    let one = |names: &[String]| -> Result<Vec<PlannedStep>, PersonalizeError> {
        let mut out = Vec::new();
        for name in names {
            let (file, text) = load("personalize/", name).map_err(PersonalizeError::Step)?;
            let lines = script::parse(&text, &file)?;
            let mut loader = load;
            out.extend(script::plan(&lines, vars, secrets, &mut loader)?);
        }
        Ok(out)
    };
    let with = |model: String, isim_part: &str| {
        let mut v = vec![model];
        if isim {
            v.push(isim_part.to_owned());
        }
        v
    };
    Ok((
        one(&["common/adm1.apdu".to_owned()])?,
        one(&with(
            format!("{}/write.apdu", target.dir()),
            "common/isim-files.apdu",
        ))?,
        one(&with(
            format!("{}/read-back.apdu", target.dir()),
            "common/isim-files-read-back.apdu",
        ))?,
    ))
}

pub(crate) fn step_report(s: &PlannedStep) -> StepReport {
    StepReport {
        at: format!("{}:{}", s.file, s.line),
        command: s.shown.clone(),
        expect: s.expect.as_ref().map(|e| e.shown.clone()),
        outcome: None,
    }
}

/// Run planned steps; the first response that does not match stops everything.
pub(crate) fn execute(
    u: &mut LockedUsim<'_>,
    steps: &[PlannedStep],
    out: &mut Vec<StepReport>,
) -> Result<(), PersonalizeError> {
    for s in steps {
        let t = u.transport();
        let mut f = |raw: &[u8]| t.transmit(raw);
        let response = script::send_planned(&mut f, s)
            .map_err(|e| PersonalizeError::Step(format!("{}:{}: {e}", s.file, s.line)))?;
        let mut report = step_report(s);
        let got = response.to_bytes();
        match &s.expect {
            Some(e) if !script::matches(&e.patterns, &got) => {
                let shown = if e.secret && got.len() > 2 {
                    format!(
                        "{} bytes (hidden: the card's key material) {}",
                        got.len() - 2,
                        response.sw
                    )
                } else {
                    gbau_core::apdu::spaced_hex(&got)
                };
                report.outcome = Some(format!("got {shown}"));
                let message = format!(
                    "{}: the card answered {shown}, expected {}",
                    report.at, e.shown
                );
                out.push(report);
                return Err(PersonalizeError::Step(message));
            }
            _ => report.outcome = Some("ok".into()),
        }
        out.push(report);
    }
    Ok(())
}

/// Read the card's EF_UST (and EF_IST) when they can be read now.
pub(crate) fn read_tables(
    u: &mut LockedUsim<'_>,
    isim: bool,
) -> Result<CardTables, PersonalizeError> {
    u.select_usim()?;
    let ust = match u.ust() {
        Ok(t) => Some(t),
        Err(UsimError::Status { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let ist = if isim {
        match select_ok(u, &crate::usim::apdus::select_aid(&ef::ISIM_AID_PREFIX))? {
            Ok(_) => match u.read_transparent("READ BINARY EF_IST", ef::EF_IST) {
                Ok(t) => Some(t),
                Err(UsimError::Status { .. }) => None,
                Err(e) => return Err(e.into()),
            },
            Err(_) => None,
        }
    } else {
        None
    };
    Ok(CardTables { ust, ist })
}

/// Prove the card's keys are the profile's: AUTHENTICATE (3G context) with a challenge made
/// from the profile, then compare RES, CK and IK. A stale SQN is repaired from AUTS once.
pub(crate) fn key_check(
    u: &mut LockedUsim<'_>,
    profile: &Profile,
    pin: Option<&str>,
) -> Result<String, PersonalizeError> {
    u.select_usim()?;
    if u.pin1_verification_needed()? {
        let Some(pin) = pin else {
            return Ok("skipped: PIN1 is needed for AUTHENTICATE (pass --pin)".into());
        };
        u.verify_pin1(pin)?;
    }
    let m = Milenage::with_constants(&profile.k, profile.opc.clone(), profile.milenage.clone())
        .map_err(|e| PersonalizeError::Profile(e.to_string()))?;
    let mut rand = [0u8; 16];
    crate::util::os_random(&mut rand);
    let rand = Rand(rand);
    let amf = Amf([0x80, 0x00]);
    let mut sqn = Sqn::new(1 << IND_BITS).unwrap_or(Sqn::from_bytes([0, 0, 0, 0, 0, 0x20]));
    for _ in 0..2 {
        let v = generate_vector(&m, &rand, sqn, amf);
        match u.authenticate_3g(&rand, &v.autn) {
            Ok(AuthOutcome::Success((res, ck, ik))) => {
                let res_ok = v.xres.as_bytes().starts_with(res.as_bytes());
                if res_ok && ck == v.ck && ik == v.ik {
                    return Ok(format!(
                        "AUTHENTICATE with a challenge from the profile's keys: RES ({} bytes), CK and IK match (SQN {})",
                        res.as_bytes().len(),
                        to_hex(&sqn.to_bytes())
                    ));
                }
                return Err(PersonalizeError::Step(
                    "AUTHENTICATE: the card's RES/CK/IK differ from the profile's: its key or Milenage constants are not the profile's".into(),
                ));
            }
            Ok(AuthOutcome::SyncFailure(auts)) => {
                let sqn_ms = verify_auts(&m, &rand, &auts).map_err(|_| {
                    PersonalizeError::Step(
                        "AUTHENTICATE: the card's AUTS does not verify with the profile's keys"
                            .into(),
                    )
                })?;
                let next = (sqn_ms.value() >> IND_BITS) + 1;
                sqn = Sqn::new(next << IND_BITS).ok_or_else(|| {
                    PersonalizeError::Step("AUTHENTICATE: the card's SQN is exhausted".into())
                })?;
            }
            Err(UsimError::Status {
                sw: StatusWord::AuthenticationErrorIncorrectMac,
                ..
            }) => {
                return Err(PersonalizeError::Step(
                    "AUTHENTICATE: the card refused the profile's MAC (9862): its key, OPc or Milenage constants are not the profile's".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(PersonalizeError::Step(
        "AUTHENTICATE: synchronisation failed twice".into(),
    ))
}

/// ADM1 tries left (VERIFY without data, TS 102 221 §11.1.9): `None` when already verified.
pub(crate) fn adm_tries(u: &mut LockedUsim<'_>) -> Result<Option<u8>, PersonalizeError> {
    let r = u.send(&CommandApdu::new(0x00, 0x20, 0x00, sysmo::ADM1_KEY_REF))?;
    match r.sw {
        StatusWord::RetriesLeft(n) => Ok(Some(n)),
        StatusWord::Ok => Ok(None),
        StatusWord::AuthMethodBlocked => Err(PersonalizeError::AdmBlocked),
        sw => Err(PersonalizeError::Step(format!(
            "VERIFY ADM1 without data (tries left) answered {sw}"
        ))),
    }
}

pub(crate) fn adm_block(
    opts: &Options,
    profile: &Profile,
    target: Target,
) -> Result<[u8; 8], PersonalizeError> {
    let block = match &opts.adm {
        Some(digits) => pin_block(digits).ok_or(PersonalizeError::AdmFormat)?,
        None => *profile.adm1.value.block(),
    };
    // sysmocom prints ADM1 as exactly 8 digits; a shorter value is a typo, and a wrong
    // presentation costs a try.
    if target.model().is_some() && !block.iter().all(u8::is_ascii_digit) {
        return Err(PersonalizeError::AdmFormat);
    }
    Ok(block)
}
