//! The APDU script language (see `apdu-scripts/README.md`): commands, expected responses
//! with wildcards, comments, variables and includes. Parsing and matching are pure; running
//! takes a transmit function and a loader for included files.

mod plan;
mod runner;
mod syntax;

pub use plan::{
    mask, plan, plan_with_vars, send_planned, Expectation, Loader, PlannedStep, MAX_PLANNED_STEPS,
};
pub use runner::{Exchange, Runner, DEFAULT_SECRETS};
pub use syntax::{
    matches, parse, parse_pattern, substitute, Line, Mismatch, Pattern, ScriptError, Step,
    MAX_INCLUDE_DEPTH,
};

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[test]
    fn many_stars_match_quickly() {
        let p = parse_pattern(&"* 00 ".repeat(40)).unwrap();
        assert!(!matches(&p, &[0x01; 4000]));
        assert!(matches(&p, &[0x00; 40]));
        assert!(matches(&parse_pattern("*").unwrap(), &[]));
        assert!(!matches(&parse_pattern("??").unwrap(), &[]));
    }

    #[test]
    fn wildcards_match() {
        let p = parse_pattern("62 * 90 00").unwrap();
        assert!(matches(&p, &[0x62, 1, 2, 3, 0x90, 0x00]));
        assert!(matches(&p, &[0x62, 0x90, 0x00]));
        assert!(!matches(&p, &[0x62, 1, 0x6A, 0x82]));
        let q = parse_pattern("61??").unwrap();
        assert!(matches(&q, &[0x61, 0x22]));
        assert!(!matches(&q, &[0x61]));
    }

    #[test]
    fn parses_lines_and_substitutes() {
        let lines = parse(
            "# c\nset x = 3F00\n> 00 A4 00 04 02 $x  # trailing\n< * 90 00\ninclude a.apdu\n",
            "t",
        )
        .unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].number, 3);
        let mut vars = BTreeMap::new();
        vars.insert("x".to_owned(), "3F00".to_owned());
        assert_eq!(substitute("A4 ${x} $x", &vars).unwrap(), "A4 3F00 3F00");
        assert_eq!(substitute("$nope", &vars), Err("nope".to_owned()));
        vars.insert("r".to_owned(), "02".to_owned());
        vars.insert("rec_02".to_owned(), "AA".to_owned());
        assert_eq!(substitute("${rec_$r} $r", &vars).unwrap(), "AA 02");
        assert!(parse("bogus", "t").is_err());
    }

    #[test]
    fn plan_masks_secrets_and_what_is_set_from_them() {
        let main = "set kk = 01 $k\n> 00 D6 00 00 11 $kk\n< 90 00\ninclude inc.apdu\n";
        let lines = parse(main, "main").unwrap();
        let mut vars = BTreeMap::new();
        vars.insert(
            "k".to_owned(),
            "00112233445566778899aabbccddeeff".to_owned(),
        );
        vars.insert("fid".to_owned(), "AF20".to_owned());
        let secrets = BTreeSet::from(["k".to_owned()]);
        let mut load = |_: &str, path: &str| -> Result<(String, String), String> {
            assert_eq!(path, "inc.apdu");
            Ok((
                "inc".into(),
                "> 00 A4 00 04 02 $fid\n> 00 B0 00 00 11\n< $kk 90 00\n".into(),
            ))
        };
        let steps = plan(&lines, &vars, &secrets, &mut load).unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].shown, "00 D6 00 00 11 01 ‹k›");
        assert_eq!(steps[0].command.len(), 5 + 17);
        assert!(!steps[0].expect.as_ref().unwrap().secret);
        assert_eq!(steps[1].shown, "00 A4 00 04 02 AF20");
        assert!(steps[1].expect.is_none());
        let e = steps[2].expect.as_ref().unwrap();
        assert!(e.secret);
        assert_eq!(e.shown, "01 ‹k› 90 00");
        assert!(!e.shown.contains("0011223344"));
    }

    #[test]
    fn repeat_expands_with_hex_record_numbers() {
        let text =
            "set n = 3\nrepeat r 1 $n\n> 00 DC $r 04 01 FF\n< 90 00\nend\n> 00 B2 01 04 01\n";
        let lines = parse(text, "t").unwrap();
        let mut load =
            |_: &str, _: &str| -> Result<(String, String), String> { Err("none".into()) };
        let steps = plan(&lines, &BTreeMap::new(), &BTreeSet::new(), &mut load).unwrap();
        let p1: Vec<u8> = steps.iter().map(|s| s.command[2]).collect();
        assert_eq!(p1, vec![1, 2, 3, 1]);
        assert!(steps[..3].iter().all(|s| s.expect.is_some()));
        assert!(steps[3].expect.is_none());
        for bad in [
            "repeat r 1 3\n> 00 B0 00 00 01\n",
            "end\n",
            "repeat r 1 x\nend\n",
            "repeat r 1\n",
        ] {
            let parsed = parse(bad, "t");
            let planned =
                parsed.and_then(|l| plan(&l, &BTreeMap::new(), &BTreeSet::new(), &mut load));
            assert!(planned.is_err(), "{bad:?} must be refused");
        }
    }
}
