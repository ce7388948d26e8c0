//! The PostgreSQL store's connection side: a bounded pool that replaces connections the
//! database closed, errors sorted into "unavailable" (503) and "failed", URLs shown without
//! their password, and the session write.

use postgres::types::{ToSql, Type};
use std::collections::HashMap;

use postgres::{Client, NoTls, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::bsf::store::{Session, StoreError};
use crate::bsf::subscribers::GbaType;

/// Connections one BSF instance holds at most.
pub const POOL_SIZE: u32 = 16;

pub type Pool = r2d2::Pool<Manager>;

/// A pooled connection with the statements it has prepared: each statement is parsed and
/// planned once per connection, not once per request.
pub struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// Parameters with their types (statements are prepared with exactly these types).
pub type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

impl Conn {
    fn statement(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
        let s = self.client.prepare_typed(sql, &types)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Run a query (prepared on first use).
    pub fn query(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let st = self.statement(sql, params)?;
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        self.client.query(&st, &values)
    }

    /// Run a statement (prepared on first use); the rows it changed.
    pub fn execute(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let st = self.statement(sql, params)?;
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        self.client.execute(&st, &values)
    }
}

/// Opens connections for the pool: plain, or TLS verified against the given CA.
pub struct Manager {
    pub config: postgres::Config,
    pub tls: Option<MakeRustlsConnect>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// One connection, outside the pool.
    pub fn client(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        Ok(Conn {
            client: self.client()?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, c: &mut Conn) -> Result<(), postgres::Error> {
        c.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, c: &mut Conn) -> bool {
        c.client.is_closed()
    }
}

/// The pool and the URL it reaches (password redacted).
pub struct Db {
    /// `None` only while dropping (see `Drop`).
    pool: Option<Pool>,
    pub target: String,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Closing a connection of the synchronous client runs a small runtime of its own, which
/// must not happen on an async worker (the last BSF handle can be dropped there when a
/// server shuts down): the pool is closed on a thread of its own.
impl Drop for Db {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(pool));
            }
        }
    }
}

/// The URL with any password replaced by `***`: what messages and logs may show.
#[must_use]
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let tail = redact_query_password(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => format!("{scheme}://{userinfo}@{host}{tail}"),
        },
        None => format!("{scheme}://{authority}{tail}"),
    }
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// The error with its cause: the client's own text is only "db error" for what the
/// server said.
pub fn describe(e: &postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => db.to_string(),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

/// A failure the database may recover from (it is down, restarting or refusing
/// connections) as opposed to one it answered.
fn is_transient(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_some_and(|c| {
            let c = c.code();
            c.starts_with("08") || c.starts_with("57P") || c == "53300"
        })
        || (e.as_db_error().is_none() && e.code().is_none())
}

impl Db {
    pub fn new(pool: Pool, target: String) -> Self {
        Self {
            pool: Some(pool),
            target,
        }
    }

    /// Run `f` on a pooled connection. A connection the database closed (say it restarted)
    /// is dropped and `f` runs again on the next; when no connection can be had the error is
    /// `Unavailable`. `f` must be safe to repeat.
    pub fn with_client<T>(
        &self,
        f: impl Fn(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut last = None;
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| StoreError::Failed("the store is closing".into()))?;
        for _ in 0..=POOL_SIZE {
            let mut c = pool.get().map_err(|e| {
                let why = last.as_ref().map_or(e.to_string(), describe);
                StoreError::Unavailable(format!("{}: {why}", self.target))
            })?;
            match f(&mut c) {
                Ok(v) => return Ok(v),
                Err(e) if c.client.is_closed() || e.is_closed() => last = Some(e),
                Err(e) if is_transient(&e) => {
                    return Err(StoreError::Unavailable(format!(
                        "{}: {}",
                        self.target,
                        describe(&e)
                    )))
                }
                Err(e) => {
                    return Err(StoreError::Failed(format!(
                        "{}: {}",
                        self.target,
                        describe(&e)
                    )))
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "{}: every connection was closed",
            self.target
        )))
    }

    /// Store a session (an upsert: safe to repeat); returns once it is committed. Concurrent
    /// requests commit on their own connections, and PostgreSQL flushes their commits
    /// together (its group commit): a writer thread batching them here was slower.
    pub fn put_session(&self, s: &Session) -> Result<(), StoreError> {
        let (created, expires) = (to_i64(s.created)?, to_i64(s.expires)?);
        let kind = gba_type_name(s.gba_type);
        let (rand, ks) = (&s.rand[..], &s.ks.expose()[..]);
        self.with_client(|c| {
            c.execute(
                "INSERT INTO session (b_tid, impi, rand, ks, gba_type, created, expires, uss)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (b_tid) DO UPDATE SET impi = $2, rand = $3, ks = $4,
                     gba_type = $5, created = $6, expires = $7, uss = $8",
                &[
                    (&s.b_tid as &(dyn ToSql + Sync), Type::TEXT),
                    (&s.impi, Type::TEXT),
                    (&rand, Type::BYTEA),
                    (&ks, Type::BYTEA),
                    (&kind, Type::TEXT),
                    (&created, Type::INT8),
                    (&expires, Type::INT8),
                    (&s.uss, Type::TEXT),
                ],
            )
        })
        .map(|_| ())
    }
}

pub fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Failed(format!("value {v} out of range")))
}

pub fn gba_type_name(t: GbaType) -> &'static str {
    match t {
        GbaType::GbaU => "GBA_U",
        GbaType::GbaMe => "GBA_ME",
    }
}
