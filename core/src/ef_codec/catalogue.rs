//! The files gbau knows by name: where they live (MF, ADF.USIM, ADF.ISIM, DF_GSM-ACCESS),
//! their FIDs, structure and which coding reads them. FIDs follow TS 102 221 §13,
//! TS 31.102 §4.2/§4.4, TS 31.103 §4.2 (checked against pySim's file definitions) and, for
//! the sysmocom proprietary files, `crate::sysmo`.

use crate::ef;
use crate::sysmo;

/// A directory files live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Df {
    Mf,
    Usim,
    Isim,
    /// DF_GSM-ACCESS in ADF.USIM.
    GsmAccess,
    /// DF.SYSTEM of the sysmo cards, under the MF.
    SysmoSystem,
}

impl Df {
    /// The name `select` takes.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Mf => "MF",
            Self::Usim => "ADF.USIM",
            Self::Isim => "ADF.ISIM",
            Self::GsmAccess => "DF_GSM-ACCESS",
            Self::SysmoSystem => "DF.SYSTEM",
        }
    }

    /// Every directory, parents before children.
    pub const ALL: [Self; 5] = [
        Self::Mf,
        Self::SysmoSystem,
        Self::Usim,
        Self::GsmAccess,
        Self::Isim,
    ];
}

/// The structure of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Transparent,
    /// Linear fixed (or cyclic): read and written by record.
    Records,
    /// A DF inside the directory.
    Df(Df),
}

/// Which coding decodes (and maybe encodes) a file's content or one of its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Iccid,
    Languages,
    Dir,
    Arr,
    Imsi,
    Ad,
    Ust,
    Est,
    Ist,
    Acc,
    Hpplmn,
    Fplmn,
    Loci,
    Psloci,
    StartHfn,
    Threshold,
    Ecc,
    /// EF_Keys / EF_KeysPS: KSI only; the keys are not shown.
    Keys,
    /// EF_Kc / EF_KcGPRS: CKSN only; Kc is not shown.
    Kc,
    Gbabp,
    Gbanl,
    Nafkca,
    Impi,
    Domain,
    Impu,
    /// No decoder: hex only.
    Opaque,
}

/// A file gbau knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownFile {
    pub name: &'static str,
    pub df: Df,
    pub fid: u16,
    pub kind: Kind,
    pub codec: Codec,
    /// Holds keys or key-bearing state: never exported, never decoded beyond its labels.
    pub secret: bool,
}

const fn file(name: &'static str, df: Df, fid: u16, kind: Kind, codec: Codec) -> KnownFile {
    KnownFile {
        name,
        df,
        fid,
        kind,
        codec,
        secret: false,
    }
}

const fn secret(name: &'static str, df: Df, fid: u16, kind: Kind, codec: Codec) -> KnownFile {
    KnownFile {
        name,
        df,
        fid,
        kind,
        codec,
        secret: true,
    }
}

use Kind::{Records as R, Transparent as T};

/// The catalogue, by directory.
pub const FILES: [KnownFile; 47] = [
    file("EF_DIR", Df::Mf, ef::EF_DIR, R, Codec::Dir),
    file("EF_ICCID", Df::Mf, ef::EF_ICCID, T, Codec::Iccid),
    file("EF_PL", Df::Mf, ef::EF_PL, T, Codec::Languages),
    file("EF_ARR", Df::Mf, ef::EF_ARR_MF, R, Codec::Arr),
    file(
        "DF.SYSTEM",
        Df::Mf,
        sysmo::DF_SYSTEM,
        Kind::Df(Df::SysmoSystem),
        Codec::Opaque,
    ),
    secret(
        "EF.MILENAGE_CFG",
        Df::SysmoSystem,
        sysmo::EF_MILENAGE_CFG,
        T,
        Codec::Opaque,
    ),
    file("EF_LI", Df::Usim, ef::EF_LI, T, Codec::Languages),
    file("EF_ARR", Df::Usim, ef::EF_ARR_ADF, R, Codec::Arr),
    file("EF_IMSI", Df::Usim, ef::EF_IMSI, T, Codec::Imsi),
    secret("EF_Keys", Df::Usim, ef::EF_KEYS, T, Codec::Keys),
    secret("EF_KeysPS", Df::Usim, ef::EF_KEYS_PS, T, Codec::Keys),
    file("EF_HPPLMN", Df::Usim, ef::EF_HPPLMN, T, Codec::Hpplmn),
    file("EF_UST", Df::Usim, ef::EF_UST, T, Codec::Ust),
    file("EF_GID1", Df::Usim, 0x6F3E, T, Codec::Opaque),
    file("EF_GID2", Df::Usim, 0x6F3F, T, Codec::Opaque),
    file("EF_MSISDN", Df::Usim, 0x6F40, R, Codec::Opaque),
    file("EF_SMSP", Df::Usim, 0x6F42, R, Codec::Opaque),
    file("EF_SPN", Df::Usim, 0x6F46, T, Codec::Opaque),
    file("EF_EST", Df::Usim, ef::EF_EST, T, Codec::Est),
    file(
        "EF_START-HFN",
        Df::Usim,
        ef::EF_START_HFN,
        T,
        Codec::StartHfn,
    ),
    file(
        "EF_THRESHOLD",
        Df::Usim,
        ef::EF_THRESHOLD,
        T,
        Codec::Threshold,
    ),
    file("EF_PLMNwAcT", Df::Usim, 0x6F60, T, Codec::Opaque),
    file("EF_OPLMNwAcT", Df::Usim, 0x6F61, T, Codec::Opaque),
    file("EF_HPLMNwAcT", Df::Usim, 0x6F62, T, Codec::Opaque),
    file("EF_PSLOCI", Df::Usim, ef::EF_PSLOCI, T, Codec::Psloci),
    file("EF_ACC", Df::Usim, ef::EF_ACC, T, Codec::Acc),
    file("EF_FPLMN", Df::Usim, ef::EF_FPLMN, T, Codec::Fplmn),
    file("EF_LOCI", Df::Usim, ef::EF_LOCI, T, Codec::Loci),
    file("EF_AD", Df::Usim, ef::EF_AD, T, Codec::Ad),
    file("EF_ECC", Df::Usim, ef::EF_ECC, R, Codec::Ecc),
    file("EF_NETPAR", Df::Usim, ef::EF_NETPAR, T, Codec::Opaque),
    file("EF_GBABP", Df::Usim, ef::EF_GBABP, T, Codec::Gbabp),
    file("EF_EHPLMN", Df::Usim, 0x6FD9, T, Codec::Opaque),
    file("EF_GBANL", Df::Usim, ef::EF_GBANL, R, Codec::Gbanl),
    file("EF_NAFKCA", Df::Usim, ef::EF_NAFKCA, R, Codec::Nafkca),
    file("EF_EPSLOCI", Df::Usim, 0x6FE3, T, Codec::Opaque),
    secret("EF_EPSNSC", Df::Usim, 0x6FE4, R, Codec::Opaque),
    file(
        "DF_GSM-ACCESS",
        Df::Usim,
        ef::DF_GSM_ACCESS,
        Kind::Df(Df::GsmAccess),
        Codec::Opaque,
    ),
    secret(
        "EF.USIM_AUTH_KEY",
        Df::Usim,
        sysmo::EF_USIM_AUTH_KEY,
        T,
        Codec::Opaque,
    ),
    secret(
        "EF.USIM_SQN",
        Df::Usim,
        sysmo::EF_USIM_SQN,
        T,
        Codec::Opaque,
    ),
    secret("EF.GBA_SK", Df::Usim, sysmo::EF_GBA_SK, T, Codec::Opaque),
    secret("EF_Kc", Df::GsmAccess, ef::EF_KC, T, Codec::Kc),
    secret("EF_KcGPRS", Df::GsmAccess, ef::EF_KC_GPRS, T, Codec::Kc),
    file("EF_IMPI", Df::Isim, ef::EF_IMPI, T, Codec::Impi),
    file("EF_DOMAIN", Df::Isim, ef::EF_DOMAIN, T, Codec::Domain),
    file("EF_IMPU", Df::Isim, ef::EF_IMPU, R, Codec::Impu),
    file("EF_IST", Df::Isim, ef::EF_IST, T, Codec::Ist),
];

/// The ISIM's GBA files share names with the USIM's.
pub const ISIM_GBA_FILES: [KnownFile; 4] = [
    file("EF_ARR", Df::Isim, ef::EF_ARR_ADF, R, Codec::Arr),
    file("EF_GBABP", Df::Isim, ef::EF_ISIM_GBABP, T, Codec::Gbabp),
    file("EF_GBANL", Df::Isim, ef::EF_ISIM_GBANL, R, Codec::Gbanl),
    file("EF_NAFKCA", Df::Isim, ef::EF_NAFKCA, R, Codec::Nafkca),
];

/// Every known file.
pub fn all() -> impl Iterator<Item = &'static KnownFile> {
    FILES.iter().chain(ISIM_GBA_FILES.iter())
}

/// The files of one directory, by FID.
#[must_use]
pub fn in_df(df: Df) -> Vec<&'static KnownFile> {
    let mut v: Vec<_> = all().filter(|f| f.df == df).collect();
    v.sort_by_key(|f| f.fid);
    v
}

/// The file `fid` of directory `df`.
#[must_use]
pub fn by_fid(df: Df, fid: u16) -> Option<&'static KnownFile> {
    all().find(|f| f.df == df && f.fid == fid)
}

/// A file by name (any case), in `df` first, then in any directory (the USIM's before the
/// ISIM's for the shared GBA names).
#[must_use]
pub fn by_name(df: Option<Df>, name: &str) -> Option<&'static KnownFile> {
    let same = |f: &&KnownFile| f.name.eq_ignore_ascii_case(name);
    all()
        .filter(same)
        .find(|f| Some(f.df) == df)
        .or_else(|| all().find(same))
}
