//! The sysmoUSIM-SJS1 layout (`gbau_core::sysmo`, in no 3GPP specification): 7FCC with the
//! algorithm and Milenage files, DF.GSM with Ki, OPc, EF_IMSI and EF_AD, and in ADF.USIM the
//! SQN files and the authentication counter 00FE. ADF.USIM's EF_IMSI and EF_AD are DF.GSM's
//! (pySim's SJS1 dump: their FCPs carry `A5 { 9B 3F00 7F20 6F07 }` and `… 6FAD`). The
//! proprietary files are read and written with ADM1, as both tools do.

use gbau_core::ef;
use gbau_core::sysmo;

use super::builder::Builder;
use super::{Access, NodeKind, Structure, MF_INDEX};
use crate::profile::Profile;

/// The key, SQN and counter files of the SJS1 layout, from the profile, and the links of
/// ADF.USIM's EF_IMSI and EF_AD to DF.GSM's.
pub(super) fn sjs1_files(b: &mut Builder, usim: usize, profile: &Profile) {
    use Access::{Adm1, Always, Pin1};
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
    let files: [(usize, u16, &str, Vec<u8>); 7] = [
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
        // Disabled as delivered (sysmo-usim-tool's reset writes FFFFFFFF).
        (
            usim,
            sysmo::SJS1_EF_AUTH_COUNTER,
            "EF_AUTH_COUNTER",
            sysmo::SJS1_AC_DISABLED.to_be_bytes().to_vec(),
        ),
    ];
    for (parent, fid, name, content) in files {
        b.ef(parent, fid, name, None, Transparent, Adm1, Adm1, content);
    }
    let imsi = ef::encode_imsi(&profile.imsi);
    let gsm_imsi = b.ef(
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
    let gsm_ad = b.ef(gsm, ef::EF_AD, "EF_AD", None, Transparent, Always, Adm1, ad);
    for (fid, target) in [(ef::EF_IMSI, gsm_imsi), (ef::EF_AD, gsm_ad)] {
        if let Some(own) = b.child(usim, fid) {
            b.link(own, target);
        }
    }
}
