//! Expanding a script into the commands it sends, without sending anything: includes,
//! `set` and `repeat` lines, variables with secrets masked for display.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::exchange::{transceive, ExchangeError, RawTransmit};
use crate::hexutil::parse_hex;
use crate::{CommandApdu, ResponseApdu};

use super::syntax::{
    parse, parse_pattern, substitute, Line, Pattern, ScriptError, Step, MAX_INCLUDE_DEPTH,
};

/// Loads an included file: (including file, path as written) → (name, text).
pub type Loader<'a> = dyn FnMut(&str, &str) -> Result<(String, String), String> + 'a;

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
