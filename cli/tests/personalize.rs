//! `gbau personalize` against the soft card in-process: the SJA2 layout personalized from a
//! profile becomes the card that profile describes (the GBA_U chain vector byte for byte),
//! the dry run writes nothing and masks keys, a card of another model is refused, and the
//! last ADM1 try is never spent.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use gbau_card::scripts::run_file;
use gbau_card::{Profile, SoftCard};
use gbau_host::personalize::{self, Options, PersonalizeError, Target};
use gbau_host::session::{CardOpts, Session};
use support::{gbau, repo, TempDir};

fn factory() -> PathBuf {
    repo().join("card-applet-sim/profiles/sja2-factory.yaml")
}

fn open(state: &Path, card_profile: &Path) -> Session {
    CardOpts {
        sim: Some(state.to_owned()),
        profile: Some(card_profile.to_owned()),
        pin: Some("1234".into()),
        ..CardOpts::default()
    }
    .open()
    .unwrap()
}

fn test_set_1() -> Profile {
    Profile::load(&support::profile()).unwrap()
}

fn opts(target: Target, write: bool, adm: &str) -> Options {
    Options {
        target,
        write,
        adm: Some(adm.into()),
        force: false,
        announce_adm_tries: None,
    }
}

#[test]
fn sja2_layout_personalized_from_a_profile_is_that_profiles_card() {
    let dir = TempDir::new("perso");
    let state = dir.path("card.json");
    let profile = test_set_1();
    {
        let mut s = open(&state, &factory());
        let report = personalize::run(
            Some(&mut s),
            &profile,
            &opts(Target::Sja2, true, "12345678"),
        )
        .unwrap();
        assert_eq!(report.recognised_as.as_deref(), Some("sysmoISIM-SJA2"));
        assert_eq!(report.adm1_tries_left, Some(3));
        assert!(report.read_back.as_deref().unwrap().starts_with("all "));
        let keys = report.key_check.as_deref().unwrap();
        assert!(keys.contains("match"), "{keys}");
        assert!(report.gba.as_deref().unwrap().contains("GBA_U"));
        assert!(report
            .steps
            .iter()
            .all(|s| s.outcome.as_deref() == Some("ok")));
        let json = serde_json::to_string(&report).unwrap();
        for secret in [
            "465b5ce8b199b49faa5f0a2ee238a6bc",
            "cd63cb71954a9f4e48a5994e37a02baf",
        ] {
            assert!(
                !json.to_lowercase().contains(secret),
                "a key leaked into the report"
            );
        }
    }
    // The same profile, the same card: everything `gbau info` reads (ICCID, IMSI, IMPI, the
    // ISIM's IMPI, services, GBA context, GBA files, NAF Key Centers) equals what the soft
    // card made directly from test-set-1 shows.
    let info = |state: &Path, card_profile: &Path| {
        let mut s = open(state, card_profile);
        let mut v = serde_json::to_value(gbau_host::cmd::info(&mut s).unwrap()).unwrap();
        for k in ["card", "atr", "model"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let mut personalized = info(&state, &factory());
    let mut direct = info(&dir.path("direct.json"), &support::profile());
    // Except the ICCID: an SJA2 never lets it be updated (tied to the card OS licence), so it
    // keeps its factory value and personalize says so.
    let take = |v: &mut serde_json::Value| v.as_object_mut().unwrap().remove("iccid").unwrap();
    assert_eq!(take(&mut personalized), "8988211000000000999");
    assert_eq!(take(&mut direct), "8988211000000000003");
    assert_eq!(personalized, direct);
    assert_eq!(personalized["imsi"], "001010000000001");
    assert_eq!(
        personalized["isim_impi"],
        "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
    );
    // The card, reopened from its state file (its factory profile is only its birth
    // certificate now), answers the GBA_U chain of test-set-1 byte for byte.
    let factory_profile = Profile::load(&factory()).unwrap();
    let mut card = SoftCard::open(factory_profile, &state).unwrap();
    let mut transmit = |raw: &[u8]| card.transmit(raw);
    for script in [
        "common/select-usim.apdu",
        "common/verify-pin1.apdu",
        "hardware/gba-u-chain.apdu",
    ] {
        run_file(
            &mut transmit,
            &repo().join("apdu-scripts").join(script),
            profile.script_vars(),
        )
        .unwrap();
    }
}

#[test]
fn dry_run_sends_no_write_and_masks_keys() {
    let dir = TempDir::new("perso-dry");
    let state = dir.path("card.json");
    let before = {
        let _ = open(&state, &factory());
        std::fs::read(&state).ok()
    };
    let mut s = open(&state, &factory());
    let report = personalize::run(
        Some(&mut s),
        &test_set_1(),
        &opts(Target::Sja2, false, "12345678"),
    )
    .unwrap();
    drop(s);
    assert!(report.dry_run);
    assert!(report.steps.iter().all(|s| s.outcome.is_none()));
    assert!(report.steps.iter().any(|s| s.command.contains("‹k›")));
    assert!(report.steps.iter().any(|s| s.command.contains("‹adm1›")));
    let text = report.to_string();
    assert!(!text
        .to_lowercase()
        .contains("465b5ce8b199b49faa5f0a2ee238a6bc"));
    assert!(text.contains("ADM1          3 tries left"), "{text}");
    // Nothing the card keeps changed (the state file is written only on change).
    assert_eq!(std::fs::read(&state).ok(), before);
}

#[test]
fn wrong_model_is_refused_before_anything_is_sent() {
    let dir = TempDir::new("perso-model");
    // The standard soft card is not an SJA2; the SJA2 layout is not an SJS1.
    let mut s = open(&dir.path("a.json"), &support::profile());
    let e = personalize::run(
        Some(&mut s),
        &test_set_1(),
        &opts(Target::Sja2, true, "12345678"),
    )
    .unwrap_err();
    assert!(matches!(e, PersonalizeError::WrongModel { .. }), "{e}");
    assert!(e.to_string().contains("gbau soft card"), "{e}");
    let mut s = open(&dir.path("b.json"), &factory());
    let e = personalize::run(
        Some(&mut s),
        &test_set_1(),
        &opts(Target::Sjs1, true, "12345678"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("sysmoISIM-SJA2"), "{e}");
}

#[test]
fn the_last_adm_try_is_never_spent() {
    let dir = TempDir::new("perso-adm");
    let state = dir.path("card.json");
    let profile = test_set_1();
    let mut s = open(&state, &factory());
    // Without --adm a sysmo card is refused before anything is presented: the tries stay 3.
    let no_adm = Options {
        adm: None,
        ..opts(Target::Sja2, true, "")
    };
    let e = personalize::run(Some(&mut s), &profile, &no_adm).unwrap_err();
    assert!(matches!(e, PersonalizeError::AdmMissing), "{e}");
    let dry = Options {
        adm: None,
        ..opts(Target::Sja2, false, "")
    };
    let report = personalize::run(Some(&mut s), &profile, &dry).unwrap();
    assert_eq!(report.adm1_tries_left, Some(3), "nothing was presented");
    let e = personalize::run(
        Some(&mut s),
        &profile,
        &opts(Target::Sja2, true, "87654321"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("wrong ADM1: 2 tries left"), "{e}");
    // Fewer than 3 tries left: refused unless --force, like sysmo-usim-tool.
    let e = personalize::run(
        Some(&mut s),
        &profile,
        &opts(Target::Sja2, true, "87654321"),
    )
    .unwrap_err();
    assert!(
        matches!(e, PersonalizeError::FewerAdmTries { left: 2 }),
        "{e}"
    );
    let forced = |adm: &str| Options {
        force: true,
        ..opts(Target::Sja2, true, adm)
    };
    let e = personalize::run(Some(&mut s), &profile, &forced("87654321")).unwrap_err();
    assert!(e.to_string().contains("wrong ADM1: 1 tries left"), "{e}");
    // The last try is never spent, not even with --force.
    let e = personalize::run(Some(&mut s), &profile, &forced("12345678")).unwrap_err();
    assert!(matches!(e, PersonalizeError::LastAdmTry(1)), "{e}");
    // A dry run still shows the count, without spending it.
    let report = personalize::run(
        Some(&mut s),
        &profile,
        &opts(Target::Sja2, false, "12345678"),
    )
    .unwrap();
    assert_eq!(report.adm1_tries_left, Some(1));
}

#[test]
fn soft_card_personalization_proves_its_keys() {
    let dir = TempDir::new("perso-soft");
    let mut s = open(&dir.path("a.json"), &support::profile());
    let report = personalize::run(
        Some(&mut s),
        &test_set_1(),
        &opts(Target::Soft, true, "12345678"),
    )
    .unwrap();
    assert!(report.key_check.as_deref().unwrap().contains("match"));
    // A standard soft card with other keys: the files are written, the key check says so.
    let mut other = test_set_1();
    other.k = gbau_core::secret::K::new([0x42; 16]);
    let e =
        personalize::run(Some(&mut s), &other, &opts(Target::Soft, true, "12345678")).unwrap_err();
    assert!(e.to_string().contains("not the profile's"), "{e}");
}

#[test]
fn cli_dry_run_without_a_card_prints_the_masked_plan() {
    for (model, must) in [
        ("sja2", "AF 20"),
        ("sja5", "AF 30"),
        ("sjs1", "7F CC"),
        ("soft", "6F 38"),
    ] {
        let out = gbau()
            .args(["personalize", "--card", model, "--profile"])
            .arg(support::profile())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{model}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(must), "{model}: no {must} in\n{text}");
        assert!(text.contains("DRY RUN"));
        assert!(!text
            .to_lowercase()
            .contains("465b5ce8b199b49faa5f0a2ee238a6bc"));
    }
    let out = gbau()
        .args(["personalize", "--card", "sjs1", "--json", "--profile"])
        .arg(support::profile())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["gba"].as_str().unwrap().contains("GBA_ME"));
    // Usage errors: no profile, a bad ADM.
    let out = gbau()
        .args(["personalize", "--card", "sja2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = gbau()
        .args(["personalize", "--card", "sja2", "--adm", "12", "--profile"])
        .arg(support::profile())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ADM1"));
    // test-set-1's Δ (2^44 SEQ steps, for the chain vector) does not fit the SJA2's SQN file.
    let out = gbau()
        .args(["personalize", "--card", "sja2", "--json", "--profile"])
        .arg(support::profile())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["notes"]
            .to_string()
            .contains("written as the largest value"),
        "{v}"
    );
}

#[test]
fn cli_shows_what_was_sent_when_it_stops() {
    let dir = TempDir::new("perso-cli");
    let out = gbau()
        .args([
            "personalize",
            "--card",
            "sja2",
            "--write",
            "--adm",
            "87654321",
            "--sim",
        ])
        .arg(dir.path("card.json"))
        .arg("--profile")
        .arg(factory())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("ADM1          3 tries left"), "{stdout}");
    assert!(
        stdout.contains("> 00 20 00 0A 08 ‹adm1›  [got 63 C2]"),
        "{stdout}"
    );
    assert!(
        stderr.contains("wrong ADM1: 2 tries left; nothing was written"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("3837363534333231"),
        "the ADM value is never shown"
    );
}

#[test]
fn sjs1_personalized_from_a_profile_runs_gba_me() {
    let dir = TempDir::new("perso-sjs1");
    let state = dir.path("card.json");
    let sjs1 = repo().join("card-applet-sim/profiles/sjs1-factory.yaml");
    let profile = test_set_1();
    {
        let mut s = open(&state, &sjs1);
        let report = personalize::run(
            Some(&mut s),
            &profile,
            &opts(Target::Sjs1, true, "12345678"),
        )
        .unwrap();
        assert_eq!(report.recognised_as.as_deref(), Some("sysmoUSIM-SJS1"));
        assert!(report.key_check.as_deref().unwrap().contains("match"));
        assert!(report.gba.as_deref().unwrap().contains("GBA_ME"));
    }
    let mut s = open(&state, &sjs1);
    let info = gbau_host::cmd::info(&mut s).unwrap();
    assert_eq!(info.imsi, "001010000000001");
    assert_eq!(info.iccid, "8988211000000000003");
    // The profile asks for services 68 and 76; on an SJS1 they stay off, so the MT runs GBA_ME.
    assert!(!info.services.gba && !info.services.gba_local_key_establishment);
    assert!(
        info.gba_context.starts_with("not supported"),
        "{}",
        info.gba_context
    );
    assert!(info.model.starts_with("sysmoUSIM-SJS1"), "{}", info.model);
}

/// The soft card's conformance scripts pass on an emulated SJA2 personalized from the same
/// profile (each on a freshly personalized card, as each expects a fresh card) — all but
/// the ones that assume the soft card's own file sizes, which the SJA2 (as dumped) does not
/// have: 05 writes the chain's 62-byte B-TID and its lifetime into EF_GBABP, which is 64
/// bytes on an SJA2 (RAND, B-TID and lifetime need 101); 02 expects the soft card's EF_NAFKCA
/// of one 64-byte record (the SJA2's is 2 x 32); 01 reads the profile's ICCID, which an SJA2
/// never takes.
#[test]
fn personalized_sja2_passes_the_soft_cards_conformance_scripts() {
    let profile = test_set_1();
    let mut failures = Vec::new();
    let sja2_differs = [
        "01-select.apdu",
        "02-read-files.apdu",
        "05-gba-bootstrap.apdu",
    ];
    for entry in std::fs::read_dir(repo().join("apdu-scripts/card")).unwrap() {
        let script = entry.unwrap().path();
        if sja2_differs.iter().any(|n| script.ends_with(n)) {
            continue;
        }
        let dir = TempDir::new("perso-conf");
        let state = dir.path("card.json");
        {
            let mut s = open(&state, &factory());
            personalize::run(
                Some(&mut s),
                &profile,
                &opts(Target::Sja2, true, "12345678"),
            )
            .unwrap();
        }
        // A fresh session: personalization leaves ADM1 and PIN1 verified.
        let mut card = SoftCard::open(Profile::load(&factory()).unwrap(), &state).unwrap();
        card.reset();
        let mut transmit = |raw: &[u8]| card.transmit(raw);
        if let Err(e) = run_file(&mut transmit, &script, profile.script_vars()) {
            failures.push(format!("{}: {e}", script.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The plan for an SJA2/SJA5 never touches EF_ICCID or AF31-AF33 (no access on real cards),
/// writes EF.USIM_SQN with flag2 03, puts the key and SQN files after every other write, and
/// writes the ISIM's own AF20/AF30 when there is an ISIM.
#[test]
fn sja_plans_leave_iccid_and_gba_files_alone_and_write_flag2_03() {
    for target in [Target::Sja2, Target::Sja5] {
        let report =
            personalize::run(None, &test_set_1(), &opts(target, false, "12345678")).unwrap();
        let commands: Vec<&str> = report.steps.iter().map(|s| s.command.as_str()).collect();
        for forbidden in ["2F E2", "AF 31", "AF 32", "AF 33"] {
            assert!(
                !commands.iter().any(|c| c.contains(forbidden)),
                "{target:?}: the plan selects {forbidden}"
            );
        }
        let sqn_writes: Vec<&&str> = commands
            .iter()
            .filter(|c| c.starts_with("00 D6 00 00 CE"))
            .collect();
        assert_eq!(sqn_writes.len(), 2, "USIM and ISIM AF30: {commands:?}");
        for w in &sqn_writes {
            let data: String = w.split_whitespace().skip(5).collect();
            assert_eq!(&data[2..4], "03", "flag2 in {w}");
        }
        // The writing part: up to the last UPDATE (the read-back follows).
        let last_write = commands
            .iter()
            .rposition(|c| c.starts_with("00 D6") || c.starts_with("00 DC"))
            .unwrap();
        let writes = &commands[..=last_write];
        let first_key_write = writes
            .iter()
            .position(|c| c.contains("AF 20") || c.contains("6F 21"))
            .unwrap();
        let last_identity_write = writes
            .iter()
            .rposition(|c| c.contains("6F DD") || c.contains("6F 38"))
            .unwrap();
        assert!(
            last_identity_write < first_key_write,
            "identity, service and GBA files come before the key files"
        );
    }
}

/// An emulated SJA5 as delivered (EF_AD 01 00 08 02 FF in ADF.USIM, 00 00 00 02 in DF.GSM):
/// personalized end to end — only the MNC-length nibble changes in both EF_ADs, DF.GSM's
/// IMSI follows ADF.USIM's, the ICCID is left with a note, the keys are proved.
#[test]
fn sja5_as_delivered_personalizes_end_to_end() {
    let dir = TempDir::new("perso-sja5");
    let state = dir.path("card.json");
    let factory = repo().join("card-applet-sim/profiles/sja5-factory.yaml");
    let text = std::fs::read_to_string(support::profile())
        .unwrap()
        .replace("mnc_length: 2", "mnc_length: 3");
    let profile = Profile::from_yaml(&text).unwrap();
    let mut s = open(&state, &factory);
    let report = personalize::run(
        Some(&mut s),
        &profile,
        &opts(Target::Sja5, true, "12345678"),
    )
    .unwrap();
    assert_eq!(report.recognised_as.as_deref(), Some("sysmoISIM-SJA5"));
    assert!(report.key_check.as_deref().unwrap().contains("match"));
    let notes = report.notes.join("\n");
    assert!(
        notes.contains("EF_ICCID is left as the card has it"),
        "{notes}"
    );
    assert!(notes.contains("DF.GSM/EF_IMSI: written"), "{notes}");
    assert!(notes.contains("DF.GSM/EF_AD: written"), "{notes}");
    drop(s);
    let mut card = SoftCard::open(Profile::load(&factory).unwrap(), &state).unwrap();
    let mut read = |apdus: &[&str]| {
        let mut last = Vec::new();
        for a in apdus {
            last = card
                .transmit(&hex::decode(a.replace(' ', "")).unwrap())
                .unwrap();
        }
        last
    };
    read(&["0020000A083132333435363738"]);
    let usim_ad = read(&["00A4040C07A0000000871002", "00A4000C026FAD", "00B0000005"]);
    assert_eq!(hex::encode(&usim_ad), "01000803ff9000");
    let gsm_ad = read(&[
        "00A4000C023F00",
        "00A4000C027F20",
        "00A4000C026FAD",
        "00B0000004",
    ]);
    assert_eq!(hex::encode(&gsm_ad), "000000039000");
    let gsm_imsi = read(&[
        "00A4000C023F00",
        "00A4000C027F20",
        "00A4000C026F07",
        "00B0000009",
    ]);
    assert_eq!(
        hex::encode(&gsm_imsi[..9]),
        hex::encode(gbau_core::ef::encode_imsi(&profile.imsi))
    );
}
