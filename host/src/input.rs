//! Command-line values to typed inputs, with one-line errors that name the argument.

use gbau_core::hexutil::{self, HexError};

/// A malformed command-line value: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{arg}: {problem}")]
pub struct UsageError {
    /// The argument as the user typed it (`--k`).
    pub arg: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl UsageError {
    /// An error about `arg`.
    pub fn new(arg: &'static str, problem: impl Into<String>) -> Self {
        Self {
            arg,
            problem: problem.into(),
        }
    }
}

/// A secret given on the command line, or — so it need not sit in the process list or the
/// shell history — `@FILE` (the file's first line) or `-` (one line from standard input).
pub fn secret_value(arg: &'static str, text: &str) -> Result<String, UsageError> {
    let line = |raw: String| raw.lines().next().unwrap_or("").trim().to_owned();
    if text == "-" {
        let mut raw = String::new();
        std::io::stdin()
            .read_line(&mut raw)
            .map_err(|e| UsageError::new(arg, format!("standard input: {e}")))?;
        return Ok(line(raw));
    }
    if let Some(path) = text.strip_prefix('@') {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| UsageError::new(arg, format!("{path}: {e}")))?;
        return Ok(line(raw));
    }
    Ok(text.to_owned())
}

fn describe(e: HexError) -> String {
    match e {
        HexError::WrongLength { expected, got } => {
            format!(
                "expected {expected} bytes ({} hex digits), got {got} bytes",
                expected * 2
            )
        }
        other => other.to_string(),
    }
}

/// Hex that must be exactly `N` bytes.
pub fn fixed_hex<const N: usize>(arg: &'static str, text: &str) -> Result<[u8; N], UsageError> {
    hexutil::parse_fixed::<N>(text).map_err(|e| {
        let problem = match e {
            HexError::NotHex { .. } | HexError::OddLength { .. } => {
                format!("{}; expected {N} bytes ({} hex digits)", describe(e), N * 2)
            }
            other => describe(other),
        };
        UsageError::new(arg, problem)
    })
}

/// A comma-separated list of exactly five decimal rotations (Milenage r1..r5).
pub fn rotations(arg: &'static str, text: &str) -> Result<[u8; 5], UsageError> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 5 {
        return Err(UsageError::new(
            arg,
            format!(
                "expected 5 comma-separated values r1..r5, got {}",
                parts.len()
            ),
        ));
    }
    let mut out = [0u8; 5];
    for (i, p) in parts.iter().enumerate() {
        out[i] = p.parse::<u8>().ok().filter(|v| *v <= 127).ok_or_else(|| {
            UsageError::new(
                arg,
                format!("r{} = {p:?} is not a rotation of 0..=127 bits", i + 1),
            )
        })?;
    }
    Ok(out)
}

/// A comma-separated list of exactly five 16-byte hex constants (Milenage c1..c5).
pub fn constants(arg: &'static str, text: &str) -> Result<[[u8; 16]; 5], UsageError> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 5 {
        return Err(UsageError::new(
            arg,
            format!(
                "expected 5 comma-separated values c1..c5, got {}",
                parts.len()
            ),
        ));
    }
    let mut out = [[0u8; 16]; 5];
    for (i, p) in parts.iter().enumerate() {
        out[i] = hexutil::parse_fixed::<16>(p)
            .map_err(|e| UsageError::new(arg, format!("c{}: {}", i + 1, describe(e))))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_argument_and_length() {
        let e = fixed_hex::<16>("--k", "00").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--k: expected 16 bytes (32 hex digits), got 1 bytes"
        );
        let e = fixed_hex::<6>("--sqn", "zz").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--sqn: not hex: 'z' at position 0; expected 6 bytes (12 hex digits)"
        );
        assert!(rotations("--r", "64,0,32,64").is_err());
        assert_eq!(
            rotations("--r", "64, 0,32,64,96").unwrap(),
            [64, 0, 32, 64, 96]
        );
        assert!(rotations("--r", "64,0,32,64,200").is_err());
    }
}
