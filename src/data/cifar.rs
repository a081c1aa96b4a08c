//! CIFAR-10 and CIFAR-100 in their binary form.
//!
//! A CIFAR-10 record is 1 label byte and 3,072 pixel bytes; a CIFAR-100 record is 2 label bytes
//! (coarse, then fine) and 3,072 pixel bytes. The pixels are a 32×32 image's red plane, then
//! green, then blue, each row-major: exactly the channel-major layout a [`Dataset`] stores, so
//! records are read straight into the pixel array. CIFAR-10 comes as `data_batch_1.bin` …
//! `data_batch_5.bin` and `test_batch.bin`, CIFAR-100 as `train.bin` and `test.bin`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::convert::alloc_pixels;
use super::progress::LoadProgress;
use super::{DataError, Dataset, DatasetSource, ImageSet, SourceFormat};

/// Side of a CIFAR image in pixels.
const SIDE: usize = 32;
/// Pixel bytes per record.
const IMAGE_BYTES: usize = SIDE * SIDE * 3;
/// Records read between two progress updates.
const PROGRESS_EVERY: usize = 1000;

/// CIFAR-10's classes in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// CIFAR-100's 100 fine classes in label order.
pub const CIFAR100_FINE_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

/// CIFAR-100's 20 coarse classes (superclasses) in label order.
pub const CIFAR100_COARSE_CLASSES: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

/// Which of CIFAR-100's two labels to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CifarLabels {
    /// The 100 fine classes.
    #[default]
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

/// Which CIFAR and, for CIFAR-100, which label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cifar {
    Ten,
    Hundred(CifarLabels),
}

impl Cifar {
    fn name(self) -> &'static str {
        match self {
            Self::Ten => "CIFAR-10",
            Self::Hundred(_) => "CIFAR-100",
        }
    }

    fn label_bytes(self) -> usize {
        match self {
            Self::Ten => 1,
            Self::Hundred(_) => 2,
        }
    }

    fn record_len(self) -> usize {
        self.label_bytes() + IMAGE_BYTES
    }

    fn label(self, bytes: &[u8]) -> u8 {
        match self {
            Self::Ten | Self::Hundred(CifarLabels::Coarse) => bytes[0],
            Self::Hundred(CifarLabels::Fine) => bytes[1],
        }
    }

    fn builtin_names(self) -> &'static [&'static str] {
        match self {
            Self::Ten => &CIFAR10_CLASSES,
            Self::Hundred(CifarLabels::Fine) => &CIFAR100_FINE_CLASSES,
            Self::Hundred(CifarLabels::Coarse) => &CIFAR100_COARSE_CLASSES,
        }
    }

    fn names_file(self) -> &'static str {
        match self {
            Self::Ten => "batches.meta.txt",
            Self::Hundred(CifarLabels::Fine) => "fine_label_names.txt",
            Self::Hundred(CifarLabels::Coarse) => "coarse_label_names.txt",
        }
    }

    fn subfolder(self) -> &'static str {
        match self {
            Self::Ten => "cifar-10-batches-bin",
            Self::Hundred(_) => "cifar-100-binary",
        }
    }
}

/// The batch files of a CIFAR dataset and the folder they are in.
struct CifarFiles {
    dir: PathBuf,
    train: Vec<PathBuf>,
    test: Option<PathBuf>,
}

/// Finds the batches in `path`: a folder (or its standard subfolder `cifar-10-batches-bin` /
/// `cifar-100-binary`), or one batch file, which is then the whole training set.
fn find_files(path: &Path, kind: Cifar) -> Result<CifarFiles, DataError> {
    let meta = std::fs::metadata(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(CifarFiles {
            dir: path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
            train: vec![path.to_owned()],
            test: None,
        });
    }
    let found = batches_in(path, kind)?;
    if !found.train.is_empty() {
        return Ok(found);
    }
    let nested = path.join(kind.subfolder());
    if nested.is_dir() {
        let found = batches_in(&nested, kind)?;
        if !found.train.is_empty() {
            return Ok(found);
        }
    }
    let expected = match kind {
        Cifar::Ten => "data_batch_1.bin … data_batch_5.bin and test_batch.bin",
        Cifar::Hundred(_) => "train.bin and test.bin",
    };
    Err(DataError::Invalid(format!(
        "{} has no {} training batches (expected {expected})",
        path.display(),
        kind.name()
    )))
}

fn batches_in(dir: &Path, kind: Cifar) -> Result<CifarFiles, DataError> {
    let io = |source| DataError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut train = Vec::new();
    let mut test = None;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().to_lowercase()) else {
            continue;
        };
        match kind {
            Cifar::Ten => {
                if let Some(n) = name
                    .strip_prefix("data_batch_")
                    .and_then(|rest| rest.strip_suffix(".bin"))
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    train.push((n, path));
                } else if name == "test_batch.bin" {
                    test = Some(path);
                }
            }
            Cifar::Hundred(_) => {
                if name == "train.bin" {
                    train.push((0, path));
                } else if name == "test.bin" {
                    test = Some(path);
                }
            }
        }
    }
    train.sort();
    Ok(CifarFiles {
        dir: dir.to_owned(),
        train: train.into_iter().map(|(_, p)| p).collect(),
        test,
    })
}

/// Loads CIFAR-10 or CIFAR-100 from `path`.
pub(crate) fn load(
    path: &Path,
    kind: Cifar,
    source: DatasetSource,
    progress: &LoadProgress,
) -> Result<Dataset, DataError> {
    let files = find_files(path, kind)?;
    let train = read_records(&files.train, kind, progress)?;
    let test = files
        .test
        .as_ref()
        .map(|t| read_records(std::slice::from_ref(t), kind, progress))
        .transpose()?;
    let n = train.len() + test.as_ref().map_or(0, ImageSet::len);
    Ok(Dataset {
        source,
        width: SIDE,
        height: SIDE,
        channels: 3,
        class_names: class_names(&files.dir, kind),
        train,
        test,
        fixed_norm: None,
        skipped: Vec::new(),
        source_format: SourceFormat::uniform(SIDE, SIDE, false, n),
        disk: None,
    })
}

/// The class names from the dataset's own names file when it has the right number of lines,
/// else the standard ones.
fn class_names(dir: &Path, kind: Cifar) -> Vec<String> {
    let builtin = kind.builtin_names();
    std::fs::read_to_string(dir.join(kind.names_file()))
        .ok()
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|names| names.len() == builtin.len())
        .unwrap_or_else(|| builtin.iter().map(|&s| s.to_owned()).collect())
}

/// Reads every record of `paths` into one image set, the files in parallel.
fn read_records(
    paths: &[PathBuf],
    kind: Cifar,
    progress: &LoadProgress,
) -> Result<ImageSet, DataError> {
    let record = kind.record_len();
    let mut counts = Vec::with_capacity(paths.len());
    for path in paths {
        let len = std::fs::metadata(path)
            .map_err(|source| DataError::Io {
                path: path.display().to_string(),
                source,
            })?
            .len();
        if len == 0 || len % record as u64 != 0 {
            return Err(DataError::format(
                &path.display().to_string(),
                format!(
                    "is {len} bytes, not a whole number of {record}-byte {} records{}",
                    kind.name(),
                    if len == 0 { "" } else { " (truncated?)" }
                ),
            ));
        }
        counts.push((len / record as u64) as usize);
    }
    let total: usize = counts.iter().sum();
    progress.begin(&format!("Reading {} batches", kind.name()), total as u64);
    let mut pixels = alloc_pixels(total, IMAGE_BYTES, &format!("{} images", kind.name()))?;
    let mut labels = vec![0u16; total];
    let mut jobs = Vec::with_capacity(paths.len());
    let (mut rest_pixels, mut rest_labels) = (&mut pixels[..], &mut labels[..]);
    for (path, &n) in paths.iter().zip(&counts) {
        let (p, rp) = std::mem::take(&mut rest_pixels).split_at_mut(n * IMAGE_BYTES);
        let (l, rl) = std::mem::take(&mut rest_labels).split_at_mut(n);
        jobs.push((path, p, l));
        rest_pixels = rp;
        rest_labels = rl;
    }
    jobs.into_par_iter()
        .try_for_each(|(path, pixels, labels)| read_file(path, kind, pixels, labels, progress))?;
    Ok(ImageSet { pixels, labels })
}

fn read_file(
    path: &Path,
    kind: Cifar,
    pixels: &mut [u8],
    labels: &mut [u16],
    progress: &LoadProgress,
) -> Result<(), DataError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| DataError::Io {
        path: name.clone(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let classes = kind.builtin_names().len();
    let mut label_bytes = [0u8; 2];
    let label_bytes = &mut label_bytes[..kind.label_bytes()];
    for (i, (image, label)) in pixels
        .chunks_exact_mut(IMAGE_BYTES)
        .zip(labels.iter_mut())
        .enumerate()
    {
        if i % PROGRESS_EVERY == 0 {
            progress.check()?;
        }
        reader
            .read_exact(label_bytes)
            .and_then(|()| reader.read_exact(image))
            .map_err(|e| {
                DataError::format(
                    &name,
                    format!("cannot read record {i} ({e}); the file is truncated or changed"),
                )
            })?;
        let value = kind.label(label_bytes);
        if usize::from(value) >= classes {
            return Err(DataError::format(
                &name,
                format!(
                    "record {i} has label {value}, but {} has {classes} classes",
                    kind.name()
                ),
            ));
        }
        *label = u16::from(value);
        if (i + 1) % PROGRESS_EVERY == 0 {
            progress.add(PROGRESS_EVERY as u64);
        }
    }
    progress.add((labels.len() % PROGRESS_EVERY) as u64);
    Ok(())
}
