//! The REPL's decoders, edits and export with piped standard input, on the soft card of the
//! embedded profile (`card-applet-sim/profiles/test-set-1.yaml`). Expected values come from
//! that profile and the specs' codings, not from gbau's own output.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::Write;
use std::process::Stdio;

use support::{gbau, repo, TempDir};

/// Run `gbau --sim STATE shell` with `input` on standard input; its standard output.
fn shell(dir: &TempDir, state: &str, input: &str) -> String {
    let mut child = gbau()
        .env("XDG_STATE_HOME", dir.path("state"))
        .env("HOME", &dir.0)
        .env_remove("GBAU_PIN")
        .env_remove("GBAU_READER")
        .arg("--sim")
        .arg(dir.path(state))
        .arg("shell")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn has(out: &str, want: &str) {
    assert!(out.contains(want), "expected {want:?} in:\n{out}");
}

#[test]
fn identities_and_service_tables_are_decoded() {
    let dir = TempDir::new("sh-ids");
    let out = shell(
        &dir,
        "card.json",
        "select EF_ICCID\nread_binary\nverify_pin\nselect EF_IMSI\nread_binary\n\
         select EF_AD\nread_binary\nselect EF_UST\nread_binary\nselect EF_IST\nread_binary\n",
    );
    // The profile's ICCID and IMSI; MNC length 2 (EF_AD byte 4).
    has(&out, "iccid: 8988211000000000003");
    has(&out, "08 09 10 10 00 00 00 00 10");
    has(&out, "imsi: 001010000000001");
    has(&out, "mnc_length: 2");
    // UST services 27, 68, 76 and IST service 2, named as TS 31.102 §4.2.8 / TS 31.103 §4.2.7.
    has(&out, "  27 GSM Access\n");
    has(&out, "  68 Generic Bootstrapping Architecture (GBA)\n");
    has(&out, "  76 GBA-based Local Key Establishment Mechanism\n");
    has(&out, "  2 Generic Bootstrapping Architecture (GBA)\n");
}

#[test]
fn gba_files_are_decoded() {
    let dir = TempDir::new("sh-gba");
    let out = shell(
        &dir,
        "card.json",
        "verify_pin\nselect EF_GBABP\nread_binary\n\
         gba bootstrap 23553cbe9637a89d218ae64dae47bf35 55f328b43577b9b98c7f3f0d723fb244\n\
         select EF_GBABP\nread_binary\ngba naf naf.example.org\n\
         select EF_GBANL\nread_record 1\nread_record 2\nselect EF_NAFKCA\nread_record 1\n",
    );
    // Before the bootstrap the file is all 'FF'.
    has(&out, "  (empty)\n");
    // The RAND of the bootstrap, as TS 31.102 §4.2.79 stores it.
    has(&out, "rand: 23553cbe9637a89d218ae64dae47bf35");
    // The NAF the key was derived for, with the Ua protocol named (TS 33.220 Annex H).
    has(&out, "naf_fqdn: naf.example.org");
    has(&out, "ua_protocol: 0100000002 (HTTP Digest (TS 24.109))");
    // The profile's NAF Key Center.
    has(&out, "naf_key_center: keycenter.example.org");
}

#[test]
fn isim_files_and_the_application_directory_are_decoded() {
    let dir = TempDir::new("sh-isim");
    let out = shell(
        &dir,
        "card.json",
        "select EF_DIR\nread_record 1\nread_record 2\nverify_pin\nselect EF_IMPI\nread_binary\n\
         select EF_IMPU\nread_record 1\n",
    );
    has(&out, "label: USIM");
    has(&out, "label: ISIM");
    has(
        &out,
        "impi: 001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
    );
    has(
        &out,
        "impu: sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
    );
}

#[test]
fn raw_keeps_only_the_hex() {
    let dir = TempDir::new("sh-raw");
    let out = shell(&dir, "card.json", "select EF_AD\nread_binary --raw\n");
    has(&out, "00 00 00 02\n9000");
    assert!(!out.contains("mnc_length"), "{out}");
}

#[test]
fn decoded_edits_show_the_apdu_and_refuse_what_does_not_fit() {
    let dir = TempDir::new("sh-edit");
    let long = "x".repeat(70);
    let out = shell(
        &dir,
        "card.json",
        &format!(
            "verify_pin\nverify_adm 12345678\nselect EF_IMSI\nupdate_binary_decoded imsi=001010000000002\n\
             read_binary\nupdate_binary_decoded imsi=12ab\nupdate_binary_decoded nonsense\n\
             select EF_UST\nupdate_binary_decoded {{\"services\": [27, 68]}}\nread_binary\n\
             select EF_NAFKCA\nupdate_record_decoded 1 naf_key_center={long}.org\n\
             select EF_LOCI\nupdate_binary_decoded plmn=001-01\n\
             select EF_AD\nupdate_binary_decoded mnc_len=3\nhelp select\n"
        ),
    );
    // TS 31.102 §4.2.2: 15 digits, odd: '9' with digit 1, then swapped BCD.
    has(&out, ">> 00 D6 00 00 09 08 09 10 10 00 00 00 00 20");
    has(&out, "imsi: 001010000000002");
    has(&out, "error: EF_IMSI: IMSI must be");
    has(&out, "error: \"nonsense\" is not name=value");
    // UST: services 27 and 68 only (byte 4 bit 3, byte 9 bit 4).
    has(&out, "00 00 00 04 00 00 00 00 08 00 00 00");
    assert!(!out.contains("  76 GBA-based"), "{out}");
    has(&out, "error: EF_NAFKCA: 76 bytes do not fit in 64");
    has(&out, "error: EF_LOCI: gbau has no encoder for this file");
    // A misspelt field is refused, never dropped (the write would keep the old value).
    has(
        &out,
        "error: EF_AD: \"mnc_len\" is not a field of this file; it takes",
    );
    assert!(
        !out.contains(">> 00 D6 00 00 04"),
        "nothing written to EF_AD: {out}"
    );
    // The session went on to the last line.
    has(&out, "example: select EF_GBABP");
}

#[test]
fn unknown_commands_suggest_the_nearest() {
    let dir = TempDir::new("sh-help");
    let out = shell(
        &dir,
        "card.json",
        "slect EF_AD\nhelp export\nselect EF_AD\nread_binary_decoded\n",
    );
    has(
        &out,
        "error: unknown command \"slect\"; did you mean select?",
    );
    has(&out, "usage: export [--adm] [FILE]");
    has(&out, "example: export --adm card.apdu");
    // pySim-shell's name works too.
    has(&out, "mnc_length: 2");
}

#[test]
fn dir_and_tree_show_what_the_card_holds() {
    let dir = TempDir::new("sh-dir");
    let out = shell(&dir, "card.json", "select ADF.USIM\ndir\ntree\n");
    has(&out, "6F07  EF_IMSI");
    // EF_IMSI: transparent 9 bytes, SFI 07 (TS 31.102 §4.2.2), READ PIN, UPDATE ADM.
    let imsi = out.lines().find(|l| l.contains("EF_IMSI")).unwrap();
    assert!(imsi.contains("transparent 9"), "{imsi}");
    assert!(imsi.contains("SFI 07"), "{imsi}");
    assert!(imsi.contains("update ADM1"), "{imsi}");
    has(&out, "linear fixed 4×160");
    // tree goes through the MF, both applications and DF_GSM-ACCESS.
    has(&out, "\n  ADF.ISIM\n");
    has(&out, "EF_KcGPRS");
    has(&out, "2FE2  EF_ICCID");
}

#[test]
fn export_then_run_on_a_fresh_card_gives_the_same_card() {
    let dir = TempDir::new("sh-export");
    let script = dir.path("a.apdu");
    // Card A, personalised away from the profile: IMSI, UST, a NAF Key Center, a bootstrap
    // (EF_GBABP) and a NAF key (EF_GBANL).
    let out = shell(
        &dir,
        "a.json",
        &format!(
            "verify_pin\nverify_adm 12345678\nselect EF_IMSI\nupdate_binary_decoded imsi=001010123456789\n\
             select EF_UST\nupdate_binary_decoded services=1,27,68,76\n\
             select EF_NAFKCA\nupdate_record_decoded 1 naf_key_center=kc.other.example\n\
             gba bootstrap 23553cbe9637a89d218ae64dae47bf35 55f328b43577b9b98c7f3f0d723fb244\n\
             gba naf naf.example.org\nexport --adm {}\n",
            script.display()
        ),
    );
    has(&out, "exported ");
    let text = std::fs::read_to_string(&script).unwrap();
    // PINs only by variable; no key file.
    has(&text, "> 00 20 00 01 08 $pin1");
    has(&text, "> 00 20 00 0A 08 $adm1");
    assert!(
        !text.contains("31 32 33 34 FF FF FF FF"),
        "PIN1 block in the export"
    );
    assert!(
        !text.contains("31 32 33 34 35 36 37 38"),
        "ADM1 block in the export"
    );
    has(&text, "# EF_Keys (6F08): not exported, holds keys");
    let run = gbau()
        .arg("--sim")
        .arg(dir.path("b.json"))
        .arg("run")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let info = |state: &str| -> serde_json::Value {
        let out = gbau()
            .arg("--sim")
            .arg(dir.path(state))
            .args(["--pin", "1234", "info", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_object_mut().unwrap().remove("card"); // names the state file
        v
    };
    let (a, b) = (info("a.json"), info("b.json"));
    assert_eq!(a["imsi"], "001010123456789");
    assert_eq!(a, b, "card B after the export differs from card A");
    assert_ne!(info("fresh.json"), a, "the edits changed nothing");
}

#[test]
fn gbau_apdu_and_run_traces_decode_the_files() {
    let dir = TempDir::new("sh-apdu");
    let out = gbau()
        .arg("--sim")
        .arg(dir.path("card.json"))
        .args(["apdu", "00A40004022FE2", "00B000000A"])
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    has(&out, "EF_ICCID: iccid: 8988211000000000003");
    let out = gbau()
        .arg("--sim")
        .arg(dir.path("card.json"))
        .arg("run")
        .arg(repo().join("apdu-scripts/card/02-read-files.apdu"))
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    has(
        &out,
        "EF_UST:   68 Generic Bootstrapping Architecture (GBA)",
    );
    has(&out, "EF_NAFKCA: naf_key_center: keycenter.example.org");
}

#[test]
fn nothing_panics_on_bad_input() {
    let dir = TempDir::new("sh-bad");
    let out = shell(
        &dir,
        "card.json",
        "read_binary\nupdate_binary_decoded imsi=1\nread_record 0\nread_record 999\n\
         update_binary 0 zz\nupdate_record_decoded 1 x=1\nselect 12\nselect EF_AD\n\
         update_binary 99999 00\nread_binary 0 9999\nexport --adm /nonexistent/dir/x.apdu\n\
         {\"a\":1}\nhelp nosuch\n",
    );
    has(&out, "error: select a file gbau knows first");
    has(&out, "error: N is 1..254");
    has(&out, "error: OFFSET too large");
    has(&out, "error: LENGTH is 1..256");
    has(&out, "/nonexistent/dir/x.apdu");
    has(&out, "no command \"nosuch\"");
}
