//! A training batch from stored images: per-image augmentation, normalisation, then the
//! batch-level operations (mixup, cutmix) on the normalised values, with soft targets.
//!
//! The training loop calls [`prepare_batch`] on its prefetching thread; the preview calls it
//! for each column of its grid (the rows form the batch), so both show the same thing.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Beta, Distribution};

use super::crop::CropConfig;
use super::pipeline::{Applied, SampleKey, augment_image, mix};
use super::{AugmentConfig, ImageShape, Mix};
use crate::data::batch::Normalizer;
use crate::data::{ChannelNorm, Dataset, Part};

/// Separates the batch-level random stream from the per-image ones.
const BATCH_STREAM: u64 = 0xBA7C_0000;

/// Per-channel lookup from a `u8` pixel to its normalised value, `(p - mean) / std`, and back.
#[derive(Debug, Clone)]
pub struct PixelNorm {
    lookup: Normalizer,
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl PixelNorm {
    /// The lookup for a normalisation (the same values the validation batches get).
    pub fn new(norm: &ChannelNorm) -> Self {
        Self {
            lookup: Normalizer::new(norm),
            mean: norm.mean.clone(),
            std: norm.std.clone(),
        }
    }

    /// No normalisation: values stay grey levels (the preview's choice, since mixing commutes
    /// with a per-channel affine normalisation).
    pub fn identity(channels: usize) -> Self {
        Self::new(&ChannelNorm {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        })
    }

    /// Appends the normalised pixels of one CHW image to `out`.
    pub fn extend(&self, image: &[u8], plane: usize, out: &mut Vec<f32>) {
        self.lookup.extend_image(image, plane, out);
    }

    /// Normalised values of CHW images back to grey levels (rounded, clamped).
    pub fn to_u8(&self, values: &[f32], plane: usize) -> Vec<u8> {
        let channels = self.mean.len().max(1);
        values
            .chunks(plane.max(1))
            .enumerate()
            .flat_map(|(k, chunk)| {
                let c = k % channels;
                let (mean, std) = (self.mean[c], self.std[c]);
                chunk
                    .iter()
                    .map(move |&v| (v * std + mean).round().clamp(0.0, 255.0) as u8)
            })
            .collect()
    }
}

/// Which batch-level operation mixed a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixKind {
    /// Whole images blended.
    Mixup,
    /// A rectangle pasted from the partner image.
    Cutmix,
}

/// How a batch was mixed: image `i` holds `lambda` of itself and `1 - lambda` of image
/// `partner[i]`, and so does its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixing {
    /// Mixup or cutmix.
    pub kind: MixKind,
    /// Weight of each image's own content and label (for cutmix: its uncovered area).
    pub lambda: f32,
    /// Position in the batch of each image's partner (the batch rolled by one, as torchvision).
    pub partner: Vec<usize>,
}

impl std::fmt::Display for Mixing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.kind {
            MixKind::Mixup => "mixup",
            MixKind::Cutmix => "cutmix",
        };
        write!(f, "{name}, λ = {:.2}", self.lambda)
    }
}

/// A batch ready for the model.
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    /// Normalised pixels, `[n, channels, height, width]`.
    pub pixels: Vec<f32>,
    /// The shape of one image (the network's input).
    pub shape: ImageShape,
    /// Each image's own label.
    pub labels: Vec<u16>,
    /// The batch-level mixing, if any.
    pub mixing: Option<Mixing>,
    /// Per image, the operations applied and their parameters (empty unless asked for).
    pub applied: Vec<Vec<Applied>>,
    /// Positions in the given indices of the images in the batch (all of them, unless files on
    /// disk could not be read).
    pub kept: Vec<usize>,
}

impl PreparedBatch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Soft targets `[n, classes]` when the batch was mixed (label smoothing folded in, as
    /// `(1 - ε)·t + ε / classes`); `None` when plain labels describe it.
    pub fn soft_targets(&self, classes: usize, smoothing: f32) -> Option<Vec<f32>> {
        let mixing = self.mixing.as_ref()?;
        let mut targets = vec![0.0f32; self.len() * classes];
        for (i, row) in targets.chunks_exact_mut(classes.max(1)).enumerate() {
            let own = usize::from(self.labels[i]);
            let other = usize::from(self.labels[mixing.partner[i]]);
            if own < classes {
                row[own] += mixing.lambda;
            }
            if other < classes {
                row[other] += 1.0 - mixing.lambda;
            }
            for t in row.iter_mut() {
                *t = (1.0 - smoothing) * *t + smoothing / classes as f32;
            }
        }
        Some(targets)
    }
}

/// Where a batch sits in a run: the same key gives the same batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchKey {
    /// The run's seed.
    pub seed: u64,
    /// The epoch (1-based).
    pub epoch: u64,
    /// The batch's position in the epoch.
    pub batch: u64,
}

/// Crops, augments and normalises the images `indices` of `part`, then mixes the batch if
/// mixup or cutmix fires. Each image's randomness depends only on (seed, epoch, its index), so a
/// sample looks the same whichever batch it lands in; the mixing depends on the batch key.
#[allow(clippy::too_many_arguments)]
pub fn prepare_batch(
    config: &AugmentConfig,
    crop: &CropConfig,
    data: &Dataset,
    part: Part,
    indices: &[u32],
    norm: &PixelNorm,
    key: BatchKey,
    keep_applied: bool,
) -> PreparedBatch {
    let stored = ImageShape::of(data);
    let shape = crop.input_shape(stored);
    let plane = shape.plane();
    let mut pixels = Vec::with_capacity(indices.len() * shape.len());
    let mut applied = Vec::new();
    let identity = config.is_identity();
    // Images on disk are read a few at a time in parallel; one that cannot be read any more is
    // left out of the batch, and the dataset lists it for the run's record.
    let mut kept = Vec::with_capacity(indices.len());
    data.for_each_image(part, indices, |position, stored_image| {
        let Ok(stored_image) = stored_image else {
            return;
        };
        let index = indices[position];
        kept.push(position);
        let sample = SampleKey {
            seed: key.seed,
            epoch: key.epoch,
            sample: u64::from(index),
        };
        let cropped;
        let image = if shape == stored {
            &stored_image[..]
        } else {
            cropped = crop.train_view(stored, &stored_image, sample);
            &cropped[..]
        };
        if identity {
            norm.extend(image, plane, &mut pixels);
            if keep_applied {
                applied.push(Vec::new());
            }
            return;
        }
        let out = augment_image(config, shape, image, sample);
        norm.extend(&out.pixels, plane, &mut pixels);
        if keep_applied {
            applied.push(out.applied);
        }
    });
    let labels = kept
        .iter()
        .map(|&k| data.part(part).labels[indices[k] as usize])
        .collect();
    let mixing = mix_batch(config, shape, &mut pixels, kept.len(), key);
    PreparedBatch {
        pixels,
        shape,
        labels,
        mixing,
        applied,
        kept,
    }
}

/// Evaluation inputs of the images `indices` of `part`, normalised: `views` inputs per image
/// (one, or the tiles of [`CropConfig::eval_rects`]), image after image. Nothing random.
pub fn prepare_eval(
    crop: &CropConfig,
    data: &Dataset,
    part: Part,
    indices: &[u32],
    norm: &PixelNorm,
) -> EvalBatch {
    let stored = ImageShape::of(data);
    let shape = crop.input_shape(stored);
    let views = crop.views(stored);
    let mut pixels = Vec::with_capacity(indices.len() * views * shape.len());
    let mut cut = Vec::with_capacity(views);
    let mut kept = Vec::with_capacity(indices.len());
    data.for_each_image(part, indices, |position, image| {
        // An image on disk that cannot be read any more is left out (the dataset lists it).
        let Ok(image) = image else {
            return;
        };
        kept.push(position);
        if shape == stored && views == 1 {
            norm.extend(&image, shape.plane(), &mut pixels);
            return;
        }
        cut.clear();
        crop.eval_views(stored, &image, &mut cut);
        for view in &cut {
            norm.extend(view, shape.plane(), &mut pixels);
        }
    });
    EvalBatch {
        pixels,
        shape,
        images: kept.len(),
        views,
        kept,
    }
}

/// Evaluation inputs of some images.
#[derive(Debug, Clone)]
pub struct EvalBatch {
    /// Normalised pixels, `[images · views, channels, height, width]`.
    pub pixels: Vec<f32>,
    /// The shape of one input.
    pub shape: ImageShape,
    /// Images.
    pub images: usize,
    /// Inputs per image (their logits are averaged).
    pub views: usize,
    /// Positions in the given indices of the images in the batch (all of them, unless files on
    /// disk could not be read).
    pub kept: Vec<usize>,
}

/// Applies mixup or cutmix (when enabled and drawn) to normalised `pixels` of `n` images.
/// With both enabled, each batch picks one of them at random first (torchvision's
/// `RandomChoice([CutMix, MixUp])`), then applies it with its probability.
pub fn mix_batch(
    config: &AugmentConfig,
    shape: ImageShape,
    pixels: &mut [f32],
    n: usize,
    key: BatchKey,
) -> Option<Mixing> {
    let candidates: Vec<(MixKind, &Mix)> = [
        (MixKind::Mixup, &config.mixup),
        (MixKind::Cutmix, &config.cutmix),
    ]
    .into_iter()
    .filter(|(_, m)| m.enabled && m.p > 0.0)
    .collect();
    if candidates.is_empty() || n < 2 {
        return None;
    }
    let mut rng =
        Xoshiro256PlusPlus::seed_from_u64(mix(&[key.seed, key.epoch, key.batch, BATCH_STREAM]));
    let pick: f32 = rng.random();
    let (kind, settings) =
        candidates[((pick * candidates.len() as f32) as usize).min(candidates.len() - 1)];
    if rng.random::<f32>() >= settings.p {
        return None;
    }
    let lambda = Beta::new(settings.alpha, settings.alpha)
        .map_or(1.0, |beta| beta.sample(&mut rng))
        .clamp(0.0, 1.0);
    let len = shape.len();
    let partner: Vec<usize> = (0..n).map(|i| (i + n - 1) % n).collect();
    let original = pixels[..n * len].to_vec();
    let lambda = match kind {
        MixKind::Mixup => {
            for (i, image) in pixels.chunks_exact_mut(len).enumerate().take(n) {
                let other = &original[partner[i] * len..][..len];
                for (v, &o) in image.iter_mut().zip(other) {
                    *v = lambda * *v + (1.0 - lambda) * o;
                }
            }
            lambda
        }
        MixKind::Cutmix => {
            let (w, h) = (shape.width, shape.height);
            let cx = rng.random_range(0..w);
            let cy = rng.random_range(0..h);
            let r = 0.5 * (1.0 - lambda).sqrt();
            let half_w = (r * w as f32) as usize;
            let half_h = (r * h as f32) as usize;
            let (x1, x2) = (cx.saturating_sub(half_w), (cx + half_w).min(w));
            let (y1, y2) = (cy.saturating_sub(half_h), (cy + half_h).min(h));
            let plane = shape.plane();
            for (i, image) in pixels.chunks_exact_mut(len).enumerate().take(n) {
                let other = &original[partner[i] * len..][..len];
                for c in 0..shape.channels {
                    for y in y1..y2 {
                        let row = c * plane + y * w;
                        image[row + x1..row + x2].copy_from_slice(&other[row + x1..row + x2]);
                    }
                }
            }
            1.0 - ((x2 - x1) * (y2 - y1)) as f32 / plane as f32
        }
    };
    Some(Mixing {
        kind,
        lambda,
        partner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Preset;
    use crate::data::{DatasetSource, load};

    fn key(batch: u64) -> BatchKey {
        BatchKey {
            seed: 3,
            epoch: 1,
            batch,
        }
    }

    #[test]
    fn without_augmentation_the_batch_is_the_normalised_images() {
        let data = load(
            &DatasetSource::Embedded,
            crate::data::InputFormat::default(),
        )
        .unwrap();
        let norm = ChannelNorm {
            mean: vec![73.0],
            std: vec![90.0],
        };
        let lookup = PixelNorm::new(&norm);
        let indices = [5u32, 0, 17];
        let batch = prepare_batch(
            &AugmentConfig::default(),
            &CropConfig::default(),
            &data,
            Part::Train,
            &indices,
            &lookup,
            key(0),
            false,
        );
        let mut expected = Vec::new();
        crate::data::batch::Normalizer::new(&norm).extend(
            &data,
            Part::Train,
            &indices,
            &mut expected,
        );
        assert_eq!(
            batch.pixels, expected,
            "the same values as the validation batches"
        );
        assert_eq!(batch.labels.len(), 3);
        assert!(batch.mixing.is_none());
        assert!(batch.soft_targets(10, 0.0).is_none());
        let back = lookup.to_u8(&batch.pixels[..784], 784);
        assert_eq!(back, &*data.image(Part::Train, 5));
    }

    #[test]
    fn a_sample_looks_the_same_in_any_batch() {
        let data = load(
            &DatasetSource::Embedded,
            crate::data::InputFormat::default(),
        )
        .unwrap();
        let config = Preset::Seed2.config();
        let id = PixelNorm::identity(1);
        let none = CropConfig::default();
        let alone = prepare_batch(&config, &none, &data, Part::Train, &[42], &id, key(0), true);
        let among = prepare_batch(
            &config,
            &none,
            &data,
            Part::Train,
            &[7, 42, 9],
            &id,
            key(5),
            true,
        );
        assert_eq!(alone.pixels[..], among.pixels[784..2 * 784]);
        assert_eq!(alone.applied[0], among.applied[1]);
    }

    #[test]
    fn mixup_blends_images_and_targets_sum_to_one() {
        let shape = ImageShape {
            channels: 1,
            height: 2,
            width: 2,
        };
        let config = AugmentConfig {
            mixup: Mix {
                enabled: true,
                p: 1.0,
                alpha: 1.0,
            },
            ..AugmentConfig::default()
        };
        let mut pixels = vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let mixing = mix_batch(&config, shape, &mut pixels, 2, key(1)).unwrap();
        let l = mixing.lambda;
        assert!((0.0..=1.0).contains(&l));
        assert!((pixels[0] - (1.0 - l)).abs() < 1e-6 && (pixels[4] - l).abs() < 1e-6);
        let batch = PreparedBatch {
            pixels,
            shape,
            labels: vec![0, 2],
            mixing: Some(mixing),
            applied: Vec::new(),
            kept: vec![0, 1],
        };
        let t = batch.soft_targets(3, 0.1).unwrap();
        for row in t.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        assert!((t[0] - (0.9 * l + 0.1 / 3.0)).abs() < 1e-6);
        assert!((t[2] - (0.9 * (1.0 - l) + 0.1 / 3.0)).abs() < 1e-6);
    }

    #[test]
    fn cutmix_pastes_a_rectangle_and_lambda_is_the_area_left() {
        let shape = ImageShape {
            channels: 1,
            height: 16,
            width: 16,
        };
        let config = AugmentConfig {
            cutmix: Mix {
                enabled: true,
                p: 1.0,
                alpha: 1.0,
            },
            ..AugmentConfig::default()
        };
        for b in 0..20 {
            let mut pixels = vec![0.0; 256];
            pixels.extend(vec![1.0; 256]);
            let mixing = mix_batch(&config, shape, &mut pixels, 2, key(b)).unwrap();
            assert_eq!(mixing.kind, MixKind::Cutmix);
            let pasted = pixels[..256].iter().filter(|&&v| v == 1.0).count();
            assert!((mixing.lambda - (1.0 - pasted as f32 / 256.0)).abs() < 1e-6);
        }
    }

    #[test]
    fn probability_0_never_mixes_and_1_always_does() {
        let shape = ImageShape {
            channels: 1,
            height: 4,
            width: 4,
        };
        for p in [0.0, 1.0] {
            let mut config = AugmentConfig::default();
            config.mixup = Mix {
                enabled: true,
                p,
                alpha: 0.4,
            };
            config.cutmix = config.mixup;
            for b in 0..50 {
                let mut pixels = vec![0.5; 3 * 16];
                let mixed = mix_batch(&config, shape, &mut pixels, 3, key(b)).is_some();
                assert_eq!(mixed, p == 1.0);
            }
        }
    }
}
