//! A typed USIM client (TS 31.102) over any [`Transport`]: command builders as plain
//! functions, and a client that sends them with response chaining and decodes the answers.

use gbau_core::aka::{Autn, Auts, Rand, Res};
use gbau_core::ef::{self, DirEntry, GbaBootstrapParams};
use gbau_core::exchange::{transceive, ExchangeError};
use gbau_core::identity::{Imsi, MncLength};
use gbau_core::secret::KsNaf;
use gbau_core::tlv::{read_lv, write_lv};
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};

use crate::transport::{Transport, TransportError};

/// Command builders: values in, APDU out, nothing sent.
pub mod apdus {
    use super::{write_lv, Autn, CommandApdu, Rand};

    /// Ne for "everything the card has" in short form.
    pub const NE_ALL: usize = 256;

    /// SELECT by DF name (AID, possibly partial), FCP returned.
    #[must_use]
    pub fn select_aid(aid: &[u8]) -> CommandApdu {
        CommandApdu::new(0x00, 0xA4, 0x04, 0x04)
            .with_data(aid.to_vec())
            .with_ne(NE_ALL)
    }

    /// SELECT by FID from the current DF, FCP returned.
    #[must_use]
    pub fn select_fid(fid: u16) -> CommandApdu {
        CommandApdu::new(0x00, 0xA4, 0x00, 0x04)
            .with_data(fid.to_be_bytes().to_vec())
            .with_ne(NE_ALL)
    }

    /// READ BINARY of `len` bytes (1..=256) at `offset` of the current EF.
    #[must_use]
    pub fn read_binary(offset: u16, len: usize) -> CommandApdu {
        let [hi, lo] = offset.to_be_bytes();
        CommandApdu::new(0x00, 0xB0, hi & 0x7F, lo).with_ne(len.clamp(1, NE_ALL))
    }

    /// UPDATE BINARY at `offset` of the current EF.
    #[must_use]
    pub fn update_binary(offset: u16, data: &[u8]) -> CommandApdu {
        let [hi, lo] = offset.to_be_bytes();
        CommandApdu::new(0x00, 0xD6, hi & 0x7F, lo).with_data(data.to_vec())
    }

    /// READ RECORD `n` (absolute) of the current EF.
    #[must_use]
    pub fn read_record(n: u8, len: usize) -> CommandApdu {
        CommandApdu::new(0x00, 0xB2, n, 0x04).with_ne(len.clamp(1, NE_ALL))
    }

    /// VERIFY with key reference `key` ('01' PIN1, '81' PIN2, '0A' ADM1) and an 8-byte block.
    #[must_use]
    pub fn verify(key: u8, block: &[u8; 8]) -> CommandApdu {
        CommandApdu::new(0x00, 0x20, 0x00, key).with_data(block.to_vec())
    }

    /// AUTHENTICATE, 3G context: `10 RAND 10 AUTN`.
    #[must_use]
    pub fn authenticate_3g(rand: &Rand, autn: &Autn) -> CommandApdu {
        let mut d = Vec::with_capacity(34);
        let _ = write_lv(&rand.0, &mut d);
        let _ = write_lv(&autn.0, &mut d);
        CommandApdu::new(0x00, 0x88, 0x00, 0x81)
            .with_data(d)
            .with_ne(NE_ALL)
    }

    /// AUTHENTICATE, GBA bootstrapping mode: `DD 10 RAND 10 AUTN*`.
    #[must_use]
    pub fn gba_bootstrap(rand: &Rand, autn: &Autn) -> CommandApdu {
        let mut d = vec![0xDD];
        let _ = write_lv(&rand.0, &mut d);
        let _ = write_lv(&autn.0, &mut d);
        CommandApdu::new(0x00, 0x88, 0x00, 0x84)
            .with_data(d)
            .with_ne(NE_ALL)
    }

    /// AUTHENTICATE, GBA NAF derivation mode: `DE L NAF_Id [L IMPI]`.
    pub fn gba_naf_derivation(
        naf_id: &[u8],
        impi: Option<&str>,
    ) -> Result<CommandApdu, gbau_core::tlv::TlvError> {
        let mut d = vec![0xDE];
        write_lv(naf_id, &mut d)?;
        if let Some(impi) = impi {
            write_lv(impi.as_bytes(), &mut d)?;
        }
        Ok(CommandApdu::new(0x00, 0x88, 0x00, 0x84)
            .with_data(d)
            .with_ne(NE_ALL))
    }
}

/// What went wrong talking to the USIM.
#[derive(Debug, thiserror::Error)]
pub enum UsimError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{command}: card answered {sw}")]
    Status {
        command: &'static str,
        sw: StatusWord,
    },
    #[error("{command}: malformed answer: {problem}")]
    Malformed {
        command: &'static str,
        problem: String,
    },
    #[error(transparent)]
    File(#[from] ef::EfError),
    #[error("PIN1 is blocked; unblock it with the PUK first")]
    PinBlocked,
    #[error("wrong PIN1, {0} tries left")]
    WrongPin(u8),
    #[error("{file} is {size} bytes; {needed} are needed")]
    FileTooSmall {
        file: &'static str,
        size: usize,
        needed: usize,
    },
}

/// The outcome of a GBA bootstrap or 3G authentication.
#[derive(Debug, Clone)]
pub enum AuthOutcome<T> {
    Success(T),
    /// Synchronisation failure: AUTS for the network.
    SyncFailure(Auts),
}

/// A USIM behind a transport.
#[derive(Debug)]
pub struct Usim<T: Transport> {
    transport: T,
}

impl<T: Transport> Usim<T> {
    /// Wrap a transport.
    pub fn new(transport: T) -> Self {
        Self { transport }
    }

    /// Give the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// The transport.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Send one command with response chaining.
    pub fn send(&mut self, cmd: &CommandApdu) -> Result<ResponseApdu, UsimError> {
        let t = &mut self.transport;
        let mut f = |raw: &[u8]| t.transmit(raw);
        transceive(&mut f, cmd).map_err(|e| match e {
            ExchangeError::Transport(t) => UsimError::Transport(t),
            other => UsimError::Malformed {
                command: "exchange",
                problem: other.to_string(),
            },
        })
    }

    fn expect_ok(
        &mut self,
        command: &'static str,
        cmd: &CommandApdu,
    ) -> Result<Vec<u8>, UsimError> {
        let r = self.send(cmd)?;
        if r.sw.is_ok() {
            Ok(r.data)
        } else {
            Err(UsimError::Status { command, sw: r.sw })
        }
    }

    /// The applications listed in EF_DIR.
    pub fn applications(&mut self) -> Result<Vec<DirEntry>, UsimError> {
        self.expect_ok("SELECT MF", &apdus::select_fid(ef::MF))?;
        self.expect_ok("SELECT EF_DIR", &apdus::select_fid(ef::EF_DIR))?;
        let mut out = Vec::new();
        for n in 1..=16u8 {
            let r = self.send(&apdus::read_record(n, 256))?;
            match r.sw {
                StatusWord::Ok => {
                    if let Some(e) = ef::decode_dir_record(&r.data)? {
                        out.push(e);
                    }
                }
                StatusWord::RecordNotFound => break,
                sw => {
                    return Err(UsimError::Status {
                        command: "READ RECORD EF_DIR",
                        sw,
                    })
                }
            }
        }
        Ok(out)
    }

    /// Select ADF.USIM: the AID from EF_DIR when listed, else the 3GPP USIM prefix.
    pub fn select_usim(&mut self) -> Result<Vec<u8>, UsimError> {
        let aid = self
            .applications()
            .ok()
            .and_then(|apps| {
                apps.into_iter()
                    .find(|a| a.aid.starts_with(&ef::USIM_AID_PREFIX))
            })
            .map_or_else(|| ef::USIM_AID_PREFIX.to_vec(), |a| a.aid);
        self.expect_ok("SELECT ADF.USIM", &apdus::select_aid(&aid))?;
        Ok(aid)
    }

    /// True when PIN1 is enabled and not yet verified (VERIFY without data answers 63Cx).
    pub fn pin1_verification_needed(&mut self) -> Result<bool, UsimError> {
        let r = self.send(&CommandApdu::new(0x00, 0x20, 0x00, 0x01))?;
        match r.sw {
            StatusWord::Ok => Ok(false),
            StatusWord::RetriesLeft(_) => Ok(true),
            StatusWord::AuthMethodBlocked => Err(UsimError::PinBlocked),
            sw => Err(UsimError::Status {
                command: "VERIFY PIN1 (status)",
                sw,
            }),
        }
    }

    /// VERIFY PIN1 with a PIN given as digits.
    pub fn verify_pin1(&mut self, digits: &str) -> Result<(), UsimError> {
        let block = pin_block(digits).ok_or(UsimError::Malformed {
            command: "VERIFY",
            problem: "a PIN is 4 to 8 digits".into(),
        })?;
        let r = self.send(&apdus::verify(0x01, &block))?;
        match r.sw {
            StatusWord::Ok => Ok(()),
            StatusWord::RetriesLeft(n) => Err(UsimError::WrongPin(n)),
            StatusWord::AuthMethodBlocked => Err(UsimError::PinBlocked),
            sw => Err(UsimError::Status {
                command: "VERIFY PIN1",
                sw,
            }),
        }
    }

    /// Select an EF by FID and read it whole.
    pub fn read_transparent(
        &mut self,
        command: &'static str,
        fid: u16,
    ) -> Result<Vec<u8>, UsimError> {
        let fcp = self.expect_ok(command, &apdus::select_fid(fid))?;
        // The FCP's file size saves the 6Cxx round trip of Le 00 on a T=0 card.
        let len = crate::decode::fcp(&fcp)
            .and_then(|f| f.size)
            .filter(|n| *n > 0)
            .map_or(256, |n| n.min(256));
        self.expect_ok(command, &apdus::read_binary(0, len))
    }

    /// EF_ICCID (selects the MF on the way; re-select the USIM afterwards).
    pub fn iccid(&mut self) -> Result<String, UsimError> {
        self.expect_ok("SELECT MF", &apdus::select_fid(ef::MF))?;
        Ok(ef::decode_swapped_bcd(
            &self.read_transparent("READ EF_ICCID", ef::EF_ICCID)?,
        ))
    }

    /// All records of a linear fixed EF under the current ADF (stops at '6A83').
    pub fn records(&mut self, command: &'static str, fid: u16) -> Result<Vec<Vec<u8>>, UsimError> {
        let fcp = self.expect_ok(command, &apdus::select_fid(fid))?;
        let shape = crate::decode::fcp(&fcp).and_then(|f| Some((f.record_len?, f.records?)));
        if let Some((len, count)) = shape.filter(|(l, c)| (1..=256).contains(l) && *c > 0) {
            return (1..=count.min(254) as u8)
                .map(|n| self.expect_ok(command, &apdus::read_record(n, len)))
                .collect();
        }
        let mut out = Vec::new();
        for n in 1..=254u8 {
            let r = self.send(&apdus::read_record(n, 256))?;
            match r.sw {
                StatusWord::Ok => out.push(r.data),
                StatusWord::RecordNotFound => break,
                sw => return Err(UsimError::Status { command, sw }),
            }
        }
        Ok(out)
    }

    /// EF_GBANL entries with their record numbers.
    pub fn gbanl(&mut self) -> Result<Vec<(u8, ef::GbaNafEntry)>, UsimError> {
        let mut out = Vec::new();
        for (i, rec) in self
            .records("READ EF_GBANL", ef::EF_GBANL)?
            .iter()
            .enumerate()
        {
            if let Some(e) = ef::decode_gbanl_record(rec)? {
                out.push((i as u8 + 1, e));
            }
        }
        Ok(out)
    }

    /// NAF Key Center FQDNs from EF_NAFKCA.
    pub fn naf_key_centers(&mut self) -> Result<Vec<String>, UsimError> {
        let mut out = Vec::new();
        for rec in self.records("READ EF_NAFKCA", ef::EF_NAFKCA)? {
            if let Some(f) = ef::decode_tagged_text("EF_NAFKCA", &rec)? {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// The ISIM's IMPI, when the card has an ISIM (leaves the ISIM selected).
    pub fn isim_impi(&mut self, isim_aid: &[u8]) -> Result<Option<String>, UsimError> {
        let r = self.send(&apdus::select_aid(isim_aid))?;
        if !r.sw.is_ok() {
            return Ok(None);
        }
        Ok(ef::decode_tagged_text(
            "EF_IMPI",
            &self.read_transparent("READ EF_IMPI", ef::EF_IMPI)?,
        )?)
    }

    /// EF_IMSI.
    pub fn imsi(&mut self) -> Result<Imsi, UsimError> {
        Ok(ef::decode_imsi(
            &self.read_transparent("READ EF_IMSI", ef::EF_IMSI)?,
        )?)
    }

    /// MNC length from EF_AD.
    pub fn mnc_length(&mut self) -> Result<MncLength, UsimError> {
        Ok(ef::decode_ad_mnc_length(
            &self.read_transparent("READ EF_AD", ef::EF_AD)?,
        )?)
    }

    /// EF_UST.
    pub fn ust(&mut self) -> Result<Vec<u8>, UsimError> {
        self.read_transparent("READ EF_UST", ef::EF_UST)
    }

    /// EF_GBABP decoded.
    pub fn gbabp(&mut self) -> Result<GbaBootstrapParams, UsimError> {
        Ok(ef::decode_gbabp(
            &self.read_transparent("READ EF_GBABP", ef::EF_GBABP)?,
        )?)
    }

    /// Write B-TID and key lifetime into EF_GBABP after the RAND (TS 31.102 §4.2.79).
    /// A card whose EF_GBABP cannot hold them gets [`UsimError::FileTooSmall`] and nothing is
    /// written.
    pub fn write_btid_lifetime(&mut self, b_tid: &str, lifetime: &str) -> Result<(), UsimError> {
        let raw = self.read_transparent("READ EF_GBABP", ef::EF_GBABP)?;
        let current = ef::decode_gbabp(&raw)?;
        let rand_len: u16 = current.rand.map_or(0, |_| 16);
        let tail = ef::encode_gbabp_tail(b_tid, lifetime)?;
        let needed = 1 + usize::from(rand_len) + tail.len();
        if needed > raw.len() {
            return Err(UsimError::FileTooSmall {
                file: "EF_GBABP",
                size: raw.len(),
                needed,
            });
        }
        self.expect_ok(
            "UPDATE EF_GBABP",
            &apdus::update_binary(1 + rand_len, &tail),
        )?;
        Ok(())
    }

    /// AUTHENTICATE in the GBA bootstrapping mode.
    pub fn gba_bootstrap(
        &mut self,
        rand: &Rand,
        autn: &Autn,
    ) -> Result<AuthOutcome<Res>, UsimError> {
        let data = self.expect_ok(
            "AUTHENTICATE GBA bootstrap",
            &apdus::gba_bootstrap(rand, autn),
        )?;
        parse_auth("AUTHENTICATE GBA bootstrap", &data, |items| {
            items
                .first()
                .and_then(|r| Res::new(r))
                .ok_or("RES missing or not 4-16 bytes")
        })
    }

    /// AUTHENTICATE in the GBA NAF derivation mode: Ks_ext_NAF.
    pub fn gba_naf_key(&mut self, naf_id: &[u8], impi: Option<&str>) -> Result<KsNaf, UsimError> {
        let cmd = apdus::gba_naf_derivation(naf_id, impi).map_err(|e| UsimError::Malformed {
            command: "AUTHENTICATE GBA NAF derivation",
            problem: e.to_string(),
        })?;
        let data = self.expect_ok("AUTHENTICATE GBA NAF derivation", &cmd)?;
        match parse_auth("AUTHENTICATE GBA NAF derivation", &data, |items| {
            items
                .first()
                .and_then(|k| KsNaf::from_slice(k).ok())
                .ok_or("Ks_ext_NAF missing or not 32 bytes")
        })? {
            AuthOutcome::Success(k) => Ok(k),
            AuthOutcome::SyncFailure(_) => Err(UsimError::Malformed {
                command: "AUTHENTICATE GBA NAF derivation",
                problem: "unexpected AUTS".into(),
            }),
        }
    }

    /// AUTHENTICATE in the 3G context: (RES, CK, IK).
    pub fn authenticate_3g(
        &mut self,
        rand: &Rand,
        autn: &Autn,
    ) -> Result<AuthOutcome<(Res, gbau_core::secret::Ck, gbau_core::secret::Ik)>, UsimError> {
        let data = self.expect_ok("AUTHENTICATE 3G", &apdus::authenticate_3g(rand, autn))?;
        parse_auth("AUTHENTICATE 3G", &data, |items| match items {
            [res, ck, ik, ..] => Ok((
                Res::new(res).ok_or("RES not 4-16 bytes")?,
                gbau_core::secret::Ck::from_slice(ck).map_err(|_| "CK not 16 bytes")?,
                gbau_core::secret::Ik::from_slice(ik).map_err(|_| "IK not 16 bytes")?,
            )),
            _ => Err("RES, CK and IK expected"),
        })
    }
}

/// Decode `DB L v L v ...` (success) or `DC 0E AUTS` (synchronisation failure).
fn parse_auth<T>(
    command: &'static str,
    data: &[u8],
    success: impl FnOnce(&[&[u8]]) -> Result<T, &'static str>,
) -> Result<AuthOutcome<T>, UsimError> {
    let bad = |problem: &str| UsimError::Malformed {
        command,
        problem: problem.to_owned(),
    };
    let (tag, mut rest) = data.split_first().ok_or_else(|| bad("empty answer"))?;
    let mut items = Vec::new();
    while !rest.is_empty() {
        items.push(read_lv(&mut rest).map_err(|e| bad(&e.to_string()))?);
    }
    match tag {
        0xDB => success(&items).map(AuthOutcome::Success).map_err(bad),
        0xDC => items
            .first()
            .and_then(|a| Auts::from_slice(a))
            .map(AuthOutcome::SyncFailure)
            .ok_or_else(|| bad("AUTS not 14 bytes")),
        other => Err(bad(&format!("unknown tag {other:02X}"))),
    }
}

/// A PIN as the 8-byte block VERIFY carries ('FF' padded ASCII digits).
#[must_use]
pub fn pin_block(digits: &str) -> Option<[u8; 8]> {
    if !(4..=8).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut b = [0xFF; 8];
    b[..digits.len()].copy_from_slice(digits.as_bytes());
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gbau_core::hexutil::{parse_fixed, to_hex};

    #[test]
    fn builders_match_the_chain_vector() {
        let rand = Rand(parse_fixed("23553cbe9637a89d218ae64dae47bf35").unwrap());
        let autn = Autn(parse_fixed("55f328b43577b9b98c7f3f0d723fb244").unwrap());
        assert_eq!(
            to_hex(&apdus::gba_bootstrap(&rand, &autn).to_bytes().unwrap()),
            "0088008423dd1023553cbe9637a89d218ae64dae47bf351055f328b43577b9b98c7f3f0d723fb24400"
        );
        let naf = apdus::gba_naf_derivation(
            b"naf.example.org\x01\x00\x00\x00\x02",
            Some("001010000000001@ims.mnc001.mcc001.3gppnetwork.org"),
        )
        .unwrap();
        assert!(to_hex(&naf.to_bytes().unwrap()).starts_with("0088008448de146e61662e"));
        assert_eq!(
            to_hex(
                &apdus::verify(0x01, &pin_block("1234").unwrap())
                    .to_bytes()
                    .unwrap()
            ),
            "002000010831323334ffffffff"
        );
        assert_eq!(
            to_hex(&apdus::read_binary(0x0105, 9).to_bytes().unwrap()),
            "00b0010509"
        );
        assert!(pin_block("12").is_none());
    }

    #[test]
    fn auth_answers_decode() {
        let ok = parse_auth(
            "t",
            &gbau_core::hexutil::parse_hex("DB08a54211d5e3ba50bf").unwrap(),
            |i| Ok(i[0].to_vec()),
        )
        .unwrap();
        assert!(matches!(ok, AuthOutcome::Success(v) if v.len() == 8));
        let sync = parse_auth::<()>(
            "t",
            &gbau_core::hexutil::parse_hex("DC0Eba853f3c123ccf44e93596e355c6").unwrap(),
            |_| Err("no"),
        )
        .unwrap();
        assert!(matches!(sync, AuthOutcome::SyncFailure(_)));
        assert!(parse_auth::<()>("t", &[0xDB, 0x05, 1], |_| Ok(())).is_err());
    }
}
