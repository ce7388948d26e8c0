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
    let personalized = info(&state, &factory());
    let direct = info(&dir.path("direct.json"), &support::profile());
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
    run_file(
        &mut transmit,
        &repo().join("apdu-scripts/card/05-gba-bootstrap.apdu"),
        profile.script_vars(),
    )
    .unwrap();
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
    let e = personalize::run(
        Some(&mut s),
        &profile,
        &opts(Target::Sja2, true, "87654321"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("wrong ADM1: 2 tries left"), "{e}");
    let e = personalize::run(
        Some(&mut s),
        &profile,
        &opts(Target::Sja2, true, "87654321"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("wrong ADM1: 1 tries left"), "{e}");
    let e = personalize::run(
        Some(&mut s),
        &profile,
        &opts(Target::Sja2, true, "12345678"),
    )
    .unwrap_err();
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
    assert_eq!(info.iccid, "8988211000000000001");
    // The profile asks for services 68 and 76; on an SJS1 they stay off, so the MT runs GBA_ME.
    assert!(!info.services.gba && !info.services.gba_local_key_establishment);
    assert!(
        info.gba_context.starts_with("not supported"),
        "{}",
        info.gba_context
    );
    assert!(info.model.starts_with("sysmoUSIM-SJS1"), "{}", info.model);
}

/// Every conformance script of the soft card passes on an emulated SJA2 personalized from the
/// same profile (each on a freshly personalized card, as each expects a fresh card).
#[test]
fn personalized_sja2_passes_the_soft_cards_conformance_scripts() {
    let profile = test_set_1();
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(repo().join("apdu-scripts/card")).unwrap() {
        let script = entry.unwrap().path();
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
