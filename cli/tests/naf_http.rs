//! `gbau http GET` against a NAF and a BSF on 127.0.0.1: the first request bootstraps, the
//! NAF fetches Ks_ext_NAF over Zn, the digest verifies; a later request reuses the B-TID;
//! when the BSF forgets the session the NAF's 401 is a key-update indication and the MT
//! bootstraps again and retries once.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use support::gbau;
use support::net::{setup, start_bsf, start_naf};

fn http(dir: &support::TempDir, url: &str, bsf: &str) -> serde_json::Value {
    let out = gbau()
        .env("HOME", &dir.0)
        .arg("--sim")
        .arg(dir.path("card.json"))
        .args(["http", "GET", url, "--bsf", bsf, "--json"])
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
    let url = format!("{}resource", naf.url);

    let first = http(&dir, &url, &bsf_url);
    assert_eq!(first["status"], 200, "{first}");
    assert!(first["body"]
        .as_str()
        .unwrap()
        .starts_with("hello from the gbau NAF"));
    assert_eq!(first["bootstraps"], 1);
    assert_eq!(first["realm"], "3GPP-bootstrapping-uicc@naf.example.org");
    let b_tid = first["b_tid"].as_str().unwrap().to_owned();

    let second = http(&dir, &url, &bsf_url);
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
    let third = http(
        &dir,
        &format!("{}resource", naf.url),
        &format!("{}/", bsf.ub),
    );
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
    let j = http(&dir, &format!("{}x", naf.url), &format!("{}/", bsf.ub));
    assert_eq!(j["status"], 200);
    assert_eq!(j["naf_fqdn"], "other.example.org");
    let r = reqwest::blocking::Client::new()
        .get(&naf.url)
        .header("Authorization", "Digest username=\"x\"")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = reqwest::blocking::Client::new()
        .get(&naf.url)
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
/// Ks and Ks_NAF in the MT, the BSF told by the User-Agent (no 3gpp-gba-uicc) — and says so.
#[test]
fn gba_me_fallback_with_a_card_without_gba() {
    let dir = setup();
    let bsf = start_bsf(&dir);
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
