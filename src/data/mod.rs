//! Datasets: where images come from, how they are held in memory, and how they are split.
//!
//! Every source (an image folder, IDX files, CIFAR batches, the built-in sets, the shapes and
//! micrograph generators) ends up as a [`Dataset`]: images stored once as one compact `u8` array
//! per part (channel-major per image) at one input size and channel count, labels as `u16`, and an
//! optional test part supplied by the source itself. [`load`] caches datasets by source and
//! input format; [`split`] then picks the training and validation samples of a run by index
//! (with class selection, training-subset size and label noise), so nothing is copied.
//! [`prepare`] does both, and is what the training engine calls.

pub mod batch;
pub mod cifar;
pub mod convert;
pub mod disk;
pub mod folder;
pub mod idx;
pub mod loader;
pub mod micro;
pub mod noise;
pub mod progress;
pub mod sampling;
pub mod shapes;
pub mod synthetic;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use cifar::CifarLabels;
pub use convert::InputFormat;
pub use disk::{DiskImages, ImageRef, InMemory, ReadProblems};
pub use micro::MicroConfig;
pub use progress::LoadProgress;
pub use sampling::{
    DatasetConfig, Part, Split, SplitSummary, Subset, TrainSize, Validation, channel_norm, split,
    summarize,
};
pub use shapes::ShapesConfig;

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

/// Class names of Kuzushiji-MNIST (romanised hiragana), in label order.
pub const KMNIST_CLASSES: [&str; 10] = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"];

/// Datasets kept in memory together (the most recent one is always kept).
const CACHE_BYTES: usize = 1 << 30;

const EMBEDDED_TRAIN_IMAGES: &[u8] =
    include_bytes!("../../assets/fashion-mnist-subset/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] =
    include_bytes!("../../assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] =
    include_bytes!("../../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] =
    include_bytes!("../../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz");

/// Everything that can go wrong while loading or splitting data. Each message names the file,
/// folder or setting at fault, so it can be shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
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
    /// The load was cancelled (see [`LoadProgress::cancel`]).
    #[error("loading was cancelled")]
    Cancelled,
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
///
/// On the command line (and in [`FromStr`] / [`std::fmt::Display`]) a source is written
/// `folder:PATH`, `idx:PATH`, `cifar10:PATH`, `cifar100:PATH`, `cifar100-coarse:PATH`, `shapes`,
/// `micro[:SEED]`, `noise`, `embedded` or `fashion-mnist[:PATH]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
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
    /// A folder with one subfolder of images per class, optionally split into `train/` and
    /// `val/` (or `test/`) trees.
    Folder {
        /// The folder.
        path: PathBuf,
    },
    /// MNIST-family IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST), raw or gzipped.
    Idx {
        /// A folder holding the files, or the training-images file.
        path: PathBuf,
    },
    /// CIFAR-10 binary batches.
    Cifar10 {
        /// The folder of `data_batch_*.bin` and `test_batch.bin` (or its parent), or one batch.
        path: PathBuf,
    },
    /// CIFAR-100 binary files.
    Cifar100 {
        /// The folder of `train.bin` and `test.bin` (or its parent), or one file.
        path: PathBuf,
        /// The 100 fine or the 20 coarse classes.
        #[serde(default)]
        labels: CifarLabels,
    },
    /// Synthetic colour images of simple shapes.
    Shapes(ShapesConfig),
    /// Synthetic micrographs of stained cells whose classes differ in a fine detail.
    Micro(MicroConfig),
}

fn default_fashion_dir() -> PathBuf {
    PathBuf::from(SYSTEM_FASHION_MNIST_DIR)
}

/// The last component of a path, for short labels.
fn base_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
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
            Self::Folder { .. } => "folder",
            Self::Idx { .. } => "idx",
            Self::Cifar10 { .. } => "cifar10",
            Self::Cifar100 { .. } => "cifar100",
            Self::Shapes(_) => "shapes",
            Self::Micro(_) => "micro",
        }
    }

    /// A human-readable description for the Dataset panel.
    pub fn label(&self) -> String {
        match self {
            Self::Embedded => "Fashion-MNIST subset (built in)".to_owned(),
            Self::FashionMnist { .. } => "Fashion-MNIST, full (installed)".to_owned(),
            Self::Noise(_) => "Random noise (seed)".to_owned(),
            Self::Folder { path } => format!("Image folder '{}'", base_name(path)),
            Self::Idx { path } => format!("IDX files '{}'", base_name(path)),
            Self::Cifar10 { path } => format!("CIFAR-10 '{}'", base_name(path)),
            Self::Cifar100 { path, labels } => format!(
                "CIFAR-100 '{}' ({} labels)",
                base_name(path),
                match labels {
                    CifarLabels::Fine => "fine",
                    CifarLabels::Coarse => "coarse",
                }
            ),
            Self::Shapes(config) => format!("Synthetic shapes ({} classes)", config.classes),
            Self::Micro(config) => format!(
                "Synthetic micrographs ({} classes, {} px)",
                config.classes, config.size
            ),
        }
    }

    /// The file or folder the source reads, if it reads one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::FashionMnist { dir: path }
            | Self::Folder { path }
            | Self::Idx { path }
            | Self::Cifar10 { path }
            | Self::Cifar100 { path, .. } => Some(path),
            Self::Embedded | Self::Noise(_) | Self::Shapes(_) | Self::Micro(_) => None,
        }
    }

    /// The source a dropped or typed path most likely is: CIFAR binary batches, IDX files, or
    /// else an image folder. Looks at file names only (one level down for the folders the
    /// CIFAR archives unpack to); the loader checks the contents.
    pub fn detect(path: &Path) -> Result<Self, String> {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let name_of = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default()
        };
        let is_idx = |name: &str| name.contains("-ubyte") || name.contains("idx3");
        let cifar100 = |path: PathBuf| Self::Cifar100 {
            path,
            labels: CifarLabels::Fine,
        };
        if meta.is_file() {
            let name = name_of(path);
            return if is_idx(&name) {
                Ok(Self::Idx {
                    path: path.to_owned(),
                })
            } else if name == "train.bin" || name == "test.bin" {
                Ok(cifar100(path.to_owned()))
            } else if name.ends_with(".bin") {
                Ok(Self::Cifar10 {
                    path: path.to_owned(),
                })
            } else {
                Err(format!(
                    "{} is a single file: choose the folder of the dataset (one subfolder per \
                     class), IDX files or CIFAR binary batches",
                    path.display()
                ))
            };
        }
        let names: Vec<String> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read the folder {}: {e}", path.display()))?
            .filter_map(Result::ok)
            .map(|entry| name_of(&entry.path()))
            .collect();
        let has = |name: &str| names.iter().any(|n| n == name);
        if names
            .iter()
            .any(|n| n.starts_with("data_batch_") && n.ends_with(".bin"))
            || has("test_batch.bin")
            || has("cifar-10-batches-bin")
        {
            Ok(Self::Cifar10 {
                path: path.to_owned(),
            })
        } else if (has("train.bin") && has("test.bin")) || has("cifar-100-binary") {
            Ok(cifar100(path.to_owned()))
        } else if names.iter().any(|n| is_idx(n)) {
            Ok(Self::Idx {
                path: path.to_owned(),
            })
        } else {
            Ok(Self::Folder {
                path: path.to_owned(),
            })
        }
    }

    /// Whether the source reads files the user picked (the kind remembered as recent).
    pub fn is_user_data(&self) -> bool {
        match self {
            Self::FashionMnist { dir } => dir != &default_fashion_dir(),
            Self::Folder { .. }
            | Self::Idx { .. }
            | Self::Cifar10 { .. }
            | Self::Cifar100 { .. } => true,
            Self::Embedded | Self::Noise(_) | Self::Shapes(_) | Self::Micro(_) => false,
        }
    }
}

impl std::fmt::Display for DatasetSource {
    /// The command-line spelling (`folder:PATH`, `shapes`, `micro:SEED`, ...); generator settings
    /// other than the micrographs' seed are not part of it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cifar100 {
                path,
                labels: CifarLabels::Coarse,
            } => write!(f, "cifar100-coarse:{}", path.display()),
            Self::FashionMnist { dir } if dir == &default_fashion_dir() => {
                f.write_str("fashion-mnist")
            }
            Self::Micro(config) if config.seed != 0 => write!(f, "micro:{}", config.seed),
            other => match other.path() {
                Some(path) => write!(f, "{}:{}", other.short_name(), path.display()),
                None => f.write_str(other.short_name()),
            },
        }
    }
}

impl FromStr for DatasetSource {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (kind, path) = match spec.split_once(':') {
            Some((kind, path)) => (kind, Some(path)),
            None => (spec, None),
        };
        let kind = kind.trim().to_ascii_lowercase();
        if kind == "micro" {
            let seed = match path.map(str::trim) {
                None => 0,
                Some(seed) => seed.parse().map_err(|_| {
                    format!(
                        "'micro' takes a seed (a whole number from 0): micro or micro:SEED, \
                         found '{seed}'"
                    )
                })?,
            };
            return Ok(Self::Micro(MicroConfig {
                seed,
                ..MicroConfig::default()
            }));
        }
        let path = path
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let with_path = |make: fn(PathBuf) -> Self| {
            path.clone()
                .map(make)
                .ok_or_else(|| format!("'{kind}' needs a path: {kind}:PATH"))
        };
        let no_path = |source: Self| match &path {
            None => Ok(source),
            Some(_) => Err(format!("'{kind}' takes no path")),
        };
        match kind.as_str() {
            "embedded" => no_path(Self::Embedded),
            "noise" => no_path(Self::Noise(noise::NoiseConfig::default())),
            "shapes" => no_path(Self::Shapes(ShapesConfig::default())),
            "fashion-mnist" => Ok(Self::FashionMnist {
                dir: path.unwrap_or_else(default_fashion_dir),
            }),
            "folder" => with_path(|path| Self::Folder { path }),
            "idx" => with_path(|path| Self::Idx { path }),
            "cifar10" => with_path(|path| Self::Cifar10 { path }),
            "cifar100" => with_path(|path| Self::Cifar100 {
                path,
                labels: CifarLabels::Fine,
            }),
            "cifar100-coarse" => with_path(|path| Self::Cifar100 {
                path,
                labels: CifarLabels::Coarse,
            }),
            _ => Err(format!(
                "unknown dataset '{spec}': use folder:PATH, idx:PATH, cifar10:PATH, \
                 cifar100:PATH, cifar100-coarse:PATH, shapes, micro[:SEED], noise, embedded or \
                 fashion-mnist"
            )),
        }
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

/// A file the loader left out, and why. Listed in the run's `run.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file (lossily converted to UTF-8 where its name is not).
    pub path: String,
    /// Why it was left out, e.g. "empty file (0 bytes)".
    pub reason: String,
}

impl std::fmt::Display for SkippedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl SkippedFile {
    pub(crate) fn new(path: &Path, reason: impl Into<String>) -> Self {
        Self {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}

/// What the source's images were like before they were brought to the dataset's input format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFormat {
    /// The most common image sizes as (width, height, count), most common first (at most 8).
    pub sizes: Vec<(u32, u32, usize)>,
    /// How many different sizes there are.
    pub distinct_sizes: usize,
    /// Whether every image is grayscale.
    pub grayscale: bool,
    /// Images whose size or channel count was changed.
    pub converted: usize,
}

impl SourceFormat {
    /// `count` images all of one size and colour mode.
    pub(crate) fn uniform(width: usize, height: usize, grayscale: bool, count: usize) -> Self {
        Self {
            sizes: vec![(width as u32, height as u32, count)],
            distinct_sizes: 1,
            grayscale,
            converted: 0,
        }
    }

    /// From each image's (width, height, grayscale).
    pub(crate) fn from_natives(natives: &[(u32, u32, bool)], converted: usize) -> Self {
        let mut counts: std::collections::HashMap<(u32, u32), usize> = Default::default();
        for &(w, h, _) in natives {
            *counts.entry((w, h)).or_default() += 1;
        }
        let mut sizes: Vec<(u32, u32, usize)> =
            counts.into_iter().map(|((w, h), n)| (w, h, n)).collect();
        sizes.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        let distinct_sizes = sizes.len();
        sizes.truncate(8);
        Self {
            sizes,
            distinct_sizes,
            grayscale: natives.iter().all(|n| n.2),
            converted,
        }
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
    /// Files the loader could not use (corrupt, truncated, unreadable, not images), with reasons.
    pub skipped: Vec<SkippedFile>,
    /// The images' sizes and colour mode before conversion.
    pub source_format: SourceFormat,
    /// For an image folder kept on disk: its indexed files and decoded-image cache (the pixel
    /// arrays of `train` and `test` are then empty).
    pub disk: Option<Arc<DiskImages>>,
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

    /// The pixels of one image of a part; for a dataset on disk, read now unless cached. An
    /// image that cannot be read any more comes back black (see [`Self::try_image`]).
    pub fn image(&self, part: Part, index: usize) -> ImageRef<'_> {
        self.try_image(part, index)
            .unwrap_or_else(|_| ImageRef::Shared(vec![0; self.image_len()].into()))
    }

    /// The pixels of one image of a part, or why its file could not be read (datasets on disk
    /// only: such a sample is left out of batches and listed in the run's record).
    pub fn try_image(&self, part: Part, index: usize) -> Result<ImageRef<'_>, String> {
        match &self.disk {
            Some(disk) => disk.get(part, index).map(ImageRef::Shared),
            None => {
                let len = self.image_len();
                Ok(ImageRef::Borrowed(
                    &self.part(part).pixels[index * len..(index + 1) * len],
                ))
            }
        }
    }

    /// Several images (a dataset on disk decodes those not cached in parallel).
    pub fn try_images(&self, part: Part, indices: &[u32]) -> Vec<Result<ImageRef<'_>, String>> {
        match &self.disk {
            Some(disk) => disk
                .get_many(part, indices)
                .into_iter()
                .map(|r| r.map(ImageRef::Shared))
                .collect(),
            None => indices
                .iter()
                .map(|&i| self.try_image(part, i as usize))
                .collect(),
        }
    }

    /// Calls `each` with (position in `indices`, image or why it could not be read) for every
    /// index, in order. A dataset on disk decodes a few at a time in parallel, so only those are
    /// held at once (a batch of 32 large photos decoded together would take hundreds of MB).
    pub fn for_each_image(
        &self,
        part: Part,
        indices: &[u32],
        mut each: impl FnMut(usize, Result<ImageRef<'_>, String>),
    ) {
        let chunk = if self.on_disk() {
            (2 * rayon::current_num_threads()).max(2)
        } else {
            indices.len().max(1)
        };
        for (c, group) in indices.chunks(chunk).enumerate() {
            for (k, image) in self.try_images(part, group).into_iter().enumerate() {
                each(c * chunk + k, image);
            }
        }
    }

    /// Whether the images are read from disk per sample instead of held in memory.
    pub fn on_disk(&self) -> bool {
        self.disk.is_some()
    }

    /// Files that failed or changed while the dataset was read from disk (none in memory).
    pub fn read_problems(&self) -> ReadProblems {
        self.disk
            .as_ref()
            .map_or_else(ReadProblems::default, |d| d.problems())
    }

    /// Images per class in a part (all zero for a missing test part).
    pub fn class_counts(&self, part: Part) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        let set = match part {
            Part::Train => Some(&self.train),
            Part::Test => self.test.as_ref(),
        };
        for &label in set.map_or(&[][..], |s| &s.labels[..]) {
            if let Some(count) = counts.get_mut(usize::from(label)) {
                *count += 1;
            }
        }
        counts
    }

    /// Images in both parts.
    pub fn total_images(&self) -> usize {
        self.train.len() + self.test.as_ref().map_or(0, ImageSet::len)
    }

    /// Bytes of pixel storage in both parts (for a dataset on disk: its cache's budget).
    pub fn pixel_bytes(&self) -> usize {
        self.train.pixels.len()
            + self.test.as_ref().map_or(0, |t| t.pixels.len())
            + self.disk.as_ref().map_or(0, |d| d.cache_budget())
    }

    /// Bytes the images would take decoded, all in memory.
    pub fn decoded_bytes(&self) -> u64 {
        self.total_images() as u64 * self.image_len() as u64
    }
}

/// Loads the dataset of `config` and splits it for a run: the one call the training engine makes.
pub fn prepare(config: &DatasetConfig, seed: u64) -> Result<(Arc<Dataset>, Split), DataError> {
    let data = load(&config.source, config.input)?;
    let split = split(&data, config, seed)?;
    Ok((data, split))
}

/// Loads a dataset at an input format, reusing an earlier load of the same source and format
/// within this process.
///
/// The GUI's panels and the training worker both call this, so a dataset is held in memory once.
pub fn load(source: &DatasetSource, input: InputFormat) -> Result<Arc<Dataset>, DataError> {
    load_with_progress(source, input, &LoadProgress::new())
}

type CacheEntry = (DatasetSource, InputFormat, Arc<Dataset>);

static CACHE: Mutex<Vec<CacheEntry>> = Mutex::new(Vec::new());

fn cache() -> std::sync::MutexGuard<'static, Vec<CacheEntry>> {
    CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`load`], reporting progress to (and cancellable through) `progress`.
pub fn load_with_progress(
    source: &DatasetSource,
    input: InputFormat,
    progress: &LoadProgress,
) -> Result<Arc<Dataset>, DataError> {
    let hit = cache()
        .iter()
        .find(|(s, i, _)| s == source && *i == input)
        .map(|(_, _, d)| Arc::clone(d));
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let data = Arc::new(load_uncached(source, input, progress)?);
    let mut cache = cache();
    cache.retain(|(s, i, _)| !(s == source && *i == input));
    cache.push((source.clone(), input, Arc::clone(&data)));
    // Keep the most recent datasets within the memory budget (always the newest one).
    while cache.len() > 1
        && cache.iter().map(|(_, _, d)| d.pixel_bytes()).sum::<usize>() > CACHE_BYTES
    {
        cache.remove(0);
    }
    Ok(data)
}

/// Forgets cached loads of `source` (every input format), so the next [`load`] reads it again:
/// after its files changed on disk.
pub fn evict(source: &DatasetSource) {
    cache().retain(|(s, _, _)| s != source);
}

fn load_uncached(
    source: &DatasetSource,
    input: InputFormat,
    progress: &LoadProgress,
) -> Result<Dataset, DataError> {
    input.validate()?;
    if input.in_memory == InMemory::No && !matches!(source, DatasetSource::Folder { .. }) {
        return Err(DataError::Invalid(format!(
            "only image folders can stay on disk; {} is read into memory (use \
             --data-in-memory auto or yes)",
            source.label()
        )));
    }
    let data = match source {
        DatasetSource::Embedded => embedded()?,
        DatasetSource::FashionMnist { dir } => {
            let files = idx::IdxFiles {
                train: (
                    dir.join("train-images-idx3-ubyte.gz"),
                    dir.join("train-labels-idx1-ubyte.gz"),
                ),
                test: Some((
                    dir.join("t10k-images-idx3-ubyte.gz"),
                    dir.join("t10k-labels-idx1-ubyte.gz"),
                )),
                mapping: None,
            };
            idx::load(&files, source.clone(), Some(&FASHION_CLASSES), progress)?
        }
        DatasetSource::Noise(config) => noise::generate(config)?,
        DatasetSource::Shapes(config) => shapes::generate(config, progress)?,
        DatasetSource::Micro(config) => micro::generate(config, progress)?,
        DatasetSource::Folder { path } => {
            // Converted while decoding: no second pass needed.
            return folder::load(path, input, source.clone(), progress);
        }
        DatasetSource::Idx { path } => {
            idx::load(&idx::find_files(path)?, source.clone(), None, progress)?
        }
        DatasetSource::Cifar10 { path } => {
            cifar::load(path, cifar::Cifar::Ten, source.clone(), progress)?
        }
        DatasetSource::Cifar100 { path, labels } => cifar::load(
            path,
            cifar::Cifar::Hundred(*labels),
            source.clone(),
            progress,
        )?,
    };
    convert::conform(data, input, progress)
}

fn embedded() -> Result<Dataset, DataError> {
    let part = |images: &[u8], images_name: &str, labels: &[u8], labels_name: &str| {
        idx::pair(
            idx::parse(images, images_name)?,
            images_name,
            idx::parse(labels, labels_name)?,
            labels_name,
        )
    };
    let train = part(
        EMBEDDED_TRAIN_IMAGES,
        "built-in train images",
        EMBEDDED_TRAIN_LABELS,
        "built-in train labels",
    )?;
    let test = part(
        EMBEDDED_TEST_IMAGES,
        "built-in test images",
        EMBEDDED_TEST_LABELS,
        "built-in test labels",
    )?;
    let n = train.set.len() + test.set.len();
    Ok(Dataset {
        source: DatasetSource::Embedded,
        width: train.cols,
        height: train.rows,
        channels: 1,
        class_names: FASHION_CLASSES.iter().map(|&s| s.to_owned()).collect(),
        train: train.set,
        test: Some(test.set),
        fixed_norm: None,
        skipped: Vec::new(),
        source_format: SourceFormat::uniform(train.cols, train.rows, true, n),
        disk: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holdout(fraction: f32) -> DatasetConfig {
        DatasetConfig {
            validation: Validation::Holdout { fraction },
            ..DatasetConfig::default()
        }
    }

    #[test]
    fn detect_tells_cifar_idx_and_folders_apart_by_their_file_names() {
        let tmp = tempfile::tempdir().unwrap();
        let make = |dir: &str, files: &[&str]| {
            let d = tmp.path().join(dir);
            std::fs::create_dir_all(&d).unwrap();
            for f in files {
                std::fs::write(d.join(f), b"x").unwrap();
            }
            d
        };
        let c10 = make(
            "c10",
            &["data_batch_1.bin", "test_batch.bin", "batches.meta.txt"],
        );
        let c100 = make("c100", &["train.bin", "test.bin"]);
        let idx = make(
            "mnist",
            &["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"],
        );
        let photos = make("photos/cat", &["a.jpg"]);
        let photos = photos.parent().unwrap().to_owned();
        let detect = |p: &Path| DatasetSource::detect(p).unwrap().short_name();
        assert_eq!(detect(&c10), "cifar10");
        assert_eq!(detect(&c10.join("data_batch_1.bin")), "cifar10");
        assert_eq!(detect(&c100), "cifar100");
        assert_eq!(detect(&idx), "idx");
        assert_eq!(detect(&idx.join("train-images-idx3-ubyte.gz")), "idx");
        assert_eq!(detect(&photos), "folder");
        let single = DatasetSource::detect(&photos.join("cat/a.jpg")).unwrap_err();
        assert!(single.contains("single file"), "{single}");
        let missing = DatasetSource::detect(&tmp.path().join("nope")).unwrap_err();
        assert!(missing.contains("nope"), "{missing}");
    }

    #[test]
    fn embedded_subset_is_balanced_fashion_mnist() {
        let data = load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
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
        let data = load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
        let a = split(&data, &holdout(0.2), 1).unwrap();
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
        let b = split(&data, &holdout(0.2), 1).unwrap();
        assert_eq!(a.val.indices, b.val.indices);
        let c = split(&data, &holdout(0.2), 2).unwrap();
        assert_ne!(a.val.indices, c.val.indices);
        assert!((a.norm.mean[0] - 73.0).abs() < 8.0 && (a.norm.std[0] - 90.0).abs() < 10.0);
    }

    #[test]
    fn bad_fractions_and_missing_test_split_are_errors() {
        let data = load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
        for fraction in [0.0, 1.0, -0.5, f32::NAN] {
            let err = split(&data, &holdout(fraction), 0).unwrap_err();
            assert!(err.to_string().contains("between 0 and 1"), "{err}");
        }
        let mut no_test = (*data).clone();
        no_test.test = None;
        let source_test = DatasetConfig {
            validation: Validation::SourceTest,
            ..DatasetConfig::default()
        };
        let err = split(&no_test, &source_test, 0).unwrap_err();
        assert!(err.to_string().contains("no test split"), "{err}");
    }

    #[test]
    fn missing_fashion_folder_names_the_file() {
        let source = DatasetSource::FashionMnist {
            dir: PathBuf::from("/nonexistent/fmnist"),
        };
        let err = load(&source, InputFormat::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/fmnist/train-images-idx3-ubyte.gz"),
            "{err}"
        );
    }

    #[test]
    fn specs_parse_print_and_explain_mistakes() {
        for spec in [
            "folder:/data/pets",
            "idx:/data/mnist",
            "cifar10:/data/c10",
            "cifar100:/data/c100",
            "cifar100-coarse:/data/c100",
            "shapes",
            "micro",
            "micro:7",
            "noise",
            "embedded",
            "fashion-mnist",
        ] {
            let source: DatasetSource = spec.parse().unwrap();
            assert_eq!(source.to_string(), spec);
            assert!(spec.starts_with(source.short_name()), "{spec}");
        }
        assert_eq!(
            "cifar100:x".parse::<DatasetSource>().unwrap(),
            DatasetSource::Cifar100 {
                path: "x".into(),
                labels: CifarLabels::Fine
            }
        );
        let err = "folder".parse::<DatasetSource>().unwrap_err();
        assert!(err.contains("folder:PATH"), "{err}");
        let err = "mnist:/x".parse::<DatasetSource>().unwrap_err();
        assert!(
            err.contains("unknown dataset 'mnist:/x'") && err.contains("idx:PATH"),
            "{err}"
        );
        let err = "noise:/x".parse::<DatasetSource>().unwrap_err();
        assert!(err.contains("takes no path"), "{err}");
    }

    #[test]
    fn input_format_resizes_a_fixed_source_and_is_part_of_the_cache_key() {
        let small = load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
        let big = load(
            &DatasetSource::Embedded,
            InputFormat {
                size: Some(32),
                channels: Some(3),
                ..InputFormat::default()
            },
        )
        .unwrap();
        assert_eq!((big.width, big.height, big.channels), (32, 32, 3));
        assert_eq!(big.train.len(), small.train.len());
        assert_eq!(big.train.pixels.len(), 6000 * 32 * 32 * 3);
        assert_eq!(big.source_format.converted, 7000);
        assert_eq!(small.source_format.sizes, vec![(28, 28, 7000)]);
        let again = load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
        assert!(Arc::ptr_eq(&small, &again));
    }

    #[test]
    fn old_config_without_the_new_fields_still_loads() {
        let config: DatasetConfig =
            toml::from_str("[source]\nkind = \"embedded\"\n[validation]\nkind = \"source-test\"\n")
                .unwrap();
        assert_eq!(config.validation, Validation::SourceTest);
        assert_eq!(config.train_size, TrainSize::All);
        assert_eq!(config.input, InputFormat::default());
        let full = DatasetConfig {
            source: DatasetSource::Cifar100 {
                path: "/c".into(),
                labels: CifarLabels::Coarse,
            },
            validation: Validation::default(),
            train_size: TrainSize::PerClass { count: 5 },
            label_noise: 0.1,
            classes: Some(vec![1, 4]),
            input: InputFormat {
                size: Some(48),
                channels: Some(1),
                ..InputFormat::default()
            },
        };
        let text = toml::to_string(&full).unwrap();
        assert_eq!(toml::from_str::<DatasetConfig>(&text).unwrap(), full);
    }
}
