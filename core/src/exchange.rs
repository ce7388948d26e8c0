//! Response chaining written once, above any transport (ISO 7816-4 §5.3.4, TS 102 221
//! §7.3): '61xx' and '9Fxx' fetch the waiting data with GET RESPONSE, '6Cxx' repeats the
//! command with the right Le. The same client code then works with T=0 and T=1 cards.

use crate::{CommandApdu, ResponseApdu, StatusWord};

/// INS of GET RESPONSE.
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// How many GET RESPONSE / re-send rounds one command may take before giving up.
pub const MAX_ROUNDS: usize = 32;

/// Errors of a chained exchange.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError<E: std::error::Error + 'static> {
    /// The transport failed.
    #[error(transparent)]
    Transport(E),
    /// The card's answer is not a response APDU.
    #[error("malformed response from the card: {0}")]
    Malformed(#[from] crate::ApduError),
    /// The card kept asking for more rounds.
    #[error("card asked for more than {MAX_ROUNDS} GET RESPONSE/re-send rounds")]
    TooManyRounds,
}

/// A transport as a function: raw command bytes in, raw response bytes out.
pub type RawTransmit<'a, E> = dyn FnMut(&[u8]) -> Result<Vec<u8>, E> + 'a;

/// GET RESPONSE for `n` bytes ('00' = 256).
#[must_use]
pub fn get_response(n: u8) -> CommandApdu {
    CommandApdu::new(0x00, INS_GET_RESPONSE, 0x00, 0x00).with_ne(if n == 0 {
        256
    } else {
        usize::from(n)
    })
}

/// Send `cmd` through `transmit` (raw bytes in, raw bytes out) and follow '61xx', '9Fxx'
/// and '6Cxx' until the final response, whose data is the concatenation of all parts.
pub fn transceive<E: std::error::Error + 'static>(
    transmit: &mut RawTransmit<'_, E>,
    cmd: &CommandApdu,
) -> Result<ResponseApdu, ExchangeError<E>> {
    let mut data = Vec::new();
    let mut next = cmd.clone();
    for _ in 0..MAX_ROUNDS {
        let raw = transmit(&next.to_bytes()?).map_err(ExchangeError::Transport)?;
        let r = ResponseApdu::parse(&raw)?;
        match r.sw {
            StatusWord::MoreData(n) | StatusWord::UiccMoreData(n) => {
                data.extend_from_slice(&r.data);
                next = get_response(n);
            }
            StatusWord::WrongLe(n) => {
                data.extend_from_slice(&r.data);
                next.ne = Some(if n == 0 { 256 } else { usize::from(n) });
            }
            sw => {
                data.extend_from_slice(&r.data);
                return Ok(ResponseApdu::new(data, sw));
            }
        }
    }
    Err(ExchangeError::TooManyRounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    #[test]
    fn follows_61xx_and_6cxx() {
        let mut seen = Vec::new();
        let mut card = |raw: &[u8]| -> Result<Vec<u8>, Never> {
            seen.push(raw.to_vec());
            Ok(match raw {
                [0x00, 0xB0, ..] if raw[4] == 0x00 => vec![0x6C, 0x03],
                [0x00, 0xB0, ..] => vec![1, 2, 3, 0x90, 0x00],
                [0x00, 0xA4, ..] => vec![0x61, 0x02],
                [0x00, 0xC0, ..] => vec![0xAA, 0xBB, 0x90, 0x00],
                _ => vec![0x6D, 0x00],
            })
        };
        let r = transceive(&mut card, &CommandApdu::new(0, 0xB0, 0, 0).with_ne(256)).unwrap();
        assert_eq!(r.data, vec![1, 2, 3]);
        let r = transceive(
            &mut card,
            &CommandApdu::new(0, 0xA4, 0, 4)
                .with_data(vec![0x3F, 0])
                .with_ne(256),
        )
        .unwrap();
        assert_eq!((r.data, r.sw), (vec![0xAA, 0xBB], StatusWord::Ok));
        assert_eq!(seen[1], vec![0x00, 0xB0, 0x00, 0x00, 0x03]);
        assert_eq!(seen[3], vec![0x00, 0xC0, 0x00, 0x00, 0x02]);
    }
}
