//! The runs kept on disk: reading run directories back, and comparing their configurations.

use std::path::{Path, PathBuf};

use super::ExperimentConfig;
use super::checkpoint::{self, Checkpoint, CheckpointError};
use super::metrics::EpochMetrics;
use super::record::{RunSummary, read_metrics};

/// Why a run directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// There is no readable `config.toml`.
    #[error("{dir} is not a run directory: cannot read config.toml")]
    NotARun {
        /// The directory.
        dir: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// `config.toml` is there but is not a configuration this program reads.
    #[error("{path} is not a valid configuration")]
    Config {
        /// The file.
        path: String,
        /// What the TOML reader found.
        #[source]
        source: toml::de::Error,
    },
    /// `checkpoint.json` or a file it names is unreadable.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The run has not committed any epoch.
    #[error("{dir} has no finished epoch")]
    NoEpoch {
        /// The directory.
        dir: String,
    },
    /// `metrics.csv` is unreadable or malformed.
    #[error("{0}")]
    Metrics(String),
}

/// A run directory opened to be continued, exported or applied: its configuration and the
/// checkpoint it last committed. The one reader of a run directory for the engine (resume),
/// backbone export and prediction.
#[derive(Debug, Clone)]
pub struct OpenRun {
    /// The run directory.
    pub dir: PathBuf,
    /// `config.toml` as recorded (after any change made while paused).
    pub config: ExperimentConfig,
    /// `checkpoint.json`, if any epoch was committed.
    pub checkpoint: Option<Checkpoint>,
}

/// Opens the run recorded in `dir`.
pub fn open_run(dir: &Path) -> Result<OpenRun, RunDirError> {
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| RunDirError::NotARun {
        dir: dir.display().to_string(),
        source,
    })?;
    let config = ExperimentConfig::from_toml(&text).map_err(|source| RunDirError::Config {
        path: path.display().to_string(),
        source,
    })?;
    let checkpoint = checkpoint::read(dir)?;
    Ok(OpenRun {
        dir: dir.to_owned(),
        config,
        checkpoint,
    })
}

impl OpenRun {
    /// The committed checkpoint, or why there is none.
    pub fn committed(&self) -> Result<&Checkpoint, RunDirError> {
        self.checkpoint
            .as_ref()
            .ok_or_else(|| RunDirError::NoEpoch {
                dir: self.dir.display().to_string(),
            })
    }

    /// `metrics.csv`'s complete rows.
    pub fn history(&self) -> Result<Vec<EpochMetrics>, RunDirError> {
        read_metrics(&self.dir.join("metrics.csv")).map_err(RunDirError::Metrics)
    }

    /// The path of a file in the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// One recorded run, as read back from its directory.
#[derive(Debug, Clone)]
pub struct RunEntry {
    /// The run directory.
    pub dir: PathBuf,
    /// Its name (the directory's name).
    pub name: String,
    /// `run.json`.
    pub summary: RunSummary,
    /// `config.toml`.
    pub config: ExperimentConfig,
    /// `metrics.csv`.
    pub history: Vec<EpochMetrics>,
}

impl RunEntry {
    /// Reads a run directory; `None` when it is not a complete, readable run.
    pub fn read(dir: &Path) -> Option<Self> {
        let summary: RunSummary =
            serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).ok()?).ok()?;
        let config =
            ExperimentConfig::from_toml(&std::fs::read_to_string(dir.join("config.toml")).ok()?)
                .ok()?;
        let history = read_metrics(&dir.join("metrics.csv")).ok()?;
        let name = dir.file_name()?.to_string_lossy().into_owned();
        Some(Self {
            dir: dir.to_owned(),
            name,
            summary,
            config,
            history,
        })
    }

    /// The key settings in a few words, for the runs table.
    pub fn settings(&self) -> String {
        let t = &self.config.train;
        format!(
            "{} lr {:.0e} {} ep, bs {}",
            t.optimizer.name(),
            t.lr,
            t.epochs,
            t.batch_size
        )
    }
}

/// Every readable run directly under `root`, and those of sweeps saved there (folders with a
/// `sweep.csv`), newest first. Unreadable entries are skipped.
pub fn scan(root: &Path) -> Vec<RunEntry> {
    let mut runs: Vec<RunEntry> = Vec::new();
    for dir in sweeps(root).iter().map(PathBuf::as_path).chain([root]) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        runs.extend(
            entries
                .filter_map(Result::ok)
                .filter_map(|e| RunEntry::read(&e.path())),
        );
    }
    runs.sort_by(|a, b| {
        b.summary
            .started_at
            .cmp(&a.summary.started_at)
            .then(b.name.cmp(&a.name))
    });
    runs
}

/// The sweep folders directly under `root` (those holding a `sweep.csv`, or a sweep's first
/// run while it is under way), by name.
pub fn sweeps(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.join("sweep.csv").is_file() || p.join("run-001").join("config.toml").is_file()
        })
        .collect();
    found.sort();
    found
}

/// The settings that differ between two configurations, as `(key, a, b)` with dotted keys
/// (e.g. `train.lr`), in key order.
pub fn config_diff(a: &ExperimentConfig, b: &ExperimentConfig) -> Vec<(String, String, String)> {
    let flat = |c: &ExperimentConfig| {
        let mut out = Vec::new();
        if let Ok(value) = toml::Value::try_from(c) {
            flatten("", &value, &mut out);
        }
        out
    };
    let (fa, fb) = (flat(a), flat(b));
    let mut keys: Vec<&String> = fa.iter().chain(&fb).map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    let get = |list: &[(String, String)], key: &str| {
        list.iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| "—".to_owned(), |(_, v)| v.clone())
    };
    keys.into_iter()
        .map(|k| (k.clone(), get(&fa, k), get(&fb, k)))
        .filter(|(_, x, y)| x != y)
        .collect()
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::record::RunRecorder;

    #[test]
    fn diff_names_only_what_changed() {
        let a = ExperimentConfig::default();
        let mut b = a.clone();
        b.train.lr = 0.01;
        b.seed = 7;
        let diff = config_diff(&a, &b);
        assert_eq!(
            diff,
            vec![
                ("seed".to_owned(), "42".to_owned(), "7".to_owned()),
                ("train.lr".to_owned(), "0.001".to_owned(), "0.01".to_owned()),
            ]
        );
        assert!(config_diff(&a, &a).is_empty());
        let noise = ExperimentConfig::noise();
        let diff = config_diff(&a, &noise);
        assert!(diff.iter().any(|(k, x, y)| k == "dataset.source.kind"
            && x == "\"embedded\""
            && y == "\"noise\""));
    }

    #[test]
    fn scan_reads_runs_back_and_skips_junk() {
        let tmp = tempfile::tempdir().unwrap();
        let summary = RunSummary::starting(&ExperimentConfig::noise(), 1, 1, "cpu");
        RunRecorder::create(&tmp.path().join("a"), &ExperimentConfig::noise(), summary).unwrap();
        std::fs::create_dir(tmp.path().join("not-a-run")).unwrap();
        std::fs::write(tmp.path().join("stray.txt"), "x").unwrap();
        let runs = scan(tmp.path());
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].name, "a");
        assert_eq!(runs[0].config, ExperimentConfig::noise());
        assert!(scan(&tmp.path().join("missing")).is_empty());
    }
}
