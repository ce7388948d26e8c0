//! GBA_ME: the MT keeps Ks (CK ‖ IK), RAND, B-TID and lifetime itself (TS 33.220 §4.5.2),
//! per IMPI, in `~/.local/state/gbau/gba-me.json` (owner-only, written durably).

use std::collections::BTreeMap;
use std::path::PathBuf;

use gbau_core::aka::Rand;
use gbau_core::hexutil::{parse_fixed, to_hex};
use gbau_core::secret::Ks;
use serde::{Deserialize, Serialize};

/// One GBA_ME bootstrapping as the MT keeps it (Ks a zeroizing secret type, hex in the file).
#[derive(Clone, Serialize, Deserialize)]
pub struct MeSession {
    pub b_tid: String,
    pub lifetime: String,
    rand: String,
    ks: Ks,
}

impl std::fmt::Debug for MeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeSession")
            .field("b_tid", &self.b_tid)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl MeSession {
    /// Record a bootstrapping.
    #[must_use]
    pub fn new(b_tid: &str, lifetime: &str, rand: &Rand, ks: &Ks) -> Self {
        Self {
            b_tid: b_tid.to_owned(),
            lifetime: lifetime.to_owned(),
            rand: to_hex(&rand.0),
            ks: ks.clone(),
        }
    }

    /// Ks and RAND.
    #[must_use]
    pub fn key(&self) -> Option<(Ks, Rand)> {
        Some((self.ks.clone(), Rand(parse_fixed(&self.rand).ok()?)))
    }

    /// Whether the lifetime has not passed.
    #[must_use]
    pub fn valid(&self, now: u64) -> bool {
        gbau_core::time::parse_utc(&self.lifetime).is_some_and(|t| t > now)
    }
}

fn path() -> PathBuf {
    crate::session::default_sim_path().with_file_name("gba-me.json")
}

fn load() -> Result<BTreeMap<String, MeSession>, String> {
    let p = path();
    match gbau_card::store::read_optional(&p).map_err(|e| e.to_string())? {
        None => Ok(BTreeMap::new()),
        Some(b) => {
            serde_json::from_slice(&b).map_err(|e| format!("{} is corrupt: {e}", p.display()))
        }
    }
}

/// The GBA_ME session of an IMPI.
pub fn get(impi: &str) -> Result<Option<MeSession>, String> {
    Ok(load()?.remove(impi))
}

/// Store the GBA_ME session of an IMPI (replacing the previous one).
pub fn put(impi: &str, s: &MeSession) -> Result<(), String> {
    let mut all = load()?;
    all.insert(impi.to_owned(), s.clone());
    let p = path();
    if let Some(dir) = p.parent() {
        gbau_card::store::own_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    gbau_card::store::write_durably(
        &p,
        &serde_json::to_vec_pretty(&all).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())
}

/// B-TID and lifetime of a GBA_U bootstrapping that the card's EF_GBABP is too small to hold
/// (a sysmoISIM-SJA2's is 64 bytes: RAND, a standard B-TID and the lifetime need about 101).
/// The MT keeps them with the run's RAND; they count only while the card's EF_GBABP holds that
/// same RAND, so a later bootstrap by anyone else makes them stale. Ks stays on the card.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GbaURun {
    pub rand: String,
    pub b_tid: String,
    pub lifetime: String,
}

fn gba_u_path() -> PathBuf {
    crate::session::default_sim_path().with_file_name("gba-u-runs.json")
}

/// The GBA_U run the MT keeps for an IMPI.
pub fn gba_u_run(impi: &str) -> Result<Option<GbaURun>, String> {
    let p = gba_u_path();
    let all: BTreeMap<String, GbaURun> =
        match gbau_card::store::read_optional(&p).map_err(|e| e.to_string())? {
            None => BTreeMap::new(),
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("{} is corrupt: {e}", p.display()))?,
        };
    Ok(all.get(impi).cloned())
}

/// Keep a GBA_U run's B-TID and lifetime for an IMPI (replacing the previous one).
pub fn put_gba_u_run(impi: &str, run: &GbaURun) -> Result<(), String> {
    let p = gba_u_path();
    let mut all: BTreeMap<String, GbaURun> =
        match gbau_card::store::read_optional(&p).map_err(|e| e.to_string())? {
            None => BTreeMap::new(),
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("{} is corrupt: {e}", p.display()))?,
        };
    all.insert(impi.to_owned(), run.clone());
    if let Some(dir) = p.parent() {
        gbau_card::store::own_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    gbau_card::store::write_durably(
        &p,
        &serde_json::to_vec_pretty(&all).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())
}
