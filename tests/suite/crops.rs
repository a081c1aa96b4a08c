//! Crops and tiles: images kept at their own resolution, input-sized windows cut for training,
//! the centre or tiles for validation, recorded in the run, previewed as they train.

use std::path::Path;
use std::process::Command;

use cnn_workbench::augment::crop::{CropConfig, EvalCrop, TrainCrop};
use cnn_workbench::augment::grid::{self, GridRequest};
use cnn_workbench::augment::{AugmentConfig, ImageShape};
use cnn_workbench::data::{self, DatasetSource, InputFormat, Part};

fn workbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cnn-workbench"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let output = workbench(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_cropped_run_trains_on_windows_validates_on_tiles_and_records_both() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let json = train_embedded(&out, "30/class", "20", "tiles", "2");
    let input = &json["input"];
    assert_eq!(input["stored"], serde_json::json!([28, 28]));
    assert_eq!(input["network"], serde_json::json!([20, 20]));
    assert_eq!(input["train_crop"], "random");
    assert_eq!(input["eval_crop"], "tiles");
    assert_eq!(
        input["eval_views"], 4,
        "28 px covered by 20 px tiles: 2 × 2"
    );
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        config.contains("[crop]") && config.contains("input_size = 20"),
        "{config}"
    );
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");

    // The run's model classifies a picture as validation does: its tiles, logits averaged.
    let picture = tmp.path().join("shirt.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]))
        .save(&picture)
        .unwrap();
    let scores = cnn_workbench::train::backbone::predict(&out, &picture, 3).unwrap();
    assert_eq!(scores.len(), 3);
    assert!(scores.windows(2).all(|w| w[0].prob >= w[1].prob));

    // The same run again from its config.toml: the same numbers (crops are seeded).
    let again = tmp.path().join("again");
    ok(&[
        "train",
        "--config",
        path(&out.join("config.toml")),
        "--quiet",
        "--out",
        path(&again),
    ]);
    let first: Vec<String> = metrics.lines().map(cut_times).collect();
    let second: Vec<String> = std::fs::read_to_string(again.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(cut_times)
        .collect();
    assert_eq!(first, second);
}

/// Trains on the built-in data with random crops of `input` px and `eval` validation inputs;
/// the run's `run.json`, after checking that the run completed.
fn train_embedded(
    out: &Path,
    train_size: &str,
    input: &str,
    eval: &str,
    epochs: &str,
) -> serde_json::Value {
    ok(&[
        "train",
        "--dataset",
        "embedded",
        "--train-size",
        train_size,
        "--input-size",
        input,
        "--train-crop",
        "random",
        "--eval-crop",
        eval,
        "--epochs",
        epochs,
        "--quiet",
        "--out",
        path(out),
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["status"], "completed");
    json
}

/// A metrics row without its two timing columns.
fn cut_times(line: &str) -> String {
    line.split(',').take(6).collect::<Vec<_>>().join(",")
}

#[test]
fn an_input_larger_than_the_image_is_upscaled_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let json = train_embedded(&out, "10/class", "40", "center", "1");
    assert_eq!(json["input"]["network"], serde_json::json!([40, 40]));
}

#[test]
fn crop_options_without_what_they_need_are_explained() {
    let output = workbench(&["train", "--train-crop", "random", "--epochs", "1"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--input-size"), "{err}");
    let output = workbench(&["train", "--crop-scale", "0.5", "--epochs", "1"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--train-crop"), "{err}");
    let output = workbench(&[
        "train",
        "--input-size",
        "16",
        "--train-crop",
        "random",
        "--crop-scale",
        "0",
        "--epochs",
        "1",
    ]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("crop scale"), "{err}");
}

#[test]
fn the_preview_shows_the_windows_that_train() {
    let data = data::load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
    let crop = CropConfig {
        input_size: Some(12),
        train: TrainCrop::Random,
        eval: EvalCrop::Center,
        ..CropConfig::default()
    };
    let request = GridRequest {
        config: AugmentConfig::default(),
        crop,
        samples: vec![3, 8],
        epochs: vec![1, 2, 3],
        seed: 5,
    };
    let preview = grid::compute(&request, &data);
    assert_eq!(preview.shape.height, 12);
    let stored = ImageShape::of(&data);
    for row in 0..2 {
        let original = data.image(Part::Train, request.samples[row] as usize);
        let mut places = Vec::new();
        for column in 0..3 {
            let cell = &preview.cell(row, column).unwrap().pixels;
            // At scale 1 a cell is a 12×12 window of the stored image, pixel for pixel.
            let found = (0..=16)
                .flat_map(|y| (0..=16).map(move |x| (x, y)))
                .find(|&(x, y)| {
                    (0..12).all(|r| {
                        let start = (y + r) * stored.width + x;
                        original[start..start + 12] == cell[r * 12..(r + 1) * 12]
                    })
                });
            places.push(found.expect("a cell is no window of its image"));
        }
        assert!(
            places.windows(2).any(|w| w[0] != w[1]),
            "the window never moved: {places:?}"
        );
    }
}

/// A folder with classes `a` and `b`, `count` PNG files of `make()` each.
fn two_class_folder(
    count: usize,
    make: impl Fn() -> image::DynamicImage,
) -> (tempfile::TempDir, DatasetSource) {
    let tmp = tempfile::tempdir().unwrap();
    for class in ["a", "b"] {
        let dir = tmp.path().join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..count {
            make().save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
    let source = DatasetSource::Folder {
        path: tmp.path().to_owned(),
    };
    (tmp, source)
}

#[test]
fn keep_aspect_cuts_the_centre_instead_of_stretching() {
    // 40×20: a red band, a green middle 20 px wide, a blue band.
    let (_tmp, source) = two_class_folder(3, || {
        image::DynamicImage::from(image::RgbImage::from_fn(40, 20, |x, _| match x {
            0..10 => image::Rgb([250, 0, 0]),
            10..30 => image::Rgb([0, 250, 0]),
            _ => image::Rgb([0, 0, 250]),
        }))
    });
    let load = |keep_aspect: bool| {
        data::load(
            &source,
            InputFormat {
                size: Some(10),
                channels: Some(3),
                keep_aspect,
                ..InputFormat::default()
            },
        )
        .unwrap()
    };
    let kept = load(true);
    let image = kept.image(Part::Train, 0);
    assert!(
        image[..100].iter().all(|&r| r < 5) && image[100..200].iter().all(|&g| g > 245),
        "only the green centre should remain: {image:?}"
    );
    let stretched = load(false);
    let image = stretched.image(Part::Train, 0);
    assert!(
        image[..100].iter().any(|&r| r > 200),
        "a stretched image keeps its red band"
    );
}

#[test]
fn a_folder_of_large_images_keeps_its_resolution_when_cropping() {
    let (_tmp, source) = two_class_folder(1, || {
        image::DynamicImage::from(image::GrayImage::from_fn(300, 200, |x, y| {
            image::Luma([((x + y) % 256) as u8])
        }))
    });
    let squashed = data::load(&source, InputFormat::default()).unwrap();
    assert_eq!((squashed.width, squashed.height), (64, 64));
    let native = data::load(
        &source,
        InputFormat {
            native: true,
            ..InputFormat::default()
        },
    )
    .unwrap();
    assert_eq!((native.width, native.height), (300, 200));
    assert_eq!(native.image(Part::Train, 0)[299], ((299 % 256) as u8));
}

#[test]
fn a_folder_emptied_mid_run_does_not_stop_a_cropped_run() {
    use cnn_workbench::experiment::ExperimentConfig;
    use cnn_workbench::train::message::{Event, RunStatus};

    let (tmp, source) = two_class_folder(8, || {
        let shade = rand_shade();
        image::DynamicImage::from(image::GrayImage::from_fn(40, 40, move |x, y| {
            image::Luma([((x * y) as u8).wrapping_add(shade)])
        }))
    });
    let mut config = ExperimentConfig::for_source(source);
    config.dataset.validation = cnn_workbench::data::Validation::Holdout { fraction: 0.25 };
    config.crop = CropConfig {
        input_size: Some(16),
        train: TrainCrop::Random,
        eval: EvalCrop::Tiles,
        ..CropConfig::default()
    };
    config.train.epochs = 40;
    config.train.batch_size = 4;
    let runs = tempfile::tempdir().unwrap();
    let run = runs.path().join("run");
    let worker = crate::common::start_worker(config, Some(run.clone()));
    crate::common::wait_for_event(&worker, 60, |e| matches!(e, Event::Epoch(_)));
    // The images leave the disk after the first epoch: the run holds them in memory.
    for class in ["a", "b"] {
        std::fs::remove_dir_all(tmp.path().join(class)).unwrap();
    }
    let Event::Finished { status, .. } =
        crate::common::wait_for_event(&worker, 60, |e| matches!(e, Event::Finished { .. }))
    else {
        unreachable!()
    };
    assert_eq!(status, RunStatus::Completed);
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 41, "{metrics}");
}

/// A different grey offset per call, so the folder's images are not all alike.
fn rand_shade() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(0);
    NEXT.fetch_add(37, Ordering::Relaxed)
}

#[test]
fn sixteen_bit_tiffs_keep_their_resolution_when_cropping() {
    let (_tmp, source) = two_class_folder(2, || {
        // 16-bit grayscale and 16-bit RGB slides, 300×200, as microscopes write them.
        image::DynamicImage::from(image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(
            300,
            200,
            |x, _| image::Luma([(x as u16) * 200]),
        ))
    });
    let rgb = source.path().unwrap().join("b").join("rgb16.tif");
    image::DynamicImage::from(image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_fn(
        300,
        200,
        |x, _| image::Rgb([(x as u16) * 200, 0, 65_535]),
    ))
    .save(&rgb)
    .unwrap();
    for class in ["a", "b"] {
        for i in 0..2 {
            let png = source.path().unwrap().join(class).join(format!("{i}.png"));
            let tif = png.with_extension("tif");
            image::open(&png).unwrap().save(&tif).unwrap();
            std::fs::remove_file(png).unwrap();
        }
    }
    let data = data::load(
        &source,
        InputFormat {
            native: true,
            channels: Some(3),
            ..InputFormat::default()
        },
    )
    .unwrap();
    assert!(data.skipped.is_empty(), "{:?}", data.skipped);
    assert_eq!((data.width, data.height, data.train.len()), (300, 200, 5));
    // 16-bit values come down to 8 bits: x·200 of 65,535 at x = 300 is 91.6 % of white.
    let image = data.image(Part::Train, 0);
    let right = image[299];
    assert!((230..=236).contains(&right), "{right}");
}
