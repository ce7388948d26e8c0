//! Which card a command talks to: `--reader NAME` (PC/SC) or the soft card in this process
//! (`--sim STATE_FILE`, default `~/.local/state/gbau/soft-card.json`, profile embedded unless
//! `--profile FILE`), and PIN1 handling (`--pin` or `GBAU_PIN`; a soft card's profile PIN
//! otherwise).

use std::path::PathBuf;
use std::time::Duration;

use gbau_card::{Profile, SoftCard};

use crate::demo::EMBEDDED_PROFILE;
use crate::transport::{PcscTransport, SoftTransport, Transport, TransportError};
use crate::usim::{Usim, UsimError};

/// How long to wait for a card to be inserted.
pub const CARD_WAIT: Duration = Duration::from_secs(10);

/// The card options every card command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CardOpts {
    /// PC/SC reader: exact name, unique substring, or index from `gbau readers`
    #[arg(
        long,
        global = true,
        env = "GBAU_READER",
        value_name = "NAME",
        conflicts_with = "sim"
    )]
    pub reader: Option<String>,
    /// Use the soft card in this process with this state file (created when missing)
    #[arg(long, global = true, value_name = "STATE_FILE")]
    pub sim: Option<PathBuf>,
    /// Card profile: the soft card's definition, or a real card's keys for `gba check`/scripts
    #[arg(long, global = true, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// PIN1, verified when the card requires it
    #[arg(
        long,
        global = true,
        env = "GBAU_PIN",
        value_name = "PIN",
        hide_env_values = true
    )]
    pub pin: Option<String>,
}

/// Errors opening a card.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Profile(#[from] gbau_card::profile::ProfileError),
    #[error(transparent)]
    SoftCard(#[from] gbau_card::SoftCardError),
    #[error(transparent)]
    Usim(#[from] UsimError),
    #[error("cannot create {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("PIN1 is required: pass --pin PIN or set GBAU_PIN")]
    PinRequired,
}

impl Transport for Box<dyn Transport> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
}

/// An open card.
pub struct Session {
    pub usim: Usim<Box<dyn Transport>>,
    /// "reader NAME" or "soft card STATE_FILE".
    pub label: String,
    /// The profile, when known (soft card, or `--profile`).
    pub profile: Option<Profile>,
    /// PIN1 to use when the card asks for it.
    pub pin: Option<String>,
    pub is_soft: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Default state file of the soft card.
#[must_use]
pub fn default_sim_path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("gbau").join("soft-card.json")
}

fn profile_pin(p: &Profile) -> String {
    p.pin1
        .value
        .block()
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| char::from(*b))
        .collect()
}

impl CardOpts {
    /// The profile named by `--profile`, or the embedded test profile for a soft card.
    pub fn load_profile(&self, soft: bool) -> Result<Option<Profile>, SessionError> {
        match (&self.profile, soft) {
            (Some(p), _) => Ok(Some(Profile::load(p)?)),
            (None, true) => Ok(Some(Profile::from_yaml(EMBEDDED_PROFILE)?)),
            (None, false) => Ok(None),
        }
    }

    /// The profile's name for messages.
    #[must_use]
    pub fn profile_label(&self) -> String {
        self.profile.as_ref().map_or_else(
            || "the embedded test profile (Milenage test set 1)".into(),
            |p| p.display().to_string(),
        )
    }

    /// Open the card these options name.
    pub fn open(&self) -> Result<Session, SessionError> {
        if let Some(reader) = &self.reader {
            let t = PcscTransport::connect(reader, CARD_WAIT)?;
            let label = format!("reader {:?}", t.reader());
            return Ok(Session {
                usim: Usim::new(Box::new(t)),
                label,
                profile: self.load_profile(false)?,
                pin: self.pin.clone(),
                is_soft: false,
            });
        }
        let path = self.sim.clone().unwrap_or_else(default_sim_path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| SessionError::StateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let profile = self.load_profile(true)?.ok_or(SessionError::PinRequired)?;
        let pin = self.pin.clone().or_else(|| Some(profile_pin(&profile)));
        let card = SoftCard::open(profile.clone(), &path)?;
        Ok(Session {
            usim: Usim::new(Box::new(SoftTransport { card })),
            label: format!("soft card {}", path.display()),
            profile: Some(profile),
            pin,
            is_soft: true,
        })
    }
}

impl Session {
    /// Select the USIM and verify PIN1 if the card asks for it.
    pub fn ready(&mut self) -> Result<(), SessionError> {
        self.usim.select_usim()?;
        if self.usim.pin1_verification_needed()? {
            let pin = self.pin.clone().ok_or(SessionError::PinRequired)?;
            self.usim.verify_pin1(&pin)?;
        }
        Ok(())
    }

    /// Script variables: the profile's, when there is one.
    #[must_use]
    pub fn script_vars(&self) -> std::collections::BTreeMap<String, String> {
        self.profile
            .as_ref()
            .map(Profile::script_vars)
            .unwrap_or_default()
    }
}
