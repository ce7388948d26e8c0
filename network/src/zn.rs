//! The NAF's Zn client: HTTPS to the BSF with the NAF's client certificate.

use std::path::Path;

use crate::bsf::core::{ZnAnswer, ZnRequest};

/// The largest Zn answer a NAF reads.
pub const MAX_ANSWER: usize = 64 * 1024;

/// Why a Zn fetch failed; `code` is the BSF's machine-readable error when it gave one.
#[derive(Debug, thiserror::Error)]
pub enum ZnClientError {
    #[error("Zn: {0}")]
    Transport(String),
    #[error("Zn: BSF answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Zn configuration: {0}")]
    Config(String),
}

impl ZnClientError {
    /// True when the UE must bootstrap again (unknown or expired B-TID).
    #[must_use]
    pub fn needs_bootstrap(&self) -> bool {
        matches!(self, Self::Refused { code, .. } if code == "unknown_b_tid" || code == "b_tid_expired")
    }
}

/// A Zn client.
#[derive(Debug, Clone)]
pub struct ZnClient {
    client: reqwest::blocking::Client,
    url: String,
}

impl ZnClient {
    /// For the BSF at `url` (e.g. `https://bsf.example.org:8443/zn`), trusting `ca` and
    /// presenting `cert` + `key` (PEM). The BSF's certificate must name the URL's host;
    /// `resolve` maps names to addresses (as curl's `--resolve`), e.g. a test BSF's name to
    /// its loopback port.
    pub fn new(
        url: &str,
        resolve: &[(String, std::net::SocketAddr)],
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<Self, ZnClientError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| ZnClientError::Config(format!("{}: {e}", p.display())))
        };
        let ca = reqwest::Certificate::from_pem(&read(ca)?)
            .map_err(|e| ZnClientError::Config(e.to_string()))?;
        let mut pem = read(cert)?;
        pem.extend(read(key)?);
        let id =
            reqwest::Identity::from_pem(&pem).map_err(|e| ZnClientError::Config(e.to_string()))?;
        let mut builder = reqwest::blocking::Client::builder();
        for (name, addr) in resolve {
            builder = builder.resolve(name, *addr);
        }
        let client = builder
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(id)
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ZnClientError::Config(e.to_string()))?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }

    /// Ask the BSF for the NAF key of `b_tid`.
    pub fn fetch(&self, req: &ZnRequest) -> Result<ZnAnswer, ZnClientError> {
        let r = self
            .client
            .post(&self.url)
            .json(req)
            .send()
            .map_err(|e| ZnClientError::Transport(format!("{}: {e}", self.url)))?;
        let status = r.status().as_u16();
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(r, MAX_ANSWER as u64 + 1),
            &mut body,
        )
        .map_err(|e| ZnClientError::Transport(e.to_string()))?;
        if body.len() > MAX_ANSWER {
            return Err(ZnClientError::Transport(format!(
                "{}: answer over {MAX_ANSWER} bytes",
                self.url
            )));
        }
        if status == 200 {
            return serde_json::from_slice(&body)
                .map_err(|e| ZnClientError::Transport(format!("malformed answer: {e}")));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        Err(ZnClientError::Refused {
            status,
            code: v["error"].as_str().unwrap_or("unknown").to_owned(),
            message: v["message"].as_str().unwrap_or("").to_owned(),
        })
    }
}
