//! The MT's Ua client for HTTP Digest NAFs (TS 24.109 §5.3): answer a NAF's GBA challenge with
//! the B-TID and base64(Ks_ext_NAF) derived on the card, bootstrapping first when there is
//! no valid B-TID, and once more on a key-update indication.

mod conn;

pub use conn::{ConnError, UaConn, UaOptions};

use base64::Engine;
use gbau_core::digest::{self, Response, QOP_AUTH_INT};
use gbau_core::hexutil::to_hex;
use gbau_core::identity::NafId;
use serde::Serialize;

use crate::error::CmdError;
use crate::session::{ready, LockedUsim, Session};
use crate::ub::{GbaMode, ResEncoding};
use gbau_core::ua::{ua_id_for_connection, REALM_PREFIX_ME, REALM_PREFIX_UICC};

/// What `gbau http GET` did.
#[derive(Debug, Serialize)]
pub struct UaReport {
    pub status: u16,
    pub body: String,
    pub naf_fqdn: Option<String>,
    pub realm: Option<String>,
    pub b_tid: Option<String>,
    pub bootstraps: u32,
    /// Resynchronisations from AUTS during those bootstraps.
    pub resynchronisations: u32,
    /// GBA_U or GBA_ME, as the card allows.
    pub mode: Option<GbaMode>,
    pub key_update: bool,
    pub steps: Vec<String>,
}

/// Pick the GBA challenge: the GBA_U realm when offered, else the ME one.
fn pick(challenges: &[String]) -> Option<(String, String, String)> {
    let parsed: Vec<digest::Params> = challenges
        .iter()
        .filter_map(|c| digest::parse(c).ok())
        .collect();
    for prefix in [REALM_PREFIX_UICC, REALM_PREFIX_ME] {
        for p in &parsed {
            if let (Some(realm), Some(nonce)) = (p.get("realm"), p.get("nonce")) {
                if let Some(fqdn) = realm.strip_prefix(&format!("{prefix}@")) {
                    return Some((realm.to_owned(), nonce.to_owned(), fqdn.to_owned()));
                }
            }
        }
    }
    None
}

fn bootstrap(
    u: &mut LockedUsim<'_>,
    bsf: Option<&str>,
    enc: ResEncoding,
    steps: &mut Vec<String>,
) -> Result<crate::ub::Bootstrapped, CmdError> {
    let (url, b) = crate::ub::bootstrap_over_http(u, bsf, enc)?;
    let resync = if b.resynchronisations > 0 {
        format!(
            " after {} resynchronisation(s) from AUTS",
            b.resynchronisations
        )
    } else {
        String::new()
    };
    steps.push(format!(
        "bootstrapped with {url}{resync}: B-TID {}, lifetime {}",
        b.b_tid, b.lifetime
    ));
    Ok(b)
}

/// A valid B-TID: from EF_GBABP (GBA_U) or from the MT's own store (GBA_ME).
fn valid_b_tid(
    u: &mut LockedUsim<'_>,
    mode: GbaMode,
    impi: &str,
    now: u64,
) -> Result<Option<String>, CmdError> {
    match mode {
        GbaMode::GbaU => {
            let p = crate::ub::card_gbabp(u, impi)?;
            let valid = !p.b_tid.is_empty()
                && gbau_core::time::parse_utc(&p.lifetime).is_some_and(|t| t > now);
            Ok(valid.then_some(p.b_tid))
        }
        GbaMode::GbaMe => Ok(crate::me_store::get(impi)
            .map_err(CmdError::Ub)?
            .filter(|s| s.valid(now))
            .map(|s| s.b_tid)),
    }
}

/// The NAF key: Ks_ext_NAF from the card (GBA_U), or Ks_NAF computed in the MT (GBA_ME).
pub fn naf_key(
    u: &mut LockedUsim<'_>,
    mode: GbaMode,
    impi: &gbau_core::identity::Impi,
    naf_id: &NafId,
) -> Result<gbau_core::secret::KsNaf, CmdError> {
    match mode {
        GbaMode::GbaU => Ok(u.gba_naf_key(&naf_id.to_bytes(), Some(impi.as_str()))?),
        GbaMode::GbaMe => {
            let s = crate::me_store::get(impi.as_str())
                .map_err(CmdError::Ub)?
                .ok_or_else(|| {
                    CmdError::Mismatch("GBA_ME: no bootstrapping kept by the MT".into())
                })?;
            let (ks, rand) = s
                .key()
                .ok_or_else(|| CmdError::Mismatch("GBA_ME store entry is malformed".into()))?;
            gbau_core::kdf::ks_ext_naf(&ks, &rand, impi, naf_id)
                .map_err(|e| CmdError::Mismatch(e.to_string()))
        }
    }
}

/// GET `url` with GBA: bootstrap when needed, answer the NAF's Digest challenge with the
/// card's Ks_ext_NAF, and on a key-update indication bootstrap again and retry once.
///
/// NAF_Id is the host of `url` — the FQDN the MT used to reach the NAF — with the Ua
/// protocol id of the connection (HTTP Digest, or `01 00 01 yy zz` over TLS). A challenge
/// whose realm names another host is refused before the card is touched, and a 200 is only
/// accepted with an `rspauth` that proves the server holds the same key.
pub fn http_get(
    s: &mut Session,
    url: &str,
    bsf: Option<&str>,
    enc: ResEncoding,
    opts: &UaOptions,
) -> Result<UaReport, CmdError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| crate::input::UsageError::new("URL", e.to_string()))?;
    let host = parsed
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or_else(|| crate::input::UsageError::new("URL", "no host"))?;
    let target = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let mut conn = UaConn::connect(&parsed, opts).map_err(|e| CmdError::Ua(e.to_string()))?;
    let ua = ua_id_for_connection(conn.cipher_suite);
    let naf_id = NafId::new(&host, ua).map_err(|e| CmdError::Ua(format!("NAF_Id: {e}")))?;
    let pin = s.pin.clone();
    s.with_card(|u| {
        let mut run = UaRun {
            url,
            target: &target,
            host: &host,
            naf_id: &naf_id,
            bsf,
            enc,
            pin: pin.as_deref(),
            steps: Vec::new(),
        };
        if let Some(cs) = conn.cipher_suite {
            run.steps.push(format!(
                "TLS with {host}, cipher suite {cs:04X}: Ua protocol id {}",
                to_hex(&ua.0)
            ));
        }
        run.answer(u, &mut conn)
    })
}

/// One `gbau http GET`: what it asks for and what it did.
struct UaRun<'a> {
    url: &'a str,
    target: &'a str,
    host: &'a str,
    naf_id: &'a NafId,
    bsf: Option<&'a str>,
    enc: ResEncoding,
    pin: Option<&'a str>,
    steps: Vec<String>,
}

impl UaRun<'_> {
    fn get(&mut self, conn: &mut UaConn, auth: Option<&str>) -> Result<conn::Answer, CmdError> {
        conn.get(self.target, auth)
            .map_err(|e| CmdError::Ua(e.to_string()))
    }

    /// GET, then answer up to two challenges (the second after a key update).
    fn answer(mut self, u: &mut LockedUsim<'_>, conn: &mut UaConn) -> Result<UaReport, CmdError> {
        let mut report = UaReport {
            status: 0,
            body: String::new(),
            naf_fqdn: None,
            realm: None,
            b_tid: None,
            bootstraps: 0,
            resynchronisations: 0,
            mode: None,
            key_update: false,
            steps: Vec::new(),
        };
        let mut got = self.get(conn, None)?;
        self.steps.push(format!("GET {}: {}", self.url, got.status));
        let mut answered_once = false;
        while got.status == 401 {
            let Some((realm, nonce, fqdn)) = pick(&got.challenges) else {
                self.steps
                    .push("401 without a GBA challenge: nothing to answer".into());
                break;
            };
            if !fqdn.eq_ignore_ascii_case(self.host) {
                return Err(CmdError::Mismatch(format!(
                    "the server at {} sent the realm {realm:?}, which names {fqdn}: the MT derives keys only for the host it connected to; refused, nothing was derived",
                    self.host
                )));
            }
            let b_tid = self.b_tid(u, &mut report, answered_once)?;
            let mode = report.mode.unwrap_or(GbaMode::GbaU);
            let impi = u.imsi()?.impi(u.mnc_length()?);
            let key = naf_key(u, mode, &impi, self.naf_id)?;
            self.steps.push(match mode {
                GbaMode::GbaU => {
                    format!("Ks_ext_NAF for {} derived on the card (GBA_U)", self.host)
                }
                GbaMode::GbaMe => format!(
                    "Ks_NAF for {} derived in the MT (GBA_ME: the card has no GBA service)",
                    self.host
                ),
            });
            let creds = Credentials::new(&b_tid, &realm, key.expose(), self.target, &nonce);
            got = self.get(conn, Some(&creds.header()))?;
            self.steps
                .push(format!("GET {} as {b_tid}: {}", self.url, got.status));
            if got.status == 200 {
                creds.check_rspauth(got.authentication_info.as_deref(), &got.body)?;
                self.steps
                    .push("rspauth verified: the NAF holds the same key".into());
            }
            report.naf_fqdn = Some(self.host.to_owned());
            report.realm = Some(realm);
            report.b_tid = Some(b_tid);
            if answered_once {
                break;
            }
            answered_once = true;
        }
        report.status = got.status;
        report.body = String::from_utf8_lossy(&got.body).into_owned();
        report.steps = self.steps;
        Ok(report)
    }

    /// The B-TID to answer with: the card's (or the MT's) valid one the first time; after a
    /// refusal (key update) or without one, a new bootstrap.
    fn b_tid(
        &mut self,
        u: &mut LockedUsim<'_>,
        report: &mut UaReport,
        again: bool,
    ) -> Result<String, CmdError> {
        ready(u, self.pin)?;
        let now = crate::util::unix_now();
        let mode = crate::ub::card_mode(u)?;
        report.mode = Some(mode);
        let impi = u.imsi()?.impi(u.mnc_length()?);
        if let (false, Some(b)) = (again, valid_b_tid(u, mode, impi.as_str(), now)?) {
            self.steps.push(format!("valid B-TID on the card: {b}"));
            return Ok(b);
        }
        if again {
            report.key_update = true;
            self.steps
                .push("the NAF refused the credentials: key update, bootstrapping again".into());
        }
        report.bootstraps += 1;
        let b = bootstrap(u, self.bsf, self.enc, &mut self.steps)?;
        report.resynchronisations += b.resynchronisations;
        Ok(b.b_tid)
    }
}

/// The Ua Digest credentials of one request (TS 24.109 §5.3, RFC 2617 with qop=auth-int):
/// username B-TID, password base64(Ks_(ext)_NAF).
struct Credentials<'a> {
    b_tid: &'a str,
    realm: &'a str,
    password: String,
    uri: &'a str,
    nonce: &'a str,
    cnonce: String,
}

impl<'a> Credentials<'a> {
    fn new(b_tid: &'a str, realm: &'a str, key: &[u8], uri: &'a str, nonce: &'a str) -> Self {
        let mut cn = [0u8; 8];
        crate::util::os_random(&mut cn);
        Self {
            b_tid,
            realm,
            password: base64::engine::general_purpose::STANDARD.encode(key),
            uri,
            nonce,
            cnonce: to_hex(&cn),
        }
    }

    fn response(&self) -> Response<'_> {
        Response {
            username: self.b_tid,
            realm: self.realm,
            password: self.password.as_bytes(),
            method: "GET",
            uri: self.uri,
            nonce: self.nonce,
            nc: "00000001",
            cnonce: &self.cnonce,
            qop: QOP_AUTH_INT,
            body: b"",
        }
    }

    /// The Authorization header.
    fn header(&self) -> String {
        digest::format(
            &[
                ("username", self.b_tid),
                ("realm", self.realm),
                ("nonce", self.nonce),
                ("uri", self.uri),
                ("response", &self.response().digest()),
                ("algorithm", "MD5"),
                ("qop", QOP_AUTH_INT),
                ("nc", "00000001"),
                ("cnonce", &self.cnonce),
            ],
            &["algorithm", "qop", "nc"],
        )
    }

    /// The server's proof (Authentication-Info rspauth, RFC 2617 §3.2.3) that it holds the
    /// same key: required for a 200 to count.
    fn check_rspauth(&self, info: Option<&str>, body: &[u8]) -> Result<(), CmdError> {
        let refuse = |why: &str| {
            Err(CmdError::Mismatch(format!(
                "the NAF answered 200 {why}: it has not proved it holds the NAF key; the answer is refused"
            )))
        };
        let Some(info) = info else {
            return refuse("without Authentication-Info");
        };
        let Ok(p) = digest::parse(&format!("Digest {info}")) else {
            return refuse("with a malformed Authentication-Info");
        };
        let Some(got) = p.get("rspauth") else {
            return refuse("without rspauth");
        };
        let want = self.response().rspauth(body);
        if gbau_core::ct_eq(want.as_bytes(), got.as_bytes()) {
            Ok(())
        } else {
            refuse("with an rspauth that does not verify")
        }
    }
}
