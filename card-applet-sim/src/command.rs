//! Command APDUs parsed once into [`Command`] (TS 102 221 §10–11, TS 31.102 §7). A parse
//! failure is the status word the card answers with.

use gbau_core::{CommandApdu, StatusWord};

/// INS codes (TS 102 221 §10.1.2, TS 31.102 §7).
pub mod ins {
    pub const SELECT: u8 = 0xA4;
    pub const STATUS: u8 = 0xF2;
    pub const READ_BINARY: u8 = 0xB0;
    pub const UPDATE_BINARY: u8 = 0xD6;
    pub const READ_RECORD: u8 = 0xB2;
    pub const UPDATE_RECORD: u8 = 0xDC;
    pub const VERIFY: u8 = 0x20;
    pub const CHANGE_PIN: u8 = 0x24;
    pub const DISABLE_PIN: u8 = 0x26;
    pub const ENABLE_PIN: u8 = 0x28;
    pub const UNBLOCK_PIN: u8 = 0x2C;
    pub const AUTHENTICATE: u8 = 0x88;
    pub const GET_RESPONSE: u8 = 0xC0;
}

/// CLA of the ISO inter-industry commands on the basic channel.
pub const CLA_ISO: u8 = 0x00;
/// CLA of the UICC proprietary commands (STATUS) on the basic channel.
pub const CLA_PROPRIETARY: u8 = 0x80;
/// CLA of GSM SIM (TS 51.011) commands, which a UICC refuses.
pub const CLA_GSM: u8 = 0xA0;
/// '6881': logical channel not supported.
pub const SW_CHANNEL_NOT_SUPPORTED: StatusWord = StatusWord::Other(0x6881);

/// AUTHENTICATE P2 contexts (TS 31.102 §7.1.2.1). Bit 8 set: specific reference data.
pub mod auth_p2 {
    pub const GSM: u8 = 0x80;
    pub const UMTS: u8 = 0x81;
    pub const GBA: u8 = 0x84;
}

/// First data byte of the GBA context: bootstrapping mode (TS 31.102 §7.1.2.4).
pub const TAG_GBA_BOOTSTRAP: u8 = 0xDD;
/// First data byte of the GBA context: NAF derivation mode.
pub const TAG_GBA_NAF_DERIVATION: u8 = 0xDE;
/// Tag of a successful AUTHENTICATE response.
pub const TAG_AUTH_SUCCESS: u8 = 0xDB;
/// Tag of a synchronisation failure response (AUTS follows).
pub const TAG_SYNC_FAILURE: u8 = 0xDC;

/// PIN key references (TS 102 221 §9.5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRef {
    /// '01': PIN1 (application PIN of the USIM).
    Pin1,
    /// '81': PIN2 (second application PIN).
    Pin2,
    /// '0A': ADM1.
    Adm1,
}

impl KeyRef {
    fn from_p2(p2: u8) -> Result<Self, StatusWord> {
        match p2 {
            0x01 => Ok(Self::Pin1),
            0x81 => Ok(Self::Pin2),
            0x0A => Ok(Self::Adm1),
            _ => Err(StatusWord::ReferencedDataNotFound),
        }
    }
}

/// How SELECT identifies its target (P1, TS 102 221 §11.1.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectBy {
    /// '00': FID (empty data selects the MF).
    Fid(Option<u16>),
    /// '01': child DF by FID.
    ChildDf(u16),
    /// '03': parent DF.
    Parent,
    /// '04': DF name (AID), possibly partial.
    Aid(Vec<u8>),
    /// '08': path from the MF (MF FID excluded).
    PathFromMf(Vec<u16>),
    /// '09': path from the current DF.
    PathFromCurrent(Vec<u16>),
}

/// Whether SELECT returns the FCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectResponse {
    Fcp,
    NoData,
}

/// Which EF a binary or record command addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EfTarget {
    Current,
    Sfi(u8),
}

/// Record addressing (P2 bits 3–1 of READ/UPDATE RECORD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordMode {
    /// '04': absolute, or current when P1 = 0.
    Absolute(u8),
    /// '02': next.
    Next,
    /// '03': previous.
    Previous,
}

/// GBA context modes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GbaMode {
    /// `DD 10 RAND 10 AUTN`.
    Bootstrap { rand: [u8; 16], autn: [u8; 16] },
    /// `DE L NAF_Id [L IMPI]` (the IMPI is absent in the ISIM variant).
    NafDerivation {
        naf_id: Vec<u8>,
        impi: Option<Vec<u8>>,
    },
}

/// AUTHENTICATE contexts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthContext {
    /// GSM context: `10 RAND`.
    Gsm { rand: [u8; 16] },
    /// 3G context: `10 RAND 10 AUTN`.
    Umts { rand: [u8; 16], autn: [u8; 16] },
    /// GBA context.
    /// GBA context; malformed data is kept as its status word so that the card can refuse
    /// an unsupported context ('9864') before looking at the data.
    Gba(Result<GbaMode, StatusWord>),
}

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Select {
        by: SelectBy,
        response: SelectResponse,
    },
    Status {
        response: StatusResponse,
    },
    ReadBinary {
        target: EfTarget,
        offset: usize,
        ne: usize,
    },
    UpdateBinary {
        target: EfTarget,
        offset: usize,
        data: Vec<u8>,
    },
    ReadRecord {
        target: EfTarget,
        mode: RecordMode,
    },
    UpdateRecord {
        target: EfTarget,
        mode: RecordMode,
        data: Vec<u8>,
    },
    Verify {
        key: KeyRef,
        pin: Option<[u8; 8]>,
    },
    ChangePin {
        key: KeyRef,
        old: [u8; 8],
        new: [u8; 8],
    },
    DisablePin {
        key: KeyRef,
        pin: [u8; 8],
    },
    EnablePin {
        key: KeyRef,
        pin: [u8; 8],
    },
    UnblockPin {
        key: KeyRef,
        puk_new: Option<([u8; 8], [u8; 8])>,
    },
    Authenticate(AuthContext),
    GetResponse,
}

/// What STATUS returns (P2, TS 102 221 §11.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusResponse {
    Fcp,
    Aid,
    NoData,
}

fn block8(data: &[u8]) -> Result<[u8; 8], StatusWord> {
    <[u8; 8]>::try_from(data).map_err(|_| StatusWord::WrongLength)
}

fn fids(data: &[u8]) -> Result<Vec<u16>, StatusWord> {
    if data.is_empty() || data.len() % 2 != 0 {
        return Err(StatusWord::WrongLength);
    }
    Ok(data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

fn ef_target_binary(p1: u8, p2: u8) -> (EfTarget, usize) {
    if p1 & 0x80 != 0 {
        (EfTarget::Sfi(p1 & 0x1F), usize::from(p2))
    } else {
        (
            EfTarget::Current,
            (usize::from(p1 & 0x7F) << 8) | usize::from(p2),
        )
    }
}

fn record_addressing(p1: u8, p2: u8) -> Result<(EfTarget, RecordMode), StatusWord> {
    let sfi = p2 >> 3;
    let target = if sfi == 0 {
        EfTarget::Current
    } else {
        EfTarget::Sfi(sfi)
    };
    let mode = match p2 & 0x07 {
        0x04 => RecordMode::Absolute(p1),
        0x02 if p1 == 0 => RecordMode::Next,
        0x03 if p1 == 0 => RecordMode::Previous,
        _ => return Err(StatusWord::IncorrectP1P2),
    };
    Ok((target, mode))
}

fn parse_authenticate(apdu: &CommandApdu) -> Result<AuthContext, StatusWord> {
    if apdu.p1 != 0x00 {
        return Err(StatusWord::IncorrectP1P2);
    }
    let d = apdu.data.as_slice();
    match apdu.p2 {
        auth_p2::GSM => match d {
            [0x10, rand @ ..] if rand.len() == 16 => Ok(AuthContext::Gsm { rand: to16(rand)? }),
            _ => Err(StatusWord::WrongLength),
        },
        auth_p2::UMTS => match d {
            [0x10, rest @ ..] if rest.len() == 33 && rest[16] == 0x10 => Ok(AuthContext::Umts {
                rand: to16(&rest[..16])?,
                autn: to16(&rest[17..])?,
            }),
            _ if d.len() != 34 => Err(StatusWord::WrongLength),
            _ => Err(StatusWord::IncorrectData),
        },
        // The GBA data is checked after the service (TS 31.102: '9864' when GBA is off).
        auth_p2::GBA => Ok(AuthContext::Gba(parse_gba(d))),
        _ => Err(StatusWord::IncorrectP1P2),
    }
}

/// The data of the GBA context: bootstrapping or NAF derivation mode.
fn parse_gba(d: &[u8]) -> Result<GbaMode, StatusWord> {
    match d {
        [TAG_GBA_BOOTSTRAP, rest @ ..] => match rest {
            [0x10, r @ ..] if r.len() == 33 && r[16] == 0x10 => Ok(GbaMode::Bootstrap {
                rand: to16(&r[..16])?,
                autn: to16(&r[17..])?,
            }),
            _ if rest.len() != 34 => Err(StatusWord::WrongLength),
            _ => Err(StatusWord::IncorrectData),
        },
        [TAG_GBA_NAF_DERIVATION, rest @ ..] => {
            let mut rest = rest;
            let naf_id = gbau_core::tlv::read_lv(&mut rest)
                .map_err(|_| StatusWord::WrongLength)?
                .to_vec();
            let impi = if rest.is_empty() {
                None
            } else {
                Some(
                    gbau_core::tlv::read_lv(&mut rest)
                        .map_err(|_| StatusWord::WrongLength)?
                        .to_vec(),
                )
            };
            if !rest.is_empty() {
                return Err(StatusWord::WrongLength);
            }
            if naf_id.is_empty() {
                return Err(StatusWord::IncorrectData);
            }
            Ok(GbaMode::NafDerivation { naf_id, impi })
        }
        [] => Err(StatusWord::WrongLength),
        _ => Err(StatusWord::IncorrectData),
    }
}

fn to16(b: &[u8]) -> Result<[u8; 16], StatusWord> {
    <[u8; 16]>::try_from(b).map_err(|_| StatusWord::WrongLength)
}

impl TryFrom<&CommandApdu> for Command {
    type Error = StatusWord;

    /// One match on CLA/INS/P1/P2 (TS 102 221 §10.1).
    fn try_from(apdu: &CommandApdu) -> Result<Self, StatusWord> {
        let cla = apdu.cla;
        if cla == CLA_GSM {
            return Err(StatusWord::ClaNotSupported);
        }
        let (class, channel) = (cla & 0xF0, cla & 0x03);
        if (class == CLA_ISO || class == CLA_PROPRIETARY) && channel != 0 {
            return Err(SW_CHANNEL_NOT_SUPPORTED);
        }
        if cla & 0x0C != 0 {
            // Secure messaging is not offered.
            return Err(StatusWord::ClaNotSupported);
        }
        match (class, apdu.ins) {
            (CLA_ISO, ins::SELECT) => parse_select(apdu),
            (CLA_PROPRIETARY, ins::STATUS) => parse_status(apdu),
            (CLA_ISO, ins::READ_BINARY | ins::UPDATE_BINARY) => parse_binary(apdu),
            (CLA_ISO, ins::READ_RECORD | ins::UPDATE_RECORD) => parse_record(apdu),
            (
                CLA_ISO,
                ins::VERIFY
                | ins::CHANGE_PIN
                | ins::DISABLE_PIN
                | ins::ENABLE_PIN
                | ins::UNBLOCK_PIN,
            ) => parse_pin(apdu),
            (CLA_ISO, ins::AUTHENTICATE) => parse_authenticate(apdu).map(Self::Authenticate),
            (CLA_ISO, ins::GET_RESPONSE) => Ok(Self::GetResponse),
            (CLA_ISO | CLA_PROPRIETARY, _) => Err(StatusWord::InsNotSupported),
            _ => Err(StatusWord::ClaNotSupported),
        }
    }
}

// TS 102 221 §11.1.1, SELECT
fn parse_select(apdu: &CommandApdu) -> Result<Command, StatusWord> {
    let data = apdu.data.as_slice();
    let (p1, p2) = (apdu.p1, apdu.p2);
    let response = match p2 & 0x0C {
        0x04 | 0x00 => SelectResponse::Fcp,
        0x0C => SelectResponse::NoData,
        _ => return Err(StatusWord::IncorrectP1P2),
    };
    if p2 & 0xF3 != 0 {
        return Err(StatusWord::IncorrectP1P2);
    }
    let by = match p1 {
        0x00 if data.is_empty() => SelectBy::Fid(None),
        0x00 => SelectBy::Fid(Some(single_fid(data)?)),
        0x01 => SelectBy::ChildDf(single_fid(data)?),
        0x03 if data.is_empty() => SelectBy::Parent,
        0x04 if (1..=16).contains(&data.len()) => SelectBy::Aid(data.to_vec()),
        0x04 => return Err(StatusWord::WrongLength),
        0x08 => SelectBy::PathFromMf(fids(data)?),
        0x09 => SelectBy::PathFromCurrent(fids(data)?),
        0x03 => return Err(StatusWord::WrongLength),
        _ => return Err(StatusWord::IncorrectP1P2),
    };
    Ok(Command::Select { by, response })
}

// TS 102 221 §11.1.2, STATUS
fn parse_status(apdu: &CommandApdu) -> Result<Command, StatusWord> {
    let (p1, p2) = (apdu.p1, apdu.p2);
    if p1 > 0x02 {
        return Err(StatusWord::IncorrectP1P2);
    }
    let response = match p2 {
        0x00 => StatusResponse::Fcp,
        0x01 => StatusResponse::Aid,
        0x0C => StatusResponse::NoData,
        _ => return Err(StatusWord::IncorrectP1P2),
    };
    Ok(Command::Status { response })
}

// TS 102 221 §11.1.3–11.1.4, READ BINARY and UPDATE BINARY
fn parse_binary(apdu: &CommandApdu) -> Result<Command, StatusWord> {
    let data = apdu.data.as_slice();
    let (p1, p2) = (apdu.p1, apdu.p2);
    if apdu.ins == ins::READ_BINARY {
        if !data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let (target, offset) = ef_target_binary(p1, p2);
        Ok(Command::ReadBinary {
            target,
            offset,
            ne: apdu.ne.unwrap_or(256),
        })
    } else {
        if data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let (target, offset) = ef_target_binary(p1, p2);
        Ok(Command::UpdateBinary {
            target,
            offset,
            data: data.to_vec(),
        })
    }
}

// TS 102 221 §11.1.5–11.1.6, READ RECORD and UPDATE RECORD
fn parse_record(apdu: &CommandApdu) -> Result<Command, StatusWord> {
    let data = apdu.data.as_slice();
    let (p1, p2) = (apdu.p1, apdu.p2);
    if apdu.ins == ins::READ_RECORD {
        if !data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let (target, mode) = record_addressing(p1, p2)?;
        Ok(Command::ReadRecord { target, mode })
    } else {
        if data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let (target, mode) = record_addressing(p1, p2)?;
        Ok(Command::UpdateRecord {
            target,
            mode,
            data: data.to_vec(),
        })
    }
}

// TS 102 221 §11.1.9–11.1.13, VERIFY, CHANGE, DISABLE, ENABLE and UNBLOCK PIN
fn parse_pin(apdu: &CommandApdu) -> Result<Command, StatusWord> {
    let data = apdu.data.as_slice();
    let (p1, p2) = (apdu.p1, apdu.p2);
    if p1 != 0 {
        return Err(StatusWord::IncorrectP1P2);
    }
    match apdu.ins {
        ins::VERIFY => {
            let key = KeyRef::from_p2(p2)?;
            let pin = if data.is_empty() {
                None
            } else {
                Some(block8(data)?)
            };
            Ok(Command::Verify { key, pin })
        }
        ins::CHANGE_PIN => {
            let key = KeyRef::from_p2(p2)?;
            if data.len() != 16 {
                return Err(StatusWord::WrongLength);
            }
            Ok(Command::ChangePin {
                key,
                old: block8(&data[..8])?,
                new: block8(&data[8..])?,
            })
        }
        ins::DISABLE_PIN => Ok(Command::DisablePin {
            key: KeyRef::from_p2(p2)?,
            pin: block8(data)?,
        }),
        ins::ENABLE_PIN => Ok(Command::EnablePin {
            key: KeyRef::from_p2(p2)?,
            pin: block8(data)?,
        }),
        ins::UNBLOCK_PIN => {
            let key = KeyRef::from_p2(p2)?;
            let puk_new = match data.len() {
                0 => None,
                16 => Some((block8(&data[..8])?, block8(&data[8..])?)),
                _ => return Err(StatusWord::WrongLength),
            };
            Ok(Command::UnblockPin { key, puk_new })
        }
        _ => Err(StatusWord::InsNotSupported),
    }
}

fn single_fid(data: &[u8]) -> Result<u16, StatusWord> {
    match data {
        [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
        _ => Err(StatusWord::WrongLength),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(hex: &str) -> Result<Command, StatusWord> {
        let bytes = gbau_core::hexutil::parse_hex(hex).unwrap();
        Command::try_from(&CommandApdu::parse(&bytes).unwrap())
    }

    #[test]
    fn parses_the_chain_vector_commands() {
        assert!(matches!(
            parse("0088008423DD1023553cbe9637a89d218ae64dae47bf351055f328b43577b9b98c7f3f0d723fb24400"),
            Ok(Command::Authenticate(AuthContext::Gba(Ok(GbaMode::Bootstrap { .. }))))
        ));
        let naf = parse("0088008448DE146e61662e6578616d706c652e6f72670100000002313030313031303030303030303030314069 6d732e6d6e633030312e6d63633030312e336770706e6574776f726b2e6f726700").unwrap();
        match naf {
            Command::Authenticate(AuthContext::Gba(Ok(GbaMode::NafDerivation {
                naf_id,
                impi,
            }))) => {
                assert_eq!(naf_id.len(), 20);
                assert_eq!(impi.unwrap().len(), 49);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_are_the_right_status_words() {
        assert_eq!(parse("A0A40000023F00"), Err(StatusWord::ClaNotSupported));
        assert_eq!(parse("01A40000023F00"), Err(SW_CHANNEL_NOT_SUPPORTED));
        assert_eq!(parse("00EE0000"), Err(StatusWord::InsNotSupported));
        assert_eq!(
            parse("002000020431323334"),
            Err(StatusWord::ReferencedDataNotFound)
        );
        assert_eq!(parse("00200001043132FFFF"), Err(StatusWord::WrongLength));
        assert_eq!(parse("0088008204"), Err(StatusWord::IncorrectP1P2));
        assert_eq!(parse("008800810210AA"), Err(StatusWord::WrongLength));
        assert_eq!(
            parse("00880084021011"),
            Ok(Command::Authenticate(AuthContext::Gba(Err(
                StatusWord::IncorrectData
            ))))
        );
        assert_eq!(parse("00B2010500"), Err(StatusWord::IncorrectP1P2));
    }
}
