//! ISO 7816-4 / ETSI TS 102 221 §10.2 status words, one enum for the whole project.

use std::fmt;

/// A status word (SW1 SW2). Conversions to and from `u16` round-trip for every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusWord {
    /// '9000': normal ending of the command.
    Ok,
    /// '61xx': xx response bytes are waiting (T=0); fetch them with GET RESPONSE. '00' means 256.
    MoreData(u8),
    /// '9Fxx': UICC-specific variant of '61xx' used by some (U)SIMs.
    UiccMoreData(u8),
    /// '6Cxx': wrong Le; xx is the exact length available.
    WrongLe(u8),
    /// '63Cx': verification failed, x retries left.
    RetriesLeft(u8),
    /// '6281': part of returned data may be corrupted.
    DataMayBeCorrupted,
    /// '6282': end of file or record reached before reading Le bytes.
    EndOfFileReached,
    /// '6283': selected file invalidated.
    FileInvalidated,
    /// '6581': memory problem.
    MemoryProblem,
    /// '6700': wrong length.
    WrongLength,
    /// '6981': command incompatible with file structure.
    IncompatibleFileStructure,
    /// '6982': security status not satisfied.
    SecurityStatusNotSatisfied,
    /// '6983': authentication/PIN method blocked.
    AuthMethodBlocked,
    /// '6984': referenced data invalidated.
    ReferencedDataInvalidated,
    /// '6985': conditions of use not satisfied.
    ConditionsOfUseNotSatisfied,
    /// '6986': command not allowed (no EF selected).
    NoCurrentEf,
    /// '6A80': incorrect parameters in the data field.
    IncorrectData,
    /// '6A81': function not supported.
    FunctionNotSupported,
    /// '6A82': file or application not found.
    FileNotFound,
    /// '6A83': record not found.
    RecordNotFound,
    /// '6A84': not enough memory space.
    NotEnoughMemory,
    /// '6A86': incorrect parameters P1-P2.
    IncorrectP1P2,
    /// '6A87': Lc inconsistent with P1-P2.
    LcInconsistentWithP1P2,
    /// '6A88': referenced data not found.
    ReferencedDataNotFound,
    /// '6B00': wrong parameter(s) P1-P2.
    WrongParameters,
    /// '6D00': instruction code not supported or invalid.
    InsNotSupported,
    /// '6E00': class not supported.
    ClaNotSupported,
    /// '6F00': technical problem, no precise diagnosis.
    NoPreciseDiagnosis,
    /// '9862': authentication error, incorrect MAC (TS 31.102 §7.3).
    AuthenticationErrorIncorrectMac,
    /// '9864': authentication error, security context not supported (TS 31.102 §7.3).
    SecurityContextNotSupported,
    /// Any other value.
    Other(u16),
}

impl StatusWord {
    /// Build from the two trailer bytes of a response.
    #[must_use]
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self::from(u16::from_be_bytes([sw1, sw2]))
    }

    /// The two trailer bytes.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 2] {
        u16::from(self).to_be_bytes()
    }

    /// True for '9000' only.
    #[must_use]
    pub fn is_ok(self) -> bool {
        self == Self::Ok
    }

    /// What the status word means, in a few words.
    #[must_use]
    pub fn meaning(self) -> String {
        match self {
            Self::Ok => "normal ending".into(),
            Self::MoreData(n) => {
                format!("{} response bytes available (GET RESPONSE)", len_or_256(n))
            }
            Self::UiccMoreData(n) => {
                format!("{} response bytes available (GET RESPONSE)", len_or_256(n))
            }
            Self::WrongLe(n) => format!("wrong Le, {} bytes available", len_or_256(n)),
            Self::RetriesLeft(n) => format!("verification failed, {n} retries left"),
            Self::DataMayBeCorrupted => "part of returned data may be corrupted".into(),
            Self::EndOfFileReached => "end of file/record reached before Le bytes".into(),
            Self::FileInvalidated => "selected file invalidated".into(),
            Self::MemoryProblem => "memory problem".into(),
            Self::WrongLength => "wrong length".into(),
            Self::IncompatibleFileStructure => "command incompatible with file structure".into(),
            Self::SecurityStatusNotSatisfied => "security status not satisfied".into(),
            Self::AuthMethodBlocked => "authentication method blocked".into(),
            Self::ReferencedDataInvalidated => "referenced data invalidated".into(),
            Self::ConditionsOfUseNotSatisfied => "conditions of use not satisfied".into(),
            Self::NoCurrentEf => "command not allowed, no EF selected".into(),
            Self::IncorrectData => "incorrect parameters in the data field".into(),
            Self::FunctionNotSupported => "function not supported".into(),
            Self::FileNotFound => "file or application not found".into(),
            Self::RecordNotFound => "record not found".into(),
            Self::NotEnoughMemory => "not enough memory space".into(),
            Self::IncorrectP1P2 => "incorrect parameters P1-P2".into(),
            Self::LcInconsistentWithP1P2 => "Lc inconsistent with P1-P2".into(),
            Self::ReferencedDataNotFound => "referenced data not found".into(),
            Self::WrongParameters => "wrong parameters P1-P2".into(),
            Self::InsNotSupported => "instruction not supported".into(),
            Self::ClaNotSupported => "class not supported".into(),
            Self::NoPreciseDiagnosis => "technical problem, no precise diagnosis".into(),
            Self::AuthenticationErrorIncorrectMac => "authentication error, incorrect MAC".into(),
            Self::SecurityContextNotSupported => {
                "authentication error, security context not supported".into()
            }
            Self::Other(_) => "unknown status".into(),
        }
    }
}

fn len_or_256(n: u8) -> u16 {
    if n == 0 {
        256
    } else {
        u16::from(n)
    }
}

impl From<u16> for StatusWord {
    fn from(v: u16) -> Self {
        let [sw1, sw2] = v.to_be_bytes();
        match (sw1, sw2) {
            (0x90, 0x00) => Self::Ok,
            (0x61, n) => Self::MoreData(n),
            (0x9F, n) => Self::UiccMoreData(n),
            (0x6C, n) => Self::WrongLe(n),
            (0x63, n) if n & 0xF0 == 0xC0 => Self::RetriesLeft(n & 0x0F),
            (0x62, 0x81) => Self::DataMayBeCorrupted,
            (0x62, 0x82) => Self::EndOfFileReached,
            (0x62, 0x83) => Self::FileInvalidated,
            (0x65, 0x81) => Self::MemoryProblem,
            (0x67, 0x00) => Self::WrongLength,
            (0x69, 0x81) => Self::IncompatibleFileStructure,
            (0x69, 0x82) => Self::SecurityStatusNotSatisfied,
            (0x69, 0x83) => Self::AuthMethodBlocked,
            (0x69, 0x84) => Self::ReferencedDataInvalidated,
            (0x69, 0x85) => Self::ConditionsOfUseNotSatisfied,
            (0x69, 0x86) => Self::NoCurrentEf,
            (0x6A, 0x80) => Self::IncorrectData,
            (0x6A, 0x81) => Self::FunctionNotSupported,
            (0x6A, 0x82) => Self::FileNotFound,
            (0x6A, 0x83) => Self::RecordNotFound,
            (0x6A, 0x84) => Self::NotEnoughMemory,
            (0x6A, 0x86) => Self::IncorrectP1P2,
            (0x6A, 0x87) => Self::LcInconsistentWithP1P2,
            (0x6A, 0x88) => Self::ReferencedDataNotFound,
            (0x6B, 0x00) => Self::WrongParameters,
            (0x6D, 0x00) => Self::InsNotSupported,
            (0x6E, 0x00) => Self::ClaNotSupported,
            (0x6F, 0x00) => Self::NoPreciseDiagnosis,
            (0x98, 0x62) => Self::AuthenticationErrorIncorrectMac,
            (0x98, 0x64) => Self::SecurityContextNotSupported,
            _ => Self::Other(v),
        }
    }
}

impl From<StatusWord> for u16 {
    fn from(sw: StatusWord) -> u16 {
        match sw {
            StatusWord::Ok => 0x9000,
            StatusWord::MoreData(n) => 0x6100 | u16::from(n),
            StatusWord::UiccMoreData(n) => 0x9F00 | u16::from(n),
            StatusWord::WrongLe(n) => 0x6C00 | u16::from(n),
            StatusWord::RetriesLeft(n) => 0x63C0 | u16::from(n & 0x0F),
            StatusWord::DataMayBeCorrupted => 0x6281,
            StatusWord::EndOfFileReached => 0x6282,
            StatusWord::FileInvalidated => 0x6283,
            StatusWord::MemoryProblem => 0x6581,
            StatusWord::WrongLength => 0x6700,
            StatusWord::IncompatibleFileStructure => 0x6981,
            StatusWord::SecurityStatusNotSatisfied => 0x6982,
            StatusWord::AuthMethodBlocked => 0x6983,
            StatusWord::ReferencedDataInvalidated => 0x6984,
            StatusWord::ConditionsOfUseNotSatisfied => 0x6985,
            StatusWord::NoCurrentEf => 0x6986,
            StatusWord::IncorrectData => 0x6A80,
            StatusWord::FunctionNotSupported => 0x6A81,
            StatusWord::FileNotFound => 0x6A82,
            StatusWord::RecordNotFound => 0x6A83,
            StatusWord::NotEnoughMemory => 0x6A84,
            StatusWord::IncorrectP1P2 => 0x6A86,
            StatusWord::LcInconsistentWithP1P2 => 0x6A87,
            StatusWord::ReferencedDataNotFound => 0x6A88,
            StatusWord::WrongParameters => 0x6B00,
            StatusWord::InsNotSupported => 0x6D00,
            StatusWord::ClaNotSupported => 0x6E00,
            StatusWord::NoPreciseDiagnosis => 0x6F00,
            StatusWord::AuthenticationErrorIncorrectMac => 0x9862,
            StatusWord::SecurityContextNotSupported => 0x9864,
            StatusWord::Other(v) => v,
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", u16::from(*self), self.meaning())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_u16_round_trips() {
        for v in 0..=u16::MAX {
            assert_eq!(u16::from(StatusWord::from(v)), v, "{v:04X}");
        }
    }

    #[test]
    fn named_variants_decode() {
        assert_eq!(
            StatusWord::from(0x9862),
            StatusWord::AuthenticationErrorIncorrectMac
        );
        assert_eq!(StatusWord::from(0x63C2), StatusWord::RetriesLeft(2));
        assert_eq!(StatusWord::from(0x6C10), StatusWord::WrongLe(0x10));
        assert_eq!(
            StatusWord::from_bytes(0x61, 0x22),
            StatusWord::MoreData(0x22)
        );
        assert_eq!(StatusWord::from(0x63D0), StatusWord::Other(0x63D0));
    }

    #[test]
    fn display_says_what_it_means() {
        assert_eq!(StatusWord::Ok.to_string(), "9000 (normal ending)");
        assert_eq!(
            StatusWord::SecurityContextNotSupported.to_string(),
            "9864 (authentication error, security context not supported)"
        );
        assert_eq!(
            StatusWord::MoreData(0).to_string(),
            "6100 (256 response bytes available (GET RESPONSE))"
        );
    }
}
