//! The UICC file system (TS 102 221 §8, TS 31.102 §4, TS 31.103 §4): the tree of MF, ADFs
//! and EFs with their structure, SFI and access conditions, built from a profile, and the
//! FCP templates SELECT answers with (TS 102 221 §11.1.1.3), each naming the EF.ARR record
//! that describes the file's access rules (`arr`) or, for the sysmo proprietary EFs, stating
//! them in compact form (`compact`). The sysmo layouts (`sysmo`, `sjs1`, `fixed`) follow
//! pySim's dumps of real cards.

mod arr;
mod builder;
pub mod compact;
mod fixed;
mod mandatory;
mod sjs1;
mod sysmo;

use gbau_core::ef::{self, EfError};
use gbau_core::tlv::Tlv;

use crate::profile::{Layout, Profile};
use builder::Builder;

pub use arr::{condition, FileRule};

/// Who may read or update a file (TS 102 221 §9, TS 31.102 §4.2 "Access Conditions").
/// The records of EF.ARR say the same ([`condition`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// ALW.
    Always,
    /// PIN (PIN1, the universal/application PIN).
    Pin1,
    /// PIN2.
    Pin2,
    /// ADM (ADM1).
    Adm1,
    /// NEV.
    Never,
}

/// The structure of an EF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    Transparent,
    LinearFixed { record_len: usize },
}

/// Which application an ADF holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    Usim,
    Isim,
}

/// What a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Mf,
    /// A DF under the MF (the sysmo layouts' DF.SYSTEM).
    Df,
    Adf {
        aid: Vec<u8>,
        app: App,
    },
    Ef {
        structure: Structure,
        size: usize,
        sfi: Option<u8>,
        read: Access,
        update: Access,
    },
}

/// One file of the tree.
#[derive(Clone, Debug)]
pub struct Node {
    pub fid: u16,
    /// Stable name used as the key in the state file (`USIM/EF_GBABP`).
    pub path: String,
    pub kind: NodeKind,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// The EF.ARR record its FCP references (tag '8B'); set once the tree is complete.
    pub arr: Option<ArrRef>,
    /// The security attributes in compact form (tag '8C', [`compact`]) when its FCP states
    /// them so, as the sysmo cards' proprietary EFs do; such a node has no '8B'.
    pub compact: Option<Vec<u8>>,
    /// The EF whose contents this one shows (SJS1: ADF.USIM EF_IMSI and EF_AD are DF.GSM's,
    /// the FCP says so with the proprietary `A5 { 9B path }`): writing one changes the other.
    pub link: Option<usize>,
}

/// A reference to an EF.ARR record (TS 102 221 §11.1.1.4.7.3 **[to confirm clause]**): the
/// FID of EF.ARR and the record number. The EF.ARR is looked for in the DF that holds the
/// file (the MF for the MF), then in its parents up to the MF, as TS 102 221 §9.2.7 is
/// recalled **[to confirm]**; so MF, ADFs and files under the MF use 2F06, files of an
/// application 6F06, as pySim's SAIP definitions also say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrRef {
    pub fid: u16,
    pub record: u8,
}

impl Node {
    /// True for MF and ADFs.
    #[must_use]
    pub fn is_df(&self) -> bool {
        !matches!(self.kind, NodeKind::Ef { .. })
    }
}

/// The tree and the initial contents of its EFs.
#[derive(Clone, Debug)]
pub struct FileTree {
    pub nodes: Vec<Node>,
}

/// Index of the MF in [`FileTree::nodes`].
pub const MF_INDEX: usize = 0;

/// Record length of EF_DIR.
pub const EF_DIR_RECORD_LEN: usize = 0x26;
/// Record length of EF_IMPU.
pub const EF_IMPU_RECORD_LEN: usize = 0x60;
/// Size of the ISIM's EF_IMPI / EF_DOMAIN.
pub const ISIM_URI_FILE_SIZE: usize = 0x80;
/// Size of EF_IST.
pub const EF_IST_SIZE: usize = 4;
/// Size of EF_Keys / EF_KeysPS: KSI ‖ CK ‖ IK.
pub const EF_KEYS_SIZE: usize = 33;
/// KSI value meaning "no key available" (TS 31.102 §4.2.4).
pub const KSI_NO_KEY: u8 = 0x07;

/// FID given to ADF.USIM inside the card (ADFs are selected by AID or '7FFF').
pub const ADF_USIM_FID: u16 = 0x7FF0;
/// FID given to ADF.ISIM inside the card.
pub const ADF_ISIM_FID: u16 = 0x7FF1;

/// Build the tree and the initial file contents for a profile.
pub fn build(profile: &Profile) -> Result<(FileTree, Vec<Vec<u8>>), EfError> {
    let sizes = fixed::Sizes::of(profile);
    let mut b = Builder::new();
    builder::mf_files(&mut b, profile)?;
    let usim = builder::usim_files(&mut b, profile, &sizes)?;
    mandatory::usim_files(&mut b, usim, profile);
    if let Some(gba) = &sizes.usim_gba {
        builder::usim_gba_files(&mut b, usim, profile, gba)?;
    }
    let isim = match &profile.isim {
        Some(isim) => Some(builder::isim_files(&mut b, profile, isim, &sizes.isim_gba)?),
        None => None,
    };
    match profile.layout {
        Layout::Sja2 | Layout::Sja5 => sysmo::sja_files(&mut b, usim, isim, profile)?,
        Layout::Sjs1 => sjs1::sjs1_files(&mut b, usim, profile),
        Layout::Standard => {}
    }
    let (mut tree, mut contents) = b.finish();
    arr::attach(&mut tree, &mut contents, |t, i| {
        fixed::arr_shape(profile.layout, t, i)
    })?;
    Ok((tree, contents))
}

impl FileTree {
    /// The child of `df` with `fid`.
    #[must_use]
    pub fn child(&self, df: usize, fid: u16) -> Option<usize> {
        self.nodes
            .get(df)?
            .children
            .iter()
            .copied()
            .find(|c| self.nodes[*c].fid == fid)
    }

    /// The EF with short file identifier `sfi` under `df`.
    #[must_use]
    pub fn by_sfi(&self, df: usize, sfi: u8) -> Option<usize> {
        self.nodes
            .get(df)?
            .children
            .iter()
            .copied()
            .find(|c| matches!(self.nodes[*c].kind, NodeKind::Ef { sfi: Some(s), .. } if s == sfi))
    }

    /// The ADF whose AID starts with `prefix` (partial AID selection, TS 102 221 §8.4.1).
    #[must_use]
    pub fn adf_by_aid(&self, prefix: &[u8]) -> Option<usize> {
        self.nodes.iter().position(|n| matches!(&n.kind, NodeKind::Adf { aid, .. } if !prefix.is_empty() && aid.starts_with(prefix)))
    }

    /// The ADF of an application.
    #[must_use]
    pub fn adf(&self, app: App) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| matches!(&n.kind, NodeKind::Adf { app: a, .. } if *a == app))
    }

    /// True for an EF.ARR: '2F06' under the MF, '6F06' in an ADF.
    #[must_use]
    pub fn is_arr(&self, index: usize) -> bool {
        let Some(n) = self.nodes.get(index) else {
            return false;
        };
        let parent = n.parent.map(|p| &self.nodes[p].kind);
        matches!(n.kind, NodeKind::Ef { .. })
            && match parent {
                Some(NodeKind::Mf) => n.fid == ef::EF_ARR_MF,
                Some(NodeKind::Adf { .. }) => n.fid == ef::EF_ARR_ADF,
                _ => false,
            }
    }

    /// The EF.ARR a node's FCP reference resolves to (see [`ArrRef`]).
    #[must_use]
    pub fn arr_file(&self, index: usize) -> Option<usize> {
        let mut df = if index == MF_INDEX {
            MF_INDEX
        } else {
            self.nodes.get(index)?.parent?
        };
        loop {
            let found = self.nodes[df]
                .children
                .iter()
                .copied()
                .find(|c| self.is_arr(*c));
            if found.is_some() {
                return found;
            }
            df = self.nodes[df].parent?;
        }
    }

    /// The node at `path` (state-file key).
    #[must_use]
    pub fn by_path(&self, path: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.path == path)
    }

    /// The node whose contents a node shows: the one it is linked to, or itself.
    #[must_use]
    pub fn storage(&self, index: usize) -> usize {
        self.nodes.get(index).and_then(|n| n.link).unwrap_or(index)
    }

    /// The FIDs from the MF ('3F00' included) down to a node.
    #[must_use]
    pub fn fid_path(&self, index: usize) -> Vec<u16> {
        let mut path = Vec::new();
        let mut at = Some(index);
        while let Some(i) = at {
            path.push(self.nodes[i].fid);
            at = self.nodes[i].parent;
        }
        path.reverse();
        path
    }
}

/// FCP descriptor byte: working EF, transparent (TS 102 221 §11.1.1.4.3).
pub const FD_TRANSPARENT: u8 = 0x41;
/// FCP descriptor byte: working EF, linear fixed.
pub const FD_LINEAR_FIXED: u8 = 0x42;
/// FCP descriptor byte: DF or ADF.
pub const FD_DF: u8 = 0x78;
/// Data coding byte that follows the descriptor byte.
pub const DATA_CODING: u8 = 0x21;
/// Life cycle status: operational, activated.
pub const LCSI_ACTIVATED: u8 = 0x05;
/// FCP tag of the security attributes in referenced format (EF.ARR FID and record).
pub const TAG_SECURITY_ATTRIBUTES_REFERENCED: u32 = 0x8B;
/// FCP tag of the proprietary information template (TS 102 221 §11.1.1.4.6).
pub const TAG_PROPRIETARY: u32 = 0xA5;
/// Tag inside the proprietary template, seen on the SJS1 only: the path of the file a
/// linked EF shows (`9B 06 3F00 7F20 6F07`, pySim dump).
pub const TAG_LINK_PATH: u32 = 0x9B;
/// Key references listed in the PIN status template: PIN1, PIN2, ADM1.
pub const KEY_REFS: [u8; 3] = [0x01, 0x81, 0x0A];

/// The FCP template (tag '62') for a node. `pins_enabled` says, for [`KEY_REFS`] in order,
/// which are enabled (PS_DO bits, TS 102 221 §9.5.2).
pub fn fcp(tree: &FileTree, index: usize, pins_enabled: [bool; 3]) -> Vec<u8> {
    let n = &tree.nodes[index];
    let mut items: Vec<Tlv> = Vec::new();
    match &n.kind {
        NodeKind::Ef {
            structure,
            size,
            sfi,
            ..
        } => {
            match structure {
                Structure::Transparent => {
                    items.push(Tlv::new(0x82, vec![FD_TRANSPARENT, DATA_CODING]))
                }
                Structure::LinearFixed { record_len } => {
                    let count = if *record_len == 0 {
                        0
                    } else {
                        size / record_len
                    };
                    let [rl_hi, rl_lo] = (*record_len as u16).to_be_bytes();
                    items.push(Tlv::new(
                        0x82,
                        vec![FD_LINEAR_FIXED, DATA_CODING, rl_hi, rl_lo, count as u8],
                    ));
                }
            }
            items.push(Tlv::new(0x83, n.fid.to_be_bytes().to_vec()));
            if let Some(target) = n.link {
                let path: Vec<u8> = tree
                    .fid_path(target)
                    .iter()
                    .flat_map(|f| f.to_be_bytes())
                    .collect();
                let link = Tlv::new(TAG_LINK_PATH, path).to_bytes().unwrap_or_default();
                items.push(Tlv::new(TAG_PROPRIETARY, link));
            }
            items.push(Tlv::new(0x8A, vec![LCSI_ACTIVATED]));
            items.extend(security_attributes(n));
            items.push(Tlv::new(0x80, (*size as u16).to_be_bytes().to_vec()));
            items.push(Tlv::new(0x88, sfi.map_or_else(Vec::new, |s| vec![s << 3])));
        }
        NodeKind::Mf | NodeKind::Df | NodeKind::Adf { .. } => {
            items.push(Tlv::new(0x82, vec![FD_DF, DATA_CODING]));
            items.push(Tlv::new(0x83, n.fid.to_be_bytes().to_vec()));
            if let NodeKind::Adf { aid, .. } = &n.kind {
                items.push(Tlv::new(0x84, aid.clone()));
            }
            items.push(Tlv::new(0x8A, vec![LCSI_ACTIVATED]));
            items.extend(security_attributes(n));
            let mut ps = 0u8;
            for (i, on) in pins_enabled.iter().enumerate() {
                if *on {
                    ps |= 0x80 >> i;
                }
            }
            let mut c6 = Tlv::new(0x90, vec![ps]).to_bytes().unwrap_or_default();
            for k in KEY_REFS {
                c6.extend(Tlv::new(0x83, vec![k]).to_bytes().unwrap_or_default());
            }
            items.push(Tlv::new(0xC6, c6));
        }
    }
    let mut body = Vec::new();
    for t in items {
        body.extend(t.to_bytes().unwrap_or_default());
    }
    Tlv::new(0x62, body).to_bytes().unwrap_or_default()
}

/// Tag '8C' of an FCP (the rules in compact form), or else '8B' (the node's EF.ARR record).
fn security_attributes(n: &Node) -> Option<Tlv> {
    if let Some(value) = &n.compact {
        return Some(Tlv::new(
            compact::TAG_SECURITY_ATTRIBUTES_COMPACT,
            value.clone(),
        ));
    }
    let a = n.arr?;
    let [hi, lo] = a.fid.to_be_bytes();
    Some(Tlv::new(
        TAG_SECURITY_ATTRIBUTES_REFERENCED,
        vec![hi, lo, a.record],
    ))
}
