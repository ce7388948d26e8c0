//! The soft card through pcscd + vpcd, as any PC/SC program sees it. The harness starts
//! pcscd itself (or reuses a running one) and stops what it started; each trial serves a
//! fresh card with `gbau card serve` and talks to it through the `pcsc` crate.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::process::ExitCode;
use std::time::Duration;

use gbau_card::scripts::run_file;
use gbau_card::Profile;
use gbau_host::transport::{PcscTransport, Transport};
use libtest_mimic::{Arguments, Failed, Trial};
use support::{repo, Pcscd, ServedCard, VIRTUAL_READER};

const SCRIPTS: [&str; 8] = [
    "01-select.apdu",
    "02-read-files.apdu",
    "03-pin-errors.apdu",
    "04-auth-3g.apdu",
    "05-gba-bootstrap.apdu",
    "06-gba-replay.apdu",
    "07-gba-errors.apdu",
    "08-t0-behaviour.apdu",
];

fn script_over_pcsc(script: &str) -> Result<(), Failed> {
    let _card = ServedCard::start()?;
    let mut t = PcscTransport::connect(VIRTUAL_READER, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let vars = Profile::load(&support::profile())
        .map_err(|e| e.to_string())?
        .script_vars();
    let mut transmit = |raw: &[u8]| t.transmit(raw);
    run_file(
        &mut transmit,
        &repo().join("apdu-scripts/card").join(script),
        vars,
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

fn pcsc_scan_sees_the_card() -> Result<(), Failed> {
    let card = ServedCard::start()?;
    let out = std::process::Command::new("timeout")
        .args(["5", "pcsc_scan"])
        .output()
        .map_err(|e| format!("pcsc_scan: {e} (install pcsc-tools)"))?;
    drop(card);
    let text = String::from_utf8_lossy(&out.stdout);
    let atr = "3B 9B 11 80 1F C7 80 31 E0 73 FE 21 1B 63 67 62 61 33";
    if text.contains(atr) && text.contains("Protocol T = 0") {
        Ok(())
    } else {
        Err(format!("pcsc_scan did not show the soft card's ATR {atr} with T=0:\n{text}").into())
    }
}

fn scriptor_runs_the_chain() -> Result<(), Failed> {
    let card = ServedCard::start()?;
    let script = card.dir.path("chain.scriptor");
    std::fs::write(
        &script,
        "00 A4 04 04 07 A0 00 00 00 87 10 02\n\
         00 20 00 01 08 31 32 33 34 FF FF FF FF\n\
         0088008423DD1023553cbe9637a89d218ae64dae47bf351055f328b43577b9b98c7f3f0d723fb24400\n\
         00 C0 00 00 0A\n\
         0088008448DE146e61662e6578616d706c652e6f7267010000000231\
         30303130313030303030303030303140696d732e6d6e633030312e6d63633030312e336770706e6574776f726b2e6f726700\n\
         00 C0 00 00 22\n",
    )
    .map_err(|e| e.to_string())?;
    let out = std::process::Command::new("timeout")
        .args(["20", "scriptor", "-r", VIRTUAL_READER])
        .arg(&script)
        .output()
        .map_err(|e| format!("scriptor: {e} (install pcsc-tools)"))?;
    // scriptor wraps long responses at 16 bytes a line: compare with whitespace collapsed.
    let text = String::from_utf8_lossy(&out.stdout).to_uppercase();
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "< DB 08 A5 42 11 D5 E3 BA 50 BE 90 00",
        "< DB 20 D3 D5 B4 18 41 7E ED FF F7 7C 5C CE 9B 96 2B D6 2A 6B BE DB FF 2B 30 9A B1 5C DC 90 88 2B 18 F2 90 00",
    ] {
        if !flat.contains(want) {
            return Err(format!("scriptor output lacks {want:?}:\n{text}").into());
        }
    }
    Ok(())
}

fn demo_through_the_virtual_reader_twice() -> Result<(), Failed> {
    let _card = ServedCard::start()?;
    let run = || -> Result<serde_json::Value, Failed> {
        let out = support::gbau()
            .args(["demo", "--json", "--reader", VIRTUAL_READER, "--profile"])
            .arg(support::profile())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(
                format!("gbau demo failed: {}", String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        serde_json::from_slice(&out.stdout).map_err(|e| Failed::from(e.to_string()))
    };
    // Twice on the same card: the second run's HSS starts at an SQN the card has used, so it
    // goes through a resynchronisation from AUTS before succeeding.
    for round in ["first", "second"] {
        let r = run()?;
        if r["keys_equal"] != true
            || r["key_update_rebootstrapped"] != true
            || !r["card"].as_str().unwrap_or("").contains(VIRTUAL_READER)
        {
            return Err(format!("{round} demo run through the reader: {r}").into());
        }
    }
    Ok(())
}

fn gbau_reader(args: &[&str]) -> Result<std::process::Output, Failed> {
    support::gbau()
        .env_remove("GBAU_PIN")
        .args(["--reader", VIRTUAL_READER, "--pin", "1234"])
        .args(args)
        .output()
        .map_err(|e| Failed::from(e.to_string()))
}

fn ok_json(out: std::process::Output) -> Result<serde_json::Value, Failed> {
    if !out.status.success() {
        return Err(format!("gbau failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| Failed::from(e.to_string()))
}

/// `gbau info`, `apdu`, `gba bootstrap`, `gba naf-key` through the reader give the same
/// answers as on the in-process soft card.
fn cli_commands_through_the_reader() -> Result<(), Failed> {
    let card = ServedCard::start()?;
    let mut info = ok_json(gbau_reader(&["info", "--json"])?)?;
    let sim = card.dir.path("sim.json");
    let mut local = ok_json(
        support::gbau()
            .args(["--sim", sim.to_str().unwrap_or_default(), "info", "--json"])
            .output()
            .map_err(|e| e.to_string())?,
    )?;
    info["card"] = serde_json::Value::Null;
    local["card"] = serde_json::Value::Null;
    if info != local {
        return Err(
            format!("info differs between the reader and in-process:\n{info}\n{local}").into(),
        );
    }
    let apdu = ok_json(gbau_reader(&[
        "apdu",
        "--json",
        "00A4040407A0000000871002",
        "00A40004026FAD",
        "00B0000004",
    ])?)?;
    if apdu[2]["data"] != "00 00 00 02"
        || apdu[0]["decoded"]
            .as_str()
            .is_none_or(|d| !d.starts_with("DF/ADF 7FF0"))
    {
        return Err(format!("apdu through the reader: {apdu}").into());
    }
    let b = ok_json(gbau_reader(&[
        "gba",
        "bootstrap",
        "--json",
        "--rand",
        "23553cbe9637a89d218ae64dae47bf35",
        "--autn",
        "55f328b43577b9b98c7f3f0d723fb244",
        "--btid",
        "I1U8vpY3qJ0hiuZNrke/NQ==@bsf.mnc001.mcc001.pub.3gppnetwork.org",
        "--lifetime",
        "2099-01-01T00:00:00Z",
    ])?)?;
    let k = ok_json(gbau_reader(&[
        "gba",
        "naf-key",
        "--json",
        "--naf-fqdn",
        "naf.example.org",
    ])?)?;
    if b["res"] != "a54211d5e3ba50be"
        || k["ks_ext_naf"] != "d3d5b418417eedfff77c5cce9b962bd62a6bbedbff2b309ab15cdc90882b18f2"
    {
        return Err(format!("GBA through the reader: {b} {k}").into());
    }
    Ok(())
}

fn cli_run_every_script_through_the_reader() -> Result<(), Failed> {
    for s in SCRIPTS {
        let _card = ServedCard::start()?;
        let out = support::gbau()
            .args(["--reader", VIRTUAL_READER, "--profile"])
            .arg(support::profile())
            .arg("run")
            .arg(repo().join("apdu-scripts/card").join(s))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("gbau run {s}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
    }
    Ok(())
}

fn reader_errors_are_clear() -> Result<(), Failed> {
    let out = support::gbau()
        .args(["--reader", "No Such Reader", "info"])
        .output()
        .map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(1)
        || !err.contains("no reader matches \"No Such Reader\"")
        || !err.contains(VIRTUAL_READER)
    {
        return Err(format!("unknown reader: {err}").into());
    }
    // The second slot has no card: the wait times out with a clear message.
    let out = support::gbau()
        .args(["--reader", "Virtual PCD 00 01", "info"])
        .output()
        .map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(1) || !err.contains("no card in reader \"Virtual PCD 00 01\"") {
        return Err(format!("empty reader: {err}").into());
    }
    let out = support::gbau()
        .args(["readers", "--json"])
        .output()
        .map_err(|e| e.to_string())?;
    let readers: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    if readers[0]["name"] != VIRTUAL_READER {
        return Err(format!("readers: {readers}").into());
    }
    Ok(())
}

/// A program holding the card exclusively, and a card pulled out mid-session, give errors
/// that say so.
fn sharing_violation_and_removed_card() -> Result<(), Failed> {
    let card = ServedCard::start()?;
    {
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| e.to_string())?;
        let name = std::ffi::CString::new(VIRTUAL_READER).map_err(|e| e.to_string())?;
        let _held = ctx
            .connect(&name, pcsc::ShareMode::Exclusive, pcsc::Protocols::ANY)
            .map_err(|e| e.to_string())?;
        let out = gbau_reader(&["info"])?;
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) || !err.contains("is in exclusive use by another program") {
            return Err(format!("exclusive holder: {err}").into());
        }
    }
    let mut t = PcscTransport::connect(VIRTUAL_READER, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    t.transmit(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00])
        .map_err(|e| e.to_string())?;
    drop(card);
    match t.transmit(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]) {
        Err(e) if e.to_string().contains("the card was removed") => Ok(()),
        other => Err(format!("after removal: {other:?}").into()),
    }
}

/// The network side with the card in the virtual reader: `gbau http GET` bootstraps over Ub
/// and gets the resource; a wrong PIN is refused; a BSF killed with -9 keeps the session;
/// a BSF that lost its sessions leads to a key update (with a resynchronisation from AUTS,
/// since its SQN counter starts again below the card's).
fn network_through_the_reader() -> Result<(), Failed> {
    let _card = ServedCard::start()?;
    let dir = support::net::setup();
    let mut bsf = support::net::start_bsf(&dir);
    let mut naf = support::net::start_naf(&dir, &bsf, "naf.example.org");
    let http = |pin: &str, naf: &support::net::Naf, bsf: &support::net::Bsf| {
        support::gbau()
            .env("HOME", &dir.0)
            .args([
                "--reader",
                VIRTUAL_READER,
                "--pin",
                pin,
                "http",
                "GET",
                &format!("{}resource", naf.url),
                "--bsf",
                &format!("{}/", bsf.ub),
                "--resolve",
                &naf.resolve,
                "--json",
            ])
            .output()
            .map_err(|e| Failed::from(e.to_string()))
    };
    let first = ok_json(http("1234", &naf, &bsf)?)?;
    if first["status"] != 200 || first["bootstraps"] != 1 {
        return Err(format!("first fetch: {first}").into());
    }
    let b_tid = first["b_tid"].as_str().unwrap_or_default().to_owned();
    let wrong = http("0000", &naf, &bsf)?;
    if wrong.status.code() != Some(1)
        || !String::from_utf8_lossy(&wrong.stderr).contains("wrong PIN1")
    {
        return Err(format!("wrong PIN: {}", String::from_utf8_lossy(&wrong.stderr)).into());
    }
    // The right PIN again resets the counter (two tries were left).
    ok_json(gbau_reader(&["info", "--json"])?)?;
    // kill -9 of the BSF: the session survives.
    drop(naf);
    drop(bsf);
    bsf = support::net::start_bsf(&dir);
    naf = support::net::start_naf(&dir, &bsf, "naf.example.org");
    let again = ok_json(http("1234", &naf, &bsf)?)?;
    if again["status"] != 200 || again["bootstraps"] != 0 || again["b_tid"] != b_tid.as_str() {
        return Err(format!("after a BSF kill -9 the session should still work: {again}").into());
    }
    // Sessions lost: key update, new B-TID.
    drop(naf);
    drop(bsf);
    std::fs::remove_dir_all(dir.path("data")).map_err(|e| e.to_string())?;
    bsf = support::net::start_bsf(&dir);
    naf = support::net::start_naf(&dir, &bsf, "naf.example.org");
    let updated = ok_json(http("1234", &naf, &bsf)?)?;
    if updated["status"] != 200
        || updated["key_update"] != true
        || updated["b_tid"] == b_tid.as_str()
    {
        return Err(format!("key update through the reader: {updated}").into());
    }
    drop(naf);
    drop(bsf);
    Ok(())
}

/// Seed 001 with the MT's card in the virtual reader: full and optimized procedures (timed),
/// stored-key check after an MT restart, two devices, an unauthorised Device_ID.
fn local_key_through_the_reader() -> Result<(), Failed> {
    let _card = ServedCard::start()?;
    let dir = support::net::setup();
    let bsf = support::net::start_bsf(&dir);
    let kc = support::net::start_key_center(&dir, &bsf);
    let card_args: Vec<String> = ["--reader", VIRTUAL_READER, "--pin", "1234"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut mt = support::net::start_mt_on(&dir, &bsf, &card_args);
    let establish_with = |mt: &support::net::MtProc,
                          kc_url: &str,
                          (cert, id): (&str, &str),
                          store: &str,
                          extra: &[&str]|
     -> Result<(serde_json::Value, Duration), Failed> {
        let t0 = std::time::Instant::now();
        let out =
            support::net::device_establish_with(&dir, &mt.addr, kc_url, cert, id, store, extra);
        let took = t0.elapsed();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
        Ok((
            serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?,
            took,
        ))
    };
    let establish = |mt: &support::net::MtProc, kc_url: &str, cert, id, store| {
        establish_with(mt, kc_url, (cert, id), store, &[])
    };
    let (full, t_full) = establish(&mt, &kc.url, "device-1", "device-1", "d1.json")?;
    let (opt, t_opt) = establish(&mt, &kc.url, "device-2", "device-2", "d2.json")?;
    if full["procedure"] != "full"
        || opt["procedure"] != "optimized"
        || full["ks_local_mt"] == opt["ks_local_mt"]
    {
        return Err(format!("procedures through the reader: {full} {opt}").into());
    }
    drop(mt);
    mt = support::net::start_mt_on(&dir, &bsf, &card_args);
    let (stored, t_stored) = establish(&mt, &kc.url, "device-1", "device-1", "d1.json")?;
    if stored["procedure"] != "stored" || stored["ks_local_mt"] != full["ks_local_mt"] {
        return Err(format!("stored key after an MT restart: {stored}").into());
    }
    if establish(&mt, &kc.url, "device-2", "device-3", "dx.json").is_ok() {
        return Err("an unauthorised Device_ID got a key".into());
    }
    // Garbage on the local interface: an error frame, and the MT keeps serving.
    {
        use gbau_host::local::{read_frame, write_frame, Answer};
        let mut s = std::os::unix::net::UnixStream::connect(mt.addr.trim_start_matches("unix:"))
            .map_err(|e| e.to_string())?;
        write_frame(&mut s, b"\xff\xfe").map_err(|e| e.to_string())?;
        let a: Answer = serde_json::from_slice(&read_frame(&mut s).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        if a.error.as_deref() != Some("malformed_frame") {
            return Err(format!("garbage answered {a:?}").into());
        }
    }
    // The BSF forgets the session: the device's next establishment needs a new bootstrap
    // and yields a new key.
    drop(kc);
    drop(bsf);
    std::fs::remove_dir_all(dir.path("data")).map_err(|e| e.to_string())?;
    let bsf = support::net::start_bsf(&dir);
    let kc = support::net::start_key_center(&dir, &bsf);
    drop(mt);
    mt = support::net::start_mt_on(&dir, &bsf, &card_args);
    let (renewed, _) = establish_with(
        &mt,
        &kc.url,
        ("device-2", "device-2"),
        "d2.json",
        &["--renew"],
    )?;
    if renewed["procedure"] != "full" || renewed["ks_local_mt"] == opt["ks_local_mt"] {
        return Err(format!("after the B-TID expired: {renewed}").into());
    }
    println!(
        "\n  local key establishment through the virtual reader: full {:.1} ms, optimized {:.1} ms, stored-key check {:.1} ms (whole gbau device process)",
        t_full.as_secs_f64() * 1e3,
        t_opt.as_secs_f64() * 1e3,
        t_stored.as_secs_f64() * 1e3
    );
    drop(mt);
    drop(kc);
    drop(bsf);
    Ok(())
}

fn repl_through_the_reader() -> Result<(), Failed> {
    let card = ServedCard::start()?;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gbau"));
    cmd.env("HOME", &card.dir.0).env("TERM", "xterm").args([
        "--reader",
        VIRTUAL_READER,
        "--pin",
        "1234",
        "shell",
    ]);
    let mut s = expectrl::Session::spawn(cmd).map_err(|e| e.to_string())?;
    s.set_expect_timeout(Some(Duration::from_secs(15)));
    let steps = [
        ("", "gbau shell on reader \"Virtual PCD 00 00\""),
        ("select EF_AD", "transparent EF 6FAD, 4 bytes"),
        ("verify_pin", "9000"),
        (
            "gba bootstrap 23553cbe9637a89d218ae64dae47bf35 55f328b43577b9b98c7f3f0d723fb244",
            "bootstrap ok: RES a54211d5e3ba50be",
        ),
        (
            "gba naf naf.example.org",
            "Ks_ext_NAF d3d5b418417eedfff77c5cce9b962bd62a6bbedbff2b309ab15cdc90882b18f2",
        ),
    ];
    for (line, want) in steps {
        if !line.is_empty() {
            s.send_line(line).map_err(|e| e.to_string())?;
        }
        s.expect(want)
            .map_err(|e| format!("after {line:?} expected {want:?}: {e}"))?;
    }
    s.send_line("exit").map_err(|e| e.to_string())?;
    Ok(())
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // One virtual reader slot: the trials run one after another.
    args.test_threads = Some(1);
    let mut trials: Vec<Trial> = SCRIPTS
        .iter()
        .map(|s| {
            Trial::test(
                format!(
                    "pcsc_script_{}",
                    s.trim_end_matches(".apdu").replace('-', "_")
                ),
                move || script_over_pcsc(s),
            )
        })
        .collect();
    trials.push(Trial::test(
        "pcsc_scan_sees_the_card",
        pcsc_scan_sees_the_card,
    ));
    trials.push(Trial::test(
        "scriptor_runs_the_gba_chain",
        scriptor_runs_the_chain,
    ));
    trials.push(Trial::test(
        "cli_commands_through_the_reader",
        cli_commands_through_the_reader,
    ));
    trials.push(Trial::test(
        "cli_run_every_script_through_the_reader",
        cli_run_every_script_through_the_reader,
    ));
    trials.push(Trial::test(
        "reader_errors_are_clear",
        reader_errors_are_clear,
    ));
    trials.push(Trial::test(
        "repl_through_the_reader",
        repl_through_the_reader,
    ));
    trials.push(Trial::test(
        "network_through_the_reader",
        network_through_the_reader,
    ));
    trials.push(Trial::test(
        "local_key_through_the_reader",
        local_key_through_the_reader,
    ));
    trials.push(Trial::test(
        "sharing_violation_and_removed_card",
        sharing_violation_and_removed_card,
    ));
    trials.push(Trial::test(
        "demo_through_the_virtual_reader_twice",
        demo_through_the_virtual_reader_twice,
    ));
    let pcscd = match Pcscd::ensure() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("virtual reader tests cannot run: {e}");
            return ExitCode::FAILURE;
        }
    };
    let conclusion = libtest_mimic::run(&args, trials);
    drop(pcscd);
    conclusion.exit_code()
}
