//! The card profile: a YAML file describing one soft USIM (identities, keys, Milenage
//! constants, PINs, services, GBA files, SQN policy), validated into a [`Profile`].

use std::path::Path;

use gbau_core::ef;
use gbau_core::hexutil;
use gbau_core::identity::{Imsi, MncLength};
use gbau_core::milenage::{opc_from_op, MilenageConstants};
use gbau_core::secret::{Op, Opc, K};
use gbau_core::sqn::{SqnPolicy, DEFAULT_DELTA};

/// Length of the flags and limits that open EF.USIM_SQN (flag1, flag2, delta_max,
/// age_limit); the freshness array follows.
pub const SQN_FILE_HEADER_LEN: usize = 14;
use serde::Deserialize;

mod usim_files;

pub use usim_files::UsimFiles;

/// A profile that cannot be used, with the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file cannot be read.
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The YAML does not parse or has unknown/missing fields.
    #[error("profile {path} is not valid YAML for a card profile: {message}")]
    Yaml { path: String, message: String },
    /// A field has a bad value.
    #[error("profile field {field}: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
}

fn field(field: &'static str, problem: impl ToString) -> ProfileError {
    ProfileError::Field {
        field,
        problem: problem.to_string(),
    }
}

/// The transmission protocol the card announces in its ATR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// T=0: case-4 answers come as '61xx' + GET RESPONSE, wrong Le gets '6Cxx'.
    #[default]
    T0,
    /// T=1: data comes back with the command.
    T1,
}

/// Which file layout and ATR the soft card presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// gbau's own: the standard files, keys from the profile.
    #[default]
    Standard,
    /// A sysmoISIM-SJA2 as pySim's dump of a real one shows it: its ATR, its proprietary
    /// key, SQN and GBA files (`gbau_core::sysmo`), from which the card then takes its keys,
    /// DF.GSM, an ICCID nobody may update, and the sizes of its standard files; so the SJA2
    /// personalization scripts can be run and read back against it.
    Sja2,
    /// The same for a sysmoISIM-SJA5 (its ATR, AF20 of 67 bytes, its EF_AD values).
    Sja5,
    /// A sysmoUSIM-SJS1: its ATR, the 7FCC and DF.GSM key files, the USIM's SQN files and
    /// authentication counter, EF_IMSI and EF_AD linked to DF.GSM's; no ISIM, no GBA files
    /// and no GBA context, so the MT uses GBA_ME with it.
    Sjs1,
}

impl Layout {
    /// The sysmocom model emulated, if any.
    #[must_use]
    pub fn sysmo_model(self) -> Option<gbau_core::sysmo::Model> {
        match self {
            Self::Standard => None,
            Self::Sja2 => Some(gbau_core::sysmo::Model::Sja2),
            Self::Sja5 => Some(gbau_core::sysmo::Model::Sja5),
            Self::Sjs1 => Some(gbau_core::sysmo::Model::Sjs1),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    iccid: String,
    imsi: String,
    mnc_length: u8,
    k: String,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    opc: Option<String>,
    #[serde(default)]
    milenage: Option<MilenageFile>,
    #[serde(default)]
    amf: AmfFile,
    pins: PinsFile,
    services: Vec<u16>,
    #[serde(default = "default_ust_size")]
    ust_size: usize,
    #[serde(default)]
    sqn: SqnFile,
    #[serde(default)]
    gba: GbaFile,
    #[serde(default)]
    usim_aid: Option<String>,
    #[serde(default)]
    isim: Option<IsimFile>,
    #[serde(default)]
    protocol: Protocol,
    #[serde(default)]
    layout: Layout,
    #[serde(default)]
    usim_files: usim_files::UsimFilesFile,
}

fn default_ust_size() -> usize {
    12
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MilenageFile {
    r: [u8; 5],
    c: [String; 5],
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AmfFile {
    /// AMF values accepted; empty or absent accepts any.
    #[serde(default)]
    allowed: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinsFile {
    pin1: PinFile,
    pin2: PinFile,
    adm1: AdmFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinFile {
    value: String,
    #[serde(default = "yes")]
    enabled: bool,
    puk: String,
    #[serde(default = "three")]
    retries: u8,
    #[serde(default = "ten")]
    puk_retries: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmFile {
    value: String,
    #[serde(default = "three")]
    retries: u8,
}

fn yes() -> bool {
    true
}
fn three() -> u8 {
    3
}
fn ten() -> u8 {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqnFile {
    #[serde(default = "default_delta")]
    delta: Option<u64>,
    #[serde(default)]
    age_limit: Option<u64>,
    /// SJA2/SJA5: the first 14 bytes of EF.USIM_SQN (AF30, USIM and ISIM) as the card
    /// starts, in hex; the card's checks then follow it, not `delta`/`age_limit`.
    #[serde(default)]
    file_header: Option<String>,
}

fn default_delta() -> Option<u64> {
    Some(DEFAULT_DELTA)
}

impl Default for SqnFile {
    fn default() -> Self {
        Self {
            delta: default_delta(),
            age_limit: None,
            file_header: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GbaFile {
    #[serde(default)]
    naf_key_centers: Vec<String>,
    #[serde(default = "default_gbabp_size")]
    gbabp_size: usize,
    #[serde(default = "default_gbanl_records")]
    gbanl_records: u8,
    #[serde(default = "default_gbanl_record_len")]
    gbanl_record_len: usize,
    #[serde(default = "default_nafkca_record_len")]
    nafkca_record_len: usize,
}

fn default_gbabp_size() -> usize {
    128
}
fn default_gbanl_records() -> u8 {
    4
}
fn default_gbanl_record_len() -> usize {
    160
}
fn default_nafkca_record_len() -> usize {
    64
}

impl Default for GbaFile {
    fn default() -> Self {
        Self {
            naf_key_centers: Vec::new(),
            gbabp_size: default_gbabp_size(),
            gbanl_records: default_gbanl_records(),
            gbanl_record_len: default_gbanl_record_len(),
            nafkca_record_len: default_nafkca_record_len(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IsimFile {
    impi: String,
    domain: String,
    impu: Vec<String>,
    #[serde(default)]
    services: Vec<u16>,
    #[serde(default)]
    aid: Option<String>,
}

/// A PIN (or PUK/ADM) value as the card compares it: ASCII padded with 'FF' to 8 bytes.
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop, PartialEq, Eq)]
pub struct PinValue([u8; 8]);

impl std::fmt::Debug for PinValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinValue(..)")
    }
}

impl PinValue {
    /// From 4..=8 ASCII digits.
    pub fn from_digits(digits: &str) -> Option<Self> {
        if !(4..=8).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut v = [0xFF; 8];
        v[..digits.len()].copy_from_slice(digits.as_bytes());
        Some(Self(v))
    }

    /// The 8 bytes as they travel in VERIFY.
    #[must_use]
    pub fn from_block(block: [u8; 8]) -> Self {
        Self(block)
    }

    /// The padded block.
    #[must_use]
    pub fn block(&self) -> &[u8; 8] {
        &self.0
    }

    /// True when the block is a valid PIN coding (4..=8 digits, 'FF' padded).
    #[must_use]
    pub fn is_well_formed(&self) -> bool {
        let digits = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        digits >= 4 && self.0[digits..].iter().all(|b| *b == 0xFF)
    }
}

/// One PIN's profile values.
#[derive(Clone, Debug)]
pub struct PinProfile {
    pub value: PinValue,
    pub enabled: bool,
    pub puk: Option<PinValue>,
    pub retries: u8,
    pub puk_retries: u8,
}

/// The ISIM of the card, when it has one.
#[derive(Clone, Debug)]
pub struct IsimProfile {
    pub aid: Vec<u8>,
    pub impi: String,
    pub domain: String,
    pub impu: Vec<String>,
    /// The IST services: the profile's, with service 4 (GBA-based local key establishment)
    /// added when the profile asks for local keys ([`Profile::wants_local_keys`]).
    pub services: Vec<u16>,
}

/// Sizes of the GBA files.
#[derive(Clone, Debug)]
pub struct GbaFiles {
    pub naf_key_centers: Vec<String>,
    pub gbabp_size: usize,
    pub gbanl_records: u8,
    pub gbanl_record_len: usize,
    pub nafkca_record_len: usize,
}

/// A validated card profile.
#[derive(Clone, Debug)]
pub struct Profile {
    pub iccid: String,
    pub imsi: Imsi,
    pub mnc_length: MncLength,
    pub k: K,
    pub opc: Opc,
    pub milenage: MilenageConstants,
    /// Accepted AMF values; empty accepts any.
    pub amf_allowed: Vec<[u8; 2]>,
    pub pin1: PinProfile,
    pub pin2: PinProfile,
    pub adm1: PinProfile,
    pub services: Vec<u16>,
    pub ust_size: usize,
    pub sqn_policy: SqnPolicy,
    /// SJA2/SJA5: the flags and limits EF.USIM_SQN starts with (the factory `d5 03 …`),
    /// when the profile gives them; else the file is made from `sqn_policy`.
    pub sqn_file_header: Option<[u8; SQN_FILE_HEADER_LEN]>,
    pub gba: GbaFiles,
    pub usim_aid: Vec<u8>,
    pub isim: Option<IsimProfile>,
    pub protocol: Protocol,
    pub layout: Layout,
    /// The initial contents of the mandatory USIM EFs a profile need not name.
    pub usim_files: UsimFiles,
}

/// The embedded default profile: Milenage test set 1 with public test keys (the profile of
/// `gbau demo` and of every card command that names no other).
pub const EMBEDDED_PROFILE: &str = include_str!("../profiles/test-set-1.yaml");

/// The USIM AID used when a profile names none: the 3GPP USIM prefix and 9 octets of
/// application provider data (any value is valid; this one is gbau's).
pub const DEFAULT_USIM_AID: &str = "a0000000871002ff33ff018900000100";
/// The ISIM AID used when a profile names none.
pub const DEFAULT_ISIM_AID: &str = "a0000000871004ff33ff018900000100";

fn pin_profile(name: &'static str, p: &PinFile) -> Result<PinProfile, ProfileError> {
    let value =
        PinValue::from_digits(&p.value).ok_or_else(|| field(name, "PIN must be 4 to 8 digits"))?;
    let puk =
        PinValue::from_digits(&p.puk).ok_or_else(|| field(name, "PUK must be 4 to 8 digits"))?;
    if !(1..=15).contains(&p.retries) || !(1..=15).contains(&p.puk_retries) {
        return Err(field(name, "retry counters must be 1 to 15"));
    }
    Ok(PinProfile {
        value,
        enabled: p.enabled,
        puk: Some(puk),
        retries: p.retries,
        puk_retries: p.puk_retries,
    })
}

fn aid(name: &'static str, text: &str, prefix: [u8; 7]) -> Result<Vec<u8>, ProfileError> {
    let bytes = hexutil::parse_ranged(text, 7, 16).map_err(|e| field(name, e))?;
    if bytes[..7] != prefix {
        return Err(field(
            name,
            format!("must start with {}", hex::encode(prefix)),
        ));
    }
    Ok(bytes)
}

impl Profile {
    /// Read and validate a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text).map_err(|e| match e {
            ProfileError::Yaml { message, .. } => ProfileError::Yaml {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parse and validate profile YAML.
    pub fn from_yaml(text: &str) -> Result<Self, ProfileError> {
        let f: ProfileFile = serde_norway::from_str(text).map_err(|e| ProfileError::Yaml {
            path: "<text>".into(),
            message: e.to_string(),
        })?;
        let imsi = Imsi::new(&f.imsi).map_err(|e| field("imsi", e))?;
        let mnc_length = MncLength::new(f.mnc_length).map_err(|e| field("mnc_length", e))?;
        ef::encode_iccid(&f.iccid).map_err(|e| field("iccid", e))?;
        let (k, opc) = subscriber_keys(&f)?;
        let milenage = milenage_constants(f.milenage.as_ref())?;
        let amf_allowed = amf_allowed(&f.amf)?;
        let adm1 = adm1_profile(&f.pins.adm1)?;
        check_files(&f)?;
        check_layout(&f)?;
        let usim_aid = aid(
            "usim_aid",
            f.usim_aid.as_deref().unwrap_or(DEFAULT_USIM_AID),
            ef::USIM_AID_PREFIX,
        )?;
        let (sqn_policy, sqn_file_header) = sqn_settings(&f)?;
        let local_keys = wants_local_keys(&f.services, &f.gba.naf_key_centers);
        let isim = f.isim.map(|i| isim_profile(i, local_keys)).transpose()?;
        let usim_files = usim_files::resolve(&f.usim_files, &imsi, mnc_length)?;
        Ok(Self {
            iccid: f.iccid,
            imsi,
            mnc_length,
            k,
            opc,
            milenage,
            amf_allowed,
            pin1: pin_profile("pins.pin1", &f.pins.pin1)?,
            pin2: pin_profile("pins.pin2", &f.pins.pin2)?,
            adm1,
            services: f.services,
            ust_size: f.ust_size,
            sqn_policy,
            sqn_file_header,
            gba: GbaFiles {
                naf_key_centers: f.gba.naf_key_centers,
                gbabp_size: f.gba.gbabp_size,
                gbanl_records: f.gba.gbanl_records,
                gbanl_record_len: f.gba.gbanl_record_len,
                nafkca_record_len: f.gba.nafkca_record_len,
            },
            usim_aid,
            isim,
            protocol: f.protocol,
            layout: f.layout,
            usim_files,
        })
    }

    /// True when the profile asks for GBA-based local keys: UST service 76 or NAF Key
    /// Centers listed.
    #[must_use]
    pub fn wants_local_keys(&self) -> bool {
        wants_local_keys(&self.services, &self.gba.naf_key_centers)
    }
}

fn wants_local_keys(services: &[u16], naf_key_centers: &[String]) -> bool {
    services.contains(&ef::SERVICE_GBA_LOCAL_KEY) || !naf_key_centers.is_empty()
}

/// K, and OPc as given or derived from OP: exactly one of `op` and `opc`.
fn subscriber_keys(f: &ProfileFile) -> Result<(K, Opc), ProfileError> {
    let k = K::new(hexutil::parse_fixed(&f.k).map_err(|e| field("k", e))?);
    let opc = match (&f.op, &f.opc) {
        (Some(op), None) => opc_from_op(
            &k,
            &Op::new(hexutil::parse_fixed(op).map_err(|e| field("op", e))?),
        ),
        (None, Some(opc)) => Opc::new(hexutil::parse_fixed(opc).map_err(|e| field("opc", e))?),
        _ => return Err(field("op/opc", "give exactly one of op and opc")),
    };
    Ok((k, opc))
}

/// The Milenage constants r1..r5 and c1..c5; the standard ones (TS 35.206 §4.1) when absent.
fn milenage_constants(m: Option<&MilenageFile>) -> Result<MilenageConstants, ProfileError> {
    let milenage = match m {
        None => MilenageConstants::default(),
        Some(m) => {
            let mut c = [[0u8; 16]; 5];
            for (i, text) in m.c.iter().enumerate() {
                c[i] = hexutil::parse_fixed(text)
                    .map_err(|e| field("milenage.c", format!("c{}: {e}", i + 1)))?;
            }
            let constants = MilenageConstants { r: m.r, c };
            constants.validate().map_err(|e| field("milenage.r", e))?;
            constants
        }
    };
    Ok(milenage)
}

/// The AMF values the card accepts.
fn amf_allowed(amf: &AmfFile) -> Result<Vec<[u8; 2]>, ProfileError> {
    amf.allowed
        .iter()
        .map(|a| hexutil::parse_fixed::<2>(a).map_err(|e| field("amf.allowed", e)))
        .collect::<Result<Vec<_>, _>>()
}

/// ADM1: always enabled, no PUK.
fn adm1_profile(a: &AdmFile) -> Result<PinProfile, ProfileError> {
    let adm1 = PinProfile {
        value: PinValue::from_digits(&a.value)
            .ok_or_else(|| field("pins.adm1", "ADM1 must be 4 to 8 digits"))?,
        enabled: true,
        puk: None,
        retries: a.retries,
        puk_retries: 0,
    };
    if !(1..=15).contains(&adm1.retries) {
        return Err(field("pins.adm1", "retry counter must be 1 to 15"));
    }
    Ok(adm1)
}

/// The service table and the GBA files fit their files.
fn check_files(f: &ProfileFile) -> Result<(), ProfileError> {
    ef::encode_service_table("EF_UST", &f.services, f.ust_size)
        .map_err(|e| field("services", e))?;
    if f.gba.gbanl_records == 0 || f.gba.gbanl_record_len < 16 || f.gba.gbanl_record_len > 255 {
        return Err(field(
            "gba",
            "EF_GBANL needs at least 1 record of 16 to 255 bytes",
        ));
    }
    if f.gba.gbabp_size < 20 || f.gba.gbabp_size > 1024 {
        return Err(field("gba.gbabp_size", "must be 20 to 1024 bytes"));
    }
    if f.gba.nafkca_record_len < 4 || f.gba.nafkca_record_len > 255 {
        return Err(field("gba.nafkca_record_len", "must be 4 to 255 bytes"));
    }
    for kc in &f.gba.naf_key_centers {
        ef::encode_tagged_text("EF_NAFKCA", kc, f.gba.nafkca_record_len)
            .map_err(|e| field("gba.naf_key_centers", e))?;
    }
    Ok(())
}

/// The SQN policy, and the EF.USIM_SQN header of a SJA2/SJA5 if the profile gives one (its
/// flag1 then sets the policy; any flag2 is taken, the card emulates it).
fn sqn_settings(
    f: &ProfileFile,
) -> Result<(SqnPolicy, Option<[u8; SQN_FILE_HEADER_LEN]>), ProfileError> {
    const NAME: &str = "sqn.file_header";
    let policy = SqnPolicy {
        delta: f.sqn.delta,
        age_limit: f.sqn.age_limit,
    };
    let Some(text) = &f.sqn.file_header else {
        return Ok((policy, None));
    };
    if !matches!(f.layout, Layout::Sja2 | Layout::Sja5) {
        return Err(field(
            NAME,
            "only the sja2 and sja5 layouts have EF.USIM_SQN",
        ));
    }
    let header: [u8; SQN_FILE_HEADER_LEN] =
        hexutil::parse_fixed(text).map_err(|e| field(NAME, e))?;
    let mut bytes = header.to_vec();
    bytes.resize(gbau_core::sysmo::USIM_SQN_SIZE, 0);
    let file = gbau_core::sysmo::SqnFile::decode(&bytes).map_err(|e| field(NAME, e))?;
    let policy = gbau_core::sysmo::SqnFile {
        flag2: gbau_core::sysmo::SQN_FLAG2_STANDARD,
        ..file
    }
    .policy()
    .map_err(|e| field(NAME, e))?;
    Ok((policy, Some(header)))
}

/// The sysmocom layouts are T=0 cards, and the SJS1 has no ISIM.
fn check_layout(f: &ProfileFile) -> Result<(), ProfileError> {
    if f.layout != Layout::Standard && f.protocol != Protocol::T0 {
        return Err(field(
            "layout",
            "the sysmocom layouts are T=0 cards (protocol: t0)",
        ));
    }
    if f.layout == Layout::Sjs1 && f.isim.is_some() {
        return Err(field("isim", "the sysmoUSIM-SJS1 layout has no ISIM"));
    }
    if matches!(f.layout, Layout::Sja2 | Layout::Sja5) {
        // The card's EF_NAFKCA: 2 records of 32 bytes (pySim dumps).
        let kcs = &f.gba.naf_key_centers;
        if kcs.len() > 2
            || kcs
                .iter()
                .any(|kc| ef::encode_tagged_text("EF_NAFKCA", kc, 32).is_err())
        {
            return Err(field(
                "gba.naf_key_centers",
                "the SJA2/SJA5 EF_NAFKCA holds 2 records of 32 bytes",
            ));
        }
    }
    Ok(())
}

/// The ISIM: its identities, services (with IST service 4 when `local_keys`) and AID.
fn isim_profile(i: IsimFile, local_keys: bool) -> Result<IsimProfile, ProfileError> {
    if i.impi.is_empty() || i.impi.len() > 200 || i.domain.is_empty() || i.impu.is_empty() {
        return Err(field(
            "isim",
            "impi, domain and at least one impu are required",
        ));
    }
    Ok(IsimProfile {
        aid: aid(
            "isim.aid",
            i.aid.as_deref().unwrap_or(DEFAULT_ISIM_AID),
            ef::ISIM_AID_PREFIX,
        )?,
        impi: i.impi,
        domain: i.domain,
        impu: i.impu,
        services: {
            let mut services = i.services;
            if local_keys && !services.contains(&ef::ISIM_SERVICE_GBA_LOCAL_KEY) {
                services.push(ef::ISIM_SERVICE_GBA_LOCAL_KEY);
            }
            services
        },
    })
}

impl Profile {
    /// Script variables a profile fills (`apdu-scripts/README.md`): PIN/PUK/ADM blocks as
    /// 8-byte hex, AIDs, IMSI and ICCID. Test profiles only: these are the card's secrets.
    #[must_use]
    pub fn script_vars(&self) -> std::collections::BTreeMap<String, String> {
        let mut v = std::collections::BTreeMap::new();
        v.insert("pin1".into(), hex::encode(self.pin1.value.block()));
        v.insert("pin2".into(), hex::encode(self.pin2.value.block()));
        v.insert("adm1".into(), hex::encode(self.adm1.value.block()));
        if let Some(puk) = &self.pin1.puk {
            v.insert("puk1".into(), hex::encode(puk.block()));
        }
        if let Some(puk) = &self.pin2.puk {
            v.insert("puk2".into(), hex::encode(puk.block()));
        }
        v.insert("usim_aid".into(), hex::encode(&self.usim_aid));
        if let Some(isim) = &self.isim {
            v.insert("isim_aid".into(), hex::encode(&isim.aid));
        }
        v.insert("imsi".into(), self.imsi.as_str().to_owned());
        v.insert("iccid".into(), self.iccid.clone());
        v
    }
}
