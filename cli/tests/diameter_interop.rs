//! Diameter Zn checked against software gbau did not write: Wireshark's dictionary agrees
//! with gbau's table of codes; tshark dissects a captured CER/CEA + BIR/BIA exchange with no
//! malformed packet and the values expected; freeDiameter (freeDiameterd) as a peer reaches the
//! OPEN state with gbau's BSF and exchanges watchdogs and a disconnect. `gbau http` through a
//! NAF on Diameter Zn gets the same key as through HTTPS Zn. scripts/ensure-system-packages
//! installs tshark and freediameter; these tests fail, naming the tool, when one is missing.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gbau_core::identity::{NafId, UaProtocolId};
use gbau_network::diameter::client::{DiameterZnClient, NafIdentity};
use gbau_network::diameter::dict::{self, AVPS};
use gbau_network::naf::KeySource;
use support::net::{setup, sim_json, start_bsf_args};

const WIRESHARK_DICTIONARY: &str = "/usr/share/wireshark/diameter/dictionary.xml";

fn need(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run scripts/ensure-system-packages (tshark, freediameter)"
    );
}

/// The attribute `name="…"` of an XML start tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    tag[at..].split('"').next()
}

/// Wireshark's own Diameter dictionary (the one tshark dissects with) has every AVP of gbau's
/// table with the same code, vendor and type, and the Zn application and BIR command.
#[test]
fn wireshark_dictionary_agrees_with_gbau_table() {
    let xml = std::fs::read_to_string(WIRESHARK_DICTIONARY).unwrap_or_else(|e| {
        panic!("{WIRESHARK_DICTIONARY}: {e} (install tshark: scripts/ensure-system-packages)")
    });
    // (name, code, vendor, type) of each <avp> with the <type> that follows it.
    let mut ws = Vec::new();
    for chunk in xml.split("<avp ").skip(1) {
        let tag = format!(" {}", chunk.split('>').next().unwrap_or(""));
        let body = chunk.split("</avp>").next().unwrap_or("");
        let ty = if body.contains("<grouped") {
            "Grouped"
        } else {
            body.split("type-name=\"")
                .nth(1)
                .and_then(|t| t.split('"').next())
                .unwrap_or("")
        };
        if let (Some(name), Some(code)) = (attr(&tag, "name"), attr(&tag, "code")) {
            ws.push((
                name.to_owned(),
                code.parse::<u32>().unwrap_or(0),
                attr(&tag, "vendor-id").unwrap_or("None").to_owned(),
                ty.to_owned(),
            ));
        }
    }
    let ws_type = |kind: &str| match kind {
        "OS" => "OctetString",
        "U32" => "Unsigned32",
        "E" => "Enumerated",
        "T" => "Time",
        "G" => "Grouped",
        "UTF8" => "UTF8String",
        "DI" => "DiameterIdentity",
        "A" => "IPAddress",
        other => panic!("kind {other}"),
    };
    // Wireshark's derived types (AppId, VendorId, …) resolve through <typedefn> to a base.
    let parent = |t: &str| {
        xml.split("<typedefn ")
            .skip(1)
            .map(|c| format!(" {}", c.split('>').next().unwrap_or("")))
            .find(|tag| attr(tag, "type-name") == Some(t))
            .and_then(|tag| attr(&tag, "type-parent").map(str::to_owned))
    };
    let is_a = |mut t: String, want: &str| loop {
        if t == want {
            return true;
        }
        match parent(&t) {
            Some(p) if p != t => t = p,
            _ => return false,
        }
    };
    // Unsigned32 values with named constants (Result-Code …) are Enumerated in Wireshark's
    // dictionary, for display; the encoding is the same four octets.
    let same = |ty: &str, kind: &str| {
        is_a(ty.to_owned(), ws_type(kind)) || (kind == "U32" && ty == "Enumerated")
    };
    for d in AVPS {
        let vendor = if d.vendor.is_some() { "TGPP" } else { "None" };
        let hit = ws.iter().find(|(_, code, v, _)| {
            *code == d.code && (v == vendor || (vendor == "None" && v.is_empty()))
        });
        let (name, _, _, ty) =
            hit.unwrap_or_else(|| panic!("{} ({}) not in Wireshark's dictionary", d.name, d.code));
        assert!(
            same(ty, d.kind),
            "type of {} ({}): Wireshark {ty}, gbau {}",
            d.name,
            d.code,
            d.kind
        );
        // Wireshark keeps the pre-Rel-7 name of 402, NAF-Hostname.
        if d.code != dict::code::NAF_ID {
            assert_eq!(name, d.name, "name of {}", d.code);
        }
    }
    assert!(xml.contains("<application id=\"16777220\"\tname=\"3GPP Zn\""));
    assert!(
        xml.lines()
            .any(|l| l.contains("name=\"Boostrapping-Info\"") && l.contains("code=\"310\"")),
        "BIR/BIA is command 310 in Wireshark's dictionary"
    );
}

fn naf_id() -> NafId {
    NafId::new("naf.example.org", UaProtocolId::HTTP_DIGEST).unwrap()
}

/// A tshark capture on loopback for one TCP port, stopped on drop.
struct Capture {
    child: std::process::Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(file: std::path::PathBuf, port: u16) -> Self {
        need("tshark");
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-f", &format!("tcp port {port}"), "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let t0 = Instant::now();
        // dumpcap announces the interface, then that the capture started; packets before the
        // second message can be missed, so a short grace period follows it.
        while !line.contains("Capture started") {
            line.clear();
            assert!(
                err.read_line(&mut line).unwrap() > 0 && t0.elapsed() < Duration::from_secs(20),
                "tshark did not start capturing (it needs capture rights on lo: run as root): {line}"
            );
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        std::thread::sleep(Duration::from_secs(1));
        Self { child, file }
    }

    fn stop(mut self) -> std::path::PathBuf {
        std::thread::sleep(Duration::from_millis(700));
        support::signal(self.child.id(), rustix::process::Signal::INT);
        let _ = self.child.wait();
        self.file.clone()
    }
}

fn tshark_read(file: &std::path::Path, port: u16, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-d", &format!("tcp.port=={port},diameter")])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A real bootstrap at the BSF, then Diameter Zn lookups captured on loopback and dissected by
/// tshark: CER/CEA, a BIR answered with the keys, a BIR for an unknown B-TID answered 5403; no
/// malformed packet, no expert warning. The key equals the HTTPS Zn's, and `gbau http` through
/// a NAF on Diameter Zn gets its 200.
#[test]
fn tshark_dissects_zn_and_the_keys_match_https_zn() {
    let dir = setup();
    let bsf = start_bsf_args(
        &dir,
        &["--zn-diameter", "127.0.0.1:0", "--realm", "example.org"],
    );
    let dia = bsf.zn_diameter.unwrap();
    let b = sim_json(
        &dir,
        &["gba", "bootstrap", "--bsf", &format!("{}/", bsf.ub)],
    );
    let b_tid = b["b_tid"].as_str().unwrap().to_owned();

    let cap = Capture::start(dir.path("zn.pcapng"), dia.port());
    let naf = DiameterZnClient::new(
        &dia.to_string(),
        NafIdentity {
            host: "naf.example.org".into(),
            realm: "example.org".into(),
        },
    );
    let over_diameter = naf.key(&b_tid, &naf_id()).unwrap();
    let unknown = naf.key("bm9uZQ==@bsf.example.org", &naf_id()).unwrap_err();
    assert!(unknown.needs_bootstrap(), "{unknown}");
    let file = cap.stop();

    let https = gbau_network::zn::ZnClient::new(
        &bsf.zn,
        &bsf.zn_resolve_pair(),
        &dir.path("pki/ca.pem"),
        &dir.path("pki/naf.example.org.client.pem"),
        &dir.path("pki/naf.example.org.client.key"),
    )
    .unwrap()
    .fetch(&gbau_network::bsf::core::ZnRequest {
        b_tid: b_tid.clone(),
        naf_id: gbau_core::hexutil::to_hex(&naf_id().to_bytes()),
        gba_u_aware: true,
    })
    .unwrap();
    assert_eq!(
        over_diameter.ks_naf, https.ks_naf,
        "Ks_ext_NAF over both Zn"
    );
    assert_eq!(
        over_diameter.ks_int_naf, https.ks_int_naf,
        "Ks_int_NAF over both Zn"
    );
    assert_eq!(over_diameter.impi, https.impi);
    assert_eq!(over_diameter.expiry, https.expiry);

    let rows = tshark_read(
        &file,
        dia.port(),
        &[
            "-Y",
            "diameter",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "diameter.cmd.code",
            "-e",
            "diameter.flags.request",
            "-e",
            "diameter.applicationId",
            "-e",
            "diameter.Result-Code",
            "-e",
            "diameter.Experimental-Result-Code",
            "-e",
            "diameter.Transaction-Identifier",
            "-e",
            "diameter.User-Name",
        ],
    );
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('|').collect()).collect();
    let find = |cmd: &str, req: &str, pred: &dyn Fn(&Vec<&str>) -> bool| {
        rows.iter().any(|r| r[0] == cmd && r[1] == req && pred(r))
    };
    assert!(find("257", "1", &|_| true), "CER: {rows:?}");
    assert!(find("257", "0", &|r| r[3] == "2001"), "CEA 2001: {rows:?}");
    // Transaction-Identifier is an OctetString: tshark shows its octets in hex.
    let b_tid_hex = gbau_core::hexutil::to_hex(b_tid.as_bytes());
    assert!(
        find("310", "1", &|r| r[2] == "16777220" && r[5] == b_tid_hex),
        "BIR with the B-TID: {rows:?}"
    );
    assert!(
        find("310", "0", &|r| r[3] == "2001"
            && r[6] == over_diameter.impi),
        "BIA 2001 with the IMPI: {rows:?}"
    );
    assert!(find("310", "0", &|r| r[4] == "5403"), "BIA 5403: {rows:?}");
    let bad = tshark_read(
        &file,
        dia.port(),
        &["-Y", "_ws.malformed || _ws.expert.severity >= warning"],
    );
    assert!(
        bad.trim().is_empty(),
        "tshark found malformed packets or warnings:\n{bad}"
    );
    let tree = tshark_read(&file, dia.port(), &["-V", "-Y", "diameter.cmd.code == 310"]);
    for name in [
        "ME-Key-Material",
        "UICC-Key-Material",
        "Key-ExpiryTime",
        "BootstrapInfoCreationTime",
        "GBA-Type",
        "GBA_U-Awareness-Indicator",
    ] {
        assert!(tree.contains(name), "{name} not dissected");
    }

    // A NAF on Diameter Zn serves gbau http.
    let mut cmd = support::gbau();
    cmd.args([
        "naf",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--fqdn",
        "naf.example.org",
        "--zn",
        &format!("diameter://{dia}"),
        "--diameter-realm",
        "example.org",
    ]);
    let (_naf, w) = support::net::announced(cmd, "naf: http");
    let port = w[1]
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let j = sim_json(
        &dir,
        &[
            "http",
            "GET",
            &format!("http://naf.example.org:{port}/x"),
            "--bsf",
            &format!("{}/", bsf.ub),
            "--resolve",
            &format!("naf.example.org:{port}:127.0.0.1"),
        ],
    );
    assert_eq!(j["status"], 200, "{j}");
}

/// freeDiameter 1.2 (Debian's freeDiameterd) as a client peer: CER/CEA to STATE_OPEN, two
/// watchdogs answered (Tw 6 s), and a clean disconnect (DPR/DPA) when it stops.
#[test]
fn freediameter_reaches_open_with_the_bsf() {
    need("freeDiameterd");
    let dir = setup();
    let bsf = start_bsf_args(
        &dir,
        &[
            "--zn-diameter",
            "127.0.0.1:0",
            "--diameter-identity",
            "bsf.example.org",
            "--realm",
            "example.org",
        ],
    );
    let dia = bsf.zn_diameter.unwrap();
    let own = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let own_port = own.local_addr().unwrap().port();
    drop(own);
    let conf = dir.path("fd.conf");
    std::fs::write(
        &conf,
        format!(
            "Identity = \"naf.example.org\";\nRealm = \"example.org\";\nPort = {own_port};\nSecPort = 0;\nNo_SCTP;\nListenOn = \"127.0.0.1\";\nTwTimer = 6;\nConnectPeer = \"bsf.example.org\" {{ ConnectTo = \"127.0.0.1\"; Port = {}; No_TLS; No_SCTP; }};\n",
            dia.port()
        ),
    )
    .unwrap();
    let mut fd = Command::new("freeDiameterd")
        .arg("-c")
        .arg(&conf)
        .args(["-d", "-d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(fd.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let mut wait_for = |pred: &dyn Fn(&[String]) -> bool, secs: u64| {
        let t0 = Instant::now();
        while !pred(&log) && t0.elapsed() < Duration::from_secs(secs) {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                log.push(l);
            }
        }
        pred(&log)
    };
    let open = wait_for(
        &|l| {
            l.iter()
                .any(|x| x.contains("-> 'STATE_OPEN'") && x.contains("bsf.example.org"))
        },
        20,
    );
    assert!(
        open,
        "freeDiameter did not reach STATE_OPEN:\n{}",
        log.join("\n")
    );
    let dwa = |l: &[String]| {
        l.iter()
            .filter(|x| x.contains("RCV from 'bsf.example.org'") && x.contains("0/280"))
            .count()
    };
    assert!(
        wait_for(&|l| dwa(l) >= 2, 25),
        "two DWA for freeDiameter's DWRs:\n{}",
        log.join("\n")
    );
    support::signal(fd.id(), rustix::process::Signal::INT);
    let dpa = wait_for(
        &|l| {
            l.iter()
                .any(|x| x.contains("RCV from 'bsf.example.org'") && x.contains("0/282"))
        },
        20,
    );
    let _ = fd.kill();
    let _ = fd.wait();
    assert!(dpa, "DPA to freeDiameter's DPR:\n{}", log.join("\n"));
    assert!(
        !log.iter()
            .any(|x| x.contains("Connection to 'bsf.example.org' failed")),
        "{}",
        log.join("\n")
    );
}

/// Plain-TCP Diameter authenticates no peer: beyond loopback the BSF refuses to listen unless
/// told the link is protected otherwise.
#[test]
fn diameter_zn_beyond_loopback_needs_the_explicit_flag() {
    let dir = setup();
    let out = support::gbau()
        .args(["bsf", "serve", "--listen", "127.0.0.1:0", "--subscribers"])
        .arg(dir.path("subs.yaml"))
        .arg("--data")
        .arg(dir.path("data"))
        .arg("--nafs")
        .arg(dir.path("nafs.yaml"))
        .args(["--zn-diameter", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--zn-diameter-unprotected"),
        "{err}"
    );
}
