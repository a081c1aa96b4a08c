//! Image folders left on disk: indexed without decoding, read per sample through a bounded
//! cache, trained exactly as in memory; files that break or change mid-run are listed, not fatal.

use std::path::Path;
use std::process::Command;

use cnn_workbench::augment::crop::{CropConfig, EvalCrop, TrainCrop};
use cnn_workbench::data::{self, DatasetSource, InMemory, InputFormat, Part};
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::train::message::RunStatus;

/// Classes `a` and `b`, `count` images each, alternately PNG and JPEG, of varied sizes and
/// content (class `b` has a bright square the network can find).
fn slides(root: &Path, count: usize) -> DatasetSource {
    for (c, class) in ["a", "b"].into_iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..count {
            let (w, h) = if i % 3 == 0 { (96, 64) } else { (120, 80) };
            let image = image::RgbImage::from_fn(w, h, |x, y| {
                let base = ((x * 3 + y * 5 + i as u32 * 11) % 90) as u8;
                let spot = c == 1 && (20..40).contains(&x) && (20..40).contains(&y);
                if spot {
                    image::Rgb([240, 230, 220])
                } else {
                    image::Rgb([base, base / 2 + 40, 90 - base / 3])
                }
            });
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            image.save(dir.join(format!("{i:02}.{ext}"))).unwrap();
        }
    }
    DatasetSource::Folder {
        path: root.to_owned(),
    }
}

fn workbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cnn-workbench"))
        .args(args)
        .output()
        .unwrap()
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

/// A metrics row without its two timing columns.
fn cut_times(line: &str) -> String {
    line.split(',').take(6).collect::<Vec<_>>().join(",")
}

#[test]
fn a_folder_on_disk_holds_the_same_pixels_and_trains_exactly_as_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let source = slides(&tmp.path().join("slides"), 10);
    let format = |in_memory| InputFormat {
        native: true,
        keep_aspect: true,
        in_memory,
        ..InputFormat::default()
    };
    let memory = data::load(&source, format(InMemory::Yes)).unwrap();
    let disk = data::load(&source, format(InMemory::No)).unwrap();
    assert!(!memory.on_disk() && disk.on_disk());
    assert_eq!((disk.width, disk.height, disk.channels), (120, 80, 3));
    assert_eq!(disk.train.len(), 20);
    assert!(disk.train.pixels.is_empty(), "nothing decoded at indexing");
    assert_eq!(disk.source_format, memory.source_format);
    for i in 0..20 {
        assert_eq!(
            &*disk.image(Part::Train, i),
            &*memory.image(Part::Train, i),
            "image {i}"
        );
    }
    // Automatic: 20 small images fit in memory.
    assert!(
        !data::load(&source, format(InMemory::Auto))
            .unwrap()
            .on_disk()
    );

    // The same run from the command line, in memory and on disk: the same numbers.
    let root = tmp.path().join("slides");
    let train = |choice: &str| {
        let out = tmp.path().join(format!("run-{choice}"));
        let output = workbench(&[
            "train",
            "--dataset",
            &format!("folder:{}", root.display()),
            "--input-size",
            "32",
            "--train-crop",
            "random",
            "--eval-crop",
            "tiles",
            "--keep-aspect",
            "--data-in-memory",
            choice,
            "--data-cache-mb",
            "1",
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        out
    };
    let (in_memory, on_disk) = (train("yes"), train("no"));
    let rows = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(cut_times)
            .collect()
    };
    assert_eq!(rows(&in_memory).len(), 3);
    assert_eq!(rows(&in_memory), rows(&on_disk));
    let (a, b) = (run_json(&in_memory), run_json(&on_disk));
    assert_eq!(a["storage"]["in_memory"], true);
    assert_eq!(a["storage"]["asked"], "yes");
    assert_eq!(b["storage"]["in_memory"], false);
    assert_eq!(b["storage"]["cache_mb"], 1.0);
    assert_eq!(a["dataset_fingerprint"], b["dataset_fingerprint"]);
    assert!(b.get("read_failures").is_none(), "{b}");
}

#[test]
fn files_that_break_or_change_mid_run_are_left_out_or_used_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("slides");
    let source = slides(&root, 12);
    let mut config = ExperimentConfig::for_source(source.clone());
    config.dataset.validation = data::Validation::Holdout { fraction: 0.25 };
    config.dataset.input.in_memory = InMemory::No;
    // A cache of one image (120×80×3 = 28.8 kB): every sample is read from disk again.
    config.dataset.input.cache_mb = Some(1);
    config.crop = CropConfig {
        input_size: Some(24),
        train: TrainCrop::Random,
        eval: EvalCrop::Center,
        ..CropConfig::default()
    };
    config.train.epochs = 3;
    config.train.batch_size = 4;
    // Indexed now; the run below reuses this load (same source and format).
    let indexed = data::load(&source, config.storage()).unwrap();
    assert!(indexed.on_disk());
    let a = root.join("a");
    std::fs::write(a.join("01.jpg"), b"no longer a picture").unwrap();
    std::fs::remove_file(a.join("02.png")).unwrap();
    image::RgbImage::from_pixel(50, 50, image::Rgb([9, 9, 9]))
        .save(root.join("b").join("04.png"))
        .unwrap();

    let dir = tmp.path().join("run");
    let outcome = crate::common::train(config, Some(dir.clone()));
    assert_eq!(
        outcome.status,
        RunStatus::Completed,
        "{:?}",
        outcome.message
    );
    let json = run_json(&dir);
    let failed: Vec<String> = json["read_failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["path"], f["reason"]))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].contains("01.jpg"), "{failed:?}");
    assert!(failed[1].contains("02.png") && failed[1].contains("disappeared"));
    let changed = json["changed_files"].to_string();
    assert!(
        changed.contains("04.png") && changed.contains("used as it is now"),
        "{changed}"
    );
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
}

#[test]
fn bad_storage_settings_get_clear_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("big");
    for class in ["a", "b"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        // 1000×800 RGB: 2.4 MB decoded.
        image::RgbImage::from_pixel(1000, 800, image::Rgb([1, 2, 3]))
            .save(root.join(class).join("slide.png"))
            .unwrap();
    }
    let source = DatasetSource::Folder { path: root.clone() };
    let small_cache = InputFormat {
        native: true,
        in_memory: InMemory::No,
        cache_mb: Some(2),
        ..InputFormat::default()
    };
    let message = data::load(&source, small_cache).unwrap_err().to_string();
    assert!(
        message.contains("cannot hold one image") && message.contains("at least 3"),
        "{message}"
    );
    let no_cache = InputFormat {
        cache_mb: Some(0),
        ..small_cache
    };
    let message = data::load(&source, no_cache).unwrap_err().to_string();
    assert!(message.contains("at least 1 MB"), "{message}");

    // Only folders can stay on disk.
    let output = workbench(&[
        "train",
        "--dataset",
        "embedded",
        "--data-in-memory",
        "no",
        "--epochs",
        "1",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("only image folders can stay on disk"),
        "{stderr}"
    );
    let output = workbench(&["train", "--data-in-memory", "maybe"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("use auto, yes or no"), "{stderr}");
}
