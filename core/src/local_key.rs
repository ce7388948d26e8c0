//! The NAF Key Center's interface (seed 001 §5.5, TS 33.259's key center): its NAF_Id and the
//! JSON messages an external device exchanges with it. The device (in gbau-host) and the Key
//! Center (in gbau-network) both take the wire format from here.
//!
//! Request (`POST /local-key`, JSON): `{"b_tid": "...", "device_id": "..."}`.
//! Answer 200: `{"b_tid", "naf_id" (hex), "ks_local_mt" (hex), "key_lifetime" (xs:dateTime)}`.

use serde::{Deserialize, Serialize};

use crate::identity::{NafId, UaProtocolId};
use crate::secret::KsLocalMt;

/// The Ua security protocol id in the Key Center's NAF_Id. Seed 001 does not name one;
/// TS 33.259 may. gbau uses 00 00 00 00 00 ("no Ua protocol specified", TS 33.220 Annex H)
/// **[to confirm]**; the MT and the Key Center both take it from here.
pub const KEY_CENTER_UA: UaProtocolId = UaProtocolId::UNSPECIFIED;

/// The Key Center's NAF_Id for its FQDN.
pub fn naf_id(fqdn: &str) -> Result<NafId, String> {
    NafId::new(fqdn, KEY_CENTER_UA).map_err(|e| e.to_string())
}

/// A device's request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalKeyRequest {
    pub b_tid: String,
    pub device_id: String,
}

/// The Key Center's answer. The key is a zeroizing secret type: hex on the wire, `Debug`
/// redacted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalKeyAnswer {
    pub b_tid: String,
    pub naf_id: String,
    pub ks_local_mt: KsLocalMt,
    pub key_lifetime: String,
}
