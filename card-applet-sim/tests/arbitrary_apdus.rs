//! Property test: arbitrary APDUs never panic the card, never change its persistent state
//! when refused, and never bring a secret (K, OPc, Ks, Ks_int_NAF, PIN/PUK/ADM values) out.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use gbau_card::{Profile, SoftCard};
use gbau_core::hexutil::{parse_hex, to_hex};
use gbau_core::{ResponseApdu, StatusWord};
use proptest::prelude::*;

const SECRETS: [&str; 8] = [
    "465b5ce8b199b49faa5f0a2ee238a6bc",
    "cd63cb71954a9f4e48a5994e37a02baf",
    "b40ba9a3c58b2a05bbf0d987b21bf8cbf769bcd751044604127672711c6d3441",
    "4e0b3cc8f0444a8c1583dab770e1aa2b5703cea3666ec6640ba8982e2a17a25f",
    "31323334ffffffff",
    "35363738ffffffff",
    "3132333435363738",
    "3837363534333231",
];

fn card(adm: bool) -> SoftCard {
    let p = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/test-set-1.yaml"))
        .unwrap();
    let mut c = SoftCard::in_memory(p).unwrap();
    let mut setup = vec![
        "00A4040C07A0000000871002",
        "002000010831323334FFFFFFFF",
        "0088008423DD1023553cbe9637a89d218ae64dae47bf351055f328b43577b9b98c7f3f0d723fb24400",
        "0088008448DE146e61662e6578616d706c652e6f7267010000000231\
         30303130313030303030303030303140696d732e6d6e633030312e6d63633030312e336770706e6574776f726b2e6f726700",
    ];
    if adm {
        setup.push("0020000A083132333435363738");
    }
    for a in setup {
        let r = c.transmit(&parse_hex(a).unwrap()).unwrap();
        assert!(
            matches!(
                ResponseApdu::parse(&r).unwrap().sw,
                StatusWord::Ok | StatusWord::MoreData(_)
            ),
            "{a}"
        );
    }
    c
}

fn apdu() -> impl Strategy<Value = Vec<u8>> {
    let ins = prop_oneof![
        Just(0xA4u8),
        Just(0xB0),
        Just(0xD6),
        Just(0xB2),
        Just(0xDC),
        Just(0x20),
        Just(0x24),
        Just(0x26),
        Just(0x28),
        Just(0x2C),
        Just(0x88),
        Just(0xC0),
        Just(0xF2),
        any::<u8>()
    ];
    let cla = prop_oneof![Just(0x00u8), Just(0x80), Just(0xA0), any::<u8>()];
    let p2 = prop_oneof![
        Just(0x84u8),
        Just(0x81),
        Just(0x80),
        Just(0x04),
        Just(0x0C),
        Just(0x01),
        any::<u8>()
    ];
    let data = prop::collection::vec(any::<u8>(), 0..70);
    let structured = (
        cla,
        ins,
        any::<u8>(),
        p2,
        data,
        prop::option::of(any::<u8>()),
    )
        .prop_map(|(c, i, p1, p2, d, le)| {
            let mut v = vec![c, i, p1, p2];
            if !d.is_empty() {
                v.push(d.len() as u8);
                v.extend(d);
            }
            if let Some(le) = le {
                v.push(le);
            }
            v
        });
    prop_oneof![3 => structured, 1 => prop::collection::vec(any::<u8>(), 0..300)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_apdus_are_safe(adm in any::<bool>(), apdus in prop::collection::vec(apdu(), 1..12)) {
        let mut c = card(adm);
        for a in apdus {
            let before = c.card().persistent().clone();
            let raw = c.transmit(&a).expect("in-memory card cannot fail to persist");
            let r = ResponseApdu::parse(&raw).expect("every answer has a status word");
            let accepted = matches!(r.sw, StatusWord::Ok | StatusWord::MoreData(_) | StatusWord::RetriesLeft(_));
            if !accepted {
                prop_assert!(c.card().persistent() == &before, "refused {} ({}) changed state", to_hex(&a), r.sw);
            }
            let hex = to_hex(&raw);
            for s in SECRETS {
                prop_assert!(!hex.contains(s), "{} revealed {s}", to_hex(&a));
            }
        }
    }
}
