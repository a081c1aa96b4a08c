//! The runs kept on disk: reading run directories back, and comparing their configurations.

use std::path::{Path, PathBuf};

use super::ExperimentConfig;
use super::record::{RunSummary, read_metrics};
use crate::train::message::EpochMetrics;

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

/// Every readable run directly under `root`, newest first. Unreadable entries are skipped.
pub fn scan(root: &Path) -> Vec<RunEntry> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut runs: Vec<RunEntry> = entries
        .filter_map(Result::ok)
        .filter_map(|e| RunEntry::read(&e.path()))
        .collect();
    runs.sort_by(|a, b| {
        b.summary
            .started_at
            .cmp(&a.summary.started_at)
            .then(b.name.cmp(&a.name))
    });
    runs
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
