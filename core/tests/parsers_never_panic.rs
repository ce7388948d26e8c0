//! Property tests: the APDU, TLV, Digest and script parsers never panic on arbitrary input,
//! and what they accept re-encodes to the same bytes.

use gbau_core::apdu::ApduCase;
use gbau_core::tlv::{parse_all, parse_one, parse_tree, read_lv, Tlv};
use gbau_core::{CommandApdu, ResponseApdu};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn command_parse_never_panics_and_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(cmd) = CommandApdu::parse(&bytes) {
            let again = cmd.to_bytes().expect("a parsed APDU encodes");
            // Short encodings are canonical; an extended APDU whose lengths fit short form is
            // re-encoded short, so compare semantically there.
            prop_assert_eq!(CommandApdu::parse(&again).expect("re-parse"), cmd.clone());
            if !matches!(cmd.case(), Ok(ApduCase::Case1)) && bytes.len() > 4 && bytes[4] != 0 {
                prop_assert_eq!(again, bytes);
            }
        }
    }

    #[test]
    fn command_encode_parse_round_trip(
        cla in any::<u8>(), ins in any::<u8>(), p1 in any::<u8>(), p2 in any::<u8>(),
        data in prop::collection::vec(any::<u8>(), 0..400),
        ne in prop::option::of(1usize..=65536),
    ) {
        let mut cmd = CommandApdu::new(cla, ins, p1, p2).with_data(data);
        cmd.ne = ne;
        let bytes = cmd.to_bytes().expect("valid command encodes");
        prop_assert_eq!(CommandApdu::parse(&bytes).expect("parse"), cmd);
    }

    #[test]
    fn response_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        match ResponseApdu::parse(&bytes) {
            Ok(r) => prop_assert_eq!(r.to_bytes(), bytes),
            Err(_) => prop_assert!(bytes.len() < 2),
        }
    }

    #[test]
    fn tlv_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_one(&bytes);
        let _ = parse_all(&bytes);
        let _ = parse_tree(&bytes);
        let mut rest = bytes.as_slice();
        while read_lv(&mut rest).is_ok() {
            if rest.is_empty() { break; }
        }
    }

    #[test]
    fn script_parse_and_plan_never_panic(
        lines in prop::collection::vec(
            prop_oneof![
                "[<>!]{1,2} [0-9A-Fa-f $*?{}_]{0,40}",
                "set [a-z_$]{1,6} = [0-9A-F${}_]{0,20}",
                "repeat [a-z]{1,3} [0-9$a-z]{1,4} [0-9$a-z]{1,4}",
                Just("end".to_owned()),
                "include [a-z./]{0,12}",
                "\\PC{0,30}",
            ],
            0..20,
        ),
        pattern in "[0-9A-F?* ]{0,60}",
        response in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let text = lines.join("\n");
        if let Ok(parsed) = gbau_core::script::parse(&text, "t") {
            let mut vars = std::collections::BTreeMap::new();
            vars.insert("k".to_owned(), "a1b2c3d4e5f6a7b8".to_owned());
            vars.insert("n".to_owned(), "3".to_owned());
            let secrets = std::collections::BTreeSet::from(["k".to_owned()]);
            let mut load = |_: &str, _: &str| -> Result<(String, String), String> {
                Ok(("inc".into(), "> 00 A4 00 04 02 3F 00\n< 90 00\n".into()))
            };
            if let Ok(steps) = gbau_core::script::plan(&parsed, &vars, &secrets, &mut load) {
                for s in &steps {
                    prop_assert!(!s.shown.contains("a1b2c3d4e5f6a7b8"), "a secret shown: {}", s.shown);
                }
            }
        }
        if let Ok(p) = gbau_core::script::parse_pattern(&pattern) {
            let _ = gbau_core::script::matches(&p, &response);
        }
    }

    #[test]
    fn digest_header_parser_never_panics(text in "\\PC{0,200}", tail in "[a-z=\",\\\\ ]{0,60}") {
        let _ = gbau_core::digest::parse(&text);
        let _ = gbau_core::digest::parse(&format!("Digest {tail}"));
    }

    #[test]
    fn digest_format_parse_round_trip(values in prop::collection::vec("[ -~]{0,30}", 1..6)) {
        let names = ["username", "realm", "nonce", "uri", "response", "opaque"];
        let params: Vec<(&str, &str)> = names.iter().zip(values.iter()).map(|(n, v)| (*n, v.as_str())).collect();
        let parsed = gbau_core::digest::parse(&gbau_core::digest::format(&params, &[])).expect("own output parses");
        for (n, v) in &params {
            prop_assert_eq!(parsed.get(n), Some(*v));
        }
    }

    #[test]
    fn tlv_encode_parse_round_trip(
        tag in prop_oneof![0x01u32..=0x1E, 0x40u32..=0x5E, 0x80u32..=0x9E, 0xC0u32..=0xDE, 0x5F01u32..=0x5F7F, 0x9F01u32..=0x9F7F],
        value in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let t = Tlv::new(tag, value);
        let bytes = t.to_bytes().expect("encode");
        let (back, rest) = parse_one(&bytes).expect("parse");
        prop_assert_eq!(back, t);
        prop_assert!(rest.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Key lifetimes from anyone (a BSF, a Key Center, a device, a file) never panic the
    /// parser, whatever the text and however large its numbers.
    #[test]
    fn utc_parsing_never_panics(text in ".{0,40}", y in any::<i64>(), m in any::<u32>(), d in any::<u32>(), secs in any::<u64>()) {
        let _ = gbau_core::time::parse_utc(&text);
        let _ = gbau_core::time::parse_utc(&format!("{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs % 100, secs % 61, secs % 62));
        let formatted = gbau_core::time::format_utc(secs);
        let back = gbau_core::time::parse_utc(&formatted);
        prop_assert!(back.is_some(), "{formatted} parses");
        prop_assert!(back.unwrap() <= secs, "clamped, never later");
    }
}
