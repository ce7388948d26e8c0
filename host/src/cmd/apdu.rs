//! `gbau apdu` and `gbau run`: raw APDUs with decoded answers, and APDU scripts.

use std::collections::BTreeMap;
use std::path::Path;

use gbau_core::apdu::spaced_hex;
use gbau_core::hexutil::parse_hex;
use gbau_core::{CommandApdu, ResponseApdu};
use serde::Serialize;

use crate::efview::Selection;
use crate::error::CmdError;
use crate::input::UsageError;
use crate::session::Session;
use crate::usim::UsimError;
use gbau_core::ef_codec::Decoded;

/// One exchange of `gbau apdu`.
#[derive(Debug, Serialize)]
pub struct ApduResult {
    pub command: String,
    pub data: String,
    pub sw: String,
    pub meaning: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded: Option<String>,
    /// The fields of a READ BINARY / READ RECORD answer of a file gbau knows
    /// (`gbau_core::ef_codec`), followed from the SELECTs before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Decoded>,
}

/// Follow a sequence of exchanges and decode each answer: FCP, AUTHENTICATE data, or the
/// content of the selected EF (`crate::efview`). The decoded lines of each exchange.
#[derive(Debug, Default)]
pub struct Decoder {
    pub selection: Selection,
}

impl Decoder {
    /// The decoded lines of one exchange (none when there is nothing to say), and the fields
    /// of a file content.
    pub fn exchange(&mut self, cmd: &[u8], r: &ResponseApdu) -> (Vec<String>, Option<Decoded>) {
        self.selection.observe(cmd, r);
        let mut lines: Vec<String> = decode_response(cmd, r).into_iter().collect();
        let fields = match self.selection.decode_answer(cmd, r) {
            Some(Ok(d)) => {
                lines.extend(
                    d.to_string()
                        .lines()
                        .map(|l| format!("{}: {l}", self.selection.label())),
                );
                Some(d)
            }
            Some(Err(e)) => {
                lines.push(e);
                None
            }
            None => None,
        };
        (lines, fields)
    }
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
    let mut decoder = Decoder::default();
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
        let (lines, fields) = decoder.exchange(&bytes, &r);
        out.push(ApduResult {
            command: spaced_hex(&bytes),
            data: spaced_hex(&r.data),
            sw: format!("{:04X}", u16::from(r.sw)),
            meaning: r.sw.meaning(),
            decoded: (!lines.is_empty()).then(|| lines.join("\n   ")),
            fields,
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
