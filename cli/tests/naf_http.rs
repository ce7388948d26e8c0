//! `gbau http GET` against a NAF and a BSF on 127.0.0.1: the first request bootstraps, the
//! NAF fetches Ks_ext_NAF over Zn, the digest verifies; a later request reuses the B-TID;
//! when the BSF forgets the session the NAF's 401 is a key-update indication and the MT
//! bootstraps again and retries once.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use support::gbau;
use support::net::{setup, start_bsf, start_naf, Naf};

fn http(dir: &support::TempDir, naf: &Naf, path: &str, bsf: &str) -> serde_json::Value {
    let url = format!("{}{path}", naf.url);
    let out = gbau()
        .env("HOME", &dir.0)
        .arg("--sim")
        .arg(dir.path("card.json"))
        .args(["http", "GET", &url, "--bsf", bsf, "--json"])
        .args(["--resolve", &naf.resolve])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("gbau http: {}", String::from_utf8_lossy(&out.stderr)));
    j
}

#[test]
fn fetch_with_gba_and_key_update() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    let naf = start_naf(&dir, &bsf, "naf.example.org");
    let bsf_url = format!("{}/", bsf.ub);

    let first = http(&dir, &naf, "resource", &bsf_url);
    assert_eq!(first["status"], 200, "{first}");
    assert!(first["body"]
        .as_str()
        .unwrap()
        .starts_with("hello from the gbau NAF"));
    assert_eq!(first["bootstraps"], 1);
    assert_eq!(first["realm"], "3GPP-bootstrapping-uicc@naf.example.org");
    let b_tid = first["b_tid"].as_str().unwrap().to_owned();

    let second = http(&dir, &naf, "resource", &bsf_url);
    assert_eq!(second["status"], 200);
    assert_eq!(second["bootstraps"], 0, "a valid B-TID is reused");
    assert_eq!(second["b_tid"], b_tid.as_str());

    // The BSF forgets every session (new data directory), and the NAF restarts with an empty
    // cache: the old B-TID is unknown, the NAF asks for a key update, the MT bootstraps again.
    drop(naf);
    drop(bsf);
    std::fs::remove_dir_all(dir.path("data")).unwrap();
    let bsf = start_bsf(&dir);
    let naf = start_naf(&dir, &bsf, "naf.example.org");
    let third = http(&dir, &naf, "resource", &format!("{}/", bsf.ub));
    assert_eq!(third["status"], 200, "{third}");
    assert_eq!(third["key_update"], true);
    assert_eq!(third["bootstraps"], 1);
    assert_ne!(
        third["b_tid"],
        b_tid.as_str(),
        "a new B-TID after the key update"
    );
}

#[test]
fn a_naf_without_the_key_is_refused_cleanly() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    // other.example.org's NAF asks Zn for its own key: allowed, and the MT derives the key
    // for other.example.org, so this works too; but a wrong realm or garbage is a 400.
    let naf = start_naf(&dir, &bsf, "other.example.org");
    let j = http(&dir, &naf, "x", &format!("{}/", bsf.ub));
    assert_eq!(j["status"], 200);
    assert_eq!(j["naf_fqdn"], "other.example.org");
    let r = reqwest::blocking::Client::new()
        .get(&naf.addr_url)
        .header("Authorization", "Digest username=\"x\"")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = reqwest::blocking::Client::new()
        .get(&naf.addr_url)
        .header("Authorization", "Digest username=\"x@y\", realm=\"3GPP-bootstrapping@other.example.org\", nonce=\"unknown\", uri=\"/\", response=\"0\"")
        .send()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "an unknown nonce gets a fresh challenge"
    );
}

/// A card without the GBA service (UST 68 off): the MT falls back to GBA_ME — 3G context,
/// Ks and Ks_NAF in the MT, a GBA_ME subscription at the BSF — and says so.
#[test]
fn gba_me_fallback_with_a_card_without_gba() {
    let dir = setup();
    // The subscription says GBA_ME too: the BSF decides from it (TS 33.220 §5), so a GBA_U
    // subscription would get AUTN*, which the 3G context refuses.
    let bsf =
        support::net::start_bsf_with(&dir, &support::net::SUBSCRIBERS.replace("GBA_U", "GBA_ME"));
    let naf = start_naf(&dir, &bsf, "naf.example.org");
    let profile = std::fs::read_to_string(support::profile())
        .unwrap()
        .replace("services: [27, 68, 76]", "services: [27]");
    std::fs::write(dir.path("no-gba.yaml"), profile).unwrap();
    let no_gba = dir.path("no-gba.yaml");
    let run = |args: &[&str]| support::net::sim_json_with(&dir, Some(&no_gba), args);
    let j = run(&[
        "http",
        "GET",
        &format!("{}resource", naf.url),
        "--bsf",
        &format!("{}/", bsf.ub),
        "--resolve",
        &naf.resolve,
    ]);
    assert_eq!(j["status"], 200, "{j}");
    assert_eq!(j["mode"], "GBA_ME");
    assert!(j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s.as_str().unwrap().contains("derived in the MT (GBA_ME")));
    // A second request reuses the B-TID the MT keeps; naf-key reports it too.
    let again = run(&[
        "http",
        "GET",
        &format!("{}resource", naf.url),
        "--bsf",
        &format!("{}/", bsf.ub),
        "--resolve",
        &naf.resolve,
    ]);
    assert_eq!(
        (again["status"].as_u64(), again["bootstraps"].as_u64()),
        (Some(200), Some(0))
    );
    let k = run(&["gba", "naf-key", "--naf-fqdn", "naf.example.org"]);
    assert_eq!(
        run(&["info"])["gba_context"],
        "not supported (9864)",
        "gbau info says the card does not do GBA_U"
    );
    assert_eq!(k["b_tid"], j["b_tid"]);
    let meta = std::fs::metadata(dir.path(".local/state/gbau/gba-me.json")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "the MT's key store is owner-only"
    );
}

/// `gbau http GET` with the soft card of `dir` (made from `profile` when given): exit code,
/// JSON (when printed) and stderr.
fn http_raw(
    dir: &support::TempDir,
    profile: Option<&std::path::Path>,
    args: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    let mut cmd = gbau();
    if let Some(p) = profile {
        cmd.arg("--profile").arg(p);
    }
    let out = cmd
        .env("HOME", &dir.0)
        .arg("--sim")
        .arg(dir.path("card.json"))
        .args(["http", "GET"])
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// NAF_Id is the host the MT connected to: a server whose realm names another NAF is refused
/// before the card derives anything (TS 33.220 §4.5.2 / TS 24.109 §5.3).
#[test]
fn a_realm_naming_another_host_is_refused_and_nothing_is_derived() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    // other.example.org's NAF, reached by the name naf.example.org: its realm names
    // other.example.org, so answering would present other.example.org's key to this socket.
    let other = start_naf(&dir, &bsf, "other.example.org");
    let port = other.resolve.split(':').nth(1).unwrap().to_owned();
    let before = support::net::sim_json(&dir, &["info"]);
    let (code, _, err) = http_raw(
        &dir,
        None,
        &[
            &format!("http://naf.example.org:{port}/resource"),
            "--bsf",
            &format!("{}/", bsf.ub),
            "--resolve",
            &format!("naf.example.org:{port}:127.0.0.1"),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("naf.example.org") && err.contains("other.example.org"),
        "the error names both hosts: {err}"
    );
    let after = support::net::sim_json(&dir, &["info"]);
    assert_eq!(
        before["gbabp"], after["gbabp"],
        "no bootstrap, nothing written"
    );
    assert_eq!(before["gbanl"], after["gbanl"], "no NAF key derived");
}

/// The NAF answers only a Digest whose uri is the request's target.
#[test]
fn the_naf_checks_the_digest_uri() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    let naf = start_naf(&dir, &bsf, "naf.example.org");
    let client = reqwest::blocking::Client::new();
    let url = format!("{}resource", naf.addr_url);
    let challenge = client.get(&url).send().unwrap();
    assert_eq!(challenge.status().as_u16(), 401);
    let www = challenge
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let nonce = www
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let r = client
        .get(&url)
        .header(
            "Authorization",
            format!("Digest username=\"x@y\", realm=\"3GPP-bootstrapping@naf.example.org\", nonce=\"{nonce}\", uri=\"/elsewhere\", response=\"00\", qop=auth-int, nc=00000001, cnonce=\"01\""),
        )
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().unwrap();
    assert!(
        body.contains("/elsewhere") && body.contains("/resource"),
        "{body}"
    );
}

/// A NAF configured for GBA_U only refuses a GBA_ME session with 403 and serves a GBA_U one.
#[test]
fn a_gba_u_only_naf_refuses_a_gba_me_session() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    let naf = support::net::start_naf_with(&dir, &bsf, "naf.example.org", &["--require-gba-u"]);
    let bsf_url = format!("{}/", bsf.ub);
    let url = format!("{}resource", naf.url);
    let args = [url.as_str(), "--bsf", &bsf_url, "--resolve", &naf.resolve];
    let (code, j, err) = http_raw(&dir, None, &args);
    assert_eq!(
        (code, &j["status"]),
        (Some(0), &serde_json::json!(200)),
        "{err}"
    );
    assert_eq!(j["mode"], "GBA_U");
    // A card without the GBA service: the MT runs GBA_ME, and the BSF's subscription says
    // GBA_ME too (GBA_U needs a UICC that does it).
    let me_dir = setup();
    let bsf_me = support::net::start_bsf_with(
        &me_dir,
        &support::net::SUBSCRIBERS.replace("GBA_U", "GBA_ME"),
    );
    let naf_me =
        support::net::start_naf_with(&me_dir, &bsf_me, "naf.example.org", &["--require-gba-u"]);
    let profile = std::fs::read_to_string(support::profile())
        .unwrap()
        .replace("services: [27, 68, 76]", "services: [27]");
    std::fs::write(me_dir.path("no-gba.yaml"), profile).unwrap();
    let (code, j, err) = http_raw(
        &me_dir,
        Some(&me_dir.path("no-gba.yaml")),
        &[
            &format!("{}resource", naf_me.url),
            "--bsf",
            &format!("{}/", bsf_me.ub),
            "--resolve",
            &naf_me.resolve,
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(j["status"], 403, "{j}");
    assert_eq!(j["mode"], "GBA_ME");
    assert!(
        j["body"].as_str().unwrap().contains("requires GBA_U"),
        "{j}"
    );
}

/// Ua over HTTPS (TS 33.222 §5.3): server-authenticated TLS, HTTP Digest inside, NAF_Id
/// ending in 01 00 01 yy zz with the negotiated cipher suite on both sides — a 200 with a
/// verified rspauth means the MT and the NAF derived the key for the same NAF_Id.
#[test]
fn ua_over_https_uses_the_cipher_suite_in_naf_id() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    let cert = dir.path("pki/naf.example.org.pem");
    let key = dir.path("pki/naf.example.org.key");
    let naf = support::net::start_naf_with(
        &dir,
        &bsf,
        "naf.example.org",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        naf.url.starts_with("https://naf.example.org:"),
        "{}",
        naf.url
    );
    let ca = dir.path("pki/ca.pem");
    let url = format!("{}resource", naf.url);
    let bsf_url = format!("{}/", bsf.ub);
    let (code, j, err) = http_raw(
        &dir,
        None,
        &[
            url.as_str(),
            "--bsf",
            &bsf_url,
            "--resolve",
            &naf.resolve,
            "--ca",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(j["status"], 200, "{j}");
    let steps: Vec<&str> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let tls = steps
        .iter()
        .find(|s| s.starts_with("TLS with naf.example.org"))
        .expect("the TLS step");
    assert!(tls.contains("Ua protocol id 010001"), "{tls}");
    assert!(
        steps.iter().any(|s| s.contains("rspauth verified")),
        "{steps:?}"
    );
    // Without the CA the MT refuses to talk to the NAF at all.
    let (code, _, err) = http_raw(
        &dir,
        None,
        &[url.as_str(), "--bsf", &bsf_url, "--resolve", &naf.resolve],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--ca"), "{err}");
}

/// A sysmoISIM-SJA2's EF_GBABP is 64 bytes (pySim's dump): RAND, a standard B-TID and its
/// lifetime do not fit. The MT keeps B-TID and lifetime itself for the RAND the card holds,
/// and uses them for the NAF keys (Ks stays on the card).
#[test]
fn a_card_whose_ef_gbabp_is_too_small_keeps_its_b_tid_in_the_mt() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    let naf = start_naf(&dir, &bsf, "naf.example.org");
    let factory = support::repo().join("card-applet-sim/profiles/sja2-factory.yaml");
    {
        let mut s = gbau_host::session::CardOpts {
            sim: Some(dir.path("card.json")),
            profile: Some(factory.clone()),
            pin: Some("1234".into()),
            ..Default::default()
        }
        .open()
        .unwrap();
        let profile = gbau_card::Profile::load(&support::profile()).unwrap();
        let opts = gbau_host::personalize::Options {
            target: gbau_host::personalize::Target::Sja2,
            write: true,
            adm: Some("12345678".into()),
            ..Default::default()
        };
        gbau_host::personalize::run(Some(&mut s), &profile, &opts).unwrap();
    }
    let (code, j, err) = http_raw(
        &dir,
        Some(&factory),
        &[
            &format!("{}resource", naf.url),
            "--bsf",
            &format!("{}/", bsf.ub),
            "--resolve",
            &naf.resolve,
        ],
    );
    assert_eq!(
        (code, &j["status"]),
        (Some(0), &serde_json::json!(200)),
        "{err}"
    );
    assert_eq!(j["mode"], "GBA_U");
    let b_tid = j["b_tid"].as_str().unwrap().to_owned();
    let run = |args: &[&str]| support::net::sim_json_with(&dir, Some(&factory), args);
    assert_eq!(
        run(&["info"])["gbabp"]["b_tid"],
        serde_json::Value::Null,
        "not on the card"
    );
    let k = run(&["gba", "naf-key", "--naf-fqdn", "naf.example.org"]);
    assert_eq!(k["b_tid"], b_tid.as_str(), "the MT's record of the run");
    let again = run(&[
        "http",
        "GET",
        &format!("{}resource", naf.url),
        "--bsf",
        &format!("{}/", bsf.ub),
        "--resolve",
        &naf.resolve,
    ]);
    assert_eq!(
        (again["status"].as_u64(), again["bootstraps"].as_u64()),
        (Some(200), Some(0)),
        "the kept B-TID is reused"
    );
}
