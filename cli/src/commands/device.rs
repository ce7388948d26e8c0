//! `gbau device establish`: the external device of seed 001.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use gbau_host::cmd::CmdError;
use gbau_host::device::{self, DeviceConfig};
use gbau_host::input::UsageError;

use crate::failure::Failure;
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Stored key if the MT confirms it, else the optimized or full procedure
    Establish {
        /// The MT's local interface (unix:PATH or tcp:HOST:PORT)
        #[arg(long, value_name = "ADDR")]
        mt: String,
        /// This device's identifier (its certificate must be registered for it)
        #[arg(long, value_name = "TEXT")]
        device_id: String,
        /// Device certificate (PEM)
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Device key (PEM)
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// CA of the Key Center's certificate (PEM)
        #[arg(long, value_name = "FILE")]
        ca: PathBuf,
        #[arg(
            long,
            value_name = "URL",
            help = "The NAF Key Center's URL, e.g. https://keycenter.example.org:8444/local-key (its certificate must name the host)"
        )]
        key_center_url: String,
        /// Reach a name at an address, as curl's --resolve: HOST:PORT:ADDR (repeatable)
        #[arg(long, value_name = "HOST:PORT:ADDR")]
        resolve: Vec<String>,
        /// Where the device keeps Ks_local_MT and its lifetime
        #[arg(long, value_name = "FILE")]
        store: PathBuf,
        /// Replace the stored key even when the MT still confirms it (the request proves this
        /// device holds it; the MT refuses a replacement without that proof)
        #[arg(long)]
        renew: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn exec(c: DeviceCommand) -> Result<ExitCode, Failure> {
    let DeviceCommand::Establish {
        mt,
        device_id,
        cert,
        key,
        ca,
        key_center_url,
        resolve,
        store,
        renew,
        json,
    } = c;
    let resolve = gbau_host::ua::UaOptions::parse_resolve_list(&resolve)
        .map_err(|e| UsageError::new("--resolve", e))?;
    let cfg = DeviceConfig {
        mt,
        device_id,
        cert,
        key,
        ca,
        key_center_url,
        resolve,
        store,
        renew,
    };
    let r = device::establish(&cfg).map_err(|e| CmdError::Mismatch(e.to_string()))?;
    if json {
        print_json(&r)?;
    } else {
        for st in &r.steps {
            println!("* {st}");
        }
        println!("procedure    {}", r.procedure);
        println!("b_tid        {}", r.b_tid);
        println!("ks_local_mt  {}", r.ks_local_mt);
        println!("lifetime     {}", r.key_lifetime);
    }
    Ok(ExitCode::SUCCESS)
}
