//! The NAF's Diameter Zn client (TS 29.109 §6.1): a capabilities exchange advertising Zn, then
//! one Bootstrapping-Info-Request per lookup, answered on the same connection. A few
//! connections are kept for reuse; a broken one is replaced once per lookup. The BSF's
//! Origin-Host and Origin-Realm from its CEA become the BIR's Destination-Host/Realm.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use gbau_core::identity::NafId;
use gbau_core::secret::{KsIntNaf, KsNaf};

use super::codec::{frame_len, Avp, Header, Message, FLAG_ERROR, FLAG_PROXIABLE, FLAG_REQUEST};
use super::dict::{self, code, VENDOR_3GPP};
use super::peer::zn_app;
use crate::bsf::core::ZnAnswer;
use crate::bsf::subscribers::GbaType;
use crate::zn::ZnClientError;

/// Connections kept open for reuse.
pub const POOL: usize = 8;
/// Time allowed for a connection, a write or an answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Who the NAF is on Diameter.
#[derive(Debug, Clone)]
pub struct NafIdentity {
    pub host: String,
    pub realm: String,
}

struct Conn {
    s: TcpStream,
    bsf_host: String,
    bsf_realm: String,
}

/// A Zn client over Diameter.
pub struct DiameterZnClient {
    addr: String,
    me: NafIdentity,
    idle: Mutex<Vec<Conn>>,
    next_id: AtomicU32,
    sessions: AtomicU64,
    state_id: u32,
}

impl std::fmt::Debug for DiameterZnClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiameterZnClient")
            .field("addr", &self.addr)
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

fn transport(e: impl std::fmt::Display) -> ZnClientError {
    ZnClientError::Transport(e.to_string())
}

fn read_message(s: &mut TcpStream) -> Result<Message, ZnClientError> {
    let mut first = [0u8; 4];
    s.read_exact(&mut first).map_err(transport)?;
    let len = frame_len(first).map_err(transport)?;
    let mut b = vec![0u8; len];
    b[..4].copy_from_slice(&first);
    s.read_exact(&mut b[4..]).map_err(transport)?;
    Message::decode(&b).map_err(transport)
}

/// The Result-Code, or the Experimental-Result-Code of an answer.
fn outcome(m: &Message) -> (Option<u32>, Option<u32>) {
    let rc = m.avp(code::RESULT_CODE, None).and_then(Avp::as_u32);
    let exp = m
        .avp(code::EXPERIMENTAL_RESULT, None)
        .and_then(|g| g.members().ok())
        .and_then(|ms| {
            ms.iter()
                .find(|a| a.is(code::EXPERIMENTAL_RESULT_CODE, None))
                .and_then(Avp::as_u32)
        });
    (rc, exp)
}

impl DiameterZnClient {
    /// For the BSF at `addr` (HOST:PORT, from a `diameter://HOST:PORT` URL).
    #[must_use]
    pub fn new(addr: &str, me: NafIdentity) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Self {
            addr: addr.to_owned(),
            me,
            idle: Mutex::new(Vec::new()),
            next_id: AtomicU32::new((nanos as u32) & 0x00FF_FFFF),
            sessions: AtomicU64::new(0),
            state_id: (nanos / 1_000_000_000) as u32,
        }
    }

    fn header(&self, command: u32, application: u32) -> Header {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Header {
            flags: FLAG_REQUEST
                | if command == dict::CMD_BIR {
                    FLAG_PROXIABLE
                } else {
                    0
                },
            command,
            application,
            hop_by_hop: id,
            end_to_end: id,
        }
    }

    fn origin(&self) -> [Avp; 2] {
        [
            Avp::base(code::ORIGIN_HOST, self.me.host.as_bytes().to_vec()),
            Avp::base(code::ORIGIN_REALM, self.me.realm.as_bytes().to_vec()),
        ]
    }

    /// Connect and exchange capabilities (RFC 6733 §5.3), advertising Zn.
    fn connect(&self) -> Result<Conn, ZnClientError> {
        use std::net::ToSocketAddrs;
        let addr = self
            .addr
            .to_socket_addrs()
            .map_err(|e| transport(format!("{}: {e}", self.addr)))?
            .next()
            .ok_or_else(|| transport(format!("{}: no address", self.addr)))?;
        let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)
            .map_err(|e| transport(format!("{}: {e}", self.addr)))?;
        s.set_read_timeout(Some(TIMEOUT)).map_err(transport)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(transport)?;
        s.set_nodelay(true).map_err(transport)?;
        let local = s.local_addr().map_err(transport)?.ip();
        let mut avps = self.origin().to_vec();
        avps.extend([
            Avp::address(code::HOST_IP_ADDRESS, local),
            Avp::u32(code::VENDOR_ID, None, true, super::peer::OUR_VENDOR_ID),
            Avp::new(code::PRODUCT_NAME, None, false, b"gbau".to_vec()),
            Avp::u32(code::ORIGIN_STATE_ID, None, true, self.state_id),
            Avp::u32(code::SUPPORTED_VENDOR_ID, None, true, VENDOR_3GPP),
            zn_app(),
        ]);
        let cer = Message {
            header: self.header(dict::CMD_CER, dict::APP_BASE),
            avps,
        };
        s.write_all(&cer.encode()).map_err(transport)?;
        let cea = read_message(&mut s)?;
        match outcome(&cea) {
            (Some(dict::DIAMETER_SUCCESS), _) => {}
            (rc, _) => {
                return Err(ZnClientError::Config(format!(
                    "the BSF at {} refused the capabilities exchange (Result-Code {rc:?})",
                    self.addr
                )))
            }
        }
        let text = |c| {
            cea.avp(c, None)
                .and_then(Avp::as_text)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Conn {
            s,
            bsf_host: text(code::ORIGIN_HOST),
            bsf_realm: text(code::ORIGIN_REALM),
        })
    }

    fn bir(&self, c: &Conn, b_tid: &str, naf_id: &NafId, session: &str) -> Message {
        let mut avps = vec![
            Avp::base(code::SESSION_ID, session.as_bytes().to_vec()),
            zn_app(),
        ];
        avps.extend(self.origin());
        avps.push(Avp::base(
            code::DESTINATION_REALM,
            c.bsf_realm.as_bytes().to_vec(),
        ));
        avps.push(Avp::base(
            code::DESTINATION_HOST,
            c.bsf_host.as_bytes().to_vec(),
        ));
        avps.push(Avp::tgpp(
            code::TRANSACTION_IDENTIFIER,
            b_tid.as_bytes().to_vec(),
        ));
        avps.push(Avp::tgpp(code::NAF_ID, naf_id.to_bytes()));
        avps.push(Avp::u32(
            code::GBA_U_AWARENESS_INDICATOR,
            Some(VENDOR_3GPP),
            true,
            dict::GBA_U_AWARE_YES,
        ));
        Message {
            header: self.header(dict::CMD_BIR, dict::APP_ZN),
            avps,
        }
    }

    /// One BIR/BIA on `c`.
    fn exchange(
        &self,
        c: &mut Conn,
        b_tid: &str,
        naf_id: &NafId,
    ) -> Result<Message, ZnClientError> {
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let session = format!("{};{};{n}", self.me.host, self.state_id);
        let bir = self.bir(c, b_tid, naf_id, &session);
        c.s.write_all(&bir.encode()).map_err(transport)?;
        loop {
            let m = read_message(&mut c.s)?;
            if m.header.is_request() {
                // A watchdog from the BSF: answer it and keep waiting.
                if m.header.command == dict::CMD_DWR {
                    let mut avps = vec![Avp::u32(
                        code::RESULT_CODE,
                        None,
                        true,
                        dict::DIAMETER_SUCCESS,
                    )];
                    avps.extend(self.origin());
                    let dwa = Message {
                        header: m.header.answer(false),
                        avps,
                    };
                    c.s.write_all(&dwa.encode()).map_err(transport)?;
                }
                continue;
            }
            if m.header.hop_by_hop == bir.header.hop_by_hop {
                return Ok(m);
            }
        }
    }
}

/// The NAF's view of a BIA.
fn to_answer(m: &Message) -> Result<ZnAnswer, ZnClientError> {
    let refused = |status: u16, code: &str, message: String| ZnClientError::Refused {
        status,
        code: code.to_owned(),
        message,
    };
    match outcome(m) {
        (Some(dict::DIAMETER_SUCCESS), _) if m.header.flags & FLAG_ERROR == 0 => {}
        (
            _,
            Some(
                dict::DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID
                | dict::DIAMETER_ERROR_IMPI_UNKNOWN,
            ),
        ) => return Err(refused(
            404,
            "unknown_b_tid",
            "unknown or expired B-TID (Experimental-Result-Code 5403): the UE must bootstrap again"
                .into(),
        )),
        (_, Some(dict::DIAMETER_ERROR_NOT_AUTHORIZED)) => {
            return Err(refused(
                403,
                "naf_not_authorised",
                "the BSF does not authorise this NAF for that NAF-Id (5402)".into(),
            ))
        }
        (rc, exp) => {
            let why = m
                .avp(code::ERROR_MESSAGE, None)
                .and_then(Avp::as_text)
                .unwrap_or_default();
            return Err(refused(
                502,
                "diameter_error",
                format!("Result-Code {rc:?}, Experimental-Result-Code {exp:?}: {why}"),
            ));
        }
    }
    let tgpp = |c| m.avp(c, Some(VENDOR_3GPP));
    let malformed = |what: &str| {
        refused(
            502,
            "malformed_answer",
            format!("the BIA's {what} is missing or malformed"),
        )
    };
    let ks_naf = tgpp(code::ME_KEY_MATERIAL)
        .and_then(|a| KsNaf::from_slice(&a.data).ok())
        .ok_or_else(|| malformed("ME-Key-Material"))?;
    let ks_int_naf = match tgpp(code::UICC_KEY_MATERIAL) {
        None => None,
        Some(a) => Some(KsIntNaf::from_slice(&a.data).map_err(|_| malformed("UICC-Key-Material"))?),
    };
    let time = |c| {
        tgpp(c)
            .and_then(Avp::as_unix_time)
            .map(gbau_core::time::format_utc)
    };
    Ok(ZnAnswer {
        impi: m
            .avp(code::USER_NAME, None)
            .and_then(Avp::as_text)
            .ok_or_else(|| malformed("User-Name"))?
            .to_owned(),
        // GBA_U shows as UICC-Key-Material, which a GBA_U-aware NAF gets for GBA_U sessions
        // only (TS 33.220 §4.5.3).
        gba_type: if ks_int_naf.is_some() {
            GbaType::GbaU
        } else {
            GbaType::GbaMe
        },
        ks_naf,
        ks_int_naf,
        bootstrapping_time: time(code::BOOTSTRAPINFOCREATIONTIME).unwrap_or_default(),
        expiry: time(code::KEY_EXPIRYTIME).ok_or_else(|| malformed("Key-ExpiryTime"))?,
        uss: tgpp(code::GBA_USERSECSETTINGS)
            .and_then(Avp::as_text)
            .map(str::to_owned),
    })
}

impl crate::naf::KeySource for DiameterZnClient {
    fn key(&self, b_tid: &str, naf_id: &NafId) -> Result<ZnAnswer, ZnClientError> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut c = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let m = match self.exchange(&mut c, b_tid, naf_id) {
            Ok(m) => m,
            // The BSF may have closed an idle connection: one new one.
            Err(_) => {
                c = self.connect()?;
                self.exchange(&mut c, b_tid, naf_id)?
            }
        };
        if let Ok(mut v) = self.idle.lock() {
            if v.len() < POOL {
                v.push(c);
            }
        }
        to_answer(&m)
    }
}
