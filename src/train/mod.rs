//! Training: the settings ([`TrainConfig`]), the loop ([`engine`]), the thread that runs it
//! ([`worker`]) and what they say to the rest of the program ([`message`]).

pub mod engine;
pub mod message;
pub mod worker;

use serde::{Deserialize, Serialize};

/// Optimisation settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per optimizer step.
    pub batch_size: usize,
    /// Learning rate of the Adam optimizer.
    pub lr: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            lr: 1e-3,
        }
    }
}

/// A training setting out of its valid range.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl TrainConfig {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=100_000).contains(&self.epochs) {
            return Err(ConfigError(format!(
                "epochs must be between 1 and 100000, found {}",
                self.epochs
            )));
        }
        if !(1..=65_536).contains(&self.batch_size) {
            return Err(ConfigError(format!(
                "batch size must be between 1 and 65536, found {}",
                self.batch_size
            )));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ConfigError(format!(
                "the learning rate must be a positive number, found {}",
                self.lr
            )));
        }
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
    }
}
