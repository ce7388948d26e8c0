//! The emulated sysmo cards as delivered follow pySim's dumps of real SJA2, SJA5 and SJS1
//! cards (and sysmo-usim-tool's file models), not gbau's assumptions: the ICCID rules, the
//! GBA files nobody may touch, the key files' compact rules and sizes, the factory SQN file,
//! DF.GSM's own (SJA) or linked (SJS1) EF_IMSI and EF_AD, the sizes of the standard files.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use gbau_card::{Profile, SoftCard};
use gbau_core::arr::{self, AccessModes, Condition};
use gbau_core::exchange::transceive;
use gbau_core::hexutil::{parse_hex, to_hex};
use gbau_core::sysmo;
use gbau_core::tlv;
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};

const VERIFY_ADM1: &str = "0020000A083132333435363738";
const SELECT_USIM: &str = "00A4040407A0000000871002";
const SELECT_ISIM: &str = "00A4040407A0000000871004";
const SELECT_MF: &str = "00A40004023F00";

fn factory(name: &str) -> SoftCard {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("profiles")
        .join(name);
    SoftCard::in_memory(Profile::load(&path).unwrap()).unwrap()
}

fn tx(card: &mut SoftCard, hex: &str) -> ResponseApdu {
    let cmd = CommandApdu::parse(&parse_hex(&hex.replace(' ', "")).unwrap()).unwrap();
    let mut t = |raw: &[u8]| card.transmit(raw);
    transceive(&mut t, &cmd).unwrap()
}

fn ok(card: &mut SoftCard, hex: &str) -> Vec<u8> {
    let r = tx(card, hex);
    assert_eq!(r.sw, StatusWord::Ok, "{hex}");
    r.data
}

fn sw(card: &mut SoftCard, hex: &str) -> StatusWord {
    tx(card, hex).sw
}

fn select(card: &mut SoftCard, fid: u16) -> Vec<u8> {
    ok(card, &format!("00A4000402{fid:04X}"))
}

fn fcp_value(fcp: &[u8], tag: u32) -> Option<Vec<u8>> {
    let top = tlv::parse_all(fcp).unwrap();
    let items = top
        .iter()
        .find(|t| t.tag.0 == 0x62)
        .unwrap()
        .children()
        .unwrap();
    items.into_iter().find(|t| t.tag.0 == tag).map(|t| t.value)
}

/// Record length and record count of a linear fixed EF.
type Records = Option<(usize, usize)>;

/// (size, record length and count if linear fixed) from an FCP.
fn shape(fcp: &[u8]) -> (usize, Records) {
    let d = fcp_value(fcp, 0x82).unwrap();
    let size = fcp_value(fcp, 0x80)
        .unwrap()
        .iter()
        .fold(0usize, |a, b| (a << 8) | usize::from(*b));
    let records = (d.len() >= 5).then(|| {
        (
            usize::from(u16::from_be_bytes([d[2], d[3]])),
            usize::from(d[4]),
        )
    });
    (size, records)
}

const SJA: [&str; 2] = ["sja2-factory.yaml", "sja5-factory.yaml"];

#[test]
fn atrs_are_the_dumped_cards() {
    let atr = |name| to_hex(&factory(name).atr());
    assert_eq!(
        atr("sja2-factory.yaml"),
        "3b9f96801f878031e073fe211b674a4c753034054ba9"
    );
    assert_eq!(
        atr("sja5-factory.yaml"),
        "3b9f96801f878031e073fe211b674a357530350265f8"
    );
    assert_eq!(
        atr("sjs1-factory.yaml"),
        "3b9f96801fc78031a073be21136743200718000001a5"
    );
}

#[test]
fn iccid_is_never_updated_on_sja_even_with_adm1() {
    for name in SJA {
        let mut card = factory(name);
        ok(&mut card, VERIFY_ADM1);
        ok(&mut card, SELECT_MF);
        let fcp = select(&mut card, 0x2FE2);
        let before = ok(&mut card, "00B000000A");
        assert_eq!(
            sw(&mut card, &format!("00D600000A{}", "98".repeat(10))),
            StatusWord::SecurityStatusNotSatisfied,
            "{name}: UPDATE BINARY EF_ICCID"
        );
        assert_eq!(ok(&mut card, "00B000000A"), before, "{name}");
        // Its FCP names an MF EF.ARR record that says so: READ always, UPDATE never.
        let reference = fcp_value(&fcp, 0x8B).unwrap();
        assert_eq!(&reference[..2], &[0x2F, 0x06], "{name}");
        select(&mut card, 0x2F06);
        let rec = ok(&mut card, &format!("00B2{:02X}0400", reference[2]));
        let rules = arr::decode_record(&rec).unwrap();
        assert_eq!(
            arr::condition_for(&rules, AccessModes::READ),
            Some(&Condition::Always)
        );
        assert_eq!(
            arr::condition_for(&rules, AccessModes::UPDATE),
            Some(&Condition::Never)
        );
    }
}

#[test]
fn iccid_is_updated_with_adm1_on_sjs1() {
    let mut card = factory("sjs1-factory.yaml");
    ok(&mut card, SELECT_MF);
    select(&mut card, 0x2FE2);
    let new = "98881201000000000050";
    assert_eq!(
        sw(&mut card, &format!("00D600000A{new}")),
        StatusWord::SecurityStatusNotSatisfied
    );
    ok(&mut card, VERIFY_ADM1);
    ok(&mut card, &format!("00D600000A{new}"));
    assert_eq!(to_hex(&ok(&mut card, "00B000000A")), new);
}

#[test]
fn gba_files_af31_to_af33_have_no_access_even_with_adm1() {
    for name in SJA {
        let mut card = factory(name);
        ok(&mut card, SELECT_USIM);
        ok(&mut card, VERIFY_ADM1);
        for (fid, size) in [(sysmo::EF_GBA_SK, 33), (sysmo::EF_GBA_REC_LIST, 200)] {
            let fcp = select(&mut card, fid);
            assert_eq!(fcp_value(&fcp, 0x8C), Some(vec![0x00]), "{name} {fid:04X}");
            assert_eq!(fcp_value(&fcp, 0x8B), None, "{name} {fid:04X}");
            assert_eq!(shape(&fcp), (size, None), "{name} {fid:04X}");
            let denied = StatusWord::SecurityStatusNotSatisfied;
            assert_eq!(sw(&mut card, "00B0000001"), denied, "{name} {fid:04X} READ");
            assert_eq!(
                sw(&mut card, "00D6000001FF"),
                denied,
                "{name} {fid:04X} UPDATE"
            );
        }
        let fcp = select(&mut card, sysmo::EF_GBA_INT_KEY);
        assert_eq!(fcp_value(&fcp, 0x8C), Some(vec![0x00]));
        assert_eq!(
            fcp_value(&fcp, 0x82).unwrap(),
            parse_hex("4221002001").unwrap()
        );
        let denied = StatusWord::SecurityStatusNotSatisfied;
        assert_eq!(
            sw(&mut card, "00B2010420"),
            denied,
            "{name} AF33 READ RECORD"
        );
        let update = format!("00DC010420{}", "00".repeat(32));
        assert_eq!(sw(&mut card, &update), denied, "{name} AF33 UPDATE RECORD");
    }
}

/// (FID, size on SJA2, size on SJA5, '8C' on SJA2, '8C' on SJA5) of the key files.
const KEY_FILES: [(u16, usize, usize, &str, &str); 3] = [
    (0xAF20, 33, 67, "031a1a", "5b1a1a1a1a1a"),
    (0xAF22, 33, 33, "031a1a", "1b1a1a1a1a"),
    (0xAF30, 206, 206, "031a1a", "5b1a1a1a1a1a"),
];

#[test]
fn key_files_have_the_dumps_sizes_rules_and_factory_contents() {
    for (i, name) in SJA.into_iter().enumerate() {
        let mut card = factory(name);
        for adf in [SELECT_USIM, SELECT_ISIM] {
            ok(&mut card, adf);
            for (fid, size2, size5, rule2, rule5) in KEY_FILES {
                let (size, rule) = if i == 0 {
                    (size2, rule2)
                } else {
                    (size5, rule5)
                };
                let fcp = select(&mut card, fid);
                let what = format!("{name} {adf} {fid:04X}");
                assert_eq!(shape(&fcp), (size, None), "{what}");
                assert_eq!(to_hex(&fcp_value(&fcp, 0x8C).unwrap()), rule, "{what}");
                assert_eq!(
                    sw(&mut card, "00B0000001"),
                    StatusWord::SecurityStatusNotSatisfied,
                    "{what} before ADM1"
                );
            }
            ok(&mut card, VERIFY_ADM1);
            select(&mut card, 0xAF30);
            let sqn = ok(&mut card, "00B00000CE");
            // The factory EF.USIM_SQN of the dumps and sysmo-usim-tool's `-S`.
            assert_eq!(to_hex(&sqn[..14]), "d503000200000000000200000000", "{name}");
            assert!(sqn[14..].iter().all(|b| *b == 0), "{name}: 192 zero bytes");
            select(&mut card, 0xAF20);
            let key = ok(&mut card, "00B0000000");
            assert_eq!(key[0], 0x14, "{name}: Milenage with OPc");
            assert!(
                key[33..].iter().all(|b| *b == 0xFF),
                "{name}: SJA5 'FF' padding"
            );
            card.reset(); // ADM1 no longer verified for the next application
        }
        ok(&mut card, VERIFY_ADM1);
        ok(&mut card, SELECT_MF);
        select(&mut card, sysmo::DF_SYSTEM);
        let fcp = select(&mut card, sysmo::EF_MILENAGE_CFG);
        let rule = if i == 0 { "031a1a" } else { "1b1a1a1a1a" };
        assert_eq!(to_hex(&fcp_value(&fcp, 0x8C).unwrap()), rule, "{name} 6F21");
        let cfg = ok(&mut card, "00B0000055");
        assert_eq!(to_hex(&cfg[..5]), "4000204060", "{name}: r1..r5");
        assert_eq!(cfg[5 + 16 + 15], 0x01, "{name}: c2");
        assert_eq!(cfg[5 + 4 * 16 + 15], 0x08, "{name}: c5");
    }
}

#[test]
fn standard_files_have_the_dumps_sizes() {
    // (select the ADF, FID, size, records × length) — pySim's SJA2 and SJA5 dumps.
    let files: [(&str, u16, usize, Records); 11] = [
        (SELECT_USIM, 0x6F07, 9, None),
        (SELECT_USIM, 0x6F38, 20, None),
        (SELECT_USIM, 0x6FD6, 64, None),
        (SELECT_USIM, 0x6FDA, 256, Some((128, 2))),
        (SELECT_USIM, 0x6FDD, 64, Some((32, 2))),
        (SELECT_USIM, 0x6F06, 12 * 110, Some((110, 12))),
        (SELECT_ISIM, 0x6FD5, 64, None),
        (SELECT_ISIM, 0x6FD7, 8 * 128, Some((128, 8))),
        (SELECT_ISIM, 0x6FDD, 8 * 128, Some((128, 8))),
        (SELECT_ISIM, 0x6F06, 4 * 50, Some((50, 4))),
        (SELECT_MF, 0x2F06, 5 * 110, Some((110, 5))),
    ];
    for name in SJA {
        let mut card = factory(name);
        for (adf, fid, size, records) in files {
            ok(&mut card, adf);
            let fcp = select(&mut card, fid);
            assert_eq!(shape(&fcp), (size, records), "{name} {adf} {fid:04X}");
        }
    }
}

#[test]
fn df_gsm_has_its_own_imsi_and_ad_on_sja() {
    for (name, usim_ad) in [
        ("sja2-factory.yaml", "00000002"),
        ("sja5-factory.yaml", "01000802ff"),
    ] {
        let mut card = factory(name);
        ok(&mut card, SELECT_USIM);
        select(&mut card, 0x6FAD);
        assert_eq!(
            to_hex(&ok(&mut card, "00B0000000")),
            usim_ad,
            "{name} ADF.USIM"
        );
        ok(&mut card, SELECT_MF);
        select(&mut card, sysmo::DF_GSM);
        select(&mut card, 0x6FAD);
        assert_eq!(
            to_hex(&ok(&mut card, "00B0000000")),
            "00000002",
            "{name} DF.GSM"
        );
        // Separate files: writing DF.GSM's EF_IMSI leaves ADF.USIM's as it was.
        ok(&mut card, VERIFY_ADM1);
        let fcp = select(&mut card, 0x6F07);
        assert_eq!(shape(&fcp), (9, None));
        let imsi = ok(&mut card, "00B0000009");
        ok(&mut card, "00D6000009080910100000001020");
        ok(&mut card, SELECT_USIM);
        select(&mut card, 0x6F07);
        assert_eq!(
            ok(&mut card, "00B0000009"),
            imsi,
            "{name}: ADF.USIM EF_IMSI"
        );
    }
}

#[test]
fn sjs1_usim_imsi_and_ad_are_df_gsm_s() {
    let mut card = factory("sjs1-factory.yaml");
    ok(&mut card, VERIFY_ADM1);
    ok(&mut card, SELECT_USIM);
    let fcp = select(&mut card, 0x6F07);
    // The proprietary template names the file it shows, as in pySim's SJS1 dump.
    assert_eq!(to_hex(&fcp_value(&fcp, 0xA5).unwrap()), "9b063f007f206f07");
    let factory_imsi = ok(&mut card, "00B0000009");
    ok(&mut card, SELECT_MF);
    select(&mut card, sysmo::DF_GSM);
    select(&mut card, 0x6F07);
    assert_eq!(ok(&mut card, "00B0000009"), factory_imsi);
    ok(&mut card, "00D6000009080910100000001020");
    ok(&mut card, SELECT_USIM);
    select(&mut card, 0x6F07);
    assert_eq!(to_hex(&ok(&mut card, "00B0000009")), "080910100000001020");
    // And the other way round, for EF_AD.
    select(&mut card, 0x6FAD);
    ok(&mut card, "00D600000400000003");
    ok(&mut card, SELECT_MF);
    select(&mut card, sysmo::DF_GSM);
    select(&mut card, 0x6FAD);
    assert_eq!(to_hex(&ok(&mut card, "00B0000004")), "00000003");
}

#[test]
fn sjs1_has_the_authentication_counter_and_no_gba_files() {
    let mut card = factory("sjs1-factory.yaml");
    ok(&mut card, SELECT_USIM);
    ok(&mut card, VERIFY_ADM1);
    select(&mut card, sysmo::SJS1_EF_AUTH_COUNTER);
    assert_eq!(to_hex(&ok(&mut card, "00B0000004")), "ffffffff", "disabled");
    for fid in ["6FD6", "6FDA", "6FDD"] {
        assert_eq!(
            sw(&mut card, &format!("00A4000402{fid}")),
            StatusWord::FileNotFound,
            "{fid}: 6A82 in pySim's SJS1 dump"
        );
    }
}
