//! The card as a function: `process(command) -> response`, `reset()`, `atr()`. No I/O, no
//! clock, no threads: the persistence and transport adapters live around it.

use gbau_core::aka::{build_auts, verify_autn, Autn, AutnKind, Rand};
use gbau_core::ef::{self, GbaBootstrapParams, GbaNafEntry};
use gbau_core::identity::{BTid, Impi, NafId};
use gbau_core::kdf::{ks_ext_naf, ks_int_naf};
use gbau_core::milenage::{c2_sres, c3_kc, Milenage};
use gbau_core::secret::{Ks, KsIntNaf};
use gbau_core::sqn::SqnArray;
use gbau_core::tlv::write_lv;
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};
use tracing::debug;

use crate::command::{
    AuthContext, Command, EfTarget, GbaMode, KeyRef, RecordMode, SelectBy, SelectResponse,
    StatusResponse, TAG_AUTH_SUCCESS, TAG_SYNC_FAILURE,
};
use crate::fs::{self, Access, App, FileTree, NodeKind, Structure, MF_INDEX};
use crate::pin::{self, Pin};
use crate::profile::{Profile, Protocol};

/// IST service of the ISIM that enables the GBA context. TS 31.103 §4.2.7 lists GBA as ISIM
/// service 2 as recalled here **[to confirm]**.
pub const ISIM_SERVICE_GBA: u16 = 2;

/// The GBA_U bootstrapping result kept on the card (TS 33.220 Annex G.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GbaBootstrap {
    pub ks: Ks,
    pub rand: Rand,
    /// The application whose AUTHENTICATE produced it.
    pub app: App,
}

/// A Ks_int_NAF kept with its NAF_Id and B-TID (the card-side half of an EF_GBANL record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NafKey {
    pub naf_id: Vec<u8>,
    pub b_tid: String,
    pub ks_int_naf: KsIntNaf,
}

/// The NAF keys of one application: one slot per EF_GBANL record, and the record numbers in
/// least-recently-used order (most recent first).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NafStore {
    pub slots: Vec<Option<NafKey>>,
    pub lru: Vec<u8>,
}

impl NafStore {
    fn new(records: u8) -> Self {
        Self {
            slots: vec![None; usize::from(records)],
            lru: Vec::new(),
        }
    }

    /// Record number (1-based) for a NAF_Id: its own, a free one, or the least recently used.
    fn slot_for(&self, naf_id: &[u8]) -> usize {
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|k| k.naf_id == naf_id))
        {
            return i + 1;
        }
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            return i + 1;
        }
        self.lru.last().map_or(1, |r| usize::from(*r))
    }

    fn touch(&mut self, record: u8) {
        self.lru.retain(|r| *r != record);
        self.lru.insert(0, record);
    }
}

/// All state that survives a power cycle. `Debug` shows no file contents (the sysmo
/// layouts keep keys in files).
#[derive(Clone, PartialEq, Eq)]
pub struct Persistent {
    pub files: Vec<Vec<u8>>,
    pub pins: [Pin; 3],
    pub sqn: SqnArray,
    pub gba: Option<GbaBootstrap>,
    pub naf_usim: NafStore,
    pub naf_isim: NafStore,
}

impl std::fmt::Debug for Persistent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persistent")
            .field("files", &self.files.len())
            .field("pins", &self.pins)
            .field("gba", &self.gba)
            .finish_non_exhaustive()
    }
}

/// Volatile state: cleared by reset.
#[derive(Clone, Debug, Default)]
struct Volatile {
    current_df: usize,
    current_adf: Option<usize>,
    current_ef: Option<usize>,
    current_record: Option<u8>,
    verified: [bool; 3],
}

/// The soft GBA_U USIM.
#[derive(Debug)]
pub struct Card {
    profile: Profile,
    milenage: Milenage,
    tree: FileTree,
    state: Persistent,
    volatile: Volatile,
    dirty: bool,
    /// Sysmo layouts: why the key files cannot be used, if they cannot (AUTHENTICATE then
    /// answers '6985').
    key_problem: Option<String>,
    /// Sysmo layouts: EF.USIM_AUTH_KEY asks for 4-byte RES.
    res_4_bytes: bool,
}

/// Why a card cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// The profile's file contents do not fit.
    #[error("profile does not fit the file system: {0}")]
    Files(#[from] ef::EfError),
    /// The Milenage constants are invalid.
    #[error("Milenage constants: {0}")]
    Milenage(#[from] gbau_core::milenage::MilenageError),
}

impl Card {
    /// A fresh card from a profile.
    pub fn new(profile: Profile) -> Result<Self, CardError> {
        let (tree, files) = fs::build(&profile)?;
        let state = Persistent {
            files,
            pins: [
                Pin::from_profile(&profile.pin1),
                Pin::from_profile(&profile.pin2),
                Pin::from_profile(&profile.adm1),
            ],
            sqn: SqnArray::new(profile.sqn_policy),
            gba: None,
            naf_usim: NafStore::new(profile.gba.gbanl_records),
            naf_isim: NafStore::new(if profile.isim.is_some() {
                profile.gba.gbanl_records
            } else {
                0
            }),
        };
        Self::with_state(profile, tree, state)
    }

    fn with_state(profile: Profile, tree: FileTree, state: Persistent) -> Result<Self, CardError> {
        let milenage =
            Milenage::with_constants(&profile.k, profile.opc.clone(), profile.milenage.clone())?;
        let mut card = Self {
            profile,
            milenage,
            tree,
            state,
            volatile: Volatile::default(),
            dirty: false,
            key_problem: None,
            res_4_bytes: false,
        };
        card.load_sysmo_keys(false);
        Ok(card)
    }

    /// Sysmo layouts: the card's keys, Milenage constants and SQN policy are what its
    /// proprietary files say (`gbau_core::sysmo`); `sqn_from_file` also takes the freshness
    /// array from EF.USIM_SQN (after the file was written).
    fn load_sysmo_keys(&mut self, sqn_from_file: bool) {
        if self.profile.layout.sysmo_model().is_none() {
            return;
        }
        match self.sysmo_keys(sqn_from_file) {
            Ok(()) => self.key_problem = None,
            Err(problem) => {
                debug!(%problem, "key files not usable");
                self.key_problem = Some(problem);
            }
        }
    }

    /// The contents of the EF at `path` from the MF, or from ADF.USIM.
    fn file_at(&self, in_usim: bool, path: &[u16]) -> Option<usize> {
        let mut at = if in_usim {
            self.tree.adf(App::Usim)?
        } else {
            MF_INDEX
        };
        for fid in path {
            at = self.tree.child(at, *fid)?;
        }
        Some(at)
    }

    fn file_bytes(&self, in_usim: bool, path: &[u16], name: &str) -> Result<&[u8], String> {
        self.file_at(in_usim, path)
            .and_then(|i| self.state.files.get(i))
            .map(Vec::as_slice)
            .ok_or_else(|| format!("{name} missing"))
    }

    /// Where the freshness array lives: (in ADF.USIM, FID, offset of the array).
    fn sqn_array_file(&self) -> Option<(u16, usize)> {
        use gbau_core::sysmo::{self, Model};
        match self.profile.layout.sysmo_model()? {
            Model::Sja2 | Model::Sja5 => Some((sysmo::EF_USIM_SQN, 14)),
            Model::Sjs1 => Some((sysmo::SJS1_EF_SQNA, 0)),
        }
    }

    fn sysmo_keys(&mut self, sqn_from_file: bool) -> Result<(), String> {
        use gbau_core::secret::{Op, Opc, K};
        use gbau_core::sysmo::{self, Model};
        let Some(model) = self.profile.layout.sysmo_model() else {
            return Ok(());
        };
        let text = |e: sysmo::SysmoError| e.to_string();
        let (k, op_or_opc, use_opc, res_4_bytes, constants, policy) = match model {
            Model::Sja2 | Model::Sja5 => {
                let key = sysmo::decode_auth_key(self.file_bytes(
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
                let constants = sysmo::decode_milenage_cfg(self.file_bytes(
                    false,
                    &[sysmo::DF_SYSTEM, sysmo::EF_MILENAGE_CFG],
                    "EF.MILENAGE_CFG",
                )?)
                .map_err(text)?;
                let policy = sysmo::SqnFile::decode(self.file_bytes(
                    true,
                    &[sysmo::EF_USIM_SQN],
                    "EF.USIM_SQN",
                )?)
                .and_then(|f| f.policy())
                .map_err(text)?;
                (
                    key.k,
                    key.op_or_opc,
                    key.use_opc,
                    key.res_4_bytes,
                    constants,
                    policy,
                )
            }
            Model::Sjs1 => {
                let algorithms = self.file_bytes(
                    false,
                    &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_AUTH],
                    "EF.AUTH",
                )?;
                if algorithms.get(1) != Some(&sysmo::SJS1_ALGO_MILENAGE) {
                    return Err("EF.AUTH: the 3G algorithm is not Milenage (01)".into());
                }
                let constants = sysmo::decode_sjs1_mlngc(self.file_bytes(
                    false,
                    &[sysmo::SJS1_DF_PROPRIETARY, sysmo::SJS1_EF_MLNGC],
                    "EF.MLNGC",
                )?)
                .map_err(text)?;
                let ki = self.file_bytes(false, &[sysmo::DF_GSM, sysmo::SJS1_EF_KI], "Ki")?;
                let opc = self.file_bytes(false, &[sysmo::DF_GSM, sysmo::SJS1_EF_OPC], "OPc")?;
                let (Ok(k), Some(Ok(op_or_opc))) = (
                    <[u8; 16]>::try_from(ki.get(..16).unwrap_or_default()),
                    opc.get(1..17).map(<[u8; 16]>::try_from),
                ) else {
                    return Err("Ki or OPc file too short".into());
                };
                let use_opc = opc.first() == Some(&sysmo::SJS1_OPC_FLAG);
                let policy = sysmo::sjs1_sqnc_policy(self.file_bytes(
                    true,
                    &[sysmo::SJS1_EF_SQNC],
                    "SQNC",
                )?)
                .map_err(text)?;
                (k, op_or_opc, use_opc, false, constants, policy)
            }
        };
        let k = K::new(k);
        let opc = if use_opc {
            Opc::new(op_or_opc)
        } else {
            gbau_core::milenage::opc_from_op(&k, &Op::new(op_or_opc))
        };
        self.milenage = Milenage::with_constants(&k, opc, constants)
            .map_err(|e| format!("Milenage constants: {e}"))?;
        self.res_4_bytes = res_4_bytes;
        let mut slots = *self.state.sqn.slots();
        if sqn_from_file {
            if let Some((fid, offset)) = self.sqn_array_file() {
                let bytes = self.file_bytes(true, &[fid], "SQN array")?;
                let entries = sysmo::decode_sqn_array(bytes.get(offset..).unwrap_or_default());
                for (slot, entry) in slots.iter_mut().zip(&entries) {
                    *slot = entry >> gbau_core::sqn::IND_BITS;
                }
            }
        }
        self.state.sqn = SqnArray::from_parts(slots, policy);
        Ok(())
    }

    /// Sysmo layouts: after the SQN array changed, the card's SQN file shows it (each entry
    /// the last SQN accepted in its IND slot, as gbau reads the file **[to confirm]**).
    fn mirror_sqn(&mut self) {
        let Some((fid, offset)) = self.sqn_array_file() else {
            return;
        };
        let Some(index) = self.file_at(true, &[fid]) else {
            return;
        };
        let entries: Vec<u64> = self
            .state
            .sqn
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
        if let Some(dest) = self.state.files[index].get_mut(offset..offset + bytes.len()) {
            dest.copy_from_slice(&bytes);
        }
    }

    /// Sysmo layouts: what writing a proprietary file does to the card's own state.
    fn sysmo_written(&mut self, index: usize) {
        use gbau_core::sysmo;
        if self.profile.layout.sysmo_model().is_none() {
            return;
        }
        let parent = self.tree.nodes[index]
            .parent
            .map(|p| self.tree.nodes[p].fid);
        let in_usim = self.tree.nodes[index].parent == self.tree.adf(App::Usim);
        match (self.tree.nodes[index].fid, parent) {
            (sysmo::EF_USIM_AUTH_KEY, _) if in_usim => self.load_sysmo_keys(false),
            (sysmo::EF_MILENAGE_CFG, Some(sysmo::DF_SYSTEM)) => self.load_sysmo_keys(false),
            (sysmo::SJS1_EF_AUTH | sysmo::SJS1_EF_MLNGC, Some(sysmo::SJS1_DF_PROPRIETARY))
            | (sysmo::SJS1_EF_KI | sysmo::SJS1_EF_OPC, Some(sysmo::DF_GSM)) => {
                self.load_sysmo_keys(false);
            }
            (sysmo::SJS1_EF_SQNC, _) if in_usim => self.load_sysmo_keys(false),
            (sysmo::EF_USIM_SQN | sysmo::SJS1_EF_SQNA, _) if in_usim => {
                self.load_sysmo_keys(true);
            }
            // Clearing the GBA files forgets the bootstrapped key and the NAF keys.
            (sysmo::EF_GBA_SK, _) if in_usim => self.state.gba = None,
            (sysmo::EF_GBA_REC_LIST | sysmo::EF_GBA_INT_KEY, _) if in_usim => {
                let records = self.profile.gba.gbanl_records;
                self.state.naf_usim = NafStore::new(records);
                if self.profile.isim.is_some() {
                    self.state.naf_isim = NafStore::new(records);
                }
            }
            _ => {}
        }
    }

    /// A card from a profile and restored persistent state (checked by the caller).
    pub fn restore(profile: Profile, state: Persistent) -> Result<Self, CardError> {
        let (tree, _) = fs::build(&profile)?;
        Self::with_state(profile, tree, state)
    }

    /// The file tree (for the state file's keys).
    #[must_use]
    pub fn tree(&self) -> &FileTree {
        &self.tree
    }

    /// The profile the card was made from.
    #[must_use]
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The persistent state.
    #[must_use]
    pub fn persistent(&self) -> &Persistent {
        &self.state
    }

    /// True when the current EF holds key material (the sysmo layouts' key and GBA key
    /// files): logs then show the length of what is read or written, not the bytes.
    #[must_use]
    pub fn current_ef_holds_keys(&self) -> bool {
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
        self.volatile
            .current_ef
            .is_some_and(|i| KEY_FILES.contains(&self.tree.nodes[i].path.as_str()))
    }

    /// True once since the last call if persistent state changed: the adapter must write it
    /// durably before the response leaves.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Cold or warm reset: security status and current files are cleared.
    pub fn reset(&mut self) {
        self.volatile = Volatile::default();
    }

    /// The ATR (ISO 7816-3 §8): TA1 = '11', T=0 or T=1 first, then T=15 with TA3 = 'C7'
    /// (clock stop, classes A/B/C), historical bytes naming a UICC, and TCK.
    #[must_use]
    pub fn atr(&self) -> Vec<u8> {
        match self.profile.layout.sysmo_model() {
            Some(model) => gbau_core::hexutil::parse_hex(model.atrs()[0])
                .unwrap_or_else(|_| atr(self.profile.protocol)),
            None => atr(self.profile.protocol),
        }
    }

    /// Execute one command APDU.
    pub fn process(&mut self, apdu: &CommandApdu) -> ResponseApdu {
        let result = Command::try_from(apdu).and_then(|cmd| self.execute(cmd));
        match result {
            Ok(r) => r,
            Err(sw) => {
                debug!(sw = %sw, "command refused");
                ResponseApdu::status(sw)
            }
        }
    }

    fn execute(&mut self, cmd: Command) -> Result<ResponseApdu, StatusWord> {
        match cmd {
            Command::Select { by, response } => self.select(&by, response),
            Command::Status { response } => self.status(response),
            Command::ReadBinary { target, offset, ne } => self.read_binary(target, offset, ne),
            Command::UpdateBinary {
                target,
                offset,
                data,
            } => self.update_binary(target, offset, &data),
            Command::ReadRecord { target, mode } => self.read_record(target, mode),
            Command::UpdateRecord { target, mode, data } => self.update_record(target, mode, &data),
            Command::Verify { key, pin } => self.verify(key, pin),
            Command::ChangePin { key, old, new } => self.change_pin(key, &old, &new),
            Command::DisablePin { key, pin } => self.set_pin_enabled(key, &pin, false),
            Command::EnablePin { key, pin } => self.set_pin_enabled(key, &pin, true),
            Command::UnblockPin { key, puk_new } => self.unblock_pin(key, puk_new),
            Command::Authenticate(ctx) => self.authenticate(ctx),
            // GET RESPONSE is served by the T=0 link; reaching the card means nothing waits.
            Command::GetResponse => Err(StatusWord::ConditionsOfUseNotSatisfied),
        }
    }

    fn ok(data: Vec<u8>) -> Result<ResponseApdu, StatusWord> {
        Ok(ResponseApdu::new(data, StatusWord::Ok))
    }

    fn pins_enabled(&self) -> [bool; 3] {
        [self.state.pins[0].enabled, self.state.pins[1].enabled, true]
    }

    fn granted(&self, access: Access) -> bool {
        match access {
            Access::Always => true,
            Access::Pin1 => !self.state.pins[0].enabled || self.volatile.verified[0],
            Access::Pin2 => !self.state.pins[1].enabled || self.volatile.verified[1],
            Access::Adm1 => self.volatile.verified[2],
            Access::Never => false,
        }
    }

    /// File access: a PIN-protected file is also open to the ADM1 holder, as the access
    /// rules of programmable cards say ("PIN or ADM"), so personalization needs no user PIN.
    /// AUTHENTICATE still needs PIN1 itself.
    fn file_granted(&self, access: Access) -> bool {
        self.granted(access)
            || (matches!(access, Access::Pin1 | Access::Pin2) && self.volatile.verified[2])
    }

    // TS 102 221 §11.1.1, SELECT
    fn select(
        &mut self,
        by: &SelectBy,
        response: SelectResponse,
    ) -> Result<ResponseApdu, StatusWord> {
        let target = self.resolve(by).ok_or(StatusWord::FileNotFound)?;
        let node = &self.tree.nodes[target];
        if node.is_df() {
            self.volatile.current_df = target;
            self.volatile.current_ef = None;
            if matches!(node.kind, NodeKind::Adf { .. }) {
                self.volatile.current_adf = Some(target);
            }
        } else {
            self.volatile.current_df = node.parent.unwrap_or(MF_INDEX);
            self.volatile.current_ef = Some(target);
        }
        self.volatile.current_record = None;
        match response {
            SelectResponse::Fcp => Self::ok(fs::fcp(&self.tree, target, self.pins_enabled())),
            SelectResponse::NoData => Self::ok(Vec::new()),
        }
    }

    fn resolve(&self, by: &SelectBy) -> Option<usize> {
        let current = self.volatile.current_df;
        match by {
            SelectBy::Fid(None) => Some(MF_INDEX),
            SelectBy::Fid(Some(fid)) => self.find_fid(current, *fid),
            SelectBy::ChildDf(fid) => self
                .tree
                .child(current, *fid)
                .filter(|c| self.tree.nodes[*c].is_df() && !self.is_adf(*c)),
            SelectBy::Parent => self.tree.nodes[current].parent,
            SelectBy::Aid(prefix) => self.tree.adf_by_aid(prefix),
            SelectBy::PathFromMf(path) => {
                let path = match path.split_first() {
                    Some((&ef::MF, rest)) => rest,
                    _ => path.as_slice(),
                };
                self.walk(MF_INDEX, path)
            }
            SelectBy::PathFromCurrent(path) => self.walk(current, path),
        }
    }

    fn is_adf(&self, index: usize) -> bool {
        matches!(self.tree.nodes[index].kind, NodeKind::Adf { .. })
    }

    /// Selection by FID from the current DF (TS 102 221 §8.4.1): the MF, the current ADF
    /// ('7FFF'), the current DF, its children, its parent and the parent's children.
    fn find_fid(&self, current: usize, fid: u16) -> Option<usize> {
        if fid == ef::MF {
            return Some(MF_INDEX);
        }
        if fid == ef::CURRENT_ADF {
            return self.volatile.current_adf;
        }
        let selectable = |i: &usize| !self.is_adf(*i);
        if self.tree.nodes[current].fid == fid && current != MF_INDEX {
            return Some(current);
        }
        if let Some(c) = self.tree.child(current, fid).filter(selectable) {
            return Some(c);
        }
        let parent = self.tree.nodes[current].parent?;
        if self.tree.nodes[parent].fid == fid {
            return Some(parent);
        }
        self.tree.child(parent, fid).filter(selectable)
    }

    fn walk(&self, start: usize, path: &[u16]) -> Option<usize> {
        let mut at = start;
        for (i, fid) in path.iter().enumerate() {
            if i == 0 && *fid == ef::CURRENT_ADF {
                at = self.volatile.current_adf?;
                continue;
            }
            if !self.tree.nodes[at].is_df() {
                return None;
            }
            at = self.tree.child(at, *fid).filter(|c| !self.is_adf(*c))?;
        }
        Some(at)
    }

    // TS 102 221 §11.1.2, STATUS
    fn status(&self, response: StatusResponse) -> Result<ResponseApdu, StatusWord> {
        let df = self
            .volatile
            .current_adf
            .unwrap_or(self.volatile.current_df);
        match response {
            StatusResponse::Fcp => Self::ok(fs::fcp(&self.tree, df, self.pins_enabled())),
            StatusResponse::Aid => match &self.tree.nodes[df].kind {
                NodeKind::Adf { aid, .. } => {
                    let tlv = gbau_core::tlv::Tlv::new(0x84, aid.clone());
                    Self::ok(tlv.to_bytes().map_err(|_| StatusWord::NoPreciseDiagnosis)?)
                }
                _ => Self::ok(Vec::new()),
            },
            StatusResponse::NoData => Self::ok(Vec::new()),
        }
    }

    /// The EF a binary/record command addresses; SFI addressing also makes it current.
    fn target_ef(&mut self, target: EfTarget) -> Result<usize, StatusWord> {
        match target {
            EfTarget::Current => self.volatile.current_ef.ok_or(StatusWord::NoCurrentEf),
            EfTarget::Sfi(sfi) => {
                let ef = self
                    .tree
                    .by_sfi(self.volatile.current_df, sfi)
                    .ok_or(StatusWord::FileNotFound)?;
                if self.volatile.current_ef != Some(ef) {
                    self.volatile.current_record = None;
                }
                self.volatile.current_ef = Some(ef);
                Ok(ef)
            }
        }
    }

    fn ef_info(&self, index: usize) -> Result<(Structure, usize, Access, Access), StatusWord> {
        match self.tree.nodes[index].kind {
            NodeKind::Ef {
                structure,
                size,
                read,
                update,
                ..
            } => Ok((structure, size, read, update)),
            _ => Err(StatusWord::IncompatibleFileStructure),
        }
    }

    // TS 102 221 §11.1.3, READ BINARY
    fn read_binary(
        &mut self,
        target: EfTarget,
        offset: usize,
        ne: usize,
    ) -> Result<ResponseApdu, StatusWord> {
        let ef = self.target_ef(target)?;
        let (structure, size, read, _) = self.ef_info(ef)?;
        if structure != Structure::Transparent {
            return Err(StatusWord::IncompatibleFileStructure);
        }
        if !self.file_granted(read) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if offset >= size {
            return Err(StatusWord::WrongParameters);
        }
        let end = size.min(offset + ne);
        Self::ok(self.state.files[ef][offset..end].to_vec())
    }

    // TS 102 221 §11.1.4, UPDATE BINARY
    fn update_binary(
        &mut self,
        target: EfTarget,
        offset: usize,
        data: &[u8],
    ) -> Result<ResponseApdu, StatusWord> {
        let ef = self.target_ef(target)?;
        let (structure, size, _, update) = self.ef_info(ef)?;
        if structure != Structure::Transparent {
            return Err(StatusWord::IncompatibleFileStructure);
        }
        if !self.file_granted(update) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if offset >= size {
            return Err(StatusWord::WrongParameters);
        }
        if offset + data.len() > size {
            return Err(StatusWord::WrongLength);
        }
        self.state.files[ef][offset..offset + data.len()].copy_from_slice(data);
        self.dirty = true;
        self.sysmo_written(ef);
        Self::ok(Vec::new())
    }

    fn record_number(&self, mode: RecordMode, count: usize) -> Result<u8, StatusWord> {
        let count = u8::try_from(count).map_err(|_| StatusWord::NoPreciseDiagnosis)?;
        let n = match mode {
            RecordMode::Absolute(0) => self
                .volatile
                .current_record
                .ok_or(StatusWord::RecordNotFound)?,
            RecordMode::Absolute(n) => n,
            RecordMode::Next => self
                .volatile
                .current_record
                .map_or(1, |r| r.saturating_add(1)),
            RecordMode::Previous => match self.volatile.current_record {
                None => count,
                Some(r) => r.saturating_sub(1),
            },
        };
        if n == 0 || n > count {
            return Err(StatusWord::RecordNotFound);
        }
        Ok(n)
    }

    fn record_range(
        &self,
        ef: usize,
        mode: RecordMode,
    ) -> Result<(u8, std::ops::Range<usize>, Access, Access), StatusWord> {
        let (structure, size, read, update) = self.ef_info(ef)?;
        let Structure::LinearFixed { record_len } = structure else {
            return Err(StatusWord::IncompatibleFileStructure);
        };
        let n = self.record_number(mode, size / record_len.max(1))?;
        let start = (usize::from(n) - 1) * record_len;
        Ok((n, start..start + record_len, read, update))
    }

    // TS 102 221 §11.1.5, READ RECORD
    fn read_record(
        &mut self,
        target: EfTarget,
        mode: RecordMode,
    ) -> Result<ResponseApdu, StatusWord> {
        let ef = self.target_ef(target)?;
        let (n, range, read, _) = self.record_range(ef, mode)?;
        if !self.file_granted(read) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        self.volatile.current_record = Some(n);
        Self::ok(self.state.files[ef][range].to_vec())
    }

    // TS 102 221 §11.1.6, UPDATE RECORD
    fn update_record(
        &mut self,
        target: EfTarget,
        mode: RecordMode,
        data: &[u8],
    ) -> Result<ResponseApdu, StatusWord> {
        let ef = self.target_ef(target)?;
        let (n, range, _, update) = self.record_range(ef, mode)?;
        if !self.file_granted(update) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if data.len() != range.len() {
            return Err(StatusWord::WrongLength);
        }
        self.volatile.current_record = Some(n);
        self.state.files[ef][range].copy_from_slice(data);
        self.dirty = true;
        self.sysmo_written(ef);
        Self::ok(Vec::new())
    }

    // TS 102 221 §11.1.9, VERIFY PIN
    fn verify(
        &mut self,
        key: KeyRef,
        candidate: Option<[u8; 8]>,
    ) -> Result<ResponseApdu, StatusWord> {
        let i = pin::slot(key);
        let Some(candidate) = candidate else {
            let p = &self.state.pins[i];
            return if p.tries_left == 0 {
                Err(StatusWord::AuthMethodBlocked)
            } else if self.volatile.verified[i] || (!p.enabled && key != KeyRef::Adm1) {
                Self::ok(Vec::new())
            } else {
                Err(StatusWord::RetriesLeft(p.tries_left))
            };
        };
        let before = self.state.pins[i].tries_left;
        let result = self.state.pins[i].present(&candidate);
        self.dirty |= self.state.pins[i].tries_left != before;
        self.volatile.verified[i] = result.is_ok();
        result.and_then(|()| Self::ok(Vec::new()))
    }

    // TS 102 221 §11.1.10, CHANGE PIN
    fn change_pin(
        &mut self,
        key: KeyRef,
        old: &[u8; 8],
        new: &[u8; 8],
    ) -> Result<ResponseApdu, StatusWord> {
        let i = pin::slot(key);
        if key == KeyRef::Adm1 || !self.state.pins[i].enabled {
            return Err(StatusWord::ConditionsOfUseNotSatisfied);
        }
        let new = crate::profile::PinValue::from_block(*new);
        if !new.is_well_formed() {
            return Err(StatusWord::IncorrectData);
        }
        let before = self.state.pins[i].tries_left;
        let result = self.state.pins[i].present(old);
        self.dirty |= self.state.pins[i].tries_left != before;
        result?;
        self.state.pins[i].value = new;
        self.volatile.verified[i] = true;
        self.dirty = true;
        Self::ok(Vec::new())
    }

    // TS 102 221 §11.1.11–11.1.12, DISABLE / ENABLE PIN
    fn set_pin_enabled(
        &mut self,
        key: KeyRef,
        candidate: &[u8; 8],
        enable: bool,
    ) -> Result<ResponseApdu, StatusWord> {
        let i = pin::slot(key);
        if key == KeyRef::Adm1 || self.state.pins[i].enabled == enable {
            return Err(StatusWord::ConditionsOfUseNotSatisfied);
        }
        let before = self.state.pins[i].tries_left;
        let result = self.state.pins[i].present(candidate);
        self.dirty |= self.state.pins[i].tries_left != before;
        result?;
        self.state.pins[i].enabled = enable;
        self.volatile.verified[i] = true;
        self.dirty = true;
        Self::ok(Vec::new())
    }

    // TS 102 221 §11.1.13, UNBLOCK PIN
    fn unblock_pin(
        &mut self,
        key: KeyRef,
        puk_new: Option<([u8; 8], [u8; 8])>,
    ) -> Result<ResponseApdu, StatusWord> {
        let i = pin::slot(key);
        if key == KeyRef::Adm1 {
            return Err(StatusWord::ReferencedDataNotFound);
        }
        let Some((puk, new)) = puk_new else {
            let p = &self.state.pins[i];
            return if p.puk_tries_left == 0 {
                Err(StatusWord::AuthMethodBlocked)
            } else {
                Err(StatusWord::RetriesLeft(p.puk_tries_left))
            };
        };
        let before = self.state.pins[i].puk_tries_left;
        let result = self.state.pins[i].unblock(&puk, &new);
        self.dirty |= self.state.pins[i].puk_tries_left != before;
        result?;
        self.volatile.verified[i] = true;
        self.dirty = true;
        Self::ok(Vec::new())
    }

    fn current_app(&self) -> Option<(usize, App)> {
        let adf = self.volatile.current_adf?;
        match &self.tree.nodes[adf].kind {
            NodeKind::Adf { app, .. } => Some((adf, *app)),
            _ => None,
        }
    }

    fn service_on(&self, app: App, service: u16) -> bool {
        let (adf, fid) = match app {
            App::Usim => (self.tree.adf(App::Usim), ef::EF_UST),
            App::Isim => (self.tree.adf(App::Isim), ef::EF_IST),
        };
        adf.and_then(|a| self.tree.child(a, fid))
            .is_some_and(|f| ef::service_available(&self.state.files[f], service))
    }

    fn gba_enabled(&self, app: App) -> bool {
        // The SJS1 has no GBA context, whatever its service table says [to confirm on a card].
        if self.profile.layout == crate::profile::Layout::Sjs1 {
            return false;
        }
        match app {
            App::Usim => self.service_on(App::Usim, ef::SERVICE_GBA),
            App::Isim => self.service_on(App::Isim, ISIM_SERVICE_GBA),
        }
    }

    // TS 31.102 §7.1.2 / TS 31.103 §7.1.2, AUTHENTICATE
    fn authenticate(&mut self, ctx: AuthContext) -> Result<ResponseApdu, StatusWord> {
        let (adf, app) = self
            .current_app()
            .ok_or(StatusWord::ConditionsOfUseNotSatisfied)?;
        if !self.granted(Access::Pin1) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if self.key_problem.is_some() {
            return Err(StatusWord::ConditionsOfUseNotSatisfied);
        }
        match ctx {
            AuthContext::Gsm { rand } => {
                if app != App::Usim || !self.service_on(App::Usim, ef::SERVICE_GSM_ACCESS) {
                    return Err(StatusWord::IncorrectP1P2);
                }
                self.auth_gsm(&rand)
            }
            AuthContext::Umts { rand, autn } => self.auth_umts(app, &Rand(rand), &Autn(autn)),
            AuthContext::Gba(mode) => {
                if !self.gba_enabled(app) {
                    return Err(StatusWord::SecurityContextNotSupported);
                }
                match mode? {
                    GbaMode::Bootstrap { rand, autn } => {
                        self.gba_bootstrap(adf, app, &Rand(rand), &Autn(autn))
                    }
                    GbaMode::NafDerivation { naf_id, impi } => {
                        self.gba_naf_derivation(adf, app, &naf_id, impi.as_deref())
                    }
                }
            }
        }
    }

    // TS 31.102 §7.1.2.2, GSM security context
    fn auth_gsm(&self, rand: &[u8; 16]) -> Result<ResponseApdu, StatusWord> {
        let out = self.milenage.f2345(rand);
        let mut data = Vec::with_capacity(14);
        lv(&c2_sres(&out.res), &mut data)?;
        lv(c3_kc(&out.ck, &out.ik).expose(), &mut data)?;
        Self::ok(data)
    }

    /// Verify AUTN (MAC first: '9862'), check AMF policy, then SQN freshness. On a stale SQN
    /// the answer is `DC 0E AUTS` and nothing changes; on success the SQN is recorded.
    fn verify_challenge(
        &mut self,
        rand: &Rand,
        autn: &Autn,
        kind: AutnKind,
    ) -> Result<Result<gbau_core::aka::VerifiedChallenge, ResponseApdu>, StatusWord> {
        let v = verify_autn(&self.milenage, rand, autn, kind)
            .map_err(|_| StatusWord::AuthenticationErrorIncorrectMac)?;
        if !self.profile.amf_allowed.is_empty() && !self.profile.amf_allowed.contains(&v.amf.0) {
            debug!(amf = %hex::encode(v.amf.0), "AMF not allowed by the profile");
            return Err(StatusWord::AuthenticationErrorIncorrectMac);
        }
        if let Err(e) = self.state.sqn.check(v.sqn) {
            debug!(reason = %e, "synchronisation failure");
            let auts = build_auts(&self.milenage, rand, self.state.sqn.sqn_ms());
            let mut data = vec![TAG_SYNC_FAILURE];
            lv(&auts.0, &mut data)?;
            return Ok(Err(ResponseApdu::new(data, StatusWord::Ok)));
        }
        self.state.sqn.accept(v.sqn);
        self.mirror_sqn();
        self.dirty = true;
        Ok(Ok(v))
    }

    // TS 31.102 §7.1.2.1, 3G security context
    fn auth_umts(
        &mut self,
        app: App,
        rand: &Rand,
        autn: &Autn,
    ) -> Result<ResponseApdu, StatusWord> {
        let v = match self.verify_challenge(rand, autn, AutnKind::Plain)? {
            Ok(v) => v,
            Err(sync_failure) => return Ok(sync_failure),
        };
        let mut data = vec![TAG_AUTH_SUCCESS];
        lv(self.res_bytes(&v), &mut data)?;
        lv(v.ck.expose(), &mut data)?;
        lv(v.ik.expose(), &mut data)?;
        if app == App::Usim && self.service_on(App::Usim, ef::SERVICE_GSM_ACCESS) {
            lv(v.kc().expose(), &mut data)?;
        }
        Self::ok(data)
    }

    // TS 31.102 §7.1.2.4 and TS 33.220 Annex G.2, GBA bootstrapping mode
    fn gba_bootstrap(
        &mut self,
        adf: usize,
        app: App,
        rand: &Rand,
        autn: &Autn,
    ) -> Result<ResponseApdu, StatusWord> {
        let v = match self.verify_challenge(rand, autn, AutnKind::GbaU)? {
            Ok(v) => v,
            Err(sync_failure) => return Ok(sync_failure),
        };
        self.state.gba = Some(GbaBootstrap {
            ks: Ks::from_ck_ik(&v.ck, &v.ik),
            rand: *rand,
            app,
        });
        let gbabp = self
            .gbabp_file(adf, app)
            .ok_or(StatusWord::NoPreciseDiagnosis)?;
        let size = self.state.files[gbabp].len();
        let params = GbaBootstrapParams {
            rand: Some(*rand),
            b_tid: String::new(),
            lifetime: String::new(),
        };
        self.state.files[gbabp] =
            ef::encode_gbabp(&params, size).map_err(|_| StatusWord::MemoryProblem)?;
        let mut data = vec![TAG_AUTH_SUCCESS];
        lv(self.res_bytes(&v), &mut data)?;
        Self::ok(data)
    }

    /// RES as the card sends it: 4 bytes when a sysmo layout's key file says so.
    fn res_bytes<'v>(&self, v: &'v gbau_core::aka::VerifiedChallenge) -> &'v [u8] {
        let res = v.res.as_bytes();
        if self.res_4_bytes {
            &res[..res.len().min(4)]
        } else {
            res
        }
    }

    fn gbabp_file(&self, adf: usize, app: App) -> Option<usize> {
        self.tree.child(
            adf,
            if app == App::Usim {
                ef::EF_GBABP
            } else {
                ef::EF_ISIM_GBABP
            },
        )
    }

    fn gbanl_file(&self, adf: usize, app: App) -> Option<usize> {
        self.tree.child(
            adf,
            if app == App::Usim {
                ef::EF_GBANL
            } else {
                ef::EF_ISIM_GBANL
            },
        )
    }

    fn isim_impi(&self, adf: usize) -> Option<String> {
        let f = self.tree.child(adf, ef::EF_IMPI)?;
        ef::decode_tagged_text("EF_IMPI", &self.state.files[f])
            .ok()
            .flatten()
    }

    // TS 31.102 §7.1.2.4 and TS 33.220 Annex G.3, GBA NAF derivation mode
    fn gba_naf_derivation(
        &mut self,
        adf: usize,
        app: App,
        naf_id: &[u8],
        impi: Option<&[u8]>,
    ) -> Result<ResponseApdu, StatusWord> {
        let Some(boot) = self.state.gba.clone().filter(|g| g.app == app) else {
            return Err(StatusWord::ConditionsOfUseNotSatisfied);
        };
        let impi = match (impi, app) {
            (Some(bytes), _) => {
                let text = std::str::from_utf8(bytes).map_err(|_| StatusWord::IncorrectData)?;
                Impi::new(text).map_err(|_| StatusWord::IncorrectData)?
            }
            (None, App::Isim) => {
                let text = self
                    .isim_impi(adf)
                    .ok_or(StatusWord::ConditionsOfUseNotSatisfied)?;
                Impi::new(&text).map_err(|_| StatusWord::ConditionsOfUseNotSatisfied)?
            }
            (None, App::Usim) => return Err(StatusWord::IncorrectData),
        };
        let naf = NafId::from_bytes(naf_id).map_err(|_| StatusWord::IncorrectData)?;
        let ext =
            ks_ext_naf(&boot.ks, &boot.rand, &impi, &naf).map_err(|_| StatusWord::IncorrectData)?;
        let int =
            ks_int_naf(&boot.ks, &boot.rand, &impi, &naf).map_err(|_| StatusWord::IncorrectData)?;
        let gbabp = self
            .gbabp_file(adf, app)
            .ok_or(StatusWord::NoPreciseDiagnosis)?;
        let b_tid = ef::decode_gbabp(&self.state.files[gbabp])
            .map(|p| p.b_tid)
            .unwrap_or_default();
        let b_tid = if b_tid.is_empty() || BTid::new(&b_tid).is_err() {
            String::new()
        } else {
            b_tid
        };

        let gbanl = self
            .gbanl_file(adf, app)
            .ok_or(StatusWord::NoPreciseDiagnosis)?;
        let record_len = match self.tree.nodes[gbanl].kind {
            NodeKind::Ef {
                structure: Structure::LinearFixed { record_len },
                ..
            } => record_len,
            _ => return Err(StatusWord::NoPreciseDiagnosis),
        };
        let record = ef::encode_gbanl_record(
            &GbaNafEntry {
                naf_id: naf_id.to_vec(),
                b_tid: b_tid.clone(),
            },
            record_len,
        )
        .map_err(|_| StatusWord::NotEnoughMemory)?;
        let store = match app {
            App::Usim => &mut self.state.naf_usim,
            App::Isim => &mut self.state.naf_isim,
        };
        let n = store.slot_for(naf_id);
        let slot = store
            .slots
            .get_mut(n - 1)
            .ok_or(StatusWord::NoPreciseDiagnosis)?;
        *slot = Some(NafKey {
            naf_id: naf_id.to_vec(),
            b_tid,
            ks_int_naf: int,
        });
        store.touch(n as u8);
        let start = (n - 1) * record_len;
        self.state.files[gbanl][start..start + record_len].copy_from_slice(&record);
        self.dirty = true;
        let mut data = vec![TAG_AUTH_SUCCESS];
        lv(ext.expose(), &mut data)?;
        Self::ok(data)
    }
}

fn lv(value: &[u8], out: &mut Vec<u8>) -> Result<(), StatusWord> {
    write_lv(value, out).map_err(|_| StatusWord::NoPreciseDiagnosis)
}

/// Historical bytes: category '80', card service data, card capabilities, and a
/// pre-issuing data object "gba".
const HISTORICAL: [u8; 11] = [
    0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21, 0x1B, 0x63, b'g', b'b', b'a',
];

/// True for the ATR of gbau's soft card in its standard layout (either protocol).
#[must_use]
pub fn is_soft_atr(atr: &[u8]) -> bool {
    [Protocol::T0, Protocol::T1]
        .into_iter()
        .any(|p| self::atr(p) == atr)
}

/// The ATR for a protocol.
#[must_use]
pub fn atr(protocol: Protocol) -> Vec<u8> {
    let t = match protocol {
        Protocol::T0 => 0x00,
        Protocol::T1 => 0x01,
    };
    let t0 = 0x90 | HISTORICAL.len() as u8; // TA1 and TD1 present, K historical bytes
    let mut atr = vec![0x3B, t0, 0x11, 0x80 | t, 0x1F, 0xC7];
    atr.extend_from_slice(&HISTORICAL);
    let tck = atr[1..].iter().fold(0u8, |a, b| a ^ b);
    atr.push(tck);
    atr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_checksum_and_protocol() {
        let a = atr(Protocol::T0);
        assert_eq!(a[0], 0x3B);
        assert_eq!(a[3], 0x80, "TD1 announces T=0");
        assert_eq!(
            a[1..].iter().fold(0u8, |x, y| x ^ y),
            0,
            "TCK makes the XOR of T0..TCK zero"
        );
        assert_eq!(atr(Protocol::T1)[3], 0x81);
    }

    #[test]
    fn lru_picks_own_then_free_then_oldest() {
        let mut s = NafStore::new(2);
        assert_eq!(s.slot_for(b"a"), 1);
        s.slots[0] = Some(NafKey {
            naf_id: b"a".to_vec(),
            b_tid: String::new(),
            ks_int_naf: KsIntNaf::new([0; 32]),
        });
        s.touch(1);
        assert_eq!(s.slot_for(b"b"), 2);
        s.slots[1] = Some(NafKey {
            naf_id: b"b".to_vec(),
            b_tid: String::new(),
            ks_int_naf: KsIntNaf::new([0; 32]),
        });
        s.touch(2);
        assert_eq!(s.slot_for(b"a"), 1);
        assert_eq!(s.slot_for(b"c"), 1, "a is least recently used");
        s.touch(1);
        assert_eq!(s.slot_for(b"c"), 2);
    }
}
