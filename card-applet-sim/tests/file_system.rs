//! A credible USIM file system: every FCP's EF.ARR reference resolves to a record that says
//! what the card enforces (tried with READ and UPDATE under each security state), the
//! mandatory EFs of TS 31.102 §4.2 with their FIDs, SFIs, sizes and structures,
//! DF_GSM-ACCESS with service 27 only, and IST service 4 with local keys only.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use gbau_card::fs::{FileTree, NodeKind, MF_INDEX};
use gbau_card::{Profile, SoftCard};
use gbau_core::arr::{self, AccessModes, Condition, KeyRef, Rule};
use gbau_core::exchange::transceive;
use gbau_core::hexutil::{parse_hex, to_hex};
use gbau_core::tlv::{self, Tlv};
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};

const VERIFY_PIN1: &str = "002000010831323334FFFFFFFF";
const VERIFY_PIN2: &str = "002000810835363738FFFFFFFF";
const VERIFY_ADM1: &str = "0020000A083132333435363738";
const SELECT_USIM: &str = "00A4040407A0000000871002";
const SELECT_ISIM: &str = "00A4040407A0000000871004";

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

fn profile_text(name: &str) -> String {
    std::fs::read_to_string(profiles_dir().join(name)).unwrap()
}

fn card_from(text: &str) -> SoftCard {
    SoftCard::in_memory(Profile::from_yaml(text).unwrap()).unwrap()
}

/// The layouts whose file systems are checked: standard, SJA2 and SJA5 (test set 1 and
/// factory), SJS1.
fn layouts() -> Vec<(&'static str, String)> {
    let test_set_1 = profile_text("test-set-1.yaml");
    vec![
        ("standard", test_set_1.clone()),
        ("sja2 (test set 1)", format!("{test_set_1}\nlayout: sja2\n")),
        ("sja2 factory", profile_text("sja2-factory.yaml")),
        ("sja5 (test set 1)", format!("{test_set_1}\nlayout: sja5\n")),
        ("sja5 factory", profile_text("sja5-factory.yaml")),
        ("sjs1 factory", profile_text("sjs1-factory.yaml")),
    ]
}

fn tx(card: &mut SoftCard, cmd: &CommandApdu) -> ResponseApdu {
    let mut t = |raw: &[u8]| card.transmit(raw);
    transceive(&mut t, cmd).unwrap()
}

fn tx_hex(card: &mut SoftCard, hex: &str) -> ResponseApdu {
    tx(card, &CommandApdu::parse(&parse_hex(hex).unwrap()).unwrap())
}

fn ok(card: &mut SoftCard, hex: &str) -> Vec<u8> {
    let r = tx_hex(card, hex);
    assert_eq!(r.sw, StatusWord::Ok, "{hex}");
    r.data
}

fn select_fid(fid: u16) -> CommandApdu {
    CommandApdu::new(0x00, 0xA4, 0x00, 0x04)
        .with_data(fid.to_be_bytes().to_vec())
        .with_ne(256)
}

/// The MF, the ADF and the DFs down to `index`, in order.
fn chain(tree: &FileTree, index: usize) -> Vec<usize> {
    let mut out = vec![index];
    let mut at = index;
    while let Some(p) = tree.nodes[at].parent {
        out.push(p);
        at = p;
    }
    out.reverse();
    out
}

/// Select a node the way a terminal does (MF by FID, ADF by AID, then FIDs); its FCP.
fn select(card: &mut SoftCard, tree: &FileTree, index: usize) -> Vec<u8> {
    let mut fcp = Vec::new();
    for i in chain(tree, index) {
        let cmd = match &tree.nodes[i].kind {
            NodeKind::Adf { aid, .. } => CommandApdu::new(0x00, 0xA4, 0x04, 0x04)
                .with_data(aid.clone())
                .with_ne(256),
            _ => select_fid(tree.nodes[i].fid),
        };
        let r = tx(card, &cmd);
        assert_eq!(r.sw, StatusWord::Ok, "select {}", tree.nodes[i].path);
        fcp = r.data;
    }
    fcp
}

/// The objects of an FCP template.
fn fcp_items(fcp: &[u8]) -> Vec<Tlv> {
    let top = tlv::parse_all(fcp).unwrap();
    let t = top.iter().find(|t| t.tag.0 == 0x62).expect("FCP template");
    t.children().unwrap()
}

fn fcp_value(fcp: &[u8], tag: u32) -> Option<Vec<u8>> {
    fcp_items(fcp)
        .into_iter()
        .find(|t| t.tag.0 == tag)
        .map(|t| t.value)
}

/// Follow a node's tag '8B' as a terminal does: from the DF that holds the node (the MF
/// for MF and ADFs), SELECT the EF.ARR FID, READ RECORD the number, decode. A node whose
/// FCP states its rules in compact form ('8C', the sysmo proprietary EFs) has them there.
fn rules_of(card: &mut SoftCard, tree: &FileTree, index: usize) -> Vec<Rule> {
    let node = &tree.nodes[index];
    let fcp = select(card, tree, index);
    if let Some(compact) = fcp_value(&fcp, 0x8C) {
        assert!(
            fcp_value(&fcp, 0x8B).is_none(),
            "{}: '8B' and '8C'",
            node.path
        );
        return gbau_card::fs::compact::decode(&compact)
            .unwrap_or_else(|e| panic!("{}: {e}", node.path));
    }
    let reference = fcp_value(&fcp, 0x8B).unwrap_or_else(|| panic!("{}: no '8B'", node.path));
    let [hi, lo, record] = reference[..] else {
        panic!("{}: '8B' is {}", node.path, to_hex(&reference));
    };
    let holder = match node.kind {
        NodeKind::Mf | NodeKind::Adf { .. } => MF_INDEX,
        _ => node.parent.unwrap(),
    };
    select(card, tree, holder);
    let r = tx(card, &select_fid(u16::from_be_bytes([hi, lo])));
    assert_eq!(
        r.sw,
        StatusWord::Ok,
        "{}: EF.ARR {hi:02X}{lo:02X}",
        node.path
    );
    assert_eq!(
        fcp_value(&r.data, 0x82).unwrap()[0],
        0x42,
        "EF.ARR is linear fixed"
    );
    let r = tx(
        card,
        &CommandApdu::new(0x00, 0xB2, record, 0x04).with_ne(256),
    );
    assert_eq!(r.sw, StatusWord::Ok, "{}: record {record}", node.path);
    arr::decode_record(&r.data).unwrap_or_else(|e| panic!("{}: {e}", node.path))
}

#[test]
fn every_fcp_references_an_arr_record_that_names_its_operations() {
    for (layout, text) in layouts() {
        let mut card = card_from(&text);
        let tree = card.card().tree().clone();
        for (i, node) in tree.nodes.iter().enumerate() {
            let rules = rules_of(&mut card, &tree, i);
            let named = |m: AccessModes| arr::condition_for(&rules, m).is_some();
            let wanted = match node.kind {
                NodeKind::Ef { .. } => [
                    AccessModes::READ,
                    AccessModes::UPDATE,
                    AccessModes::ACTIVATE,
                    AccessModes::DEACTIVATE,
                ],
                _ => [
                    AccessModes::DF_CREATE_EF,
                    AccessModes::DF_DELETE_CHILD,
                    AccessModes::ACTIVATE,
                    AccessModes::DEACTIVATE,
                ],
            };
            for m in wanted {
                assert!(named(m), "{layout} {}: no rule for {m:?}", node.path);
            }
            if !matches!(node.kind, NodeKind::Ef { .. }) {
                let never = arr::condition_for(&rules, AccessModes::ACTIVATE);
                assert_eq!(never, Some(&Condition::Never), "{layout} {}", node.path);
            }
        }
    }
}

/// The security states tried: what is verified, and which key references that satisfies.
const STATES: [(&str, Option<&str>, Option<KeyRef>); 4] = [
    ("nothing verified", None, None),
    ("PIN1", Some(VERIFY_PIN1), Some(KeyRef::PinAppl1)),
    ("PIN2", Some(VERIFY_PIN2), Some(KeyRef::SecondPinAppl1)),
    ("ADM1", Some(VERIFY_ADM1), Some(KeyRef::Adm1)),
];

/// READ and UPDATE of one EF (1 byte or record 1, the same bytes written back): allowed?
fn try_read_update(card: &mut SoftCard, tree: &FileTree, i: usize, now: &[u8]) -> [bool; 2] {
    let NodeKind::Ef { structure, .. } = tree.nodes[i].kind else {
        unreachable!()
    };
    let (read, update) = match structure {
        gbau_card::fs::Structure::Transparent => (
            CommandApdu::new(0x00, 0xB0, 0, 0).with_ne(1),
            CommandApdu::new(0x00, 0xD6, 0, 0).with_data(now[..1].to_vec()),
        ),
        gbau_card::fs::Structure::LinearFixed { record_len } => (
            CommandApdu::new(0x00, 0xB2, 1, 0x04).with_ne(record_len),
            CommandApdu::new(0x00, 0xDC, 1, 0x04).with_data(now[..record_len].to_vec()),
        ),
    };
    [read, update].map(|cmd| {
        select(card, tree, i);
        match tx(card, &cmd).sw {
            StatusWord::Ok => true,
            StatusWord::SecurityStatusNotSatisfied => false,
            sw => panic!("{}: {sw}", tree.nodes[i].path),
        }
    })
}

#[test]
fn arr_records_say_what_the_card_enforces_for_read_and_update() {
    for (layout, text) in layouts() {
        for (state, verify, key) in STATES {
            let mut card = card_from(&text);
            let tree = card.card().tree().clone();
            let contents = card.card().persistent().files.clone();
            if let Some(v) = verify {
                ok(&mut card, SELECT_USIM);
                ok(&mut card, v);
            }
            let satisfied = |k: KeyRef| Some(k) == key;
            for (i, node) in tree.nodes.iter().enumerate() {
                if !matches!(node.kind, NodeKind::Ef { .. }) {
                    continue;
                }
                let rules = rules_of(&mut card, &tree, i);
                let says = [AccessModes::READ, AccessModes::UPDATE].map(|m| {
                    arr::condition_for(&rules, m)
                        .unwrap_or_else(|| panic!("{}: no rule for {m:?}", node.path))
                        .allows(&satisfied)
                });
                let now = &contents[tree.storage(i)];
                let does = try_read_update(&mut card, &tree, i, now);
                assert_eq!(
                    says, does,
                    "{layout}, {state}: {} [READ, UPDATE] per EF.ARR vs the card",
                    node.path
                );
            }
        }
    }
}

#[test]
fn rules_of_the_new_files_are_the_specified_ones() {
    let mut card = card_from(&profile_text("test-set-1.yaml"));
    let tree = card.card().tree().clone();
    let pin1 = "PIN1 or ADM1";
    let expected = [
        ("USIM/EF_LOCI", pin1, pin1),
        ("USIM/EF_PSLOCI", pin1, pin1),
        ("USIM/EF_START-HFN", pin1, pin1),
        ("USIM/EF_FPLMN", pin1, pin1),
        ("USIM/EF_HPPLMN", pin1, "ADM1"),
        ("USIM/EF_THRESHOLD", pin1, "ADM1"),
        ("USIM/EF_ECC", "always", "ADM1"),
        ("USIM/DF_GSM-ACCESS/EF_Kc", pin1, pin1),
        ("USIM/EF_ARR", "always", "never"),
        ("MF/EF_ARR", "always", "never"),
        ("ISIM/EF_ARR", "always", "never"),
        ("USIM/EF_IMSI", pin1, "ADM1"),
        ("MF/EF_ICCID", "always", "never"),
    ];
    for (path, read, update) in expected {
        let i = tree
            .by_path(path)
            .unwrap_or_else(|| panic!("{path} missing"));
        let rules = rules_of(&mut card, &tree, i);
        let show = |m| arr::condition_for(&rules, m).unwrap().to_string();
        assert_eq!(show(AccessModes::READ), read, "{path} READ");
        assert_eq!(show(AccessModes::UPDATE), update, "{path} UPDATE");
    }
}

/// FCP facts of one EF: descriptor byte, record length/count, size, SFI.
fn fcp_shape(fcp: &[u8]) -> (u8, Option<(usize, usize)>, usize, Option<u8>) {
    let d = fcp_value(fcp, 0x82).unwrap();
    let records = (d.len() >= 5).then(|| {
        (
            usize::from(u16::from_be_bytes([d[2], d[3]])),
            usize::from(d[4]),
        )
    });
    let size = fcp_value(fcp, 0x80)
        .unwrap()
        .iter()
        .fold(0usize, |a, b| (a << 8) | usize::from(*b));
    let sfi = fcp_value(fcp, 0x88).unwrap().first().map(|b| b >> 3);
    (d[0], records, size, sfi)
}

#[test]
fn mandatory_usim_efs_have_their_fid_sfi_size_and_structure() {
    let mut card = card_from(&profile_text("test-set-1.yaml"));
    ok(&mut card, SELECT_USIM);
    const TRANSPARENT: u8 = 0x41;
    // (FID, SFI, size, descriptor): TS 31.102 §4.2 as pySim has them.
    let files: [(u16, Option<u8>, usize, u8); 8] = [
        (0x6F31, Some(0x12), 1, TRANSPARENT),
        (0x6F7B, Some(0x0D), 12, TRANSPARENT),
        (0x6F7E, Some(0x0B), 11, TRANSPARENT),
        (0x6F73, Some(0x0C), 14, TRANSPARENT),
        (0x6F5B, Some(0x0F), 6, TRANSPARENT),
        (0x6F5C, Some(0x10), 3, TRANSPARENT),
        (0x6FC4, None, 46, TRANSPARENT),
        (0x6FB7, Some(0x01), 20, 0x42),
    ];
    for (fid, sfi, size, descriptor) in files {
        let r = tx(&mut card, &select_fid(fid));
        assert_eq!(r.sw, StatusWord::Ok, "{fid:04X}");
        let (d, records, got_size, got_sfi) = fcp_shape(&r.data);
        assert_eq!(
            (d, got_size, got_sfi),
            (descriptor, size, sfi),
            "{fid:04X} descriptor, size, SFI"
        );
        if fid == 0x6FB7 {
            assert_eq!(records, Some((4, 5)), "EF_ECC: 5 records of X+4 = 4 bytes");
        }
    }
    // The default contents: LOCI and PSLOCI of the home PLMN 001-01, not updated.
    ok(&mut card, VERIFY_PIN1);
    let loci = ok(&mut card, "00B08B000B"); // READ BINARY by SFI 0B
    assert_eq!(to_hex(&loci), "ffffffff00f110fffeff01");
    let psloci = ok(&mut card, "00B08C000E");
    assert_eq!(to_hex(&psloci), "ffffffffffffff00f110fffeff01");
    assert_eq!(to_hex(&ok(&mut card, "00B08F0006")), "f00000f00000");
    assert_eq!(to_hex(&ok(&mut card, "00B0900003")), "ffffff");
    assert_eq!(to_hex(&ok(&mut card, "00B08D000C")), "ff".repeat(12));
    assert_eq!(to_hex(&ok(&mut card, "00B2010C04")), "ffffffff"); // EF_ECC by SFI 01
}

#[test]
fn arr_files_are_linear_fixed_with_their_sfis() {
    let mut card = card_from(&profile_text("test-set-1.yaml"));
    for (select_df, fid, sfi) in [
        ("00A40004023F00", 0x2F06, 0x06),
        (SELECT_USIM, 0x6F06, 0x17),
        (SELECT_ISIM, 0x6F06, 0x06),
    ] {
        ok(&mut card, select_df);
        let r = tx(&mut card, &select_fid(fid));
        assert_eq!(r.sw, StatusWord::Ok, "{fid:04X} after {select_df}");
        let (d, records, size, got_sfi) = fcp_shape(&r.data);
        assert_eq!(
            (d, got_sfi),
            (0x42, Some(sfi)),
            "{fid:04X} after {select_df}"
        );
        let (len, n) = records.unwrap();
        assert_eq!(size, len * n);
        // READ RECORD by SFI: every record decodes.
        for rec in 1..=n as u8 {
            let r = tx(
                &mut card,
                &CommandApdu::new(0x00, 0xB2, rec, (sfi << 3) | 0x04).with_ne(len),
            );
            assert_eq!(r.sw, StatusWord::Ok);
            assert!(!arr::decode_record(&r.data).unwrap().is_empty());
        }
    }
}

#[test]
fn gsm_access_df_exists_iff_service_27() {
    let with = profile_text("test-set-1.yaml");
    let mut card = card_from(&with);
    ok(&mut card, SELECT_USIM);
    ok(&mut card, "00A40004025F3B");
    let r = tx(&mut card, &select_fid(0x4F20));
    assert_eq!(r.sw, StatusWord::Ok);
    assert_eq!(fcp_shape(&r.data), (0x41, None, 9, Some(0x01)), "EF_Kc");
    let r = tx(&mut card, &select_fid(0x4F52));
    assert_eq!(fcp_shape(&r.data), (0x41, None, 9, Some(0x02)), "EF_KcGPRS");
    ok(&mut card, VERIFY_PIN1);
    // No Kc yet: CKSN '07' (TS 31.102 §4.4.3.1).
    assert_eq!(to_hex(&ok(&mut card, "00B0810009")), "ffffffffffffffff07");
    assert_eq!(to_hex(&ok(&mut card, "00B0820009")), "ffffffffffffffff07");

    let without = with.replace("services: [27, 68, 76]", "services: [68, 76]");
    let mut card = card_from(&without);
    ok(&mut card, SELECT_USIM);
    assert_eq!(
        tx_hex(&mut card, "00A40004025F3B").sw,
        StatusWord::FileNotFound
    );
}

fn ist_first_byte(text: &str) -> u8 {
    let mut card = card_from(text);
    ok(&mut card, SELECT_ISIM);
    ok(&mut card, VERIFY_PIN1);
    ok(&mut card, "00B0870001")[0]
}

#[test]
fn ist_service_4_iff_the_profile_asks_for_local_keys() {
    const GBA: u8 = 0x02; // service 2
    const GBA_AND_LOCAL_KEYS: u8 = 0x0A; // services 2 and 4
    let base = profile_text("test-set-1.yaml");
    assert_eq!(ist_first_byte(&base), GBA_AND_LOCAL_KEYS, "76 and a NAF KC");
    let no_76 = base.replace("services: [27, 68, 76]", "services: [27, 68]");
    assert_eq!(
        ist_first_byte(&no_76),
        GBA_AND_LOCAL_KEYS,
        "a NAF Key Center"
    );
    let no_kc = base.replace(
        r#"naf_key_centers: ["keycenter.example.org"]"#,
        "naf_key_centers: []",
    );
    assert_eq!(ist_first_byte(&no_kc), GBA_AND_LOCAL_KEYS, "service 76");
    let neither = no_76.replace(
        r#"naf_key_centers: ["keycenter.example.org"]"#,
        "naf_key_centers: []",
    );
    assert_eq!(ist_first_byte(&neither), GBA, "no local keys asked for");
}

#[test]
fn usim_files_section_overrides_the_defaults() {
    let text = format!(
        "{}\nusim_files:\n  loci: \"47d1264a62f21037211e00\"\n  ecc: [\"19f1ff01\", \"19f3ff02\"]\n  hpplmn: \"0a\"\n",
        profile_text("test-set-1.yaml")
    );
    let mut card = card_from(&text);
    ok(&mut card, SELECT_USIM);
    ok(&mut card, VERIFY_PIN1);
    assert_eq!(
        to_hex(&ok(&mut card, "00B08B000B")),
        "47d1264a62f21037211e00"
    );
    assert_eq!(to_hex(&ok(&mut card, "00B0920001")), "0a");
    let r = tx(&mut card, &select_fid(0x6FB7));
    assert_eq!(fcp_shape(&r.data).1, Some((4, 2)));
    assert_eq!(to_hex(&ok(&mut card, "00B2020404")), "19f3ff02");
    let bad = format!(
        "{}\nusim_files:\n  loci: \"ffff\"\n",
        profile_text("test-set-1.yaml")
    );
    let e = Profile::from_yaml(&bad).unwrap_err().to_string();
    assert!(e.contains("usim_files.loci"), "{e}");
}

#[test]
fn state_files_do_not_keep_ef_arr() {
    let dir = std::env::temp_dir().join(format!(
        "gbau-fs-state-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("card.json");
    let profile = Profile::from_yaml(&profile_text("test-set-1.yaml")).unwrap();
    {
        let mut card = SoftCard::open(profile.clone(), &state).unwrap();
        ok(&mut card, SELECT_USIM);
        ok(&mut card, VERIFY_PIN1);
        ok(&mut card, "00D68B0001FF"); // a write, so the state is saved
    }
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(!saved.contains("EF_ARR"), "EF.ARR kept in the state file");
    assert!(saved.contains("USIM/EF_LOCI"));
    let mut card = SoftCard::open(profile, &state).unwrap();
    ok(&mut card, "00A40004022F06");
    let _ = std::fs::remove_dir_all(&dir);
}
