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

/// The first three octets of the Ua security protocol id of "shared key-based UE
/// authentication with certificate-based NAF authentication" (TS 33.222 §5.3: HTTP Digest
/// inside a server-authenticated TLS tunnel), TS 33.220 Annex H: `01 00 01 yy zz`.
pub const UA_ID_TLS_PREFIX: [u8; 3] = [0x01, 0x00, 0x01];

/// The Ua security protocol id of one connection: HTTP Digest (`01 00 00 00 02`) over plain
/// HTTP; over TLS, `01 00 01 yy zz` with `yy zz` the negotiated cipher suite's two octets
/// (TS 33.220 Annex H; that `yy zz` is the cipher suite is confirmed by an independent GBA
/// client, not by quoted text). TLS 1.3 suites (`13 01` …) are used the same way
/// **[to confirm]**: Annex H gives shared-key TLS 1.3 its own id (`01 00 00 00 07`), and no
/// text was found for certificate-based TLS 1.3 with HTTP Digest.
#[must_use]
pub fn ua_id_for_connection(tls_cipher_suite: Option<u16>) -> UaProtocolId {
    match tls_cipher_suite {
        None => UA_ID,
        Some(suite) => {
            let [yy, zz] = suite.to_be_bytes();
            UaProtocolId([
                UA_ID_TLS_PREFIX[0],
                UA_ID_TLS_PREFIX[1],
                UA_ID_TLS_PREFIX[2],
                yy,
                zz,
            ])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ua_ids_follow_annex_h() {
        assert_eq!(ua_id_for_connection(None).0, [0x01, 0x00, 0x00, 0x00, 0x02]);
        // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (RFC 5289): C0 2F.
        assert_eq!(
            ua_id_for_connection(Some(0xC02F)).0,
            [0x01, 0x00, 0x01, 0xC0, 0x2F]
        );
        // TLS_AES_128_GCM_SHA256 (RFC 8446): 13 01.
        assert_eq!(
            ua_id_for_connection(Some(0x1301)).0,
            [0x01, 0x00, 0x01, 0x13, 0x01]
        );
    }
}
