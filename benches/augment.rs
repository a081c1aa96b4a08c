//! Augmentation throughput and its cost to training.
//!
//! `cargo bench --bench augment` prints:
//! - images/s of the "seed snippet 2" pipeline (flip + affine) on 28×28 grayscale (the built-in
//!   Fashion-MNIST) and on 32×32 RGB images, one thread, plus a whole batch of 64 prepared
//!   (augmented and normalised);
//! - end-to-end training throughput of SimpleCNN on the built-in data with augmentation off and
//!   on (seed snippet 2), with the time the training step waited for prefetched batches.
//!
//! Each end-to-end configuration runs three times, interleaved, and the best run counts, since
//! the machine may be busy with other work.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot run should stop

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnn_workbench::augment::batch::{BatchKey, PixelNorm, prepare_batch};
use cnn_workbench::augment::pipeline::{SampleKey, augment_image};
use cnn_workbench::augment::{AugmentConfig, ImageShape, Preset};
use cnn_workbench::data::{self, DatasetSource, Part};
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::train::message::{Event, RunStatus};
use cnn_workbench::train::worker::{StartRequest, TrainWorker};

/// Runs `f` repeatedly for about `budget`; returns calls per second.
fn rate(budget: Duration, mut f: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f(n);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn per_image(config: &AugmentConfig, shape: ImageShape, images: &[Vec<u8>]) -> f64 {
    rate(Duration::from_secs(2), |n| {
        let image = &images[(n as usize) % images.len()];
        let key = SampleKey {
            seed: 1,
            epoch: n / 1000,
            sample: n,
        };
        black_box(augment_image(config, shape, image, key));
    })
}

/// Trains `config` and returns (samples/s over the training time, data-wait share of it).
fn train(config: ExperimentConfig) -> (f64, f64) {
    let worker = TrainWorker::spawn(Arc::new(|| {})).unwrap();
    worker
        .start(StartRequest {
            config,
            run_dir: None,
        })
        .unwrap();
    let (mut samples, mut train_secs, mut wait_secs) = (0usize, 0.0, 0.0);
    let mut per_epoch = 0;
    loop {
        match worker.events().recv().unwrap() {
            Event::Started(info) => per_epoch = info.train_samples,
            Event::Epoch(m) => {
                samples += per_epoch;
                train_secs += m.train_secs;
            }
            Event::TrainingBatch(b) => wait_secs += b.data_wait_secs,
            Event::Finished { status, .. } => {
                assert_eq!(status, RunStatus::Completed);
                break;
            }
            Event::Failed { message } => panic!("{message}"),
            _ => {}
        }
    }
    (samples as f64 / train_secs, wait_secs / train_secs)
}

fn main() {
    let seed2 = Preset::Seed2.config();
    let fashion = data::load(
        &DatasetSource::Embedded,
        cnn_workbench::data::InputFormat::default(),
    )
    .unwrap();
    let mnist_shape = ImageShape::of(&fashion);
    let mnist: Vec<Vec<u8>> = (0..512)
        .map(|i| fashion.image(Part::Train, i).to_vec())
        .collect();
    let rgb_shape = ImageShape {
        channels: 3,
        height: 32,
        width: 32,
    };
    let rgb: Vec<Vec<u8>> = (0..64u32)
        .map(|k| {
            (0..rgb_shape.len() as u32)
                .map(|i| ((i * 31 + k * 17) ^ (i / 32 * 7)) as u8)
                .collect()
        })
        .collect();

    println!("Augmentation throughput (one thread, seed snippet 2: flip p=0.5 + affine)");
    let mnist_rate = per_image(&seed2, mnist_shape, &mnist);
    println!("  28×28×1  {mnist_rate:>10.0} images/s");
    let r = per_image(&seed2, rgb_shape, &rgb);
    println!("  32×32×3  {r:>10.0} images/s");
    let norm = PixelNorm::new(&data::ChannelNorm {
        mean: vec![73.0],
        std: vec![90.0],
    });
    let indices: Vec<u32> = (0..64).collect();
    let batches = rate(Duration::from_secs(2), |n| {
        let key = BatchKey {
            seed: 1,
            epoch: n,
            batch: 0,
        };
        black_box(prepare_batch(
            &seed2,
            &cnn_workbench::augment::crop::CropConfig::default(),
            &fashion,
            Part::Train,
            &indices,
            &norm,
            key,
            false,
        ));
    });
    println!(
        "  28×28×1, batches of 64 augmented + normalised: {:.0} images/s",
        batches * 64.0
    );

    println!();
    println!("End-to-end training, SimpleCNN on the built-in data, batch 64, CPU, 2 epochs");
    let mut base = ExperimentConfig::default();
    base.train.epochs = 2;
    let mut augmented = base.clone();
    augmented.augment = seed2;
    let mut best_off: (f64, f64) = (0.0, 0.0);
    let mut best_on: (f64, f64) = (0.0, 0.0);
    for _ in 0..3 {
        let off = train(base.clone());
        if off.0 > best_off.0 {
            best_off = off;
        }
        let on = train(augmented.clone());
        if on.0 > best_on.0 {
            best_on = on;
        }
    }
    println!(
        "  augmentation off  {:>7.0} samples/s  (waited for data {:.1} % of the time)",
        best_off.0,
        best_off.1 * 100.0
    );
    println!(
        "  seed snippet 2    {:>7.0} samples/s  (waited for data {:.1} % of the time)",
        best_on.0,
        best_on.1 * 100.0
    );
    println!(
        "  slowdown with augmentation: {:.1} %",
        (1.0 - best_on.0 / best_off.0) * 100.0
    );
    // Done in the training step instead, augmenting would add its own time to every step.
    let inline = 1.0 / (1.0 / best_off.0 + 1.0 / mnist_rate);
    println!(
        "  (augmenting inline, without prefetching, would cap training near {inline:.0} samples/s: \
         {:.1} % slower)",
        (1.0 - inline / best_off.0) * 100.0
    );
}
