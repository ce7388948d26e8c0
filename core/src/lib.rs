//! gbau-core: the pure 3GPP algorithms and codings shared by the gbau card, MT and network.
//!
//! What it is: APDUs and status words, BER-TLV, Milenage, AKA (AUTN, AUTS, the GBA_U MAC
//! modification), SQN freshness, the GBA key derivation, identities (IMPI, B-TID, NAF_Id),
//! elementary-file codings, HTTP Digest, the APDU script language, the sysmo card codings and
//! the wire formats both ends of an interface share ([`ua`], [`local_key`]). Nothing in this
//! crate does I/O, reads a clock or draws randomness: callers pass time and random values in.
//! Secret values live in [`secret`] newtypes that zeroize on drop and never print their bytes.
//!
//! What it may depend on: no other gbau crate; every other gbau crate depends on it.
//!
//! Where to start reading: [`milenage`] and [`aka`] (what the card and the HSS compute), then
//! [`kdf`] and [`identity`] (GBA's keys and names), [`apdu`] and [`status`] (the card's
//! interface), [`script`] (the shared APDU script language).

pub mod aka;
pub mod apdu;
pub mod arr;
pub mod digest;
pub mod ef;
pub mod ef_codec;
pub mod exchange;
pub mod hexutil;
pub mod identity;
pub mod kdf;
pub mod local_key;
pub mod milenage;
pub mod script;
pub mod secret;
pub mod sqn;
pub mod status;
pub mod sysmo;
pub mod time;
pub mod tlv;
pub mod ua;

pub use apdu::{ApduError, CommandApdu, ResponseApdu};
pub use status::StatusWord;

/// Constant-time equality of two byte strings of the same length (MAC comparisons).
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
