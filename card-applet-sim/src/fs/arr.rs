//! The card's access rules as EF.ARR records (TS 102 221 §9.2, ISO 7816-4 §9.3; coding in
//! `gbau_core::arr`): each EF.ARR (MF 2F06, ADF.USIM and ADF.ISIM 6F06) holds one record
//! per distinct rule of the nodes that reference it, in the sysmo cards' record count and
//! length where they fix them, and each node's FCP reference (tag '8B') names the record
//! that describes what the card enforces for it.

use std::collections::BTreeSet;

use gbau_core::arr::{self, AccessModes, Condition, KeyRef, Rule};
use gbau_core::ef::{self, EfError};

use super::{Access, ArrRef, FileTree, NodeKind, Structure};

/// What an FCP's EF.ARR record must say about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileRule {
    /// MF, DF or ADF: the card has no command that creates, deletes, activates, deactivates
    /// or terminates a file, so none of them is allowed.
    Df,
    /// An EF: who may read and who may update it; the card has no other EF command (WRITE,
    /// ACTIVATE, DEACTIVATE, TERMINATE, DELETE), so those are never allowed.
    Ef { read: Access, update: Access },
}

impl FileRule {
    /// The rule of a node.
    #[must_use]
    pub fn of(kind: &NodeKind) -> Self {
        match kind {
            NodeKind::Ef { read, update, .. } => Self::Ef {
                read: *read,
                update: *update,
            },
            NodeKind::Mf | NodeKind::Df | NodeKind::Adf { .. } => Self::Df,
        }
    }

    /// The rules of the EF.ARR record.
    #[must_use]
    pub fn rules(self) -> Vec<Rule> {
        match self {
            Self::Df => vec![Rule::new(DF_UNSUPPORTED, Condition::Never)],
            Self::Ef { read, update } => vec![
                Rule::new(AccessModes::READ, condition(read)),
                Rule::new(AccessModes::UPDATE, condition(update)),
                Rule::new(EF_UNSUPPORTED, Condition::Never),
            ],
        }
    }
}

/// The DF operations the card has no command for.
const DF_UNSUPPORTED: AccessModes = AccessModes::DF_DELETE_CHILD
    .with(AccessModes::DF_CREATE_EF)
    .with(AccessModes::DF_CREATE_DF)
    .with(AccessModes::DEACTIVATE)
    .with(AccessModes::ACTIVATE)
    .with(AccessModes::TERMINATE)
    .with(AccessModes::DELETE);

/// The EF operations other than READ and UPDATE, which the card has no command for.
const EF_UNSUPPORTED: AccessModes = AccessModes::WRITE
    .with(AccessModes::DEACTIVATE)
    .with(AccessModes::ACTIVATE)
    .with(AccessModes::TERMINATE)
    .with(AccessModes::DELETE);

/// The security condition the card applies for an access condition. A PIN-protected file
/// is also open to the ADM1 holder (`Card::file_granted`), hence the OR with ADM1.
#[must_use]
pub fn condition(access: Access) -> Condition {
    let or_adm1 = |k| Condition::Or(vec![Condition::Key(k), Condition::Key(KeyRef::Adm1)]);
    match access {
        Access::Always => Condition::Always,
        Access::Pin1 => or_adm1(KeyRef::PinAppl1),
        Access::Pin2 => or_adm1(KeyRef::SecondPinAppl1),
        Access::Adm1 => Condition::Key(KeyRef::Adm1),
        Access::Never => Condition::Never,
    }
}

/// Fill every EF.ARR of the tree with the records of the rules of the nodes that reference
/// it, and point those nodes' FCPs at their records. Nodes with compact security attributes
/// ('8C') reference none. `shape` gives an EF.ARR its (records, record length) where the
/// card fixes them (the sysmo layouts); otherwise it has one record per rule, as long as the
/// longest.
pub(super) fn attach(
    tree: &mut FileTree,
    contents: &mut [Vec<u8>],
    shape: impl Fn(&FileTree, usize) -> Option<(usize, usize)>,
) -> Result<(), EfError> {
    let holder: Vec<Option<usize>> = (0..tree.nodes.len())
        .map(|i| {
            if tree.nodes[i].compact.is_some() {
                None
            } else {
                tree.arr_file(i)
            }
        })
        .collect();
    let arr_files: Vec<usize> = (0..tree.nodes.len()).filter(|i| tree.is_arr(*i)).collect();
    for a in arr_files {
        let users: Vec<usize> = (0..tree.nodes.len())
            .filter(|i| holder[*i] == Some(a))
            .collect();
        let rules: Vec<FileRule> = users
            .iter()
            .map(|i| FileRule::of(&tree.nodes[*i].kind))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let file = arr_file(&rules, shape(tree, a))?;
        if let NodeKind::Ef {
            structure, size, ..
        } = &mut tree.nodes[a].kind
        {
            *structure = Structure::LinearFixed {
                record_len: file.record_len,
            };
            *size = file.bytes.len();
        }
        contents[a] = file.bytes;
        let fid = tree.nodes[a].fid;
        for i in users {
            let rule = FileRule::of(&tree.nodes[i].kind);
            let record = rules.iter().position(|r| *r == rule).map(|p| p + 1);
            tree.nodes[i].arr = record
                .and_then(|r| u8::try_from(r).ok())
                .map(|record| ArrRef { fid, record });
        }
    }
    Ok(())
}

/// The records of one EF.ARR.
struct ArrFile {
    record_len: usize,
    bytes: Vec<u8>,
}

/// An EF.ARR holding the records of `rules`, in the card's (records, record length) if it
/// fixes them (unused records all 'FF').
fn arr_file(rules: &[FileRule], shape: Option<(usize, usize)>) -> Result<ArrFile, EfError> {
    let records = rules
        .iter()
        .map(|r| arr::encode_record(&r.rules()))
        .collect::<Result<Vec<_>, _>>()?;
    let longest = records.iter().map(Vec::len).max().unwrap_or(0);
    let (count, record_len) = shape.unwrap_or((records.len(), longest));
    if records.len() > count {
        return Err(EfError::TooLong {
            file: "EF_ARR",
            len: records.len(),
            room: count,
        });
    }
    let mut bytes = Vec::with_capacity(count * record_len);
    for r in records {
        bytes.extend(ef::pad_ff("EF_ARR", r, record_len)?);
    }
    bytes.resize(count * record_len, 0xFF);
    Ok(ArrFile { record_len, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_for_the_card_rules() {
        let hex = |r: FileRule| hex::encode_upper(arr::encode_record(&r.rules()).unwrap());
        assert_eq!(hex(FileRule::Df), "80017F9700");
        assert_eq!(
            hex(FileRule::Ef {
                read: Access::Always,
                update: Access::Never
            }),
            "8001019000800102970080017C9700"
        );
        assert_eq!(
            hex(FileRule::Ef {
                read: Access::Pin1,
                update: Access::Adm1
            }),
            "800101A010A406830101950108A40683010A950108800102A40683010A95010880017C9700"
        );
    }
}
