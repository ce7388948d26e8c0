//! The REPL driven through a pseudo-terminal, as a person would type at it: verbs, decoded
//! answers, raw hex, variables, a script, tab completion, history across sessions, errors
//! that do not end the session, trace, and leaving with exit.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use expectrl::Session;
use support::{repo, TempDir};

fn shell(dir: &TempDir) -> Session {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gbau"));
    cmd.env("HOME", &dir.0)
        .env("XDG_STATE_HOME", dir.path("state"))
        .env("TERM", "xterm")
        .env_remove("GBAU_PIN")
        .env_remove("GBAU_READER");
    cmd.arg("--sim").arg(dir.path("card.json")).arg("shell");
    let mut s = Session::spawn(cmd).expect("spawn gbau shell in a pty");
    s.set_expect_timeout(Some(Duration::from_secs(15)));
    s.expect(READING).expect("prompt");
    s
}

/// rustyline turns bracketed paste on each time it starts reading a line: the mark of a
/// fresh prompt, unlike the redraws of the line being typed.
const READING: &str = "\u{1b}[?2004h";

fn say(s: &mut Session, line: &str, want: &str) {
    s.send_line(line).unwrap();
    if !want.is_empty() {
        if let Err(e) = s.expect(want) {
            panic!("after {line:?} expected {want:?}: {e}");
        }
    }
    s.expect(READING).unwrap();
}

/// The shell left: the process ends within 10 s.
fn gone(s: &mut Session, label: &str) {
    let mut buf = [0u8; 4096];
    for _ in 0..100 {
        // Keep the terminal drained so the shell never blocks writing to it.
        while s.try_read(&mut buf).unwrap_or(0) > 0 {}
        if !matches!(
            s.get_process().status(),
            Ok(expectrl::WaitStatus::StillAlive)
        ) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut rest = Vec::new();
    let _ = s
        .try_read(&mut buf)
        .map(|n| rest.extend_from_slice(&buf[..n]));
    panic!(
        "{label}: the shell did not exit; pending output {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn a_repl_session_through_a_pty() {
    let dir = TempDir::new("pty");
    let mut s = shell(&dir);
    say(&mut s, "help", "gba bootstrap RAND AUTN");
    say(
        &mut s,
        "select ADF.USIM",
        "DF/ADF 7FF0, AID a0000000871002ff33ff018900000100",
    );
    say(
        &mut s,
        "select EF_AD",
        "transparent EF 6FAD, 4 bytes, SFI 03",
    );
    say(&mut s, "read_binary 0 4", "00 00 00 02");
    say(&mut s, "select EF_IMSI", "transparent EF 6F07, 9 bytes");
    say(
        &mut s,
        "read_binary",
        "6982 (security status not satisfied)",
    );
    say(&mut s, "verify_pin", "9000 (normal ending)");
    say(&mut s, "read_binary", "08 09 10 10 00 00 00 00 10");
    // Variables and raw hex lines.
    say(&mut s, "set rand = 23553cbe9637a89d218ae64dae47bf35", "");
    say(&mut s, "set autn = 55f328b43577b9b98c7f3f0d723fb244", "");
    say(
        &mut s,
        "gba bootstrap $rand $autn",
        "bootstrap ok: RES a54211d5e3ba50be",
    );
    say(
        &mut s,
        "gba naf naf.example.org",
        "Ks_ext_NAF d3d5b418417eedfff77c5cce9b962bd62a6bbedbff2b309ab15cdc90882b18f2",
    );
    say(
        &mut s,
        "00 88 00 84 23 DD 10 $rand 10 $autn 00",
        "synchronisation failure: AUTS ba853f3c123ccf44e93596e355c6",
    );
    say(
        &mut s,
        "authenticate $rand $autn",
        "9862 (authentication error, incorrect MAC)",
    );
    // Errors keep the session alive.
    say(
        &mut s,
        "select EF_NOPE",
        "error: \"EF_NOPE\" is neither a file name",
    );
    say(
        &mut s,
        "frobnicate",
        "error: unknown command \"frobnicate\"",
    );
    say(&mut s, "read_record", "error: missing N");
    say(
        &mut s,
        "echo $undefined",
        "error: undefined variable $undefined",
    );
    // Trace shows the APDUs in the shared log format.
    say(&mut s, "trace on", "");
    say(&mut s, "select EF_AD", ">> 00 A4 00 04 02 6F AD");
    say(&mut s, "trace off", "");
    // A script.
    let script = repo().join("apdu-scripts/card/01-select.apdu");
    say(&mut s, &format!("run {}", script.display()), "ok: ");
    s.send_line("exit").unwrap();
    gone(&mut s, "first session");
    // History is per user in the XDG state folder: the folder 0700, the file 0600.
    let history = dir.path("state").join("gbau").join("history");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&history), 0o600, "{}", history.display());
    assert_eq!(mode(history.parent().unwrap()), 0o700);
    assert!(std::fs::read_to_string(&history)
        .unwrap()
        .contains("select EF_AD"));

    // History persists: the next session recalls the last line with the up arrow.
    let mut s = shell(&dir);
    s.send("\u{1b}[A").unwrap();
    s.expect("exit").unwrap();
    // Tab completion of a verb and of a file name, typed at a human pace.
    let pause = || std::thread::sleep(Duration::from_millis(200));
    for key in ["\u{15}", "sel", "\t", " EF_GBA", "\t", "\t"] {
        s.send(key).unwrap();
        pause();
    }
    s.expect("select EF_GBABP").unwrap();
}

/// Type keys at a human pace.
fn keys(s: &mut Session, keys: &[&str]) {
    for key in keys {
        s.send(key).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn completion_offers_what_the_current_df_holds_and_the_naf_key_centers() {
    let dir = TempDir::new("pty-complete");
    let mut s = shell(&dir);
    // In ADF.USIM, "EF_I" is only EF_IMSI (the MF's EF_ICCID and the ISIM's EF_IMPI/EF_IST
    // are not offered there).
    say(&mut s, "select ADF.USIM", "DF/ADF");
    keys(&mut s, &["select EF_I", "\t"]);
    s.expect("select EF_IMSI").unwrap();
    s.send_line("").unwrap();
    s.expect("transparent EF 6F07").unwrap();
    s.expect(READING).unwrap();
    // The fields of the selected file's encoder.
    keys(&mut s, &["update_binary_decoded i", "\t"]);
    s.expect("update_binary_decoded imsi=").unwrap();
    keys(&mut s, &["\u{15}"]);
    // After PIN1, `gba naf` completes the NAF Key Centers of EF_NAFKCA (the profile's
    // keycenter.example.org).
    say(&mut s, "verify_pin", "9000");
    keys(&mut s, &["gba naf k", "\t"]);
    s.expect("gba naf keycenter.example.org").unwrap();
    keys(&mut s, &["\u{15}"]);
    // Script paths for `run`.
    std::fs::create_dir_all(dir.path("scripts")).unwrap();
    std::fs::write(
        dir.path("scripts/hello-world.apdu"),
        "00A40004023F00 9000\n",
    )
    .unwrap();
    let base = dir.path("scri");
    keys(&mut s, &[&format!("run {}", base.display()), "\t"]);
    s.expect("scripts/").unwrap();
    keys(&mut s, &["hel", "\t"]);
    s.expect("hello-world.apdu").unwrap();
    keys(&mut s, &["\u{15}"]);
    // help CMD and the nearest command.
    s.send_line("help gba").unwrap();
    s.expect("example: gba naf naf.example.org").unwrap();
    s.expect(READING).unwrap();
    say(&mut s, "raed_binary", "did you mean read_binary?");
    s.send_line("exit").unwrap();
    gone(&mut s, "completion session");
}
