//! The script language itself: lines and steps, expected-response patterns with `??` and
//! `*`, variables; parsing, substitution and matching. Pure.

use std::collections::BTreeMap;
use std::fmt;

/// One token of an expected response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// This byte.
    Byte(u8),
    /// `??`: any one byte.
    AnyByte,
    /// `*`: any number of bytes (including none).
    AnyBytes,
}

/// What a line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `> APDU`: send, following 61xx/6Cxx; or `>! APDU`: send exactly, no chaining.
    Send { apdu: String, raw: bool },
    /// `< RESPONSE`: the response to the last command must match.
    Expect(String),
    /// `set NAME = VALUE`.
    Set { name: String, value: String },
    /// `include PATH`.
    Include(String),
    /// `repeat NAME FROM TO`: the lines up to the matching `end`, once for each number from
    /// FROM to TO (decimal, or a variable holding one), with `$NAME` that number as two hex
    /// digits (a record number in P1).
    Repeat {
        name: String,
        from: String,
        to: String,
    },
    /// `end` of a `repeat`.
    End,
}

/// A step with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub file: String,
    pub number: usize,
    pub text: String,
    pub step: Step,
}

/// What went wrong in a script.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("{file}:{line}: {problem}")]
    Syntax {
        file: String,
        line: usize,
        problem: String,
    },
    #[error("{file}:{line}: undefined variable ${name}")]
    Undefined {
        file: String,
        line: usize,
        name: String,
    },
    #[error("{file}:{line}: include {path}: {problem}")]
    Include {
        file: String,
        line: usize,
        path: String,
        problem: String,
    },
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
    #[error("{file}:{line}: transport: {problem}")]
    Transport {
        file: String,
        line: usize,
        problem: String,
    },
}

/// The first response that did not match, shown as a diff.
#[derive(Debug)]
pub struct Mismatch {
    pub file: String,
    pub line: usize,
    pub command: String,
    pub expected: String,
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:{}: response does not match", self.file, self.line)?;
        writeln!(f, "  > {}", self.command)?;
        writeln!(f, "  - {}", self.expected)?;
        write!(f, "  + {}", self.got)
    }
}

/// Longest include chain followed.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Parse a script's text.
pub fn parse(text: &str, file: &str) -> Result<Vec<Line>, ScriptError> {
    let mut out = Vec::new();
    for (i, raw_line) in text.lines().enumerate() {
        let number = i + 1;
        let content = raw_line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let syntax = |problem: &str| ScriptError::Syntax {
            file: file.to_owned(),
            line: number,
            problem: problem.to_owned(),
        };
        let step = if let Some(rest) = content.strip_prefix(">!") {
            Step::Send {
                apdu: rest.trim().to_owned(),
                raw: true,
            }
        } else if let Some(rest) = content.strip_prefix('>') {
            Step::Send {
                apdu: rest.trim().to_owned(),
                raw: false,
            }
        } else if let Some(rest) = content.strip_prefix('<') {
            Step::Expect(rest.trim().to_owned())
        } else if let Some(rest) = content.strip_prefix("set ") {
            let (name, value) = rest
                .split_once('=')
                .ok_or_else(|| syntax("set needs NAME = VALUE"))?;
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(syntax("variable names are letters, digits and _"));
            }
            Step::Set {
                name: name.to_owned(),
                value: value.trim().to_owned(),
            }
        } else if let Some(rest) = content.strip_prefix("include ") {
            Step::Include(rest.trim().to_owned())
        } else if let Some(rest) = content.strip_prefix("repeat ") {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            let [name, from, to] = parts.as_slice() else {
                return Err(syntax("repeat needs NAME FROM TO"));
            };
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(syntax("variable names are letters, digits and _"));
            }
            Step::Repeat {
                name: (*name).to_owned(),
                from: (*from).to_owned(),
                to: (*to).to_owned(),
            }
        } else if content == "end" {
            Step::End
        } else {
            return Err(syntax(
                "a line starts with >, >!, <, set, include, repeat or end",
            ));
        };
        if matches!(&step, Step::Send { apdu, .. } if apdu.is_empty()) {
            return Err(syntax("empty command"));
        }
        out.push(Line {
            file: file.to_owned(),
            number,
            text: content.to_owned(),
            step,
        });
    }
    Ok(out)
}

/// Replace `$name` and `${name}` with variable values.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut name = String::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                name.push(c);
            }
            // `${file_$r}`: a name built from another variable (one record per number).
            if name.contains('$') {
                // One level only: `${a_$r}`, never `${a_${b}}`.
                if name.contains('{') {
                    return Err(name);
                }
                name = substitute(&name, vars)?;
            }
        } else {
            while let Some(c) = chars
                .peek()
                .copied()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                name.push(c);
                chars.next();
            }
        }
        out.push_str(vars.get(&name).ok_or(name)?);
    }
    Ok(out)
}

/// Parse an expected response into patterns (hex bytes, `??`, `*`; spaces optional).
pub fn parse_pattern(text: &str) -> Result<Vec<Pattern>, String> {
    let mut out = Vec::new();
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut rest = compact.as_str();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('*') {
            out.push(Pattern::AnyBytes);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("??") {
            out.push(Pattern::AnyByte);
            rest = r;
        } else {
            let pair = rest
                .get(..2)
                .ok_or_else(|| format!("odd hex digit at {rest:?}"))?;
            let b = u8::from_str_radix(pair, 16).map_err(|_| format!("not hex: {pair:?}"))?;
            out.push(Pattern::Byte(b));
            rest = &rest[2..];
        }
    }
    Ok(out)
}

/// Whether `bytes` match `patterns` (with backtracking over `*`).
#[must_use]
pub fn matches(patterns: &[Pattern], bytes: &[u8]) -> bool {
    // Dynamic programming over (pattern, byte) positions: linear memory, no backtracking
    // blow-up however many `*` a pattern has. `reach[j]`: the patterns so far can consume
    // exactly bytes[..j].
    let mut reach = vec![false; bytes.len() + 1];
    reach[0] = true;
    for p in patterns {
        match p {
            Pattern::AnyBytes => {
                for j in 1..reach.len() {
                    reach[j] = reach[j] || reach[j - 1];
                }
            }
            single => {
                for j in (1..reach.len()).rev() {
                    let b = bytes[j - 1];
                    reach[j] = reach[j - 1]
                        && (*single == Pattern::AnyByte || *single == Pattern::Byte(b));
                }
                reach[0] = false;
            }
        }
    }
    reach[bytes.len()]
}
