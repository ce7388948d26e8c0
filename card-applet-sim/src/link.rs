//! The transmission personality around the card (ISO 7816-3 §10.3, ISO 7816-4 §5.1.3):
//! under T=0 a command that brings data answers '61xx' and the data waits for GET RESPONSE;
//! a case-2 command with the wrong Le answers '6Cxx'. Under T=1 data comes back at once.

use gbau_core::apdu::ApduError;
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};

use crate::card::Card;
use crate::command::{ins, CLA_ISO};
use crate::profile::Protocol;

/// Largest response the link hands out in one piece (short APDUs).
const SHORT_MAX: usize = 256;

/// T=0 / T=1 behaviour and the GET RESPONSE buffer.
#[derive(Debug)]
pub struct Link {
    protocol: Protocol,
    pending: Vec<u8>,
}

fn more(n: usize) -> StatusWord {
    StatusWord::MoreData(if n >= SHORT_MAX { 0 } else { n as u8 })
}

fn wrong_le(n: usize) -> StatusWord {
    StatusWord::WrongLe(if n >= SHORT_MAX { 0 } else { n as u8 })
}

impl Link {
    /// A link with the given personality.
    #[must_use]
    pub fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            pending: Vec::new(),
        }
    }

    /// The personality.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Forget buffered response data (on reset).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// One exchange: raw command bytes in, raw response bytes out. Never panics.
    pub fn transmit(&mut self, card: &mut Card, raw: &[u8]) -> ResponseApdu {
        let apdu = match CommandApdu::parse(raw) {
            Ok(a) => a,
            Err(ApduError::TooShort { .. }) | Err(_) => {
                self.pending.clear();
                return ResponseApdu::status(StatusWord::WrongLength);
            }
        };
        if apdu.cla == CLA_ISO && apdu.ins == ins::GET_RESPONSE && self.protocol == Protocol::T0 {
            return self.get_response(&apdu);
        }
        self.pending.clear();
        let response = card.process(&apdu);
        match self.protocol {
            Protocol::T0 => self.t0(&apdu, response),
            Protocol::T1 => Self::t1(&apdu, response),
        }
    }

    fn t0(&mut self, apdu: &CommandApdu, response: ResponseApdu) -> ResponseApdu {
        if response.data.is_empty() {
            return response;
        }
        if !apdu.data.is_empty() || apdu.ne.is_none() {
            // Case 3/4 under T=0: the data waits for GET RESPONSE.
            let n = response.data.len();
            self.pending = response.data;
            return ResponseApdu::status(more(n));
        }
        // Case 2: the data must match Le exactly.
        let ne = apdu.ne.unwrap_or(SHORT_MAX);
        if response.data.len() != ne {
            return ResponseApdu::status(wrong_le(response.data.len()));
        }
        response
    }

    fn t1(apdu: &CommandApdu, mut response: ResponseApdu) -> ResponseApdu {
        if let Some(ne) = apdu.ne {
            if response.data.len() > ne {
                let n = response.data.len();
                response.data.truncate(ne);
                response.sw = wrong_le(n);
                response.data.clear();
            }
        }
        response
    }

    fn get_response(&mut self, apdu: &CommandApdu) -> ResponseApdu {
        if self.pending.is_empty() {
            return ResponseApdu::status(StatusWord::ConditionsOfUseNotSatisfied);
        }
        if apdu.p1 != 0 || apdu.p2 != 0 {
            return ResponseApdu::status(StatusWord::IncorrectP1P2);
        }
        let available = self.pending.len();
        let ne = apdu.ne.unwrap_or(SHORT_MAX);
        if ne > available {
            return ResponseApdu::status(wrong_le(available));
        }
        let rest = self.pending.split_off(ne);
        let data = std::mem::replace(&mut self.pending, rest);
        let sw = if self.pending.is_empty() {
            StatusWord::Ok
        } else {
            more(self.pending.len())
        };
        ResponseApdu::new(data, sw)
    }
}
