//! The APDU script language (see `apdu-scripts/README.md`): commands, expected responses
//! with wildcards, comments, variables and includes. Parsing and matching are pure; running
//! takes a transmit function and a loader for included files.

use std::collections::BTreeMap;
use std::fmt;

use crate::exchange::{transceive, ExchangeError, RawTransmit};
use crate::hexutil::parse_hex;
use crate::{CommandApdu, ResponseApdu};

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
        } else {
            return Err(syntax("a line starts with >, >!, <, set or include"));
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
    match patterns.split_first() {
        None => bytes.is_empty(),
        Some((Pattern::AnyBytes, rest)) => {
            (0..=bytes.len()).any(|skip| matches(rest, &bytes[skip..]))
        }
        Some((p, rest)) => match bytes.split_first() {
            Some((b, tail)) => {
                (*p == Pattern::AnyByte || *p == Pattern::Byte(*b)) && matches(rest, tail)
            }
            None => false,
        },
    }
}

/// A completed exchange, for callers that print a transcript.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub command: Vec<u8>,
    pub response: ResponseApdu,
}

/// Loads an included file: (including file, path as written) → (name, text).
pub type Loader<'a> = dyn FnMut(&str, &str) -> Result<(String, String), String> + 'a;

/// Runs scripts against a transport.
pub struct Runner<'a, E: std::error::Error + 'static> {
    transmit: &'a mut RawTransmit<'a, E>,
    load: &'a mut Loader<'a>,
    pub vars: BTreeMap<String, String>,
    pub transcript: Vec<Exchange>,
}

impl<E: std::error::Error + 'static> fmt::Debug for Runner<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<'a, E: std::error::Error + 'static> Runner<'a, E> {
    /// `transmit` sends raw APDU bytes; `load(including_file, path)` returns (name, text) of
    /// an included file.
    pub fn new(transmit: &'a mut RawTransmit<'a, E>, load: &'a mut Loader<'a>) -> Self {
        Self {
            transmit,
            load,
            vars: BTreeMap::new(),
            transcript: Vec::new(),
        }
    }

    /// Run the lines of a script; stops at the first mismatch.
    pub fn run(&mut self, lines: &[Line]) -> Result<(), ScriptError> {
        self.run_depth(lines, 0)
    }

    fn run_depth(&mut self, lines: &[Line], depth: usize) -> Result<(), ScriptError> {
        let mut last: Option<(String, ResponseApdu)> = None;
        for line in lines {
            let undefined = |name: String| ScriptError::Undefined {
                file: line.file.clone(),
                line: line.number,
                name,
            };
            let syntax = |problem: String| ScriptError::Syntax {
                file: line.file.clone(),
                line: line.number,
                problem,
            };
            match &line.step {
                Step::Set { name, value } => {
                    let v = substitute(value, &self.vars).map_err(undefined)?;
                    self.vars.insert(name.clone(), v);
                }
                Step::Include(path) => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(ScriptError::Include {
                            file: line.file.clone(),
                            line: line.number,
                            path: path.clone(),
                            problem: "includes nested too deep".into(),
                        });
                    }
                    let (name, text) =
                        (self.load)(&line.file, path).map_err(|problem| ScriptError::Include {
                            file: line.file.clone(),
                            line: line.number,
                            path: path.clone(),
                            problem,
                        })?;
                    let inner = parse(&text, &name)?;
                    self.run_depth(&inner, depth + 1)?;
                    last = None;
                }
                Step::Send { apdu, raw } => {
                    let text = substitute(apdu, &self.vars).map_err(undefined)?;
                    let bytes = parse_hex(&text).map_err(|e| syntax(format!("command: {e}")))?;
                    let transport = |problem: String| ScriptError::Transport {
                        file: line.file.clone(),
                        line: line.number,
                        problem,
                    };
                    // Raw lines send the bytes as written, well-formed or not.
                    let response = if *raw {
                        let out = (self.transmit)(&bytes).map_err(|e| transport(e.to_string()))?;
                        ResponseApdu::parse(&out).map_err(|e| transport(e.to_string()))?
                    } else {
                        let cmd = CommandApdu::parse(&bytes)
                            .map_err(|e| syntax(format!("command: {e}")))?;
                        transceive(self.transmit, &cmd)
                            .map_err(|e: ExchangeError<E>| transport(e.to_string()))?
                    };
                    last = Some((crate::apdu::spaced_hex(&bytes), response.clone()));
                    self.transcript.push(Exchange {
                        command: bytes,
                        response,
                    });
                }
                Step::Expect(expected) => {
                    let Some((command, response)) = &last else {
                        return Err(syntax(
                            "expected response without a command before it".into(),
                        ));
                    };
                    let text = substitute(expected, &self.vars).map_err(undefined)?;
                    let patterns =
                        parse_pattern(&text).map_err(|p| syntax(format!("response: {p}")))?;
                    let got = response.to_bytes();
                    if !matches(&patterns, &got) {
                        return Err(ScriptError::Mismatch(Box::new(Mismatch {
                            file: line.file.clone(),
                            line: line.number,
                            command: command.clone(),
                            expected: text,
                            got: crate::apdu::spaced_hex(&got),
                        })));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match() {
        let p = parse_pattern("62 * 90 00").unwrap();
        assert!(matches(&p, &[0x62, 1, 2, 3, 0x90, 0x00]));
        assert!(matches(&p, &[0x62, 0x90, 0x00]));
        assert!(!matches(&p, &[0x62, 1, 0x6A, 0x82]));
        let q = parse_pattern("61??").unwrap();
        assert!(matches(&q, &[0x61, 0x22]));
        assert!(!matches(&q, &[0x61]));
    }

    #[test]
    fn parses_lines_and_substitutes() {
        let lines = parse(
            "# c\nset x = 3F00\n> 00 A4 00 04 02 $x  # trailing\n< * 90 00\ninclude a.apdu\n",
            "t",
        )
        .unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].number, 3);
        let mut vars = BTreeMap::new();
        vars.insert("x".to_owned(), "3F00".to_owned());
        assert_eq!(substitute("A4 ${x} $x", &vars).unwrap(), "A4 3F00 3F00");
        assert_eq!(substitute("$nope", &vars), Err("nope".to_owned()));
        assert!(parse("bogus", "t").is_err());
    }
}
