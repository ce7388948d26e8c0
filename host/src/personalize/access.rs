//! Whether the card lets ADM1 update a file, decided from the file's own FCP before the
//! first write: the compact security attributes (tag 8C, ISO/IEC 7816-4 §9.3.3: an access
//! mode byte, then one security-condition byte per mode bit set, b7 first) or a reference
//! into EF.ARR (tag 8B, TS 102 221 §9.2.7: the EF.ARR file id and a record number), decoded
//! with gbau-core's EF.ARR coding.

use gbau_core::arr::{condition_for, decode_record, AccessModes, KeyRef};
use gbau_core::tlv;

/// FCP tag of the compact security attributes.
pub(crate) const TAG_SECURITY_COMPACT: u32 = 0x8C;
/// FCP tag of the reference to EF.ARR.
pub(crate) const TAG_SECURITY_REFERENCED: u32 = 0x8B;
/// FCP template tag.
const TAG_FCP: u32 = 0x62;
/// Compact security condition byte: no condition.
const SC_ALWAYS: u8 = 0x00;
/// Compact security condition byte: never.
const SC_NEVER: u8 = 0xFF;
/// Compact security condition byte, bit 5: user authentication (a PIN or ADM verified).
const SC_USER_AUTHENTICATION: u8 = 0x10;
/// Its low nibble names the key. sysmo cards use `1A` for files readable and writable after
/// ADM1 (pySim's dumps, read after VERIFY ADM1), so 'A' is taken as ADM1 and '1' as PIN1
/// **[to confirm]**: ISO/IEC 7816-4 calls the nibble a security environment number.
const SC_KEY_NIBBLE: u8 = 0x0F;

/// What the FCP says about UPDATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Security {
    /// Tag 8C: access mode byte and condition bytes.
    Compact(Vec<u8>),
    /// Tag 8B: EF.ARR file id and record number.
    Referenced { arr: u16, record: u8 },
    /// Neither tag.
    Unstated,
}

/// The verdict for UPDATE with ADM1 (and PIN1, when the card asks for it) verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    Denied(String),
}

/// The security attributes of an FCP.
pub(crate) fn security(fcp: &[u8]) -> Security {
    let Ok(top) = tlv::parse_all(fcp) else {
        return Security::Unstated;
    };
    let Some(kids) = top
        .into_iter()
        .find(|t| t.tag.0 == TAG_FCP)
        .and_then(|t| t.children().ok())
    else {
        return Security::Unstated;
    };
    for k in kids {
        match (k.tag.0, &k.value[..]) {
            (TAG_SECURITY_COMPACT, v) => return Security::Compact(v.to_vec()),
            (TAG_SECURITY_REFERENCED, [hi, lo, record, ..]) => {
                return Security::Referenced {
                    arr: u16::from_be_bytes([*hi, *lo]),
                    record: *record,
                }
            }
            _ => {}
        }
    }
    Security::Unstated
}

/// UPDATE under compact security attributes.
pub(crate) fn compact_update(attr: &[u8]) -> Verdict {
    let Some((&am, conditions)) = attr.split_first() else {
        return Verdict::Denied("empty security attributes (8C)".into());
    };
    if am & AccessModes::UPDATE.0 == 0 {
        return Verdict::Denied(format!(
            "its access mode byte {am:02X} (8C) grants no UPDATE to anyone"
        ));
    }
    // One condition byte per mode bit set, from b7 down: UPDATE (b2) comes after the set bits
    // above it.
    let above = (am & 0x7C).count_ones() as usize;
    let Some(&sc) = conditions.get(above) else {
        return Verdict::Denied(format!("8C {attr:02X?} has no condition for UPDATE"));
    };
    match sc {
        SC_ALWAYS => Verdict::Allowed,
        SC_NEVER => Verdict::Denied("UPDATE never (8C condition FF)".into()),
        sc if sc & SC_USER_AUTHENTICATION != 0 && matches!(sc & SC_KEY_NIBBLE, 0x0A | 0x01) => {
            Verdict::Allowed
        }
        sc => Verdict::Denied(format!(
            "UPDATE needs condition {sc:02X} (8C), which is not ADM1 or PIN1"
        )),
    }
}

/// UPDATE under an EF.ARR record.
pub(crate) fn referenced_update(record: &[u8]) -> Verdict {
    let rules = match decode_record(record) {
        Ok(r) => r,
        Err(e) => return Verdict::Denied(format!("its EF.ARR record does not decode: {e}")),
    };
    match condition_for(&rules, AccessModes::UPDATE) {
        None => Verdict::Denied("its EF.ARR record grants no UPDATE".into()),
        Some(c) if c.allows(&|k| matches!(k, KeyRef::Adm1 | KeyRef::PinAppl1)) => Verdict::Allowed,
        Some(c) => Verdict::Denied(format!("EF.ARR: UPDATE {c}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        gbau_core::hexutil::parse_hex(s).unwrap_or_default()
    }

    #[test]
    fn compact_attributes_of_the_sysmo_dumps() {
        // SJA2 AF20/AF30 (READ+UPDATE, ADM1), SJA5 AF20 (5B: …, UPDATE among them), AF31-33.
        assert_eq!(compact_update(&h("031a1a")), Verdict::Allowed);
        assert_eq!(compact_update(&h("5b1a1a1a1a1a")), Verdict::Allowed);
        assert!(matches!(compact_update(&h("00")), Verdict::Denied(_)));
        assert!(matches!(compact_update(&h("03ff00")), Verdict::Denied(_)));
        assert_eq!(compact_update(&h("030000")), Verdict::Allowed);
    }

    #[test]
    fn referenced_rules_of_the_sysmo_mf_arr() {
        // MF EF.ARR record 2 of both dumps (EF_ICCID): READ always, UPDATE never.
        let iccid = h("8001019000800102970080011 8a40683010a950108"
            .replace(' ', "")
            .as_str());
        assert!(matches!(referenced_update(&iccid), Verdict::Denied(_)));
        // Record 3: READ PIN1; UPDATE/ACTIVATE/DEACTIVATE ADM1.
        let imsi = h("800101a406830101950108 80011aa40683010a950108"
            .replace(' ', "")
            .as_str());
        assert_eq!(referenced_update(&imsi), Verdict::Allowed);
        assert_eq!(
            security(&h(
                "621f82024121830 22fe2a506d00120d201058a01058b032f0602800200 0a880110"
                    .replace(' ', "")
                    .as_str()
            )),
            Security::Referenced {
                arr: 0x2F06,
                record: 2
            }
        );
        assert_eq!(
            security(&h("620b82024121830 2af318c0100".replace(' ', "").as_str())),
            Security::Compact(vec![0x00])
        );
    }
}
