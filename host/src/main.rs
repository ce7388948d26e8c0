//! `gbau`: the command-line tool of the gbau project.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gbau_core::aka::{Amf, Rand};
use gbau_core::identity::UaProtocolId;
use gbau_core::milenage::MilenageConstants;
use gbau_core::secret::{Ck, Ik, Ks, Op, Opc, K};
use gbau_core::sqn::Sqn;
use gbau_host::calc::{self, GbaInput, MilenageInput, OperatorKey};
use gbau_host::input::{constants, fixed_hex, rotations, UsageError};
use gbau_host::transport::{list_readers, TransportError};
use gbau_host::{bench, card_cmd, demo};
use serde::Serialize;
use std::path::PathBuf;

/// Exit code for a card, protocol or computation failure.
const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage error or malformed input.
const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "gbau",
    version,
    about = "GBA_U (3GPP Generic Bootstrapping Architecture with UICC-based keys): soft USIM, MT tools and network side"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Compute AKA and GBA values from known inputs (the software oracle)
    #[command(subcommand)]
    Calc(CalcCommand),
    /// Run the whole GBA_U flow on embedded test keys, no hardware needed
    Demo {
        /// Print one JSON object instead of the narrative
        #[arg(long)]
        json: bool,
        /// Use the card in this PC/SC reader instead of the embedded soft card
        #[arg(long, value_name = "NAME")]
        reader: Option<String>,
        /// With --reader: the card's profile (K/OPc for the in-process HSS)
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// With --reader: PIN1, when the card requires it
        #[arg(long, env = "GBAU_PIN", value_name = "PIN")]
        pin: Option<String>,
    },
    /// Run the soft GBA_U USIM
    #[command(subcommand)]
    Card(CardCommand),
    /// List PC/SC readers and whether a card is present
    Readers {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks that print their figures
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum CardCommand {
    /// Serve the soft card to PC/SC programs through the vsmartcard virtual reader (vpcd)
    Serve {
        /// Card profile (YAML), e.g. card-applet-sim/profiles/test-set-1.yaml
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
        /// State file (created from the profile when missing; written durably)
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// vpcd address: 127.0.0.1:35963 is reader "Virtual PCD 00 00", :35964 the second slot
        #[arg(long, value_name = "HOST:PORT", default_value = gbau_card::vpcd::DEFAULT_VPCD_ADDR)]
        vpcd: String,
    },
    /// Drive the soft card over stdin/stdout: one hex APDU per line in, one hex response out
    Stdio {
        /// Card profile (YAML)
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
        /// State file
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Soft card: GBA bootstraps per second in-process, SELECT round trip through PC/SC
    Card {
        /// Card profile (YAML)
        #[arg(
            long,
            value_name = "FILE",
            default_value = "card-applet-sim/profiles/test-set-1.yaml"
        )]
        profile: PathBuf,
        /// Also time SELECT through this PC/SC reader (e.g. "Virtual PCD 00 00" with `gbau card serve`)
        #[arg(long, value_name = "NAME")]
        reader: Option<String>,
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
        Err(e @ (Failure::Usage(_) | Failure::Profile(_))) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
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
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            json,
            reader,
            profile,
            pin,
        } => {
            let card = match reader {
                None => demo::DemoCard::Embedded,
                Some(name) => {
                    let profile = gbau_card::Profile::load(&profile.ok_or_else(|| {
                        UsageError::new("--profile", "with --reader, give the card's profile (its K/OPc drive the in-process HSS)")
                    })?)?;
                    demo::DemoCard::Reader {
                        name,
                        profile: Box::new(profile),
                        pin,
                    }
                }
            };
            let report = demo::run(card)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("gbau demo: GBA_U bootstrap, NAF key and key update (Milenage test set 1, test keys)");
                println!("card: {}; network: {}", report.card, report.network);
                for (i, s) in report.steps.iter().enumerate() {
                    println!("{:>2}. {:<5} {}", i + 1, s.actor, s.what);
                }
                println!("Ks_ext_NAF at the MT : {}", report.ks_ext_naf_mt);
                println!("Ks_ext_NAF at the NAF: {}", report.ks_ext_naf_naf);
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
                && report.replay_in_3g_refused
                && report.replay_in_gba_refused
                && report.key_update_rebootstrapped;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            })
        }
        Command::Card(CardCommand::Serve {
            profile,
            state,
            vpcd,
        }) => {
            card_cmd::serve(&profile, &state, &vpcd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Card(CardCommand::Stdio { profile, state }) => {
            card_cmd::stdio(&profile, &state)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Readers { json } => {
            let readers = list_readers()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&readers)?);
            } else if readers.is_empty() {
                println!("no readers (is pcscd running? for the soft card: gbau card serve ...)");
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Card {
            profile,
            reader,
            bootstraps,
            selects,
            json,
        }) => {
            let profile = gbau_card::Profile::load(&profile)?;
            let r = bench::card(
                &profile,
                bootstraps.max(1),
                selects.max(1),
                reader.as_deref(),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
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
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report<T: Serialize>(
    report: &T,
    json: bool,
    lines: &[(&str, &String)],
) -> Result<(), Failure> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in lines {
            println!("{k:<width$}  {v}");
        }
    }
    Ok(())
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
