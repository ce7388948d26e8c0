//! Several `gbau bsf serve --store postgres://…` processes on one throwaway PostgreSQL cluster
//! (started by the tests, on a free loopback port, removed afterwards), with soft USIMs in
//! this process bootstrapping over HTTP: Zn at one instance serves sessions made at another;
//! concurrent bootstraps for one subscriber at both never reuse an SQN and every card accepts
//! every challenge; kill -9 of one instance under load loses no answered session; the
//! database restarting gives 503s, then service again; a bad or unreachable database stops
//! the BSF at start with a clear message.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "../../network/tests/support/pg.rs"]
mod pg;
mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gbau_card::{Profile, SoftCard};
use gbau_core::identity::{NafId, UaProtocolId};
use gbau_core::milenage::Milenage;
use gbau_host::transport::Transport;
use gbau_host::ub::{Bootstrapped, ResEncoding, UbError};
use gbau_network::bsf::core::ZnRequest;
use gbau_network::zn::ZnClient;
use support::net::{setup, start_bsf_on, Bsf};
use support::{gbau, TempDir};

fn pg_bsf(dir: &TempDir, url: &str) -> Bsf {
    start_bsf_on(dir, &["--store".into(), url.into()])
}

/// A soft USIM of the test subscriber (USIM selected, PIN1 verified), and its Milenage to
/// read the SQN out of each challenge.
struct Ue {
    card: SoftCard,
    impi: String,
    milenage: Milenage,
}

fn ue() -> Ue {
    let p = Profile::from_yaml(gbau_card::profile::EMBEDDED_PROFILE).unwrap();
    let milenage = Milenage::with_constants(&p.k, p.opc.clone(), p.milenage.clone()).unwrap();
    let impi = p.imsi.impi(p.mnc_length).to_string();
    let mut card = SoftCard::in_memory(p).unwrap();
    for apdu in ["00A4040C07A0000000871002", "002000010831323334FFFFFFFF"] {
        card.transmit(&hex::decode(apdu).unwrap()).unwrap();
    }
    Ue {
        card,
        impi,
        milenage,
    }
}

const REALM: &str = "bsf.mnc001.mcc001.pub.3gppnetwork.org";

/// One full bootstrap at the BSF whose Ub is `ub`; the SQN of every challenge the BSF sent
/// goes to `sqns`.
fn bootstrap(ue: &mut Ue, ub: &str, sqns: &Mutex<Vec<u64>>) -> Result<Bootstrapped, UbError> {
    let mut http = gbau_host::ub::http_exchange(&format!("{ub}/"), true)?;
    let milenage = &ue.milenage;
    let mut exchange = |auth: &str| {
        let a = http(auth)?;
        if let Some(ch) = a
            .www_authenticate
            .as_deref()
            .and_then(|h| gbau_host::ub::parse_challenge(h).ok())
        {
            let ak = milenage.f2345(&ch.rand.0).ak;
            let mut sqn = [0u8; 8];
            for i in 0..6 {
                sqn[2 + i] = ch.autn.0[i] ^ ak[i];
            }
            sqns.lock().unwrap().push(u64::from_be_bytes(sqn));
        }
        Ok(a)
    };
    let mut usim = gbau_host::usim::Usim::new(&mut ue.card as &mut dyn Transport);
    let cnonce = format!("{:016x}", rand_u64());
    gbau_host::ub::bootstrap(
        &mut usim,
        &ue.impi,
        REALM,
        ResEncoding::Raw,
        &cnonce,
        &mut exchange,
    )
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    gbau_network::http::os_random(&mut b);
    u64::from_be_bytes(b)
}

fn zn(dir: &TempDir, bsf: &Bsf) -> ZnClient {
    ZnClient::new(
        &bsf.zn,
        &bsf.zn_resolve_pair(),
        &dir.path("pki/ca.pem"),
        &dir.path("pki/naf.example.org.client.pem"),
        &dir.path("pki/naf.example.org.client.key"),
    )
    .unwrap()
}

fn zn_request(b_tid: &str) -> ZnRequest {
    ZnRequest {
        b_tid: b_tid.to_owned(),
        naf_id: hex::encode(
            NafId::new("naf.example.org", UaProtocolId::HTTP_DIGEST)
                .unwrap()
                .to_bytes(),
        ),
        gba_u_aware: true,
    }
}

#[test]
fn a_session_made_at_one_bsf_is_served_by_the_others_zn() {
    let cluster = pg::Cluster::start();
    let url = cluster.database("gbau");
    let dir = setup();
    let (a, b) = (pg_bsf(&dir, &url), pg_bsf(&dir, &url));
    let sqns = Mutex::new(Vec::new());
    let mut ue = ue();
    for (made, other) in [(&a, &b), (&b, &a)] {
        let s = bootstrap(&mut ue, &made.ub, &sqns).unwrap();
        assert_eq!(s.resynchronisations, 0);
        let at_other = zn(&dir, other).fetch(&zn_request(&s.b_tid)).unwrap();
        let at_made = zn(&dir, made).fetch(&zn_request(&s.b_tid)).unwrap();
        assert_eq!(
            at_other.ks_naf, at_made.ks_naf,
            "the same Ks_ext_NAF at both"
        );
        assert_eq!(at_other.impi, ue.impi);
    }
}

#[test]
fn concurrent_bootstraps_at_two_bsfs_never_reuse_an_sqn() {
    let cluster = pg::Cluster::start();
    let url = cluster.database("gbau");
    let dir = setup();
    let bsfs = Arc::new([pg_bsf(&dir, &url), pg_bsf(&dir, &url)]);
    let sqns = Arc::new(Mutex::new(Vec::new()));
    // Four cards of the one subscriber, each alternating between the two BSFs.
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (bsfs, sqns) = (bsfs.clone(), sqns.clone());
            std::thread::spawn(move || {
                let mut ue = ue();
                for i in 0..12 {
                    let s = bootstrap(&mut ue, &bsfs[(t + i) % 2].ub, &sqns)
                        .unwrap_or_else(|e| panic!("card {t}, bootstrap {i}: {e}"));
                    assert_eq!(
                        s.resynchronisations, 0,
                        "card {t}, bootstrap {i}: the card refused an SQN"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let sqns = sqns.lock().unwrap();
    assert_eq!(sqns.len(), 48);
    let distinct: HashSet<u64> = sqns.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        sqns.len(),
        "an SQN was handed out twice: {sqns:x?}"
    );
    let inds: HashSet<u64> = sqns.iter().map(|s| s % 32).collect();
    assert_eq!(inds.len(), 2, "one IND per BSF: {inds:?}");
}

#[test]
fn kill_9_of_one_bsf_under_load_loses_no_answered_session() {
    let cluster = pg::Cluster::start();
    let url = cluster.database("gbau");
    let dir = setup();
    let mut a = pg_bsf(&dir, &url);
    let b = pg_bsf(&dir, &url);
    let a_ub = Arc::new(a.ub.clone());
    let answered = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (a_ub, answered, stop) = (a_ub.clone(), answered.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut ue, sqns) = (ue(), Mutex::new(Vec::new()));
                while !stop.load(Ordering::Relaxed) {
                    // After the kill, requests fail; only answered sessions count.
                    if let Ok(s) = bootstrap(&mut ue, &a_ub, &sqns) {
                        answered.lock().unwrap().push(s.b_tid);
                    }
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    while answered.lock().unwrap().len() < 20 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    a.proc.child.kill().unwrap(); // SIGKILL
    a.proc.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let answered = answered.lock().unwrap();
    assert!(
        answered.len() >= 20,
        "only {} bootstraps answered",
        answered.len()
    );
    let zn_b = zn(&dir, &b);
    for b_tid in answered.iter() {
        zn_b.fetch(&zn_request(b_tid))
            .unwrap_or_else(|e| panic!("B lost {b_tid}, answered by A before the kill: {e}"));
    }
    // B keeps bootstrapping.
    let s = bootstrap(&mut ue(), &b.ub, &Mutex::new(Vec::new())).unwrap();
    zn_b.fetch(&zn_request(&s.b_tid)).unwrap();
}

#[test]
fn a_database_restart_gives_503_then_service_again() {
    let cluster = pg::Cluster::start();
    let url = cluster.database("gbau");
    let dir = setup();
    let bsf = Arc::new(pg_bsf(&dir, &url));
    let before = bootstrap(&mut ue(), &bsf.ub, &Mutex::new(Vec::new())).unwrap();
    // Light load: one UE bootstrapping in a loop throughout.
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (bsf, outcomes, stop) = (bsf.clone(), outcomes.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut ue, sqns) = (ue(), Mutex::new(Vec::new()));
            while !stop.load(Ordering::Relaxed) {
                let r = bootstrap(&mut ue, &bsf.ub, &sqns).map(|_| ());
                outcomes.lock().unwrap().push(r);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    cluster.stop_server();
    let down_from = outcomes.lock().unwrap().len();
    std::thread::sleep(Duration::from_secs(3));
    let zn_down = zn(&dir, &bsf).fetch(&zn_request(&before.b_tid));
    cluster.start_server();
    let up_from = outcomes.lock().unwrap().len();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20)
        && outcomes.lock().unwrap()[up_from..]
            .iter()
            .filter(|r| r.is_ok())
            .count()
            < 3
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let outcomes = outcomes.lock().unwrap();
    let e = zn_down.unwrap_err().to_string();
    assert!(e.contains("503"), "Zn while the database is down: {e}");
    for r in outcomes.iter() {
        if let Err(e) = r {
            assert!(
                matches!(e, UbError::Refused { status: 503, .. }),
                "a failure other than 503: {e}"
            );
        }
    }
    assert!(
        outcomes[down_from..up_from].iter().any(Result::is_err),
        "no 503 while the database was down"
    );
    assert!(
        outcomes[up_from..].iter().filter(|r| r.is_ok()).count() >= 3,
        "no service after the database came back"
    );
    zn(&dir, &bsf).fetch(&zn_request(&before.b_tid)).unwrap();
}

fn serve_fails(dir: &TempDir, store: &str) -> (i32, String) {
    let mut cmd = gbau();
    cmd.args(["bsf", "serve", "--listen", "127.0.0.1:0", "--subscribers"])
        .arg(dir.path("subs.yaml"))
        .args(["--store", store]);
    let t0 = Instant::now();
    let out = cmd.output().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_or_unreachable_database_stops_the_bsf_at_start() {
    let dir = TempDir::new("bsf-pg-start");
    std::fs::write(dir.path("subs.yaml"), support::net::SUBSCRIBERS).unwrap();
    let port = pg::free_port();
    let (code, err) = serve_fails(
        &dir,
        &format!("postgres://bsf:hunter2@127.0.0.1:{port}/gbau"),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot connect to")
            && err.contains(&format!("postgres://bsf:***@127.0.0.1:{port}/gbau")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    // The URL from a file: the same error, so the file was read.
    std::fs::write(
        dir.path("store-url"),
        format!("postgres://bsf:hunter2@127.0.0.1:{port}/gbau\n"),
    )
    .unwrap();
    let from_file = format!("@{}", dir.path("store-url").display());
    let (code, err) = serve_fails(&dir, &from_file);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("postgres://bsf:***@127.0.0.1:{port}/gbau"))
            && !err.contains("hunter2"),
        "{err}"
    );
    let (code, err) = serve_fails(&dir, "mysql://bsf@127.0.0.1/gbau");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
    let (code, err) = serve_fails(&dir, "postgres://bsf:hunter2@127.0.0.1:notaport/gbau");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad URL") && !err.contains("hunter2"), "{err}");
}
