//! The thin HTTP layer shared by gbau's servers: hyper on tokio, loopback-friendly, with
//! bounded headers and bodies, header timeouts, optional TLS with client certificates, and
//! one place where answers are written.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest request head (request line + headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// A client must send its request head within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A client must send the whole request body within this time (408 otherwise).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections a server holds at once; one more is closed at once (not queued).
pub const MAX_CONNECTIONS: usize = 1024;

/// A request as the cores see it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    /// The request target as sent: path and query (what a Digest `uri` must equal).
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// SHA-256 of the client certificate (TLS with client auth), lower-case hex.
    pub client_cert_sha256: Option<String>,
    /// The TLS cipher suite of the connection (HTTPS), as its two octets.
    pub tls_cipher_suite: Option<u16>,
}

/// What the connection tells a request: the client certificate and the cipher suite (TLS).
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    pub client_cert_sha256: Option<String>,
    pub tls_cipher_suite: Option<u16>,
}

impl Req {
    /// A header value (first, case-insensitive name).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// A text answer.
    #[must_use]
    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: format!("{body}\n").into_bytes(),
        }
    }

    /// A JSON answer.
    #[must_use]
    pub fn json<T: serde::Serialize>(status: u16, v: &T) -> Self {
        let body = serde_json::to_vec(v).unwrap_or_default();
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        }
    }
}

/// Errors of a server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Tls(String),
}

fn to_hyper(r: Resp) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(r.status);
    for (n, v) in &r.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(r.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"internal error\n"))))
}

async fn read(req: Request<Incoming>, conn: ConnInfo) -> Result<Req, Resp> {
    let (parts, body) = req.into_parts();
    let limited = Limited::new(body, MAX_BODY);
    let body = match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(c)) => c.to_bytes().to_vec(),
        Ok(Err(_)) => {
            return Err(Resp::text(
                413,
                &format!("request body over {MAX_BODY} bytes"),
            ))
        }
        Err(_) => {
            return Err(Resp::text(
                408,
                &format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            ))
        }
    };
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Req {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers,
        body,
        client_cert_sha256: conn.client_cert_sha256,
        tls_cipher_suite: conn.tls_cipher_suite,
    })
}

/// The handler type of a server.
pub type Handler = Arc<dyn Fn(Req) -> Resp + Send + Sync>;

async fn serve_conn<IO>(io: IO, handler: Handler, info: ConnInfo)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        let info = info.clone();
        async move {
            let resp = match read(req, info).await {
                Ok(r) => tokio::task::spawn_blocking(move || handler(r))
                    .await
                    .unwrap_or_else(|_| Resp::text(500, "internal error")),
                Err(r) => r,
            };
            Ok::<_, Infallible>(to_hyper(resp))
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD.max(8192))
        .serve_connection(TokioIo::new(io), svc);
    if let Err(e) = conn.await {
        tracing::debug!("connection ended: {e}");
    }
}

/// Bind a listener (port 0 picks one).
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen {
            addr: addr.to_owned(),
            source,
        })
}

/// Serve plain HTTP on `listener` until the process ends.
pub async fn serve_http(listener: TcpListener, handler: Handler) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "{MAX_CONNECTIONS} connections open: refused");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                tokio::spawn(async move {
                    serve_conn(stream, handler, ConnInfo::default()).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn load_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ServeError> {
    let data =
        std::fs::read(path).map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut data.as_slice()).collect();
    let certs = certs.map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "{}: no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, ServeError> {
    let data =
        std::fs::read(path).map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?
        .ok_or_else(|| ServeError::Tls(format!("{}: no private key", path.display())))
}

/// A TLS client configuration trusting the CA certificates in `ca` (PEM) only.
pub fn tls_client(ca: &Path) -> Result<rustls::ClientConfig, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(ca)? {
        roots
            .add(c)
            .map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// SHA-256 of the first certificate in a PEM file, lower-case hex.
pub fn cert_file_sha256(path: &Path) -> Result<String, ServeError> {
    use sha2::Digest;
    let certs = load_certs(path)?;
    Ok(hex::encode(sha2::Sha256::digest(certs[0].as_ref())))
}

/// The DNS names (subject alternative names) of the first certificate in a PEM file.
pub fn cert_file_dns_names(path: &Path) -> Result<Vec<String>, ServeError> {
    let certs = load_certs(path)?;
    let ee = webpki::EndEntityCert::try_from(&certs[0])
        .map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
    Ok(ee.valid_dns_names().map(str::to_owned).collect())
}

/// A TLS server configuration requiring client certificates issued by `client_ca`.
pub fn tls_server(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(client_ca)? {
        roots
            .add(c)
            .map_err(|e| ServeError::Tls(format!("client CA: {e}")))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| ServeError::Tls(e.to_string()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    Ok(Arc::new(cfg))
}

/// A TLS server configuration without client certificates (a NAF's Ua over HTTPS, TS 33.222
/// §5.3: the server is authenticated by its certificate, the UE by HTTP Digest inside).
pub fn tls_server_auth_only(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    Ok(Arc::new(cfg))
}

/// Serve HTTPS (with client certificates when the configuration asks for them) until the
/// process ends.
pub async fn serve_https(listener: TcpListener, tls: Arc<rustls::ServerConfig>, handler: Handler) {
    use sha2::Digest;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "{MAX_CONNECTIONS} connections open: refused");
            continue;
        };
        // As serve_http: without it the first answer waits behind the unacknowledged TLS 1.3
        // session tickets (Nagle + the client's delayed ACK, ~40 ms).
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%peer, "TLS handshake refused: {e}");
                    return;
                }
                Err(_) => return,
            };
            let session = tls.get_ref().1;
            let info = ConnInfo {
                client_cert_sha256: session
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| hex::encode(sha2::Sha256::digest(c.as_ref()))),
                tls_cipher_suite: session
                    .negotiated_cipher_suite()
                    .map(|s| u16::from(s.suite())),
            };
            serve_conn(tls, handler, info).await;
        });
    }
}

/// Run `fut` on a new multi-thread runtime (the servers' entry point from sync code).
pub fn block_on<F: Future>(fut: F) -> Result<F::Output, std::io::Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(fut))
}

/// Current Unix time in seconds.
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Fill with OS randomness.
pub fn os_random(buf: &mut [u8]) {
    if getrandom::getrandom(buf).is_err() {
        // No OS randomness is fatal for a BSF: refuse to hand out predictable RANDs.
        tracing::error!("no OS randomness available");
        std::process::abort();
    }
}

/// Hex text to bytes, `None` when it is not hex.
#[must_use]
pub fn hex_arg(text: &str) -> Option<Vec<u8>> {
    gbau_core::hexutil::parse_hex(text).ok()
}
