//! One Ua connection from the MT to a NAF: HTTP/1.1 over TCP, or over server-authenticated
//! TLS (TS 33.222 §5.3), with the negotiated TLS cipher suite recorded — NAF_Id's Ua security
//! protocol id depends on it (TS 33.220 Annex H: 01 00 01 yy zz). Requests go over the same
//! connection, so the key the MT derives belongs to the session it answers on. Redirects are
//! not followed and response bodies are capped.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The largest response body the MT reads from a NAF.
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;
/// How long one request (connect, TLS handshake, answer) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a Ua request failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("{0}: unsupported URL (http:// or https:// with a host)")]
    Url(String),
    #[error("cannot reach {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS with {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("https:// needs the CA of the NAF's certificate: pass --ca FILE")]
    NoTrustAnchor,
    #[error("{0}: {1}")]
    Ca(String, String),
    #[error("HTTP with {host}: {reason}")]
    Http { host: String, reason: String },
    #[error("{host} took longer than {secs} s to answer", secs = REQUEST_TIMEOUT.as_secs())]
    Timeout { host: String },
    #[error("the answer from {host} is over {MAX_RESPONSE_BODY} bytes")]
    BodyTooLong { host: String },
}

/// How the MT reaches NAFs: name overrides (like curl's `--resolve`) and the trust anchor for
/// HTTPS.
#[derive(Debug, Clone, Default)]
pub struct UaOptions {
    /// (host, port, address): connect to `address` when the URL names `host:port`. The URL's
    /// host stays the NAF's FQDN for NAF_Id, the realm check and the certificate check.
    pub resolve: Vec<(String, u16, IpAddr)>,
    /// PEM file of the CA(s) that issue NAF certificates.
    pub ca: Option<std::path::PathBuf>,
}

impl UaOptions {
    /// Parse `HOST:PORT:ADDR` (curl's `--resolve` form).
    pub fn parse_resolve(text: &str) -> Option<(String, u16, IpAddr)> {
        let (host, rest) = text.split_once(':')?;
        let (port, addr) = rest.split_once(':')?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        Some((
            host.to_ascii_lowercase(),
            port.parse().ok()?,
            addr.parse().ok()?,
        ))
    }

    /// Parse several `HOST:PORT:ADDR` into (name, socket address) pairs, as HTTP clients
    /// take them; the error names the entry that is not of that form.
    pub fn parse_resolve_list(
        specs: &[String],
    ) -> Result<Vec<(String, std::net::SocketAddr)>, String> {
        specs
            .iter()
            .map(|r| {
                Self::parse_resolve(r)
                    .map(|(h, p, a)| (h, std::net::SocketAddr::new(a, p)))
                    .ok_or_else(|| format!("{r:?} is not HOST:PORT:ADDR"))
            })
            .collect()
    }
}

/// A response as the Ua client needs it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Every WWW-Authenticate header.
    pub challenges: Vec<String>,
    /// The Authentication-Info header, when present.
    pub authentication_info: Option<String>,
    pub body: Vec<u8>,
}

/// An open connection to a NAF.
pub struct UaConn {
    rt: tokio::runtime::Runtime,
    sender: SendRequest<Empty<Bytes>>,
    host: String,
    authority: String,
    /// The TLS cipher suite negotiated on this connection (HTTPS), as its two octets.
    pub cipher_suite: Option<u16>,
}

impl std::fmt::Debug for UaConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UaConn")
            .field("authority", &self.authority)
            .field("cipher_suite", &self.cipher_suite)
            .finish_non_exhaustive()
    }
}

fn tls_config(ca: &Path) -> Result<rustls::ClientConfig, ConnError> {
    let ca_name = ca.display().to_string();
    let pem = std::fs::read(ca).map_err(|e| ConnError::Ca(ca_name.clone(), e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| ConnError::Ca(ca_name.clone(), e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| ConnError::Ca(ca_name.clone(), e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ConnError::Ca(ca_name, "no certificate in the file".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnError::Ca(ca_name, e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl UaConn {
    /// Connect to the NAF that `url` names (TLS for https://).
    pub fn connect(url: &reqwest::Url, opts: &UaOptions) -> Result<Self, ConnError> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(ConnError::Url(url.to_string())),
        };
        let host = url
            .host_str()
            .ok_or_else(|| ConnError::Url(url.to_string()))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| ConnError::Url(url.to_string()))?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = match opts
            .resolve
            .iter()
            .find(|(h, p, _)| h == bare && *p == port)
        {
            Some((_, _, ip)) => SocketAddr::new(*ip, port),
            None => (bare, port)
                .to_socket_addrs_first()
                .map_err(|source| ConnError::Connect {
                    addr: authority.clone(),
                    source,
                })?,
        };
        let tls = if https {
            let ca = opts.ca.as_deref().ok_or(ConnError::NoTrustAnchor)?;
            Some(tls_config(ca)?)
        } else {
            None
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ConnError::Connect {
                addr: authority.clone(),
                source,
            })?;
        let (sender, cipher_suite) =
            rt.block_on(open(addr, bare.to_owned(), tls, authority.clone()))?;
        Ok(Self {
            rt,
            sender,
            host,
            authority,
            cipher_suite,
        })
    }

    /// GET `path` (with its query), with an Authorization header when given.
    pub fn get(&mut self, path: &str, authorization: Option<&str>) -> Result<Answer, ConnError> {
        let mut b = hyper::Request::get(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::USER_AGENT, crate::ub::user_agent(true));
        if let Some(a) = authorization {
            b = b.header(hyper::header::AUTHORIZATION, a);
        }
        let req = b.body(Empty::<Bytes>::new()).map_err(|e| ConnError::Http {
            host: self.host.clone(),
            reason: e.to_string(),
        })?;
        let host = self.host.clone();
        let sender = &mut self.sender;
        let fut = async move {
            let http = |e: &dyn std::fmt::Display| ConnError::Http {
                host: host.clone(),
                reason: e.to_string(),
            };
            sender.ready().await.map_err(|e| http(&e))?;
            let resp = sender.send_request(req).await.map_err(|e| http(&e))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BODY)
                .collect()
                .await
                .map_err(|_| ConnError::BodyTooLong { host: host.clone() })?
                .to_bytes()
                .to_vec();
            let all = |name: &str| -> Vec<String> {
                parts
                    .headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .collect()
            };
            Ok(Answer {
                status: parts.status.as_u16(),
                challenges: all("www-authenticate"),
                authentication_info: all("authentication-info").into_iter().next(),
                body,
            })
        };
        let host = self.host.clone();
        self.rt
            .block_on(async { tokio::time::timeout(REQUEST_TIMEOUT, fut).await })
            .map_err(|_| ConnError::Timeout { host })?
    }
}

/// Open TCP (and TLS), start the HTTP/1.1 connection task: the request sender and the
/// negotiated cipher suite.
async fn open(
    addr: SocketAddr,
    server_name: String,
    tls: Option<rustls::ClientConfig>,
    authority: String,
) -> Result<(SendRequest<Empty<Bytes>>, Option<u16>), ConnError> {
    let connect = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| ConnError::Connect {
                addr: authority.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let http = |e: hyper::Error| ConnError::Http {
            host: server_name.clone(),
            reason: e.to_string(),
        };
        match tls {
            None => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(http)?;
                tokio::spawn(conn);
                Ok((sender, None))
            }
            Some(cfg) => {
                let tls_err = |reason: String| ConnError::Tls {
                    host: server_name.clone(),
                    reason,
                };
                let name = rustls::pki_types::ServerName::try_from(server_name.clone())
                    .map_err(|e| tls_err(e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| tls_err(e.to_string()))?;
                let suite = stream
                    .get_ref()
                    .1
                    .negotiated_cipher_suite()
                    .map(|s| u16::from(s.suite()));
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(http)?;
                tokio::spawn(conn);
                Ok((sender, suite))
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, connect)
        .await
        .map_err(|_| ConnError::Timeout {
            host: authority.clone(),
        })?
}

/// The first address a name resolves to.
trait FirstAddr {
    fn to_socket_addrs_first(&self) -> std::io::Result<SocketAddr>;
}

impl FirstAddr for (&str, u16) {
    fn to_socket_addrs_first(&self) -> std::io::Result<SocketAddr> {
        use std::net::ToSocketAddrs;
        self.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries_parse_like_curl() {
        assert_eq!(
            UaOptions::parse_resolve("NAF.example.org:8443:127.0.0.1"),
            Some(("naf.example.org".into(), 8443, IpAddr::from([127, 0, 0, 1])))
        );
        assert_eq!(
            UaOptions::parse_resolve("naf.example.org:80:[::1]"),
            Some((
                "naf.example.org".into(),
                80,
                "::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
            ))
        );
        assert_eq!(
            UaOptions::parse_resolve("naf.example.org:x:127.0.0.1"),
            None
        );
        assert_eq!(UaOptions::parse_resolve("naf.example.org"), None);
    }
}
