//! The table of `gbau` commands: one module per command group, each with its clap arguments
//! and an `exec` that calls the libraries and prints.

pub mod bench;
pub mod bsf;
pub mod calc;
pub mod card;
pub mod demo;
pub mod device;
pub mod gba;
pub mod http;
pub mod info;
pub mod key_center;
pub mod mt;
pub mod naf;
pub mod personalize;
pub mod pki;
pub mod shell;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::card_args::{Legacy, Uses};
use crate::failure::Failure;

#[derive(Parser, Debug)]
#[command(
    name = "gbau",
    version,
    about = "GBA_U (3GPP Generic Bootstrapping Architecture with UICC-based keys): soft USIM, MT tools and network side",
    after_help = "Card commands use the soft card in this process unless --reader names a PC/SC reader.\n\
                  Start with: gbau info   (then: gbau gba naf-key --naf-fqdn naf.example.org)"
)]
pub struct Cli {
    #[command(flatten)]
    legacy: Legacy,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// List PC/SC readers and whether a card is present
    Readers(info::ReadersArgs),
    /// ICCID, IMSI, IMPI, applications, GBA services, EF_GBABP, EF_GBANL, NAF Key Centers
    Info(info::InfoArgs),
    /// Send raw APDUs (hex) and print data, status word and its meaning
    Apdu(info::ApduArgs),
    /// Run an APDU script (see apdu-scripts/README.md); a diff and exit 1 on the first mismatch
    Run(info::RunArgs),
    /// GBA on the card: bootstrap from a challenge, NAF keys, checks against the oracle
    #[command(subcommand)]
    Gba(gba::GbaCommand),
    /// Interactive APDU shell (history, completion, variables, scripts)
    Shell(shell::ShellArgs),
    /// Print shell completions
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Compute AKA and GBA values from known inputs (the software oracle)
    #[command(subcommand)]
    Calc(calc::CalcCommand),
    /// Run the whole GBA_U flow on embedded test keys, no hardware needed
    Demo(demo::DemoArgs),
    /// Write a card profile to a sysmo card or the soft card: a dry run with keys masked
    /// unless --write; refuses a card of another model and never spends the last ADM1 try
    Personalize(personalize::PersonalizeArgs),
    /// Run the soft GBA_U USIM
    #[command(subcommand)]
    Card(card::CardCommand),
    /// The BSF (with its HSS function): Ub over HTTP, Zn over HTTPS
    #[command(subcommand)]
    Bsf(bsf::BsfCommand),
    /// Test certificates for the TLS links (a CA and one certificate per name)
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// A generic HTTP NAF protected with Ua HTTP Digest, keys from the BSF over Zn
    #[command(subcommand)]
    Naf(naf::NafCommand),
    /// The NAF Key Center: Ks_local_MT for external devices over mutually authenticated HTTPS
    #[command(subcommand)]
    KeyCenter(key_center::KeyCenterCommand),
    /// The MT's local-interface service for external devices
    #[command(subcommand)]
    Mt(mt::MtCommand),
    /// The external device: establish Ks_local_MT with an MT
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Fetch a NAF resource with GBA (bootstraps when needed, retries once on key update)
    Http(http::HttpArgs),
    /// Benchmarks that print their figures
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Run the parsed command line.
pub fn exec(cli: Cli) -> Result<ExitCode, Failure> {
    let legacy = cli.legacy;
    let none = |name: &str| drop(legacy.merge(Default::default(), Uses::NONE, name));
    match cli.command {
        Command::Readers(a) => {
            none("readers");
            info::readers(&a)
        }
        Command::Info(a) => info::info(legacy.merge(a.card.clone(), Uses::ALL, "info"), &a),
        Command::Apdu(a) => info::apdu(legacy.merge(a.card.clone(), Uses::ALL, "apdu"), &a),
        Command::Run(a) => info::run(legacy.merge(a.card.clone(), Uses::ALL, "run"), &a),
        Command::Gba(c) => gba::exec(&legacy, c),
        Command::Shell(a) => shell::exec(legacy.merge(a.card, Uses::ALL, "shell")),
        Command::Completions { shell } => {
            none("completions");
            clap_complete::generate(shell, &mut Cli::command(), "gbau", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Calc(c) => {
            none("calc");
            calc::exec(c)
        }
        Command::Demo(a) => demo::exec(&legacy, a),
        Command::Personalize(a) => {
            personalize::exec(legacy.merge(a.card.clone(), Uses::ALL, "personalize"), &a)
        }
        Command::Card(c) => {
            none("card");
            card::exec(c).map(|()| ExitCode::SUCCESS)
        }
        Command::Bsf(c) => {
            none("bsf");
            bsf::exec(c)
        }
        Command::Pki(c) => {
            none("pki");
            pki::exec(c)
        }
        Command::Naf(c) => {
            none("naf");
            naf::exec(c)
        }
        Command::KeyCenter(c) => {
            none("key-center");
            key_center::exec(c)
        }
        Command::Mt(c) => mt::exec(&legacy, c),
        Command::Device(c) => {
            none("device");
            device::exec(c)
        }
        Command::Http(a) => http::exec(legacy.merge(a.card.clone(), Uses::ALL, "http"), &a),
        Command::Bench(c) => bench::exec(&legacy, c),
    }
}
