//! The UICC file system (TS 102 221 §8, TS 31.102 §4, TS 31.103 §4): the tree of MF, ADFs
//! and EFs with their structure, SFI and access conditions, built from a profile, and the
//! FCP templates SELECT answers with (TS 102 221 §11.1.1.3).

use gbau_core::ef::{self, EfError};
use gbau_core::tlv::Tlv;

use crate::profile::Profile;

/// Who may read or update a file (TS 102 221 §9, TS 31.102 §4.2 "Access Conditions").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

struct Builder {
    nodes: Vec<Node>,
    contents: Vec<Vec<u8>>,
}

impl Builder {
    fn add(
        &mut self,
        parent: usize,
        fid: u16,
        name: &str,
        kind: NodeKind,
        content: Vec<u8>,
    ) -> usize {
        let index = self.nodes.len();
        let prefix = if parent == MF_INDEX {
            "MF".to_owned()
        } else {
            self.nodes[parent].path.clone()
        };
        self.nodes.push(Node {
            fid,
            path: format!("{prefix}/{name}"),
            kind,
            parent: Some(parent),
            children: Vec::new(),
        });
        self.nodes[parent].children.push(index);
        self.contents.push(content);
        index
    }

    #[allow(clippy::too_many_arguments)]
    fn ef(
        &mut self,
        parent: usize,
        fid: u16,
        name: &str,
        sfi: Option<u8>,
        structure: Structure,
        read: Access,
        update: Access,
        content: Vec<u8>,
    ) -> usize {
        let size = content.len();
        self.add(
            parent,
            fid,
            name,
            NodeKind::Ef {
                structure,
                size,
                sfi,
                read,
                update,
            },
            content,
        )
    }

    fn adf(&mut self, fid: u16, name: &str, aid: Vec<u8>, app: App) -> usize {
        let index = self.nodes.len();
        self.nodes.push(Node {
            fid,
            path: name.to_owned(),
            kind: NodeKind::Adf { aid, app },
            parent: Some(MF_INDEX),
            children: Vec::new(),
        });
        self.nodes[MF_INDEX].children.push(index);
        self.contents.push(Vec::new());
        index
    }
}

/// FID given to ADF.USIM inside the card (ADFs are selected by AID or '7FFF').
pub const ADF_USIM_FID: u16 = 0x7FF0;
/// FID given to ADF.ISIM inside the card.
pub const ADF_ISIM_FID: u16 = 0x7FF1;

fn records(
    file: &'static str,
    recs: Vec<Vec<u8>>,
    count: usize,
    len: usize,
) -> Result<Vec<u8>, EfError> {
    let mut out = Vec::with_capacity(count * len);
    for r in &recs {
        out.extend(ef::pad_ff(file, r.clone(), len)?);
    }
    if recs.len() > count {
        return Err(EfError::TooLong {
            file,
            len: recs.len(),
            room: count,
        });
    }
    out.resize(count * len, 0xFF);
    Ok(out)
}

/// Build the tree and the initial file contents for a profile.
pub fn build(profile: &Profile) -> Result<(FileTree, Vec<Vec<u8>>), EfError> {
    use Access::{Adm1, Always, Pin1};
    use Structure::{LinearFixed, Transparent};
    let mut b = Builder {
        nodes: vec![Node {
            fid: ef::MF,
            path: "MF".into(),
            kind: NodeKind::Mf,
            parent: None,
            children: Vec::new(),
        }],
        contents: vec![Vec::new()],
    };
    let mut dir = vec![ef::encode_dir_record(
        &profile.usim_aid,
        "USIM",
        EF_DIR_RECORD_LEN,
    )?];
    if let Some(isim) = &profile.isim {
        dir.push(ef::encode_dir_record(&isim.aid, "ISIM", EF_DIR_RECORD_LEN)?);
    }
    let dir_records = dir.len().max(2);
    b.ef(
        MF_INDEX,
        ef::EF_DIR,
        "EF_DIR",
        Some(0x1E),
        LinearFixed {
            record_len: EF_DIR_RECORD_LEN,
        },
        Always,
        Adm1,
        records("EF_DIR", dir, dir_records, EF_DIR_RECORD_LEN)?,
    );
    let sysmo = profile.layout.sysmo_model().is_some();
    b.ef(
        MF_INDEX,
        ef::EF_ICCID,
        "EF_ICCID",
        Some(0x02),
        Transparent,
        Always,
        // Programmable cards let the ADM holder write the ICCID.
        if sysmo { Adm1 } else { Access::Never },
        ef::encode_iccid(&profile.iccid)?,
    );
    b.ef(
        MF_INDEX,
        ef::EF_PL,
        "EF_PL",
        Some(0x05),
        Transparent,
        Always,
        Pin1,
        b"en\xFF\xFF".to_vec(),
    );

    let usim = b.adf(ADF_USIM_FID, "USIM", profile.usim_aid.clone(), App::Usim);
    b.ef(
        usim,
        ef::EF_LI,
        "EF_LI",
        Some(0x02),
        Transparent,
        Always,
        Pin1,
        b"en\xFF\xFF".to_vec(),
    );
    b.ef(
        usim,
        ef::EF_IMSI,
        "EF_IMSI",
        Some(0x07),
        Transparent,
        Pin1,
        Adm1,
        ef::encode_imsi(&profile.imsi),
    );
    let mut keys = vec![0xFF; EF_KEYS_SIZE];
    keys[0] = KSI_NO_KEY;
    b.ef(
        usim,
        ef::EF_KEYS,
        "EF_Keys",
        Some(0x08),
        Transparent,
        Pin1,
        Pin1,
        keys.clone(),
    );
    b.ef(
        usim,
        ef::EF_KEYS_PS,
        "EF_KeysPS",
        Some(0x09),
        Transparent,
        Pin1,
        Pin1,
        keys,
    );
    b.ef(
        usim,
        ef::EF_UST,
        "EF_UST",
        Some(0x04),
        Transparent,
        Pin1,
        Adm1,
        ef::encode_service_table("EF_UST", &profile.services, profile.ust_size)?,
    );
    b.ef(
        usim,
        ef::EF_EST,
        "EF_EST",
        Some(0x05),
        Transparent,
        Pin1,
        Access::Pin2,
        vec![0x00],
    );
    b.ef(
        usim,
        ef::EF_ACC,
        "EF_ACC",
        Some(0x06),
        Transparent,
        Pin1,
        Adm1,
        ef::encode_acc(&profile.imsi),
    );
    b.ef(
        usim,
        ef::EF_AD,
        "EF_AD",
        Some(0x03),
        Transparent,
        Always,
        Adm1,
        ef::encode_ad(profile.mnc_length),
    );
    b.ef(
        usim,
        ef::EF_GBABP,
        "EF_GBABP",
        None,
        Transparent,
        Pin1,
        Pin1,
        vec![0xFF; profile.gba.gbabp_size],
    );
    let gbanl_len = profile.gba.gbanl_record_len;
    b.ef(
        usim,
        ef::EF_GBANL,
        "EF_GBANL",
        None,
        LinearFixed {
            record_len: gbanl_len,
        },
        Pin1,
        Adm1,
        vec![0xFF; gbanl_len * usize::from(profile.gba.gbanl_records)],
    );
    let kca_len = profile.gba.nafkca_record_len;
    let kca: Result<Vec<_>, _> = profile
        .gba
        .naf_key_centers
        .iter()
        .map(|f| ef::encode_tagged_text("EF_NAFKCA", f, kca_len))
        .collect();
    let kca_count = profile.gba.naf_key_centers.len().max(1);
    b.ef(
        usim,
        ef::EF_NAFKCA,
        "EF_NAFKCA",
        None,
        LinearFixed {
            record_len: kca_len,
        },
        Pin1,
        Adm1,
        records("EF_NAFKCA", kca?, kca_count, kca_len)?,
    );

    match profile.layout {
        crate::profile::Layout::Sja2 | crate::profile::Layout::Sja5 => {
            sysmo_files(&mut b, usim, profile);
        }
        crate::profile::Layout::Sjs1 => sjs1_files(&mut b, usim, profile),
        crate::profile::Layout::Standard => {}
    }

    if let Some(isim) = &profile.isim {
        let adf = b.adf(ADF_ISIM_FID, "ISIM", isim.aid.clone(), App::Isim);
        b.ef(
            adf,
            ef::EF_IMPI,
            "EF_IMPI",
            Some(0x02),
            Transparent,
            Pin1,
            Adm1,
            ef::encode_tagged_text("EF_IMPI", &isim.impi, ISIM_URI_FILE_SIZE)?,
        );
        b.ef(
            adf,
            ef::EF_DOMAIN,
            "EF_DOMAIN",
            Some(0x05),
            Transparent,
            Pin1,
            Adm1,
            ef::encode_tagged_text("EF_DOMAIN", &isim.domain, ISIM_URI_FILE_SIZE)?,
        );
        let impu: Result<Vec<_>, _> = isim
            .impu
            .iter()
            .map(|u| ef::encode_tagged_text("EF_IMPU", u, EF_IMPU_RECORD_LEN))
            .collect();
        let impu_count = isim.impu.len().max(1);
        b.ef(
            adf,
            ef::EF_IMPU,
            "EF_IMPU",
            Some(0x04),
            LinearFixed {
                record_len: EF_IMPU_RECORD_LEN,
            },
            Pin1,
            Adm1,
            records("EF_IMPU", impu?, impu_count, EF_IMPU_RECORD_LEN)?,
        );
        b.ef(
            adf,
            ef::EF_IST,
            "EF_IST",
            Some(0x07),
            Transparent,
            Pin1,
            Adm1,
            ef::encode_service_table("EF_IST", &isim.services, EF_IST_SIZE)?,
        );
        b.ef(
            adf,
            ef::EF_ISIM_GBABP,
            "EF_GBABP",
            None,
            Transparent,
            Pin1,
            Pin1,
            vec![0xFF; profile.gba.gbabp_size],
        );
        b.ef(
            adf,
            ef::EF_ISIM_GBANL,
            "EF_GBANL",
            None,
            LinearFixed {
                record_len: gbanl_len,
            },
            Pin1,
            Adm1,
            vec![0xFF; gbanl_len * usize::from(profile.gba.gbanl_records)],
        );
    }
    Ok((FileTree { nodes: b.nodes }, b.contents))
}

/// Size the emulation gives EF.GBA_SK, whose size and coding are not public: room for Ks
/// and RAND. The emulation keeps Ks in its own state, not in this file.
pub const EMULATED_GBA_SK_SIZE: usize = 48;

/// The proprietary files of the SJA2/SJA5 layout (`gbau_core::sysmo`), filled from the
/// profile; all read and written with ADM1.
fn sysmo_files(b: &mut Builder, usim: usize, profile: &Profile) {
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
fn sjs1_files(b: &mut Builder, usim: usize, profile: &Profile) {
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

    /// The node at `path` (state-file key).
    #[must_use]
    pub fn by_path(&self, path: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.path == path)
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
            items.push(Tlv::new(0x8A, vec![LCSI_ACTIVATED]));
            items.push(Tlv::new(0x8B, vec![0x6F, 0x06, 0x01]));
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
            items.push(Tlv::new(0x8B, vec![0x2F, 0x06, 0x01]));
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
