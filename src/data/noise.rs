//! The "random noise" dataset: Gaussian noise images with random labels.
//!
//! There is nothing to learn, so any rise in training accuracy is memorisation, and validation
//! accuracy stays at chance. It is the classic demonstration of overfitting: a small CNN reaches
//! ~100 % training accuracy on 100 such images while its validation loss climbs.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{ChannelNorm, DataError, Dataset, DatasetSource, ImageSet, SourceFormat};

/// `u8` value that encodes 0.0 of the standard normal.
const ZERO: f32 = 128.0;
/// `u8` steps per standard deviation: values within ±4 σ are kept, quantised to 1/32 σ.
const STEPS_PER_SIGMA: f32 = 32.0;

/// Size and seed of a noise dataset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct NoiseConfig {
    /// Training images.
    pub train_samples: usize,
    /// Held-out images, drawn the same way.
    pub val_samples: usize,
    /// Number of (meaningless) classes.
    pub classes: usize,
    /// Side of the square images in pixels.
    pub size: usize,
    /// Seed of the noise itself (the run's seed drives initialisation and shuffling).
    pub seed: u64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            train_samples: 100,
            val_samples: 100,
            classes: 10,
            size: 28,
            seed: 0,
        }
    }
}

/// Draws the dataset. Pixels store `N(0, 1)` samples as `128 + 32·x` (clamped to ±4 σ), and the
/// dataset's fixed normalisation turns them back into `x`.
pub fn generate(config: &NoiseConfig) -> Result<Dataset, DataError> {
    if config.train_samples == 0 || config.val_samples == 0 {
        return Err(DataError::Invalid(
            "the noise dataset needs at least one training and one validation sample".to_owned(),
        ));
    }
    if !(2..=1000).contains(&config.classes) {
        return Err(DataError::Invalid(format!(
            "the noise dataset needs between 2 and 1000 classes, found {}",
            config.classes
        )));
    }
    if !(4..=512).contains(&config.size) {
        return Err(DataError::Invalid(format!(
            "noise images must be 4 to 512 pixels wide, found {}",
            config.size
        )));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let mut draw = |n: usize| ImageSet {
        pixels: (0..n * config.size * config.size)
            .map(|_| encode(standard_normal(&mut rng)))
            .collect(),
        labels: (0..n)
            .map(|_| rng.random_range(0..config.classes) as u16)
            .collect(),
    };
    let train = draw(config.train_samples);
    let test = draw(config.val_samples);
    Ok(Dataset {
        source: DatasetSource::Noise(config.clone()),
        width: config.size,
        height: config.size,
        channels: 1,
        class_names: (0..config.classes).map(|c| format!("class {c}")).collect(),
        train,
        test: Some(test),
        fixed_norm: Some(ChannelNorm {
            mean: vec![ZERO],
            std: vec![STEPS_PER_SIGMA],
        }),
        skipped: Vec::new(),
        source_format: SourceFormat::uniform(
            config.size,
            config.size,
            true,
            config.train_samples + config.val_samples,
        ),
        disk: None,
    })
}

fn encode(x: f32) -> u8 {
    (ZERO + STEPS_PER_SIGMA * x).round().clamp(0.0, 255.0) as u8
}

/// One standard normal sample (Box–Muller).
pub(crate) fn standard_normal(rng: &mut Xoshiro256PlusPlus) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_standard_normal_after_normalisation() {
        let data = generate(&NoiseConfig::default()).unwrap();
        assert_eq!(data.train.len(), 100);
        assert_eq!(data.test.as_ref().unwrap().len(), 100);
        let norm = data.fixed_norm.as_ref().unwrap();
        let values: Vec<f32> = data
            .train
            .pixels
            .iter()
            .map(|&p| (f32::from(p) - norm.mean[0]) / norm.std[0])
            .collect();
        let n = values.len() as f32;
        let mean = values.iter().sum::<f32>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
        // Labels cover the classes roughly uniformly.
        for c in 0..10u16 {
            let count = data.train.labels.iter().filter(|&&l| l == c).count();
            assert!((2..=25).contains(&count), "class {c}: {count}");
        }
    }

    #[test]
    fn same_seed_same_noise_other_seed_other_noise() {
        let a = generate(&NoiseConfig::default()).unwrap();
        let b = generate(&NoiseConfig::default()).unwrap();
        let c = generate(&NoiseConfig {
            seed: 1,
            ..NoiseConfig::default()
        })
        .unwrap();
        assert_eq!(a.train.pixels, b.train.pixels);
        assert_ne!(a.train.pixels, c.train.pixels);
    }

    #[test]
    fn rejects_empty_or_degenerate_settings() {
        for config in [
            NoiseConfig {
                train_samples: 0,
                ..NoiseConfig::default()
            },
            NoiseConfig {
                classes: 1,
                ..NoiseConfig::default()
            },
            NoiseConfig {
                size: 0,
                ..NoiseConfig::default()
            },
        ] {
            assert!(generate(&config).is_err());
        }
    }
}
