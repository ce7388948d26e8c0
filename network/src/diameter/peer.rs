//! The BSF's side of a Diameter Zn connection, as a state machine over whole messages with no
//! I/O: capabilities exchange first (RFC 6733 §5.3), then watchdog (§5.5), disconnect (§5.4)
//! and Bootstrapping-Info-Request (TS 29.109 §6.1), each answered with the right Result-Code.
//! The socket loop in `server` feeds it.

use std::net::IpAddr;

use super::codec::{Avp, DecodeError, Header, Message, AVP_MANDATORY, FLAG_ERROR};
use super::dict::{self, code, VENDOR_3GPP};
use crate::bsf::core::{ZnAnswer, ZnError, ZnRequest};

/// Product-Name in the CEA.
pub const PRODUCT_NAME: &str = "gbau";
/// Vendor-Id in the CEA: gbau has no IANA enterprise number, so 0 ("reserved").
pub const OUR_VENDOR_ID: u32 = 0;

/// The Zn lookup the peer calls for a BIR: the request, the FQDNs this peer may ask keys for,
/// the time.
pub type Lookup = dyn Fn(&ZnRequest, &[String], u64) -> Result<ZnAnswer, ZnError> + Send + Sync;

/// Who the BSF is on Diameter, and which NAF (by Diameter identity) may ask for which FQDNs.
#[derive(Debug, Clone)]
pub struct Identity {
    pub host: String,
    pub realm: String,
    /// Origin-State-Id: changes with every start (RFC 6733 §8.16).
    pub state_id: u32,
    /// (Diameter identity of a NAF, FQDNs it may ask keys for).
    pub peers: Vec<(String, Vec<String>)>,
}

/// What the socket loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this and go on.
    Reply(Vec<u8>),
    /// Send this, then close.
    ReplyClose(Vec<u8>),
    /// Nothing to send.
    Nothing,
    /// Close without an answer (framing lost, or a message before the capabilities exchange).
    Close,
}

/// One connection's state.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The peer's Origin-Host once the capabilities exchange succeeded.
    pub open: Option<String>,
    local: IpAddr,
}

fn result(code: u32) -> Avp {
    Avp::u32(code::RESULT_CODE, None, true, code)
}

fn identity_avps(me: &Identity) -> [Avp; 2] {
    [
        Avp::base(code::ORIGIN_HOST, me.host.as_bytes().to_vec()),
        Avp::base(code::ORIGIN_REALM, me.realm.as_bytes().to_vec()),
    ]
}

/// Vendor-Specific-Application-Id {Vendor-Id 10415, Auth-Application-Id 16777220}: how Zn
/// is advertised in CER/CEA and named in BIR/BIA.
#[must_use]
pub fn zn_app() -> Avp {
    Avp::grouped(
        code::VENDOR_SPECIFIC_APPLICATION_ID,
        None,
        true,
        &[
            Avp::u32(code::VENDOR_ID, None, true, VENDOR_3GPP),
            Avp::u32(code::AUTH_APPLICATION_ID, None, true, dict::APP_ZN),
        ],
    )
}

/// An answer with the E bit (RFC 6733 §7.2): Session-Id when the request had one,
/// Origin-Host/Realm, Result-Code, the reason, and the AVPs at fault.
fn error_answer(
    me: &Identity,
    req: Header,
    session: Option<&Avp>,
    rc: u32,
    why: &str,
    failed: &[Avp],
) -> Vec<u8> {
    let mut avps: Vec<Avp> = session.cloned().into_iter().collect();
    avps.extend(identity_avps(me));
    avps.push(result(rc));
    avps.push(Avp::new(
        code::ERROR_MESSAGE,
        None,
        false,
        why.as_bytes().to_vec(),
    ));
    if !failed.is_empty() {
        avps.push(Avp::grouped(code::FAILED_AVP, None, true, failed));
    }
    Message {
        header: req.answer(true),
        avps,
    }
    .encode()
}

/// An AVP of `code` with a zero-filled payload of its minimum length, to name a missing AVP
/// in Failed-AVP (RFC 6733 §7.5).
fn missing(code: u32, vendor: Option<u32>) -> Avp {
    let min = match dict::lookup(code, vendor).map(|d| d.kind) {
        Some("U32" | "E" | "T") => 4,
        _ => 0,
    };
    Avp::new(code, vendor, true, vec![0; min])
}

/// The applications a CER advertises (Auth-/Acct-Application-Id, at top level or in a
/// Vendor-Specific-Application-Id).
fn advertised(m: &Message) -> Vec<u32> {
    let mut apps = Vec::new();
    for a in &m.avps {
        if a.is(code::AUTH_APPLICATION_ID, None) || a.is(code::ACCT_APPLICATION_ID, None) {
            apps.extend(a.as_u32());
        } else if a.is(code::VENDOR_SPECIFIC_APPLICATION_ID, None) {
            for inner in a.members().unwrap_or_default() {
                if inner.is(code::AUTH_APPLICATION_ID, None)
                    || inner.is(code::ACCT_APPLICATION_ID, None)
                {
                    apps.extend(inner.as_u32());
                }
            }
        }
    }
    apps
}

impl Peer {
    /// A new connection, answering from `local` (Host-IP-Address).
    #[must_use]
    pub fn new(local: IpAddr) -> Self {
        Self { open: None, local }
    }

    /// Handle one whole message (its announced length read).
    pub fn on_message(&mut self, me: &Identity, bytes: &[u8], lookup: &Lookup, now: u64) -> Action {
        let m = match Message::decode(bytes) {
            Ok(m) => m,
            Err(DecodeError::AvpLength { code, vendor }) => {
                return match Message::header_of(bytes).filter(Header::is_request) {
                    Some(h) if self.open.is_some() => Action::Reply(error_answer(
                        me,
                        h,
                        None,
                        dict::DIAMETER_INVALID_AVP_LENGTH,
                        "an AVP's length does not fit the message",
                        &[missing(code, vendor)],
                    )),
                    _ => Action::Close,
                };
            }
            Err(_) => return Action::Close,
        };
        let h = m.header;
        if !h.is_request() {
            // Answers: gbau sends no requests that need them.
            return Action::Nothing;
        }
        let session = m.avp(code::SESSION_ID, None);
        if h.flags & FLAG_ERROR != 0 || h.flags & super::codec::FLAGS_RESERVED != 0 {
            return Action::Reply(error_answer(
                me,
                h,
                session,
                dict::DIAMETER_INVALID_HDR_BITS,
                "a request with the E bit or a reserved bit set",
                &[],
            ));
        }
        match (self.open.is_some(), h.command) {
            (false, dict::CMD_CER) => self.capabilities(me, &m),
            // RFC 6733 §5.6: nothing before the capabilities exchange.
            (false, _) => Action::Close,
            (true, dict::CMD_CER) => {
                Action::Reply(self.cea(me, h, dict::DIAMETER_UNABLE_TO_COMPLY))
            }
            (true, dict::CMD_DWR) => Action::Reply(self.dwa(me, h)),
            (true, dict::CMD_DPR) => {
                let mut avps = vec![result(dict::DIAMETER_SUCCESS)];
                avps.extend(identity_avps(me));
                Action::ReplyClose(
                    Message {
                        header: h.answer(false),
                        avps,
                    }
                    .encode(),
                )
            }
            (true, dict::CMD_BIR) => Action::Reply(self.bir(me, &m, lookup, now)),
            (true, other) => Action::Reply(error_answer(
                me,
                h,
                session,
                dict::DIAMETER_COMMAND_UNSUPPORTED,
                &format!("command {other} is not supported: this is a Zn BSF"),
                &[],
            )),
        }
    }

    /// CER (RFC 6733 §5.3.1): open when the peer advertises Zn or relay; else CEA with
    /// DIAMETER_NO_COMMON_APPLICATION and close.
    fn capabilities(&mut self, me: &Identity, m: &Message) -> Action {
        let Some(origin) = m.avp(code::ORIGIN_HOST, None).and_then(Avp::as_text) else {
            return Action::ReplyClose(self.cea(me, m.header, dict::DIAMETER_MISSING_AVP));
        };
        let apps = advertised(m);
        if !apps
            .iter()
            .any(|a| *a == dict::APP_ZN || *a == dict::APP_RELAY)
        {
            return Action::ReplyClose(self.cea(
                me,
                m.header,
                dict::DIAMETER_NO_COMMON_APPLICATION,
            ));
        }
        self.open = Some(origin.to_owned());
        Action::Reply(self.cea(me, m.header, dict::DIAMETER_SUCCESS))
    }

    fn cea(&self, me: &Identity, req: Header, rc: u32) -> Vec<u8> {
        let mut avps = vec![result(rc)];
        avps.extend(identity_avps(me));
        avps.extend([
            Avp::address(code::HOST_IP_ADDRESS, self.local),
            Avp::u32(code::VENDOR_ID, None, true, OUR_VENDOR_ID),
            Avp::new(
                code::PRODUCT_NAME,
                None,
                false,
                PRODUCT_NAME.as_bytes().to_vec(),
            ),
            Avp::u32(code::ORIGIN_STATE_ID, None, true, me.state_id),
            Avp::u32(code::SUPPORTED_VENDOR_ID, None, true, VENDOR_3GPP),
            zn_app(),
            Avp::u32(code::FIRMWARE_REVISION, None, false, 1),
        ]);
        Message {
            header: req.answer(false),
            avps,
        }
        .encode()
    }

    fn dwa(&self, me: &Identity, req: Header) -> Vec<u8> {
        let mut avps = vec![result(dict::DIAMETER_SUCCESS)];
        avps.extend(identity_avps(me));
        avps.push(Avp::u32(code::ORIGIN_STATE_ID, None, true, me.state_id));
        Message {
            header: req.answer(false),
            avps,
        }
        .encode()
    }

    /// Bootstrapping-Info-Request (TS 29.109 §6.1.1) → Bootstrapping-Info-Answer.
    fn bir(&self, me: &Identity, m: &Message, lookup: &Lookup, now: u64) -> Vec<u8> {
        let h = m.header;
        let session = m.avp(code::SESSION_ID, None);
        if h.application != dict::APP_ZN {
            return error_answer(
                me,
                h,
                session,
                dict::DIAMETER_APPLICATION_UNSUPPORTED,
                "BIR belongs to the Zn application 16777220",
                &[],
            );
        }
        let bia = |result_avps: Vec<Avp>, more: Vec<Avp>| {
            let mut avps: Vec<Avp> = session.cloned().into_iter().collect();
            avps.push(zn_app());
            avps.extend(result_avps);
            avps.extend(identity_avps(me));
            avps.extend(more);
            Message {
                header: h.answer(false),
                avps,
            }
            .encode()
        };
        let req = match parse_bir(m) {
            Ok(r) => r,
            Err(result_avps) => return bia(result_avps, vec![]),
        };
        let allowed: &[String] = self
            .open
            .as_ref()
            .and_then(|host| {
                me.peers
                    .iter()
                    .find(|(id, _)| id.eq_ignore_ascii_case(host))
            })
            .map_or(&[], |(_, f)| f.as_slice());
        match lookup(&req, allowed, now) {
            Ok(a) => bia(vec![result(dict::DIAMETER_SUCCESS)], success_avps(&a)),
            Err(e) => match zn_error_avps(m, e) {
                Ok(result_avps) => bia(result_avps, vec![]),
                Err(rc) => {
                    error_answer(me, h, session, rc, "the BSF's store cannot answer now", &[])
                }
            },
        }
    }
}

/// Result-Code and Failed-AVP.
fn failed(rc: u32, avp: Avp) -> Vec<Avp> {
    vec![
        result(rc),
        Avp::grouped(code::FAILED_AVP, None, true, &[avp]),
    ]
}

/// The Zn request a BIR carries, or the BIA's result AVPs saying what is wrong with it: an
/// unsupported mandatory AVP (5001), a missing one (5005), an invalid value (5004).
fn parse_bir(m: &Message) -> Result<ZnRequest, Vec<Avp>> {
    if let Some(a) = m
        .avps
        .iter()
        .find(|a| a.flags & AVP_MANDATORY != 0 && !dict::BIR_AVPS.contains(&(a.code, a.vendor)))
    {
        return Err(failed(dict::DIAMETER_AVP_UNSUPPORTED, a.clone()));
    }
    for (c, v) in [
        (code::SESSION_ID, None),
        (code::VENDOR_SPECIFIC_APPLICATION_ID, None),
        (code::ORIGIN_HOST, None),
        (code::ORIGIN_REALM, None),
        (code::DESTINATION_REALM, None),
        (code::TRANSACTION_IDENTIFIER, Some(VENDOR_3GPP)),
        (code::NAF_ID, Some(VENDOR_3GPP)),
    ] {
        if m.avp(c, v).is_none() {
            return Err(failed(dict::DIAMETER_MISSING_AVP, missing(c, v)));
        }
    }
    let gba_u_aware = match m.avp(code::GBA_U_AWARENESS_INDICATOR, Some(VENDOR_3GPP)) {
        None => false,
        Some(a) => match a.as_u32() {
            Some(dict::GBA_U_AWARE_NO) => false,
            Some(dict::GBA_U_AWARE_YES) => true,
            _ => return Err(failed(dict::DIAMETER_INVALID_AVP_VALUE, a.clone())),
        },
    };
    let b_tid_avp = m.avp(code::TRANSACTION_IDENTIFIER, Some(VENDOR_3GPP));
    let Some(b_tid) = b_tid_avp.and_then(Avp::as_text) else {
        let bad = b_tid_avp
            .cloned()
            .unwrap_or_else(|| missing(code::TRANSACTION_IDENTIFIER, Some(VENDOR_3GPP)));
        return Err(failed(dict::DIAMETER_INVALID_AVP_VALUE, bad));
    };
    let naf_id = m
        .avp(code::NAF_ID, Some(VENDOR_3GPP))
        .map(|a| a.data.clone())
        .unwrap_or_default();
    Ok(ZnRequest {
        b_tid: b_tid.to_owned(),
        naf_id: gbau_core::hexutil::to_hex(&naf_id),
        gba_u_aware,
    })
}

/// A Zn refusal as the BIA's result AVPs (TS 29.109 Experimental-Result-Codes, or 5004 for
/// a NAF-Id that is not one), or the Result-Code of an E-bit answer when the store cannot
/// answer (3004 while it is unreachable, else 5012).
fn zn_error_avps(m: &Message, e: ZnError) -> Result<Vec<Avp>, u32> {
    let experimental = |c: u32| {
        vec![Avp::grouped(
            code::EXPERIMENTAL_RESULT,
            None,
            true,
            &[
                Avp::u32(code::VENDOR_ID, None, true, VENDOR_3GPP),
                Avp::u32(code::EXPERIMENTAL_RESULT_CODE, None, true, c),
            ],
        )]
    };
    match e {
        ZnError::UnknownBTid | ZnError::Expired => Ok(experimental(
            dict::DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID,
        )),
        ZnError::NotAuthorised { .. } => Ok(experimental(dict::DIAMETER_ERROR_NOT_AUTHORIZED)),
        ZnError::Malformed(why) => {
            let naf = m
                .avp(code::NAF_ID, Some(VENDOR_3GPP))
                .cloned()
                .unwrap_or_else(|| missing(code::NAF_ID, Some(VENDOR_3GPP)));
            let mut r = failed(dict::DIAMETER_INVALID_AVP_VALUE, naf);
            r.push(Avp::new(code::ERROR_MESSAGE, None, false, why.into_bytes()));
            Ok(r)
        }
        other if other.status().0 == 503 => Err(dict::DIAMETER_TOO_BUSY),
        _ => Err(dict::DIAMETER_UNABLE_TO_COMPLY),
    }
}

/// The BIA's key material and times (TS 29.109 §6.1.2): User-Name (IMPI), ME-Key-Material,
/// UICC-Key-Material (GBA_U to a GBA_U-aware NAF), Key-ExpiryTime, BootstrapInfoCreationTime,
/// GBA-UserSecSettings (when the subscriber has USSs), GBA-Type.
fn success_avps(a: &ZnAnswer) -> Vec<Avp> {
    let mut avps = vec![
        Avp::base(code::USER_NAME, a.impi.as_bytes().to_vec()),
        Avp::tgpp(code::ME_KEY_MATERIAL, a.ks_naf.expose().to_vec()),
    ];
    if let Some(int) = &a.ks_int_naf {
        avps.push(Avp::tgpp(code::UICC_KEY_MATERIAL, int.expose().to_vec()));
    }
    let t = |s: &str| gbau_core::time::parse_utc(s).unwrap_or(0);
    avps.push(Avp::time(
        code::KEY_EXPIRYTIME,
        Some(VENDOR_3GPP),
        t(&a.expiry),
    ));
    avps.push(Avp::time(
        code::BOOTSTRAPINFOCREATIONTIME,
        Some(VENDOR_3GPP),
        t(&a.bootstrapping_time),
    ));
    if let Some(uss) = &a.uss {
        avps.push(Avp::tgpp(
            code::GBA_USERSECSETTINGS,
            uss.as_bytes().to_vec(),
        ));
    }
    avps.push(Avp::u32(
        code::GBA_TYPE,
        Some(VENDOR_3GPP),
        true,
        dict::GBA_TYPE_3G,
    ));
    avps
}
