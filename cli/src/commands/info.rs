//! `gbau readers`, `gbau info`, `gbau apdu`, `gbau run`: look at a card and talk to it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use gbau_host::cmd;
use gbau_host::input::UsageError;
use gbau_host::session::CardOpts;
use gbau_host::transport::list_readers;

use crate::failure::Failure;
use crate::output::{emit, print_json};

#[derive(Args, Debug)]
pub struct ReadersArgs {
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub card: CardOpts,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ApduArgs {
    #[command(flatten)]
    pub card: CardOpts,
    /// APDUs in hex, spaces allowed inside quotes
    #[arg(required = true, value_name = "HEX")]
    apdus: Vec<String>,
    /// Do not follow 61xx/6Cxx: show exactly what the card answers
    #[arg(long)]
    raw: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub card: CardOpts,
    /// The script file
    script: PathBuf,
    /// Script variable NAME=VALUE (repeatable); profile values are set already
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Print the transcript as JSON
    #[arg(long)]
    json: bool,
}

pub fn readers(a: &ReadersArgs) -> Result<ExitCode, Failure> {
    let readers = list_readers()?;
    if a.json {
        print_json(&readers)?;
    } else if readers.is_empty() {
        println!("no readers (is pcscd running? for the soft card in the virtual reader: gbau card serve ...)");
    } else {
        for r in &readers {
            let present = if r.card_present {
                "card present"
            } else {
                "no card"
            };
            println!("{:>2}  {}  {}", r.index, r.name, present);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn info(card: CardOpts, a: &InfoArgs) -> Result<ExitCode, Failure> {
    let mut s = card.open()?;
    let info = cmd::info(&mut s)?;
    if a.json {
        print_json(&info)?;
    } else {
        emit(&info.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn apdu(card: CardOpts, a: &ApduArgs) -> Result<ExitCode, Failure> {
    let mut s = card.open()?;
    let results = cmd::apdu(&mut s, &a.apdus, a.raw)?;
    if a.json {
        print_json(&results)?;
    } else {
        for r in &results {
            println!(">> {}", r.command);
            if !r.data.is_empty() {
                println!("<< {}", r.data);
            }
            println!("<< {} ({})", r.sw, r.meaning);
            if let Some(d) = &r.decoded {
                println!("   {d}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(card: CardOpts, a: &RunArgs) -> Result<ExitCode, Failure> {
    let vars = parse_vars(&a.vars)?;
    let mut s = card.open()?;
    let transcript = cmd::run(&mut s, &a.script, &vars)?;
    if a.json {
        let t: Vec<_> = transcript
            .iter()
            // PIN/ADM data is masked here as in every log line.
            .map(|e| {
                serde_json::json!({
                    "command": gbau_core::apdu::log_command(&e.command)
                        .trim_start_matches(">> ")
                        .to_owned(),
                    "response": gbau_core::hexutil::to_hex(&e.response.to_bytes()),
                })
            })
            .collect();
        print_json(&t)?;
    } else {
        let mut decoder = cmd::Decoder::default();
        for e in &transcript {
            println!("{}", gbau_core::apdu::log_command(&e.command));
            println!(
                "{}",
                gbau_core::apdu::log_response(&e.response.to_bytes(), false)
            );
            for line in decoder.exchange(&e.command, &e.response).0 {
                println!("   {line}");
            }
        }
        println!(
            "ok: {} ({} exchanges)",
            a.script.display(),
            transcript.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_vars(vars: &[String]) -> Result<Vec<(String, String)>, UsageError> {
    vars.iter()
        .map(|v| {
            v.split_once('=')
                .map(|(n, val)| (n.trim().to_owned(), val.trim().to_owned()))
                .filter(|(n, _)| !n.is_empty())
                .ok_or_else(|| UsageError::new("--var", format!("{v:?} is not NAME=VALUE")))
        })
        .collect()
}
