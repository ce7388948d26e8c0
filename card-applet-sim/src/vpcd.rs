//! The bridge to vsmartcard's vpcd: the card side connects to vpcd's TCP port and answers
//! its frames (2-byte big-endian length, then payload). One-byte payloads are control
//! messages: '00' power off, '01' power on, '02' reset (no reply), '04' get ATR (reply: ATR).
//! Anything longer is a command APDU and gets the response APDU.
//!
//! Nothing but the peers' work delays an APDU on loopback: TCP_NODELAY, TCP_QUICKACK re-armed
//! after every read and write (so a delayed ACK never holds vpcd's next segment ~40 ms,
//! notably after the control messages that get no reply), frames read out of one buffer
//! (one `read` usually brings a whole frame, length and payload) and written in one `write`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gbau_core::StatusWord;
use tracing::{debug, info, warn};

use crate::soft::SoftCard;

/// vpcd's port for the first virtual reader (`Virtual PCD 00 00`).
pub const DEFAULT_VPCD_ADDR: &str = "127.0.0.1:35963";
/// Control message: power off.
pub const VPCD_CTRL_OFF: u8 = 0x00;
/// Control message: power on.
pub const VPCD_CTRL_ON: u8 = 0x01;
/// Control message: reset.
pub const VPCD_CTRL_RESET: u8 = 0x02;
/// Control message: get ATR.
pub const VPCD_CTRL_ATR: u8 = 0x04;
/// Largest payload a frame can carry.
pub const MAX_FRAME: usize = u16::MAX as usize;

const POLL: Duration = Duration::from_millis(200);
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Why the bridge stopped.
#[derive(Debug, thiserror::Error)]
pub enum VpcdError {
    #[error("vpcd address {0:?} is not HOST:PORT")]
    Address(String),
}

enum Frame {
    Payload(Vec<u8>),
    Stopped,
}

/// Bytes read from vpcd and not yet taken as frames.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
}

/// How much one `read` asks for: any command APDU with its length prefix.
const READ_CHUNK: usize = 4096;

impl Frames {
    /// The next whole frame, reading as needed; read timeouts only serve to notice `stop`.
    fn next(&mut self, stream: &mut TcpStream, stop: &AtomicBool) -> io::Result<Frame> {
        loop {
            if let Some(payload) = self.take() {
                return Ok(Frame::Payload(payload));
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(Frame::Stopped);
            }
            let have = self.buf.len();
            self.buf.resize(have + READ_CHUNK, 0);
            let got = stream.read(&mut self.buf[have..]);
            self.buf.truncate(have + got.as_ref().map_or(0, |n| *n));
            match got {
                Ok(0) => {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "vpcd closed the connection",
                    ))
                }
                Ok(_) => quickack(stream),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// A whole frame's payload off the front of the buffer, if one is there.
    fn take(&mut self) -> Option<Vec<u8>> {
        let len = match self.buf.as_slice() {
            [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => return None,
        };
        let payload = self.buf.get(2..2 + len)?.to_vec();
        self.buf.drain(..2 + len);
        Some(payload)
    }
}

fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "frame over 65535 bytes"))?;
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

fn quickack(stream: &TcpStream) {
    // Linux clears TCP_QUICKACK after some operations; re-arm it after each read.
    let _ = rustix::net::sockopt::set_tcp_quickack(stream, true);
}

/// Answer one vpcd payload; `None` when no reply is due.
pub fn answer(card: &mut SoftCard, payload: &[u8]) -> Option<Vec<u8>> {
    match payload {
        [VPCD_CTRL_OFF] | [VPCD_CTRL_ON] | [VPCD_CTRL_RESET] => {
            card.reset();
            None
        }
        [VPCD_CTRL_ATR] => Some(card.atr()),
        [other] => {
            debug!(control = other, "unknown vpcd control byte ignored");
            None
        }
        [] => None,
        apdu => {
            let response = card.transmit_or_memory_problem(apdu);
            if response.len() > MAX_FRAME {
                warn!(
                    len = response.len(),
                    "response too long for a vpcd frame, answering 6F00"
                );
                return Some(StatusWord::NoPreciseDiagnosis.to_bytes().to_vec());
            }
            Some(response)
        }
    }
}

/// Serve one connection until it drops (returns the error) or `stop` is set (returns Ok).
fn serve_connection(
    card: &mut SoftCard,
    mut stream: TcpStream,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL))?;
    quickack(&stream);
    let mut frames = Frames::default();
    loop {
        let payload = match frames.next(&mut stream, stop)? {
            Frame::Payload(p) => p,
            Frame::Stopped => return Ok(()),
        };
        if let Some(reply) = answer(card, &payload) {
            write_frame(&mut stream, &reply)?;
            quickack(&stream);
        }
    }
}

/// Connect to vpcd at `addr` and serve the card until `stop` is set, reconnecting with
/// backoff whenever the connection drops (pcscd restarts, vpcd not yet up).
pub fn run(card: &mut SoftCard, addr: &str, stop: &AtomicBool) -> Result<(), VpcdError> {
    if !addr.contains(':') {
        return Err(VpcdError::Address(addr.to_owned()));
    }
    let mut backoff = BACKOFF_START;
    while !stop.load(Ordering::Relaxed) {
        match TcpStream::connect(addr) {
            Ok(stream) => {
                info!(%addr, "connected to vpcd");
                backoff = BACKOFF_START;
                card.reset();
                match serve_connection(card, stream, stop) {
                    Ok(()) => break,
                    Err(e) => info!(%addr, error = %e, "vpcd connection lost, reconnecting"),
                }
            }
            Err(e) => {
                debug!(%addr, error = %e, ?backoff, "vpcd not reachable");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    Ok(())
}
