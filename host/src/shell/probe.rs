//! `dir` and `tree`: what a DF really holds, found by SELECTing the FIDs gbau knows
//! (`gbau_core::ef_codec` catalogue) — the soft card and the sysmo cards have no listing
//! command — with each file's structure, size, SFI and access rules from its FCP and EF.ARR
//! (TS 102 221 §11.1.1.4, §9.2). Also used by `export` to know what may be read and written.

use std::collections::BTreeMap;

use gbau_core::arr::{self, AccessModes, Condition};
use gbau_core::ef;
use gbau_core::ef_codec::{self, Df, Kind, KnownFile};

use crate::decode::{arr_reference, fcp, Fcp};
use crate::session::LockedUsim;
use crate::usim::{apdus, UsimError};

/// One file found in a DF.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: &'static KnownFile,
    pub fcp: Fcp,
    /// READ and UPDATE conditions from EF.ARR, when the card has them.
    pub read: Option<Condition>,
    pub update: Option<Condition>,
}

impl Entry {
    /// One line of `dir`.
    #[must_use]
    pub fn line(&self) -> String {
        let f = &self.fcp;
        let shape = match (self.file.kind, f.records, f.record_len) {
            (Kind::Df(_), _, _) => "DF".to_owned(),
            (_, Some(n), Some(l)) => {
                let kind = if f.kind.starts_with("cyclic") {
                    "cyclic"
                } else {
                    "linear fixed"
                };
                format!("{kind} {n}×{l}")
            }
            _ => format!(
                "transparent {}",
                f.size.map_or("?".into(), |s| s.to_string())
            ),
        };
        let sfi = f
            .sfi
            .as_deref()
            .map_or(String::new(), |s| format!("SFI {s}"));
        let rule = |c: &Option<Condition>| c.as_ref().map_or("?".into(), ToString::to_string);
        let rules = match (&self.read, &self.update) {
            (None, None) => f
                .access_rules
                .clone()
                .map_or(String::new(), |r| format!("rules EF.ARR {r}")),
            _ => format!("read {}, update {}", rule(&self.read), rule(&self.update)),
        };
        format!(
            "{:04X}  {:<16} {:<20} {:<7} {rules}",
            self.file.fid, self.file.name, shape, sfi
        )
    }
}

/// Select a DF from anywhere; false when the card does not have it.
pub fn enter(u: &mut LockedUsim<'_>, df: Df) -> Result<bool, UsimError> {
    let ok = |u: &mut LockedUsim<'_>, c| -> Result<bool, UsimError> { Ok(u.send(&c)?.sw.is_ok()) };
    Ok(match df {
        Df::Mf => ok(u, apdus::select_fid(ef::MF))?,
        Df::Usim => ok(u, apdus::select_aid(&ef::USIM_AID_PREFIX))?,
        Df::Isim => ok(u, apdus::select_aid(&ef::ISIM_AID_PREFIX))?,
        Df::GsmAccess => {
            ok(u, apdus::select_aid(&ef::USIM_AID_PREFIX))?
                && ok(u, apdus::select_fid(ef::DF_GSM_ACCESS))?
        }
        Df::SysmoSystem => {
            ok(u, apdus::select_fid(ef::MF))?
                && ok(u, apdus::select_fid(gbau_core::sysmo::DF_SYSTEM))?
        }
    })
}

/// The EF.ARR of a DF: MF's 2F06, an ADF's 6F06.
fn arr_fid(df: Df) -> u16 {
    match df {
        Df::Mf | Df::SysmoSystem => ef::EF_ARR_MF,
        _ => ef::EF_ARR_ADF,
    }
}

/// The files of `df` the card has, in FID order; leaves `df` selected. `None` when the card
/// has no such DF.
pub fn list(u: &mut LockedUsim<'_>, df: Df) -> Result<Option<Vec<Entry>>, UsimError> {
    if !enter(u, df)? {
        return Ok(None);
    }
    let mut arrs: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
    if let Ok(records) = u.records("READ EF_ARR", arr_fid(df)) {
        arrs.insert(arr_fid(df), records);
    }
    let mut out = Vec::new();
    for file in ef_codec::in_df(df) {
        enter(u, df)?;
        let r = u.send(&apdus::select_fid(file.fid))?;
        if !r.sw.is_ok() {
            continue;
        }
        let Some(f) = fcp(&r.data) else { continue };
        let rules = arr_reference(&r.data)
            .and_then(|(fid, n)| arrs.get(&fid)?.get(usize::from(n).checked_sub(1)?).cloned())
            .and_then(|rec| arr::decode_record(&rec).ok());
        let cond = |m| {
            if matches!(file.kind, Kind::Df(_)) {
                return None; // the same bits mean other operations for a DF
            }
            rules
                .as_deref()
                .and_then(|r| arr::condition_for(r, m))
                .cloned()
        };
        out.push(Entry {
            file,
            fcp: f,
            read: cond(AccessModes::READ),
            update: cond(AccessModes::UPDATE),
        });
    }
    enter(u, df)?;
    Ok(Some(out))
}

/// `dir`: the lines for `df`.
pub fn dir(u: &mut LockedUsim<'_>, df: Df) -> Result<Vec<String>, UsimError> {
    Ok(match list(u, df)? {
        None => vec![format!("{} is not on this card", df.name())],
        Some(entries) => {
            let mut lines = vec![format!("{}:", df.name())];
            lines.extend(entries.iter().map(|e| format!("  {}", e.line())));
            lines
        }
    })
}

/// The applications of EF_DIR gbau knows, as directories (USIM and ISIM by AID prefix); the
/// ADF.USIM alone when EF_DIR cannot be read.
pub fn applications(u: &mut LockedUsim<'_>) -> Result<Vec<Df>, UsimError> {
    let apps = match u.applications() {
        Ok(a) => a,
        Err(UsimError::Status { .. }) => return Ok(vec![Df::Usim]),
        Err(e) => return Err(e),
    };
    let mut out: Vec<Df> = apps
        .iter()
        .filter_map(|a| crate::efview::df_of_aid(&a.aid))
        .collect();
    out.dedup();
    Ok(out)
}

/// `tree`: the MF, its DFs, then each application and its DFs, indented; leaves the MF
/// selected.
pub fn tree(u: &mut LockedUsim<'_>) -> Result<Vec<String>, UsimError> {
    let mut lines = Vec::new();
    let mut dfs = vec![Df::Mf];
    dfs.extend(applications(u)?);
    let mut i = 0;
    while let Some(&df) = dfs.get(i) {
        i += 1;
        let depth = if matches!(df, Df::Mf) { 0 } else { 1 }
            + usize::from(matches!(df, Df::GsmAccess | Df::SysmoSystem));
        let pad = "  ".repeat(depth);
        let Some(entries) = list(u, df)? else {
            continue;
        };
        lines.push(format!("{pad}{}", df.name()));
        for e in &entries {
            lines.push(format!("{pad}  {}", e.line()));
            if let Kind::Df(child) = e.file.kind {
                dfs.insert(i, child);
            }
        }
    }
    enter(u, Df::Mf)?;
    Ok(lines)
}
