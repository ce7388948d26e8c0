//! Keys at rest (issue: security hardening): every file that holds a key, a PIN or a session
//! is owner-only from its creation whatever the umask, folders 0700; one state file has one
//! owning process.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use support::gbau;
use support::net::{setup, start_bsf, start_naf};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Under umask 000 and 022: the soft card's state (default folder and --sim), the GBA_ME and
/// GBA_U stores' folder, the test PKI's keys, the BSF's SQLite database and its -wal/-shm.
#[test]
fn key_files_are_owner_only_under_any_umask() {
    for umask in [0o000, 0o022] {
        // The children inherit the umask; the one test of this binary changes it.
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask));
        let dir = setup();
        ok(gbau()
            .env("HOME", &dir.0)
            .env_remove("XDG_STATE_HOME")
            .arg("info"));
        let state = dir.path(".local/state/gbau");
        assert_eq!(mode(&state), 0o700, "umask {umask:03o}: state folder");
        assert_eq!(
            mode(&state.join("soft-card.json")),
            0o600,
            "umask {umask:03o}"
        );
        ok(gbau()
            .args(["--sim"])
            .arg(dir.path("own/card.json"))
            .arg("info"));
        assert_eq!(mode(&dir.path("own/card.json")), 0o600);
        assert_eq!(mode(&dir.path("own")), 0o700);
        ok(gbau()
            .args(["pki", "create", "--dir"])
            .arg(dir.path("pki2"))
            .args(["a.example.org"]));
        assert_eq!(mode(&dir.path("pki2")), 0o700);
        assert_eq!(mode(&dir.path("pki2/ca.key")), 0o600);
        assert_eq!(mode(&dir.path("pki2/a.example.org.key")), 0o600);
        let bsf = start_bsf(&dir);
        let naf = start_naf(&dir, &bsf, "naf.example.org");
        ok(gbau()
            .env("HOME", &dir.0)
            .env_remove("XDG_STATE_HOME")
            .args(["http", "GET", &format!("{}x", naf.url), "--bsf"])
            .arg(format!("{}/", bsf.ub))
            .args(["--resolve", &naf.resolve]));
        assert_eq!(
            mode(&dir.path("data")),
            0o700,
            "umask {umask:03o}: BSF data"
        );
        for f in ["bsf.sqlite", "bsf.sqlite-wal", "bsf.sqlite-shm"] {
            let p = dir.path(&format!("data/{f}"));
            if p.exists() {
                assert_eq!(mode(&p), 0o600, "umask {umask:03o}: {f}");
            }
        }
        drop(naf);
        drop(bsf);
    }
}

/// One state file, one owner: while `gbau card stdio` holds a soft card's state, `--sim` on the
/// same file is refused (so SQN arrays and PIN counters cannot be rolled back by whoever writes
/// last); after it ends, the file opens again.
#[test]
fn a_state_file_has_one_owning_process() {
    let dir = setup();
    let state = dir.path("card.json");
    let mut holder = gbau()
        .args(["card", "stdio", "--state"])
        .arg(&state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("ATR"), "{line}");
    let out = gbau()
        .arg("--sim")
        .arg(&state)
        .arg("info")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another process"), "{err}");
    drop(holder.stdin.take());
    let _ = holder.wait();
    ok(gbau().arg("--sim").arg(&state).arg("info"));
}

/// The MT's local interface: TCP only on loopback; a Unix socket 0600 in a 0700 folder that
/// replaces only an old socket, never another file; an idle device does not block the others.
#[test]
fn the_local_interface_is_local_and_not_blocked_by_an_idle_device() {
    let dir = setup();
    let bsf = start_bsf(&dir);
    let mt_serve = |local: &str| {
        gbau()
            .env("HOME", &dir.0)
            .arg("--sim")
            .arg(dir.path("card.json"))
            .args(["mt", "serve", "--local", local, "--bsf"])
            .arg(format!("{}/", bsf.ub))
            .arg("--data")
            .arg(dir.path("mt"))
            .output()
            .unwrap()
    };
    let out = mt_serve("tcp:0.0.0.0:0");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    std::fs::write(dir.path("not-a-socket"), b"keep me").unwrap();
    let out = mt_serve(&format!("unix:{}", dir.path("not-a-socket").display()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(std::fs::read(dir.path("not-a-socket")).unwrap(), b"keep me");

    let mt = support::net::start_mt(&dir, &bsf);
    let sock = dir.path("mt.sock");
    assert_eq!(mode(&sock), 0o600, "the socket is the owner's");
    // An idle device holds a connection open; another device is still answered.
    let _idle = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let mut other = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    other
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    gbau_host::local::write_frame(&mut other, br#"{"op":"info"}"#).unwrap();
    let a: gbau_host::local::Answer =
        serde_json::from_slice(&gbau_host::local::read_frame(&mut other).unwrap()).unwrap();
    assert!(a.ok, "{a:?}");
    drop(mt);
}

/// Keys need not sit on the command line: `--ks @FILE` and `--k -` (standard input) give the
/// same results as the hex itself; a missing file is a usage error naming it.
#[test]
fn secrets_from_a_file_or_standard_input() {
    let dir = setup();
    let ks = "b40ba9a3c58b2a05bbf0d987b21bf8cbf769bcd751044604127672711c6d3441";
    std::fs::write(dir.path("ks.hex"), format!("{ks}\n")).unwrap();
    let gba = |ks_arg: &str| {
        ok(gbau().args([
            "calc",
            "gba",
            "--ks",
            ks_arg,
            "--rand",
            "23553cbe9637a89d218ae64dae47bf35",
            "--impi",
            "001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
            "--naf-fqdn",
            "naf.example.org",
        ]))
    };
    let direct = gba(ks);
    assert!(direct.contains("d3d5b418417eedfff77c5cce9b962bd62a6bbedbff2b309ab15cdc90882b18f2"));
    assert_eq!(gba(&format!("@{}", dir.path("ks.hex").display())), direct);
    let mut child = gbau()
        .args([
            "calc",
            "milenage",
            "--k",
            "-",
            "--opc",
            "cd63cb71954a9f4e48a5994e37a02baf",
            "--rand",
            "23553cbe9637a89d218ae64dae47bf35",
            "--sqn",
            "ff9bb4d0b607",
            "--amf",
            "b9b9",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"465b5ce8b199b49faa5f0a2ee238a6bc\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("a54211d5e3ba50bf"));
    let missing = gbau()
        .args([
            "calc",
            "gba",
            "--ks",
            "@/nonexistent/ks",
            "--rand",
            "00",
            "--impi",
            "x",
            "--naf-fqdn",
            "y",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/ks"));
}

/// With `--allow-uid`, the MT serves only processes of those users on its Unix socket (the
/// kernel's SO_PEERCRED): another user's connection is closed unanswered.
#[test]
fn the_local_interface_serves_only_allowed_users() {
    use std::io::BufRead;
    let dir = setup();
    let bsf = start_bsf(&dir);
    let me = rustix::process::getuid().as_raw();
    for (uid, served) in [(me.wrapping_add(4242), false), (me, true)] {
        let sock = dir.path(&format!("mt-{uid}/mt.sock"));
        let mut child = gbau()
            .env("HOME", &dir.0)
            .arg("--sim")
            .arg(dir.path(&format!("card-{uid}.json")))
            .args(["mt", "serve", "--local"])
            .arg(format!("unix:{}", sock.display()))
            .args(["--bsf", &format!("{}/", bsf.ub), "--data"])
            .arg(dir.path(&format!("mt-{uid}/data")))
            .args(["--allow-uid", &uid.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("mt: unix:"), "{line}");
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let answered = gbau_host::local::write_frame(&mut s, br#"{"op":"info"}"#).is_ok()
            && gbau_host::local::read_frame(&mut s).is_ok();
        assert_eq!(answered, served, "allow-uid {uid}, this process {me}");
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A device key store that is not what gbau wrote is an error naming the file, never
/// silently replaced.
#[test]
fn a_corrupt_device_store_is_an_error_naming_it() {
    let dir = setup();
    std::fs::write(dir.path("d1.json"), b"{ not json").unwrap();
    let out = support::net::device_establish(
        &dir,
        "unix:/nonexistent/mt.sock",
        "https://127.0.0.1:9/local-key",
        "device-1",
        "device-1",
        "d1.json",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("d1.json") && err.contains("corrupt"), "{err}");
    assert_eq!(std::fs::read(dir.path("d1.json")).unwrap(), b"{ not json");
}
