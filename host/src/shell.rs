//! `gbau shell`: the interactive APDU shell. pySim-shell-like commands, raw hex lines,
//! variables, scripts; every file gbau knows read back decoded (`gbau_core::ef_codec`) and
//! editable by its decoded fields; `dir`/`tree` probed by SELECT; `export` as an `.apdu`
//! script; completion, per-user history, `help CMD`. Errors are printed and the session goes on.

mod args;
mod complete;
mod export;
mod history;
mod probe;
mod verbs;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use gbau_core::aka::{Autn, Rand};
use gbau_core::apdu::spaced_hex;
use gbau_core::ef;
use gbau_core::ef_codec::{self, Df, Kind, KnownFile};
use gbau_core::hexutil::{parse_fixed, parse_hex, to_hex};
use gbau_core::identity::{NafId, UaProtocolId};
use gbau_core::script::substitute;
use gbau_core::{CommandApdu, ResponseApdu};
use rustyline::history::DefaultHistory;
use rustyline::Editor;

use crate::cmd::{self, decode_response};
use crate::efview::{terminal_width, wrap_hex, Selection};
use crate::session::{CardOpts, Session, SessionError};
use crate::usim::{apdus, AuthOutcome, UsimError};
use args::{fields_arg, hex_arg, num_arg, record_arg};

pub use verbs::{Verb, VERBS};

/// Errors that end the shell before it starts.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("line editor: {0}")]
    Editor(#[from] rustyline::error::ReadlineError),
}

struct Shell {
    session: Session,
    vars: BTreeMap<String, String>,
    trace: Rc<Cell<bool>>,
    sel: Selection,
    candidates: Rc<RefCell<complete::Candidates>>,
    width: usize,
}

/// Run the shell until `exit` or end of input.
pub fn run(opts: &CardOpts) -> Result<(), ShellError> {
    let mut session = opts.open()?;
    let trace = Rc::new(Cell::new(false));
    session.trace = Some(trace.clone());
    let vars = session.script_vars();
    let candidates = Rc::new(RefCell::new(complete::Candidates::default()));
    let mut shell = Shell {
        session,
        vars,
        trace,
        sel: Selection::default(),
        candidates: candidates.clone(),
        width: terminal_width(),
    };
    shell.refresh_candidates();
    let mut rl: Editor<complete::ShellHelper, DefaultHistory> = Editor::new()?;
    rl.set_helper(Some(complete::ShellHelper::new(candidates)));
    let history = history::path();
    if let Some(h) = &history {
        match history::prepare(h) {
            Ok(()) => {
                let _ = rl.load_history(h);
            }
            Err(e) => eprintln!("history {}: {e} (not kept)", h.display()),
        }
    }
    println!(
        "gbau shell on {} — 'help' lists the commands, 'help CMD' shows one, Tab completes, Ctrl-D leaves",
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
                shell.refresh_candidates();
            }
            Err(rustyline::error::ReadlineError::Interrupted) => {
                println!("(Ctrl-C: type exit or press Ctrl-D to leave)")
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        if history::prepare(h).is_ok() {
            let _ = rl.save_history(h);
            let _ = history::prepare(h);
        }
    }
    Ok(())
}

enum Flow {
    Continue,
    Exit,
}

impl Shell {
    fn send(&mut self, cmd: &CommandApdu) -> Result<ResponseApdu, String> {
        self.session
            .with_card(|u| u.send(cmd))
            .map_err(|e| e.to_string())
    }

    /// Send, follow the selection, show the answer decoded (unless `raw`).
    fn exchange(&mut self, cmd: CommandApdu, raw: bool) -> Result<ResponseApdu, String> {
        let bytes = cmd.to_bytes().map_err(|e| e.to_string())?;
        let r = self.send(&cmd)?;
        self.sel.observe(&bytes, &r);
        self.show(&bytes, &r, raw);
        Ok(r)
    }

    fn show(&mut self, cmd: &[u8], r: &ResponseApdu, raw: bool) {
        if !r.data.is_empty() {
            for l in wrap_hex(&r.data, self.width) {
                println!("{l}");
            }
        }
        println!("{:04X} ({})", u16::from(r.sw), r.sw.meaning());
        if raw {
            return;
        }
        if let Some(d) = decode_response(cmd, r) {
            println!("  {d}");
        }
        match self.sel.decode_answer(cmd, r) {
            Some(Ok(d)) => {
                for l in d.to_string().lines() {
                    println!("  {l}");
                }
                if let Some(ef_codec::Value::Text(n)) = d.get("naf_key_center") {
                    let mut c = self.candidates.borrow_mut();
                    if !c.nafs.contains(n) {
                        c.nafs.push(n.clone());
                    }
                }
            }
            Some(Err(e)) => println!("  {e}"),
            None => {}
        }
    }

    fn refresh_candidates(&mut self) {
        let mut c = self.candidates.borrow_mut();
        let here = self.sel.df.unwrap_or(Df::Mf);
        let mut files: Vec<String> = ef_codec::in_df(here)
            .iter()
            .map(|f| f.name.to_owned())
            .collect();
        files.extend(["MF", "ADF.USIM", "ADF.ISIM"].map(str::to_owned));
        let mut all: Vec<String> = ef_codec::all().map(|f| f.name.to_owned()).collect();
        all.extend(["MF", "ADF.USIM", "ADF.ISIM"].map(str::to_owned));
        all.sort();
        all.dedup();
        c.files = files;
        c.all_files = all;
        c.fields = self
            .sel
            .ef
            .and_then(KnownFile::encoder_fields)
            .map(|f| {
                f.split(", ")
                    .map(|n| {
                        let n = n.trim_matches(|c| c == '[' || c == ']');
                        format!("{}=", n.split_whitespace().next().unwrap_or(n))
                    })
                    .collect()
            })
            .unwrap_or_default();
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
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(typed) = words.first().copied() else {
            return Ok(Flow::Continue);
        };
        let rest = line[typed.len()..].trim();
        let verb = verbs::canonical(typed);
        match verb {
            "exit" | "quit" => return Ok(Flow::Exit),
            "help" => print!("{}", verbs::help(words.get(1).copied())),
            "files" => self.files(),
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
                    .ok_or("select NAME|FID|AID (try: files, dir)")?,
            )?,
            "status" => {
                self.exchange(CommandApdu::new(0x80, 0xF2, 0x00, 0x00).with_ne(256), false)?;
            }
            "reset" => {
                self.exchange(apdus::select_fid(ef::MF), false)?;
            }
            "read_binary"
            | "read_record"
            | "read_records"
            | "update_binary"
            | "update_record"
            | "update_binary_decoded"
            | "update_record_decoded" => self.file_command(verb, &words[1..], rest)?,
            "dir" | "tree" | "export" => self.card_view(verb, &words[1..])?,
            "verify_pin" | "verify_adm" | "authenticate" | "gba" | "info" | "run" => {
                self.card_command(verb, &words[1..])?;
            }
            "apdu" => self.raw_apdu(rest)?,
            _ => {
                if parse_hex(line).is_err() {
                    return Err(format!(
                        "unknown command {verb:?}{} (try help)",
                        verbs::suggestion(verb)
                    ));
                }
                self.raw_apdu(line)?;
            }
        }
        Ok(Flow::Continue)
    }

    fn raw_apdu(&mut self, text: &str) -> Result<(), String> {
        let bytes = parse_hex(text).map_err(|e| format!("APDU: {e}"))?;
        let cmd = CommandApdu::parse(&bytes).map_err(|e| e.to_string())?;
        let r = self.send(&cmd)?;
        self.sel.observe(&bytes, &r);
        self.show(&bytes, &r, false);
        Ok(())
    }

    fn files(&self) {
        let here = self.sel.df.unwrap_or(Df::Mf);
        let names: Vec<&str> = ef_codec::in_df(here).iter().map(|f| f.name).collect();
        println!("in {}: {}", here.name(), names.join(" "));
        let mut all: Vec<&str> = ef_codec::all().map(|f| f.name).collect();
        all.sort_unstable();
        all.dedup();
        println!(
            "anywhere (select goes to the file's DF first): MF ADF.USIM ADF.ISIM {}",
            all.join(" ")
        );
    }

    fn select(&mut self, target: &str) -> Result<(), String> {
        let cmd = match target.to_ascii_uppercase().as_str() {
            "MF" => apdus::select_fid(ef::MF),
            "ADF.USIM" => apdus::select_aid(&ef::USIM_AID_PREFIX),
            "ADF.ISIM" => apdus::select_aid(&ef::ISIM_AID_PREFIX),
            _ => match ef_codec::by_name(self.sel.df, target) {
                Some(f) => {
                    if self.sel.df != Some(f.df) {
                        let df = f.df;
                        let ok = self
                            .session
                            .with_card(|u| probe::enter(u, df))
                            .map_err(|e| e.to_string())?;
                        if !ok {
                            return Err(format!("this card has no {}", df.name()));
                        }
                        self.sel = Selection {
                            df: Some(df),
                            ..Selection::default()
                        };
                    }
                    apdus::select_fid(f.fid)
                }
                None => {
                    let bytes = parse_hex(target).map_err(|_| {
                        format!("{target:?} is neither a file name (try: files) nor hex")
                    })?;
                    match bytes.len() {
                        2 => apdus::select_fid(u16::from_be_bytes([bytes[0], bytes[1]])),
                        5..=16 => apdus::select_aid(&bytes),
                        _ => return Err("a FID is 2 bytes, an AID 5 to 16".into()),
                    }
                }
            },
        };
        self.exchange(cmd, false).map(|_| ())
    }

    /// The selected EF gbau knows and its FCP's size / record shape.
    fn current_ef(&self) -> Result<&'static KnownFile, String> {
        self.sel
            .ef
            .ok_or_else(|| "select a file gbau knows first (try: files, dir)".to_owned())
    }

    /// READ BINARY of the whole selected file, in pieces when over 256 bytes.
    fn read_whole(&mut self, size: usize) -> Result<ResponseApdu, String> {
        let mut data = Vec::with_capacity(size);
        loop {
            let want = (size - data.len()).min(256);
            let r = self.send(&apdus::read_binary(data.len() as u16, want))?;
            if !r.sw.is_ok() || data.len() + r.data.len() >= size || r.data.is_empty() {
                data.extend(r.data);
                return Ok(ResponseApdu { data, sw: r.sw });
            }
            data.extend(r.data);
        }
    }

    fn file_command(&mut self, verb: &str, args: &[&str], rest: &str) -> Result<(), String> {
        let raw = args.first() == Some(&"--raw");
        let args = if raw { &args[1..] } else { args };
        let size = self.sel.fcp.as_ref().and_then(|f| f.size);
        let shape = self
            .sel
            .fcp
            .as_ref()
            .and_then(|f| Some((f.records?, f.record_len?)));
        match verb {
            "read_binary" => match (args.first(), size) {
                (None, Some(size)) if size > 0 => {
                    let r = self.read_whole(size)?;
                    let cmd = apdus::read_binary(0, size.min(256))
                        .to_bytes()
                        .map_err(|e| e.to_string())?;
                    self.show(&cmd, &r, raw);
                }
                _ => {
                    let offset = num_arg("OFFSET", args.first(), Some(0))?;
                    let len = num_arg("LENGTH", args.get(1), Some(256))?;
                    if !(1..=256).contains(&len) {
                        return Err("LENGTH is 1..256".into());
                    }
                    let offset = u16::try_from(offset)
                        .ok()
                        .filter(|o| *o < 0x8000)
                        .ok_or("OFFSET too large")?;
                    self.exchange(apdus::read_binary(offset, len), raw)?;
                }
            },
            "read_record" => {
                let n = record_arg(args.first())?;
                self.exchange(apdus::read_record(n, shape.map_or(256, |s| s.1)), raw)?;
            }
            "read_records" => {
                let (count, len) = shape.ok_or("select a record file first")?;
                for n in 1..=count.min(254) as u8 {
                    println!("record {n}:");
                    self.exchange(apdus::read_record(n, len), raw)?;
                }
            }
            "update_binary" => {
                let offset = u16::try_from(num_arg("OFFSET", args.first(), None)?)
                    .ok()
                    .filter(|o| *o < 0x8000)
                    .ok_or("OFFSET too large")?;
                let data = parse_hex(&args.get(1..).unwrap_or_default().join(""))
                    .map_err(|e| e.to_string())?;
                if data.is_empty() || data.len() > 255 {
                    return Err("update_binary OFFSET HEX (1 to 255 bytes)".into());
                }
                self.exchange(apdus::update_binary(offset, &data), false)?;
            }
            "update_record" => {
                let n = record_arg(args.first())?;
                let data = parse_hex(&args.get(1..).unwrap_or_default().join(""))
                    .map_err(|e| e.to_string())?;
                if data.is_empty() || data.len() > 255 {
                    return Err("update_record N HEX (1 to 255 bytes)".into());
                }
                self.exchange(CommandApdu::new(0x00, 0xDC, n, 0x04).with_data(data), false)?;
            }
            "update_binary_decoded" => self.update_binary_decoded(rest, size)?,
            _ => {
                let n = record_arg(args.first())?;
                let fields = rest
                    .trim_start()
                    .strip_prefix(args.first().copied().unwrap_or(""))
                    .unwrap_or("");
                self.update_record_decoded(n, fields, shape)?;
            }
        }
        Ok(())
    }

    /// Encode the edit: the current fields (when they decode) with the given ones over them.
    fn encode_edit(
        file: &KnownFile,
        current: Option<&[u8]>,
        given: &str,
        size: usize,
    ) -> Result<Vec<u8>, String> {
        let Some(takes) = file.encoder_fields() else {
            return Err(format!(
                "{}: gbau has no encoder for this file (use update_binary/update_record with hex)",
                file.name
            ));
        };
        let given = fields_arg(given)?;
        // A misspelt field must not be dropped silently (the write would keep the old value).
        let names: Vec<&str> = takes
            .split(',')
            .filter_map(|p| {
                p.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace())
                    .split(|c: char| c.is_whitespace() || c == '(')
                    .next()
            })
            .filter(|n| !n.is_empty())
            .collect();
        if let Some(bad) = given.0.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(format!(
                "{}: {bad:?} is not a field of this file; it takes {takes}",
                file.name
            ));
        }
        let mut fields = current
            .and_then(|b| file.decode(b))
            .and_then(Result::ok)
            .filter(|d| !d.empty)
            .map(|d| d.assignments())
            .unwrap_or_default();
        fields.extend(given);
        let encoded = file
            .encode(&fields, size)
            .ok_or("no encoder")?
            .map_err(|e| e.to_string())?;
        Ok(encoded)
    }

    fn update_binary_decoded(&mut self, given: &str, size: Option<usize>) -> Result<(), String> {
        let file = self.current_ef()?;
        if file.kind != Kind::Transparent {
            return Err(format!(
                "{} is a record file: update_record_decoded N …",
                file.name
            ));
        }
        let size = size.ok_or("the file's size is not known (select it again)")?;
        let current = self
            .read_whole(size)
            .ok()
            .filter(|r| r.sw.is_ok())
            .map(|r| r.data);
        let data = Self::encode_edit(file, current.as_deref(), given, size)?;
        if data.len() > 255 {
            return Err(format!(
                "{} bytes: more than one UPDATE BINARY holds",
                data.len()
            ));
        }
        let cmd = apdus::update_binary(0, &data);
        println!(
            ">> {}",
            spaced_hex(&cmd.to_bytes().map_err(|e| e.to_string())?)
        );
        self.exchange(cmd, false).map(|_| ())
    }

    fn update_record_decoded(
        &mut self,
        n: u8,
        given: &str,
        shape: Option<(usize, usize)>,
    ) -> Result<(), String> {
        let file = self.current_ef()?;
        if file.kind != Kind::Records {
            return Err(format!(
                "{} is transparent: update_binary_decoded …",
                file.name
            ));
        }
        let (count, len) = shape.ok_or("the record length is not known (select the file again)")?;
        if usize::from(n) > count {
            return Err(format!("{} has {count} records", file.name));
        }
        let current = self
            .send(&apdus::read_record(n, len))
            .ok()
            .filter(|r| r.sw.is_ok())
            .map(|r| r.data);
        let data = Self::encode_edit(file, current.as_deref(), given, len)?;
        let cmd = CommandApdu::new(0x00, 0xDC, n, 0x04).with_data(data);
        println!(
            ">> {}",
            spaced_hex(&cmd.to_bytes().map_err(|e| e.to_string())?)
        );
        self.exchange(cmd, false).map(|_| ())
    }

    fn card_view(&mut self, verb: &str, args: &[&str]) -> Result<(), String> {
        let df = self.sel.df.unwrap_or(Df::Mf);
        let lines = match verb {
            "dir" => self.session.with_card(|u| probe::dir(u, df)),
            "tree" => self.session.with_card(probe::tree),
            _ => return self.export(args),
        }
        .map_err(|e| e.to_string())?;
        for l in lines {
            println!("{l}");
        }
        // dir leaves the DF selected, tree the MF.
        self.sel = Selection {
            df: Some(if verb == "dir" { df } else { Df::Mf }),
            ..Selection::default()
        };
        Ok(())
    }

    fn export(&mut self, args: &[&str]) -> Result<(), String> {
        let adm = args.contains(&"--adm");
        let path = args
            .iter()
            .find(|a| !a.starts_with("--"))
            .map(PathBuf::from);
        let label = self.session.label.clone();
        let e = self
            .session
            .with_card(|u| export::export(u, adm, &label))
            .map_err(|e: UsimError| e.to_string())?;
        self.sel = Selection {
            df: Some(Df::Mf),
            ..Selection::default()
        };
        match path {
            Some(p) => {
                std::fs::write(&p, &e.script).map_err(|x| format!("{}: {x}", p.display()))?;
                println!(
                    "exported {} files to {} ({} left out)",
                    e.files,
                    p.display(),
                    e.skipped.len()
                );
            }
            None => print!("{}", e.script),
        }
        Ok(())
    }

    fn card_command(&mut self, verb: &str, args: &[&str]) -> Result<(), String> {
        match verb {
            "verify_pin" => {
                let pin = args
                    .first()
                    .map(|s| (*s).to_owned())
                    .or_else(|| self.session.pin.clone())
                    .ok_or("verify_pin PIN")?;
                let block = crate::usim::pin_block(&pin).ok_or("a PIN is 4 to 8 digits")?;
                if self
                    .exchange(apdus::verify(0x01, &block), false)?
                    .sw
                    .is_ok()
                {
                    self.load_nafs();
                }
            }
            "verify_adm" => {
                let block = crate::usim::pin_block(args.first().ok_or("verify_adm DIGITS")?)
                    .ok_or("ADM is 4 to 8 digits")?;
                self.exchange(apdus::verify(0x0A, &block), false)?;
            }
            "authenticate" => {
                let rand = Rand(hex_arg::<16>("RAND", args.first())?);
                let autn = Autn(hex_arg::<16>("AUTN", args.get(1))?);
                self.exchange(apdus::authenticate_3g(&rand, &autn), false)?;
            }
            "gba" => self.gba(args)?,
            "info" => {
                let info = cmd::info(&mut self.session).map_err(|e| e.to_string())?;
                self.sel = Selection::default();
                print!("{info}");
            }
            _ => {
                let path = PathBuf::from(args.first().ok_or("run SCRIPT")?);
                let vars: Vec<(String, String)> = self.vars.clone().into_iter().collect();
                let t = cmd::run(&mut self.session, &path, &vars).map_err(|e| e.to_string())?;
                for x in &t {
                    self.sel.observe(&x.command, &x.response);
                }
                println!("ok: {} ({} exchanges)", path.display(), t.len());
            }
        }
        Ok(())
    }

    /// NAF Key Center FQDNs for completion, read after PIN1 is verified; the selection is
    /// restored after.
    fn load_nafs(&mut self) {
        let back = self.sel.clone();
        let nafs = self
            .session
            .with_card(|u| -> Result<Vec<String>, UsimError> {
                let nafs = u.naf_key_centers().unwrap_or_default();
                if let Some(df) = back.df {
                    probe::enter(u, df)?;
                    if let Some(f) = back.ef {
                        u.send(&apdus::select_fid(f.fid))?;
                    }
                }
                Ok(nafs)
            });
        if let Ok(n) = nafs {
            self.candidates.borrow_mut().nafs = n;
        }
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
                self.sel = Selection::default();
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
