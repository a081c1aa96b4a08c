//! Data-loading benchmark: load times and resident memory against the raw `u8` size.
//!
//! ```sh
//! cargo bench --bench data_loading
//! BENCH_IMAGES=5000 cargo bench --bench data_loading      # a smaller PNG folder
//! BENCH_DIR=/data/pets cargo bench --bench data_loading   # time an existing image folder too
//! ```
//!
//! Measures (1) the full Fashion-MNIST (70,000 images, gzipped IDX) when Debian's
//! `dataset-fashion-mnist` is installed, (2) a folder of `BENCH_IMAGES` (default 20,000) 32×32
//! PNGs written for the occasion, (3) `BENCH_DIR` if given. For each: wall time, resident memory
//! after the load and the peak during it, both as a multiple of the dataset's pixel bytes.

mod common;

use std::path::Path;
use std::time::Instant;

use cnn_workbench::data::{self, DatasetSource, InputFormat, Part, ShapesConfig};

use common::{memory, reset_peak};

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

fn measure(what: &str, source: &DatasetSource) {
    reset_peak();
    let before = memory();
    let t0 = Instant::now();
    let data = match data::load(source, InputFormat::default()) {
        Ok(data) => data,
        Err(e) => {
            println!("{what}: failed: {e}");
            return;
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    let after = memory();
    let raw = data.pixel_bytes() as u64;
    println!(
        "{what}: {} images of {}×{}×{} in {secs:.2} s ({:.0} images/s, {} threads); {} skipped",
        data.total_images(),
        data.width,
        data.height,
        data.channels,
        data.total_images() as f64 / secs,
        rayon::current_num_threads(),
        data.skipped.len()
    );
    if let (Some((rss0, _)), Some((rss1, peak))) = (before, after) {
        let held = rss1.saturating_sub(rss0);
        let peak = peak.saturating_sub(rss0);
        println!(
            "  raw u8 {:.1} MiB; resident +{:.1} MiB ({:.2}×); peak during load +{:.1} MiB ({:.2}×)",
            mib(raw),
            mib(held),
            held as f64 / raw as f64,
            mib(peak),
            peak as f64 / raw as f64
        );
    }
}

/// Writes `n` 32×32 RGB PNGs of 4 classes (the shapes generator's images) into `dir`.
fn write_png_folder(dir: &Path, n: usize) -> Result<(), String> {
    let config = ShapesConfig {
        classes: 4,
        train_samples: n,
        test_samples: 1,
        size: 32,
        difficulty: 0.7,
        clutter: 3,
        noise: 0.05,
        seed: 1,
    };
    let shapes = data::load(&DatasetSource::Shapes(config), InputFormat::default())
        .map_err(|e| e.to_string())?;
    let plane = 32 * 32;
    for i in 0..shapes.train.len() {
        let chw = shapes.image(Part::Train, i);
        let image = image::RgbImage::from_fn(32, 32, |x, y| {
            let p = (y * 32 + x) as usize;
            image::Rgb([chw[p], chw[plane + p], chw[2 * plane + p]])
        });
        let class = &shapes.class_names[usize::from(shapes.train.labels[i])];
        let path = dir.join(class).join(format!("{i:06}.png"));
        std::fs::create_dir_all(dir.join(class)).map_err(|e| e.to_string())?;
        image
            .save(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() {
    let fashion = Path::new(data::SYSTEM_FASHION_MNIST_DIR);
    if fashion.join("train-images-idx3-ubyte.gz").is_file() {
        measure(
            "Fashion-MNIST (full, gzipped IDX)",
            &DatasetSource::Idx {
                path: fashion.to_owned(),
            },
        );
    } else {
        println!(
            "Fashion-MNIST: not installed at {}, skipped",
            fashion.display()
        );
    }

    let n: usize = std::env::var("BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    match tempfile::tempdir() {
        Ok(tmp) => {
            let t0 = Instant::now();
            match write_png_folder(tmp.path(), n) {
                Ok(()) => {
                    println!("(wrote {n} PNGs in {:.1} s)", t0.elapsed().as_secs_f64());
                    measure(
                        &format!("PNG folder ({n} files, 32×32 RGB)"),
                        &DatasetSource::Folder {
                            path: tmp.path().to_owned(),
                        },
                    );
                }
                Err(e) => println!("PNG folder: cannot write the fixture: {e}"),
            }
        }
        Err(e) => println!("PNG folder: no temporary folder: {e}"),
    }

    if let Ok(dir) = std::env::var("BENCH_DIR") {
        measure(
            &format!("folder {dir}"),
            &DatasetSource::Folder { path: dir.into() },
        );
    }
}
