//! Every conversation in `apdu-scripts/card/` against the in-process soft card (a fresh card
//! from `profiles/test-set-1.yaml` per script), one test per script.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use gbau_card::scripts::run_file;
use gbau_card::{Profile, SoftCard};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn run(script: &str) {
    let profile = Profile::load(&root().join("profiles/test-set-1.yaml")).expect("profile");
    let vars = profile.script_vars();
    let mut card = SoftCard::in_memory(profile).expect("card");
    let mut transmit = |raw: &[u8]| card.transmit(raw);
    let path = root().join("../apdu-scripts/card").join(script);
    if let Err(e) = run_file(&mut transmit, &path, vars) {
        panic!("{e}");
    }
}

macro_rules! script_tests {
    ($($name:ident => $file:literal,)*) => {
        $(#[test] fn $name() { run($file); })*
    };
}

script_tests! {
    select => "01-select.apdu",
    read_files => "02-read-files.apdu",
    pin_errors => "03-pin-errors.apdu",
    auth_3g => "04-auth-3g.apdu",
    gba_bootstrap => "05-gba-bootstrap.apdu",
    gba_replay => "06-gba-replay.apdu",
    gba_errors => "07-gba-errors.apdu",
    t0_behaviour => "08-t0-behaviour.apdu",
}
