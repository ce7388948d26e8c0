//! What a sysmo card fixes in its standard files, where a profile would otherwise choose:
//! the sizes of EF_UST and of the GBA EFs, ADF.USIM's EF_AD as delivered, and the record
//! count and length of its EF.ARR files — from pySim's dumps of real SJA2, SJA5 and SJS1
//! cards.

use gbau_core::ef;

use super::{App, FileTree, NodeKind};
use crate::profile::{Layout, Profile};

/// EF_UST on the SJA2/SJA5: 20 bytes (pySim dumps, FCP '80' = 0014).
pub const SJA_UST_SIZE: usize = 20;
/// EF_GBABP of ADF.USIM and of ADF.ISIM on the SJA2/SJA5: 64 bytes (pySim dumps).
pub const SJA_GBABP_SIZE: usize = 64;
/// ADF.USIM EF_GBANL on the SJA2/SJA5: 2 records of 128 bytes (pySim dumps).
pub const SJA_USIM_GBANL: (usize, usize) = (2, 128);
/// ADF.USIM EF_NAFKCA on the SJA2/SJA5: 2 records of 32 bytes (pySim dumps).
pub const SJA_USIM_NAFKCA: (usize, usize) = (2, 32);
/// ADF.ISIM EF_GBANL on the SJA2/SJA5: 8 records of 128 bytes (pySim dumps).
pub const SJA_ISIM_GBANL: (usize, usize) = (8, 128);
/// ADF.ISIM EF_NAFKCA on the SJA2/SJA5: 8 records of 128 bytes (pySim dumps).
pub const SJA_ISIM_NAFKCA: (usize, usize) = (8, 128);
/// MF EF.ARR 2F06 on the SJA2/SJA5: 5 records of 110 bytes (pySim dumps).
pub const SJA_MF_ARR: (usize, usize) = (5, 110);
/// ADF.USIM EF.ARR 6F06 on the SJA2/SJA5: 12 records of 110 bytes (pySim dumps).
pub const SJA_USIM_ARR: (usize, usize) = (12, 110);
/// ADF.ISIM EF.ARR 6F06 on the SJA2/SJA5: 4 records of 50 bytes (pySim dumps).
pub const SJA_ISIM_ARR: (usize, usize) = (4, 50);

/// The sizes of an application's GBA EFs: EF_GBABP, EF_GBANL (records, record length) and
/// EF_NAFKCA (records, record length) when the application has one.
pub(super) struct GbaSizes {
    pub gbabp: usize,
    pub gbanl: (usize, usize),
    pub nafkca: Option<(usize, usize)>,
}

/// The sizes of standard files: the profile's, except where a sysmo card fixes them.
pub(super) struct Sizes {
    pub ust: usize,
    /// `None`: ADF.USIM has no GBA EFs (the SJS1: GBABP, GBANL and NAFKCA answer '6A82' in
    /// pySim's dump).
    pub usim_gba: Option<GbaSizes>,
    pub isim_gba: GbaSizes,
}

impl Sizes {
    pub(super) fn of(profile: &Profile) -> Self {
        let g = &profile.gba;
        let gbanl = (usize::from(g.gbanl_records), g.gbanl_record_len);
        let standard_usim = GbaSizes {
            gbabp: g.gbabp_size,
            gbanl,
            nafkca: Some((g.naf_key_centers.len().max(1), g.nafkca_record_len)),
        };
        let standard_isim = GbaSizes {
            gbabp: g.gbabp_size,
            gbanl,
            nafkca: None,
        };
        match profile.layout {
            Layout::Standard => Self {
                ust: profile.ust_size,
                usim_gba: Some(standard_usim),
                isim_gba: standard_isim,
            },
            Layout::Sjs1 => Self {
                ust: profile.ust_size,
                usim_gba: None,
                isim_gba: standard_isim,
            },
            Layout::Sja2 | Layout::Sja5 => Self {
                ust: SJA_UST_SIZE,
                usim_gba: Some(GbaSizes {
                    gbabp: SJA_GBABP_SIZE,
                    gbanl: SJA_USIM_GBANL,
                    nafkca: Some(SJA_USIM_NAFKCA),
                }),
                isim_gba: GbaSizes {
                    gbabp: SJA_GBABP_SIZE,
                    gbanl: SJA_ISIM_GBANL,
                    nafkca: Some(SJA_ISIM_NAFKCA),
                },
            },
        }
    }
}

/// ADF.USIM EF_AD as delivered: on the SJA5 `01 00 08 <MNC length> FF` (5 bytes, pySim dump;
/// DF.GSM's differs), else `00 00 00 <MNC length>` (the SJA2 dump has that in both places).
pub(super) fn usim_ad(profile: &Profile) -> Vec<u8> {
    let mut ad = ef::encode_ad(profile.mnc_length);
    if profile.layout == Layout::Sja5 {
        ad[0] = 0x01;
        ad[2] = 0x08;
        ad.push(0xFF);
    }
    ad
}

/// The EF.ARR shape (records, record length) of a SJA2/SJA5 for the EF.ARR at `index`.
pub(super) fn arr_shape(layout: Layout, tree: &FileTree, index: usize) -> Option<(usize, usize)> {
    if !matches!(layout, Layout::Sja2 | Layout::Sja5) {
        return None;
    }
    match tree.nodes[tree.nodes[index].parent?].kind {
        NodeKind::Mf => Some(SJA_MF_ARR),
        NodeKind::Adf { app: App::Usim, .. } => Some(SJA_USIM_ARR),
        NodeKind::Adf { app: App::Isim, .. } => Some(SJA_ISIM_ARR),
        _ => None,
    }
}
