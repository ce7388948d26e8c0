//! `gbau gba ...`: GBA on the card — bootstrap (over Ub or from a given challenge), NAF keys,
//! Ks_local_MT through a Key Center, and a check against the software oracle.

use std::process::ExitCode;

use clap::Subcommand;
use gbau_core::aka::{Autn, Rand};
use gbau_core::identity::UaProtocolId;
use gbau_host::cmd;
use gbau_host::input::fixed_hex;
use gbau_host::session::CardOpts;
use gbau_host::ub::ResEncoding;

use crate::card_args::{Legacy, Uses};
use crate::failure::{Failure, EXIT_FAILURE};
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum GbaCommand {
    /// Bootstrap: over Ub with a BSF (default), or offline from a given RAND/AUTN
    Bootstrap {
        #[command(flatten)]
        card: CardOpts,
        #[arg(
            long,
            value_name = "URL",
            conflicts_with_all = ["rand", "autn", "btid", "lifetime"],
            help = "BSF URL (default: http://bsf.mnc<MNC>.mcc<MCC>.pub.3gppnetwork.org/ from the IMSI)"
        )]
        bsf: Option<String>,
        /// How RES becomes the Digest password: raw octets (RFC 3310) or hex text
        #[arg(long, value_enum, default_value = "raw")]
        res_encoding: ResEncoding,
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
        #[command(flatten)]
        card: CardOpts,
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
        #[command(flatten)]
        card: CardOpts,
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
        #[command(flatten)]
        card: CardOpts,
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

pub fn exec(legacy: &Legacy, c: GbaCommand) -> Result<ExitCode, Failure> {
    let card = |own: &CardOpts, name: &str| legacy.merge(own.clone(), Uses::ALL, name);
    match c {
        GbaCommand::Bootstrap {
            card: own,
            bsf,
            res_encoding,
            rand,
            autn,
            btid,
            lifetime,
            json,
        } => {
            let card = card(&own, "gba bootstrap");
            match rand {
                None => bootstrap_bsf(&card, bsf.as_deref(), res_encoding, json),
                Some(rand) => bootstrap_offline(
                    &card,
                    &rand,
                    autn.as_deref().unwrap_or_default(),
                    &btid.unwrap_or_default(),
                    &lifetime.unwrap_or_default(),
                    json,
                ),
            }
        }
        GbaCommand::NafKey {
            card: own,
            naf_fqdn,
            ua_protocol,
            impi,
            json,
        } => naf_key(
            &card(&own, "gba naf-key"),
            &naf_fqdn,
            &ua_protocol,
            impi.as_deref(),
            json,
        ),
        GbaCommand::LocalKey {
            card: own,
            key_center,
            device_id,
            json,
        } => local_key(&card(&own, "gba local-key"), &key_center, &device_id, json),
        GbaCommand::Check {
            card: own,
            naf_fqdn,
            ua_protocol,
            impi,
            expected,
            rand,
            json,
        } => {
            let ua = UaProtocolId(fixed_hex("--ua-protocol", &ua_protocol)?);
            let expected = expected
                .map(|e| fixed_hex::<32>("--expected", &e))
                .transpose()?;
            let rand = rand
                .map(|r| fixed_hex::<16>("--rand", &r).map(Rand))
                .transpose()?;
            let mut s = card(&own, "gba check").open()?;
            let r = cmd::gba_check(&mut s, &naf_fqdn, ua, impi.as_deref(), expected, rand)?;
            check_report(&r, json)
        }
    }
}

fn bootstrap_bsf(
    card: &CardOpts,
    bsf: Option<&str>,
    enc: ResEncoding,
    json: bool,
) -> Result<ExitCode, Failure> {
    let mut s = card.open()?;
    let r = cmd::gba_bootstrap_bsf(&mut s, bsf, enc)?;
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
    Ok(ExitCode::SUCCESS)
}

fn bootstrap_offline(
    card: &CardOpts,
    rand: &str,
    autn: &str,
    btid: &str,
    lifetime: &str,
    json: bool,
) -> Result<ExitCode, Failure> {
    let rand = Rand(fixed_hex("--rand", rand)?);
    let autn = Autn(fixed_hex("--autn", autn)?);
    let mut s = card.open()?;
    let r = cmd::gba_bootstrap(&mut s, rand, autn, btid, lifetime)?;
    if json {
        print_json(&r)?;
    } else {
        println!("res       {}", r.res);
        println!("b_tid     {}", r.b_tid);
        println!("lifetime  {}", r.lifetime);
        println!("(Ks stays on the card; B-TID and lifetime written to EF_GBABP)");
    }
    Ok(ExitCode::SUCCESS)
}

fn naf_key(
    card: &CardOpts,
    naf_fqdn: &str,
    ua_protocol: &str,
    impi: Option<&str>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let ua = UaProtocolId(fixed_hex("--ua-protocol", ua_protocol)?);
    let mut s = card.open()?;
    let r = cmd::gba_naf_key(&mut s, naf_fqdn, ua, impi)?;
    if json {
        print_json(&r)?;
    } else {
        let b_tid = if r.b_tid.is_empty() {
            "(none in EF_GBABP)"
        } else {
            &r.b_tid
        };
        println!("b_tid       {b_tid}");
        println!("naf_id      {}", r.naf_id);
        println!("ks_ext_naf  {}", r.ks_ext_naf);
    }
    Ok(ExitCode::SUCCESS)
}

fn local_key(
    card: &CardOpts,
    key_center: &str,
    device_id: &str,
    json: bool,
) -> Result<ExitCode, Failure> {
    let mut s = card.open()?;
    let r = cmd::gba_local_key(&mut s, key_center, device_id)?;
    if json {
        print_json(&r)?;
    } else {
        println!("b_tid        {}", r.b_tid);
        println!("naf_id       {}", r.naf_id);
        println!("device_id    {}", r.device_id);
        println!("ks_local_mt  {}", r.ks_local_mt);
    }
    Ok(ExitCode::SUCCESS)
}

fn check_report(r: &cmd::CheckReport, json: bool) -> Result<ExitCode, Failure> {
    let agrees = r.card_matches_calc && r.expected_matches_card != Some(false);
    if json {
        print_json(r)?;
    } else {
        println!("rand             {}", r.rand);
        println!("impi             {}", r.impi);
        println!("naf_id           {}", r.naf_id);
        println!("ks_ext_naf card  {}", r.ks_ext_naf_card);
        println!("ks_ext_naf calc  {}", r.ks_ext_naf_calc);
        if let Some(m) = r.expected_matches_card {
            let verdict = if m {
                "equal to the card's"
            } else {
                "DIFFERENT from the card's"
            };
            println!("expected key     {verdict}");
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
    Ok(if agrees {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}
