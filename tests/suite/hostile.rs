//! Hostile files: valid IDX, CIFAR, weights and config files with random bytes changed, cut or
//! added, and folders with hostile file names. Every one must load or give an error; none may
//! panic, hang or allocate what its header claims without checking it against the file.
//!
//! Each property runs 256 cases by default; `PROPTEST_CASES=20000 cargo test --release --test
//! hostile` runs a longer search.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::io::Write;
use std::path::Path;

use cnn_workbench::data::{self, DatasetSource, InputFormat, idx};
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::model::weights;
use proptest::prelude::*;

/// Up to 8 byte changes, then an optional cut and an optional tail of junk.
fn mutations() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>, Vec<u8>)> {
    (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        proptest::option::of(any::<usize>()),
        proptest::collection::vec(any::<u8>(), 0..4),
    )
}

fn mutate(
    bytes: &[u8],
    (edits, cut, tail): &(Vec<(usize, u8)>, Option<usize>, Vec<u8>),
) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for &(at, value) in edits {
        if !out.is_empty() {
            let i = at % out.len();
            out[i] = value;
        }
    }
    if let Some(cut) = cut {
        out.truncate(cut % (out.len() + 1));
    }
    out.extend_from_slice(tail);
    out
}

fn idx_file(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Six 4×4 images of three classes, as IDX images and labels.
fn idx_pair() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..6 * 16).map(|i| (i * 7 % 256) as u8).collect();
    (
        idx_file(&[6, 4, 4], &pixels),
        idx_file(&[6], &[0, 1, 2, 0, 1, 2]),
    )
}

/// Writes an MNIST-style folder and loads it (uncached: every case has its own folder).
fn load_idx(dir: &Path, images: &[u8], labels: &[u8]) -> Result<(), String> {
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).unwrap();
    let source = DatasetSource::Idx {
        path: dir.to_owned(),
    };
    data::load(&source, InputFormat::default())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Three CIFAR-10 records (label byte + 3×32×32 pixels).
fn cifar_batch() -> Vec<u8> {
    (0..3u8)
        .flat_map(|k| std::iter::once(k).chain((0..3072).map(move |i| (i as u8) ^ k)))
        .collect()
}

proptest! {
    #[test]
    fn mutated_idx_bytes_parse_or_fail(m in mutations(), compress in any::<bool>()) {
        let (images, _) = idx_pair();
        let bytes = if compress { gzip(&images) } else { images };
        let hostile = mutate(&bytes, &m);
        if let Ok(array) = idx::parse(&hostile, "train-images") {
            let count: usize = array.dims.iter().product();
            prop_assert_eq!(count, array.data.len(), "the payload fits the header");
        }
    }

    #[test]
    fn mutated_idx_folders_load_or_fail(m in mutations(), labels_too in any::<bool>()) {
        let tmp = tempfile::tempdir().unwrap();
        let (images, labels) = idx_pair();
        let (images, labels) = if labels_too {
            (images, mutate(&labels, &m))
        } else {
            (mutate(&images, &m), labels)
        };
        // Ok or a message; what matters is no panic and no runaway allocation.
        let _ = load_idx(tmp.path(), &images, &labels);
    }

    #[test]
    fn mutated_cifar_batches_load_or_fail(m in mutations()) {
        let tmp = tempfile::tempdir().unwrap();
        let batch = mutate(&cifar_batch(), &m);
        std::fs::write(tmp.path().join("data_batch_1.bin"), &batch).unwrap();
        std::fs::write(tmp.path().join("test_batch.bin"), cifar_batch()).unwrap();
        let source = DatasetSource::Cifar10 { path: tmp.path().to_owned() };
        if let Ok(data) = data::load(&source, InputFormat::default()) {
            prop_assert_eq!(data.train.pixels.len(), data.train.len() * 3 * 32 * 32);
        }
    }

    #[test]
    fn mutated_configs_parse_or_fail(m in mutations()) {
        let mut config = ExperimentConfig::default();
        config.dataset.label_noise = 0.1;
        let text = config.to_toml().unwrap();
        let hostile = mutate(text.as_bytes(), &m);
        if let Ok(text) = String::from_utf8(hostile) {
            let _ = ExperimentConfig::parse(&text);
        }
    }
}

proptest! {
    // The weight fixtures are a few hundred KB: fewer cases keep this quick.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn mutated_weight_files_load_or_fail(m in mutations(), format in 0..3u8) {
        let name = ["resnet18_w4.pth", "resnet18_w4_legacy.pth", "resnet18_w4.safetensors"]
            [usize::from(format)];
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resnet").join(name);
        let bytes = mutate(&std::fs::read(fixture).unwrap(), &m);
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join(name);
        std::fs::write(&file, &bytes).unwrap();
        let _ = weights::inspect(&file);
        // Every value read: storages cut short or pointing past the end are errors too.
        if let Ok(tensors) = weights::read_values(&file) {
            for t in tensors {
                prop_assert_eq!(t.shape.iter().product::<usize>(), t.values.len(), "{}", t.name);
            }
        }
    }
}

#[test]
fn headers_claiming_huge_sizes_are_refused_without_allocating() {
    // 4 billion images of 4 billion × 4 billion pixels, with no payload.
    let huge = idx_file(&[u32::MAX, u32::MAX, u32::MAX], &[]);
    let err = idx::parse(&huge, "train-images").unwrap_err().to_string();
    assert!(err.contains("train-images"), "{err}");
    let err = idx::parse(&gzip(&huge), "train-images")
        .unwrap_err()
        .to_string();
    assert!(err.contains("train-images"), "{err}");
    // A zero dimension and a payload: the sizes disagree.
    let odd = idx_file(&[0, 4, 4], &[1, 2, 3]);
    assert!(idx::parse(&odd, "x").is_err());
}

#[cfg(unix)]
#[test]
fn folders_with_hostile_names_load_and_keep_the_names_readable() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let tmp = tempfile::tempdir().unwrap();
    let png = |path: &Path| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::from_pixel(6, 6, image::Luma([90]))
            .save_with_format(path, image::ImageFormat::Png)
            .unwrap();
    };
    let classes = [
        OsStr::from_bytes(b"caf\xe9"), // Latin-1, not UTF-8
        OsStr::new("line\nbreak"),
        OsStr::new(" spaced out "),
    ];
    let long = "x".repeat(200);
    for class in classes {
        let dir = tmp.path().join(class);
        png(&dir.join("a.png"));
        png(&dir.join(OsStr::from_bytes(b"\xff\xfe.png")));
        png(&dir.join(".hidden.png"));
        png(&dir.join(format!("{long}.png")));
        std::fs::write(dir.join("not-an-image.png"), b"<html>").unwrap();
        std::fs::write(dir.join("empty.png"), b"").unwrap();
    }
    let source = DatasetSource::Folder {
        path: tmp.path().to_owned(),
    };
    let data = data::load(&source, InputFormat::default()).unwrap();
    assert_eq!(data.num_classes(), 3);
    assert!(
        data.train.len() >= 3 * 3,
        "the good images load: {}",
        data.train.len()
    );
    assert!(
        data.skipped.len() >= 3 * 2,
        "the bad ones are listed: {:?}",
        data.skipped
    );
    for name in &data.class_names {
        assert!(!name.is_empty());
    }
    assert!(
        data.class_names.iter().any(|n| n.starts_with("caf")),
        "{:?}",
        data.class_names
    );
}
