//! gbau-card: the soft GBA_U USIM application (TS 31.102, TS 33.220 Annex G) at APDU level.
//!
//! What it is: [`Card`] is a pure function of its state — `process(command) -> response`,
//! `reset`, `atr` — over the UICC file system of [`fs`] with the PINs of [`pin`]; its
//! personality (which files hold its keys and SQN policy: the standard layout or a sysmo
//! card's) is chosen by the [`Profile`]. [`SoftCard`] adds the T=0/T=1 link and the durable
//! state file; [`vpcd`] and [`stdio`] are thin bridges that let a PC/SC program or a pipe
//! talk to it.
//!
//! What it may depend on: gbau-core only. The MT (gbau-host) uses it as the in-process
//! card; the network side never does.
//!
//! Where to start reading: [`command`] (bytes become a command once), then [`card`] (one
//! handler per command, each headed by its clause), [`fs`] and [`profile`].

pub mod card;
pub mod command;
pub mod fs;
pub mod link;
mod personality;
pub mod pin;
pub mod profile;
pub mod scripts;
pub mod soft;
pub mod state;
pub mod stdio;
pub mod store;
pub mod vpcd;

pub use card::Card;
pub use profile::{Layout, Profile, Protocol};
pub use soft::{SoftCard, SoftCardError};
