//! Contents of the USIM/ISIM elementary files gbau reads and writes: the file identifiers and
//! the codings of TS 31.102 §4.2, TS 31.103 §4.2 and TS 102 221 §13, both ways.

use crate::aka::Rand;
use crate::identity::{Imsi, MncLength};
use crate::tlv::{self, Tlv};

/// MF.
pub const MF: u16 = 0x3F00;
/// EF_DIR, the application directory (TS 102 221 §13.1).
pub const EF_DIR: u16 = 0x2F00;
/// EF_ICCID (TS 102 221 §13.2).
pub const EF_ICCID: u16 = 0x2FE2;
/// EF_PL, preferred languages (TS 102 221 §13.5).
pub const EF_PL: u16 = 0x2F05;
/// The FID that selects the current ADF (TS 102 221 §8.3).
pub const CURRENT_ADF: u16 = 0x7FFF;
/// EF_IMSI (TS 31.102 §4.2.2).
pub const EF_IMSI: u16 = 0x6F07;
/// EF_Keys (TS 31.102 §4.2.4).
pub const EF_KEYS: u16 = 0x6F08;
/// EF_KeysPS (TS 31.102 §4.2.5).
pub const EF_KEYS_PS: u16 = 0x6F09;
/// EF_LI (TS 31.102 §4.2.1).
pub const EF_LI: u16 = 0x6F05;
/// EF_UST (TS 31.102 §4.2.8).
pub const EF_UST: u16 = 0x6F38;
/// EF_EST (TS 31.102 §4.2.47).
pub const EF_EST: u16 = 0x6F56;
/// EF_ACC (TS 31.102 §4.2.15).
pub const EF_ACC: u16 = 0x6F78;
/// EF_AD (TS 31.102 §4.2.18).
pub const EF_AD: u16 = 0x6FAD;
/// EF_GBABP in ADF.USIM (TS 31.102 §4.2.79).
pub const EF_GBABP: u16 = 0x6FD6;
/// EF_GBANL in ADF.USIM (TS 31.102 §4.2.83).
pub const EF_GBANL: u16 = 0x6FDA;
/// EF_NAFKCA in ADF.USIM (TS 31.102 §4.2.87).
pub const EF_NAFKCA: u16 = 0x6FDD;
/// EF_IMPI in ADF.ISIM (TS 31.103 §4.2.2).
pub const EF_IMPI: u16 = 0x6F02;
/// EF_DOMAIN in ADF.ISIM (TS 31.103 §4.2.3).
pub const EF_DOMAIN: u16 = 0x6F03;
/// EF_IMPU in ADF.ISIM (TS 31.103 §4.2.4).
pub const EF_IMPU: u16 = 0x6F04;
/// EF_IST in ADF.ISIM (TS 31.103 §4.2.7).
pub const EF_IST: u16 = 0x6F07;
/// EF_GBABP in ADF.ISIM (TS 31.103 §4.2.10).
pub const EF_ISIM_GBABP: u16 = 0x6FD5;
/// EF_GBANL in ADF.ISIM (TS 31.103 §4.2.11).
pub const EF_ISIM_GBANL: u16 = 0x6FD7;

/// EF_ARR under the MF (TS 102 221 §13.4).
pub const EF_ARR_MF: u16 = 0x2F06;
/// SFI of EF_ARR under the MF (TS 102 221 §13.4; pySim).
pub const SFI_ARR_MF: u8 = 0x06;
/// EF_ARR in ADF.USIM (TS 31.102 §4.2.36 **[to confirm clause]**) and in ADF.ISIM
/// (TS 31.103 §4.2.6 **[to confirm clause]**); FID as pySim has it.
pub const EF_ARR_ADF: u16 = 0x6F06;
/// SFI of EF_ARR in ADF.USIM (pySim).
pub const SFI_ARR_USIM: u8 = 0x17;
/// SFI of EF_ARR in ADF.ISIM (pySim).
pub const SFI_ARR_ISIM: u8 = 0x06;
/// EF_HPPLMN, higher priority PLMN search period (TS 31.102 §4.2.6).
pub const EF_HPPLMN: u16 = 0x6F31;
/// SFI of EF_HPPLMN (pySim).
pub const SFI_HPPLMN: u8 = 0x12;
/// EF_FPLMN, forbidden PLMNs (TS 31.102 §4.2.16 **[to confirm clause]**).
pub const EF_FPLMN: u16 = 0x6F7B;
/// SFI of EF_FPLMN (pySim).
pub const SFI_FPLMN: u8 = 0x0D;
/// EF_LOCI, location information (TS 31.102 §4.2.17).
pub const EF_LOCI: u16 = 0x6F7E;
/// SFI of EF_LOCI (pySim).
pub const SFI_LOCI: u8 = 0x0B;
/// EF_PSLOCI, packet switched location information (TS 31.102 §4.2.23).
pub const EF_PSLOCI: u16 = 0x6F73;
/// SFI of EF_PSLOCI (pySim).
pub const SFI_PSLOCI: u8 = 0x0C;
/// EF_START-HFN, initialisation values for the hyperframe number (TS 31.102 §4.2.51).
pub const EF_START_HFN: u16 = 0x6F5B;
/// SFI of EF_START-HFN (pySim).
pub const SFI_START_HFN: u8 = 0x0F;
/// EF_THRESHOLD, maximum value of START (TS 31.102 §4.2.52).
pub const EF_THRESHOLD: u16 = 0x6F5C;
/// SFI of EF_THRESHOLD (pySim).
pub const SFI_THRESHOLD: u8 = 0x10;
/// EF_NETPAR, network parameters (TS 31.102 §4.2 **[to confirm clause]**; no SFI in pySim).
pub const EF_NETPAR: u16 = 0x6FC4;
/// EF_ECC, emergency call codes (TS 31.102 §4.2.21 **[to confirm clause]**).
pub const EF_ECC: u16 = 0x6FB7;
/// SFI of EF_ECC (pySim).
pub const SFI_ECC: u8 = 0x01;
/// DF_GSM-ACCESS in ADF.USIM (TS 31.102 §4.4.3; pySim: present with UST service 27).
pub const DF_GSM_ACCESS: u16 = 0x5F3B;
/// EF_Kc in DF_GSM-ACCESS (TS 31.102 §4.4.3.1 **[to confirm clause]**; FID and SFI: pySim).
pub const EF_KC: u16 = 0x4F20;
/// SFI of EF_Kc.
pub const SFI_KC: u8 = 0x01;
/// EF_KcGPRS in DF_GSM-ACCESS (TS 31.102 §4.4.3.2 **[to confirm clause]**).
pub const EF_KC_GPRS: u16 = 0x4F52;
/// SFI of EF_KcGPRS.
pub const SFI_KC_GPRS: u8 = 0x02;

/// The registered application provider id and application code of the USIM (TS 101 220).
pub const USIM_AID_PREFIX: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02];
/// The same for the ISIM.
pub const ISIM_AID_PREFIX: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x04];

/// UST service 27: GSM access (Kc in the 3G context).
pub const SERVICE_GSM_ACCESS: u16 = 27;
/// UST service 68: GBA.
pub const SERVICE_GBA: u16 = 68;
/// UST service 76: GBA-based local key establishment.
pub const SERVICE_GBA_LOCAL_KEY: u16 = 76;

/// IST service 4: GBA-based local key establishment mechanism (TS 31.103 §4.2.7; pySim's
/// EF_IST map).
pub const ISIM_SERVICE_GBA_LOCAL_KEY: u16 = 4;

/// Tag of the NAF_Id in EF_GBANL and of the FQDN in EF_NAFKCA.
pub const TAG_NAF_ID: u32 = 0x80;
/// Tag of the B-TID in EF_GBANL.
pub const TAG_B_TID: u32 = 0x81;
/// Tag of the IMPI/domain/IMPU in the ISIM files (TS 31.103 §4.2.2).
pub const TAG_URI: u32 = 0x80;
/// Application template in EF_DIR.
pub const TAG_APPLICATION_TEMPLATE: u32 = 0x61;
/// AID inside the application template.
pub const TAG_AID: u32 = 0x4F;
/// Label inside the application template.
pub const TAG_LABEL: u32 = 0x50;

/// A file content that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EfError {
    /// Wrong size or malformed content.
    #[error("{file}: {problem}")]
    Malformed { file: &'static str, problem: String },
    /// Content too long for the file or record.
    #[error("{file}: {len} bytes do not fit in {room}")]
    TooLong {
        file: &'static str,
        len: usize,
        room: usize,
    },
}

fn malformed(file: &'static str, problem: impl Into<String>) -> EfError {
    EfError::Malformed {
        file,
        problem: problem.into(),
    }
}

/// Pad with 'FF' to `size`, or fail when the content is longer.
pub fn pad_ff(file: &'static str, mut content: Vec<u8>, size: usize) -> Result<Vec<u8>, EfError> {
    if content.len() > size {
        return Err(EfError::TooLong {
            file,
            len: content.len(),
            room: size,
        });
    }
    content.resize(size, 0xFF);
    Ok(content)
}

/// Swapped-nibble BCD of decimal digits, 'F' padded (EF_ICCID coding).
pub fn encode_swapped_bcd(digits: &str) -> Option<Vec<u8>> {
    let nibbles: Option<Vec<u8>> = digits
        .chars()
        .map(|c| c.to_digit(10).map(|d| d as u8))
        .collect();
    let nibbles = nibbles?;
    Some(
        nibbles
            .chunks(2)
            .map(|p| p[0] | (p.get(1).copied().unwrap_or(0xF) << 4))
            .collect(),
    )
}

/// Decimal digits from swapped-nibble BCD, stopping at the first 'F'.
#[must_use]
pub fn decode_swapped_bcd(bytes: &[u8]) -> String {
    let mut s = String::new();
    for b in bytes {
        for n in [b & 0x0F, b >> 4] {
            if n > 9 {
                return s;
            }
            s.push(char::from(b'0' + n));
        }
    }
    s
}

/// EF_ICCID: 10 bytes.
pub fn encode_iccid(iccid: &str) -> Result<Vec<u8>, EfError> {
    if !(18..=20).contains(&iccid.len()) {
        return Err(malformed(
            "EF_ICCID",
            format!("ICCID must be 18 to 20 digits, got {}", iccid.len()),
        ));
    }
    let bcd = encode_swapped_bcd(iccid)
        .ok_or_else(|| malformed("EF_ICCID", "ICCID must be decimal digits"))?;
    pad_ff("EF_ICCID", bcd, 10)
}

/// EF_IMSI (TS 31.102 §4.2.2): length, then parity/first digit, then swapped BCD.
#[must_use]
pub fn encode_imsi(imsi: &Imsi) -> Vec<u8> {
    let digits: Vec<u8> = imsi.as_str().bytes().map(|b| b - b'0').collect();
    let odd = digits.len() % 2 == 1;
    let mut nibbles = vec![if odd { 0x9 } else { 0x1 }];
    nibbles.extend_from_slice(&digits);
    let body: Vec<u8> = nibbles
        .chunks(2)
        .map(|p| p[0] | (p.get(1).copied().unwrap_or(0xF) << 4))
        .collect();
    let mut out = vec![body.len() as u8];
    out.extend(body);
    out.resize(9, 0xFF);
    out
}

/// Decode EF_IMSI.
pub fn decode_imsi(bytes: &[u8]) -> Result<Imsi, EfError> {
    let (len, body) = bytes
        .split_first()
        .ok_or_else(|| malformed("EF_IMSI", "empty"))?;
    let len = usize::from(*len);
    if len == 0 || len > 8 || body.len() < len {
        return Err(malformed("EF_IMSI", format!("bad length byte {len:#04x}")));
    }
    let mut digits = String::new();
    for (i, b) in body[..len].iter().enumerate() {
        for (j, n) in [b & 0x0F, b >> 4].into_iter().enumerate() {
            if i == 0 && j == 0 {
                continue; // parity / identity type nibble
            }
            if n == 0xF {
                break;
            }
            if n > 9 {
                return Err(malformed("EF_IMSI", format!("non-decimal nibble {n:#x}")));
            }
            digits.push(char::from(b'0' + n));
        }
    }
    Imsi::new(&digits).map_err(|e| malformed("EF_IMSI", e.to_string()))
}

/// EF_AD: UE operation mode, two reserved/OFM bytes, MNC length.
#[must_use]
pub fn encode_ad(mnc: MncLength) -> Vec<u8> {
    vec![0x00, 0x00, 0x00, mnc.digits() as u8]
}

/// MNC length from EF_AD byte 4 (low nibble).
pub fn decode_ad_mnc_length(bytes: &[u8]) -> Result<MncLength, EfError> {
    let b = bytes
        .get(3)
        .ok_or_else(|| malformed("EF_AD", "shorter than 4 bytes: no MNC length"))?;
    MncLength::new(b & 0x0F).map_err(|e| malformed("EF_AD", e.to_string()))
}

/// A service table (EF_UST, EF_IST, EF_EST) of `size` bytes with the given services on.
pub fn encode_service_table(
    file: &'static str,
    services: &[u16],
    size: usize,
) -> Result<Vec<u8>, EfError> {
    let mut out = vec![0u8; size];
    for &n in services {
        let Some(index) = n.checked_sub(1).map(usize::from) else {
            return Err(malformed(file, "service numbers start at 1"));
        };
        let byte = out
            .get_mut(index / 8)
            .ok_or_else(|| malformed(file, format!("service {n} does not fit in {size} bytes")))?;
        *byte |= 1 << (index % 8);
    }
    Ok(out)
}

/// Whether service `n` is on in a service table.
#[must_use]
pub fn service_available(table: &[u8], n: u16) -> bool {
    let Some(index) = n.checked_sub(1).map(usize::from) else {
        return false;
    };
    table
        .get(index / 8)
        .is_some_and(|b| b & (1 << (index % 8)) != 0)
}

/// The services that are on.
#[must_use]
pub fn services_on(table: &[u8]) -> Vec<u16> {
    (1..=(table.len() * 8) as u16)
        .filter(|n| service_available(table, *n))
        .collect()
}

/// EF_ACC from the last IMSI digit (TS 22.011 §4.2: classes 0–9 drawn from the IMSI).
#[must_use]
pub fn encode_acc(imsi: &Imsi) -> Vec<u8> {
    let class = imsi.as_str().bytes().last().map_or(0, |b| b - b'0');
    let bits = 1u16 << class;
    bits.to_be_bytes().to_vec()
}

/// "No TMSI" / "no P-TMSI" and the unused bytes of EF_LOCI and EF_PSLOCI.
pub const UNUSED: u8 = 0xFF;
/// LAC of a deleted LAI, kept with the last PLMN (TS 24.008 §4.4.x and §10.5.1.3, as
/// recalled **[to confirm]**).
pub const LAC_DELETED: [u8; 2] = [0xFF, 0xFE];
/// Location / routing area update status "not updated" (TS 31.102 §4.2.17, §4.2.23; pySim's
/// EF_LOCI/EF_LOCIGPRS status values: 0 updated, 1 not updated, 2 PLMN not allowed, 3 area
/// not allowed).
pub const UPDATE_STATUS_NOT_UPDATED: u8 = 0x01;
/// Update status "updated".
pub const UPDATE_STATUS_UPDATED: u8 = 0x00;
/// Update status "PLMN not allowed".
pub const UPDATE_STATUS_PLMN_NOT_ALLOWED: u8 = 0x02;
/// Update status "location / routing area not allowed".
pub const UPDATE_STATUS_AREA_NOT_ALLOWED: u8 = 0x03;
/// Size of EF_LOCI: TMSI 4, LAI 5, RFU 1, status 1 (TS 31.102 §4.2.17).
pub const EF_LOCI_SIZE: usize = 11;
/// Size of EF_PSLOCI: P-TMSI 4, P-TMSI signature 3, RAI 6, status 1 (TS 31.102 §4.2.23).
pub const EF_PSLOCI_SIZE: usize = 14;
/// Size of one PLMN in EF_FPLMN and in the LAI/RAI (TS 24.008 §10.5.1.3).
pub const PLMN_SIZE: usize = 3;

/// The home PLMN of an IMSI as TS 24.008 §10.5.1.3 codes it: MCC2|MCC1, MNC3|MCC3,
/// MNC2|MNC1, with 'F' for the third MNC digit of a 2-digit MNC.
#[must_use]
pub fn encode_plmn(imsi: &Imsi, mnc_length: MncLength) -> [u8; PLMN_SIZE] {
    let d = |s: &str, i: usize| s.as_bytes().get(i).map_or(0x0F, |b| b - b'0');
    let (mcc, mnc) = (imsi.mcc(), imsi.mnc(mnc_length));
    [
        d(mcc, 1) << 4 | d(mcc, 0),
        d(mnc, 2) << 4 | d(mcc, 2),
        d(mnc, 1) << 4 | d(mnc, 0),
    ]
}

/// "MCC-MNC" from a coded PLMN; `None` for an unused ('FFFFFF') or malformed one.
#[must_use]
pub fn decode_plmn(b: &[u8]) -> Option<String> {
    let [b0, b1, b2] = <[u8; PLMN_SIZE]>::try_from(b.get(..PLMN_SIZE)?).ok()?;
    let digits = [b0 & 0x0F, b0 >> 4, b1 & 0x0F, b2 & 0x0F, b2 >> 4, b1 >> 4];
    let mut out = String::new();
    for (i, n) in digits.into_iter().enumerate() {
        match n {
            0..=9 => out.push(char::from(b'0' + n)),
            0x0F if i == 5 => {}
            _ => return None,
        }
        if i == 2 {
            out.push('-');
        }
    }
    Some(out)
}

/// EF_LOCI of a card that has not registered: no TMSI, the home PLMN with the LAC of a
/// deleted LAI, status "not updated".
#[must_use]
pub fn encode_loci_not_updated(plmn: [u8; PLMN_SIZE]) -> Vec<u8> {
    let mut out = vec![UNUSED; 4];
    out.extend_from_slice(&plmn);
    out.extend_from_slice(&LAC_DELETED);
    out.extend([UNUSED, UPDATE_STATUS_NOT_UPDATED]);
    out
}

/// EF_PSLOCI of a card that has not registered: no P-TMSI nor signature, the home PLMN with
/// the LAC of a deleted LAI and no RAC, status "not updated".
#[must_use]
pub fn encode_psloci_not_updated(plmn: [u8; PLMN_SIZE]) -> Vec<u8> {
    let mut out = vec![UNUSED; 7];
    out.extend_from_slice(&plmn);
    out.extend_from_slice(&LAC_DELETED);
    out.extend([UNUSED, UPDATE_STATUS_NOT_UPDATED]);
    out
}

/// What EF_LOCI or EF_PSLOCI says: the PLMN and LAC of the last area and the update status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// "MCC-MNC", or `None` when unused.
    pub plmn: Option<String>,
    pub lac: [u8; 2],
    pub status: u8,
}

fn location(
    file: &'static str,
    bytes: &[u8],
    lai_at: usize,
    size: usize,
) -> Result<Location, EfError> {
    if bytes.len() != size {
        return Err(malformed(
            file,
            format!("{} bytes, expected {size}", bytes.len()),
        ));
    }
    Ok(Location {
        plmn: decode_plmn(&bytes[lai_at..lai_at + PLMN_SIZE]),
        lac: [bytes[lai_at + PLMN_SIZE], bytes[lai_at + PLMN_SIZE + 1]],
        status: bytes[size - 1],
    })
}

/// Decode EF_LOCI (TS 31.102 §4.2.17).
pub fn decode_loci(bytes: &[u8]) -> Result<Location, EfError> {
    location("EF_LOCI", bytes, 4, EF_LOCI_SIZE)
}

/// Decode EF_PSLOCI (TS 31.102 §4.2.23).
pub fn decode_psloci(bytes: &[u8]) -> Result<Location, EfError> {
    location("EF_PSLOCI", bytes, 7, EF_PSLOCI_SIZE)
}

/// EF_DIR record: application template with AID and label, 'FF' padded.
pub fn encode_dir_record(aid: &[u8], label: &str, record_len: usize) -> Result<Vec<u8>, EfError> {
    let mut inner = Tlv::new(TAG_AID, aid.to_vec())
        .to_bytes()
        .map_err(|e| malformed("EF_DIR", e.to_string()))?;
    inner.extend(
        Tlv::new(TAG_LABEL, label.as_bytes().to_vec())
            .to_bytes()
            .map_err(|e| malformed("EF_DIR", e.to_string()))?,
    );
    let rec = Tlv::new(TAG_APPLICATION_TEMPLATE, inner)
        .to_bytes()
        .map_err(|e| malformed("EF_DIR", e.to_string()))?;
    pad_ff("EF_DIR", rec, record_len)
}

/// One application of EF_DIR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub aid: Vec<u8>,
    pub label: Option<String>,
}

/// Decode an EF_DIR record; `None` for an empty ('FF') record.
pub fn decode_dir_record(record: &[u8]) -> Result<Option<DirEntry>, EfError> {
    let items = tlv::parse_all(record).map_err(|e| malformed("EF_DIR", e.to_string()))?;
    let Some(template) = items
        .into_iter()
        .find(|t| t.tag.0 == TAG_APPLICATION_TEMPLATE)
    else {
        return Ok(None);
    };
    let kids = template
        .children()
        .map_err(|e| malformed("EF_DIR", e.to_string()))?;
    let aid = kids
        .iter()
        .find(|t| t.tag.0 == TAG_AID)
        .map(|t| t.value.clone())
        .ok_or_else(|| malformed("EF_DIR", "application template without AID"))?;
    let label = kids
        .iter()
        .find(|t| t.tag.0 == TAG_LABEL)
        .map(|t| String::from_utf8_lossy(&t.value).into_owned());
    Ok(Some(DirEntry { aid, label }))
}

/// EF_GBABP (TS 31.102 §4.2.79): RAND, B-TID and key lifetime as length-value items.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GbaBootstrapParams {
    pub rand: Option<Rand>,
    pub b_tid: String,
    pub lifetime: String,
}

/// Encode EF_GBABP into a file of `size` bytes.
pub fn encode_gbabp(p: &GbaBootstrapParams, size: usize) -> Result<Vec<u8>, EfError> {
    let mut out = Vec::new();
    let err = |e: tlv::TlvError| malformed("EF_GBABP", e.to_string());
    tlv::write_lv(p.rand.as_ref().map_or(&[][..], |r| &r.0[..]), &mut out).map_err(err)?;
    tlv::write_lv(p.b_tid.as_bytes(), &mut out).map_err(err)?;
    tlv::write_lv(p.lifetime.as_bytes(), &mut out).map_err(err)?;
    pad_ff("EF_GBABP", out, size)
}

/// The B-TID/lifetime part of EF_GBABP as the ME writes it after the RAND (offset 17).
pub fn encode_gbabp_tail(b_tid: &str, lifetime: &str) -> Result<Vec<u8>, EfError> {
    let mut out = Vec::new();
    let err = |e: tlv::TlvError| malformed("EF_GBABP", e.to_string());
    tlv::write_lv(b_tid.as_bytes(), &mut out).map_err(err)?;
    tlv::write_lv(lifetime.as_bytes(), &mut out).map_err(err)?;
    Ok(out)
}

/// Decode EF_GBABP. An all-'FF' file is empty.
pub fn decode_gbabp(bytes: &[u8]) -> Result<GbaBootstrapParams, EfError> {
    if bytes.first().is_none_or(|b| *b == 0xFF) {
        return Ok(GbaBootstrapParams::default());
    }
    let mut rest = bytes;
    let err = |what: &str, e: tlv::TlvError| malformed("EF_GBABP", format!("{what}: {e}"));
    let rand = tlv::read_lv(&mut rest).map_err(|e| err("RAND", e))?;
    let rand = match rand.len() {
        0 => None,
        16 => Rand::from_slice(rand),
        n => return Err(malformed("EF_GBABP", format!("RAND of {n} bytes"))),
    };
    let text = |rest: &mut &[u8], what: &str| -> Result<String, EfError> {
        if rest.first().is_none_or(|b| *b == 0xFF) {
            return Ok(String::new());
        }
        let v = tlv::read_lv(rest).map_err(|e| err(what, e))?;
        String::from_utf8(v.to_vec())
            .map_err(|_| malformed("EF_GBABP", format!("{what} is not UTF-8")))
    };
    let b_tid = text(&mut rest, "B-TID")?;
    let lifetime = text(&mut rest, "lifetime")?;
    Ok(GbaBootstrapParams {
        rand,
        b_tid,
        lifetime,
    })
}

/// One EF_GBANL record: a NAF_Id and the B-TID its keys belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GbaNafEntry {
    pub naf_id: Vec<u8>,
    pub b_tid: String,
}

/// Encode an EF_GBANL record of `record_len` bytes.
pub fn encode_gbanl_record(e: &GbaNafEntry, record_len: usize) -> Result<Vec<u8>, EfError> {
    let err = |x: tlv::TlvError| malformed("EF_GBANL", x.to_string());
    let mut out = Tlv::new(TAG_NAF_ID, e.naf_id.clone())
        .to_bytes()
        .map_err(err)?;
    out.extend(
        Tlv::new(TAG_B_TID, e.b_tid.as_bytes().to_vec())
            .to_bytes()
            .map_err(err)?,
    );
    pad_ff("EF_GBANL", out, record_len)
}

/// Decode an EF_GBANL record; `None` for an empty record.
pub fn decode_gbanl_record(record: &[u8]) -> Result<Option<GbaNafEntry>, EfError> {
    let items = tlv::parse_all(record).map_err(|e| malformed("EF_GBANL", e.to_string()))?;
    let Some(naf) = items.iter().find(|t| t.tag.0 == TAG_NAF_ID) else {
        return Ok(None);
    };
    let b_tid = items
        .iter()
        .find(|t| t.tag.0 == TAG_B_TID)
        .map(|t| String::from_utf8_lossy(&t.value).into_owned())
        .unwrap_or_default();
    Ok(Some(GbaNafEntry {
        naf_id: naf.value.clone(),
        b_tid,
    }))
}

/// Encode a `80 L text` object (EF_NAFKCA records, ISIM EF_IMPI/EF_DOMAIN/EF_IMPU), 'FF' padded.
pub fn encode_tagged_text(file: &'static str, text: &str, size: usize) -> Result<Vec<u8>, EfError> {
    let tlv = Tlv::new(TAG_URI, text.as_bytes().to_vec())
        .to_bytes()
        .map_err(|e| malformed(file, e.to_string()))?;
    pad_ff(file, tlv, size)
}

/// Decode a `80 L text` object; `None` when empty.
pub fn decode_tagged_text(file: &'static str, bytes: &[u8]) -> Result<Option<String>, EfError> {
    let items = tlv::parse_all(bytes).map_err(|e| malformed(file, e.to_string()))?;
    Ok(items
        .into_iter()
        .find(|t| t.tag.0 == TAG_URI)
        .map(|t| String::from_utf8_lossy(&t.value).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imsi_coding_matches_ts_31_102() {
        let imsi = Imsi::new("001010000000001").unwrap();
        let enc = encode_imsi(&imsi);
        // 15 digits: odd parity nibble 9 with digit 0, then swapped pairs.
        assert_eq!(hex::encode(&enc), "080910100000000010");
        assert_eq!(decode_imsi(&enc).unwrap(), imsi);
        let even = Imsi::new("31041012345678").unwrap();
        assert_eq!(decode_imsi(&encode_imsi(&even)).unwrap(), even);
        assert!(decode_imsi(&[0x09, 0x01]).is_err());
    }

    #[test]
    fn iccid_is_swapped_bcd() {
        let e = encode_iccid("8988211000000000001").unwrap();
        assert_eq!(hex::encode(&e), "988812010000000000f1");
        assert_eq!(decode_swapped_bcd(&e), "8988211000000000001");
    }

    #[test]
    fn service_bits() {
        let t = encode_service_table("EF_UST", &[1, 27, 68, 76], 10).unwrap();
        assert!(service_available(&t, 68));
        assert!(!service_available(&t, 67));
        assert_eq!(t[8] & 0x08, 0x08, "76 is bit 4 of byte 10");
        assert_eq!(services_on(&t), vec![1, 27, 68, 76]);
        assert!(encode_service_table("EF_UST", &[90], 10).is_err());
    }

    #[test]
    fn gbabp_round_trip_and_me_tail() {
        let p = GbaBootstrapParams {
            rand: Some(Rand([0x23; 16])),
            b_tid: "abc@bsf".into(),
            lifetime: "2026-11-23T10:00:00Z".into(),
        };
        let bytes = encode_gbabp(&p, 128).unwrap();
        assert_eq!(decode_gbabp(&bytes).unwrap(), p);
        let only_rand = GbaBootstrapParams {
            rand: Some(Rand([1; 16])),
            ..Default::default()
        };
        assert_eq!(
            decode_gbabp(&encode_gbabp(&only_rand, 64).unwrap()).unwrap(),
            only_rand
        );
        assert_eq!(
            decode_gbabp(&[0xFF; 20]).unwrap(),
            GbaBootstrapParams::default()
        );
        assert!(decode_gbabp(&[0x05, 1, 2]).is_err());
    }

    #[test]
    fn plmn_and_location_codings_match_pysim_examples() {
        // pySim: "62F210" is 262-01, "22F860" 228-06, "330420" 334-020.
        assert_eq!(decode_plmn(&[0x62, 0xF2, 0x10]).as_deref(), Some("262-01"));
        assert_eq!(decode_plmn(&[0x22, 0xF8, 0x60]).as_deref(), Some("228-06"));
        assert_eq!(decode_plmn(&[0x33, 0x04, 0x20]).as_deref(), Some("334-020"));
        assert_eq!(decode_plmn(&[0xFF; 3]), None);
        let two = Imsi::new("262010000000001").unwrap();
        assert_eq!(
            encode_plmn(&two, MncLength::new(2).unwrap()),
            [0x62, 0xF2, 0x10]
        );
        let three = Imsi::new("334020000000001").unwrap();
        assert_eq!(
            encode_plmn(&three, MncLength::new(3).unwrap()),
            [0x33, 0x04, 0x20]
        );
        // pySim's EF_LOCI example "ffffffff62f2200000ff01": 262-02, LAC 0000, not updated.
        let l = decode_loci(&hex::decode("ffffffff62f2200000ff01").unwrap()).unwrap();
        assert_eq!(l.plmn.as_deref(), Some("262-02"));
        assert_eq!((l.lac, l.status), ([0, 0], UPDATE_STATUS_NOT_UPDATED));
        let loci = encode_loci_not_updated([0x62, 0xF2, 0x10]);
        assert_eq!(hex::encode(&loci), "ffffffff62f210fffeff01");
        // pySim's EF_LOCIGPRS example has the PSLOCI layout: RAI 22f899 0000 ff, not updated.
        let p = decode_psloci(&hex::decode("ffffffffffffff22f8990000ff01").unwrap()).unwrap();
        assert_eq!(p.plmn.as_deref(), Some("228-99"));
        let ps = encode_psloci_not_updated([0x22, 0xF8, 0x99]);
        assert_eq!(hex::encode(&ps), "ffffffffffffff22f899fffeff01");
        assert!(decode_loci(&ps).is_err());
    }

    #[test]
    fn gbanl_and_dir_records() {
        let e = GbaNafEntry {
            naf_id: b"naf.example.org\x01\x00\x00\x00\x02".to_vec(),
            b_tid: "x@y".into(),
        };
        let rec = encode_gbanl_record(&e, 64).unwrap();
        assert_eq!(decode_gbanl_record(&rec).unwrap(), Some(e));
        assert_eq!(decode_gbanl_record(&[0xFF; 64]).unwrap(), None);
        let dir = encode_dir_record(&[0xA0, 0, 0, 0, 0x87, 0x10, 0x02], "USIM", 32).unwrap();
        assert_eq!(
            decode_dir_record(&dir).unwrap().unwrap().label.as_deref(),
            Some("USIM")
        );
    }
}
