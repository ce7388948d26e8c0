//! `gbau card ...`: run the soft card behind the virtual reader or on stdin/stdout.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use gbau_card::{Profile, SoftCard};
use gbau_core::hexutil::{parse_hex, to_hex};

/// Errors of the card commands.
#[derive(Debug, thiserror::Error)]
pub enum CardCmdError {
    #[error(transparent)]
    Profile(#[from] gbau_card::profile::ProfileError),
    #[error(transparent)]
    Card(#[from] gbau_card::SoftCardError),
    #[error(transparent)]
    Vpcd(#[from] gbau_card::vpcd::VpcdError),
    #[error("stdio: {0}")]
    Io(#[from] std::io::Error),
}

/// `gbau card serve`: connect to vpcd and answer until killed.
pub fn serve(profile: Profile, label: &str, state: &Path, vpcd: &str) -> Result<(), CardCmdError> {
    let mut card = SoftCard::open(profile, state)?;
    eprintln!(
        "gbau card: serving {label} (state {}) on vpcd {vpcd}",
        state.display()
    );
    let stop = AtomicBool::new(false);
    gbau_card::vpcd::run(&mut card, vpcd, &stop)?;
    Ok(())
}

/// `gbau card stdio`: one hex APDU per input line, one hex response per output line. A line
/// that is not hex gets `error: ...` and the card keeps serving.
pub fn stdio(profile: Profile, state: &Path) -> Result<(), CardCmdError> {
    let mut card = SoftCard::open(profile, state)?;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ATR {}", to_hex(&card.atr()))?;
    out.flush()?;
    for line in stdin.lock().lines() {
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
