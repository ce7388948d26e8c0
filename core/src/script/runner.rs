//! Running a script against a transport: the transcript, and a diff on the first mismatch.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::exchange::RawTransmit;
use crate::ResponseApdu;

use super::plan::{plan_with_vars, send_planned, Loader};
use super::syntax::{matches, Line, Mismatch, ScriptError};

/// A completed exchange, for callers that print a transcript.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub command: Vec<u8>,
    pub response: ResponseApdu,
}

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
