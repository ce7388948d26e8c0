//! `gbau pki create`: test certificates for the TLS links.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use gbau_host::input::UsageError;

use crate::failure::Failure;
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum PkiCommand {
    /// Create DIR/ca.pem and DIR/NAME.pem + DIR/NAME.key for each NAME (test use only)
    Create {
        /// Output directory
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Names (DNS SANs), e.g. bsf.example.org naf.example.org device-1
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn exec(c: PkiCommand) -> Result<ExitCode, Failure> {
    let PkiCommand::Create { dir, names, json } = c;
    let issued = gbau_network::pki::create(&dir, &names)
        .map_err(|e| UsageError::new("--dir", e.to_string()))?;
    if json {
        print_json(&issued)?;
    } else {
        println!("CA   {}", dir.join("ca.pem").display());
        for i in &issued {
            println!("{}  {} {}", i.name, i.cert.display(), i.key.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
