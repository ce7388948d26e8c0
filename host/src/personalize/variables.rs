//! The script variables: the profile encoded for the card's files (gbau-core's EF and sysmo
//! codings), checked against the sizes the card reports; which of them are secret.

use std::collections::{BTreeMap, BTreeSet};

use gbau_card::Profile;
use gbau_core::ef;
use gbau_core::hexutil::to_hex;
use gbau_core::sqn::IND_BITS;
use gbau_core::sysmo::{self};

use super::files::with_isim;
use super::model::{CardTables, FileShape, PersonalizeError, Target};

pub(crate) fn hex_len(n: usize) -> Result<String, PersonalizeError> {
    u8::try_from(n)
        .map(|b| format!("{b:02X}"))
        .map_err(|_| PersonalizeError::Profile(format!("{n} bytes do not fit one command")))
}

/// The length byte for writing a whole file of `size` bytes in one command.
pub(crate) fn file_len(
    target: Target,
    file: &'static str,
    size: usize,
) -> Result<String, PersonalizeError> {
    if size == 0 || size > 255 {
        return Err(PersonalizeError::FileModel {
            model: target.name(),
            file,
            problem: format!(
                "is {size} bytes; gbau writes and reads files of 1 to 255 bytes in one command"
            ),
        });
    }
    hex_len(size)
}

pub(crate) fn shape<'a>(
    shapes: &'a BTreeMap<&'static str, FileShape>,
    name: &'static str,
) -> Result<&'a FileShape, PersonalizeError> {
    shapes
        .get(name)
        .ok_or_else(|| PersonalizeError::Profile(format!("{name} was not probed")))
}

/// Check a file's shape against what the scripts write.
pub(crate) fn require(
    target: Target,
    file: &'static str,
    ok: bool,
    problem: impl FnOnce() -> String,
) -> Result<(), PersonalizeError> {
    if ok {
        Ok(())
    } else {
        Err(PersonalizeError::FileModel {
            model: target.name(),
            file,
            problem: problem(),
        })
    }
}

pub(crate) fn records(
    target: Target,
    shapes: &BTreeMap<&'static str, FileShape>,
    name: &'static str,
) -> Result<(usize, usize), PersonalizeError> {
    let s = shape(shapes, name)?;
    match (s.record_len, s.records) {
        (Some(l), Some(n)) if l > 0 && l <= 255 && n > 0 && n <= 255 => Ok((l, n)),
        _ => Err(PersonalizeError::FileModel {
            model: target.name(),
            file: name,
            problem: "is not a linear fixed file of 1 to 255 records of 1 to 255 bytes".into(),
        }),
    }
}
/// The script variables being built, with what they are built from.
struct Vars<'a> {
    profile: &'a Profile,
    target: Target,
    shapes: &'a BTreeMap<&'static str, FileShape>,
    card: &'a CardTables,
    v: BTreeMap<String, String>,
}

impl Vars<'_> {
    fn set(&mut self, k: &str, val: String) {
        self.v.insert(k.to_owned(), val);
    }
}

fn bad(e: ef::EfError) -> PersonalizeError {
    PersonalizeError::Profile(e.to_string())
}

/// The script variables and which are secret.
pub type Variables = (BTreeMap<String, String>, BTreeSet<String>);

/// The script variables for a profile and a card's file shapes, and which are secret.
pub fn variables(
    profile: &Profile,
    target: Target,
    shapes: &BTreeMap<&'static str, FileShape>,
    card: &CardTables,
    adm: &[u8; 8],
) -> Result<Variables, PersonalizeError> {
    let mut x = Vars {
        profile,
        target,
        shapes,
        card,
        v: BTreeMap::new(),
    };
    x.set("adm1", to_hex(adm));
    usim_files(&mut x)?;
    if target != Target::Sjs1 {
        gba_files(&mut x)?;
    }
    if let Some(isim) = profile.isim.as_ref().filter(|_| with_isim(profile, target)) {
        isim_files(&mut x, isim)?;
    }
    key_files(&mut x)?;
    let secrets = ["adm1", "k", "opc", "milenage_cfg", "sjs1_mlngc"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok((x.v, secrets))
}

/// EF_IMSI, EF_AD, EF_ACC, EF_UST (TS 31.102 §4.2).
fn usim_files(x: &mut Vars<'_>) -> Result<(), PersonalizeError> {
    let (profile, target, shapes, card) = (x.profile, x.target, x.shapes, x.card);
    let mut set = |k: &str, val: String| x.set(k, val);
    set("imsi_ef", to_hex(&ef::encode_imsi(&profile.imsi)));
    let ad_size = shape(shapes, "EF_AD")?.size;
    require(target, "EF_AD", (4..=255).contains(&ad_size), || {
        format!("is {ad_size} bytes; gbau writes the MNC length, byte 4")
    })?;
    let ad = match card.ad.as_deref() {
        // The card's EF_AD with only the MNC length changed (byte 4, b4..b1; TS 31.102
        // §4.2.18): its other bytes (SJA5 as delivered: 01 00 08 02 FF) stay.
        Some(have) if have.len() >= 4 => with_mnc_length(have, profile.mnc_length),
        _ => {
            let mut ad = ef::encode_ad(profile.mnc_length);
            ad.resize(ad_size.min(ad.len()), 0);
            ad
        }
    };
    set("ad_len", hex_len(ad.len())?);
    set("ad", to_hex(&ad));
    set("acc", to_hex(&ef::encode_acc(&profile.imsi)));
    let ust_size = shape(shapes, "EF_UST")?.size;
    file_len(target, "EF_UST", ust_size)?;
    let mut ust = ef::encode_service_table("EF_UST", &profile.services, ust_size).map_err(bad)?;
    if let Some(theirs) = &card.ust {
        for (mine, theirs) in ust.iter_mut().zip(theirs) {
            *mine |= theirs;
        }
    }
    if target == Target::Sjs1 {
        // The SJS1 does not do GBA_U: services 68/76 would send the MT to a GBA context the
        // card does not have. Without them the MT runs GBA_ME.
        for service in [ef::SERVICE_GBA, ef::SERVICE_GBA_LOCAL_KEY] {
            let (byte, bit) = (usize::from(service - 1) / 8, (service - 1) % 8);
            if let Some(b) = ust.get_mut(byte) {
                *b &= !(1u8 << bit);
            }
        }
    }
    set("ust_len", hex_len(ust.len())?);
    set("ust", to_hex(&ust));
    Ok(())
}

/// EF_GBABP and EF_GBANL emptied, EF_NAFKCA from the profile (TS 31.102 §4.2.79-4.2.81).
fn gba_files(x: &mut Vars<'_>) -> Result<(), PersonalizeError> {
    let (profile, target, shapes) = (x.profile, x.target, x.shapes);
    let mut set = |k: &str, val: String| x.set(k, val);
    let gbabp = shape(shapes, "EF_GBABP")?.size;
    set("gbabp_len", file_len(target, "EF_GBABP", gbabp)?);
    set("gbabp", "FF".repeat(gbabp));
    let (gbanl_len, gbanl_count) = records(target, shapes, "EF_GBANL")?;
    set("gbanl_len", hex_len(gbanl_len)?);
    set("gbanl_count", gbanl_count.to_string());
    set("gbanl_empty", "FF".repeat(gbanl_len));
    let (kca_len, kca_count) = records(target, shapes, "EF_NAFKCA")?;
    let kcs = &profile.gba.naf_key_centers;
    require(target, "EF_NAFKCA", kcs.len() <= kca_count, || {
        format!(
            "has {kca_count} records; the profile names {} NAF Key Centers",
            kcs.len()
        )
    })?;
    set("nafkca_len", hex_len(kca_len)?);
    set("nafkca_count", kca_count.to_string());
    for n in 1..=kca_count {
        let record = match kcs.get(n - 1) {
            Some(fqdn) => ef::encode_tagged_text("EF_NAFKCA", fqdn, kca_len).map_err(bad)?,
            None => vec![0xFF; kca_len],
        };
        set(&format!("nafkca_{n:02X}"), to_hex(&record));
    }
    Ok(())
}

/// The ISIM's EF_IMPI, EF_DOMAIN, EF_IMPU and EF_IST (TS 31.103 §4.2).
fn isim_files(
    x: &mut Vars<'_>,
    isim: &gbau_card::profile::IsimProfile,
) -> Result<(), PersonalizeError> {
    let (target, shapes, card) = (x.target, x.shapes, x.card);
    let mut set = |k: &str, val: String| x.set(k, val);
    for (var, name, text) in [
        ("impi", "EF_IMPI", &isim.impi),
        ("domain", "EF_DOMAIN", &isim.domain),
    ] {
        let size = shape(shapes, name)?.size;
        set(&format!("{var}_len"), file_len(target, name, size)?);
        set(
            &format!("{var}_ef"),
            to_hex(&ef::encode_tagged_text(name, text, size).map_err(bad)?),
        );
    }
    let (impu_len, impu_count) = records(target, shapes, "EF_IMPU")?;
    require(target, "EF_IMPU", isim.impu.len() <= impu_count, || {
        format!(
            "has {impu_count} records; the profile names {} IMPUs",
            isim.impu.len()
        )
    })?;
    set("impu_len", hex_len(impu_len)?);
    set("impu_count", impu_count.to_string());
    for n in 1..=impu_count {
        let record = match isim.impu.get(n - 1) {
            Some(uri) => ef::encode_tagged_text("EF_IMPU", uri, impu_len).map_err(bad)?,
            None => vec![0xFF; impu_len],
        };
        set(&format!("impu_{n:02X}"), to_hex(&record));
    }
    let ist_size = shape(shapes, "EF_IST")?.size;
    file_len(target, "EF_IST", ist_size)?;
    let mut ist = ef::encode_service_table("EF_IST", &isim.services, ist_size).map_err(bad)?;
    if let Some(theirs) = &card.ist {
        for (mine, theirs) in ist.iter_mut().zip(theirs) {
            *mine |= theirs;
        }
    }
    set("ist_len", hex_len(ist.len())?);
    set("ist", to_hex(&ist));
    Ok(())
}

/// EF_ICCID, K, OPc, the SQN array, and the model's key and SQN files.
fn key_files(x: &mut Vars<'_>) -> Result<(), PersonalizeError> {
    let profile = x.profile;
    if x.target == Target::Sjs1 && !luhn_ok(&profile.iccid) {
        return Err(PersonalizeError::IccidLuhn(profile.iccid.clone()));
    }
    {
        let mut set = |k: &str, val: String| x.set(k, val);
        set(
            "iccid_ef",
            to_hex(&ef::encode_iccid(&profile.iccid).map_err(bad)?),
        );

        set("k", to_hex(profile.k.expose()));
        set("opc", to_hex(profile.opc.expose()));
        set("sqn_array", "00".repeat(6 << IND_BITS));
    }
    match x.target {
        Target::Sja2 | Target::Sja5 => sja_key_files(x),
        Target::Sjs1 => sjs1_key_files(x),
        Target::Soft => Ok(()),
    }
}

/// SJA2/SJA5: EF.MILENAGE_CFG, EF.USIM_AUTH_KEY(_2G), EF.USIM_SQN, the GBA files.
fn sja_key_files(x: &mut Vars<'_>) -> Result<(), PersonalizeError> {
    let (profile, target, shapes) = (x.profile, x.target, x.shapes);
    let mut set = |k: &str, val: String| x.set(k, val);
    let auth = sysmo::encode_auth_key_milenage(profile.k.expose(), profile.opc.expose());
    set("auth_cfg", format!("{:02X}", auth[0]));
    set(
        "milenage_cfg",
        to_hex(&sysmo::encode_milenage_cfg(&profile.milenage)),
    );
    for (name, min) in [
        ("EF.USIM_AUTH_KEY", sysmo::AUTH_KEY_SIZE),
        ("EF.USIM_AUTH_KEY_2G", sysmo::AUTH_KEY_SIZE),
        ("EF.MILENAGE_CFG", sysmo::MILENAGE_CFG_SIZE),
    ] {
        let size = shape(shapes, name)?.size;
        require(target, name, size >= min, || {
            format!("is {size} bytes, less than the {min} gbau writes")
        })?;
    }
    let sqn_size = shape(shapes, "EF.USIM_SQN")?.size;
    require(
        target,
        "EF.USIM_SQN",
        sqn_size == sysmo::USIM_SQN_SIZE,
        || {
            format!(
                "is {sqn_size} bytes; gbau writes the {}-byte layout of 5 IND bits",
                sysmo::USIM_SQN_SIZE
            )
        },
    )?;
    let sqn = sysmo::SqnFile::reset(profile.sqn_policy).encode();
    set("sqn_len", hex_len(sqn.len())?);
    set("sqn_params", to_hex(&sqn[..14]));
    // The ISIM's own key and SQN files take the same values (pySim writes ISIM AF20 too).
    if let Ok(isim_sqn) = shape(shapes, "ISIM EF.ISIM_SQN") {
        let size = isim_sqn.size;
        require(
            target,
            "ISIM EF.ISIM_SQN",
            size == sysmo::USIM_SQN_SIZE,
            || {
                format!(
                    "is {size} bytes; gbau writes the {}-byte layout of 5 IND bits",
                    sysmo::USIM_SQN_SIZE
                )
            },
        )?;
        let key = shape(shapes, "ISIM EF.ISIM_AUTH_KEY")?.size;
        require(
            target,
            "ISIM EF.ISIM_AUTH_KEY",
            key >= sysmo::AUTH_KEY_SIZE,
            || {
                format!(
                    "is {key} bytes, less than the {} gbau writes",
                    sysmo::AUTH_KEY_SIZE
                )
            },
        )?;
    }
    // EF.GBA_SK, EF.GBA_REC_LIST and EF.GBA_INT_KEY are the card's own (no access on real
    // cards): reported as present, never written.
    Ok(())
}

/// SJS1: the 7FCC algorithm and Milenage files, the USIM SQN files.
fn sjs1_key_files(x: &mut Vars<'_>) -> Result<(), PersonalizeError> {
    let (profile, target, shapes) = (x.profile, x.target, x.shapes);
    let mut set = |k: &str, val: String| x.set(k, val);
    set(
        "sjs1_algorithms",
        to_hex(&[sysmo::SJS1_ALGO_MILENAGE, sysmo::SJS1_ALGO_MILENAGE]),
    );
    set(
        "sjs1_mlngc",
        to_hex(&sysmo::encode_sjs1_mlngc(&profile.milenage)),
    );
    let (flags, limits) = sysmo::encode_sjs1_sqnc(profile.sqn_policy);
    set("sjs1_sqnc_flags", format!("{flags:02X}"));
    set("sjs1_sqnc_limits", to_hex(&limits));
    for (name, min) in [
        ("SQNC (00FB)", 15),
        ("SQNA (00FA)", 6 << IND_BITS),
        ("EF.MLNGC (7FCC/6F01)", sysmo::MILENAGE_CFG_SIZE),
        ("OPc (7F20/00F7)", 17),
        ("Ki (7F20/00FF)", 16),
    ] {
        let size = shape(shapes, name)?.size;
        require(target, name, size >= min, || {
            format!("is {size} bytes, less than the {min} gbau writes")
        })?;
    }
    Ok(())
}

/// EF_AD with its MNC length (byte 4, b4..b1) set and everything else kept.
#[must_use]
pub fn with_mnc_length(ad: &[u8], mnc: gbau_core::identity::MncLength) -> Vec<u8> {
    let mut out = ad.to_vec();
    if let Some(b) = out.get_mut(3) {
        let digits = ef::encode_ad(mnc).get(3).copied().unwrap_or(0) & 0x0F;
        *b = (*b & 0xF0) | digits;
    }
    out
}

/// The Luhn check of an ICCID's digits (ITU-T E.118: the last digit checks the others).
#[must_use]
pub fn luhn_ok(iccid: &str) -> bool {
    let digits: Option<Vec<u32>> = iccid.chars().map(|c| c.to_digit(10)).collect();
    let Some(digits) = digits.filter(|d| d.len() >= 2) else {
        return false;
    };
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                *d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_of_real_iccids() {
        // The ICCIDs of pySim's SJA2, SJA5 and SJS1 dumps.
        assert!(luhn_ok("8988211000000467343"));
        assert!(luhn_ok("8949440000001155314"));
        assert!(luhn_ok("8988211320300000028"));
        assert!(!luhn_ok("8988211000000467344"));
        assert!(!luhn_ok("89882110000004673x3"));
    }

    #[test]
    fn only_the_mnc_length_changes() {
        use gbau_core::identity::MncLength;
        // SJA5 as dumped: 01 00 08 02 FF; DF.GSM: 00 00 00 02.
        assert_eq!(
            with_mnc_length(&[0x01, 0x00, 0x08, 0x02, 0xFF], MncLength::Three),
            vec![0x01, 0x00, 0x08, 0x03, 0xFF]
        );
        assert_eq!(
            with_mnc_length(&[0x00, 0x00, 0x00, 0x02], MncLength::Two),
            vec![0x00, 0x00, 0x00, 0x02]
        );
    }
}
