//! The state file: everything a card must remember across restarts, as JSON, with a
//! conversion to and from the card's typed [`Persistent`] state that checks every field.

use std::collections::BTreeMap;

use gbau_core::aka::Rand;
use gbau_core::secret::{Ks, KsIntNaf};
use gbau_core::sqn::{SqnArray, IND_SLOTS};
use serde::{Deserialize, Serialize};

use crate::card::{Card, GbaBootstrap, NafKey, NafStore, Persistent};
use crate::fs::{App, FileTree, NodeKind};
use crate::pin::{self, Pin};
use crate::profile::{PinValue, Profile};

/// Version of the state file format.
pub const STATE_FORMAT: u32 = 1;

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state format {0} is not supported (expected {STATE_FORMAT})")]
    Format(u32),
    #[error("state belongs to the card with ICCID {state}, the profile says {profile}")]
    OtherCard { state: String, profile: String },
    #[error("state field {field}: {problem}")]
    Field { field: String, problem: String },
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> StateError {
    StateError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    pub format: u32,
    pub iccid: String,
    pub files: BTreeMap<String, String>,
    pub pins: BTreeMap<String, PinFile>,
    pub sqn_seq_ms: Vec<u64>,
    pub gba: Option<GbaFile>,
    pub naf_keys: BTreeMap<String, NafStoreFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PinFile {
    pub value: String,
    pub enabled: bool,
    pub tries_left: u8,
    pub puk: Option<String>,
    pub puk_tries_left: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GbaFile {
    pub app: String,
    pub ks: String,
    pub rand: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NafStoreFile {
    pub slots: Vec<Option<NafKeyFile>>,
    pub lru: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NafKeyFile {
    pub naf_id: String,
    pub b_tid: String,
    pub ks_int_naf: String,
}

fn app_name(app: App) -> &'static str {
    match app {
        App::Usim => "usim",
        App::Isim => "isim",
    }
}

fn store_file(s: &NafStore) -> NafStoreFile {
    NafStoreFile {
        slots: s
            .slots
            .iter()
            .map(|k| {
                k.as_ref().map(|k| NafKeyFile {
                    naf_id: hex::encode(&k.naf_id),
                    b_tid: k.b_tid.clone(),
                    ks_int_naf: hex::encode(k.ks_int_naf.expose()),
                })
            })
            .collect(),
        lru: s.lru.clone(),
    }
}

/// The card's persistent state as a state file.
#[must_use]
pub(crate) fn to_file(card: &Card) -> StateFile {
    let p = card.persistent();
    let tree = card.tree();
    let files = tree
        .nodes
        .iter()
        .enumerate()
        // EF.ARR describes the card's rules, which come from the code: never kept. A linked
        // EF's contents are kept under the EF it shows.
        .filter(|(i, n)| {
            matches!(n.kind, NodeKind::Ef { .. }) && !tree.is_arr(*i) && tree.storage(*i) == *i
        })
        .map(|(i, n)| (n.path.clone(), hex::encode(&p.files[i])))
        .collect();
    let pins = p
        .pins
        .iter()
        .enumerate()
        .map(|(i, pin)| {
            (
                pin::name(i).to_owned(),
                PinFile {
                    value: hex::encode(pin.value.block()),
                    enabled: pin.enabled,
                    tries_left: pin.tries_left,
                    puk: pin.puk.as_ref().map(|v| hex::encode(v.block())),
                    puk_tries_left: pin.puk_tries_left,
                },
            )
        })
        .collect();
    let mut naf_keys = BTreeMap::new();
    naf_keys.insert("usim".to_owned(), store_file(&p.naf_usim));
    naf_keys.insert("isim".to_owned(), store_file(&p.naf_isim));
    StateFile {
        format: STATE_FORMAT,
        iccid: card.profile().iccid.clone(),
        files,
        pins,
        sqn_seq_ms: p.sqn.slots().to_vec(),
        gba: p.gba.as_ref().map(|g| GbaFile {
            app: app_name(g.app).to_owned(),
            ks: hex::encode(g.ks.expose()),
            rand: hex::encode(g.rand.0),
        }),
        naf_keys,
    }
}

fn hex_fixed<const N: usize>(field: &str, text: &str) -> Result<[u8; N], StateError> {
    gbau_core::hexutil::parse_fixed::<N>(text).map_err(|e| bad(field, e.to_string()))
}

fn hex_any(field: &str, text: &str) -> Result<Vec<u8>, StateError> {
    gbau_core::hexutil::parse_hex(text).map_err(|e| bad(field, e.to_string()))
}

fn store_from(
    name: &str,
    f: Option<&NafStoreFile>,
    records: usize,
) -> Result<NafStore, StateError> {
    let Some(f) = f else {
        return Ok(NafStore {
            slots: vec![None; records],
            lru: Vec::new(),
        });
    };
    if f.slots.len() != records {
        return Err(bad(
            format!("naf_keys.{name}.slots"),
            format!(
                "{} slots, the profile has {records} EF_GBANL records",
                f.slots.len()
            ),
        ));
    }
    if f.lru.iter().any(|r| *r == 0 || usize::from(*r) > records) {
        return Err(bad(
            format!("naf_keys.{name}.lru"),
            "record number out of range",
        ));
    }
    let mut slots = Vec::with_capacity(records);
    for (i, s) in f.slots.iter().enumerate() {
        let field = format!("naf_keys.{name}.slots[{i}]");
        slots.push(match s {
            None => None,
            Some(k) => Some(NafKey {
                naf_id: hex_any(&field, &k.naf_id)?,
                b_tid: k.b_tid.clone(),
                ks_int_naf: KsIntNaf::new(hex_fixed(&field, &k.ks_int_naf)?),
            }),
        });
    }
    Ok(NafStore {
        slots,
        lru: f.lru.clone(),
    })
}

/// Check a state file against the profile's card and build the persistent state.
pub(crate) fn from_file(
    profile: &Profile,
    tree: &FileTree,
    fresh: &Persistent,
    f: &StateFile,
) -> Result<Persistent, StateError> {
    if f.format != STATE_FORMAT {
        return Err(StateError::Format(f.format));
    }
    if f.iccid != profile.iccid {
        return Err(StateError::OtherCard {
            state: f.iccid.clone(),
            profile: profile.iccid.clone(),
        });
    }
    let mut files = fresh.files.clone();
    for (path, content) in &f.files {
        let i = tree.by_path(path).ok_or_else(|| {
            bad(
                format!("files.{path}"),
                "no such file in the profile's card",
            )
        })?;
        if tree.is_arr(i) || tree.storage(i) != i {
            continue; // described by the code, or kept under the linked EF: fresh stands
        }
        let bytes = hex_any(&format!("files.{path}"), content)?;
        if bytes.len() != files[i].len() {
            return Err(bad(
                format!("files.{path}"),
                format!("{} bytes, the file has {}", bytes.len(), files[i].len()),
            ));
        }
        files[i] = bytes;
    }
    let mut pins = fresh.pins.clone();
    for (i, p) in pins.iter_mut().enumerate() {
        let name = pin::name(i);
        let pf = f
            .pins
            .get(name)
            .ok_or_else(|| bad(format!("pins.{name}"), "missing"))?;
        let value = PinValue::from_block(hex_fixed(&format!("pins.{name}.value"), &pf.value)?);
        let puk = match &pf.puk {
            Some(v) => Some(PinValue::from_block(hex_fixed(
                &format!("pins.{name}.puk"),
                v,
            )?)),
            None => None,
        };
        if pf.tries_left > p.max_tries || pf.puk_tries_left > p.max_puk_tries {
            return Err(bad(format!("pins.{name}"), "counter above its maximum"));
        }
        *p = Pin {
            value,
            enabled: pf.enabled,
            tries_left: pf.tries_left,
            puk,
            puk_tries_left: pf.puk_tries_left,
            ..p.clone()
        };
    }
    let slots: [u64; IND_SLOTS] = f.sqn_seq_ms.as_slice().try_into().map_err(|_| {
        bad(
            "sqn_seq_ms",
            format!("{} slots, expected {IND_SLOTS}", f.sqn_seq_ms.len()),
        )
    })?;
    let gba = match &f.gba {
        None => None,
        Some(g) => Some(GbaBootstrap {
            app: match g.app.as_str() {
                "usim" => App::Usim,
                "isim" => App::Isim,
                other => return Err(bad("gba.app", format!("unknown application {other:?}"))),
            },
            ks: Ks::new(hex_fixed("gba.ks", &g.ks)?),
            rand: Rand(hex_fixed("gba.rand", &g.rand)?),
        }),
    };
    Ok(Persistent {
        files,
        pins,
        sqn: SqnArray::from_parts(slots, profile.sqn_policy),
        gba,
        naf_usim: store_from("usim", f.naf_keys.get("usim"), fresh.naf_usim.slots.len())?,
        naf_isim: store_from("isim", f.naf_keys.get("isim"), fresh.naf_isim.slots.len())?,
    })
}
