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

use super::access::{compact_update, referenced_update, security, Security, Verdict};
use super::files::{select_ok, wanted, Under};
use super::model::{load, CardTables, FileShape, Options, PersonalizeError, Target};
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
    // What can fail comes first: the ISIM's identity files, then the model's script (its
    // identity and service files before its key and SQN files), the ISIM's keys last.
    let sja = matches!(target, Target::Sja2 | Target::Sja5);
    let parts = |isim_part: &str, model: String, isim_keys: &str| {
        let mut v = Vec::new();
        if isim {
            v.push(isim_part.to_owned());
        }
        v.push(model);
        if isim && sja {
            v.push(isim_keys.to_owned());
        }
        v
    };
    Ok((
        one(&["common/adm1.apdu".to_owned()])?,
        one(&parts(
            "common/isim-files.apdu",
            format!("{}/write.apdu", target.dir()),
            "sysmo-isim/isim-keys.apdu",
        ))?,
        one(&parts(
            "common/isim-files-read-back.apdu",
            format!("{}/read-back.apdu", target.dir()),
            "sysmo-isim/isim-keys-read-back.apdu",
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
    u.select_usim()?;
    let ad = match u.read_transparent("READ BINARY EF_AD", ef::EF_AD) {
        Ok(t) => Some(t),
        Err(UsimError::Status { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(CardTables { ust, ist, ad })
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
) -> Result<Option<[u8; 8]>, PersonalizeError> {
    let block = match (&opts.adm, target.model()) {
        (Some(digits), _) => pin_block(digits).ok_or(PersonalizeError::AdmFormat)?,
        // A sysmo card's ADM1 comes only from the user: never a profile's test value.
        (None, Some(_)) => return Ok(None),
        (None, None) => *profile.adm1.value.block(),
    };
    // sysmocom prints ADM1 as exactly 8 digits; a shorter value is a typo, and a wrong
    // presentation costs a try.
    if target.model().is_some() && !block.iter().all(u8::is_ascii_digit) {
        return Err(PersonalizeError::AdmFormat);
    }
    Ok(Some(block))
}

/// SELECT where a file's path starts (MF, or an ADF by its 3GPP prefix).
fn select_start(u: &mut LockedUsim<'_>, under: Under) -> Result<bool, PersonalizeError> {
    let start = match under {
        Under::Usim => crate::usim::apdus::select_aid(&ef::USIM_AID_PREFIX),
        Under::Isim => crate::usim::apdus::select_aid(&ef::ISIM_AID_PREFIX),
        Under::Mf => crate::usim::apdus::select_fid(ef::MF),
    };
    Ok(select_ok(u, &start)?.is_ok())
}

/// An EF.ARR record, looked up from the DF that holds the file (its path without the file),
/// then from the MF (TS 102 221 §9.2.7: the EF.ARR of the current DF, else a parent's).
fn arr_record(
    u: &mut LockedUsim<'_>,
    under: Under,
    parents: &[u16],
    arr: u16,
    record: u8,
) -> Result<Option<Vec<u8>>, PersonalizeError> {
    let mut found = select_start(u, under)?;
    for fid in parents {
        found = found && select_ok(u, &crate::usim::apdus::select_fid(*fid))?.is_ok();
    }
    if !found || select_ok(u, &crate::usim::apdus::select_fid(arr))?.is_err() {
        select_start(u, Under::Mf)?;
        if select_ok(u, &crate::usim::apdus::select_fid(arr))?.is_err() {
            return Ok(None);
        }
    }
    let r = u.send(&CommandApdu::new(0x00, 0xB2, record, 0x04).with_ne(256))?;
    Ok(r.sw.is_ok().then_some(r.data))
}

/// Before the first write: every file gbau writes must be updatable with ADM1 (and PIN1) as
/// its own FCP says — compact attributes, or its EF.ARR record read from the card. A file
/// that is not stops everything. Returns notes for files whose FCP states no rule.
pub(crate) fn check_writable(
    u: &mut LockedUsim<'_>,
    target: Target,
    isim: bool,
    shapes: &BTreeMap<&'static str, FileShape>,
) -> Result<Vec<String>, PersonalizeError> {
    let mut notes = Vec::new();
    for w in wanted(target, isim).into_iter().filter(|w| w.written) {
        let Some(shape) = shapes.get(w.name) else {
            continue;
        };
        let verdict = match security(&shape.fcp) {
            Security::Compact(attr) => compact_update(&attr),
            Security::Referenced { arr, record } => {
                let parents = &w.path[..w.path.len().saturating_sub(1)];
                match arr_record(u, w.under, parents, arr, record)? {
                    Some(rec) => referenced_update(&rec),
                    None => Verdict::Denied(format!(
                        "its EF.ARR {arr:04X} record {record} cannot be read"
                    )),
                }
            }
            Security::Unstated => {
                notes.push(format!(
                    "{}: its FCP states no access rule; not checked before writing",
                    w.name
                ));
                Verdict::Allowed
            }
        };
        if let Verdict::Denied(why) = verdict {
            return Err(PersonalizeError::NotWritable { file: w.name, why });
        }
    }
    Ok(notes)
}

/// READ BINARY of a file by path from MF, `None` when it cannot be read.
fn read_mf_path(u: &mut LockedUsim<'_>, path: &[u16]) -> Result<Option<Vec<u8>>, PersonalizeError> {
    if !select_start(u, Under::Mf)? {
        return Ok(None);
    }
    for fid in path {
        if select_ok(u, &crate::usim::apdus::select_fid(*fid))?.is_err() {
            return Ok(None);
        }
    }
    let r = u.send(&crate::usim::apdus::read_binary(0, 256))?;
    Ok(r.sw.is_ok().then_some(r.data))
}

/// The card's EF_ICCID, as the 10 bytes it holds.
pub(crate) fn read_iccid(u: &mut LockedUsim<'_>) -> Result<Option<Vec<u8>>, PersonalizeError> {
    read_mf_path(u, &[ef::EF_ICCID])
}

/// After ADF.USIM's EF_IMSI and EF_AD are written, DF.GSM's (7F20) must say the same: both
/// tools write DF.GSM. A card that links them (the SJS1) already does; on one that keeps
/// separate files (SJA2/SJA5 as dumped) they are written here — EF_IMSI as ADF.USIM's, EF_AD
/// as it is with only the MNC length changed (the SJA5's differ in their other bytes).
pub(crate) fn sync_gsm_files(
    u: &mut LockedUsim<'_>,
    imsi_ef: &[u8],
    mnc: gbau_core::identity::MncLength,
) -> Result<Vec<String>, PersonalizeError> {
    let mut done = Vec::new();
    for (fid, name) in [(ef::EF_IMSI, "EF_IMSI"), (ef::EF_AD, "EF_AD")] {
        let Some(have) = read_mf_path(u, &[sysmo::DF_GSM, fid])? else {
            done.push(format!("DF.GSM/{name}: not on this card"));
            continue;
        };
        let want = if fid == ef::EF_IMSI {
            imsi_ef.to_vec()
        } else {
            super::variables::with_mnc_length(&have, mnc)
        };
        if have == want {
            done.push(format!("DF.GSM/{name}: already as ADF.USIM's"));
            continue;
        }
        if have.len() != want.len() {
            return Err(PersonalizeError::Step(format!(
                "DF.GSM/{name} is {} bytes, ADF.USIM's {}: not written",
                have.len(),
                want.len()
            )));
        }
        let r = u.send(&CommandApdu::new(0x00, 0xD6, 0x00, 0x00).with_data(want.clone()))?;
        if !r.sw.is_ok() {
            return Err(PersonalizeError::Step(format!(
                "UPDATE BINARY DF.GSM/{name} answered {}",
                r.sw
            )));
        }
        if read_mf_path(u, &[sysmo::DF_GSM, fid])?.as_ref() != Some(&want) {
            return Err(PersonalizeError::Step(format!(
                "DF.GSM/{name} reads back differently after the write"
            )));
        }
        done.push(format!("DF.GSM/{name}: written and read back"));
    }
    Ok(done)
}

/// SJS1: the authentication counter (ADF.USIM 00FE, 4 bytes; FFFFFFFF disabled, 00000000
/// locked, else the authentications left — sysmo-usim-tool), said in words.
pub(crate) fn sjs1_auth_counter(u: &mut LockedUsim<'_>) -> Result<String, PersonalizeError> {
    u.select_usim()?;
    if select_ok(
        u,
        &crate::usim::apdus::select_fid(sysmo::SJS1_EF_AUTH_COUNTER),
    )?
    .is_err()
    {
        return Ok("authentication counter (00FE): not found".into());
    }
    let r = u.send(&crate::usim::apdus::read_binary(0, 4))?;
    Ok(match (r.sw.is_ok(), &r.data[..]) {
        (true, [0xFF, 0xFF, 0xFF, 0xFF]) => "authentication counter (00FE): disabled (FFFFFFFF)".into(),
        (true, [0, 0, 0, 0]) => "authentication counter (00FE): LOCKED (00000000): the card refuses AUTHENTICATE; sysmo-usim-tool -S writes FFFFFFFF".into(),
        (true, [a, b, c, d]) => format!(
            "authentication counter (00FE): {} authentications left",
            u32::from_be_bytes([*a, *b, *c, *d])
        ),
        _ => format!("authentication counter (00FE): READ BINARY answered {}", r.sw),
    })
}

/// PIN1 tries left before gbau presents `--pin`: never the last one.
pub(crate) fn guard_pin1(u: &mut LockedUsim<'_>) -> Result<(), PersonalizeError> {
    let r = u.send(&CommandApdu::new(0x00, 0x20, 0x00, 0x01))?;
    match r.sw {
        StatusWord::RetriesLeft(n) if n <= 1 => Err(PersonalizeError::LastPinTry(n)),
        _ => Ok(()),
    }
}
