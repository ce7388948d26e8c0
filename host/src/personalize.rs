//! `gbau personalize`: write a card profile to a programmable card (sysmoISIM-SJA2/SJA5,
//! sysmoUSIM-SJS1) or to the soft card with the scripts of `apdu-scripts/personalize/`.
//! A dry run by default (the plan, keys masked); with `--write`: model and file checks, ADM1
//! tries shown and the last one never spent, the scripts, a read-back of everything written,
//! and an AUTHENTICATE that proves the card's keys are the profile's.

use std::collections::{BTreeMap, BTreeSet};

use gbau_card::{Layout, Profile};
use gbau_core::aka::{generate_vector, verify_auts, Amf, Rand};
use gbau_core::ef;
use gbau_core::hexutil::to_hex;
use gbau_core::milenage::Milenage;
use gbau_core::script::{self, PlannedStep};
use gbau_core::sqn::{Sqn, IND_BITS};
use gbau_core::sysmo::{self, AtrMatch, Model};
use gbau_core::{CommandApdu, StatusWord};
use serde::Serialize;

use crate::session::{LockedUsim, Session};
use crate::transport::TransportError;
use crate::usim::{pin_block, AuthOutcome, UsimError};

/// The card model to personalize.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// sysmoISIM-SJA2
    #[default]
    Sja2,
    /// sysmoISIM-SJA5
    Sja5,
    /// sysmoUSIM-SJS1 (no GBA_U: gbau uses GBA_ME with it)
    Sjs1,
    /// gbau's soft card in its standard layout (served with `gbau card serve`)
    Soft,
}

impl Target {
    fn model(self) -> Option<Model> {
        match self {
            Self::Sja2 => Some(Model::Sja2),
            Self::Sja5 => Some(Model::Sja5),
            Self::Sjs1 => Some(Model::Sjs1),
            Self::Soft => None,
        }
    }

    fn name(self) -> &'static str {
        self.model()
            .map_or("gbau soft card (standard layout)", Model::name)
    }

    /// The directory of its scripts under `apdu-scripts/personalize/`.
    fn dir(self) -> &'static str {
        match self {
            Self::Sja2 | Self::Sja5 => "sysmo-isim",
            Self::Sjs1 => "sysmo-usim-sjs1",
            Self::Soft => "soft",
        }
    }
}

macro_rules! scripts {
    ($($name:literal),* $(,)?) => {
        /// The personalization scripts, embedded so the binary needs no checkout.
        pub const SCRIPTS: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../apdu-scripts/personalize/", $name))),)*
        ];
    };
}

scripts!(
    "common/adm1.apdu",
    "common/usim-files.apdu",
    "common/usim-files-read-back.apdu",
    "common/gba-files.apdu",
    "common/gba-files-read-back.apdu",
    "common/isim-files.apdu",
    "common/isim-files-read-back.apdu",
    "sysmo-isim/write.apdu",
    "sysmo-isim/read-back.apdu",
    "sysmo-usim-sjs1/write.apdu",
    "sysmo-usim-sjs1/read-back.apdu",
    "soft/write.apdu",
    "soft/read-back.apdu",
);

/// Resolve `path` relative to the including script, among the embedded scripts.
fn load(including: &str, path: &str) -> Result<(String, String), String> {
    let mut parts: Vec<&str> = including
        .strip_prefix("personalize/")
        .unwrap_or(including)
        .split('/')
        .collect();
    parts.pop();
    for p in path.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            other => parts.push(other),
        }
    }
    let key = parts.join("/");
    SCRIPTS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(name, text)| (format!("personalize/{name}"), (*text).to_owned()))
        .ok_or_else(|| format!("no personalization script {key}"))
}

/// Why personalization stopped.
#[derive(Debug, thiserror::Error)]
pub enum PersonalizeError {
    #[error("the card is not a {wanted}: its ATR {atr} {found}; nothing was written")]
    WrongModel {
        wanted: &'static str,
        atr: String,
        found: String,
    },
    #[error("{file} {problem}; this is not the {model} file model, nothing was written")]
    FileModel {
        model: &'static str,
        file: &'static str,
        problem: String,
    },
    #[error("ADM1 has {0} tries left: gbau does not spend the last one. Check the ADM1 value on the card's carrier; nothing was written")]
    LastAdmTry(u8),
    #[error("ADM1 is blocked (6983): the card cannot be personalized any more")]
    AdmBlocked,
    #[error("ADM1 needed: pass --adm DIGITS or set GBAU_ADM (the 8 digits printed with the card)")]
    AdmMissing,
    #[error("ADM1 must be 8 digits (sysmo cards) or 4 to 8 digits")]
    AdmFormat,
    #[error("{0}")]
    Step(String),
    #[error("the profile does not fit the card: {0}")]
    Profile(String),
    #[error(transparent)]
    Usim(#[from] UsimError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("script: {0}")]
    Script(#[from] script::ScriptError),
}

/// One command of the plan and what happened to it.
#[derive(Debug, Serialize)]
pub struct StepReport {
    /// `file:line`.
    pub at: String,
    /// The command with keys masked.
    pub command: String,
    /// The expected response with keys masked.
    pub expect: Option<String>,
    /// "ok", or what the card answered instead (hidden when it holds keys); absent in a dry run.
    pub outcome: Option<String>,
}

/// The size of a file as the card reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FileShape {
    pub file: &'static str,
    pub size: usize,
    pub record_len: Option<usize>,
    pub records: Option<usize>,
}

/// What `gbau personalize` did.
#[derive(Debug, Serialize)]
pub struct Report {
    pub target: Target,
    pub model: &'static str,
    pub card: Option<String>,
    pub atr: Option<String>,
    pub recognised_as: Option<String>,
    /// ADM1 tries left before anything was presented (`None`: already verified).
    pub adm1_tries_left: Option<u8>,
    pub dry_run: bool,
    pub files: Vec<FileShape>,
    pub steps: Vec<StepReport>,
    /// "all N commands answered as expected" after a write.
    pub read_back: Option<String>,
    /// The AUTHENTICATE check of the keys.
    pub key_check: Option<String>,
    /// What the card does with GBA, and which mode gbau will use.
    pub gba: Option<String>,
    pub notes: Vec<String>,
    /// Why it stopped, when it did.
    pub error: Option<String>,
}

/// Options of `gbau personalize`. `Debug` does not show the ADM1 digits.
#[derive(Clone, Default)]
pub struct Options {
    pub target: Target,
    pub write: bool,
    /// ADM1 digits; the profile's `pins.adm1` when absent.
    pub adm: Option<String>,
    /// Called with the ADM1 tries left just before ADM1 is presented (`None`: verified
    /// already), so a user sees the count before a try can be spent.
    pub announce_adm_tries: Option<fn(Option<u8>)>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("target", &self.target)
            .field("write", &self.write)
            .field("adm", &self.adm.as_ref().map(|_| "(given)"))
            .finish_non_exhaustive()
    }
}

/// Where a file's FID path starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Under {
    Mf,
    Usim,
    Isim,
}

/// A file the model must have: where, and which FIDs to select from there.
struct Wanted {
    name: &'static str,
    under: Under,
    path: &'static [u16],
}

const USIM_FILES: [Wanted; 4] = [
    Wanted {
        name: "EF_IMSI",
        under: Under::Usim,
        path: &[ef::EF_IMSI],
    },
    Wanted {
        name: "EF_AD",
        under: Under::Usim,
        path: &[ef::EF_AD],
    },
    Wanted {
        name: "EF_ACC",
        under: Under::Usim,
        path: &[ef::EF_ACC],
    },
    Wanted {
        name: "EF_UST",
        under: Under::Usim,
        path: &[ef::EF_UST],
    },
];

const GBA_FILES: [Wanted; 3] = [
    Wanted {
        name: "EF_GBABP",
        under: Under::Usim,
        path: &[ef::EF_GBABP],
    },
    Wanted {
        name: "EF_GBANL",
        under: Under::Usim,
        path: &[ef::EF_GBANL],
    },
    Wanted {
        name: "EF_NAFKCA",
        under: Under::Usim,
        path: &[ef::EF_NAFKCA],
    },
];

const SJA_FILES: [Wanted; 8] = [
    Wanted {
        name: "EF_ICCID",
        under: Under::Mf,
        path: &[ef::EF_ICCID],
    },
    Wanted {
        name: "EF.MILENAGE_CFG",
        under: Under::Mf,
        path: &[sysmo::DF_SYSTEM, sysmo::EF_MILENAGE_CFG],
    },
    Wanted {
        name: "EF.USIM_AUTH_KEY",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_AUTH_KEY],
    },
    Wanted {
        name: "EF.USIM_AUTH_KEY_2G",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_AUTH_KEY_2G],
    },
    Wanted {
        name: "EF.USIM_SQN",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_SQN],
    },
    Wanted {
        name: "EF.GBA_SK",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_SK],
    },
    Wanted {
        name: "EF.GBA_REC_LIST",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_REC_LIST],
    },
    Wanted {
        name: "EF.GBA_INT_KEY",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_INT_KEY],
    },
];

const SJS1_FILES: [Wanted; 7] = [
    Wanted {
        name: "EF_ICCID",
        under: Under::Mf,
        path: &[ef::EF_ICCID],
    },
    Wanted {
        name: "EF.AUTH (7FCC/6F00)",
        under: Under::Mf,
        path: &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_AUTH],
    },
    Wanted {
        name: "EF.MLNGC (7FCC/6F01)",
        under: Under::Mf,
        path: &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_MLNGC],
    },
    Wanted {
        name: "Ki (7F20/00FF)",
        under: Under::Mf,
        path: &[sysmo::DF_GSM, sysmo::SJS1_EF_KI],
    },
    Wanted {
        name: "OPc (7F20/00F7)",
        under: Under::Mf,
        path: &[sysmo::DF_GSM, sysmo::SJS1_EF_OPC],
    },
    Wanted {
        name: "SQNC (00FB)",
        under: Under::Usim,
        path: &[sysmo::SJS1_EF_SQNC],
    },
    Wanted {
        name: "SQNA (00FA)",
        under: Under::Usim,
        path: &[sysmo::SJS1_EF_SQNA],
    },
];

const ISIM_FILES: [Wanted; 4] = [
    Wanted {
        name: "EF_IMPI",
        under: Under::Isim,
        path: &[ef::EF_IMPI],
    },
    Wanted {
        name: "EF_DOMAIN",
        under: Under::Isim,
        path: &[ef::EF_DOMAIN],
    },
    Wanted {
        name: "EF_IMPU",
        under: Under::Isim,
        path: &[ef::EF_IMPU],
    },
    Wanted {
        name: "EF_IST",
        under: Under::Isim,
        path: &[ef::EF_IST],
    },
];

/// Whether the ISIM files are written: the profile has an ISIM and the model one too (the
/// SJS1 is a USIM only).
fn with_isim(profile: &Profile, target: Target) -> bool {
    profile.isim.is_some() && target != Target::Sjs1
}

fn wanted(target: Target, isim: bool) -> Vec<&'static Wanted> {
    let model: &'static [Wanted] = match target {
        Target::Sja2 | Target::Sja5 => &SJA_FILES,
        Target::Sjs1 => &SJS1_FILES,
        Target::Soft => &[],
    };
    let isim: &'static [Wanted] = if isim { &ISIM_FILES } else { &[] };
    let gba: &'static [Wanted] = if target == Target::Sjs1 {
        &[]
    } else {
        &GBA_FILES
    };
    model
        .iter()
        .chain(USIM_FILES.iter())
        .chain(gba)
        .chain(isim)
        .collect()
}

fn select_ok(
    u: &mut LockedUsim<'_>,
    cmd: &CommandApdu,
) -> Result<Result<Vec<u8>, StatusWord>, UsimError> {
    let r = u.send(cmd)?;
    Ok(if r.sw.is_ok() { Ok(r.data) } else { Err(r.sw) })
}

/// SELECT each file the model must have and read its size from the FCP.
fn probe_files(
    u: &mut LockedUsim<'_>,
    target: Target,
    isim: bool,
) -> Result<BTreeMap<&'static str, FileShape>, PersonalizeError> {
    let mut out = BTreeMap::new();
    for w in wanted(target, isim) {
        let missing = |problem: String| PersonalizeError::FileModel {
            model: target.name(),
            file: w.name,
            problem,
        };
        let start = match w.under {
            Under::Usim => crate::usim::apdus::select_aid(&ef::USIM_AID_PREFIX),
            Under::Isim => crate::usim::apdus::select_aid(&ef::ISIM_AID_PREFIX),
            Under::Mf => crate::usim::apdus::select_fid(ef::MF),
        };
        select_ok(u, &start)?
            .map_err(|sw| missing(format!("cannot be reached: SELECT answered {sw}")))?;
        let mut fcp = Vec::new();
        for fid in w.path {
            fcp = select_ok(u, &crate::usim::apdus::select_fid(*fid))?
                .map_err(|sw| missing(format!("is missing: SELECT {fid:04X} answered {sw}")))?;
        }
        let d = crate::decode::fcp(&fcp)
            .ok_or_else(|| missing("answered SELECT without an FCP".into()))?;
        let size = d
            .size
            .ok_or_else(|| missing("has no file size in its FCP".into()))?;
        out.insert(
            w.name,
            FileShape {
                file: w.name,
                size,
                record_len: d.record_len,
                records: d.records,
            },
        );
    }
    Ok(out)
}

/// The shapes a card made from the profile would have (dry run without a card).
fn assumed_shapes(profile: &Profile, target: Target) -> BTreeMap<&'static str, FileShape> {
    let mut p = profile.clone();
    p.layout = match target {
        Target::Sja2 => Layout::Sja2,
        Target::Sja5 => Layout::Sja5,
        _ => Layout::Standard,
    };
    let mut out = BTreeMap::new();
    let Ok((tree, _)) = gbau_card::fs::build(&p) else {
        return out;
    };
    let usim = tree.adf(gbau_card::fs::App::Usim);
    let isim = tree.adf(gbau_card::fs::App::Isim);
    for w in wanted(target, with_isim(profile, target)) {
        let mut at = match w.under {
            Under::Usim => usim,
            Under::Isim => isim,
            Under::Mf => Some(gbau_card::fs::MF_INDEX),
        };
        for fid in w.path {
            at = at.and_then(|df| tree.child(df, *fid));
        }
        let shape = match at.map(|i| &tree.nodes[i].kind) {
            Some(gbau_card::fs::NodeKind::Ef {
                structure, size, ..
            }) => {
                let rl = match structure {
                    gbau_card::fs::Structure::LinearFixed { record_len } => Some(*record_len),
                    gbau_card::fs::Structure::Transparent => None,
                };
                FileShape {
                    file: w.name,
                    size: *size,
                    record_len: rl,
                    records: rl.map(|l| size / l.max(1)),
                }
            }
            // SJS1 files the soft card does not have: the sizes the scripts write.
            _ => FileShape {
                file: w.name,
                size: sjs1_size(w.name),
                record_len: None,
                records: None,
            },
        };
        out.insert(w.name, shape);
    }
    out
}

fn sjs1_size(name: &str) -> usize {
    match name {
        "EF.AUTH (7FCC/6F00)" => 2,
        "EF.MLNGC (7FCC/6F01)" => sysmo::MILENAGE_CFG_SIZE,
        "Ki (7F20/00FF)" => 16,
        "OPc (7F20/00F7)" => 17,
        "SQNC (00FB)" => 15,
        "SQNA (00FA)" => 6 << IND_BITS,
        _ => 0,
    }
}

/// ADM1 tries left (VERIFY without data, TS 102 221 §11.1.9): `None` when already verified.
fn adm_tries(u: &mut LockedUsim<'_>) -> Result<Option<u8>, PersonalizeError> {
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

fn hex_len(n: usize) -> Result<String, PersonalizeError> {
    u8::try_from(n)
        .map(|b| format!("{b:02X}"))
        .map_err(|_| PersonalizeError::Profile(format!("{n} bytes do not fit one command")))
}

/// The length byte for writing a whole file of `size` bytes in one command.
fn file_len(target: Target, file: &'static str, size: usize) -> Result<String, PersonalizeError> {
    if size == 0 || size > 255 {
        return Err(PersonalizeError::FileModel {
            model: target.name(),
            file,
            problem: format!(
                "is {size} bytes; gbau writes and reads files of 1 to 255 bytes in one command"
            ),
        });
    }
    hex_len(size)
}

fn shape<'a>(
    shapes: &'a BTreeMap<&'static str, FileShape>,
    name: &'static str,
) -> Result<&'a FileShape, PersonalizeError> {
    shapes
        .get(name)
        .ok_or_else(|| PersonalizeError::Profile(format!("{name} was not probed")))
}

/// Check a file's shape against what the scripts write.
fn require(
    target: Target,
    file: &'static str,
    ok: bool,
    problem: impl FnOnce() -> String,
) -> Result<(), PersonalizeError> {
    if ok {
        Ok(())
    } else {
        Err(PersonalizeError::FileModel {
            model: target.name(),
            file,
            problem: problem(),
        })
    }
}

fn records(
    target: Target,
    shapes: &BTreeMap<&'static str, FileShape>,
    name: &'static str,
) -> Result<(usize, usize), PersonalizeError> {
    let s = shape(shapes, name)?;
    match (s.record_len, s.records) {
        (Some(l), Some(n)) if l > 0 && l <= 255 && n > 0 && n <= 255 => Ok((l, n)),
        _ => Err(PersonalizeError::FileModel {
            model: target.name(),
            file: name,
            problem: "is not a linear fixed file of 1 to 255 records of 1 to 255 bytes".into(),
        }),
    }
}

/// The script variables for a profile and a card's file shapes, and which are secret.
pub fn variables(
    profile: &Profile,
    target: Target,
    shapes: &BTreeMap<&'static str, FileShape>,
    card: &CardTables,
    adm: &[u8; 8],
) -> Result<(BTreeMap<String, String>, BTreeSet<String>), PersonalizeError> {
    let mut v = BTreeMap::new();
    let mut set = |k: &str, val: String| {
        v.insert(k.to_owned(), val);
    };
    let bad = |e: ef::EfError| PersonalizeError::Profile(e.to_string());
    set("adm1", to_hex(adm));
    set("imsi_ef", to_hex(&ef::encode_imsi(&profile.imsi)));
    let ad_size = shape(shapes, "EF_AD")?.size;
    require(target, "EF_AD", (4..=255).contains(&ad_size), || {
        format!("is {ad_size} bytes; gbau writes the MNC length, byte 4")
    })?;
    let mut ad = ef::encode_ad(profile.mnc_length);
    ad.resize(ad_size.min(ad.len()), 0);
    set("ad_len", hex_len(ad.len())?);
    set("ad", to_hex(&ad));
    set("acc", to_hex(&ef::encode_acc(&profile.imsi)));
    let ust_size = shape(shapes, "EF_UST")?.size;
    file_len(target, "EF_UST", ust_size)?;
    let mut ust = ef::encode_service_table("EF_UST", &profile.services, ust_size).map_err(bad)?;
    if let Some(theirs) = &card.ust {
        for (mine, theirs) in ust.iter_mut().zip(theirs) {
            *mine |= theirs;
        }
    }
    if target == Target::Sjs1 {
        // The SJS1 does not do GBA_U: services 68/76 would send the MT to a GBA context the
        // card does not have. Without them the MT runs GBA_ME.
        for service in [ef::SERVICE_GBA, ef::SERVICE_GBA_LOCAL_KEY] {
            let (byte, bit) = (usize::from(service - 1) / 8, (service - 1) % 8);
            if let Some(b) = ust.get_mut(byte) {
                *b &= !(1u8 << bit);
            }
        }
    }
    set("ust_len", hex_len(ust.len())?);
    set("ust", to_hex(&ust));
    if target != Target::Sjs1 {
        let gbabp = shape(shapes, "EF_GBABP")?.size;
        set("gbabp_len", file_len(target, "EF_GBABP", gbabp)?);
        set("gbabp", "FF".repeat(gbabp));
        let (gbanl_len, gbanl_count) = records(target, shapes, "EF_GBANL")?;
        set("gbanl_len", hex_len(gbanl_len)?);
        set("gbanl_count", gbanl_count.to_string());
        set("gbanl_empty", "FF".repeat(gbanl_len));
        let (kca_len, kca_count) = records(target, shapes, "EF_NAFKCA")?;
        let kcs = &profile.gba.naf_key_centers;
        require(target, "EF_NAFKCA", kcs.len() <= kca_count, || {
            format!(
                "has {kca_count} records; the profile names {} NAF Key Centers",
                kcs.len()
            )
        })?;
        set("nafkca_len", hex_len(kca_len)?);
        set("nafkca_count", kca_count.to_string());
        for n in 1..=kca_count {
            let record = match kcs.get(n - 1) {
                Some(fqdn) => ef::encode_tagged_text("EF_NAFKCA", fqdn, kca_len).map_err(bad)?,
                None => vec![0xFF; kca_len],
            };
            set(&format!("nafkca_{n:02X}"), to_hex(&record));
        }
    }
    if let Some(isim) = profile.isim.as_ref().filter(|_| with_isim(profile, target)) {
        for (var, name, text) in [
            ("impi", "EF_IMPI", &isim.impi),
            ("domain", "EF_DOMAIN", &isim.domain),
        ] {
            let size = shape(shapes, name)?.size;
            set(&format!("{var}_len"), file_len(target, name, size)?);
            set(
                &format!("{var}_ef"),
                to_hex(&ef::encode_tagged_text(name, text, size).map_err(bad)?),
            );
        }
        let (impu_len, impu_count) = records(target, shapes, "EF_IMPU")?;
        require(target, "EF_IMPU", isim.impu.len() <= impu_count, || {
            format!(
                "has {impu_count} records; the profile names {} IMPUs",
                isim.impu.len()
            )
        })?;
        set("impu_len", hex_len(impu_len)?);
        set("impu_count", impu_count.to_string());
        for n in 1..=impu_count {
            let record = match isim.impu.get(n - 1) {
                Some(uri) => ef::encode_tagged_text("EF_IMPU", uri, impu_len).map_err(bad)?,
                None => vec![0xFF; impu_len],
            };
            set(&format!("impu_{n:02X}"), to_hex(&record));
        }
        let ist_size = shape(shapes, "EF_IST")?.size;
        file_len(target, "EF_IST", ist_size)?;
        let mut ist = ef::encode_service_table("EF_IST", &isim.services, ist_size).map_err(bad)?;
        if let Some(theirs) = &card.ist {
            for (mine, theirs) in ist.iter_mut().zip(theirs) {
                *mine |= theirs;
            }
        }
        set("ist_len", hex_len(ist.len())?);
        set("ist", to_hex(&ist));
    }
    set(
        "iccid_ef",
        to_hex(&ef::encode_iccid(&profile.iccid).map_err(bad)?),
    );
    set("k", to_hex(profile.k.expose()));
    set("opc", to_hex(profile.opc.expose()));
    set("sqn_array", "00".repeat(6 << IND_BITS));
    match target {
        Target::Sja2 | Target::Sja5 => {
            let auth = sysmo::encode_auth_key_milenage(profile.k.expose(), profile.opc.expose());
            set("auth_cfg", format!("{:02X}", auth[0]));
            set(
                "milenage_cfg",
                to_hex(&sysmo::encode_milenage_cfg(&profile.milenage)),
            );
            for (name, min) in [
                ("EF.USIM_AUTH_KEY", sysmo::AUTH_KEY_SIZE),
                ("EF.USIM_AUTH_KEY_2G", sysmo::AUTH_KEY_SIZE),
                ("EF.MILENAGE_CFG", sysmo::MILENAGE_CFG_SIZE),
            ] {
                let size = shape(shapes, name)?.size;
                require(target, name, size >= min, || {
                    format!("is {size} bytes, less than the {min} gbau writes")
                })?;
            }
            let sqn_size = shape(shapes, "EF.USIM_SQN")?.size;
            require(
                target,
                "EF.USIM_SQN",
                sqn_size == sysmo::USIM_SQN_SIZE,
                || {
                    format!(
                        "is {sqn_size} bytes; gbau writes the {}-byte layout of 5 IND bits",
                        sysmo::USIM_SQN_SIZE
                    )
                },
            )?;
            let sqn = sysmo::SqnFile::reset(profile.sqn_policy).encode();
            set("sqn_len", hex_len(sqn.len())?);
            set("sqn_params", to_hex(&sqn[..14]));
            for name in ["EF.GBA_SK", "EF.GBA_REC_LIST"] {
                let size = shape(shapes, name)?.size;
                let key = if name == "EF.GBA_SK" {
                    "gba_sk"
                } else {
                    "gba_rec_list"
                };
                set(&format!("{key}_len"), file_len(target, name, size)?);
                set(&format!("{key}_empty"), "FF".repeat(size));
            }
            let (len, count) = records(target, shapes, "EF.GBA_INT_KEY")?;
            require(
                target,
                "EF.GBA_INT_KEY",
                len == sysmo::GBA_INT_KEY_RECORD_LEN,
                || format!("has {len}-byte records, not 32"),
            )?;
            set("gba_int_key_count", count.to_string());
            set("gba_int_key_empty", "FF".repeat(len));
        }
        Target::Sjs1 => {
            set(
                "sjs1_algorithms",
                to_hex(&[sysmo::SJS1_ALGO_MILENAGE, sysmo::SJS1_ALGO_MILENAGE]),
            );
            set(
                "sjs1_mlngc",
                to_hex(&sysmo::encode_sjs1_mlngc(&profile.milenage)),
            );
            let (flags, limits) = sysmo::encode_sjs1_sqnc(profile.sqn_policy);
            set("sjs1_sqnc_flags", format!("{flags:02X}"));
            set("sjs1_sqnc_limits", to_hex(&limits));
            for (name, min) in [
                ("SQNC (00FB)", 15),
                ("SQNA (00FA)", 6 << IND_BITS),
                ("EF.MLNGC (7FCC/6F01)", sysmo::MILENAGE_CFG_SIZE),
                ("OPc (7F20/00F7)", 17),
                ("Ki (7F20/00FF)", 16),
            ] {
                let size = shape(shapes, name)?.size;
                require(target, name, size >= min, || {
                    format!("is {size} bytes, less than the {min} gbau writes")
                })?;
            }
        }
        Target::Soft => {}
    }
    let secrets = ["adm1", "k", "opc", "milenage_cfg", "sjs1_mlngc"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok((v, secrets))
}

/// The three parts of a personalization: VERIFY ADM1, the model's writes, the read-back.
type Plan = (Vec<PlannedStep>, Vec<PlannedStep>, Vec<PlannedStep>);

/// The plan: (ADM1 verify when writing,) the model's write script and the ISIM's, their
/// read-back.
fn plan(
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

fn step_report(s: &PlannedStep) -> StepReport {
    StepReport {
        at: format!("{}:{}", s.file, s.line),
        command: s.shown.clone(),
        expect: s.expect.as_ref().map(|e| e.shown.clone()),
        outcome: None,
    }
}

/// Run planned steps; the first response that does not match stops everything.
fn execute(
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

/// The card's service tables, merged with the profile's services (gbau only adds).
#[derive(Debug, Default, Clone)]
pub struct CardTables {
    pub ust: Option<Vec<u8>>,
    pub ist: Option<Vec<u8>>,
}

/// Read the card's EF_UST (and EF_IST) when they can be read now.
fn read_tables(u: &mut LockedUsim<'_>, isim: bool) -> Result<CardTables, PersonalizeError> {
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
fn key_check(
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

fn adm_block(
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
    let adm = adm_block(opts, profile, target)?;
    let Some(session) = session else {
        let shapes = assumed_shapes(profile, target);
        let (vars, secrets) = variables(profile, target, &shapes, &CardTables::default(), &adm)?;
        let (a, w, r) = plan(target, with_isim(profile, target), &vars, &secrets)?;
        report.files = shapes.into_values().collect();
        report.steps = a.iter().chain(&w).chain(&r).map(step_report).collect();
        report.notes.push("no card given (--reader): file sizes assumed from the profile, EF_UST from the profile's services only".into());
        report.notes.push(
            "dry run: nothing was sent; add --reader NAME to check the card, --write to write"
                .into(),
        );
        return Ok(());
    };
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
    let write = opts.write;
    let announce = opts.announce_adm_tries;
    let isim = with_isim(profile, target);
    let pin = session.pin.clone();
    session.with_card(|u| -> Result<(), PersonalizeError> {
        let shapes = probe_files(u, target, isim)?;
        report.files = shapes.values().cloned().collect();
        let tries = adm_tries(u)?;
        report.adm1_tries_left = tries;
        let mut tables = read_tables(u, isim)?;
        if !write {
            let (vars, secrets) = variables(profile, target, &shapes, &tables, &adm)?;
            let (a, w, r) = plan(target, isim, &vars, &secrets)?;
            report.steps = a.iter().chain(&w).chain(&r).map(step_report).collect();
            if tables.ust.is_none() {
                report.notes.push("EF_UST needs PIN1 or ADM1 to read: the plan shows the profile's services only; --write adds them to the card's".into());
            }
            report.notes.push("dry run: nothing was written; add --write to write".into());
            return Ok(());
        }
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
            let (vars, secrets) = variables(profile, target, &shapes, &tables, &adm)?;
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
            if let Some(pin) = pin.as_deref() {
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
        let (vars, secrets) = variables(profile, target, &shapes, &tables, &adm)?;
        let (_, write_steps, read_back) = plan(target, isim, &vars, &secrets)?;
        execute(u, &write_steps, &mut report.steps)?;
        execute(u, &read_back, &mut report.steps)?;
        report.read_back = Some(format!(
            "all {} read-back commands answered as written",
            read_back.len()
        ));
        report.key_check = Some(key_check(u, profile, pin.as_deref())?);
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
    })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = if self.dry_run { "DRY RUN" } else { "WRITE" };
        writeln!(f, "personalize   {} ({mode})", self.model)?;
        if let Some(c) = &self.card {
            writeln!(f, "card          {c}")?;
        }
        if let (Some(atr), Some(r)) = (&self.atr, &self.recognised_as) {
            writeln!(f, "ATR           {atr} ({r})")?;
        }
        if self.card.is_some() {
            match self.adm1_tries_left {
                Some(n) => writeln!(f, "ADM1          {n} tries left")?,
                None => writeln!(f, "ADM1          already verified")?,
            }
        }
        for s in &self.files {
            match (s.record_len, s.records) {
                (Some(l), Some(n)) => {
                    writeln!(f, "file          {:<22} {n} records of {l} bytes", s.file)?
                }
                _ => writeln!(f, "file          {:<22} {} bytes", s.file, s.size)?,
            }
        }
        writeln!(
            f,
            "commands      {} (keys shown as ‹name›)",
            self.steps.len()
        )?;
        for s in &self.steps {
            let outcome = s
                .outcome
                .as_deref()
                .map(|o| format!("  [{o}]"))
                .unwrap_or_default();
            writeln!(f, "  {:<44} > {}{outcome}", s.at, s.command)?;
            if let Some(e) = &s.expect {
                writeln!(f, "  {:<44} < {e}", "")?;
            }
        }
        for (label, v) in [
            ("read-back", &self.read_back),
            ("keys", &self.key_check),
            ("GBA", &self.gba),
        ] {
            if let Some(v) = v {
                writeln!(f, "{label:<13} {v}")?;
            }
        }
        for n in &self.notes {
            writeln!(f, "note          {n}")?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "stopped       {e}")?;
        }
        Ok(())
    }
}
