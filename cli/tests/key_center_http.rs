//! The NAF Key Center over HTTPS with device certificates (seed 001 §5.5): the MT derives
//! Ks_local_MT from the card's Ks_ext_NAF, the device gets the same key from the Key Center;
//! unauthorised Device_IDs, untrusted certificates and unknown B-TIDs are refused.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use support::gbau;
use support::net::{setup, start_bsf, start_key_center};

fn device(
    dir: &std::path::Path,
    pki: &str,
    name: &str,
    kc: &support::net::KeyCenter,
) -> reqwest::blocking::Client {
    let (host, port) = kc
        .resolve
        .rsplit_once(':')
        .unwrap()
        .0
        .split_once(':')
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.parse().unwrap()));
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(dir.join("pki/ca.pem")).unwrap()).unwrap();
    let mut pem = std::fs::read(dir.join(format!("{pki}/{name}.pem"))).unwrap();
    pem.extend(std::fs::read(dir.join(format!("{pki}/{name}.key"))).unwrap());
    reqwest::blocking::Client::builder()
        .resolve(host, addr)
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

fn ask(
    client: &reqwest::blocking::Client,
    url: &str,
    b_tid: &str,
    device_id: &str,
) -> Result<(u16, serde_json::Value), String> {
    let r = client
        .post(url)
        .json(&serde_json::json!({"b_tid": b_tid, "device_id": device_id}))
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.json().unwrap_or_default()))
}

#[test]
fn device_and_mt_share_ks_local_mt() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    let kc = start_key_center(&dir, &bsf);
    let sim = |args: &[&str]| support::net::sim_json(&dir, args);
    let b = sim(&["gba", "bootstrap", "--bsf", &format!("{}/", bsf.ub)]);
    let b_tid = b["b_tid"].as_str().unwrap().to_owned();
    let mt1 = sim(&[
        "gba",
        "local-key",
        "--key-center",
        "keycenter.example.org",
        "--device-id",
        "device-1",
    ]);
    let mt2 = sim(&[
        "gba",
        "local-key",
        "--key-center",
        "keycenter.example.org",
        "--device-id",
        "device-2",
    ]);

    let d1 = device(&dir.0, "pki", "device-1", &kc);
    let (status, a1) = ask(&d1, &kc.url, &b_tid, "device-1").unwrap();
    assert_eq!(status, 200, "{a1}");
    assert_eq!(
        a1["ks_local_mt"], mt1["ks_local_mt"],
        "device and MT hold the same Ks_local_MT"
    );
    assert_eq!(a1["b_tid"], b_tid.as_str());
    let life = gbau_core::time::parse_utc(a1["key_lifetime"].as_str().unwrap()).unwrap();
    let boot = gbau_core::time::parse_utc(b["lifetime"].as_str().unwrap()).unwrap();
    assert!(
        life <= boot,
        "the local key does not outlive the bootstrapped key"
    );

    let d2 = device(&dir.0, "pki", "device-2", &kc);
    let (_, a2) = ask(&d2, &kc.url, &b_tid, "device-2").unwrap();
    assert_eq!(a2["ks_local_mt"], mt2["ks_local_mt"]);
    assert_ne!(
        a1["ks_local_mt"], a2["ks_local_mt"],
        "two devices get different keys"
    );

    // device-2's certificate cannot ask for device-1's key.
    let (status, e) = ask(&d2, &kc.url, &b_tid, "device-1").unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (403, Some("device_not_authorised"))
    );
    // Unknown B-TID: the device must ask the MT for a new bootstrap.
    let (status, e) = ask(&d1, &kc.url, "bm9uZQ==@bsf.example.org", "device-1").unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("bootstrapping_required"))
    );
    // A certificate from another CA does not get through TLS.
    let out = gbau()
        .args(["pki", "create", "--dir"])
        .arg(dir.path("rogue2"))
        .arg("client:device-1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let rogue = device(&dir.0, "rogue2", "device-1", &kc);
    assert!(
        ask(&rogue, &kc.url, &b_tid, "device-1").is_err(),
        "untrusted device certificate refused"
    );
}

/// The Key Center on Diameter Zn (`--zn diameter://…`): the device gets the Ks_local_MT the MT
/// derives, as with HTTPS Zn; the BSF knows the Key Center by its certificate's DNS name.
#[test]
fn the_key_center_on_diameter_zn_gives_the_mts_key() {
    let dir = setup();
    let bsf = support::net::start_bsf_args(&dir, &["--zn-diameter", "127.0.0.1:0"]);
    let dia = format!("diameter://{}", bsf.zn_diameter.unwrap());
    let kc = support::net::start_key_center_zn(&dir, &["--zn", &dia]);
    let sim = |args: &[&str]| support::net::sim_json(&dir, args);
    let b = sim(&["gba", "bootstrap", "--bsf", &format!("{}/", bsf.ub)]);
    let b_tid = b["b_tid"].as_str().unwrap().to_owned();
    let mt = sim(&[
        "gba",
        "local-key",
        "--key-center",
        "keycenter.example.org",
        "--device-id",
        "device-1",
    ]);
    let d1 = device(&dir.0, "pki", "device-1", &kc);
    let (status, a) = ask(&d1, &kc.url, &b_tid, "device-1").unwrap();
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["ks_local_mt"], mt["ks_local_mt"]);
    let (status, e) = ask(&d1, &kc.url, "bm9uZQ==@bsf.example.org", "device-1").unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("bootstrapping_required"))
    );
}
