//! Experiments: the one configuration that describes a run, and the record each run leaves on disk.

pub mod curves;
pub mod evaluation;
pub mod record;
pub mod runs;

use serde::{Deserialize, Serialize};

use crate::augment::AugmentConfig;
use crate::data::{DatasetSource, Validation, noise::NoiseConfig};
use crate::model::ModelConfig;
use crate::train::TrainConfig;

/// The data part of an experiment: which dataset, and how validation samples are chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DatasetConfig {
    /// Where the images come from.
    pub source: DatasetSource,
    /// How validation samples are chosen.
    pub validation: Validation,
}

/// Which backend trains the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// The CPU (Burn's flex backend).
    #[default]
    Cpu,
    /// The GPU through wgpu (Vulkan, Metal or DirectX).
    Gpu,
}

/// Everything needed to repeat a run: data, augmentation, model, training settings, seed and
/// device.
///
/// Saved as `config.toml` in every run directory; `cnn-workbench train` accepts the same values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentConfig {
    /// Data and split.
    pub dataset: DatasetConfig,
    /// Augmentation of the training images (none by default, and in configurations saved
    /// before it existed).
    pub augment: AugmentConfig,
    /// The architecture.
    pub model: ModelConfig,
    /// Optimisation settings.
    pub train: TrainConfig,
    /// Seed for weight initialisation, the split and batch order.
    pub seed: u64,
    /// Where training runs.
    pub device: DeviceKind,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self::for_source(DatasetSource::Embedded)
    }
}

impl ExperimentConfig {
    /// Sensible defaults for a dataset. The noise dataset takes the classic memorisation setup:
    /// its own held-out noise for validation, batch size 10 and 50 epochs.
    pub fn for_source(source: DatasetSource) -> Self {
        let (validation, train) = match source {
            DatasetSource::Noise(_) => (
                Validation::SourceTest,
                TrainConfig {
                    epochs: 50,
                    batch_size: 10,
                    ..TrainConfig::default()
                },
            ),
            _ => (Validation::default(), TrainConfig::default()),
        };
        Self {
            dataset: DatasetConfig { source, validation },
            augment: AugmentConfig::default(),
            model: ModelConfig::default(),
            train,
            seed: 42,
            device: DeviceKind::Cpu,
        }
    }

    /// The seed's noise experiment (100 noise images, batch size 10, 50 epochs).
    pub fn noise() -> Self {
        Self::for_source(DatasetSource::Noise(NoiseConfig::default()))
    }

    /// The configuration as TOML, as written to `config.toml`.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }

    /// Reads a configuration written by [`Self::to_toml`] (or by hand).
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// A short name for the run: dataset, model and augmentation (if any), e.g.
    /// `embedded-simple-cnn-seed2`.
    pub fn short_name(&self) -> String {
        let mut name = format!(
            "{}-{}",
            self.dataset.source.short_name(),
            self.model.short_name()
        );
        if let Some(augment) = self.augment.short_name() {
            name.push('-');
            name.push_str(augment);
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_keeps_every_field() {
        let mut config = ExperimentConfig::noise();
        config.seed = 7;
        config.train.lr = 0.0025;
        config.augment = crate::augment::Preset::Strong.config();
        let text = config.to_toml().unwrap();
        assert!(text.contains("kind = \"noise\""), "{text}");
        assert_eq!(ExperimentConfig::from_toml(&text).unwrap(), config);
    }

    #[test]
    fn partial_toml_takes_defaults() {
        let config = ExperimentConfig::from_toml("seed = 3\n[train]\nepochs = 2\n").unwrap();
        assert_eq!(config.seed, 3);
        assert_eq!(config.train.epochs, 2);
        assert_eq!(config.train.batch_size, TrainConfig::default().batch_size);
        assert_eq!(config.dataset.source, DatasetSource::Embedded);
        assert!(
            config.augment.is_identity(),
            "no [augment] table, no augmentation"
        );
    }

    #[test]
    fn augmentation_names_the_run() {
        let mut config = ExperimentConfig::default();
        assert_eq!(config.short_name(), "embedded-simple-cnn");
        config.augment = crate::augment::Preset::Seed2.config();
        assert_eq!(config.short_name(), "embedded-simple-cnn-seed2");
        config.augment.affine.degrees = 20.0;
        assert_eq!(config.short_name(), "embedded-simple-cnn-custom");
    }
}
