//! Seed 001 end to end on loopback: the external device, the MT's local-interface service
//! (soft card) and the NAF Key Center. Full procedure, stored-key check, optimized
//! procedure, two devices, an MT restart, an unauthorised Device_ID, garbage on the local
//! interface, and an expired B-TID that leads to a new bootstrap.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use gbau_host::local::{read_frame, write_frame, Answer};
use support::net::{setup, start_bsf, start_key_center, start_mt};
use support::{gbau, TempDir};

fn establish(
    dir: &TempDir,
    mt: &str,
    kc: &str,
    cert: &str,
    device_id: &str,
    store: &str,
) -> Result<serde_json::Value, String> {
    let out = support::net::device_establish(dir, mt, kc, cert, device_id, store);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn mt_key(dir: &TempDir, device: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("mt/local-keys.json")).unwrap()).unwrap();
    v[device]["ks_local_mt"].as_str().unwrap().to_owned()
}

#[test]
fn full_stored_optimized_restart_and_refusals() {
    let dir = setup();
    let mut bsf = start_bsf(&dir);
    let mut kc = start_key_center(&dir, &bsf);
    let mut mt = start_mt(&dir, &bsf);

    let full = establish(&dir, &mt.addr, &kc.url, "device-1", "device-1", "d1.json").unwrap();
    assert_eq!(full["procedure"], "full", "{full}");
    assert_eq!(
        full["ks_local_mt"].as_str().unwrap(),
        mt_key(&dir, "device-1"),
        "device and MT share Ks_local_MT"
    );

    let stored = establish(&dir, &mt.addr, &kc.url, "device-1", "device-1", "d1.json").unwrap();
    assert_eq!(stored["procedure"], "stored");
    assert_eq!(stored["ks_local_mt"], full["ks_local_mt"]);

    let optimized = establish(&dir, &mt.addr, &kc.url, "device-2", "device-2", "d2.json").unwrap();
    assert_eq!(
        optimized["procedure"], "optimized",
        "the MT had a valid B-TID"
    );
    assert_eq!(
        optimized["ks_local_mt"].as_str().unwrap(),
        mt_key(&dir, "device-2")
    );
    assert_ne!(
        optimized["ks_local_mt"], full["ks_local_mt"],
        "two devices, two keys"
    );

    // An MT restart keeps the stored keys: the key check still passes.
    drop(mt);
    mt = start_mt(&dir, &bsf);
    let after = establish(&dir, &mt.addr, &kc.url, "device-1", "device-1", "d1.json").unwrap();
    assert_eq!(after["procedure"], "stored");

    // device-2's certificate asking for a Device_ID of its own choosing: the Key Center
    // refuses. (Asking for device-1, which has a key, the MT refuses first: see
    // a_device_key_is_replaced_only_with_its_proof.)
    let e = establish(&dir, &mt.addr, &kc.url, "device-2", "device-3", "dx.json").unwrap_err();
    assert!(e.contains("device_not_authorised"), "{e}");

    // Garbage on the local interface gets an error frame and the MT keeps serving.
    let path = mt.addr.trim_start_matches("unix:");
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    write_frame(&mut s, b"this is not json").unwrap();
    let a: Answer = serde_json::from_slice(&read_frame(&mut s).unwrap()).unwrap();
    assert_eq!(a.error.as_deref(), Some("malformed_frame"));
    write_frame(&mut s, br#"{"op":"info"}"#).unwrap();
    let a: Answer = serde_json::from_slice(&read_frame(&mut s).unwrap()).unwrap();
    assert!(
        a.ok && a
            .naf_key_centers
            .unwrap_or_default()
            .contains(&"keycenter.example.org".to_owned())
    );
    drop(s);

    // The BSF forgets its sessions: the device's optimized attempt is refused by the Key
    // Center (bootstrapping required), the MT bootstraps again, and a new key results.
    drop(kc);
    drop(bsf);
    drop(mt);
    std::fs::remove_dir_all(dir.path("data")).unwrap();
    bsf = start_bsf(&dir);
    kc = start_key_center(&dir, &bsf);
    mt = start_mt(&dir, &bsf);
    // The MT still confirms device-2's key; --renew replaces it with the device's proof.
    let out = support::net::device_establish_with(
        &dir,
        &mt.addr,
        &kc.url,
        "device-2",
        "device-2",
        "d2.json",
        &["--renew"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let renewed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(renewed["procedure"], "full", "{renewed}");
    assert_ne!(renewed["b_tid"], optimized["b_tid"], "a new bootstrap");
    assert_eq!(
        renewed["ks_local_mt"].as_str().unwrap(),
        mt_key(&dir, "device-2")
    );
    drop(mt);
    drop(kc);
    drop(bsf);
}

/// The local interface over a serial line, tested with a pseudo-terminal pair: the MT serves
/// the slave side, the test speaks frames on the master side.
#[test]
fn serial_line_with_a_pty_pair() {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use std::io::BufRead;
    use std::process::Stdio;

    let dir = setup();
    let bsf = start_bsf(&dir);
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave = ptsname(&master, Vec::new()).unwrap().into_string().unwrap();
    let mut child = gbau()
        .env("HOME", &dir.0)
        .arg("--sim")
        .arg(dir.path("card.json"))
        .args([
            "mt",
            "serve",
            "--local",
            &format!("serial:{slave}"),
            "--bsf",
            &format!("{}/", bsf.ub),
            "--data",
        ])
        .arg(dir.path("mt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("mt: serial:"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(200)); // the MT sets raw mode
    let mut port = std::fs::File::from(master);
    write_frame(&mut port, b"\x00\x01garbage").unwrap();
    let a: Answer = serde_json::from_slice(&read_frame(&mut port).unwrap()).unwrap();
    assert_eq!(a.error.as_deref(), Some("malformed_frame"));
    write_frame(&mut port, br#"{"op":"bootstrap"}"#).unwrap();
    let a: Answer = serde_json::from_slice(&read_frame(&mut port).unwrap()).unwrap();
    assert!(a.ok && a.b_tid.is_some(), "{a:?}");
    write_frame(
        &mut port,
        br#"{"op":"establish","naf_id":"keycenter.example.org","device_id":"device-1"}"#,
    )
    .unwrap();
    let a: Answer = serde_json::from_slice(&read_frame(&mut port).unwrap()).unwrap();
    assert!(a.ok, "{a:?}");
    assert_eq!(mt_key(&dir, "device-1").len(), 64);
    let _ = child.kill();
    let _ = child.wait();
}

/// One request/answer on the MT's Unix socket.
fn ask(s: &mut std::os::unix::net::UnixStream, req: &str) -> Answer {
    write_frame(s, req.as_bytes()).unwrap();
    serde_json::from_slice(&read_frame(s).unwrap()).unwrap()
}

/// Seed 001 as written: step 6 of the full procedure is one request with NAF_ID and
/// Device_ID that makes the MT run a complete GBA run and answer B-TID and NAF_ID; the key
/// stays pending (no key check passes) until the device says the establishment completed
/// (step 18), and then carries the lifetime the device was told.
#[test]
fn the_mt_keeps_the_key_pending_until_the_device_completes() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    let mt = start_mt(&dir, &bsf);
    let mut s =
        std::os::unix::net::UnixStream::connect(mt.addr.trim_start_matches("unix:")).unwrap();
    let info = ask(&mut s, r#"{"op":"info"}"#);
    assert!(info.ok && info.b_tid.is_none(), "{info:?}");
    let run = ask(
        &mut s,
        r#"{"op":"bootstrap","naf_id":"keycenter.example.org","device_id":"device-1"}"#,
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(run.naf_id.as_deref(), Some("keycenter.example.org"));
    let b_tid = run.b_tid.clone().expect("the B-TID of the new GBA run");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("mt/local-keys.json")).unwrap()).unwrap();
    assert_eq!(stored["device-1"]["pending"], true);
    assert_eq!(stored["device-1"]["b_tid"], b_tid.as_str());
    let check = r#"{"op":"key_check","device_id":"device-1","nonce":"00112233"}"#;
    assert_eq!(
        ask(&mut s, check).error.as_deref(),
        Some("no_key"),
        "a pending key is not usable"
    );
    // A NAF_Id the card's EF_NAFKCA does not list is refused.
    let unlisted = ask(
        &mut s,
        &format!(
            r#"{{"op":"establish","naf_id":"evil.example.org","device_id":"device-2","b_tid":"{b_tid}"}}"#
        ),
    );
    assert_eq!(
        unlisted.error.as_deref(),
        Some("naf_id_not_listed"),
        "{unlisted:?}"
    );
    // The optimized request naming another B-TID is refused.
    let stale = ask(
        &mut s,
        r#"{"op":"establish","naf_id":"keycenter.example.org","device_id":"device-2","b_tid":"old@bsf"}"#,
    );
    assert_eq!(stale.error.as_deref(), Some("b_tid_mismatch"), "{stale:?}");
    // Step 18: complete, with the lifetime the Key Center granted.
    let told = "2026-01-01T00:00:00Z";
    let done = ask(
        &mut s,
        &format!(r#"{{"op":"complete","device_id":"device-1","key_lifetime":"{told}"}}"#),
    );
    assert!(done.ok, "{done:?}");
    assert_eq!(done.lifetime.as_deref(), Some(told));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("mt/local-keys.json")).unwrap()).unwrap();
    assert_eq!(stored["device-1"]["pending"], false);
    assert_eq!(stored["device-1"]["lifetime"], told);
    // That lifetime is past: the key is not used any more.
    assert_eq!(ask(&mut s, check).error.as_deref(), Some("no_key"));
    let again = ask(
        &mut s,
        r#"{"op":"complete","device_id":"device-1","key_lifetime":"2099-01-01T00:00:00Z"}"#,
    );
    assert_eq!(again.error.as_deref(), Some("no_pending_key"));
}

/// The MT implements GBA_ME as well as GBA_U (seed 001 §5.4.2): with a card without the GBA
/// service it derives Ks_NAF itself, and the device gets the same Ks_local_MT from the Key
/// Center as the MT holds.
#[test]
fn the_mt_establishes_local_keys_with_gba_me() {
    let dir = setup();
    let bsf =
        support::net::start_bsf_with(&dir, &support::net::SUBSCRIBERS.replace("GBA_U", "GBA_ME"));
    let kc = start_key_center(&dir, &bsf);
    let profile = std::fs::read_to_string(support::profile())
        .unwrap()
        .replace("services: [27, 68, 76]", "services: [27]");
    std::fs::write(dir.path("no-gba.yaml"), profile).unwrap();
    let card = vec![
        "--sim".to_owned(),
        dir.path("card.json").display().to_string(),
        "--profile".to_owned(),
        dir.path("no-gba.yaml").display().to_string(),
    ];
    let mt = support::net::start_mt_on(&dir, &bsf, &card);
    let full = establish(&dir, &mt.addr, &kc.url, "device-1", "device-1", "d1.json").unwrap();
    assert_eq!(full["procedure"], "full", "{full}");
    assert_eq!(
        full["ks_local_mt"].as_str().unwrap(),
        mt_key(&dir, "device-1"),
        "device and MT share Ks_local_MT under GBA_ME"
    );
    let stored = establish(&dir, &mt.addr, &kc.url, "device-1", "device-1", "d1.json").unwrap();
    assert_eq!(stored["procedure"], "stored", "the completed key is usable");
    let optimized = establish(&dir, &mt.addr, &kc.url, "device-2", "device-2", "d2.json").unwrap();
    assert_eq!(optimized["procedure"], "optimized", "{optimized}");
}

/// A Device_ID that has a usable key is not up for grabs: a request to derive a new key for
/// it (optimized or full) must carry the device's proof of the current key over a nonce the
/// MT just issued, and each nonce serves once. Without the proof nothing changes: no new
/// bootstrap, the stored key stays. The device's `--renew` carries the proof.
#[test]
fn a_device_key_is_replaced_only_with_its_proof() {
    use gbau_core::hexutil::{parse_fixed, to_hex};
    use gbau_host::local::{proof, LABEL_DEVICE_PROOF};
    let dir = setup();
    let bsf = start_bsf(&dir);
    let kc = start_key_center(&dir, &bsf);
    let mt = start_mt(&dir, &bsf);
    let first = establish(&dir, &mt.addr, &kc.url, "device-1", "device-1", "d1.json").unwrap();
    let key = mt_key(&dir, "device-1");
    assert_eq!(first["ks_local_mt"].as_str().unwrap(), key);

    // Another local process naming device-1 (its own store, even device-1's certificate).
    let e = establish(
        &dir,
        &mt.addr,
        &kc.url,
        "device-1",
        "device-1",
        "other.json",
    )
    .unwrap_err();
    assert!(e.contains("key_exists"), "{e}");
    assert_eq!(mt_key(&dir, "device-1"), key, "the MT kept device-1's key");

    let mut s =
        std::os::unix::net::UnixStream::connect(mt.addr.trim_start_matches("unix:")).unwrap();
    let b_tid = ask(&mut s, r#"{"op":"info"}"#).b_tid.unwrap();
    let full = r#"{"op":"bootstrap","naf_id":"keycenter.example.org","device_id":"device-1"}"#;
    assert_eq!(ask(&mut s, full).error.as_deref(), Some("key_exists"));
    assert_eq!(
        ask(&mut s, r#"{"op":"info"}"#).b_tid.unwrap(),
        b_tid,
        "a refused full request does not bootstrap"
    );

    let k = parse_fixed::<32>(&key).unwrap();
    let issue = |s: &mut std::os::unix::net::UnixStream| {
        let a = ask(
            s,
            r#"{"op":"key_check","device_id":"device-1","nonce":"a0a1a2a3"}"#,
        );
        parse_fixed::<16>(&a.nonce_mt.unwrap()).unwrap()
    };
    let establish_with = |s: &mut std::os::unix::net::UnixStream, nm: &[u8], p: &[u8]| {
        ask(
            s,
            &format!(
                r#"{{"op":"establish","naf_id":"keycenter.example.org","device_id":"device-1","replace":{{"nonce":"a0a1a2a3","nonce_mt":"{}","proof":"{}"}}}}"#,
                to_hex(nm),
                to_hex(p)
            ),
        )
    };
    let nonce = [0xA0, 0xA1, 0xA2, 0xA3];
    // A wrong proof is refused, and spends the nonce: the right proof over it is refused too.
    let nm = issue(&mut s);
    let a = establish_with(&mut s, &nm, &[0u8; 32]);
    assert_eq!(a.error.as_deref(), Some("key_mismatch"), "{a:?}");
    let right = proof(&k, LABEL_DEVICE_PROOF, &nm, &nonce, "device-1");
    let a = establish_with(&mut s, &nm, &right);
    assert_eq!(
        a.error.as_deref(),
        Some("key_mismatch"),
        "a spent nonce: {a:?}"
    );
    // A nonce the MT never issued.
    let a = establish_with(
        &mut s,
        &[7u8; 16],
        &proof(&k, LABEL_DEVICE_PROOF, &[7u8; 16], &nonce, "device-1"),
    );
    assert_eq!(a.error.as_deref(), Some("key_mismatch"), "{a:?}");
    assert_eq!(mt_key(&dir, "device-1"), key);
    // The right proof over a fresh nonce: the MT derives anew (pending until completed).
    let nm = issue(&mut s);
    let a = establish_with(
        &mut s,
        &nm,
        &proof(&k, LABEL_DEVICE_PROOF, &nm, &nonce, "device-1"),
    );
    assert!(a.ok, "{a:?}");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("mt/local-keys.json")).unwrap()).unwrap();
    assert_eq!(stored["device-1"]["pending"], true);
    drop(s);

    // The device itself renews with --renew (its proof in the request).
    let out = support::net::device_establish_with(
        &dir,
        &mt.addr,
        &kc.url,
        "device-1",
        "device-1",
        "d1.json",
        &["--renew"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let renewed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        renewed["ks_local_mt"].as_str().unwrap(),
        mt_key(&dir, "device-1")
    );
    let again = establish(&dir, &mt.addr, &kc.url, "device-1", "device-1", "d1.json").unwrap();
    assert_eq!(again["procedure"], "stored");
}
