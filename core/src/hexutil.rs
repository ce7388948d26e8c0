//! Hex text to bytes and back, with errors that say what was expected.

/// Why a hex string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// A character that is not a hex digit (spaces between digits are allowed).
    #[error("not hex: {found:?} at position {position}")]
    NotHex { position: usize, found: char },
    /// An odd number of hex digits.
    #[error("odd number of hex digits ({digits})")]
    OddLength { digits: usize },
    /// Well-formed hex of the wrong length.
    #[error("expected {expected} bytes ({} hex digits), got {got} bytes", expected * 2)]
    WrongLength { expected: usize, got: usize },
    /// Well-formed hex outside an allowed length range.
    #[error("expected {min} to {max} bytes, got {got} bytes")]
    OutOfRange { min: usize, max: usize, got: usize },
}

/// Parse hex digits in either case; ASCII spaces between octets are ignored.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut nibbles = Vec::with_capacity(text.len());
    for (position, c) in text.char_indices() {
        if c == ' ' || c == '\t' {
            continue;
        }
        match c.to_digit(16) {
            Some(d) => nibbles.push(d as u8),
            None => return Err(HexError::NotHex { position, found: c }),
        }
    }
    if nibbles.len() % 2 != 0 {
        return Err(HexError::OddLength {
            digits: nibbles.len(),
        });
    }
    Ok(nibbles
        .chunks_exact(2)
        .map(|p| (p[0] << 4) | p[1])
        .collect())
}

/// Parse hex that must be exactly `N` bytes.
pub fn parse_fixed<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let bytes = parse_hex(text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| HexError::WrongLength {
        expected: N,
        got: bytes.len(),
    })
}

/// Parse hex whose length must lie in `min..=max` bytes.
pub fn parse_ranged(text: &str, min: usize, max: usize) -> Result<Vec<u8>, HexError> {
    let bytes = parse_hex(text)?;
    if (min..=max).contains(&bytes.len()) {
        Ok(bytes)
    } else {
        Err(HexError::OutOfRange {
            min,
            max,
            got: bytes.len(),
        })
    }
}

/// Lower-case hex without separators.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mixed_case_and_spaces() {
        assert_eq!(parse_hex("0a B0 c1").unwrap(), vec![0x0A, 0xB0, 0xC1]);
        assert_eq!(parse_fixed::<2>("FFee").unwrap(), [0xFF, 0xEE]);
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            parse_hex("0g"),
            Err(HexError::NotHex {
                position: 1,
                found: 'g'
            })
        );
        assert_eq!(parse_hex("abc"), Err(HexError::OddLength { digits: 3 }));
        let e = parse_fixed::<16>("00").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected 16 bytes (32 hex digits), got 1 bytes"
        );
    }
}
