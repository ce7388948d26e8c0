//! The NAF Key Center of seed 001 §5.5 (TS 33.259's key center): an HTTPS service with
//! certificate-based mutual authentication. An external device sends B-TID and Device_ID;
//! the Key Center fetches Ks_(ext)_NAF for its own NAF_Id over Zn, derives Ks_local_MT, and
//! answers B-TID, Ks_local_MT and a key lifetime no longer than the bootstrapped key's.
//!
//! Request (`POST /local-key`, JSON): `{"b_tid": "...", "device_id": "..."}`.
//! Answer 200: `{"b_tid", "naf_id" (hex), "ks_local_mt" (hex), "key_lifetime" (xs:dateTime)}`.
//! Errors (JSON `{"error", "message"}`): 400 `malformed_request`; 403 `device_not_authorised`
//! (the client certificate is not registered for that Device_ID); 401
//! `bootstrapping_required` (the BSF does not know the B-TID or it expired: the device asks
//! the MT for a new bootstrap); 403 `gba_u_required` (configured for GBA_U only, and the
//! session is GBA_ME); 502 `bsf_unreachable`.

use std::sync::Arc;

use gbau_core::hexutil::to_hex;
use gbau_core::identity::{BTid, NafId};
use gbau_core::kdf::ks_local_mt;
use serde::Deserialize;

use crate::http::{self, Req, Resp};
use crate::naf::KeySource;

pub use gbau_core::local_key::{naf_id, LocalKeyAnswer, LocalKeyRequest, KEY_CENTER_UA};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicesFile {
    devices: Vec<DeviceEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceEntry {
    cert: std::path::PathBuf,
    device_id: String,
}

/// Read the authorised devices: each device certificate (relative to the file) and the one
/// Device_ID it may ask keys for.
pub fn load_devices(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let f: DevicesFile =
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    f.devices
        .iter()
        .map(|d| {
            Ok((
                http::cert_file_sha256(&base.join(&d.cert)).map_err(|e| e.to_string())?,
                d.device_id.clone(),
            ))
        })
        .collect()
}

/// The Key Center.
pub struct KeyCenter {
    naf_id: NafId,
    keys: Box<dyn KeySource>,
    /// (SHA-256 of a device certificate, the Device_ID it may ask for).
    devices: Vec<(String, String)>,
    /// Longest lifetime granted, in seconds (never beyond the bootstrapped key's).
    max_lifetime_secs: u64,
    /// Grant keys only from GBA_U sessions; a GBA_ME session gets 403 `gba_u_required`.
    pub require_gba_u: bool,
}

impl std::fmt::Debug for KeyCenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCenter")
            .field("naf_id", &self.naf_id)
            .field("devices", &self.devices.len())
            .finish_non_exhaustive()
    }
}

fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &serde_json::json!({"error": code, "message": message}),
    )
}

impl KeyCenter {
    /// A Key Center named `fqdn`.
    pub fn new(
        fqdn: &str,
        keys: Box<dyn KeySource>,
        devices: Vec<(String, String)>,
        max_lifetime_secs: u64,
    ) -> Result<Self, String> {
        Ok(Self {
            naf_id: naf_id(fqdn)?,
            keys,
            devices,
            max_lifetime_secs,
            require_gba_u: false,
        })
    }

    /// Handle one request (the client certificate's fingerprint comes from the TLS layer).
    pub fn handle(&self, req: &Req, now: u64) -> Resp {
        if req.method != "POST" || req.path != "/local-key" {
            return error(404, "not_found", "POST /local-key");
        }
        let r: LocalKeyRequest = match serde_json::from_slice(&req.body) {
            Ok(r) => r,
            Err(e) => return error(400, "malformed_request", &e.to_string()),
        };
        let Ok(b_tid) = BTid::new(&r.b_tid) else {
            return error(400, "malformed_request", "b_tid must be 1 to 255 octets");
        };
        if r.device_id.is_empty() || r.device_id.len() > 255 {
            return error(
                400,
                "malformed_request",
                "device_id must be 1 to 255 octets",
            );
        }
        let registered = req
            .client_cert_sha256
            .as_ref()
            .and_then(|fp| self.devices.iter().find(|(f, _)| f == fp))
            .map(|(_, id)| id.as_str());
        if registered != Some(r.device_id.as_str()) {
            return error(
                403,
                "device_not_authorised",
                "the client certificate is not registered for this Device_ID",
            );
        }
        let key = match self.keys.key(&r.b_tid, &self.naf_id) {
            Ok(k) => k,
            Err(e) if e.needs_bootstrap() => {
                return error(
                    401,
                    "bootstrapping_required",
                    "unknown or expired B-TID: ask the MT for a new bootstrap",
                )
            }
            Err(e) => {
                tracing::warn!("{e}");
                return error(
                    502,
                    "bsf_unreachable",
                    "the Key Center cannot reach the BSF",
                );
            }
        };
        if self.require_gba_u && key.gba_type != crate::bsf::subscribers::GbaType::GbaU {
            return error(
                403,
                "gba_u_required",
                "this Key Center grants keys from GBA_U sessions only (keys derived on the UICC); this B-TID is a GBA_ME session",
            );
        }
        let local = match ks_local_mt(&key.ks_naf, &b_tid, &self.naf_id, &r.device_id) {
            Ok(k) => k,
            Err(e) => return error(400, "malformed_request", &e.to_string()),
        };
        let bootstrapped_expiry = gbau_core::time::parse_utc(&key.expiry).unwrap_or(now);
        let expiry = bootstrapped_expiry.min(now.saturating_add(self.max_lifetime_secs));
        Resp::json(
            200,
            &LocalKeyAnswer {
                b_tid: r.b_tid,
                naf_id: to_hex(&self.naf_id.to_bytes()),
                ks_local_mt: local,
                key_lifetime: gbau_core::time::format_utc(expiry),
            },
        )
    }
}

/// Serve the Key Center over HTTPS with client certificates until the process ends.
pub async fn serve(
    kc: Arc<KeyCenter>,
    listen: &str,
    tls: Arc<rustls::ServerConfig>,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), http::ServeError> {
    let l = http::bind(listen).await?;
    let addr = l.local_addr().map_err(|source| http::ServeError::Listen {
        addr: listen.to_owned(),
        source,
    })?;
    ready(addr);
    let handler: http::Handler = Arc::new(move |req: Req| kc.handle(&req, http::unix_now()));
    http::serve_https(l, tls, handler).await;
    Ok(())
}
