//! Every Diameter code gbau's Zn uses, in one table with where each was looked up. The Zn
//! application and its AVPs are TS 29.109's; the base protocol's are RFC 6733's.
//!
//! Sources (each row names one or more):
//! - **RFC**: RFC 6733 (§3.1 command codes, §4.5 base AVP table with flag rules, §7.1 result
//!   codes, §5.3 CER/CEA).
//! - **FD**: freeDiameter's 3GPP dictionary, generated from TS 29.109 V15.0.0 Table 6.1
//!   (`extensions/dict_dcca_3gpp/dict_dcca_3gpp.csv`, `add_avps.c`, Experimental-Result-Codes
//!   in `dict_dcca_3gpp.c`), and its base dictionary (`libfdcore/dict_base_proto.c`).
//! - **CIP**: cipango's Zh/Zn definitions (`cipango-diameter/.../ims/Zh.java`), whose
//!   documentation reproduces the TS 29.109 ABNF of BIR/BIA and the 540x texts.
//! - **WS**: Wireshark's Diameter dictionary as Debian 12 ships it (wireshark-common 4.0.17,
//!   `/usr/share/wireshark/diameter/dictionary.xml`: AVPs 400–410 with their types, enum values
//!   and V bit at l.2937–2973, where 402 keeps its older name NAF-Hostname; "Boostrapping-Info"
//!   310 at l.80; application 16777220 "3GPP Zn" at l.8882). `cli/tests/diameter_interop.rs`
//!   compares this whole table with that file, and tshark dissects gbau's messages with it.
//!
//! Types: OS OctetString, U32 Unsigned32, E Enumerated, T Time, G Grouped, UTF8 UTF8String,
//! DI DiameterIdentity, A Address. Flags: the bits that must be set (the others must not).

/// 3GPP's vendor identifier (FD `@vendor,10415`; CIP `IMS_VENDOR_ID`).
pub const VENDOR_3GPP: u32 = 10_415;
/// The Zn application (CIP `ZN_APPLICATION`; WS l.8882 "3GPP Zn"). An auth application,
/// advertised as Vendor-Specific-Application-Id {10415, 16777220}.
pub const APP_ZN: u32 = 16_777_220;
/// The relay application id (RFC 6733 §2.4): a peer advertising it shares every application.
pub const APP_RELAY: u32 = 0xFFFF_FFFF;
/// The base protocol's application id (RFC 6733 §2.4).
pub const APP_BASE: u32 = 0;

/// Command codes (RFC 6733 §3.1; BIR/BIA: CIP `BIR_ORDINAL = 310`, WS l.80).
pub const CMD_CER: u32 = 257;
pub const CMD_DWR: u32 = 280;
pub const CMD_DPR: u32 = 282;
pub const CMD_BIR: u32 = 310;

/// Result-Code values (RFC 6733 §7.1; the same numbers in FD `libfdproto.h`).
pub const DIAMETER_SUCCESS: u32 = 2001;
pub const DIAMETER_COMMAND_UNSUPPORTED: u32 = 3001;
pub const DIAMETER_UNABLE_TO_DELIVER: u32 = 3002;
pub const DIAMETER_TOO_BUSY: u32 = 3004;
pub const DIAMETER_APPLICATION_UNSUPPORTED: u32 = 3007;
pub const DIAMETER_INVALID_HDR_BITS: u32 = 3008;
pub const DIAMETER_INVALID_AVP_BITS: u32 = 3009;
pub const DIAMETER_AVP_UNSUPPORTED: u32 = 5001;
pub const DIAMETER_INVALID_AVP_VALUE: u32 = 5004;
pub const DIAMETER_MISSING_AVP: u32 = 5005;
pub const DIAMETER_NO_COMMON_APPLICATION: u32 = 5010;
pub const DIAMETER_UNABLE_TO_COMPLY: u32 = 5012;
pub const DIAMETER_INVALID_AVP_LENGTH: u32 = 5014;

/// Experimental-Result-Code values of TS 29.109, sent in Experimental-Result with Vendor-Id
/// 10415 (FD `dict_dcca_3gpp.c`; CIP's texts: 5403 is for an unknown *or expired* B-TID,
/// after which the NAF makes the UE bootstrap again).
pub const DIAMETER_ERROR_IMPI_UNKNOWN: u32 = 5401;
pub const DIAMETER_ERROR_NOT_AUTHORIZED: u32 = 5402;
pub const DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID: u32 = 5403;

/// Disconnect-Cause REBOOTING (RFC 6733 §5.4.3).
pub const DISCONNECT_REBOOTING: u32 = 0;
/// GBA_U-Awareness-Indicator values (FD; CIP): NO (0, also when absent), YES (1).
pub const GBA_U_AWARE_NO: u32 = 0;
pub const GBA_U_AWARE_YES: u32 = 1;
/// GBA-Type values (FD; CIP): 3G GBA (0, also when absent), 2G GBA (1). gbau runs 3G GBA
/// (GBA_U and GBA_ME alike).
pub const GBA_TYPE_3G: u32 = 0;

/// An AVP code of the table.
pub mod code {
    pub const USER_NAME: u32 = 1;
    pub const HOST_IP_ADDRESS: u32 = 257;
    pub const AUTH_APPLICATION_ID: u32 = 258;
    pub const ACCT_APPLICATION_ID: u32 = 259;
    pub const VENDOR_SPECIFIC_APPLICATION_ID: u32 = 260;
    pub const SESSION_ID: u32 = 263;
    pub const ORIGIN_HOST: u32 = 264;
    pub const SUPPORTED_VENDOR_ID: u32 = 265;
    pub const VENDOR_ID: u32 = 266;
    pub const FIRMWARE_REVISION: u32 = 267;
    pub const RESULT_CODE: u32 = 268;
    pub const PRODUCT_NAME: u32 = 269;
    pub const DISCONNECT_CAUSE: u32 = 273;
    pub const AUTH_SESSION_STATE: u32 = 277;
    pub const ORIGIN_STATE_ID: u32 = 278;
    pub const FAILED_AVP: u32 = 279;
    pub const ERROR_MESSAGE: u32 = 281;
    pub const ROUTE_RECORD: u32 = 282;
    pub const DESTINATION_REALM: u32 = 283;
    pub const PROXY_INFO: u32 = 284;
    pub const DESTINATION_HOST: u32 = 293;
    pub const ORIGIN_REALM: u32 = 296;
    pub const EXPERIMENTAL_RESULT: u32 = 297;
    pub const EXPERIMENTAL_RESULT_CODE: u32 = 298;
    pub const INBAND_SECURITY_ID: u32 = 299;
    pub const GBA_USERSECSETTINGS: u32 = 400;
    pub const TRANSACTION_IDENTIFIER: u32 = 401;
    pub const NAF_ID: u32 = 402;
    pub const GAA_SERVICE_IDENTIFIER: u32 = 403;
    pub const KEY_EXPIRYTIME: u32 = 404;
    pub const ME_KEY_MATERIAL: u32 = 405;
    pub const UICC_KEY_MATERIAL: u32 = 406;
    pub const GBA_U_AWARENESS_INDICATOR: u32 = 407;
    pub const BOOTSTRAPINFOCREATIONTIME: u32 = 408;
    pub const GBA_TYPE: u32 = 410;
}

/// One AVP of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvpDef {
    pub name: &'static str,
    pub code: u32,
    /// `Some(10415)` for 3GPP AVPs (V set), `None` for base AVPs.
    pub vendor: Option<u32>,
    /// M must be set (else must be clear).
    pub mandatory: bool,
    pub kind: &'static str,
    pub source: &'static str,
}

const fn base(name: &'static str, code: u32, m: bool, kind: &'static str) -> AvpDef {
    AvpDef {
        name,
        code,
        vendor: None,
        mandatory: m,
        kind,
        source: "RFC 6733 §4.5; FD dict_base_proto.c; WS dictionary.xml",
    }
}

const fn tgpp(name: &'static str, code: u32, kind: &'static str) -> AvpDef {
    AvpDef {
        name,
        code,
        vendor: Some(VENDOR_3GPP),
        mandatory: true,
        kind,
        source: "TS 29.109 §6.3 Table 6.1 via FD dict_dcca_3gpp.csv / add_avps.c; CIP Zh.java; WS dictionary.xml l.2937-2973",
    }
}

/// The AVPs gbau's Zn reads or writes.
pub const AVPS: &[AvpDef] = &[
    base("User-Name", code::USER_NAME, true, "UTF8"),
    base("Host-IP-Address", code::HOST_IP_ADDRESS, true, "A"),
    base(
        "Auth-Application-Id",
        code::AUTH_APPLICATION_ID,
        true,
        "U32",
    ),
    base(
        "Acct-Application-Id",
        code::ACCT_APPLICATION_ID,
        true,
        "U32",
    ),
    base(
        "Vendor-Specific-Application-Id",
        code::VENDOR_SPECIFIC_APPLICATION_ID,
        true,
        "G",
    ),
    base("Session-Id", code::SESSION_ID, true, "UTF8"),
    base("Origin-Host", code::ORIGIN_HOST, true, "DI"),
    base(
        "Supported-Vendor-Id",
        code::SUPPORTED_VENDOR_ID,
        true,
        "U32",
    ),
    base("Vendor-Id", code::VENDOR_ID, true, "U32"),
    base("Firmware-Revision", code::FIRMWARE_REVISION, false, "U32"),
    base("Result-Code", code::RESULT_CODE, true, "U32"),
    base("Product-Name", code::PRODUCT_NAME, false, "UTF8"),
    base("Disconnect-Cause", code::DISCONNECT_CAUSE, true, "E"),
    base("Auth-Session-State", code::AUTH_SESSION_STATE, true, "E"),
    base("Origin-State-Id", code::ORIGIN_STATE_ID, true, "U32"),
    base("Failed-AVP", code::FAILED_AVP, true, "G"),
    base("Error-Message", code::ERROR_MESSAGE, false, "UTF8"),
    base("Route-Record", code::ROUTE_RECORD, true, "DI"),
    base("Destination-Realm", code::DESTINATION_REALM, true, "DI"),
    base("Proxy-Info", code::PROXY_INFO, true, "G"),
    base("Destination-Host", code::DESTINATION_HOST, true, "DI"),
    base("Origin-Realm", code::ORIGIN_REALM, true, "DI"),
    base("Experimental-Result", code::EXPERIMENTAL_RESULT, true, "G"),
    base(
        "Experimental-Result-Code",
        code::EXPERIMENTAL_RESULT_CODE,
        true,
        "U32",
    ),
    base("Inband-Security-Id", code::INBAND_SECURITY_ID, true, "U32"),
    tgpp("GBA-UserSecSettings", code::GBA_USERSECSETTINGS, "OS"),
    tgpp("Transaction-Identifier", code::TRANSACTION_IDENTIFIER, "OS"),
    tgpp("NAF-Id", code::NAF_ID, "OS"),
    tgpp("GAA-Service-Identifier", code::GAA_SERVICE_IDENTIFIER, "OS"),
    tgpp("Key-ExpiryTime", code::KEY_EXPIRYTIME, "T"),
    tgpp("ME-Key-Material", code::ME_KEY_MATERIAL, "OS"),
    tgpp("UICC-Key-Material", code::UICC_KEY_MATERIAL, "OS"),
    tgpp(
        "GBA_U-Awareness-Indicator",
        code::GBA_U_AWARENESS_INDICATOR,
        "E",
    ),
    tgpp(
        "BootstrapInfoCreationTime",
        code::BOOTSTRAPINFOCREATIONTIME,
        "T",
    ),
    tgpp("GBA-Type", code::GBA_TYPE, "E"),
];

/// The table's entry for (code, vendor).
#[must_use]
pub fn lookup(code: u32, vendor: Option<u32>) -> Option<&'static AvpDef> {
    AVPS.iter().find(|d| d.code == code && d.vendor == vendor)
}

/// The AVPs a BIR may carry (TS 29.109 BIR ABNF, via CIP), beyond which an AVP with M set is
/// unsupported (DIAMETER_AVP_UNSUPPORTED with Failed-AVP, RFC 6733 §7.1.5). Auth-Session-State
/// is accepted too: later releases' NAFs may send it.
pub const BIR_AVPS: &[(u32, Option<u32>)] = &[
    (code::SESSION_ID, None),
    (code::VENDOR_SPECIFIC_APPLICATION_ID, None),
    (code::AUTH_APPLICATION_ID, None),
    (code::AUTH_SESSION_STATE, None),
    (code::ORIGIN_HOST, None),
    (code::ORIGIN_REALM, None),
    (code::DESTINATION_REALM, None),
    (code::DESTINATION_HOST, None),
    (code::ORIGIN_STATE_ID, None),
    (code::PROXY_INFO, None),
    (code::ROUTE_RECORD, None),
    (code::GAA_SERVICE_IDENTIFIER, Some(VENDOR_3GPP)),
    (code::TRANSACTION_IDENTIFIER, Some(VENDOR_3GPP)),
    (code::NAF_ID, Some(VENDOR_3GPP)),
    (code::GBA_U_AWARENESS_INDICATOR, Some(VENDOR_3GPP)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_each_code_once_and_the_zn_avps_are_3gpp_m_v() {
        for (i, a) in AVPS.iter().enumerate() {
            assert!(
                AVPS[i + 1..]
                    .iter()
                    .all(|b| (b.code, b.vendor) != (a.code, a.vendor)),
                "{} twice",
                a.name
            );
            if (400..=410).contains(&a.code) {
                assert_eq!(
                    (a.vendor, a.mandatory),
                    (Some(VENDOR_3GPP), true),
                    "{}",
                    a.name
                );
            }
        }
        assert_eq!(
            lookup(401, Some(10_415)).map(|d| d.name),
            Some("Transaction-Identifier")
        );
        assert_eq!(lookup(401, None), None);
    }
}
