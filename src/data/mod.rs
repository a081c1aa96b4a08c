//! Datasets: where images come from, how they are held in memory, and how they are split.
//!
//! Every source ends up as a [`Dataset`]: images stored once as compact `u8` arrays (channel-major
//! per image), labels as `u16`, and an optional test part supplied by the source itself. A
//! [`Split`] then picks the training and validation samples by index, so nothing is copied.

pub mod batch;
pub mod idx;
pub mod loader;
pub mod noise;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Where the full Fashion-MNIST lives when Debian's `dataset-fashion-mnist` package is installed.
pub const SYSTEM_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Class names of Fashion-MNIST, in label order.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

const EMBEDDED_TRAIN_IMAGES: &[u8] =
    include_bytes!("../../assets/fashion-mnist-subset/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] =
    include_bytes!("../../assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] =
    include_bytes!("../../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] =
    include_bytes!("../../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz");

/// Everything that can go wrong while loading or splitting data. Each message names the file or
/// setting at fault, so it can be shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file was read but its content is not what its format requires.
    #[error("{name}: {message}")]
    Format {
        /// The file (or part of the dataset).
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The dataset settings cannot produce a usable training/validation split.
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    pub(crate) fn format(name: &str, message: impl Into<String>) -> Self {
        Self::Format {
            name: name.to_owned(),
            message: message.into(),
        }
    }
}

/// Which dataset to load. Saved with every run, so the run can be repeated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DatasetSource {
    /// The Fashion-MNIST subset compiled into the program (6,000 training + 1,000 test images).
    #[default]
    Embedded,
    /// The full Fashion-MNIST (60,000 + 10,000) from an IDX folder, by default Debian's copy.
    FashionMnist {
        /// Folder holding `train-images-idx3-ubyte.gz` and friends.
        #[serde(default = "default_fashion_dir")]
        dir: PathBuf,
    },
    /// Gaussian noise with random labels: a model can only memorise it (the classic overfitting
    /// demonstration).
    Noise(noise::NoiseConfig),
}

fn default_fashion_dir() -> PathBuf {
    PathBuf::from(SYSTEM_FASHION_MNIST_DIR)
}

impl DatasetSource {
    /// The full Fashion-MNIST at its system location, if that is installed.
    pub fn system_fashion_mnist() -> Option<Self> {
        let dir = default_fashion_dir();
        dir.join("train-images-idx3-ubyte.gz")
            .is_file()
            .then_some(Self::FashionMnist { dir })
    }

    /// A short name for tables, file names and the command line.
    pub fn short_name(&self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::FashionMnist { .. } => "fashion-mnist",
            Self::Noise(_) => "noise",
        }
    }

    /// A human-readable description for the Dataset panel.
    pub fn label(&self) -> String {
        match self {
            Self::Embedded => "Fashion-MNIST subset (built in)".to_owned(),
            Self::FashionMnist { .. } => "Fashion-MNIST, full (installed)".to_owned(),
            Self::Noise(_) => "Random noise (seed)".to_owned(),
        }
    }
}

/// How the validation samples are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Validation {
    /// Hold out this fraction of the training data (stratified by class, seeded).
    Holdout {
        /// Fraction in (0, 1).
        fraction: f32,
    },
    /// Use the test split that comes with the source (all training data is used for training).
    SourceTest,
}

impl Default for Validation {
    fn default() -> Self {
        Self::Holdout { fraction: 0.2 }
    }
}

/// Per-channel normalisation in `u8` units: a pixel `p` becomes `(p - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelNorm {
    /// Mean per channel, in 0..=255 units.
    pub mean: Vec<f32>,
    /// Standard deviation per channel, in 0..=255 units (never zero).
    pub std: Vec<f32>,
}

/// A set of images of one shape with their labels.
#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    /// `len * channels * height * width` bytes, each image channel-major (CHW).
    pub pixels: Vec<u8>,
    /// One label per image, `< class_names.len()`.
    pub labels: Vec<u16>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A loaded dataset: training images, optionally the source's own test images, and their shape.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where it came from.
    pub source: DatasetSource,
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// The training images (validation hold-outs are taken from here).
    pub train: ImageSet,
    /// The source's own test images, if it has any.
    pub test: Option<ImageSet>,
    /// A fixed normalisation, for sources whose pixels encode known values (noise); `None` means
    /// it is computed from the training split.
    pub fixed_norm: Option<ChannelNorm>,
}

impl Dataset {
    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.width * self.height * self.channels
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The set a [`Part`] refers to.
    pub fn part(&self, part: Part) -> &ImageSet {
        match part {
            Part::Train => &self.train,
            Part::Test => self.test.as_ref().unwrap_or(&self.train),
        }
    }

    /// The pixels of one image of a part.
    pub fn image(&self, part: Part, index: usize) -> &[u8] {
        let len = self.image_len();
        &self.part(part).pixels[index * len..(index + 1) * len]
    }
}

/// Which of a dataset's image sets a subset indexes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Part {
    /// The training images.
    Train,
    /// The source's own test images.
    Test,
}

/// Some images of one part, by index.
#[derive(Debug, Clone)]
pub struct Subset {
    /// The image set the indices refer to.
    pub part: Part,
    /// Indices into that set.
    pub indices: Vec<u32>,
}

impl Subset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether it holds no sample.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// The training and validation samples of a run, and the normalisation used for both.
#[derive(Debug, Clone)]
pub struct Split {
    /// Samples the model learns from.
    pub train: Subset,
    /// Samples used only to measure generalisation.
    pub val: Subset,
    /// Normalisation (from the training samples unless the source fixes it).
    pub norm: ChannelNorm,
}

/// Splits a dataset into training and validation samples, reproducibly for a given seed.
///
/// A hold-out is stratified: each class gives the same fraction of its images (at least one), so
/// small datasets keep every class on both sides.
pub fn split(data: &Dataset, validation: Validation, seed: u64) -> Result<Split, DataError> {
    let (train, val) = match validation {
        Validation::SourceTest => {
            let test = data.test.as_ref().ok_or_else(|| {
                DataError::Invalid(format!(
                    "{} has no test split of its own: choose a hold-out fraction for validation",
                    data.source.label()
                ))
            })?;
            let all = |n: usize| (0..n as u32).collect::<Vec<_>>();
            (
                Subset {
                    part: Part::Train,
                    indices: all(data.train.len()),
                },
                Subset {
                    part: Part::Test,
                    indices: all(test.len()),
                },
            )
        }
        Validation::Holdout { fraction } => {
            if !(fraction > 0.0 && fraction < 1.0) {
                return Err(DataError::Invalid(format!(
                    "the validation fraction must be between 0 and 1 (exclusive), found {fraction}"
                )));
            }
            let mut by_class = vec![Vec::new(); data.num_classes()];
            for (i, &label) in data.train.labels.iter().enumerate() {
                by_class[usize::from(label)].push(i as u32);
            }
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5EED_5B11);
            let (mut train, mut val) = (Vec::new(), Vec::new());
            for mut members in by_class {
                members.shuffle(&mut rng);
                let n_val = if members.len() < 2 {
                    0
                } else {
                    ((members.len() as f32 * fraction).round() as usize).clamp(1, members.len() - 1)
                };
                val.extend_from_slice(&members[..n_val]);
                train.extend_from_slice(&members[n_val..]);
            }
            train.sort_unstable();
            val.sort_unstable();
            (
                Subset {
                    part: Part::Train,
                    indices: train,
                },
                Subset {
                    part: Part::Train,
                    indices: val,
                },
            )
        }
    };
    if train.is_empty() || val.is_empty() {
        return Err(DataError::Invalid(format!(
            "{} gives {} training and {} validation samples: both need at least one",
            data.source.label(),
            train.len(),
            val.len()
        )));
    }
    let norm = match &data.fixed_norm {
        Some(norm) => norm.clone(),
        None => channel_norm(data, &train),
    };
    Ok(Split { train, val, norm })
}

/// Mean and standard deviation per channel over a subset's pixels.
pub fn channel_norm(data: &Dataset, subset: &Subset) -> ChannelNorm {
    let plane = data.width * data.height;
    let mut sum = vec![0f64; data.channels];
    let mut sum_sq = vec![0f64; data.channels];
    for &i in &subset.indices {
        let image = data.image(subset.part, i as usize);
        for (c, channel) in image.chunks_exact(plane).enumerate() {
            let (s, sq) = channel.iter().fold((0u64, 0u64), |(s, sq), &p| {
                (s + u64::from(p), sq + u64::from(p) * u64::from(p))
            });
            sum[c] += s as f64;
            sum_sq[c] += sq as f64;
        }
    }
    let n = (subset.len() * plane).max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sum_sq
        .iter()
        .zip(&mean)
        .map(|(sq, &m)| ((sq / n - f64::from(m) * f64::from(m)).max(0.0).sqrt() as f32).max(1.0))
        .collect();
    ChannelNorm { mean, std }
}

/// Loads a dataset, reusing an earlier load of the same source within this process.
///
/// The GUI's panels and the training worker both call this, so a dataset is held in memory once.
pub fn load(source: &DatasetSource) -> Result<Arc<Dataset>, DataError> {
    static CACHE: Mutex<Vec<(DatasetSource, Arc<Dataset>)>> = Mutex::new(Vec::new());
    let cached = |cache: &Vec<(DatasetSource, Arc<Dataset>)>| {
        cache
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, d)| Arc::clone(d))
    };
    if let Some(hit) = cached(
        &CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    ) {
        return Ok(hit);
    }
    let data = Arc::new(load_uncached(source)?);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Keep the few most recent datasets; a full Fashion-MNIST is 55 MB.
    if cache.len() >= 4 {
        cache.remove(0);
    }
    cache.push((source.clone(), Arc::clone(&data)));
    Ok(data)
}

fn load_uncached(source: &DatasetSource) -> Result<Dataset, DataError> {
    match source {
        DatasetSource::Embedded => {
            let train = idx_pair(
                (EMBEDDED_TRAIN_IMAGES, "built-in train images"),
                (EMBEDDED_TRAIN_LABELS, "built-in train labels"),
            )?;
            let test = idx_pair(
                (EMBEDDED_TEST_IMAGES, "built-in test images"),
                (EMBEDDED_TEST_LABELS, "built-in test labels"),
            )?;
            fashion_dataset(source.clone(), train, test)
        }
        DatasetSource::FashionMnist { dir } => {
            let read = |name: &str| {
                let path = dir.join(name);
                std::fs::read(&path)
                    .map(|bytes| (bytes, path.display().to_string()))
                    .map_err(|source| DataError::Io {
                        path: path.display().to_string(),
                        source,
                    })
            };
            let (ti, ti_name) = read("train-images-idx3-ubyte.gz")?;
            let (tl, tl_name) = read("train-labels-idx1-ubyte.gz")?;
            let (vi, vi_name) = read("t10k-images-idx3-ubyte.gz")?;
            let (vl, vl_name) = read("t10k-labels-idx1-ubyte.gz")?;
            let train = idx_pair((&ti, &ti_name), (&tl, &tl_name))?;
            let test = idx_pair((&vi, &vi_name), (&vl, &vl_name))?;
            fashion_dataset(source.clone(), train, test)
        }
        DatasetSource::Noise(config) => noise::generate(config),
    }
}

/// Images (`[n, rows, cols]`) and labels (`[n]`) decoded from a pair of IDX files.
struct IdxImages {
    rows: usize,
    cols: usize,
    set: ImageSet,
}

fn idx_pair(images: (&[u8], &str), labels: (&[u8], &str)) -> Result<IdxImages, DataError> {
    let img = idx::parse(images.0, images.1)?;
    let lab = idx::parse(labels.0, labels.1)?;
    let [n, rows, cols] = img.dims[..] else {
        return Err(DataError::format(
            images.1,
            format!(
                "expected 3 dimensions (count, rows, cols), found {:?}",
                img.dims
            ),
        ));
    };
    if lab.dims.len() != 1 {
        return Err(DataError::format(
            labels.1,
            format!("expected 1 dimension (count), found {:?}", lab.dims),
        ));
    }
    if lab.dims[0] != n {
        return Err(DataError::format(
            labels.1,
            format!("has {} labels but {} has {n} images", lab.dims[0], images.1),
        ));
    }
    if n == 0 || rows == 0 || cols == 0 {
        return Err(DataError::format(images.1, "holds no image"));
    }
    Ok(IdxImages {
        rows,
        cols,
        set: ImageSet {
            pixels: img.data,
            labels: lab.data.into_iter().map(u16::from).collect(),
        },
    })
}

fn fashion_dataset(
    source: DatasetSource,
    train: IdxImages,
    test: IdxImages,
) -> Result<Dataset, DataError> {
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(DataError::Invalid(format!(
            "training images are {}×{} but test images are {}×{}",
            train.rows, train.cols, test.rows, test.cols
        )));
    }
    let classes = FASHION_CLASSES.len();
    for (set, what) in [(&train.set, "training"), (&test.set, "test")] {
        if let Some(bad) = set.labels.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(DataError::Invalid(format!(
                "a {what} label is {bad}, but Fashion-MNIST has only {classes} classes"
            )));
        }
    }
    Ok(Dataset {
        source,
        width: train.cols,
        height: train.rows,
        channels: 1,
        class_names: FASHION_CLASSES.iter().map(|&s| s.to_owned()).collect(),
        train: train.set,
        test: Some(test.set),
        fixed_norm: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_subset_is_balanced_fashion_mnist() {
        let data = load(&DatasetSource::Embedded).unwrap();
        assert_eq!((data.width, data.height, data.channels), (28, 28, 1));
        assert_eq!(data.train.len(), 6000);
        assert_eq!(data.test.as_ref().unwrap().len(), 1000);
        assert_eq!(data.train.pixels.len(), 6000 * 784);
        for class in 0..10u16 {
            assert_eq!(
                data.train.labels.iter().filter(|&&l| l == class).count(),
                600
            );
        }
        // Real images, not blanks: Fashion-MNIST's mean pixel is about 73 of 255.
        let mean = data.train.pixels.iter().map(|&p| f64::from(p)).sum::<f64>()
            / data.train.pixels.len() as f64;
        assert!((60.0..90.0).contains(&mean), "mean pixel {mean}");
    }

    #[test]
    fn holdout_is_stratified_disjoint_complete_and_seeded() {
        let data = load(&DatasetSource::Embedded).unwrap();
        let a = split(&data, Validation::Holdout { fraction: 0.2 }, 1).unwrap();
        assert_eq!(a.train.len(), 4800);
        assert_eq!(a.val.len(), 1200);
        let mut all: Vec<u32> = a
            .train
            .indices
            .iter()
            .chain(&a.val.indices)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..6000).collect::<Vec<u32>>());
        for class in 0..10u16 {
            let n = a
                .val
                .indices
                .iter()
                .filter(|&&i| data.train.labels[i as usize] == class)
                .count();
            assert_eq!(n, 120);
        }
        let b = split(&data, Validation::Holdout { fraction: 0.2 }, 1).unwrap();
        assert_eq!(a.val.indices, b.val.indices);
        let c = split(&data, Validation::Holdout { fraction: 0.2 }, 2).unwrap();
        assert_ne!(a.val.indices, c.val.indices);
        assert!((a.norm.mean[0] - 73.0).abs() < 8.0 && (a.norm.std[0] - 90.0).abs() < 10.0);
    }

    #[test]
    fn bad_fractions_and_missing_test_split_are_errors() {
        let data = load(&DatasetSource::Embedded).unwrap();
        for fraction in [0.0, 1.0, -0.5, f32::NAN] {
            let err = split(&data, Validation::Holdout { fraction }, 0).unwrap_err();
            assert!(err.to_string().contains("between 0 and 1"), "{err}");
        }
        let mut no_test = (*data).clone();
        no_test.test = None;
        let err = split(&no_test, Validation::SourceTest, 0).unwrap_err();
        assert!(err.to_string().contains("no test split"), "{err}");
    }

    #[test]
    fn missing_fashion_folder_names_the_file() {
        let source = DatasetSource::FashionMnist {
            dir: PathBuf::from("/nonexistent/fmnist"),
        };
        let err = load(&source).unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent/fmnist/train-images-idx3-ubyte.gz"),
            "{err}"
        );
    }
}
