//! `gbau calc ...`: the software oracle — what a card, a BSF and a NAF should compute.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use gbau_core::aka::{Amf, Rand};
use gbau_core::identity::UaProtocolId;
use gbau_core::milenage::MilenageConstants;
use gbau_core::secret::{Ck, Ik, Ks, Op, Opc, K};
use gbau_core::sqn::Sqn;
use gbau_host::input::{constants, fixed_hex, rotations, secret_value, UsageError};

use crate::failure::Failure;
use crate::oracle::{self, GbaInput, MilenageInput, OperatorKey};
use crate::output::print_report;

#[derive(Subcommand, Debug)]
pub enum CalcCommand {
    /// Milenage f1-f5* and the AUTN (plain and GBA_U) for K, OP/OPc, RAND, SQN, AMF
    Milenage(MilenageArgs),
    /// NAF_Id, Ks_ext_NAF (= Ks_NAF) and Ks_int_NAF from Ks (or CK and IK)
    Gba(GbaArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("operator").required(true).args(["op", "opc"]))]
pub struct MilenageArgs {
    /// Subscriber key K, 16 bytes hex (or @FILE, or - for standard input)
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
pub struct GbaArgs {
    /// Ks = CK || IK, 32 bytes hex (or @FILE, or - for standard input)
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

pub fn exec(c: CalcCommand) -> Result<ExitCode, Failure> {
    match c {
        CalcCommand::Milenage(a) => {
            let report = oracle::milenage(&milenage_input(&a)?)?;
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
                    ("res_gba_u", &report.res_gba_u),
                    ("kc", &report.kc),
                    ("sres", &report.sres),
                ],
            )?;
        }
        CalcCommand::Gba(a) => {
            let report = oracle::gba(&gba_input(&a)?)?;
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
    }
    Ok(ExitCode::SUCCESS)
}

fn milenage_input(a: &MilenageArgs) -> Result<MilenageInput, UsageError> {
    let operator_key = match (&a.op, &a.opc) {
        (Some(op), None) => {
            OperatorKey::Op(Op::new(fixed_hex("--op", &secret_value("--op", op)?)?))
        }
        (None, Some(opc)) => {
            OperatorKey::Opc(Opc::new(fixed_hex("--opc", &secret_value("--opc", opc)?)?))
        }
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
        k: K::new(fixed_hex("--k", &secret_value("--k", &a.k)?)?),
        operator_key,
        rand: Rand(fixed_hex("--rand", &a.rand)?),
        sqn: Sqn::from_bytes(fixed_hex("--sqn", &a.sqn)?),
        amf: Amf(fixed_hex("--amf", &a.amf)?),
        constants: constants_in,
    })
}

fn gba_input(a: &GbaArgs) -> Result<GbaInput, UsageError> {
    let ks = match (&a.ks, &a.ck, &a.ik) {
        (Some(ks), None, None) => Ks::new(fixed_hex("--ks", &secret_value("--ks", ks)?)?),
        (None, Some(ck), Some(ik)) => GbaInput::ks_from(
            &Ck::new(fixed_hex("--ck", &secret_value("--ck", ck)?)?),
            &Ik::new(fixed_hex("--ik", &secret_value("--ik", ik)?)?),
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
