//! The HSS function's subscriber data, from YAML.

use std::path::Path;

use gbau_core::hexutil;
use gbau_core::identity::{Impi, Imsi, MncLength};
use gbau_core::milenage::{opc_from_op, MilenageConstants};
use gbau_core::secret::{Op, Opc, K};
use serde::Deserialize;

/// Which GBA the subscriber's UICC does (the GUSS UICC type, TS 29.109).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GbaType {
    /// Ks stays on the UICC; the BSF sends AUTN* and hands out Ks_ext_NAF/Ks_int_NAF.
    GbaU,
    /// Ks in the ME; plain AUTN; Ks_NAF.
    GbaMe,
}

/// One subscriber.
#[derive(Clone, Debug)]
pub struct Subscriber {
    pub impi: Impi,
    pub k: K,
    pub opc: Opc,
    pub milenage: MilenageConstants,
    pub amf: [u8; 2],
    /// First SQN to use when no stored SQN exists.
    pub sqn_start: u64,
    pub uicc: GbaType,
    pub key_lifetime_secs: u64,
    /// User security settings (opaque text handed to NAFs over Zn).
    pub uss: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    subscribers: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    impi: Option<String>,
    #[serde(default)]
    imsi: Option<String>,
    #[serde(default)]
    mnc_length: Option<u8>,
    k: String,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    opc: Option<String>,
    #[serde(default = "default_amf")]
    amf: String,
    #[serde(default = "default_sqn")]
    sqn: String,
    #[serde(default = "default_uicc")]
    uicc: GbaType,
    #[serde(default = "default_lifetime")]
    key_lifetime: u64,
    #[serde(default)]
    uss: Option<String>,
}

fn default_amf() -> String {
    "8000".into()
}
fn default_sqn() -> String {
    "000000000020".into()
}
fn default_uicc() -> GbaType {
    GbaType::GbaU
}
fn default_lifetime() -> u64 {
    3600
}

/// A subscriber file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SubscriberError {
    #[error("cannot read subscribers {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("subscribers {path}: {message}")]
    Invalid { path: String, message: String },
}

/// Parse and validate subscriber YAML.
pub fn parse(text: &str, path: &str) -> Result<Vec<Subscriber>, SubscriberError> {
    let bad = |i: usize, m: String| SubscriberError::Invalid {
        path: path.to_owned(),
        message: format!("subscriber #{}: {m}", i + 1),
    };
    let f: File = serde_norway::from_str(text).map_err(|e| SubscriberError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut out: Vec<Subscriber> = Vec::new();
    for (i, e) in f.subscribers.iter().enumerate() {
        let impi = match (&e.impi, &e.imsi) {
            (Some(impi), _) => Impi::new(impi).map_err(|x| bad(i, x.to_string()))?,
            (None, Some(imsi)) => {
                let imsi = Imsi::new(imsi).map_err(|x| bad(i, x.to_string()))?;
                let mnc =
                    MncLength::new(e.mnc_length.unwrap_or(2)).map_err(|x| bad(i, x.to_string()))?;
                imsi.impi(mnc)
            }
            (None, None) => return Err(bad(i, "needs impi or imsi".into())),
        };
        let k = K::new(hexutil::parse_fixed(&e.k).map_err(|x| bad(i, format!("k: {x}")))?);
        let opc = match (&e.op, &e.opc) {
            (Some(op), None) => opc_from_op(
                &k,
                &Op::new(hexutil::parse_fixed(op).map_err(|x| bad(i, format!("op: {x}")))?),
            ),
            (None, Some(opc)) => {
                Opc::new(hexutil::parse_fixed(opc).map_err(|x| bad(i, format!("opc: {x}")))?)
            }
            _ => return Err(bad(i, "give exactly one of op and opc".into())),
        };
        let sqn = hexutil::parse_fixed::<6>(&e.sqn).map_err(|x| bad(i, format!("sqn: {x}")))?;
        if out.iter().any(|s| s.impi == impi) {
            return Err(bad(i, format!("IMPI {impi} appears twice")));
        }
        if e.key_lifetime == 0 {
            return Err(bad(i, "key_lifetime must be at least 1 second".into()));
        }
        out.push(Subscriber {
            impi,
            k,
            opc,
            milenage: MilenageConstants::default(),
            amf: hexutil::parse_fixed(&e.amf).map_err(|x| bad(i, format!("amf: {x}")))?,
            sqn_start: gbau_core::sqn::Sqn::from_bytes(sqn).value(),
            uicc: e.uicc,
            key_lifetime_secs: e.key_lifetime,
            uss: e.uss.clone(),
        });
    }
    Ok(out)
}

/// Read a subscriber file.
pub fn load(path: &Path) -> Result<Vec<Subscriber>, SubscriberError> {
    let text = std::fs::read_to_string(path).map_err(|source| SubscriberError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}
