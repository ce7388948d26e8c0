//! The soft GBA_U USIM application (TS 31.102, TS 33.220 Annex G) at APDU level.
//!
//! [`Card`] is a pure function of its state: `process(command) -> response`, `reset`, `atr`.
//! [`SoftCard`] adds the T=0/T=1 link and the durable state file; [`vpcd`] connects it to a
//! vsmartcard virtual reader so any PC/SC program sees a card.

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
