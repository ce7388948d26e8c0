//! Pure 3GPP algorithms and ISO 7816 types shared by the gbau card, host and network side.
//!
//! Nothing in this crate does I/O, reads a clock or draws randomness: callers pass time and
//! random values in. Secret values live in [`secret`] newtypes that zeroize on drop and never
//! print their bytes.

pub mod aka;
pub mod apdu;
pub mod digest;
pub mod ef;
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
