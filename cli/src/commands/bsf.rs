//! `gbau bsf serve`: the BSF with its HSS function — Ub over HTTP, Zn over HTTPS.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use gbau_host::input::UsageError;
use gbau_network::bsf::server::{self, Config, DiameterConfig, OpenError, StoreLocation, ZnConfig};
use gbau_network::bsf::store::StoreError;

use crate::failure::Failure;
use crate::output::announce;

#[derive(Subcommand, Debug)]
pub enum BsfCommand {
    /// Serve Ub (and Zn with --zn-listen); prints the bound addresses on one line
    Serve {
        /// Ub listen address (port 0 picks one)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Subscribers (YAML): IMPI or IMSI, K, OP/OPc, AMF, SQN start, UICC type, key lifetime
        #[arg(long, value_name = "FILE")]
        subscribers: PathBuf,
        /// Data directory (SQLite store of SQNs and sessions): one BSF
        #[arg(
            long,
            value_name = "DIR",
            required_unless_present = "store",
            conflicts_with = "store"
        )]
        data: Option<PathBuf>,
        /// Shared store instead of --data: postgres://USER@HOST:PORT/DB or postgresql://…;
        /// several BSFs on one database serve each other's sessions. A URL with a password
        /// (USER:PASSWORD@) need not sit in the process list: @FILE (its first line) or -
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// TLS to the --store database, verified against this CA (PEM); add sslmode=require
        /// to the URL to refuse a plain connection
        #[arg(long, value_name = "FILE", requires = "store")]
        store_ca: Option<PathBuf>,
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
        /// NAF authorisations (YAML: nafs: [{cert: FILE, fqdns: [..], diameter_identity: ID}];
        /// on Diameter a NAF is its diameter_identity, else its certificate's DNS names)
        #[arg(long, value_name = "FILE")]
        nafs: Option<PathBuf>,
        /// Zn over Diameter (TS 29.109) on this TCP address, beside or instead of HTTPS Zn.
        /// Loopback only unless --zn-diameter-unprotected: plain TCP authenticates no peer
        #[arg(long, value_name = "ADDR", requires = "nafs")]
        zn_diameter: Option<String>,
        /// Let --zn-diameter listen beyond loopback. Diameter Zn here has no TLS or IPsec: any
        /// host that reaches it and claims a NAF's Origin-Host gets that NAF's keys, so only
        /// on a link protected otherwise (TS 33.210)
        #[arg(long, requires = "zn_diameter")]
        zn_diameter_unprotected: bool,
        /// The BSF's Diameter identity (Origin-Host); default: --fqdn
        #[arg(long, value_name = "FQDN")]
        diameter_identity: Option<String>,
        /// The BSF's Diameter realm (Origin-Realm); default: --fqdn without its first label
        #[arg(long, value_name = "REALM")]
        realm: Option<String>,
    },
}

pub fn exec(c: BsfCommand) -> Result<ExitCode, Failure> {
    let BsfCommand::Serve {
        listen,
        subscribers,
        data,
        store,
        store_ca,
        fqdn,
        zn_listen,
        tls_cert,
        tls_key,
        client_ca,
        nafs,
        zn_diameter,
        zn_diameter_unprotected,
        diameter_identity,
        realm,
    } = c;
    if let Some(listen) = &zn_diameter {
        let loopback = listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        if !loopback && !zn_diameter_unprotected {
            return Err(UsageError::new(
                "--zn-diameter",
                format!(
                    "{listen} is not a loopback address: Diameter Zn has no TLS or IPsec here, so any host that reaches it and claims a NAF's Origin-Host would get that NAF's keys; listen on 127.0.0.1, or add --zn-diameter-unprotected on a link protected otherwise (TS 33.210)"
                ),
            )
            .into());
        }
    }
    let (location, arg) = match (store, data) {
        (Some(url), _) => (
            StoreLocation::Postgres {
                url: gbau_host::input::secret_value("--store", &url)?,
                ca: store_ca,
            },
            "--store",
        ),
        (None, Some(dir)) => (StoreLocation::Sqlite(dir), "--data"),
        (None, None) => {
            return Err(UsageError::new("--data", "give --data DIR or --store URL").into())
        }
    };
    let bsf = match server::open(&fqdn, &subscribers, &location) {
        Ok(b) => b,
        Err(OpenError::Subscribers(e)) => return Err(UsageError::new("--subscribers", e).into()),
        // The database is down or unreachable: a failure, not a usage error.
        Err(OpenError::Store(e @ StoreError::Unavailable(_))) => return Err(Failure::Store(e)),
        Err(OpenError::Store(e)) => return Err(UsageError::new(arg, e.to_string()).into()),
    };
    let zn = match zn_listen {
        None => None,
        Some(listen) => Some(ZnConfig {
            listen,
            cert: tls_cert.unwrap_or_default(),
            key: tls_key.unwrap_or_default(),
            client_ca: client_ca.unwrap_or_default(),
            nafs: server::load_nafs(&nafs.clone().unwrap_or_default())
                .map_err(|e| UsageError::new("--nafs", e.to_string()))?,
        }),
    };
    let zn_diameter = match zn_diameter {
        None => None,
        Some(listen) => Some(DiameterConfig {
            listen,
            identity: diameter_identity.unwrap_or_else(|| fqdn.clone()),
            realm: realm.unwrap_or_else(|| {
                fqdn.split_once('.')
                    .map_or(fqdn.clone(), |(_, r)| r.to_owned())
            }),
            peers: server::load_diameter_peers(&nafs.clone().unwrap_or_default())
                .map_err(|e| UsageError::new("--nafs", e.to_string()))?,
        }),
    };
    let cfg = Config {
        fqdn,
        ub_listen: listen,
        zn,
        zn_diameter,
    };
    gbau_network::http::block_on(server::run(Arc::new(bsf), cfg, |b| {
        let mut line = format!("bsf: ub http://{}", b.ub);
        if let Some(z) = b.zn {
            line.push_str(&format!(" zn https://{z}"));
        }
        if let Some(d) = b.zn_diameter {
            line.push_str(&format!(" zn-diameter diameter://{d}"));
        }
        announce(&line);
    }))?
    .map_err(|e| UsageError::new("--listen", e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
