//! Tab completion and hints for the REPL: commands first, then per command the file names
//! valid from the current DF, the NAF FQDNs of EF_NAFKCA for `gba naf`, the fields of the
//! selected file for the decoded edits, and paths for `run` / `export`.

use std::cell::RefCell;
use std::rc::Rc;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use super::verbs::{self, VERBS};

/// What completion offers beyond the commands; the shell refreshes it after each line.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Names `select` takes that are valid from the current DF, nearest first.
    pub files: Vec<String>,
    /// Every name `select` takes (offered when none of `files` matches).
    pub all_files: Vec<String>,
    /// NAF Key Center FQDNs read from EF_NAFKCA.
    pub nafs: Vec<String>,
    /// `field=` for the selected file's encoder.
    pub fields: Vec<String>,
}

/// The rustyline helper.
pub struct ShellHelper {
    pub candidates: Rc<RefCell<Candidates>>,
    paths: FilenameCompleter,
}

impl ShellHelper {
    #[must_use]
    pub fn new(candidates: Rc<RefCell<Candidates>>) -> Self {
        Self {
            candidates,
            paths: FilenameCompleter::new(),
        }
    }
}

fn matching<'a>(current: &str, items: impl Iterator<Item = &'a str>) -> Vec<Pair> {
    let lower = current.to_lowercase();
    items
        .filter(|c| c.to_lowercase().starts_with(&lower))
        .map(|c| Pair {
            display: c.to_owned(),
            replacement: c.to_owned(),
        })
        .collect()
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let words: Vec<&str> = before.split_whitespace().collect();
        let starting_word = before.ends_with(' ') || words.is_empty();
        let current = if starting_word {
            ""
        } else {
            words.last().copied().unwrap_or("")
        };
        let start = pos - current.len();
        let n_done = if starting_word {
            words.len()
        } else {
            words.len().saturating_sub(1)
        };
        let c = self.candidates.borrow();
        let pairs = match (n_done, words.first().copied(), words.get(1).copied()) {
            (0, _, _) => matching(current, VERBS.iter().map(|v| v.name)),
            (1, Some("help"), _) => matching(current, VERBS.iter().map(|v| v.name)),
            (1, Some("select"), _) => {
                let near = matching(current, c.files.iter().map(String::as_str));
                if near.is_empty() {
                    matching(current, c.all_files.iter().map(String::as_str))
                } else {
                    near
                }
            }
            (1, Some("gba"), _) => matching(current, ["bootstrap", "naf"].into_iter()),
            (2, Some("gba"), Some("naf")) => matching(current, c.nafs.iter().map(String::as_str)),
            (1, Some("trace"), _) => matching(current, ["on", "off"].into_iter()),
            (1, Some("read_binary" | "read_record" | "read_records"), _) => {
                matching(current, ["--raw"].into_iter())
            }
            (1, Some("export"), _) if current.starts_with('-') => {
                matching(current, ["--adm"].into_iter())
            }
            (1, Some("run" | "export"), _) | (2, Some("export"), _) => {
                drop(c);
                return self.paths.complete(line, pos, ctx);
            }
            (_, Some("update_binary_decoded"), _) | (2.., Some("update_record_decoded"), _) => {
                matching(current, c.fields.iter().map(String::as_str))
            }
            _ => Vec::new(),
        };
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos < line.len() || line.trim().is_empty() {
            return None;
        }
        let word = line.split_whitespace().next()?;
        let v = verbs::find(word)?;
        if line.trim() == v.name {
            v.usage
                .strip_prefix(v.name)
                .map(|u| format!("  ({})", u.trim()))
        } else {
            None
        }
    }
}

impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}
