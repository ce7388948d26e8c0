//! The Diameter base protocol's wire format (RFC 6733 §3 and §4): the 20-octet message
//! header, AVPs with their 8- or 12-octet headers and padding, and the basic data formats.
//! Decoding never panics: every length is checked against what is there, and an AVP keeps
//! its raw octets so a Failed-AVP can return it as received.

use std::net::IpAddr;

use super::dict::VENDOR_3GPP;

/// Version, the first octet of every message (RFC 6733 §3).
pub const VERSION: u8 = 1;
/// Length of the message header.
pub const HEADER_LEN: usize = 20;
/// Header flag R: a request (RFC 6733 §3).
pub const FLAG_REQUEST: u8 = 0x80;
/// Header flag P: proxiable.
pub const FLAG_PROXIABLE: u8 = 0x40;
/// Header flag E: an answer carrying a protocol error.
pub const FLAG_ERROR: u8 = 0x20;
/// Header flag T: potentially retransmitted.
pub const FLAG_RETRANSMITTED: u8 = 0x10;
/// Reserved header flags (must be zero).
pub const FLAGS_RESERVED: u8 = 0x0F;
/// AVP flag V: the Vendor-ID field is present (RFC 6733 §4.1).
pub const AVP_VENDOR: u8 = 0x80;
/// AVP flag M: mandatory.
pub const AVP_MANDATORY: u8 = 0x40;
/// AVP flag P (kept for end-to-end security, deprecated; should be zero).
pub const AVP_PROTECTED: u8 = 0x20;
/// Largest message gbau reads: a Zn message is well under 2 KiB.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970): Diameter's Time is NTP
/// seconds (RFC 6733 §4.3.1).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Why octets are not a Diameter message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("a message needs at least {HEADER_LEN} octets, got {0}")]
    Short(usize),
    #[error("version {0}: only version 1 exists")]
    Version(u8),
    #[error(
        "message length {0} is not a multiple of 4, under 20 or over the {MAX_MESSAGE}-octet limit"
    )]
    MessageLength(usize),
    #[error("message length field {field} but {got} octets")]
    Truncated { field: usize, got: usize },
    /// An AVP's length runs past its container or is under its header: the raw AVP header
    /// (for a Failed-AVP, RFC 6733 §7.1.5 DIAMETER_INVALID_AVP_LENGTH).
    #[error("AVP {code} has an invalid length")]
    AvpLength { code: u32, vendor: Option<u32> },
}

/// The message header (RFC 6733 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub flags: u8,
    pub command: u32,
    pub application: u32,
    pub hop_by_hop: u32,
    pub end_to_end: u32,
}

impl Header {
    /// A request.
    #[must_use]
    pub fn is_request(&self) -> bool {
        self.flags & FLAG_REQUEST != 0
    }

    /// The header of the answer to this request: same command, application and identifiers,
    /// P copied, R cleared, E as given.
    #[must_use]
    pub fn answer(&self, error: bool) -> Self {
        Self {
            flags: (self.flags & FLAG_PROXIABLE) | if error { FLAG_ERROR } else { 0 },
            ..*self
        }
    }
}

/// One AVP as received or to send; `data` without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avp {
    pub code: u32,
    pub flags: u8,
    pub vendor: Option<u32>,
    pub data: Vec<u8>,
}

/// A message: header and top-level AVPs in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub avps: Vec<Avp>,
}

fn be32(b: &[u8]) -> u32 {
    b.iter().take(4).fold(0, |a, x| (a << 8) | u32::from(*x))
}

fn be24(b: &[u8]) -> usize {
    b.iter().take(3).fold(0, |a, x| (a << 8) | usize::from(*x))
}

fn padded(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// The whole message length announced by its first four octets, checked: version 1, a
/// multiple of 4, at least the header, at most [`MAX_MESSAGE`].
pub fn frame_len(first4: [u8; 4]) -> Result<usize, DecodeError> {
    if first4[0] != VERSION {
        return Err(DecodeError::Version(first4[0]));
    }
    let len = be24(&first4[1..]);
    if len < HEADER_LEN || len % 4 != 0 || len > MAX_MESSAGE {
        return Err(DecodeError::MessageLength(len));
    }
    Ok(len)
}

impl Avp {
    /// An AVP with data; V set (and vendor given) when `vendor` is `Some`.
    #[must_use]
    pub fn new(code: u32, vendor: Option<u32>, mandatory: bool, data: Vec<u8>) -> Self {
        let flags = if vendor.is_some() { AVP_VENDOR } else { 0 }
            | if mandatory { AVP_MANDATORY } else { 0 };
        Self {
            code,
            flags,
            vendor,
            data,
        }
    }

    /// Unsigned32 (also Enumerated, whose values are Integer32 ≥ 0).
    #[must_use]
    pub fn u32(code: u32, vendor: Option<u32>, mandatory: bool, v: u32) -> Self {
        Self::new(code, vendor, mandatory, v.to_be_bytes().to_vec())
    }

    /// A base-protocol AVP with M set (no vendor).
    #[must_use]
    pub fn base(code: u32, data: impl Into<Vec<u8>>) -> Self {
        Self::new(code, None, true, data.into())
    }

    /// A 3GPP AVP (Vendor-Id 10415) with M and V set, as the Zn AVPs are (TS 29.109 §6.3).
    #[must_use]
    pub fn tgpp(code: u32, data: impl Into<Vec<u8>>) -> Self {
        Self::new(code, Some(VENDOR_3GPP), true, data.into())
    }

    /// Grouped: the members encoded one after another.
    #[must_use]
    pub fn grouped(code: u32, vendor: Option<u32>, mandatory: bool, members: &[Avp]) -> Self {
        let mut data = Vec::new();
        for m in members {
            m.encode_into(&mut data);
        }
        Self::new(code, vendor, mandatory, data)
    }

    /// Time: NTP seconds, wrapping as RFC 6733 §4.3.1 describes for dates after 2036.
    #[must_use]
    pub fn time(code: u32, vendor: Option<u32>, unix: u64) -> Self {
        let ntp = (unix.wrapping_add(NTP_UNIX_OFFSET) & 0xFFFF_FFFF) as u32;
        Self::u32(code, vendor, true, ntp)
    }

    /// Address (RFC 6733 §4.3.1): address family (1 IPv4, 2 IPv6), then the address.
    #[must_use]
    pub fn address(code: u32, ip: IpAddr) -> Self {
        let mut data = Vec::new();
        match ip {
            IpAddr::V4(a) => {
                data.extend_from_slice(&1u16.to_be_bytes());
                data.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                data.extend_from_slice(&2u16.to_be_bytes());
                data.extend_from_slice(&a.octets());
            }
        }
        Self::base(code, data)
    }

    /// The header length: 12 with a Vendor-ID, else 8.
    #[must_use]
    pub fn header_len(&self) -> usize {
        if self.vendor.is_some() {
            12
        } else {
            8
        }
    }

    /// Append the encoding (header, data, zero padding).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let len = self.header_len() + self.data.len();
        out.extend_from_slice(&self.code.to_be_bytes());
        out.push(self.flags);
        out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        if let Some(v) = self.vendor {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        out.resize(out.len() + padded(len) - len, 0);
    }

    /// The value as Unsigned32, when four octets.
    #[must_use]
    pub fn as_u32(&self) -> Option<u32> {
        (self.data.len() == 4).then(|| be32(&self.data))
    }

    /// The value as UTF-8 text.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// A Time value as Unix seconds (NTP seconds before 1970 are taken as after the 2036
    /// wrap, RFC 6733 §4.3.1).
    #[must_use]
    pub fn as_unix_time(&self) -> Option<u64> {
        let ntp = u64::from(self.as_u32()?);
        Some(if ntp >= NTP_UNIX_OFFSET {
            ntp - NTP_UNIX_OFFSET
        } else {
            ntp + (1u64 << 32) - NTP_UNIX_OFFSET
        })
    }

    /// The members of a Grouped AVP.
    pub fn members(&self) -> Result<Vec<Avp>, DecodeError> {
        decode_avps(&self.data)
    }

    /// Is this (code, vendor)?
    #[must_use]
    pub fn is(&self, code: u32, vendor: Option<u32>) -> bool {
        self.code == code && self.vendor == vendor
    }
}

/// Decode a run of AVPs filling `b` exactly.
pub fn decode_avps(mut b: &[u8]) -> Result<Vec<Avp>, DecodeError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 8 {
            return Err(DecodeError::AvpLength {
                code: be32(b),
                vendor: None,
            });
        }
        let code = be32(&b[..4]);
        let flags = b[4];
        let len = be24(&b[5..8]);
        let has_vendor = flags & AVP_VENDOR != 0;
        let vendor = (has_vendor && b.len() >= 12).then(|| be32(&b[8..12]));
        let hlen = if has_vendor { 12 } else { 8 };
        if len < hlen || len > b.len() {
            return Err(DecodeError::AvpLength { code, vendor });
        }
        out.push(Avp {
            code,
            flags,
            vendor,
            data: b[hlen..len].to_vec(),
        });
        // The last AVP may come without its padding only if nothing follows.
        let next = padded(len).min(b.len());
        b = &b[next..];
    }
    Ok(out)
}

impl Message {
    /// Decode one whole message (exactly its announced length).
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Short(b.len()));
        }
        let len = frame_len([b[0], b[1], b[2], b[3]])?;
        if len != b.len() {
            return Err(DecodeError::Truncated {
                field: len,
                got: b.len(),
            });
        }
        let header = Header {
            flags: b[4],
            command: be32(&[0, b[5], b[6], b[7]]),
            application: be32(&b[8..12]),
            hop_by_hop: be32(&b[12..16]),
            end_to_end: be32(&b[16..20]),
        };
        Ok(Self {
            header,
            avps: decode_avps(&b[HEADER_LEN..])?,
        })
    }

    /// The header alone, when the AVPs do not decode (to answer the error).
    #[must_use]
    pub fn header_of(b: &[u8]) -> Option<Header> {
        (b.len() >= HEADER_LEN).then(|| Header {
            flags: b[4],
            command: be32(&[0, b[5], b[6], b[7]]),
            application: be32(&b[8..12]),
            hop_by_hop: be32(&b[12..16]),
            end_to_end: be32(&b[16..20]),
        })
    }

    /// Encode (header with the right length, AVPs padded).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(VERSION);
        out.extend_from_slice(&[0, 0, 0]);
        out.push(self.header.flags);
        out.extend_from_slice(&self.header.command.to_be_bytes()[1..]);
        out.extend_from_slice(&self.header.application.to_be_bytes());
        out.extend_from_slice(&self.header.hop_by_hop.to_be_bytes());
        out.extend_from_slice(&self.header.end_to_end.to_be_bytes());
        for a in &self.avps {
            a.encode_into(&mut out);
        }
        let len = (out.len() as u32).to_be_bytes();
        out[1..4].copy_from_slice(&len[1..]);
        out
    }

    /// The first top-level AVP (code, vendor).
    #[must_use]
    pub fn avp(&self, code: u32, vendor: Option<u32>) -> Option<&Avp> {
        self.avps.iter().find(|a| a.is(code, vendor))
    }

    /// Every top-level AVP (code, vendor).
    pub fn all(&self, code: u32, vendor: Option<u32>) -> impl Iterator<Item = &Avp> {
        self.avps.iter().filter(move |a| a.is(code, vendor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6733 §4.1: the AVP Length excludes the padding; the padding is zeros.
    #[test]
    fn avp_length_excludes_padding() {
        let a = Avp::base(263, b"abcde".to_vec());
        let mut out = Vec::new();
        a.encode_into(&mut out);
        assert_eq!(
            out,
            [0, 0, 1, 7, 0x40, 0, 0, 13, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]
        );
        let v = Avp::tgpp(401, b"x".to_vec());
        let mut out = Vec::new();
        v.encode_into(&mut out);
        assert_eq!(
            out,
            [0, 0, 1, 0x91, 0xC0, 0, 0, 13, 0, 0, 0x28, 0xAF, b'x', 0, 0, 0]
        );
        assert_eq!(decode_avps(&out).unwrap(), vec![v]);
    }

    #[test]
    fn header_round_trip_and_checks() {
        let m = Message {
            header: Header {
                flags: FLAG_REQUEST | FLAG_PROXIABLE,
                command: 310,
                application: 16_777_220,
                hop_by_hop: 0x0102_0304,
                end_to_end: 0x0A0B_0C0D,
            },
            avps: vec![Avp::u32(258, None, true, 16_777_220)],
        };
        let b = m.encode();
        assert_eq!(&b[..8], &[1, 0, 0, 32, 0xC0, 0, 1, 0x36]);
        assert_eq!(Message::decode(&b).unwrap(), m);
        let mut bad = b.clone();
        bad[0] = 2;
        assert_eq!(Message::decode(&bad), Err(DecodeError::Version(2)));
        assert!(matches!(
            frame_len([1, 0, 0, 22]),
            Err(DecodeError::MessageLength(22))
        ));
        let mut long = b.clone();
        long[27] = 200; // the AVP claims more than the message holds
        assert!(matches!(
            Message::decode(&long),
            Err(DecodeError::AvpLength { code: 258, .. })
        ));
    }

    /// RFC 6733 §4.3.1: Time is NTP seconds; 2026-01-01T00:00:00Z is 1767225600 Unix.
    #[test]
    fn time_is_ntp_seconds() {
        let a = Avp::time(404, Some(VENDOR_3GPP), 1_767_225_600);
        assert_eq!(a.as_u32(), Some((1_767_225_600u64 + 2_208_988_800) as u32));
        assert_eq!(a.as_unix_time(), Some(1_767_225_600));
        // After the 2036 wrap (NTP era 1).
        let late = Avp::time(404, Some(VENDOR_3GPP), 2_240_611_200);
        assert_eq!(late.as_unix_time(), Some(2_240_611_200));
    }
}
