//! The file commands: SELECT and STATUS (TS 102 221 §11.1.1–11.1.2), READ/UPDATE BINARY
//! and READ/UPDATE RECORD (TS 102 221 §11.1.3–11.1.6), over the card's file tree (a linked
//! EF reads and writes the contents of the EF it is linked to).

use gbau_core::ef;
use gbau_core::{ResponseApdu, StatusWord};

use super::Card;
use crate::command::{EfTarget, RecordMode, SelectBy, SelectResponse, StatusResponse};
use crate::fs::{self, Access, NodeKind, Structure, MF_INDEX};

impl Card {
    // TS 102 221 §11.1.1, SELECT
    pub(super) fn select(
        &mut self,
        by: &SelectBy,
        response: SelectResponse,
    ) -> Result<ResponseApdu, StatusWord> {
        let target = self.resolve(by).ok_or(StatusWord::FileNotFound)?;
        let node = &self.tree.nodes[target];
        if node.is_df() {
            self.volatile.current_df = target;
            self.volatile.current_ef = None;
            if matches!(node.kind, NodeKind::Adf { .. }) {
                self.volatile.current_adf = Some(target);
            }
        } else {
            self.volatile.current_df = node.parent.unwrap_or(MF_INDEX);
            self.volatile.current_ef = Some(target);
        }
        self.volatile.current_record = None;
        match response {
            SelectResponse::Fcp => Self::ok(fs::fcp(&self.tree, target, self.pins_enabled())),
            SelectResponse::NoData => Self::ok(Vec::new()),
        }
    }

    fn resolve(&self, by: &SelectBy) -> Option<usize> {
        let current = self.volatile.current_df;
        match by {
            SelectBy::Fid(None) => Some(MF_INDEX),
            SelectBy::Fid(Some(fid)) => self.find_fid(current, *fid),
            SelectBy::ChildDf(fid) => self
                .tree
                .child(current, *fid)
                .filter(|c| self.tree.nodes[*c].is_df() && !self.is_adf(*c)),
            SelectBy::Parent => self.tree.nodes[current].parent,
            SelectBy::Aid(prefix) => self.tree.adf_by_aid(prefix),
            SelectBy::PathFromMf(path) => {
                let path = match path.split_first() {
                    Some((&ef::MF, rest)) => rest,
                    _ => path.as_slice(),
                };
                self.walk(MF_INDEX, path)
            }
            SelectBy::PathFromCurrent(path) => self.walk(current, path),
        }
    }

    fn is_adf(&self, index: usize) -> bool {
        matches!(self.tree.nodes[index].kind, NodeKind::Adf { .. })
    }

    /// Selection by FID from the current DF (TS 102 221 §8.4.1): the MF, the current ADF
    /// ('7FFF'), the current DF, its children, its parent and the parent's children.
    fn find_fid(&self, current: usize, fid: u16) -> Option<usize> {
        if fid == ef::MF {
            return Some(MF_INDEX);
        }
        if fid == ef::CURRENT_ADF {
            return self.volatile.current_adf;
        }
        let selectable = |i: &usize| !self.is_adf(*i);
        if self.tree.nodes[current].fid == fid && current != MF_INDEX {
            return Some(current);
        }
        if let Some(c) = self.tree.child(current, fid).filter(selectable) {
            return Some(c);
        }
        let parent = self.tree.nodes[current].parent?;
        if self.tree.nodes[parent].fid == fid {
            return Some(parent);
        }
        self.tree.child(parent, fid).filter(selectable)
    }

    fn walk(&self, start: usize, path: &[u16]) -> Option<usize> {
        let mut at = start;
        for (i, fid) in path.iter().enumerate() {
            if i == 0 && *fid == ef::CURRENT_ADF {
                at = self.volatile.current_adf?;
                continue;
            }
            if !self.tree.nodes[at].is_df() {
                return None;
            }
            at = self.tree.child(at, *fid).filter(|c| !self.is_adf(*c))?;
        }
        Some(at)
    }

    // TS 102 221 §11.1.2, STATUS
    pub(super) fn status(&self, response: StatusResponse) -> Result<ResponseApdu, StatusWord> {
        let df = self
            .volatile
            .current_adf
            .unwrap_or(self.volatile.current_df);
        match response {
            StatusResponse::Fcp => Self::ok(fs::fcp(&self.tree, df, self.pins_enabled())),
            StatusResponse::Aid => match &self.tree.nodes[df].kind {
                NodeKind::Adf { aid, .. } => {
                    let tlv = gbau_core::tlv::Tlv::new(0x84, aid.clone());
                    Self::ok(tlv.to_bytes().map_err(|_| StatusWord::NoPreciseDiagnosis)?)
                }
                _ => Self::ok(Vec::new()),
            },
            StatusResponse::NoData => Self::ok(Vec::new()),
        }
    }

    /// The EF a binary/record command addresses; SFI addressing also makes it current.
    fn target_ef(&mut self, target: EfTarget) -> Result<usize, StatusWord> {
        match target {
            EfTarget::Current => self.volatile.current_ef.ok_or(StatusWord::NoCurrentEf),
            EfTarget::Sfi(sfi) => {
                let ef = self
                    .tree
                    .by_sfi(self.volatile.current_df, sfi)
                    .ok_or(StatusWord::FileNotFound)?;
                if self.volatile.current_ef != Some(ef) {
                    self.volatile.current_record = None;
                }
                self.volatile.current_ef = Some(ef);
                Ok(ef)
            }
        }
    }

    fn ef_info(&self, index: usize) -> Result<(Structure, usize, Access, Access), StatusWord> {
        match self.tree.nodes[index].kind {
            NodeKind::Ef {
                structure,
                size,
                read,
                update,
                ..
            } => Ok((structure, size, read, update)),
            _ => Err(StatusWord::IncompatibleFileStructure),
        }
    }

    // TS 102 221 §11.1.3, READ BINARY
    pub(super) fn read_binary(
        &mut self,
        target: EfTarget,
        offset: usize,
        ne: usize,
    ) -> Result<ResponseApdu, StatusWord> {
        let ef = self.target_ef(target)?;
        let (structure, size, read, _) = self.ef_info(ef)?;
        if structure != Structure::Transparent {
            return Err(StatusWord::IncompatibleFileStructure);
        }
        if !self.file_granted(read) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if offset >= size {
            return Err(StatusWord::WrongParameters);
        }
        let end = size.min(offset + ne);
        Self::ok(self.state.files[self.tree.storage(ef)][offset..end].to_vec())
    }

    // TS 102 221 §11.1.4, UPDATE BINARY
    pub(super) fn update_binary(
        &mut self,
        target: EfTarget,
        offset: usize,
        data: &[u8],
    ) -> Result<ResponseApdu, StatusWord> {
        let ef = self.target_ef(target)?;
        let (structure, size, _, update) = self.ef_info(ef)?;
        if structure != Structure::Transparent {
            return Err(StatusWord::IncompatibleFileStructure);
        }
        if !self.file_granted(update) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if offset >= size {
            return Err(StatusWord::WrongParameters);
        }
        if offset + data.len() > size {
            return Err(StatusWord::WrongLength);
        }
        let at = self.tree.storage(ef);
        self.state.files[at][offset..offset + data.len()].copy_from_slice(data);
        self.dirty = true;
        self.sysmo_written(ef);
        Self::ok(Vec::new())
    }

    fn record_number(&self, mode: RecordMode, count: usize) -> Result<u8, StatusWord> {
        let count = u8::try_from(count).map_err(|_| StatusWord::NoPreciseDiagnosis)?;
        let n = match mode {
            RecordMode::Absolute(0) => self
                .volatile
                .current_record
                .ok_or(StatusWord::RecordNotFound)?,
            RecordMode::Absolute(n) => n,
            RecordMode::Next => self
                .volatile
                .current_record
                .map_or(1, |r| r.saturating_add(1)),
            RecordMode::Previous => match self.volatile.current_record {
                None => count,
                Some(r) => r.saturating_sub(1),
            },
        };
        if n == 0 || n > count {
            return Err(StatusWord::RecordNotFound);
        }
        Ok(n)
    }

    fn record_range(
        &self,
        ef: usize,
        mode: RecordMode,
    ) -> Result<(u8, std::ops::Range<usize>, Access, Access), StatusWord> {
        let (structure, size, read, update) = self.ef_info(ef)?;
        let Structure::LinearFixed { record_len } = structure else {
            return Err(StatusWord::IncompatibleFileStructure);
        };
        let n = self.record_number(mode, size / record_len.max(1))?;
        let start = (usize::from(n) - 1) * record_len;
        Ok((n, start..start + record_len, read, update))
    }

    // TS 102 221 §11.1.5, READ RECORD
    pub(super) fn read_record(
        &mut self,
        target: EfTarget,
        mode: RecordMode,
    ) -> Result<ResponseApdu, StatusWord> {
        let ef = self.target_ef(target)?;
        let (n, range, read, _) = self.record_range(ef, mode)?;
        if !self.file_granted(read) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        self.volatile.current_record = Some(n);
        Self::ok(self.state.files[self.tree.storage(ef)][range].to_vec())
    }

    // TS 102 221 §11.1.6, UPDATE RECORD
    pub(super) fn update_record(
        &mut self,
        target: EfTarget,
        mode: RecordMode,
        data: &[u8],
    ) -> Result<ResponseApdu, StatusWord> {
        let ef = self.target_ef(target)?;
        let (n, range, _, update) = self.record_range(ef, mode)?;
        if !self.file_granted(update) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if data.len() != range.len() {
            return Err(StatusWord::WrongLength);
        }
        self.volatile.current_record = Some(n);
        let at = self.tree.storage(ef);
        self.state.files[at][range].copy_from_slice(data);
        self.dirty = true;
        self.sysmo_written(ef);
        Self::ok(Vec::new())
    }
}
