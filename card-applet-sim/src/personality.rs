//! The card's personality: which files hold its keys and SQN policy. With a sysmo layout
//! (SJA2/SJA5, SJS1; `gbau_core::sysmo`, proprietary, in no 3GPP specification) the card
//! takes K, OP/OPc, the Milenage constants, the RES length and the SQN policy from its own
//! files: on the SJA2/SJA5 AF20 (EF.USIM_AUTH_KEY) and AF30 (EF.USIM_SQN) of ADF.USIM, or
//! ADF.ISIM's own when the ISIM authenticates, and A515/6F21 (DF.SYSTEM/EF.MILENAGE_CFG);
//! on the SJS1 7FCC/6F00 (EF.AUTH), 7FCC/6F01 (EF.MLNGC), 7F20/00FF (Ki), 7F20/00F7 (OPc)
//! and ADF.USIM 00FB/00FA (SQNC, SQNA). The standard layout takes them from the profile and
//! has no such files.
//!
//! This module only reads and classifies files; the card applies what it finds.

use gbau_core::milenage::{Milenage, MilenageConstants};
use gbau_core::sqn::{SqnArray, SqnPolicy, IND_SLOTS};
use gbau_core::sysmo::{self, Model};

use crate::fs::{App, FileTree, MF_INDEX};
use crate::profile::Layout;

/// Where a file's FID path starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Under {
    Mf,
    Adf(App),
}

/// The card's files as the personality reads them: the tree and the contents of its EFs.
#[derive(Clone, Copy)]
pub(crate) struct Files<'a> {
    pub tree: &'a FileTree,
    pub contents: &'a [Vec<u8>],
}

impl<'a> Files<'a> {
    fn bytes(&self, under: Under, path: &[u16], name: &str) -> Result<&'a [u8], String> {
        let contents = self.contents;
        file_at(self.tree, under, path)
            .and_then(|i| contents.get(self.tree.storage(i)))
            .map(Vec::as_slice)
            .ok_or_else(|| format!("{name} missing"))
    }
}

/// The EF at `path` from the MF or from an ADF.
fn file_at(tree: &FileTree, under: Under, path: &[u16]) -> Option<usize> {
    let mut at = match under {
        Under::Mf => MF_INDEX,
        Under::Adf(app) => tree.adf(app)?,
    };
    for fid in path {
        at = tree.child(at, *fid)?;
    }
    Some(at)
}

/// What a sysmo model's key files say for one application.
pub(crate) struct Keys {
    /// Milenage with the files' K, OPc and constants.
    pub milenage: Milenage,
    /// EF.USIM_AUTH_KEY asks for 4-byte RES.
    pub res_4_bytes: bool,
    /// The SQN policy of the SQN file.
    pub policy: SqnPolicy,
    /// SJA2/SJA5: EF.USIM_SQN flag2, which says whether SQN is concealed with AK in AUTN and
    /// AUTS (`gbau_core::sysmo::SQN_FLAG2_*`); the standard value elsewhere.
    pub sqn_flag2: u8,
}

/// The raw contents of the key files, before the Milenage instance is made.
struct RawKeys {
    k: [u8; 16],
    op_or_opc: [u8; 16],
    use_opc: bool,
    res_4_bytes: bool,
    constants: MilenageConstants,
    policy: SqnPolicy,
    sqn_flag2: u8,
}

fn text(e: sysmo::SysmoError) -> String {
    e.to_string()
}

/// The keys a sysmo model's proprietary files hold for `app` (the SJA2/SJA5 ISIM has its
/// own AF20 and AF30; the SJS1 has no ISIM); the error says why they cannot be used.
pub(crate) fn keys(model: Model, files: Files<'_>, app: App) -> Result<Keys, String> {
    use gbau_core::secret::{Op, Opc, K};
    let raw = match model {
        Model::Sja2 | Model::Sja5 => sja_keys(files, app)?,
        Model::Sjs1 => sjs1_keys(files)?,
    };
    let k = K::new(raw.k);
    let opc = if raw.use_opc {
        Opc::new(raw.op_or_opc)
    } else {
        gbau_core::milenage::opc_from_op(&k, &Op::new(raw.op_or_opc))
    };
    let milenage = Milenage::with_constants(&k, opc, raw.constants)
        .map_err(|e| format!("Milenage constants: {e}"))?;
    Ok(Keys {
        milenage,
        res_4_bytes: raw.res_4_bytes,
        policy: raw.policy,
        sqn_flag2: raw.sqn_flag2,
    })
}

/// SJA2/SJA5: the application's EF.USIM_AUTH_KEY and EF.USIM_SQN, DF.SYSTEM/EF.MILENAGE_CFG.
/// flag2 of the SQN file is taken as it is: the card conceals SQN or not as it says.
fn sja_keys(files: Files<'_>, app: App) -> Result<RawKeys, String> {
    let adf = Under::Adf(app);
    let key =
        sysmo::decode_auth_key(files.bytes(adf, &[sysmo::EF_USIM_AUTH_KEY], "EF.USIM_AUTH_KEY")?)
            .map_err(text)?;
    if key.algorithm != sysmo::ALGO_MILENAGE {
        return Err(format!(
            "EF.USIM_AUTH_KEY: algorithm {} is not emulated (only Milenage, 4)",
            key.algorithm
        ));
    }
    let constants = sysmo::decode_milenage_cfg(files.bytes(
        Under::Mf,
        &[sysmo::DF_SYSTEM, sysmo::EF_MILENAGE_CFG],
        "EF.MILENAGE_CFG",
    )?)
    .map_err(text)?;
    let sqn = sysmo::SqnFile::decode(files.bytes(adf, &[sysmo::EF_USIM_SQN], "EF.USIM_SQN")?)
        .map_err(text)?;
    let sqn_flag2 = sqn.flag2;
    let policy = sysmo::SqnFile {
        flag2: sysmo::SQN_FLAG2_STANDARD,
        ..sqn
    }
    .policy()
    .map_err(text)?;
    Ok(RawKeys {
        k: key.k,
        op_or_opc: key.op_or_opc,
        use_opc: key.use_opc,
        res_4_bytes: key.res_4_bytes,
        constants,
        policy,
        sqn_flag2,
    })
}

/// SJS1: 7FCC/EF.AUTH and EF.MLNGC, DF.GSM/Ki and OPc, and the USIM's SQNC.
fn sjs1_keys(files: Files<'_>) -> Result<RawKeys, String> {
    let algorithms = files.bytes(
        Under::Mf,
        &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_AUTH],
        "EF.AUTH",
    )?;
    if algorithms.get(1) != Some(&sysmo::SJS1_ALGO_MILENAGE) {
        return Err("EF.AUTH: the 3G algorithm is not Milenage (01)".into());
    }
    let constants = sysmo::decode_sjs1_mlngc(files.bytes(
        Under::Mf,
        &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_MLNGC],
        "EF.MLNGC",
    )?)
    .map_err(text)?;
    let ki = files.bytes(Under::Mf, &[sysmo::DF_GSM, sysmo::SJS1_EF_KI], "Ki")?;
    let opc = files.bytes(Under::Mf, &[sysmo::DF_GSM, sysmo::SJS1_EF_OPC], "OPc")?;
    let (Ok(k), Some(Ok(op_or_opc))) = (
        <[u8; 16]>::try_from(ki.get(..16).unwrap_or_default()),
        opc.get(1..17).map(<[u8; 16]>::try_from),
    ) else {
        return Err("Ki or OPc file too short".into());
    };
    let use_opc = opc.first() == Some(&sysmo::SJS1_OPC_FLAG);
    let usim = Under::Adf(App::Usim);
    let policy = sysmo::sjs1_sqnc_policy(files.bytes(usim, &[sysmo::SJS1_EF_SQNC], "SQNC")?)
        .map_err(text)?;
    Ok(RawKeys {
        k,
        op_or_opc,
        use_opc,
        res_4_bytes: false,
        constants,
        policy,
        sqn_flag2: sysmo::SQN_FLAG2_STANDARD,
    })
}

/// Where the freshness array lives: (FID in the application's ADF, offset of the array).
pub(crate) fn sqn_array_file(layout: Layout) -> Option<(u16, usize)> {
    match layout.sysmo_model()? {
        Model::Sja2 | Model::Sja5 => Some((sysmo::EF_USIM_SQN, 14)),
        Model::Sjs1 => Some((sysmo::SJS1_EF_SQNA, 0)),
    }
}

/// The freshness array as the application's SQN file holds it, written over `slots` (each
/// entry the SQN with IND in its low bits, kept as SEQ).
pub(crate) fn read_sqn_array(
    layout: Layout,
    files: Files<'_>,
    app: App,
    slots: &mut [u64; IND_SLOTS],
) -> Result<(), String> {
    if let Some((fid, offset)) = sqn_array_file(layout) {
        let bytes = files.bytes(Under::Adf(app), &[fid], "SQN array")?;
        let entries = sysmo::decode_sqn_array(bytes.get(offset..).unwrap_or_default());
        for (slot, entry) in slots.iter_mut().zip(&entries) {
            *slot = entry >> gbau_core::sqn::IND_BITS;
        }
    }
    Ok(())
}

/// Sysmo layouts: after the SQN array changed, the application's SQN file shows it (each
/// entry the last SQN accepted in its IND slot, as gbau reads the file **[to confirm]**).
pub(crate) fn mirror_sqn(
    layout: Layout,
    tree: &FileTree,
    contents: &mut [Vec<u8>],
    app: App,
    sqn: &SqnArray,
) {
    let Some((fid, offset)) = sqn_array_file(layout) else {
        return;
    };
    let Some(index) = file_at(tree, Under::Adf(app), &[fid]) else {
        return;
    };
    let entries: Vec<u64> = sqn
        .slots()
        .iter()
        .enumerate()
        .map(|(i, seq)| {
            if *seq == 0 {
                0
            } else {
                (seq << gbau_core::sqn::IND_BITS) | i as u64
            }
        })
        .collect();
    let bytes = gbau_core::sysmo::encode_sqn_array(&entries);
    if let Some(dest) = contents[index].get_mut(offset..offset + bytes.len()) {
        dest.copy_from_slice(&bytes);
    }
}

/// SJA2/SJA5: the index of the application's EF.USIM_SQN when its flag1 asks to skip the
/// next SQN check (b7, set as delivered: the factory `d5`).
pub(crate) fn pending_skip(layout: Layout, files: Files<'_>, app: App) -> Option<usize> {
    if !matches!(layout, Layout::Sja2 | Layout::Sja5) {
        return None;
    }
    let index = file_at(files.tree, Under::Adf(app), &[sysmo::EF_USIM_SQN])?;
    let flag1 = files.contents.get(index)?.first()?;
    (flag1 & sysmo::SQN_SKIP_NEXT_CHECK != 0).then_some(index)
}

/// SJS1: the index of ADF.USIM's authentication counter (00FE).
pub(crate) fn auth_counter(layout: Layout, tree: &FileTree) -> Option<usize> {
    if layout != Layout::Sjs1 {
        return None;
    }
    file_at(tree, Under::Adf(App::Usim), &[sysmo::SJS1_EF_AUTH_COUNTER])
}

/// What writing a file does to the card's own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// A key, algorithm or SQN-policy file: the application's keys are read again.
    Keys(App),
    /// The SQN file with the freshness array: the keys and the array are read again.
    SqnArray(App),
    /// A file shared by the applications (EF.MILENAGE_CFG): every application's keys.
    AllKeys,
    /// Any other file: nothing more. (The SJA2/SJA5 GBA files AF31–AF33 cannot be written.)
    Nothing,
}

/// Sysmo layouts: what writing the file at `index` does to the card's own state.
pub(crate) fn written(layout: Layout, tree: &FileTree, index: usize) -> Written {
    if layout.sysmo_model().is_none() {
        return Written::Nothing;
    }
    let parent = tree.nodes[index].parent;
    let parent_fid = parent.map(|p| tree.nodes[p].fid);
    let app = [App::Usim, App::Isim]
        .into_iter()
        .find(|a| parent.is_some() && parent == tree.adf(*a));
    match (tree.nodes[index].fid, parent_fid, app) {
        (sysmo::EF_USIM_AUTH_KEY, _, Some(app)) => Written::Keys(app),
        (sysmo::EF_MILENAGE_CFG, Some(sysmo::DF_SYSTEM), _) => Written::AllKeys,
        (sysmo::SJS1_EF_AUTH | sysmo::SJS1_EF_MLNGC, Some(sysmo::SJS1_DF_PROPRIETARY), _)
        | (sysmo::SJS1_EF_KI | sysmo::SJS1_EF_OPC, Some(sysmo::DF_GSM), _) => {
            Written::Keys(App::Usim)
        }
        (sysmo::SJS1_EF_SQNC, _, Some(App::Usim)) => Written::Keys(App::Usim),
        (sysmo::EF_USIM_SQN | sysmo::SJS1_EF_SQNA, _, Some(app)) => Written::SqnArray(app),
        _ => Written::Nothing,
    }
}

/// True for the files that hold key material (the sysmo layouts' key and GBA key files),
/// by state-file path: logs then show the length of what is read or written, not the bytes.
#[must_use]
pub(crate) fn holds_keys(path: &str) -> bool {
    const KEY_FILES: [&str; 10] = [
        "USIM/EF_USIM_AUTH_KEY",
        "USIM/EF_USIM_AUTH_KEY_2G",
        "ISIM/EF_ISIM_AUTH_KEY",
        "ISIM/EF_ISIM_AUTH_KEY_2G",
        "USIM/EF_GBA_SK",
        "USIM/EF_GBA_INT_KEY",
        "MF/DF_SYSTEM/EF_MILENAGE_CFG",
        "MF/DF_7FCC/EF_MLNGC",
        "MF/DF_GSM/EF_KI",
        "MF/DF_GSM/EF_OPC",
    ];
    KEY_FILES.contains(&path)
}
