//! What the sysmo cards' SQN and counter files make AUTHENTICATE do (pySim / sysmo-usim-tool
//! models of EF.USIM_SQN and EF_AC): a delivered SJA2/SJA5 accepts any SQN once, durably
//! forgets that afterwards; flag2 00 (no concealment) makes a standard challenge fail with
//! '9862' until 03 is written back; the ISIM authenticates with its own key files; the SJS1
//! authentication counter counts down and locks.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use gbau_card::{Profile, SoftCard};
use gbau_core::aka::{generate_vector, verify_auts, Amf, Auts, Rand};
use gbau_core::exchange::transceive;
use gbau_core::hexutil::{parse_fixed, parse_hex, to_hex};
use gbau_core::milenage::Milenage;
use gbau_core::secret::{Opc, K};
use gbau_core::sqn::Sqn;
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};

const VERIFY_ADM1: &str = "0020000A083132333435363738";
const VERIFY_PIN1: &str = "002000010831323334FFFFFFFF";
const SELECT_USIM: &str = "00A4040407A0000000871002";
const SELECT_ISIM: &str = "00A4040407A0000000871004";
/// TS 35.208 test set 2, the keys of the factory profiles.
const K2: &str = "0396eb317b6d1c36f19c1c84cd6ffd16";
const OPC2: &str = "53c15671c60a4b731c55b4a441c0bde2";
const RAND: [u8; 16] = [0x23; 16];
const AMF: Amf = Amf([0x80, 0x00]);

fn profile(name: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("profiles")
        .join(name);
    Profile::load(&path).unwrap()
}

fn tx(card: &mut SoftCard, hex: &str) -> ResponseApdu {
    let cmd = CommandApdu::parse(&parse_hex(hex).unwrap()).unwrap();
    let mut t = |raw: &[u8]| card.transmit(raw);
    transceive(&mut t, &cmd).unwrap()
}

fn ok(card: &mut SoftCard, hex: &str) -> Vec<u8> {
    let r = tx(card, hex);
    assert_eq!(r.sw, StatusWord::Ok, "{hex}");
    r.data
}

fn milenage() -> Milenage {
    Milenage::new(
        &K::new(parse_fixed(K2).unwrap()),
        Opc::new(parse_fixed(OPC2).unwrap()),
    )
}

/// SQN from SEQ and IND 0 (5 IND bits).
fn sqn(seq: u64) -> Sqn {
    Sqn::new(seq << 5).unwrap()
}

/// AUTHENTICATE, 3G context, with the AUTN a standard network sends (SQN ⊕ AK).
fn challenge(sqn: Sqn) -> String {
    let v = generate_vector(&milenage(), &Rand(RAND), sqn, AMF);
    format!("008800812210{}10{}00", to_hex(&RAND), to_hex(&v.autn.0))
}

/// The same challenge with SQN in clear in AUTN (what a card with flag2 b0 clear expects).
fn clear_sqn_challenge(sqn: Sqn) -> String {
    let (mac, _) = milenage().f1_f1star(&RAND, &sqn.to_bytes(), &AMF.0);
    let autn = [&sqn.to_bytes()[..], &AMF.0, &mac].concat();
    format!("008800812210{}10{}00", to_hex(&RAND), to_hex(&autn))
}

/// First byte of the answer: 'DB' success, 'DC' synchronisation failure (with its AUTS).
fn outcome(card: &mut SoftCard, sqn: Sqn) -> (u8, Option<Auts>) {
    let data = ok(card, &challenge(sqn));
    let auts = (data[0] == 0xDC).then(|| Auts(data[2..16].try_into().unwrap()));
    (data[0], auts)
}

fn read_sqn_file(card: &mut SoftCard, adf: &str) -> Vec<u8> {
    ok(card, adf);
    ok(card, VERIFY_ADM1);
    ok(card, "00A4000402AF30");
    ok(card, "00B00000CE")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("gbau-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_delivered_card_accepts_any_sqn_once_and_remembers_that_it_did() {
    for name in ["sja2-factory.yaml", "sja5-factory.yaml"] {
        let dir = TempDir::new("skip");
        let state = dir.0.join("card.json");
        let mut card = SoftCard::open(profile(name), &state).unwrap();
        ok(&mut card, SELECT_USIM);
        ok(&mut card, VERIFY_PIN1);
        // SEQ 2^40 is far beyond Δ = 2^28 of a fresh array: accepted only because flag1 b7
        // (skip the next check) is set as delivered.
        assert_eq!(outcome(&mut card, sqn(1 << 40)).0, 0xDB, "{name}: skipped");
        let file = read_sqn_file(&mut card, SELECT_USIM);
        assert_eq!(file[0], 0x55, "{name}: b7 cleared, the rest of d5 kept");
        drop(card);
        // After a restart the check is back: a replay, and a jump beyond Δ, get AUTS.
        let mut card = SoftCard::open(profile(name), &state).unwrap();
        assert_eq!(
            read_sqn_file(&mut card, SELECT_USIM)[0],
            0x55,
            "{name}: durable"
        );
        ok(&mut card, VERIFY_PIN1);
        let (tag, auts) = outcome(&mut card, sqn(1 << 40));
        assert_eq!(tag, 0xDC, "{name}: replay");
        // AUTS is concealed with AK* (flag2 b1): the network reads SQN_MS back.
        let sqn_ms = verify_auts(&milenage(), &Rand(RAND), &auts.unwrap()).unwrap();
        assert_eq!(sqn_ms, sqn(1 << 40), "{name}: SQN_MS in AUTS");
        assert_eq!(outcome(&mut card, sqn(1 << 41)).0, 0xDC, "{name}: beyond Δ");
        assert_eq!(
            outcome(&mut card, sqn((1 << 40) + 1)).0,
            0xDB,
            "{name}: next"
        );
    }
}

#[test]
fn flag2_00_makes_a_standard_challenge_fail_and_03_restores_it() {
    let mut card = SoftCard::in_memory(profile("sja2-factory.yaml")).unwrap();
    ok(&mut card, SELECT_USIM);
    ok(&mut card, VERIFY_PIN1);
    ok(&mut card, VERIFY_ADM1);
    ok(&mut card, "00A4000402AF30");
    ok(&mut card, "00D600010100"); // flag2 = 00: no concealment
    let r = tx(&mut card, &challenge(sqn(1)));
    assert_eq!(
        r.sw,
        StatusWord::AuthenticationErrorIncorrectMac,
        "SQN ⊕ AK read as SQN"
    );
    // Such a card expects SQN in clear in AUTN, and answers AUTS with SQN_MS in clear.
    assert_eq!(ok(&mut card, &clear_sqn_challenge(sqn(2)))[0], 0xDB);
    let data = ok(&mut card, &clear_sqn_challenge(sqn(2)));
    assert_eq!(data[0], 0xDC, "replay");
    assert_eq!(
        to_hex(&data[2..8]),
        to_hex(&sqn(2).to_bytes()),
        "SQN_MS in clear"
    );
    ok(&mut card, "00A4000402AF30");
    ok(&mut card, "00D600010103"); // flag2 = 03 again
    assert_eq!(ok(&mut card, &challenge(sqn(3)))[0], 0xDB);
}

#[test]
fn the_isim_authenticates_with_its_own_key_files() {
    let mut card = SoftCard::in_memory(profile("sja5-factory.yaml")).unwrap();
    ok(&mut card, SELECT_ISIM);
    ok(&mut card, VERIFY_PIN1);
    assert_eq!(ok(&mut card, &challenge(sqn(1)))[0], 0xDB, "ISIM, its skip");
    // The USIM's AF30 still has its own pending skip and its own array.
    let usim = read_sqn_file(&mut card, SELECT_USIM);
    assert_eq!(usim[0], 0xD5, "USIM AF30 untouched");
    let isim = read_sqn_file(&mut card, SELECT_ISIM);
    assert_eq!(isim[0], 0x55, "ISIM AF30 skip used");
    assert_ne!(&isim[14..20], &[0; 6], "ISIM array holds the SQN");
    // Another K in the ISIM's AF20: the ISIM fails, the USIM does not.
    ok(&mut card, "00A4000402AF20");
    ok(&mut card, "00D600010142");
    let r = tx(&mut card, &challenge(sqn(2)));
    assert_eq!(
        r.sw,
        StatusWord::AuthenticationErrorIncorrectMac,
        "ISIM K changed"
    );
    ok(&mut card, SELECT_USIM);
    assert_eq!(
        ok(&mut card, &challenge(sqn(2)))[0],
        0xDB,
        "USIM keys unchanged"
    );
}

#[test]
fn the_sjs1_authentication_counter_counts_down_and_locks() {
    let mut card = SoftCard::in_memory(profile("sjs1-factory.yaml")).unwrap();
    ok(&mut card, SELECT_USIM);
    ok(&mut card, VERIFY_PIN1);
    assert_eq!(
        ok(&mut card, &challenge(sqn(1)))[0],
        0xDB,
        "disabled: no limit"
    );
    ok(&mut card, VERIFY_ADM1);
    ok(&mut card, "00A400040200FE");
    ok(&mut card, "00D600000400000002");
    assert_eq!(ok(&mut card, &challenge(sqn(2)))[0], 0xDB);
    assert_eq!(ok(&mut card, &challenge(sqn(3)))[0], 0xDB);
    let r = tx(&mut card, &challenge(sqn(4)));
    assert_eq!(r.sw, StatusWord::AuthMethodBlocked, "locked");
    ok(&mut card, "00A400040200FE");
    assert_eq!(to_hex(&ok(&mut card, "00B0000004")), "00000000");
}
