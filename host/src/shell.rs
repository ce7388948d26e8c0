//! `gbau shell`: the interactive APDU shell. pySim-shell-like verbs, raw hex lines,
//! variables, scripts, decoded output, a trace toggle, persistent history and completion.
//! Errors are printed and the session goes on.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use gbau_core::aka::{Autn, Rand};
use gbau_core::apdu::spaced_hex;
use gbau_core::ef;
use gbau_core::hexutil::{parse_fixed, parse_hex, to_hex};
use gbau_core::identity::{NafId, UaProtocolId};
use gbau_core::script::substitute;
use gbau_core::{CommandApdu, ResponseApdu};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::cmd::{self, decode_response};
use crate::session::{default_sim_path, CardOpts, Session, SessionError};
use crate::usim::{apdus, AuthOutcome};

/// Errors that end the shell before it starts.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("line editor: {0}")]
    Editor(#[from] rustyline::error::ReadlineError),
}

/// Verbs with their usage, for help, completion and hints.
pub const VERBS: [(&str, &str); 20] = [
    (
        "select",
        "select NAME|FID|AID   e.g. select EF_GBABP, select 6FAD, select ADF.USIM",
    ),
    ("read_binary", "read_binary [OFFSET [LENGTH]]"),
    ("update_binary", "update_binary OFFSET HEX"),
    ("read_record", "read_record N"),
    ("update_record", "update_record N HEX"),
    (
        "verify_pin",
        "verify_pin [PIN]   (PIN1; default --pin / the soft card's)",
    ),
    ("verify_adm", "verify_adm DIGITS"),
    ("authenticate", "authenticate RAND AUTN   (3G context)"),
    (
        "gba",
        "gba bootstrap RAND AUTN | gba naf FQDN [UA_HEX] [IMPI]",
    ),
    ("status", "status   (FCP of the current application)"),
    ("info", "info   (decoded card summary)"),
    ("run", "run SCRIPT   (an .apdu script)"),
    ("set", "set NAME = VALUE   (then $NAME in any line)"),
    ("vars", "vars   (list variables)"),
    ("trace", "trace on|off   (show every APDU)"),
    ("files", "files   (names select knows)"),
    ("reset", "reset   (select the MF again)"),
    ("help", "help"),
    ("exit", "exit   (or Ctrl-D)"),
    ("quit", "quit"),
];

/// File names `select` understands: (name, path of FIDs from the MF; 0 = the ADF).
pub const FILES: [(&str, &[u16]); 19] = [
    ("MF", &[ef::MF]),
    ("EF_DIR", &[ef::EF_DIR]),
    ("EF_ICCID", &[ef::EF_ICCID]),
    ("EF_PL", &[ef::EF_PL]),
    ("ADF.USIM", &[]),
    ("EF_IMSI", &[ef::EF_IMSI]),
    ("EF_AD", &[ef::EF_AD]),
    ("EF_UST", &[ef::EF_UST]),
    ("EF_EST", &[ef::EF_EST]),
    ("EF_ACC", &[ef::EF_ACC]),
    ("EF_LI", &[ef::EF_LI]),
    ("EF_Keys", &[ef::EF_KEYS]),
    ("EF_KeysPS", &[ef::EF_KEYS_PS]),
    ("EF_GBABP", &[ef::EF_GBABP]),
    ("EF_GBANL", &[ef::EF_GBANL]),
    ("EF_NAFKCA", &[ef::EF_NAFKCA]),
    ("ADF.ISIM", &[]),
    ("EF_IMPI", &[ef::EF_IMPI]),
    ("EF_IMPU", &[ef::EF_IMPU]),
];

struct ShellHelper {
    files: FilenameCompleter,
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
        let pairs = |items: &mut dyn Iterator<Item = &str>| -> Vec<Pair> {
            items
                .filter(|c| c.to_lowercase().starts_with(&current.to_lowercase()))
                .map(|c| Pair {
                    display: c.to_owned(),
                    replacement: c.to_owned(),
                })
                .collect()
        };
        match (n_done, words.first().copied()) {
            (0, _) => Ok((start, pairs(&mut VERBS.iter().map(|(v, _)| *v)))),
            (1, Some("select")) => Ok((start, pairs(&mut FILES.iter().map(|(f, _)| *f)))),
            (1, Some("gba")) => Ok((start, pairs(&mut ["bootstrap", "naf"].into_iter()))),
            (1, Some("trace")) => Ok((start, pairs(&mut ["on", "off"].into_iter()))),
            (1, Some("run")) => self.files.complete(line, pos, ctx),
            _ => Ok((pos, Vec::new())),
        }
    }
}

impl Hinter for ShellHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos < line.len() || line.trim().is_empty() {
            return None;
        }
        let word = line.split_whitespace().next()?;
        let (verb, usage) = VERBS.iter().find(|(v, _)| *v == word)?;
        if line.trim() == *verb {
            usage
                .strip_prefix(verb)
                .map(|u| format!("  ({})", u.trim()))
        } else {
            None
        }
    }
}

impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

struct Shell {
    session: Session,
    vars: BTreeMap<String, String>,
    trace: Rc<Cell<bool>>,
}

/// Run the shell until `exit` or end of input.
pub fn run(opts: &CardOpts) -> Result<(), ShellError> {
    let mut session = opts.open()?;
    let trace = Rc::new(Cell::new(false));
    session.trace = Some(trace.clone());
    let vars = session.script_vars();
    let mut shell = Shell {
        session,
        vars,
        trace,
    };
    let mut rl: Editor<ShellHelper, DefaultHistory> = Editor::new()?;
    rl.set_helper(Some(ShellHelper {
        files: FilenameCompleter::new(),
    }));
    let history = default_sim_path().with_file_name("history");
    let _ = rl.load_history(&history);
    println!(
        "gbau shell on {} — 'help' lists the commands, Tab completes, Ctrl-D leaves",
        shell.session.label
    );
    loop {
        match rl.readline("gbau> ") {
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(line);
                match shell.line(line) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Exit) => break,
                    Err(e) => println!("error: {e}"),
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => {
                println!("(Ctrl-C: type exit or press Ctrl-D to leave)")
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(dir) = history.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = rl.save_history(&history);
    Ok(())
}

enum Flow {
    Continue,
    Exit,
}

fn hex_arg<const N: usize>(name: &'static str, text: Option<&&str>) -> Result<[u8; N], String> {
    let t = text.ok_or_else(|| format!("missing {name}"))?;
    parse_fixed::<N>(t).map_err(|e| format!("{name}: {e}"))
}

fn num_arg(name: &str, text: Option<&&str>, default: Option<usize>) -> Result<usize, String> {
    match text {
        None => default.ok_or_else(|| format!("missing {name}")),
        Some(t) => {
            let t = t.trim();
            let parsed = match t.strip_prefix("0x") {
                Some(h) => usize::from_str_radix(h, 16),
                None => t.parse(),
            };
            parsed.map_err(|_| format!("{name}: {t:?} is not a number"))
        }
    }
}

impl Shell {
    fn send(&mut self, cmd: &CommandApdu) -> Result<ResponseApdu, String> {
        self.session
            .with_card(|u| u.send(cmd))
            .map_err(|e| e.to_string())
    }

    fn show(&self, cmd: &[u8], r: &ResponseApdu) {
        if !r.data.is_empty() {
            println!("{}", spaced_hex(&r.data));
        }
        println!("{:04X} ({})", u16::from(r.sw), r.sw.meaning());
        if let Some(d) = decode_response(cmd, r) {
            println!("  {d}");
        }
    }

    fn exchange(&mut self, cmd: CommandApdu) -> Result<(), String> {
        let bytes = cmd.to_bytes().map_err(|e| e.to_string())?;
        let r = self.send(&cmd)?;
        self.show(&bytes, &r);
        Ok(())
    }

    fn line(&mut self, raw: &str) -> Result<Flow, String> {
        if let Some(rest) = raw.strip_prefix("set ") {
            let (name, value) = rest.split_once('=').ok_or("set NAME = VALUE")?;
            let value = substitute(value.trim(), &self.vars)
                .map_err(|n| format!("undefined variable ${n}"))?;
            self.vars.insert(name.trim().to_owned(), value);
            return Ok(Flow::Continue);
        }
        let line = substitute(raw, &self.vars).map_err(|n| format!("undefined variable ${n}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(verb) = words.first().copied() else {
            return Ok(Flow::Continue);
        };
        match verb {
            "exit" | "quit" => return Ok(Flow::Exit),
            "help" => {
                for (_, usage) in VERBS {
                    println!("  {usage}");
                }
                println!("  <hex APDU>   send it (61xx/6Cxx followed), e.g. 00 A4 00 04 02 6F AD");
            }
            "files" => println!(
                "{}",
                FILES.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(" ")
            ),
            "vars" => {
                for (k, v) in &self.vars {
                    let secret = ["pin1", "pin2", "adm1", "puk1", "puk2"].contains(&k.as_str());
                    println!("  {k} = {}", if secret { "<set>" } else { v });
                }
            }
            "trace" => match words.get(1) {
                Some(&"on") => self.trace.set(true),
                Some(&"off") => self.trace.set(false),
                _ => return Err("trace on|off".into()),
            },
            "select" => self.select(
                words
                    .get(1)
                    .copied()
                    .ok_or("select NAME|FID|AID (try: files)")?,
            )?,
            "status" => self.exchange(CommandApdu::new(0x80, 0xF2, 0x00, 0x00).with_ne(256))?,
            "reset" => self.exchange(apdus::select_fid(ef::MF))?,
            "read_binary" => {
                let offset = num_arg("OFFSET", words.get(1), Some(0))?;
                let len = num_arg("LENGTH", words.get(2), Some(256))?;
                let offset = u16::try_from(offset).map_err(|_| "OFFSET too large")?;
                self.exchange(apdus::read_binary(offset, len))?;
            }
            "update_binary" => {
                let offset = u16::try_from(num_arg("OFFSET", words.get(1), None)?)
                    .map_err(|_| "OFFSET too large")?;
                let data = parse_hex(&words.get(2..).unwrap_or_default().join(""))
                    .map_err(|e| e.to_string())?;
                if data.is_empty() {
                    return Err("update_binary OFFSET HEX".into());
                }
                self.exchange(apdus::update_binary(offset, &data))?;
            }
            "read_record" => {
                let n =
                    u8::try_from(num_arg("N", words.get(1), None)?).map_err(|_| "N is 1..254")?;
                self.exchange(apdus::read_record(n, 256))?;
            }
            "update_record" => {
                let n =
                    u8::try_from(num_arg("N", words.get(1), None)?).map_err(|_| "N is 1..254")?;
                let data = parse_hex(&words.get(2..).unwrap_or_default().join(""))
                    .map_err(|e| e.to_string())?;
                self.exchange(CommandApdu::new(0x00, 0xDC, n, 0x04).with_data(data))?;
            }
            "verify_pin" => {
                let pin = words
                    .get(1)
                    .map(|s| (*s).to_owned())
                    .or_else(|| self.session.pin.clone())
                    .ok_or("verify_pin PIN")?;
                let block = crate::usim::pin_block(&pin).ok_or("a PIN is 4 to 8 digits")?;
                self.exchange(apdus::verify(0x01, &block))?;
            }
            "verify_adm" => {
                let block = crate::usim::pin_block(words.get(1).ok_or("verify_adm DIGITS")?)
                    .ok_or("ADM is 4 to 8 digits")?;
                self.exchange(apdus::verify(0x0A, &block))?;
            }
            "authenticate" => {
                let rand = Rand(hex_arg::<16>("RAND", words.get(1))?);
                let autn = Autn(hex_arg::<16>("AUTN", words.get(2))?);
                self.exchange(apdus::authenticate_3g(&rand, &autn))?;
            }
            "gba" => self.gba(&words[1..])?,
            "info" => {
                let info = cmd::info(&mut self.session).map_err(|e| e.to_string())?;
                print!("{info}");
            }
            "run" => {
                let path = PathBuf::from(words.get(1).ok_or("run SCRIPT")?);
                let vars: Vec<(String, String)> = self.vars.clone().into_iter().collect();
                let t = cmd::run(&mut self.session, &path, &vars).map_err(|e| e.to_string())?;
                println!("ok: {} ({} exchanges)", path.display(), t.len());
            }
            _ => {
                let bytes =
                    parse_hex(&line).map_err(|_| format!("unknown command {verb:?}: try help"))?;
                let cmd = CommandApdu::parse(&bytes).map_err(|e| e.to_string())?;
                let r = self.send(&cmd)?;
                self.show(&bytes, &r);
            }
        }
        Ok(Flow::Continue)
    }

    fn select(&mut self, target: &str) -> Result<(), String> {
        let by_name = FILES.iter().find(|(n, _)| n.eq_ignore_ascii_case(target));
        let cmd = match by_name {
            Some((name, [])) => {
                let prefix = if name.contains("ISIM") {
                    ef::ISIM_AID_PREFIX
                } else {
                    ef::USIM_AID_PREFIX
                };
                apdus::select_aid(&prefix)
            }
            Some((name, [fid])) => {
                // EFs of an application: select the application first when needed.
                if name.starts_with("EF_") && ![ef::EF_DIR, ef::EF_ICCID, ef::EF_PL].contains(fid) {
                    let app = if matches!(*name, "EF_IMPI" | "EF_IMPU") {
                        ef::ISIM_AID_PREFIX
                    } else {
                        ef::USIM_AID_PREFIX
                    };
                    let r = self.send(&apdus::select_aid(&app))?;
                    if !r.sw.is_ok() {
                        return Err(format!("cannot select the application of {name}: {}", r.sw));
                    }
                } else if [ef::EF_DIR, ef::EF_ICCID, ef::EF_PL].contains(fid) {
                    self.send(&apdus::select_fid(ef::MF))?;
                }
                apdus::select_fid(*fid)
            }
            _ => {
                let bytes = parse_hex(target).map_err(|_| {
                    format!("{target:?} is neither a file name (try: files) nor hex")
                })?;
                match bytes.len() {
                    2 => apdus::select_fid(u16::from_be_bytes([bytes[0], bytes[1]])),
                    5..=16 => apdus::select_aid(&bytes),
                    _ => return Err("a FID is 2 bytes, an AID 5 to 16".into()),
                }
            }
        };
        self.exchange(cmd)
    }

    fn gba(&mut self, args: &[&str]) -> Result<(), String> {
        match args.first().copied() {
            Some("bootstrap") => {
                let rand = Rand(hex_arg::<16>("RAND", args.get(1))?);
                let autn = Autn(hex_arg::<16>("AUTN", args.get(2))?);
                match self
                    .session
                    .with_card(|u| u.gba_bootstrap(&rand, &autn))
                    .map_err(|e| e.to_string())?
                {
                    AuthOutcome::Success(res) => println!(
                        "bootstrap ok: RES {} (Ks stays on the card)",
                        to_hex(res.as_bytes())
                    ),
                    AuthOutcome::SyncFailure(auts) => {
                        println!("synchronisation failure: AUTS {}", to_hex(&auts.0))
                    }
                }
            }
            Some("naf") => {
                let fqdn = args.get(1).ok_or("gba naf FQDN [UA_HEX] [IMPI]")?;
                let ua = match args.get(2) {
                    Some(u) => UaProtocolId(parse_fixed::<5>(u).map_err(|e| format!("UA: {e}"))?),
                    None => UaProtocolId::HTTP_DIGEST,
                };
                let naf_id = NafId::new(fqdn, ua).map_err(|e| e.to_string())?;
                let given = args.get(3).copied();
                let (impi, key) = self
                    .session
                    .with_card(|u| -> Result<_, cmd::CmdError> {
                        let impi = cmd::impi_of(u, given)?.to_string();
                        let key = u.gba_naf_key(&naf_id.to_bytes(), Some(&impi))?;
                        Ok((impi, key))
                    })
                    .map_err(|e| e.to_string())?;
                println!("Ks_ext_NAF {}", to_hex(key.expose()));
                println!(
                    "  NAF_Id {} (Ua {}), IMPI {impi}",
                    to_hex(&naf_id.to_bytes()),
                    ua.describe()
                );
            }
            _ => return Err("gba bootstrap RAND AUTN | gba naf FQDN [UA_HEX] [IMPI]".into()),
        }
        Ok(())
    }
}
