//! The APDU script language (see `apdu-scripts/README.md`): commands, expected responses
//! with wildcards, comments, variables and includes. Parsing and matching are pure; running
//! takes a transmit function and a loader for included files.

use std::collections::{BTreeMap, BTreeSet};
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
    /// Variables masked in every message (PINs, ADM, keys): [`DEFAULT_SECRETS`] unless set.
    pub secrets: BTreeSet<String>,
    pub transcript: Vec<Exchange>,
}

/// The variable names a profile fills with secrets: masked in messages by default.
pub const DEFAULT_SECRETS: [&str; 8] = [
    "pin1",
    "pin2",
    "puk1",
    "puk2",
    "adm1",
    "k",
    "opc",
    "milenage_cfg",
];

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
            secrets: DEFAULT_SECRETS.iter().map(|s| (*s).to_owned()).collect(),
            transcript: Vec::new(),
        }
    }

    /// Run the lines of a script; stops at the first mismatch. The whole script (includes,
    /// `set`, `repeat`) is expanded before the first command is sent, so a syntax error or
    /// an undefined variable sends nothing.
    pub fn run(&mut self, lines: &[Line]) -> Result<(), ScriptError> {
        let (steps, vars) = plan_with_vars(lines, &self.vars, &self.secrets, self.load)?;
        self.vars = vars;
        for step in &steps {
            let response =
                send_planned(self.transmit, step).map_err(|e| ScriptError::Transport {
                    file: step.file.clone(),
                    line: step.line,
                    problem: e.to_string(),
                })?;
            self.transcript.push(Exchange {
                command: step.command.clone(),
                response: response.clone(),
            });
            if let Some(expect) = &step.expect {
                let got = response.to_bytes();
                if !matches(&expect.patterns, &got) {
                    return Err(ScriptError::Mismatch(Box::new(Mismatch {
                        file: step.file.clone(),
                        line: expect.line,
                        // As written, with secrets masked: a wrong ADM must not print it.
                        command: step.shown.clone(),
                        expected: expect.shown.clone(),
                        got: if expect.secret {
                            format!(
                                "<{} bytes, hidden: the expected value is secret> {}",
                                got.len().saturating_sub(2),
                                response.sw
                            )
                        } else {
                            crate::apdu::spaced_hex(&got)
                        },
                    })));
                }
            }
        }
        Ok(())
    }
}

/// One command of a script after includes, `set` lines and variables: the bytes to send,
/// and how to show them with secret variables masked. `Debug` shows the masked form only.
#[derive(Clone)]
pub struct PlannedStep {
    pub file: String,
    pub line: usize,
    /// The bytes to send.
    pub command: Vec<u8>,
    /// The command as written, with every secret variable shown as `‹name›`.
    pub shown: String,
    /// Send exactly these bytes (`>!`), no response chaining.
    pub raw: bool,
    /// What the response must be, when the script says.
    pub expect: Option<Expectation>,
}

impl fmt::Debug for PlannedStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlannedStep")
            .field("at", &format_args!("{}:{}", self.file, self.line))
            .field("shown", &self.shown)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

/// The expected response of a planned step. `Debug` shows the masked form only.
#[derive(Clone)]
pub struct Expectation {
    pub line: usize,
    pub patterns: Vec<Pattern>,
    /// The pattern with secret variables masked.
    pub shown: String,
    /// True when the expected bytes contain a secret: a response that differs must not be
    /// printed either, since it is the card's own secret.
    pub secret: bool,
}

impl fmt::Debug for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expectation")
            .field("line", &self.line)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

/// The most commands one script may expand to (a `repeat` inside a `repeat` multiplies).
pub const MAX_PLANNED_STEPS: usize = 100_000;

/// The display value of a masked variable.
#[must_use]
pub fn mask(name: &str) -> String {
    format!("‹{name}›")
}

/// Expand a script into the commands it sends, without sending anything: includes are
/// followed, `set` lines evaluated, variables substituted twice — with their values for the
/// bytes, and with `secrets` masked for display (a variable set from a secret is secret too).
pub fn plan(
    lines: &[Line],
    vars: &BTreeMap<String, String>,
    secrets: &BTreeSet<String>,
    load: &mut Loader<'_>,
) -> Result<Vec<PlannedStep>, ScriptError> {
    plan_with_vars(lines, vars, secrets, load).map(|(steps, _)| steps)
}

/// [`plan`], also returning the variables as the script leaves them.
pub fn plan_with_vars(
    lines: &[Line],
    vars: &BTreeMap<String, String>,
    secrets: &BTreeSet<String>,
    load: &mut Loader<'_>,
) -> Result<(Vec<PlannedStep>, BTreeMap<String, String>), ScriptError> {
    let mut real = vars.clone();
    let mut shown: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| {
            let v = if secrets.contains(k) {
                mask(k)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let mut out = Vec::new();
    plan_depth(lines, &mut real, &mut shown, load, 0, &mut out)?;
    Ok((out, real))
}

fn plan_depth(
    lines: &[Line],
    real: &mut BTreeMap<String, String>,
    shown: &mut BTreeMap<String, String>,
    load: &mut Loader<'_>,
    depth: usize,
    out: &mut Vec<PlannedStep>,
) -> Result<(), ScriptError> {
    // Index in `out` of this file's last command, for its `<` line.
    let mut last: Option<usize> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        i += 1;
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
                let v = substitute(value, real).map_err(undefined)?;
                let s = substitute(value, shown).map_err(undefined)?;
                real.insert(name.clone(), v);
                shown.insert(name.clone(), s);
            }
            Step::Include(path) => {
                let include = |problem: String| ScriptError::Include {
                    file: line.file.clone(),
                    line: line.number,
                    path: path.clone(),
                    problem,
                };
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(include("includes nested too deep".into()));
                }
                let (name, text) = load(&line.file, path).map_err(include)?;
                let inner = parse(&text, &name)?;
                plan_depth(&inner, real, shown, load, depth + 1, out)?;
                last = None;
            }
            Step::Repeat { name, from, to } => {
                let body_end = matching_end(lines, i)
                    .ok_or_else(|| syntax("repeat without a matching end".into()))?;
                let bound = |text: &str| -> Result<u8, ScriptError> {
                    let v = substitute(text, real).map_err(undefined)?;
                    v.trim()
                        .parse::<u8>()
                        .map_err(|_| syntax(format!("repeat bound {v:?} is not 0 to 255")))
                };
                let (from, to) = (bound(from)?, bound(to)?);
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(syntax("repeats nested too deep".into()));
                }
                for n in from..=to {
                    real.insert(name.clone(), format!("{n:02X}"));
                    shown.insert(name.clone(), format!("{n:02X}"));
                    plan_depth(&lines[i..body_end], real, shown, load, depth + 1, out)?;
                }
                i = body_end + 1;
                last = None;
            }
            Step::End => return Err(syntax("end without repeat".into())),
            Step::Send { apdu, raw } => {
                let text = substitute(apdu, real).map_err(undefined)?;
                let command = parse_hex(&text).map_err(|e| syntax(format!("command: {e}")))?;
                if !raw {
                    CommandApdu::parse(&command).map_err(|e| syntax(format!("command: {e}")))?;
                }
                if out.len() >= MAX_PLANNED_STEPS {
                    return Err(syntax(format!(
                        "the script expands to more than {MAX_PLANNED_STEPS} commands"
                    )));
                }
                out.push(PlannedStep {
                    file: line.file.clone(),
                    line: line.number,
                    command,
                    shown: substitute(apdu, shown).map_err(undefined)?,
                    raw: *raw,
                    expect: None,
                });
                last = Some(out.len() - 1);
            }
            Step::Expect(expected) => {
                let Some(step) = last.and_then(|i| out.get_mut(i)) else {
                    return Err(syntax(
                        "expected response without a command before it".into(),
                    ));
                };
                let text = substitute(expected, real).map_err(undefined)?;
                let masked = substitute(expected, shown).map_err(undefined)?;
                let patterns =
                    parse_pattern(&text).map_err(|p| syntax(format!("response: {p}")))?;
                step.expect = Some(Expectation {
                    line: line.number,
                    patterns,
                    secret: masked != text,
                    shown: masked,
                });
            }
        }
    }
    Ok(())
}

/// Index of the `end` closing a `repeat` whose body starts at `start`.
fn matching_end(lines: &[Line], start: usize) -> Option<usize> {
    let mut open = 1usize;
    for (j, l) in lines.iter().enumerate().skip(start) {
        match l.step {
            Step::Repeat { .. } => open += 1,
            Step::End => {
                open -= 1;
                if open == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// Send one planned step (following '61xx'/'6Cxx' unless it is raw).
pub fn send_planned<E: std::error::Error + 'static>(
    transmit: &mut RawTransmit<'_, E>,
    step: &PlannedStep,
) -> Result<ResponseApdu, ExchangeError<E>> {
    if step.raw {
        let out = transmit(&step.command).map_err(ExchangeError::Transport)?;
        Ok(ResponseApdu::parse(&out)?)
    } else {
        let cmd = CommandApdu::parse(&step.command)?;
        transceive(transmit, &cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_stars_match_quickly() {
        let p = parse_pattern(&"* 00 ".repeat(40)).unwrap();
        assert!(!matches(&p, &[0x01; 4000]));
        assert!(matches(&p, &[0x00; 40]));
        assert!(matches(&parse_pattern("*").unwrap(), &[]));
        assert!(!matches(&parse_pattern("??").unwrap(), &[]));
    }

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
        vars.insert("r".to_owned(), "02".to_owned());
        vars.insert("rec_02".to_owned(), "AA".to_owned());
        assert_eq!(substitute("${rec_$r} $r", &vars).unwrap(), "AA 02");
        assert!(parse("bogus", "t").is_err());
    }

    #[test]
    fn plan_masks_secrets_and_what_is_set_from_them() {
        let main = "set kk = 01 $k\n> 00 D6 00 00 11 $kk\n< 90 00\ninclude inc.apdu\n";
        let lines = parse(main, "main").unwrap();
        let mut vars = BTreeMap::new();
        vars.insert(
            "k".to_owned(),
            "00112233445566778899aabbccddeeff".to_owned(),
        );
        vars.insert("fid".to_owned(), "AF20".to_owned());
        let secrets = BTreeSet::from(["k".to_owned()]);
        let mut load = |_: &str, path: &str| -> Result<(String, String), String> {
            assert_eq!(path, "inc.apdu");
            Ok((
                "inc".into(),
                "> 00 A4 00 04 02 $fid\n> 00 B0 00 00 11\n< $kk 90 00\n".into(),
            ))
        };
        let steps = plan(&lines, &vars, &secrets, &mut load).unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].shown, "00 D6 00 00 11 01 ‹k›");
        assert_eq!(steps[0].command.len(), 5 + 17);
        assert!(!steps[0].expect.as_ref().unwrap().secret);
        assert_eq!(steps[1].shown, "00 A4 00 04 02 AF20");
        assert!(steps[1].expect.is_none());
        let e = steps[2].expect.as_ref().unwrap();
        assert!(e.secret);
        assert_eq!(e.shown, "01 ‹k› 90 00");
        assert!(!e.shown.contains("0011223344"));
    }

    #[test]
    fn repeat_expands_with_hex_record_numbers() {
        let text =
            "set n = 3\nrepeat r 1 $n\n> 00 DC $r 04 01 FF\n< 90 00\nend\n> 00 B2 01 04 01\n";
        let lines = parse(text, "t").unwrap();
        let mut load =
            |_: &str, _: &str| -> Result<(String, String), String> { Err("none".into()) };
        let steps = plan(&lines, &BTreeMap::new(), &BTreeSet::new(), &mut load).unwrap();
        let p1: Vec<u8> = steps.iter().map(|s| s.command[2]).collect();
        assert_eq!(p1, vec![1, 2, 3, 1]);
        assert!(steps[..3].iter().all(|s| s.expect.is_some()));
        assert!(steps[3].expect.is_none());
        for bad in [
            "repeat r 1 3\n> 00 B0 00 00 01\n",
            "end\n",
            "repeat r 1 x\nend\n",
            "repeat r 1\n",
        ] {
            let parsed = parse(bad, "t");
            let planned =
                parsed.and_then(|l| plan(&l, &BTreeMap::new(), &BTreeSet::new(), &mut load));
            assert!(planned.is_err(), "{bad:?} must be refused");
        }
    }
}
