//! Identities: IMSI, IMPI and BSF name from the IMSI (TS 23.003 §13.3, §16), NAF_Id with the
//! Ua security protocol identifiers (TS 33.220 Annex H), and B-TID (TS 33.220 §4.5.2).

use std::fmt;

use base64::Engine;

use crate::aka::Rand;

/// Why an identity was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// IMSI not 6..=15 decimal digits.
    #[error("IMSI must be 6 to 15 decimal digits, got {0:?}")]
    BadImsi(String),
    /// MNC length other than 2 or 3.
    #[error("MNC length must be 2 or 3, got {0}")]
    BadMncLength(u8),
    /// An empty or over-long text identity.
    #[error("{what} must be 1 to {max} octets, got {len}")]
    BadLength {
        what: &'static str,
        max: usize,
        len: usize,
    },
    /// A NAF_Id shorter than the 5-octet protocol identifier.
    #[error("NAF_Id of {0} octets is shorter than FQDN + 5-octet Ua protocol id")]
    NafIdTooShort(usize),
    /// A NAF FQDN that is not UTF-8 text.
    #[error("NAF_Id FQDN is not UTF-8")]
    NafIdNotUtf8,
    /// A B-TID without "@" or whose first part is not base64 of a RAND.
    #[error("B-TID {0:?} is not base64(RAND)@domain")]
    BadBTid(String),
}

/// An IMSI (TS 23.003 §2.2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Imsi(String);

impl Imsi {
    /// 6..=15 decimal digits.
    pub fn new(digits: &str) -> Result<Self, IdentityError> {
        if (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits.to_owned()))
        } else {
            Err(IdentityError::BadImsi(digits.to_owned()))
        }
    }

    /// The digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// MCC (three digits).
    #[must_use]
    pub fn mcc(&self) -> &str {
        &self.0[..3]
    }

    /// MNC of the given length.
    #[must_use]
    pub fn mnc(&self, len: MncLength) -> &str {
        &self.0[3..3 + len.digits()]
    }

    /// The MNC zero-padded to three digits, as the home network domain uses it.
    #[must_use]
    pub fn mnc3(&self, len: MncLength) -> String {
        format!("{:0>3}", self.mnc(len))
    }

    /// IMPI derived from the IMSI (TS 23.003 §13.3): `<IMSI>@ims.mnc<MNC>.mcc<MCC>.3gppnetwork.org`.
    #[must_use]
    pub fn impi(&self, len: MncLength) -> Impi {
        Impi(format!(
            "{}@ims.mnc{}.mcc{}.3gppnetwork.org",
            self.0,
            self.mnc3(len),
            self.mcc()
        ))
    }

    /// BSF FQDN derived from the IMSI (TS 23.003 §16.2): `bsf.mnc<MNC>.mcc<MCC>.pub.3gppnetwork.org`.
    #[must_use]
    pub fn bsf_fqdn(&self, len: MncLength) -> String {
        format!(
            "bsf.mnc{}.mcc{}.pub.3gppnetwork.org",
            self.mnc3(len),
            self.mcc()
        )
    }
}

impl fmt::Debug for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Imsi({})", self.0)
    }
}

impl fmt::Display for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Number of MNC digits (EF_AD byte 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MncLength {
    Two,
    Three,
}

impl MncLength {
    /// From 2 or 3.
    pub fn new(digits: u8) -> Result<Self, IdentityError> {
        match digits {
            2 => Ok(Self::Two),
            3 => Ok(Self::Three),
            n => Err(IdentityError::BadMncLength(n)),
        }
    }

    /// 2 or 3.
    #[must_use]
    pub fn digits(self) -> usize {
        match self {
            Self::Two => 2,
            Self::Three => 3,
        }
    }
}

/// Longest text identity that fits a one-octet length in the card's TLVs.
pub const MAX_TEXT_IDENTITY: usize = 255;

fn checked_text(what: &'static str, text: &str) -> Result<String, IdentityError> {
    if text.is_empty() || text.len() > MAX_TEXT_IDENTITY {
        Err(IdentityError::BadLength {
            what,
            max: MAX_TEXT_IDENTITY,
            len: text.len(),
        })
    } else {
        Ok(text.to_owned())
    }
}

/// IMS private user identity (NAI form), used as a KDF input exactly as text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Impi(String);

impl Impi {
    /// 1..=255 octets of UTF-8.
    pub fn new(text: &str) -> Result<Self, IdentityError> {
        checked_text("IMPI", text).map(Self)
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Impi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Impi({})", self.0)
    }
}

impl fmt::Display for Impi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 5-octet Ua security protocol identifier (TS 33.220 Annex H).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UaProtocolId(pub [u8; 5]);

impl UaProtocolId {
    /// `00 00 00 00 00`: no Ua protocol specified.
    pub const UNSPECIFIED: Self = Self([0x00, 0x00, 0x00, 0x00, 0x00]);
    /// `01 00 00 00 00`: Ua protocol of TS 33.221 (subscriber certificates).
    pub const SUBSCRIBER_CERTIFICATES: Self = Self([0x01, 0x00, 0x00, 0x00, 0x00]);
    /// `01 00 00 00 02`: HTTP Digest authentication per TS 24.109.
    pub const HTTP_DIGEST: Self = Self([0x01, 0x00, 0x00, 0x00, 0x02]);
    /// `01 00 00 01 00`: the TMPI Ua protocol id (as listed in the facts note).
    pub const TMPI: Self = Self([0x01, 0x00, 0x00, 0x01, 0x00]);

    /// `01 00 01 yy zz`: (D)TLS with shared keys, yy zz the TLS cipher suite (TS 33.222).
    #[must_use]
    pub fn tls_psk(cipher_suite: u16) -> Self {
        let [yy, zz] = cipher_suite.to_be_bytes();
        Self([0x01, 0x00, 0x01, yy, zz])
    }

    /// A short name for display.
    #[must_use]
    pub fn describe(&self) -> String {
        match *self {
            Self::UNSPECIFIED => "unspecified".into(),
            Self::SUBSCRIBER_CERTIFICATES => "subscriber certificates (TS 33.221)".into(),
            Self::HTTP_DIGEST => "HTTP Digest (TS 24.109)".into(),
            Self::TMPI => "TMPI".into(),
            Self([0x01, 0x00, 0x01, yy, zz]) => {
                format!("(D)TLS shared key, cipher suite {yy:02x}{zz:02x} (TS 33.222)")
            }
            _ => "unknown".into(),
        }
    }
}

impl fmt::Debug for UaProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UaProtocolId({})", hex::encode(self.0))
    }
}

/// NAF_Id = NAF FQDN ‖ Ua security protocol identifier (TS 33.220 §4.5.2, Annex H).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NafId {
    fqdn: String,
    ua: UaProtocolId,
}

impl NafId {
    /// From a FQDN (used as given: case is significant in the KDF) and a protocol id.
    pub fn new(fqdn: &str, ua: UaProtocolId) -> Result<Self, IdentityError> {
        checked_text("NAF FQDN", fqdn).map(|fqdn| Self { fqdn, ua })
    }

    /// Parse the octets (FQDN ‖ 5-octet id) as they travel in the GBA NAF derivation command.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        if bytes.len() < 6 {
            return Err(IdentityError::NafIdTooShort(bytes.len()));
        }
        let (fqdn, ua) = bytes.split_at(bytes.len() - 5);
        let fqdn = std::str::from_utf8(fqdn).map_err(|_| IdentityError::NafIdNotUtf8)?;
        let mut id = [0u8; 5];
        id.copy_from_slice(ua);
        Self::new(fqdn, UaProtocolId(id))
    }

    /// FQDN ‖ Ua protocol id.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.fqdn.len() + 5);
        v.extend_from_slice(self.fqdn.as_bytes());
        v.extend_from_slice(&self.ua.0);
        v
    }

    /// The FQDN.
    #[must_use]
    pub fn fqdn(&self) -> &str {
        &self.fqdn
    }

    /// The Ua security protocol identifier.
    #[must_use]
    pub fn ua_protocol(&self) -> UaProtocolId {
        self.ua
    }
}

/// Bootstrapping Transaction Identifier: base64(RAND) "@" BSF server name (TS 33.220 §4.5.2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BTid(String);

impl BTid {
    /// B-TID for RAND at a BSF (standard base64 with padding).
    #[must_use]
    pub fn from_rand(rand: &Rand, bsf_fqdn: &str) -> Self {
        Self(format!(
            "{}@{}",
            base64::engine::general_purpose::STANDARD.encode(rand.0),
            bsf_fqdn
        ))
    }

    /// Any B-TID text as received from a BSF (1..=255 octets).
    pub fn new(text: &str) -> Result<Self, IdentityError> {
        checked_text("B-TID", text).map(Self)
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The RAND, when the B-TID has the standard form.
    #[must_use]
    pub fn rand(&self) -> Option<Rand> {
        let (b64, _) = self.0.split_once('@')?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        Rand::from_slice(&bytes)
    }
}

impl fmt::Debug for BTid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BTid({})", self.0)
    }
}

impl fmt::Display for BTid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impi_and_bsf_pad_the_mnc_to_three_digits() {
        let imsi = Imsi::new("001010000000001").unwrap();
        let two = MncLength::new(2).unwrap();
        assert_eq!(
            imsi.impi(two).as_str(),
            "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
        );
        assert_eq!(imsi.bsf_fqdn(two), "bsf.mnc001.mcc001.pub.3gppnetwork.org");
        let imsi3 = Imsi::new("310410123456789").unwrap();
        assert_eq!(
            imsi3.impi(MncLength::Three).as_str(),
            "310410123456789@ims.mnc410.mcc310.3gppnetwork.org"
        );
    }

    #[test]
    fn bad_identities_are_refused() {
        assert!(Imsi::new("12345").is_err());
        assert!(Imsi::new("00101000000000a").is_err());
        assert!(MncLength::new(4).is_err());
        assert!(Impi::new("").is_err());
        assert!(NafId::from_bytes(&[1, 2, 3, 4, 5]).is_err());
    }

    #[test]
    fn naf_id_bytes_round_trip() {
        let id = NafId::new("naf.example.org", UaProtocolId::HTTP_DIGEST).unwrap();
        assert_eq!(
            hex::encode(id.to_bytes()),
            "6e61662e6578616d706c652e6f72670100000002"
        );
        assert_eq!(NafId::from_bytes(&id.to_bytes()).unwrap(), id);
        assert_eq!(UaProtocolId::tls_psk(0x008c).0, [1, 0, 1, 0, 0x8c]);
    }

    #[test]
    fn b_tid_carries_the_rand() {
        let rand = Rand([0x23; 16]);
        let b = BTid::from_rand(&rand, "bsf.example");
        assert!(b.as_str().ends_with("==@bsf.example"));
        assert_eq!(b.rand(), Some(rand));
        assert_eq!(BTid::new("x@y").unwrap().rand(), None);
    }
}
