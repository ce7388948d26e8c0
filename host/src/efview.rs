//! What a card has selected, followed from the commands sent and the answers (SELECT by AID,
//! FID or path), and the decoded view of READ BINARY / READ RECORD answers for the files
//! `gbau_core::ef_codec` knows. The REPL, `gbau apdu` and `gbau run` traces share it, so
//! every place shows a file the same way. Also: long hex wrapped with offsets.

use gbau_core::apdu::spaced_hex;
use gbau_core::ef;
use gbau_core::ef_codec::{self, Decoded, Df, Kind, KnownFile};
use gbau_core::ResponseApdu;

use crate::decode::{fcp, Fcp};

/// INS of SELECT, READ BINARY, READ RECORD (TS 102 221 §10.1.2).
pub const INS_SELECT: u8 = 0xA4;
pub const INS_READ_BINARY: u8 = 0xB0;
pub const INS_READ_RECORD: u8 = 0xB2;
/// SELECT P1: by FID, by DF name (AID), by path from the MF, by path from the current DF.
pub const P1_SELECT_FID: u8 = 0x00;
pub const P1_SELECT_AID: u8 = 0x04;
pub const P1_SELECT_PATH_MF: u8 = 0x08;
pub const P1_SELECT_PATH_DF: u8 = 0x09;
/// READ RECORD P2 "absolute / current record" (TS 102 221 §10.1.5).
pub const P2_RECORD_ABSOLUTE: u8 = 0x04;

/// The selection as far as the commands show it.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// The current directory, when known.
    pub df: Option<Df>,
    /// The current EF, when it is one gbau knows.
    pub ef: Option<&'static KnownFile>,
    /// The FCP of the last successful SELECT.
    pub fcp: Option<Fcp>,
}

/// The directory an AID names.
#[must_use]
pub fn df_of_aid(aid: &[u8]) -> Option<Df> {
    if aid.starts_with(&ef::USIM_AID_PREFIX) {
        Some(Df::Usim)
    } else if aid.starts_with(&ef::ISIM_AID_PREFIX) {
        Some(Df::Isim)
    } else {
        None
    }
}

impl Selection {
    /// Follow one exchange.
    pub fn observe(&mut self, cmd: &[u8], r: &ResponseApdu) {
        let [_, INS_SELECT, p1, _, lc, data @ ..] = cmd else {
            return;
        };
        if !r.sw.is_ok() {
            return; // a failed SELECT keeps the selection (TS 102 221 §11.1.1)
        }
        let data = data.get(..usize::from(*lc)).unwrap_or(data);
        let f = fcp(&r.data);
        let is_df = f.as_ref().is_some_and(|f| f.kind == "DF/ADF");
        self.fcp = f;
        match *p1 {
            P1_SELECT_AID => {
                self.df = df_of_aid(data);
                self.ef = None;
            }
            P1_SELECT_FID | P1_SELECT_PATH_MF | P1_SELECT_PATH_DF => {
                if *p1 == P1_SELECT_PATH_MF {
                    self.df = Some(Df::Mf);
                }
                let fids: Vec<u16> = data
                    .chunks_exact(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect();
                for (i, fid) in fids.iter().enumerate() {
                    // Only the last FID's FCP is seen; the ones before are DFs.
                    self.step(*fid, i + 1 < fids.len() || is_df);
                }
            }
            _ => {}
        }
    }

    fn step(&mut self, fid: u16, is_df: bool) {
        self.ef = None;
        match fid {
            ef::MF => self.df = Some(Df::Mf),
            ef::CURRENT_ADF => {
                self.df = match self.df {
                    Some(Df::GsmAccess) => Some(Df::Usim),
                    other => other,
                }
            }
            _ => {
                let Some(df) = self.df else {
                    // Where we are is not known: a FID only one known file has names it.
                    let mut known = ef_codec::all().filter(|f| f.fid == fid);
                    if let (Some(f), None) = (known.next(), known.next()) {
                        match f.kind {
                            Kind::Df(child) => self.df = Some(child),
                            _ => (self.df, self.ef) = (Some(f.df), Some(f)),
                        }
                    }
                    return;
                };
                match ef_codec::by_fid(df, fid) {
                    Some(KnownFile {
                        kind: Kind::Df(child),
                        ..
                    }) => self.df = Some(*child),
                    Some(f) => self.ef = Some(f),
                    // A DF gbau does not know: where we are is no longer known.
                    None if is_df => self.df = None,
                    None => {}
                }
            }
        }
    }

    /// The current EF's name, or the DF's.
    #[must_use]
    pub fn label(&self) -> String {
        match (self.ef, self.df) {
            (Some(f), _) => f.name.to_owned(),
            (None, Some(df)) => df.name().to_owned(),
            (None, None) => String::new(),
        }
    }

    /// The decoded content of a READ BINARY (from offset 0, the whole file) or READ RECORD
    /// (absolute) answer of the current EF; `None` when there is nothing to decode.
    #[must_use]
    pub fn decode_answer(&self, cmd: &[u8], r: &ResponseApdu) -> Option<Result<Decoded, String>> {
        let f = self.ef?;
        if !r.sw.is_ok() || r.data.is_empty() {
            return None;
        }
        match (cmd, f.kind) {
            ([_, INS_READ_BINARY, 0, 0, ..], Kind::Transparent) => {
                let size = self.fcp.as_ref().and_then(|f| f.size);
                if size.is_some_and(|s| s != r.data.len()) {
                    return None; // part of the file: not decoded
                }
            }
            ([_, INS_READ_RECORD, _, P2_RECORD_ABSOLUTE, ..], Kind::Records) => {}
            _ => return None,
        }
        f.decode(&r.data)
            .map(|d| d.map_err(|e| format!("{}: does not decode: {e}", f.name)))
    }
}

/// The width to wrap at: the terminal's when standard output is one, else 80.
#[must_use]
pub fn terminal_width() -> usize {
    let out = std::io::stdout();
    if rustix::termios::isatty(&out) {
        if let Ok(ws) = rustix::termios::tcgetwinsize(&out) {
            if ws.ws_col >= 20 {
                return usize::from(ws.ws_col);
            }
        }
    }
    80
}

/// Spaced hex in one line when it fits `width`, else lines of "OFFSET  bytes" with a
/// multiple of 8 bytes a line.
#[must_use]
pub fn wrap_hex(data: &[u8], width: usize) -> Vec<String> {
    let one = spaced_hex(data);
    if one.len() <= width {
        return vec![one];
    }
    let per_line = ((width.saturating_sub(6)) / 3 / 8 * 8).max(8);
    data.chunks(per_line)
        .enumerate()
        .map(|(i, c)| format!("{:04X}  {}", i * per_line, spaced_hex(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(data: &str) -> ResponseApdu {
        ResponseApdu::parse(&hex::decode(format!("{data}9000")).unwrap()).unwrap()
    }

    #[test]
    fn follows_selects_and_decodes_reads() {
        let mut s = Selection::default();
        s.observe(
            &hex::decode("00a40004023f00").unwrap(),
            &ok("62088202782183023f00"),
        );
        assert_eq!(s.df, Some(Df::Mf));
        s.observe(
            &hex::decode("00a4040407a0000000871002").unwrap(),
            &ok("620482027821"),
        );
        assert_eq!(s.df, Some(Df::Usim));
        s.observe(
            &hex::decode("00a40004026f07").unwrap(),
            &ok("620c8202412183026f0780020009"),
        );
        assert_eq!(s.label(), "EF_IMSI");
        let d = s
            .decode_answer(
                &hex::decode("00b0000009").unwrap(),
                &ok("080910100000000010"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(d.to_string(), "imsi: 001010000000001\n");
        // A part of the file is not decoded.
        assert!(s
            .decode_answer(&hex::decode("00b0000004").unwrap(), &ok("08091010"))
            .is_none());
    }

    #[test]
    fn wraps_long_hex_with_offsets() {
        assert_eq!(wrap_hex(&[1, 2], 80), ["01 02"]);
        let lines = wrap_hex(&[0xFF; 40], 40);
        assert_eq!(lines[0], format!("0000  {}", spaced_hex(&[0xFF; 8])));
        assert!(lines[1].starts_with("0008  "));
        assert!(lines.iter().all(|l| l.len() <= 40));
    }
}
