//! Network fixtures: a test PKI, and the BSF, NAF, NAF Key Center and MT service started as
//! `gbau` processes on 127.0.0.1 with OS-picked ports, each killed on drop.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::{gbau, TempDir};

pub const SUBSCRIBERS: &str = "subscribers:\n  - imsi: \"001010000000001\"\n    mnc_length: 2\n    k: \"465b5ce8b199b49faa5f0a2ee238a6bc\"\n    opc: \"cd63cb71954a9f4e48a5994e37a02baf\"\n    amf: \"8000\"\n    sqn: \"000000000020\"\n    uicc: GBA_U\n    key_lifetime: 3600\n";

/// A server process, killed on drop.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawn a server that prints one line announcing itself, starting with `prefix`; return it
/// with the words of that line.
pub fn announced(mut cmd: Command, prefix: &str) -> (Proc, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with(prefix), "unexpected first line {line:?}");
    (
        Proc { child },
        line.split_whitespace().map(str::to_owned).collect(),
    )
}

fn pki_file(dir: &TempDir, name: &str) -> std::path::PathBuf {
    dir.path(&format!("pki/{name}"))
}

/// A BSF with Ub and Zn.
pub struct Bsf {
    pub proc: Proc,
    pub ub: String,
    /// Zn by the BSF's name (its certificate names nothing else).
    pub zn: String,
    /// `bsf.example.org:PORT:127.0.0.1`, for `--zn-resolve`.
    pub zn_resolve: String,
    /// Zn's loopback address.
    pub zn_addr: std::net::SocketAddr,
    /// Diameter Zn's address, when started with `--zn-diameter`.
    pub zn_diameter: Option<std::net::SocketAddr>,
}

impl Bsf {
    /// The name → address pair a Zn client takes.
    pub fn zn_resolve_pair(&self) -> Vec<(String, std::net::SocketAddr)> {
        vec![("bsf.example.org".to_owned(), self.zn_addr)]
    }
}

/// [`start_bsf`] with another subscriber file.
pub fn start_bsf_with(dir: &TempDir, subscribers: &str) -> Bsf {
    std::fs::write(dir.path("subs.yaml"), subscribers).unwrap();
    start_bsf(dir)
}

pub fn start_bsf(dir: &TempDir) -> Bsf {
    start_bsf_on(dir, &["--data".into(), dir.path("data").into()])
}

/// [`start_bsf`] with more `gbau bsf serve` options (e.g. `--zn-diameter 127.0.0.1:0`).
pub fn start_bsf_args(dir: &TempDir, extra: &[&str]) -> Bsf {
    let mut args: Vec<std::ffi::OsString> = vec!["--data".into(), dir.path("data").into()];
    args.extend(extra.iter().map(Into::into));
    start_bsf_on(dir, &args)
}

/// A BSF with Ub and Zn on the store `store_args` names (`--data DIR` or `--store URL`),
/// and any further options.
pub fn start_bsf_on(dir: &TempDir, store_args: &[std::ffi::OsString]) -> Bsf {
    let mut cmd = gbau();
    cmd.args([
        "bsf",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--zn-listen",
        "127.0.0.1:0",
        "--subscribers",
    ])
    .arg(dir.path("subs.yaml"))
    .args(store_args)
    .arg("--tls-cert")
    .arg(pki_file(dir, "bsf.example.org.pem"))
    .arg("--tls-key")
    .arg(pki_file(dir, "bsf.example.org.key"))
    .arg("--client-ca")
    .arg(pki_file(dir, "ca.pem"))
    .arg("--nafs")
    .arg(dir.path("nafs.yaml"));
    let (proc, w) = announced(cmd, "bsf:");
    let zn_diameter = w
        .iter()
        .position(|x| x == "zn-diameter")
        .map(|i| w[i + 1].trim_start_matches("diameter://").parse().unwrap());
    let zn_addr: std::net::SocketAddr = w[4].trim_start_matches("https://").parse().unwrap();
    Bsf {
        proc,
        ub: w[2].clone(),
        zn: format!("https://bsf.example.org:{}/zn", zn_addr.port()),
        zn_resolve: format!("bsf.example.org:{}:127.0.0.1", zn_addr.port()),
        zn_addr,
        zn_diameter,
    }
}

/// A temporary directory with the subscriber file, a test PKI (BSF, two NAFs, the Key
/// Center, two devices), a second, untrusted PKI, and the NAF authorisations. Each
/// certificate has one role: the BSF's serves, the devices' are clients, the NAFs and the
/// Key Center have a server certificate (`NAME.pem`) and a Zn client one
/// (`NAME.client.pem`).
pub fn setup() -> TempDir {
    let dir = TempDir::new("bsf");
    std::fs::write(dir.path("subs.yaml"), SUBSCRIBERS).unwrap();
    for (sub, names) in [
        (
            "pki",
            &[
                "server:bsf.example.org",
                "naf.example.org",
                "other.example.org",
                "keycenter.example.org",
                "client:device-1",
                "client:device-2",
            ][..],
        ),
        ("rogue", &["naf.example.org"][..]),
    ] {
        let ok = gbau()
            .args(["pki", "create", "--dir"])
            .arg(dir.path(sub))
            .args(names)
            .output()
            .unwrap();
        assert!(ok.status.success());
    }
    std::fs::write(
        dir.path("nafs.yaml"),
        "nafs:\n  - cert: pki/naf.example.org.client.pem\n    fqdns: [naf.example.org]\n  - cert: pki/other.example.org.client.pem\n    fqdns: [other.example.org]\n  - cert: pki/keycenter.example.org.client.pem\n    fqdns: [keycenter.example.org]\n",
    )
    .unwrap();
    dir
}

/// A NAF for `fqdn` using the BSF's Zn with the NAF's certificate.
pub struct Naf {
    pub proc: Proc,
    /// The NAF by its name, as the MT must use it (NAF_Id is the URL's host).
    pub url: String,
    /// `--resolve NAME:PORT:127.0.0.1` for that name.
    pub resolve: String,
    /// The NAF by its loopback address, for raw HTTP requests.
    pub addr_url: String,
}

pub fn start_naf(dir: &TempDir, bsf: &Bsf, fqdn: &str) -> Naf {
    start_naf_with(dir, bsf, fqdn, &[])
}

/// [`start_naf`] with more `gbau naf serve` options (`--require-gba-u`, `--tls-cert` …).
pub fn start_naf_with(dir: &TempDir, bsf: &Bsf, fqdn: &str, extra: &[&str]) -> Naf {
    let mut cmd = gbau();
    cmd.args([
        "naf",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--fqdn",
        fqdn,
        "--zn",
        &bsf.zn,
        "--zn-resolve",
        &bsf.zn_resolve,
        "--zn-ca",
    ])
    .arg(pki_file(dir, "ca.pem"))
    .arg("--zn-cert")
    .arg(pki_file(dir, &format!("{fqdn}.client.pem")))
    .arg("--zn-key")
    .arg(pki_file(dir, &format!("{fqdn}.client.key")))
    .args(extra);
    let (proc, w) = announced(cmd, "naf: http");
    let addr_url = w[1].clone();
    let (scheme, rest) = addr_url.split_once("://").expect("a URL");
    let port = rest
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .expect("the NAF's address has a port")
        .to_owned();
    Naf {
        proc,
        url: format!("{scheme}://{fqdn}:{port}/"),
        resolve: format!("{fqdn}:{port}:127.0.0.1"),
        addr_url,
    }
}

/// A NAF Key Center (device-1 and device-2 registered for their own names).
pub struct KeyCenter {
    pub proc: Proc,
    /// By name: https://keycenter.example.org:PORT/local-key.
    pub url: String,
    /// `keycenter.example.org:PORT:127.0.0.1`, for `--resolve`.
    pub resolve: String,
}

pub fn start_key_center(dir: &TempDir, bsf: &Bsf) -> KeyCenter {
    let ca = pki_file(dir, "ca.pem");
    let cert = pki_file(dir, "keycenter.example.org.client.pem");
    let key = pki_file(dir, "keycenter.example.org.client.key");
    start_key_center_zn(
        dir,
        &[
            "--zn",
            &bsf.zn,
            "--zn-resolve",
            &bsf.zn_resolve,
            "--zn-ca",
            ca.to_str().unwrap(),
            "--zn-cert",
            cert.to_str().unwrap(),
            "--zn-key",
            key.to_str().unwrap(),
        ],
    )
}

/// A NAF Key Center reaching the BSF with the Zn options `zn` (HTTPS or Diameter).
pub fn start_key_center_zn(dir: &TempDir, zn: &[&str]) -> KeyCenter {
    std::fs::write(
        dir.path("devices.yaml"),
        "devices:\n  - cert: pki/device-1.pem\n    device_id: device-1\n  - cert: pki/device-2.pem\n    device_id: device-2\n",
    )
    .unwrap();
    let mut cmd = gbau();
    cmd.args([
        "key-center",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--fqdn",
        "keycenter.example.org",
    ])
    .args(zn)
    .arg("--tls-cert")
    .arg(pki_file(dir, "keycenter.example.org.pem"))
    .arg("--tls-key")
    .arg(pki_file(dir, "keycenter.example.org.key"))
    .arg("--device-ca")
    .arg(pki_file(dir, "ca.pem"))
    .arg("--devices")
    .arg(dir.path("devices.yaml"));
    let (proc, w) = announced(cmd, "key-center: https://");
    let addr: std::net::SocketAddr = w[1]
        .trim_start_matches("https://")
        .trim_end_matches("/local-key")
        .parse()
        .unwrap();
    KeyCenter {
        proc,
        url: format!("https://keycenter.example.org:{}/local-key", addr.port()),
        resolve: format!("keycenter.example.org:{}:127.0.0.1", addr.port()),
    }
}

/// `gbau mt serve` on a Unix socket.
pub struct MtProc {
    pub proc: Proc,
    pub addr: String,
}

/// The MT service with the soft card of `dir/card.json`.
pub fn start_mt(dir: &TempDir, bsf: &Bsf) -> MtProc {
    let card = vec![
        "--sim".to_owned(),
        dir.path("card.json").display().to_string(),
    ];
    start_mt_on(dir, bsf, &card)
}

/// The MT service on a given card (`--sim FILE` or `--reader NAME --pin PIN`).
pub fn start_mt_on(dir: &TempDir, bsf: &Bsf, card: &[String]) -> MtProc {
    let mut cmd = gbau();
    cmd.env("HOME", &dir.0)
        .args(card)
        .args(["mt", "serve", "--local"])
        .arg(format!("unix:{}", dir.path("mt.sock").display()))
        .args(["--bsf", &format!("{}/", bsf.ub), "--data"])
        .arg(dir.path("mt"));
    let (proc, w) = announced(cmd, "mt: unix:");
    MtProc {
        proc,
        addr: w[1].clone(),
    }
}

/// `gbau --sim DIR/card.json ARGS --json` with HOME in `dir`; the JSON it prints (panics on failure).
pub fn sim_json(dir: &TempDir, args: &[&str]) -> serde_json::Value {
    sim_json_with(dir, None, args)
}

/// [`sim_json`] with the soft card made from `profile` (the embedded one when `None`).
pub fn sim_json_with(
    dir: &TempDir,
    profile: Option<&std::path::Path>,
    args: &[&str],
) -> serde_json::Value {
    let mut cmd = gbau();
    if let Some(p) = profile {
        cmd.arg("--profile").arg(p);
    }
    let out = cmd
        .env("HOME", &dir.0)
        .arg("--sim")
        .arg(dir.path("card.json"))
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gbau {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `gbau device establish --json` for a device whose certificate is `pki/CERT.pem`.
pub fn device_establish(
    dir: &TempDir,
    mt: &str,
    kc_url: &str,
    cert: &str,
    device_id: &str,
    store: &str,
) -> std::process::Output {
    device_establish_with(dir, mt, kc_url, cert, device_id, store, &[])
}

/// `gbau device establish` with extra arguments (e.g. `--renew`).
pub fn device_establish_with(
    dir: &TempDir,
    mt: &str,
    kc_url: &str,
    cert: &str,
    device_id: &str,
    store: &str,
    extra: &[&str],
) -> std::process::Output {
    gbau()
        .args([
            "device",
            "establish",
            "--mt",
            mt,
            "--device-id",
            device_id,
            "--cert",
        ])
        .arg(pki_file(dir, &format!("{cert}.pem")))
        .arg("--key")
        .arg(pki_file(dir, &format!("{cert}.key")))
        .arg("--ca")
        .arg(pki_file(dir, "ca.pem"))
        .args([
            "--key-center-url",
            kc_url,
            "--resolve",
            &resolve_of(kc_url),
            "--store",
        ])
        .arg(dir.path(store))
        .arg("--json")
        .args(extra)
        .output()
        .unwrap()
}

/// `NAME:PORT:127.0.0.1` for an https://NAME:PORT/… URL of a test server.
pub fn resolve_of(url: &str) -> String {
    let host_port = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    format!("{host_port}:127.0.0.1")
}
