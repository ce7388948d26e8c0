//! `gbau naf serve`: a generic HTTP NAF protected with Ua HTTP Digest, keys over Zn.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use gbau_host::input::UsageError;
use gbau_network::diameter::client::{DiameterZnClient, NafIdentity};
use gbau_network::naf::{self, KeySource, Naf};
use gbau_network::zn::ZnClient;

use crate::failure::Failure;
use crate::output::announce;

#[derive(Subcommand, Debug)]
pub enum NafCommand {
    /// Serve a protected resource; prints the bound address on one line
    Serve {
        /// Listen address (port 0 picks one)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
        listen: String,
        /// The NAF's FQDN (realm and NAF_Id)
        #[arg(long, value_name = "FQDN", default_value = "naf.example.org")]
        fqdn: String,
        #[command(flatten)]
        zn: ZnClientArgs,
        /// The text of the protected resource
        #[arg(long, default_value = "hello from the gbau NAF")]
        resource: String,
        /// Serve Ua over HTTPS with this certificate (PEM; TS 33.222 §5.3): NAF_Id then ends
        /// in 01 00 01 yy zz, yy zz the negotiated cipher suite
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The key of --tls-cert (PEM)
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Accept only GBA_U sessions (keys derived on the UICC): a GBA_ME session gets 403
        #[arg(long)]
        require_gba_u: bool,
    },
}

/// How a NAF reaches the BSF's Zn: HTTPS+JSON with a client certificate, or Diameter
/// (TS 29.109).
#[derive(clap::Args, Debug)]
pub struct ZnClientArgs {
    #[arg(
        long,
        value_name = "URL",
        help = "The BSF's Zn: https://bsf.example.org:8443/zn (the BSF's certificate must name its host) or diameter://HOST:PORT"
    )]
    pub zn: String,
    /// Reach a name at an address, as curl's --resolve: HOST:PORT:ADDR (repeatable), e.g.
    /// bsf.example.org:8443:127.0.0.1
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub zn_resolve: Vec<String>,
    /// CA of the BSF's certificate (PEM; HTTPS Zn)
    #[arg(long, value_name = "FILE")]
    pub zn_ca: Option<PathBuf>,
    /// This NAF's Zn client certificate (PEM; HTTPS Zn)
    #[arg(long, value_name = "FILE")]
    pub zn_cert: Option<PathBuf>,
    /// This NAF's Zn client key (PEM; HTTPS Zn)
    #[arg(long, value_name = "FILE")]
    pub zn_key: Option<PathBuf>,
    /// This NAF's Diameter identity (Origin-Host; Diameter Zn); default: its FQDN
    #[arg(long, value_name = "FQDN")]
    pub diameter_identity: Option<String>,
    /// This NAF's Diameter realm (Origin-Realm); default: its FQDN without the first label
    #[arg(long, value_name = "REALM")]
    pub diameter_realm: Option<String>,
}

impl ZnClientArgs {
    /// The Zn client these options describe, for the NAF (or Key Center) `fqdn`.
    pub fn client(&self, fqdn: &str) -> Result<Box<dyn KeySource>, UsageError> {
        if let Some(addr) = self.zn.strip_prefix("diameter://") {
            let me = NafIdentity {
                host: self
                    .diameter_identity
                    .clone()
                    .unwrap_or_else(|| fqdn.to_owned()),
                realm: self.diameter_realm.clone().unwrap_or_else(|| {
                    fqdn.split_once('.')
                        .map_or(fqdn.to_owned(), |(_, r)| r.to_owned())
                }),
            };
            return Ok(Box::new(DiameterZnClient::new(
                addr.trim_end_matches('/'),
                me,
            )));
        }
        let resolve = gbau_host::ua::UaOptions::parse_resolve_list(&self.zn_resolve)
            .map_err(|e| UsageError::new("--zn-resolve", e))?;
        let (Some(ca), Some(cert), Some(key)) = (&self.zn_ca, &self.zn_cert, &self.zn_key) else {
            return Err(UsageError::new(
                "--zn",
                "HTTPS Zn needs --zn-ca, --zn-cert and --zn-key",
            ));
        };
        Ok(Box::new(
            ZnClient::new(&self.zn, &resolve, ca, cert, key)
                .map_err(|e| UsageError::new("--zn-cert", e.to_string()))?,
        ))
    }
}

pub fn exec(c: NafCommand) -> Result<ExitCode, Failure> {
    let NafCommand::Serve {
        listen,
        fqdn,
        zn,
        resource,
        tls_cert,
        tls_key,
        require_gba_u,
    } = c;
    let mut naf =
        Naf::new(&fqdn, zn.client(&fqdn)?, &resource).map_err(|e| UsageError::new("--fqdn", e))?;
    naf.require_gba_u = require_gba_u;
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(
            gbau_network::http::tls_server_auth_only(&cert, &key)
                .map_err(|e| UsageError::new("--tls-cert", e.to_string()))?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    gbau_network::http::block_on(naf::serve(Arc::new(naf), &listen, tls, |a| {
        announce(&format!("naf: {scheme}://{a}/ ({fqdn})"));
    }))?
    .map_err(|e| UsageError::new("--listen", e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
