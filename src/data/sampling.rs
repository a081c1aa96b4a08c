//! Which samples a run trains and validates on: hold-out or the source's own split, class
//! selection, training-subset size and label noise.
//!
//! Everything is seeded and stratified, so a configuration gives the same split every time. The
//! steps are independent where it matters for comparing runs: the validation samples depend only
//! on the seed and the hold-out fraction (never on the subset size or the label noise), and the
//! training subset of a class at one size is a prefix of the one at a larger size.

use std::str::FromStr;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::convert::InputFormat;
use super::{ChannelNorm, DataError, Dataset, DatasetSource};

/// Seed offsets of the three random steps.
const HOLDOUT_STREAM: u64 = 0x5EED_5B11;
const SUBSET_STREAM: u64 = 0x5B5E_7000;
const NOISE_STREAM: u64 = 0x0A15_E000;

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

/// How many of the available training samples a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TrainSize {
    /// Every training sample.
    #[default]
    All,
    /// This many in total, split between classes in proportion to their sizes (each class keeps
    /// at least one sample when the total allows).
    Total {
        /// Number of samples (more than available means all).
        count: usize,
    },
    /// This many of each class (or all of a smaller class).
    PerClass {
        /// Samples per class.
        count: usize,
    },
}

impl FromStr for TrainSize {
    type Err = String;

    /// `all`, `N` (total) or `N/class` (per class).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(Self::All);
        }
        let (number, per_class) = match text.strip_suffix("/class") {
            Some(number) => (number, true),
            None => (text, false),
        };
        let count = number.trim().parse::<usize>().map_err(|_| {
            format!("'{text}' is not a training-set size: use all, N (total) or N/class")
        })?;
        Ok(if per_class {
            Self::PerClass { count }
        } else {
            Self::Total { count }
        })
    }
}

/// The data part of an experiment: which dataset in which input format, and which of its samples
/// a run trains and validates on. Saved in every run's `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DatasetConfig {
    /// Where the images come from.
    pub source: DatasetSource,
    /// How validation samples are chosen.
    pub validation: Validation,
    /// How many training samples are used.
    pub train_size: TrainSize,
    /// Fraction of training labels replaced by a different, random class (seeded); 0 to 1.
    /// Validation labels are never changed.
    pub label_noise: f32,
    /// The classes to use (dataset class numbers), or `None` for all. The model sees them
    /// renumbered 0..k in this order.
    pub classes: Option<Vec<u16>>,
    /// Input size and channels (each `None` = from the data).
    pub input: InputFormat,
}

impl DatasetConfig {
    /// Checks the settings that need no data (fraction, label noise, class selection, subset
    /// size, input format), naming the one at fault.
    pub fn validate(&self) -> Result<(), DataError> {
        if let Validation::Holdout { fraction } = self.validation
            && !(fraction > 0.0 && fraction < 1.0)
        {
            return Err(DataError::Invalid(format!(
                "the validation fraction must be between 0 and 1 (exclusive), found {fraction}"
            )));
        }
        if !(0.0..=1.0).contains(&self.label_noise) {
            return Err(DataError::Invalid(format!(
                "the label noise must be between 0 and 1, found {}",
                self.label_noise
            )));
        }
        if let TrainSize::Total { count: 0 } | TrainSize::PerClass { count: 0 } = self.train_size {
            return Err(DataError::Invalid(
                "the training-set size must be at least 1".to_owned(),
            ));
        }
        if let Some(classes) = &self.classes {
            let mut distinct = classes.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() < 2 {
                return Err(DataError::Invalid(format!(
                    "select at least two classes to train a classifier ({} selected)",
                    distinct.len()
                )));
            }
        }
        self.input.validate()
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

/// Some images of one part, by index, with the labels the model is given for them.
#[derive(Debug, Clone)]
pub struct Subset {
    /// The image set the indices refer to.
    pub part: Part,
    /// Indices into that set, ascending.
    pub indices: Vec<u32>,
    /// One label per index, in the split's class numbering ([`Split::classes`]); for training
    /// samples, after label noise.
    pub labels: Vec<u16>,
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
    /// The dataset classes used, in the model's output order: label `k` of a subset is dataset
    /// class `classes[k]`.
    pub classes: Vec<u16>,
    /// Training samples whose label was replaced by label noise.
    pub noisy_labels: usize,
    /// Generated images mixed into the training samples, if any.
    pub synthetic: Option<super::synthetic::SyntheticMark>,
}

impl Split {
    /// Number of classes the model distinguishes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// For each class of the dataset, its number in the model's output (`None` when the class
    /// is not selected).
    pub fn model_classes(&self, data: &Dataset) -> Vec<Option<usize>> {
        let mut remap = vec![None; data.num_classes()];
        for (new, &old) in self.classes.iter().enumerate() {
            if let Some(slot) = remap.get_mut(usize::from(old)) {
                *slot = Some(new);
            }
        }
        remap
    }

    /// Names of the classes in the model's output order.
    pub fn class_names(&self, data: &Dataset) -> Vec<String> {
        self.classes
            .iter()
            .map(|&c| {
                data.class_names
                    .get(usize::from(c))
                    .cloned()
                    .unwrap_or_else(|| format!("class {c}"))
            })
            .collect()
    }
}

/// What the Dataset panel shows about a split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSummary {
    /// Class names in the model's output order.
    pub class_names: Vec<String>,
    /// Training samples per class (by true class, before label noise).
    pub train_counts: Vec<usize>,
    /// Validation samples per class.
    pub val_counts: Vec<usize>,
    /// Training labels changed by label noise.
    pub noisy_labels: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Per-channel mean and standard deviation used to normalise the inputs.
    pub norm: ChannelNorm,
}

/// Summarises a split of `data` for display.
pub fn summarize(data: &Dataset, split: &Split) -> SplitSummary {
    let k = split.num_classes();
    let remap = split.model_classes(data);
    let count = |subset: &Subset| {
        let mut counts = vec![0; k];
        let labels = &data.part(subset.part).labels;
        for &i in &subset.indices {
            let class = labels
                .get(i as usize)
                .and_then(|&l| remap.get(usize::from(l)).copied().flatten());
            if let Some(class) = class {
                counts[class] += 1;
            }
        }
        counts
    };
    SplitSummary {
        class_names: split.class_names(data),
        train_counts: count(&split.train),
        val_counts: count(&split.val),
        noisy_labels: split.noisy_labels,
        width: data.width,
        height: data.height,
        channels: data.channels,
        norm: split.norm.clone(),
    }
}

/// Splits a dataset into training and validation samples, reproducibly for a given seed.
///
/// A hold-out is stratified: each class gives the same fraction of its images (at least one), so
/// small datasets keep every class on both sides. The training subset size and label noise then
/// apply to the training samples only.
pub fn split(data: &Dataset, config: &DatasetConfig, seed: u64) -> Result<Split, DataError> {
    config.validate()?;
    let classes = selected_classes(data, config.classes.as_deref())?;
    let mut remap: Vec<Option<u16>> = vec![None; data.num_classes()];
    for (new, &old) in classes.iter().enumerate() {
        remap[usize::from(old)] = Some(new as u16);
    }
    let by_class = |labels: &[u16]| {
        let mut groups = vec![Vec::new(); data.num_classes()];
        for (i, &label) in labels.iter().enumerate() {
            if let Some(group) = groups.get_mut(usize::from(label)) {
                group.push(i as u32);
            }
        }
        groups
    };

    // Training candidates per dataset class, and the validation samples.
    let (mut pools, val_part, mut val) = match config.validation {
        Validation::SourceTest => {
            let test = data.test.as_ref().ok_or_else(|| {
                DataError::Invalid(format!(
                    "{} has no test split of its own: choose a hold-out fraction for validation",
                    data.source.label()
                ))
            })?;
            let val: Vec<u32> = (0..test.len() as u32)
                .filter(|&i| class_of(&remap, test.labels[i as usize]).is_some())
                .collect();
            (by_class(&data.train.labels), Part::Test, val)
        }
        Validation::Holdout { fraction } => {
            // Every class is shuffled, selected or not, so a class's validation samples do not
            // depend on which other classes are selected.
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ HOLDOUT_STREAM);
            let mut pools = by_class(&data.train.labels);
            let mut val = Vec::new();
            for (class, members) in pools.iter_mut().enumerate() {
                members.shuffle(&mut rng);
                let n_val = if members.len() < 2 {
                    0
                } else {
                    ((members.len() as f32 * fraction).round() as usize).clamp(1, members.len() - 1)
                };
                let rest = members.split_off(n_val);
                if remap[class].is_some() {
                    val.append(members);
                }
                *members = rest;
            }
            (pools, Part::Train, val)
        }
    };
    val.sort_unstable();
    for (class, pool) in pools.iter_mut().enumerate() {
        if remap[class].is_none() {
            pool.clear();
        }
    }

    let sizes: Vec<usize> = pools.iter().map(Vec::len).collect();
    let quotas = quotas(&sizes, config.train_size)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ SUBSET_STREAM);
    let mut train: Vec<(u32, u16)> = Vec::new();
    for (class, (pool, quota)) in pools.iter_mut().zip(quotas).enumerate() {
        pool.sort_unstable();
        pool.shuffle(&mut rng);
        if let Some(label) = remap[class] {
            train.extend(pool.iter().take(quota).map(|&i| (i, label)));
        }
    }
    train.sort_unstable();

    let noise = config.label_noise;
    let mut train_labels: Vec<u16> = train.iter().map(|&(_, l)| l).collect();
    let noisy_labels = ((train.len() as f64 * f64::from(noise)).round() as usize).min(train.len());
    if noisy_labels > 0 && classes.len() > 1 {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ NOISE_STREAM);
        let mut positions: Vec<usize> = (0..train.len()).collect();
        positions.shuffle(&mut rng);
        for &p in &positions[..noisy_labels] {
            let other = rng.random_range(0..classes.len() as u16 - 1);
            train_labels[p] = if other >= train_labels[p] {
                other + 1
            } else {
                other
            };
        }
    }

    let train = Subset {
        part: Part::Train,
        indices: train.iter().map(|&(i, _)| i).collect(),
        labels: train_labels,
    };
    let val_labels = &data.part(val_part).labels;
    let val = Subset {
        part: val_part,
        labels: val
            .iter()
            .map(|&i| class_of(&remap, val_labels[i as usize]).unwrap_or(0))
            .collect(),
        indices: val,
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
    Ok(Split {
        train,
        val,
        norm,
        classes,
        noisy_labels,
        synthetic: None,
    })
}

/// The split's number for a dataset label, if its class is selected.
fn class_of(remap: &[Option<u16>], label: u16) -> Option<u16> {
    remap.get(usize::from(label)).copied().flatten()
}

/// The selected classes, ascending and without repeats; all classes when `None`.
fn selected_classes(data: &Dataset, selection: Option<&[u16]>) -> Result<Vec<u16>, DataError> {
    let n = data.num_classes();
    let Some(selection) = selection else {
        return Ok((0..n as u16).collect());
    };
    if let Some(bad) = selection.iter().find(|&&c| usize::from(c) >= n) {
        return Err(DataError::Invalid(format!(
            "class {bad} does not exist: {} has {n} classes (0 to {})",
            data.source.label(),
            n.saturating_sub(1)
        )));
    }
    let mut classes = selection.to_vec();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() < 2 {
        return Err(DataError::Invalid(format!(
            "select at least two classes to train a classifier ({} selected)",
            classes.len()
        )));
    }
    Ok(classes)
}

/// Training samples to take from each class, given the class sizes.
fn quotas(sizes: &[usize], size: TrainSize) -> Result<Vec<usize>, DataError> {
    match size {
        TrainSize::All => Ok(sizes.to_vec()),
        TrainSize::PerClass { count: 0 } | TrainSize::Total { count: 0 } => Err(
            DataError::Invalid("the training-set size must be at least 1".to_owned()),
        ),
        TrainSize::PerClass { count } => Ok(sizes.iter().map(|&s| s.min(count)).collect()),
        TrainSize::Total { count } => {
            let available: usize = sizes.iter().sum();
            let count = count.min(available);
            if available == 0 {
                return Ok(vec![0; sizes.len()]);
            }
            // Largest remainder: proportional shares, rounded so that they add up to `count`.
            let shares: Vec<f64> = sizes
                .iter()
                .map(|&s| count as f64 * s as f64 / available as f64)
                .collect();
            let mut quotas: Vec<usize> = shares.iter().map(|s| s.floor() as usize).collect();
            let mut left = count - quotas.iter().sum::<usize>();
            let mut order: Vec<usize> = (0..sizes.len()).collect();
            order.sort_by(|&a, &b| {
                let frac = |i: usize| shares[i] - shares[i].floor();
                frac(b).total_cmp(&frac(a)).then(a.cmp(&b))
            });
            for i in order {
                if left == 0 {
                    break;
                }
                if quotas[i] < sizes[i] {
                    quotas[i] += 1;
                    left -= 1;
                }
            }
            // Every class keeps a sample when the total allows, taken from the largest quota.
            let nonempty = sizes.iter().filter(|&&s| s > 0).count();
            if count >= nonempty {
                for i in 0..sizes.len() {
                    if sizes[i] > 0 && quotas[i] == 0 {
                        let donor = (0..sizes.len()).max_by_key(|&j| (quotas[j], j));
                        if let Some(donor) = donor.filter(|&d| quotas[d] > 1) {
                            quotas[donor] -= 1;
                            quotas[i] += 1;
                        }
                    }
                }
            }
            Ok(quotas)
        }
    }
}

/// Images of a dataset on disk whose pixels give its normalisation (evenly spaced through the
/// subset), so a run does not decode every file before its first step.
pub const NORM_SAMPLE_ON_DISK: usize = 256;

/// Mean and standard deviation per channel over a subset's pixels (for a dataset on disk, over
/// at most [`NORM_SAMPLE_ON_DISK`] of its images).
pub fn channel_norm(data: &Dataset, subset: &Subset) -> ChannelNorm {
    let plane = data.width * data.height;
    let mut sum = vec![0f64; data.channels];
    let mut sum_sq = vec![0f64; data.channels];
    let n = subset.indices.len();
    let sample: Vec<u32> = if data.on_disk() && n > NORM_SAMPLE_ON_DISK {
        (0..NORM_SAMPLE_ON_DISK)
            .map(|k| subset.indices[k * n / NORM_SAMPLE_ON_DISK])
            .collect()
    } else {
        subset.indices.clone()
    };
    let mut counted = 0usize;
    data.for_each_image(subset.part, &sample, |_, image| {
        let Ok(image) = image else {
            return;
        };
        counted += 1;
        for (c, channel) in image.chunks_exact(plane.max(1)).enumerate() {
            let (s, sq) = channel.iter().fold((0u64, 0u64), |(s, sq), &p| {
                (s + u64::from(p), sq + u64::from(p) * u64::from(p))
            });
            sum[c] += s as f64;
            sum_sq[c] += sq as f64;
        }
    });
    let n = (counted * plane).max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sum_sq
        .iter()
        .zip(&mean)
        .map(|(sq, &m)| ((sq / n - f64::from(m) * f64::from(m)).max(0.0).sqrt() as f32).max(1.0))
        .collect();
    ChannelNorm { mean, std }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ImageSet, SourceFormat};

    /// `per_class[c]` training images of class c (1×1 pixels whose value is the class), and a
    /// test set of `test_per_class` per class.
    fn toy(per_class: &[usize], test_per_class: usize) -> Dataset {
        let mut labels = Vec::new();
        for (c, &n) in per_class.iter().enumerate() {
            labels.extend(std::iter::repeat_n(c as u16, n));
        }
        let test_labels: Vec<u16> = (0..per_class.len())
            .flat_map(|c| std::iter::repeat_n(c as u16, test_per_class))
            .collect();
        Dataset {
            source: DatasetSource::Embedded,
            width: 1,
            height: 1,
            channels: 1,
            class_names: (0..per_class.len()).map(|c| format!("c{c}")).collect(),
            train: ImageSet {
                pixels: labels.iter().map(|&l| l as u8).collect(),
                labels,
            },
            test: Some(ImageSet {
                pixels: test_labels.iter().map(|&l| l as u8).collect(),
                labels: test_labels,
            }),
            fixed_norm: None,
            skipped: Vec::new(),
            source_format: SourceFormat::default(),
            disk: None,
        }
    }

    fn config(f: impl FnOnce(&mut DatasetConfig)) -> DatasetConfig {
        let mut c = DatasetConfig::default();
        f(&mut c);
        c
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Whatever the class sizes, hold-out fraction, subset size, label noise and seed:
        /// training and validation are disjoint, a full split covers every image, the
        /// validation side ignores subset size and noise, exactly the promised share of
        /// training labels is changed (each to another class), and the seed repeats it all.
        #[test]
        fn splits_are_disjoint_complete_and_seeded(
            per_class in proptest::collection::vec(2usize..40, 2..6),
            fraction in 0.05f32..0.5,
            subset in 1usize..60,
            per_class_subset in proptest::bool::ANY,
            noise in 0.0f32..0.9,
            seed in 0u64..1000,
        ) {
            let data = toy(&per_class, 3);
            let full = config(|c| c.validation = Validation::Holdout { fraction });
            let whole = split(&data, &full, seed).unwrap();
            let mut seen: Vec<u32> = whole.train.indices.iter().chain(&whole.val.indices).copied().collect();
            seen.sort_unstable();
            let all: Vec<u32> = (0..data.train.len() as u32).collect();
            proptest::prop_assert_eq!(&seen, &all, "every image on exactly one side");

            let cut = config(|c| {
                c.validation = Validation::Holdout { fraction };
                c.train_size = if per_class_subset {
                    TrainSize::PerClass { count: subset }
                } else {
                    TrainSize::Total { count: subset }
                };
                c.label_noise = noise;
            });
            let part = split(&data, &cut, seed).unwrap();
            proptest::prop_assert_eq!(&part.val.indices, &whole.val.indices);
            proptest::prop_assert_eq!(&part.val.labels, &whole.val.labels);
            for i in &part.train.indices {
                proptest::prop_assert!(whole.train.indices.contains(i), "subset of the full side");
            }
            let changed = part
                .train
                .indices
                .iter()
                .zip(&part.train.labels)
                .filter(|&(&i, &l)| data.train.labels[i as usize] != l)
                .count();
            proptest::prop_assert_eq!(changed, part.noisy_labels);
            let promised = (part.train.len() as f64 * f64::from(noise)).round() as usize;
            proptest::prop_assert_eq!(part.noisy_labels, promised.min(part.train.len()));
            let again = split(&data, &cut, seed).unwrap();
            proptest::prop_assert_eq!(&again.train.indices, &part.train.indices);
            proptest::prop_assert_eq!(&again.train.labels, &part.train.labels);
        }
    }

    fn true_labels(data: &Dataset, s: &Subset) -> Vec<u16> {
        s.indices
            .iter()
            .map(|&i| data.part(s.part).labels[i as usize])
            .collect()
    }

    #[test]
    fn train_size_never_touches_validation_and_subsets_nest() {
        let data = toy(&[100, 50, 10], 5);
        let full = split(&data, &DatasetConfig::default(), 3).unwrap();
        let small = split(
            &data,
            &config(|c| c.train_size = TrainSize::Total { count: 32 }),
            3,
        )
        .unwrap();
        let larger = split(
            &data,
            &config(|c| c.train_size = TrainSize::Total { count: 64 }),
            3,
        )
        .unwrap();
        assert_eq!(full.val.indices, small.val.indices);
        assert_eq!(small.train.len(), 32);
        let summary = summarize(&data, &small);
        assert_eq!(summary.train_counts.iter().sum::<usize>(), 32);
        // Proportional: 80 : 40 : 8 available → about 20 : 10 : 2.
        assert!(
            summary.train_counts[0] >= 18 && summary.train_counts[2] >= 1,
            "{summary:?}"
        );
        for i in &small.train.indices {
            assert!(full.train.indices.contains(i));
        }
        // Per class, the smaller subset is contained in the larger one.
        let per = |n| {
            split(
                &data,
                &config(|c| c.train_size = TrainSize::PerClass { count: n }),
                3,
            )
            .unwrap()
        };
        let (five, nine) = (per(5), per(9));
        assert_eq!(summarize(&data, &five).train_counts, vec![5, 5, 5]);
        assert_eq!(summarize(&data, &nine).train_counts, vec![9, 9, 8]);
        assert!(
            five.train
                .indices
                .iter()
                .all(|i| nine.train.indices.contains(i))
        );
        assert!(larger.train.len() == 64);
    }

    #[test]
    fn label_noise_changes_exactly_that_share_of_training_labels_only() {
        let data = toy(&[200, 200, 200], 5);
        let clean = split(&data, &DatasetConfig::default(), 1).unwrap();
        let noisy = split(&data, &config(|c| c.label_noise = 0.25), 1).unwrap();
        assert_eq!(clean.train.indices, noisy.train.indices);
        let changed = noisy
            .train
            .labels
            .iter()
            .zip(&clean.train.labels)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, (noisy.train.len() as f64 * 0.25).round() as usize);
        assert_eq!(noisy.noisy_labels, changed);
        assert_eq!(clean.train.labels, true_labels(&data, &clean.train));
        assert_eq!(noisy.val.labels, true_labels(&data, &noisy.val));
        let again = split(&data, &config(|c| c.label_noise = 0.25), 1).unwrap();
        assert_eq!(noisy.train.labels, again.train.labels);
        assert!(noisy.train.labels.iter().all(|&l| l < 3));
        let err = split(&data, &config(|c| c.label_noise = 1.5), 1).unwrap_err();
        assert!(err.to_string().contains("label noise"), "{err}");
    }

    #[test]
    fn class_selection_renumbers_and_keeps_each_class_validation() {
        let data = toy(&[30, 30, 30, 30], 4);
        let all = split(&data, &DatasetConfig::default(), 7).unwrap();
        let some = split(&data, &config(|c| c.classes = Some(vec![3, 1, 3])), 7).unwrap();
        assert_eq!(some.classes, vec![1, 3]);
        assert_eq!(some.class_names(&data), ["c1", "c3"]);
        assert!(some.train.labels.iter().all(|&l| l < 2));
        for (subset, full) in [(&some.val, &all.val), (&some.train, &all.train)] {
            for (&i, &label) in subset.indices.iter().zip(&subset.labels) {
                assert_eq!(
                    some.classes[usize::from(label)],
                    data.train.labels[i as usize]
                );
            }
            let kept: Vec<u32> = full
                .indices
                .iter()
                .copied()
                .filter(|&i| [1, 3].contains(&data.train.labels[i as usize]))
                .collect();
            assert_eq!(subset.indices, kept);
        }
        let test = split(
            &data,
            &config(|c| {
                c.classes = Some(vec![0, 2]);
                c.validation = Validation::SourceTest;
            }),
            7,
        )
        .unwrap();
        assert_eq!(test.val.part, Part::Test);
        assert_eq!(test.val.len(), 8);
        assert_eq!(test.train.len(), 60);
        for selection in [vec![2], vec![0, 9], vec![]] {
            let err = split(&data, &config(|c| c.classes = Some(selection.clone())), 7)
                .unwrap_err()
                .to_string();
            assert!(err.contains("class"), "{err}");
        }
    }

    #[test]
    fn quotas_hit_the_total_and_respect_sizes() {
        assert_eq!(
            quotas(&[5, 5], TrainSize::Total { count: 100 }).unwrap(),
            vec![5, 5]
        );
        assert_eq!(
            quotas(&[90, 9, 1], TrainSize::Total { count: 10 }).unwrap(),
            vec![8, 1, 1]
        );
        assert_eq!(
            quotas(&[3, 0, 3], TrainSize::Total { count: 1 })
                .unwrap()
                .iter()
                .sum::<usize>(),
            1
        );
        assert!(quotas(&[3], TrainSize::PerClass { count: 0 }).is_err());
        for total in 0..=20 {
            let q = quotas(
                &[7, 2, 11],
                TrainSize::Total {
                    count: total.max(1),
                },
            )
            .unwrap();
            assert_eq!(q.iter().sum::<usize>(), total.max(1));
            assert!(q[0] <= 7 && q[1] <= 2 && q[2] <= 11);
        }
    }

    #[test]
    fn train_size_parses_from_text() {
        assert_eq!("all".parse(), Ok(TrainSize::All));
        assert_eq!("500".parse(), Ok(TrainSize::Total { count: 500 }));
        assert_eq!("20/class".parse(), Ok(TrainSize::PerClass { count: 20 }));
        assert!("many".parse::<TrainSize>().is_err());
    }
}
