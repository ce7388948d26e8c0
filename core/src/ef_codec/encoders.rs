//! The encoders: the fields a decoder prints (`super::decoders`) back to bytes, for the files
//! whose content a tester sets. Each checks that the result fits the file or record.

use super::catalogue::Codec;
use super::decoders::{AD_OPERATION_MODES, AD_SIZE, ECC_CODE_LEN, START_HFN_SIZE, THRESHOLD_SIZE};
use super::fields::Assignments;
use crate::aka::Rand;
use crate::ef::{self, EfError};
use crate::hexutil::parse_hex;
use crate::identity::{Imsi, NafId, UaProtocolId};

fn malformed(file: &'static str, problem: impl Into<String>) -> EfError {
    EfError::Malformed {
        file,
        problem: problem.into(),
    }
}

fn need<'a>(f: &'a Assignments, file: &'static str, name: &str) -> Result<&'a str, EfError> {
    f.get(name)
        .ok_or_else(|| malformed(file, format!("field {name} is missing")))
}

fn fit(file: &'static str, bytes: Vec<u8>, size: usize) -> Result<Vec<u8>, EfError> {
    if bytes.len() > size {
        return Err(EfError::TooLong {
            file,
            len: bytes.len(),
            room: size,
        });
    }
    Ok(bytes)
}

/// Numbers from "27, 68 GBA, 76": the leading number of each comma-separated item.
fn leading_numbers(file: &'static str, text: &str) -> Result<Vec<u16>, EfError> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "(none)")
        .map(|t| {
            let n = t.split_whitespace().next().unwrap_or(t);
            n.parse()
                .map_err(|_| malformed(file, format!("{n:?} is not a number")))
        })
        .collect()
}

/// The fields each encoder takes, for help and error messages.
#[must_use]
pub fn fields_of(codec: Codec) -> Option<&'static str> {
    Some(match codec {
        Codec::Iccid => "iccid",
        Codec::Imsi => "imsi",
        Codec::Ad => "ue_operation_mode, additional_info, mnc_length[, extensions]",
        Codec::Ust | Codec::Est | Codec::Ist => "services (numbers, comma-separated)",
        Codec::Acc => "classes (0..15, comma-separated)",
        Codec::Languages => "languages (two-letter codes, comma-separated)",
        Codec::Dir => "aid, label",
        Codec::Hpplmn => "period",
        Codec::Fplmn => "plmns (MCC-MNC, comma-separated)",
        Codec::StartHfn => "start_cs, start_ps",
        Codec::Threshold => "max_start",
        Codec::Ecc => "call_code, category[, alpha]",
        Codec::Gbabp => "rand, b_tid, lifetime",
        Codec::Gbanl => "naf_fqdn, ua_protocol, b_tid",
        Codec::Nafkca => "naf_key_center",
        Codec::Impi => "impi",
        Codec::Domain => "domain",
        Codec::Impu => "impu",
        Codec::Arr | Codec::Loci | Codec::Psloci | Codec::Keys | Codec::Kc | Codec::Opaque => {
            return None
        }
    })
}

/// Encode `f` for a file (or record) of `size` bytes; `None` when gbau has no encoder for
/// the coding. 'FF'-padded codings fill the whole size; the others give their own length.
pub fn encode(codec: Codec, f: &Assignments, size: usize) -> Option<Result<Vec<u8>, EfError>> {
    fields_of(codec)?;
    Some(encode_known(codec, f, size))
}

fn encode_known(codec: Codec, f: &Assignments, size: usize) -> Result<Vec<u8>, EfError> {
    let text = |file: &'static str, name: &str| -> Result<Vec<u8>, EfError> {
        ef::encode_tagged_text(file, need(f, file, name)?, size)
    };
    match codec {
        Codec::Iccid => fit(
            "EF_ICCID",
            ef::encode_iccid(need(f, "EF_ICCID", "iccid")?.trim())?,
            size,
        ),
        Codec::Imsi => {
            let digits = need(f, "EF_IMSI", "imsi")?.trim();
            let imsi = Imsi::new(digits).map_err(|e| malformed("EF_IMSI", e.to_string()))?;
            fit("EF_IMSI", ef::encode_imsi(&imsi), size)
        }
        Codec::Ad => ad(f, size),
        Codec::Ust => services(f, "EF_UST", size),
        Codec::Est => services(f, "EF_EST", size),
        Codec::Ist => services(f, "EF_IST", size),
        Codec::Acc => acc(f, size),
        Codec::Languages => languages(f, size),
        Codec::Dir => {
            let aid = parse_hex(need(f, "EF_DIR", "aid")?)
                .map_err(|e| malformed("EF_DIR", format!("aid: {e}")))?;
            ef::encode_dir_record(&aid, f.get("label").unwrap_or(""), size)
        }
        Codec::Hpplmn => {
            let n = number(f, "EF_HPPLMN", "period", 0xFF)?;
            fit("EF_HPPLMN", vec![n as u8], size)
        }
        Codec::Fplmn => plmns(f, size),
        Codec::StartHfn => {
            let cs = number(f, "EF_START-HFN", "start_cs", 0xFF_FFFF)?;
            let ps = number(f, "EF_START-HFN", "start_ps", 0xFF_FFFF)?;
            let mut out = cs.to_be_bytes()[5..].to_vec();
            out.extend_from_slice(&ps.to_be_bytes()[5..]);
            debug_assert_eq!(out.len(), START_HFN_SIZE);
            fit("EF_START-HFN", out, size)
        }
        Codec::Threshold => {
            let n = number(f, "EF_THRESHOLD", "max_start", 0xFF_FFFF)?;
            fit(
                "EF_THRESHOLD",
                n.to_be_bytes()[8 - THRESHOLD_SIZE..].to_vec(),
                size,
            )
        }
        Codec::Ecc => ecc(f, size),
        Codec::Gbabp => gbabp(f, size),
        Codec::Gbanl => gbanl(f, size),
        Codec::Nafkca => text("EF_NAFKCA", "naf_key_center"),
        Codec::Impi => text("EF_IMPI", "impi"),
        Codec::Domain => text("EF_DOMAIN", "domain"),
        Codec::Impu => text("EF_IMPU", "impu"),
        Codec::Arr | Codec::Loci | Codec::Psloci | Codec::Keys | Codec::Kc | Codec::Opaque => {
            Err(malformed("file", "no encoder"))
        }
    }
}

fn number(f: &Assignments, file: &'static str, name: &str, max: u64) -> Result<u64, EfError> {
    let t = need(f, file, name)?.trim();
    let n: u64 = t
        .parse()
        .map_err(|_| malformed(file, format!("{name}: {t:?} is not a number")))?;
    if n > max {
        return Err(malformed(file, format!("{name}: {n} is more than {max}")));
    }
    Ok(n)
}

/// A hex byte from "normal (00)", "00" or a name of `names`.
fn coded_byte(
    file: &'static str,
    name: &str,
    text: &str,
    names: &[(u8, &str)],
) -> Result<u8, EfError> {
    let t = text.trim();
    let inner = t
        .rsplit_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .unwrap_or(t);
    if let Some((b, _)) = names.iter().find(|(_, n)| n.eq_ignore_ascii_case(inner)) {
        return Ok(*b);
    }
    match parse_hex(inner).as_deref() {
        Ok([b]) => Ok(*b),
        _ => Err(malformed(
            file,
            format!("{name}: {t:?} is not a name nor a hex byte"),
        )),
    }
}

fn ad(f: &Assignments, size: usize) -> Result<Vec<u8>, EfError> {
    const FILE: &str = "EF_AD";
    let mode = coded_byte(
        FILE,
        "ue_operation_mode",
        f.get("ue_operation_mode").unwrap_or("00"),
        &AD_OPERATION_MODES,
    )?;
    let info = parse_hex(f.get("additional_info").unwrap_or("0000"))
        .map_err(|e| malformed(FILE, format!("additional_info: {e}")))?;
    if info.len() != 2 {
        return Err(malformed(FILE, "additional_info is 2 bytes"));
    }
    let mnc = number(f, FILE, "mnc_length", 3)?;
    if !(2..=3).contains(&mnc) {
        return Err(malformed(FILE, "mnc_length is 2 or 3"));
    }
    let mut out = vec![mode, info[0], info[1], mnc as u8];
    out.extend(
        parse_hex(f.get("extensions").unwrap_or(""))
            .map_err(|e| malformed(FILE, format!("extensions: {e}")))?,
    );
    debug_assert!(out.len() >= AD_SIZE);
    fit(FILE, out, size)
}

fn services(f: &Assignments, file: &'static str, size: usize) -> Result<Vec<u8>, EfError> {
    let list = leading_numbers(file, need(f, file, "services")?)?;
    ef::encode_service_table(file, &list, size)
}

fn acc(f: &Assignments, size: usize) -> Result<Vec<u8>, EfError> {
    let mut bits = 0u16;
    for c in leading_numbers("EF_ACC", need(f, "EF_ACC", "classes")?)? {
        if c > 15 {
            return Err(malformed(
                "EF_ACC",
                format!("class {c}: classes are 0 to 15"),
            ));
        }
        bits |= 1 << c;
    }
    fit("EF_ACC", bits.to_be_bytes().to_vec(), size)
}

fn languages(f: &Assignments, size: usize) -> Result<Vec<u8>, EfError> {
    let mut out = Vec::new();
    for l in need(f, "EF_LI", "languages")?
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "(none)")
    {
        if l.len() != 2 || !l.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(malformed(
                "EF_LI",
                format!("{l:?} is not a two-letter code"),
            ));
        }
        out.extend_from_slice(l.as_bytes());
    }
    ef::pad_ff("EF_LI", out, size)
}

/// "MCC-MNC" to the TS 24.008 §10.5.1.3 coding (`ef::decode_plmn` reads it back).
fn plmn(text: &str) -> Result<[u8; ef::PLMN_SIZE], EfError> {
    let bad = || malformed("EF_FPLMN", format!("{text:?} is not MCC-MNC"));
    let (mcc, mnc) = text.split_once('-').ok_or_else(bad)?;
    let digits = |s: &str| -> Option<Vec<u8>> {
        s.bytes()
            .map(|b| b.is_ascii_digit().then(|| b - b'0'))
            .collect()
    };
    let (mcc, mnc) = (digits(mcc).ok_or_else(bad)?, digits(mnc).ok_or_else(bad)?);
    if mcc.len() != 3 || !(2..=3).contains(&mnc.len()) {
        return Err(bad());
    }
    let mnc3 = mnc.get(2).copied().unwrap_or(0x0F);
    Ok([
        mcc[1] << 4 | mcc[0],
        mnc3 << 4 | mcc[2],
        mnc[1] << 4 | mnc[0],
    ])
}

fn plmns(f: &Assignments, size: usize) -> Result<Vec<u8>, EfError> {
    let mut out = Vec::new();
    for p in need(f, "EF_FPLMN", "plmns")?
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "(none)")
    {
        out.extend(plmn(p)?);
    }
    ef::pad_ff("EF_FPLMN", out, size)
}

fn ecc(f: &Assignments, size: usize) -> Result<Vec<u8>, EfError> {
    const FILE: &str = "EF_ECC";
    if size < ECC_CODE_LEN + 1 {
        return Err(malformed(FILE, "record shorter than 4 bytes"));
    }
    let code = need(f, FILE, "call_code")?.trim();
    if code.len() > 2 * ECC_CODE_LEN {
        return Err(malformed(FILE, "call_code is at most 6 digits"));
    }
    let mut out =
        ef::encode_swapped_bcd(code).ok_or_else(|| malformed(FILE, "call_code must be digits"))?;
    out.resize(ECC_CODE_LEN, 0xFF);
    let alpha = f.get("alpha").unwrap_or("").as_bytes();
    let room = size - ECC_CODE_LEN - 1;
    if alpha.len() > room {
        return Err(EfError::TooLong {
            file: FILE,
            len: alpha.len(),
            room,
        });
    }
    out.extend_from_slice(alpha);
    out.resize(size - 1, 0xFF);
    let cat = f.get("category").unwrap_or("00");
    let cat = cat.split_whitespace().next().unwrap_or(cat);
    out.push(coded_byte(FILE, "category", cat, &[])?);
    Ok(out)
}

fn gbabp(f: &Assignments, size: usize) -> Result<Vec<u8>, EfError> {
    const FILE: &str = "EF_GBABP";
    let rand = match f.get("rand").map(str::trim) {
        None | Some("") => None,
        Some(h) => Some(
            parse_hex(h)
                .ok()
                .and_then(|b| Rand::from_slice(&b))
                .ok_or_else(|| malformed(FILE, "rand is 16 bytes of hex"))?,
        ),
    };
    let p = ef::GbaBootstrapParams {
        rand,
        b_tid: f.get("b_tid").unwrap_or("").to_owned(),
        lifetime: f.get("lifetime").unwrap_or("").to_owned(),
    };
    ef::encode_gbabp(&p, size)
}

fn gbanl(f: &Assignments, size: usize) -> Result<Vec<u8>, EfError> {
    const FILE: &str = "EF_GBANL";
    let ua = f.get("ua_protocol").unwrap_or("0100000002");
    let ua = ua.split_whitespace().next().unwrap_or(ua);
    let ua = parse_hex(ua)
        .ok()
        .and_then(|b| <[u8; 5]>::try_from(b).ok())
        .ok_or_else(|| malformed(FILE, "ua_protocol is 5 bytes of hex"))?;
    let id = NafId::new(need(f, FILE, "naf_fqdn")?.trim(), UaProtocolId(ua))
        .map_err(|e| malformed(FILE, e.to_string()))?;
    let entry = ef::GbaNafEntry {
        naf_id: id.to_bytes(),
        b_tid: need(f, FILE, "b_tid")?.to_owned(),
    };
    ef::encode_gbanl_record(&entry, size)
}
