//! `gbau gba ...` on the card: bootstrap (offline or over Ub), NAF keys, Ks_local_MT, and
//! the check against the software oracle that names the input that differs.

use gbau_core::aka::{Autn, Rand};
use gbau_core::hexutil::to_hex;
use gbau_core::identity::{Impi, MncLength, NafId, UaProtocolId};
use gbau_core::kdf::ks_ext_naf;
use gbau_core::milenage::Milenage;
use gbau_core::secret::Ks;
use serde::Serialize;

use crate::error::CmdError;
use crate::input::UsageError;
use crate::session::{ready, LockedUsim, Session};
use crate::usim::AuthOutcome;

/// `gbau gba bootstrap`.
#[derive(Debug, Serialize)]
pub struct BootstrapReport {
    pub res: String,
    pub b_tid: String,
    pub lifetime: String,
}

/// Bootstrap from a given challenge and store B-TID and lifetime on the card.
pub fn gba_bootstrap(
    s: &mut Session,
    rand: Rand,
    autn: Autn,
    b_tid: &str,
    lifetime: &str,
) -> Result<BootstrapReport, CmdError> {
    if gbau_core::time::parse_utc(lifetime).is_none() {
        return Err(UsageError::new(
            "--lifetime",
            "expected xs:dateTime in UTC, e.g. 2026-11-24T10:00:00Z",
        )
        .into());
    }
    gbau_core::identity::BTid::new(b_tid).map_err(|e| UsageError::new("--btid", e.to_string()))?;
    let pin = s.pin.clone();
    s.with_card(|u| {
        ready(u, pin.as_deref())?;
        let outcome = u.gba_bootstrap(&rand, &autn)?;
        match outcome {
            AuthOutcome::SyncFailure(auts) => Err(CmdError::SyncFailure(to_hex(&auts.0))),
            AuthOutcome::Success(res) => {
                u.write_btid_lifetime(b_tid, lifetime)?;
                Ok(BootstrapReport {
                    res: to_hex(res.as_bytes()),
                    b_tid: b_tid.to_owned(),
                    lifetime: lifetime.to_owned(),
                })
            }
        }
    })
}

/// Bootstrap against a BSF over Ub (GBA_U: the card's GBA bootstrapping mode).
pub fn gba_bootstrap_bsf(
    s: &mut Session,
    bsf_url: Option<&str>,
    enc: crate::ub::ResEncoding,
) -> Result<crate::ub::Bootstrapped, CmdError> {
    let pin = s.pin.clone();
    s.with_card(|u| {
        ready(u, pin.as_deref())?;
        Ok(crate::ub::bootstrap_over_http(u, bsf_url, enc)?.1)
    })
}

/// `gbau gba local-key`: the MT's Ks_local_MT for (NAF Key Center, Device_ID).
#[derive(Debug, Serialize)]
pub struct LocalKeyReport {
    pub b_tid: String,
    pub naf_id: String,
    pub device_id: String,
    pub ks_local_mt: String,
}

/// Derive Ks_ext_NAF for the Key Center's NAF_Id on the card, then Ks_local_MT (seed 001
/// §5.5.2 step 9).
pub fn gba_local_key(
    s: &mut Session,
    key_center: &str,
    device_id: &str,
) -> Result<LocalKeyReport, CmdError> {
    let naf_id =
        gbau_core::local_key::naf_id(key_center).map_err(|e| UsageError::new("--key-center", e))?;
    if device_id.is_empty() || device_id.len() > 255 {
        return Err(UsageError::new("--device-id", "1 to 255 octets").into());
    }
    let pin = s.pin.clone();
    s.with_card(|u| {
        ready(u, pin.as_deref())?;
        let impi = impi_of(u, None)?;
        let b_tid = crate::ub::card_gbabp(u, impi.as_str())?.b_tid;
        let b_tid = gbau_core::identity::BTid::new(&b_tid)
            .map_err(|_| CmdError::Mismatch("no B-TID in EF_GBABP: bootstrap first".into()))?;
        let impi = impi_of(u, None)?;
        let ext = u.gba_naf_key(&naf_id.to_bytes(), Some(impi.as_str()))?;
        let local = gbau_core::kdf::ks_local_mt(&ext, &b_tid, &naf_id, device_id)
            .map_err(|e| CmdError::Mismatch(e.to_string()))?;
        Ok(LocalKeyReport {
            b_tid: b_tid.to_string(),
            naf_id: to_hex(&naf_id.to_bytes()),
            device_id: device_id.to_owned(),
            ks_local_mt: to_hex(local.expose()),
        })
    })
}

/// `gbau gba naf-key`.
#[derive(Debug, Serialize)]
pub struct NafKeyReport {
    pub b_tid: String,
    pub naf_id: String,
    pub ks_ext_naf: String,
}

/// The IMPI the MT uses: given, or derived from the IMSI and MNC length.
pub fn impi_of(u: &mut LockedUsim<'_>, given: Option<&str>) -> Result<Impi, CmdError> {
    match given {
        Some(t) => Impi::new(t).map_err(|e| UsageError::new("--impi", e.to_string()).into()),
        None => {
            let imsi = u.imsi()?;
            let mnc = u.mnc_length()?;
            Ok(imsi.impi(mnc))
        }
    }
}

/// NAF derivation on the card.
pub fn gba_naf_key(
    s: &mut Session,
    naf_fqdn: &str,
    ua: UaProtocolId,
    impi: Option<&str>,
) -> Result<NafKeyReport, CmdError> {
    let naf_id =
        NafId::new(naf_fqdn, ua).map_err(|e| UsageError::new("--naf-fqdn", e.to_string()))?;
    let pin = s.pin.clone();
    s.with_card(|u| {
        ready(u, pin.as_deref())?;
        let impi = impi_of(u, impi)?;
        let mode = crate::ub::card_mode(u)?;
        let b_tid = match mode {
            crate::ub::GbaMode::GbaU => crate::ub::card_gbabp(u, impi.as_str())?.b_tid,
            crate::ub::GbaMode::GbaMe => crate::me_store::get(impi.as_str())
                .map_err(CmdError::Ub)?
                .map(|m| m.b_tid)
                .unwrap_or_default(),
        };
        let key = crate::ua::naf_key(u, mode, &impi, &naf_id)?;
        Ok(NafKeyReport {
            b_tid,
            naf_id: to_hex(&naf_id.to_bytes()),
            ks_ext_naf: to_hex(key.expose()),
        })
    })
}

/// `gbau gba check`: the card's Ks_ext_NAF against the oracle, with the input that differs.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub rand: String,
    pub impi: String,
    pub naf_id: String,
    pub ks_ext_naf_card: String,
    pub ks_ext_naf_calc: String,
    pub card_matches_calc: bool,
    /// With `--expected`: whether the expected key equals the card's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_matches_card: Option<bool>,
    /// What explains a difference, when one of the tried variants does.
    pub diagnosis: Vec<String>,
}

/// Compare the card with the oracle (K/OPc from the profile) and search the usual mistakes.
pub fn gba_check(
    s: &mut Session,
    naf_fqdn: &str,
    ua: UaProtocolId,
    impi: Option<&str>,
    expected: Option<[u8; 32]>,
    rand_given: Option<Rand>,
) -> Result<CheckReport, CmdError> {
    let profile = s.profile.clone().ok_or_else(|| {
        UsageError::new(
            "--profile",
            "gba check needs the card's K and OPc: give --profile FILE",
        )
    })?;
    let naf_id =
        NafId::new(naf_fqdn, ua).map_err(|e| UsageError::new("--naf-fqdn", e.to_string()))?;
    let pin = s.pin.clone();
    let (impi, rand, card_key, imsi) = s.with_card(|u| -> Result<_, CmdError> {
        ready(u, pin.as_deref())?;
        let impi = impi_of(u, impi)?;
        let gbabp = u.gbabp()?;
        let rand = gbabp.rand.ok_or_else(|| {
            CmdError::Mismatch(
                "EF_GBABP holds no RAND: bootstrap first (gbau gba bootstrap)".into(),
            )
        })?;
        let card_key = u.gba_naf_key(&naf_id.to_bytes(), Some(impi.as_str()))?;
        Ok((impi, rand, card_key, u.imsi()?))
    })?;
    let m = Milenage::with_constants(&profile.k, profile.opc.clone(), profile.milenage.clone())
        .map_err(|e| CmdError::Mismatch(e.to_string()))?;
    let ks_for = |r: &Rand| {
        let out = m.f2345(&r.0);
        Ks::from_ck_ik(&out.ck, &out.ik)
    };
    let calc = |r: &Rand, i: &Impi, n: &NafId| ks_ext_naf(&ks_for(r), r, i, n).ok();
    let calc_key = calc(&rand, &impi, &naf_id)
        .ok_or_else(|| CmdError::Mismatch("KDF input too long".into()))?;
    let card_matches_calc = calc_key == card_key;
    let mut diagnosis = Vec::new();
    if !card_matches_calc {
        diagnosis.push("the card's key differs from the oracle for the same RAND, IMPI and NAF_Id: check the profile's K/OPc/Milenage constants, or whether the card applies GBA_U at all".into());
    }
    if let Some(r) = rand_given.filter(|r| *r != rand) {
        diagnosis.push(format!("stale RAND: the card's EF_GBABP RAND is {}, not the {} you expected: the card bootstrapped again since", to_hex(&rand.0), to_hex(&r.0)));
    }
    let expected_matches_card = expected.map(|e| e == *card_key.expose());
    if let (Some(e), Some(false)) = (expected, expected_matches_card) {
        let inputs = CheckInputs {
            rand,
            rand_given,
            impi: &impi,
            imsi: &imsi,
            naf_fqdn,
            ua,
        };
        diagnosis.push(explain_expected(&inputs, &e, &calc));
    }
    Ok(CheckReport {
        rand: to_hex(&rand.0),
        impi: impi.to_string(),
        naf_id: to_hex(&naf_id.to_bytes()),
        ks_ext_naf_card: to_hex(card_key.expose()),
        ks_ext_naf_calc: to_hex(calc_key.expose()),
        card_matches_calc,
        expected_matches_card,
        diagnosis,
    })
}

/// The inputs of a `gba check`, as the card and the user gave them.
struct CheckInputs<'a> {
    rand: Rand,
    rand_given: Option<Rand>,
    impi: &'a Impi,
    imsi: &'a gbau_core::identity::Imsi,
    naf_fqdn: &'a str,
    ua: UaProtocolId,
}

/// The variants a NAF side commonly gets wrong: IMPI form, FQDN case, Ua protocol id, a
/// stale RAND.
fn variants(c: &CheckInputs<'_>) -> Variants {
    let mut impis = vec![("the IMPI used".to_owned(), c.impi.clone())];
    for (label, mnc) in [
        ("MNC length 2", MncLength::Two),
        ("MNC length 3", MncLength::Three),
    ] {
        impis.push((
            format!("IMPI form {} ({label})", c.imsi.impi(mnc)),
            c.imsi.impi(mnc),
        ));
    }
    if let Ok(i) = Impi::new(&c.imsi.to_string()) {
        impis.push((format!("IMPI form {} (bare IMSI)", c.imsi), i));
    }
    let mut fqdns = vec![
        c.naf_fqdn.to_owned(),
        c.naf_fqdn.to_lowercase(),
        c.naf_fqdn.to_uppercase(),
    ];
    fqdns.dedup();
    let uas = [
        UaProtocolId::HTTP_DIGEST,
        UaProtocolId::UNSPECIFIED,
        UaProtocolId::SUBSCRIBER_CERTIFICATES,
        UaProtocolId::TMPI,
        c.ua,
    ];
    let mut rands = vec![c.rand];
    rands.extend(c.rand_given);
    Variants {
        rands,
        impis,
        fqdns,
        uas,
    }
}

/// The inputs to try, each with the words that name it.
struct Variants {
    rands: Vec<Rand>,
    impis: Vec<(String, Impi)>,
    fqdns: Vec<String>,
    uas: [UaProtocolId; 5],
}

/// Which variant of the inputs gives the key the NAF side expected, said in words.
fn explain_expected(
    c: &CheckInputs<'_>,
    expected: &[u8; 32],
    calc: &dyn Fn(&Rand, &Impi, &NafId) -> Option<gbau_core::secret::KsNaf>,
) -> String {
    let Variants {
        rands,
        impis,
        fqdns,
        uas,
    } = variants(c);
    for r in &rands {
        for (ilabel, i) in &impis {
            for f in &fqdns {
                for u in uas {
                    let Ok(n) = NafId::new(f, u) else { continue };
                    if calc(r, i, &n).is_none_or(|k| k.expose() != expected) {
                        continue;
                    }
                    let mut what = Vec::new();
                    if *r != c.rand {
                        what.push(format!(
                            "RAND {} (not the card's current one: stale)",
                            to_hex(&r.0)
                        ));
                    }
                    if i != c.impi {
                        what.push(ilabel.clone());
                    }
                    if f != c.naf_fqdn {
                        what.push(format!("NAF FQDN {f:?} (case differs)"));
                    }
                    if u != c.ua {
                        what.push(format!(
                            "Ua protocol id {} ({})",
                            to_hex(&u.0),
                            u.describe()
                        ));
                    }
                    let what = if what.is_empty() {
                        "the same inputs".to_owned()
                    } else {
                        what.join(", ")
                    };
                    return format!("the expected key is Ks_ext_NAF with: {what}");
                }
            }
        }
    }
    "no variant of IMPI form, FQDN case, Ua protocol id or RAND gives the expected key: check which Ks the NAF side used (GBA_ME Ks_NAF needs CK/IK from the plain AUTN)".into()
}
