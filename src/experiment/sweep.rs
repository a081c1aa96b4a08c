//! Sweeps: one base experiment and a grid of values for some of its settings, expanded into one
//! full configuration per run, and the table that compares the runs afterwards.
//!
//! A setting is named by its path in `config.toml` (`train.lr`, `dataset.train_size.count`,
//! `seed`); each value is written as in TOML (`0.01`, `true`, `"adam"`), a bare word being
//! taken as a string. Every expanded configuration goes through [`ExperimentConfig::parse`], so
//! a misspelt key or a value out of range is refused before anything runs.

use serde::Serialize;

use super::ExperimentConfig;
use super::early_stop::EarlyStopping;
use super::metrics::{EpochMetrics, RunStatus};

/// Most runs one sweep may expand into.
pub const MAX_RUNS: usize = 1000;

/// One swept setting and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Dotted path of the setting in `config.toml`.
    pub key: String,
    /// The values, in the order given.
    pub values: Vec<toml::Value>,
}

impl std::str::FromStr for Axis {
    type Err = String;

    /// `KEY=V1,V2,...`.
    fn from_str(spec: &str) -> Result<Self, String> {
        let (key, values) = spec
            .split_once('=')
            .ok_or_else(|| format!("'{spec}' is not KEY=V1,V2,..."))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(format!(
                "'{spec}': the key must be a dotted path like train.lr"
            ));
        }
        let values: Vec<toml::Value> = values
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(parse_value)
            .collect();
        if values.is_empty() {
            return Err(format!("'{spec}' gives no value"));
        }
        Ok(Self {
            key: key.to_owned(),
            values,
        })
    }
}

/// A TOML value as written, or a bare word as a string.
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

/// A value as a short text for tables and folder names (strings without quotes).
pub fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRun {
    /// Folder name, e.g. `run-003`.
    pub name: String,
    /// The swept settings' values for this run, in axis order (the seed last when repeated).
    pub values: Vec<String>,
    /// Its whole configuration.
    pub config: ExperimentConfig,
}

/// Every combination of the axes' values (the last axis changing fastest), each repeated with
/// seeds `base.seed`, `base.seed + 1`, … `repeats` times.
pub fn expand(
    base: &ExperimentConfig,
    axes: &[Axis],
    repeats: usize,
) -> Result<Vec<SweepRun>, String> {
    let repeats = repeats.max(1);
    let total = axes
        .iter()
        .try_fold(repeats, |n, a| n.checked_mul(a.values.len()))
        .filter(|&n| n <= MAX_RUNS)
        .ok_or_else(|| format!("the sweep would run more than {MAX_RUNS} runs"))?;
    let start = toml::Value::try_from(base).map_err(|e| e.to_string())?;
    let mut runs = Vec::with_capacity(total);
    for k in 0..total {
        let mut value = start.clone();
        let mut rest = k / repeats;
        let mut picked = vec![String::new(); axes.len()];
        for (i, axis) in axes.iter().enumerate().rev() {
            let v = &axis.values[rest % axis.values.len()];
            rest /= axis.values.len();
            set(&mut value, &axis.key, v.clone())?;
            picked[i] = value_text(v);
        }
        let repeat = k % repeats;
        let text = toml::to_string(&value).map_err(|e| e.to_string())?;
        let mut config = ExperimentConfig::parse(&text).map_err(|e| e.to_string())?;
        if repeats > 1 {
            config.seed = base.seed.wrapping_add(repeat as u64);
            picked.push(config.seed.to_string());
        }
        runs.push(SweepRun {
            name: format!("run-{:03}", k + 1),
            values: picked,
            config,
        });
    }
    Ok(runs)
}

/// Sets the dotted `key` of a TOML tree, creating tables on the way (a key the configuration
/// does not have is refused when the result is parsed).
fn set(tree: &mut toml::Value, key: &str, value: toml::Value) -> Result<(), String> {
    let mut node = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let table = node
            .as_table_mut()
            .ok_or_else(|| format!("'{key}': {} is not a table", parts[..i].join(".")))?;
        if i + 1 == parts.len() {
            if *part == "kind" && table.get("kind") != Some(&value) {
                // Another variant (model.kind=cnn): its own settings take their defaults.
                table.clear();
            }
            table.insert((*part).to_owned(), value);
            return Ok(());
        }
        node = table
            .entry((*part).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    Ok(())
}

/// One row of `sweep.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    /// The run's folder name.
    pub run: String,
    /// How it ended.
    pub status: RunStatus,
    /// The best epoch by the run's early-stopping rule.
    pub best_epoch: Option<usize>,
    /// Validation loss at the best epoch.
    pub best_val_loss: Option<f64>,
    /// Validation accuracy at the best epoch.
    pub best_val_acc: Option<f64>,
    /// Validation minus training loss at the last epoch.
    pub final_gap: Option<f64>,
    /// Seconds the run took, start to end.
    pub secs: f64,
}

impl SweepRow {
    /// The row of a run that ended with `status` after `history`.
    pub fn new(
        run: &str,
        status: RunStatus,
        rule: &EarlyStopping,
        history: &[EpochMetrics],
        secs: f64,
    ) -> Self {
        let best = rule
            .best_epoch(history)
            .and_then(|e| history.iter().find(|m| m.epoch == e));
        Self {
            run: run.to_owned(),
            status,
            best_epoch: best.map(|m| m.epoch),
            best_val_loss: best.map(|m| m.val_loss),
            best_val_acc: best.map(|m| m.val_acc),
            final_gap: history.last().map(|m| m.val_loss - m.train_loss),
            secs,
        }
    }
}

/// `sweep.csv`: the swept settings' names, then the row fields, one line per run.
pub fn csv_text(keys: &[String], runs: &[SweepRun], rows: &[SweepRow]) -> Result<String, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = keys.to_vec();
    header.extend(
        [
            "run",
            "status",
            "best_epoch",
            "best_val_loss",
            "best_val_acc",
            "final_gap",
            "secs",
        ]
        .map(str::to_owned),
    );
    writer.write_record(&header).map_err(|e| e.to_string())?;
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.6}"));
    for (run, row) in runs.iter().zip(rows) {
        let mut record = run.values.clone();
        record.push(row.run.clone());
        record.push(row.status.to_string());
        record.push(row.best_epoch.map_or_else(String::new, |e| e.to_string()));
        record.push(num(row.best_val_loss));
        record.push(num(row.best_val_acc));
        record.push(num(row.final_gap));
        record.push(format!("{:.2}", row.secs));
        writer.write_record(&record).map_err(|e| e.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_values_as_toml_and_words_as_strings() {
        let axis: Axis = "train.lr=0.001, 0.01".parse().unwrap();
        assert_eq!(axis.key, "train.lr");
        assert_eq!(
            axis.values,
            vec![toml::Value::Float(0.001), toml::Value::Float(0.01)]
        );
        let axis: Axis = "train.optimizer.kind=adam,sgd".parse().unwrap();
        assert_eq!(axis.values[1], toml::Value::String("sgd".into()));
        assert!("train.lr".parse::<Axis>().unwrap_err().contains("KEY=V1"));
        assert!("=1".parse::<Axis>().unwrap_err().contains("dotted"));
        assert!("seed=".parse::<Axis>().unwrap_err().contains("no value"));
    }

    #[test]
    fn a_grid_expands_into_every_combination_with_repeats() {
        let base = ExperimentConfig::noise();
        let axes: Vec<Axis> = vec![
            "train.lr=0.001,0.01".parse().unwrap(),
            "train.batch_size=10,20,50".parse().unwrap(),
        ];
        let runs = expand(&base, &axes, 2).unwrap();
        assert_eq!(runs.len(), 12);
        assert_eq!(runs[0].values, ["0.001", "10", "42"]);
        assert_eq!(runs[1].values, ["0.001", "10", "43"]);
        assert_eq!(runs[11].values, ["0.01", "50", "43"]);
        assert_eq!(runs[11].config.train.lr, 0.01);
        assert_eq!(runs[11].config.train.batch_size, 50);
        assert_eq!(runs[11].config.seed, 43);
        assert_eq!(runs[11].name, "run-012");
        // What is not swept stays the base's.
        assert_eq!(runs[5].config.dataset, base.dataset);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_before_running() {
        let base = ExperimentConfig::noise();
        let err = expand(&base, &["train.lrr=0.1".parse().unwrap()], 1).unwrap_err();
        assert!(err.contains("lrr"), "{err}");
        let err = expand(&base, &["train.batch_size=0".parse().unwrap()], 1).unwrap_err();
        assert!(err.contains("batch"), "{err}");
        // Another variant of a setting starts from that variant's defaults.
        let runs = expand(&base, &["model.kind=cnn,resnet-small".parse().unwrap()], 1).unwrap();
        assert_eq!(runs[0].config.model.short_name(), "cnn");
        assert_eq!(runs[1].config.model.short_name(), "resnet-small");
        let many: Vec<Axis> = (0..4)
            .map(|_| "seed=1,2,3,4,5,6".parse().unwrap())
            .collect();
        assert!(expand(&base, &many, 2).unwrap_err().contains("more than"));
    }
}
