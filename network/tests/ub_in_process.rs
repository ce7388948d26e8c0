//! Ub and Zn end to end without sockets: the MT's Digest AKA client and the soft card
//! against the BSF core (in-memory store), with injected time and randomness.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use gbau_card::{Profile, SoftCard};
use gbau_core::identity::{NafId, UaProtocolId};
use gbau_host::transport::{SoftTransport, Transport};
use gbau_host::ub::{self, HttpAnswer, ResEncoding, UbError};
use gbau_host::usim::Usim;
use gbau_network::bsf::core::{Bsf, Reply, UbRequest, ZnError, ZnRequest};
use gbau_network::bsf::store::{MemoryStore, Store};
use gbau_network::bsf::subscribers;

const BSF: &str = "bsf.mnc001.mcc001.pub.3gppnetwork.org";
const IMPI: &str = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";

fn subscribers_yaml(sqn: &str, uicc: &str) -> String {
    format!(
        "subscribers:\n  - imsi: \"001010000000001\"\n    mnc_length: 2\n    k: \"465b5ce8b199b49faa5f0a2ee238a6bc\"\n    opc: \"cd63cb71954a9f4e48a5994e37a02baf\"\n    amf: \"8000\"\n    sqn: \"{sqn}\"\n    uicc: {uicc}\n    key_lifetime: 3600\n"
    )
}

fn bsf(sqn: &str, uicc: &str) -> Bsf<MemoryStore> {
    Bsf::new(
        BSF,
        subscribers::parse(&subscribers_yaml(sqn, uicc), "test").unwrap(),
        MemoryStore::default(),
    )
}

fn card() -> SoftTransport {
    let p = Profile::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../card-applet-sim/profiles/test-set-1.yaml"),
    )
    .unwrap();
    SoftTransport {
        card: SoftCard::in_memory(p).unwrap(),
    }
}

struct Counter(u8);
impl Counter {
    fn fill(&mut self, b: &mut [u8]) {
        for x in b.iter_mut() {
            self.0 = self.0.wrapping_mul(37).wrapping_add(11);
            *x = self.0;
        }
    }
}

fn to_answer(r: Reply) -> HttpAnswer {
    let h = |n: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    HttpAnswer {
        status: r.status,
        www_authenticate: h("WWW-Authenticate"),
        authentication_info: h("Authentication-Info"),
        body: r.body.clone(),
    }
}

fn run(
    bsf: &Bsf<MemoryStore>,
    t: &mut SoftTransport,
    enc: ResEncoding,
    gba_u_ua: bool,
    now: u64,
) -> Result<ub::Bootstrapped, UbError> {
    let mut rng = Counter(7);
    let ua = ub::user_agent(gba_u_ua);
    let mut usim = Usim::new(t as &mut dyn Transport);
    usim.select_usim().unwrap();
    usim.verify_pin1("1234").unwrap();
    let mut exchange = |auth: &str| -> Result<HttpAnswer, UbError> {
        Ok(to_answer(bsf.ub(
            &UbRequest {
                method: "GET",
                uri: "/",
                authorization: Some(auth),
                user_agent: Some(&ua),
                body: b"",
            },
            now,
            &mut |b| rng.fill(b),
        )))
    };
    ub::bootstrap(&mut usim, IMPI, BSF, enc, "0a4f113b", &mut exchange)
}

fn naf_id(fqdn: &str) -> String {
    hex::encode(
        NafId::new(fqdn, UaProtocolId::HTTP_DIGEST)
            .unwrap()
            .to_bytes(),
    )
}

#[test]
fn gba_u_bootstrap_and_zn_give_the_cards_key() {
    let bsf = bsf("000000000020", "GBA_U");
    let mut t = card();
    let b = run(&bsf, &mut t, ResEncoding::Raw, true, 1_000_000).unwrap();
    assert!(b.b_tid.ends_with("@bsf.mnc001.mcc001.pub.3gppnetwork.org"));
    assert_eq!(b.lifetime, gbau_core::time::format_utc(1_000_000 + 3600));
    assert_eq!(b.resynchronisations, 0);
    // The card's Ks_ext_NAF equals what Zn gives the NAF.
    let mut usim = Usim::new(&mut t as &mut dyn Transport);
    assert_eq!(usim.gbabp().unwrap().b_tid, b.b_tid);
    let card_key = usim
        .gba_naf_key(&hex::decode(naf_id("naf.example.org")).unwrap(), Some(IMPI))
        .unwrap();
    let allowed = vec!["naf.example.org".to_owned()];
    let zn = bsf
        .zn(
            &ZnRequest {
                b_tid: b.b_tid.clone(),
                naf_id: naf_id("naf.example.org"),
                gba_u_aware: true,
            },
            &allowed,
            1_000_100,
        )
        .unwrap();
    assert_eq!(zn.ks_naf.expose(), card_key.expose());
    assert!(zn.ks_int_naf.is_some());
    assert_eq!(zn.impi, IMPI);
    // Key separation: a NAF authorised for naf.example.org cannot get another NAF's key.
    let other = bsf.zn(
        &ZnRequest {
            b_tid: b.b_tid.clone(),
            naf_id: naf_id("other.example.org"),
            gba_u_aware: false,
        },
        &allowed,
        1_000_100,
    );
    assert_eq!(
        other.unwrap_err(),
        ZnError::NotAuthorised {
            naf_fqdn: "other.example.org".into()
        }
    );
    // Unknown and expired B-TIDs are distinct errors.
    let unknown = bsf.zn(
        &ZnRequest {
            b_tid: "x@y".into(),
            naf_id: naf_id("naf.example.org"),
            gba_u_aware: false,
        },
        &allowed,
        1_000_100,
    );
    assert_eq!(unknown.unwrap_err().status(), (404, "unknown_b_tid"));
    let expired = bsf.zn(
        &ZnRequest {
            b_tid: b.b_tid.clone(),
            naf_id: naf_id("naf.example.org"),
            gba_u_aware: false,
        },
        &allowed,
        1_000_000 + 3600,
    );
    assert_eq!(expired.unwrap_err().status(), (410, "b_tid_expired"));
    assert_eq!(bsf.store().purge_expired(1_000_000 + 3600).unwrap(), 1);
}

#[test]
fn card_ahead_of_the_hss_resynchronises() {
    // The card first accepts a high SQN from a BSF that starts there...
    let high = bsf("ff9bb4d0b607", "GBA_U");
    let mut t = card();
    run(&high, &mut t, ResEncoding::Raw, true, 1000).unwrap();
    // ...then meets an HSS whose counter is far behind in the same IND slot (7): AUTS,
    // resynchronisation, success. (Another slot would be accepted: TS 33.102 Annex C.)
    let low = bsf("000000000027", "GBA_U");
    let b = run(&low, &mut t, ResEncoding::Hex, true, 2000).unwrap();
    assert_eq!(b.resynchronisations, 1);
    assert_eq!(b.res_encoding, ResEncoding::Hex);
}

#[test]
fn bad_requests_get_clear_statuses_and_no_session() {
    let bsf = bsf("000000000020", "GBA_U");
    let mut rng = Counter(1);
    let mut ub = |auth: Option<&str>| {
        bsf.ub(
            &UbRequest {
                method: "GET",
                uri: "/",
                authorization: auth,
                user_agent: Some("x 3gpp-gba 3gpp-gba-uicc"),
                body: b"",
            },
            10,
            &mut |b| rng.fill(b),
        )
    };
    assert_eq!(ub(None).status, 400);
    assert_eq!(ub(Some("Basic Zm9vOmJhcg==")).status, 400);
    // An unknown user gets a challenge like a subscriber: the status does not tell them apart.
    assert_eq!(
        ub(Some(
            "Digest username=\"unknown@x\", realm=\"r\", nonce=\"\", uri=\"/\", response=\"\""
        ))
        .status,
        401
    );
    let first = ub(Some(&ub::initial_authorization(IMPI, BSF, "/")));
    assert_eq!(first.status, 401);
    let www = first
        .headers
        .iter()
        .find(|(k, _)| k == "WWW-Authenticate")
        .unwrap()
        .1
        .clone();
    let ch = ub::parse_challenge(&www).unwrap();
    // A wrong RES: 403. Only a response that verifies uses the challenge up: it survives
    // MAX_CHALLENGE_FAILURES - 1 wrong answers, then the nonce is gone.
    let wrong = gbau_core::aka::Res::new(&[0u8; 8]).unwrap();
    let bad = ub::answer_authorization(
        &ch,
        IMPI,
        "/",
        "GET",
        Some((&wrong, ResEncoding::Raw)),
        None,
        "c",
    );
    for _ in 0..gbau_network::bsf::core::MAX_CHALLENGE_FAILURES {
        assert_eq!(ub(Some(&bad)).status, 403);
    }
    let replay = ub(Some(&bad));
    assert_eq!(replay.status, 401);
    assert!(
        replay
            .headers
            .iter()
            .any(|(k, v)| k == "WWW-Authenticate" && v.contains("stale=TRUE")),
        "replayed nonce gets a fresh, stale challenge"
    );
    assert_eq!(
        bsf.store().purge_expired(0).unwrap(),
        0,
        "no session was created"
    );
    let m = bsf.ub(
        &UbRequest {
            method: "DELETE",
            uri: "/",
            authorization: None,
            user_agent: None,
            body: b"",
        },
        10,
        &mut |_| {},
    );
    assert_eq!(m.status, 405);
}

#[test]
fn the_subscription_decides_gba_u_not_the_user_agent() {
    // TS 33.220 §5: GBA_U or GBA_ME "based on subscription information (i.e. UICC
    // capabilities)". A GBA_U subscriber gets AUTN* and a flipped XRES even when the UE's
    // User-Agent lacks 3gpp-gba-uicc: the GBA_U card bootstraps.
    let bsf_u = bsf("000000000020", "GBA_U");
    let mut t = card();
    let b = run(&bsf_u, &mut t, ResEncoding::Raw, false, 5).unwrap();
    let zn = bsf_u
        .zn(
            &ZnRequest {
                b_tid: b.b_tid.clone(),
                naf_id: naf_id("naf.example.org"),
                gba_u_aware: true,
            },
            &["naf.example.org".to_owned()],
            6,
        )
        .unwrap();
    assert_eq!(zn.gba_type, subscribers::GbaType::GbaU);
    // A GBA_ME subscriber gets the plain AUTN even when the UE says 3gpp-gba-uicc: the card's
    // GBA bootstrapping mode expects AUTN* and refuses with 9862.
    let bsf_me = bsf("000000000020", "GBA_ME");
    let mut t = card();
    assert!(matches!(
        run(&bsf_me, &mut t, ResEncoding::Raw, true, 5),
        Err(UbError::NetworkAuthFailed)
    ));
}

/// An unknown name and a subscriber answering wrongly see the same statuses at every step.
#[test]
fn unknown_users_look_like_subscribers_answering_wrongly() {
    let bsf = bsf("000000000020", "GBA_U");
    let mut rng = Counter(3);
    let mut ub = |auth: &str| {
        bsf.ub(
            &UbRequest {
                method: "GET",
                uri: "/",
                authorization: Some(auth),
                user_agent: Some("x 3gpp-gba"),
                body: b"",
            },
            10,
            &mut |b| rng.fill(b),
        )
    };
    let mut statuses = Vec::new();
    for who in [IMPI, "001019999999999@ims.mnc001.mcc001.3gppnetwork.org"] {
        let first = ub(&ub::initial_authorization(who, BSF, "/"));
        let www = first
            .headers
            .iter()
            .find(|(k, _)| k == "WWW-Authenticate")
            .unwrap()
            .1
            .clone();
        let ch = ub::parse_challenge(&www).unwrap();
        let wrong = gbau_core::aka::Res::new(&[7u8; 8]).unwrap();
        let bad = ub::answer_authorization(
            &ch,
            who,
            "/",
            "GET",
            Some((&wrong, ResEncoding::Raw)),
            None,
            "c",
        );
        statuses.push((first.status, ub(&bad).status));
    }
    assert_eq!(statuses, vec![(401, 403), (401, 403)]);
}
