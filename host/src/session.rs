//! Which card a command talks to: `--reader NAME` (PC/SC) or the soft card in this process
//! (`--sim STATE_FILE`, default `~/.local/state/gbau/soft-card.json`, profile embedded unless
//! `--profile FILE`), and PIN1 handling (`--pin` or `GBAU_PIN`; a soft card's profile PIN
//! otherwise).

use std::path::PathBuf;
use std::time::Duration;

use gbau_card::{Profile, SoftCard};

use gbau_card::profile::EMBEDDED_PROFILE;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gbau_core::apdu::{log_command, log_response};
use gbau_core::CommandApdu;

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
    /// PIN1, verified when the card requires it (or @FILE, or - for standard input)
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
    #[error("PIN1 is required: pass --pin PIN (or @FILE, or -) or set GBAU_PIN")]
    PinRequired,
    #[error(transparent)]
    Usage(#[from] crate::input::UsageError),
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
    /// The USIM's AID once `ready` found it in EF_DIR (see [`ready`]).
    usim_aid: Option<Vec<u8>>,
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
        // Without HOME: a folder of this user's own under the temporary directory, which
        // create_private_dir refuses unless it is this user's and closed to others.
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("gbau-{}", rustix::process::getuid().as_raw()))
        });
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

    /// PIN1 as given: the digits, or read from `@FILE` or `-` (standard input).
    fn pin(&self) -> Result<Option<String>, SessionError> {
        Ok(self
            .pin
            .as_deref()
            .map(|p| crate::input::secret_value("--pin", p))
            .transpose()?)
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
                pin: self.pin()?,
                is_soft: false,
                trace: None,
                usim_aid: None,
            });
        }
        let path = self.sim.clone().unwrap_or_else(default_sim_path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // gbau's own state folder must be this user's alone; a path the user names is theirs.
            let make = if self.sim.is_none() {
                gbau_card::store::own_private_dir
            } else {
                gbau_card::store::create_private_dir
            };
            make(dir).map_err(|source| SessionError::StateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let profile = self.load_profile(true)?.ok_or(SessionError::PinRequired)?;
        let pin = self.pin()?.or_else(|| Some(profile_pin(&profile)));
        let card = SoftCard::open(profile.clone(), &path)?;
        Ok(Session {
            link: Box::new(SoftTransport { card }),
            label: format!("soft card {}", path.display()),
            profile: Some(profile),
            pin,
            is_soft: true,
            trace: None,
            usim_aid: None,
        })
    }
}

/// The card as a USIM inside one exclusive use.
pub type LockedUsim<'a> = Usim<&'a mut dyn Transport>;

/// SELECT (TS 102 221 §11.1.1).
const INS_SELECT: u8 = 0xA4;
/// SELECT P1: by DF name (AID).
const P1_BY_DF_NAME: u8 = 0x04;
/// SELECT P2: activate the application, no data returned.
const P2_NO_DATA: u8 = 0x0C;

/// SELECT of an application by its full AID, nothing returned (one exchange under T=0).
#[must_use]
pub fn select_aid_no_data(aid: &[u8]) -> CommandApdu {
    CommandApdu::new(0x00, INS_SELECT, P1_BY_DF_NAME, P2_NO_DATA).with_data(aid.to_vec())
}

thread_local! {
    /// The USIM AID known to the session whose card this thread holds inside
    /// [`Session::with_card`]: outer `None` outside any, inner `None` until a `ready` found it.
    static HELD_USIM: RefCell<Option<Option<Vec<u8>>>> = const { RefCell::new(None) };
}

/// Holds a session's USIM AID in [`HELD_USIM`] for one `with_card`, and gives it back (as
/// `ready` left it) when dropped, so nested holds and panics restore the outer one.
struct HeldUsim<'s> {
    session_aid: &'s mut Option<Vec<u8>>,
    outer: Option<Option<Vec<u8>>>,
}

impl<'s> HeldUsim<'s> {
    fn enter(session_aid: &'s mut Option<Vec<u8>>) -> Self {
        let mine = Some(session_aid.take());
        let outer = HELD_USIM.with(|h| h.replace(mine));
        Self { session_aid, outer }
    }
}

impl Drop for HeldUsim<'_> {
    fn drop(&mut self) {
        let outer = self.outer.take();
        *self.session_aid = HELD_USIM.with(|h| h.replace(outer)).flatten();
    }
}

/// Select the USIM and verify PIN1 if the card asks for it. Inside [`Session::with_card`]
/// the session remembers the AID found in EF_DIR, so later calls select it in one command
/// (and fall back to EF_DIR if the card refuses it); PIN1 status is asked every time.
pub fn ready(usim: &mut LockedUsim<'_>, pin: Option<&str>) -> Result<(), SessionError> {
    let known = HELD_USIM.with(|h| h.borrow().clone().flatten());
    let selected = match known {
        Some(aid) => usim.send(&select_aid_no_data(&aid))?.sw.is_ok(),
        None => false,
    };
    if !selected {
        let aid = usim.select_usim()?;
        HELD_USIM.with(|h| {
            if let Some(held) = h.borrow_mut().as_mut() {
                *held = Some(aid);
            }
        });
    }
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
        let held = HeldUsim::enter(&mut self.usim_aid);
        let link = self.link.exclusive(&mut |t: &mut dyn Transport| {
            if let Some(f) = f.take() {
                out = Some(if trace {
                    let mut traced = Traced { inner: t };
                    f(&mut Usim::new(&mut traced as &mut dyn Transport))
                } else {
                    f(&mut Usim::new(t))
                });
            }
        });
        drop(held);
        if link.is_err() {
            // Removed, reset or gone: whatever card comes next is looked up again.
            self.usim_aid = None;
        }
        link?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const SELECT_EF_DIR: [u8; 7] = [0x00, 0xA4, 0x00, 0x04, 0x02, 0x2F, 0x00];

    /// The in-process card, with every command it was sent kept.
    struct Counting {
        soft: SoftTransport,
        sent: Rc<RefCell<Vec<Vec<u8>>>>,
    }

    impl Transport for Counting {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.sent.borrow_mut().push(apdu.to_vec());
            self.soft.transmit(apdu)
        }
    }

    impl CardLink for Counting {
        fn exclusive(
            &mut self,
            f: &mut dyn FnMut(&mut dyn Transport),
        ) -> Result<(), TransportError> {
            f(self);
            Ok(())
        }

        fn atr(&self) -> Result<Vec<u8>, TransportError> {
            Ok(self.soft.card.atr())
        }
    }

    fn session() -> (Session, Rc<RefCell<Vec<Vec<u8>>>>) {
        let profile = Profile::from_yaml(EMBEDDED_PROFILE).unwrap();
        let sent = Rc::<RefCell<Vec<Vec<u8>>>>::default();
        let link = Counting {
            soft: SoftTransport {
                card: SoftCard::in_memory(profile).unwrap(),
            },
            sent: sent.clone(),
        };
        let session = Session {
            link: Box::new(link),
            label: "test".into(),
            profile: None,
            pin: Some("1234".into()),
            is_soft: true,
            trace: None,
            usim_aid: None,
        };
        (session, sent)
    }

    fn imsi(s: &mut Session) -> String {
        s.with_card(|u| -> Result<_, SessionError> {
            ready(u, Some("1234"))?;
            Ok(u.imsi()?.to_string())
        })
        .unwrap()
    }

    #[test]
    fn select_aid_no_data_builds_a_case_3_select() {
        let aid = [0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02];
        assert_eq!(
            hex::encode(select_aid_no_data(&aid).to_bytes().unwrap()),
            "00a4040c07a0000000871002"
        );
    }

    #[test]
    fn a_session_reads_ef_dir_once_then_selects_the_usim_in_one_command() {
        let (mut s, sent) = session();
        let first = imsi(&mut s);
        assert!(sent.borrow().iter().any(|c| c.starts_with(&SELECT_EF_DIR)));
        let aid = s.usim_aid.clone().expect("the USIM AID is remembered");
        sent.borrow_mut().clear();
        assert_eq!(imsi(&mut s), first);
        let again = sent.borrow();
        assert_eq!(again[0], select_aid_no_data(&aid).to_bytes().unwrap());
        assert_eq!(
            again[1],
            [0x00, 0x20, 0x00, 0x01],
            "PIN1 status still asked"
        );
        assert!(!again.iter().any(|c| c.starts_with(&SELECT_EF_DIR)));
    }

    #[test]
    fn an_aid_the_card_refuses_falls_back_to_ef_dir() {
        let (mut s, sent) = session();
        let first = imsi(&mut s);
        let real = s.usim_aid.clone();
        s.usim_aid = Some(vec![0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xEE, 0xEE]);
        sent.borrow_mut().clear();
        assert_eq!(imsi(&mut s), first);
        assert!(sent.borrow().iter().any(|c| c.starts_with(&SELECT_EF_DIR)));
        assert_eq!(s.usim_aid, real);
    }

    #[test]
    fn ready_outside_a_session_remembers_nothing() {
        let profile = Profile::from_yaml(EMBEDDED_PROFILE).unwrap();
        let mut card = SoftTransport {
            card: SoftCard::in_memory(profile).unwrap(),
        };
        let mut u: LockedUsim<'_> = Usim::new(&mut card as &mut dyn Transport);
        ready(&mut u, Some("1234")).unwrap();
        assert!(HELD_USIM.with(|h| h.borrow().is_none()));
    }
}
