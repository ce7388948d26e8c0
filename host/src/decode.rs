//! Decoded, human-readable forms of what cards answer: FCP templates (TS 102 221 §11.1.1.3),
//! status words, AUTHENTICATE responses.

use gbau_core::tlv::{self, Tlv};
use serde::Serialize;

/// A decoded FCP.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Fcp {
    pub kind: String,
    pub fid: Option<String>,
    pub aid: Option<String>,
    pub size: Option<usize>,
    pub record_len: Option<usize>,
    pub records: Option<usize>,
    pub sfi: Option<String>,
    pub life_cycle: Option<String>,
    /// The access rules' EF.ARR record (tag '8B'), as "6F06 record 3".
    pub access_rules: Option<String>,
}

/// FCP tag of the security attributes in referenced format (TS 102 221 §11.1.1.4.7).
pub const TAG_SECURITY_ATTRIBUTES_REFERENCED: u32 = 0x8B;

/// The EF.ARR FID and record number an FCP's tag '8B' names (the 3-byte form; the form
/// with an SEID is not read).
#[must_use]
pub fn arr_reference(data: &[u8]) -> Option<(u16, u8)> {
    let top = tlv::parse_all(data).ok()?;
    let t = top.into_iter().find(|t| t.tag.0 == 0x62)?;
    let r = t.find(TAG_SECURITY_ATTRIBUTES_REFERENCED).ok()??;
    match r.value[..] {
        [hi, lo, record] => Some((u16::from_be_bytes([hi, lo]), record)),
        _ => None,
    }
}

/// Decode an FCP template ('62').
#[must_use]
pub fn fcp(data: &[u8]) -> Option<Fcp> {
    let top = tlv::parse_all(data).ok()?;
    let t = top.into_iter().find(|t| t.tag.0 == 0x62)?;
    let kids = t.children().ok()?;
    let get = |tag: u32| {
        kids.iter()
            .find(|k| k.tag.0 == tag)
            .map(|k: &Tlv| k.value.clone())
    };
    let mut f = Fcp::default();
    if let Some(d) = get(0x82) {
        f.kind = match d.first().map(|b| b & 0xBF) {
            Some(0x38) => "DF/ADF".into(),
            Some(0x01) => "transparent EF".into(),
            Some(0x02) => "linear fixed EF".into(),
            Some(0x06) => "cyclic EF".into(),
            _ => format!("descriptor {}", hex::encode(&d)),
        };
        if d.len() >= 5 {
            f.record_len = Some(usize::from(u16::from_be_bytes([d[2], d[3]])));
            f.records = Some(usize::from(d[4]));
        }
    }
    f.fid = get(0x83).map(hex::encode_upper);
    f.aid = get(0x84).map(hex::encode);
    f.size = get(0x80).map(|v| v.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)));
    f.sfi = get(0x88).map(|v| {
        v.first()
            .map_or_else(|| "none".into(), |b| format!("{:02X}", b >> 3))
    });
    f.life_cycle = get(0x8A).map(|v| match v.first() {
        Some(0x05) => "operational, activated".into(),
        Some(0x04) => "operational, deactivated".into(),
        Some(b) => format!("{b:02X}"),
        None => "?".into(),
    });
    f.access_rules = arr_reference(data).map(|(fid, r)| format!("{fid:04X} record {r}"));
    Some(f)
}

impl std::fmt::Display for Fcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(fid) = &self.fid {
            write!(f, " {fid}")?;
        }
        if let Some(aid) = &self.aid {
            write!(f, ", AID {aid}")?;
        }
        if let (Some(n), Some(l)) = (self.records, self.record_len) {
            write!(f, ", {n} records of {l} bytes")?;
        } else if let Some(s) = self.size {
            write!(f, ", {s} bytes")?;
        }
        if let Some(sfi) = &self.sfi {
            write!(f, ", SFI {sfi}")?;
        }
        if let Some(l) = &self.life_cycle {
            write!(f, ", {l}")?;
        }
        if let Some(r) = &self.access_rules {
            write!(f, ", rules EF.ARR {r}")?;
        }
        Ok(())
    }
}

/// A decoded AUTHENTICATE response: `DB` items or `DC` AUTS.
#[must_use]
pub fn auth_response(data: &[u8]) -> Option<String> {
    let (tag, mut rest) = data.split_first()?;
    let mut items = Vec::new();
    while !rest.is_empty() {
        items.push(tlv::read_lv(&mut rest).ok()?);
    }
    let h = |b: &[u8]| hex::encode(b);
    match (tag, items.as_slice()) {
        (0xDB, [res]) if res.len() == 32 => Some(format!("success: Ks_ext_NAF {}", h(res))),
        (0xDB, [res]) => Some(format!("success: RES {}", h(res))),
        (0xDB, [res, ck, ik]) => Some(format!(
            "success: RES {}, CK {}, IK {}",
            h(res),
            h(ck),
            h(ik)
        )),
        (0xDB, [res, ck, ik, kc]) => Some(format!(
            "success: RES {}, CK {}, IK {}, Kc {}",
            h(res),
            h(ck),
            h(ik),
            h(kc)
        )),
        (0xDC, [auts]) => Some(format!("synchronisation failure: AUTS {}", h(auts))),
        (0x04, _) if data.len() == 14 => Some(format!(
            "GSM: SRES {}, Kc {}",
            h(&data[1..5]),
            h(&data[6..14])
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_ef_fcp() {
        let f = fcp(&hex::decode("62178202412183026fad8a01058b036f060180020004880118").unwrap())
            .unwrap();
        assert_eq!(
            f.to_string(),
            "transparent EF 6FAD, 4 bytes, SFI 03, operational, activated, rules EF.ARR 6F06 record 1"
        );
        assert_eq!(
            arr_reference(&hex::decode("62088b036f06058001ff").unwrap()),
            Some((0x6F06, 5))
        );
        assert_eq!(arr_reference(&hex::decode("62038001ff").unwrap()), None);
    }

    #[test]
    fn decodes_auth_answers() {
        assert_eq!(
            auth_response(&hex::decode("db08a54211d5e3ba50bf").unwrap()).unwrap(),
            "success: RES a54211d5e3ba50bf"
        );
        assert!(
            auth_response(&hex::decode("dc0eba853f3c123ccf44e93596e355c6").unwrap())
                .unwrap()
                .starts_with("synchronisation failure")
        );
        assert!(auth_response(&[0xDB, 0x05]).is_none());
    }
}
