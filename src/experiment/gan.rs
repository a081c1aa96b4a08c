//! The vocabulary of a GAN run: its settings ([`GanConfig`], saved as `config.toml`), what each
//! epoch measures ([`GanEpoch`], a row of `metrics.csv`), its `run.json` ([`GanSummary`], kind
//! `gan`), its committed checkpoint, and the synthetic images a classifier run mixes in
//! ([`SyntheticConfig`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DeviceKind;
use super::metrics::RunStatus;
use super::record::{DatasetFingerprint, RecordError, now_rfc3339, write_atomic};
use crate::data::{DatasetConfig, TrainSize, Validation};
use crate::model::gan::{DiffAugment, GanArch};

/// The header of a GAN run's `metrics.csv`.
pub const GAN_METRICS_HEADER: &str = "epoch,d_loss,g_loss,tstr_acc,secs";

/// Everything needed to repeat a GAN run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GanConfig {
    /// The data: the GAN learns from the training samples of this split, never the validation
    /// samples (they score the train-on-synthetic classifier).
    pub dataset: DatasetConfig,
    /// Network sizes.
    pub arch: GanArch,
    /// Epochs (passes over the training samples).
    pub epochs: usize,
    /// Real images per step (as many generated ones beside them).
    pub batch_size: usize,
    /// The generator's learning rate (Adam).
    pub lr: f64,
    /// The discriminator's learning rate.
    pub d_lr: f64,
    /// Adam's first-moment decay (0.5 or 0 keep a GAN steadier than 0.9).
    pub beta1: f64,
    /// Adam's second-moment decay.
    pub beta2: f64,
    /// Differentiable augmentation of what the discriminator sees.
    pub diff_augment: DiffAugment,
    /// Score the generator by train-on-synthetic, test-on-real every this many epochs (and at
    /// the last); 0 never.
    pub tstr_every: usize,
    /// Generated images per class the train-on-synthetic classifier learns from.
    pub tstr_per_class: usize,
    /// Epochs of that classifier.
    pub tstr_epochs: usize,
    /// Seed of the weights, batch order, noise and augmentation.
    pub seed: u64,
    /// Where it trains.
    pub device: DeviceKind,
}

impl Default for GanConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetConfig::default(),
            arch: GanArch::default(),
            epochs: 20,
            batch_size: 64,
            lr: 2e-4,
            d_lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            diff_augment: DiffAugment::Auto,
            tstr_every: 5,
            tstr_per_class: 500,
            tstr_epochs: 4,
            seed: 42,
            device: DeviceKind::Cpu,
        }
    }
}

/// A GAN setting out of range, named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (setting `{field}`)")]
pub struct GanConfigError {
    /// The setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl GanConfig {
    /// Checks the settings that need no data.
    pub fn validate(&self) -> Result<(), GanConfigError> {
        let fail = |field, message: String| Err(GanConfigError { field, message });
        if self.epochs == 0 || self.epochs > 100_000 {
            return fail(
                "epochs",
                format!("must be 1 to 100000, found {}", self.epochs),
            );
        }
        if self.batch_size < 2 || self.batch_size > 4096 {
            return fail(
                "batch_size",
                format!(
                    "must be 2 to 4096 (batch norm needs two images), found {}",
                    self.batch_size
                ),
            );
        }
        for (field, lr) in [("lr", self.lr), ("d_lr", self.d_lr)] {
            if !(lr.is_finite() && lr > 0.0 && lr <= 1.0) {
                return fail(field, format!("must be above 0 and at most 1, found {lr}"));
            }
        }
        for (field, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return fail(
                    field,
                    format!("must be at least 0 and below 1, found {beta}"),
                );
            }
        }
        if self.tstr_every > 0 && (self.tstr_per_class == 0 || self.tstr_epochs == 0) {
            return fail(
                "tstr_per_class",
                "the train-on-synthetic score needs at least 1 image per class and 1 epoch"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The settings as TOML, as written to `config.toml`.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }

    /// Reads `config.toml` of a GAN run.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| format!("{} is not a GAN run's settings: {e}", path.display()))
    }

    /// A short name for run folders, e.g. `gan-fashion-mnist-subset`.
    pub fn short_name(&self) -> String {
        let source: String = self
            .dataset
            .source
            .label()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let source: Vec<&str> = source.split('-').filter(|s| !s.is_empty()).collect();
        format!("gan-{}", source.join("-"))
    }

    /// The lesson's setup: few images per class, augmentation on.
    pub fn small_data(per_class: usize) -> Self {
        Self {
            dataset: DatasetConfig {
                train_size: TrainSize::PerClass { count: per_class },
                validation: Validation::default(),
                ..DatasetConfig::default()
            },
            ..Self::default()
        }
    }
}

/// One epoch of a GAN run; one row of `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GanEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean discriminator (hinge) loss over the epoch's steps.
    pub d_loss: f64,
    /// Mean generator loss.
    pub g_loss: f64,
    /// Train-on-synthetic, test-on-real accuracy, on epochs that measured it.
    pub tstr_acc: Option<f64>,
    /// Seconds the epoch took (the score included).
    pub secs: f64,
}

impl GanEpoch {
    /// The row as written to `metrics.csv`.
    pub fn row(&self) -> String {
        format!(
            "{},{},{},{},{:.3}",
            self.epoch,
            self.d_loss,
            self.g_loss,
            self.tstr_acc.map_or(String::new(), |a| format!("{a}")),
            self.secs
        )
    }
}

/// Reads a GAN run's `metrics.csv` (a torn last line is ignored).
pub fn read_gan_metrics(path: &Path) -> Result<Vec<GanEpoch>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.split_inclusive('\n');
    match lines.next() {
        Some(h) if h.trim_end() == GAN_METRICS_HEADER => {}
        _ => return Err(format!("{} is not a GAN run's metrics", path.display())),
    }
    let mut rows = Vec::new();
    for line in lines {
        if !line.ends_with('\n') {
            break;
        }
        let f: Vec<&str> = line.trim_end().split(',').collect();
        let number = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        let (Some(epoch), Some(d_loss), Some(g_loss), Some(secs)) = (
            f.first().and_then(|v| v.parse().ok()),
            number(1),
            number(2),
            number(4),
        ) else {
            return Err(format!("{}: damaged row {line:?}", path.display()));
        };
        if epoch != rows.len() + 1 {
            return Err(format!("{}: epoch {epoch} out of order", path.display()));
        }
        rows.push(GanEpoch {
            epoch,
            d_loss,
            g_loss,
            tstr_acc: number(3),
            secs,
        });
    }
    Ok(rows)
}

/// The generated images nearest to a training image, as measured on the fixed-noise grid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NearestCheck {
    /// The epoch it was measured at.
    pub epoch: usize,
    /// Generated images compared with every training image of their class.
    pub checked: usize,
    /// Those closer to a training image than half the distance at which 95 % of training
    /// images lie from their own nearest neighbour: likely memorised.
    pub flagged: usize,
    /// The median over the generated images of (distance to the nearest training image) /
    /// (the training images' median nearest-neighbour distance).
    pub median_ratio: f64,
}

/// `run.json` of a GAN run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanSummary {
    /// Always `gan`: tells these folders from classifier runs.
    pub kind: String,
    /// How the run ended, or `running`.
    pub status: RunStatus,
    /// Epochs recorded.
    pub epochs_done: usize,
    /// Epochs planned.
    pub epochs_planned: usize,
    /// Real training images it learns from.
    pub train_samples: usize,
    /// Real validation images the score is measured on.
    pub val_samples: usize,
    /// The data, as shown to the user.
    pub dataset: String,
    /// Class names in the generator's class order.
    pub class_names: Vec<String>,
    /// Image channels, height and width.
    pub shape: [usize; 3],
    /// Parameters of the generator and the discriminator.
    pub parameters: [usize; 2],
    /// Whether the discriminator saw augmented images.
    pub diff_augment: bool,
    /// The backend it ran on.
    pub device: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time, once ended.
    pub finished_at: Option<String>,
    /// Why it ended, when not as planned.
    pub message: Option<String>,
    /// The best train-on-synthetic score so far: epoch and accuracy.
    pub best_tstr: Option<(usize, f64)>,
    /// The latest nearest-neighbour check.
    pub nearest: Option<NearestCheck>,
    /// Which training samples it learnt from.
    pub dataset_fingerprint: Option<DatasetFingerprint>,
}

/// Whether a folder holds a GAN run (its `run.json` says kind `gan`).
pub fn is_gan_run(dir: &Path) -> bool {
    read_gan_summary(dir).is_ok()
}

/// Reads a GAN run's `run.json`.
pub fn read_gan_summary(dir: &Path) -> Result<GanSummary, String> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{} is not a run folder (cannot read run.json: {e})",
            dir.display()
        )
    })?;
    let summary: GanSummary = serde_json::from_str(&text).map_err(|_| {
        format!(
            "{} is not a GAN run (its run.json is another kind)",
            dir.display()
        )
    })?;
    if summary.kind != "gan" {
        return Err(format!("{} is not a GAN run", dir.display()));
    }
    Ok(summary)
}

/// The GAN runs directly under `root`, newest first.
pub fn gan_runs(root: &Path) -> Vec<(PathBuf, GanSummary)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut runs: Vec<(PathBuf, GanSummary)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let dir = e.path();
            read_gan_summary(&dir).ok().map(|s| (dir, s))
        })
        .collect();
    runs.sort_by(|a, b| b.1.started_at.cmp(&a.1.started_at).then(b.0.cmp(&a.0)));
    runs
}

/// Writes a GAN run's folder as it goes: `config.toml`, `metrics.csv`, `run.json`.
pub struct GanRecorder {
    dir: PathBuf,
    metrics: File,
    summary: GanSummary,
}

impl GanRecorder {
    /// Creates `dir` with the settings, a fresh metrics header and a `running` summary.
    pub fn create(
        dir: &Path,
        config: &GanConfig,
        summary: GanSummary,
    ) -> Result<Self, RecordError> {
        std::fs::create_dir_all(dir).map_err(|e| RecordError::new(dir, e))?;
        let path = dir.join("config.toml");
        let toml = config.to_toml().map_err(|e| RecordError::new(&path, e))?;
        write_atomic(&path, toml.as_bytes())?;
        let path = dir.join("metrics.csv");
        let mut metrics = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| RecordError::new(&path, e))?;
        writeln!(metrics, "{GAN_METRICS_HEADER}")
            .and_then(|()| metrics.flush())
            .map_err(|e| RecordError::new(&path, e))?;
        let recorder = Self {
            dir: dir.to_owned(),
            metrics,
            summary,
        };
        recorder.write_summary()?;
        Ok(recorder)
    }

    /// Reopens a run to continue it: `metrics.csv` keeps the rows of `history`, the run is
    /// `running` again with `epochs` planned.
    pub fn reopen(dir: &Path, history: &[GanEpoch], epochs: usize) -> Result<Self, RecordError> {
        let mut summary = read_gan_summary(dir)
            .map_err(|e| RecordError::new(&dir.join("run.json"), std::io::Error::other(e)))?;
        summary.status = RunStatus::Running;
        summary.finished_at = None;
        summary.message = None;
        summary.epochs_done = history.len();
        summary.epochs_planned = epochs;
        let path = dir.join("metrics.csv");
        let mut text = format!("{GAN_METRICS_HEADER}\n");
        for m in history {
            text.push_str(&m.row());
            text.push('\n');
        }
        write_atomic(&path, text.as_bytes())?;
        let metrics = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| RecordError::new(&path, e))?;
        let recorder = Self {
            dir: dir.to_owned(),
            metrics,
            summary,
        };
        recorder.write_summary()?;
        Ok(recorder)
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `run.json` as it stands.
    pub fn summary(&self) -> &GanSummary {
        &self.summary
    }

    /// More (or fewer) epochs planned.
    pub fn set_planned(&mut self, epochs: usize) {
        self.summary.epochs_planned = epochs;
    }

    /// Appends an epoch's row (flushed) and updates `run.json`.
    pub fn record_epoch(
        &mut self,
        m: &GanEpoch,
        nearest: Option<NearestCheck>,
    ) -> Result<(), RecordError> {
        let path = self.dir.join("metrics.csv");
        writeln!(self.metrics, "{}", m.row())
            .and_then(|()| self.metrics.flush())
            .map_err(|e| RecordError::new(&path, e))?;
        self.summary.epochs_done = m.epoch;
        if let Some(acc) = m.tstr_acc
            && self.summary.best_tstr.is_none_or(|(_, best)| acc > best)
        {
            self.summary.best_tstr = Some((m.epoch, acc));
        }
        if nearest.is_some() {
            self.summary.nearest = nearest;
        }
        self.write_summary()
    }

    /// Marks the run as ended.
    pub fn finish(
        &mut self,
        status: RunStatus,
        message: Option<String>,
    ) -> Result<(), RecordError> {
        self.summary.status = status;
        self.summary.message = message;
        self.summary.finished_at = Some(now_rfc3339());
        self.write_summary()
    }

    fn write_summary(&self) -> Result<(), RecordError> {
        let path = self.dir.join("run.json");
        let json =
            serde_json::to_string_pretty(&self.summary).map_err(|e| RecordError::new(&path, e))?;
        write_atomic(&path, json.as_bytes())
    }
}

/// The files of a GAN run's committed epoch, named in `checkpoint.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GanCheckpoint {
    /// The epoch they hold.
    pub epoch: usize,
    /// Generator weights.
    pub generator: String,
    /// Discriminator weights.
    pub discriminator: String,
    /// The generator's optimizer state.
    pub g_optimizer: String,
    /// The discriminator's optimizer state.
    pub d_optimizer: String,
}

impl GanCheckpoint {
    /// The names for epoch `epoch`.
    pub fn for_epoch(epoch: usize) -> Self {
        Self {
            epoch,
            generator: format!("generator-e{epoch}.bpk"),
            discriminator: format!("discriminator-e{epoch}.bpk"),
            g_optimizer: format!("g-optimizer-e{epoch}.bpk"),
            d_optimizer: format!("d-optimizer-e{epoch}.bpk"),
        }
    }

    fn files(&self) -> [&str; 4] {
        [
            &self.generator,
            &self.discriminator,
            &self.g_optimizer,
            &self.d_optimizer,
        ]
    }

    /// Makes this checkpoint current (atomic replace of `checkpoint.json`) and removes the
    /// files of `previous` it no longer names.
    pub fn commit(&self, dir: &Path, previous: Option<&Self>) -> Result<(), RecordError> {
        let path = dir.join("checkpoint.json");
        let json = serde_json::to_string_pretty(self).map_err(|e| RecordError::new(&path, e))?;
        write_atomic(&path, json.as_bytes())?;
        if let Some(previous) = previous {
            for old in previous.files() {
                if !self.files().contains(&old) {
                    std::fs::remove_file(dir.join(old)).ok();
                }
            }
        }
        Ok(())
    }

    /// The committed checkpoint of a GAN run, if an epoch finished.
    pub fn read(dir: &Path) -> Result<Option<Self>, String> {
        let path = dir.join("checkpoint.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{} is damaged: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

/// Generated images mixed into a classifier run's training samples (never its validation
/// samples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticConfig {
    /// The GAN run folder whose generator makes them (`None`: no synthetic images).
    pub run: Option<PathBuf>,
    /// Images per class.
    pub per_class: usize,
}

impl SyntheticConfig {
    /// Whether synthetic images are asked for.
    pub fn is_active(&self) -> bool {
        self.run.is_some() && self.per_class > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_rows_read_back_with_and_without_a_score() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            GanEpoch {
                epoch: 1,
                d_loss: 1.5,
                g_loss: 0.25,
                tstr_acc: None,
                secs: 2.0,
            },
            GanEpoch {
                epoch: 2,
                d_loss: 1.25,
                g_loss: 0.5,
                tstr_acc: Some(0.75),
                secs: 3.5,
            },
        ];
        let mut text = format!("{GAN_METRICS_HEADER}\n");
        for r in &rows {
            text.push_str(&r.row());
            text.push('\n');
        }
        text.push_str("3,1.0"); // torn
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_gan_metrics(&path).unwrap(), rows);
        assert!(rows[0].row().contains(",,"), "no score: an empty field");
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let bad = GanConfig {
            batch_size: 1,
            ..GanConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "batch_size");
        let bad = GanConfig {
            lr: f64::NAN,
            ..GanConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "lr");
        assert!(GanConfig::default().validate().is_ok());
        let text = GanConfig::default().to_toml().unwrap();
        assert_eq!(
            toml::from_str::<GanConfig>(&text).unwrap(),
            GanConfig::default()
        );
    }
}
