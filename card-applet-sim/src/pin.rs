//! PIN1, PIN2 and ADM1 with their retry counters (TS 102 221 §9.5, §11.1.9–11.1.13).
//!
//! Counters and values persist; the "verified" flags are volatile and cleared on reset.

use gbau_core::{ct_eq, StatusWord};

use crate::command::KeyRef;
use crate::profile::{PinProfile, PinValue};

/// One PIN with its unblock key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub value: PinValue,
    pub enabled: bool,
    pub tries_left: u8,
    pub max_tries: u8,
    pub puk: Option<PinValue>,
    pub puk_tries_left: u8,
    pub max_puk_tries: u8,
}

impl Pin {
    /// A fresh PIN from the profile.
    #[must_use]
    pub fn from_profile(p: &PinProfile) -> Self {
        Self {
            value: p.value.clone(),
            enabled: p.enabled,
            tries_left: p.retries,
            max_tries: p.retries,
            puk: p.puk.clone(),
            puk_tries_left: p.puk_retries,
            max_puk_tries: p.puk_retries,
        }
    }

    fn matches(&self, candidate: &[u8; 8]) -> bool {
        ct_eq(self.value.block(), candidate)
    }

    /// Check a presented value: resets the counter on success, decrements it on failure.
    /// Returns the status word to answer with; `Ok(())` means the value matched.
    pub fn present(&mut self, candidate: &[u8; 8]) -> Result<(), StatusWord> {
        if self.tries_left == 0 {
            return Err(StatusWord::AuthMethodBlocked);
        }
        if self.matches(candidate) {
            self.tries_left = self.max_tries;
            Ok(())
        } else {
            self.tries_left -= 1;
            Err(StatusWord::RetriesLeft(self.tries_left))
        }
    }

    /// UNBLOCK PIN with the PUK and a new PIN.
    pub fn unblock(&mut self, puk: &[u8; 8], new: &[u8; 8]) -> Result<(), StatusWord> {
        let Some(stored) = &self.puk else {
            return Err(StatusWord::ReferencedDataNotFound);
        };
        if self.puk_tries_left == 0 {
            return Err(StatusWord::AuthMethodBlocked);
        }
        let new = PinValue::from_block(*new);
        if !new.is_well_formed() {
            return Err(StatusWord::IncorrectData);
        }
        if ct_eq(stored.block(), puk) {
            self.puk_tries_left = self.max_puk_tries;
            self.value = new;
            self.tries_left = self.max_tries;
            self.enabled = true;
            Ok(())
        } else {
            self.puk_tries_left -= 1;
            Err(StatusWord::RetriesLeft(self.puk_tries_left))
        }
    }
}

/// Index of a key reference in the card's PIN array.
#[must_use]
pub fn slot(key: KeyRef) -> usize {
    match key {
        KeyRef::Pin1 => 0,
        KeyRef::Pin2 => 1,
        KeyRef::Adm1 => 2,
    }
}

/// Name of a key reference in the state file.
#[must_use]
pub fn name(slot: usize) -> &'static str {
    ["pin1", "pin2", "adm1"]
        .get(slot)
        .copied()
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> Pin {
        Pin {
            value: PinValue::from_digits("1234").unwrap(),
            enabled: true,
            tries_left: 3,
            max_tries: 3,
            puk: PinValue::from_digits("12345678"),
            puk_tries_left: 10,
            max_puk_tries: 10,
        }
    }

    fn block(d: &str) -> [u8; 8] {
        *PinValue::from_digits(d).unwrap().block()
    }

    #[test]
    fn counts_down_blocks_and_unblocks() {
        let mut p = pin();
        assert_eq!(p.present(&block("0000")), Err(StatusWord::RetriesLeft(2)));
        assert_eq!(p.present(&block("1234")), Ok(()));
        assert_eq!(p.tries_left, 3);
        for left in [2, 1, 0] {
            assert_eq!(
                p.present(&block("9999")),
                Err(StatusWord::RetriesLeft(left))
            );
        }
        assert_eq!(
            p.present(&block("1234")),
            Err(StatusWord::AuthMethodBlocked)
        );
        assert_eq!(
            p.unblock(&block("11111111"), &block("4321")),
            Err(StatusWord::RetriesLeft(9))
        );
        assert_eq!(p.unblock(&block("12345678"), &block("4321")), Ok(()));
        assert_eq!(p.present(&block("4321")), Ok(()));
        assert_eq!(
            p.unblock(
                &block("12345678"),
                &[0x31, 0x32, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
            ),
            Err(StatusWord::IncorrectData)
        );
    }
}
