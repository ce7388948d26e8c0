//! Access rules in the expanded format (ISO/IEC 7816-4 §9.3, TS 102 221 §9.2 and Annex G):
//! the records of EF.ARR that an FCP's tag '8B' points to, both ways. A record is a list of
//! rules, each an access mode data object (AM_DO: which operations) followed by a security
//! condition data object (SC_DO: who may do them).
//!
//! The coding was checked against pySim's EF.ARR decoder (`pySim/ts_102_221.py`), whose
//! test records are among the vectors below.

use std::fmt;

use crate::ef::EfError;
use crate::tlv::{self, Tlv};

/// AM_DO holding an access mode byte (ISO 7816-4 §9.3.2).
pub const TAG_AM_DO: u32 = 0x80;
/// First tag of the AM_DOs holding a command header description instead (ISO 7816-4 §9.3.2,
/// '81'..'8F': bits b4..b1 of the tag say which of CLA, INS, P1, P2 follow).
pub const TAG_AM_DO_COMMAND_FIRST: u32 = 0x81;
/// Last tag of the command header AM_DOs.
pub const TAG_AM_DO_COMMAND_LAST: u32 = 0x8F;
/// SC_DO "always" (ISO 7816-4 §9.3.3; empty value).
pub const TAG_SC_ALWAYS: u32 = 0x90;
/// SC_DO "never" (ISO 7816-4 §9.3.3; empty value).
pub const TAG_SC_NEVER: u32 = 0x97;
/// SC_DO control reference template for authentication: a key reference to verify
/// (TS 102 221 §9.5.1).
pub const TAG_SC_CRT: u32 = 0xA4;
/// SC_DO OR template: one of the nested conditions suffices (ISO 7816-4 §9.3.3).
pub const TAG_SC_OR: u32 = 0xA0;
/// SC_DO AND template: all nested conditions are needed (ISO 7816-4 §9.3.3).
pub const TAG_SC_AND: u32 = 0xA7;
/// Key reference inside the CRT.
pub const TAG_KEY_REFERENCE: u32 = 0x83;
/// Usage qualifier inside the CRT.
pub const TAG_USAGE_QUALIFIER: u32 = 0x95;
/// Usage qualifier "user verification" (TS 102 221 §9.5.1; the only one pySim accepts).
pub const USAGE_USER_VERIFICATION: u8 = 0x08;

const FILE: &str = "EF_ARR";

fn malformed(problem: impl Into<String>) -> EfError {
    EfError::Malformed {
        file: FILE,
        problem: problem.into(),
    }
}

/// The access mode byte of an AM_DO (ISO 7816-4 §9.3.2, tables for EFs and for DFs). The
/// same bits mean different operations for an EF and for a DF, hence the two constant sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessModes(pub u8);

impl AccessModes {
    /// EF: READ BINARY/RECORD, SEARCH BINARY/RECORD.
    pub const READ: Self = Self(0x01);
    /// EF: UPDATE BINARY/RECORD, ERASE.
    pub const UPDATE: Self = Self(0x02);
    /// EF: WRITE BINARY/RECORD, APPEND RECORD.
    pub const WRITE: Self = Self(0x04);
    /// EF or DF: DEACTIVATE FILE.
    pub const DEACTIVATE: Self = Self(0x08);
    /// EF or DF: ACTIVATE FILE.
    pub const ACTIVATE: Self = Self(0x10);
    /// EF: TERMINATE EF (DF: TERMINATE DF).
    pub const TERMINATE: Self = Self(0x20);
    /// EF or DF: DELETE FILE (the file itself).
    pub const DELETE: Self = Self(0x40);
    /// DF: DELETE FILE (a child).
    pub const DF_DELETE_CHILD: Self = Self(0x01);
    /// DF: CREATE FILE (an EF).
    pub const DF_CREATE_EF: Self = Self(0x02);
    /// DF: CREATE FILE (a DF).
    pub const DF_CREATE_DF: Self = Self(0x04);

    /// Both sets of operations.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// True when every operation of `other` is in `self`.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// A key reference of a CRT (TS 102 221 §9.5.1, Table 9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyRef {
    /// '01': PIN Appl 1 (gbau's PIN1).
    PinAppl1,
    /// '81': second PIN Appl 1 (gbau's PIN2).
    SecondPinAppl1,
    /// '0A': ADM1.
    Adm1,
    /// '11': universal PIN.
    UniversalPin,
    /// Any other key reference.
    Other(u8),
}

impl KeyRef {
    /// '01'.
    pub const PIN_APPL_1: u8 = 0x01;
    /// '81'.
    pub const SECOND_PIN_APPL_1: u8 = 0x81;
    /// '0A'.
    pub const ADM1: u8 = 0x0A;
    /// '11'.
    pub const UNIVERSAL_PIN: u8 = 0x11;

    /// The key reference byte.
    #[must_use]
    pub fn byte(self) -> u8 {
        match self {
            Self::PinAppl1 => Self::PIN_APPL_1,
            Self::SecondPinAppl1 => Self::SECOND_PIN_APPL_1,
            Self::Adm1 => Self::ADM1,
            Self::UniversalPin => Self::UNIVERSAL_PIN,
            Self::Other(b) => b,
        }
    }
}

impl From<u8> for KeyRef {
    fn from(b: u8) -> Self {
        match b {
            Self::PIN_APPL_1 => Self::PinAppl1,
            Self::SECOND_PIN_APPL_1 => Self::SecondPinAppl1,
            Self::ADM1 => Self::Adm1,
            Self::UNIVERSAL_PIN => Self::UniversalPin,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PinAppl1 => f.write_str("PIN1"),
            Self::SecondPinAppl1 => f.write_str("PIN2"),
            Self::Adm1 => f.write_str("ADM1"),
            Self::UniversalPin => f.write_str("universal PIN"),
            Self::Other(b) => write!(f, "key {b:02X}"),
        }
    }
}

/// A security condition (SC_DO).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    Never,
    /// The key reference verified (CRT with usage qualifier "user verification").
    Key(KeyRef),
    /// Any one of these.
    Or(Vec<Condition>),
    /// All of these.
    And(Vec<Condition>),
    /// An SC_DO this decoder does not interpret (security condition bytes, NOT, …).
    Other {
        tag: u32,
        value: Vec<u8>,
    },
}

impl Condition {
    /// The SC_DO.
    pub fn encode(&self) -> Result<Vec<u8>, EfError> {
        let tlv = |tag: u32, value: Vec<u8>| {
            Tlv::new(tag, value)
                .to_bytes()
                .map_err(|e| malformed(e.to_string()))
        };
        let nested = |items: &[Condition]| -> Result<Vec<u8>, EfError> {
            let mut out = Vec::new();
            for c in items {
                out.extend(c.encode()?);
            }
            Ok(out)
        };
        match self {
            Self::Always => tlv(TAG_SC_ALWAYS, Vec::new()),
            Self::Never => tlv(TAG_SC_NEVER, Vec::new()),
            Self::Key(k) => {
                let mut crt = tlv(TAG_KEY_REFERENCE, vec![k.byte()])?;
                crt.extend(tlv(TAG_USAGE_QUALIFIER, vec![USAGE_USER_VERIFICATION])?);
                tlv(TAG_SC_CRT, crt)
            }
            Self::Or(items) => tlv(TAG_SC_OR, nested(items)?),
            Self::And(items) => tlv(TAG_SC_AND, nested(items)?),
            Self::Other { tag, value } => tlv(*tag, value.clone()),
        }
    }

    fn decode(t: &Tlv, depth: usize) -> Result<Self, EfError> {
        if depth > tlv::MAX_DEPTH {
            return Err(malformed("security conditions nested too deep"));
        }
        let nested = |t: &Tlv| -> Result<Vec<Condition>, EfError> {
            t.children()
                .map_err(|e| malformed(e.to_string()))?
                .iter()
                .map(|c| Self::decode(c, depth + 1))
                .collect()
        };
        Ok(match t.tag.0 {
            TAG_SC_ALWAYS => Self::Always,
            TAG_SC_NEVER => Self::Never,
            TAG_SC_CRT => {
                let key = t
                    .find(TAG_KEY_REFERENCE)
                    .map_err(|e| malformed(e.to_string()))?
                    .and_then(|k| k.value.first().copied())
                    .ok_or_else(|| malformed("CRT without a key reference"))?;
                Self::Key(KeyRef::from(key))
            }
            TAG_SC_OR => Self::Or(nested(t)?),
            TAG_SC_AND => Self::And(nested(t)?),
            tag => Self::Other {
                tag,
                value: t.value.clone(),
            },
        })
    }

    /// Whether the condition holds when `satisfied` says which key references are
    /// satisfied (verified, or a disabled PIN). Conditions this module does not interpret
    /// never hold.
    pub fn allows(&self, satisfied: &dyn Fn(KeyRef) -> bool) -> bool {
        match self {
            Self::Always => true,
            Self::Never | Self::Other { .. } => false,
            Self::Key(k) => satisfied(*k),
            Self::Or(items) => items.iter().any(|c| c.allows(satisfied)),
            Self::And(items) => items.iter().all(|c| c.allows(satisfied)),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[Condition], word: &str| {
            for (i, c) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {word} ")?;
                }
                match c {
                    Self::Or(_) | Self::And(_) => write!(f, "({c})")?,
                    _ => write!(f, "{c}")?,
                }
            }
            Ok(())
        };
        match self {
            Self::Always => f.write_str("always"),
            Self::Never => f.write_str("never"),
            Self::Key(k) => write!(f, "{k}"),
            Self::Or(items) => join(f, items, "or"),
            Self::And(items) => join(f, items, "and"),
            Self::Other { tag, value } => write!(f, "SC_DO {tag:02X} {}", hex::encode(value)),
        }
    }
}

/// What an AM_DO names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operations {
    /// Operations by access mode byte.
    Modes(AccessModes),
    /// One command by its header ('81'..'8F': the tag says which header bytes follow).
    CommandHeader { tag: u32, header: Vec<u8> },
}

/// One access rule: operations and the condition under which they are allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub operations: Operations,
    pub condition: Condition,
}

impl Rule {
    /// A rule by access modes.
    #[must_use]
    pub fn new(modes: AccessModes, condition: Condition) -> Self {
        Self {
            operations: Operations::Modes(modes),
            condition,
        }
    }
}

/// An EF.ARR record: the rules, in order.
pub fn encode_record(rules: &[Rule]) -> Result<Vec<u8>, EfError> {
    let mut out = Vec::new();
    for r in rules {
        let am = match &r.operations {
            Operations::Modes(m) => Tlv::new(TAG_AM_DO, vec![m.0]),
            Operations::CommandHeader { tag, header } => Tlv::new(*tag, header.clone()),
        };
        out.extend(am.to_bytes().map_err(|e| malformed(e.to_string()))?);
        out.extend(r.condition.encode()?);
    }
    Ok(out)
}

/// Decode an EF.ARR record ('FF' padding skipped; an empty record has no rules). Several
/// SC_DOs after one AM_DO are read as alternatives (an OR), as ISO 7816-4 §9.3.3 is
/// recalled here **[to confirm]**.
pub fn decode_record(bytes: &[u8]) -> Result<Vec<Rule>, EfError> {
    let items = tlv::parse_all(bytes).map_err(|e| malformed(e.to_string()))?;
    let mut rules: Vec<(Operations, Vec<Condition>)> = Vec::new();
    for t in &items {
        match t.tag.0 {
            TAG_AM_DO => {
                let [mode] = t.value.as_slice() else {
                    return Err(malformed("AM_DO must hold one access mode byte"));
                };
                rules.push((Operations::Modes(AccessModes(*mode)), Vec::new()));
            }
            tag @ TAG_AM_DO_COMMAND_FIRST..=TAG_AM_DO_COMMAND_LAST => rules.push((
                Operations::CommandHeader {
                    tag,
                    header: t.value.clone(),
                },
                Vec::new(),
            )),
            _ => {
                let (_, conditions) = rules
                    .last_mut()
                    .ok_or_else(|| malformed("security condition before any access mode"))?;
                conditions.push(Condition::decode(t, 0)?);
            }
        }
    }
    rules
        .into_iter()
        .map(|(operations, mut conditions)| {
            let condition = match conditions.len() {
                0 => return Err(malformed("access mode without a security condition")),
                1 => conditions.remove(0),
                _ => Condition::Or(conditions),
            };
            Ok(Rule {
                operations,
                condition,
            })
        })
        .collect()
}

/// The condition of the first rule naming `mode` by access mode byte; `None` when no rule
/// names it.
#[must_use]
pub fn condition_for(rules: &[Rule], mode: AccessModes) -> Option<&Condition> {
    rules.iter().find_map(|r| match r.operations {
        Operations::Modes(m) if m.contains(mode) => Some(&r.condition),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: KeyRef) -> Condition {
        Condition::Key(k)
    }

    fn bytes(rules: &[Rule]) -> String {
        hex::encode_upper(encode_record(rules).unwrap())
    }

    // The four records below are TS 102 221 Annex G / pySim examples, not outputs of this code.
    #[test]
    fn read_always_update_pin1() {
        let rules = [
            Rule::new(AccessModes::READ, Condition::Always),
            Rule::new(AccessModes::UPDATE, key(KeyRef::PinAppl1)),
        ];
        let expected = "8001019000800102A406830101950108";
        assert_eq!(bytes(&rules), expected);
        assert_eq!(
            decode_record(&hex::decode(expected).unwrap()).unwrap(),
            rules
        );
    }

    #[test]
    fn read_pin1_update_adm1() {
        let rules = [
            Rule::new(AccessModes::READ, key(KeyRef::PinAppl1)),
            Rule::new(AccessModes::UPDATE, key(KeyRef::Adm1)),
        ];
        let expected = "800101A406830101950108800102A40683010A950108";
        assert_eq!(bytes(&rules), expected);
        assert_eq!(
            decode_record(&hex::decode(expected).unwrap()).unwrap(),
            rules
        );
    }

    #[test]
    fn read_always_update_never() {
        let rules = [
            Rule::new(AccessModes::READ, Condition::Always),
            Rule::new(AccessModes::UPDATE, Condition::Never),
        ];
        assert_eq!(bytes(&rules), "80010190008001029700");
    }

    #[test]
    fn activate_and_deactivate_by_adm1() {
        let modes = AccessModes::ACTIVATE.with(AccessModes::DEACTIVATE);
        let rules = [Rule::new(modes, key(KeyRef::Adm1))];
        assert_eq!(bytes(&rules), "800118A40683010A950108");
    }

    #[test]
    fn decodes_pysim_records_with_command_headers_and_padding() {
        // pySim's EF_ARR test record 1, padded with 'FF' as a record is.
        let mut rec =
            hex::decode("800101a40683010a950108800106900080016097008401d4a40683010a950108")
                .unwrap();
        rec.resize(48, 0xFF);
        let rules = decode_record(&rec).unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(
            condition_for(&rules, AccessModes::READ),
            Some(&key(KeyRef::Adm1))
        );
        assert_eq!(
            condition_for(&rules, AccessModes::UPDATE),
            Some(&Condition::Always)
        );
        assert_eq!(
            condition_for(&rules, AccessModes::WRITE),
            Some(&Condition::Always)
        );
        assert_eq!(
            condition_for(&rules, AccessModes::DELETE),
            Some(&Condition::Never)
        );
        assert_eq!(condition_for(&rules, AccessModes::ACTIVATE), None);
        assert_eq!(
            rules[3].operations,
            Operations::CommandHeader {
                tag: 0x84,
                header: vec![0xD4]
            }
        );
        assert!(decode_record(&[0xFF; 16]).unwrap().is_empty());
    }

    #[test]
    fn or_template_round_trips_and_evaluates() {
        let either = Condition::Or(vec![key(KeyRef::PinAppl1), key(KeyRef::Adm1)]);
        let rules = [Rule::new(AccessModes::READ, either.clone())];
        let enc = encode_record(&rules).unwrap();
        assert_eq!(
            hex::encode_upper(&enc),
            "800101A010A406830101950108A40683010A950108"
        );
        assert_eq!(decode_record(&enc).unwrap(), rules);
        assert!(either.allows(&|k| k == KeyRef::Adm1));
        assert!(!either.allows(&|k| k == KeyRef::SecondPinAppl1));
        assert_eq!(either.to_string(), "PIN1 or ADM1");
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics_and_what_it_reads_re_encodes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)
        ) {
            if let Ok(rules) = decode_record(&bytes) {
                let again = encode_record(&rules).expect("decoded rules encode");
                proptest::prop_assert_eq!(decode_record(&again).expect("re-decode"), rules);
            }
        }
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        assert!(decode_record(&hex::decode("9000").unwrap()).is_err());
        assert!(decode_record(&hex::decode("800101").unwrap()).is_err());
        assert!(decode_record(&hex::decode("800201019000").unwrap()).is_err());
        assert!(decode_record(&hex::decode("800101A403950108").unwrap()).is_err());
        let mut deep = vec![0x80, 0x01, 0x01];
        let mut sc = vec![0x90, 0x00];
        for _ in 0..20 {
            let mut t = vec![0xA0, sc.len() as u8];
            t.extend(sc);
            sc = t;
        }
        deep.extend(sc);
        assert!(decode_record(&deep).is_err());
    }
}
