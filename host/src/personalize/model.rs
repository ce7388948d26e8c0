//! The vocabulary of personalization: the card models, the embedded scripts, the options,
//! the errors, and what gbau knows of a card's files and service tables.

use gbau_core::script::{self};
use gbau_core::sysmo::Model;
use serde::Serialize;

/// Tries a sysmo card's ADM1 has when nothing wrong was presented (sysmo-usim-tool refuses
/// below this unless forced; every test output of it shows 3).
pub const ADM1_MAX_TRIES: u8 = 3;

use crate::transport::TransportError;
use crate::usim::UsimError;

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
    pub(crate) fn model(self) -> Option<Model> {
        match self {
            Self::Sja2 => Some(Model::Sja2),
            Self::Sja5 => Some(Model::Sja5),
            Self::Sjs1 => Some(Model::Sjs1),
            Self::Soft => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        self.model()
            .map_or("gbau soft card (standard layout)", Model::name)
    }

    /// The directory of its scripts under `apdu-scripts/personalize/`.
    pub(crate) fn dir(self) -> &'static str {
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
            $(($name, include_str!(concat!("../../../apdu-scripts/personalize/", $name))),)*
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
    "sysmo-isim/isim-keys.apdu",
    "sysmo-isim/isim-keys-read-back.apdu",
    "sysmo-usim-sjs1/write.apdu",
    "sysmo-usim-sjs1/read-back.apdu",
    "soft/write.apdu",
    "soft/read-back.apdu",
);

/// Resolve `path` relative to the including script, among the embedded scripts.
pub(crate) fn load(including: &str, path: &str) -> Result<(String, String), String> {
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
    #[error("ADM1 has {left} of {max} tries left: a wrong value was presented before. Check the ADM1 value on the card's carrier, then pass --force to present it anyway; nothing was written", max = ADM1_MAX_TRIES)]
    FewerAdmTries { left: u8 },
    #[error("PIN1 has {0} tries left: gbau does not spend the last one; nothing was written")]
    LastPinTry(u8),
    #[error("{file} cannot be updated with ADM1 on this card ({why}); nothing was written")]
    NotWritable { file: &'static str, why: String },
    #[error("the profile's ICCID {0} fails the Luhn check (its last digit is a check digit, ITU-T E.118)")]
    IccidLuhn(String),
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

/// The size of a file as the card reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FileShape {
    pub file: &'static str,
    pub size: usize,
    pub record_len: Option<usize>,
    pub records: Option<usize>,
    /// Whether gbau writes it (some files are only checked or read).
    pub written: bool,
    /// The FCP as the card answered SELECT (empty in a dry run without a card).
    #[serde(skip)]
    pub fcp: Vec<u8>,
}

/// The card's service tables, merged with the profile's services (gbau only adds).
#[derive(Debug, Default, Clone)]
pub struct CardTables {
    pub ust: Option<Vec<u8>>,
    pub ist: Option<Vec<u8>>,
    /// ADF.USIM/EF_AD as the card holds it: gbau changes only the MNC length.
    pub ad: Option<Vec<u8>>,
}

/// Options of `gbau personalize`. `Debug` does not show the ADM1 digits.
#[derive(Clone, Default)]
pub struct Options {
    pub target: Target,
    pub write: bool,
    /// ADM1 digits. For sysmo cards only from the user (`--adm`, `GBAU_ADM`), never the
    /// profile's test value: a wrong presentation costs one of three tries that nothing can
    /// unblock. The soft card takes the profile's `pins.adm1` when absent.
    pub adm: Option<String>,
    /// Present ADM1 even when fewer than the maximum tries remain (never the last one).
    pub force: bool,
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
            .field("force", &self.force)
            .finish_non_exhaustive()
    }
}
