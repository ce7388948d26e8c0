//! Clock and randomness for the MT side: the few places where the host reads the time or
//! draws random numbers (gbau-core takes both as inputs).

/// Current Unix time in seconds.
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Fill with OS randomness; without it the MT cannot make nonces, so it stops.
pub fn os_random(buf: &mut [u8]) {
    if getrandom::getrandom(buf).is_err() {
        tracing::error!("no OS randomness available");
        std::process::abort();
    }
}

/// Hex text to bytes, `None` when it is not hex.
#[must_use]
pub fn hex_arg(text: &str) -> Option<Vec<u8>> {
    gbau_core::hexutil::parse_hex(text).ok()
}

/// Read at most `max` bytes of an answer: `Ok(None)` when it is longer (refused, not read on).
pub fn read_capped(r: impl std::io::Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut r.take(max as u64 + 1), &mut body)?;
    Ok((body.len() <= max).then_some(body))
}
