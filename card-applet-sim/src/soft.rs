//! The soft card as a device: card logic + T=0/T=1 link + durable state file. The in-process
//! transport and the vpcd bridge both drive this.

use std::path::{Path, PathBuf};

use gbau_core::apdu::{log_command, log_command_hiding_data, log_response, KEY_BEARING_INS};

/// READ BINARY, READ RECORD, UPDATE BINARY, UPDATE RECORD.
const FILE_ACCESS_INS: [u8; 4] = [0xB0, 0xB2, 0xD6, 0xDC];
use gbau_core::{ResponseApdu, StatusWord};
use tracing::trace;

use crate::card::{Card, CardError, Persistent};
use crate::link::Link;
use crate::profile::Profile;
use crate::state::{self, StateError};
use crate::store::{self, StoreError};

/// Why a soft card cannot be opened or could not persist.
#[derive(Debug, thiserror::Error)]
pub enum SoftCardError {
    #[error(transparent)]
    Card(#[from] CardError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("state file {path} does not fit the profile: {source}")]
    State { path: PathBuf, source: StateError },
}

/// A soft USIM with its link personality and (optionally) a state file.
#[derive(Debug)]
pub struct SoftCard {
    card: Card,
    link: Link,
    state_path: Option<PathBuf>,
    /// The state the state file durably holds, as this card last wrote it.
    persisted: Option<Persistent>,
    /// This process's ownership of the state file, held for the card's life.
    _owner: Option<store::Owner>,
    pending_carries_keys: bool,
}

impl SoftCard {
    /// A card that keeps its state in memory only.
    pub fn in_memory(profile: Profile) -> Result<Self, SoftCardError> {
        let link = Link::new(profile.protocol);
        Ok(Self {
            card: Card::new(profile)?,
            link,
            state_path: None,
            persisted: None,
            pending_carries_keys: false,
            _owner: None,
        })
    }

    /// A card backed by a state file: loaded when it exists, created (durably) when it does
    /// not. A corrupt or foreign state file is an error naming the file.
    pub fn open(profile: Profile, state_path: &Path) -> Result<Self, SoftCardError> {
        let link = Link::new(profile.protocol);
        let fresh = Card::new(profile.clone())?;
        // One state file, one owner: a second process (gbau card serve and --sim at once)
        // could otherwise roll SQN arrays and PIN counters back by writing last.
        let owner = store::Owner::take(state_path)?;
        store::remove_stale_temps(state_path);
        let card = match store::read_optional(state_path)? {
            None => fresh,
            Some(bytes) => {
                let corrupt = |problem: String| StoreError::Corrupt {
                    path: state_path.to_owned(),
                    problem,
                };
                let file: state::StateFile =
                    serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
                let persistent =
                    state::from_file(&profile, fresh.tree(), fresh.persistent(), &file).map_err(
                        |source| SoftCardError::State {
                            path: state_path.to_owned(),
                            source,
                        },
                    )?;
                Card::restore(profile, persistent)?
            }
        };
        let mut soft = Self {
            card,
            link,
            state_path: Some(state_path.to_owned()),
            persisted: None,
            pending_carries_keys: false,
            _owner: Some(owner),
        };
        soft.persist()?;
        Ok(soft)
    }

    /// The ATR.
    #[must_use]
    pub fn atr(&self) -> Vec<u8> {
        self.card.atr()
    }

    /// Power cycle or reset.
    pub fn reset(&mut self) {
        self.card.reset();
        self.link.reset();
        self.pending_carries_keys = false;
    }

    /// The card logic (for tests and inspection).
    #[must_use]
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// Write the state file durably, unless it already holds exactly this state (a command
    /// that rewrote the same values, like a repeated NAF derivation, costs no write).
    fn persist(&mut self) -> Result<(), StoreError> {
        let Some(path) = &self.state_path else {
            return Ok(());
        };
        if self.persisted.as_ref() == Some(self.card.persistent()) {
            return Ok(());
        }
        let file = state::to_file(&self.card);
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        store::write_durably(path, &bytes)?;
        self.persisted = Some(self.card.persistent().clone());
        Ok(())
    }

    /// One exchange. When the command changed persistent state, the state file is written
    /// durably before the response is returned; if that fails the response is withheld and
    /// the error returned (the caller answers '6581' memory problem).
    pub fn transmit(&mut self, raw: &[u8]) -> Result<Vec<u8>, StoreError> {
        let ins = raw.get(1).copied();
        // Reads and writes of a key file (sysmo layouts) are logged by length only.
        let file_access = ins.is_some_and(|i| FILE_ACCESS_INS.contains(&i));
        if file_access && self.card.current_ef_holds_keys() {
            trace!("{}", log_command_hiding_data(raw));
        } else {
            trace!("{}", log_command(raw));
        }
        let is_get_response = ins == Some(crate::command::ins::GET_RESPONSE);
        let response: ResponseApdu = self.link.transmit(&mut self.card, raw);
        let carries_keys = if is_get_response {
            self.pending_carries_keys
        } else {
            ins.is_some_and(|i| KEY_BEARING_INS.contains(&i))
                || (file_access && self.card.current_ef_holds_keys())
        };
        if !is_get_response {
            self.pending_carries_keys =
                carries_keys && matches!(response.sw, StatusWord::MoreData(_));
        }
        if self.card.take_dirty() {
            self.persist()?;
        }
        let bytes = response.to_bytes();
        trace!("{}", log_response(&bytes, carries_keys));
        Ok(bytes)
    }

    /// Like [`transmit`](Self::transmit), but a persistence failure becomes '6581'.
    pub fn transmit_or_memory_problem(&mut self, raw: &[u8]) -> Vec<u8> {
        match self.transmit(raw) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("{e}");
                StatusWord::MemoryProblem.to_bytes().to_vec()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn send(card: &mut SoftCard, hex_apdu: &str) -> String {
        hex::encode_upper(card.transmit(&hex::decode(hex_apdu).unwrap()).unwrap())
    }

    #[test]
    fn the_state_file_is_rewritten_only_when_the_state_changed() {
        let dir = std::env::temp_dir().join(format!("gbau-soft-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("card.json");
        let profile = Profile::from_yaml(crate::profile::EMBEDDED_PROFILE).unwrap();
        let mut card = SoftCard::open(profile, &path).unwrap();
        let written = || std::fs::metadata(&path).unwrap().ino();
        assert_eq!(send(&mut card, "00A4040C07A0000000871002"), "9000");
        assert_eq!(send(&mut card, "002000010831323334FFFFFFFF"), "9000");
        assert_eq!(send(&mut card, "00A4000C026FD6"), "9000");
        let opened = written();
        // UPDATE BINARY changes EF_GBABP: a new file (tmp + rename) replaces the old.
        assert_eq!(send(&mut card, "00D6000003010203"), "9000");
        let changed = written();
        assert_ne!(changed, opened);
        // The same bytes again: nothing changed, nothing written.
        assert_eq!(send(&mut card, "00D6000003010203"), "9000");
        assert_eq!(written(), changed);
        // A wrong PIN changes the retry counter: written before the answer.
        assert_eq!(send(&mut card, "002000010839393939FFFFFFFF"), "63C2");
        assert_ne!(written(), changed);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
