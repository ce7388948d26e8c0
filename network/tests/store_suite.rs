//! The BSF store suite: the same cases against SQLite and PostgreSQL (a throwaway cluster this
//! harness starts and removes), each case its own test named `BACKEND::case`. Cases that need
//! several instances on one store at once (SQN claims, resynchronisation seen by the others,
//! sessions across instances, migrations racing) run where the backend allows it:
//! PostgreSQL. PostgreSQL-only cases follow: the database stopping and coming back, startup
//! errors that name the URL without its password.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "support/pg.rs"]
mod pg;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use gbau_core::secret::Ks;
use gbau_core::sqn::{Sqn, SqnArray, SqnPolicy, IND_BITS};
use gbau_network::bsf::postgres::PgStore;
use gbau_network::bsf::sqlite::SqliteStore;
use gbau_network::bsf::store::{Session, Store, StoreError};
use gbau_network::bsf::subscribers::GbaType;
use libtest_mimic::{Arguments, Failed, Trial};

const STEP: u64 = 1 << IND_BITS;
const START: u64 = 0x20;

/// Opens one more instance on the test's store.
type Opener = Arc<dyn Fn() -> Box<dyn Store> + Send + Sync>;

fn session(b_tid: &str, expires: u64) -> Session {
    Session {
        b_tid: b_tid.into(),
        impi: "001010000000001@ims.mnc001.mcc001.3gppnetwork.org".into(),
        rand: [7; 16],
        ks: Ks::new([9; 32]),
        gba_type: GbaType::GbaU,
        created: 100,
        expires,
        uss: Some("uss".into()),
    }
}

fn check(ok: bool, what: String) -> Result<(), Failed> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn e(e: StoreError) -> Failed {
    e.to_string().into()
}

// ---- cases for any store ----

fn sqns_rise_and_never_repeat(open: &Opener) -> Result<(), Failed> {
    let s = open();
    let first = s.take_sqn("a", START, STEP).map_err(e)?;
    check(
        first >= START,
        format!("first SQN {first:#x} below the start"),
    )?;
    let mut last = first;
    for _ in 0..200 {
        let v = s.take_sqn("a", START, STEP).map_err(e)?;
        check(v > last, format!("{v:#x} after {last:#x}: not rising"))?;
        check(v % STEP == first % STEP, format!("{v:#x}: IND changed"))?;
        last = v;
    }
    let other = s.take_sqn("b", 0x40, STEP).map_err(e)?;
    check(other >= 0x40, format!("another IMPI starts at {other:#x}"))
}

fn sqns_continue_above_after_reopening(open: &Opener) -> Result<(), Failed> {
    let handed: Vec<u64> = {
        let s = open();
        (0..5)
            .map(|_| s.take_sqn("a", START, STEP))
            .collect::<Result<_, _>>()
            .map_err(e)?
    };
    // Dropped without a word, as a kill -9 would leave it.
    let s = open();
    let v = s.take_sqn("a", START, STEP).map_err(e)?;
    let max = handed.iter().max().copied().unwrap_or(0);
    check(
        v > max,
        format!("after reopening {v:#x}, not above {max:#x}"),
    )
}

fn resync_sets_the_next_sqn(open: &Opener) -> Result<(), Failed> {
    let s = open();
    s.take_sqn("a", START, STEP).map_err(e)?;
    let next = 0x10_0000;
    s.set_next_sqn("a", next).map_err(e)?;
    let v = s.take_sqn("a", START, STEP).map_err(e)?;
    check(
        v >= next && v < next + STEP,
        format!("after resync to {next:#x}: {v:#x}"),
    )
}

fn sessions_round_trip(open: &Opener) -> Result<(), Failed> {
    let s = open();
    check(
        s.session("x@bsf").map_err(e)?.is_none(),
        "unknown B-TID found".into(),
    )?;
    let a = session("x@bsf", 500);
    s.put_session(&a).map_err(e)?;
    check(
        s.session("x@bsf").map_err(e)? == Some(a.clone()),
        "read back differs".into(),
    )?;
    let b = Session {
        expires: 900,
        uss: None,
        gba_type: GbaType::GbaMe,
        ..a
    };
    s.put_session(&b).map_err(e)?;
    check(
        s.session("x@bsf").map_err(e)? == Some(b),
        "replacement not stored".into(),
    )?;
    check(
        s.delete_session("x@bsf").map_err(e)?,
        "delete found nothing".into(),
    )?;
    check(
        !s.delete_session("x@bsf").map_err(e)?,
        "deleted twice".into(),
    )?;
    check(
        s.session("x@bsf").map_err(e)?.is_none(),
        "deleted session served".into(),
    )
}

fn sessions_survive_reopening(open: &Opener) -> Result<(), Failed> {
    open().put_session(&session("kept@bsf", 500)).map_err(e)?;
    let got = open().session("kept@bsf").map_err(e)?;
    check(got == Some(session("kept@bsf", 500)), format!("{got:?}"))
}

fn purge_removes_only_expired(open: &Opener) -> Result<(), Failed> {
    let s = open();
    for (b, exp) in [("old@bsf", 10), ("edge@bsf", 15), ("new@bsf", 20)] {
        s.put_session(&session(b, exp)).map_err(e)?;
    }
    let n = s.purge_expired(15).map_err(e)?;
    check(n == 2, format!("purged {n}, expected 2"))?;
    check(
        s.session("new@bsf").map_err(e)?.is_some(),
        "live session purged".into(),
    )?;
    check(
        s.session("old@bsf").map_err(e)?.is_none(),
        "expired session kept".into(),
    )
}

/// Threads on `instances` stores over the same data take SQNs for one subscriber: all
/// distinct, and each thread's rising.
fn concurrent_takes_are_distinct(open: &Opener, instances: usize) -> Result<(), Failed> {
    let stores: Vec<Arc<dyn Store>> = (0..instances).map(|_| Arc::from(open())).collect();
    let mut handles = Vec::new();
    for t in 0..8 {
        let s = stores[t % stores.len()].clone();
        handles.push(std::thread::spawn(move || {
            (0..150)
                .map(|_| s.take_sqn("a", START, STEP))
                .collect::<Result<Vec<u64>, _>>()
        }));
    }
    let mut all = HashSet::new();
    for h in handles {
        let mine = h
            .join()
            .map_err(|_| Failed::from("a thread panicked"))?
            .map_err(e)?;
        check(
            mine.windows(2).all(|w| w[0] < w[1]),
            "a thread's SQNs fell".into(),
        )?;
        for v in mine {
            check(all.insert(v), format!("SQN {v:#x} handed out twice"))?;
        }
    }
    check(all.len() == 8 * 150, format!("{} distinct", all.len()))
}

// ---- cases for several instances at once ----

/// A UE bootstrapping at one instance, then the other, in turn: the USIM's SQN array (one
/// slot per IND) accepts every SQN.
fn alternating_instances_stay_fresh_for_the_usim(open: &Opener) -> Result<(), Failed> {
    let (a, b) = (open(), open());
    let mut usim = SqnArray::new(SqnPolicy::default());
    for i in 0..300 {
        let s = if i % 3 == 0 { &a } else { &b };
        let v = s.take_sqn("a", START, STEP).map_err(e)?;
        let sqn = Sqn::new(v).ok_or("SQN past 2^48")?;
        usim.check_and_accept(sqn)
            .map_err(|err| Failed::from(format!("take {i}: the USIM refuses: {err}")))?;
    }
    Ok(())
}

fn resync_at_one_is_seen_by_the_other(open: &Opener) -> Result<(), Failed> {
    let (a, b) = (open(), open());
    // Both hold a block first.
    a.take_sqn("a", START, STEP).map_err(e)?;
    b.take_sqn("a", START, STEP).map_err(e)?;
    let next = 0x40_0000;
    a.set_next_sqn("a", next).map_err(e)?;
    let v = b.take_sqn("a", START, STEP).map_err(e)?;
    check(
        v >= next,
        format!("B after A's resync to {next:#x}: {v:#x}"),
    )?;
    // Lowering works too (a USIM reset): B follows it down.
    a.set_next_sqn("a", 0x800).map_err(e)?;
    let v = b.take_sqn("a", START, STEP).map_err(e)?;
    check(
        (0x800..next).contains(&v),
        format!("B after resync to 0x800: {v:#x}"),
    )
}

fn a_session_made_at_one_is_served_by_the_other(open: &Opener) -> Result<(), Failed> {
    let (a, b) = (open(), open());
    a.put_session(&session("shared@bsf", 500)).map_err(e)?;
    let got = b.session("shared@bsf").map_err(e)?;
    check(
        got == Some(session("shared@bsf", 500)),
        format!("B read {got:?}"),
    )?;
    check(
        b.purge_expired(600).map_err(e)? == 1,
        "B did not purge A's session".into(),
    )?;
    check(
        a.session("shared@bsf").map_err(e)?.is_none(),
        "A still serves it".into(),
    )
}

fn instances_starting_at_once_migrate_once(open: &Opener) -> Result<(), Failed> {
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let open = open.clone();
            std::thread::spawn(move || open().take_sqn("a", START, STEP))
        })
        .collect();
    let mut seen = HashSet::new();
    for h in handles {
        let v = h
            .join()
            .map_err(|_| Failed::from("an opener panicked"))?
            .map_err(e)?;
        check(seen.insert(v), format!("{v:#x} twice"))?;
    }
    Ok(())
}

type Case = (&'static str, fn(&Opener) -> Result<(), Failed>);

const ANY_STORE: &[Case] = &[
    ("sqns_rise_and_never_repeat", sqns_rise_and_never_repeat),
    (
        "sqns_continue_above_after_reopening",
        sqns_continue_above_after_reopening,
    ),
    ("resync_sets_the_next_sqn", resync_sets_the_next_sqn),
    ("sessions_round_trip", sessions_round_trip),
    ("sessions_survive_reopening", sessions_survive_reopening),
    ("purge_removes_only_expired", purge_removes_only_expired),
    ("concurrent_takes_on_one_instance_are_distinct", |o| {
        concurrent_takes_are_distinct(o, 1)
    }),
];

const SEVERAL_INSTANCES: &[Case] = &[
    ("concurrent_takes_on_two_instances_are_distinct", |o| {
        concurrent_takes_are_distinct(o, 2)
    }),
    (
        "alternating_instances_stay_fresh_for_the_usim",
        alternating_instances_stay_fresh_for_the_usim,
    ),
    (
        "resync_at_one_is_seen_by_the_other",
        resync_at_one_is_seen_by_the_other,
    ),
    (
        "a_session_made_at_one_is_served_by_the_other",
        a_session_made_at_one_is_served_by_the_other,
    ),
    (
        "instances_starting_at_once_migrate_once",
        instances_starting_at_once_migrate_once,
    ),
];

fn sqlite_opener(name: &str) -> (Opener, PathBuf) {
    let dir = std::env::temp_dir().join(format!("gbau-store-suite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.clone();
    (
        Arc::new(move || Box::new(SqliteStore::open(&d).expect("open SQLite"))),
        dir,
    )
}

fn pg_opener(cluster: &pg::Cluster, name: &str) -> Opener {
    let url = cluster.database(name);
    Arc::new(move || Box::new(PgStore::connect(&url, None).expect("connect to PostgreSQL")))
}

// ---- PostgreSQL only ----

/// The database stops: requests fail with `Unavailable` (no panic, within the checkout
/// timeout); it starts again: the same store serves again.
fn database_restart(cluster: &pg::Cluster) -> Result<(), Failed> {
    let s = PgStore::connect(&cluster.database("restart"), None).map_err(e)?;
    s.put_session(&session("before@bsf", 500)).map_err(e)?;
    cluster.stop_server();
    let t0 = std::time::Instant::now();
    let down = s.session("before@bsf");
    let took = t0.elapsed();
    let sqn_down = s.take_sqn("z", START, STEP);
    cluster.start_server();
    check(
        matches!(down, Err(StoreError::Unavailable(_))),
        format!("while down: {down:?}"),
    )?;
    check(
        matches!(sqn_down, Err(StoreError::Unavailable(_))),
        format!("SQN while down: {sqn_down:?}"),
    )?;
    check(
        took < std::time::Duration::from_secs(10),
        format!("took {took:?} to fail"),
    )?;
    let back = s.session("before@bsf").map_err(e)?;
    check(
        back == Some(session("before@bsf", 500)),
        format!("after restart: {back:?}"),
    )?;
    s.take_sqn("z", START, STEP).map_err(e).map(|_| ())
}

fn startup_errors_name_the_url_without_its_password(cluster: &pg::Cluster) -> Result<(), Failed> {
    let unused = pg::free_port();
    let down = PgStore::connect(
        &format!("postgres://bsf:hunter2@127.0.0.1:{unused}/gbau"),
        None,
    );
    let msg = format!("{:?}", down.as_ref().err());
    check(
        matches!(down, Err(StoreError::Unavailable(_))),
        format!("unreachable: {msg}"),
    )?;
    check(
        msg.contains(&format!("postgres://bsf:***@127.0.0.1:{unused}/gbau"))
            && !msg.contains("hunter2"),
        format!("message: {msg}"),
    )?;
    let bad = PgStore::connect(
        &format!(
            "postgres://postgres:hunter2@127.0.0.1:{}/gbau?nonsense=1",
            cluster.port()
        ),
        None,
    );
    let msg = format!("{:?}", bad.as_ref().err());
    check(
        matches!(bad, Err(StoreError::Failed(_))) && !msg.contains("hunter2"),
        format!("bad URL: {msg}"),
    )?;
    let missing = PgStore::connect(
        &format!(
            "postgres://postgres@127.0.0.1:{}/no_such_db",
            cluster.port()
        ),
        None,
    );
    let msg = format!("{:?}", missing.as_ref().err());
    check(
        missing.is_err() && msg.contains("no_such_db"),
        format!("missing database: {msg}"),
    )
}

/// A database migrated by a newer gbau is refused, not written to.
fn a_newer_schema_is_refused(cluster: &pg::Cluster) -> Result<(), Failed> {
    let url = cluster.database("newer");
    drop(PgStore::connect(&url, None).map_err(e)?);
    let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
    c.batch_execute("INSERT INTO schema_version (version) VALUES (999)")?;
    let r = PgStore::connect(&url, None);
    let msg = format!("{:?}", r.as_ref().err());
    check(
        matches!(r, Err(StoreError::Failed(_))) && msg.contains("version 999"),
        format!("newer schema: {msg}"),
    )
}

/// TLS to a database that accepts nothing else: with the CA, the store works; without TLS,
/// or with `sslmode=require` and no CA, or against another CA, it refuses to start.
fn tls_to_the_database() -> Result<(), Failed> {
    let dir = std::env::temp_dir().join(format!("gbau-store-suite-{}-tls", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    gbau_network::pki::create(&dir.join("pki"), &["server:localhost".to_owned()])?;
    gbau_network::pki::create(&dir.join("other"), &["server:localhost".to_owned()])?;
    let cluster = pg::Cluster::start_tls(
        &dir.join("pki/localhost.pem"),
        &dir.join("pki/localhost.key"),
    );
    let url = format!("postgres://postgres@localhost:{}/postgres", cluster.port());
    let required = format!("{url}?sslmode=require");
    let result = (|| {
        let s = PgStore::connect(&required, Some(&dir.join("pki/ca.pem"))).map_err(e)?;
        s.put_session(&session("tls@bsf", 500)).map_err(e)?;
        check(
            s.session("tls@bsf").map_err(e)?.is_some(),
            "session over TLS".into(),
        )?;
        let plain = PgStore::connect(&url, None);
        check(plain.is_err(), "a plain connection was accepted".into())?;
        let no_ca = format!("{:?}", PgStore::connect(&required, None).err());
        check(
            no_ca.contains("--store-ca"),
            format!("without a CA: {no_ca}"),
        )?;
        let other = PgStore::connect(&required, Some(&dir.join("other/ca.pem")));
        check(
            other.is_err(),
            "a certificate of another CA was trusted".into(),
        )
    })();
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn main() {
    let args = Arguments::from_args();
    // Started by the first PostgreSQL case that runs, stopped and removed at the end.
    let cluster: Arc<OnceLock<pg::Cluster>> = Arc::new(OnceLock::new());
    let mut trials = Vec::new();
    for &(name, case) in ANY_STORE {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            let (open, dir) = sqlite_opener(name);
            let r = case(&open);
            let _ = std::fs::remove_dir_all(dir);
            r
        }));
    }
    for (i, &(name, case)) in ANY_STORE.iter().chain(SEVERAL_INSTANCES).enumerate() {
        let c = cluster.clone();
        trials.push(Trial::test(format!("postgres::{name}"), move || {
            case(&pg_opener(
                c.get_or_init(pg::Cluster::start),
                &format!("case{i}"),
            ))
        }));
    }
    let c = cluster.clone();
    trials.push(Trial::test(
        "postgres::startup_errors_name_the_url_without_its_password",
        move || startup_errors_name_the_url_without_its_password(c.get_or_init(pg::Cluster::start)),
    ));
    let c = cluster.clone();
    trials.push(Trial::test(
        "postgres::a_newer_schema_is_refused",
        move || a_newer_schema_is_refused(c.get_or_init(pg::Cluster::start)),
    ));
    trials.push(Trial::test(
        "postgres::tls_to_the_database",
        tls_to_the_database,
    ));
    // This one stops its server: a cluster of its own.
    trials.push(Trial::test("postgres::database_restart", || {
        database_restart(&pg::Cluster::start())
    }));
    let conclusion = libtest_mimic::run(&args, trials);
    drop(cluster);
    conclusion.exit();
}
