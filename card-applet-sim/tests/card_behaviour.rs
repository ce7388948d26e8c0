//! Card behaviour beyond the scripts: service 68 off, persistence across restarts, corrupt
//! state files, secrets never readable, EF_GBANL least-recently-used overwrite, the ISIM
//! variant, and the T=1 personality.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use gbau_card::{Profile, SoftCard};
use gbau_core::exchange::transceive;
use gbau_core::hexutil::{parse_hex, to_hex};
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};

const CHAIN_BOOTSTRAP: &str =
    "0088008423DD1023553cbe9637a89d218ae64dae47bf351055f328b43577b9b98c7f3f0d723fb24400";
const IMPI_HEX: &str = "30303130313030303030303030303140696d732e6d6e633030312e6d63633030312e336770706e6574776f726b2e6f7267";
const NAF_ID_HEX: &str = "6e61662e6578616d706c652e6f72670100000002";
const KS_EXT_NAF: &str = "d3d5b418417eedfff77c5cce9b962bd62a6bbedbff2b309ab15cdc90882b18f2";
const KS: &str = "b40ba9a3c58b2a05bbf0d987b21bf8cbf769bcd751044604127672711c6d3441";
const KS_INT_NAF: &str = "4e0b3cc8f0444a8c1583dab770e1aa2b5703cea3666ec6640ba8982e2a17a25f";

fn profile_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/test-set-1.yaml")
}

fn profile() -> Profile {
    Profile::load(&profile_path()).unwrap()
}

fn profile_text() -> String {
    std::fs::read_to_string(profile_path()).unwrap()
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

fn naf_derivation(naf_id_hex: &str, impi_hex: &str) -> String {
    let data = format!(
        "DE{:02x}{naf_id_hex}{:02x}{impi_hex}",
        naf_id_hex.len() / 2,
        impi_hex.len() / 2
    );
    format!("00880084{:02x}{data}00", data.len() / 2)
}

fn ready(card: &mut SoftCard) {
    ok(card, "00A4040C07A0000000871002");
    ok(card, "002000010831323334FFFFFFFF");
}

struct Dir(PathBuf);
impl Dir {
    fn new(tag: &str) -> Self {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("gbau-card-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn gba_context_is_refused_with_9864_when_service_68_is_off() {
    let text = profile_text().replace("services: [27, 68, 76]", "services: [27]");
    let mut card = SoftCard::in_memory(Profile::from_yaml(&text).unwrap()).unwrap();
    ready(&mut card);
    assert_eq!(
        tx(&mut card, CHAIN_BOOTSTRAP).sw,
        StatusWord::SecurityContextNotSupported
    );
    assert_eq!(
        tx(&mut card, &naf_derivation(NAF_ID_HEX, IMPI_HEX)).sw,
        StatusWord::SecurityContextNotSupported
    );
}

#[test]
fn state_survives_a_restart() {
    let dir = Dir::new("restart");
    let state = dir.0.join("card.json");
    {
        let mut card = SoftCard::open(profile(), &state).unwrap();
        ready(&mut card);
        assert_eq!(
            ok(&mut card, CHAIN_BOOTSTRAP),
            // RES with its last bit flipped (GBA_U, TS 33.220 §5.3.2; res_gba_u of the chain).
            parse_hex("DB08a54211d5e3ba50be").unwrap()
        );
        assert_eq!(
            tx(&mut card, "002000810839393939FFFFFFFF").sw,
            StatusWord::RetriesLeft(2)
        );
    }
    let mut card = SoftCard::open(profile(), &state).unwrap();
    ready(&mut card);
    // Ks and RAND survived: the NAF key is the chain's.
    assert_eq!(
        to_hex(&ok(&mut card, &naf_derivation(NAF_ID_HEX, IMPI_HEX))[2..]),
        KS_EXT_NAF
    );
    // The SQN survived: the same AUTN* is a synchronisation failure.
    assert_eq!(tx(&mut card, CHAIN_BOOTSTRAP).data[0], 0xDC);
    // The PIN2 counter survived.
    assert_eq!(tx(&mut card, "00200081").sw, StatusWord::RetriesLeft(2));
}

#[test]
fn corrupt_or_foreign_state_is_an_error_naming_the_file() {
    let dir = Dir::new("corrupt");
    let state = dir.0.join("card.json");
    std::fs::write(&state, b"{ not json").unwrap();
    let e = SoftCard::open(profile(), &state).unwrap_err().to_string();
    assert!(
        e.contains(&state.display().to_string()) && e.contains("corrupt"),
        "{e}"
    );

    std::fs::remove_file(&state).unwrap();
    drop(SoftCard::open(profile(), &state).unwrap());
    let other =
        Profile::from_yaml(&profile_text().replace("8988211000000000003", "8988211000000000002"))
            .unwrap();
    let e = SoftCard::open(other, &state).unwrap_err().to_string();
    assert!(
        e.contains(&state.display().to_string()) && e.contains("8988211000000000003"),
        "{e}"
    );

    let json = std::fs::read_to_string(&state)
        .unwrap()
        .replace("\"sqn_seq_ms\": [", "\"sqn_seq_ms\": [1, ");
    std::fs::write(&state, json).unwrap();
    let e = SoftCard::open(profile(), &state).unwrap_err().to_string();
    assert!(e.contains("sqn_seq_ms"), "{e}");
}

#[test]
fn no_command_reads_a_secret() {
    let mut card = SoftCard::in_memory(profile()).unwrap();
    ready(&mut card);
    ok(&mut card, "0020000A083132333435363738");
    ok(&mut card, CHAIN_BOOTSTRAP);
    ok(&mut card, &naf_derivation(NAF_ID_HEX, IMPI_HEX));
    let secrets = [
        ("K", "465b5ce8b199b49faa5f0a2ee238a6bc"),
        ("OPc", "cd63cb71954a9f4e48a5994e37a02baf"),
        ("Ks", KS),
        ("Ks first half", &KS[..32]),
        ("Ks second half", &KS[32..]),
        ("Ks_int_NAF", KS_INT_NAF),
        ("PIN1 block", "31323334ffffffff"),
        ("ADM1 block", "3132333435363738"),
        ("PUK1 block", "3132333435363738"),
    ];
    let mut everything = Vec::new();
    let files: [(&str, &[&str]); 2] = [
        ("00A4000C023F00", &["2F00", "2FE2", "2F05"]),
        (
            "00A4040C07A0000000871002",
            &[
                "6F05", "6F07", "6F08", "6F09", "6F38", "6F56", "6F78", "6FAD", "6FD6", "6FDA",
                "6FDD",
            ],
        ),
    ];
    for (select_df, efs) in files {
        ok(&mut card, select_df);
        for ef in efs {
            let fcp = ok(&mut card, &format!("00A40004 02{ef}"));
            everything.extend_from_slice(&fcp);
            let size = fcp
                .windows(2)
                .position(|w| w == [0x80, 0x02])
                .map(|p| usize::from(u16::from_be_bytes([fcp[p + 2], fcp[p + 3]])))
                .unwrap();
            if fcp.windows(3).any(|w| w == [0x82, 0x05, 0x42]) {
                for rec in 1..=8 {
                    let r = tx(&mut card, &format!("00B2{rec:02x}0400"));
                    everything.extend_from_slice(&r.data);
                }
            } else {
                everything.extend(ok(&mut card, &format!("00B00000{:02x}", size.min(255))));
            }
        }
    }
    everything.extend(ok(&mut card, "80F2000000"));
    // PIN1 is "1234": a bytes scan for the 8-byte block is only meaningful because no file
    // holds it; ADM1 and PUK1 share a value here and must not appear either.
    let hay = to_hex(&everything);
    assert!(hay.len() > 1000, "read too little: {}", hay.len());
    for (name, secret) in secrets {
        assert!(!hay.contains(secret), "{name} is readable");
    }
}

#[test]
fn gbanl_overwrites_the_least_recently_used_record() {
    let mut card = SoftCard::in_memory(profile()).unwrap();
    ready(&mut card);
    ok(&mut card, CHAIN_BOOTSTRAP);
    let naf = |n: u8| {
        format!(
            "{}0100000002",
            to_hex(format!("naf{n}.example.org").as_bytes())
        )
    };
    for n in 1..=4 {
        ok(&mut card, &naf_derivation(&naf(n), IMPI_HEX));
    }
    ok(&mut card, &naf_derivation(&naf(1), IMPI_HEX)); // naf1 used again: naf2 is now the oldest
    ok(&mut card, &naf_derivation(&naf(5), IMPI_HEX));
    ok(&mut card, "00A4000402 6FDA");
    let record = |card: &mut SoftCard, n: u8| to_hex(&ok(card, &format!("00B2{n:02x}04A0")));
    assert!(
        record(&mut card, 1).contains(&naf(1)),
        "record 1 keeps naf1"
    );
    assert!(
        record(&mut card, 2).contains(&naf(5)),
        "naf5 replaced naf2 in record 2"
    );
    assert!(record(&mut card, 3).contains(&naf(3)));
    assert!(record(&mut card, 4).contains(&naf(4)));
}

#[test]
fn isim_variant_takes_the_impi_from_ef_impi() {
    let mut card = SoftCard::in_memory(profile()).unwrap();
    ok(&mut card, "00A4040C07A0000000871004");
    ok(&mut card, "002000010831323334FFFFFFFF");
    ok(&mut card, CHAIN_BOOTSTRAP);
    let data = format!("DE14{NAF_ID_HEX}");
    let key = ok(&mut card, &format!("0088008416{data}00"));
    assert_eq!(
        to_hex(&key[2..]),
        KS_EXT_NAF,
        "the ISIM's IMPI is the chain's"
    );
    // A bootstrap on the ISIM is not the USIM's.
    ok(&mut card, "00A4040C07A0000000871002");
    assert_eq!(
        tx(&mut card, &naf_derivation(NAF_ID_HEX, IMPI_HEX)).sw,
        StatusWord::ConditionsOfUseNotSatisfied
    );
}

#[test]
fn t1_personality_answers_at_once() {
    let text = profile_text().replace("protocol: t0", "protocol: t1");
    let mut card = SoftCard::in_memory(Profile::from_yaml(&text).unwrap()).unwrap();
    assert_eq!(card.atr()[3], 0x81, "TD1 says T=1");
    let r = card
        .transmit(&parse_hex("00A4040407A000000087100200").unwrap())
        .unwrap();
    assert_eq!(r[0], 0x62);
    assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
}
