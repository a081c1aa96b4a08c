//! Optimisation settings of a run ([`TrainConfig`]) and their checks.

use serde::{Deserialize, Serialize};

use super::early_stop::EarlyStopping;
use super::optim::{GradClip, OptimizerConfig};
use super::schedule::Schedule;

/// Optimisation settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per optimizer step.
    pub batch_size: usize,
    /// Base learning rate (the schedule scales it per step).
    pub lr: f64,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// L2 penalty on the weights (decoupled for AdamW); 0 for none.
    pub weight_decay: f64,
    /// Gradient clipping, if any.
    pub clip_grad: Option<GradClip>,
    /// Label smoothing for the cross-entropy loss, in [0, 1).
    pub label_smoothing: f64,
    /// Early stopping (its rule is also drawn as the plot's ghost when disabled).
    pub early_stopping: EarlyStopping,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            lr: 1e-3,
            optimizer: OptimizerConfig::Adam,
            schedule: Schedule::Constant,
            weight_decay: 0.0,
            clip_grad: None,
            label_smoothing: 0.0,
            early_stopping: EarlyStopping::default(),
        }
    }
}

/// A training setting out of its valid range.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// The field's key under `[train]` in `config.toml` (e.g. `epochs`).
    pub field: &'static str,
    /// What is wrong, with the value found.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        message: message.into(),
    }
}

impl TrainConfig {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=100_000).contains(&self.epochs) {
            return Err(invalid(
                "epochs",
                format!("epochs must be between 1 and 100000, found {}", self.epochs),
            ));
        }
        if !(1..=65_536).contains(&self.batch_size) {
            return Err(invalid(
                "batch_size",
                format!(
                    "batch size must be between 1 and 65536, found {}",
                    self.batch_size
                ),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(invalid(
                "lr",
                format!(
                    "the learning rate must be a positive number, found {}",
                    self.lr
                ),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(invalid(
                "weight_decay",
                format!(
                    "weight decay must be 0 or more, found {}",
                    self.weight_decay
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(invalid(
                "label_smoothing",
                format!(
                    "label smoothing must be in [0, 1), found {}",
                    self.label_smoothing
                ),
            ));
        }
        if let Some(GradClip::Norm { max } | GradClip::Value { max }) = self.clip_grad
            && !(max.is_finite() && max > 0.0)
        {
            return Err(invalid(
                "clip_grad",
                format!("gradient clipping needs a positive limit, found {max}"),
            ));
        }
        let min_delta = self.early_stopping.min_delta;
        if self.early_stopping.patience == 0 || min_delta.is_nan() || min_delta < 0.0 {
            return Err(invalid(
                "early_stopping",
                "early stopping needs a patience of at least 1 and a min delta of 0 or more",
            ));
        }
        self.optimizer
            .validate()
            .map_err(|m| invalid("optimizer", m))?;
        self.schedule
            .validate()
            .map_err(|m| invalid("schedule", m))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_bad_field() {
        assert!(TrainConfig::default().validate().is_ok());
        let bad = TrainConfig {
            epochs: 0,
            ..TrainConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("epochs"));
        let bad = TrainConfig {
            batch_size: 0,
            ..TrainConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("batch size")
        );
        for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let bad = TrainConfig {
                lr,
                ..TrainConfig::default()
            };
            assert!(
                bad.validate()
                    .unwrap_err()
                    .to_string()
                    .contains("learning rate")
            );
        }
        let message = |bad: TrainConfig| bad.validate().unwrap_err().to_string();
        let base = TrainConfig::default;
        assert!(
            message(TrainConfig {
                label_smoothing: 1.0,
                ..base()
            })
            .contains("label smoothing")
        );
        assert!(
            message(TrainConfig {
                weight_decay: -1.0,
                ..base()
            })
            .contains("weight decay")
        );
        let clip = Some(GradClip::Norm { max: 0.0 });
        assert!(
            message(TrainConfig {
                clip_grad: clip,
                ..base()
            })
            .contains("clipping")
        );
        let optimizer = OptimizerConfig::Sgd {
            momentum: 1.5,
            nesterov: false,
        };
        assert!(
            message(TrainConfig {
                optimizer,
                ..base()
            })
            .contains("momentum")
        );
        let schedule = Schedule::Exponential { gamma: 2.0 };
        assert!(message(TrainConfig { schedule, ..base() }).contains("exp"));
    }
}
