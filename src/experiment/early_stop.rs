//! Early stopping as a pure rule over the epoch history: the engine uses it to stop, and the plot
//! uses the same rule to show where a run *would* have stopped.

use serde::{Deserialize, Serialize};

use super::metrics::EpochMetrics;

/// Which validation number decides "better".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// Lower validation loss is better.
    #[default]
    ValLoss,
    /// Higher validation accuracy is better.
    ValAcc,
}

impl Monitor {
    /// The monitored value of an epoch, oriented so that lower is better.
    pub fn score(self, m: &EpochMetrics) -> f64 {
        match self {
            Self::ValLoss => m.val_loss,
            Self::ValAcc => -m.val_acc,
        }
    }
}

/// Early-stopping settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EarlyStopping {
    /// Whether training stops early (the plot's ghost shows the rule either way).
    pub enabled: bool,
    /// The number that must improve.
    pub monitor: Monitor,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    pub min_delta: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            enabled: false,
            monitor: Monitor::ValLoss,
            patience: 5,
            min_delta: 0.0,
        }
    }
}

impl EarlyStopping {
    /// The best epoch so far, by the monitored number: the one definition of "best" that the
    /// engine restores, `run.json` records, the plot marks and reports name. An epoch is better
    /// only when it improves on the best by more than `min_delta`; ties keep the earlier epoch and
    /// non-finite values never count as best.
    pub fn best<'a>(&self, history: &'a [EpochMetrics]) -> Option<&'a EpochMetrics> {
        let mut best: Option<(&EpochMetrics, f64)> = None;
        for m in history {
            let score = self.monitor.score(m);
            if score.is_finite() && best.is_none_or(|(_, b)| score < b - self.min_delta) {
                best = Some((m, score));
            }
        }
        best.map(|(m, _)| m)
    }

    /// The best epoch's number (1-based), see [`Self::best`].
    pub fn best_epoch(&self, history: &[EpochMetrics]) -> Option<usize> {
        self.best(history).map(|m| m.epoch)
    }

    /// The epoch after which this rule stops training, if it does within `history`: the first
    /// epoch that ends `patience` epochs without an improvement larger than `min_delta`.
    pub fn stop_epoch(&self, history: &[EpochMetrics]) -> Option<usize> {
        let mut best: Option<f64> = None;
        let mut waited = 0;
        for m in history {
            let score = self.monitor.score(m);
            if score.is_finite() && best.is_none_or(|b| score < b - self.min_delta) {
                best = Some(score);
                waited = 0;
            } else {
                waited += 1;
                if waited >= self.patience.max(1) {
                    return Some(m.epoch);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(val_losses: &[f64]) -> Vec<EpochMetrics> {
        val_losses
            .iter()
            .enumerate()
            .map(|(i, &val_loss)| EpochMetrics {
                epoch: i + 1,
                train_loss: 1.0,
                val_loss,
                train_acc: 0.5,
                val_acc: 1.0 - val_loss / 10.0,
                lr: 1e-3,
                train_secs: 0.0,
                val_secs: 0.0,
            })
            .collect()
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let rule = EarlyStopping {
            patience: 2,
            ..EarlyStopping::default()
        };
        let h = epochs(&[2.0, 1.5, 1.2, 1.3, 1.25, 1.1]);
        assert_eq!(rule.best_epoch(&h[..5]), Some(3));
        assert_eq!(rule.stop_epoch(&h), Some(5));
        assert_eq!(rule.stop_epoch(&h[..4]), None);
    }

    #[test]
    fn min_delta_ignores_tiny_gains_and_ties_keep_the_first() {
        let rule = EarlyStopping {
            patience: 2,
            min_delta: 0.05,
            ..EarlyStopping::default()
        };
        let h = epochs(&[1.0, 0.98, 0.97, 0.9]);
        assert_eq!(rule.stop_epoch(&h), Some(3));
        let ties = EarlyStopping {
            patience: 3,
            ..EarlyStopping::default()
        };
        assert_eq!(ties.best_epoch(&epochs(&[1.0, 1.0, 1.0])), Some(1));
    }

    #[test]
    fn nan_never_counts_as_best_and_monotone_curves_never_stop() {
        let rule = EarlyStopping {
            patience: 2,
            ..EarlyStopping::default()
        };
        let h = epochs(&[f64::NAN, 1.0, f64::NAN, f64::NAN]);
        assert_eq!(rule.best_epoch(&h), Some(2));
        assert_eq!(rule.stop_epoch(&h), Some(4));
        assert_eq!(rule.stop_epoch(&epochs(&[3.0, 2.0, 1.0, 0.5])), None);
        assert_eq!(rule.best_epoch(&[]), None);
    }

    #[test]
    fn accuracy_monitor_prefers_higher() {
        let rule = EarlyStopping {
            monitor: Monitor::ValAcc,
            patience: 1,
            ..EarlyStopping::default()
        };
        // val_acc = 1 - loss/10: losses 2, 1, 3 give accuracies 0.8, 0.9, 0.7.
        let h = epochs(&[2.0, 1.0, 3.0]);
        assert_eq!(rule.best_epoch(&h), Some(2));
        assert_eq!(rule.stop_epoch(&h), Some(3));
        assert_eq!(rule.best(&h).map(|m| m.val_loss), Some(1.0));
    }
}
