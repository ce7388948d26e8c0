//! The emulated sysmoISIM-SJA2 layout: the SJA2 ATR, its proprietary files behind ADM1, and
//! a card that takes its keys, Milenage constants and SQN policy from those files.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use gbau_card::{Profile, SoftCard};
use gbau_core::exchange::transceive;
use gbau_core::hexutil::{parse_hex, to_hex};
use gbau_core::sysmo;
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};

const CHAIN_BOOTSTRAP: &str =
    "0088008423DD1023553cbe9637a89d218ae64dae47bf351055f328b43577b9b98c7f3f0d723fb24400";
const CHAIN_RES: &str = "a54211d5e3ba50bf";
/// What a GBA_U card answers in the GBA bootstrapping context: RES with its last bit flipped
/// (TS 33.220 §5.3.2, vectors/gba-u-chain.yaml `res_gba_u`).
const CHAIN_RES_GBA_U: &str = "a54211d5e3ba50be";
/// The 4-byte RES of the chain, flipped the same way.
const CHAIN_RES4_GBA_U: &str = "a54211d4";

fn sja2_test_set_1() -> SoftCard {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/test-set-1.yaml"),
    )
    .unwrap();
    let profile = Profile::from_yaml(&format!("{text}\nlayout: sja2\n")).unwrap();
    SoftCard::in_memory(profile).unwrap()
}

fn tx(card: &mut SoftCard, hex: &str) -> ResponseApdu {
    let cmd = CommandApdu::parse(&parse_hex(hex).unwrap()).unwrap();
    let mut t = |raw: &[u8]| card.transmit(raw);
    transceive(&mut t, &cmd).unwrap()
}

fn sw(card: &mut SoftCard, hex: &str) -> StatusWord {
    tx(card, hex).sw
}

const SELECT_USIM: &str = "00A4040407A0000000871002";
const VERIFY_PIN1: &str = "002000010831323334FFFFFFFF";

#[test]
fn presents_the_sja2_atr_and_files() {
    let card = sja2_test_set_1();
    assert_eq!(to_hex(&card.atr()).to_uppercase(), sysmo::SJA2_ATRS[0]);
    let mut card = card;
    assert_eq!(sw(&mut card, SELECT_USIM), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00A4000402AF20"), StatusWord::Ok);
    // The key file needs ADM1, also for reading.
    assert_eq!(
        sw(&mut card, "00B0000021"),
        StatusWord::SecurityStatusNotSatisfied
    );
    assert_eq!(sw(&mut card, "0020000A083132333435363738"), StatusWord::Ok);
    let r = tx(&mut card, "00B0000021");
    assert_eq!(r.data[0], sysmo::ALGO_MILENAGE | sysmo::CFG_USE_OPC);
    assert_eq!(to_hex(&r.data[1..17]), "465b5ce8b199b49faa5f0a2ee238a6bc");
    assert_eq!(sw(&mut card, "00A40004023F00"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00A4000402A515"), StatusWord::Ok);
    let r = tx(&mut card, "00A40004026F21");
    assert_eq!(r.sw, StatusWord::Ok);
    let cfg = tx(&mut card, "00B0000055");
    assert_eq!(
        cfg.data,
        sysmo::encode_milenage_cfg(&gbau_core::milenage::MilenageConstants::default())
    );
}

#[test]
fn keys_come_from_the_key_file() {
    let mut card = sja2_test_set_1();
    assert_eq!(sw(&mut card, SELECT_USIM), StatusWord::Ok);
    assert_eq!(sw(&mut card, VERIFY_PIN1), StatusWord::Ok);
    assert_eq!(sw(&mut card, "0020000A083132333435363738"), StatusWord::Ok);
    // Another K: the chain's MAC no longer verifies.
    assert_eq!(sw(&mut card, "00A4000402AF20"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00D600010142"), StatusWord::Ok);
    assert_eq!(
        sw(&mut card, CHAIN_BOOTSTRAP),
        StatusWord::AuthenticationErrorIncorrectMac
    );
    // An algorithm the emulation does not do (TUAK): AUTHENTICATE is refused, not guessed.
    assert_eq!(sw(&mut card, "00D600000116"), StatusWord::Ok);
    assert_eq!(
        sw(&mut card, CHAIN_BOOTSTRAP),
        StatusWord::ConditionsOfUseNotSatisfied
    );
    // The test-set-1 K back, Milenage with OPc: the chain works again, 8-byte RES.
    assert_eq!(sw(&mut card, "00D600000114"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00D600010146"), StatusWord::Ok);
    let r = tx(&mut card, CHAIN_BOOTSTRAP);
    assert_eq!(to_hex(&r.data), format!("db08{CHAIN_RES_GBA_U}"));
    // The SQN file shows the accepted SQN in its IND slot; rewriting it resets the array,
    // so the same challenge is accepted once more.
    assert_eq!(sw(&mut card, "00A4000402AF30"), StatusWord::Ok);
    let sqn = sysmo::SqnFile::decode(&tx(&mut card, "00B00000CE").data).unwrap();
    assert!(sqn.entries.iter().any(|e| *e != 0));
    let replay = tx(&mut card, CHAIN_BOOTSTRAP);
    assert_eq!(replay.data.first(), Some(&0xDC), "a replay gets AUTS");
    let fresh = sysmo::SqnFile::reset(gbau_core::sqn::SqnPolicy {
        delta: Some(1 << 44),
        age_limit: None,
    })
    .encode();
    assert_eq!(sw(&mut card, "00A4000402AF30"), StatusWord::Ok);
    assert_eq!(
        sw(&mut card, &format!("00D60000CE{}", to_hex(&fresh))),
        StatusWord::Ok
    );
    let r = tx(&mut card, CHAIN_BOOTSTRAP);
    assert_eq!(to_hex(&r.data), format!("db08{CHAIN_RES_GBA_U}"));
    // 4-byte RES when the config byte says so.
    assert_eq!(sw(&mut card, "00A4000402AF20"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00D600000154"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00A4000402AF30"), StatusWord::Ok);
    assert_eq!(
        sw(&mut card, &format!("00D60000CE{}", to_hex(&fresh))),
        StatusWord::Ok
    );
    let r = tx(&mut card, CHAIN_BOOTSTRAP);
    assert_eq!(to_hex(&r.data), format!("db04{CHAIN_RES4_GBA_U}"));
}

fn sjs1_test_set_1() -> SoftCard {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/test-set-1.yaml"),
    )
    .unwrap();
    // The SJS1 has no ISIM: drop the profile's ISIM section.
    let usim_only =
        text.split("\nisim:").next().unwrap().to_owned() + "\nprotocol: t0\nlayout: sjs1\n";
    SoftCard::in_memory(Profile::from_yaml(&usim_only).unwrap()).unwrap()
}

const CHAIN_3G: &str =
    "008800812210 23553cbe9637a89d218ae64dae47bf35 10 55f328b43577b9b94a9ffac354dfafb3 00";

#[test]
fn sjs1_layout_keys_from_its_files_and_no_gba_context() {
    let mut card = sjs1_test_set_1();
    assert_eq!(to_hex(&card.atr()).to_uppercase(), sysmo::SJS1_ATRS[0]);
    assert_eq!(sw(&mut card, SELECT_USIM), StatusWord::Ok);
    assert_eq!(sw(&mut card, VERIFY_PIN1), StatusWord::Ok);
    // Service 68 is in test-set-1's UST, but the SJS1 has no GBA context.
    assert_eq!(
        sw(&mut card, CHAIN_BOOTSTRAP),
        StatusWord::SecurityContextNotSupported
    );
    assert_eq!(sw(&mut card, "0020000A083132333435363738"), StatusWord::Ok);
    // Ki in DF.GSM: another Ki, the MAC fails; the right one back, RES/CK/IK of the chain.
    assert_eq!(sw(&mut card, "00A40004023F00"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00A40004027F20"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00A400040200FF"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00D600000142"), StatusWord::Ok);
    assert_eq!(sw(&mut card, SELECT_USIM), StatusWord::Ok);
    assert_eq!(
        sw(&mut card, &CHAIN_3G.replace(' ', "")),
        StatusWord::AuthenticationErrorIncorrectMac
    );
    assert_eq!(sw(&mut card, "00A40004023F00"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00A40004027F20"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00A400040200FF"), StatusWord::Ok);
    assert_eq!(sw(&mut card, "00D600000146"), StatusWord::Ok);
    assert_eq!(sw(&mut card, SELECT_USIM), StatusWord::Ok);
    let r = tx(&mut card, &CHAIN_3G.replace(' ', ""));
    assert_eq!(&to_hex(&r.data)[..20], format!("db08{CHAIN_RES}"));
    // The SQN array file shows the accepted SQN; zeroing it accepts the challenge again.
    assert_eq!(sw(&mut card, "00A400040200FA"), StatusWord::Ok);
    let array = tx(&mut card, "00B00000C0").data;
    assert!(array.iter().any(|b| *b != 0));
    assert_eq!(
        tx(&mut card, &CHAIN_3G.replace(' ', "")).data.first(),
        Some(&0xDC)
    );
    assert_eq!(
        sw(&mut card, &format!("00D60000C0{}", "00".repeat(192))),
        StatusWord::Ok
    );
    let r = tx(&mut card, &CHAIN_3G.replace(' ', ""));
    assert_eq!(&to_hex(&r.data)[..20], format!("db08{CHAIN_RES}"));
}
