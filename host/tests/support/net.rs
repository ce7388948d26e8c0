//! Network fixtures: a test PKI, the BSF and the NAF started as `gbau` processes on
//! 127.0.0.1 with OS-picked ports, killed on drop.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use super::{gbau, TempDir};

pub const SUBSCRIBERS: &str = "subscribers:\n  - imsi: \"001010000000001\"\n    mnc_length: 2\n    k: \"465b5ce8b199b49faa5f0a2ee238a6bc\"\n    opc: \"cd63cb71954a9f4e48a5994e37a02baf\"\n    amf: \"8000\"\n    sqn: \"000000000020\"\n    uicc: GBA_U\n    key_lifetime: 3600\n";

pub struct Bsf {
    pub child: Child,
    pub ub: String,
    pub zn: String,
}

impl Drop for Bsf {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_bsf(dir: &TempDir) -> Bsf {
    let mut child = gbau()
        .args([
            "bsf",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--zn-listen",
            "127.0.0.1:0",
            "--subscribers",
        ])
        .arg(dir.path("subs.yaml"))
        .arg("--data")
        .arg(dir.path("data"))
        .arg("--tls-cert")
        .arg(dir.path("pki/bsf.example.org.pem"))
        .arg("--tls-key")
        .arg(dir.path("pki/bsf.example.org.key"))
        .arg("--client-ca")
        .arg(dir.path("pki/ca.pem"))
        .arg("--nafs")
        .arg(dir.path("nafs.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        parts.first(),
        Some(&"bsf:"),
        "unexpected first line {line:?}"
    );
    Bsf {
        child,
        ub: parts[2].to_owned(),
        zn: format!("{}/zn", parts[4]),
    }
}

pub fn setup() -> TempDir {
    let dir = TempDir::new("bsf");
    std::fs::write(dir.path("subs.yaml"), SUBSCRIBERS).unwrap();
    let ok = gbau()
        .args(["pki", "create", "--dir"])
        .arg(dir.path("pki"))
        .args([
            "bsf.example.org",
            "naf.example.org",
            "other.example.org",
            "keycenter.example.org",
            "device-1",
            "device-2",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let ok = gbau()
        .args(["pki", "create", "--dir"])
        .arg(dir.path("rogue"))
        .args(["naf.example.org"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    std::fs::write(
        dir.path("nafs.yaml"),
        "nafs:\n  - cert: pki/naf.example.org.pem\n    fqdns: [naf.example.org]\n  - cert: pki/other.example.org.pem\n    fqdns: [other.example.org]\n  - cert: pki/keycenter.example.org.pem\n    fqdns: [keycenter.example.org]\n",
    )
    .unwrap();
    dir
}

/// A NAF process for `fqdn` using the BSF's Zn with the NAF's certificate.
pub struct Naf {
    pub child: Child,
    pub url: String,
}

impl Drop for Naf {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_naf(dir: &TempDir, bsf: &Bsf, fqdn: &str) -> Naf {
    let mut child = gbau()
        .args([
            "naf",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--fqdn",
            fqdn,
            "--zn",
            &bsf.zn,
            "--zn-ca",
        ])
        .arg(dir.path("pki/ca.pem"))
        .arg("--zn-cert")
        .arg(dir.path(&format!("pki/{fqdn}.pem")))
        .arg("--zn-key")
        .arg(dir.path(&format!("pki/{fqdn}.key")))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(url.starts_with("http://"), "unexpected first line {line:?}");
    Naf { child, url }
}

/// A NAF Key Center process (device certificates from the test CA; device-1 and device-2
/// registered for their own names).
pub struct KeyCenter {
    pub child: Child,
    pub url: String,
}

impl Drop for KeyCenter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_key_center(dir: &TempDir, bsf: &Bsf) -> KeyCenter {
    std::fs::write(
        dir.path("devices.yaml"),
        "devices:\n  - cert: pki/device-1.pem\n    device_id: device-1\n  - cert: pki/device-2.pem\n    device_id: device-2\n",
    )
    .unwrap();
    let p = |f: &str| dir.path(&format!("pki/{f}"));
    let mut child = gbau()
        .args([
            "key-center",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--fqdn",
            "keycenter.example.org",
            "--zn",
            &bsf.zn,
        ])
        .arg("--tls-cert")
        .arg(p("keycenter.example.org.pem"))
        .arg("--tls-key")
        .arg(p("keycenter.example.org.key"))
        .arg("--device-ca")
        .arg(p("ca.pem"))
        .arg("--devices")
        .arg(dir.path("devices.yaml"))
        .arg("--zn-ca")
        .arg(p("ca.pem"))
        .arg("--zn-cert")
        .arg(p("keycenter.example.org.pem"))
        .arg("--zn-key")
        .arg(p("keycenter.example.org.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(
        url.starts_with("https://"),
        "unexpected first line {line:?}"
    );
    KeyCenter { child, url }
}

/// `gbau mt serve` with the soft card of `dir/card.json` on a Unix socket.
pub struct MtProc {
    pub child: Child,
    pub addr: String,
}

impl Drop for MtProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_mt(dir: &TempDir, bsf: &Bsf) -> MtProc {
    let card = vec![
        "--sim".to_owned(),
        dir.path("card.json").display().to_string(),
    ];
    start_mt_on(dir, bsf, &card)
}

/// `gbau mt serve` on a given card (`--sim FILE` or `--reader NAME --pin PIN`).
pub fn start_mt_on(dir: &TempDir, bsf: &Bsf, card: &[String]) -> MtProc {
    let mut child = gbau()
        .env("HOME", &dir.0)
        .args(card)
        .args(["mt", "serve", "--local"])
        .arg(format!("unix:{}", dir.path("mt.sock").display()))
        .args(["--bsf", &format!("{}/", bsf.ub), "--data"])
        .arg(dir.path("mt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(addr.starts_with("unix:"), "unexpected first line {line:?}");
    MtProc { child, addr }
}
