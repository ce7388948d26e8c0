//! Storage of the BSF: subscriber SQNs and bootstrapping sessions, behind one trait. The
//! in-memory store is for tests; the default store is SQLite (see `sqlite`), one file per BSF;
//! PostgreSQL (see `postgres`) is the store several BSF instances share.

use std::collections::HashMap;
use std::sync::Mutex;

use gbau_core::secret::Ks;

use super::subscribers::GbaType;

/// A bootstrapping session (TS 33.220 §4.5.2): what the BSF keeps per B-TID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub b_tid: String,
    pub impi: String,
    pub rand: [u8; 16],
    pub ks: Ks,
    pub gba_type: GbaType,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds.
    pub expires: u64,
    pub uss: Option<String>,
}

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached now (database down or restarting, every pooled connection
    /// busy): nothing was decided, the client may retry (a server answers 503).
    #[error("BSF store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with a failure (SQL error, a corrupt row, a poisoned lock).
    #[error("BSF store: {0}")]
    Failed(String),
}

/// What the BSF persists.
pub trait Store: Send + Sync {
    /// The SQN to use for the next vector of `impi` (starting at `start`), advancing the
    /// stored value by `step` durably before returning: an SQN is never handed out twice.
    fn take_sqn(&self, impi: &str, start: u64, step: u64) -> Result<u64, StoreError>;
    /// Set the next SQN after a resynchronisation.
    fn set_next_sqn(&self, impi: &str, next: u64) -> Result<(), StoreError>;
    /// Store a session (replacing one with the same B-TID).
    fn put_session(&self, s: &Session) -> Result<(), StoreError>;
    /// A session by B-TID.
    fn session(&self, b_tid: &str) -> Result<Option<Session>, StoreError>;
    /// Forget a session (forced expiry, tests, administration).
    fn delete_session(&self, b_tid: &str) -> Result<bool, StoreError>;
    /// Remove sessions whose expiry has passed; returns how many.
    fn purge_expired(&self, now: u64) -> Result<usize, StoreError>;
}

/// A boxed store is a store: the server picks SQLite or PostgreSQL at run time.
impl<T: Store + ?Sized> Store for Box<T> {
    fn take_sqn(&self, impi: &str, start: u64, step: u64) -> Result<u64, StoreError> {
        (**self).take_sqn(impi, start, step)
    }

    fn set_next_sqn(&self, impi: &str, next: u64) -> Result<(), StoreError> {
        (**self).set_next_sqn(impi, next)
    }

    fn put_session(&self, s: &Session) -> Result<(), StoreError> {
        (**self).put_session(s)
    }

    fn session(&self, b_tid: &str) -> Result<Option<Session>, StoreError> {
        (**self).session(b_tid)
    }

    fn delete_session(&self, b_tid: &str) -> Result<bool, StoreError> {
        (**self).delete_session(b_tid)
    }

    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        (**self).purge_expired(now)
    }
}

/// Everything in memory (tests).
#[derive(Debug, Default)]
pub struct MemoryStore {
    sqn: Mutex<HashMap<String, u64>>,
    sessions: Mutex<HashMap<String, Session>>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Failed("lock poisoned".into())
}

impl Store for MemoryStore {
    fn take_sqn(&self, impi: &str, start: u64, step: u64) -> Result<u64, StoreError> {
        let mut m = self.sqn.lock().map_err(poisoned)?;
        let v = *m.get(impi).unwrap_or(&start);
        m.insert(impi.to_owned(), v + step);
        Ok(v)
    }

    fn set_next_sqn(&self, impi: &str, next: u64) -> Result<(), StoreError> {
        self.sqn
            .lock()
            .map_err(poisoned)?
            .insert(impi.to_owned(), next);
        Ok(())
    }

    fn put_session(&self, s: &Session) -> Result<(), StoreError> {
        self.sessions
            .lock()
            .map_err(poisoned)?
            .insert(s.b_tid.clone(), s.clone());
        Ok(())
    }

    fn session(&self, b_tid: &str) -> Result<Option<Session>, StoreError> {
        Ok(self.sessions.lock().map_err(poisoned)?.get(b_tid).cloned())
    }

    fn delete_session(&self, b_tid: &str) -> Result<bool, StoreError> {
        Ok(self
            .sessions
            .lock()
            .map_err(poisoned)?
            .remove(b_tid)
            .is_some())
    }

    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        let mut m = self.sessions.lock().map_err(poisoned)?;
        let before = m.len();
        m.retain(|_, s| s.expires > now);
        Ok(before - m.len())
    }
}
