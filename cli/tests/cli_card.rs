//! The card commands of `gbau` as a user runs them, on the in-process soft card (`--sim`):
//! info, apdu, run (every card script), gba bootstrap / naf-key / check, completions, and
//! every error message with its exit code.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::process::Output;

use support::{gbau, repo, TempDir};

const CHAIN_RAND: &str = "23553cbe9637a89d218ae64dae47bf35";
const CHAIN_AUTN_STAR: &str = "55f328b43577b9b98c7f3f0d723fb244";
const CHAIN_B_TID: &str = "I1U8vpY3qJ0hiuZNrke/NQ==@bsf.mnc001.mcc001.pub.3gppnetwork.org";
const CHAIN_KS_EXT_NAF: &str = "d3d5b418417eedfff77c5cce9b962bd62a6bbedbff2b309ab15cdc90882b18f2";

struct Sim {
    dir: TempDir,
}

impl Sim {
    fn new() -> Self {
        Self {
            dir: TempDir::new("cli"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        gbau()
            .env("HOME", &self.dir.0)
            .env_remove("GBAU_PIN")
            .env_remove("GBAU_READER")
            .arg("--sim")
            .arg(self.dir.path("card.json"))
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "gbau {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

fn fails(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(
        err.contains(needle),
        "stderr {err:?} should contain {needle:?}"
    );
}

#[test]
fn info_decodes_the_card() {
    let sim = Sim::new();
    let j = sim.json(&["info", "--json"]);
    assert_eq!(j["iccid"], "8988211000000000003");
    assert_eq!(j["imsi"], "001010000000001");
    assert_eq!(
        j["impi"],
        "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
    );
    assert_eq!(
        j["isim_impi"],
        "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
    );
    assert_eq!(j["bsf"], "bsf.mnc001.mcc001.pub.3gppnetwork.org");
    assert_eq!(j["services"]["gba"], true);
    assert_eq!(j["services"]["gba_local_key_establishment"], true);
    assert_eq!(j["naf_key_centers"][0], "keycenter.example.org");
    assert_eq!(j["gba_context"], "supported");
    assert_eq!(j["gbabp"]["rand"], serde_json::Value::Null);
    assert_eq!(j["applications"].as_array().unwrap().len(), 2);
    let text = sim.ok(&["info"]);
    assert!(
        text.contains("EF_GBABP      empty (no bootstrap yet)"),
        "{text}"
    );
}

#[test]
fn bootstrap_then_naf_key_gives_the_chain() {
    let sim = Sim::new();
    let b = sim.json(&[
        "gba",
        "bootstrap",
        "--rand",
        CHAIN_RAND,
        "--autn",
        CHAIN_AUTN_STAR,
        "--btid",
        CHAIN_B_TID,
        "--lifetime",
        "2099-01-01T00:00:00Z",
        "--json",
    ]);
    // GBA_U: RES with its last bit flipped (TS 33.220 §5.3.2; res_gba_u of the chain).
    assert_eq!(b["res"], "a54211d5e3ba50be");
    let k = sim.json(&["gba", "naf-key", "--naf-fqdn", "naf.example.org", "--json"]);
    assert_eq!(k["b_tid"], CHAIN_B_TID);
    assert_eq!(k["naf_id"], "6e61662e6578616d706c652e6f72670100000002");
    assert_eq!(k["ks_ext_naf"], CHAIN_KS_EXT_NAF);
    assert_eq!(
        k.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["b_tid", "ks_ext_naf", "naf_id"]
    );
    let info = sim.json(&["info", "--json"]);
    assert_eq!(info["gbabp"]["b_tid"], CHAIN_B_TID);
    assert_eq!(info["gbabp"]["expired"], false);
    assert_eq!(info["gbanl"][0]["naf_fqdn"], "naf.example.org");
    // The same challenge again: synchronisation failure, exit 1, AUTS named.
    let again = sim.run(&[
        "gba",
        "bootstrap",
        "--rand",
        CHAIN_RAND,
        "--autn",
        CHAIN_AUTN_STAR,
        "--btid",
        CHAIN_B_TID,
        "--lifetime",
        "2099-01-01T00:00:00Z",
    ]);
    fails(&again, 1, "synchronisation failure");
    assert!(String::from_utf8_lossy(&again.stderr).contains("ba853f3c123ccf44e93596e355c6"));
}

#[test]
fn check_names_the_input_that_differs() {
    let sim = Sim::new();
    sim.ok(&[
        "gba",
        "bootstrap",
        "--rand",
        CHAIN_RAND,
        "--autn",
        CHAIN_AUTN_STAR,
        "--btid",
        CHAIN_B_TID,
        "--lifetime",
        "2000-01-01T00:00:00Z",
    ]);
    let good = sim.json(&[
        "gba",
        "check",
        "--naf-fqdn",
        "naf.example.org",
        "--expected",
        CHAIN_KS_EXT_NAF,
        "--json",
    ]);
    assert_eq!(good["card_matches_calc"], true);
    assert_eq!(good["expected_matches_card"], true);
    let case = sim.run(&[
        "gba",
        "check",
        "--naf-fqdn",
        "NAF.Example.org",
        "--expected",
        CHAIN_KS_EXT_NAF,
    ]);
    assert_eq!(case.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&case.stdout)
        .contains("NAF FQDN \"naf.example.org\" (case differs)"));
    let ua = sim.run(&[
        "gba",
        "check",
        "--naf-fqdn",
        "naf.example.org",
        "--ua-protocol",
        "0100000000",
        "--expected",
        CHAIN_KS_EXT_NAF,
    ]);
    assert!(String::from_utf8_lossy(&ua.stdout).contains("Ua protocol id 0100000002"));
    let impi = sim.run(&[
        "gba",
        "check",
        "--naf-fqdn",
        "naf.example.org",
        "--impi",
        "001010000000001@ims.mnc01.mcc001.3gppnetwork.org",
        "--expected",
        CHAIN_KS_EXT_NAF,
    ]);
    assert!(String::from_utf8_lossy(&impi.stdout)
        .contains("IMPI form 001010000000001@ims.mnc001.mcc001.3gppnetwork.org (MNC length 2)"));
    let stale = sim.run(&[
        "gba",
        "check",
        "--naf-fqdn",
        "naf.example.org",
        "--rand",
        "00112233445566778899aabbccddeeff",
    ]);
    assert!(String::from_utf8_lossy(&stale.stdout).contains("stale RAND"));
    // The lifetime 2000 has passed.
    assert_eq!(sim.json(&["info", "--json"])["gbabp"]["expired"], true);
}

#[test]
fn apdu_prints_decoded_answers() {
    let sim = Sim::new();
    let out = sim.ok(&[
        "apdu",
        "00 A4 04 04 07 A0 00 00 00 87 10 02",
        "00A4000402 6FAD",
        "00B0000004",
    ]);
    assert!(
        out.contains("DF/ADF 7FF0, AID a0000000871002ff33ff018900000100"),
        "{out}"
    );
    assert!(
        out.contains("transparent EF 6FAD, 4 bytes, SFI 03"),
        "{out}"
    );
    assert!(
        out.contains("<< 00 00 00 02\n<< 9000 (normal ending)"),
        "{out}"
    );
    let raw = sim.ok(&["apdu", "--raw", "00 A4 04 04 07 A0 00 00 00 87 10 02"]);
    assert!(
        raw.contains("<< 6132 (50 response bytes available (GET RESPONSE))"),
        "{raw}"
    );
    let j = sim.json(&["apdu", "--json", "00A40004026F99"]);
    assert_eq!(j[0]["sw"], "6A82");
    assert_eq!(j[0]["meaning"], "file or application not found");
    fails(&sim.run(&["apdu", "00A4zz"]), 2, "APDU: #1: not hex");
    fails(&sim.run(&["apdu", "00A4"]), 2, "APDU: #1: APDU too short");
}

#[test]
fn run_every_card_script_through_the_cli() {
    for script in [
        "01-select",
        "02-read-files",
        "03-pin-errors",
        "04-auth-3g",
        "05-gba-bootstrap",
        "06-gba-replay",
        "07-gba-errors",
        "08-t0-behaviour",
    ] {
        let sim = Sim::new();
        let path = repo()
            .join("apdu-scripts/card")
            .join(format!("{script}.apdu"));
        let out = sim.ok(&["run", path.to_str().unwrap()]);
        assert!(out.contains("ok: "), "{script}: {out}");
    }
    // The JSON transcript masks PIN data like every log line.
    let sim = Sim::new();
    let path = repo().join("apdu-scripts/card/03-pin-errors.apdu");
    let out = sim.ok(&["run", path.to_str().unwrap(), "--json"]);
    assert!(out.contains("<8 bytes of PIN data>"), "{out}");
    assert!(
        !out.contains("31323334"),
        "PIN1 1234 in the transcript: {out}"
    );
}

#[test]
fn run_shows_a_diff_on_mismatch_and_takes_variables() {
    let sim = Sim::new();
    let script = sim.dir.path("bad.apdu");
    std::fs::write(&script, "> 00 A4 00 04 02 $fid\n< 90 00\n").unwrap();
    let out = sim.run(&["run", script.to_str().unwrap(), "--var", "fid=6F99"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.apdu:2: response does not match")
            && err.contains("- 90 00")
            && err.contains("+ 6A 82"),
        "{err}"
    );
    fails(
        &sim.run(&["run", script.to_str().unwrap()]),
        1,
        "undefined variable $fid",
    );
    fails(
        &sim.run(&["run", script.to_str().unwrap(), "--var", "fid"]),
        2,
        "--var: \"fid\" is not NAME=VALUE",
    );
    fails(
        &sim.run(&["run", sim.dir.path("missing.apdu").to_str().unwrap()]),
        1,
        "No such file",
    );
}

#[test]
fn error_messages_and_exit_codes() {
    let sim = Sim::new();
    fails(
        &sim.run(&["--pin", "0000", "info"]),
        1,
        "wrong PIN1, 2 tries left",
    );
    fails(
        &sim.run(&["gba", "naf-key", "--naf-fqdn", "naf.example.org"]),
        1,
        "card answered 6985 (conditions of use not satisfied)",
    );
    fails(
        &sim.run(&[
            "gba",
            "bootstrap",
            "--rand",
            "00",
            "--autn",
            CHAIN_AUTN_STAR,
            "--btid",
            "x@y",
            "--lifetime",
            "2099-01-01T00:00:00Z",
        ]),
        2,
        "--rand: expected 16 bytes",
    );
    fails(
        &sim.run(&[
            "gba",
            "bootstrap",
            "--rand",
            CHAIN_RAND,
            "--autn",
            CHAIN_AUTN_STAR,
            "--btid",
            "x@y",
            "--lifetime",
            "tomorrow",
        ]),
        2,
        "--lifetime: expected xs:dateTime",
    );
    fails(
        &sim.run(&[
            "gba",
            "naf-key",
            "--naf-fqdn",
            "naf.example.org",
            "--ua-protocol",
            "01",
        ]),
        2,
        "--ua-protocol: expected 5 bytes",
    );
    fails(
        &sim.run(&[
            "gba",
            "bootstrap",
            "--rand",
            CHAIN_RAND,
            "--autn",
            "55f328b43577b9b94a9ffac354dfafb3",
            "--btid",
            "x@y",
            "--lifetime",
            "2099-01-01T00:00:00Z",
        ]),
        1,
        "9862 (authentication error, incorrect MAC)",
    );
    fails(
        &sim.run(&["--profile", "/nonexistent.yaml", "info"]),
        2,
        "cannot read profile /nonexistent.yaml",
    );
    let bad_profile = sim.dir.path("bad.yaml");
    std::fs::write(&bad_profile, "iccid: 1\n").unwrap();
    fails(
        &sim.run(&["--profile", bad_profile.to_str().unwrap(), "info"]),
        2,
        "is not valid YAML for a card profile",
    );
    let corrupt = sim.dir.path("corrupt.json");
    std::fs::write(&corrupt, "{").unwrap();
    let out = gbau()
        .env("HOME", &sim.dir.0)
        .args(["--sim", corrupt.to_str().unwrap(), "info"])
        .output()
        .unwrap();
    fails(&out, 1, "is corrupt");
    // Three wrong PINs block PIN1; the message says what to do.
    let sim2 = Sim::new();
    sim2.run(&["--pin", "0000", "info"]);
    sim2.run(&["--pin", "0000", "info"]);
    sim2.run(&["--pin", "0000", "info"]);
    fails(
        &sim2.run(&["info"]),
        1,
        "PIN1 is blocked; unblock it with the PUK first",
    );
}

#[test]
fn completions_and_help() {
    let sim = Sim::new();
    let bash = sim.ok(&["completions", "bash"]);
    assert!(
        bash.contains("gbau") && bash.contains("naf-key"),
        "bash completion mentions the commands"
    );
    let help = String::from_utf8(gbau().arg("--help").output().unwrap().stdout).unwrap();
    for cmd in [
        "readers", "info", "apdu", "run", "gba", "shell", "calc", "demo",
    ] {
        assert!(help.contains(cmd), "--help lists {cmd}");
    }
    let gba_help = String::from_utf8(
        gbau()
            .args(["gba", "naf-key", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        gba_help.contains("--naf-fqdn") && gba_help.contains("--reader"),
        "{gba_help}"
    );
}
