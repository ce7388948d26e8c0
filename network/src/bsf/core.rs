//! The BSF's protocol logic without I/O: Ub (TS 24.109 §5.2, RFC 3310) and Zn (TS 33.220
//! §4.5.3). `now` (Unix seconds) and `random` bytes come from the caller.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use gbau_core::aka::{generate_vector, verify_auts, Amf, AutnKind, Auts, Rand};
use gbau_core::digest::{self, Params, Response, ALGORITHM_AKAV1_MD5, QOP_AUTH_INT};
use gbau_core::hexutil::to_hex;
use gbau_core::identity::{BTid, Impi, NafId};
use gbau_core::kdf::{ks_ext_naf, ks_int_naf};
use gbau_core::milenage::Milenage;
use gbau_core::secret::{Ks, KsIntNaf, KsNaf};
use gbau_core::sqn::{Sqn, IND_BITS};
use serde::{Deserialize, Serialize};

use super::store::{Session, Store, StoreError};
use super::subscribers::{GbaType, Subscriber};
use crate::pending::Pending;

pub use gbau_core::ua::{UA_TOKEN_GBA, UA_TOKEN_GBA_UICC};
/// Content type of the bootstrapping answer (TS 24.109 Annex C).
pub const CONTENT_TYPE_BSF_XML: &str = "application/vnd.3gpp.bsf+xml";
/// Server product token.
pub const SERVER_TOKEN: &str = concat!("gbau-bsf/", env!("CARGO_PKG_VERSION"), " 3gpp-gba");
/// How long a challenge may be answered.
pub const CHALLENGE_TTL_SECS: u64 = 60;
/// Challenges kept at most (oldest dropped first): bounds memory under floods.
pub const MAX_PENDING_CHALLENGES: usize = 100_000;
/// Wrong responses a challenge survives before it is dropped.
pub const MAX_CHALLENGE_FAILURES: u8 = 3;
/// SQN step between vectors: next SEQ, same IND.
pub const SQN_STEP: u64 = 1 << IND_BITS;

/// An HTTP answer of the core; the server layer writes it as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![
                ("Server".into(), SERVER_TOKEN.into()),
                ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ],
            body: format!("{body}\n").into_bytes(),
        }
    }
}

/// What the HTTP layer hands the core for Ub.
#[derive(Debug, Clone, Copy)]
pub struct UbRequest<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub authorization: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub body: &'a [u8],
}

struct Challenge {
    impi: String,
    rand: [u8; 16],
    xres: Vec<u8>,
    ks: Ks,
    gba_type: GbaType,
    opaque: String,
    expires: u64,
    /// Responses that did not verify so far: the challenge survives up to
    /// [`MAX_CHALLENGE_FAILURES`] of them, so a guess cannot burn a UE's challenge.
    failures: u8,
}

/// The BSF.
pub struct Bsf<S: Store> {
    fqdn: String,
    subscribers: HashMap<String, Subscriber>,
    store: S,
    /// Pending challenges by nonce: bounded, oldest forgotten first.
    challenges: Mutex<Pending<Challenge>>,
}

impl<S: Store> std::fmt::Debug for Bsf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bsf")
            .field("fqdn", &self.fqdn)
            .field("subscribers", &self.subscribers.len())
            .finish_non_exhaustive()
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The BootstrappingInfo body (TS 24.109 Annex C).
#[must_use]
pub fn bootstrapping_info(b_tid: &str, lifetime: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BootstrappingInfo xmlns=\"uri:3gpp-gba\"><btid>{}</btid><lifetime>{}</lifetime></BootstrappingInfo>\n",
        xml_escape(b_tid),
        xml_escape(lifetime)
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl<S: Store> Bsf<S> {
    /// A BSF named `fqdn` for these subscribers.
    pub fn new(fqdn: &str, subscribers: Vec<Subscriber>, store: S) -> Self {
        let subscribers = subscribers
            .into_iter()
            .map(|s| (s.impi.as_str().to_owned(), s))
            .collect();
        Self {
            fqdn: fqdn.to_owned(),
            subscribers,
            store,
            challenges: Mutex::new(Pending::new(MAX_PENDING_CHALLENGES)),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The BSF's name (Digest realm).
    #[must_use]
    pub fn fqdn(&self) -> &str {
        &self.fqdn
    }

    fn store_error(e: &StoreError) -> Reply {
        tracing::error!("{e}");
        let (status, code) = store_status(e);
        let mut r = Reply::new(status, &format!("the BSF store failed: {code}"));
        if status == 503 {
            r.headers.push(("Retry-After".into(), "1".into()));
        }
        r
    }

    fn challenge(
        &self,
        sub: &Subscriber,
        user_agent: &str,
        now: u64,
        random: &mut dyn FnMut(&mut [u8]),
    ) -> Reply {
        let m = match Milenage::with_constants(&sub.k, sub.opc.clone(), sub.milenage.clone()) {
            Ok(m) => m,
            Err(_) => return Reply::new(500, "internal error: subscriber Milenage constants"),
        };
        let sqn = match self
            .store
            .take_sqn(sub.impi.as_str(), sub.sqn_start, SQN_STEP)
        {
            Ok(v) => v,
            Err(e) => return Self::store_error(&e),
        };
        let Some(sqn) = Sqn::new(sqn) else {
            tracing::error!(impi = %sub.impi, "SQN space exhausted (past 2^48 - 1)");
            return Reply::new(
                500,
                "the subscriber's SQN space is exhausted: the HSS must re-provision it",
            );
        };
        let mut rand = [0u8; 16];
        random(&mut rand);
        let mut opaque = [0u8; 12];
        random(&mut opaque);
        let av = generate_vector(&m, &Rand(rand), sqn, Amf(sub.amf));
        // TS 33.220 §5: GBA_U or GBA_ME "based on subscription information (i.e. UICC
        // capabilities)". The UE's User-Agent token informs; it does not choose.
        let gba_u = sub.uicc == GbaType::GbaU;
        if gba_u != user_agent.contains(UA_TOKEN_GBA_UICC) {
            tracing::info!(
                impi = sub.impi.as_str(),
                subscription = if gba_u { "GBA_U" } else { "GBA_ME" },
                "the UE's User-Agent token names the other GBA type; the subscription decides"
            );
        }
        let kind = if gba_u {
            AutnKind::GbaU
        } else {
            AutnKind::Plain
        };
        let autn = kind.network_autn(&av.autn, &av.ik);
        let mut nonce_bytes = rand.to_vec();
        nonce_bytes.extend_from_slice(&autn.0);
        let nonce = b64().encode(nonce_bytes);
        let opaque = to_hex(&opaque);
        let challenge = Challenge {
            impi: sub.impi.as_str().to_owned(),
            rand,
            xres: kind.res(&av.xres).as_bytes().to_vec(),
            ks: Ks::from_ck_ik(&av.ck, &av.ik),
            gba_type: if gba_u { GbaType::GbaU } else { GbaType::GbaMe },
            opaque: opaque.clone(),
            expires: now + CHALLENGE_TTL_SECS,
            failures: 0,
        };
        if let Ok(mut table) = self.challenges.lock() {
            table.insert(nonce.clone(), challenge);
        }
        self.challenge_reply(&nonce, &opaque)
    }

    /// The 401 with the AKA challenge (RFC 3310): only qop=auth-int is offered.
    fn challenge_reply(&self, nonce: &str, opaque: &str) -> Reply {
        let header = digest::format(
            &[
                ("realm", &self.fqdn),
                ("nonce", nonce),
                ("algorithm", ALGORITHM_AKAV1_MD5),
                ("qop", QOP_AUTH_INT),
                ("opaque", opaque),
            ],
            &["algorithm"],
        );
        let mut r = Reply::new(401, "Unauthorized: answer the AKA challenge");
        r.headers.push(("WWW-Authenticate".into(), header));
        r
    }

    /// Handle one Ub request.
    pub fn ub(&self, req: &UbRequest<'_>, now: u64, random: &mut dyn FnMut(&mut [u8])) -> Reply {
        if !req.method.eq_ignore_ascii_case("GET") && !req.method.eq_ignore_ascii_case("POST") {
            return Reply::new(405, "method not allowed: Ub uses GET");
        }
        let Some(auth) = req.authorization else {
            return Reply::new(
                400,
                "missing Authorization: send Digest username=\"<IMPI>\" (TS 24.109 §5.2.1)",
            );
        };
        let params = match digest::parse(auth) {
            Ok(p) => p,
            Err(e) => return Reply::new(400, &format!("malformed Authorization: {e}")),
        };
        let Some(username) = params.get("username") else {
            return Reply::new(400, "malformed Authorization: no username");
        };
        // An unknown user gets a challenge like anyone else (one that no response can answer):
        // status codes do not tell who is a subscriber.
        let sub = self.subscribers.get(username);
        let user_agent = req.user_agent.unwrap_or("");
        let fresh = |random: &mut dyn FnMut(&mut [u8])| match sub {
            Some(sub) => self.challenge(sub, user_agent, now, random),
            None => self.decoy_challenge(username, now, random),
        };
        let nonce = params.get("nonce").unwrap_or("");
        if nonce.is_empty() {
            return fresh(random);
        }
        let challenge = match self.challenges.lock() {
            Ok(mut table) => table.take(nonce),
            Err(_) => return Reply::new(500, "internal error: challenge table"),
        };
        let Some(ch) = challenge.filter(|c| c.expires > now) else {
            // Unknown, expired or already used nonce: a fresh challenge, marked stale.
            let mut r = fresh(random);
            if let Some((_, v)) = r.headers.iter_mut().find(|(n, _)| n == "WWW-Authenticate") {
                v.push_str(", stale=TRUE");
            }
            return r;
        };
        if ch.impi != username {
            return Reply::new(403, "the nonce was issued to another user");
        }
        match (self.check_response(&params, &ch, req), sub) {
            (Err(r), _) => {
                // Only a response that verifies uses the challenge up.
                if ch.failures + 1 < MAX_CHALLENGE_FAILURES {
                    if let Ok(mut table) = self.challenges.lock() {
                        let failures = ch.failures + 1;
                        table.insert(nonce.to_owned(), Challenge { failures, ..ch });
                    }
                }
                r
            }
            (Ok(Answer::Resync(auts)), Some(sub)) => {
                self.resync(sub, &ch, &auts, user_agent, now, random)
            }
            (Ok(Answer::Res { cnonce, nc }), Some(sub)) => {
                self.session(sub, ch, &params, req, &cnonce, &nc, now)
            }
            (Ok(_), None) => Reply::new(403, "AUTS does not verify"),
        }
    }

    /// A challenge for a name the BSF does not know: random RAND, AUTN and XRES, nothing
    /// stored but the challenge itself, so it looks like any other and no response verifies.
    fn decoy_challenge(
        &self,
        username: &str,
        now: u64,
        random: &mut dyn FnMut(&mut [u8]),
    ) -> Reply {
        let mut rand = [0u8; 16];
        random(&mut rand);
        let mut autn = [0u8; 16];
        random(&mut autn);
        let mut xres = [0u8; 16];
        random(&mut xres);
        let mut opaque = [0u8; 12];
        random(&mut opaque);
        let mut nonce_bytes = rand.to_vec();
        nonce_bytes.extend_from_slice(&autn);
        let nonce = b64().encode(nonce_bytes);
        let opaque = to_hex(&opaque);
        let challenge = Challenge {
            impi: username.to_owned(),
            rand,
            xres: xres.to_vec(),
            ks: Ks::new([0; 32]),
            gba_type: GbaType::GbaMe,
            opaque: opaque.clone(),
            expires: now + CHALLENGE_TTL_SECS,
            failures: 0,
        };
        if let Ok(mut table) = self.challenges.lock() {
            table.insert(nonce.clone(), challenge);
        }
        self.challenge_reply(&nonce, &opaque)
    }

    fn check_response(
        &self,
        p: &Params,
        ch: &Challenge,
        req: &UbRequest<'_>,
    ) -> Result<Answer, Reply> {
        let bad = |what: &str| Reply::new(400, &format!("malformed Authorization: {what}"));
        if p.get("realm") != Some(self.fqdn.as_str()) {
            return Err(bad("realm is not this BSF's"));
        }
        if p.get("opaque").is_some_and(|o| o != ch.opaque) {
            return Err(bad("opaque does not match the challenge"));
        }
        let uri = p.get("uri").ok_or_else(|| bad("no uri"))?;
        let response = p.get("response").ok_or_else(|| bad("no response"))?;
        let qop = p.get("qop").unwrap_or("");
        if qop != QOP_AUTH_INT {
            return Err(bad("qop must be auth-int (the only qop this BSF offers)"));
        }
        let cnonce = p.get("cnonce").ok_or_else(|| bad("no cnonce"))?;
        let nc = p.get("nc").ok_or_else(|| bad("no nc"))?;
        let username = p.get("username").unwrap_or("");
        let nonce = p.get("nonce").unwrap_or("");
        let expected = |password: &[u8]| {
            Response {
                username,
                realm: &self.fqdn,
                password,
                method: req.method,
                uri,
                nonce,
                nc,
                cnonce,
                qop,
                body: req.body,
            }
            .digest()
        };
        if let Some(auts) = p.get("auts") {
            let bytes = b64().decode(auts).map_err(|_| bad("auts is not base64"))?;
            let auts = Auts::from_slice(&bytes).ok_or_else(|| bad("auts is not 14 octets"))?;
            // RFC 3310 §3.4: with AUTS the response is computed with an empty password.
            if !gbau_core::ct_eq(expected(b"").as_bytes(), response.as_bytes()) {
                return Err(Reply::new(403, "response does not verify"));
            }
            return Ok(Answer::Resync(auts));
        }
        let raw = expected(&ch.xres);
        let text = expected(hex::encode(&ch.xres).as_bytes());
        if gbau_core::ct_eq(raw.as_bytes(), response.as_bytes())
            || gbau_core::ct_eq(text.as_bytes(), response.as_bytes())
        {
            Ok(Answer::Res {
                cnonce: cnonce.to_owned(),
                nc: nc.to_owned(),
            })
        } else {
            Err(Reply::new(403, "response does not verify"))
        }
    }

    fn resync(
        &self,
        sub: &Subscriber,
        ch: &Challenge,
        auts: &Auts,
        user_agent: &str,
        now: u64,
        random: &mut dyn FnMut(&mut [u8]),
    ) -> Reply {
        let Ok(m) = Milenage::with_constants(&sub.k, sub.opc.clone(), sub.milenage.clone()) else {
            return Reply::new(500, "internal error: subscriber Milenage constants");
        };
        match verify_auts(&m, &Rand(ch.rand), auts) {
            Err(_) => Reply::new(403, "AUTS does not verify"),
            Ok(sqn_ms) => {
                tracing::info!(impi = %sub.impi, sqn_ms = %sqn_ms, "resynchronised from AUTS");
                if let Err(e) = self
                    .store
                    .set_next_sqn(sub.impi.as_str(), sqn_ms.value() + SQN_STEP)
                {
                    return Self::store_error(&e);
                }
                self.challenge(sub, user_agent, now, random)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn session(
        &self,
        sub: &Subscriber,
        ch: Challenge,
        p: &Params,
        req: &UbRequest<'_>,
        cnonce: &str,
        nc: &str,
        now: u64,
    ) -> Reply {
        let b_tid = BTid::from_rand(&Rand(ch.rand), &self.fqdn);
        let expires = now.saturating_add(sub.key_lifetime_secs);
        let lifetime = gbau_core::time::format_utc(expires);
        let session = Session {
            b_tid: b_tid.as_str().to_owned(),
            impi: ch.impi.clone(),
            rand: ch.rand,
            ks: ch.ks,
            gba_type: ch.gba_type,
            created: now,
            expires,
            uss: sub.uss.clone(),
        };
        if let Err(e) = self.store.put_session(&session) {
            return Self::store_error(&e);
        }
        let body = bootstrapping_info(b_tid.as_str(), &lifetime).into_bytes();
        let uri = p.get("uri").unwrap_or("/");
        let rspauth = Response {
            username: &ch.impi,
            realm: &self.fqdn,
            password: &ch.xres,
            method: req.method,
            uri,
            nonce: p.get("nonce").unwrap_or(""),
            nc,
            cnonce,
            qop: p.get("qop").unwrap_or(QOP_AUTH_INT),
            body: req.body,
        }
        .rspauth(&body);
        let info = digest::format(
            &[
                ("qop", p.get("qop").unwrap_or(QOP_AUTH_INT)),
                ("rspauth", &rspauth),
                ("cnonce", cnonce),
                ("nc", nc),
            ],
            &["qop", "nc"],
        );
        Reply {
            status: 200,
            headers: vec![
                ("Server".into(), SERVER_TOKEN.into()),
                ("Content-Type".into(), CONTENT_TYPE_BSF_XML.into()),
                (
                    "Authentication-Info".into(),
                    info.trim_start_matches("Digest ").to_owned(),
                ),
            ],
            body,
        }
    }

    /// Zn: the NAF key for a B-TID, if `allowed_fqdns` (from the NAF's certificate) covers the
    /// NAF_Id's FQDN.
    pub fn zn(
        &self,
        req: &ZnRequest,
        allowed_fqdns: &[String],
        now: u64,
    ) -> Result<ZnAnswer, ZnError> {
        let naf_id_bytes = gbau_core::hexutil::parse_hex(&req.naf_id)
            .map_err(|e| ZnError::Malformed(format!("naf_id: {e}")))?;
        let naf_id = NafId::from_bytes(&naf_id_bytes)
            .map_err(|e| ZnError::Malformed(format!("naf_id: {e}")))?;
        if !allowed_fqdns
            .iter()
            .any(|f| f.eq_ignore_ascii_case(naf_id.fqdn()))
        {
            return Err(ZnError::NotAuthorised {
                naf_fqdn: naf_id.fqdn().to_owned(),
            });
        }
        let s = self
            .store
            .session(&req.b_tid)
            .map_err(ZnError::Store)?
            .ok_or(ZnError::UnknownBTid)?;
        if s.expires <= now {
            return Err(ZnError::Expired);
        }
        let impi =
            Impi::new(&s.impi).map_err(|e| ZnError::Store(StoreError::Failed(e.to_string())))?;
        let rand = Rand(s.rand);
        let ext = ks_ext_naf(&s.ks, &rand, &impi, &naf_id)
            .map_err(|e| ZnError::Malformed(e.to_string()))?;
        let int = if s.gba_type == GbaType::GbaU && req.gba_u_aware {
            Some(
                ks_int_naf(&s.ks, &rand, &impi, &naf_id)
                    .map_err(|e| ZnError::Malformed(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(ZnAnswer {
            impi: s.impi,
            ks_naf: ext,
            ks_int_naf: int,
            bootstrapping_time: gbau_core::time::format_utc(s.created),
            expiry: gbau_core::time::format_utc(s.expires),
            gba_type: s.gba_type,
            uss: s.uss,
        })
    }
}

enum Answer {
    Res { cnonce: String, nc: String },
    Resync(Auts),
}

/// A Zn request (JSON over HTTPS; TS 29.109 Bootstrapping-Info-Request in spirit).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZnRequest {
    pub b_tid: String,
    /// NAF_Id as hex (FQDN ‖ Ua security protocol id).
    pub naf_id: String,
    /// The NAF understands GBA_U and wants Ks_int_NAF too.
    #[serde(default)]
    pub gba_u_aware: bool,
}

/// A Zn answer. The keys are zeroizing secret types (hex on the wire, `Debug` redacted), so
/// neither a NAF's cache nor a log line holds them as plain strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZnAnswer {
    pub impi: String,
    /// Ks_ext_NAF (GBA_U) or Ks_NAF (GBA_ME).
    pub ks_naf: KsNaf,
    /// Ks_int_NAF (GBA_U, when the NAF asked).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ks_int_naf: Option<KsIntNaf>,
    pub bootstrapping_time: String,
    pub expiry: String,
    pub gba_type: GbaType,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uss: Option<String>,
}

/// Why Zn refused; each maps to one HTTP status and an error code a NAF can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZnError {
    #[error("unknown B-TID: the UE must bootstrap again")]
    UnknownBTid,
    #[error("the bootstrapping session has expired: the UE must bootstrap again")]
    Expired,
    #[error("this NAF's certificate is not authorised for {naf_fqdn}")]
    NotAuthorised { naf_fqdn: String },
    #[error("malformed Zn request: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(StoreError),
}

/// A store failure as an HTTP status and code: 503 when the store is unreachable for now
/// (the client may retry), 500 otherwise. Ub and Zn both answer store failures through it.
fn store_status(e: &StoreError) -> (u16, &'static str) {
    match e {
        StoreError::Unavailable(_) => (503, "store_unavailable"),
        StoreError::Failed(_) => (500, "internal_error"),
    }
}

impl ZnError {
    /// The HTTP status and machine-readable code (the one place errors become statuses).
    #[must_use]
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Self::UnknownBTid => (404, "unknown_b_tid"),
            Self::Expired => (410, "b_tid_expired"),
            Self::NotAuthorised { .. } => (403, "naf_not_authorised"),
            Self::Malformed(_) => (400, "malformed_request"),
            Self::Store(e) => store_status(e),
        }
    }
}
