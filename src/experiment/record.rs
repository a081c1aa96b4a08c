//! The run directory: `config.toml`, `metrics.csv` and `run.json`, written as the run goes.
//!
//! `metrics.csv` gets one row per finished epoch, appended and flushed at once; `run.json` and
//! `config.toml` are replaced atomically (temporary file + rename), so a killed process leaves
//! every file readable and loses at most the epoch in progress.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::ExperimentConfig;
use super::early_stop::EarlyStopping;
use super::evaluation::{ClassMetrics, Evaluation};
use super::feature_cache::FeatureCacheRecord;
use super::metrics::{ConfigChange, EpochMetrics, RunStatus};
use crate::data::SkippedFile;
use crate::data::{Dataset, Part, Split};

/// Header line of `metrics.csv`.
pub const METRICS_HEADER: &str =
    "epoch,train_loss,val_loss,train_acc,val_acc,lr,train_secs,val_secs";

/// Name of the best epoch's evaluation in a run directory.
pub const EVALUATION_FILE: &str = "evaluation.json";

/// The content of `evaluation.json`: the best epoch's confusion matrix and per-class metrics
/// (the per-sample predictions stay in memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedEvaluation {
    /// The epoch evaluated (1-based).
    pub epoch: usize,
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// `confusion[truth][predicted]` counts.
    pub confusion: Vec<Vec<u32>>,
    /// Metrics per class.
    pub per_class: Vec<ClassMetrics>,
}

/// Failure to write a run's files. Each names the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {message}")]
pub struct RecordError {
    path: String,
    message: String,
}

impl RecordError {
    pub(crate) fn new(path: &Path, message: impl std::fmt::Display) -> Self {
        Self {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

/// The content of `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// `running`, `completed`, `stopped`, `early-stopped`, `diverged` or `failed`.
    pub status: RunStatus,
    /// Epochs finished and recorded.
    pub epochs_done: usize,
    /// Epochs the run was configured for.
    pub epochs_planned: usize,
    /// Training samples.
    pub train_samples: usize,
    /// Validation samples.
    pub val_samples: usize,
    /// The best epoch so far (1-based) by the run's early-stopping monitor and min delta (see
    /// [`EarlyStopping::best`]), if any epoch finished.
    pub best_epoch: Option<usize>,
    /// The validation loss of that epoch.
    pub best_val_loss: Option<f64>,
    /// The epoch whose weights the run ended with (the best one, restored), if any.
    #[serde(default)]
    pub restored_epoch: Option<usize>,
    /// Dataset short name.
    pub dataset: String,
    /// Model short name.
    pub model: String,
    /// Device description.
    pub device: String,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// End time, RFC 3339 UTC, once the run has ended.
    pub finished_at: Option<String>,
    /// A note on how it ended (the error, for a failed run).
    pub message: Option<String>,
    /// Learning-rate and schedule changes made while paused.
    #[serde(default)]
    pub changes: Vec<ConfigChange>,
    /// Which samples the run saw, so two runs can be checked to have used the same data.
    #[serde(default)]
    pub dataset_fingerprint: Option<DatasetFingerprint>,
    /// Files of the dataset the loader left out (corrupt, truncated, unreadable), with reasons.
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
    /// How the network's inputs were taken from the stored images.
    #[serde(default)]
    pub input: Option<InputRecord>,
    /// Whether the backbone's features were cached, and why not when they were not (absent in
    /// runs recorded before caching existed).
    #[serde(default)]
    pub feature_cache: Option<FeatureCacheRecord>,
    /// Whether the images were held in memory or read from disk per sample.
    #[serde(default)]
    pub storage: Option<StorageRecord>,
    /// Files of a dataset on disk that failed to decode during the run: left out of every batch
    /// from then on (the run went on without them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_failures: Vec<SkippedFile>,
    /// Files of a dataset on disk whose size or time stamp changed during the run: used as they
    /// were when read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_files: Vec<SkippedFile>,
    /// Generated images mixed into the training samples (never the validation samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<crate::data::synthetic::SyntheticMark>,
}

/// Where a run's images were held (`storage` in `run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageRecord {
    /// `true`: decoded once into memory; `false`: read from disk per sample through the cache.
    pub in_memory: bool,
    /// What was asked (`auto`, `yes`, `no`).
    pub asked: crate::data::InMemory,
    /// Size of all images decoded, in MB.
    pub decoded_mb: f64,
    /// The decoded-image cache's budget in MB (images on disk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_mb: Option<f64>,
    /// Seconds the folder took to index: its files listed and their headers read (images on
    /// disk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_secs: Option<f64>,
}

impl StorageRecord {
    /// The record of a loaded dataset.
    pub fn of(data: &Dataset, asked: crate::data::InMemory) -> Self {
        Self {
            in_memory: !data.on_disk(),
            asked,
            decoded_mb: data.decoded_bytes() as f64 / 1e6,
            cache_mb: data.disk.as_ref().map(|d| d.cache_budget() as f64 / 1e6),
            index_secs: data.disk.as_ref().map(|d| d.indexed_secs()),
        }
    }
}

/// The image sizes of a run and how inputs were cut (`input` in `run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    /// Stored images, `[width, height]`.
    pub stored: [usize; 2],
    /// The network's input, `[width, height]`.
    pub network: [usize; 2],
    /// Training crop (`none`, `random`, `resized`).
    pub train_crop: crate::augment::crop::TrainCrop,
    /// Evaluation crop (`resize`, `center`, `tiles`).
    pub eval_crop: crate::augment::crop::EvalCrop,
    /// Scale of the image before a window is cut.
    pub scale: f32,
    /// Inputs per validation image (tiles).
    pub eval_views: usize,
}

impl InputRecord {
    /// The record of `crop` on images stored at `stored`.
    pub fn new(
        crop: &crate::augment::crop::CropConfig,
        stored: crate::augment::ImageShape,
    ) -> Self {
        let input = crop.input_shape(stored);
        let active = crop.is_active();
        Self {
            stored: [stored.width, stored.height],
            network: [input.width, input.height],
            train_crop: if active {
                crop.train
            } else {
                Default::default()
            },
            eval_crop: if active {
                crop.eval
            } else {
                Default::default()
            },
            scale: if active { crop.scale } else { 1.0 },
            eval_views: crop.views(stored),
        }
    }
}

/// The identity of a run's data: source, sample counts and a hash of the sample indices of both
/// sides of the split (FNV-1a, 64 bits, hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetFingerprint {
    /// The dataset, as the Dataset panel names it.
    pub source: String,
    /// Training samples.
    pub train_samples: usize,
    /// Validation samples.
    pub val_samples: usize,
    /// Image size and channels, e.g. `28x28x1`.
    pub shape: String,
    /// Hash of the training and validation indices (and which image set each side indexes),
    /// and of the generated images mixed in, if any.
    pub indices_hash: String,
    /// Generated images among the training samples: how many and from where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<String>,
}

impl DatasetFingerprint {
    /// The fingerprint of a split of a dataset.
    pub fn of(data: &Dataset, split: &Split) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for (tag, subset) in [(b'T', &split.train), (b'V', &split.val)] {
            feed(&[tag, u8::from(subset.part == Part::Test)]);
            for &i in &subset.indices {
                feed(&i.to_le_bytes());
            }
        }
        let synthetic = split.synthetic.as_ref().map(|mark| {
            feed(b"S");
            feed(mark.origin.as_bytes());
            feed(&(mark.count as u64).to_le_bytes());
            format!(
                "{} generated images ({} per class) from {}",
                mark.count, mark.per_class, mark.origin
            )
        });
        Self {
            source: data.source.label(),
            train_samples: split.train.len(),
            val_samples: split.val.len(),
            shape: format!("{}x{}x{}", data.width, data.height, data.channels),
            indices_hash: format!("{hash:016x}"),
            synthetic,
        }
    }
}

impl RunSummary {
    /// The summary of a run that starts now: `running`, nothing done yet.
    pub fn starting(
        config: &ExperimentConfig,
        train_samples: usize,
        val_samples: usize,
        device: &str,
    ) -> Self {
        Self {
            status: RunStatus::Running,
            epochs_done: 0,
            epochs_planned: config.train.epochs,
            train_samples,
            val_samples,
            best_epoch: None,
            best_val_loss: None,
            restored_epoch: None,
            dataset: config.dataset.source.short_name().to_owned(),
            model: config.model.short_name().to_owned(),
            device: device.to_owned(),
            started_at: now_rfc3339(),
            finished_at: None,
            message: None,
            changes: Vec::new(),
            dataset_fingerprint: None,
            skipped: Vec::new(),
            input: None,
            feature_cache: None,
            storage: None,
            read_failures: Vec::new(),
            changed_files: Vec::new(),
            synthetic: None,
        }
    }
}

/// Writes one run's directory as the run progresses.
#[derive(Debug)]
pub struct RunRecorder {
    dir: PathBuf,
    metrics: File,
    summary: RunSummary,
    /// The epochs recorded so far, and the rule that names the best of them.
    history: Vec<EpochMetrics>,
    rule: EarlyStopping,
}

impl RunRecorder {
    /// Creates (or reuses) `dir`, writes `config.toml`, a fresh `metrics.csv` header and a `running`
    /// `run.json`.
    pub fn create(
        dir: &Path,
        config: &ExperimentConfig,
        summary: RunSummary,
    ) -> Result<Self, RecordError> {
        std::fs::create_dir_all(dir).map_err(|e| RecordError::new(dir, e))?;
        write_config(dir, config)?;
        let path = dir.join("metrics.csv");
        let mut metrics = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| RecordError::new(&path, e))?;
        writeln!(metrics, "{METRICS_HEADER}")
            .and_then(|()| metrics.flush())
            .map_err(|e| RecordError::new(&path, e))?;
        let recorder = Self {
            dir: dir.to_owned(),
            metrics,
            summary,
            history: Vec::new(),
            rule: config.train.early_stopping,
        };
        recorder.write_summary()?;
        Ok(recorder)
    }

    /// Reopens an existing run directory to continue it: keeps `metrics.csv` up to the rows of
    /// `history` (dropping a partial last line, if any) and marks the run as running again.
    pub fn reopen(
        dir: &Path,
        config: &ExperimentConfig,
        history: &[EpochMetrics],
    ) -> Result<Self, RecordError> {
        let json_path = dir.join("run.json");
        let text =
            std::fs::read_to_string(&json_path).map_err(|e| RecordError::new(&json_path, e))?;
        let mut summary: RunSummary =
            serde_json::from_str(&text).map_err(|e| RecordError::new(&json_path, e))?;
        summary.status = RunStatus::Running;
        summary.finished_at = None;
        summary.message = None;
        summary.epochs_done = history.len();
        summary.epochs_planned = config.train.epochs;
        write_config(dir, config)?;
        // Rewrite the metrics from the parsed rows, so a torn last line cannot survive.
        let path = dir.join("metrics.csv");
        let mut csv = format!("{METRICS_HEADER}\n");
        for m in history {
            csv.push_str(&metrics_row(m));
            csv.push('\n');
        }
        write_atomic(&path, csv.as_bytes())?;
        let metrics = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| RecordError::new(&path, e))?;
        let recorder = Self {
            dir: dir.to_owned(),
            metrics,
            summary,
            history: history.to_vec(),
            rule: config.train.early_stopping,
        };
        recorder.write_summary()?;
        Ok(recorder)
    }

    /// Updates the planned epoch count (after "+N epochs").
    pub fn set_planned(&mut self, epochs: usize) {
        self.summary.epochs_planned = epochs;
    }

    /// Records in `run.json` whether the backbone's features are cached.
    pub fn set_feature_cache(&mut self, record: FeatureCacheRecord) -> Result<(), RecordError> {
        self.summary.feature_cache = Some(record);
        self.write_summary()
    }

    /// Notes the files of a dataset on disk that failed or changed so far (written with the
    /// next update of `run.json`).
    pub fn set_read_problems(&mut self, problems: crate::data::ReadProblems) {
        self.summary.read_failures = problems.failed;
        self.summary.changed_files = problems.changed;
    }

    /// Notes which epoch's weights the run ended with.
    pub fn set_restored(&mut self, epoch: Option<usize>) {
        self.summary.restored_epoch = epoch;
    }

    /// Records a change made while paused: the new `config.toml` and the change in `run.json`.
    pub fn record_change(
        &mut self,
        config: &ExperimentConfig,
        change: ConfigChange,
    ) -> Result<(), RecordError> {
        self.summary.changes.push(change);
        write_config(&self.dir, config)?;
        self.write_summary()
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The summary as last written.
    pub fn summary(&self) -> &RunSummary {
        &self.summary
    }

    /// Appends one epoch's row to `metrics.csv` (flushed) and updates `run.json`.
    pub fn record_epoch(&mut self, m: &EpochMetrics) -> Result<(), RecordError> {
        let path = self.dir.join("metrics.csv");
        writeln!(
            self.metrics,
            "{},{},{},{},{},{},{:.3},{:.3}",
            m.epoch,
            m.train_loss,
            m.val_loss,
            m.train_acc,
            m.val_acc,
            m.lr,
            m.train_secs,
            m.val_secs
        )
        .and_then(|()| self.metrics.flush())
        .map_err(|e| RecordError::new(&path, e))?;
        self.summary.epochs_done = m.epoch;
        self.history.push(*m);
        if let Some(best) = self.rule.best(&self.history) {
            self.summary.best_epoch = Some(best.epoch);
            self.summary.best_val_loss = Some(best.val_loss);
        }
        self.write_summary()
    }

    /// Marks the run as ended and writes the final `run.json`.
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

    /// Writes `evaluation.json`: the evaluation of the weights kept as the run's best, so reports
    /// can show the confusion matrix and per-class metrics without re-running the model.
    pub fn record_evaluation(
        &self,
        evaluation: &Evaluation,
        class_names: &[String],
    ) -> Result<(), RecordError> {
        let path = self.dir.join(EVALUATION_FILE);
        let saved = SavedEvaluation {
            epoch: evaluation.epoch,
            class_names: class_names.to_vec(),
            confusion: evaluation.confusion.clone(),
            per_class: evaluation.per_class.clone(),
        };
        let json = serde_json::to_string_pretty(&saved).map_err(|e| RecordError::new(&path, e))?;
        write_atomic(&path, json.as_bytes())
    }

    fn write_summary(&self) -> Result<(), RecordError> {
        let path = self.dir.join("run.json");
        let json =
            serde_json::to_string_pretty(&self.summary).map_err(|e| RecordError::new(&path, e))?;
        write_atomic(&path, json.as_bytes())
    }
}

/// Writes `config.toml` atomically.
fn write_config(dir: &Path, config: &ExperimentConfig) -> Result<(), RecordError> {
    let path = dir.join("config.toml");
    let toml = config.to_toml().map_err(|e| RecordError::new(&path, e))?;
    write_atomic(&path, toml.as_bytes())
}

/// One `metrics.csv` row (without the line break).
pub fn metrics_row(m: &EpochMetrics) -> String {
    format!(
        "{},{},{},{},{},{},{:.3},{:.3}",
        m.epoch, m.train_loss, m.val_loss, m.train_acc, m.val_acc, m.lr, m.train_secs, m.val_secs
    )
}

/// Reads the complete rows of a `metrics.csv` (a torn last line, as a kill can leave, is
/// ignored). Epochs must run 1, 2, 3… without gaps.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // Only lines ended by a line break are complete.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    let mut lines = complete.lines();
    if lines.next() != Some(METRICS_HEADER) {
        return Err(format!(
            "{} does not start with the header {METRICS_HEADER}",
            path.display()
        ));
    }
    let mut history = Vec::new();
    for line in lines {
        let values: Vec<f64> = line
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        if values.len() != 8 {
            return Err(format!(
                "{}: the row {line:?} does not have 8 numbers",
                path.display()
            ));
        }
        let epoch = values[0] as usize;
        if epoch != history.len() + 1 {
            return Err(format!(
                "{}: epoch {epoch} follows epoch {}",
                path.display(),
                history.len()
            ));
        }
        history.push(EpochMetrics {
            epoch,
            train_loss: values[1],
            val_loss: values[2],
            train_acc: values[3],
            val_acc: values[4],
            lr: values[5],
            train_secs: values[6],
            val_secs: values[7],
        });
    }
    Ok(history)
}

/// Writes a file so that readers see either the old or the new content, never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        // Best effort: a leftover temporary file would only confuse; the error is reported below.
        std::fs::remove_file(&tmp).ok();
        RecordError::new(path, e)
    })
}

/// The current time as RFC 3339 UTC, seconds precision.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// A fresh directory name for a run under `root`: time stamp plus dataset and model.
pub fn new_run_dir(root: &Path, config: &ExperimentConfig) -> PathBuf {
    fresh_dir(root, &config.short_name())
}

/// A fresh directory name for a GAN run under `root`: time stamp plus `gan-` and the dataset.
pub fn new_gan_run_dir(root: &Path, config: &super::gan::GanConfig) -> PathBuf {
    fresh_dir(root, &config.short_name())
}

/// `root/STAMP-name`, with `-2`, `-3`, … added until no such folder exists.
fn fresh_dir(root: &Path, name: &str) -> PathBuf {
    let stamp = now_rfc3339()
        .replace([':', '-'], "")
        .trim_end_matches('Z')
        .to_owned();
    let base = format!("{stamp}-{name}");
    let mut dir = root.join(&base);
    let mut n = 2;
    while dir.exists() {
        dir = root.join(format!("{base}-{n}"));
        n += 1;
    }
    dir
}

/// Where the GUI keeps its runs: the platform's data directory (e.g.
/// `~/.local/share/cnn-workbench/runs` on Linux), or `./runs` where none is known.
pub fn default_runs_root() -> PathBuf {
    directories::ProjectDirs::from("", "", "cnn-workbench").map_or_else(
        || PathBuf::from("runs"),
        |dirs| dirs.data_dir().join("runs"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> RunSummary {
        let mut config = ExperimentConfig::noise();
        config.train.epochs = 2;
        RunSummary::starting(&config, 10, 5, "cpu")
    }

    fn metrics(epoch: usize, val_loss: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 1.0,
            val_loss,
            train_acc: 0.5,
            val_acc: 0.25,
            lr: 0.001,
            train_secs: 0.5,
            val_secs: 0.1,
        }
    }

    #[test]
    fn files_are_written_as_epochs_finish() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let config = ExperimentConfig::noise();
        let mut rec = RunRecorder::create(&dir, &config, summary()).unwrap();
        let read_json = || -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
        };
        assert_eq!(read_json()["status"], "running");
        rec.record_epoch(&metrics(1, 2.0)).unwrap();
        rec.record_epoch(&metrics(2, 2.5)).unwrap();
        let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], METRICS_HEADER);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[2].starts_with("2,1,2.5,0.5,0.25,0.001,"),
            "{}",
            lines[2]
        );
        rec.finish(RunStatus::Completed, None).unwrap();
        let json = read_json();
        assert_eq!(json["status"], "completed");
        assert_eq!(json["epochs_done"], 2);
        assert_eq!(json["best_epoch"], 1);
        let config_back =
            ExperimentConfig::from_toml(&std::fs::read_to_string(dir.join("config.toml")).unwrap())
                .unwrap();
        assert_eq!(config_back, config);
    }

    #[test]
    fn reopening_keeps_complete_rows_and_drops_a_torn_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let config = ExperimentConfig::noise();
        let mut rec = RunRecorder::create(&dir, &config, summary()).unwrap();
        rec.record_epoch(&metrics(1, 2.0)).unwrap();
        rec.record_epoch(&metrics(2, 1.5)).unwrap();
        drop(rec);
        // A kill in the middle of writing the third row.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join("metrics.csv"))
            .unwrap();
        write!(f, "3,0.9,1.").unwrap();
        drop(f);
        let history = read_metrics(&dir.join("metrics.csv")).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].val_loss, 1.5);
        let mut rec = RunRecorder::reopen(&dir, &config, &history).unwrap();
        rec.record_epoch(&metrics(3, 1.7)).unwrap();
        let again = read_metrics(&dir.join("metrics.csv")).unwrap();
        assert_eq!(
            again.iter().map(|m| m.epoch).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(
            rec.summary().best_epoch,
            Some(2),
            "the best epoch survives the reopen"
        );
    }

    #[test]
    fn unwritable_directory_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = RunRecorder::create(&file.join("run"), &ExperimentConfig::noise(), summary())
            .unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
