//! The MT's table of Ks_local_MT, one per device (seed 001 §5.4.6): kept durably in an
//! owner-only file owned by one process, pending until the device completes, proven in key
//! checks without being revealed, and replaced only by the device that holds it.
//!
//! Replacing a usable key needs a proof of possession of that key over a nonce the MT issued
//! in a `key_check` and has not yet seen used: a local process that merely names another
//! device's Device_ID cannot make the MT drop that device's key. Each issued nonce serves
//! once (a `key_confirm` or a replacement), so an observed proof cannot be replayed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use gbau_core::hexutil::to_hex;
use gbau_core::secret::KsLocalMt;
use serde::{Deserialize, Serialize};

use crate::local::{proof, Answer, KeyProof, LABEL_DEVICE_PROOF, LABEL_MT_PROOF};

/// A stored Ks_local_MT for one device. The key is a zeroizing secret type, hex in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub ks_local_mt: KsLocalMt,
    pub b_tid: String,
    pub naf_id: String,
    /// The B-TID's lifetime while pending; then the key lifetime the device was granted.
    pub lifetime: String,
    /// Derived, but the device has not said the establishment completed (seed 001 §5.5.2
    /// step 18, §5.5.3 step 16): not usable yet.
    #[serde(default)]
    pub pending: bool,
}

/// The table and its file.
pub struct KeyTable {
    store: PathBuf,
    keys: BTreeMap<String, StoredKey>,
    /// The nonce_mt last issued to each device with a usable key, not yet used.
    issued: HashMap<String, [u8; 16]>,
    /// This process's ownership of the key store, for the table's life.
    _owner: gbau_card::store::Owner,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("store", &self.store)
            .field("devices", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn load(store: &Path) -> Result<BTreeMap<String, StoredKey>, String> {
    match gbau_card::store::read_optional(store).map_err(|e| e.to_string())? {
        None => Ok(BTreeMap::new()),
        Some(b) => serde_json::from_slice(&b)
            .map_err(|e| format!("local key store {} is corrupt: {e}", store.display())),
    }
}

impl KeyTable {
    /// Take ownership of `store` (one MT per key store: two would overwrite each other's keys)
    /// and load it; a corrupt file is an error naming it.
    pub fn open(store: PathBuf) -> Result<Self, String> {
        let owner = gbau_card::store::Owner::take(&store).map_err(|e| e.to_string())?;
        let keys = load(&store)?;
        Ok(Self {
            store,
            keys,
            issued: HashMap::new(),
            _owner: owner,
        })
    }

    /// How many devices have a key (pending or not).
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No device has a key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn persist(&self) -> Result<(), String> {
        let mut bytes = serde_json::to_vec_pretty(&self.keys).map_err(|e| e.to_string())?;
        let r = gbau_card::store::write_durably(&self.store, &bytes).map_err(|e| e.to_string());
        zeroize::Zeroize::zeroize(&mut bytes);
        r
    }

    /// The stored key of a device.
    #[must_use]
    pub fn get(&self, device_id: &str) -> Option<&StoredKey> {
        self.keys.get(device_id)
    }

    /// The device's key when completed and within its lifetime.
    fn usable(&self, device_id: &str) -> Option<&KsLocalMt> {
        let k = self.keys.get(device_id).filter(|k| !k.pending)?;
        let now = crate::util::unix_now();
        gbau_core::time::parse_utc(&k.lifetime)
            .is_some_and(|t| t > now)
            .then_some(&k.ks_local_mt)
    }

    /// May a new key for `device_id` be derived? Yes when it has no usable key (none, pending
    /// or expired), or with `replace`, a proof of possession of the usable one over the nonce
    /// the MT last issued to it. `None` means go ahead; `Some` is the refusal to send.
    pub fn may_replace(&mut self, device_id: &str, replace: Option<&KeyProof>) -> Option<Answer> {
        self.usable(device_id)?;
        let Some(r) = replace else {
            return Some(Answer::error(
                "key_exists",
                format!(
                    "{device_id} already has a valid Ks_local_MT: replacing it needs that key's proof (a key check, then the proof with the request), or wait for it to expire"
                ),
            ));
        };
        if self.proof_verifies(device_id, &r.nonce, &r.nonce_mt, &r.proof) {
            None
        } else {
            Some(Answer::error(
                "key_mismatch",
                "the proof does not show the device's current Ks_local_MT over a nonce this MT issued: ask for a key check again",
            ))
        }
    }

    /// Keep a newly derived key, pending until the device says the establishment completed,
    /// durably before the MT answers.
    pub fn keep_pending(&mut self, device_id: String, key: StoredKey) -> Result<(), String> {
        self.issued.remove(&device_id);
        self.keys.insert(device_id, key);
        self.persist()
    }

    /// The device's "establishment completed" (seed 001 §5.5.2 step 18, §5.5.3 step 16): the
    /// pending key becomes usable with the lifetime the Key Center granted, never beyond the
    /// bootstrapped key's.
    pub fn complete(&mut self, device_id: &str, key_lifetime: &str) -> Result<Answer, String> {
        let Some(told) = gbau_core::time::parse_utc(key_lifetime) else {
            return Ok(Answer::error(
                "malformed_request",
                format!("key_lifetime {key_lifetime:?} is not a UTC time (YYYY-MM-DDThh:mm:ssZ)"),
            ));
        };
        let Some(k) = self.keys.get_mut(device_id).filter(|k| k.pending) else {
            return Ok(Answer::error(
                "no_pending_key",
                "no key establishment is pending for this device",
            ));
        };
        let bootstrapped = gbau_core::time::parse_utc(&k.lifetime).unwrap_or(0);
        k.lifetime = gbau_core::time::format_utc(told.min(bootstrapped));
        k.pending = false;
        let lifetime = k.lifetime.clone();
        self.persist()?;
        Ok(Answer {
            ok: true,
            lifetime: Some(lifetime),
            ..Answer::default()
        })
    }

    /// Prove the MT holds the device's stored key (its half of the key check), issuing the
    /// nonce_mt the device's proof must then cover.
    pub fn key_check(&mut self, device_id: &str, nonce: &str) -> Answer {
        let Some(nonce) = crate::util::hex_arg(nonce) else {
            return Answer::error("malformed_request", "nonce is not hex");
        };
        let Some(k) = self.usable(device_id) else {
            return Answer::error("no_key", "no valid Ks_local_MT for this device");
        };
        let mut nm = [0u8; 16];
        crate::util::os_random(&mut nm);
        let p = proof(k.expose(), LABEL_MT_PROOF, &nonce, &nm, device_id);
        self.issued.insert(device_id.to_owned(), nm);
        Answer {
            ok: true,
            nonce_mt: Some(to_hex(&nm)),
            proof: Some(to_hex(&p)),
            ..Answer::default()
        }
    }

    /// Check the device's proof that it holds the same key.
    pub fn key_confirm(
        &mut self,
        device_id: &str,
        nonce: &str,
        nonce_mt: &str,
        got: &str,
    ) -> Answer {
        if self.usable(device_id).is_none() {
            return Answer::error("no_key", "no valid Ks_local_MT for this device");
        }
        if self.proof_verifies(device_id, nonce, nonce_mt, got) {
            Answer {
                ok: true,
                ..Answer::default()
            }
        } else {
            Answer::error(
                "key_mismatch",
                "the device does not hold this MT's Ks_local_MT (or the nonce_mt was not issued, or was used)",
            )
        }
    }

    /// The device's proof over (nonce_mt, nonce) with its usable key, where nonce_mt is the
    /// one issued to it and not yet used. The nonce is spent whatever the outcome.
    fn proof_verifies(&mut self, device_id: &str, nonce: &str, nonce_mt: &str, got: &str) -> bool {
        let issued = self.issued.remove(device_id);
        let (Some(n), Some(nm), Some(g), Some(k)) = (
            crate::util::hex_arg(nonce),
            crate::util::hex_arg(nonce_mt),
            crate::util::hex_arg(got),
            self.usable(device_id),
        ) else {
            return false;
        };
        let fresh = issued.is_some_and(|i| gbau_core::ct_eq(&i, &nm));
        let want = proof(k.expose(), LABEL_DEVICE_PROOF, &nm, &n, device_id);
        fresh && gbau_core::ct_eq(&want, &g)
    }
}
