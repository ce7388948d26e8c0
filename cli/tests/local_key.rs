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

    // device-2's certificate asking for device-1: the Key Center refuses.
    let e = establish(&dir, &mt.addr, &kc.url, "device-2", "device-1", "dx.json").unwrap_err();
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
    let renewed = establish(
        &dir,
        &mt.addr,
        &kc.url,
        "device-2",
        "device-2",
        "d2-new.json",
    )
    .unwrap();
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
