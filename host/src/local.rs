//! The MT ↔ external device local interface (seed 001 §5.5): a small framed protocol, the
//! MT's service (`gbau mt serve`) and the device's procedure (`gbau device establish`).
//!
//! Framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON (at most
//! [`MAX_FRAME`]). The same frames run over a Unix socket or TCP on loopback.
//!
//! Requests (`op`): `info` → valid B-TID (or null) and the NAF Key Centers of EF_NAFKCA;
//! `bootstrap` → the MT runs Ub and answers the new B-TID; `bootstrap` {naf_id, device_id}
//! (full procedure, step 6) → a complete GBA run: the MT bootstraps, derives Ks_local_MT for
//! the pair and keeps it pending, answering B-TID and NAF_ID; `establish` {naf_id, device_id,
//! b_tid} (optimized procedure, step 6) → the same with the valid B-TID; `complete`
//! {device_id, key_lifetime} (steps 18/16) → the pending key becomes usable with the lifetime
//! the Key Center granted; `key_check` {device_id, nonce} →
//! the MT proves it holds the pair's key: nonce_mt and HMAC(Ks_local_MT, "gbau-key-check-mt"
//! ‖ nonce ‖ nonce_mt ‖ Device_ID); `key_confirm` {device_id, nonce, nonce_mt, proof} → the
//! device proves it in turn ("gbau-key-check-device"). A `bootstrap` or `establish` for a device
//! whose key is still usable must carry `replace` {nonce, nonce_mt, proof}, the device's proof
//! over a nonce_mt just issued; each nonce_mt serves once. Answers carry `ok`; failures carry
//! `error` (a code) and `message`. Garbage gets an error frame and the MT keeps serving.

use std::io::{Read, Write};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 64 * 1024;
/// Label of the MT's key-check proof.
pub const LABEL_MT_PROOF: &[u8] = b"gbau-key-check-mt";
/// Label of the device's key-check proof.
pub const LABEL_DEVICE_PROOF: &[u8] = b"gbau-key-check-device";

/// A request on the local interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Seed 001 §5.5.2 steps 2 and §5.5.3 step 2: the valid B-TID and the NAF Key Centers.
    Info,
    /// A GBA run. With `naf_id` and `device_id` it is step 6 of the full procedure (§5.5.2):
    /// one request that makes the MT run a complete GBA run — bootstrapping, the NAF
    /// derivation for the Key Center, Ks_local_MT for the device (kept pending) — and answer
    /// B-TID and NAF_ID (step 10).
    Bootstrap {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        naf_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_id: Option<String>,
        /// Needed when the device already has a usable key (see [`KeyProof`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace: Option<KeyProof>,
    },
    /// Step 6 of the optimized procedure (§5.5.3): the B-TID the MT gave, the chosen NAF_ID and
    /// the Device_ID; the MT derives Ks_local_MT (kept pending) and answers B-TID and NAF_ID.
    Establish {
        naf_id: String,
        device_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        b_tid: Option<String>,
        /// Needed when the device already has a usable key (see [`KeyProof`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace: Option<KeyProof>,
    },
    /// Step 18 (§5.5.2) / step 16 (§5.5.3): the device says the establishment is complete and
    /// gives the key lifetime the Key Center granted; the MT's pending key becomes usable with
    /// that lifetime.
    Complete {
        device_id: String,
        key_lifetime: String,
    },
    KeyCheck {
        device_id: String,
        nonce: String,
    },
    KeyConfirm {
        device_id: String,
        nonce: String,
        nonce_mt: String,
        proof: String,
    },
}

/// The device's proof that it holds the usable Ks_local_MT the MT has for it, made as in
/// `key_confirm` over the nonce_mt of a `key_check` just answered. A bootstrap or establish
/// for a device with a usable key must carry it: nobody else can make the MT replace the key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyProof {
    pub nonce: String,
    pub nonce_mt: String,
    pub proof: String,
}

/// An answer on the local interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Answer {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub b_tid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lifetime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub naf_key_centers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub naf_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nonce_mt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proof: Option<String>,
}

impl Answer {
    /// A failure.
    #[must_use]
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(code.into()),
            message: Some(message.into()),
            ..Self::default()
        }
    }
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("local interface: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    TooLong(usize),
}

/// Read one frame's payload.
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLong(len));
    }
    let mut p = vec![0u8; len];
    r.read_exact(&mut p)?;
    Ok(p)
}

/// Write one frame.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> Result<(), FrameError> {
    if payload.len() > MAX_FRAME {
        return Err(FrameError::TooLong(payload.len()));
    }
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    w.write_all(&f)?;
    w.flush()?;
    Ok(())
}

/// The key-check proof: HMAC-SHA-256(Ks_local_MT, label ‖ first ‖ second ‖ Device_ID).
#[must_use]
pub fn proof(
    key: &[u8; 32],
    label: &[u8],
    first: &[u8],
    second: &[u8],
    device_id: &str,
) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    for part in [label, first, second, device_id.as_bytes()] {
        mac.update(&(part.len() as u16).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A local address: `unix:PATH`, `tcp:HOST:PORT` or `serial:DEVICE`.
#[derive(Debug)]
pub enum Stream {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
    Serial(std::fs::File),
}

/// Open a serial device (or pseudo-terminal) in raw mode: bytes pass unchanged.
pub fn open_serial(path: &str) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut t = rustix::termios::tcgetattr(&f)?;
    t.make_raw();
    rustix::termios::tcsetattr(&f, rustix::termios::OptionalActions::Now, &t)?;
    Ok(f)
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Unix(s) => s.read(b),
            Self::Tcp(s) => s.read(b),
            Self::Serial(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Unix(s) => s.write(b),
            Self::Tcp(s) => s.write(b),
            Self::Serial(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Unix(s) => s.flush(),
            Self::Tcp(s) => s.flush(),
            Self::Serial(s) => s.flush(),
        }
    }
}

/// Connect to a local address.
pub fn connect(addr: &str) -> std::io::Result<Stream> {
    match addr.split_once(':') {
        Some(("unix", path)) => Ok(Stream::Unix(std::os::unix::net::UnixStream::connect(path)?)),
        Some(("tcp", hp)) => Ok(Stream::Tcp(std::net::TcpStream::connect(hp)?)),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{addr:?}: use unix:PATH or tcp:HOST:PORT"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        let r: Request =
            serde_json::from_str(r#"{"op":"establish","naf_id":"kc","device_id":"d"}"#).unwrap();
        assert_eq!(
            r,
            Request::Establish {
                naf_id: "kc".into(),
                device_id: "d".into(),
                b_tid: None,
                replace: None,
            }
        );
        let with_proof = r#"{"op":"establish","naf_id":"kc","device_id":"d","replace":{"nonce":"00","nonce_mt":"01","proof":"02"}}"#;
        assert!(matches!(
            serde_json::from_str::<Request>(with_proof).unwrap(),
            Request::Establish { replace: Some(KeyProof { ref nonce_mt, .. }), .. } if nonce_mt == "01"
        ));
        // The plain bootstrap request and the full procedure's step 6.
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"bootstrap"}"#).unwrap(),
            Request::Bootstrap {
                naf_id: None,
                device_id: None,
                replace: None,
            }
        );
        assert_eq!(
            serde_json::to_string(&Request::Complete {
                device_id: "d".into(),
                key_lifetime: "2030-01-01T00:00:00Z".into()
            })
            .unwrap(),
            r#"{"op":"complete","device_id":"d","key_lifetime":"2030-01-01T00:00:00Z"}"#
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"nope"}"#).is_err());
        let mut buf = Vec::new();
        write_frame(&mut buf, b"{}").unwrap();
        assert_eq!(buf, [0, 0, 0, 2, b'{', b'}']);
        assert_eq!(read_frame(&mut buf.as_slice()).unwrap(), b"{}");
        assert!(matches!(
            read_frame(&mut [0xFFu8, 0, 0, 0].as_slice()),
            Err(FrameError::TooLong(_))
        ));
    }

    #[test]
    fn proofs_differ_by_label_and_key() {
        let a = proof(&[1; 32], LABEL_MT_PROOF, b"n", b"m", "d");
        assert_ne!(a, proof(&[1; 32], LABEL_DEVICE_PROOF, b"n", b"m", "d"));
        assert_ne!(a, proof(&[2; 32], LABEL_MT_PROOF, b"n", b"m", "d"));
        assert_eq!(a, proof(&[1; 32], LABEL_MT_PROOF, b"n", b"m", "d"));
    }
}
