//! One decoder per coding of `super::catalogue::Codec`, built on the codings of `crate::ef`
//! and `crate::arr`. Each takes the whole transparent file or one record.

use super::catalogue::Codec;
use super::fields::Decoded;
use super::services;
use crate::arr::{self, Operations};
use crate::ef::{self, EfError};
use crate::hexutil::to_hex;
use crate::identity::NafId;

/// The operating modes of EF_AD byte 1 (TS 31.102 §4.2.18; names as pySim's `EF_AD.OP_MODE`).
pub const AD_OPERATION_MODES: [(u8, &str); 6] = [
    (0x00, "normal"),
    (0x80, "type approval"),
    (0x01, "normal and specific facilities"),
    (0x81, "type approval and specific facilities"),
    (0x02, "maintenance (off line)"),
    (0x04, "cell test"),
];

/// Size of EF_AD without extensions.
pub const AD_SIZE: usize = 4;

/// Size of EF_START-HFN: START-CS and START-PS, 3 bytes each (TS 31.102 §4.2.51).
pub const START_HFN_SIZE: usize = 6;

/// Size of EF_THRESHOLD: one 3-byte value (TS 31.102 §4.2.52).
pub const THRESHOLD_SIZE: usize = 3;

/// Bytes of the emergency call code at the start of an EF_ECC record, and of the category
/// at its end (TS 31.102 §4.2.21).
pub const ECC_CODE_LEN: usize = 3;

/// Emergency service category bits (TS 24.008 §10.5.4.33 **[to confirm clause]**; bits and
/// names as pySim's EF_ECC has them, checked against its vectors).
pub const ECC_CATEGORIES: [(u8, &str); 7] = [
    (0x01, "police"),
    (0x02, "ambulance"),
    (0x04, "fire brigade"),
    (0x08, "marine guard"),
    (0x10, "mountain rescue"),
    (0x20, "manual eCall"),
    (0x40, "automatic eCall"),
];

fn malformed(file: &'static str, problem: impl Into<String>) -> EfError {
    EfError::Malformed {
        file,
        problem: problem.into(),
    }
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |a, b| (a << 8) | u64::from(*b))
}

/// Decode `bytes` with `codec`; `None` for a file gbau has no decoder for. All 'FF' is
/// "(empty)", except where 'FF' bytes are values (service tables, ACC, START/THRESHOLD).
pub fn decode(codec: Codec, bytes: &[u8]) -> Option<Result<Decoded, EfError>> {
    if codec == Codec::Opaque {
        return None;
    }
    if bytes.is_empty() {
        return Some(Err(malformed("file", "no content")));
    }
    if bytes.iter().all(|b| *b == 0xFF)
        && !matches!(
            codec,
            Codec::Ust | Codec::Est | Codec::Ist | Codec::Acc | Codec::StartHfn | Codec::Threshold
        )
    {
        return Some(Ok(Decoded::empty()));
    }
    Some(match codec {
        Codec::Iccid => Ok(Decoded::default().text("iccid", ef::decode_swapped_bcd(bytes))),
        Codec::Imsi => ef::decode_imsi(bytes).map(|i| Decoded::default().text("imsi", i.as_str())),
        Codec::Ad => ad(bytes),
        Codec::Ust => Ok(service_table(&services::UST, bytes)),
        Codec::Est => Ok(service_table(&services::EST, bytes)),
        Codec::Ist => Ok(service_table(&services::IST, bytes)),
        Codec::Acc => acc(bytes),
        Codec::Languages => Ok(Decoded::default().list("languages", languages(bytes))),
        Codec::Dir => ef::decode_dir_record(bytes).map(|e| match e {
            None => Decoded::empty(),
            Some(e) => Decoded::default()
                .text("aid", to_hex(&e.aid))
                .text("label", e.label.unwrap_or_default()),
        }),
        Codec::Arr => arr_rules(bytes),
        Codec::Hpplmn => Ok(Decoded::default().number("period", be(&bytes[..1]))),
        Codec::Fplmn => Ok(Decoded::default().list(
            "plmns",
            bytes
                .chunks(ef::PLMN_SIZE)
                .filter_map(ef::decode_plmn)
                .collect(),
        )),
        Codec::Loci => ef::decode_loci(bytes).map(location),
        Codec::Psloci => ef::decode_psloci(bytes).map(location),
        Codec::StartHfn if bytes.len() == START_HFN_SIZE => Ok(Decoded::default()
            .number("start_cs", be(&bytes[..3]))
            .number("start_ps", be(&bytes[3..]))),
        Codec::Threshold if bytes.len() == THRESHOLD_SIZE => {
            Ok(Decoded::default().number("max_start", be(bytes)))
        }
        Codec::StartHfn | Codec::Threshold => Err(malformed(
            "EF_START-HFN/EF_THRESHOLD",
            format!("{} bytes", bytes.len()),
        )),
        Codec::Ecc => ecc(bytes),
        Codec::Keys => Ok(Decoded::default()
            .number("ksi", u64::from(bytes[0]))
            .text("keys", "CK, IK (not shown)")),
        Codec::Kc => Ok(Decoded::default()
            .number("cksn", u64::from(bytes[bytes.len() - 1]))
            .text("keys", "Kc (not shown)")),
        Codec::Gbabp => gbabp(bytes),
        Codec::Gbanl => gbanl(bytes),
        Codec::Nafkca => tagged(bytes, "EF_NAFKCA", "naf_key_center"),
        Codec::Impi => tagged(bytes, "EF_IMPI", "impi"),
        Codec::Domain => tagged(bytes, "EF_DOMAIN", "domain"),
        Codec::Impu => tagged(bytes, "EF_IMPU", "impu"),
        Codec::Opaque => return None,
    })
}

fn ad(bytes: &[u8]) -> Result<Decoded, EfError> {
    let mnc = ef::decode_ad_mnc_length(bytes)?;
    let mode = bytes[0];
    let name = AD_OPERATION_MODES
        .iter()
        .find(|(b, _)| *b == mode)
        .map_or("unknown", |(_, n)| n);
    let mut d = Decoded::default()
        .text("ue_operation_mode", format!("{name} ({mode:02X})"))
        .text("additional_info", to_hex(&bytes[1..3]))
        .number("mnc_length", mnc.digits() as u64);
    if bytes.len() > AD_SIZE {
        d = d.text("extensions", to_hex(&bytes[AD_SIZE..]));
    }
    Ok(d)
}

fn service_table(names: &[&str], bytes: &[u8]) -> Decoded {
    Decoded::default().list(
        "services",
        ef::services_on(bytes)
            .into_iter()
            .map(|n| services::describe(names, n))
            .collect(),
    )
}

/// EF_ACC (TS 31.102 §4.2.15): class n is bit n of the two bytes read big-endian (pySim's
/// test vectors: '0001' is class 0, '8000' class 15).
fn acc(bytes: &[u8]) -> Result<Decoded, EfError> {
    let [a, b] = <[u8; 2]>::try_from(bytes)
        .map_err(|_| malformed("EF_ACC", format!("{} bytes, expected 2", bytes.len())))?;
    let bits = u16::from_be_bytes([a, b]);
    Ok(Decoded::default().list(
        "classes",
        (0..16)
            .filter(|c| bits & (1 << c) != 0)
            .map(|c: u16| c.to_string())
            .collect(),
    ))
}

/// EF_LI / EF_PL: two-letter codes, 'FFFF' unused.
fn languages(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(2)
        .filter(|c| c.iter().all(|b| b.is_ascii_alphanumeric()))
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

fn arr_rules(bytes: &[u8]) -> Result<Decoded, EfError> {
    let rules = arr::decode_record(bytes)?;
    let items = rules
        .iter()
        .map(|r| {
            let ops = match &r.operations {
                Operations::Modes(m) => access_modes(m.0),
                Operations::CommandHeader { header, .. } => format!("command {}", to_hex(header)),
            };
            format!("{ops}: {}", r.condition)
        })
        .collect();
    Ok(Decoded::default().list("rules", items))
}

/// The EF meaning of an access mode byte (ISO 7816-4 §9.3.2).
fn access_modes(m: u8) -> String {
    let names = [
        (0x01, "READ"),
        (0x02, "UPDATE"),
        (0x04, "WRITE"),
        (0x08, "DEACTIVATE"),
        (0x10, "ACTIVATE"),
        (0x20, "TERMINATE"),
        (0x40, "DELETE"),
    ];
    let on: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| m & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if on.is_empty() {
        format!("modes {m:02X}")
    } else {
        on.join("/")
    }
}

fn location(l: ef::Location) -> Decoded {
    let status = match l.status {
        ef::UPDATE_STATUS_UPDATED => "updated".to_owned(),
        ef::UPDATE_STATUS_NOT_UPDATED => "not updated".to_owned(),
        ef::UPDATE_STATUS_PLMN_NOT_ALLOWED => "PLMN not allowed".to_owned(),
        ef::UPDATE_STATUS_AREA_NOT_ALLOWED => "area not allowed".to_owned(),
        other => format!("status {other:02X}"),
    };
    Decoded::default()
        .text("plmn", l.plmn.unwrap_or_else(|| "none".into()))
        .text("lac", to_hex(&l.lac).to_uppercase())
        .text("status", status)
}

fn ecc(bytes: &[u8]) -> Result<Decoded, EfError> {
    if bytes.len() < ECC_CODE_LEN + 1 {
        return Err(malformed("EF_ECC", "record shorter than 4 bytes"));
    }
    let code = ef::decode_swapped_bcd(&bytes[..ECC_CODE_LEN]);
    if code.is_empty() {
        return Ok(Decoded::empty());
    }
    let alpha = &bytes[ECC_CODE_LEN..bytes.len() - 1];
    let category = bytes[bytes.len() - 1];
    let names: Vec<&str> = ECC_CATEGORIES
        .iter()
        .filter(|(bit, _)| category & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    let mut d = Decoded::default().text("call_code", code);
    let alpha: Vec<u8> = alpha.iter().copied().take_while(|b| *b != 0xFF).collect();
    if !alpha.is_empty() {
        d = d.text("alpha", String::from_utf8_lossy(&alpha));
    }
    Ok(d.text("category", format!("{category:02X} ({})", names.join(", "))))
}

fn gbabp(bytes: &[u8]) -> Result<Decoded, EfError> {
    let p = ef::decode_gbabp(bytes)?;
    Ok(Decoded::default()
        .text("rand", p.rand.map(|r| to_hex(&r.0)).unwrap_or_default())
        .text("b_tid", p.b_tid)
        .text("lifetime", p.lifetime))
}

fn gbanl(bytes: &[u8]) -> Result<Decoded, EfError> {
    let Some(e) = ef::decode_gbanl_record(bytes)? else {
        return Ok(Decoded::empty());
    };
    let id = NafId::from_bytes(&e.naf_id).map_err(|x| malformed("EF_GBANL", x.to_string()))?;
    let ua = id.ua_protocol();
    Ok(Decoded::default()
        .text("naf_fqdn", id.fqdn())
        .text(
            "ua_protocol",
            format!("{} ({})", to_hex(&ua.0), ua.describe()),
        )
        .text("b_tid", e.b_tid))
}

fn tagged(bytes: &[u8], file: &'static str, name: &'static str) -> Result<Decoded, EfError> {
    Ok(match ef::decode_tagged_text(file, bytes)? {
        Some(t) => Decoded::default().text(name, t),
        None => Decoded::empty(),
    })
}
