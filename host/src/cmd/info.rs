//! `gbau info`: read and decode what the card holds, name its model, probe the GBA context.

use std::time::{SystemTime, UNIX_EPOCH};

use gbau_core::ef;
use gbau_core::hexutil::to_hex;
use gbau_core::identity::NafId;
use gbau_core::CommandApdu;
use serde::Serialize;

use crate::error::CmdError;
use crate::session::{ready, LockedUsim, Session};

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
    /// The mandatory files of ADF.USIM (TS 31.102 §4.2) and DF_GSM-ACCESS: present or not,
    /// their READ/UPDATE rules from EF.ARR, and a short decoding of the location and PLMN
    /// files.
    pub usim_files: Vec<UsimFile>,
}

/// One mandatory file as the card shows it.
#[derive(Debug, Serialize)]
pub struct UsimFile {
    pub name: &'static str,
    pub fid: String,
    pub present: bool,
    /// Who may read it, per its EF.ARR record ("PIN1 or ADM1"); `None` when the card has
    /// no ADF-level EF.ARR or the record does not decode.
    pub read: Option<String>,
    pub update: Option<String>,
    /// A short decoding of the content, for the files that have one and can be read now.
    pub content: Option<String>,
}

/// How `gbau info` shows a mandatory file's content.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    /// Not shown (shown elsewhere, or keys).
    Nothing,
    /// The decoded content (`gbau_core::ef_codec`, the decoders the REPL shows).
    Decoded,
    /// A DF: presence only (an AM byte means other operations for a DF than READ/UPDATE).
    Directory,
}

/// The files `gbau info` checks, in ADF.USIM (TS 31.102 §4.2, §4.4.3).
const USIM_FILES: [(&str, u16, Show); 16] = [
    ("EF_IMSI", ef::EF_IMSI, Show::Nothing),
    ("EF_Keys", ef::EF_KEYS, Show::Nothing),
    ("EF_KeysPS", ef::EF_KEYS_PS, Show::Nothing),
    ("EF_HPPLMN", ef::EF_HPPLMN, Show::Decoded),
    ("EF_UST", ef::EF_UST, Show::Nothing),
    ("EF_ACC", ef::EF_ACC, Show::Decoded),
    ("EF_FPLMN", ef::EF_FPLMN, Show::Decoded),
    ("EF_LOCI", ef::EF_LOCI, Show::Decoded),
    ("EF_AD", ef::EF_AD, Show::Nothing),
    ("EF_ECC", ef::EF_ECC, Show::Decoded),
    ("EF_PSLOCI", ef::EF_PSLOCI, Show::Decoded),
    ("EF_START-HFN", ef::EF_START_HFN, Show::Decoded),
    ("EF_THRESHOLD", ef::EF_THRESHOLD, Show::Decoded),
    ("EF_ARR", ef::EF_ARR_ADF, Show::Nothing),
    ("EF_NETPAR", ef::EF_NETPAR, Show::Nothing),
    ("DF_GSM-ACCESS", ef::DF_GSM_ACCESS, Show::Directory),
];

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
    // A card without GBA files (the SJS1 as dumped: 6A82) shows them empty.
    let gbabp = absent_as_empty(u.gbabp())?;
    let gbanl = absent_as_empty(u.gbanl())?;
    let nafkca = absent_as_empty(u.naf_key_centers())?;
    let usim_files = usim_files(u)?;
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
        usim_files,
    })
}

/// The mandatory files of the selected ADF.USIM; leaves the ADF selected.
fn usim_files(u: &mut LockedUsim<'_>) -> Result<Vec<UsimFile>, CmdError> {
    use crate::usim::{apdus, UsimError};
    let arr = match u.records("READ EF_ARR", ef::EF_ARR_ADF) {
        Ok(records) => records,
        Err(UsimError::Status { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::with_capacity(USIM_FILES.len());
    for (name, fid, show) in USIM_FILES {
        u.send(&apdus::select_fid(ef::CURRENT_ADF))?;
        let r = u.send(&apdus::select_fid(fid))?;
        let present = r.sw.is_ok();
        let rules = crate::decode::arr_reference(&r.data)
            .filter(|(arr_fid, _)| *arr_fid == ef::EF_ARR_ADF && !matches!(show, Show::Directory))
            .and_then(|(_, n)| arr.get(usize::from(n).checked_sub(1)?))
            .and_then(|record| gbau_core::arr::decode_record(record).ok());
        let rule = |mode| {
            rules
                .as_deref()
                .and_then(|r| gbau_core::arr::condition_for(r, mode))
                .map(ToString::to_string)
        };
        let size = crate::decode::fcp(&r.data).and_then(|f| f.size);
        let content = match (present, size) {
            (true, Some(size)) => show_content(u, show, fid, size)?,
            _ => None,
        };
        out.push(UsimFile {
            name,
            fid: format!("{fid:04X}"),
            present,
            read: rule(gbau_core::arr::AccessModes::READ),
            update: rule(gbau_core::arr::AccessModes::UPDATE),
            content,
        });
    }
    u.send(&apdus::select_fid(ef::CURRENT_ADF))?;
    Ok(out)
}

/// A short decoding of the selected file's content by `gbau_core::ef_codec`; `None` when it
/// is not shown or cannot be read now.
fn show_content(
    u: &mut LockedUsim<'_>,
    show: Show,
    fid: u16,
    size: usize,
) -> Result<Option<String>, CmdError> {
    use gbau_core::ef_codec::{self, Df, Kind};
    let Some(file) = ef_codec::by_fid(Df::Usim, fid).filter(|_| show == Show::Decoded) else {
        return Ok(None);
    };
    if file.kind == Kind::Records {
        let records = match u.records("READ RECORD", fid) {
            Ok(r) => r,
            Err(crate::usim::UsimError::Status { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let items: Vec<String> = records
            .iter()
            .filter_map(|r| file.decode(r)?.ok())
            .filter(|d| !d.empty)
            .map(|d| d.summary())
            .collect();
        return Ok(Some(if items.is_empty() {
            "none".into()
        } else {
            items.join("; ")
        }));
    }
    let r = u.send(&crate::usim::apdus::read_binary(0, size))?;
    if !r.sw.is_ok() {
        return Ok(None);
    }
    Ok(file.decode(&r.data).map(|d| match d {
        Ok(d) => d.summary(),
        Err(e) => e.to_string(),
    }))
}

/// Probe the GBA context with truncated bootstrapping data: a card that does GBA rejects the
/// data ('6700'/'6A80'); one that does not rejects the context ('9864', '6A86', '6D00').
/// Nothing on the card changes either way.
pub fn probe_gba(u: &mut LockedUsim<'_>) -> Result<String, CmdError> {
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
        for file in &self.usim_files {
            if !file.present {
                writeln!(f, "{:<13} {} missing", file.name, file.fid)?;
                continue;
            }
            let rules = match (&file.read, &file.update) {
                (Some(r), Some(u)) => format!(" read {r}, update {u}"),
                _ => String::new(),
            };
            let content = file
                .content
                .as_deref()
                .map_or_else(String::new, |c| format!(": {c}"));
            writeln!(f, "{:<13} {}{rules}{content}", file.name, file.fid)?;
        }
        Ok(())
    }
}

/// A file the card does not have ('6A82') reads as empty.
fn absent_as_empty<T: Default>(
    r: Result<T, crate::usim::UsimError>,
) -> Result<T, crate::usim::UsimError> {
    match r {
        Err(crate::usim::UsimError::Status {
            sw: gbau_core::StatusWord::FileNotFound,
            ..
        }) => Ok(T::default()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::CardOpts;

    #[test]
    fn lists_the_mandatory_usim_files_with_their_arr_rules() {
        let dir = std::env::temp_dir().join(format!("gbau-info-files-{}", std::process::id()));
        let mut s = CardOpts {
            sim: Some(dir.join("card.json")),
            pin: Some("1234".into()),
            ..CardOpts::default()
        }
        .open()
        .unwrap();
        let i = info(&mut s).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(i.usim_files.iter().all(|f| f.present), "{:?}", i.usim_files);
        let file = |name: &str| i.usim_files.iter().find(|f| f.name == name).unwrap();
        let loci = file("EF_LOCI");
        assert_eq!(loci.read.as_deref(), Some("PIN1 or ADM1"));
        assert_eq!(
            loci.content.as_deref(),
            Some("plmn 001-01, lac FFFE, status not updated")
        );
        assert_eq!(file("EF_ECC").read.as_deref(), Some("always"));
        assert_eq!(file("EF_HPPLMN").update.as_deref(), Some("ADM1"));
        assert_eq!(file("DF_GSM-ACCESS").read, None);
        let text = i.to_string();
        assert!(
            text.contains("EF_ARR        6F06 read always, update never"),
            "{text}"
        );
    }
}
