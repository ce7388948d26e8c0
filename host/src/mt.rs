//! `gbau mt serve`: the MT's local-interface service (seed 001 §5.5). It answers B-TID and
//! NAF Key Center list from the card, bootstraps on request, derives and stores Ks_local_MT
//! per (MT, device) pair durably, and proves it holds a stored key without revealing it.

use std::path::{Path, PathBuf};

use gbau_core::hexutil::to_hex;
use gbau_core::identity::{BTid, NafId};

use crate::cmd::impi_of;
use crate::error::CmdError;
pub use crate::local::{connect, open_serial, Stream};
use crate::local::{read_frame, write_frame, Answer, FrameError, KeyProof, Request};
use crate::mt_keys::KeyTable;
pub use crate::mt_keys::StoredKey;
use crate::session::{ready, LockedUsim, Session};
use crate::ub::GbaMode;
use crate::ub::ResEncoding;
use gbau_core::identity::Impi;

/// The MT service.
pub struct Mt {
    session: Session,
    bsf: Option<String>,
    keys: KeyTable,
    /// The card's GBA mode and IMPI, read once (they change only with the card).
    facts: Option<(GbaMode, Impi)>,
    /// The card's NAF Key Centers (EF_NAFKCA), read once.
    key_centers: Option<Vec<String>>,
}

impl std::fmt::Debug for Mt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mt")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// The valid B-TID and its lifetime: EF_GBABP on a GBA_U card, the MT's own store with
/// GBA_ME.
fn valid_b_tid(
    u: &mut LockedUsim<'_>,
    mode: GbaMode,
    impi: &Impi,
) -> Result<Option<(String, String)>, CmdError> {
    let now = crate::util::unix_now();
    match mode {
        GbaMode::GbaU => {
            let p = crate::ub::card_gbabp(u, impi.as_str())?;
            let valid = !p.b_tid.is_empty()
                && gbau_core::time::parse_utc(&p.lifetime).is_some_and(|t| t > now);
            Ok(valid.then_some((p.b_tid, p.lifetime)))
        }
        GbaMode::GbaMe => Ok(crate::me_store::get(impi.as_str())
            .map_err(CmdError::Ub)?
            .filter(|s| s.valid(now))
            .map(|s| (s.b_tid, s.lifetime))),
    }
}

/// Ks_local_MT for (B-TID, NAF_Id of the Key Center, Device_ID) from Ks_(ext)_NAF, on the
/// card (GBA_U) or in the MT (GBA_ME).
fn ks_local_mt(
    u: &mut LockedUsim<'_>,
    mode: GbaMode,
    impi: &Impi,
    kc: &gbau_core::identity::NafId,
    b_tid: &str,
    device_id: &str,
) -> Result<gbau_core::secret::KsLocalMt, CmdError> {
    let bt = BTid::new(b_tid).map_err(|e| CmdError::Mismatch(e.to_string()))?;
    let ext = crate::ua::naf_key(u, mode, impi, kc)?;
    gbau_core::kdf::ks_local_mt(&ext, &bt, kc, device_id)
        .map_err(|e| CmdError::Mismatch(e.to_string()))
}

impl Mt {
    /// An MT service on an open card, with its key store file.
    pub fn new(session: Session, bsf: Option<String>, store: PathBuf) -> Result<Self, String> {
        Ok(Self {
            session,
            bsf,
            keys: KeyTable::open(store)?,
            facts: None,
            key_centers: None,
        })
    }

    /// Run `f` on the card held, the USIM ready, with its GBA mode and IMPI.
    fn on_card<R>(
        &mut self,
        f: impl FnOnce(&mut LockedUsim<'_>, GbaMode, &Impi) -> Result<R, CmdError>,
    ) -> Result<R, CmdError> {
        let pin = self.session.pin.clone();
        let mut facts = self.facts.take();
        let r = self.session.with_card(|u| -> Result<_, CmdError> {
            ready(u, pin.as_deref())?;
            let (mode, impi) = match facts.take() {
                Some(f) => f,
                None => (crate::ub::card_mode(u)?, impi_of(u, None)?),
            };
            facts = Some((mode, impi.clone()));
            f(u, mode, &impi)
        });
        if r.is_ok() {
            self.facts = facts;
        }
        r
    }
    /// Answer one request.
    pub fn handle(&mut self, req: Request) -> Answer {
        match self.try_handle(req) {
            Ok(a) => a,
            Err(e) => Answer::error("mt_error", e.to_string()),
        }
    }

    fn try_handle(&mut self, req: Request) -> Result<Answer, CmdError> {
        match req {
            Request::Info => self.info(),
            Request::Bootstrap {
                naf_id,
                device_id,
                replace,
            } => self.bootstrap(naf_id, device_id, replace.as_ref()),
            Request::Establish {
                naf_id,
                device_id,
                b_tid,
                replace,
            } => self.establish(naf_id, device_id, b_tid.as_deref(), replace.as_ref()),
            Request::Complete {
                device_id,
                key_lifetime,
            } => self
                .keys
                .complete(&device_id, &key_lifetime)
                .map_err(CmdError::Mismatch),
            Request::KeyCheck { device_id, nonce } => Ok(self.keys.key_check(&device_id, &nonce)),
            Request::KeyConfirm {
                device_id,
                nonce,
                nonce_mt,
                proof: got,
            } => Ok(self.keys.key_confirm(&device_id, &nonce, &nonce_mt, &got)),
        }
    }

    /// The valid B-TID and lifetime, and the NAF Key Centers of EF_NAFKCA.
    fn info(&mut self) -> Result<Answer, CmdError> {
        let (b, kcs) =
            self.on_card(|u, mode, impi| Ok((valid_b_tid(u, mode, impi)?, u.naf_key_centers()?)))?;
        Ok(Answer {
            ok: true,
            b_tid: b.as_ref().map(|x| x.0.clone()),
            lifetime: b.map(|x| x.1),
            naf_key_centers: Some(kcs),
            ..Answer::default()
        })
    }

    /// A GBA run on request. With NAF_ID and Device_ID, the complete GBA run of the full
    /// procedure's step 6 (seed 001 §5.5.2 steps 7-10): bootstrap, then Ks_local_MT.
    fn bootstrap(
        &mut self,
        naf_id: Option<String>,
        device_id: Option<String>,
        replace: Option<&KeyProof>,
    ) -> Result<Answer, CmdError> {
        // The pair is admitted before the card bootstraps: a refused request changes nothing.
        let kc = match (&naf_id, &device_id) {
            (Some(n), Some(d)) => match self.admit(n, d, replace)? {
                Ok(kc) => Some(kc),
                Err(a) => return Ok(a),
            },
            _ => None,
        };
        let bsf = self.bsf.clone();
        let pin = self.session.pin.clone();
        let b = self.session.with_card(|u| -> Result<_, CmdError> {
            ready(u, pin.as_deref())?;
            Ok(crate::ub::bootstrap_over_http(u, bsf.as_deref(), ResEncoding::Raw)?.1)
        })?;
        match (naf_id, device_id, kc) {
            (Some(naf_id), Some(device_id), Some(kc)) => {
                self.derive(naf_id, device_id, &kc, (b.b_tid, b.lifetime))
            }
            (None, None, _) => Ok(Answer {
                ok: true,
                b_tid: Some(b.b_tid),
                lifetime: Some(b.lifetime),
                ..Answer::default()
            }),
            _ => Ok(Answer::error(
                "malformed_request",
                "bootstrap takes both naf_id and device_id, or neither",
            )),
        }
    }

    /// The optimized procedure's step 6 (seed 001 §5.5.3 steps 6-8): Ks_local_MT from the
    /// valid B-TID, which must be the one the device was given.
    fn establish(
        &mut self,
        naf_id: String,
        device_id: String,
        b_tid: Option<&str>,
        replace: Option<&KeyProof>,
    ) -> Result<Answer, CmdError> {
        let kc = match self.admit(&naf_id, &device_id, replace)? {
            Ok(kc) => kc,
            Err(a) => return Ok(a),
        };
        let derived = self.on_card(|u, mode, impi| {
            let Some(valid) = valid_b_tid(u, mode, impi)? else {
                return Ok(Err(Answer::error(
                    "bootstrap_required",
                    "no valid B-TID: ask for a bootstrap first",
                )));
            };
            if let Some(given) = b_tid.filter(|b| *b != valid.0) {
                return Ok(Err(Answer::error(
                    "b_tid_mismatch",
                    format!(
                        "the device names B-TID {given}, the MT's valid B-TID is {}: ask for info again",
                        valid.0
                    ),
                )));
            }
            let key = ks_local_mt(u, mode, impi, &kc, &valid.0, &device_id)?;
            Ok(Ok((valid, key)))
        })?;
        match derived {
            Ok((valid, key)) => self.keep_pending(naf_id, device_id, &kc, valid, &key),
            Err(a) => Ok(a),
        }
    }

    /// Keys only for a NAF Key Center the card lists in EF_NAFKCA (TS 31.102 §4.2.81): a
    /// local process cannot make the MT derive keys for any NAF it names. The list is read
    /// once.
    fn unlisted(&mut self, naf_id: &str) -> Result<Option<Answer>, CmdError> {
        if self.key_centers.is_none() {
            self.key_centers = Some(self.on_card(|u, _, _| Ok(u.naf_key_centers()?))?);
        }
        let listed = self
            .key_centers
            .as_ref()
            .is_some_and(|l| l.iter().any(|k| k == naf_id));
        Ok((!listed).then(|| {
            Answer::error(
                "naf_id_not_listed",
                format!("{naf_id} is not a NAF Key Center of this card (EF_NAFKCA)"),
            )
        }))
    }

    /// May the MT derive a key for this pair? The Key Center's NAF_Id when yes; the refusal
    /// when the Device_ID is malformed, the Key Center not listed in EF_NAFKCA, or the device
    /// has a usable key and the request does not prove it.
    fn admit(
        &mut self,
        naf_id: &str,
        device_id: &str,
        replace: Option<&KeyProof>,
    ) -> Result<Result<NafId, Answer>, CmdError> {
        let kc = gbau_core::local_key::naf_id(naf_id).map_err(CmdError::Mismatch)?;
        if device_id.is_empty() || device_id.len() > 255 {
            return Ok(Err(Answer::error(
                "malformed_request",
                "device_id must be 1 to 255 octets",
            )));
        }
        if let Some(a) = self.unlisted(naf_id)? {
            return Ok(Err(a));
        }
        Ok(self
            .keys
            .may_replace(device_id, replace)
            .map_or(Ok(kc), Err))
    }

    /// Ks_local_MT from the B-TID just bootstrapped (full procedure, steps 7-10).
    fn derive(
        &mut self,
        naf_id: String,
        device_id: String,
        kc: &NafId,
        valid: (String, String),
    ) -> Result<Answer, CmdError> {
        let key =
            self.on_card(|u, mode, impi| ks_local_mt(u, mode, impi, kc, &valid.0, &device_id))?;
        self.keep_pending(naf_id, device_id, kc, valid, &key)
    }

    /// Store the key durably, pending until the device says the establishment completed.
    /// One key per MT-device pair (seed 001 §5.4.6).
    fn keep_pending(
        &mut self,
        naf_id: String,
        device_id: String,
        kc: &NafId,
        (b_tid, lifetime): (String, String),
        key: &gbau_core::secret::KsLocalMt,
    ) -> Result<Answer, CmdError> {
        let stored = StoredKey {
            ks_local_mt: key.clone(),
            b_tid: b_tid.clone(),
            naf_id: to_hex(&kc.to_bytes()),
            lifetime: lifetime.clone(),
            pending: true,
        };
        self.keys
            .keep_pending(device_id, stored)
            .map_err(CmdError::Mismatch)?;
        Ok(Answer {
            ok: true,
            b_tid: Some(b_tid),
            lifetime: Some(lifetime),
            naf_id: Some(naf_id),
            ..Answer::default()
        })
    }

    /// Give the card session back.
    #[must_use]
    pub fn into_session(self) -> Session {
        self.session
    }

    /// The stored key of a device, for reports.
    #[must_use]
    pub fn stored(&self, device_id: &str) -> Option<&StoredKey> {
        self.keys.get(device_id)
    }

    /// Serve one connection until it closes. Garbage gets an error frame; an oversized frame
    /// ends the connection (the stream cannot be resynchronised).
    pub fn serve_connection(&mut self, s: &mut Stream) {
        serve_frames(s, |r| Some(self.handle(r)));
    }
}

/// Read requests and write answers on one connection until it closes; `handle` answers a
/// request (`None`: stop).
fn serve_frames(s: &mut Stream, mut handle: impl FnMut(Request) -> Option<Answer>) {
    loop {
        let payload = match read_frame(s) {
            Ok(p) => p,
            Err(FrameError::TooLong(n)) => {
                let _ = write_frame(
                    s,
                    &serde_json::to_vec(&Answer::error("frame_too_long", format!("{n} bytes")))
                        .unwrap_or_default(),
                );
                return;
            }
            Err(_) => return,
        };
        let answer = match serde_json::from_slice::<Request>(&payload) {
            Ok(r) => match handle(r) {
                Some(a) => a,
                None => return,
            },
            Err(e) => Answer::error("malformed_frame", e.to_string()),
        };
        if write_frame(s, &serde_json::to_vec(&answer).unwrap_or_default()).is_err() {
            return;
        }
    }
}

/// How long a device may stay silent on an open connection before the MT closes it.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Devices served at once; further connections are closed at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Serve each connection in its own thread, at most [`MAX_CONNECTIONS`] at once: frames are
/// read there, so an idle or slow device does not block the others, while the MT (and its
/// card) stays on this thread and answers one request at a time.
fn serve_concurrently(
    mut mt: Mt,
    incoming: impl Iterator<Item = Stream> + Send + 'static,
) -> Result<(), String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::sync::Arc;
    type Job = (Request, mpsc::Sender<Answer>);
    let (jobs, queue) = mpsc::channel::<Job>();
    std::thread::spawn(move || {
        let open = Arc::new(AtomicUsize::new(0));
        for mut c in incoming {
            if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!("{MAX_CONNECTIONS} devices connected already: connection refused");
                continue;
            }
            let (jobs, open) = (jobs.clone(), open.clone());
            std::thread::spawn(move || {
                serve_frames(&mut c, |r| {
                    let (reply, answer) = mpsc::channel();
                    jobs.send((r, reply)).ok()?;
                    answer.recv().ok()
                });
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    for (request, reply) in queue {
        let _ = reply.send(mt.handle(request));
    }
    Err("the listener stopped".into())
}

/// Listen on `unix:PATH`, `tcp:127.0.0.1:PORT` or `serial:DEVICE` and serve devices until the
/// process ends.
pub fn serve(mt: Mt, local: &str, ready: impl FnOnce(String)) -> Result<(), String> {
    serve_for(mt, local, &[], ready)
}

/// The peer of a Unix connection is allowed: any user when `allowed` is empty, else one of
/// those user ids (SO_PEERCRED, checked by the kernel).
fn peer_allowed(c: &std::os::unix::net::UnixStream, allowed: &[u32]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    match rustix::net::sockopt::socket_peercred(c) {
        Ok(cred) if allowed.contains(&cred.uid.as_raw()) => true,
        Ok(cred) => {
            tracing::warn!(
                uid = cred.uid.as_raw(),
                "local interface: a process of a user not allowed connected: closed"
            );
            false
        }
        Err(e) => {
            tracing::warn!("local interface: no peer credentials ({e}): closed");
            false
        }
    }
}

/// [`serve`], with Unix-socket peers limited to the user ids in `allowed` (none: any).
pub fn serve_for(
    mut mt: Mt,
    local: &str,
    allowed: &[u32],
    ready: impl FnOnce(String),
) -> Result<(), String> {
    if !allowed.is_empty() && !local.starts_with("unix:") {
        return Err(format!(
            "{local:?}: an allow-list of peer users needs a Unix socket (unix:PATH)"
        ));
    }
    let allowed = allowed.to_vec();
    let timeout = |s: Stream| -> Stream {
        let _ = match &s {
            Stream::Unix(c) => c.set_read_timeout(Some(IDLE_TIMEOUT)),
            Stream::Tcp(c) => c.set_read_timeout(Some(IDLE_TIMEOUT)),
            Stream::Serial(_) => Ok(()),
        };
        s
    };
    match local.split_once(':') {
        Some(("unix", path)) => {
            let l = bind_unix(path)?;
            ready(format!("unix:{path}"));
            serve_concurrently(
                mt,
                std::iter::from_fn(move || Some(l.accept()))
                    .filter_map(Result::ok)
                    .filter(move |(c, _)| peer_allowed(c, &allowed))
                    .map(move |(c, _)| timeout(Stream::Unix(c))),
            )?;
        }
        Some(("tcp", hp)) => {
            let l = bind_tcp(hp)?;
            let a = l.local_addr().map_err(|e| e.to_string())?;
            ready(format!("tcp:{a}"));
            serve_concurrently(
                mt,
                std::iter::from_fn(move || Some(l.accept()))
                    .filter_map(Result::ok)
                    .map(move |(c, _)| {
                        let _ = c.set_nodelay(true);
                        timeout(Stream::Tcp(c))
                    }),
            )?;
        }
        Some(("serial", path)) => {
            // One line, one peer: serve it, and reopen when it closes.
            ready(format!("serial:{path}"));
            loop {
                let f = open_serial(path).map_err(|e| format!("{path}: {e}"))?;
                mt.serve_connection(&mut Stream::Serial(f));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        _ => {
            return Err(format!(
                "{local:?}: use unix:PATH, tcp:127.0.0.1:PORT or serial:DEVICE"
            ))
        }
    }
    Ok(())
}

/// Bind the local interface: a Unix socket (its folder made 0700, the socket 0600; an old
/// path removed only when it is a socket) or TCP on a loopback address only.
fn bind_unix(path: &str) -> Result<std::os::unix::net::UnixListener, String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let p = Path::new(path);
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        gbau_card::store::create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(p).map_err(|e| format!("{path}: {e}"))?;
        }
        Ok(_) => return Err(format!("{path} exists and is not a socket: not removed")),
        Err(_) => {}
    }
    let l = std::os::unix::net::UnixListener::bind(p).map_err(|e| format!("{path}: {e}"))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(l)
}

fn bind_tcp(hp: &str) -> Result<std::net::TcpListener, String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = hp
        .to_socket_addrs()
        .map_err(|e| format!("{hp}: {e}"))?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "{hp}: the local interface listens on loopback addresses only (127.0.0.1, ::1)"
        ));
    }
    std::net::TcpListener::bind(&addrs[..]).map_err(|e| format!("{hp}: {e}"))
}

/// Serve connections on a bound Unix listener until `stop` is set, then give the service
/// back (the demo runs the device in another thread and stops the MT when it is done).
pub fn serve_until(
    mut mt: Mt,
    listener: &std::os::unix::net::UnixListener,
    stop: &std::sync::atomic::AtomicBool,
) -> Mt {
    let _ = listener.set_nonblocking(true);
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        match listener.accept() {
            Ok((c, _)) => {
                let _ = c.set_nonblocking(false);
                mt.serve_connection(&mut Stream::Unix(c));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
    mt
}
