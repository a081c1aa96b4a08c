//! Image folders kept on disk: indexing time, decode+crop throughput per core, and resident
//! memory while training with random crops.
//!
//! ```sh
//! cargo bench --bench on_disk                          # 2,000 JPEGs of 3000×2000, written once
//! BENCH_SLIDES=200 cargo bench --bench on_disk         # fewer
//! BENCH_SLIDES_DIR=/data/slides cargo bench --bench on_disk   # an existing class folder
//! ```
//!
//! The folder is written (in parallel, seeded) to `$BENCH_SLIDES_DIR`, by default under the
//! system's temporary folder, and kept for the next run. Then: (1) index it as `train` does
//! with crops (`--data-in-memory auto`: 2,000 such images decode to 16.8 GB, so they stay on
//! disk); (2) decode, crop to 224 and normalise random training batches on one core, then on
//! all; (3) train SimpleCNN one epoch on random 224 px crops of every image (centre crop for
//! validation) and report the peak resident memory of this process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot run should stop

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use cnn_workbench::augment::AugmentConfig;
use cnn_workbench::augment::batch::{BatchKey, PixelNorm, prepare_batch};
use cnn_workbench::augment::crop::{CropConfig, EvalCrop, TrainCrop};
use cnn_workbench::data::{self, DatasetSource, InputFormat, Part};
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::train::message::Event;
use cnn_workbench::train::worker::{StartRequest, TrainWorker};
use common::{memory, reset_peak};
use rayon::prelude::*;

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// Writes `count` 3000×2000 JPEGs in two classes (smooth colour fields with blobs; class 1 has
/// more of them), unless the folder already holds them.
fn write_slides(root: &Path, count: usize) {
    let done = root.join(".complete");
    if std::fs::read_to_string(&done).is_ok_and(|n| n.trim() == count.to_string()) {
        return;
    }
    let t0 = Instant::now();
    for class in ["sparse", "dense"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
    }
    (0..count).into_par_iter().for_each(|i| {
        let class = i % 2;
        let mut seed = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        let blobs: Vec<(f32, f32, f32)> = (0..8 + 12 * class)
            .map(|_| (next() * 3000.0, next() * 2000.0, 40.0 + next() * 120.0))
            .collect();
        let tint = [next(), next(), next()];
        let image = image::RgbImage::from_fn(3000, 2000, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let inside = blobs
                .iter()
                .any(|&(bx, by, r)| (fx - bx).powi(2) + (fy - by).powi(2) < r * r);
            let shade = if inside { 90.0 } else { 225.0 };
            let wave = 12.0 * ((fx * 0.01).sin() + (fy * 0.013).cos());
            let px = |t: f32| (shade * (0.8 + 0.2 * t) + wave).clamp(0.0, 255.0) as u8;
            image::Rgb([px(tint[0]), px(tint[1]), px(tint[2])])
        });
        let name = ["sparse", "dense"][class];
        image
            .save(root.join(name).join(format!("{i:05}.jpg")))
            .unwrap();
    });
    std::fs::write(&done, count.to_string()).unwrap();
    println!(
        "wrote {count} JPEGs of 3000×2000 in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

fn main() {
    let count: usize = std::env::var("BENCH_SLIDES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let root = std::env::var_os("BENCH_SLIDES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("cnn-workbench-slides-{count}")));
    write_slides(&root, count);
    let source = DatasetSource::Folder { path: root.clone() };

    let mut config = ExperimentConfig::for_source(source.clone());
    config.crop = CropConfig {
        input_size: Some(224),
        train: TrainCrop::Random,
        eval: EvalCrop::Center,
        ..CropConfig::default()
    };
    config.dataset.validation = data::Validation::Holdout { fraction: 0.1 };
    config.train.epochs = 1;
    config.train.batch_size = 32;
    let format: InputFormat = config.storage();

    // (1) Indexing.
    reset_peak();
    let t0 = Instant::now();
    let data = data::load(&source, format).expect("the folder loads");
    let index_secs = t0.elapsed().as_secs_f64();
    let (rss, peak) = memory().unwrap_or_default();
    println!(
        "index: {} files in {index_secs:.2} s ({}, stored {}×{}×{}, {:.1} GB if decoded); RSS {:.2} GiB, peak {:.2} GiB",
        data.total_images(),
        if data.on_disk() {
            "on disk"
        } else {
            "in memory"
        },
        data.width,
        data.height,
        data.channels,
        data.decoded_bytes() as f64 / 1e9,
        gib(rss),
        gib(peak)
    );

    // (2) Decode + random 224 crop + normalise, as the prefetch threads do.
    let norm = PixelNorm::identity(data.channels);
    let augment = AugmentConfig::default();
    let batch = 16u32;
    let throughput = |threads: usize, first: u32| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let t0 = Instant::now();
            let mut images = 0;
            for b in 0..4u32 {
                // Indices far apart, never read before: every image is decoded.
                let indices: Vec<u32> = (0..batch)
                    .map(|k| (first + (b * batch + k) * 7) % data.train.len() as u32)
                    .collect();
                let key = BatchKey {
                    seed: 1,
                    epoch: 1,
                    batch: u64::from(b),
                };
                let prepared = prepare_batch(
                    &augment,
                    &config.crop,
                    &data,
                    Part::Train,
                    &indices,
                    &norm,
                    key,
                    false,
                );
                images += prepared.len();
            }
            images as f64 / t0.elapsed().as_secs_f64()
        })
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let one = throughput(1, 1);
    let all = throughput(cores, 3);
    println!(
        "decode + crop 224 + normalise: {one:.1} images/s on 1 core, {all:.1} images/s on {cores} cores"
    );

    // (3) One epoch of training on random crops, all images read from disk.
    reset_peak();
    let worker = TrainWorker::spawn(std::sync::Arc::new(|| {})).unwrap();
    let t0 = Instant::now();
    worker
        .start(StartRequest {
            config,
            run_dir: None,
        })
        .unwrap();
    loop {
        match worker.events().recv().unwrap() {
            Event::Epoch(m) => println!(
                "epoch {}: train loss {:.3}, val loss {:.3}, val acc {:.3}; train {:.1} s, validation {:.1} s",
                m.epoch, m.train_loss, m.val_loss, m.val_acc, m.train_secs, m.val_secs
            ),
            Event::Finished {
                status, message, ..
            } => {
                println!("run {status}: {message}");
                break;
            }
            Event::Failed { message } => {
                println!("run failed: {message}");
                break;
            }
            _ => {}
        }
    }
    let (rss, peak) = memory().unwrap_or_default();
    println!(
        "training: {:.1} s end to end; RSS {:.2} GiB, peak {:.2} GiB (goal: under 1.5 GiB)",
        t0.elapsed().as_secs_f64(),
        gib(rss),
        gib(peak)
    );
    let (bytes, hits, misses) = data.disk.as_ref().map_or((0, 0, 0), |d| d.cache_use());
    println!(
        "decoded-image cache: {:.0} MB held, {hits} hits, {misses} misses",
        bytes as f64 / 1e6
    );
}
