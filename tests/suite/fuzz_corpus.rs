//! The fuzz targets' corpora (tests/fuzz/corpus/<target>/: hand-made seeds, inputs the fuzzer
//! found interesting and any input that once failed) run through the same checks as
//! `cargo fuzz` (tests/fuzz/checks.rs), so every finding stays a regression test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no inputs", dir.display());
    files
}

/// Runs `check` on every input of `target`'s corpus; returns each file's name and result.
fn each<T>(target: &str, check: impl Fn(&[u8]) -> T) -> Vec<(String, T)> {
    corpus(target)
        .into_iter()
        .map(|file| {
            let bytes = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            match outcome {
                Ok(result) => (name, result),
                Err(_) => panic!("{} failed its check", file.display()),
            }
        })
        .collect()
}

/// The result for the seed called `name`.
fn seed<T: Clone>(results: &[(String, T)], name: &str) -> T {
    results
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no seed {name}"))
}

#[test]
fn idx_corpus() {
    let results = each("idx", checks::idx);
    for valid in ["images", "labels", "images.gz", "labels.gz"] {
        assert!(seed(&results, valid), "the seed {valid} parses");
    }
    // Only unsigned-byte IDX files hold images and labels: other element types are refused.
    assert!(!seed(&results, "int32"));
    assert!(!seed(&results, "float"));
}

#[test]
fn cifar_corpus() {
    let results = each("cifar", |bytes| checks::cifar(bytes, checks::scratch()));
    assert_eq!(seed(&results, "one"), Some(1));
    assert_eq!(seed(&results, "two"), Some(2));
    assert_eq!(seed(&results, "cut"), None, "a cut record is an error");
}

#[test]
fn config_corpus() {
    let results = each("config", checks::config);
    for valid in ["short.toml", "noise.toml", "model.toml", "saved.toml"] {
        assert!(seed(&results, valid), "the seed {valid} parses");
    }
}

#[test]
fn weights_corpus() {
    let results = each("weights", |bytes| checks::weights(bytes, checks::scratch()));
    assert_eq!(seed(&results, "small.safetensors"), 1);
    if results.iter().any(|(n, _)| n == "small.pth") {
        assert_eq!(seed(&results, "small.pth"), 1);
    }
}

#[test]
fn folder_corpus() {
    let results = each("folder", |bytes| checks::folder(bytes, checks::scratch()));
    assert_eq!(seed(&results, "two-classes"), Some(2));
    assert_eq!(seed(&results, "train-val"), Some(2));
    assert!(seed(&results, "hostile-names").is_some_and(|classes| classes >= 3));
    assert_eq!(seed(&results, "links-and-folders"), Some(2));
}
