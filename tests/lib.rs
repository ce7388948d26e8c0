//! Helpers shared by the cross-crate tests: loading the vector files under `vectors/` and
//! comparing a computed value with the file's, naming the field that differs.
#![allow(clippy::panic, clippy::expect_used)]

use std::path::PathBuf;

/// The project's `vectors/` directory.
#[must_use]
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("vectors")
}

/// Read and deserialize one vector file.
pub fn load_vectors<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid: {e}", path.display()))
}

/// Compare computed bytes with the expected hex of a vector field; the failure names the field.
pub fn check(field: &str, expected_hex: &str, got: &[u8]) {
    let expected = expected_hex.replace(' ', "").to_lowercase();
    let got = hex::encode(got);
    assert!(
        got == expected,
        "{field}: expected {expected}, computed {got}"
    );
}
