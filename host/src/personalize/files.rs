//! The files each card model must have, found by SELECT and sized from their FCPs (TS 102 221
//! §11.1.1.3), or assumed from the profile in a dry run without a card.

use std::collections::BTreeMap;

use gbau_card::{Layout, Profile};
use gbau_core::ef;
use gbau_core::sqn::IND_BITS;
use gbau_core::sysmo::{self};
use gbau_core::{CommandApdu, StatusWord};

use crate::session::LockedUsim;
use crate::usim::UsimError;

use super::model::{FileShape, PersonalizeError, Target};

/// Where a file's FID path starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Under {
    Mf,
    Usim,
    Isim,
}

/// A file the model must have: where, and which FIDs to select from there.
pub(crate) struct Wanted {
    pub(crate) name: &'static str,
    pub(crate) under: Under,
    pub(crate) path: &'static [u16],
    /// gbau writes it (else it is only checked, read or reported).
    pub(crate) written: bool,
}

pub(crate) const USIM_FILES: [Wanted; 4] = [
    Wanted {
        name: "EF_IMSI",
        under: Under::Usim,
        path: &[ef::EF_IMSI],
        written: true,
    },
    Wanted {
        name: "EF_AD",
        under: Under::Usim,
        path: &[ef::EF_AD],
        written: true,
    },
    Wanted {
        name: "EF_ACC",
        under: Under::Usim,
        path: &[ef::EF_ACC],
        written: true,
    },
    Wanted {
        name: "EF_UST",
        under: Under::Usim,
        path: &[ef::EF_UST],
        written: true,
    },
];

pub(crate) const GBA_FILES: [Wanted; 3] = [
    Wanted {
        name: "EF_GBABP",
        under: Under::Usim,
        path: &[ef::EF_GBABP],
        written: true,
    },
    Wanted {
        name: "EF_GBANL",
        under: Under::Usim,
        path: &[ef::EF_GBANL],
        written: true,
    },
    Wanted {
        name: "EF_NAFKCA",
        under: Under::Usim,
        path: &[ef::EF_NAFKCA],
        written: true,
    },
];

pub(crate) const SJA_FILES: [Wanted; 10] = [
    Wanted {
        name: "EF_ICCID",
        under: Under::Mf,
        path: &[ef::EF_ICCID],
        // Tied to the card OS licence: never updatable on SJA2/SJA5 (pySim; both dumps: MF
        // EF.ARR record 2, UPDATE never). Read and compared instead.
        written: false,
    },
    Wanted {
        name: "EF.MILENAGE_CFG",
        under: Under::Mf,
        path: &[sysmo::DF_SYSTEM, sysmo::EF_MILENAGE_CFG],
        written: true,
    },
    Wanted {
        name: "EF.USIM_AUTH_KEY",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_AUTH_KEY],
        written: true,
    },
    Wanted {
        name: "EF.USIM_AUTH_KEY_2G",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_AUTH_KEY_2G],
        written: true,
    },
    Wanted {
        name: "EF.USIM_SQN",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_SQN],
        written: true,
    },
    Wanted {
        name: "EF.GBA_SK",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_SK],
        // No access on real cards (8C 01 00; READ 6982 even with ADM1): reported as present.
        written: false,
    },
    Wanted {
        name: "EF.GBA_REC_LIST",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_REC_LIST],
        // No access on real cards (8C 01 00; READ 6982 even with ADM1): reported as present.
        written: false,
    },
    Wanted {
        name: "EF.GBA_INT_KEY",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_INT_KEY],
        // No access on real cards (8C 01 00; READ 6982 even with ADM1): reported as present.
        written: false,
    },
    Wanted {
        name: "DF.GSM/EF_IMSI",
        under: Under::Mf,
        path: &[sysmo::DF_GSM, ef::EF_IMSI],
        // A file of its own on SJA2/SJA5 (the dumps show no link): made equal to ADF.USIM's.
        written: true,
    },
    Wanted {
        name: "DF.GSM/EF_AD",
        under: Under::Mf,
        path: &[sysmo::DF_GSM, ef::EF_AD],
        written: true,
    },
];

pub(crate) const SJS1_FILES: [Wanted; 7] = [
    Wanted {
        name: "EF_ICCID",
        under: Under::Mf,
        path: &[ef::EF_ICCID],
        written: true,
    },
    Wanted {
        name: "EF.AUTH (7FCC/6F00)",
        under: Under::Mf,
        path: &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_AUTH],
        written: true,
    },
    Wanted {
        name: "EF.MLNGC (7FCC/6F01)",
        under: Under::Mf,
        path: &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_MLNGC],
        written: true,
    },
    Wanted {
        name: "Ki (7F20/00FF)",
        under: Under::Mf,
        path: &[sysmo::DF_GSM, sysmo::SJS1_EF_KI],
        written: true,
    },
    Wanted {
        name: "OPc (7F20/00F7)",
        under: Under::Mf,
        path: &[sysmo::DF_GSM, sysmo::SJS1_EF_OPC],
        written: true,
    },
    Wanted {
        name: "SQNC (00FB)",
        under: Under::Usim,
        path: &[sysmo::SJS1_EF_SQNC],
        written: true,
    },
    Wanted {
        name: "SQNA (00FA)",
        under: Under::Usim,
        path: &[sysmo::SJS1_EF_SQNA],
        written: true,
    },
];

/// The ISIM's own key and SQN files on SJA2/SJA5 (pySim writes ISIM AF20 like the USIM's).
pub(crate) const SJA_ISIM_KEY_FILES: [Wanted; 2] = [
    Wanted {
        name: "ISIM EF.ISIM_AUTH_KEY",
        under: Under::Isim,
        path: &[sysmo::EF_USIM_AUTH_KEY],
        written: true,
    },
    Wanted {
        name: "ISIM EF.ISIM_SQN",
        under: Under::Isim,
        path: &[sysmo::EF_USIM_SQN],
        written: true,
    },
];

pub(crate) const ISIM_FILES: [Wanted; 4] = [
    Wanted {
        name: "EF_IMPI",
        under: Under::Isim,
        path: &[ef::EF_IMPI],
        written: true,
    },
    Wanted {
        name: "EF_DOMAIN",
        under: Under::Isim,
        path: &[ef::EF_DOMAIN],
        written: true,
    },
    Wanted {
        name: "EF_IMPU",
        under: Under::Isim,
        path: &[ef::EF_IMPU],
        written: true,
    },
    Wanted {
        name: "EF_IST",
        under: Under::Isim,
        path: &[ef::EF_IST],
        written: true,
    },
];

/// Whether the ISIM files are written: the profile has an ISIM and the model one too (the
/// SJS1 is a USIM only).
pub(crate) fn with_isim(profile: &Profile, target: Target) -> bool {
    profile.isim.is_some() && target != Target::Sjs1
}

pub(crate) fn wanted(target: Target, isim: bool) -> Vec<&'static Wanted> {
    let model: &'static [Wanted] = match target {
        Target::Sja2 | Target::Sja5 => &SJA_FILES,
        Target::Sjs1 => &SJS1_FILES,
        Target::Soft => &[],
    };
    let isim: &'static [Wanted] = if isim { &ISIM_FILES } else { &[] };
    let isim_keys: &'static [Wanted] = match target {
        Target::Sja2 | Target::Sja5 if !isim.is_empty() => &SJA_ISIM_KEY_FILES,
        _ => &[],
    };
    let gba: &'static [Wanted] = if target == Target::Sjs1 {
        &[]
    } else {
        &GBA_FILES
    };
    model
        .iter()
        .chain(USIM_FILES.iter())
        .chain(gba)
        .chain(isim)
        .chain(isim_keys)
        .collect()
}

pub(crate) fn select_ok(
    u: &mut LockedUsim<'_>,
    cmd: &CommandApdu,
) -> Result<Result<Vec<u8>, StatusWord>, UsimError> {
    let r = u.send(cmd)?;
    Ok(if r.sw.is_ok() { Ok(r.data) } else { Err(r.sw) })
}

/// SELECT each file the model must have and read its size from the FCP.
pub(crate) fn probe_files(
    u: &mut LockedUsim<'_>,
    target: Target,
    isim: bool,
) -> Result<BTreeMap<&'static str, FileShape>, PersonalizeError> {
    let mut out = BTreeMap::new();
    for w in wanted(target, isim) {
        let missing = |problem: String| PersonalizeError::FileModel {
            model: target.name(),
            file: w.name,
            problem,
        };
        let start = match w.under {
            Under::Usim => crate::usim::apdus::select_aid(&ef::USIM_AID_PREFIX),
            Under::Isim => crate::usim::apdus::select_aid(&ef::ISIM_AID_PREFIX),
            Under::Mf => crate::usim::apdus::select_fid(ef::MF),
        };
        select_ok(u, &start)?
            .map_err(|sw| missing(format!("cannot be reached: SELECT answered {sw}")))?;
        let mut fcp = Vec::new();
        for fid in w.path {
            fcp = select_ok(u, &crate::usim::apdus::select_fid(*fid))?
                .map_err(|sw| missing(format!("is missing: SELECT {fid:04X} answered {sw}")))?;
        }
        let d = crate::decode::fcp(&fcp)
            .ok_or_else(|| missing("answered SELECT without an FCP".into()))?;
        let size = d
            .size
            .ok_or_else(|| missing("has no file size in its FCP".into()))?;
        out.insert(
            w.name,
            FileShape {
                file: w.name,
                size,
                record_len: d.record_len,
                records: d.records,
                written: w.written,
                fcp,
            },
        );
    }
    Ok(out)
}

/// The shapes a card made from the profile would have (dry run without a card).
pub(crate) fn assumed_shapes(
    profile: &Profile,
    target: Target,
) -> BTreeMap<&'static str, FileShape> {
    let mut p = profile.clone();
    p.layout = match target {
        Target::Sja2 => Layout::Sja2,
        Target::Sja5 => Layout::Sja5,
        _ => Layout::Standard,
    };
    let mut out = BTreeMap::new();
    let Ok((tree, _)) = gbau_card::fs::build(&p) else {
        return out;
    };
    let usim = tree.adf(gbau_card::fs::App::Usim);
    let isim = tree.adf(gbau_card::fs::App::Isim);
    for w in wanted(target, with_isim(profile, target)) {
        let mut at = match w.under {
            Under::Usim => usim,
            Under::Isim => isim,
            Under::Mf => Some(gbau_card::fs::MF_INDEX),
        };
        for fid in w.path {
            at = at.and_then(|df| tree.child(df, *fid));
        }
        let shape = match at.map(|i| &tree.nodes[i].kind) {
            Some(gbau_card::fs::NodeKind::Ef {
                structure, size, ..
            }) => {
                let rl = match structure {
                    gbau_card::fs::Structure::LinearFixed { record_len } => Some(*record_len),
                    gbau_card::fs::Structure::Transparent => None,
                };
                FileShape {
                    file: w.name,
                    size: *size,
                    record_len: rl,
                    records: rl.map(|l| size / l.max(1)),
                    written: w.written,
                    fcp: Vec::new(),
                }
            }
            // Files the soft card does not have: the sizes the scripts write.
            _ => FileShape {
                file: w.name,
                size: assumed_size(w.name),
                record_len: None,
                records: None,
                written: w.written,
                fcp: Vec::new(),
            },
        };
        out.insert(w.name, shape);
    }
    out
}

pub(crate) fn assumed_size(name: &str) -> usize {
    match name {
        "ISIM EF.ISIM_AUTH_KEY" => sysmo::AUTH_KEY_SIZE,
        "ISIM EF.ISIM_SQN" => sysmo::USIM_SQN_SIZE,
        "DF.GSM/EF_IMSI" => 9,
        "DF.GSM/EF_AD" => 4,
        "EF.AUTH (7FCC/6F00)" => 2,
        "EF.MLNGC (7FCC/6F01)" => sysmo::MILENAGE_CFG_SIZE,
        "Ki (7F20/00FF)" => 16,
        "OPc (7F20/00F7)" => 17,
        "SQNC (00FB)" => 15,
        "SQNA (00FA)" => 6 << IND_BITS,
        _ => 0,
    }
}
