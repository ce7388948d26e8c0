//! The BSF's default store: SQLite (bundled, WAL, synchronous=FULL), one file in the data
//! directory. SQNs are advanced in a transaction committed before the challenge leaves, so
//! a kill -9 never lets an SQN be handed out twice; sessions survive restarts.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::store::{Session, Store, StoreError};
use super::subscribers::GbaType;
use gbau_core::secret::Ks;

/// SQNs reserved per database write: the stored value is a high-water mark, so after a
/// crash the BSF continues above every SQN it may have handed out (skipping at most this
/// many vectors' worth, far inside any Δ), and most challenges need no disk write.
pub const SQN_BLOCK: u64 = 64;

/// Largest number of sessions committed in one transaction.
pub const MAX_BATCH: usize = 256;

type Job = (Session, std::sync::mpsc::SyncSender<Result<(), StoreError>>);

/// SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: std::sync::Arc<Mutex<Connection>>,
    /// Group commit: sessions go to a writer thread that commits everything waiting in one
    /// transaction (one fsync) and then answers each caller. Every caller still returns only
    /// after its session is durable.
    writer: Mutex<std::sync::mpsc::Sender<Job>>,
    /// Per IMPI: (next SQN to hand out, first SQN not covered by the stored mark).
    reserved: Mutex<std::collections::HashMap<String, (u64, u64)>>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(e.to_string())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sqn (impi TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS session (
    b_tid TEXT PRIMARY KEY, impi TEXT NOT NULL, rand BLOB NOT NULL, ks BLOB NOT NULL,
    gba_type TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL, uss TEXT);
CREATE INDEX IF NOT EXISTS session_expires ON session (expires);
";

impl SqliteStore {
    /// Open (or create) `dir/bsf.sqlite`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        // Sessions hold Ks: the folder is 0700 and the database 0600 from their creation;
        // SQLite gives its -wal and -shm files the database's mode.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(|e| StoreError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("bsf.sqlite");
        match std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new().write(true).create_new(true),
            0o600,
        )
        .open(&path)
        {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Failed(format!(
                    "cannot create {}: {e}",
                    path.display()
                )));
            }
            _ => {}
        }
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Failed(format!("{}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| StoreError::Failed(format!("{}: {e}", path.display())))?;
        let conn = std::sync::Arc::new(Mutex::new(conn));
        let writer = Mutex::new(spawn_writer(conn.clone()));
        Ok(Self {
            conn,
            writer,
            reserved: Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Failed("lock poisoned".into()))
    }
}

fn insert_session(c: &Connection, s: &Session) -> rusqlite::Result<usize> {
    c.execute(
        "INSERT OR REPLACE INTO session (b_tid, impi, rand, ks, gba_type, created, expires, uss) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![s.b_tid, s.impi, &s.rand[..], &s.ks.expose()[..], gba_type_name(s.gba_type), s.created as i64, s.expires as i64, s.uss],
    )
}

fn spawn_writer(conn: std::sync::Arc<Mutex<Connection>>) -> std::sync::mpsc::Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let result = (|| -> Result<(), StoreError> {
                let mut c = conn
                    .lock()
                    .map_err(|_| StoreError::Failed("lock poisoned".into()))?;
                let tx = c.transaction().map_err(err)?;
                for (s, _) in &batch {
                    insert_session(&tx, s).map_err(err)?;
                }
                tx.commit().map_err(err)
            })();
            for (_, reply) in batch {
                let _ = reply.send(result.clone());
            }
        }
    });
    tx
}

fn gba_type_name(t: GbaType) -> &'static str {
    match t {
        GbaType::GbaU => "GBA_U",
        GbaType::GbaMe => "GBA_ME",
    }
}

impl Store for SqliteStore {
    fn take_sqn(&self, impi: &str, start: u64, step: u64) -> Result<u64, StoreError> {
        let mut reserved = self
            .reserved
            .lock()
            .map_err(|_| StoreError::Failed("lock poisoned".into()))?;
        if let Some((next, limit)) = reserved.get_mut(impi) {
            if *next < *limit {
                let v = *next;
                *next += step;
                return Ok(v);
            }
        }
        let v = self.take_sqn_block(impi, start, step * SQN_BLOCK)?;
        reserved.insert(impi.to_owned(), (v + step, v + step * SQN_BLOCK));
        Ok(v)
    }

    fn set_next_sqn(&self, impi: &str, next: u64) -> Result<(), StoreError> {
        if let Ok(mut r) = self.reserved.lock() {
            r.remove(impi);
        }
        self.set_next_sqn_stored(impi, next)
    }

    fn put_session(&self, s: &Session) -> Result<(), StoreError> {
        self.put_session_stored(s)
    }

    fn session(&self, b_tid: &str) -> Result<Option<Session>, StoreError> {
        self.session_stored(b_tid)
    }

    fn delete_session(&self, b_tid: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()?
            .execute("DELETE FROM session WHERE b_tid = ?1", [b_tid])
            .map_err(err)?
            > 0)
    }

    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        self.conn()?
            .execute("DELETE FROM session WHERE expires <= ?1", [now as i64])
            .map_err(err)
    }
}

impl SqliteStore {
    /// Advance the stored mark by `span` in one committed transaction; returns the old value.
    fn take_sqn_block(&self, impi: &str, start: u64, span: u64) -> Result<u64, StoreError> {
        let mut c = self.conn()?;
        let tx = c.transaction().map_err(err)?;
        let current: Option<i64> = tx
            .query_row("SELECT next FROM sqn WHERE impi = ?1", [impi], |r| r.get(0))
            .optional()
            .map_err(err)?;
        let v = current.map_or(start, |n| n as u64);
        tx.execute("INSERT INTO sqn (impi, next) VALUES (?1, ?2) ON CONFLICT(impi) DO UPDATE SET next = ?2", params![impi, (v + span) as i64]).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(v)
    }

    fn set_next_sqn_stored(&self, impi: &str, next: u64) -> Result<(), StoreError> {
        self.conn()?
            .execute("INSERT INTO sqn (impi, next) VALUES (?1, ?2) ON CONFLICT(impi) DO UPDATE SET next = ?2", params![impi, next as i64])
            .map_err(err)?;
        Ok(())
    }

    fn put_session_stored(&self, s: &Session) -> Result<(), StoreError> {
        let (reply, done) = std::sync::mpsc::sync_channel(1);
        self.writer
            .lock()
            .map_err(|_| StoreError::Failed("lock poisoned".into()))?
            .send((s.clone(), reply))
            .map_err(|_| StoreError::Failed("the session writer stopped".into()))?;
        done.recv()
            .map_err(|_| StoreError::Failed("the session writer stopped".into()))?
    }

    fn session_stored(&self, b_tid: &str) -> Result<Option<Session>, StoreError> {
        let c = self.conn()?;
        let row = c
            .query_row("SELECT impi, rand, ks, gba_type, created, expires, uss FROM session WHERE b_tid = ?1", [b_tid], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, r.get::<_, Option<String>>(6)?))
            })
            .optional()
            .map_err(err)?;
        let Some((impi, rand, ks, gba_type, created, expires, uss)) = row else {
            return Ok(None);
        };
        let rand: [u8; 16] = rand
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Failed(format!("session {b_tid}: RAND is not 16 bytes")))?;
        let ks =
            Ks::from_slice(&ks).map_err(|e| StoreError::Failed(format!("session {b_tid}: {e}")))?;
        let gba_type = match gba_type.as_str() {
            "GBA_U" => GbaType::GbaU,
            "GBA_ME" => GbaType::GbaMe,
            other => {
                return Err(StoreError::Failed(format!(
                    "session {b_tid}: GBA type {other:?}"
                )))
            }
        };
        Ok(Some(Session {
            b_tid: b_tid.to_owned(),
            impi,
            rand,
            ks,
            gba_type,
            created: created as u64,
            expires: expires as u64,
            uss,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqns_and_sessions_survive_reopening() {
        let dir =
            std::env::temp_dir().join(format!("gbau-sqlite-{}-{}", std::process::id(), line!()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = SqliteStore::open(&dir).unwrap();
            assert_eq!(s.take_sqn("a", 32, 32).unwrap(), 32);
            assert_eq!(s.take_sqn("a", 32, 32).unwrap(), 64);
            s.put_session(&Session {
                b_tid: "b@x".into(),
                impi: "a".into(),
                rand: [1; 16],
                ks: Ks::new([2; 32]),
                gba_type: GbaType::GbaU,
                created: 5,
                expires: 10,
                uss: None,
            })
            .unwrap();
        }
        let s = SqliteStore::open(&dir).unwrap();
        assert_eq!(
            s.take_sqn("a", 32, 32).unwrap(),
            32 + 32 * SQN_BLOCK,
            "a restart continues above the reserved block: no SQN twice"
        );
        let got = s.session("b@x").unwrap().unwrap();
        assert_eq!(got.ks, Ks::new([2; 32]));
        assert_eq!(s.purge_expired(10).unwrap(), 1);
        assert!(s.session("b@x").unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
