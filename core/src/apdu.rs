//! ISO/IEC 7816-4 §5.1 command and response APDUs: cases 1–4, short and extended lengths.

use std::fmt;

use crate::StatusWord;

/// Why bytes are not a well-formed command APDU.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    /// Fewer than the four header bytes.
    #[error("APDU too short: {len} bytes, a command needs at least 4 (CLA INS P1 P2)")]
    TooShort { len: usize },
    /// The body length does not match any of cases 2–4 for the Lc it declares.
    #[error("APDU body of {body} bytes does not match Lc={lc} (case 3 needs {case3}, case 4 needs {case4})")]
    LengthMismatch {
        lc: usize,
        body: usize,
        case3: usize,
        case4: usize,
    },
    /// An extended-length body that is neither case 2E nor a valid 3E/4E.
    #[error("malformed extended-length APDU body ({body} bytes)")]
    BadExtended { body: usize },
    /// Command data longer than an extended APDU can carry.
    #[error("command data of {len} bytes exceeds 65535")]
    DataTooLong { len: usize },
    /// Ne outside 1..=65536.
    #[error("expected response length {ne} is outside 1..=65536")]
    BadNe { ne: usize },
    /// A response needs at least the two status bytes.
    #[error("response too short: {len} bytes, a response needs at least SW1 SW2")]
    ResponseTooShort { len: usize },
}

/// The ISO 7816-4 case of a command, with its length encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApduCase {
    /// No data, no response data.
    Case1,
    /// Response data expected.
    Case2 { extended: bool },
    /// Command data, no response data.
    Case3 { extended: bool },
    /// Command data and response data.
    Case4 { extended: bool },
}

/// A command APDU. `ne` is the maximum number of response bytes expected (Le decoded: an Le of
/// '00' means 256 in short form and 65536 in extended form); `None` means no Le field.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandApdu {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    pub ne: Option<usize>,
}

const SHORT_MAX_LC: usize = 255;
const SHORT_MAX_NE: usize = 256;
const EXTENDED_MAX_LC: usize = 65_535;
const EXTENDED_MAX_NE: usize = 65_536;

impl CommandApdu {
    /// A case-1 command (header only).
    #[must_use]
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            ne: None,
        }
    }

    /// Set the command data.
    #[must_use]
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Set Ne, the maximum number of response bytes expected.
    #[must_use]
    pub fn with_ne(mut self, ne: usize) -> Self {
        self.ne = Some(ne);
        self
    }

    /// Parse the bytes of a command APDU (ISO 7816-4 §5.1, Table 1). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let (header, body) = match bytes {
            [cla, ins, p1, p2, body @ ..] => ([*cla, *ins, *p1, *p2], body),
            _ => return Err(ApduError::TooShort { len: bytes.len() }),
        };
        let [cla, ins, p1, p2] = header;
        let mut apdu = Self::new(cla, ins, p1, p2);
        match body {
            [] => {}
            [le] => apdu.ne = Some(short_ne(*le)),
            [0, rest @ ..] => parse_extended(&mut apdu, rest)?,
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if rest.len() == lc {
                    apdu.data = rest.to_vec();
                } else if rest.len() == lc + 1 {
                    apdu.data = rest[..lc].to_vec();
                    apdu.ne = Some(short_ne(rest[lc]));
                } else {
                    return Err(ApduError::LengthMismatch {
                        lc,
                        body: body.len(),
                        case3: 1 + lc,
                        case4: 2 + lc,
                    });
                }
            }
        }
        Ok(apdu)
    }

    /// The case this command encodes to.
    pub fn case(&self) -> Result<ApduCase, ApduError> {
        if self.data.len() > EXTENDED_MAX_LC {
            return Err(ApduError::DataTooLong {
                len: self.data.len(),
            });
        }
        if let Some(ne) = self.ne {
            if ne == 0 || ne > EXTENDED_MAX_NE {
                return Err(ApduError::BadNe { ne });
            }
        }
        let extended =
            self.data.len() > SHORT_MAX_LC || self.ne.is_some_and(|ne| ne > SHORT_MAX_NE);
        Ok(match (self.data.is_empty(), self.ne.is_some()) {
            (true, false) => ApduCase::Case1,
            (true, true) => ApduCase::Case2 { extended },
            (false, false) => ApduCase::Case3 { extended },
            (false, true) => ApduCase::Case4 { extended },
        })
    }

    /// Encode, choosing short lengths whenever they suffice.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        let case = self.case()?;
        let mut out = Vec::with_capacity(4 + 3 + self.data.len() + 3);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let extended = matches!(
            case,
            ApduCase::Case2 { extended: true }
                | ApduCase::Case3 { extended: true }
                | ApduCase::Case4 { extended: true }
        );
        if !self.data.is_empty() {
            if extended {
                out.push(0);
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
            } else {
                out.push(self.data.len() as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(ne) = self.ne {
            if extended {
                if self.data.is_empty() {
                    out.push(0);
                }
                let le = if ne == EXTENDED_MAX_NE { 0 } else { ne as u16 };
                out.extend_from_slice(&le.to_be_bytes());
            } else {
                out.push(if ne == SHORT_MAX_NE { 0 } else { ne as u8 });
            }
        }
        Ok(out)
    }

    /// The header as `[CLA, INS, P1, P2]`.
    #[must_use]
    pub fn header(&self) -> [u8; 4] {
        [self.cla, self.ins, self.p1, self.p2]
    }
}

fn short_ne(le: u8) -> usize {
    if le == 0 {
        SHORT_MAX_NE
    } else {
        usize::from(le)
    }
}

fn extended_ne(hi: u8, lo: u8) -> usize {
    match u16::from_be_bytes([hi, lo]) {
        0 => EXTENDED_MAX_NE,
        n => usize::from(n),
    }
}

/// Body after the '00' marker of an extended-length APDU.
fn parse_extended(apdu: &mut CommandApdu, rest: &[u8]) -> Result<(), ApduError> {
    let body = rest.len() + 1;
    match rest {
        [hi, lo] => apdu.ne = Some(extended_ne(*hi, *lo)),
        [hi, lo, tail @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            if lc == 0 {
                return Err(ApduError::BadExtended { body });
            }
            if tail.len() == lc {
                apdu.data = tail.to_vec();
            } else if tail.len() == lc + 2 {
                apdu.data = tail[..lc].to_vec();
                apdu.ne = Some(extended_ne(tail[lc], tail[lc + 1]));
            } else {
                return Err(ApduError::BadExtended { body });
            }
        }
        _ => return Err(ApduError::BadExtended { body }),
    }
    Ok(())
}

impl fmt::Display for CommandApdu {
    /// The log form: `00 A4 04 04 07 A0 00 ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_bytes() {
            Ok(bytes) => f.write_str(&spaced_hex(&bytes)),
            Err(e) => write!(f, "<unencodable APDU: {e}>"),
        }
    }
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandApdu({self})")
    }
}

/// A response APDU: data then SW1 SW2.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ResponseApdu {
    pub data: Vec<u8>,
    pub sw: StatusWord,
}

impl ResponseApdu {
    /// A response with data and a status word.
    #[must_use]
    pub fn new(data: Vec<u8>, sw: StatusWord) -> Self {
        Self { data, sw }
    }

    /// A response with a status word only.
    #[must_use]
    pub fn status(sw: StatusWord) -> Self {
        Self {
            data: Vec::new(),
            sw,
        }
    }

    /// Parse response bytes (at least SW1 SW2).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Self {
                data: data.to_vec(),
                sw: StatusWord::from_bytes(*sw1, *sw2),
            }),
            _ => Err(ApduError::ResponseTooShort { len: bytes.len() }),
        }
    }

    /// Data followed by SW1 SW2.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }
}

impl From<StatusWord> for ResponseApdu {
    fn from(sw: StatusWord) -> Self {
        Self::status(sw)
    }
}

/// Upper-case hex with a space between octets, the form logs and scripts use.
#[must_use]
pub fn spaced_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// A command in the log format with its data hidden (a write to a key file).
#[must_use]
pub fn log_command_hiding_data(raw: &[u8]) -> String {
    match raw {
        [cla, ins, p1, p2, lc, rest @ ..] if !rest.is_empty() => format!(
            ">> {} <{} bytes of key material>",
            spaced_hex(&[*cla, *ins, *p1, *p2, *lc]),
            rest.len()
        ),
        _ => log_command(raw),
    }
}

/// INS codes whose command data carries a PIN, PUK or ADM value (TS 102 221 §11.1.9–13).
pub const PIN_BEARING_INS: [u8; 5] = [0x20, 0x24, 0x26, 0x28, 0x2C];
/// INS codes whose response data carries keys (AUTHENTICATE, even and odd).
pub const KEY_BEARING_INS: [u8; 2] = [0x88, 0x89];

/// The log form of a command: `>> 00 A4 ...`, with PIN data replaced by its length.
#[must_use]
pub fn log_command(raw: &[u8]) -> String {
    match raw {
        [cla, ins, p1, p2, lc, rest @ ..] if PIN_BEARING_INS.contains(ins) && !rest.is_empty() => {
            format!(
                ">> {} <{} bytes of PIN data>",
                spaced_hex(&[*cla, *ins, *p1, *p2, *lc]),
                rest.len()
            )
        }
        _ => format!(">> {}", spaced_hex(raw)),
    }
}

/// The log form of a response: `<< data 90 00`, with key-bearing data replaced by its length.
#[must_use]
pub fn log_response(raw: &[u8], carries_keys: bool) -> String {
    match raw {
        [data @ .., sw1, sw2] if carries_keys && !data.is_empty() => {
            format!(
                "<< <{} bytes of key material> {}",
                data.len(),
                spaced_hex(&[*sw1, *sw2])
            )
        }
        _ => format!("<< {}", spaced_hex(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        crate::hexutil::parse_hex(s).unwrap_or_default()
    }

    #[test]
    fn parses_the_four_short_cases() {
        let c1 = CommandApdu::parse(&h("00A40000")).unwrap();
        assert_eq!((c1.data.len(), c1.ne), (0, None));
        let c2 = CommandApdu::parse(&h("00B0000000")).unwrap();
        assert_eq!(c2.ne, Some(256));
        let c3 = CommandApdu::parse(&h("00A4000C023F00")).unwrap();
        assert_eq!((c3.data, c3.ne), (vec![0x3F, 0x00], None));
        let c4 = CommandApdu::parse(&h("00A4040407A000000087100200")).unwrap();
        assert_eq!(c4.data, h("A0000000871002"));
        assert_eq!(c4.ne, Some(256));
    }

    #[test]
    fn parses_extended_cases() {
        let c2 = CommandApdu::parse(&h("00B00000000000")).unwrap();
        assert_eq!((c2.data.len(), c2.ne), (0, Some(65536)));
        let c2b = CommandApdu::parse(&h("00B00000000102")).unwrap();
        assert_eq!(c2b.ne, Some(258));
        let mut raw = h("00D6000000012C");
        raw.extend(std::iter::repeat_n(0xAA, 300));
        let c3 = CommandApdu::parse(&raw).unwrap();
        assert_eq!((c3.data.len(), c3.ne), (300, None));
        raw.extend_from_slice(&[0x00, 0x00]);
        let c4 = CommandApdu::parse(&raw).unwrap();
        assert_eq!((c4.data.len(), c4.ne), (300, Some(65536)));
        assert_eq!(c4.to_bytes().unwrap(), raw);
    }

    #[test]
    fn rejects_inconsistent_lengths() {
        assert_eq!(
            CommandApdu::parse(&h("00A4")),
            Err(ApduError::TooShort { len: 2 })
        );
        assert!(matches!(
            CommandApdu::parse(&h("00A4000C033F00")),
            Err(ApduError::LengthMismatch { lc: 3, .. })
        ));
        assert!(matches!(
            CommandApdu::parse(&h("00A4000C0000")),
            Err(ApduError::BadExtended { .. })
        ));
        assert_eq!(
            CommandApdu::parse(&h("00A4000C000000")).unwrap().ne,
            Some(65536)
        );
    }

    #[test]
    fn encodes_the_gba_bootstrap_command_as_in_the_vector() {
        let data = h("DD1023553cbe9637a89d218ae64dae47bf351055f328b43577b9b98c7f3f0d723fb244");
        let cmd = CommandApdu::new(0x00, 0x88, 0x00, 0x84)
            .with_data(data)
            .with_ne(256);
        assert_eq!(
            cmd.to_bytes().unwrap(),
            h("0088008423DD1023553cbe9637a89d218ae64dae47bf351055f328b43577b9b98c7f3f0d723fb24400")
        );
    }

    #[test]
    fn response_round_trip() {
        let r = ResponseApdu::parse(&h("DB08a54211d5e3ba50bf9000")).unwrap();
        assert_eq!(r.sw, StatusWord::Ok);
        assert_eq!(r.data.len(), 10);
        assert_eq!(r.to_bytes(), h("DB08a54211d5e3ba50bf9000"));
        assert!(ResponseApdu::parse(&[0x90]).is_err());
    }

    #[test]
    fn logs_never_show_pins_or_keys() {
        let verify = h("002000010831323334FFFFFFFF");
        assert_eq!(
            log_command(&verify),
            ">> 00 20 00 01 08 <8 bytes of PIN data>"
        );
        assert_eq!(log_command(&h("00200001")), ">> 00 20 00 01");
        assert_eq!(
            log_response(&h("DB08A54211D5E3BA50BF9000"), true),
            "<< <10 bytes of key material> 90 00"
        );
        assert_eq!(log_response(&h("6A82"), true), "<< 6A 82");
        assert_eq!(log_response(&h("01029000"), false), "<< 01 02 90 00");
    }

    #[test]
    fn display_is_the_log_form() {
        let cmd = CommandApdu::new(0x00, 0xA4, 0x00, 0x04)
            .with_data(vec![0x3F, 0x00])
            .with_ne(256);
        assert_eq!(cmd.to_string(), "00 A4 00 04 02 3F 00 00");
    }
}
