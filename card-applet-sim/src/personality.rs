//! The card's personality: which files hold its keys and SQN policy. With a sysmo layout
//! (SJA2/SJA5, SJS1; `gbau_core::sysmo`, proprietary, in no 3GPP specification) the card
//! takes K, OP/OPc, the Milenage constants, the RES length and the SQN policy from its own
//! files: ADF.USIM AF20 (EF.USIM_AUTH_KEY), AF30 (EF.USIM_SQN) and A515/6F21
//! (DF.SYSTEM/EF.MILENAGE_CFG) on the SJA2/SJA5; 7FCC/6F00 (EF.AUTH), 7FCC/6F01 (EF.MLNGC),
//! 7F20/00FF (Ki), 7F20/00F7 (OPc) and ADF.USIM 00FB/00FA (SQNC, SQNA) on the SJS1. The
//! standard layout takes them from the profile and has no such files.
//!
//! This module only reads and classifies files; the card applies what it finds.

use gbau_core::milenage::{Milenage, MilenageConstants};
use gbau_core::sqn::{SqnArray, SqnPolicy, IND_SLOTS};
use gbau_core::sysmo::{self, Model};

use crate::fs::{App, FileTree, MF_INDEX};
use crate::profile::Layout;

/// The card's files as the personality reads them: the tree and the contents of its EFs.
#[derive(Clone, Copy)]
pub(crate) struct Files<'a> {
    pub tree: &'a FileTree,
    pub contents: &'a [Vec<u8>],
}

impl<'a> Files<'a> {
    fn bytes(&self, in_usim: bool, path: &[u16], name: &str) -> Result<&'a [u8], String> {
        let contents = self.contents;
        file_at(self.tree, in_usim, path)
            .and_then(|i| contents.get(i))
            .map(Vec::as_slice)
            .ok_or_else(|| format!("{name} missing"))
    }
}

/// The contents of the EF at `path` from the MF, or from ADF.USIM.
fn file_at(tree: &FileTree, in_usim: bool, path: &[u16]) -> Option<usize> {
    let mut at = if in_usim {
        tree.adf(App::Usim)?
    } else {
        MF_INDEX
    };
    for fid in path {
        at = tree.child(at, *fid)?;
    }
    Some(at)
}

/// What a sysmo model's key files say.
pub(crate) struct Keys {
    /// Milenage with the files' K, OPc and constants.
    pub milenage: Milenage,
    /// EF.USIM_AUTH_KEY asks for 4-byte RES.
    pub res_4_bytes: bool,
    /// The SQN policy of the SQN file.
    pub policy: SqnPolicy,
}

/// The raw contents of the key files, before the Milenage instance is made.
struct RawKeys {
    k: [u8; 16],
    op_or_opc: [u8; 16],
    use_opc: bool,
    res_4_bytes: bool,
    constants: MilenageConstants,
    policy: SqnPolicy,
}

fn text(e: sysmo::SysmoError) -> String {
    e.to_string()
}

/// The keys a sysmo model's proprietary files hold; the error says why they cannot be used.
pub(crate) fn keys(model: Model, files: Files<'_>) -> Result<Keys, String> {
    use gbau_core::secret::{Op, Opc, K};
    let raw = match model {
        Model::Sja2 | Model::Sja5 => sja_keys(files)?,
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
    })
}

/// SJA2/SJA5: EF.USIM_AUTH_KEY, DF.SYSTEM/EF.MILENAGE_CFG and EF.USIM_SQN.
fn sja_keys(files: Files<'_>) -> Result<RawKeys, String> {
    let key = sysmo::decode_auth_key(files.bytes(
        true,
        &[sysmo::EF_USIM_AUTH_KEY],
        "EF.USIM_AUTH_KEY",
    )?)
    .map_err(text)?;
    if key.algorithm != sysmo::ALGO_MILENAGE {
        return Err(format!(
            "EF.USIM_AUTH_KEY: algorithm {} is not emulated (only Milenage, 4)",
            key.algorithm
        ));
    }
    let constants = sysmo::decode_milenage_cfg(files.bytes(
        false,
        &[sysmo::DF_SYSTEM, sysmo::EF_MILENAGE_CFG],
        "EF.MILENAGE_CFG",
    )?)
    .map_err(text)?;
    let policy = sysmo::SqnFile::decode(files.bytes(true, &[sysmo::EF_USIM_SQN], "EF.USIM_SQN")?)
        .and_then(|f| f.policy())
        .map_err(text)?;
    Ok(RawKeys {
        k: key.k,
        op_or_opc: key.op_or_opc,
        use_opc: key.use_opc,
        res_4_bytes: key.res_4_bytes,
        constants,
        policy,
    })
}

/// SJS1: 7FCC/EF.AUTH and EF.MLNGC, DF.GSM/Ki and OPc, and the USIM's SQNC.
fn sjs1_keys(files: Files<'_>) -> Result<RawKeys, String> {
    let algorithms = files.bytes(
        false,
        &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_AUTH],
        "EF.AUTH",
    )?;
    if algorithms.get(1) != Some(&sysmo::SJS1_ALGO_MILENAGE) {
        return Err("EF.AUTH: the 3G algorithm is not Milenage (01)".into());
    }
    let constants = sysmo::decode_sjs1_mlngc(files.bytes(
        false,
        &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_MLNGC],
        "EF.MLNGC",
    )?)
    .map_err(text)?;
    let ki = files.bytes(false, &[sysmo::DF_GSM, sysmo::SJS1_EF_KI], "Ki")?;
    let opc = files.bytes(false, &[sysmo::DF_GSM, sysmo::SJS1_EF_OPC], "OPc")?;
    let (Ok(k), Some(Ok(op_or_opc))) = (
        <[u8; 16]>::try_from(ki.get(..16).unwrap_or_default()),
        opc.get(1..17).map(<[u8; 16]>::try_from),
    ) else {
        return Err("Ki or OPc file too short".into());
    };
    let use_opc = opc.first() == Some(&sysmo::SJS1_OPC_FLAG);
    let policy = sysmo::sjs1_sqnc_policy(files.bytes(true, &[sysmo::SJS1_EF_SQNC], "SQNC")?)
        .map_err(text)?;
    Ok(RawKeys {
        k,
        op_or_opc,
        use_opc,
        res_4_bytes: false,
        constants,
        policy,
    })
}

/// Where the freshness array lives: (in ADF.USIM, FID, offset of the array).
pub(crate) fn sqn_array_file(layout: Layout) -> Option<(u16, usize)> {
    match layout.sysmo_model()? {
        Model::Sja2 | Model::Sja5 => Some((sysmo::EF_USIM_SQN, 14)),
        Model::Sjs1 => Some((sysmo::SJS1_EF_SQNA, 0)),
    }
}

/// The freshness array as the layout's SQN file holds it, written over `slots` (each entry
/// the SQN with IND in its low bits, kept as SEQ).
pub(crate) fn read_sqn_array(
    layout: Layout,
    files: Files<'_>,
    slots: &mut [u64; IND_SLOTS],
) -> Result<(), String> {
    if let Some((fid, offset)) = sqn_array_file(layout) {
        let bytes = files.bytes(true, &[fid], "SQN array")?;
        let entries = sysmo::decode_sqn_array(bytes.get(offset..).unwrap_or_default());
        for (slot, entry) in slots.iter_mut().zip(&entries) {
            *slot = entry >> gbau_core::sqn::IND_BITS;
        }
    }
    Ok(())
}

/// Sysmo layouts: after the SQN array changed, the card's SQN file shows it (each entry
/// the last SQN accepted in its IND slot, as gbau reads the file **[to confirm]**).
pub(crate) fn mirror_sqn(
    layout: Layout,
    tree: &FileTree,
    contents: &mut [Vec<u8>],
    sqn: &SqnArray,
) {
    let Some((fid, offset)) = sqn_array_file(layout) else {
        return;
    };
    let Some(index) = file_at(tree, true, &[fid]) else {
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

/// What writing a file does to the card's own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// A key, algorithm or SQN-policy file: the keys are read again.
    Keys,
    /// The SQN file with the freshness array: the keys and the array are read again.
    SqnArray,
    /// EF.GBA_SK: clearing it forgets the bootstrapped key.
    GbaKey,
    /// EF.GBA_REC_LIST or EF.GBA_INT_KEY: clearing them forgets the NAF keys.
    NafKeys,
    /// Any other file: nothing more.
    Nothing,
}

/// Sysmo layouts: what writing the file at `index` does to the card's own state.
pub(crate) fn written(layout: Layout, tree: &FileTree, index: usize) -> Written {
    if layout.sysmo_model().is_none() {
        return Written::Nothing;
    }
    let parent = tree.nodes[index].parent.map(|p| tree.nodes[p].fid);
    let in_usim = tree.nodes[index].parent == tree.adf(App::Usim);
    match (tree.nodes[index].fid, parent) {
        (sysmo::EF_USIM_AUTH_KEY, _) if in_usim => Written::Keys,
        (sysmo::EF_MILENAGE_CFG, Some(sysmo::DF_SYSTEM)) => Written::Keys,
        (sysmo::SJS1_EF_AUTH | sysmo::SJS1_EF_MLNGC, Some(sysmo::SJS1_DF_PROPRIETARY))
        | (sysmo::SJS1_EF_KI | sysmo::SJS1_EF_OPC, Some(sysmo::DF_GSM)) => Written::Keys,
        (sysmo::SJS1_EF_SQNC, _) if in_usim => Written::Keys,
        (sysmo::EF_USIM_SQN | sysmo::SJS1_EF_SQNA, _) if in_usim => Written::SqnArray,
        // Clearing the GBA files forgets the bootstrapped key and the NAF keys.
        (sysmo::EF_GBA_SK, _) if in_usim => Written::GbaKey,
        (sysmo::EF_GBA_REC_LIST | sysmo::EF_GBA_INT_KEY, _) if in_usim => Written::NafKeys,
        _ => Written::Nothing,
    }
}

/// True for the files that hold key material (the sysmo layouts' key and GBA key files),
/// by state-file path: logs then show the length of what is read or written, not the bytes.
#[must_use]
pub(crate) fn holds_keys(path: &str) -> bool {
    const KEY_FILES: [&str; 8] = [
        "USIM/EF_USIM_AUTH_KEY",
        "USIM/EF_USIM_AUTH_KEY_2G",
        "USIM/EF_GBA_SK",
        "USIM/EF_GBA_INT_KEY",
        "MF/DF_SYSTEM/EF_MILENAGE_CFG",
        "MF/DF_7FCC/EF_MLNGC",
        "MF/DF_GSM/EF_KI",
        "MF/DF_GSM/EF_OPC",
    ];
    KEY_FILES.contains(&path)
}
