//! The Ua reference point as both ends see it (TS 33.220 §4.4.9 and Annex H, TS 24.109 §5.2
//! and §5.3): the User-Agent tokens a GBA-aware UE sends, the HTTP Digest realm prefixes of a
//! NAF, and the Ua security protocol id of HTTP Digest. The MT's Ua client and the NAF take
//! these from here so that both ends of one test cannot drift apart silently.

use crate::identity::UaProtocolId;

/// User-Agent product token of a GBA-aware UE (TS 24.109 §5.2.1).
pub const UA_TOKEN_GBA: &str = "3gpp-gba";
/// User-Agent token saying the ME does GBA_U with its UICC.
pub const UA_TOKEN_GBA_UICC: &str = "3gpp-gba-uicc";
/// Realm prefix for the ME-held key Ks_(ext)_NAF (TS 24.109 §5.3, as the facts note gives it).
pub const REALM_PREFIX_ME: &str = "3GPP-bootstrapping";
/// Realm prefix for GBA_U (facts note: the UE answers it with Ks_ext_NAF) **[to confirm]**:
/// TS 24.109 may reserve it for Ks_int_NAF; both realms are offered and both take
/// Ks_(ext)_NAF here, so a correction touches this constant and the realm handling only.
pub const REALM_PREFIX_UICC: &str = "3GPP-bootstrapping-uicc";
/// Ua security protocol id of HTTP Digest (TS 33.220 Annex H).
pub const UA_ID: UaProtocolId = UaProtocolId::HTTP_DIGEST;
