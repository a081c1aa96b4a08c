//! `cnn-workbench report DIR`: a run's story in text (best epoch, overfitting onset, final and
//! best metrics, per-class table) and as a picture (`report.png`), read from its directory alone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::ExperimentConfig;
use super::chart::ChartOptions;
use super::curves;
use super::metrics::EpochMetrics;
use super::record::{EVALUATION_FILE, RunSummary, SavedEvaluation, read_metrics};

/// A run directory that cannot be reported on, naming the file at fault.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ReportError {
    path: String,
    message: String,
}

impl ReportError {
    fn new(path: &Path, message: impl std::fmt::Display) -> Self {
        Self {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

/// Everything a report needs, read from one run directory.
#[derive(Debug, Clone)]
pub struct Report {
    /// The run directory.
    pub dir: PathBuf,
    /// `config.toml`.
    pub config: ExperimentConfig,
    /// `run.json`.
    pub summary: RunSummary,
    /// `metrics.csv`.
    pub history: Vec<EpochMetrics>,
    /// `evaluation.json`, when the run recorded one.
    pub evaluation: Option<SavedEvaluation>,
}

impl Report {
    /// Reads a run directory. Missing or malformed files give an error naming them; only the
    /// evaluation is optional (runs stopped before their first epoch have none).
    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        if !dir.is_dir() {
            return Err(ReportError::new(dir, "not a folder (give a run directory)"));
        }
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path)
                .map_err(|e| ReportError::new(&path, e))
                .map(|text| (text, path))
        };
        let (text, path) = read("run.json")?;
        let summary: RunSummary =
            serde_json::from_str(&text).map_err(|e| ReportError::new(&path, e))?;
        let (text, path) = read("config.toml")?;
        let config = ExperimentConfig::from_toml(&text).map_err(|e| ReportError::new(&path, e))?;
        let path = dir.join("metrics.csv");
        let history = read_metrics(&path).map_err(|e| ReportError::new(&path, e))?;
        let path = dir.join(EVALUATION_FILE);
        let evaluation = match std::fs::read_to_string(&path) {
            Ok(text) => Some(serde_json::from_str(&text).map_err(|e| ReportError::new(&path, e))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(ReportError::new(&path, e)),
        };
        Ok(Self {
            dir: dir.to_owned(),
            config,
            summary,
            history,
            evaluation,
        })
    }

    /// The chart settings for this run: its title, planned length and early-stopping rule.
    pub fn chart_options(&self, onset_k: usize) -> ChartOptions {
        chart_options_for(&self.config, &self.summary, onset_k)
    }

    /// The summary as text: what ended how, best epoch, onset, final metrics, per-class table.
    pub fn text(&self, onset_k: usize) -> String {
        let mut out = String::new();
        let s = &self.summary;
        let name = self.dir.file_name().map_or_else(
            || self.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        // Writing to a String cannot fail.
        let _ = writeln!(out, "Run {name}");
        let _ = writeln!(
            out,
            "  {} on {}, {} training / {} validation samples, {}",
            s.model, s.dataset, s.train_samples, s.val_samples, s.device
        );
        let _ = writeln!(
            out,
            "  {}: {} of {} epochs, started {}",
            s.status, s.epochs_done, s.epochs_planned, s.started_at
        );
        if let Some(message) = &s.message {
            let _ = writeln!(out, "  note: {message}");
        }
        let Some(last) = self.history.last() else {
            let _ = writeln!(out, "\nNo epoch finished: nothing to report yet.");
            return out;
        };
        let _ = writeln!(out);
        match self.config.train.early_stopping.best(&self.history) {
            Some(best) => {
                let _ = writeln!(
                    out,
                    "Best epoch:        {} (validation loss {:.4}, validation accuracy {:.1} %)",
                    best.epoch,
                    best.val_loss,
                    best.val_acc * 100.0
                );
            }
            None => {
                let _ = writeln!(out, "Best epoch:        none (no finite validation loss)");
            }
        }
        match curves::overfitting_onset(&self.history, onset_k) {
            Some(epoch) => {
                let _ = writeln!(
                    out,
                    "Overfitting onset: epoch {epoch} (validation loss rose for {onset_k} epochs in a row while training loss fell)"
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "Overfitting onset: none (validation loss never rose for {onset_k} epochs in a row while training loss fell)"
                );
            }
        }
        if let Some(epoch) = s.restored_epoch {
            let _ = writeln!(out, "Weights kept:      epoch {epoch} (best, restored)");
        }
        let _ = writeln!(
            out,
            "Final (epoch {}):  training loss {:.4}, validation loss {:.4}, gap {:+.4}; accuracy {:.1} % / {:.1} %",
            last.epoch,
            last.train_loss,
            last.val_loss,
            last.val_loss - last.train_loss,
            last.train_acc * 100.0,
            last.val_acc * 100.0
        );
        let best_acc = self
            .history
            .iter()
            .filter(|m| m.val_acc.is_finite())
            .max_by(|a, b| a.val_acc.total_cmp(&b.val_acc));
        if let Some(m) = best_acc {
            let _ = writeln!(
                out,
                "Best accuracy:     {:.1} % (epoch {})",
                m.val_acc * 100.0,
                m.epoch
            );
        }
        match &self.evaluation {
            Some(evaluation) => {
                let _ = writeln!(out, "\nPer class (validation, epoch {}):", evaluation.epoch);
                let width = evaluation
                    .class_names
                    .iter()
                    .map(|n| n.chars().count())
                    .max()
                    .unwrap_or(5)
                    .max(5);
                let _ = writeln!(
                    out,
                    "  {:<width$}  {:>7}  {:>9}  {:>6}  {:>6}",
                    "class", "support", "precision", "recall", "F1"
                );
                for (i, c) in evaluation.per_class.iter().enumerate() {
                    let name = evaluation
                        .class_names
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("class {i}"));
                    let _ = writeln!(
                        out,
                        "  {name:<width$}  {:>7}  {:>9.3}  {:>6.3}  {:>6.3}",
                        c.support, c.precision, c.recall, c.f1
                    );
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "\nNo per-class evaluation recorded in this run directory."
                );
            }
        }
        out
    }
}

/// The chart settings for a run: its title, planned length and early-stopping rule.
pub fn chart_options_for(
    config: &ExperimentConfig,
    summary: &RunSummary,
    onset_k: usize,
) -> ChartOptions {
    ChartOptions {
        title: format!(
            "{} · {} · {} training / {} validation samples",
            summary.dataset, summary.model, summary.train_samples, summary.val_samples
        ),
        onset_k,
        early_stopping: Some(config.train.early_stopping),
        planned_epochs: summary.epochs_planned,
        ..ChartOptions::default()
    }
}

/// Name of the curves picture in a run directory.
pub const PICTURE_FILE: &str = "report.png";

/// Writes `report.png` (the curves with their markers) into a run directory; the engine calls it
/// when a run ends so every run directory carries its picture.
pub fn write_picture(
    dir: &Path,
    config: &ExperimentConfig,
    summary: &RunSummary,
    history: &[EpochMetrics],
) -> Result<(), PictureError> {
    let png = super::chart::render_png(history, &chart_options_for(config, summary, 3))?;
    Ok(super::record::write_atomic(&dir.join(PICTURE_FILE), &png)?)
}

/// Why `report.png` could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// The curves could not be drawn.
    #[error(transparent)]
    Chart(#[from] super::chart::ChartError),
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] super::record::RecordError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::evaluation::ClassMetrics;
    use crate::experiment::record::{METRICS_HEADER, metrics_row};

    fn write_run(dir: &Path, epochs: &[(f64, f64)]) {
        let config = ExperimentConfig::noise();
        std::fs::write(dir.join("config.toml"), config.to_toml().unwrap()).unwrap();
        let mut summary = RunSummary::starting(&config, 100, 100, "CPU");
        summary.epochs_done = epochs.len();
        let mut csv = format!("{METRICS_HEADER}\n");
        for (i, &(t, v)) in epochs.iter().enumerate() {
            csv.push_str(&metrics_row(&EpochMetrics {
                epoch: i + 1,
                train_loss: t,
                val_loss: v,
                train_acc: 0.5,
                val_acc: 0.25,
                lr: 1e-3,
                train_secs: 1.0,
                val_secs: 0.1,
            }));
            csv.push('\n');
        }
        std::fs::write(dir.join("metrics.csv"), csv).unwrap();
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_string(&summary).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn text_names_best_epoch_onset_and_classes() {
        let dir = tempfile::tempdir().unwrap();
        write_run(
            dir.path(),
            &[(2.0, 2.2), (1.5, 2.0), (1.0, 2.1), (0.5, 2.3), (0.2, 2.6)],
        );
        let saved = SavedEvaluation {
            epoch: 2,
            class_names: vec!["cat".into(), "dog".into()],
            confusion: vec![vec![3, 1], vec![0, 4]],
            per_class: vec![
                ClassMetrics {
                    support: 4,
                    precision: 1.0,
                    recall: 0.75,
                    f1: 6.0 / 7.0,
                },
                ClassMetrics {
                    support: 4,
                    precision: 0.8,
                    recall: 1.0,
                    f1: 8.0 / 9.0,
                },
            ],
        };
        std::fs::write(
            dir.path().join(EVALUATION_FILE),
            serde_json::to_string(&saved).unwrap(),
        )
        .unwrap();
        let report = Report::load(dir.path()).unwrap();
        let text = report.text(3);
        assert!(
            text.contains("Best epoch:        2 (validation loss 2.0000"),
            "{text}"
        );
        assert!(text.contains("Overfitting onset: epoch 2"), "{text}");
        assert!(text.contains("gap +2.4000"), "{text}");
        assert!(text.contains("dog"), "{text}");
        assert!(text.contains("0.857"), "{text}");
        // Two rising epochs are not enough for k = 4.
        assert!(report.text(4).contains("Overfitting onset: none"));
    }

    #[test]
    fn missing_and_broken_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Report::load(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a folder"), "{err}");
        let err = Report::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("run.json"), "{err}");
        write_run(dir.path(), &[(1.0, 1.0)]);
        std::fs::write(dir.path().join(EVALUATION_FILE), "{").unwrap();
        let err = Report::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(EVALUATION_FILE), "{err}");
        std::fs::remove_file(dir.path().join(EVALUATION_FILE)).unwrap();
        let report = Report::load(dir.path()).unwrap();
        assert!(report.text(3).contains("No per-class evaluation"));
    }
}
