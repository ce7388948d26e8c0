//! `gbau`: the command-line tool of the gbau project.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use gbau_core::aka::{Amf, Autn, Rand};
use gbau_core::identity::UaProtocolId;
use gbau_core::milenage::MilenageConstants;
use gbau_core::secret::{Ck, Ik, Ks, Op, Opc, K};
use gbau_core::sqn::Sqn;
use gbau_host::calc::{self, GbaInput, MilenageInput, OperatorKey};
use gbau_host::cmd::{self, CmdError};
use gbau_host::input::{constants, fixed_hex, rotations, UsageError};
use gbau_host::session::{CardOpts, SessionError};
use gbau_host::transport::{list_readers, TransportError};
use gbau_host::{bench, card_cmd, demo, shell};
use serde::Serialize;

/// Exit code for a card, protocol or computation failure.
const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage error or malformed input.
const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "gbau",
    version,
    about = "GBA_U (3GPP Generic Bootstrapping Architecture with UICC-based keys): soft USIM, MT tools and network side",
    after_help = "Card commands use the soft card in this process unless --reader names a PC/SC reader.\n\
                  Start with: gbau info   (then: gbau gba naf-key --naf-fqdn naf.example.org)"
)]
struct Cli {
    #[command(flatten)]
    card: CardOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// List PC/SC readers and whether a card is present
    Readers {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// ICCID, IMSI, IMPI, applications, GBA services, EF_GBABP, EF_GBANL, NAF Key Centers
    Info {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Send raw APDUs (hex) and print data, status word and its meaning
    Apdu {
        /// APDUs in hex, spaces allowed inside quotes
        #[arg(required = true, value_name = "HEX")]
        apdus: Vec<String>,
        /// Do not follow 61xx/6Cxx: show exactly what the card answers
        #[arg(long)]
        raw: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Run an APDU script (see apdu-scripts/README.md); a diff and exit 1 on the first mismatch
    Run {
        /// The script file
        script: PathBuf,
        /// Script variable NAME=VALUE (repeatable); profile values are set already
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Print the transcript as JSON
        #[arg(long)]
        json: bool,
    },
    /// GBA on the card: bootstrap from a challenge, NAF keys, checks against the oracle
    #[command(subcommand)]
    Gba(GbaCommand),
    /// Interactive APDU shell (history, completion, variables, scripts)
    Shell,
    /// Print shell completions
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Compute AKA and GBA values from known inputs (the software oracle)
    #[command(subcommand)]
    Calc(CalcCommand),
    /// Run the whole GBA_U flow on embedded test keys, no hardware needed
    Demo {
        /// Print one JSON object instead of the narrative
        #[arg(long)]
        json: bool,
    },
    /// Write a card profile to a sysmo card or the soft card: a dry run with keys masked
    /// unless --write; refuses a card of another model and never spends the last ADM1 try
    Personalize {
        /// The card model: sja2, sja5, sjs1, or soft (gbau's soft card in a reader)
        #[arg(long = "card", value_enum, value_name = "MODEL")]
        model: gbau_host::personalize::Target,
        /// Write to the card (without it: show the plan and check the card, write nothing)
        #[arg(long)]
        write: bool,
        /// ADM1 digits (default: pins.adm1 of the profile)
        #[arg(long, env = "GBAU_ADM", value_name = "DIGITS", hide_env_values = true)]
        adm: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Run the soft GBA_U USIM
    #[command(subcommand)]
    Card(CardCommand),
    /// The BSF (with its HSS function): Ub over HTTP, Zn over HTTPS
    #[command(subcommand)]
    Bsf(BsfCommand),
    /// Test certificates for the TLS links (a CA and one certificate per name)
    #[command(subcommand)]
    Pki(PkiCommand),
    /// A generic HTTP NAF protected with Ua HTTP Digest, keys from the BSF over Zn
    #[command(subcommand)]
    Naf(NafCommand),
    /// The NAF Key Center: Ks_local_MT for external devices over mutually authenticated HTTPS
    #[command(subcommand)]
    KeyCenter(KeyCenterCommand),
    /// The MT's local-interface service for external devices
    #[command(subcommand)]
    Mt(MtCommand),
    /// The external device: establish Ks_local_MT with an MT
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Fetch a NAF resource with GBA (bootstraps when needed, retries once on key update)
    Http {
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
        res_encoding: gbau_host::ub::ResEncoding,
        /// Show each step
        #[arg(short, long)]
        verbose: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks that print their figures
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum GbaCommand {
    /// Bootstrap: over Ub with a BSF (default), or offline from a given RAND/AUTN
    Bootstrap {
        /// BSF URL (default: http://bsf.mnc<MNC>.mcc<MCC>.pub.3gppnetwork.org/ from the IMSI)
        #[arg(long, value_name = "URL", conflicts_with_all = ["rand", "autn", "btid", "lifetime"])]
        bsf: Option<String>,
        /// How RES becomes the Digest password: raw octets (RFC 3310) or hex text
        #[arg(long, value_enum, default_value = "raw")]
        res_encoding: gbau_host::ub::ResEncoding,
        /// Offline: RAND, 16 bytes hex
        #[arg(long, value_name = "HEX", requires_all = ["autn", "btid", "lifetime"])]
        rand: Option<String>,
        /// Offline: AUTN (AUTN* for GBA_U), 16 bytes hex
        #[arg(long, value_name = "HEX", requires = "rand")]
        autn: Option<String>,
        /// Offline: B-TID received from the BSF
        #[arg(long, value_name = "TEXT", requires = "rand")]
        btid: Option<String>,
        /// Offline: key lifetime received from the BSF, e.g. 2026-11-24T10:00:00Z
        #[arg(long, value_name = "TEXT", requires = "rand")]
        lifetime: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// GBA NAF derivation mode: Ks_ext_NAF for a NAF
    NafKey {
        /// NAF FQDN (case matters)
        #[arg(long, value_name = "TEXT")]
        naf_fqdn: String,
        /// Ua security protocol id, 5 bytes hex (01 00 00 00 02 = HTTP Digest)
        #[arg(long, value_name = "HEX", default_value = "0100000002")]
        ua_protocol: String,
        /// IMPI (default: derived from the card's IMSI)
        #[arg(long, value_name = "TEXT")]
        impi: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Ks_local_MT for an external device through a NAF Key Center (seed 001 §5.5.2 step 9)
    LocalKey {
        /// The NAF Key Center's FQDN (from EF_NAFKCA)
        #[arg(long, value_name = "FQDN")]
        key_center: String,
        /// The external device's identifier
        #[arg(long, value_name = "TEXT")]
        device_id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Compare the card's Ks_ext_NAF with the oracle and name the input that differs
    Check {
        /// NAF FQDN
        #[arg(long, value_name = "TEXT")]
        naf_fqdn: String,
        /// Ua security protocol id, 5 bytes hex
        #[arg(long, value_name = "HEX", default_value = "0100000002")]
        ua_protocol: String,
        /// IMPI (default: derived from the card's IMSI)
        #[arg(long, value_name = "TEXT")]
        impi: Option<String>,
        /// The key the NAF side has, 32 bytes hex: which inputs produce it?
        #[arg(long, value_name = "HEX")]
        expected: Option<String>,
        /// The RAND you believe the card bootstrapped with
        #[arg(long, value_name = "HEX")]
        rand: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum CalcCommand {
    /// Milenage f1-f5* and the AUTN (plain and GBA_U) for K, OP/OPc, RAND, SQN, AMF
    Milenage(MilenageArgs),
    /// NAF_Id, Ks_ext_NAF (= Ks_NAF) and Ks_int_NAF from Ks (or CK and IK)
    Gba(GbaArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("operator").required(true).args(["op", "opc"]))]
struct MilenageArgs {
    /// Subscriber key K, 16 bytes hex
    #[arg(long, value_name = "HEX")]
    k: String,
    /// Operator variant OP, 16 bytes hex (OPc is derived)
    #[arg(long, value_name = "HEX")]
    op: Option<String>,
    /// OPc, 16 bytes hex
    #[arg(long, value_name = "HEX")]
    opc: Option<String>,
    /// RAND, 16 bytes hex
    #[arg(long, value_name = "HEX")]
    rand: String,
    /// SQN, 6 bytes hex
    #[arg(long, value_name = "HEX")]
    sqn: String,
    /// AMF, 2 bytes hex
    #[arg(long, value_name = "HEX")]
    amf: String,
    /// Operator rotations r1..r5 in bits (default 64,0,32,64,96)
    #[arg(long, value_name = "R1,..,R5")]
    r: Option<String>,
    /// Operator constants c1..c5, 16 bytes hex each (default 0,1,2,4,8)
    #[arg(long, value_name = "C1,..,C5")]
    c: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("key").required(true).args(["ks", "ck"]))]
struct GbaArgs {
    /// Ks = CK || IK, 32 bytes hex
    #[arg(long, value_name = "HEX")]
    ks: Option<String>,
    /// CK, 16 bytes hex (with --ik instead of --ks)
    #[arg(long, value_name = "HEX", requires = "ik")]
    ck: Option<String>,
    /// IK, 16 bytes hex (with --ck)
    #[arg(long, value_name = "HEX", requires = "ck")]
    ik: Option<String>,
    /// RAND of the bootstrapping run, 16 bytes hex
    #[arg(long, value_name = "HEX")]
    rand: String,
    /// IMPI exactly as the card and BSF use it, e.g. 001010000000001@ims.mnc001.mcc001.3gppnetwork.org
    #[arg(long, value_name = "TEXT")]
    impi: String,
    /// NAF FQDN (case matters: it enters the KDF as given)
    #[arg(long, value_name = "TEXT")]
    naf_fqdn: String,
    /// Ua security protocol identifier, 5 bytes hex (01 00 00 00 02 = HTTP Digest, TS 24.109)
    #[arg(long, value_name = "HEX", default_value = "0100000002")]
    ua_protocol: String,
    /// B-TID, to also derive Ks_local_MT (with --device-id)
    #[arg(long, value_name = "TEXT")]
    b_tid: Option<String>,
    /// Device_ID, to also derive Ks_local_MT (with --b-tid)
    #[arg(long, value_name = "TEXT")]
    device_id: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum CardCommand {
    /// Serve the soft card to PC/SC programs through the vsmartcard virtual reader (vpcd)
    Serve {
        /// State file (created from the profile when missing; written durably)
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// vpcd address: 127.0.0.1:35963 is reader "Virtual PCD 00 00", :35964 the second slot
        #[arg(long, value_name = "HOST:PORT", default_value = gbau_card::vpcd::DEFAULT_VPCD_ADDR)]
        vpcd: String,
    },
    /// Drive the soft card over stdin/stdout: one hex APDU per line in, one hex response out
    Stdio {
        /// State file
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum MtCommand {
    /// Serve devices on unix:PATH or tcp:127.0.0.1:PORT; prints the address on one line
    Serve {
        /// Local interface address
        #[arg(long, value_name = "ADDR")]
        local: String,
        /// BSF URL for bootstraps (default: derived from the IMSI)
        #[arg(long, value_name = "URL")]
        bsf: Option<String>,
        /// Directory of the per-device key store
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
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
        /// The NAF Key Center's URL, e.g. https://127.0.0.1:8444/local-key
        #[arg(long, value_name = "URL")]
        key_center_url: String,
        /// Where the device keeps Ks_local_MT and its lifetime
        #[arg(long, value_name = "FILE")]
        store: PathBuf,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCenterCommand {
    /// Serve POST /local-key over HTTPS with device certificates; prints the bound address
    Serve {
        /// Listen address (port 0 picks one)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8444")]
        listen: String,
        /// The Key Center's FQDN (its NAF_Id)
        #[arg(long, value_name = "FQDN", default_value = "keycenter.example.org")]
        fqdn: String,
        /// Server certificate (PEM)
        #[arg(long, value_name = "FILE")]
        tls_cert: PathBuf,
        /// Server key (PEM)
        #[arg(long, value_name = "FILE")]
        tls_key: PathBuf,
        /// CA that issues device certificates (PEM)
        #[arg(long, value_name = "FILE")]
        device_ca: PathBuf,
        /// Authorised devices (YAML: devices: [{cert: FILE, device_id: TEXT}])
        #[arg(long, value_name = "FILE")]
        devices: PathBuf,
        /// Longest key lifetime granted, seconds (never beyond the bootstrapped key's)
        #[arg(long, default_value_t = 86_400)]
        max_lifetime: u64,
        /// The BSF's Zn URL
        #[arg(long, value_name = "URL")]
        zn: String,
        /// CA of the BSF's certificate (PEM)
        #[arg(long, value_name = "FILE")]
        zn_ca: PathBuf,
        /// The Key Center's Zn client certificate (PEM)
        #[arg(long, value_name = "FILE")]
        zn_cert: PathBuf,
        /// The Key Center's Zn client key (PEM)
        #[arg(long, value_name = "FILE")]
        zn_key: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum NafCommand {
    /// Serve a protected resource; prints the bound address on one line
    Serve {
        /// Listen address (port 0 picks one)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
        listen: String,
        /// The NAF's FQDN (realm and NAF_Id)
        #[arg(long, value_name = "FQDN", default_value = "naf.example.org")]
        fqdn: String,
        /// The BSF's Zn URL, e.g. https://127.0.0.1:8443/zn
        #[arg(long, value_name = "URL")]
        zn: String,
        /// CA of the BSF's certificate (PEM)
        #[arg(long, value_name = "FILE")]
        zn_ca: PathBuf,
        /// This NAF's client certificate (PEM)
        #[arg(long, value_name = "FILE")]
        zn_cert: PathBuf,
        /// This NAF's client key (PEM)
        #[arg(long, value_name = "FILE")]
        zn_key: PathBuf,
        /// The text of the protected resource
        #[arg(long, default_value = "hello from the gbau NAF")]
        resource: String,
    },
}

#[derive(Subcommand, Debug)]
enum PkiCommand {
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

#[derive(Subcommand, Debug)]
enum BsfCommand {
    /// Serve Ub (and Zn with --zn-listen); prints the bound addresses on one line
    Serve {
        /// Ub listen address (port 0 picks one)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Subscribers (YAML): IMPI or IMSI, K, OP/OPc, AMF, SQN start, UICC type, key lifetime
        #[arg(long, value_name = "FILE")]
        subscribers: PathBuf,
        /// Data directory (SQLite store of SQNs and sessions)
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The BSF's name (Digest realm, B-TID domain)
        #[arg(
            long,
            value_name = "FQDN",
            default_value = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
        )]
        fqdn: String,
        /// Zn listen address (HTTPS with client certificates)
        #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key", "client_ca", "nafs"])]
        zn_listen: Option<String>,
        /// Zn server certificate (PEM)
        #[arg(long, value_name = "FILE")]
        tls_cert: Option<PathBuf>,
        /// Zn server key (PEM)
        #[arg(long, value_name = "FILE")]
        tls_key: Option<PathBuf>,
        /// CA that issues NAF certificates (PEM)
        #[arg(long, value_name = "FILE")]
        client_ca: Option<PathBuf>,
        /// NAF authorisations (YAML: nafs: [{cert: FILE, fqdns: [..]}])
        #[arg(long, value_name = "FILE")]
        nafs: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Seed 001: time the device's full, optimized and stored-key procedures (card in-process, or --reader)
    LocalKey {
        /// Optimized and stored-key runs
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// BSF: simulated UEs bootstrapping over HTTP on loopback, then Zn lookups over HTTPS
    Bsf {
        /// Number of simulated UEs (soft USIMs)
        #[arg(long, default_value_t = 200)]
        ues: usize,
        /// Concurrent clients
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Seconds of bootstrapping (Zn lookups run half as long)
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Soft card: GBA bootstraps per second in-process, SELECT round trip through PC/SC
    Card {
        /// Number of GBA bootstraps to time
        #[arg(long, default_value_t = 2000)]
        bootstraps: usize,
        /// Number of SELECT round trips to time
        #[arg(long, default_value_t = 1000)]
        selects: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// What can end a command.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    CardCmd(#[from] card_cmd::CardCmdError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Bench(#[from] bench::BenchError),
    #[error(transparent)]
    Profile(#[from] gbau_card::profile::ProfileError),
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Shell(#[from] shell::ShellError),
    #[error(transparent)]
    Personalize(#[from] gbau_host::personalize::PersonalizeError),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_)
            | Self::Profile(_)
            | Self::Cmd(CmdError::Usage(_))
            | Self::Session(SessionError::PinRequired | SessionError::Profile(_))
            | Self::Cmd(CmdError::Session(SessionError::PinRequired | SessionError::Profile(_)))
            | Self::Shell(shell::ShellError::Session(
                SessionError::PinRequired | SessionError::Profile(_),
            ))
            | Self::Personalize(
                gbau_host::personalize::PersonalizeError::AdmFormat
                | gbau_host::personalize::PersonalizeError::AdmMissing,
            ) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

/// Write to stdout; a reader that went away (`| head`) ends the output quietly.
fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GBAU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    emit(&format!("{}\n", serde_json::to_string_pretty(v)?))
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

#[allow(clippy::too_many_lines)] // one arm per command, each short
fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let card = cli.card;
    match cli.command {
        Command::Readers { json } => {
            let readers = list_readers()?;
            if json {
                print_json(&readers)?;
            } else if readers.is_empty() {
                println!("no readers (is pcscd running? for the soft card in the virtual reader: gbau card serve ...)");
            } else {
                for r in &readers {
                    println!(
                        "{:>2}  {}  {}",
                        r.index,
                        r.name,
                        if r.card_present {
                            "card present"
                        } else {
                            "no card"
                        }
                    );
                }
            }
        }
        Command::Personalize {
            model,
            write,
            adm,
            json,
        } => {
            let path = card.profile.clone().ok_or_else(|| {
                UsageError::new(
                    "--profile",
                    "personalize writes a profile: pass --profile FILE (e.g. card-applet-sim/profiles/test-set-1.yaml)",
                )
            })?;
            let profile = gbau_card::Profile::load(&path)?;
            let mut session = if card.reader.is_some() || card.sim.is_some() {
                Some(card.open()?)
            } else {
                None
            };
            let opts = gbau_host::personalize::Options {
                target: model,
                write,
                adm,
                announce_adm_tries: Some(|tries| match tries {
                    Some(n) => eprintln!("ADM1: {n} tries left; presenting ADM1"),
                    None => eprintln!("ADM1: already verified on this connection"),
                }),
            };
            let (report, result) =
                gbau_host::personalize::run_reporting(session.as_mut(), &profile, &opts);
            // What was sent before a stop is shown too: it is what the card holds now.
            if json {
                print_json(&report)?;
            } else {
                emit(&report.to_string())?;
            }
            result?;
        }
        Command::Info { json } => {
            let mut s = card.open()?;
            let info = cmd::info(&mut s)?;
            if json {
                print_json(&info)?;
            } else {
                emit(&info.to_string())?;
            }
        }
        Command::Apdu { apdus, raw, json } => {
            let mut s = card.open()?;
            let results = cmd::apdu(&mut s, &apdus, raw)?;
            if json {
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
        }
        Command::Run { script, vars, json } => {
            let vars = parse_vars(&vars)?;
            let mut s = card.open()?;
            let transcript = cmd::run(&mut s, &script, &vars)?;
            if json {
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
                for e in &transcript {
                    println!("{}", gbau_core::apdu::log_command(&e.command));
                    println!(
                        "{}",
                        gbau_core::apdu::log_response(&e.response.to_bytes(), false)
                    );
                }
                println!("ok: {} ({} exchanges)", script.display(), transcript.len());
            }
        }
        Command::Gba(GbaCommand::Bootstrap {
            bsf,
            res_encoding,
            rand: None,
            json,
            ..
        }) => {
            let mut s = card.open()?;
            let r = cmd::gba_bootstrap_bsf(&mut s, bsf.as_deref(), res_encoding)?;
            if json {
                print_json(&r)?;
            } else {
                println!("b_tid     {}", r.b_tid);
                println!("lifetime  {}", r.lifetime);
                if r.resynchronisations > 0 {
                    println!(
                        "(after {} resynchronisation(s) from AUTS)",
                        r.resynchronisations
                    );
                }
                println!("(GBA_U: Ks stays on the card; B-TID and lifetime written to EF_GBABP)");
            }
        }
        Command::Gba(GbaCommand::Bootstrap {
            rand: Some(rand),
            autn,
            btid,
            lifetime,
            json,
            ..
        }) => {
            let rand = Rand(fixed_hex("--rand", &rand)?);
            let autn = Autn(fixed_hex("--autn", autn.as_deref().unwrap_or_default())?);
            let (btid, lifetime) = (btid.unwrap_or_default(), lifetime.unwrap_or_default());
            let mut s = card.open()?;
            let r = cmd::gba_bootstrap(&mut s, rand, autn, &btid, &lifetime)?;
            if json {
                print_json(&r)?;
            } else {
                println!("res       {}", r.res);
                println!("b_tid     {}", r.b_tid);
                println!("lifetime  {}", r.lifetime);
                println!("(Ks stays on the card; B-TID and lifetime written to EF_GBABP)");
            }
        }
        Command::Gba(GbaCommand::NafKey {
            naf_fqdn,
            ua_protocol,
            impi,
            json,
        }) => {
            let ua = UaProtocolId(fixed_hex("--ua-protocol", &ua_protocol)?);
            let mut s = card.open()?;
            let r = cmd::gba_naf_key(&mut s, &naf_fqdn, ua, impi.as_deref())?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "b_tid       {}",
                    if r.b_tid.is_empty() {
                        "(none in EF_GBABP)"
                    } else {
                        &r.b_tid
                    }
                );
                println!("naf_id      {}", r.naf_id);
                println!("ks_ext_naf  {}", r.ks_ext_naf);
            }
        }
        Command::Gba(GbaCommand::Check {
            naf_fqdn,
            ua_protocol,
            impi,
            expected,
            rand,
            json,
        }) => {
            let ua = UaProtocolId(fixed_hex("--ua-protocol", &ua_protocol)?);
            let expected = expected
                .map(|e| fixed_hex::<32>("--expected", &e))
                .transpose()?;
            let rand = rand
                .map(|r| fixed_hex::<16>("--rand", &r).map(Rand))
                .transpose()?;
            let mut s = card.open()?;
            let r = cmd::gba_check(&mut s, &naf_fqdn, ua, impi.as_deref(), expected, rand)?;
            let agrees = r.card_matches_calc && r.expected_matches_card != Some(false);
            if json {
                print_json(&r)?;
            } else {
                println!("rand             {}", r.rand);
                println!("impi             {}", r.impi);
                println!("naf_id           {}", r.naf_id);
                println!("ks_ext_naf card  {}", r.ks_ext_naf_card);
                println!("ks_ext_naf calc  {}", r.ks_ext_naf_calc);
                if let Some(m) = r.expected_matches_card {
                    println!(
                        "expected key     {}",
                        if m {
                            "equal to the card's"
                        } else {
                            "DIFFERENT from the card's"
                        }
                    );
                }
                for d in &r.diagnosis {
                    println!("diagnosis: {d}");
                }
                println!(
                    "{}",
                    if agrees {
                        "ok: the card agrees"
                    } else {
                        "MISMATCH"
                    }
                );
            }
            if !agrees {
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
        Command::Shell => {
            shell::run(&card)?;
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "gbau", &mut std::io::stdout());
        }
        Command::Calc(CalcCommand::Milenage(a)) => {
            let report = calc::milenage(&milenage_input(&a)?)?;
            print_report(
                &report,
                a.json,
                &[
                    ("opc", &report.opc),
                    ("mac_a", &report.mac_a),
                    ("mac_s", &report.mac_s),
                    ("res", &report.res),
                    ("ck", &report.ck),
                    ("ik", &report.ik),
                    ("ak", &report.ak),
                    ("ak_star", &report.ak_star),
                    ("autn", &report.autn),
                    ("autn_gba_u", &report.autn_gba_u),
                    ("kc", &report.kc),
                    ("sres", &report.sres),
                ],
            )?;
        }
        Command::Calc(CalcCommand::Gba(a)) => {
            let report = calc::gba(&gba_input(&a)?)?;
            let mut lines = vec![
                ("naf_id", &report.naf_id),
                ("ks_ext_naf", &report.ks_ext_naf),
                ("ks_int_naf", &report.ks_int_naf),
            ];
            if let Some(k) = &report.ks_local_mt {
                lines.push(("ks_local_mt", k));
            }
            print_report(&report, a.json, &lines)?;
        }
        Command::Demo { json } => {
            let target = match &card.reader {
                None => demo::DemoCard::Embedded,
                Some(name) => {
                    let path = card.profile.clone().ok_or_else(|| {
                        UsageError::new("--profile", "with --reader, give the card's profile (its K/OPc drive the in-process HSS)")
                    })?;
                    let profile = gbau_card::Profile::load(&path)?;
                    demo::DemoCard::Reader {
                        name: name.clone(),
                        profile: Box::new(profile),
                        pin: card.pin.clone(),
                    }
                }
            };
            let report = demo::run(target)?;
            if json {
                print_json(&report)?;
            } else {
                println!("gbau demo: GBA_U bootstrap, NAF key and key update (Milenage test set 1, test keys)");
                println!(
                    "card: {}; BSF {} (Zn {}); NAF {}",
                    report.card, report.bsf_ub, report.bsf_zn, report.naf
                );
                for (i, s) in report.steps.iter().enumerate() {
                    println!("{:>2}. {:<5} {}", i + 1, s.actor, s.what);
                }
                println!("Ks_ext_NAF at the MT : {}", report.ks_ext_naf_mt);
                println!("Ks_ext_NAF at the NAF: {}", report.ks_ext_naf_naf);
                println!(
                    "Ks_local_MT at the MT    ({}): {}",
                    report.device_id, report.ks_local_mt_mt
                );
                println!(
                    "Ks_local_MT at the device ({}): {}",
                    report.device_id, report.ks_local_mt_device
                );
                println!("device procedures: {}", report.device_procedures.join(", "));
                println!(
                    "{}",
                    if report.keys_equal {
                        "equal: MT and NAF share the NAF-specific key"
                    } else {
                        "DIFFERENT"
                    }
                );
            }
            let ok = report.keys_equal
                && report.key_update_rebootstrapped
                && report.ks_local_mt_mt == report.ks_local_mt_device
                && report.optimized_procedure_used
                && report.local_key_reestablished;
            if !ok {
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
        Command::Mt(MtCommand::Serve { local, bsf, data }) => {
            std::fs::create_dir_all(&data)?;
            let session = card.open()?;
            let mt = gbau_host::mt::Mt::new(session, bsf, data.join("local-keys.json"))
                .map_err(|e| UsageError::new("--data", e))?;
            gbau_host::mt::serve(mt, &local, |a| {
                println!("mt: {a}");
                let _ = std::io::Write::flush(&mut std::io::stdout());
            })
            .map_err(|e| UsageError::new("--local", e))?;
        }
        Command::Device(DeviceCommand::Establish {
            mt,
            device_id,
            cert,
            key,
            ca,
            key_center_url,
            store,
            json,
        }) => {
            let cfg = gbau_host::device::DeviceConfig {
                mt,
                device_id,
                cert,
                key,
                ca,
                key_center_url,
                store,
            };
            let r = gbau_host::device::establish(&cfg)
                .map_err(|e| cmd::CmdError::Mismatch(e.to_string()))?;
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
        }
        Command::KeyCenter(KeyCenterCommand::Serve {
            listen,
            fqdn,
            tls_cert,
            tls_key,
            device_ca,
            devices,
            max_lifetime,
            zn,
            zn_ca,
            zn_cert,
            zn_key,
        }) => {
            let client = gbau_host::zn::ZnClient::new(&zn, &zn_ca, &zn_cert, &zn_key)
                .map_err(|e| UsageError::new("--zn-cert", e.to_string()))?;
            let devices = gbau_host::key_center::load_devices(&devices)
                .map_err(|e| UsageError::new("--devices", e))?;
            let kc = gbau_host::key_center::KeyCenter::new(
                &fqdn,
                Box::new(client),
                devices,
                max_lifetime,
            )
            .map_err(|e| UsageError::new("--fqdn", e))?;
            let tls = gbau_host::http::tls_server(&tls_cert, &tls_key, &device_ca)
                .map_err(|e| UsageError::new("--tls-cert", e.to_string()))?;
            gbau_host::http::block_on(gbau_host::key_center::serve(
                std::sync::Arc::new(kc),
                &listen,
                tls,
                |a| {
                    println!("key-center: https://{a}/local-key ({fqdn})");
                    let _ = std::io::Write::flush(&mut std::io::stdout());
                },
            ))?
            .map_err(|e| UsageError::new("--listen", e.to_string()))?;
        }
        Command::Gba(GbaCommand::LocalKey {
            key_center,
            device_id,
            json,
        }) => {
            let mut s = card.open()?;
            let r = cmd::gba_local_key(&mut s, &key_center, &device_id)?;
            if json {
                print_json(&r)?;
            } else {
                println!("b_tid        {}", r.b_tid);
                println!("naf_id       {}", r.naf_id);
                println!("device_id    {}", r.device_id);
                println!("ks_local_mt  {}", r.ks_local_mt);
            }
        }
        Command::Naf(NafCommand::Serve {
            listen,
            fqdn,
            zn,
            zn_ca,
            zn_cert,
            zn_key,
            resource,
        }) => {
            let client = gbau_host::zn::ZnClient::new(&zn, &zn_ca, &zn_cert, &zn_key)
                .map_err(|e| UsageError::new("--zn-cert", e.to_string()))?;
            let naf = gbau_host::naf::Naf::new(&fqdn, Box::new(client), &resource)
                .map_err(|e| UsageError::new("--fqdn", e))?;
            gbau_host::http::block_on(gbau_host::naf::serve(
                std::sync::Arc::new(naf),
                &listen,
                |a| {
                    println!("naf: http://{a}/ ({fqdn})");
                    let _ = std::io::Write::flush(&mut std::io::stdout());
                },
            ))?
            .map_err(|e| UsageError::new("--listen", e.to_string()))?;
        }
        Command::Http {
            url,
            bsf,
            res_encoding,
            verbose,
            json,
            ..
        } => {
            let mut s = card.open()?;
            let r = gbau_host::ua::http_get(&mut s, &url, bsf.as_deref(), res_encoding)?;
            if json {
                print_json(&r)?;
            } else {
                if verbose {
                    for st in &r.steps {
                        eprintln!("* {st}");
                    }
                }
                print!("{}", r.body);
            }
            if r.status != 200 {
                eprintln!("error: {url} answered {}", r.status);
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
        Command::Pki(PkiCommand::Create { dir, names, json }) => {
            let issued = gbau_host::pki::create(&dir, &names)
                .map_err(|e| UsageError::new("--dir", e.to_string()))?;
            if json {
                print_json(&issued)?;
            } else {
                println!("CA   {}", dir.join("ca.pem").display());
                for i in &issued {
                    println!("{}  {} {}", i.name, i.cert.display(), i.key.display());
                }
            }
        }
        Command::Bsf(BsfCommand::Serve {
            listen,
            subscribers,
            data,
            fqdn,
            zn_listen,
            tls_cert,
            tls_key,
            client_ca,
            nafs,
        }) => {
            let bsf = gbau_host::bsf::server::open(&fqdn, &subscribers, &data)
                .map_err(|e| UsageError::new("--subscribers", e))?;
            let zn = match zn_listen {
                None => None,
                Some(listen) => Some(gbau_host::bsf::server::ZnConfig {
                    listen,
                    cert: tls_cert.unwrap_or_default(),
                    key: tls_key.unwrap_or_default(),
                    client_ca: client_ca.unwrap_or_default(),
                    nafs: gbau_host::bsf::server::load_nafs(&nafs.unwrap_or_default())
                        .map_err(|e| UsageError::new("--nafs", e.to_string()))?,
                }),
            };
            let cfg = gbau_host::bsf::server::Config {
                fqdn,
                ub_listen: listen,
                zn,
            };
            gbau_host::http::block_on(gbau_host::bsf::server::run(
                std::sync::Arc::new(bsf),
                cfg,
                |b| {
                    match b.zn {
                        Some(z) => println!("bsf: ub http://{} zn https://{}", b.ub, z),
                        None => println!("bsf: ub http://{}", b.ub),
                    }
                    let _ = std::io::Write::flush(&mut std::io::stdout());
                },
            ))?
            .map_err(|e| UsageError::new("--listen", e.to_string()))?;
        }
        Command::Card(CardCommand::Serve { state, vpcd }) => {
            let profile = card
                .load_profile(true)?
                .ok_or_else(|| UsageError::new("--profile", "no profile"))?;
            card_cmd::serve(profile, &card.profile_label(), &state, &vpcd)?;
        }
        Command::Card(CardCommand::Stdio { state }) => {
            let profile = card
                .load_profile(true)?
                .ok_or_else(|| UsageError::new("--profile", "no profile"))?;
            card_cmd::stdio(profile, &state)?;
        }
        Command::Bench(BenchCommand::LocalKey { runs, json }) => {
            let r = bench::local_key(&card, runs)?;
            if json {
                print_json(&r)?;
            } else {
                println!("local key establishment (seed 001), card: {}", r.card);
                println!(
                    "  first establishment ({}): {:.1} ms",
                    r.first_procedure, r.first_ms
                );
                println!(
                    "  optimized procedure:    median {:.1} ms  p90 {:.1} ms  ({} runs)",
                    r.optimized.median_us / 1e3,
                    r.optimized.p90_us / 1e3,
                    r.optimized.count
                );
                println!(
                    "  stored-key check:       median {:.1} ms  p90 {:.1} ms  ({} runs)",
                    r.stored_check.median_us / 1e3,
                    r.stored_check.p90_us / 1e3,
                    r.stored_check.count
                );
            }
        }
        Command::Bench(BenchCommand::Bsf {
            ues,
            concurrency,
            seconds,
            json,
        }) => {
            let r = bench::bsf(ues, concurrency, seconds)?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "BSF benchmark: {} UEs, {} concurrent clients, {:.1} s, store {}",
                    r.ues, r.concurrency, r.seconds, r.store
                );
                let l = &r.bootstrap_latency;
                println!("  full bootstraps (Ub, 2 HTTP round trips + card): {:>8.0} /s  ({} done)  p50 {:.2} ms  p99 {:.2} ms", r.bootstraps_per_s, r.bootstraps, l.median_us / 1000.0, l.p99_us / 1000.0);
                let z = &r.zn_latency;
                println!("  Zn lookups (HTTPS, client certificate):          {:>8.0} /s  ({} done)  p50 {:.2} ms  p99 {:.2} ms", r.zn_lookups_per_s, r.zn_lookups, z.median_us / 1000.0, z.p99_us / 1000.0);
            }
        }
        Command::Bench(BenchCommand::Card {
            bootstraps,
            selects,
            json,
        }) => {
            let profile = card
                .load_profile(true)?
                .ok_or_else(|| UsageError::new("--profile", "no profile"))?;
            let r = bench::card(
                &profile,
                bootstraps.max(1),
                selects.max(1),
                card.reader.as_deref(),
            )?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "soft card benchmark ({} GBA bootstraps, {} SELECTs)",
                    r.bootstraps, r.select_in_process.count
                );
                println!(
                    "  GBA bootstrap in-process, state in memory : {:>10.0} /s",
                    r.bootstraps_per_s_in_memory
                );
                println!("  GBA bootstrap in-process, durable state   : {:>10.0} /s  (tmp + fsync + rename per bootstrap)", r.bootstraps_per_s_durable);
                let l = &r.select_in_process;
                println!(
                    "  SELECT in-process (baseline)   median {:>8.1} us  p99 {:>8.1} us",
                    l.median_us, l.p99_us
                );
                if let (Some(l), Some(name)) = (&r.select_pcsc, &r.reader) {
                    println!("  SELECT via PC/SC {name:?}: median {:>8.1} us  p90 {:>8.1} us  p99 {:>8.1} us  max {:>8.1} us", l.median_us, l.p90_us, l.p99_us, l.max_us);
                    println!(
                        "  PC/SC / in-process median ratio: {:.1}",
                        r.pcsc_over_in_process.unwrap_or(0.0)
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report<T: Serialize>(
    report: &T,
    json: bool,
    lines: &[(&str, &String)],
) -> Result<(), Failure> {
    if json {
        print_json(report)
    } else {
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in lines {
            println!("{k:<width$}  {v}");
        }
        Ok(())
    }
}

fn milenage_input(a: &MilenageArgs) -> Result<MilenageInput, UsageError> {
    let operator_key = match (&a.op, &a.opc) {
        (Some(op), None) => OperatorKey::Op(Op::new(fixed_hex("--op", op)?)),
        (None, Some(opc)) => OperatorKey::Opc(Opc::new(fixed_hex("--opc", opc)?)),
        _ => {
            return Err(UsageError::new(
                "--op/--opc",
                "give exactly one of --op and --opc",
            ))
        }
    };
    let mut constants_in = MilenageConstants::default();
    if let Some(r) = &a.r {
        constants_in.r = rotations("--r", r)?;
    }
    if let Some(c) = &a.c {
        constants_in.c = constants("--c", c)?;
    }
    Ok(MilenageInput {
        k: K::new(fixed_hex("--k", &a.k)?),
        operator_key,
        rand: Rand(fixed_hex("--rand", &a.rand)?),
        sqn: Sqn::from_bytes(fixed_hex("--sqn", &a.sqn)?),
        amf: Amf(fixed_hex("--amf", &a.amf)?),
        constants: constants_in,
    })
}

fn gba_input(a: &GbaArgs) -> Result<GbaInput, UsageError> {
    let ks = match (&a.ks, &a.ck, &a.ik) {
        (Some(ks), None, None) => Ks::new(fixed_hex("--ks", ks)?),
        (None, Some(ck), Some(ik)) => GbaInput::ks_from(
            &Ck::new(fixed_hex("--ck", ck)?),
            &Ik::new(fixed_hex("--ik", ik)?),
        ),
        _ => {
            return Err(UsageError::new(
                "--ks",
                "give either --ks, or --ck and --ik",
            ))
        }
    };
    Ok(GbaInput {
        ks,
        rand: Rand(fixed_hex("--rand", &a.rand)?),
        impi: a.impi.clone(),
        naf_fqdn: a.naf_fqdn.clone(),
        ua_protocol: UaProtocolId(fixed_hex("--ua-protocol", &a.ua_protocol)?),
        b_tid: a.b_tid.clone(),
        device_id: a.device_id.clone(),
    })
}
