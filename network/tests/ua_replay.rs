//! The NAF's nonces under replay, without sockets: one Authorization sent by several threads at
//! once gets exactly one 200 (the nonce is used up atomically on first use), and the BSF never
//! hands out an SQN past 2^48 - 1 (nor wraps to 0).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine;
use gbau_core::digest::{self, Response};
use gbau_core::identity::NafId;
use gbau_core::secret::KsNaf;
use gbau_network::bsf::core::{Bsf, UbRequest, ZnAnswer};
use gbau_network::bsf::store::MemoryStore;
use gbau_network::bsf::subscribers::{self, GbaType};
use gbau_network::http::Req;
use gbau_network::naf::{KeySource, Naf};
use gbau_network::zn::ZnClientError;

const KEY: [u8; 32] = [0x42; 32];
const B_TID: &str = "cmFuZA==@bsf.example.org";

/// The BSF's answer for any B-TID: a fixed GBA_U key.
struct FixedKey;

impl KeySource for FixedKey {
    fn key(&self, _b_tid: &str, _naf_id: &NafId) -> Result<ZnAnswer, ZnClientError> {
        Ok(ZnAnswer {
            impi: "001010000000001@ims.mnc001.mcc001.3gppnetwork.org".into(),
            ks_naf: KsNaf::new(KEY),
            ks_int_naf: None,
            bootstrapping_time: "2026-01-01T00:00:00Z".into(),
            expiry: "2099-01-01T00:00:00Z".into(),
            gba_type: GbaType::GbaU,
            uss: None,
        })
    }
}

fn get(authorization: Option<&str>) -> Req {
    let mut headers = vec![("host".to_owned(), "naf.example.org".to_owned())];
    if let Some(a) = authorization {
        headers.push(("authorization".to_owned(), a.to_owned()));
    }
    Req {
        method: "GET".into(),
        path: "/x".into(),
        uri: "/x".into(),
        headers,
        body: Vec::new(),
        client_cert_sha256: None,
        tls_cipher_suite: None,
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_concurrent_replay_of_one_authorization_gets_exactly_one_200() {
    let naf = Arc::new(Naf::new("naf.example.org", Box::new(FixedKey), "resource").unwrap());
    let now = 1_800_000_000;
    let mut n = 0u8;
    let mut random = move |b: &mut [u8]| {
        for x in b.iter_mut() {
            n = n.wrapping_add(1);
            *x = n;
        }
    };
    let challenge = naf.handle(&get(None), now, &mut random);
    assert_eq!(challenge.status, 401);
    let params = digest::parse(header(&challenge.headers, "www-authenticate").unwrap()).unwrap();
    let (realm, nonce) = (params.get("realm").unwrap(), params.get("nonce").unwrap());
    let password = base64::engine::general_purpose::STANDARD.encode(KEY);
    let r = Response {
        username: B_TID,
        realm,
        password: password.as_bytes(),
        method: "GET",
        uri: "/x",
        nonce,
        nc: "00000001",
        cnonce: "0a4f113b",
        qop: "auth-int",
        body: b"",
    };
    let mut fields = vec![
        ("username", B_TID),
        ("realm", realm),
        ("nonce", nonce),
        ("uri", "/x"),
        ("qop", "auth-int"),
        ("nc", "00000001"),
        ("cnonce", "0a4f113b"),
    ];
    let response = r.digest();
    fields.push(("response", &response));
    let opaque = params.get("opaque");
    if let Some(o) = opaque {
        fields.push(("opaque", o));
    }
    let authorization = digest::format(&fields, &["qop", "nc"]);

    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (naf, auth) = (naf.clone(), authorization.clone());
            std::thread::spawn(move || {
                let mut x = i as u8;
                naf.handle(&get(Some(&auth)), now, &mut |b: &mut [u8]| {
                    for v in b.iter_mut() {
                        x = x.wrapping_mul(31).wrapping_add(7);
                        *v = x;
                    }
                })
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one of the eight copies is served: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "the others get a fresh challenge: {statuses:?}"
    );
    // Sent again later, the same Authorization is a stale nonce.
    assert_eq!(
        naf.handle(&get(Some(&authorization)), now, &mut random)
            .status,
        401
    );
}

#[test]
fn the_bsf_never_hands_out_an_sqn_past_2_48_minus_1() {
    let yaml = "subscribers:\n  - imsi: \"001010000000001\"\n    mnc_length: 2\n    k: \"465b5ce8b199b49faa5f0a2ee238a6bc\"\n    opc: \"cd63cb71954a9f4e48a5994e37a02baf\"\n    amf: \"8000\"\n    sqn: \"FFFFFFFFFFC0\"\n    uicc: GBA_U\n    key_lifetime: 3600\n";
    let bsf = Bsf::new(
        "bsf.example.org",
        subscribers::parse(yaml, "test").unwrap(),
        MemoryStore::default(),
    );
    let mut k = 0u8;
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let r = bsf.ub(
            &UbRequest {
                method: "GET",
                uri: "/",
                authorization: Some(
                    r#"Digest username="001010000000001@ims.mnc001.mcc001.3gppnetwork.org", realm="bsf.example.org", nonce="", uri="/", response="""#,
                ),
                user_agent: Some("gbau 3gpp-gba-uicc"),
                body: b"",
            },
            100,
            &mut |b: &mut [u8]| {
                for x in b.iter_mut() {
                    k = k.wrapping_add(3);
                    *x = k;
                }
            },
        );
        statuses.push(r.status);
        if r.status == 500 {
            let body = String::from_utf8_lossy(&r.body).into_owned();
            assert!(body.contains("exhausted"), "{body}");
        }
    }
    let first_500 = statuses
        .iter()
        .position(|s| *s == 500)
        .expect("the SQN space runs out within 200 challenges");
    assert!(
        first_500 > 0,
        "the last SQNs below 2^48 are used: {statuses:?}"
    );
    assert!(
        statuses[..first_500].iter().all(|s| *s == 401),
        "challenges until then: {statuses:?}"
    );
    assert!(
        statuses[first_500..].iter().all(|s| *s == 500),
        "and never a wrap to SQN 0 after: {statuses:?}"
    );
}
