//! gbau-host: the mobile terminal (MT) side of GBA_U and the external device of seed 001.
//!
//! What it is: everything that runs beside a UICC — the transports (PC/SC with transactions,
//! the in-process soft card, record/replay), the USIM client, the card sessions the CLI opens,
//! the Ub client (bootstrapping with the BSF, GBA_U or GBA_ME), the Ua client (HTTP Digest with
//! Ks_(ext)_NAF), the ME key store of GBA_ME, the local interface between MT and external
//! device (framing, MT service, device client), personalization of programmable cards, and the
//! interactive REPL.
//!
//! What it may depend on: gbau-core (codings, algorithms, the Ua and Key Center wire formats)
//! and gbau-card (the soft card behind the in-process transport). It never depends on
//! gbau-network: the MT talks to a BSF, NAF or Key Center only over the wire.
//!
//! Where to start reading: [`transport`] (one trait, one method), then [`usim`] (the commands
//! as values), [`session`] (how a command opens a card), [`ub`] and [`ua`] (the two GBA
//! reference points the MT uses), then [`mt`] and [`device`] (seed 001).

pub mod cmd;
pub mod decode;
pub mod device;
pub mod efview;
pub mod error;
pub mod input;
pub mod local;
pub mod me_store;
pub mod mt;
pub mod mt_keys;
pub mod personalize;
pub mod session;
pub mod shell;
pub mod transport;
pub mod ua;
pub mod ub;
pub mod usim;
pub mod util;
