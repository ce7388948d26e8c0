//! The sysmoISIM-SJA2/SJA5 layout as pySim's dumps of real cards show it (`gbau_core::sysmo`,
//! in no 3GPP specification): DF.SYSTEM with EF.MILENAGE_CFG, DF.GSM with its own EF_IMSI
//! and EF_AD, the key and SQN files in ADF.USIM and ADF.ISIM, and the GBA files AF31–AF33
//! that nobody may read or update. The proprietary EFs state their rules in compact form
//! ('8C', `super::compact`), as the dumps do. Which files the card takes its keys from is
//! for the `personality` module.

use gbau_core::arr::AccessModes;
use gbau_core::ef::{self, EfError};
use gbau_core::sysmo;

use super::builder::Builder;
use super::{Access, NodeKind, Structure, MF_INDEX};
use crate::profile::{Layout, Profile};

/// EF.USIM_SQN as the card starts: the profile's header (the factory `d5 03 …`) or one made
/// from its SQN policy, then the freshness array zeroed.
fn sqn_file(profile: &Profile) -> Vec<u8> {
    match &profile.sqn_file_header {
        Some(header) => {
            let mut file = header.to_vec();
            file.resize(sysmo::USIM_SQN_SIZE, 0);
            file
        }
        None => sysmo::SqnFile::reset(profile.sqn_policy).encode(),
    }
}

/// The extra modes ('8C' beyond READ and UPDATE, all ADM1) of the key files (AF20, AF30)
/// and of AF22 / EF.MILENAGE_CFG: none on the SJA2 (`03 1A1A`); on the SJA5 DELETE,
/// ACTIVATE, DEACTIVATE (`5B …`) and ACTIVATE, DEACTIVATE (`1B …`) (pySim dumps).
fn extra_modes(layout: Layout) -> (AccessModes, AccessModes) {
    let activation = AccessModes::ACTIVATE.with(AccessModes::DEACTIVATE);
    match layout {
        Layout::Sja5 => (activation.with(AccessModes::DELETE), activation),
        _ => (AccessModes(0), AccessModes(0)),
    }
}

/// The proprietary files and DF.GSM of the SJA2/SJA5 layout, filled from the profile.
pub(super) fn sja_files(
    b: &mut Builder,
    usim: usize,
    isim: Option<usize>,
    profile: &Profile,
) -> Result<(), EfError> {
    use Access::{Adm1, Always, Never, Pin1};
    use Structure::{LinearFixed, Transparent};
    let (_, extra_2g) = extra_modes(profile.layout);
    let system = b.add(
        MF_INDEX,
        sysmo::DF_SYSTEM,
        "DF_SYSTEM",
        NodeKind::Df,
        Vec::new(),
    );
    let cfg = b.ef(
        system,
        sysmo::EF_MILENAGE_CFG,
        "EF_MILENAGE_CFG",
        None,
        Transparent,
        Adm1,
        Adm1,
        sysmo::encode_milenage_cfg(&profile.milenage).to_vec(),
    );
    b.compact(cfg, extra_2g)?;
    // DF.GSM's EF_IMSI and EF_AD are files of their own (no link in the dumps; on the SJA5
    // the two EF_AD differ). Rules: EF_IMSI READ PIN1, UPDATE ADM1; EF_AD READ always,
    // UPDATE ADM1 (ADF.USIM EF.ARR records 3 and 6 in the dumps).
    let gsm = b.add(MF_INDEX, sysmo::DF_GSM, "DF_GSM", NodeKind::Df, Vec::new());
    let imsi = ef::encode_imsi(&profile.imsi);
    b.ef(
        gsm,
        ef::EF_IMSI,
        "EF_IMSI",
        None,
        Transparent,
        Pin1,
        Adm1,
        imsi,
    );
    let ad = ef::encode_ad(profile.mnc_length);
    b.ef(gsm, ef::EF_AD, "EF_AD", None, Transparent, Always, Adm1, ad);
    key_files(b, usim, "USIM", profile)?;
    if let Some(isim) = isim {
        key_files(b, isim, "ISIM", profile)?;
    }
    // AF31-AF33: `8C 01 00`, READ '6982' even after ADM1 (dumps). The card keeps its GBA
    // state elsewhere; the contents stand for what it would hold.
    let int_key_len = sysmo::GBA_INT_KEY_RECORD_LEN;
    let gba: [(u16, &str, Structure, usize); 3] = [
        (
            sysmo::EF_GBA_SK,
            "EF_GBA_SK",
            Transparent,
            sysmo::GBA_SK_SIZE,
        ),
        (
            sysmo::EF_GBA_REC_LIST,
            "EF_GBA_REC_LIST",
            Transparent,
            sysmo::GBA_REC_LIST_SIZE,
        ),
        (
            sysmo::EF_GBA_INT_KEY,
            "EF_GBA_INT_KEY",
            LinearFixed {
                record_len: int_key_len,
            },
            int_key_len * sysmo::GBA_INT_KEY_RECORDS,
        ),
    ];
    for (fid, name, structure, size) in gba {
        let i = b.ef(
            usim,
            fid,
            name,
            None,
            structure,
            Never,
            Never,
            vec![0xFF; size],
        );
        b.compact(i, AccessModes(0))?;
    }
    Ok(())
}

/// AF20 (K and OPc: 33 bytes, on the SJA5 67 with 'FF' after), AF22 (the 2G key, 33
/// bytes) and AF30 (EF.USIM_SQN, 206 bytes) of one application, READ and UPDATE ADM1.
fn key_files(b: &mut Builder, adf: usize, app: &str, profile: &Profile) -> Result<(), EfError> {
    let (extra_key, extra_2g) = extra_modes(profile.layout);
    let auth_key = sysmo::encode_auth_key_milenage(profile.k.expose(), profile.opc.expose());
    let mut auth_key_3g = auth_key.to_vec();
    if profile.layout == Layout::Sja5 {
        auth_key_3g.resize(sysmo::SJA5_AUTH_KEY_SIZE, 0xFF);
    }
    let files = [
        (sysmo::EF_USIM_AUTH_KEY, "AUTH_KEY", extra_key, auth_key_3g),
        (
            sysmo::EF_USIM_AUTH_KEY_2G,
            "AUTH_KEY_2G",
            extra_2g,
            auth_key.to_vec(),
        ),
        (sysmo::EF_USIM_SQN, "SQN", extra_key, sqn_file(profile)),
    ];
    for (fid, name, extra, content) in files {
        let name = format!("EF_{app}_{name}");
        let i = b.ef(
            adf,
            fid,
            &name,
            None,
            Structure::Transparent,
            Access::Adm1,
            Access::Adm1,
            content,
        );
        b.compact(i, extra)?;
    }
    Ok(())
}
