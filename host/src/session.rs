//! Which card a command talks to: `--reader NAME` (PC/SC) or the soft card in this process
//! (`--sim STATE_FILE`, default `~/.local/state/gbau/soft-card.json`, profile embedded unless
//! `--profile FILE`), and PIN1 handling (`--pin` or `GBAU_PIN`; a soft card's profile PIN
//! otherwise).

use std::path::PathBuf;
use std::time::Duration;

use gbau_card::{Profile, SoftCard};

use gbau_card::profile::EMBEDDED_PROFILE;
use std::cell::Cell;
use std::rc::Rc;

use gbau_core::apdu::{log_command, log_response};

use crate::transport::{CardLink, PcscTransport, SoftTransport, Transport, TransportError};
use crate::usim::{Usim, UsimError};

/// How long to wait for a card to be inserted.
pub const CARD_WAIT: Duration = Duration::from_secs(10);

/// The card options every card command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CardOpts {
    /// PC/SC reader: exact name, unique substring, or index from `gbau readers`
    #[arg(long, env = "GBAU_READER", value_name = "NAME", conflicts_with = "sim")]
    pub reader: Option<String>,
    /// Use the soft card in this process with this state file (created when missing)
    #[arg(long, value_name = "STATE_FILE")]
    pub sim: Option<PathBuf>,
    /// Card profile: the soft card's definition, or a real card's keys for `gba check`/scripts
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// PIN1, verified when the card requires it
    #[arg(long, env = "GBAU_PIN", value_name = "PIN", hide_env_values = true)]
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

/// An open card.
pub struct Session {
    link: Box<dyn CardLink>,
    /// "reader NAME" or "soft card STATE_FILE".
    pub label: String,
    /// The profile, when known (soft card, or `--profile`).
    pub profile: Option<Profile>,
    /// PIN1 to use when the card asks for it.
    pub pin: Option<String>,
    pub is_soft: bool,
    /// When set and on, every exchange is printed in the shared log format.
    pub trace: Option<Rc<Cell<bool>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// A transport that prints every exchange.
struct Traced<'a> {
    inner: &'a mut dyn Transport,
}

impl Transport for Traced<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let r = self.inner.transmit(apdu)?;
        println!("{}", log_command(apdu));
        // The user asked to see the card's answers in their own terminal.
        println!("{}", log_response(&r, false));
        Ok(r)
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
                link: Box::new(t),
                label,
                profile: self.load_profile(false)?,
                pin: self.pin.clone(),
                is_soft: false,
                trace: None,
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
            link: Box::new(SoftTransport { card }),
            label: format!("soft card {}", path.display()),
            profile: Some(profile),
            pin,
            is_soft: true,
            trace: None,
        })
    }
}

/// The card as a USIM inside one exclusive use.
pub type LockedUsim<'a> = Usim<&'a mut dyn Transport>;

/// Select the USIM and verify PIN1 if the card asks for it.
pub fn ready(usim: &mut LockedUsim<'_>, pin: Option<&str>) -> Result<(), SessionError> {
    usim.select_usim()?;
    if usim.pin1_verification_needed()? {
        usim.verify_pin1(pin.ok_or(SessionError::PinRequired)?)?;
    }
    Ok(())
}

impl Session {
    /// Run `f` with the card held for this program (a PC/SC transaction on readers), so
    /// multi-APDU operations are not interleaved with other programs' commands.
    pub fn with_card<R, E: From<TransportError>>(
        &mut self,
        f: impl FnOnce(&mut LockedUsim<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut f = Some(f);
        let mut out: Option<Result<R, E>> = None;
        let trace = self.trace.as_ref().is_some_and(|t| t.get());
        self.link.exclusive(&mut |t: &mut dyn Transport| {
            if let Some(f) = f.take() {
                out = Some(if trace {
                    let mut traced = Traced { inner: t };
                    f(&mut Usim::new(&mut traced as &mut dyn Transport))
                } else {
                    f(&mut Usim::new(t))
                });
            }
        })?;
        out.unwrap_or_else(|| {
            Err(TransportError::SoftCard("the card link did not run the operation".into()).into())
        })
    }

    /// The card's ATR.
    pub fn atr(&self) -> Result<Vec<u8>, TransportError> {
        self.link.atr()
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
