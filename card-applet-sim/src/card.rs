//! The card as a function: `process(command) -> response`, `reset()`, `atr()`. No I/O, no
//! clock, no threads: the persistence and transport adapters live around it.
//!
//! The command handlers are grouped by responsibility: the file commands in `card/files.rs`,
//! the PIN commands in `card/pins.rs`, AUTHENTICATE in `card/auth.rs` with the AUTN and SQN
//! checks in `card/challenge.rs`; the keys each application uses are `card/keys.rs`'s. Which
//! files hold the keys and SQN policy of a sysmo layout is the `personality` module's to say.

mod auth;
mod challenge;
mod files;
mod keys;
mod pins;

use gbau_core::aka::Rand;
use gbau_core::ef;
use gbau_core::secret::{Ks, KsIntNaf};
use gbau_core::sqn::SqnArray;
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};
use tracing::debug;

use crate::command::Command;
use crate::fs::{self, Access, App, FileTree, NodeKind, Structure};
use crate::personality;
use crate::pin::Pin;
use crate::profile::{Profile, Protocol};
use keys::AppKeys;

pub use auth::ISIM_SERVICE_GBA;

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
    tree: FileTree,
    state: Persistent,
    volatile: Volatile,
    dirty: bool,
    /// The keys AUTHENTICATE uses in ADF.USIM (and in ADF.ISIM where it has none of its own).
    usim_keys: AppKeys,
    /// SJA2/SJA5 with an ISIM: the keys of ADF.ISIM's own AF20 and AF30.
    isim_keys: Option<AppKeys>,
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
            naf_usim: NafStore::new(gbanl_records(&tree, App::Usim)),
            naf_isim: NafStore::new(gbanl_records(&tree, App::Isim)),
        };
        Self::with_state(profile, tree, state)
    }

    fn with_state(profile: Profile, tree: FileTree, state: Persistent) -> Result<Self, CardError> {
        let usim_keys = AppKeys::from_profile(&profile)?;
        let mut card = Self {
            profile,
            tree,
            state,
            volatile: Volatile::default(),
            dirty: false,
            usim_keys,
            isim_keys: None,
        };
        card.load_sysmo_keys(App::Usim, false);
        card.load_sysmo_keys(App::Isim, false);
        Ok(card)
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
        self.volatile
            .current_ef
            .is_some_and(|i| personality::holds_keys(&self.tree.nodes[i].path))
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
    /// (clock stop, classes A/B/C), historical bytes naming a UICC, and TCK. A sysmo layout
    /// presents the ATR of the model's card in pySim's dump.
    #[must_use]
    pub fn atr(&self) -> Vec<u8> {
        match self.profile.layout.sysmo_model() {
            Some(model) => gbau_core::hexutil::parse_hex(model.dump_atr())
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
}

/// The records of an application's EF_GBANL: one NAF key slot each.
fn gbanl_records(tree: &FileTree, app: App) -> u8 {
    let gbanl = match app {
        App::Usim => ef::EF_GBANL,
        App::Isim => ef::EF_ISIM_GBANL,
    };
    let node = tree.adf(app).and_then(|adf| tree.child(adf, gbanl));
    match node.map(|i| &tree.nodes[i].kind) {
        Some(NodeKind::Ef {
            structure: Structure::LinearFixed { record_len },
            size,
            ..
        }) => u8::try_from(size / (*record_len).max(1)).unwrap_or(u8::MAX),
        _ => 0,
    }
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
