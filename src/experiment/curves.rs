//! Reading a run's curves: overfitting onset, the generalisation gap and smoothing (the best
//! epoch is [`super::EarlyStopping::best`]).
//! Pure functions on the epoch history, shared by the plot and the reports.

use serde::{Deserialize, Serialize};

use super::metrics::EpochMetrics;

/// The overfitting onset: the first epoch after which validation loss rises for `k` epochs in a
/// row while training loss keeps falling. `None` when that never happens (or `k` is 0).
pub fn overfitting_onset(epochs: &[EpochMetrics], k: usize) -> Option<usize> {
    if k == 0 {
        return None;
    }
    epochs.windows(k + 1).find_map(|w| {
        let diverging = w
            .windows(2)
            .all(|p| p[1].val_loss > p[0].val_loss && p[1].train_loss < p[0].train_loss);
        diverging.then_some(w[0].epoch)
    })
}

/// The generalisation gap per epoch: validation minus training loss (finite epochs only).
pub fn gap(epochs: &[EpochMetrics]) -> Vec<(usize, f64)> {
    epochs
        .iter()
        .filter(|m| m.val_loss.is_finite() && m.train_loss.is_finite())
        .map(|m| (m.epoch, m.val_loss - m.train_loss))
        .collect()
}

/// How curves are smoothed for display. The same rule is applied to every curve, and the raw
/// points stay visible underneath.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Smoothing {
    /// Raw values only.
    #[default]
    None,
    /// Exponential moving average with weight `alpha` on the past (0 = none, 0.99 = heavy),
    /// bias-corrected so the first points are not pulled towards zero.
    Ema {
        /// Weight of the past.
        alpha: f64,
    },
    /// Mean of the last `window` values (fewer at the start).
    Window {
        /// Values averaged.
        window: usize,
    },
}

impl Smoothing {
    /// The smoothed series, one value per input value. Non-finite inputs are passed through and
    /// do not enter the average.
    pub fn apply(&self, values: &[f64]) -> Vec<f64> {
        match *self {
            Self::None => values.to_vec(),
            Self::Ema { alpha } => {
                let alpha = alpha.clamp(0.0, 0.999);
                let (mut avg, mut weight) = (0.0, 0.0);
                values
                    .iter()
                    .map(|&v| {
                        if !v.is_finite() {
                            return v;
                        }
                        avg = alpha * avg + (1.0 - alpha) * v;
                        weight = alpha * weight + (1.0 - alpha);
                        avg / weight
                    })
                    .collect()
            }
            Self::Window { window } => {
                let window = window.max(1);
                (0..values.len())
                    .map(|i| {
                        if !values[i].is_finite() {
                            return values[i];
                        }
                        let recent: Vec<f64> = values[i.saturating_sub(window - 1)..=i]
                            .iter()
                            .copied()
                            .filter(|v| v.is_finite())
                            .collect();
                        recent.iter().sum::<f64>() / recent.len() as f64
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(train: &[f64], val: &[f64]) -> Vec<EpochMetrics> {
        train
            .iter()
            .zip(val)
            .enumerate()
            .map(|(i, (&train_loss, &val_loss))| EpochMetrics {
                epoch: i + 1,
                train_loss,
                val_loss,
                train_acc: 0.5,
                val_acc: 0.5,
                lr: 1e-3,
                train_secs: 0.0,
                val_secs: 0.0,
            })
            .collect()
    }

    #[test]
    fn onset_needs_k_rising_validation_epochs_with_falling_training_loss() {
        let train = [2.0, 1.5, 1.0, 0.8, 0.6, 0.4];
        let val = [2.1, 1.8, 1.7, 1.75, 1.8, 1.9];
        let h = epochs(&train, &val);
        assert_eq!(
            overfitting_onset(&h, 3),
            Some(3),
            "after epoch 3, val rises 3 times"
        );
        assert_eq!(overfitting_onset(&h, 4), None, "only 3 rises");
        assert_eq!(overfitting_onset(&h, 1), Some(3));
        assert_eq!(overfitting_onset(&h, 0), None);
        // Both rising is not overfitting (e.g. a learning rate too high).
        let h = epochs(&[1.0, 1.1, 1.2, 1.3], &[1.0, 1.1, 1.2, 1.3]);
        assert_eq!(overfitting_onset(&h, 2), None);
        // Monotone curves have no onset; NaN breaks a streak.
        let h = epochs(&[3.0, 2.0, 1.0], &[3.0, 2.0, 1.0]);
        assert_eq!(overfitting_onset(&h, 1), None);
        let h = epochs(&[3.0, 2.0, 1.0, 0.5], &[1.0, 1.1, f64::NAN, 1.3]);
        assert_eq!(overfitting_onset(&h, 2), None);
        assert_eq!(
            overfitting_onset(&epochs(&[1.0], &[1.0]), 1),
            None,
            "a single epoch"
        );
    }

    #[test]
    fn gap_is_validation_minus_training() {
        let h = epochs(&[2.0, 1.0, f64::NAN], &[2.5, 1.75, 1.0]);
        assert_eq!(gap(&h), vec![(1, 0.5), (2, 0.75)]);
    }

    #[test]
    fn smoothing_applies_one_rule_to_any_series() {
        let raw = [1.0, 3.0, 2.0, 4.0];
        assert_eq!(Smoothing::None.apply(&raw), raw.to_vec());
        let window = Smoothing::Window { window: 2 }.apply(&raw);
        assert_eq!(window, vec![1.0, 2.0, 2.5, 3.0]);
        let ema = Smoothing::Ema { alpha: 0.5 }.apply(&raw);
        // Bias-corrected: 1, (0.5·0.5 + 1.5)/0.75 …
        assert_eq!(ema[0], 1.0);
        assert!((ema[1] - (0.25 + 1.5) / 0.75).abs() < 1e-12);
        // The same rule on two series gives what applying it to each would.
        let other = [2.0, 2.0, 2.0, 2.0];
        assert_eq!(Smoothing::Ema { alpha: 0.5 }.apply(&other), vec![2.0; 4]);
        let with_nan = Smoothing::Window { window: 3 }.apply(&[1.0, f64::NAN, 3.0]);
        assert!(with_nan[1].is_nan());
        assert_eq!(with_nan[2], 2.0);
    }
}
