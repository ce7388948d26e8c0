//! `gbau key-center serve`: the NAF Key Center of seed 001.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use gbau_host::input::UsageError;
use gbau_network::key_center::{self, KeyCenter};

use super::naf::ZnClientArgs;
use crate::failure::Failure;
use crate::output::announce;

#[derive(Subcommand, Debug)]
pub enum KeyCenterCommand {
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
        #[command(flatten)]
        zn: ZnClientArgs,
        /// Grant keys only from GBA_U sessions (keys derived on the UICC): GBA_ME gets 403
        #[arg(long)]
        require_gba_u: bool,
    },
}

pub fn exec(c: KeyCenterCommand) -> Result<ExitCode, Failure> {
    let KeyCenterCommand::Serve {
        listen,
        fqdn,
        tls_cert,
        tls_key,
        device_ca,
        devices,
        max_lifetime,
        zn,
        require_gba_u,
    } = c;
    let devices =
        key_center::load_devices(&devices).map_err(|e| UsageError::new("--devices", e))?;
    let mut kc = KeyCenter::new(&fqdn, zn.client(&fqdn)?, devices, max_lifetime)
        .map_err(|e| UsageError::new("--fqdn", e))?;
    kc.require_gba_u = require_gba_u;
    let tls = gbau_network::http::tls_server(&tls_cert, &tls_key, &device_ca)
        .map_err(|e| UsageError::new("--tls-cert", e.to_string()))?;
    gbau_network::http::block_on(key_center::serve(Arc::new(kc), &listen, tls, |a| {
        announce(&format!("key-center: https://{a}/local-key ({fqdn})"));
    }))?
    .map_err(|e| UsageError::new("--listen", e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
