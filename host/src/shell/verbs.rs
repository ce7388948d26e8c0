//! The REPL's commands: name, usage and an example for `help CMD`, completion and hints, and
//! the nearest name for a mistyped one. The names follow pySim-shell where it has the command.

/// One command.
#[derive(Clone, Copy, Debug)]
pub struct Verb {
    pub name: &'static str,
    pub usage: &'static str,
    pub example: &'static str,
}

const fn verb(name: &'static str, usage: &'static str, example: &'static str) -> Verb {
    Verb {
        name,
        usage,
        example,
    }
}

/// Every command, in the order `help` lists them.
pub const VERBS: [Verb; 27] = [
    verb("select", "select NAME|FID|AID   select a file (try: files, dir)", "select EF_GBABP"),
    verb("read_binary", "read_binary [--raw] [OFFSET [LENGTH]]   read the selected transparent EF, decoded", "read_binary"),
    verb("update_binary", "update_binary OFFSET HEX   write bytes", "update_binary 0 00000003"),
    verb("update_binary_decoded", "update_binary_decoded FIELD=VALUE ... | JSON   set the fields read_binary shows; the others stay", "update_binary_decoded imsi=001010000000002"),
    verb("read_record", "read_record [--raw] N   read record N of the selected record EF, decoded", "read_record 1"),
    verb("read_records", "read_records [--raw]   read every record", "read_records"),
    verb("update_record", "update_record N HEX   write record N", "update_record 1 800E6B632E6578616D706C652E6F7267"),
    verb("update_record_decoded", "update_record_decoded N FIELD=VALUE ... | JSON   set the fields read_record shows", "update_record_decoded 1 naf_key_center=kc.example.org"),
    verb("dir", "dir   what the current DF holds (probed by SELECT): type, size, SFI, access rules", "dir"),
    verb("tree", "tree   every DF and file the card shows, from the MF", "tree"),
    verb("export", "export [--adm] [FILE]   the readable content as an .apdu script (no keys, no PINs)", "export --adm card.apdu"),
    verb("verify_pin", "verify_pin [PIN]   PIN1 (default: --pin, or the soft card's)", "verify_pin 1234"),
    verb("verify_adm", "verify_adm DIGITS   ADM1", "verify_adm 12345678"),
    verb("authenticate", "authenticate RAND AUTN   3G context", "authenticate $rand $autn"),
    verb("gba", "gba bootstrap RAND AUTN | gba naf FQDN [UA_HEX] [IMPI]", "gba naf naf.example.org"),
    verb("status", "status   FCP of the current application", "status"),
    verb("info", "info   decoded card summary", "info"),
    verb("run", "run SCRIPT   run an .apdu script", "run apdu-scripts/card/01-select.apdu"),
    verb("set", "set NAME = VALUE   then $NAME in any line", "set rand = 23553cbe9637a89d218ae64dae47bf35"),
    verb("vars", "vars   list variables (PINs shown as <set>)", "vars"),
    verb("trace", "trace on|off   show every APDU", "trace on"),
    verb("files", "files   the names select knows", "files"),
    verb("reset", "reset   select the MF again", "reset"),
    verb("help", "help [CMD]   list the commands, or one with an example", "help select"),
    verb("exit", "exit   leave (or Ctrl-D)", "exit"),
    verb("quit", "quit   leave", "quit"),
    verb("apdu", "apdu HEX   send a command APDU (a bare hex line does the same)", "apdu 00 A4 00 04 02 6F AD"),
];

/// pySim-shell's names for commands gbau names otherwise (gbau's reads decode already).
pub const ALIASES: [(&str, &str); 5] = [
    ("read_binary_decoded", "read_binary"),
    ("read_record_decoded", "read_record"),
    ("verify_chv", "verify_pin"),
    ("run_script", "run"),
    ("ls", "dir"),
];

/// gbau's name for `word` when it is an alias, else `word`.
#[must_use]
pub fn canonical(word: &str) -> &str {
    ALIASES
        .iter()
        .find(|(a, _)| *a == word)
        .map_or(word, |(_, v)| v)
}

/// The command named `name`.
#[must_use]
pub fn find(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
}

/// `help` and `help CMD`.
#[must_use]
pub fn help(name: Option<&str>) -> String {
    match name {
        None => {
            let mut s: String = VERBS.iter().map(|v| format!("  {}\n", v.usage)).collect();
            s.push_str("  <hex APDU>   send it (61xx/6Cxx followed), e.g. 00 A4 00 04 02 6F AD\n");
            s.push_str("  help CMD shows one command with an example\n");
            let aliases: Vec<String> = ALIASES.iter().map(|(a, v)| format!("{a} = {v}")).collect();
            s.push_str(&format!("  pySim-shell names: {}\n", aliases.join(", ")));
            s
        }
        Some(n) => match find(canonical(n)) {
            Some(v) => format!("usage: {}\nexample: {}\n", v.usage, v.example),
            None => format!("no command {n:?}{}\n", suggestion(n)),
        },
    }
}

/// ": did you mean X?" for the nearest command, or nothing when none is near.
#[must_use]
pub fn suggestion(word: &str) -> String {
    nearest(word).map_or_else(String::new, |v| format!("; did you mean {v}?"))
}

/// The command nearest to `word` by edit distance, if within a third of its length (at
/// least 2), or the one it is a prefix of.
#[must_use]
pub fn nearest(word: &str) -> Option<&'static str> {
    let w = word.to_lowercase();
    if let Some(v) = VERBS
        .iter()
        .find(|v| v.name.starts_with(&w) && w.len() >= 3)
    {
        return Some(v.name);
    }
    let limit = (w.len() / 3).max(2);
    VERBS
        .iter()
        .map(|v| (distance(&w, v.name), v.name))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_command() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(nearest("slect"), Some("select"));
        assert_eq!(nearest("read_binry"), Some("read_binary"));
        assert_eq!(nearest("upd"), Some("update_binary"));
        assert_eq!(nearest("frobnicate"), None);
        assert!(help(Some("select")).contains("example: select EF_GBABP"));
        assert!(help(Some("selct")).contains("did you mean select?"));
    }
}
