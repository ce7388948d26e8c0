//! `gbau apdu` and `gbau run`: raw APDUs with decoded answers, and APDU scripts.

use std::collections::BTreeMap;
use std::path::Path;

use gbau_core::apdu::spaced_hex;
use gbau_core::hexutil::parse_hex;
use gbau_core::{CommandApdu, ResponseApdu};
use serde::Serialize;

use crate::error::CmdError;
use crate::input::UsageError;
use crate::session::Session;
use crate::usim::UsimError;

/// One exchange of `gbau apdu`.
#[derive(Debug, Serialize)]
pub struct ApduResult {
    pub command: String,
    pub data: String,
    pub sw: String,
    pub meaning: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded: Option<String>,
}

/// Decode a response for display: FCP or AUTHENTICATE answers.
#[must_use]
pub fn decode_response(cmd: &[u8], r: &ResponseApdu) -> Option<String> {
    match cmd.get(1) {
        Some(0xA4 | 0xF2) => crate::decode::fcp(&r.data).map(|f| f.to_string()),
        Some(0x88) => crate::decode::auth_response(&r.data),
        _ => None,
    }
}

/// Send raw APDUs (hex), following 61xx/6Cxx unless `raw`.
pub fn apdu(s: &mut Session, apdus: &[String], raw: bool) -> Result<Vec<ApduResult>, CmdError> {
    let mut out = Vec::new();
    for (i, text) in apdus.iter().enumerate() {
        let bytes =
            parse_hex(text).map_err(|e| UsageError::new("APDU", format!("#{}: {e}", i + 1)))?;
        let cmd = CommandApdu::parse(&bytes)
            .map_err(|e| UsageError::new("APDU", format!("#{}: {e}", i + 1)))?;
        let r = s.with_card(|u| -> Result<ResponseApdu, CmdError> {
            if raw {
                let resp = u.transport().transmit(&bytes).map_err(UsimError::from)?;
                ResponseApdu::parse(&resp).map_err(|e| CmdError::Script(e.to_string()))
            } else {
                Ok(u.send(&cmd)?)
            }
        })?;
        out.push(ApduResult {
            command: spaced_hex(&bytes),
            data: spaced_hex(&r.data),
            sw: format!("{:04X}", u16::from(r.sw)),
            meaning: r.sw.meaning(),
            decoded: decode_response(&bytes, &r),
        });
    }
    Ok(out)
}

/// `gbau run`: run a script; the transcript on success, a diff on the first mismatch.
pub fn run(
    s: &mut Session,
    script: &Path,
    vars: &[(String, String)],
) -> Result<Vec<gbau_core::script::Exchange>, CmdError> {
    let mut all: BTreeMap<String, String> = s.script_vars();
    all.extend(vars.iter().cloned());
    s.with_card(|u| {
        let t = u.transport();
        let mut tx = |raw: &[u8]| t.transmit(raw);
        gbau_card::scripts::run_file(&mut tx, script, all)
            .map_err(|e| CmdError::Script(e.to_string()))
    })
}
