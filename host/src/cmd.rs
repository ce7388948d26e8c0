//! The card commands of `gbau`: info, apdu, run, gba bootstrap / naf-key / check. Each
//! returns a report that prints as text or JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use gbau_core::aka::{Autn, Rand};
use gbau_core::apdu::spaced_hex;
use gbau_core::ef;
use gbau_core::hexutil::{parse_hex, to_hex};
use gbau_core::identity::{Impi, MncLength, NafId, UaProtocolId};
use gbau_core::kdf::ks_ext_naf;
use gbau_core::milenage::Milenage;
use gbau_core::secret::Ks;
use gbau_core::{CommandApdu, ResponseApdu};
use serde::Serialize;

use crate::input::UsageError;
use crate::session::{ready, LockedUsim, Session, SessionError};
use crate::transport::TransportError;
use crate::usim::{AuthOutcome, UsimError};

/// Errors of the card commands.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Usim(#[from] UsimError),
    #[error("{0}")]
    Script(String),
    #[error("synchronisation failure: the card's SQN is ahead; AUTS {0} (give it to the BSF/HSS to resynchronise)")]
    SyncFailure(String),
    #[error("{0}")]
    Mismatch(String),
    #[error("Ub: {0}")]
    Ub(String),
}

impl From<TransportError> for CmdError {
    fn from(e: TransportError) -> Self {
        Self::Usim(UsimError::Transport(e))
    }
}

/// `gbau info`.
#[derive(Debug, Serialize)]
pub struct Info {
    pub card: String,
    /// The ATR, spaced hex.
    pub atr: String,
    /// The card model as recognised by ATR and files (sysmoISIM-SJA2/SJA5, sysmoUSIM-SJS1,
    /// gbau soft card, or unknown).
    pub model: String,
    pub iccid: String,
    pub applications: Vec<App>,
    pub imsi: String,
    pub mnc_length: usize,
    pub impi: String,
    pub isim_impi: Option<String>,
    pub bsf: String,
    pub services: Services,
    /// Whether the card answers the GBA context (probed with truncated GBA data, which
    /// changes nothing): "supported", "not supported (SW)", or "unknown (SW)".
    pub gba_context: String,
    pub gbabp: Gbabp,
    pub gbanl: Vec<GbanlEntry>,
    pub naf_key_centers: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct App {
    pub aid: String,
    pub label: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Services {
    pub gsm_access: bool,
    pub gba: bool,
    pub gba_local_key_establishment: bool,
    pub ust: Vec<u16>,
}

#[derive(Debug, Serialize)]
pub struct Gbabp {
    pub rand: Option<String>,
    pub b_tid: Option<String>,
    pub lifetime: Option<String>,
    /// Whether the lifetime has passed (None when there is no lifetime or it does not parse).
    pub expired: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct GbanlEntry {
    pub record: u8,
    pub naf_fqdn: String,
    pub ua_protocol: String,
    pub b_tid: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Read and decode what the card holds.
pub fn info(s: &mut Session) -> Result<Info, CmdError> {
    let pin = s.pin.clone();
    let label = s.label.clone();
    let atr = s.atr()?;
    let mut info = s.with_card(|u| info_locked(u, pin.as_deref(), label))?;
    info.model = s.with_card(|u| recognise(u, &atr))?;
    info.atr = gbau_core::apdu::spaced_hex(&atr);
    Ok(info)
}

/// Name the card model from its ATR and confirm it by the model's proprietary files
/// (`gbau_core::sysmo`): SELECT only, nothing read.
fn recognise(u: &mut LockedUsim<'_>, atr: &[u8]) -> Result<String, CmdError> {
    use gbau_core::sysmo::{self, AtrMatch, Model};
    let mut present = |path: &[u16], in_usim: bool| -> Result<bool, CmdError> {
        let first = if in_usim {
            crate::usim::apdus::select_aid(&ef::USIM_AID_PREFIX)
        } else {
            crate::usim::apdus::select_fid(ef::MF)
        };
        if !u.send(&first)?.sw.is_ok() {
            return Ok(false);
        }
        for fid in path {
            if !u.send(&crate::usim::apdus::select_fid(*fid))?.sw.is_ok() {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let sja_files = present(&[sysmo::EF_USIM_AUTH_KEY], true)?
        && present(&[sysmo::EF_USIM_SQN], true)?
        && present(&[sysmo::DF_SYSTEM, sysmo::EF_MILENAGE_CFG], false)?;
    let sjs1_files = present(&[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_AUTH], false)?;
    let files = match (sja_files, sjs1_files) {
        (true, _) => "files AF20, AF30, A515/6F21 present",
        (false, true) => "file 7FCC/6F00 present",
        (false, false) => "no sysmo key files",
    };
    let soft = gbau_card::card::is_soft_atr(atr);
    Ok(match sysmo::model_by_atr(atr) {
        AtrMatch::Exact(m) => {
            let agrees = if m == Model::Sjs1 {
                sjs1_files
            } else {
                sja_files
            };
            let gba = if m.has_gba_files() {
                ""
            } else {
                "; no GBA_U: gbau uses GBA_ME"
            };
            if agrees {
                format!("{} (by ATR; {files}{gba})", m.name())
            } else {
                format!(
                    "{} by ATR, but {files}: not the model's file layout",
                    m.name()
                )
            }
        }
        AtrMatch::SjaFamily => {
            format!("a sysmoISIM-SJA variant not listed by gbau (by ATR; {files})")
        }
        AtrMatch::Unknown if soft => "gbau soft card".into(),
        AtrMatch::Unknown => format!("unknown ({files})"),
    })
}

fn info_locked(u: &mut LockedUsim<'_>, pin: Option<&str>, card: String) -> Result<Info, CmdError> {
    let iccid = u.iccid()?;
    let apps = u.applications()?;
    ready(u, pin)?;
    let imsi = u.imsi()?;
    let mnc = u.mnc_length()?;
    let ust = u.ust()?;
    let gba_context = probe_gba(u)?;
    let gbabp = u.gbabp()?;
    let gbanl = u.gbanl()?;
    let nafkca = u.naf_key_centers()?;
    let isim_impi = match apps
        .iter()
        .find(|a| a.aid.starts_with(&ef::ISIM_AID_PREFIX))
    {
        Some(a) => {
            let impi = u.isim_impi(&a.aid)?;
            u.select_usim()?;
            impi
        }
        None => None,
    };
    let lifetime = (!gbabp.lifetime.is_empty()).then(|| gbabp.lifetime.clone());
    Ok(Info {
        card,
        atr: String::new(),
        model: String::new(),
        iccid,
        applications: apps
            .iter()
            .map(|a| App {
                aid: to_hex(&a.aid),
                label: a.label.clone(),
            })
            .collect(),
        imsi: imsi.to_string(),
        mnc_length: mnc.digits(),
        impi: imsi.impi(mnc).to_string(),
        isim_impi,
        bsf: imsi.bsf_fqdn(mnc),
        services: Services {
            gsm_access: ef::service_available(&ust, ef::SERVICE_GSM_ACCESS),
            gba: ef::service_available(&ust, ef::SERVICE_GBA),
            gba_local_key_establishment: ef::service_available(&ust, ef::SERVICE_GBA_LOCAL_KEY),
            ust: ef::services_on(&ust),
        },
        gba_context,
        gbabp: Gbabp {
            rand: gbabp.rand.map(|r| to_hex(&r.0)),
            b_tid: (!gbabp.b_tid.is_empty()).then(|| gbabp.b_tid.clone()),
            expired: lifetime
                .as_deref()
                .and_then(gbau_core::time::parse_utc)
                .map(|t| t <= unix_now()),
            lifetime,
        },
        gbanl: gbanl
            .into_iter()
            .map(|(record, e)| {
                let id = NafId::from_bytes(&e.naf_id).ok();
                GbanlEntry {
                    record,
                    naf_fqdn: id
                        .as_ref()
                        .map_or_else(|| to_hex(&e.naf_id), |i| i.fqdn().to_owned()),
                    ua_protocol: id.map_or_else(String::new, |i| to_hex(&i.ua_protocol().0)),
                    b_tid: e.b_tid,
                }
            })
            .collect(),
        naf_key_centers: nafkca,
    })
}

/// Probe the GBA context with truncated bootstrapping data: a card that does GBA rejects the
/// data ('6700'/'6A80'); one that does not rejects the context ('9864', '6A86', '6D00').
/// Nothing on the card changes either way.
pub(crate) fn probe_gba(u: &mut LockedUsim<'_>) -> Result<String, CmdError> {
    use gbau_core::StatusWord as Sw;
    let r = u.send(
        &CommandApdu::new(0x00, 0x88, 0x00, 0x84)
            .with_data(vec![0xDD])
            .with_ne(256),
    )?;
    Ok(match r.sw {
        Sw::WrongLength | Sw::IncorrectData => "supported".to_owned(),
        Sw::SecurityContextNotSupported
        | Sw::IncorrectP1P2
        | Sw::InsNotSupported
        | Sw::WrongParameters => format!("not supported ({:04X})", u16::from(r.sw)),
        sw => format!("unknown ({:04X})", u16::from(sw)),
    })
}

impl std::fmt::Display for Info {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let yn = |b: bool| if b { "yes" } else { "no" };
        writeln!(f, "card          {}", self.card)?;
        writeln!(f, "ATR           {}", self.atr)?;
        writeln!(f, "model         {}", self.model)?;
        writeln!(f, "ICCID         {}", self.iccid)?;
        for a in &self.applications {
            writeln!(
                f,
                "application   {} {}",
                a.aid,
                a.label.as_deref().unwrap_or("")
            )?;
        }
        writeln!(
            f,
            "IMSI          {} (MNC length {})",
            self.imsi, self.mnc_length
        )?;
        writeln!(f, "IMPI          {} (derived from the IMSI)", self.impi)?;
        if let Some(i) = &self.isim_impi {
            writeln!(f, "ISIM IMPI     {i}")?;
        }
        writeln!(f, "BSF           {}", self.bsf)?;
        writeln!(
            f,
            "services      GBA (68): {}, GBA local key establishment (76): {}, GSM access (27): {}",
            yn(self.services.gba),
            yn(self.services.gba_local_key_establishment),
            yn(self.services.gsm_access)
        )?;
        writeln!(f, "GBA context   {}", self.gba_context)?;
        match &self.gbabp.rand {
            None => writeln!(f, "EF_GBABP      empty (no bootstrap yet)")?,
            Some(r) => {
                writeln!(f, "EF_GBABP      RAND {r}")?;
                writeln!(
                    f,
                    "              B-TID {}",
                    self.gbabp.b_tid.as_deref().unwrap_or("(not written)")
                )?;
                let state = match self.gbabp.expired {
                    Some(true) => " (expired)",
                    Some(false) => " (valid)",
                    None => "",
                };
                writeln!(
                    f,
                    "              lifetime {}{state}",
                    self.gbabp.lifetime.as_deref().unwrap_or("(not written)")
                )?;
            }
        }
        if self.gbanl.is_empty() {
            writeln!(f, "EF_GBANL      no NAF keys")?;
        }
        for e in &self.gbanl {
            writeln!(
                f,
                "EF_GBANL #{}   {} (Ua {}) B-TID {}",
                e.record, e.naf_fqdn, e.ua_protocol, e.b_tid
            )?;
        }
        for k in &self.naf_key_centers {
            writeln!(f, "NAF Key Center {k}")?;
        }
        Ok(())
    }
}

/// One exchange of `gbau apdu`.
#[derive(Debug, Serialize)]
pub struct ApduResult {
    pub command: String,
    pub data: String,
    pub sw: String,
    pub meaning: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded: Option<String>,
}

/// Decode a response for display: FCP or AUTHENTICATE answers.
#[must_use]
pub fn decode_response(cmd: &[u8], r: &ResponseApdu) -> Option<String> {
    match cmd.get(1) {
        Some(0xA4 | 0xF2) => crate::decode::fcp(&r.data).map(|f| f.to_string()),
        Some(0x88) => crate::decode::auth_response(&r.data),
        _ => None,
    }
}

/// Send raw APDUs (hex), following 61xx/6Cxx unless `raw`.
pub fn apdu(s: &mut Session, apdus: &[String], raw: bool) -> Result<Vec<ApduResult>, CmdError> {
    let mut out = Vec::new();
    for (i, text) in apdus.iter().enumerate() {
        let bytes =
            parse_hex(text).map_err(|e| UsageError::new("APDU", format!("#{}: {e}", i + 1)))?;
        let cmd = CommandApdu::parse(&bytes)
            .map_err(|e| UsageError::new("APDU", format!("#{}: {e}", i + 1)))?;
        let r = s.with_card(|u| -> Result<ResponseApdu, CmdError> {
            if raw {
                let resp = u.transport().transmit(&bytes).map_err(UsimError::from)?;
                ResponseApdu::parse(&resp).map_err(|e| CmdError::Script(e.to_string()))
            } else {
                Ok(u.send(&cmd)?)
            }
        })?;
        out.push(ApduResult {
            command: spaced_hex(&bytes),
            data: spaced_hex(&r.data),
            sw: format!("{:04X}", u16::from(r.sw)),
            meaning: r.sw.meaning(),
            decoded: decode_response(&bytes, &r),
        });
    }
    Ok(out)
}

/// `gbau run`: run a script; the transcript on success, a diff on the first mismatch.
pub fn run(
    s: &mut Session,
    script: &Path,
    vars: &[(String, String)],
) -> Result<Vec<gbau_core::script::Exchange>, CmdError> {
    let mut all: BTreeMap<String, String> = s.script_vars();
    all.extend(vars.iter().cloned());
    s.with_card(|u| {
        let t = u.transport();
        let mut tx = |raw: &[u8]| t.transmit(raw);
        gbau_card::scripts::run_file(&mut tx, script, all)
            .map_err(|e| CmdError::Script(e.to_string()))
    })
}

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

impl From<crate::ub::UbError> for CmdError {
    fn from(e: crate::ub::UbError) -> Self {
        match e {
            crate::ub::UbError::Card(c) => Self::Usim(c),
            other => Self::Ub(other.to_string()),
        }
    }
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
        let b_tid = u.gbabp()?.b_tid;
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
            crate::ub::GbaMode::GbaU => u.gbabp()?.b_tid,
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
        // Which variant of the inputs gives the expected key?
        let mut impis: Vec<(String, Impi)> = Vec::new();
        for (label, mnc) in [
            ("MNC length 2", MncLength::Two),
            ("MNC length 3", MncLength::Three),
        ] {
            impis.push((
                format!("IMPI form {} ({label})", imsi.impi(mnc)),
                imsi.impi(mnc),
            ));
        }
        if let Ok(i) = Impi::new(&imsi.to_string()) {
            impis.push((format!("IMPI form {imsi} (bare IMSI)"), i));
        }
        let mut fqdns = vec![
            naf_fqdn.to_owned(),
            naf_fqdn.to_lowercase(),
            naf_fqdn.to_uppercase(),
        ];
        fqdns.dedup();
        let uas = [
            UaProtocolId::HTTP_DIGEST,
            UaProtocolId::UNSPECIFIED,
            UaProtocolId::SUBSCRIBER_CERTIFICATES,
            UaProtocolId::TMPI,
            ua,
        ];
        let mut rands = vec![rand];
        rands.extend(rand_given);
        let mut found = false;
        'search: for r in &rands {
            for (ilabel, i) in
                std::iter::once(("the IMPI used".to_owned(), impi.clone())).chain(impis.clone())
            {
                for f in &fqdns {
                    for u in uas {
                        let Ok(n) = NafId::new(f, u) else { continue };
                        if calc(r, &i, &n).is_some_and(|k| *k.expose() == e) {
                            let mut what = Vec::new();
                            if *r != rand {
                                what.push(format!(
                                    "RAND {} (not the card's current one: stale)",
                                    to_hex(&r.0)
                                ));
                            }
                            if i != impi {
                                what.push(ilabel.clone());
                            }
                            if f != naf_fqdn {
                                what.push(format!("NAF FQDN {f:?} (case differs)"));
                            }
                            if u != ua {
                                what.push(format!(
                                    "Ua protocol id {} ({})",
                                    to_hex(&u.0),
                                    u.describe()
                                ));
                            }
                            diagnosis.push(format!(
                                "the expected key is Ks_ext_NAF with: {}",
                                if what.is_empty() {
                                    "the same inputs".into()
                                } else {
                                    what.join(", ")
                                }
                            ));
                            found = true;
                            break 'search;
                        }
                    }
                }
            }
        }
        if !found {
            diagnosis.push("no variant of IMPI form, FQDN case, Ua protocol id or RAND gives the expected key: check which Ks the NAF side used (GBA_ME Ks_NAF needs CK/IK from the plain AUTN)".into());
        }
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
