//! Building the standard part of the file tree from a profile, one step per file group:
//! the EFs under the MF (TS 102 221 §13), ADF.USIM with its EFs, the GBA ones included
//! (TS 31.102 §4.2), and ADF.ISIM with its EFs (TS 31.103 §4.2). [`super::build`] puts the
//! steps together.

use gbau_core::ef::{self, EfError};

use super::fixed::{GbaSizes, Sizes};
use super::{
    compact, Access, App, FileTree, Node, NodeKind, Structure, ADF_ISIM_FID, ADF_USIM_FID,
    EF_DIR_RECORD_LEN, EF_IMPU_RECORD_LEN, EF_IST_SIZE, EF_KEYS_SIZE, ISIM_URI_FILE_SIZE,
    KSI_NO_KEY, MF_INDEX,
};
use crate::profile::{IsimProfile, Layout, Profile};

pub(super) struct Builder {
    nodes: Vec<Node>,
    contents: Vec<Vec<u8>>,
}

impl Builder {
    /// A builder holding only the MF.
    pub(super) fn new() -> Self {
        Self {
            nodes: vec![Node {
                fid: ef::MF,
                path: "MF".into(),
                kind: NodeKind::Mf,
                parent: None,
                children: Vec::new(),
                arr: None,
                compact: None,
                link: None,
            }],
            contents: vec![Vec::new()],
        }
    }

    /// The tree and the initial contents of its EFs.
    pub(super) fn finish(self) -> (FileTree, Vec<Vec<u8>>) {
        (FileTree { nodes: self.nodes }, self.contents)
    }

    pub(super) fn add(
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
            arr: None,
            compact: None,
            link: None,
        });
        self.nodes[parent].children.push(index);
        self.contents.push(content);
        index
    }

    /// The EF at `index` states its rules in compact form ('8C'), with the `extra` modes
    /// granted to ADM1, instead of an EF.ARR reference.
    pub(super) fn compact(
        &mut self,
        index: usize,
        extra: gbau_core::arr::AccessModes,
    ) -> Result<(), EfError> {
        if let NodeKind::Ef { read, update, .. } = self.nodes[index].kind {
            self.nodes[index].compact = Some(compact::encode("FCP '8C'", read, update, extra)?);
        }
        Ok(())
    }

    /// The child of `parent` with `fid`.
    pub(super) fn child(&self, parent: usize, fid: u16) -> Option<usize> {
        self.nodes[parent]
            .children
            .iter()
            .copied()
            .find(|c| self.nodes[*c].fid == fid)
    }

    /// The EF at `from` shows the contents of the EF at `to` (its own size and contents go).
    pub(super) fn link(&mut self, from: usize, to: usize) {
        let target = self.nodes[to].kind.clone();
        if let (
            NodeKind::Ef { size, .. },
            NodeKind::Ef {
                size: target_size, ..
            },
        ) = (&mut self.nodes[from].kind, target)
        {
            *size = target_size;
        }
        self.nodes[from].link = Some(to);
        self.contents[from] = Vec::new();
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn ef(
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

    /// An EF.ARR (TS 102 221 §13.4): its records are written once the tree is complete
    /// (`super::arr::attach`). Nobody may update it: the card's rules come from the tree, and
    /// the file only describes them.
    pub(super) fn arr(&mut self, parent: usize, fid: u16, sfi: u8) -> usize {
        self.ef(
            parent,
            fid,
            "EF_ARR",
            Some(sfi),
            Structure::LinearFixed { record_len: 0 },
            Access::Always,
            Access::Never,
            Vec::new(),
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
            arr: None,
            compact: None,
            link: None,
        });
        self.nodes[MF_INDEX].children.push(index);
        self.contents.push(Vec::new());
        index
    }
}

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

/// The EFs under the MF: EF_DIR (one record per application), EF_ICCID, EF_PL and EF_ARR.
pub(super) fn mf_files(b: &mut Builder, profile: &Profile) -> Result<(), EfError> {
    use Access::{Adm1, Always, Pin1};
    use Structure::{LinearFixed, Transparent};
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
    b.ef(
        MF_INDEX,
        ef::EF_ICCID,
        "EF_ICCID",
        Some(0x02),
        Transparent,
        Always,
        // The SJS1 lets the ADM1 holder write the ICCID (its FCP names MF EF.ARR record 4:
        // UPDATE ADM1); the SJA2/SJA5 never do (record 2: UPDATE never; pySim dumps, and
        // pySim's "must be kept at its factory setting").
        if profile.layout == Layout::Sjs1 {
            Adm1
        } else {
            Access::Never
        },
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
    b.arr(MF_INDEX, ef::EF_ARR_MF, ef::SFI_ARR_MF);
    Ok(())
}

/// ADF.USIM with EF_ARR and the EFs gbau had before the other mandatory ones
/// (`super::mandatory`), the GBA ones aside; the ADF's index.
pub(super) fn usim_files(
    b: &mut Builder,
    profile: &Profile,
    sizes: &Sizes,
) -> Result<usize, EfError> {
    use Access::{Adm1, Always, Pin1};
    use Structure::Transparent;
    let usim = b.adf(ADF_USIM_FID, "USIM", profile.usim_aid.clone(), App::Usim);
    b.arr(usim, ef::EF_ARR_ADF, ef::SFI_ARR_USIM);
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
        ef::encode_service_table("EF_UST", &profile.services, sizes.ust)?,
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
        super::fixed::usim_ad(profile),
    );
    Ok(usim)
}

/// The GBA EFs of an application: EF_GBABP, EF_GBANL and, if it has one, EF_NAFKCA
/// (filled with the profile's NAF Key Centers), sized as `sizes` say.
fn gba_files(
    b: &mut Builder,
    adf: usize,
    fids: [u16; 3],
    profile: &Profile,
    sizes: &GbaSizes,
) -> Result<(), EfError> {
    use Access::{Adm1, Pin1};
    use Structure::{LinearFixed, Transparent};
    b.ef(
        adf,
        fids[0],
        "EF_GBABP",
        None,
        Transparent,
        Pin1,
        Pin1,
        vec![0xFF; sizes.gbabp],
    );
    let (gbanl_count, gbanl_len) = sizes.gbanl;
    b.ef(
        adf,
        fids[1],
        "EF_GBANL",
        None,
        LinearFixed {
            record_len: gbanl_len,
        },
        Pin1,
        Adm1,
        vec![0xFF; gbanl_len * gbanl_count],
    );
    let Some((kca_count, kca_len)) = sizes.nafkca else {
        return Ok(());
    };
    let kca: Result<Vec<_>, _> = profile
        .gba
        .naf_key_centers
        .iter()
        .map(|f| ef::encode_tagged_text("EF_NAFKCA", f, kca_len))
        .collect();
    b.ef(
        adf,
        fids[2],
        "EF_NAFKCA",
        None,
        LinearFixed {
            record_len: kca_len,
        },
        Pin1,
        Adm1,
        records("EF_NAFKCA", kca?, kca_count, kca_len)?,
    );
    Ok(())
}

/// The GBA EFs of ADF.USIM: EF_GBABP, EF_GBANL and EF_NAFKCA.
pub(super) fn usim_gba_files(
    b: &mut Builder,
    usim: usize,
    profile: &Profile,
    sizes: &GbaSizes,
) -> Result<(), EfError> {
    let fids = [ef::EF_GBABP, ef::EF_GBANL, ef::EF_NAFKCA];
    gba_files(b, usim, fids, profile, sizes)
}

/// ADF.ISIM and its EFs: EF_ARR, EF_IMPI, EF_DOMAIN, EF_IMPU, EF_IST and the GBA EFs; the
/// ADF's index.
pub(super) fn isim_files(
    b: &mut Builder,
    profile: &Profile,
    isim: &IsimProfile,
    gba: &GbaSizes,
) -> Result<usize, EfError> {
    use Access::{Adm1, Pin1};
    use Structure::{LinearFixed, Transparent};
    let adf = b.adf(ADF_ISIM_FID, "ISIM", isim.aid.clone(), App::Isim);
    b.arr(adf, ef::EF_ARR_ADF, ef::SFI_ARR_ISIM);
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
    let fids = [ef::EF_ISIM_GBABP, ef::EF_ISIM_GBANL, ef::EF_NAFKCA];
    gba_files(b, adf, fids, profile, gba)?;
    Ok(adf)
}
