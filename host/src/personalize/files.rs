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
}

pub(crate) const USIM_FILES: [Wanted; 4] = [
    Wanted {
        name: "EF_IMSI",
        under: Under::Usim,
        path: &[ef::EF_IMSI],
    },
    Wanted {
        name: "EF_AD",
        under: Under::Usim,
        path: &[ef::EF_AD],
    },
    Wanted {
        name: "EF_ACC",
        under: Under::Usim,
        path: &[ef::EF_ACC],
    },
    Wanted {
        name: "EF_UST",
        under: Under::Usim,
        path: &[ef::EF_UST],
    },
];

pub(crate) const GBA_FILES: [Wanted; 3] = [
    Wanted {
        name: "EF_GBABP",
        under: Under::Usim,
        path: &[ef::EF_GBABP],
    },
    Wanted {
        name: "EF_GBANL",
        under: Under::Usim,
        path: &[ef::EF_GBANL],
    },
    Wanted {
        name: "EF_NAFKCA",
        under: Under::Usim,
        path: &[ef::EF_NAFKCA],
    },
];

pub(crate) const SJA_FILES: [Wanted; 8] = [
    Wanted {
        name: "EF_ICCID",
        under: Under::Mf,
        path: &[ef::EF_ICCID],
    },
    Wanted {
        name: "EF.MILENAGE_CFG",
        under: Under::Mf,
        path: &[sysmo::DF_SYSTEM, sysmo::EF_MILENAGE_CFG],
    },
    Wanted {
        name: "EF.USIM_AUTH_KEY",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_AUTH_KEY],
    },
    Wanted {
        name: "EF.USIM_AUTH_KEY_2G",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_AUTH_KEY_2G],
    },
    Wanted {
        name: "EF.USIM_SQN",
        under: Under::Usim,
        path: &[sysmo::EF_USIM_SQN],
    },
    Wanted {
        name: "EF.GBA_SK",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_SK],
    },
    Wanted {
        name: "EF.GBA_REC_LIST",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_REC_LIST],
    },
    Wanted {
        name: "EF.GBA_INT_KEY",
        under: Under::Usim,
        path: &[sysmo::EF_GBA_INT_KEY],
    },
];

pub(crate) const SJS1_FILES: [Wanted; 7] = [
    Wanted {
        name: "EF_ICCID",
        under: Under::Mf,
        path: &[ef::EF_ICCID],
    },
    Wanted {
        name: "EF.AUTH (7FCC/6F00)",
        under: Under::Mf,
        path: &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_AUTH],
    },
    Wanted {
        name: "EF.MLNGC (7FCC/6F01)",
        under: Under::Mf,
        path: &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_MLNGC],
    },
    Wanted {
        name: "Ki (7F20/00FF)",
        under: Under::Mf,
        path: &[sysmo::DF_GSM, sysmo::SJS1_EF_KI],
    },
    Wanted {
        name: "OPc (7F20/00F7)",
        under: Under::Mf,
        path: &[sysmo::DF_GSM, sysmo::SJS1_EF_OPC],
    },
    Wanted {
        name: "SQNC (00FB)",
        under: Under::Usim,
        path: &[sysmo::SJS1_EF_SQNC],
    },
    Wanted {
        name: "SQNA (00FA)",
        under: Under::Usim,
        path: &[sysmo::SJS1_EF_SQNA],
    },
];

pub(crate) const ISIM_FILES: [Wanted; 4] = [
    Wanted {
        name: "EF_IMPI",
        under: Under::Isim,
        path: &[ef::EF_IMPI],
    },
    Wanted {
        name: "EF_DOMAIN",
        under: Under::Isim,
        path: &[ef::EF_DOMAIN],
    },
    Wanted {
        name: "EF_IMPU",
        under: Under::Isim,
        path: &[ef::EF_IMPU],
    },
    Wanted {
        name: "EF_IST",
        under: Under::Isim,
        path: &[ef::EF_IST],
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
                }
            }
            // SJS1 files the soft card does not have: the sizes the scripts write.
            _ => FileShape {
                file: w.name,
                size: sjs1_size(w.name),
                record_len: None,
                records: None,
            },
        };
        out.insert(w.name, shape);
    }
    out
}

pub(crate) fn sjs1_size(name: &str) -> usize {
    match name {
        "EF.AUTH (7FCC/6F00)" => 2,
        "EF.MLNGC (7FCC/6F01)" => sysmo::MILENAGE_CFG_SIZE,
        "Ki (7F20/00FF)" => 16,
        "OPc (7F20/00F7)" => 17,
        "SQNC (00FB)" => 15,
        "SQNA (00FA)" => 6 << IND_BITS,
        _ => 0,
    }
}
