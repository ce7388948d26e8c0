//! `gbau calc` as a user runs it: values from the shared vectors, JSON keys, errors, exit codes.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

fn gbau(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gbau"))
        .args(args)
        .output()
        .expect("run gbau")
}

fn vector_file(name: &str) -> serde_norway::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors")
        .join(name);
    serde_norway::from_str(&std::fs::read_to_string(path).expect("read vectors")).expect("yaml")
}

fn field(v: &serde_norway::Value, key: &str) -> String {
    v.get(key)
        .and_then(|x| x.as_str())
        .unwrap_or_else(|| panic!("vector field {key}"))
        .to_owned()
}

fn json_of(out: &Output) -> BTreeMap<String, serde_json::Value> {
    assert!(
        out.status.success(),
        "gbau failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

#[test]
fn milenage_reproduces_the_gba_u_chain() {
    let v = vector_file("gba-u-chain.yaml");
    let out = gbau(&[
        "calc",
        "milenage",
        "--k",
        &field(&v, "k"),
        "--opc",
        &field(&v, "opc"),
        "--rand",
        &field(&v, "rand"),
        "--sqn",
        &field(&v, "sqn"),
        "--amf",
        &field(&v, "amf"),
        "--json",
    ]);
    let j = json_of(&out);
    let expected_keys = [
        "ak",
        "ak_star",
        "autn",
        "autn_gba_u",
        "ck",
        "ik",
        "kc",
        "mac_a",
        "mac_s",
        "opc",
        "res",
        "res_gba_u",
        "sres",
    ];
    assert_eq!(
        j.keys().map(String::as_str).collect::<Vec<_>>(),
        expected_keys
    );
    for (key, vector_key) in [
        ("opc", "opc"),
        ("mac_a", "mac_a"),
        ("res", "res"),
        ("ck", "ck"),
        ("ik", "ik"),
        ("ak", "ak"),
        ("autn", "autn"),
        ("autn_gba_u", "autn_gba_u"),
        ("res_gba_u", "res_gba_u"),
    ] {
        assert_eq!(j[key].as_str().unwrap(), field(&v, vector_key), "{key}");
    }
}

#[test]
fn milenage_from_op_matches_every_ts35208_set() {
    let file = vector_file("milenage-ts35208.yaml");
    for s in file
        .get("sets")
        .and_then(|x| x.as_sequence())
        .expect("sets")
    {
        let out = gbau(&[
            "calc",
            "milenage",
            "--k",
            &field(s, "k"),
            "--op",
            &field(s, "op"),
            "--rand",
            &field(s, "rand"),
            "--sqn",
            &field(s, "sqn"),
            "--amf",
            &field(s, "amf"),
            "--json",
        ]);
        let j = json_of(&out);
        for (key, vector_key) in [
            ("opc", "opc"),
            ("mac_a", "f1"),
            ("mac_s", "f1_star"),
            ("res", "f2"),
            ("ck", "f3"),
            ("ik", "f4"),
            ("ak", "f5"),
            ("ak_star", "f5_star"),
        ] {
            assert_eq!(
                j[key].as_str().unwrap(),
                field(s, vector_key),
                "set {:?} {key}",
                s.get("set")
            );
        }
    }
}

#[test]
fn gba_reproduces_the_chain_from_ks_and_from_ck_ik() {
    let v = vector_file("gba-u-chain.yaml");
    let common = [
        "--rand",
        &field(&v, "rand"),
        "--impi",
        &field(&v, "impi"),
        "--naf-fqdn",
        &field(&v, "naf_fqdn"),
        "--json",
    ]
    .map(String::from);
    let ks = field(&v, "ks");
    let mut a: Vec<String> = vec!["calc".into(), "gba".into(), "--ks".into(), ks];
    a.extend(common.iter().cloned());
    let via_ks = json_of(&gbau(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    let mut b: Vec<String> = vec![
        "calc".into(),
        "gba".into(),
        "--ck".into(),
        field(&v, "ck"),
        "--ik".into(),
        field(&v, "ik"),
        "--ua-protocol".into(),
        "01 00 00 00 02".into(),
    ];
    b.extend(common.iter().cloned());
    let via_ck_ik = json_of(&gbau(&b.iter().map(String::as_str).collect::<Vec<_>>()));
    for j in [&via_ks, &via_ck_ik] {
        assert_eq!(
            j.keys().map(String::as_str).collect::<Vec<_>>(),
            ["ks_ext_naf", "ks_int_naf", "naf_id"]
        );
        assert_eq!(j["naf_id"].as_str().unwrap(), field(&v, "naf_id"));
        assert_eq!(j["ks_ext_naf"].as_str().unwrap(), field(&v, "ks_ext_naf"));
        assert_eq!(j["ks_int_naf"].as_str().unwrap(), field(&v, "ks_int_naf"));
    }
}

#[test]
fn gba_key_depends_on_fqdn_case_and_protocol_id() {
    let v = vector_file("gba-u-chain.yaml");
    let run = |fqdn: &str, ua: &str| {
        json_of(&gbau(&[
            "calc",
            "gba",
            "--ks",
            &field(&v, "ks"),
            "--rand",
            &field(&v, "rand"),
            "--impi",
            &field(&v, "impi"),
            "--naf-fqdn",
            fqdn,
            "--ua-protocol",
            ua,
            "--json",
        ]))["ks_ext_naf"]
            .clone()
    };
    let reference = field(&v, "ks_ext_naf");
    assert_eq!(
        run("naf.example.org", "0100000002").as_str().unwrap(),
        reference
    );
    assert_ne!(
        run("NAF.example.org", "0100000002").as_str().unwrap(),
        reference
    );
    assert_ne!(
        run("naf.example.org", "0100000000").as_str().unwrap(),
        reference
    );
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = gbau(args);
    assert_eq!(out.status.code(), Some(2), "exit code for {args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error, got {err:?}"
    );
    assert!(err.contains(needle), "{err:?} should contain {needle:?}");
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
}

#[test]
fn malformed_input_is_a_one_line_error_with_exit_code_2() {
    let ok = [
        "--k",
        "465b5ce8b199b49faa5f0a2ee238a6bc",
        "--opc",
        "cd63cb71954a9f4e48a5994e37a02baf",
        "--rand",
        "23553cbe9637a89d218ae64dae47bf35",
        "--sqn",
        "ff9bb4d0b607",
        "--amf",
        "b9b9",
    ];
    let with = |i: usize, value: &'static str| {
        let mut a: Vec<&str> = vec!["calc", "milenage"];
        a.extend(
            ok.iter()
                .enumerate()
                .map(|(j, x)| if j == i { value } else { x }),
        );
        a
    };
    assert_usage_error(
        &with(1, "465b"),
        "--k: expected 16 bytes (32 hex digits), got 2 bytes",
    );
    assert_usage_error(
        &with(3, "cd63cb71954a9f4e48a5994e37a02bag"),
        "--opc: not hex",
    );
    assert_usage_error(
        &with(5, "23553cbe9637a89d218ae64dae47bf3"),
        "--rand: odd number of hex digits",
    );
    assert_usage_error(
        &with(7, "ff9bb4d0b60700"),
        "--sqn: expected 6 bytes (12 hex digits), got 7 bytes",
    );
    assert_usage_error(
        &with(9, "b9"),
        "--amf: expected 2 bytes (4 hex digits), got 1 bytes",
    );
    assert_usage_error(
        &[
            "calc",
            "gba",
            "--ks",
            "00",
            "--rand",
            "23553cbe9637a89d218ae64dae47bf35",
            "--impi",
            "x",
            "--naf-fqdn",
            "y",
        ],
        "--ks: expected 32 bytes (64 hex digits), got 1 bytes",
    );
    assert_usage_error(
        &[
            "calc",
            "gba",
            "--ks",
            &"00".repeat(32),
            "--rand",
            "23553cbe9637a89d218ae64dae47bf35",
            "--impi",
            "x",
            "--naf-fqdn",
            "y",
            "--ua-protocol",
            "0100",
        ],
        "--ua-protocol: expected 5 bytes (10 hex digits), got 2 bytes",
    );
}

#[test]
fn demo_runs_bsf_naf_and_the_key_update() {
    let j = json_of(&gbau(&["demo", "--json"]));
    assert_eq!(j["mode"], "GBA_U");
    for key in [
        "ks_ext_naf_mt",
        "ks_ext_naf_naf",
        "ks_ext_naf_mt_first",
        "ks_ext_naf_naf_first",
    ] {
        let k = j[key].as_str().unwrap();
        assert!(
            k.len() == 64
                && k.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{key} is lower-case hex: {k}"
        );
    }
    assert_eq!(
        j["ks_ext_naf_naf"], j["ks_ext_naf_mt"],
        "the NAF got the card's key over Zn"
    );
    assert_eq!(j["ks_ext_naf_naf_first"], j["ks_ext_naf_mt_first"]);
    assert_ne!(
        j["ks_ext_naf_mt"], j["ks_ext_naf_mt_first"],
        "a new key after the key update"
    );
    assert_ne!(j["b_tid"], j["b_tid_first"]);
    assert_eq!(j["key_update_rebootstrapped"], true);
    assert_eq!(j["keys_equal"], true);
    assert!(j["b_tid"]
        .as_str()
        .unwrap()
        .ends_with("@bsf.mnc001.mcc001.pub.3gppnetwork.org"));
    assert!(
        j["bsf_ub"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "servers listen on loopback"
    );
    assert!(j["naf"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    // Seed 001: the external device and the MT share Ks_local_MT.
    assert_eq!(j["device_id"], "device-1");
    assert_eq!(j["ks_local_mt_mt"], j["ks_local_mt_device"]);
    assert_eq!(j["ks_local_mt_mt"].as_str().unwrap().len(), 64);
    assert_eq!(j["optimized_procedure_used"], true);
    assert_eq!(j["local_key_reestablished"], true);
    let procedures: Vec<&str> = j["device_procedures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        procedures,
        [
            "device-1: full",
            "device-2: optimized",
            "device-1: stored",
            "device-1: full"
        ]
    );
    assert!(gbau_core::time::parse_utc(j["local_key_lifetime"].as_str().unwrap()).is_some());
}

#[test]
fn demo_with_a_reader_needs_the_profile() {
    let out = gbau(&["demo", "--reader", "Virtual PCD 00 00"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--profile"));
}
