//! `gbau naf serve`: a generic HTTP NAF protected with Ua HTTP Digest, keys over Zn.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use gbau_host::input::UsageError;
use gbau_network::naf::{self, Naf};
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

/// How a NAF reaches the BSF's Zn.
#[derive(clap::Args, Debug)]
pub struct ZnClientArgs {
    /// The BSF's Zn URL, e.g. https://bsf.example.org:8443/zn (the BSF's certificate must
    /// name its host)
    #[arg(long, value_name = "URL")]
    pub zn: String,
    /// Reach a name at an address, as curl's --resolve: HOST:PORT:ADDR (repeatable), e.g.
    /// bsf.example.org:8443:127.0.0.1
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub zn_resolve: Vec<String>,
    /// CA of the BSF's certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub zn_ca: PathBuf,
    /// This NAF's Zn client certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub zn_cert: PathBuf,
    /// This NAF's Zn client key (PEM)
    #[arg(long, value_name = "FILE")]
    pub zn_key: PathBuf,
}

impl ZnClientArgs {
    /// The Zn client these options describe.
    pub fn client(&self) -> Result<ZnClient, UsageError> {
        let resolve = gbau_host::ua::UaOptions::parse_resolve_list(&self.zn_resolve)
            .map_err(|e| UsageError::new("--zn-resolve", e))?;
        ZnClient::new(&self.zn, &resolve, &self.zn_ca, &self.zn_cert, &self.zn_key)
            .map_err(|e| UsageError::new("--zn-cert", e.to_string()))
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
    let mut naf = Naf::new(&fqdn, Box::new(zn.client()?), &resource)
        .map_err(|e| UsageError::new("--fqdn", e))?;
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
