//! A generic HTTP NAF (TS 33.220 §4.5.3, TS 24.109 §5.3): a resource protected with Ua HTTP
//! Digest — username B-TID, password base64(Ks_(ext)_NAF) — whose keys come from the BSF
//! over Zn and are cached until they expire. When the BSF no longer knows the B-TID, the NAF
//! answers with a fresh challenge: the key-update indication of seed 000.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use gbau_core::digest::{self, Response, ALGORITHM_MD5, QOP_AUTH_INT};
use gbau_core::hexutil::to_hex;
use gbau_core::identity::NafId;
use gbau_core::secret::KsNaf;

use crate::bsf::core::{ZnAnswer, ZnRequest};
use crate::bsf::subscribers::GbaType;
use crate::http::{self, Req, Resp};
use crate::pending::Pending;
use crate::zn::{ZnClient, ZnClientError};

pub use gbau_core::ua::{ua_id_for_connection, REALM_PREFIX_ME, REALM_PREFIX_UICC, UA_ID};
/// How long a NAF nonce may be used.
pub const NONCE_TTL_SECS: u64 = 300;
/// Nonces kept at most.
pub const MAX_NONCES: usize = 100_000;
/// Header that tells a GBA client why a 401 came (informative; the 401 itself is the signal).
pub const REASON_HEADER: &str = "X-GBA-Reason";

/// Where the NAF gets its keys.
pub trait KeySource: Send + Sync {
    /// Ks_(ext)_NAF and its expiry for a B-TID, or the Zn error.
    fn key(&self, b_tid: &str, naf_id: &NafId) -> Result<ZnAnswer, ZnClientError>;
}

impl KeySource for ZnClient {
    fn key(&self, b_tid: &str, naf_id: &NafId) -> Result<ZnAnswer, ZnClientError> {
        self.fetch(&ZnRequest {
            b_tid: b_tid.to_owned(),
            naf_id: to_hex(&naf_id.to_bytes()),
            gba_u_aware: true,
        })
    }
}

/// The NAF.
pub struct Naf {
    fqdn: String,
    keys: Box<dyn KeySource>,
    /// Zn answers by (B-TID, NAF_Id): over HTTPS NAF_Id depends on the connection's cipher
    /// suite, so one B-TID may have several keys.
    cache: Mutex<HashMap<(String, Vec<u8>), ZnAnswer>>,
    /// Serve only GBA_U sessions (keys that never left a UICC); a GBA_ME session gets 403.
    pub require_gba_u: bool,
    /// Nonce → expiry: bounded, oldest forgotten first, each used at most once.
    nonces: Mutex<Pending<u64>>,
    resource: String,
    /// Zn fetches made (cache misses), for tests and figures.
    pub zn_fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Naf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Naf")
            .field("fqdn", &self.fqdn)
            .finish_non_exhaustive()
    }
}

fn expired(a: &ZnAnswer, now: u64) -> bool {
    gbau_core::time::parse_utc(&a.expiry).is_none_or(|e| e <= now)
}

impl Naf {
    /// A NAF named `fqdn`, serving `resource` to authenticated users.
    pub fn new(fqdn: &str, keys: Box<dyn KeySource>, resource: &str) -> Result<Self, String> {
        NafId::new(fqdn, UA_ID).map_err(|e| e.to_string())?;
        Ok(Self {
            fqdn: fqdn.to_owned(),
            require_gba_u: false,
            keys,
            cache: Mutex::new(HashMap::new()),
            nonces: Mutex::new(Pending::new(MAX_NONCES)),
            resource: resource.to_owned(),
            zn_fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn challenge(&self, now: u64, reason: &str, random: &mut dyn FnMut(&mut [u8])) -> Resp {
        let mut n = [0u8; 16];
        random(&mut n);
        let nonce = base64::engine::general_purpose::STANDARD.encode(n);
        if let Ok(mut m) = self.nonces.lock() {
            m.insert(nonce.clone(), now + NONCE_TTL_SECS);
        }
        let mut r = Resp::text(401, &format!("GBA authentication required ({reason})"));
        for prefix in [REALM_PREFIX_UICC, REALM_PREFIX_ME] {
            let realm = format!("{prefix}@{}", self.fqdn);
            r.headers.push((
                "WWW-Authenticate".into(),
                digest::format(
                    &[
                        ("realm", &realm),
                        ("nonce", &nonce),
                        ("algorithm", ALGORITHM_MD5),
                        ("qop", QOP_AUTH_INT),
                    ],
                    &["algorithm"],
                ),
            ));
        }
        r.headers.push((REASON_HEADER.into(), reason.into()));
        r
    }

    fn key_for(&self, b_tid: &str, naf_id: &NafId, now: u64) -> Result<ZnAnswer, ZnClientError> {
        let slot = (b_tid.to_owned(), naf_id.to_bytes());
        if let Some(a) = self.cache.lock().ok().and_then(|c| c.get(&slot).cloned()) {
            if !expired(&a, now) {
                return Ok(a);
            }
        }
        self.zn_fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let a = self.keys.key(b_tid, naf_id)?;
        if let Ok(mut c) = self.cache.lock() {
            c.retain(|_, v| !expired(v, now));
            c.insert(slot, a.clone());
        }
        Ok(a)
    }

    /// The key the NAF holds for a B-TID (what it got over Zn, for any NAF_Id).
    #[must_use]
    pub fn cached_key(&self, b_tid: &str) -> Option<KsNaf> {
        self.cache.lock().ok().and_then(|c| {
            c.iter()
                .find(|((b, _), _)| b == b_tid)
                .map(|(_, a)| a.ks_naf.clone())
        })
    }

    /// Forget cached keys (as when the BSF forgot the session and the NAF learns it).
    pub fn forget(&self, b_tid: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.retain(|(b, _), _| b != b_tid);
        }
    }

    /// This NAF's NAF_Id on the connection a request came over (TS 33.220 Annex H: HTTP
    /// Digest, or `01 00 01 yy zz` with the TLS cipher suite).
    fn naf_id_for(&self, req: &Req) -> Option<NafId> {
        NafId::new(&self.fqdn, ua_id_for_connection(req.tls_cipher_suite)).ok()
    }

    /// The realm names this NAF and the Digest uri is the request target.
    fn check_target(&self, req: &Req, realm: &str, uri: &str) -> Result<(), String> {
        let realm_ok = [REALM_PREFIX_UICC, REALM_PREFIX_ME]
            .iter()
            .any(|pre| realm == format!("{pre}@{}", self.fqdn));
        if !realm_ok {
            return Err(format!("realm {realm:?} is not this NAF's"));
        }
        if uri != req.uri {
            return Err(format!(
                "the Digest uri {uri:?} is not the request target {:?}",
                req.uri
            ));
        }
        Ok(())
    }

    /// Handle one Ua request.
    pub fn handle(&self, req: &Req, now: u64, random: &mut dyn FnMut(&mut [u8])) -> Resp {
        let Some(auth) = req.header("authorization") else {
            return self.challenge(now, "no credentials", random);
        };
        let p = match digest::parse(auth) {
            Ok(p) => p,
            Err(e) => return Resp::text(400, &format!("malformed Authorization: {e}")),
        };
        let Some((b_tid, realm, nonce, uri, response)) = (|| {
            Some((
                p.get("username")?,
                p.get("realm")?,
                p.get("nonce")?,
                p.get("uri")?,
                p.get("response")?,
            ))
        })() else {
            return Resp::text(
                400,
                "malformed Authorization: username, realm, nonce, uri and response are required",
            );
        };
        if let Err(why) = self.check_target(req, realm, uri) {
            return Resp::text(400, &format!("malformed Authorization: {why}"));
        }
        let Some(naf_id) = self.naf_id_for(req) else {
            return Resp::text(500, "internal error: NAF_Id");
        };
        // The nonce is used up here, whatever follows: of two requests carrying it (a replay
        // racing the original), exactly one gets past this line.
        let fresh = self
            .nonces
            .lock()
            .ok()
            .and_then(|mut m| m.take(nonce))
            .is_some_and(|exp| exp > now);
        if !fresh {
            return self.challenge(now, "stale nonce", random);
        }
        // TS 24.109 §5.3 with qop=auth-int: the body is protected too; nothing weaker.
        let qop = p.get("qop").unwrap_or("");
        if qop != QOP_AUTH_INT {
            return Resp::text(
                400,
                &format!("malformed Authorization: qop {qop:?}: this NAF accepts only auth-int"),
            );
        }
        let key = match self.key_for(b_tid, &naf_id, now) {
            Ok(k) => k,
            Err(e) if e.needs_bootstrap() => {
                self.forget(b_tid);
                return self.challenge(
                    now,
                    "bootstrapping required: unknown or expired B-TID",
                    random,
                );
            }
            Err(e) => {
                tracing::warn!("{e}");
                return Resp::text(502, "the NAF cannot reach the BSF");
            }
        };
        if self.require_gba_u && key.gba_type != GbaType::GbaU {
            return Resp::text(
                403,
                &format!(
                    "this NAF requires GBA_U (keys derived on the UICC); the session of {b_tid} is GBA_ME"
                ),
            );
        }
        let mut password = base64::engine::general_purpose::STANDARD.encode(key.ks_naf.expose());
        let (nc, cnonce) = (p.get("nc").unwrap_or(""), p.get("cnonce").unwrap_or(""));
        let r = Response {
            username: b_tid,
            realm,
            password: password.as_bytes(),
            method: &req.method,
            uri,
            nonce,
            nc,
            cnonce,
            qop,
            body: &req.body,
        };
        let body = format!(
            "{}\nauthenticated B-TID {b_tid} (IMPI {}, {:?})\n",
            self.resource, key.impi, key.gba_type
        )
        .into_bytes();
        let (verified, rspauth) = (
            gbau_core::ct_eq(r.digest().as_bytes(), response.as_bytes()),
            r.rspauth(&body),
        );
        zeroize::Zeroize::zeroize(&mut password);
        if !verified {
            return self.challenge(now, "credentials do not verify: bootstrap again", random);
        }
        let info = digest::format(
            &[
                ("qop", qop),
                ("rspauth", &rspauth),
                ("cnonce", cnonce),
                ("nc", nc),
            ],
            &["qop", "nc"],
        );
        Resp {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "text/plain; charset=utf-8".into()),
                (
                    "Authentication-Info".into(),
                    info.trim_start_matches("Digest ").to_owned(),
                ),
            ],
            body,
        }
    }
}

/// Serve the NAF over HTTP, or over HTTPS with `tls` (TS 33.222 §5.3), until the process ends.
pub async fn serve(
    naf: Arc<Naf>,
    listen: &str,
    tls: Option<Arc<rustls::ServerConfig>>,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), http::ServeError> {
    let l = http::bind(listen).await?;
    let addr = l.local_addr().map_err(|source| http::ServeError::Listen {
        addr: listen.to_owned(),
        source,
    })?;
    ready(addr);
    let handler: http::Handler =
        Arc::new(move |req: Req| naf.handle(&req, http::unix_now(), &mut http::os_random));
    match tls {
        None => http::serve_http(l, handler).await,
        Some(cfg) => http::serve_https(l, cfg, handler).await,
    }
    Ok(())
}
