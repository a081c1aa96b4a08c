//! Augmentation in training: it fights overfitting on a small subset, runs are repeatable, and
//! the model's actual batches come back for the preview.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use cnn_workbench::augment::{AugmentConfig, Preset};
use cnn_workbench::data::{DatasetSource, Part, Validation, load};
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::experiment::curves::Smoothing;
use cnn_workbench::train::message::{EpochMetrics, Event, RunStatus};

/// Writes a small subset of the built-in Fashion-MNIST as an IDX dataset: `per_class` training
/// images of each class and the first 1,000 test images for validation. Few training images
/// overfit within a few hundred steps; a test split of its own keeps validation cheap.
fn write_small_subset(dir: &Path, per_class: usize) {
    let data = load(
        &DatasetSource::Embedded,
        cnn_workbench::data::InputFormat::default(),
    )
    .unwrap();
    let mut taken = vec![0usize; data.num_classes()];
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (i, &label) in data.train.labels.iter().enumerate() {
        if taken[usize::from(label)] < per_class {
            taken[usize::from(label)] += 1;
            pixels.extend_from_slice(&data.image(Part::Train, i));
            labels.push(u8::try_from(label).unwrap());
        }
    }
    let test = data.test.as_ref().unwrap();
    let n = test.len().min(1000);
    let test_labels: Vec<u8> = test.labels[..n]
        .iter()
        .map(|&l| u8::try_from(l).unwrap())
        .collect();
    let count = |len: usize| u32::try_from(len).unwrap();
    write_idx(
        &dir.join("train-images-idx3-ubyte.gz"),
        &[count(labels.len()), 28, 28],
        &pixels,
    );
    write_idx(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &[count(labels.len())],
        &labels,
    );
    write_idx(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &[count(n), 28, 28],
        &test.pixels[..n * 784],
    );
    write_idx(
        &dir.join("t10k-labels-idx1-ubyte.gz"),
        &[count(n)],
        &test_labels,
    );
}

/// A gzip-compressed IDX file of unsigned bytes with these dimensions.
fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut bytes = vec![0, 0, 0x08, u8::try_from(dims.len()).unwrap()];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    gz.finish().unwrap();
}

/// SimpleCNN on the subset in `dir`, validated on its test split.
fn small_subset(dir: &Path, augment: AugmentConfig) -> ExperimentConfig {
    let mut config = ExperimentConfig::default();
    config.dataset.source = DatasetSource::FashionMnist {
        dir: dir.to_owned(),
    };
    config.dataset.validation = Validation::SourceTest;
    config.train.epochs = 40;
    config.train.batch_size = 8;
    config.seed = 2;
    config.augment = augment;
    config
}

/// How far the final validation loss ends above its minimum: the overfitting of the run. Both
/// are read from the curve as the plot draws it smoothed over 5 epochs, so that one noisy epoch
/// (augmented runs jitter from epoch to epoch) cannot decide the comparison.
fn gap(epochs: &[EpochMetrics]) -> f64 {
    let raw: Vec<f64> = epochs.iter().map(|m| m.val_loss).collect();
    let smooth = Smoothing::Window { window: 5 }.apply(&raw);
    let min = smooth.iter().copied().fold(f64::INFINITY, f64::min);
    smooth.last().unwrap() - min
}

#[test]
fn seed_snippet_2_narrows_the_overfitting_gap_on_a_small_subset() {
    let dir = tempfile::tempdir().unwrap();
    write_small_subset(dir.path(), 10);
    let plain = common::train(small_subset(dir.path(), AugmentConfig::default()), None);
    let augmented = common::train(small_subset(dir.path(), Preset::Seed2.config()), None);
    assert_eq!(plain.status, RunStatus::Completed, "{}", plain.message);
    assert_eq!(
        augmented.status,
        RunStatus::Completed,
        "{}",
        augmented.message
    );
    let info = plain.info.as_ref().unwrap();
    assert_eq!((info.train_samples, info.val_samples), (100, 1000));
    let (plain_gap, augmented_gap) = (gap(&plain.epochs), gap(&augmented.epochs));
    eprintln!("overfitting gap: no augmentation {plain_gap:.3}, seed snippet 2 {augmented_gap:.3}");
    let curve = |o: &common::Outcome| {
        o.epochs
            .iter()
            .map(|m| format!("{:.2}", m.val_loss))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        plain.epochs.last().unwrap().train_loss < 0.05,
        "without augmentation the subset is memorised"
    );
    assert!(
        plain_gap > 0.06,
        "without augmentation validation loss climbs from its minimum: gap {plain_gap:.3}, \
         val loss {}",
        curve(&plain)
    );
    assert!(
        augmented_gap < plain_gap / 2.0,
        "seed snippet 2 narrows the gap: {augmented_gap:.3} vs {plain_gap:.3}\n\
         plain:     {}\naugmented: {}",
        curve(&plain),
        curve(&augmented)
    );
}

#[test]
fn an_augmented_run_is_repeatable_and_differs_from_a_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    write_small_subset(dir.path(), 30);
    let mut config = small_subset(dir.path(), Preset::Strong.config());
    config.train.epochs = 2;
    let a = common::train(config.clone(), None);
    let b = common::train(config.clone(), None);
    assert_eq!(a.status, RunStatus::Completed, "{}", a.message);
    let numbers = |o: &common::Outcome| {
        o.epochs
            .iter()
            .map(|m| (m.train_loss, m.val_loss, m.train_acc, m.val_acc))
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&a), numbers(&b), "same seed, same run");
    config.augment = AugmentConfig::default();
    let plain = common::train(config, None);
    assert_ne!(numbers(&a), numbers(&plain));
    assert!(
        a.epochs.iter().all(|m| m.train_loss.is_finite()),
        "cutmix's soft targets train"
    );
}

#[test]
fn each_epoch_sends_the_augmented_batch_the_model_was_given() {
    let mut config = ExperimentConfig::noise();
    config.train.epochs = 2;
    config.augment = Preset::Seed2.config();
    let worker = common::start_worker(config, None);
    let mut batches = Vec::new();
    loop {
        match worker
            .events()
            .recv_timeout(Duration::from_secs(120))
            .unwrap()
        {
            Event::TrainingBatch(batch) => batches.push(batch),
            Event::Finished { status, .. } => {
                assert_eq!(status, RunStatus::Completed);
                break;
            }
            Event::Failed { message } => panic!("{message}"),
            _ => {}
        }
    }
    assert_eq!(batches.len(), 2, "one per epoch");
    let last = &batches[1];
    assert_eq!(last.epoch, 2);
    assert_eq!(last.labels.len(), 10, "the noise runs use batches of 10");
    assert_eq!(last.images.len(), 10 * last.shape.len());
    assert!(last.data_wait_secs <= last.train_secs);
    let data = cnn_workbench::data::load(
        &ExperimentConfig::noise().dataset.source,
        cnn_workbench::data::InputFormat::default(),
    )
    .unwrap();
    let originals: Vec<Vec<u8>> = (0..data.train.len())
        .map(|i| data.image(cnn_workbench::data::Part::Train, i).to_vec())
        .collect();
    let unchanged = last
        .images
        .chunks(last.shape.len())
        .filter(|image| originals.iter().any(|o| o[..] == image[..]))
        .count();
    assert!(
        unchanged < 10,
        "the batch holds augmented images, not the stored ones"
    );
}
