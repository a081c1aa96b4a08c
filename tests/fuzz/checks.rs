//! What every fuzz target checks, as plain functions of the input bytes: the libFuzzer targets in
//! fuzz_targets/ call them, and `tests/suite/fuzz_corpus.rs` runs them over the committed corpora (seeds
//! and regression inputs) in the ordinary test suite.
//!
//! Each function may return an error or nothing; what it must not do is panic, hang or allocate
//! without bound, and a successful parse must be self-consistent.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::LazyLock;

use cnn_workbench::data::{self, DatasetSource, InputFormat, idx};
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::model::weights;

/// A scratch folder for the checks that write files, one per process.
pub fn scratch() -> &'static Path {
    static DIR: LazyLock<tempfile::TempDir> =
        LazyLock::new(|| tempfile::tempdir().expect("a temporary folder"));
    DIR.path()
}

/// IDX bytes, raw or gzip: a parsed array's payload matches its header. Whether it parsed.
pub fn idx(bytes: &[u8]) -> bool {
    let Ok(array) = idx::parse(bytes, "fuzz") else {
        return false;
    };
    let count = array.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    assert_eq!(count, Some(array.data.len()), "payload and header disagree");
    true
}

/// A CIFAR-10 training batch of any bytes in `dir`, beside a valid test batch: a loaded set
/// holds one whole 3×32×32 image per 3,073-byte record. The training images loaded, if any.
pub fn cifar(bytes: &[u8], dir: &Path) -> Option<usize> {
    let test = dir.join("test_batch.bin");
    if !test.exists() {
        let record: Vec<u8> = std::iter::once(3u8)
            .chain((0..3072).map(|i| i as u8))
            .collect();
        std::fs::write(&test, record).expect("the test batch");
    }
    std::fs::write(dir.join("data_batch_1.bin"), bytes).expect("the training batch");
    let source = DatasetSource::Cifar10 {
        path: dir.to_owned(),
    };
    let loaded = data::load(&source, InputFormat::default());
    data::evict(&source);
    let set = loaded.ok()?;
    assert_eq!(set.train.pixels.len(), set.train.len() * 3 * 32 * 32);
    assert_eq!(set.train.len(), bytes.len() / 3073);
    Some(set.train.len())
}

/// Experiment TOML of any text: a parsed config writes back and parses to the same text.
/// Whether it parsed.
pub fn config(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    match ExperimentConfig::parse(&text) {
        Ok(config) => {
            let again = config.to_toml().expect("a parsed config writes back");
            let reparsed = ExperimentConfig::parse(&again).expect("and parses again");
            // Compared as text: NaN fields are equal there.
            assert_eq!(again, reparsed.to_toml().expect("writes back again"));
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

/// Weight files of any bytes, written to files in `dir` and read as PyTorch `.pth` (zip, legacy
/// or tar container with a pickle that is interpreted, never executed) and as safetensors, every
/// value included: a tensor read holds as many values as its shape says, and a file that can be
/// read whole can be inspected. How many of the two readers accepted it.
pub fn weights(bytes: &[u8], dir: &Path) -> usize {
    let mut accepted = 0;
    for name in ["w.pth", "w.safetensors"] {
        let file = dir.join(name);
        std::fs::write(&file, bytes).expect("the weight file");
        let inspected = weights::inspect(&file);
        match weights::read_values(&file) {
            Ok(tensors) => {
                accepted += 1;
                assert!(inspected.is_ok(), "read whole but not inspected");
                for tensor in &tensors {
                    let count = tensor
                        .shape
                        .iter()
                        .try_fold(1usize, |n, &d| n.checked_mul(d));
                    assert_eq!(
                        count,
                        Some(tensor.values.len()),
                        "values and shape disagree"
                    );
                }
            }
            Err(e) => assert!(
                e.to_string().contains(name),
                "the message names the file: {e}"
            ),
        }
    }
    accepted
}

/// An image folder described by `bytes`, written under `dir/data` and loaded. The bytes are
/// NUL-separated records; each record is a kind byte, two parameter bytes (none of the three can
/// be zero, as a zero byte ends the record) and a relative path
/// `class/file` or `class/nested/file` whose names may hold any bytes but `/` and NUL (not
/// UTF-8, line breaks, leading dots, 255 bytes, `train`/`val`). Kind (mod 5): 0 a PNG (side and
/// RGB from the first parameter, shade from the second), 1 junk (the record itself), 2 an empty
/// file, 3 a folder, 4 a symbolic link to the dataset's root. A loaded set is self-consistent.
/// The classes loaded, if it loaded.
pub fn folder(bytes: &[u8], dir: &Path) -> Option<usize> {
    let root = dir.join("data");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("the dataset folder");
    for record in bytes.split(|&b| b == 0).take(64) {
        let [kind, a, b, path @ ..] = record else {
            continue;
        };
        let names: Vec<&[u8]> = path.split(|&c| c == b'/').collect();
        if names.len() < 2 || names.len() > 3 || names.iter().any(|n| !valid_name(n)) {
            continue;
        }
        let mut file = root.clone();
        for name in &names {
            file.push(OsStr::from_bytes(name));
        }
        let Some(parent) = file.parent() else {
            continue;
        };
        let _ = std::fs::create_dir_all(parent);
        let _ = match kind % 5 {
            0 => {
                let side = u32::from(a % 40) + 1;
                let saved = if a & 0x80 != 0 {
                    image::RgbImage::from_pixel(side, side, image::Rgb([*b, 255 - b, 9]))
                        .save_with_format(&file, image::ImageFormat::Png)
                } else {
                    image::GrayImage::from_pixel(side, side, image::Luma([*b]))
                        .save_with_format(&file, image::ImageFormat::Png)
                };
                saved.map_err(std::io::Error::other)
            }
            1 => std::fs::write(&file, record),
            2 => std::fs::write(&file, b""),
            3 => std::fs::create_dir_all(&file),
            _ => std::os::unix::fs::symlink(&root, &file),
        };
    }
    let source = DatasetSource::Folder { path: root.clone() };
    let loaded = data::load(&source, InputFormat::default());
    data::evict(&source);
    let set = loaded.ok()?;
    assert_eq!(set.train.pixels.len(), set.train.len() * set.image_len());
    assert_eq!(set.class_names.len(), set.num_classes());
    assert!(
        set.train
            .labels
            .iter()
            .all(|&l| usize::from(l) < set.num_classes())
    );
    Some(set.num_classes())
}

/// A file-system name: not empty, `.` or `..`, at most 255 bytes.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && name.len() <= 255
}
