//! The proprietary files of the sysmo layouts (SJA2/SJA5, SJS1; `gbau_core::sysmo`, in no
//! 3GPP specification), added to the file tree with their initial contents from the profile.
//! Which of them the card takes its keys and SQN policy from is for the `personality` module.
//! Like every file, they get their EF.ARR record (`super::arr`): ADM1 for READ and UPDATE;
//! the DFs under the MF, and the EFs in them, reference the MF's EF.ARR 2F06.

use super::builder::Builder;
use super::{Access, NodeKind, Structure, EMULATED_GBA_SK_SIZE, MF_INDEX};
use crate::profile::Profile;

/// The proprietary files of the SJA2/SJA5 layout (`gbau_core::sysmo`), filled from the
/// profile; all read and written with ADM1.
pub(super) fn sysmo_files(b: &mut Builder, usim: usize, profile: &Profile) {
    use gbau_core::sysmo;
    use Access::Adm1;
    use Structure::{LinearFixed, Transparent};
    let auth_key = sysmo::encode_auth_key_milenage(profile.k.expose(), profile.opc.expose());
    let system = b.add(
        MF_INDEX,
        sysmo::DF_SYSTEM,
        "DF_SYSTEM",
        NodeKind::Df,
        Vec::new(),
    );
    b.ef(
        system,
        sysmo::EF_MILENAGE_CFG,
        "EF_MILENAGE_CFG",
        None,
        Transparent,
        Adm1,
        Adm1,
        sysmo::encode_milenage_cfg(&profile.milenage).to_vec(),
    );
    let files: [(u16, &str, Structure, Vec<u8>); 6] = [
        (
            sysmo::EF_USIM_AUTH_KEY,
            "EF_USIM_AUTH_KEY",
            Transparent,
            auth_key.to_vec(),
        ),
        (
            sysmo::EF_USIM_AUTH_KEY_2G,
            "EF_USIM_AUTH_KEY_2G",
            Transparent,
            auth_key.to_vec(),
        ),
        (
            sysmo::EF_USIM_SQN,
            "EF_USIM_SQN",
            Transparent,
            sysmo::SqnFile::reset(profile.sqn_policy).encode(),
        ),
        (
            sysmo::EF_GBA_SK,
            "EF_GBA_SK",
            Transparent,
            vec![0xFF; EMULATED_GBA_SK_SIZE],
        ),
        (
            sysmo::EF_GBA_REC_LIST,
            "EF_GBA_REC_LIST",
            Transparent,
            vec![0xFF; usize::from(profile.gba.gbanl_records)],
        ),
        (
            sysmo::EF_GBA_INT_KEY,
            "EF_GBA_INT_KEY",
            LinearFixed {
                record_len: sysmo::GBA_INT_KEY_RECORD_LEN,
            },
            vec![0xFF; sysmo::GBA_INT_KEY_RECORD_LEN * usize::from(profile.gba.gbanl_records)],
        ),
    ];
    for (fid, name, structure, content) in files {
        b.ef(usim, fid, name, None, structure, Adm1, Adm1, content);
    }
}

/// The key and SQN files of the sysmoUSIM-SJS1 layout (`gbau_core::sysmo`), from the
/// profile; all read and written with ADM1.
pub(super) fn sjs1_files(b: &mut Builder, usim: usize, profile: &Profile) {
    use gbau_core::sysmo;
    use Access::Adm1;
    use Structure::Transparent;
    let proprietary = b.add(
        MF_INDEX,
        sysmo::SJS1_DF_PROPRIETARY,
        "DF_7FCC",
        NodeKind::Df,
        Vec::new(),
    );
    let gsm = b.add(MF_INDEX, sysmo::DF_GSM, "DF_GSM", NodeKind::Df, Vec::new());
    let mut opc = vec![sysmo::SJS1_OPC_FLAG];
    opc.extend_from_slice(profile.opc.expose());
    let (flags, limits) = sysmo::encode_sjs1_sqnc(profile.sqn_policy);
    let mut sqnc = vec![flags, 0, 0];
    sqnc.extend_from_slice(&limits);
    let files: [(usize, u16, &str, Vec<u8>); 6] = [
        (
            proprietary,
            sysmo::SJS1_EF_AUTH,
            "EF_AUTH",
            vec![sysmo::SJS1_ALGO_MILENAGE, sysmo::SJS1_ALGO_MILENAGE],
        ),
        (
            proprietary,
            sysmo::SJS1_EF_MLNGC,
            "EF_MLNGC",
            sysmo::encode_sjs1_mlngc(&profile.milenage).to_vec(),
        ),
        (gsm, sysmo::SJS1_EF_KI, "EF_KI", profile.k.expose().to_vec()),
        (gsm, sysmo::SJS1_EF_OPC, "EF_OPC", opc),
        (usim, sysmo::SJS1_EF_SQNC, "EF_SQNC", sqnc),
        (
            usim,
            sysmo::SJS1_EF_SQNA,
            "EF_SQNA",
            vec![0; 6 * gbau_core::sqn::IND_SLOTS],
        ),
    ];
    for (parent, fid, name, content) in files {
        b.ef(parent, fid, name, None, Transparent, Adm1, Adm1, content);
    }
}
