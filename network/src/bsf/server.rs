//! `gbau bsf serve`: Ub over HTTP and Zn over HTTPS with client certificates, around the
//! BSF core.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::core::{Bsf, UbRequest, ZnRequest};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::store::{Store, StoreError};
use crate::http::{self, Handler, Req, Resp, ServeError};

/// Where and how the BSF listens.
#[derive(Debug, Clone)]
pub struct Config {
    pub fqdn: String,
    pub ub_listen: String,
    pub zn: Option<ZnConfig>,
    pub zn_diameter: Option<DiameterConfig>,
}

/// Zn over Diameter (TS 29.109), TCP.
#[derive(Debug, Clone)]
pub struct DiameterConfig {
    pub listen: String,
    /// The BSF's Origin-Host and Origin-Realm.
    pub identity: String,
    pub realm: String,
    /// (Diameter identity of a NAF, FQDNs it may ask keys for): see [`load_diameter_peers`].
    pub peers: Vec<(String, Vec<String>)>,
}

impl Config {
    /// A BSF on 127.0.0.1 with OS-picked ports, Zn using the certificates `gbau pki create`
    /// wrote to `pki_dir` (`FQDN.pem`, `FQDN.key`, `ca.pem`): the demo's and the benchmark's.
    #[must_use]
    pub fn loopback(
        fqdn: &str,
        pki_dir: &std::path::Path,
        nafs: Vec<(String, Vec<String>)>,
    ) -> Self {
        Self {
            fqdn: fqdn.to_owned(),
            ub_listen: "127.0.0.1:0".into(),
            zn: Some(ZnConfig {
                listen: "127.0.0.1:0".into(),
                cert: pki_dir.join(format!("{fqdn}.pem")),
                key: pki_dir.join(format!("{fqdn}.key")),
                client_ca: pki_dir.join("ca.pem"),
                nafs,
            }),
            zn_diameter: None,
        }
    }
}

/// Zn over HTTPS.
#[derive(Debug, Clone)]
pub struct ZnConfig {
    pub listen: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: PathBuf,
    /// (SHA-256 of a NAF certificate, FQDNs that NAF may ask keys for).
    pub nafs: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NafsFile {
    nafs: Vec<NafEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NafEntry {
    cert: PathBuf,
    fqdns: Vec<String>,
    /// The NAF's Diameter identity (Origin-Host) on Diameter Zn; without it, the DNS names of
    /// its certificate.
    #[serde(default)]
    diameter_identity: Option<String>,
}

fn read_nafs(path: &Path) -> Result<NafsFile, ServeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
    serde_norway::from_str(&text).map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))
}

/// The NAF authorisations for Diameter Zn: each entry's Diameter identity (its
/// `diameter_identity`, else every DNS name of its certificate) with the FQDNs it may ask
/// keys for. One NAF file serves both Zn flavours.
pub fn load_diameter_peers(path: &Path) -> Result<Vec<(String, Vec<String>)>, ServeError> {
    let f = read_nafs(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for n in &f.nafs {
        let ids = match &n.diameter_identity {
            Some(id) => vec![id.clone()],
            None => http::cert_file_dns_names(&base.join(&n.cert))?,
        };
        out.extend(ids.into_iter().map(|id| (id, n.fqdns.clone())));
    }
    Ok(out)
}

/// Read the NAF authorisations: each NAF certificate and the FQDNs it may ask keys for.
pub fn load_nafs(path: &Path) -> Result<Vec<(String, Vec<String>)>, ServeError> {
    let f = read_nafs(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    f.nafs
        .iter()
        .map(|n| {
            Ok((
                http::cert_file_sha256(&base.join(&n.cert))?,
                n.fqdns.clone(),
            ))
        })
        .collect()
}

/// The addresses actually bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub ub: SocketAddr,
    pub zn: Option<SocketAddr>,
    pub zn_diameter: Option<SocketAddr>,
}

fn ub_handler<S: Store + 'static>(bsf: Arc<Bsf<S>>) -> Handler {
    Arc::new(move |req: Req| {
        let r = bsf.ub(
            &UbRequest {
                method: &req.method,
                uri: &req.path,
                authorization: req.header("authorization"),
                user_agent: req.header("user-agent"),
                body: &req.body,
            },
            http::unix_now(),
            &mut http::os_random,
        );
        Resp {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    })
}

fn zn_handler<S: Store + 'static>(bsf: Arc<Bsf<S>>, nafs: Vec<(String, Vec<String>)>) -> Handler {
    Arc::new(move |req: Req| {
        if req.method != "POST" || req.path != "/zn" {
            return Resp::text(404, "Zn: POST /zn");
        }
        let zn: ZnRequest = match serde_json::from_slice(&req.body) {
            Ok(z) => z,
            Err(e) => {
                return Resp::json(
                    400,
                    &serde_json::json!({"error": "malformed_request", "message": e.to_string()}),
                )
            }
        };
        let allowed: &[String] = req
            .client_cert_sha256
            .as_ref()
            .and_then(|fp| nafs.iter().find(|(f, _)| f == fp))
            .map_or(&[], |(_, fqdns)| fqdns.as_slice());
        match bsf.zn(&zn, allowed, http::unix_now()) {
            Ok(a) => Resp::json(200, &a),
            Err(e) => {
                let (status, code) = e.status();
                Resp::json(
                    status,
                    &serde_json::json!({"error": code, "message": e.to_string()}),
                )
            }
        }
    })
}

/// The BSF's Zn lookup as Diameter Zn calls it.
fn zn_lookup<S: Store + 'static>(bsf: Arc<Bsf<S>>) -> Arc<crate::diameter::peer::Lookup> {
    Arc::new(move |req: &ZnRequest, allowed: &[String], now: u64| bsf.zn(req, allowed, now))
}

/// Run the BSF until the process ends; `ready` gets the bound addresses once listening.
pub async fn run<S: Store + 'static>(
    bsf: Arc<Bsf<S>>,
    cfg: Config,
    ready: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    let ub = http::bind(&cfg.ub_listen).await?;
    let ub_addr = ub.local_addr().map_err(|source| ServeError::Listen {
        addr: cfg.ub_listen.clone(),
        source,
    })?;
    let mut zn_task = None;
    let mut zn_addr = None;
    if let Some(z) = &cfg.zn {
        let tls = http::tls_server(&z.cert, &z.key, &z.client_ca)?;
        let l = http::bind(&z.listen).await?;
        zn_addr = Some(l.local_addr().map_err(|source| ServeError::Listen {
            addr: z.listen.clone(),
            source,
        })?);
        zn_task = Some(tokio::spawn(http::serve_https(
            l,
            tls,
            zn_handler(bsf.clone(), z.nafs.clone()),
        )));
    }
    let (mut dia_task, mut dia_addr) = (None, None);
    if let Some(d) = &cfg.zn_diameter {
        let l = http::bind(&d.listen).await?;
        dia_addr = Some(l.local_addr().map_err(|source| ServeError::Listen {
            addr: d.listen.clone(),
            source,
        })?);
        dia_task = Some(tokio::spawn(crate::diameter::server::serve(
            l,
            Arc::new(crate::diameter::peer::Identity {
                host: d.identity.clone(),
                realm: d.realm.clone(),
                state_id: http::unix_now() as u32,
                peers: d.peers.clone(),
            }),
            zn_lookup(bsf.clone()),
        )));
    }
    let purge = bsf.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(30)).await;
            // The store blocks (PostgreSQL's client runs its own runtime): off the workers.
            let purge = purge.clone();
            let done =
                tokio::task::spawn_blocking(move || purge.store().purge_expired(http::unix_now()))
                    .await;
            match done {
                Ok(Ok(n)) if n > 0 => tracing::info!("purged {n} expired sessions"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!("{e}"),
                Err(e) => tracing::warn!("session purge: {e}"),
            }
        }
    });
    ready(Bound {
        ub: ub_addr,
        zn: zn_addr,
        zn_diameter: dia_addr,
    });
    http::serve_http(ub, ub_handler(bsf)).await;
    for t in [zn_task, dia_task].into_iter().flatten() {
        t.abort();
    }
    Ok(())
}

/// Where the BSF keeps SQNs and sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// SQLite in this folder: one BSF.
    Sqlite(PathBuf),
    /// PostgreSQL at this URL (over TLS verified against `ca`, when given): any number of
    /// BSFs.
    Postgres { url: String, ca: Option<PathBuf> },
}

impl StoreLocation {
    /// Open (create, migrate) the store.
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            Self::Sqlite(dir) => Box::new(SqliteStore::open(dir)?),
            Self::Postgres { url, ca } => Box::new(PgStore::connect(url, ca.as_deref())?),
        })
    }
}

/// Why a BSF could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Subscribers(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Build a BSF on its store.
pub fn open(
    fqdn: &str,
    subscribers: &Path,
    store: &StoreLocation,
) -> Result<Bsf<Box<dyn Store>>, OpenError> {
    let subs =
        super::subscribers::load(subscribers).map_err(|e| OpenError::Subscribers(e.to_string()))?;
    Ok(Bsf::new(fqdn, subs, store.open()?))
}

/// Start the BSF on `rt` and wait (up to 10 s) for its bound addresses.
pub fn spawn<S: Store + 'static>(
    rt: &tokio::runtime::Runtime,
    bsf: Arc<Bsf<S>>,
    cfg: Config,
) -> Result<Bound, String> {
    let (tx, rx) = std::sync::mpsc::channel::<Bound>();
    rt.spawn(async move {
        if let Err(e) = run(bsf, cfg, move |b| {
            let _ = tx.send(b);
        })
        .await
        {
            tracing::error!("BSF: {e}");
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the BSF did not start".to_owned())
}
