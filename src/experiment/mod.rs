//! Experiments: the one configuration that describes a run, and the record each run leaves on disk.

pub mod bundle;
pub mod chart;
pub mod checkpoint;
pub mod curves;
pub mod early_stop;
pub mod evaluation;
pub mod feature_cache;
pub mod gan;
pub mod lesson_runs;
pub mod lessons;
pub mod metrics;
pub mod optim;
pub mod record;
pub mod report;
pub mod runs;
pub mod schedule;
pub mod sweep;
mod training;
pub mod transfer;

use serde::{Deserialize, Serialize};

use crate::augment::AugmentConfig;
use crate::augment::crop::CropConfig;
pub use crate::data::DatasetConfig;
use crate::data::{DatasetSource, Validation, noise::NoiseConfig};
use crate::model::{ModelConfig, TransferConfig};
pub use early_stop::{EarlyStopping, Monitor};
pub use metrics::{ConfigChange, EpochMetrics, Restored, RunStatus};
pub use optim::{GradClip, OptimizerConfig};
pub use schedule::Schedule;
pub use training::{ConfigError, TrainConfig};

/// The storage of `input` when inputs are cut as `crop` says: with cropping the images keep
/// their own resolution (no stored size) and the crop's input size is what the network sees.
pub fn storage(input: crate::data::InputFormat, crop: &CropConfig) -> crate::data::InputFormat {
    if crop.is_active() {
        crate::data::InputFormat {
            size: None,
            native: true,
            ..input
        }
    } else {
        input
    }
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
    /// How the network's input is cut from each stored image in training and evaluation
    /// (default: the stored image is the input).
    pub crop: CropConfig,
    /// The architecture.
    pub model: ModelConfig,
    /// Pretrained weights, input adaptation, freezing (default: from scratch).
    pub transfer: TransferConfig,
    /// Optimisation settings.
    pub train: TrainConfig,
    /// Seed for weight initialisation, the split and batch order.
    pub seed: u64,
    /// Where training runs.
    pub device: DeviceKind,
    /// Generated images mixed into the training samples (none by default).
    pub synthetic: gan::SyntheticConfig,
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
            dataset: DatasetConfig {
                source,
                validation,
                ..DatasetConfig::default()
            },
            augment: AugmentConfig::default(),
            crop: CropConfig::default(),
            model: ModelConfig::default(),
            transfer: TransferConfig::default(),
            train,
            seed: 42,
            device: DeviceKind::Cpu,
            synthetic: gan::SyntheticConfig::default(),
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

    /// Reads and checks a configuration file written by the window, the CLI or by hand.
    ///
    /// Fields left out take their defaults. A syntax error, a value of the wrong type, an
    /// unknown field or a value out of range is reported with its line and field name.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
            file: path.display().to_string(),
            line: None,
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text).map_err(|mut e| {
            e.file = path.display().to_string();
            e
        })
    }

    /// Parses and checks configuration text (see [`Self::load`]).
    pub fn parse(text: &str) -> Result<Self, ConfigFileError> {
        let error = |line: Option<usize>, message: String| ConfigFileError {
            file: "config".to_owned(),
            line,
            message,
        };
        let config: Self = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let message = e.message().trim().to_owned();
            match line.and_then(|line| field_at(text, line)) {
                Some(field) if !message.contains(&field) => {
                    error(line, format!("{message} (field `{field}`)"))
                }
                _ => error(line, message),
            }
        })?;
        // Unknown keys: present in the file but absent once parsed and written back.
        let written = toml::Value::try_from(&config).map_err(|e| error(None, e.to_string()))?;
        let given: toml::Value = toml::from_str(text).map_err(|e| error(None, e.to_string()))?;
        let mut unknown = Vec::new();
        unknown_keys(&given, &written, &mut Vec::new(), &mut unknown);
        if let Some(path) = unknown.first() {
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            return Err(error(
                locate_key(text, &keys),
                format!("unknown field `{}`", path.join(".")),
            ));
        }
        if let Err(e) = config.train.validate() {
            return Err(error(
                locate_key(text, &["train", e.field]),
                format!("{} (field `train.{}`)", e.message, e.field),
            ));
        }
        // The data and augmentation checks name the setting in their message; the line is the
        // setting's when it can be told, else its section's.
        let section_line = |section: &str, keys: &[&str], message: &str| {
            keys.iter()
                .filter(|key| message.contains(&key.replace('_', " ")))
                .find_map(|key| locate_key(text, &[section, key]))
                .or_else(|| {
                    // The section's first table header (`[augment]`, `[augment.hflip]`, …).
                    text.lines()
                        .position(|l| {
                            let l = l.trim();
                            l.starts_with(&format!("[{section}]"))
                                || l.starts_with(&format!("[{section}."))
                        })
                        .map(|i| i + 1)
                })
        };
        if let Err(e) = config.dataset.validate() {
            let message = e.to_string();
            let keys = [
                "label_noise",
                "validation",
                "classes",
                "train_size",
                "input",
            ];
            return Err(error(
                section_line("dataset", &keys, &message),
                format!("{message} (section `dataset`)"),
            ));
        }
        if let Err(e) = config.augment.validate() {
            let message = e.to_string();
            return Err(error(
                section_line("augment", &[], &message),
                format!("{message} (section `augment`)"),
            ));
        }
        if let Err(e) = config.crop.validate() {
            let message = e.to_string();
            return Err(error(
                section_line("crop", &["input_size", "scale", "area", "ratio"], &message),
                format!("{message} (section `crop`)"),
            ));
        }
        Ok(config)
    }

    /// How the dataset is stored for this run: as configured, and at its own resolution when
    /// the inputs are cut from it (see [`CropConfig::is_active`]).
    pub fn storage(&self) -> crate::data::InputFormat {
        storage(self.dataset.input, &self.crop)
    }

    /// The dataset settings this run loads: [`Self::storage`] in place of the input format.
    pub fn data_config(&self) -> DatasetConfig {
        DatasetConfig {
            input: self.storage(),
            ..self.dataset.clone()
        }
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

/// A configuration file that cannot be used, with the line and field at fault where known.
#[derive(Debug, thiserror::Error)]
pub struct ConfigFileError {
    /// The file (or "config" for text without a file).
    pub file: String,
    /// 1-based line of the offending field, when it can be found.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Collects the key paths of `given` that `known` lacks (tables are compared recursively).
fn unknown_keys(
    given: &toml::Value,
    known: &toml::Value,
    path: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    let (Some(given), Some(known)) = (given.as_table(), known.as_table()) else {
        return;
    };
    for (key, value) in given {
        path.push(key.clone());
        match known.get(key) {
            None => out.push(path.clone()),
            Some(k) => unknown_keys(value, k, path, out),
        }
        path.pop();
    }
}

/// The 1-based line where `path` (e.g. `["train", "epochs"]`) is set in TOML text: a
/// `key = ...` line under the `[train]` header, a dotted `train.epochs = ...`, or a table header
/// `[path]` itself.
pub fn locate_key(text: &str, path: &[&str]) -> Option<usize> {
    locate(text, path)
}

/// The dotted name of the key set on 1-based line `line` (`train.epochs`), if a key is set there.
pub fn field_at(text: &str, line: usize) -> Option<String> {
    let mut table: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate().take(line) {
        let trimmed = raw.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            let name = header.trim_start_matches('[');
            table = name
                .split(']')
                .next()
                .unwrap_or_default()
                .split('.')
                .map(|p| p.trim().trim_matches('"').to_owned())
                .collect();
            continue;
        }
        if i + 1 == line {
            let (key, _) = trimmed.split_once('=')?;
            let key = key.trim().trim_matches('"');
            return Some(
                table
                    .iter()
                    .map(String::as_str)
                    .chain(std::iter::once(key))
                    .collect::<Vec<_>>()
                    .join("."),
            );
        }
    }
    None
}

fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let (last, parents) = path.split_last()?;
    let mut table: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            let name = header.trim_start_matches('[');
            let name = name.split(']').next().unwrap_or_default();
            table = name
                .split('.')
                .map(|p| p.trim().trim_matches('"').to_owned())
                .collect();
            if table.iter().map(String::as_str).eq(path.iter().copied()) {
                return Some(i + 1);
            }
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let full: Vec<String> = table
            .iter()
            .cloned()
            .chain(
                key.split('.')
                    .map(|p| p.trim().trim_matches('"').to_owned()),
            )
            .collect();
        let matches = full.len() == parents.len() + 1
            && full.last().map(String::as_str) == Some(*last)
            && full.iter().zip(parents.iter()).all(|(a, b)| a == b);
        if matches {
            return Some(i + 1);
        }
    }
    None
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
    fn bad_files_name_line_and_field() {
        let text = "seed = 3\n\n[train]\nbatch_size = 32\nepochs = 0\n";
        let err = ExperimentConfig::parse(text).unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert!(err.to_string().contains("train.epochs"), "{err}");
        assert!(err.to_string().contains("found 0"), "{err}");

        let err =
            ExperimentConfig::parse("seed = 3\n[train]\nepochs = 2\nepoch = 4\n").unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(
            err.to_string().contains("unknown field `train.epoch`"),
            "{err}"
        );

        let err = ExperimentConfig::parse("[train]\nlr = \"fast\"\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");

        let err = ExperimentConfig::parse("[train\n").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");

        let err = ExperimentConfig::load(std::path::Path::new("/nonexistent/c.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/c.toml: cannot read"),
            "{err}"
        );
    }

    #[test]
    fn every_written_config_reads_back_without_complaint() {
        for config in [ExperimentConfig::default(), ExperimentConfig::noise()] {
            let text = config.to_toml().unwrap();
            assert_eq!(ExperimentConfig::parse(&text).unwrap(), config);
        }
    }

    #[test]
    fn keys_are_found_under_headers_and_dotted() {
        let text = "seed = 1\n[train]\nlr = 0.1\n[train.early_stopping]\npatience = 0\n";
        assert_eq!(locate_key(text, &["seed"]), Some(1));
        assert_eq!(locate_key(text, &["train", "lr"]), Some(3));
        assert_eq!(locate_key(text, &["train", "early_stopping"]), Some(4));
        assert_eq!(
            locate_key(text, &["train", "early_stopping", "patience"]),
            Some(5)
        );
        assert_eq!(locate_key("train.lr = 2\n", &["train", "lr"]), Some(1));
        assert_eq!(locate_key(text, &["model"]), None);
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
