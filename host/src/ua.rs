//! The MT's Ua client for HTTP Digest NAFs (TS 24.109 §5.3): answer a NAF's GBA challenge with
//! the B-TID and base64(Ks_ext_NAF) derived on the card, bootstrapping first when there is
//! no valid B-TID, and once more on a key-update indication.

use base64::Engine;
use gbau_core::digest::{self, Response, QOP_AUTH_INT};
use gbau_core::hexutil::to_hex;
use gbau_core::identity::NafId;
use serde::Serialize;

use crate::error::CmdError;
use crate::session::{ready, LockedUsim, Session};
use crate::ub::{GbaMode, ResEncoding};
use gbau_core::ua::{REALM_PREFIX_ME, REALM_PREFIX_UICC, UA_ID};

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

struct Got {
    status: u16,
    challenges: Vec<String>,
    body: Vec<u8>,
}

fn get(client: &reqwest::blocking::Client, url: &str, auth: Option<&str>) -> Result<Got, CmdError> {
    let mut rb = client.get(url);
    if let Some(a) = auth {
        rb = rb.header("Authorization", a);
    }
    let r = rb.send().map_err(|e| CmdError::Ub(format!("{url}: {e}")))?;
    let status = r.status().as_u16();
    let challenges = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let body = r.bytes().map_err(|e| CmdError::Ub(e.to_string()))?.to_vec();
    Ok(Got {
        status,
        challenges,
        body,
    })
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
            let p = u.gbabp()?;
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
pub fn http_get(
    s: &mut Session,
    url: &str,
    bsf: Option<&str>,
    enc: ResEncoding,
) -> Result<UaReport, CmdError> {
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .user_agent(crate::ub::user_agent(true))
        .build()
        .map_err(|e| CmdError::Ub(e.to_string()))?;
    let path = reqwest::Url::parse(url)
        .map_err(|e| crate::input::UsageError::new("URL", e.to_string()))?
        .path()
        .to_owned();
    let pin = s.pin.clone();
    s.with_card(|u| {
        let mut steps = Vec::new();
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
        let mut got = get(&client, url, None)?;
        steps.push(format!("GET {url}: {}", got.status));
        let mut answered_once = false;
        loop {
            if got.status != 401 {
                break;
            }
            let Some((realm, nonce, fqdn)) = pick(&got.challenges) else {
                steps.push("401 without a GBA challenge: nothing to answer".into());
                break;
            };
            ready(u, pin.as_deref())?;
            let now = crate::util::unix_now();
            let mode = crate::ub::card_mode(u)?;
            report.mode = Some(mode);
            let impi = u.imsi()?.impi(u.mnc_length()?);
            let b_tid = match (answered_once, valid_b_tid(u, mode, impi.as_str(), now)?) {
                (false, Some(b)) => {
                    steps.push(format!("valid B-TID on the card: {b}"));
                    b
                }
                (again, _) => {
                    if again {
                        report.key_update = true;
                        steps.push(
                            "the NAF refused the credentials: key update, bootstrapping again"
                                .into(),
                        );
                    }
                    report.bootstraps += 1;
                    let b = bootstrap(u, bsf, enc, &mut steps)?;
                    report.resynchronisations += b.resynchronisations;
                    b.b_tid
                }
            };

            let naf_id = NafId::new(&fqdn, UA_ID).map_err(|e| CmdError::Ub(e.to_string()))?;
            let key = naf_key(u, mode, &impi, &naf_id)?;
            steps.push(match mode {
                GbaMode::GbaU => format!("Ks_ext_NAF for {fqdn} derived on the card (GBA_U)"),
                GbaMode::GbaMe => format!(
                    "Ks_NAF for {fqdn} derived in the MT (GBA_ME: the card has no GBA service)"
                ),
            });
            let auth = authorization(&b_tid, &realm, key.expose(), &path, &nonce);
            got = get(&client, url, Some(&auth))?;
            steps.push(format!("GET {url} as {b_tid}: {}", got.status));
            report.naf_fqdn = Some(fqdn);
            report.realm = Some(realm);
            report.b_tid = Some(b_tid);
            if answered_once {
                break;
            }
            answered_once = true;
        }
        report.status = got.status;
        report.body = String::from_utf8_lossy(&got.body).into_owned();
        report.steps = steps;
        Ok(report)
    })
}

/// The Ua Authorization header (TS 24.109 §5.3, RFC 2617 with qop=auth-int): username B-TID,
/// password base64(Ks_(ext)_NAF).
fn authorization(b_tid: &str, realm: &str, key: &[u8], path: &str, nonce: &str) -> String {
    let password = base64::engine::general_purpose::STANDARD.encode(key);
    let mut cn = [0u8; 8];
    crate::util::os_random(&mut cn);
    let cnonce = to_hex(&cn);
    let response = Response {
        username: b_tid,
        realm,
        password: password.as_bytes(),
        method: "GET",
        uri: path,
        nonce,
        nc: "00000001",
        cnonce: &cnonce,
        qop: QOP_AUTH_INT,
        body: b"",
    }
    .digest();
    digest::format(
        &[
            ("username", b_tid),
            ("realm", realm),
            ("nonce", nonce),
            ("uri", path),
            ("response", &response),
            ("algorithm", "MD5"),
            ("qop", QOP_AUTH_INT),
            ("nc", "00000001"),
            ("cnonce", &cnonce),
        ],
        &["algorithm", "qop", "nc"],
    )
}
