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
}

/// Read the NAF authorisations: each NAF certificate and the FQDNs it may ask keys for.
pub fn load_nafs(path: &Path) -> Result<Vec<(String, Vec<String>)>, ServeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
    let f: NafsFile = serde_norway::from_str(&text)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
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
    });
    http::serve_http(ub, ub_handler(bsf)).await;
    if let Some(t) = zn_task {
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
