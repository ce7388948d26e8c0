//! The mandatory EFs of ADF.USIM (TS 31.102 §4.2) that gbau's card did not have before —
//! EF_HPPLMN, EF_FPLMN, EF_LOCI, EF_PSLOCI, EF_START-HFN, EF_THRESHOLD, EF_NETPAR and EF_ECC
//! — and DF_GSM-ACCESS with EF_Kc and EF_KcGPRS (TS 31.102 §4.4.3) when UST service 27 is
//! on. Contents come from the profile (`crate::profile::UsimFiles`). FIDs and SFIs are
//! `gbau_core::ef`'s, checked against pySim.

use gbau_core::ef;

use super::builder::Builder;
use super::{Access, NodeKind, Structure};
use crate::profile::Profile;

/// The mandatory EFs of ADF.USIM listed above, with their access conditions: the ME's
/// location and key files READ/UPDATE PIN; the operator's settings READ PIN, UPDATE ADM;
/// EF_ECC READ always, UPDATE ADM (TS 31.102 §4.2, per file). EF_NETPAR's conditions (PIN,
/// PIN) are recalled, not checked **[to confirm]**.
pub(super) fn usim_files(b: &mut Builder, usim: usize, profile: &Profile) {
    use Access::{Adm1, Always, Pin1};
    use Structure::Transparent;
    let f = &profile.usim_files;
    let transparent = [
        (
            ef::EF_HPPLMN,
            "EF_HPPLMN",
            Some(ef::SFI_HPPLMN),
            Pin1,
            Adm1,
            &f.hpplmn,
        ),
        (
            ef::EF_FPLMN,
            "EF_FPLMN",
            Some(ef::SFI_FPLMN),
            Pin1,
            Pin1,
            &f.fplmn,
        ),
        (
            ef::EF_LOCI,
            "EF_LOCI",
            Some(ef::SFI_LOCI),
            Pin1,
            Pin1,
            &f.loci,
        ),
        (
            ef::EF_PSLOCI,
            "EF_PSLOCI",
            Some(ef::SFI_PSLOCI),
            Pin1,
            Pin1,
            &f.psloci,
        ),
        (
            ef::EF_START_HFN,
            "EF_START-HFN",
            Some(ef::SFI_START_HFN),
            Pin1,
            Pin1,
            &f.start_hfn,
        ),
        (
            ef::EF_THRESHOLD,
            "EF_THRESHOLD",
            Some(ef::SFI_THRESHOLD),
            Pin1,
            Adm1,
            &f.threshold,
        ),
        (ef::EF_NETPAR, "EF_NETPAR", None, Pin1, Pin1, &f.netpar),
    ];
    for (fid, name, sfi, read, update, content) in transparent {
        b.ef(
            usim,
            fid,
            name,
            sfi,
            Transparent,
            read,
            update,
            content.clone(),
        );
    }
    let record_len = f.ecc.first().map_or(0, Vec::len);
    b.ef(
        usim,
        ef::EF_ECC,
        "EF_ECC",
        Some(ef::SFI_ECC),
        Structure::LinearFixed { record_len },
        Always,
        Adm1,
        f.ecc.concat(),
    );
    if profile.services.contains(&ef::SERVICE_GSM_ACCESS) {
        gsm_access(b, usim, profile);
    }
}

/// DF_GSM-ACCESS with EF_Kc and EF_KcGPRS, READ/UPDATE PIN (TS 31.102 §4.4.3 **[to confirm
/// the conditions]**).
fn gsm_access(b: &mut Builder, usim: usize, profile: &Profile) {
    let df = b.add(
        usim,
        ef::DF_GSM_ACCESS,
        "DF_GSM-ACCESS",
        NodeKind::Df,
        Vec::new(),
    );
    let f = &profile.usim_files;
    for (fid, name, sfi, content) in [
        (ef::EF_KC, "EF_Kc", ef::SFI_KC, &f.kc),
        (ef::EF_KC_GPRS, "EF_KcGPRS", ef::SFI_KC_GPRS, &f.kc_gprs),
    ] {
        b.ef(
            df,
            fid,
            name,
            Some(sfi),
            Structure::Transparent,
            Access::Pin1,
            Access::Pin1,
            content.clone(),
        );
    }
}
