//! The PIN commands: VERIFY, CHANGE, DISABLE, ENABLE and UNBLOCK PIN
//! (TS 102 221 §11.1.9–11.1.13), on the PIN1, PIN2 and ADM1 counters of [`crate::pin`].

use gbau_core::{ResponseApdu, StatusWord};

use super::Card;
use crate::command::KeyRef;
use crate::pin;

impl Card {
    // TS 102 221 §11.1.9, VERIFY PIN
    pub(super) fn verify(
        &mut self,
        key: KeyRef,
        candidate: Option<[u8; 8]>,
    ) -> Result<ResponseApdu, StatusWord> {
        let i = pin::slot(key);
        let Some(candidate) = candidate else {
            let p = &self.state.pins[i];
            return if p.tries_left == 0 {
                Err(StatusWord::AuthMethodBlocked)
            } else if self.volatile.verified[i] || (!p.enabled && key != KeyRef::Adm1) {
                Self::ok(Vec::new())
            } else {
                Err(StatusWord::RetriesLeft(p.tries_left))
            };
        };
        let before = self.state.pins[i].tries_left;
        let result = self.state.pins[i].present(&candidate);
        self.dirty |= self.state.pins[i].tries_left != before;
        self.volatile.verified[i] = result.is_ok();
        result.and_then(|()| Self::ok(Vec::new()))
    }

    // TS 102 221 §11.1.10, CHANGE PIN
    pub(super) fn change_pin(
        &mut self,
        key: KeyRef,
        old: &[u8; 8],
        new: &[u8; 8],
    ) -> Result<ResponseApdu, StatusWord> {
        let i = pin::slot(key);
        if key == KeyRef::Adm1 || !self.state.pins[i].enabled {
            return Err(StatusWord::ConditionsOfUseNotSatisfied);
        }
        let new = crate::profile::PinValue::from_block(*new);
        if !new.is_well_formed() {
            return Err(StatusWord::IncorrectData);
        }
        let before = self.state.pins[i].tries_left;
        let result = self.state.pins[i].present(old);
        self.dirty |= self.state.pins[i].tries_left != before;
        result?;
        self.state.pins[i].value = new;
        self.volatile.verified[i] = true;
        self.dirty = true;
        Self::ok(Vec::new())
    }

    // TS 102 221 §11.1.11–11.1.12, DISABLE / ENABLE PIN
    pub(super) fn set_pin_enabled(
        &mut self,
        key: KeyRef,
        candidate: &[u8; 8],
        enable: bool,
    ) -> Result<ResponseApdu, StatusWord> {
        let i = pin::slot(key);
        if key == KeyRef::Adm1 || self.state.pins[i].enabled == enable {
            return Err(StatusWord::ConditionsOfUseNotSatisfied);
        }
        let before = self.state.pins[i].tries_left;
        let result = self.state.pins[i].present(candidate);
        self.dirty |= self.state.pins[i].tries_left != before;
        result?;
        self.state.pins[i].enabled = enable;
        self.volatile.verified[i] = true;
        self.dirty = true;
        Self::ok(Vec::new())
    }

    // TS 102 221 §11.1.13, UNBLOCK PIN
    pub(super) fn unblock_pin(
        &mut self,
        key: KeyRef,
        puk_new: Option<([u8; 8], [u8; 8])>,
    ) -> Result<ResponseApdu, StatusWord> {
        let i = pin::slot(key);
        if key == KeyRef::Adm1 {
            return Err(StatusWord::ReferencedDataNotFound);
        }
        let Some((puk, new)) = puk_new else {
            let p = &self.state.pins[i];
            return if p.puk_tries_left == 0 {
                Err(StatusWord::AuthMethodBlocked)
            } else {
                Err(StatusWord::RetriesLeft(p.puk_tries_left))
            };
        };
        let before = self.state.pins[i].puk_tries_left;
        let result = self.state.pins[i].unblock(&puk, &new);
        self.dirty |= self.state.pins[i].puk_tries_left != before;
        result?;
        self.volatile.verified[i] = true;
        self.dirty = true;
        Self::ok(Vec::new())
    }
}
