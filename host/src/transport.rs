//! Transports: one trait with one method, and the PC/SC and in-process implementations.
//! Response chaining (61xx/6Cxx/9Fxx) is done once above them, in `gbau_core::exchange`.

use std::ffi::CString;
use std::time::{Duration, Instant};

use gbau_card::SoftCard;

/// A way to send one APDU to a card and get its raw response.
pub trait Transport {
    /// Send raw command bytes, return raw response bytes (data ‖ SW1 SW2).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
}

/// A card link that can be held for one program across several APDUs: a PC/SC
/// transaction for readers (other programs wait), nothing to do for the in-process card.
pub trait CardLink: Transport {
    /// Run `f` with the card held.
    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Transport)) -> Result<(), TransportError>;
    /// The card's ATR.
    fn atr(&self) -> Result<Vec<u8>, TransportError>;
}

/// Transport failures, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("no PC/SC service ({0}); is pcscd running?")]
    NoService(String),
    #[error("no smart card reader found; is a reader plugged in (or the virtual reader vpcd installed)?")]
    NoReaders,
    #[error("no reader matches {wanted:?}; readers: {available}")]
    NoReader { wanted: String, available: String },
    #[error("no card in reader {reader:?} after {secs} s")]
    NoCard { reader: String, secs: u64 },
    #[error("the card was removed from {reader:?}")]
    Removed { reader: String },
    #[error("reader {reader:?} is in exclusive use by another program")]
    Sharing { reader: String },
    #[error("PC/SC error on {reader:?}: {error}")]
    Pcsc { reader: String, error: String },
    #[error("soft card: {0}")]
    SoftCard(String),
    #[error("replay: expected command {expected}, got {got}")]
    ReplayMismatch { expected: String, got: String },
    #[error("replay: no more recorded exchanges (command {got})")]
    ReplayExhausted { got: String },
}

/// A reader and whether it holds a card.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReaderInfo {
    pub index: usize,
    pub name: String,
    pub card_present: bool,
}

fn establish() -> Result<pcsc::Context, TransportError> {
    pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|e| TransportError::NoService(e.to_string()))
}

fn reader_names(ctx: &pcsc::Context) -> Result<Vec<String>, TransportError> {
    let len = match ctx.list_readers_len() {
        Ok(n) => n,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(TransportError::NoService(e.to_string())),
    };
    let mut buf = vec![0u8; len];
    match ctx.list_readers(&mut buf) {
        Ok(names) => Ok(names.map(|n| n.to_string_lossy().into_owned()).collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(TransportError::NoService(e.to_string())),
    }
}

/// All readers with card presence.
pub fn list_readers() -> Result<Vec<ReaderInfo>, TransportError> {
    let ctx = establish()?;
    let names = reader_names(&ctx)?;
    let mut states: Vec<pcsc::ReaderState> = names
        .iter()
        .filter_map(|n| CString::new(n.as_str()).ok())
        .map(|n| pcsc::ReaderState::new(n, pcsc::State::UNAWARE))
        .collect();
    if !states.is_empty() {
        match ctx.get_status_change(Duration::from_millis(0), &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(TransportError::NoService(e.to_string())),
        }
    }
    Ok(states
        .iter()
        .enumerate()
        .map(|(index, s)| ReaderInfo {
            index,
            name: s.name().to_string_lossy().into_owned(),
            card_present: s.event_state().contains(pcsc::State::PRESENT),
        })
        .collect())
}

/// Pick a reader by exact name, then unique substring, then index.
pub fn choose_reader(names: &[String], wanted: &str) -> Result<String, TransportError> {
    if names.is_empty() {
        return Err(TransportError::NoReaders);
    }
    if let Some(n) = names.iter().find(|n| n.as_str() == wanted) {
        return Ok(n.clone());
    }
    let matching: Vec<&String> = names
        .iter()
        .filter(|n| n.to_lowercase().contains(&wanted.to_lowercase()))
        .collect();
    if matching.len() == 1 {
        return Ok(matching[0].clone());
    }
    if let Ok(i) = wanted.parse::<usize>() {
        if let Some(n) = names.get(i) {
            return Ok(n.clone());
        }
    }
    Err(TransportError::NoReader {
        wanted: wanted.to_owned(),
        available: names.join(", "),
    })
}

/// A card in a PC/SC reader.
pub struct PcscTransport {
    _ctx: pcsc::Context,
    card: pcsc::Card,
    reader: String,
    buf: Vec<u8>,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl PcscTransport {
    /// Connect to the card in the reader `wanted` names, waiting up to `wait` for a card.
    pub fn connect(wanted: &str, wait: Duration) -> Result<Self, TransportError> {
        let ctx = establish()?;
        let reader = choose_reader(&reader_names(&ctx)?, wanted)?;
        let c_reader = CString::new(reader.as_str()).map_err(|_| TransportError::NoReader {
            wanted: wanted.into(),
            available: reader.clone(),
        })?;
        let deadline = Instant::now() + wait;
        let mut states = [pcsc::ReaderState::new(
            c_reader.clone(),
            pcsc::State::UNAWARE,
        )];
        // The first query with UNAWARE answers at once with the reader's state.
        match ctx.get_status_change(Duration::from_millis(0), &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => {
                return Err(TransportError::Pcsc {
                    reader,
                    error: e.to_string(),
                })
            }
        }
        while !states[0].event_state().contains(pcsc::State::PRESENT) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::NoCard {
                    reader,
                    secs: wait.as_secs(),
                });
            }
            states[0].sync_current_state();
            match ctx.get_status_change(left.min(Duration::from_millis(500)), &mut states) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => {
                    return Err(TransportError::Pcsc {
                        reader,
                        error: e.to_string(),
                    })
                }
            }
        }
        let card = ctx
            .connect(&c_reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(|e| map_err(&reader, e))?;
        Ok(Self {
            _ctx: ctx,
            card,
            reader,
            buf: vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        })
    }

    /// The reader's name.
    #[must_use]
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The card's ATR.
    pub fn atr(&self) -> Result<Vec<u8>, TransportError> {
        let mut names = [0u8; 2048];
        let mut atr = [0u8; pcsc::MAX_ATR_SIZE];
        let status = self
            .card
            .status2(&mut names, &mut atr)
            .map_err(|e| map_err(&self.reader, e))?;
        Ok(status.atr().to_vec())
    }
}

fn map_err(reader: &str, e: pcsc::Error) -> TransportError {
    let reader = reader.to_owned();
    match e {
        pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard | pcsc::Error::ResetCard => {
            TransportError::Removed { reader }
        }
        pcsc::Error::SharingViolation => TransportError::Sharing { reader },
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => {
            TransportError::NoService(e.to_string())
        }
        other => TransportError::Pcsc {
            reader,
            error: other.to_string(),
        },
    }
}

/// The card inside a PC/SC transaction.
struct Locked<'a> {
    card: &'a pcsc::Card,
    buf: &'a mut Vec<u8>,
    reader: &'a str,
}

impl Transport for Locked<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let r = self
            .card
            .transmit(apdu, self.buf)
            .map_err(|e| map_err(self.reader, e))?;
        Ok(r.to_vec())
    }
}

impl CardLink for PcscTransport {
    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Transport)) -> Result<(), TransportError> {
        let reader = self.reader.clone();
        let tx = self.card.transaction().map_err(|e| map_err(&reader, e))?;
        let mut locked = Locked {
            card: &tx,
            buf: &mut self.buf,
            reader: &reader,
        };
        f(&mut locked);
        tx.end(pcsc::Disposition::LeaveCard)
            .map_err(|(_, e)| map_err(&reader, e))
    }

    fn atr(&self) -> Result<Vec<u8>, TransportError> {
        PcscTransport::atr(self)
    }
}

impl CardLink for SoftTransport {
    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Transport)) -> Result<(), TransportError> {
        f(self);
        Ok(())
    }

    fn atr(&self) -> Result<Vec<u8>, TransportError> {
        Ok(self.card.atr())
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let r = self
            .card
            .transmit(apdu, &mut self.buf)
            .map_err(|e| map_err(&self.reader, e))?;
        Ok(r.to_vec())
    }
}

/// The soft card in this process: the embedded default, no pcscd needed.
#[derive(Debug)]
pub struct SoftTransport {
    pub card: SoftCard,
}

impl Transport for SoftCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        SoftCard::transmit(self, apdu).map_err(|e| TransportError::SoftCard(e.to_string()))
    }
}

impl Transport for SoftTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.card
            .transmit(apdu)
            .map_err(|e| TransportError::SoftCard(e.to_string()))
    }
}

/// Records every exchange of the transport it wraps.
#[derive(Debug)]
pub struct Recorder<T: Transport> {
    pub inner: T,
    pub exchanges: Vec<(Vec<u8>, Vec<u8>)>,
}

impl<T: Transport> Recorder<T> {
    /// Start recording.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            exchanges: Vec::new(),
        }
    }

    /// The recording as an APDU script of raw exchanges (`>!` / `<`), replayable by
    /// [`Replay`] and runnable by `gbau run`.
    #[must_use]
    pub fn to_script(&self) -> String {
        let mut s = String::from("# recorded by gbau\n");
        for (c, r) in &self.exchanges {
            s.push_str(&format!(
                ">! {}\n< {}\n",
                gbau_core::apdu::spaced_hex(c),
                gbau_core::apdu::spaced_hex(r)
            ));
        }
        s
    }
}

impl<T: Transport> Transport for Recorder<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let r = self.inner.transmit(apdu)?;
        self.exchanges.push((apdu.to_vec(), r.clone()));
        Ok(r)
    }
}

/// Plays a recording back: each command must be the recorded one, in order.
#[derive(Debug)]
pub struct Replay {
    exchanges: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
}

impl Replay {
    /// From recorded exchanges.
    #[must_use]
    pub fn new(exchanges: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        Self {
            exchanges: exchanges.into(),
        }
    }

    /// From a script written by [`Recorder::to_script`] (raw `>!` and exact `<` lines only).
    pub fn from_script(text: &str) -> Result<Self, String> {
        let lines = gbau_core::script::parse(text, "recording").map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut pending: Option<Vec<u8>> = None;
        for l in lines {
            match l.step {
                gbau_core::script::Step::Send { apdu, raw: true } => {
                    pending = Some(
                        gbau_core::hexutil::parse_hex(&apdu)
                            .map_err(|e| format!("line {}: {e}", l.number))?,
                    );
                }
                gbau_core::script::Step::Expect(resp) => {
                    let c = pending
                        .take()
                        .ok_or_else(|| format!("line {}: response without command", l.number))?;
                    let r = gbau_core::hexutil::parse_hex(&resp)
                        .map_err(|e| format!("line {}: {e}", l.number))?;
                    out.push((c, r));
                }
                _ => {
                    return Err(format!(
                        "line {}: a recording holds only >! and < lines",
                        l.number
                    ))
                }
            }
        }
        Ok(Self::new(out))
    }

    /// Exchanges not yet played.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.exchanges.len()
    }
}

impl Transport for Replay {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let got = gbau_core::apdu::spaced_hex(apdu);
        let (c, r) = self
            .exchanges
            .pop_front()
            .ok_or_else(|| TransportError::ReplayExhausted { got: got.clone() })?;
        if c != apdu {
            return Err(TransportError::ReplayMismatch {
                expected: gbau_core::apdu::spaced_hex(&c),
                got,
            });
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_then_replay_the_same_conversation() {
        let profile = gbau_card::Profile::from_yaml(gbau_card::profile::EMBEDDED_PROFILE).unwrap();
        let soft = SoftTransport {
            card: SoftCard::in_memory(profile).unwrap(),
        };
        let mut usim = crate::usim::Usim::new(Recorder::new(soft));
        usim.select_usim().unwrap();
        usim.verify_pin1("1234").unwrap();
        let imsi = usim.imsi().unwrap();
        let script = usim.into_transport().to_script();
        let mut replayed = crate::usim::Usim::new(Replay::from_script(&script).unwrap());
        replayed.select_usim().unwrap();
        replayed.verify_pin1("1234").unwrap();
        assert_eq!(replayed.imsi().unwrap(), imsi);
        assert_eq!(replayed.into_transport().remaining(), 0);
        let mut again = Replay::from_script(&script).unwrap();
        let e = again
            .transmit(&[0x00, 0xA4, 0x00, 0x00])
            .unwrap_err()
            .to_string();
        assert!(e.contains("replay: expected command"), "{e}");
    }

    #[test]
    fn reader_choice() {
        let names = vec![
            "Virtual PCD 00 00".to_owned(),
            "Virtual PCD 00 01".to_owned(),
            "OMNIKEY 3121".to_owned(),
        ];
        assert_eq!(
            choose_reader(&names, "Virtual PCD 00 01").unwrap(),
            "Virtual PCD 00 01"
        );
        assert_eq!(choose_reader(&names, "omnikey").unwrap(), "OMNIKEY 3121");
        assert_eq!(choose_reader(&names, "1").unwrap(), "Virtual PCD 00 01");
        let e = choose_reader(&names, "Virtual").unwrap_err().to_string();
        assert!(e.contains("no reader matches \"Virtual\""), "{e}");
        assert!(matches!(
            choose_reader(&[], "x"),
            Err(TransportError::NoReaders)
        ));
    }
}
