//! `gbau http GET URL`: fetch a NAF resource with GBA (Ua HTTP Digest).

use std::process::ExitCode;

use clap::Args;
use gbau_host::input::UsageError;
use gbau_host::session::CardOpts;
use gbau_host::ua::UaOptions;
use gbau_host::ub::ResEncoding;

use crate::failure::{Failure, EXIT_FAILURE};
use crate::output::print_json;

#[derive(Args, Debug)]
pub struct HttpArgs {
    #[command(flatten)]
    pub card: CardOpts,
    /// Only GET is supported
    #[arg(value_parser = ["GET"])]
    method: String,
    /// The resource URL
    url: String,
    /// BSF URL for bootstrapping (default: derived from the IMSI)
    #[arg(long, value_name = "URL")]
    bsf: Option<String>,
    /// How RES becomes the Ub Digest password
    #[arg(long, value_enum, default_value = "raw")]
    res_encoding: ResEncoding,
    /// Connect to ADDR when the URL names HOST:PORT (like curl's --resolve); the URL's host
    /// stays the NAF's FQDN for NAF_Id and the certificate check. Repeatable
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<String>,
    /// CA of the NAF's certificate (PEM), for https:// URLs
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// Show each step
    #[arg(short, long)]
    verbose: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub fn exec(card: CardOpts, a: &HttpArgs) -> Result<ExitCode, Failure> {
    let mut opts = UaOptions {
        resolve: Vec::new(),
        ca: a.ca.clone(),
    };
    for r in &a.resolve {
        opts.resolve.push(
            UaOptions::parse_resolve(r).ok_or_else(|| {
                UsageError::new("--resolve", format!("{r:?} is not HOST:PORT:ADDR"))
            })?,
        );
    }
    let mut s = card.open()?;
    let r = gbau_host::ua::http_get(&mut s, &a.url, a.bsf.as_deref(), a.res_encoding, &opts)?;
    if a.json {
        print_json(&r)?;
    } else {
        if a.verbose {
            for st in &r.steps {
                eprintln!("* {st}");
            }
        }
        print!("{}", r.body);
    }
    if r.status != 200 {
        eprintln!("error: {} answered {}", a.url, r.status);
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}
