//! The MT side of Ub (TS 24.109 §5.2, RFC 3310): hand-written Digest AKAv1-MD5, since no
//! HTTP crate speaks it. The flow runs over any "send this Authorization, get the answer"
//! function, so it is tested against the BSF core without sockets and used over HTTP.

use base64::Engine;
use gbau_core::aka::{Autn, Auts, Rand, Res};
use gbau_core::digest::{self, Response, ALGORITHM_AKAV1_MD5, QOP_AUTH_INT};
use gbau_core::hexutil::to_hex;
use serde::Serialize;

use crate::session::LockedUsim;
use crate::usim::{AuthOutcome, UsimError};

/// The User-Agent of gbau's Ub client: the GBA product token, and the GBA_U one when the
/// card does GBA_U.
#[must_use]
pub fn user_agent(gba_u: bool) -> String {
    let base = concat!("gbau/", env!("CARGO_PKG_VERSION"), " 3gpp-gba");
    if gba_u {
        format!("{base} 3gpp-gba-uicc")
    } else {
        base.to_owned()
    }
}

/// How RES becomes the Digest password (RFC 3310 says the octets; some peers use hex text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResEncoding {
    Raw,
    Hex,
}

/// One answer of the BSF as the flow needs it.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub authentication_info: Option<String>,
    pub body: Vec<u8>,
}

/// What went wrong bootstrapping.
#[derive(Debug, thiserror::Error)]
pub enum UbError {
    #[error("BSF: {0}")]
    Http(String),
    #[error("BSF answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("BSF challenge malformed: {0}")]
    Challenge(String),
    #[error("the BSF did not authenticate itself: the card refused AUTN (9862); wrong BSF, keys or GBA type")]
    NetworkAuthFailed,
    #[error("card: {0}")]
    Card(#[from] UsimError),
    #[error("BSF answer malformed: {0}")]
    Answer(String),
    #[error("rspauth does not verify: the 200 OK did not come from the BSF that knows RES")]
    Rspauth,
    #[error("gave up after {0} resynchronisations")]
    TooManyResyncs(u32),
    #[error("the MT's store: {0}")]
    Store(String),
}

/// A parsed Ub challenge.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub qop: String,
    pub rand: Rand,
    pub autn: Autn,
}

/// Parse `WWW-Authenticate: Digest ... algorithm=AKAv1-MD5`; the nonce carries RAND ‖ AUTN.
pub fn parse_challenge(header: &str) -> Result<Challenge, UbError> {
    let bad = |m: String| UbError::Challenge(m);
    let p = digest::parse(header).map_err(|e| bad(e.to_string()))?;
    let algorithm = p.get("algorithm").unwrap_or("MD5");
    if !algorithm.eq_ignore_ascii_case(ALGORITHM_AKAV1_MD5) {
        return Err(bad(format!("algorithm {algorithm}, expected AKAv1-MD5")));
    }
    let nonce = p
        .require("nonce")
        .map_err(|e| bad(e.to_string()))?
        .to_owned();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&nonce)
        .map_err(|_| bad("nonce is not base64".into()))?;
    if raw.len() < 32 {
        return Err(bad(format!(
            "nonce holds {} octets, RAND ‖ AUTN needs 32",
            raw.len()
        )));
    }
    // TS 24.109 §5.2: the Ub exchange is protected with qop=auth-int; a challenge without it
    // (a downgrade to qop=auth or to RFC 2069 Digest) is refused.
    let qops = p.get("qop").unwrap_or("");
    if !qops.split(',').any(|q| q.trim() == QOP_AUTH_INT) {
        return Err(bad(format!(
            "qop {qops:?}: the MT answers only qop=auth-int"
        )));
    }
    let qop = QOP_AUTH_INT;
    Ok(Challenge {
        realm: p
            .require("realm")
            .map_err(|e| bad(e.to_string()))?
            .to_owned(),
        nonce,
        opaque: p.get("opaque").map(str::to_owned),
        qop: qop.to_owned(),
        rand: Rand::from_slice(&raw[..16]).ok_or_else(|| bad("RAND".into()))?,
        autn: Autn::from_slice(&raw[16..32]).ok_or_else(|| bad("AUTN".into()))?,
    })
}

/// The first request's Authorization (TS 24.109 §5.2.1).
#[must_use]
pub fn initial_authorization(impi: &str, realm: &str, uri: &str) -> String {
    digest::format(
        &[
            ("username", impi),
            ("realm", realm),
            ("nonce", ""),
            ("uri", uri),
            ("response", ""),
        ],
        &[],
    )
}

/// The Authorization answering a challenge: with RES (`auts` None) or with AUTS and an
/// empty password (RFC 3310 §3.4).
#[must_use]
pub fn answer_authorization(
    ch: &Challenge,
    impi: &str,
    uri: &str,
    method: &str,
    res: Option<(&Res, ResEncoding)>,
    auts: Option<&Auts>,
    cnonce: &str,
) -> String {
    let hex_res;
    let password: &[u8] = match res {
        Some((r, ResEncoding::Raw)) => r.as_bytes(),
        Some((r, ResEncoding::Hex)) => {
            hex_res = to_hex(r.as_bytes());
            hex_res.as_bytes()
        }
        None => b"",
    };
    let nc = "00000001";
    let response = Response {
        username: impi,
        realm: &ch.realm,
        password,
        method,
        uri,
        nonce: &ch.nonce,
        nc,
        cnonce,
        qop: &ch.qop,
        body: b"",
    }
    .digest();
    let mut params: Vec<(&str, &str)> = vec![
        ("username", impi),
        ("realm", &ch.realm),
        ("nonce", &ch.nonce),
        ("uri", uri),
        ("response", &response),
        ("algorithm", ALGORITHM_AKAV1_MD5),
    ];
    if !ch.qop.is_empty() {
        params.extend([("qop", ch.qop.as_str()), ("nc", nc), ("cnonce", cnonce)]);
    }
    if let Some(o) = &ch.opaque {
        params.push(("opaque", o));
    }
    let auts_b64 = auts.map(|a| base64::engine::general_purpose::STANDARD.encode(a.0));
    if let Some(a) = &auts_b64 {
        params.push(("auts", a));
    }
    digest::format(&params, &["algorithm", "qop", "nc"])
}

/// B-TID and lifetime from the BootstrappingInfo body (TS 24.109 Annex C).
pub fn parse_bootstrapping_info(body: &[u8]) -> Result<(String, String), UbError> {
    let text =
        std::str::from_utf8(body).map_err(|_| UbError::Answer("body is not UTF-8".into()))?;
    let field = |tag: &str| -> Result<String, UbError> {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = text
            .find(&open)
            .ok_or_else(|| UbError::Answer(format!("no <{tag}>")))?
            + open.len();
        let end = text[start..]
            .find(&close)
            .ok_or_else(|| UbError::Answer(format!("no </{tag}>")))?
            + start;
        Ok(text[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"))
    };
    let b_tid = field("btid")?;
    let lifetime = field("lifetime")?;
    gbau_core::identity::BTid::new(&b_tid).map_err(|e| UbError::Answer(e.to_string()))?;
    if gbau_core::time::parse_utc(&lifetime).is_none() {
        return Err(UbError::Answer(format!(
            "lifetime {lifetime:?} is not xs:dateTime"
        )));
    }
    Ok((b_tid, lifetime))
}

/// Which GBA the MT runs (TS 33.220 §4 vs §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum GbaMode {
    /// The card's GBA bootstrapping mode; Ks stays on the card.
    #[serde(rename = "GBA_U")]
    GbaU,
    /// The 3G context; Ks = CK ‖ IK and Ks_NAF are computed in the MT.
    #[serde(rename = "GBA_ME")]
    GbaMe,
}

impl GbaMode {
    /// "GBA_U" or "GBA_ME".
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::GbaU => "GBA_U",
            Self::GbaMe => "GBA_ME",
        }
    }
}

/// The result of a bootstrap.
#[derive(Debug, Clone, Serialize)]
pub struct Bootstrapped {
    pub b_tid: String,
    pub lifetime: String,
    pub resynchronisations: u32,
    pub res_encoding: ResEncoding,
    pub mode: GbaMode,
    /// GBA_ME: Ks and RAND, kept by the MT (never printed).
    #[serde(skip)]
    pub me_key: Option<(gbau_core::secret::Ks, Rand)>,
}

/// Longest chain of resynchronisations before giving up.
pub const MAX_RESYNCS: u32 = 2;

/// Run Ub: initial request, challenge, AUTHENTICATE on the card (GBA bootstrapping mode),
/// resynchronisation when the card answers AUTS, answer, B-TID and lifetime into EF_GBABP.
/// `exchange(authorization)` sends one request and returns the answer.
pub fn bootstrap(
    usim: &mut LockedUsim<'_>,
    impi: &str,
    bsf_realm: &str,
    res_encoding: ResEncoding,
    cnonce: &str,
    exchange: &mut dyn FnMut(&str) -> Result<HttpAnswer, UbError>,
) -> Result<Bootstrapped, UbError> {
    bootstrap_mode(
        usim,
        impi,
        bsf_realm,
        res_encoding,
        cnonce,
        exchange,
        GbaMode::GbaU,
    )
}

/// [`bootstrap`] in either mode: GBA_U uses the card's GBA bootstrapping mode and writes
/// EF_GBABP; GBA_ME runs the 3G context and returns Ks for the MT to keep.
pub fn bootstrap_mode(
    usim: &mut LockedUsim<'_>,
    impi: &str,
    bsf_realm: &str,
    res_encoding: ResEncoding,
    cnonce: &str,
    exchange: &mut dyn FnMut(&str) -> Result<HttpAnswer, UbError>,
    mode: GbaMode,
) -> Result<Bootstrapped, UbError> {
    let uri = "/";
    let mut answer = exchange(&initial_authorization(impi, bsf_realm, uri))?;
    let mut resyncs = 0;
    loop {
        if answer.status != 401 {
            return Err(UbError::Refused {
                status: answer.status,
                body: String::from_utf8_lossy(&answer.body).trim().to_owned(),
            });
        }
        let header = answer
            .www_authenticate
            .as_deref()
            .ok_or_else(|| UbError::Challenge("401 without WWW-Authenticate".into()))?;
        let ch = parse_challenge(header)?;
        let outcome = match mode {
            GbaMode::GbaU => usim.gba_bootstrap(&ch.rand, &ch.autn).map(|o| match o {
                AuthOutcome::Success(res) => AuthOutcome::Success((res, None)),
                AuthOutcome::SyncFailure(a) => AuthOutcome::SyncFailure(a),
            }),
            GbaMode::GbaMe => usim.authenticate_3g(&ch.rand, &ch.autn).map(|o| match o {
                AuthOutcome::Success((res, ck, ik)) => {
                    AuthOutcome::Success((res, Some(gbau_core::secret::Ks::from_ck_ik(&ck, &ik))))
                }
                AuthOutcome::SyncFailure(a) => AuthOutcome::SyncFailure(a),
            }),
        };
        let outcome = match outcome {
            Err(UsimError::Status {
                sw: gbau_core::StatusWord::AuthenticationErrorIncorrectMac,
                ..
            }) => return Err(UbError::NetworkAuthFailed),
            other => other?,
        };
        match outcome {
            AuthOutcome::SyncFailure(auts) => {
                resyncs += 1;
                if resyncs > MAX_RESYNCS {
                    return Err(UbError::TooManyResyncs(MAX_RESYNCS));
                }
                tracing::info!("card SQN ahead: sending AUTS");
                answer = exchange(&answer_authorization(
                    &ch,
                    impi,
                    uri,
                    "GET",
                    None,
                    Some(&auts),
                    cnonce,
                ))?;
            }
            AuthOutcome::Success((res, me_ks)) => {
                let auth = answer_authorization(
                    &ch,
                    impi,
                    uri,
                    "GET",
                    Some((&res, res_encoding)),
                    None,
                    cnonce,
                );
                let ok = exchange(&auth)?;
                if ok.status != 200 {
                    return Err(UbError::Refused {
                        status: ok.status,
                        body: String::from_utf8_lossy(&ok.body).trim().to_owned(),
                    });
                }
                verify_rspauth(&ch, impi, uri, &res, res_encoding, cnonce, &ok)?;
                let (b_tid, lifetime) = parse_bootstrapping_info(&ok.body)?;
                if mode == GbaMode::GbaU {
                    keep_btid_lifetime(usim, impi, &ch.rand, &b_tid, &lifetime)?;
                }
                return Ok(Bootstrapped {
                    b_tid,
                    lifetime,
                    resynchronisations: resyncs,
                    res_encoding,
                    mode,
                    me_key: me_ks.map(|k| (k, ch.rand)),
                });
            }
        }
    }
}

fn verify_rspauth(
    ch: &Challenge,
    impi: &str,
    uri: &str,
    res: &Res,
    enc: ResEncoding,
    cnonce: &str,
    ok: &HttpAnswer,
) -> Result<(), UbError> {
    let Some(info) = &ok.authentication_info else {
        return Err(UbError::Rspauth);
    };
    let p = digest::parse(&format!("Digest {info}")).map_err(|_| UbError::Rspauth)?;
    let got = p.get("rspauth").ok_or(UbError::Rspauth)?;
    let hex_res = to_hex(res.as_bytes());
    let base = Response {
        username: impi,
        realm: &ch.realm,
        password: res.as_bytes(),
        method: "GET",
        uri,
        nonce: &ch.nonce,
        nc: "00000001",
        cnonce,
        qop: &ch.qop,
        body: b"",
    };
    let raw = base.rspauth(&ok.body);
    // The BSF may have verified either password form: accept rspauth under the raw one too.
    let want = match enc {
        ResEncoding::Raw => raw.clone(),
        ResEncoding::Hex => Response {
            password: hex_res.as_bytes(),
            ..base
        }
        .rspauth(&ok.body),
    };
    if gbau_core::ct_eq(want.as_bytes(), got.as_bytes())
        || gbau_core::ct_eq(raw.as_bytes(), got.as_bytes())
    {
        Ok(())
    } else {
        Err(UbError::Rspauth)
    }
}

/// The largest answer the MT reads from a BSF.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Ub over HTTP(S): one GET per Authorization, blocking, with timeouts; redirects are not
/// followed and answers are capped.
pub fn http_exchange(
    url: &str,
    gba_u: bool,
) -> Result<impl FnMut(&str) -> Result<HttpAnswer, UbError>, UbError> {
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .user_agent(user_agent(gba_u))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| UbError::Http(e.to_string()))?;
    let url = url.to_owned();
    Ok(move |authorization: &str| -> Result<HttpAnswer, UbError> {
        let r = client
            .get(&url)
            .header("Authorization", authorization)
            .send()
            .map_err(|e| UbError::Http(format!("{url}: {e}")))?;
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (www, info) = (header("www-authenticate"), header("authentication-info"));
        let status = r.status().as_u16();
        let body = crate::util::read_capped(r, MAX_RESPONSE_BODY)
            .map_err(|e| UbError::Http(e.to_string()))?
            .ok_or_else(|| {
                UbError::Http(format!("{url}: answer over {MAX_RESPONSE_BODY} bytes"))
            })?;
        Ok(HttpAnswer {
            status,
            www_authenticate: www,
            authentication_info: info,
            body,
        })
    })
}

/// Bootstrap over HTTP with the BSF at `bsf_url` (default: the one derived from the card's
/// IMSI), the card's IMPI and a fresh cnonce. Returns the BSF URL used too.
pub fn bootstrap_over_http(
    usim: &mut LockedUsim<'_>,
    bsf_url: Option<&str>,
    enc: ResEncoding,
) -> Result<(String, Bootstrapped), UbError> {
    let imsi = usim.imsi()?;
    let mnc = usim.mnc_length()?;
    let realm = imsi.bsf_fqdn(mnc);
    let url = bsf_url.map_or_else(|| format!("http://{realm}/"), str::to_owned);
    let mut cnonce = [0u8; 8];
    crate::util::os_random(&mut cnonce);
    let mode = card_mode(usim)?;
    let mut exchange = http_exchange(&url, mode == GbaMode::GbaU)?;
    let impi = imsi.impi(mnc);
    let b = bootstrap_mode(
        usim,
        impi.as_str(),
        &realm,
        enc,
        &to_hex(&cnonce),
        &mut exchange,
        mode,
    )?;
    if let Some((ks, rand)) = &b.me_key {
        crate::me_store::put(
            impi.as_str(),
            &crate::me_store::MeSession::new(&b.b_tid, &b.lifetime, rand, ks),
        )
        .map_err(UbError::Http)?;
    }
    Ok((url, b))
}

/// GBA_U when the card offers the GBA service (UST service 68), else GBA_ME.
pub fn card_mode(usim: &mut LockedUsim<'_>) -> Result<GbaMode, UbError> {
    let ust = usim.ust()?;
    Ok(
        if gbau_core::ef::service_available(&ust, gbau_core::ef::SERVICE_GBA) {
            GbaMode::GbaU
        } else {
            GbaMode::GbaMe
        },
    )
}

/// After a GBA_U bootstrap the ME writes B-TID and lifetime into EF_GBABP (TS 31.102
/// §4.2.79). When the card's EF_GBABP is too small for them (a sysmoISIM-SJA2's is 64 bytes),
/// the MT keeps them itself with the run's RAND ([`crate::me_store::GbaURun`]).
fn keep_btid_lifetime(
    usim: &mut LockedUsim<'_>,
    impi: &str,
    rand: &Rand,
    b_tid: &str,
    lifetime: &str,
) -> Result<(), UbError> {
    match usim.write_btid_lifetime(b_tid, lifetime) {
        Err(UsimError::FileTooSmall { size, needed, .. }) => {
            tracing::info!(
                size,
                needed,
                "EF_GBABP cannot hold B-TID and lifetime: the MT keeps them"
            );
            let run = crate::me_store::GbaURun {
                rand: gbau_core::hexutil::to_hex(&rand.0),
                b_tid: b_tid.to_owned(),
                lifetime: lifetime.to_owned(),
            };
            crate::me_store::put_gba_u_run(impi, &run).map_err(UbError::Store)
        }
        other => Ok(other?),
    }
}

/// B-TID and lifetime of the card's current GBA_U bootstrapping: EF_GBABP's, or the MT's
/// record of the run whose RAND EF_GBABP holds (see [`crate::me_store::GbaURun`]).
pub fn card_gbabp(
    usim: &mut LockedUsim<'_>,
    impi: &str,
) -> Result<gbau_core::ef::GbaBootstrapParams, UsimError> {
    let mut p = usim.gbabp()?;
    if p.b_tid.is_empty() {
        if let (Some(rand), Ok(Some(run))) = (p.rand, crate::me_store::gba_u_run(impi)) {
            if run.rand == gbau_core::hexutil::to_hex(&rand.0) {
                p.b_tid = run.b_tid;
                p.lifetime = run.lifetime;
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(qop: &str) -> String {
        let nonce = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        format!("Digest realm=\"bsf.example.org\", nonce=\"{nonce}\", algorithm=AKAv1-MD5{qop}")
    }

    #[test]
    fn only_auth_int_challenges_are_answered() {
        assert!(parse_challenge(&challenge(", qop=\"auth-int\"")).is_ok());
        assert!(parse_challenge(&challenge(", qop=\"auth,auth-int\"")).is_ok());
        for downgrade in [", qop=\"auth\"", ""] {
            let e = parse_challenge(&challenge(downgrade)).unwrap_err();
            assert!(e.to_string().contains("auth-int"), "{e}");
        }
    }
}
