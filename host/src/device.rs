//! `gbau device establish`: the external device of seed 001 §5.5. It tries a stored
//! Ks_local_MT first (a key check with the MT), and otherwise runs the optimized procedure
//! (the MT has a valid B-TID, §5.5.3) or the full one (the MT bootstraps first, §5.5.2),
//! fetching Ks_local_MT from the NAF Key Center over mutually authenticated HTTPS.

use std::path::{Path, PathBuf};

use gbau_core::hexutil::to_hex;
use gbau_core::secret::KsLocalMt;
use serde::{Deserialize, Serialize};

use crate::local::{connect, Stream};
use crate::local::{
    proof, read_frame, write_frame, Answer, KeyProof, Request, LABEL_DEVICE_PROOF, LABEL_MT_PROOF,
};
use gbau_core::local_key::{LocalKeyAnswer, LocalKeyRequest};

/// The device's configuration.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub mt: String,
    pub device_id: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    /// The Key Center's URL (the device resolves the NAF_Id the MT names to this).
    pub key_center_url: String,
    /// Names reached at given addresses (curl's `--resolve`): the Key Center's certificate
    /// names only its FQDN.
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    pub store: PathBuf,
    /// Replace a stored key the MT still confirms (the request carries this device's proof).
    pub renew: bool,
}

impl DeviceConfig {
    /// A device `id` whose certificate, key and CA are `pki/ID.pem`, `pki/ID.key` and
    /// `pki/ca.pem` (as `gbau pki create` writes them), talking to the MT on a Unix socket.
    #[must_use]
    pub fn from_pki(
        pki: &Path,
        id: &str,
        mt_socket: &Path,
        key_center_url: &str,
        store: PathBuf,
    ) -> Self {
        Self {
            mt: format!("unix:{}", mt_socket.display()),
            device_id: id.to_owned(),
            cert: pki.join(format!("{id}.pem")),
            key: pki.join(format!("{id}.key")),
            ca: pki.join("ca.pem"),
            key_center_url: key_center_url.to_owned(),
            resolve: Vec::new(),
            store,
            renew: false,
        }
    }
}

/// The device's stored key (a zeroizing secret type, hex in the file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceKey {
    pub mt: String,
    pub b_tid: String,
    pub ks_local_mt: KsLocalMt,
    pub key_lifetime: String,
}

/// What `gbau device establish` prints.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    /// "stored" (key check passed), "optimized" (§5.5.3) or "full" (§5.5.2).
    pub procedure: &'static str,
    pub device_id: String,
    pub b_tid: String,
    pub ks_local_mt: String,
    pub key_lifetime: String,
    pub steps: Vec<String>,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("MT: {0}")]
    Mt(String),
    #[error("NAF Key Center: {0}")]
    KeyCenter(String),
    #[error("device key store: {0}")]
    Store(String),
}

fn call(s: &mut Stream, req: &Request) -> Result<Answer, DeviceError> {
    let body = serde_json::to_vec(req).map_err(|e| DeviceError::Mt(e.to_string()))?;
    write_frame(s, &body).map_err(|e| DeviceError::Mt(e.to_string()))?;
    let a = read_frame(s).map_err(|e| DeviceError::Mt(e.to_string()))?;
    serde_json::from_slice(&a).map_err(|e| DeviceError::Mt(format!("malformed answer: {e}")))
}

fn must(a: Answer, what: &str) -> Result<Answer, DeviceError> {
    if a.ok {
        Ok(a)
    } else {
        Err(DeviceError::Mt(format!(
            "{what}: {} {}",
            a.error.unwrap_or_default(),
            a.message.unwrap_or_default()
        )))
    }
}

/// The device's stored key: `None` when there is none yet; a store that cannot be read or
/// parsed is an error naming the file, never silently replaced.
fn load(path: &Path) -> Result<Option<DeviceKey>, DeviceError> {
    match gbau_card::store::read_optional(path).map_err(|e| DeviceError::Store(e.to_string()))? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| DeviceError::Store(format!("{} is corrupt: {e}", path.display()))),
    }
}

fn key_center(
    cfg: &DeviceConfig,
    b_tid: &str,
) -> Result<Result<LocalKeyAnswer, String>, DeviceError> {
    let ca = reqwest::Certificate::from_pem(
        &std::fs::read(&cfg.ca).map_err(|e| DeviceError::KeyCenter(e.to_string()))?,
    )
    .map_err(|e| DeviceError::KeyCenter(e.to_string()))?;
    let mut pem = std::fs::read(&cfg.cert).map_err(|e| DeviceError::KeyCenter(e.to_string()))?;
    pem.extend(std::fs::read(&cfg.key).map_err(|e| DeviceError::KeyCenter(e.to_string()))?);
    let mut builder = reqwest::blocking::Client::builder();
    for (name, addr) in &cfg.resolve {
        builder = builder.resolve(name, *addr);
    }
    let client = builder
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(
            reqwest::Identity::from_pem(&pem).map_err(|e| DeviceError::KeyCenter(e.to_string()))?,
        )
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| DeviceError::KeyCenter(e.to_string()))?;
    let r = client
        .post(&cfg.key_center_url)
        .json(&LocalKeyRequest {
            b_tid: b_tid.to_owned(),
            device_id: cfg.device_id.clone(),
        })
        .send()
        .map_err(|e| DeviceError::KeyCenter(format!("{}: {e}", cfg.key_center_url)))?;
    let status = r.status().as_u16();
    // The Key Center's answer is small: more than 64 KiB is refused, not read.
    let body = crate::util::read_capped(r, 64 * 1024)
        .map_err(|e| DeviceError::KeyCenter(e.to_string()))?
        .ok_or_else(|| DeviceError::KeyCenter("the Key Center's answer is over 64 KiB".into()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| DeviceError::KeyCenter(e.to_string()))?;
    if status == 200 {
        Ok(Ok(
            serde_json::from_value(v).map_err(|e| DeviceError::KeyCenter(e.to_string()))?
        ))
    } else {
        Ok(Err(v["error"].as_str().unwrap_or("unknown").to_owned()))
    }
}

/// The key check with the MT: when the MT proves it holds the stored key, this device's proof
/// over the MT's fresh nonce — to confirm the key, or to let the MT replace it; `None` when the
/// MT does not share the key.
fn key_check(
    s: &mut Stream,
    cfg: &DeviceConfig,
    k: &DeviceKey,
) -> Result<Option<KeyProof>, DeviceError> {
    let key = k.ks_local_mt.expose();
    let mut n = [0u8; 16];
    crate::util::os_random(&mut n);
    let a = call(
        s,
        &Request::KeyCheck {
            device_id: cfg.device_id.clone(),
            nonce: to_hex(&n),
        },
    )?;
    let (Some(nm), Some(p)) = (
        a.nonce_mt.as_deref().and_then(crate::util::hex_arg),
        a.proof.as_deref().and_then(crate::util::hex_arg),
    ) else {
        return Ok(None);
    };
    if !gbau_core::ct_eq(&proof(key, LABEL_MT_PROOF, &n, &nm, &cfg.device_id), &p) {
        return Ok(None);
    }
    let mine = proof(key, LABEL_DEVICE_PROOF, &nm, &n, &cfg.device_id);
    Ok(Some(KeyProof {
        nonce: to_hex(&n),
        nonce_mt: to_hex(&nm),
        proof: to_hex(&mine),
    }))
}

/// The stored key outcome: `Ok(report)` when the key is within its lifetime (`fresh`), the
/// MT confirmed it and no renewal is asked; otherwise the proof to carry when the MT still
/// holds the same key, which it replaces only with that proof.
fn try_stored(
    s: &mut Stream,
    cfg: &DeviceConfig,
    k: DeviceKey,
    fresh: bool,
    steps: &mut Vec<String>,
) -> Result<Result<DeviceReport, Option<KeyProof>>, DeviceError> {
    let Some(p) = key_check(s, cfg, &k)? else {
        steps.push("stored key not shared by the MT: establishing a new one".into());
        return Ok(Err(None));
    };
    if cfg.renew || !fresh {
        steps.push(if fresh {
            "the MT proved it holds the stored Ks_local_MT; renewing it with this device's proof"
        } else {
            "the stored key's lifetime has passed but the MT still holds it: replacing it with this device's proof"
        }.into());
        return Ok(Err(Some(p)));
    }
    let KeyProof {
        nonce,
        nonce_mt,
        proof,
    } = p;
    let confirm = Request::KeyConfirm {
        device_id: cfg.device_id.clone(),
        nonce,
        nonce_mt,
        proof,
    };
    if !call(s, &confirm)?.ok {
        steps.push("stored key not confirmed by the MT: establishing a new one".into());
        return Ok(Err(None));
    }
    steps.push("stored Ks_local_MT confirmed with the MT (key check, key not revealed)".into());
    Ok(Ok(DeviceReport {
        procedure: "stored",
        device_id: cfg.device_id.clone(),
        b_tid: k.b_tid.clone(),
        ks_local_mt: to_hex(k.ks_local_mt.expose()),
        key_lifetime: k.key_lifetime.clone(),
        steps: std::mem::take(steps),
    }))
}

/// Run seed 001 §5.5.1: stored key, else optimized, else full procedure.
pub fn establish(cfg: &DeviceConfig) -> Result<DeviceReport, DeviceError> {
    // One key store, one owner, for the whole procedure.
    let _owner =
        gbau_card::store::Owner::take(&cfg.store).map_err(|e| DeviceError::Store(e.to_string()))?;
    let mut steps = Vec::new();
    let stored = load(&cfg.store)?;
    let mut s = connect(&cfg.mt).map_err(|e| DeviceError::Mt(format!("{}: {e}", cfg.mt)))?;
    let now = crate::util::unix_now();
    let mut replace = None;
    if let Some(k) = stored.filter(|k| k.mt == cfg.mt) {
        let fresh = gbau_core::time::parse_utc(&k.key_lifetime).is_some_and(|t| t > now);
        match try_stored(&mut s, cfg, k, fresh, &mut steps)? {
            Ok(report) => return Ok(report),
            Err(p) => replace = p,
        }
    }
    let info = must(call(&mut s, &Request::Info)?, "info")?;
    let kc = info
        .naf_key_centers
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| DeviceError::Mt("the MT lists no NAF Key Center (EF_NAFKCA)".into()))?;
    let full_run = |s: &mut Stream| {
        // Full procedure, step 6: one request with NAF_ID and Device_ID; the MT runs a complete
        // GBA run and answers B-TID and NAF_ID (steps 7-10).
        let r = Request::Bootstrap {
            naf_id: Some(kc.clone()),
            device_id: Some(cfg.device_id.clone()),
            replace: replace.clone(),
        };
        must(call(s, &r)?, "bootstrap")
    };
    let (mut procedure, mut answer) = match info.b_tid {
        None => {
            steps.push(
                "the MT has no valid B-TID: asking it for a complete GBA run (full procedure)"
                    .into(),
            );
            ("full", full_run(&mut s)?)
        }
        Some(b_tid) => {
            steps.push(format!(
                "the MT has a valid B-TID: optimized procedure with {kc}"
            ));
            let r = Request::Establish {
                naf_id: kc.clone(),
                device_id: cfg.device_id.clone(),
                b_tid: Some(b_tid),
                replace: replace.clone(),
            };
            ("optimized", must(call(&mut s, &r)?, "establish")?)
        }
    };
    for attempt in 0..2 {
        let b_tid = answer.b_tid.clone().unwrap_or_default();
        steps.push(format!(
            "the MT derived Ks_local_MT for {} with B-TID {b_tid}",
            cfg.device_id
        ));
        match key_center(cfg, &b_tid)? {
            Ok(a) => return finish(&mut s, cfg, a, procedure, steps),
            Err(code) if code == "bootstrapping_required" && attempt == 0 => {
                procedure = "full";
                steps.push(
                    "the Key Center does not know the B-TID: asking the MT for a new GBA run"
                        .into(),
                );
                answer = full_run(&mut s)?;
            }
            Err(code) => return Err(DeviceError::KeyCenter(code)),
        }
    }
    Err(DeviceError::KeyCenter(
        "no key after a new bootstrap".into(),
    ))
}

/// Keep the Key Center's key durably, then tell the MT the establishment completed with the
/// key lifetime granted (seed 001 §5.5.2 steps 17-18, §5.5.3 steps 15-16).
fn finish(
    s: &mut Stream,
    cfg: &DeviceConfig,
    a: LocalKeyAnswer,
    procedure: &'static str,
    mut steps: Vec<String>,
) -> Result<DeviceReport, DeviceError> {
    steps.push(format!(
        "the NAF Key Center delivered Ks_local_MT, lifetime {}",
        a.key_lifetime
    ));
    let stored = DeviceKey {
        mt: cfg.mt.clone(),
        b_tid: a.b_tid.clone(),
        ks_local_mt: a.ks_local_mt.clone(),
        key_lifetime: a.key_lifetime.clone(),
    };
    let bytes =
        serde_json::to_vec_pretty(&stored).map_err(|e| DeviceError::Store(e.to_string()))?;
    gbau_card::store::write_durably(&cfg.store, &bytes)
        .map_err(|e| DeviceError::Store(e.to_string()))?;
    let done = Request::Complete {
        device_id: cfg.device_id.clone(),
        key_lifetime: a.key_lifetime.clone(),
    };
    let c = must(call(s, &done)?, "complete")?;
    steps.push(format!(
        "told the MT the key establishment is complete; its key now lives until {}",
        c.lifetime.unwrap_or_default()
    ));
    Ok(DeviceReport {
        procedure,
        device_id: cfg.device_id.clone(),
        b_tid: a.b_tid,
        ks_local_mt: to_hex(a.ks_local_mt.expose()),
        key_lifetime: a.key_lifetime,
        steps,
    })
}
