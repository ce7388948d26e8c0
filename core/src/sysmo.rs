//! The proprietary files of sysmocom's programmable cards (sysmoISIM-SJA2/SJA5,
//! sysmoUSIM-SJS1): ATRs, FIDs and the codings of the key, algorithm and SQN files.
//!
//! None of this is in a 3GPP specification. The values were checked against the public
//! models in osmocom pySim (`pySim/sysmocom_sja2.py`, `pySim/legacy/cards.py`) and
//! sysmocom's sysmo-usim-tool (`sysmo_isim_sja2.py`, `sysmo_usim_sjs1.py`); where those
//! two disagree, or where neither says, the constant is marked **[to confirm]**.

use crate::milenage::MilenageConstants;
use crate::sqn::{SqnPolicy, IND_SLOTS};

/// The sysmocom card models gbau knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// sysmoISIM-SJA2.
    Sja2,
    /// sysmoISIM-SJA5.
    Sja5,
    /// sysmoUSIM-SJS1.
    Sjs1,
}

impl Model {
    /// The product name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sja2 => "sysmoISIM-SJA2",
            Self::Sja5 => "sysmoISIM-SJA5",
            Self::Sjs1 => "sysmoUSIM-SJS1",
        }
    }

    /// The short name used on the command line.
    #[must_use]
    pub fn short(self) -> &'static str {
        match self {
            Self::Sja2 => "sja2",
            Self::Sja5 => "sja5",
            Self::Sjs1 => "sjs1",
        }
    }

    /// The ATRs this model is known to present (pySim and sysmo-usim-tool list the same).
    #[must_use]
    pub fn atrs(self) -> &'static [&'static str] {
        match self {
            Self::Sja2 => &SJA2_ATRS,
            Self::Sja5 => &SJA5_ATRS,
            Self::Sjs1 => &SJS1_ATRS,
        }
    }

    /// True when the card OS is believed to do GBA_U itself (the SJA2/SJA5 file model has
    /// GBA files; not yet seen working on a card, so the tools probe and report).
    #[must_use]
    pub fn has_gba_files(self) -> bool {
        matches!(self, Self::Sja2 | Self::Sja5)
    }
}

impl Model {
    /// The ATR of the card in pySim's dump of this model (`tests/card_sanitizer`).
    #[must_use]
    pub fn dump_atr(self) -> &'static str {
        match self {
            Self::Sja2 => SJA2_ATRS[0],
            Self::Sja5 => SJA5_ATRS[1],
            Self::Sjs1 => SJS1_ATRS[0],
        }
    }
}

/// ATRs of sysmoISIM-SJA2 (the third is sold as sysmoTSIM).
pub const SJA2_ATRS: [&str; 3] = [
    "3B9F96801F878031E073FE211B674A4C753034054BA9",
    "3B9F96801F878031E073FE211B674A4C7531330251B2",
    "3B9F96801F878031E073FE211B674A4C5275310451D5",
];
/// ATRs of sysmoISIM-SJA5 (three chip variants).
pub const SJA5_ATRS: [&str; 3] = [
    "3B9F96801F878031E073FE211B674A357530350251CC",
    "3B9F96801F878031E073FE211B674A357530350265F8",
    "3B9F96801F878031E073FE211B674A357530350259C4",
];
/// ATR of sysmoUSIM-SJS1.
pub const SJS1_ATRS: [&str; 1] = ["3B9F96801FC78031A073BE21136743200718000001A5"];
/// The ATR prefix the SJA2 and SJA5 share: a card with it and an unknown tail is a sysmo
/// ISIM of a variant not listed here.
pub const SJA_ATR_PREFIX: &str = "3B9F96801F878031E073FE211B674A";

/// What an ATR says about the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtrMatch {
    /// One of the model's known ATRs.
    Exact(Model),
    /// The SJA2/SJA5 prefix with an unlisted tail.
    SjaFamily,
    /// Not a sysmocom card gbau knows.
    Unknown,
}

/// Recognise a model by its ATR.
#[must_use]
pub fn model_by_atr(atr: &[u8]) -> AtrMatch {
    let hex = crate::hexutil::to_hex(atr).to_ascii_uppercase();
    for model in [Model::Sja2, Model::Sja5, Model::Sjs1] {
        if model.atrs().iter().any(|a| *a == hex) {
            return AtrMatch::Exact(model);
        }
    }
    if hex.starts_with(SJA_ATR_PREFIX) {
        AtrMatch::SjaFamily
    } else {
        AtrMatch::Unknown
    }
}

// ---- sysmoISIM-SJA2 / SJA5 -------------------------------------------------------------

/// ADF.USIM: EF.USIM_AUTH_KEY, the 3G key: config byte ‖ K ‖ OP or OPc.
pub const EF_USIM_AUTH_KEY: u16 = 0xAF20;
/// ADF.USIM: EF.USIM_AUTH_KEY_2G, the same layout for the 2G (GSM) algorithm.
pub const EF_USIM_AUTH_KEY_2G: u16 = 0xAF22;
/// ADF.USIM: EF.USIM_SQN, SQN checking parameters and the freshness array.
pub const EF_USIM_SQN: u16 = 0xAF30;
/// ADF.USIM: EF.GBA_SK (transparent; contents not described publicly) **[to confirm]**.
pub const EF_GBA_SK: u16 = 0xAF31;
/// ADF.USIM: EF.GBA_REC_LIST, record numbers of EF_GBANL (transparent) **[to confirm]**.
pub const EF_GBA_REC_LIST: u16 = 0xAF32;
/// ADF.USIM: EF.GBA_INT_KEY, linear fixed, 32-byte Ks_int_NAF records. sysmo-usim-tool
/// names 'AF32' for it, pySim 'AF33'; gbau follows pySim **[to confirm]**.
pub const EF_GBA_INT_KEY: u16 = 0xAF33;
/// Record length of EF.GBA_INT_KEY.
pub const GBA_INT_KEY_RECORD_LEN: usize = 32;
/// Size of EF.GBA_SK in pySim's SJA2 and SJA5 dumps (FCP '80' = 0021).
pub const GBA_SK_SIZE: usize = 33;
/// Size of EF.GBA_REC_LIST in the same dumps ('80' = 00C8).
pub const GBA_REC_LIST_SIZE: usize = 200;
/// Records of EF.GBA_INT_KEY in the same dumps ('82' = 42 21 0020 01).
pub const GBA_INT_KEY_RECORDS: usize = 1;
/// Size of EF.USIM_AUTH_KEY on the SJA5: 33 bytes, then 34 bytes 'FF' (pySim dump).
pub const SJA5_AUTH_KEY_SIZE: usize = 67;
/// MF: DF.SYSTEM.
pub const DF_SYSTEM: u16 = 0xA515;
/// DF.SYSTEM: EF.MILENAGE_CFG, r1..r5 then c1..c5. pySim places it at 3F00/A515/6F21;
/// sysmo-usim-tool writes 'AF21' under ADF.USIM instead; gbau follows pySim and the facts
/// note **[to confirm]**.
pub const EF_MILENAGE_CFG: u16 = 0x6F21;
/// Size of EF.MILENAGE_CFG: 5 one-byte rotations and 5 16-byte constants.
pub const MILENAGE_CFG_SIZE: usize = 85;
/// Size of EF.USIM_AUTH_KEY / _2G with a 128-bit key (every algorithm but TUAK).
pub const AUTH_KEY_SIZE: usize = 33;
/// Size of EF.USIM_SQN with 5 IND bits: 14 bytes of parameters and 32 6-byte entries.
pub const USIM_SQN_SIZE: usize = 14 + IND_SLOTS * 6;
/// Key reference of ADM1 in VERIFY (the same on SJS1, SJA2 and SJA5).
pub const ADM1_KEY_REF: u8 = 0x0A;

/// Low nibble of the auth-key config byte: the algorithm.
pub const ALGO_MILENAGE: u8 = 4;
/// SHA1-AKA.
pub const ALGO_SHA1_AKA: u8 = 5;
/// TUAK (changes the file's layout).
pub const ALGO_TUAK: u8 = 6;
/// XOR test algorithm.
pub const ALGO_XOR: u8 = 0x0F;
/// Config bit: the file holds OPc, not OP.
pub const CFG_USE_OPC: u8 = 0x10;
/// Config bit: SRES derivation function 2 instead of 1 (2G). What the two functions are is
/// not described publicly **[to confirm]**; gbau writes 0 (function 1).
pub const CFG_SRES_FUNCTION_2: u8 = 0x20;
/// Config bit: only 4 bytes of RES in 3G (pySim and sysmo-usim-tool agree; an older
/// sysmo-usim-tool read it the other way round) **[to confirm]**.
pub const CFG_RES_4_BYTES: u8 = 0x40;

/// The contents of EF.USIM_AUTH_KEY for Milenage with OPc: what gbau writes.
#[must_use]
pub fn encode_auth_key_milenage(k: &[u8; 16], opc: &[u8; 16]) -> [u8; AUTH_KEY_SIZE] {
    let mut out = [0u8; AUTH_KEY_SIZE];
    out[0] = ALGO_MILENAGE | CFG_USE_OPC;
    out[1..17].copy_from_slice(k);
    out[17..].copy_from_slice(opc);
    out
}

/// EF.USIM_AUTH_KEY decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    pub algorithm: u8,
    pub use_opc: bool,
    pub sres_function_2: bool,
    pub res_4_bytes: bool,
    pub k: [u8; 16],
    /// OP or OPc, as `use_opc` says.
    pub op_or_opc: [u8; 16],
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKey")
            .field("algorithm", &self.algorithm)
            .field("use_opc", &self.use_opc)
            .field("res_4_bytes", &self.res_4_bytes)
            .finish_non_exhaustive()
    }
}

/// Why a proprietary file's contents cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysmoError {
    #[error("{file}: {len} bytes, expected {expected}")]
    Length {
        file: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("{file}: {problem}")]
    Unsupported { file: &'static str, problem: String },
}

/// Decode EF.USIM_AUTH_KEY (128-bit key layouts only; TUAK is reported as unsupported).
pub fn decode_auth_key(bytes: &[u8]) -> Result<AuthKey, SysmoError> {
    let algorithm = bytes.first().map_or(0, |b| b & 0x0F);
    if algorithm == ALGO_TUAK {
        return Err(SysmoError::Unsupported {
            file: "EF.USIM_AUTH_KEY",
            problem: "TUAK layout".into(),
        });
    }
    if bytes.len() < AUTH_KEY_SIZE {
        return Err(SysmoError::Length {
            file: "EF.USIM_AUTH_KEY",
            len: bytes.len(),
            expected: AUTH_KEY_SIZE,
        });
    }
    let mut k = [0u8; 16];
    k.copy_from_slice(&bytes[1..17]);
    let mut op_or_opc = [0u8; 16];
    op_or_opc.copy_from_slice(&bytes[17..33]);
    Ok(AuthKey {
        algorithm,
        use_opc: bytes[0] & CFG_USE_OPC != 0,
        sres_function_2: bytes[0] & CFG_SRES_FUNCTION_2 != 0,
        res_4_bytes: bytes[0] & CFG_RES_4_BYTES != 0,
        k,
        op_or_opc,
    })
}

/// EF.MILENAGE_CFG of the SJA2/SJA5: r1..r5 (one byte each, in bits) then c1..c5.
#[must_use]
pub fn encode_milenage_cfg(m: &MilenageConstants) -> [u8; MILENAGE_CFG_SIZE] {
    let mut out = [0u8; MILENAGE_CFG_SIZE];
    out[..5].copy_from_slice(&m.r);
    for (i, c) in m.c.iter().enumerate() {
        out[5 + 16 * i..21 + 16 * i].copy_from_slice(c);
    }
    out
}

/// Decode the SJA2/SJA5 EF.MILENAGE_CFG.
pub fn decode_milenage_cfg(bytes: &[u8]) -> Result<MilenageConstants, SysmoError> {
    if bytes.len() < MILENAGE_CFG_SIZE {
        return Err(SysmoError::Length {
            file: "EF.MILENAGE_CFG",
            len: bytes.len(),
            expected: MILENAGE_CFG_SIZE,
        });
    }
    let mut m = MilenageConstants {
        r: [0; 5],
        c: [[0; 16]; 5],
    };
    m.r.copy_from_slice(&bytes[..5]);
    for (i, c) in m.c.iter_mut().enumerate() {
        c.copy_from_slice(&bytes[5 + 16 * i..21 + 16 * i]);
    }
    Ok(m)
}

/// EF.USIM_SQN flag1 bit: accept any SQN once (the next authentication skips the check).
pub const SQN_SKIP_NEXT_CHECK: u8 = 0x80;
/// flag1 bit: check SQN against delta_max.
pub const SQN_CHECK_DELTA: u8 = 0x40;
/// flag1 bit: check the age limit.
pub const SQN_CHECK_AGE_LIMIT: u8 = 0x20;
/// flag1 bit: SQN checking on.
pub const SQN_CHECK_ENABLED: u8 = 0x10;
/// flag1 low nibble: number of IND bits.
pub const SQN_IND_LEN_MASK: u8 = 0x0F;
/// EF.USIM_SQN flag2 bit: SQN in AUTN is concealed with AK (`autn_concealed` in pySim,
/// "Conceal AUTN" in sysmo-usim-tool). That it means SQN ⊕ AK as in TS 33.102 §6.3.2 is
/// inferred from the labels **[to confirm]**.
pub const SQN_FLAG2_CONCEAL_AUTN: u8 = 0x01;
/// flag2 bit: SQN_MS in AUTS is concealed with AK* (TS 33.102 §6.3.3) **[to confirm]**, as above.
pub const SQN_FLAG2_CONCEAL_AUTS: u8 = 0x02;
/// flag2 bit: do not clear AMF when computing MAC-S (TS 33.102 uses AMF = 0000 there).
pub const SQN_FLAG2_KEEP_AMF_FOR_MAC_S: u8 = 0x04;
/// flag2 as the standard wants it and as sysmocom delivers the cards (`d5 03 …` in pySim's
/// SJA2 and SJA5 dumps, sysmo-usim-tool's default): both concealments on. With 00 the card
/// would expect SQN in clear, and every network challenge fails with 9862.
pub const SQN_FLAG2_STANDARD: u8 = SQN_FLAG2_CONCEAL_AUTN | SQN_FLAG2_CONCEAL_AUTS;
/// flag2 gbau writes.
pub const SQN_FLAG2_DEFAULT: u8 = SQN_FLAG2_STANDARD;

/// A Δ or age limit of TS 33.102 Annex C counts SEQ steps; the sysmo files hold it in SQN
/// units, shifted left by the IND length (sysmo-usim-tool's default 2^28 is written as
/// 2^33, as in pySim's example). A value that does not fit 48 bits is written as the
/// largest: the returned flag says so.
#[must_use]
pub fn limit_to_file(seq_steps: u64) -> (u64, bool) {
    match seq_steps.checked_shl(crate::sqn::IND_BITS) {
        Some(v) if v <= crate::sqn::SQN_MAX && seq_steps <= crate::sqn::SQN_MAX => (v, false),
        _ => (crate::sqn::SQN_MAX, true),
    }
}

/// EF.USIM_SQN decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqnFile {
    pub flag1: u8,
    pub flag2: u8,
    /// In SQN units (see [`limit_to_file`]).
    pub delta_max: u64,
    /// In SQN units.
    pub age_limit: u64,
    /// The freshness array: one 6-byte value per IND slot.
    pub entries: Vec<u64>,
}

fn u48(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn put_u48(v: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_be_bytes()[2..]);
}

impl SqnFile {
    /// The file gbau writes: checking on, delta and age limit as the policy says, 5 IND bits,
    /// the freshness array zeroed (a fresh card accepts any SQN above zero).
    #[must_use]
    pub fn reset(policy: SqnPolicy) -> Self {
        let mut flag1 = SQN_CHECK_ENABLED | (crate::sqn::IND_BITS as u8);
        if policy.delta.is_some() {
            flag1 |= SQN_CHECK_DELTA;
        }
        if policy.age_limit.is_some() {
            flag1 |= SQN_CHECK_AGE_LIMIT;
        }
        Self {
            flag1,
            flag2: SQN_FLAG2_DEFAULT,
            delta_max: limit_to_file(policy.delta.unwrap_or(0)).0,
            age_limit: limit_to_file(policy.age_limit.unwrap_or(0)).0,
            entries: vec![0; IND_SLOTS],
        }
    }

    /// Number of IND bits the file says.
    #[must_use]
    pub fn ind_len(&self) -> u8 {
        self.flag1 & SQN_IND_LEN_MASK
    }

    /// The bytes of the file.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.flag1, self.flag2];
        put_u48(self.delta_max, &mut out);
        put_u48(self.age_limit, &mut out);
        for e in &self.entries {
            put_u48(*e, &mut out);
        }
        out
    }

    /// Parse the file (the array length follows from the IND length).
    pub fn decode(bytes: &[u8]) -> Result<Self, SysmoError> {
        let flag1 = bytes.first().copied().unwrap_or(0);
        let slots = 1usize << (flag1 & SQN_IND_LEN_MASK).min(8);
        let expected = 14 + slots * 6;
        if bytes.len() < expected {
            return Err(SysmoError::Length {
                file: "EF.USIM_SQN",
                len: bytes.len(),
                expected,
            });
        }
        Ok(Self {
            flag1,
            flag2: bytes[1],
            delta_max: u48(&bytes[2..8]),
            age_limit: u48(&bytes[8..14]),
            entries: bytes[14..expected].chunks(6).map(u48).collect(),
        })
    }

    /// True when the next authentication skips the SQN check (flag1 bit 7, set as delivered).
    #[must_use]
    pub fn skips_next_check(&self) -> bool {
        self.flag1 & SQN_SKIP_NEXT_CHECK != 0
    }

    /// The SQN policy, if the file asks for checks gbau's SQN model implements (5 IND bits,
    /// checking on, the standard concealment of flag2). A pending skip of the next check is
    /// the card's to apply ([`Self::skips_next_check`]).
    pub fn policy(&self) -> Result<SqnPolicy, SysmoError> {
        let unsupported = |problem: &str| SysmoError::Unsupported {
            file: "EF.USIM_SQN",
            problem: problem.into(),
        };
        if u32::from(self.ind_len()) != crate::sqn::IND_BITS {
            return Err(unsupported("IND length other than 5 bits"));
        }
        if self.flag1 & SQN_CHECK_ENABLED == 0 {
            return Err(unsupported("SQN checking switched off"));
        }
        if self.flag2 != SQN_FLAG2_STANDARD {
            return Err(unsupported(&format!(
                "flag2 {:02X}: only {SQN_FLAG2_STANDARD:02X} (SQN concealed with AK in AUTN and AUTS, the standard) is emulated",
                self.flag2
            )));
        }
        Ok(SqnPolicy {
            delta: (self.flag1 & SQN_CHECK_DELTA != 0)
                .then_some(self.delta_max >> crate::sqn::IND_BITS),
            age_limit: (self.flag1 & SQN_CHECK_AGE_LIMIT != 0)
                .then_some(self.age_limit >> crate::sqn::IND_BITS),
        })
    }
}

// ---- sysmoUSIM-SJS1 --------------------------------------------------------------------

/// MF: the SJS1's proprietary DF.
pub const SJS1_DF_PROPRIETARY: u16 = 0x7FCC;
/// 7FCC: EF.AUTH, two bytes: the 2G algorithm, then the 3G algorithm.
pub const SJS1_EF_AUTH: u16 = 0x6F00;
/// 7FCC: EF.MLNGC, the Milenage constants c1..c5 then r1..r5 (the SJA2's order reversed).
pub const SJS1_EF_MLNGC: u16 = 0x6F01;
/// DF.GSM.
pub const DF_GSM: u16 = 0x7F20;
/// DF.GSM: Ki, 16 bytes.
pub const SJS1_EF_KI: u16 = 0x00FF;
/// DF.GSM: OP/OPc, a flag byte (01 = OPc, 00 = OP) then 16 bytes.
pub const SJS1_EF_OPC: u16 = 0x00F7;
/// ADF.USIM: SQN control (15 bytes).
pub const SJS1_EF_SQNC: u16 = 0x00FB;
/// ADF.USIM: SQN array, 6 bytes per IND slot.
pub const SJS1_EF_SQNA: u16 = 0x00FA;
/// ADF.USIM: the SJS1's authentication counter, 4 bytes big-endian: FFFFFFFF disabled (as
/// delivered; sysmo-usim-tool's reset writes it), 00000000 locked, else the authentications
/// left (sysmo-usim-tool `sysmo_usim_sjs1.py`).
pub const SJS1_EF_AUTH_COUNTER: u16 = 0x00FE;
/// Authentication counter: counting disabled, as delivered (sysmo-usim-tool `-S`).
pub const SJS1_AC_DISABLED: u32 = 0xFFFF_FFFF;
/// Authentication counter: locked, no AUTHENTICATE left (sysmo-usim-tool).
pub const SJS1_AC_LOCKED: u32 = 0;
/// EF.AUTH algorithm code: Milenage.
pub const SJS1_ALGO_MILENAGE: u8 = 0x01;
/// EF.OPC flag byte: OPc follows.
pub const SJS1_OPC_FLAG: u8 = 0x01;
/// SQNC byte 0 bits beside the IND length: SQN check, age limit, max delta.
pub const SJS1_SQNC_CHECK: u8 = 0x10;
pub const SJS1_SQNC_AGE_LIMIT: u8 = 0x20;
pub const SJS1_SQNC_DELTA: u8 = 0x40;

/// SJS1 EF.MLNGC: c1..c5 then r1..r5.
#[must_use]
pub fn encode_sjs1_mlngc(m: &MilenageConstants) -> [u8; MILENAGE_CFG_SIZE] {
    let mut out = [0u8; MILENAGE_CFG_SIZE];
    for (i, c) in m.c.iter().enumerate() {
        out[16 * i..16 * (i + 1)].copy_from_slice(c);
    }
    out[80..].copy_from_slice(&m.r);
    out
}

/// The first byte of SJS1 SQNC, then delta and age limit (bytes 3..14). Both tools shift
/// the 6-byte values left by the IND length and disagree on the byte order of bytes 1–2,
/// which gbau leaves as the card has them **[to confirm]**.
#[must_use]
pub fn encode_sjs1_sqnc(policy: SqnPolicy) -> (u8, [u8; 12]) {
    let ind = crate::sqn::IND_BITS;
    let mut first = SJS1_SQNC_CHECK | ind as u8;
    if policy.delta.is_some() {
        first |= SJS1_SQNC_DELTA;
    }
    if policy.age_limit.is_some() {
        first |= SJS1_SQNC_AGE_LIMIT;
    }
    let mut rest = [0u8; 12];
    let shifted = |v: Option<u64>| limit_to_file(v.unwrap_or(0)).0;
    rest[..6].copy_from_slice(&shifted(policy.delta).to_be_bytes()[2..]);
    rest[6..].copy_from_slice(&shifted(policy.age_limit).to_be_bytes()[2..]);
    (first, rest)
}

/// Decode the SJS1 EF.MLNGC (c1..c5 then r1..r5).
pub fn decode_sjs1_mlngc(bytes: &[u8]) -> Result<MilenageConstants, SysmoError> {
    if bytes.len() < MILENAGE_CFG_SIZE {
        return Err(SysmoError::Length {
            file: "EF.MLNGC",
            len: bytes.len(),
            expected: MILENAGE_CFG_SIZE,
        });
    }
    let mut m = MilenageConstants {
        r: [0; 5],
        c: [[0; 16]; 5],
    };
    for (i, c) in m.c.iter_mut().enumerate() {
        c.copy_from_slice(&bytes[16 * i..16 * (i + 1)]);
    }
    m.r.copy_from_slice(&bytes[80..85]);
    Ok(m)
}

/// Size of the SJS1 SQN control file.
pub const SJS1_SQNC_SIZE: usize = 15;

/// The SQN policy an SJS1 SQNC file asks for, if gbau's SQN model implements it (5 IND
/// bits, checking on).
pub fn sjs1_sqnc_policy(bytes: &[u8]) -> Result<SqnPolicy, SysmoError> {
    if bytes.len() < SJS1_SQNC_SIZE {
        return Err(SysmoError::Length {
            file: "SQNC",
            len: bytes.len(),
            expected: SJS1_SQNC_SIZE,
        });
    }
    let unsupported = |problem: &str| SysmoError::Unsupported {
        file: "SQNC",
        problem: problem.into(),
    };
    let flags = bytes[0];
    if u32::from(flags & 0x0F) != crate::sqn::IND_BITS {
        return Err(unsupported("IND length other than 5 bits"));
    }
    if flags & SJS1_SQNC_CHECK == 0 {
        return Err(unsupported("SQN checking switched off"));
    }
    let ind = crate::sqn::IND_BITS;
    Ok(SqnPolicy {
        delta: (flags & SJS1_SQNC_DELTA != 0).then(|| u48(&bytes[3..9]) >> ind),
        age_limit: (flags & SJS1_SQNC_AGE_LIMIT != 0).then(|| u48(&bytes[9..15]) >> ind),
    })
}

/// Decode a freshness array (6 bytes per IND slot, as in EF.USIM_SQN and SJS1 SQNA).
#[must_use]
pub fn decode_sqn_array(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks_exact(6).map(u48).collect()
}

/// Encode a freshness array.
#[must_use]
pub fn encode_sqn_array(entries: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 6);
    for e in entries {
        put_u48(*e, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hexutil::parse_hex;

    #[test]
    fn atrs_name_their_models() {
        let sja2 = parse_hex(SJA2_ATRS[0]).unwrap();
        assert_eq!(model_by_atr(&sja2), AtrMatch::Exact(Model::Sja2));
        let sja5 = parse_hex(SJA5_ATRS[2]).unwrap();
        assert_eq!(model_by_atr(&sja5), AtrMatch::Exact(Model::Sja5));
        let sjs1 = parse_hex(SJS1_ATRS[0]).unwrap();
        assert_eq!(model_by_atr(&sjs1), AtrMatch::Exact(Model::Sjs1));
        let other = parse_hex("3B9F96801F878031E073FE211B674A00112233445566").unwrap();
        assert_eq!(model_by_atr(&other), AtrMatch::SjaFamily);
        assert_eq!(model_by_atr(&[0x3B, 0x00]), AtrMatch::Unknown);
    }

    #[test]
    fn auth_key_layout() {
        // pySim's coding: config byte 0x14 = Milenage, OPc; K at 1..17, OPc at 17..33.
        let k = [0x11; 16];
        let opc = [0x22; 16];
        let f = encode_auth_key_milenage(&k, &opc);
        assert_eq!(f[0], 0x14);
        let d = decode_auth_key(&f).unwrap();
        assert_eq!((d.algorithm, d.use_opc, d.res_4_bytes), (4, true, false));
        assert_eq!((d.k, d.op_or_opc), (k, opc));
        assert!(decode_auth_key(&f[..20]).is_err());
        assert!(decode_auth_key(&[0x16; 51]).is_err());
    }

    #[test]
    fn sqn_file_matches_the_pysim_example_layout() {
        // pySim's example: flags d5 03, delta_max and age_limit 2^33, 32 zero entries: 206 bytes.
        let mut bytes = parse_hex("d503000200000000000200000000").unwrap();
        bytes.resize(206, 0);
        let f = SqnFile::decode(&bytes).unwrap();
        assert_eq!(
            (f.ind_len(), f.delta_max, f.age_limit),
            (5, 1 << 33, 1 << 33)
        );
        assert_eq!(f.entries.len(), 32);
        assert_eq!(f.encode(), bytes);
        // As delivered: skip the first check, Δ checked, no age limit, standard concealment.
        assert!(f.skips_next_check());
        assert_eq!(f.flag2, SQN_FLAG2_STANDARD);
        assert_eq!(
            f.policy().unwrap(),
            SqnPolicy {
                delta: Some(1 << 28),
                age_limit: None
            }
        );
        let mut clear = f.clone();
        clear.flag2 = 0x00;
        assert!(
            clear.policy().is_err(),
            "flag2 00 (no concealment) is refused"
        );
        assert_eq!(
            f.delta_max >> 5,
            1 << 28,
            "sysmo-usim-tool's default Δ = 2^28 SEQ steps"
        );
        assert_eq!(limit_to_file(1 << 28), (1 << 33, false));
        assert_eq!(limit_to_file(1 << 44), (crate::sqn::SQN_MAX, true));
        let ours = SqnFile::reset(SqnPolicy {
            delta: Some(1 << 28),
            age_limit: None,
        });
        assert_eq!(ours.encode().len(), USIM_SQN_SIZE);
        assert_eq!(ours.flag1, 0x55);
        assert_eq!(
            ours.policy().unwrap(),
            SqnPolicy {
                delta: Some(1 << 28),
                age_limit: None
            }
        );
        assert!(SqnFile::decode(&bytes[..100]).is_err());
    }

    #[test]
    fn milenage_cfg_orders() {
        let m = MilenageConstants::default();
        let sja = encode_milenage_cfg(&m);
        // pySim's default: r = 40 00 20 40 60, then c1 = 0, c2 = ..01, c3 = ..02.
        assert_eq!(&sja[..5], &[0x40, 0x00, 0x20, 0x40, 0x60]);
        assert_eq!(sja[5 + 16 + 15], 0x01);
        assert_eq!(decode_milenage_cfg(&sja).unwrap(), m);
        let sjs = encode_sjs1_mlngc(&m);
        assert_eq!(&sjs[80..], &[0x40, 0x00, 0x20, 0x40, 0x60]);
        assert_eq!(sjs[16 + 15], 0x01);
        assert_eq!(decode_sjs1_mlngc(&sjs).unwrap(), m);
    }

    #[test]
    fn sjs1_sqnc_round_trip() {
        let policy = SqnPolicy {
            delta: Some(1 << 28),
            age_limit: Some(1000),
        };
        let (first, rest) = encode_sjs1_sqnc(policy);
        assert_eq!(first, 0x75);
        let mut file = vec![first, 0, 0];
        file.extend_from_slice(&rest);
        assert_eq!(sjs1_sqnc_policy(&file).unwrap(), policy);
        file[0] = 0x45;
        assert!(
            sjs1_sqnc_policy(&file).is_err(),
            "checking off is not emulated"
        );
        assert_eq!(
            decode_sqn_array(&encode_sqn_array(&[1, 2, 3])),
            vec![1, 2, 3]
        );
    }
}
