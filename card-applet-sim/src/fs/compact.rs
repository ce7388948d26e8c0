//! Security attributes in compact format (ISO/IEC 7816-4 §9.3.x **[to confirm clause]**,
//! FCP tag '8C'): an access mode byte, then one security condition byte per bit set in it,
//! from b7 down to b1. The sysmo cards state the rules of their proprietary EFs this way
//! (pySim dumps of SJA2/SJA5: `8C 03 03 1A1A`, `8C 06 5B 1A1A1A1A1A`, `8C 01 00`), instead
//! of an EF.ARR reference ('8B').
//!
//! A mode whose bit is clear is not allowed: the dumps' `8C 01 00` files (AF31–AF33) answer
//! '6982' to READ even after ADM1.

use gbau_core::arr::{AccessModes, Condition, KeyRef, Rule};
use gbau_core::ef::EfError;

use super::Access;

/// FCP tag of the security attributes in compact format.
pub const TAG_SECURITY_ATTRIBUTES_COMPACT: u32 = 0x8C;
/// SC byte: no condition (always).
pub const SC_ALWAYS: u8 = 0x00;
/// SC byte: never.
pub const SC_NEVER: u8 = 0xFF;
/// SC byte bit b5: user authentication; b4..b1 then name the key. On the sysmo cards the
/// nibble is the key reference: `1A` is ADM1 (data readable after ADM1 in the dumps; inferred,
/// neither pySim nor sysmo-usim-tool says it).
pub const SC_USER_AUTH: u8 = 0x10;
/// SC byte of ADM1 on the sysmo cards (pySim dumps).
pub const SC_ADM1: u8 = SC_USER_AUTH | KeyRef::ADM1;
/// SC bits that this decoder does not interpret when set (b8 "all conditions", b7 secure
/// messaging, b6 external authentication).
const SC_OTHER_BITS: u8 = 0xE0;

/// The SC byte for an access condition. PIN1 and PIN2 have none: the card opens PIN files
/// to the ADM1 holder too, which one compact SC byte cannot say.
fn sc_byte(access: Access, file: &'static str) -> Result<u8, EfError> {
    match access {
        Access::Always => Ok(SC_ALWAYS),
        Access::Adm1 => Ok(SC_ADM1),
        Access::Never => Ok(SC_NEVER),
        Access::Pin1 | Access::Pin2 => Err(EfError::Malformed {
            file,
            problem: "compact security attributes only for always, ADM1 or never".into(),
        }),
    }
}

/// The '8C' value for a file read and updated as given, with the `extra` modes (ACTIVATE,
/// DEACTIVATE, DELETE: the card has no command for them, the real card's FCP lists them)
/// granted to ADM1. A mode that is never allowed has its bit clear.
pub fn encode(
    file: &'static str,
    read: Access,
    update: Access,
    extra: AccessModes,
) -> Result<Vec<u8>, EfError> {
    let mut am = 0u8;
    let mut sc = Vec::new();
    for bit in (0..7).rev() {
        let mode = AccessModes(1 << bit);
        let access = if mode == AccessModes::READ {
            read
        } else if mode == AccessModes::UPDATE {
            update
        } else if extra.contains(mode) {
            Access::Adm1
        } else {
            Access::Never
        };
        if access != Access::Never {
            am |= mode.0;
            sc.push(sc_byte(access, file)?);
        }
    }
    let mut out = vec![am];
    out.extend(sc);
    Ok(out)
}

fn malformed(problem: &str) -> EfError {
    EfError::Malformed {
        file: "FCP '8C'",
        problem: problem.into(),
    }
}

fn condition(sc: u8) -> Condition {
    match sc {
        SC_ALWAYS => Condition::Always,
        SC_NEVER => Condition::Never,
        b if b & SC_OTHER_BITS == 0 && b & SC_USER_AUTH != 0 => {
            Condition::Key(KeyRef::from(b & 0x0F))
        }
        b => Condition::Other {
            tag: TAG_SECURITY_ATTRIBUTES_COMPACT,
            value: vec![b],
        },
    }
}

/// The rules an '8C' value says, one per EF access mode b7..b1 (a clear bit: never).
pub fn decode(value: &[u8]) -> Result<Vec<Rule>, EfError> {
    let (&am, mut sc) = value
        .split_first()
        .ok_or_else(|| malformed("no access mode byte"))?;
    if am & 0x80 != 0 {
        return Err(malformed("b8 set: command-specific access modes"));
    }
    let mut rules = Vec::with_capacity(7);
    for bit in (0..7).rev() {
        let mode = AccessModes(1 << bit);
        let cond = if am & mode.0 == 0 {
            Condition::Never
        } else {
            let (&b, rest) = sc
                .split_first()
                .ok_or_else(|| malformed("fewer SC bytes than access mode bits"))?;
            sc = rest;
            condition(b)
        };
        rules.push(Rule::new(mode, cond));
    }
    if !sc.is_empty() {
        return Err(malformed("more SC bytes than access mode bits"));
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gbau_core::arr::condition_for;

    const SJA5_EXTRA: AccessModes = AccessModes::DELETE
        .with(AccessModes::ACTIVATE)
        .with(AccessModes::DEACTIVATE);

    #[test]
    fn the_dumps_values() {
        // pySim dumps: SJA2 AF20 `8C 03 03 1A1A`, SJA5 AF20 `8C 06 5B 1A1A1A1A1A`, AF22
        // `8C 05 1B 1A1A1A1A`, AF31-AF33 `8C 01 00`.
        let hex = |v: Vec<u8>| hex::encode(v);
        let adm = Access::Adm1;
        let none = AccessModes(0);
        assert_eq!(hex(encode("t", adm, adm, none).unwrap()), "031a1a");
        assert_eq!(
            hex(encode("t", adm, adm, SJA5_EXTRA).unwrap()),
            "5b1a1a1a1a1a"
        );
        let act = AccessModes::ACTIVATE.with(AccessModes::DEACTIVATE);
        assert_eq!(hex(encode("t", adm, adm, act).unwrap()), "1b1a1a1a1a");
        let never = Access::Never;
        assert_eq!(hex(encode("t", never, never, none).unwrap()), "00");
        assert!(encode("t", Access::Pin1, adm, none).is_err());
    }

    #[test]
    fn decodes_what_the_card_enforces() {
        let rules = decode(&hex::decode("5b1a1a1a1a1a").unwrap()).unwrap();
        let adm1 = Some(&Condition::Key(KeyRef::Adm1));
        assert_eq!(condition_for(&rules, AccessModes::READ), adm1);
        assert_eq!(condition_for(&rules, AccessModes::DELETE), adm1);
        assert_eq!(
            condition_for(&rules, AccessModes::WRITE),
            Some(&Condition::Never)
        );
        let rules = decode(&[0x00]).unwrap();
        assert_eq!(
            condition_for(&rules, AccessModes::READ),
            Some(&Condition::Never)
        );
        assert!(decode(&[]).is_err());
        assert!(decode(&[0x03, 0x1A]).is_err());
        assert!(decode(&[0x01, 0x1A, 0x1A]).is_err());
        assert!(decode(&[0x81, 0x1A]).is_err());
    }
}
