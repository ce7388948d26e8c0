//! The initial contents of the USIM's mandatory EFs that a profile need not name (TS 31.102
//! §4.2, and DF_GSM-ACCESS §4.4.3): derived from the profile where that makes sense (the
//! home PLMN in EF_LOCI and EF_PSLOCI), fixed defaults otherwise, each overridable by the
//! profile's optional `usim_files` section (hex).

use gbau_core::ef;
use gbau_core::hexutil;
use gbau_core::identity::{Imsi, MncLength};
use serde::Deserialize;

use super::{field, ProfileError};

/// Size of EF_HPPLMN (TS 31.102 §4.2.6; pySim).
pub const EF_HPPLMN_SIZE: usize = 1;
/// EF_HPPLMN default: 5 search periods, pySim's example value. The period unit (6 minutes
/// in older releases) is not checked here **[to confirm]**.
pub const DEFAULT_HPPLMN: u8 = 0x05;
/// EF_FPLMN holds at least 4 PLMNs (TS 31.102 §4.2.16; pySim: 12 bytes or more).
pub const FPLMN_MIN_ENTRIES: usize = 4;
/// Size of EF_START-HFN: START_CS and START_PS, 3 bytes each (TS 31.102 §4.2.51; pySim).
pub const EF_START_HFN_SIZE: usize = 6;
/// EF_START-HFN default: START_CS = START_PS = 'F00000', pySim's example value **[to
/// confirm as a personalization default]**.
pub const DEFAULT_START_HFN: [u8; EF_START_HFN_SIZE] = [0xF0, 0x00, 0x00, 0xF0, 0x00, 0x00];
/// Size of EF_THRESHOLD (TS 31.102 §4.2.52; pySim).
pub const EF_THRESHOLD_SIZE: usize = 3;
/// EF_THRESHOLD default: 'FFFFFF', the largest START_MAX **[to confirm as a default]**.
pub const DEFAULT_THRESHOLD: [u8; EF_THRESHOLD_SIZE] = [0xFF; EF_THRESHOLD_SIZE];
/// Smallest EF_NETPAR: 46 bytes (TS 31.102 EF_NETPAR "X ≥ 46" as recalled **[to confirm]**).
pub const EF_NETPAR_MIN_SIZE: usize = 46;
/// Fixed part of an EF_ECC record: 3 bytes of emergency call code and 1 of service
/// category, after X bytes of alpha identifier (TS 31.102 §4.2.21; pySim: 4 to 20 bytes).
pub const EF_ECC_FIXED_LEN: usize = 4;
/// EF_ECC default: records with no alpha identifier (X = 0) — gbau's choice.
pub const DEFAULT_ECC_RECORD_LEN: usize = EF_ECC_FIXED_LEN;
/// EF_ECC default: this many empty records — gbau's choice.
pub const DEFAULT_ECC_RECORDS: usize = 5;
/// Size of EF_Kc and EF_KcGPRS: Kc 8 bytes and CKSN 1 (TS 31.102 §4.4.3.1; pySim).
pub const EF_KC_SIZE: usize = 9;
/// CKSN "no key available" ('07'; TS 31.102 §4.4.3.1 note: '07', not 'FF', after the
/// administrative phase).
pub const CKSN_NO_KEY: u8 = 0x07;

/// The profile's optional `usim_files` section: hex contents replacing the defaults.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct UsimFilesFile {
    #[serde(default)]
    hpplmn: Option<String>,
    #[serde(default)]
    fplmn: Option<String>,
    #[serde(default)]
    loci: Option<String>,
    #[serde(default)]
    psloci: Option<String>,
    #[serde(default)]
    start_hfn: Option<String>,
    #[serde(default)]
    threshold: Option<String>,
    #[serde(default)]
    netpar: Option<String>,
    /// One hex string per record, all of the same length.
    #[serde(default)]
    ecc: Option<Vec<String>>,
    #[serde(default)]
    kc: Option<String>,
    #[serde(default)]
    kc_gprs: Option<String>,
}

/// The initial contents of the mandatory EFs gbau adds to ADF.USIM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsimFiles {
    pub hpplmn: Vec<u8>,
    pub fplmn: Vec<u8>,
    pub loci: Vec<u8>,
    pub psloci: Vec<u8>,
    pub start_hfn: Vec<u8>,
    pub threshold: Vec<u8>,
    pub netpar: Vec<u8>,
    /// The records of EF_ECC.
    pub ecc: Vec<Vec<u8>>,
    /// EF_Kc and EF_KcGPRS (in DF_GSM-ACCESS, present with UST service 27).
    pub kc: Vec<u8>,
    pub kc_gprs: Vec<u8>,
}

/// How long a file may be.
#[derive(Clone, Copy)]
enum Size {
    Exactly(usize),
    AtLeast(usize),
    /// At least `n` entries of `entry` bytes.
    Entries {
        entry: usize,
        n: usize,
    },
}

fn content(
    name: &'static str,
    given: Option<&String>,
    size: Size,
    default: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, ProfileError> {
    let Some(text) = given else {
        return Ok(default());
    };
    let bytes = hexutil::parse_hex(text).map_err(|e| field(name, e))?;
    let ok = match size {
        Size::Exactly(n) => bytes.len() == n,
        Size::AtLeast(n) => bytes.len() >= n && bytes.len() <= usize::from(u16::MAX),
        Size::Entries { entry, n } => {
            bytes.len() % entry == 0 && bytes.len() >= entry * n && bytes.len() <= 255
        }
    };
    if !ok {
        let want = match size {
            Size::Exactly(n) => format!("exactly {n} bytes"),
            Size::AtLeast(n) => format!("at least {n} bytes"),
            Size::Entries { entry, n } => format!("{entry}n bytes with n >= {n}"),
        };
        return Err(field(
            name,
            format!("{} bytes, the file needs {want}", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn ecc_records(given: Option<&Vec<String>>) -> Result<Vec<Vec<u8>>, ProfileError> {
    const NAME: &str = "usim_files.ecc";
    let Some(texts) = given else {
        return Ok(vec![
            vec![0xFF; DEFAULT_ECC_RECORD_LEN];
            DEFAULT_ECC_RECORDS
        ]);
    };
    let records = texts
        .iter()
        .map(|t| hexutil::parse_hex(t).map_err(|e| field(NAME, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(len) = records.first().map(Vec::len) else {
        return Err(field(NAME, "needs at least one record"));
    };
    if !(EF_ECC_FIXED_LEN..=255).contains(&len) || records.iter().any(|r| r.len() != len) {
        return Err(field(
            NAME,
            format!("records must all have the same length, {EF_ECC_FIXED_LEN} to 255 bytes"),
        ));
    }
    if records.len() > 254 {
        return Err(field(NAME, "at most 254 records"));
    }
    Ok(records)
}

/// The contents: the section's where given, the defaults otherwise.
pub(super) fn resolve(
    f: &UsimFilesFile,
    imsi: &Imsi,
    mnc_length: MncLength,
) -> Result<UsimFiles, ProfileError> {
    let plmn = ef::encode_plmn(imsi, mnc_length);
    let no_kc = || {
        let mut kc = vec![0xFF; EF_KC_SIZE];
        kc[EF_KC_SIZE - 1] = CKSN_NO_KEY;
        kc
    };
    let entries = Size::Entries {
        entry: ef::PLMN_SIZE,
        n: FPLMN_MIN_ENTRIES,
    };
    Ok(UsimFiles {
        hpplmn: content(
            "usim_files.hpplmn",
            f.hpplmn.as_ref(),
            Size::Exactly(EF_HPPLMN_SIZE),
            || vec![DEFAULT_HPPLMN],
        )?,
        fplmn: content("usim_files.fplmn", f.fplmn.as_ref(), entries, || {
            vec![0xFF; ef::PLMN_SIZE * FPLMN_MIN_ENTRIES]
        })?,
        loci: content(
            "usim_files.loci",
            f.loci.as_ref(),
            Size::Exactly(ef::EF_LOCI_SIZE),
            || ef::encode_loci_not_updated(plmn),
        )?,
        psloci: content(
            "usim_files.psloci",
            f.psloci.as_ref(),
            Size::Exactly(ef::EF_PSLOCI_SIZE),
            || ef::encode_psloci_not_updated(plmn),
        )?,
        start_hfn: content(
            "usim_files.start_hfn",
            f.start_hfn.as_ref(),
            Size::Exactly(EF_START_HFN_SIZE),
            || DEFAULT_START_HFN.to_vec(),
        )?,
        threshold: content(
            "usim_files.threshold",
            f.threshold.as_ref(),
            Size::Exactly(EF_THRESHOLD_SIZE),
            || DEFAULT_THRESHOLD.to_vec(),
        )?,
        netpar: content(
            "usim_files.netpar",
            f.netpar.as_ref(),
            Size::AtLeast(EF_NETPAR_MIN_SIZE),
            || vec![0xFF; EF_NETPAR_MIN_SIZE],
        )?,
        ecc: ecc_records(f.ecc.as_ref())?,
        kc: content(
            "usim_files.kc",
            f.kc.as_ref(),
            Size::Exactly(EF_KC_SIZE),
            no_kc,
        )?,
        kc_gprs: content(
            "usim_files.kc_gprs",
            f.kc_gprs.as_ref(),
            Size::Exactly(EF_KC_SIZE),
            no_kc,
        )?,
    })
}
