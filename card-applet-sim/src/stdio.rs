//! The soft card over a line protocol (`gbau card stdio`): one hex APDU per input line, one
//! hex response per output line, `reset` for a new ATR. A line that is not hex gets
//! `error: ...` and the card keeps serving. A thin adapter around [`SoftCard`], like [`vpcd`].
//!
//! [`vpcd`]: crate::vpcd

use std::io::{BufRead, Write};

use gbau_core::hexutil::{parse_hex, to_hex};

use crate::SoftCard;

/// Serve `card` on `input`/`out` until the input ends.
pub fn serve(card: &mut SoftCard, input: impl BufRead, mut out: impl Write) -> std::io::Result<()> {
    writeln!(out, "ATR {}", to_hex(&card.atr()))?;
    out.flush()?;
    for line in input.lines() {
        let line = line?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match text {
            "reset" => {
                card.reset();
                writeln!(out, "ATR {}", to_hex(&card.atr()))?;
            }
            _ => match parse_hex(text) {
                Ok(apdu) => writeln!(out, "{}", to_hex(&card.transmit_or_memory_problem(&apdu)))?,
                Err(e) => writeln!(out, "error: {e}")?,
            },
        }
        out.flush()?;
    }
    Ok(())
}
