//! The store several BSF instances share: PostgreSQL. Sessions (TS 33.220 §4.5.2) are
//! committed before the answer leaves, so any instance's Zn serves them; the HSS function's
//! SQNs are claimed in blocks by one atomic statement, so no two instances ever hand out the
//! same SQN, and a resynchronisation at one instance is seen by every other.
//!
//! SQNs (TS 33.102 Annex C): each instance takes its own IND (a "lane", from a database
//! sequence at start), so SQNs from one instance rise in its own slot of the USIM's SQN array
//! whatever the others hand out; the SEQ part comes from the shared counter. Each cached block
//! is checked against the subscriber's resynchronisation epoch before use.
//!
//! The client is the synchronous `postgres` crate in a bounded `r2d2` pool: the BSF's store is
//! called from blocking threads, and a connection the database closed (restart) is dropped and
//! replaced on the next checkout.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use gbau_core::secret::Ks;
use gbau_core::sqn::IND_SLOTS;
use postgres::config::SslMode;
use postgres::types::{ToSql, Type};
use postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

mod db;

use db::{describe, to_i64, Db, Manager};
pub use db::{redact, POOL_SIZE};

use super::sqlite::SQN_BLOCK;
use super::store::{Session, Store, StoreError};
use super::subscribers::GbaType;

/// How long a request waits for a pooled connection before it is answered 503.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening one connection may take (unless the URL says `connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The advisory lock held while migrating, so instances starting at once migrate one by one.
const MIGRATION_LOCK: i64 = 0x6762_6175_6273_6601;

/// The schema, as numbered steps; `schema_version` records each applied one. Never edit a
/// step once released: add the next.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE sqn (
        impi TEXT PRIMARY KEY,
        next BIGINT NOT NULL,
        epoch BIGINT NOT NULL DEFAULT 0);
    CREATE TABLE session (
        b_tid TEXT PRIMARY KEY, impi TEXT NOT NULL, rand BYTEA NOT NULL, ks BYTEA NOT NULL,
        gba_type TEXT NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL, uss TEXT);
    CREATE INDEX session_expires ON session (expires);
    CREATE SEQUENCE bsf_lane;",
)];

/// SQNs one instance holds for one subscriber: `next` (then every `step`) up to `limit`,
/// valid while the subscriber's resynchronisation epoch is `epoch`.
#[derive(Debug, Clone, Copy)]
struct Block {
    next: u64,
    limit: u64,
    epoch: i64,
}

/// PostgreSQL store.
pub struct PgStore {
    db: Db,
    /// This instance's IND offset (0..IND_SLOTS).
    lane: u64,
    blocks: Mutex<HashMap<String, Block>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.db.target)
            .field("lane", &self.lane)
            .finish_non_exhaustive()
    }
}

/// Is this a URL for [`PgStore::connect`] (`postgres://` or `postgresql://`)?
#[must_use]
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    /// Connect to `url` (over TLS verified against `ca` when given: `sslmode=require` in the
    /// URL insists on it), create or migrate the schema, take this instance's lane and open
    /// the pool. Errors name the URL without its password. It blocks, as every method of
    /// the store does: call it outside async tasks (before the runtime, or in
    /// `spawn_blocking`).
    pub fn connect(url: &str, ca: Option<&Path>) -> Result<Self, StoreError> {
        let target = redact(url);
        if !is_postgres_url(url) {
            return Err(StoreError::Failed(format!(
                "{target}: not a PostgreSQL URL (postgres://USER@HOST:PORT/DB)"
            )));
        }
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Failed(format!("{target}: bad URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("gbau-bsf");
        }
        let tls = match ca {
            Some(ca) => Some(MakeRustlsConnect::new(
                crate::http::tls_client(ca)
                    .map_err(|e| StoreError::Failed(format!("{target}: {e}")))?,
            )),
            None if config.get_ssl_mode() == SslMode::Require => {
                return Err(StoreError::Failed(format!(
                    "{target}: sslmode=require needs the CA of the database's certificate (--store-ca)"
                )))
            }
            None => None,
        };
        let manager = Manager { config, tls };
        let mut first = manager.client().map_err(|e| {
            let why = describe(&e);
            match e.as_db_error() {
                // The server answered: a wrong database, user or password.
                Some(_) => StoreError::Failed(format!("cannot connect to {target}: {why}")),
                None => StoreError::Unavailable(format!("cannot connect to {target}: {why}")),
            }
        })?;
        let found = migrate(&mut first)
            .map_err(|e| StoreError::Failed(format!("{target}: schema: {}", describe(&e))))?;
        let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
        if found > known {
            return Err(StoreError::Failed(format!(
                "{target}: the schema is at version {found}, newer than this gbau knows ({known})"
            )));
        }
        let lane: i64 = first
            .query_one("SELECT nextval('bsf_lane')", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| StoreError::Failed(format!("{target}: {}", describe(&e))))?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(2))
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A checkout is not tested with a round trip: a connection found closed is
            // dropped by `with_client`, which tries the next.
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self {
            db: Db::new(pool, target),
            lane: lane.unsigned_abs() % IND_SLOTS as u64,
            blocks: Mutex::new(HashMap::new()),
        })
    }

    /// This instance's IND offset.
    #[must_use]
    pub fn lane(&self) -> u64 {
        self.lane
    }

    fn blocks(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Block>>, StoreError> {
        self.blocks
            .lock()
            .map_err(|_| StoreError::Failed("lock poisoned".into()))
    }

    /// Claim `span` SQNs from the shared counter in one committed statement: the first of
    /// them and the subscriber's epoch.
    fn claim(&self, impi: &str, start: u64, span: u64) -> Result<(u64, i64), StoreError> {
        let (start, span) = (to_i64(start)?, to_i64(span)?);
        let rows = self.db.with_client(|c| {
            c.query(
                "INSERT INTO sqn (impi, next, epoch) VALUES ($1, $2 + $3, 0)
                 ON CONFLICT (impi) DO UPDATE SET next = sqn.next + $3
                 RETURNING next - $3, epoch",
                &[
                    (&impi as &(dyn ToSql + Sync), Type::TEXT),
                    (&start, Type::INT8),
                    (&span, Type::INT8),
                ],
            )
        })?;
        let row = rows.first().ok_or_else(|| {
            StoreError::Failed(format!("{}: no SQN row returned", self.db.target))
        })?;
        let bad = |e: postgres::Error| StoreError::Failed(format!("sqn row: {e}"));
        let from: i64 = row.try_get(0).map_err(bad)?;
        Ok((from.unsigned_abs(), row.try_get(1).map_err(bad)?))
    }

    fn epoch(&self, impi: &str) -> Result<Option<i64>, StoreError> {
        let rows = self.db.with_client(|c| {
            c.query(
                "SELECT epoch FROM sqn WHERE impi = $1",
                &[(&impi as &(dyn ToSql + Sync), Type::TEXT)],
            )
        })?;
        rows.first()
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| StoreError::Failed(format!("sqn epoch: {e}")))
    }
}

/// Apply the missing migrations under the advisory lock; idempotent. Returns the version
/// found before.
fn migrate(c: &mut Client) -> Result<i32, postgres::Error> {
    c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = apply_migrations(c);
    let unlocked = c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    let found = result?;
    unlocked.map(|_| found)
}

fn apply_migrations(c: &mut Client) -> Result<i32, postgres::Error> {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let current: i32 = c
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
        .try_get(0)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut tx = c.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )?;
        tx.commit()?;
        tracing::info!(version, "BSF schema migrated");
    }
    Ok(current)
}

/// The first SQN at or above `from` whose IND is `start`'s IND moved by `lane`.
fn first_in_lane(from: u64, start: u64, lane: u64, step: u64) -> u64 {
    let want = (start % step + lane) % step;
    from + (want + step - from % step) % step
}

impl Store for PgStore {
    fn take_sqn(&self, impi: &str, start: u64, step: u64) -> Result<u64, StoreError> {
        let step = step.max(1);
        // A block is used only while no instance has resynchronised the subscriber since it
        // was claimed.
        let cached = self.blocks()?.get(impi).copied();
        if let Some(b) = cached.filter(|b| b.next < b.limit) {
            if self.epoch(impi)? == Some(b.epoch) {
                let mut blocks = self.blocks()?;
                if let Some(b) = blocks
                    .get_mut(impi)
                    .filter(|m| m.epoch == b.epoch && m.next < m.limit)
                {
                    let v = b.next;
                    b.next += step;
                    return Ok(v);
                }
            }
        }
        // No lock is held while the database works (it may be down for the checkout
        // timeout). Two threads claiming at once both hand out from their own block; the
        // cache keeps the newer one: later epoch, else higher.
        let span = step * SQN_BLOCK;
        let (from, epoch) = self.claim(impi, start, span)?;
        let v = first_in_lane(from, start, self.lane, step);
        let mine = Block {
            next: v + step,
            limit: from + span,
            epoch,
        };
        let mut blocks = self.blocks()?;
        let newer = blocks
            .get(impi)
            .is_none_or(|b| (mine.epoch, mine.limit) > (b.epoch, b.limit));
        if newer {
            blocks.insert(impi.to_owned(), mine);
        }
        Ok(v)
    }

    fn set_next_sqn(&self, impi: &str, next: u64) -> Result<(), StoreError> {
        let next = to_i64(next)?;
        self.db.with_client(|c| {
            c.execute(
                "INSERT INTO sqn (impi, next, epoch) VALUES ($1, $2, 1)
                 ON CONFLICT (impi) DO UPDATE SET next = $2, epoch = sqn.epoch + 1",
                &[
                    (&impi as &(dyn ToSql + Sync), Type::TEXT),
                    (&next, Type::INT8),
                ],
            )
        })?;
        self.blocks()?.remove(impi);
        Ok(())
    }

    fn put_session(&self, s: &Session) -> Result<(), StoreError> {
        self.db.put_session(s)
    }

    fn session(&self, b_tid: &str) -> Result<Option<Session>, StoreError> {
        let rows = self.db.with_client(|c| {
            c.query(
                "SELECT impi, rand, ks, gba_type, created, expires, uss FROM session
                 WHERE b_tid = $1",
                &[(&b_tid as &(dyn ToSql + Sync), Type::TEXT)],
            )
        })?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let bad = |what: &str| StoreError::Failed(format!("session {b_tid}: {what}"));
        let col = |e: postgres::Error| bad(&e.to_string());
        let rand: [u8; 16] = r
            .try_get::<_, &[u8]>(1)
            .map_err(col)?
            .try_into()
            .map_err(|_| bad("RAND is not 16 bytes"))?;
        let ks = Ks::from_slice(r.try_get::<_, &[u8]>(2).map_err(col)?)
            .map_err(|e| bad(&e.to_string()))?;
        let gba_type = match r.try_get::<_, &str>(3).map_err(col)? {
            "GBA_U" => GbaType::GbaU,
            "GBA_ME" => GbaType::GbaMe,
            other => return Err(bad(&format!("GBA type {other:?}"))),
        };
        Ok(Some(Session {
            b_tid: b_tid.to_owned(),
            impi: r.try_get(0).map_err(col)?,
            rand,
            ks,
            gba_type,
            created: r.try_get::<_, i64>(4).map_err(col)?.unsigned_abs(),
            expires: r.try_get::<_, i64>(5).map_err(col)?.unsigned_abs(),
            uss: r.try_get(6).map_err(col)?,
        }))
    }

    fn delete_session(&self, b_tid: &str) -> Result<bool, StoreError> {
        let n = self.db.with_client(|c| {
            c.execute(
                "DELETE FROM session WHERE b_tid = $1",
                &[(&b_tid as &(dyn ToSql + Sync), Type::TEXT)],
            )
        })?;
        Ok(n > 0)
    }

    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        let now = to_i64(now)?;
        let n = self.db.with_client(|c| {
            c.execute(
                "DELETE FROM session WHERE expires <= $1",
                &[(&now as &(dyn ToSql + Sync), Type::INT8)],
            )
        })?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://bsf:s3cret@db.example.org:5432/gbau?sslmode=disable"),
            "postgres://bsf:***@db.example.org:5432/gbau?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://bsf@127.0.0.1:5433/gbau?password=s3cret&application_name=x"),
            "postgresql://bsf@127.0.0.1:5433/gbau?password=***&application_name=x"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn lanes_keep_their_ind_and_stay_in_the_block() {
        // start 0x20 (IND 0), step 32: lane 3 hands out IND 3 from the block's first SEQ.
        assert_eq!(first_in_lane(0x20, 0x20, 3, 32), 0x23);
        assert_eq!(first_in_lane(0x45, 0x20, 3, 32), 0x63);
        assert_eq!(first_in_lane(0x43, 0x20, 3, 32), 0x43);
        for lane in 0..32 {
            let v = first_in_lane(0x1000, 0x27, lane, 32);
            assert!((0x1000..0x1000 + 32).contains(&v), "lane {lane}: {v:#x}");
            assert_eq!(v % 32, (7 + lane) % 32);
        }
    }
}
