//! The learning-rate finder: a short run that raises the learning rate exponentially, step by
//! step, and records the loss; the steepest fall of the (smoothed) loss suggests a rate.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::prefetch;
use super::session::{self, Parts, Purpose, SessionError};
use crate::augment::AugmentConfig;
use crate::augment::batch::{BatchKey, PixelNorm, prepare_batch};
use crate::experiment::ExperimentConfig;

/// Lowest learning rate tried.
pub const START_LR: f64 = 1e-6;
/// Highest learning rate tried.
pub const END_LR: f64 = 10.0;
/// Steps of the sweep.
pub const STEPS: usize = 100;
/// EMA factor for smoothing the loss.
const BETA: f64 = 0.9;

/// Why the finder gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LrError {
    /// The configuration could not be turned into data, device and model.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// It was stopped before the sweep ended.
    #[error("the learning-rate finder was stopped")]
    Stopped,
}

/// What the finder measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrFinding {
    /// `[learning rate, smoothed loss]` per step, until the loss blew up.
    pub points: Vec<[f64; 2]>,
    /// The suggested learning rate, if the loss fell anywhere.
    pub suggestion: Option<f64>,
}

/// Learning rate of sweep step `k` of `n`.
pub fn sweep_lr(k: usize, n: usize) -> f64 {
    START_LR * (END_LR / START_LR).powf(k as f64 / (n.max(2) - 1) as f64)
}

/// Runs the sweep on a fresh model of `config` (the configured optimizer, seed and data).
/// `stop` is polled between steps.
pub fn find(config: &ExperimentConfig, stop: &dyn Fn() -> bool) -> Result<LrFinding, LrError> {
    let Parts {
        data,
        split,
        device,
        mut model,
        ..
    } = session::build(config, Purpose::Train)?;
    let device = device.autodiff();
    let mut optimizer = session::optimizer(&config.train);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let norm = PixelNorm::new(&split.norm);
    let plain = AugmentConfig::default();
    let batch_size = config.train.batch_size.min(split.train.len()).max(1);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let mut order = Vec::new();
    let (mut avg, mut best) = (0.0, f64::INFINITY);
    let mut points = Vec::with_capacity(STEPS);
    for k in 0..STEPS {
        if stop() {
            return Err(LrError::Stopped);
        }
        if order.len() < batch_size {
            order = (0..split.train.len() as u32).collect();
            order.shuffle(&mut rng);
        }
        let batch: Vec<u32> = order.split_off(order.len() - batch_size);
        let lr = sweep_lr(k, STEPS);
        // The run's crop (its training inputs), without the rest of the augmentation.
        let indices: Vec<u32> = batch
            .iter()
            .map(|&p| split.train.indices[p as usize])
            .collect();
        let key = BatchKey {
            seed: config.seed,
            epoch: 1,
            batch: k as u64,
        };
        let part = split.train.part;
        let mut prepared = prepare_batch(
            &plain,
            &config.crop,
            &data,
            part,
            &indices,
            &norm,
            key,
            false,
        );
        prepared.labels = prepared
            .kept
            .iter()
            .map(|&k| split.train.labels[batch[k] as usize])
            .collect();
        if prepared.is_empty() {
            continue; // every file of the batch failed to read from disk
        }
        let (images, labels, _) = prefetch::to_tensors(prepared, 0, 0.0, &device);
        let loss = loss_fn.forward(model.forward(images), labels);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            break;
        }
        avg = BETA * avg + (1.0 - BETA) * value;
        let smoothed = avg / (1.0 - BETA.powi(k as i32 + 1));
        points.push([lr, smoothed]);
        best = best.min(smoothed);
        if smoothed > 4.0 * best {
            break;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lrs = config.transfer.learning_rate(&model, lr);
        model = optimizer.step(lrs, model, grads);
    }
    let suggestion = suggest(&points);
    Ok(LrFinding { points, suggestion })
}

/// The rate where the smoothed loss falls fastest against log(lr), looking only up to the
/// lowest loss (past it the loss is already blowing up).
pub fn suggest(points: &[[f64; 2]]) -> Option<f64> {
    let lowest = points
        .iter()
        .enumerate()
        .min_by(|a, b| a.1[1].total_cmp(&b.1[1]))
        .map(|(i, _)| i)?;
    points[..=lowest]
        .windows(2)
        .map(|w| ((w[1][1] - w[0][1]) / (w[1][0].ln() - w[0][0].ln()), w[0][0]))
        .filter(|(slope, _)| slope.is_finite() && *slope < 0.0)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, lr)| lr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_spans_the_range_exponentially() {
        assert!((sweep_lr(0, 100) - START_LR).abs() < 1e-18);
        assert!((sweep_lr(99, 100) - END_LR).abs() < 1e-9);
        let ratio = sweep_lr(1, 100) / sweep_lr(0, 100);
        assert!((sweep_lr(51, 100) / sweep_lr(50, 100) - ratio).abs() < 1e-9);
    }

    #[test]
    fn suggests_the_steepest_fall_before_the_minimum() {
        // Flat, then falling fastest between 1e-3 and 1e-2, minimum at 1e-1, then exploding.
        let points = [
            [1e-5, 2.3],
            [1e-4, 2.25],
            [1e-3, 2.0],
            [1e-2, 1.0],
            [1e-1, 0.8],
            [1.0, 5.0],
        ];
        assert_eq!(suggest(&points), Some(1e-3));
        assert_eq!(
            suggest(&[[1e-3, 1.0], [1e-2, 2.0]]),
            None,
            "no fall, no suggestion"
        );
        assert_eq!(suggest(&[]), None);
    }
}
