//! `export`: the card's readable content as an `.apdu` script in the shared script language
//! (`gbau_core::script`) that, run with `gbau run` against a fresh card of the same layout,
//! writes the same contents back: SELECTs, then UPDATE BINARY / UPDATE RECORD (TS 102 221
//! §10.1.4, §10.1.6). PIN1 and ADM1 are verified from `$pin1` / `$adm1`, never a literal;
//! files holding keys (EF_Keys, EF_Kc, the sysmo key files …) and EF.ARR are left out, and so
//! is any file whose UPDATE rule the script's rights (PIN1, and ADM1 with `--adm`) do not meet.

use std::fmt::Write as _;

use gbau_core::apdu::spaced_hex;
use gbau_core::arr::KeyRef;
use gbau_core::ef;
use gbau_core::ef_codec::{Df, Kind};

use super::probe::{self, Entry};
use crate::session::LockedUsim;
use crate::usim::{apdus, UsimError};

/// Most data bytes in one UPDATE BINARY of the script (short APDU).
pub const CHUNK: usize = 255;

/// What an export wrote.
#[derive(Debug, Default)]
pub struct Export {
    pub script: String,
    pub files: usize,
    pub skipped: Vec<String>,
}

fn line(out: &mut String, text: impl AsRef<str>) {
    out.push_str(text.as_ref());
    out.push('\n');
}

/// The SELECT lines that reach `df` from anywhere.
fn select_df(out: &mut String, df: Df) {
    let usim = || {
        format!(
            "> {}",
            spaced_hex(&to_bytes(&apdus::select_aid(&ef::USIM_AID_PREFIX)))
        )
    };
    let fid = |f: u16| format!("> {}", spaced_hex(&to_bytes(&apdus::select_fid(f))));
    let steps = match df {
        Df::Mf => vec![fid(ef::MF)],
        Df::Usim => vec![usim()],
        Df::Isim => vec![format!(
            "> {}",
            spaced_hex(&to_bytes(&apdus::select_aid(&ef::ISIM_AID_PREFIX)))
        )],
        Df::GsmAccess => vec![usim(), fid(ef::DF_GSM_ACCESS)],
        Df::SysmoSystem => vec![fid(ef::MF), fid(gbau_core::sysmo::DF_SYSTEM)],
    };
    for s in steps {
        line(out, s);
        line(out, "< 62 * 90 00");
    }
}

fn to_bytes(c: &gbau_core::CommandApdu) -> Vec<u8> {
    c.to_bytes().unwrap_or_default()
}

/// Build the export; leaves the MF selected.
pub fn export(u: &mut LockedUsim<'_>, adm: bool, label: &str) -> Result<Export, UsimError> {
    let mut e = Export::default();
    let s = &mut e.script;
    line(
        s,
        format!("# gbau export of {label}: run with `gbau run` on a fresh card."),
    );
    line(
        s,
        "# Keys and PINs are not in it: PIN1 and ADM1 come from $pin1 / $adm1.",
    );
    line(s, "> 00 20 00 01 08 $pin1");
    line(s, "< 90 00");
    if adm {
        line(s, "> 00 20 00 0A 08 $adm1");
        line(s, "< 90 00");
    }
    let satisfied = |k: KeyRef| k == KeyRef::PinAppl1 || (adm && k == KeyRef::Adm1);
    let mut dfs = vec![Df::Mf];
    dfs.extend(probe::applications(u)?);
    let mut i = 0;
    while let Some(&df) = dfs.get(i) {
        i += 1;
        let Some(entries) = probe::list(u, df)? else {
            continue;
        };
        let mut body = String::new();
        for entry in &entries {
            if let Kind::Df(child) = entry.file.kind {
                dfs.insert(i, child);
                continue;
            }
            let why_not = if entry.file.secret {
                Some("holds keys".to_owned())
            } else if entry.file.fid == ef::EF_ARR_MF || entry.file.fid == ef::EF_ARR_ADF {
                Some("access rules".to_owned())
            } else {
                match &entry.update {
                    Some(c) if !c.allows(&satisfied) => Some(format!("update {c}")),
                    _ => None,
                }
            };
            if let Some(why) = why_not {
                line(
                    &mut body,
                    format!(
                        "# {} ({:04X}): not exported, {why}",
                        entry.file.name, entry.file.fid
                    ),
                );
                e.skipped
                    .push(format!("{} {}: {why}", df.name(), entry.file.name));
                continue;
            }
            probe::enter(u, df)?;
            match file_lines(u, entry)? {
                Some(text) => {
                    body.push_str(&text);
                    e.files += 1;
                }
                None => {
                    line(
                        &mut body,
                        format!(
                            "# {} ({:04X}): not readable now",
                            entry.file.name, entry.file.fid
                        ),
                    );
                    e.skipped.push(format!(
                        "{} {}: not readable now",
                        df.name(),
                        entry.file.name
                    ));
                }
            }
        }
        line(&mut e.script, format!("\n# {}", df.name()));
        select_df(&mut e.script, df);
        e.script.push_str(&body);
    }
    probe::enter(u, Df::Mf)?;
    Ok(e)
}

/// Read one file (its DF selected) and write its script lines; `None` when it cannot be read.
fn file_lines(u: &mut LockedUsim<'_>, entry: &Entry) -> Result<Option<String>, UsimError> {
    let f = entry.file;
    let mut out = String::new();
    let sel = apdus::select_fid(f.fid);
    if !u.send(&sel)?.sw.is_ok() {
        return Ok(None);
    }
    let _ = writeln!(out, "# {} ({:04X})", f.name, f.fid);
    let _ = writeln!(out, "> {}\n< 62 * 90 00", spaced_hex(&to_bytes(&sel)));
    match f.kind {
        Kind::Records => {
            let (Some(count), Some(len)) = (entry.fcp.records, entry.fcp.record_len) else {
                return Ok(None);
            };
            for n in 1..=count.min(254) {
                let n = n as u8;
                let r = u.send(&apdus::read_record(n, len))?;
                if !r.sw.is_ok() {
                    return Ok(None);
                }
                let upd = gbau_core::CommandApdu::new(0x00, 0xDC, n, 0x04).with_data(r.data);
                let _ = writeln!(out, "> {}\n< 90 00", spaced_hex(&to_bytes(&upd)));
            }
        }
        _ => {
            let size = entry.fcp.size.unwrap_or(0);
            let mut data = Vec::with_capacity(size);
            while data.len() < size {
                let want = (size - data.len()).min(256);
                let r = u.send(&apdus::read_binary(data.len() as u16, want))?;
                if !r.sw.is_ok() || r.data.is_empty() {
                    return Ok(None);
                }
                data.extend(r.data);
            }
            for (i, chunk) in data.chunks(CHUNK).enumerate() {
                let upd = apdus::update_binary((i * CHUNK) as u16, chunk);
                let _ = writeln!(out, "> {}\n< 90 00", spaced_hex(&to_bytes(&upd)));
            }
        }
    }
    Ok(Some(out))
}
