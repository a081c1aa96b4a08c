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

/// A setting drawn at random for `--random N`: `KEY=LO:HI` (uniform) or `KEY=LO:HI:log`
/// (log-uniform); whole numbers when both bounds are.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// Dotted path of the setting in `config.toml`.
    pub key: String,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Drawn uniformly in the logarithm.
    pub log: bool,
    /// Drawn as whole numbers.
    pub integer: bool,
}

impl std::str::FromStr for Range {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let usage = || format!("'{spec}' is not KEY=LO:HI or KEY=LO:HI:log");
        let (key, bounds) = spec.split_once('=').ok_or_else(usage)?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(format!(
                "'{spec}': the key must be a dotted path like train.lr"
            ));
        }
        let parts: Vec<&str> = bounds.split(':').map(str::trim).collect();
        let log = match parts.get(2) {
            None => false,
            Some(&"log") => true,
            Some(_) => return Err(usage()),
        };
        if parts.len() < 2 || parts.len() > 3 {
            return Err(usage());
        }
        let number = |t: &str| t.parse::<f64>().ok().filter(|v| v.is_finite());
        let (Some(lo), Some(hi)) = (number(parts[0]), number(parts[1])) else {
            return Err(format!("'{spec}': the bounds must be numbers"));
        };
        if lo >= hi {
            return Err(format!(
                "'{spec}': the lower bound must be below the upper one"
            ));
        }
        if log && lo <= 0.0 {
            return Err(format!(
                "'{spec}': a log range needs a positive lower bound"
            ));
        }
        let integer = parts[..2].iter().all(|t| t.parse::<i64>().is_ok());
        Ok(Self {
            key: key.to_owned(),
            lo,
            hi,
            log,
            integer,
        })
    }
}

impl Range {
    /// The value at `u` in `0..1` of the range: whole, or rounded to 3 significant digits.
    fn at(&self, u: f64) -> toml::Value {
        let v = if self.log {
            (self.lo.ln() + u * (self.hi.ln() - self.lo.ln())).exp()
        } else {
            self.lo + u * (self.hi - self.lo)
        };
        let v = v.clamp(self.lo, self.hi);
        if self.integer {
            toml::Value::Integer(v.round() as i64)
        } else {
            toml::Value::Float(format!("{v:.2e}").parse().unwrap_or(v))
        }
    }
}

/// `count` draws of the ranges together, seeded: each draw sets every range's key.
fn draws(ranges: &[Range], count: usize, seed: u64) -> Vec<Vec<(String, toml::Value)>> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5EE9_0000_0000_0001);
    (0..count)
        .map(|_| {
            ranges
                .iter()
                .map(|r| (r.key.clone(), r.at(rng.random::<f64>())))
                .collect()
        })
        .collect()
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
    expand_with(base, axes, &[], 0, repeats)
}

/// [`expand`], with `draws` random points of the `ranges` (drawn together, seeded by the base's
/// seed) as one more, last, dimension of the grid. The runs' values list the axes, then the
/// ranges, then the seed when repeated.
pub fn expand_with(
    base: &ExperimentConfig,
    axes: &[Axis],
    ranges: &[Range],
    draws_wanted: usize,
    repeats: usize,
) -> Result<Vec<SweepRun>, String> {
    if ranges.is_empty() != (draws_wanted == 0) {
        return Err(if ranges.is_empty() {
            "--random needs at least one --range KEY=LO:HI".to_owned()
        } else {
            "--range needs --random N: how many points to draw".to_owned()
        });
    }
    if axes.is_empty() && ranges.is_empty() {
        return Err(
            "nothing to sweep: give --grid KEY=V1,V2 or --random N --range KEY=LO:HI".to_owned(),
        );
    }
    // Each dimension: its options, each option the (key, value) pairs it sets.
    let mut dimensions: Vec<Vec<Vec<(String, toml::Value)>>> = axes
        .iter()
        .map(|a| {
            a.values
                .iter()
                .map(|v| vec![(a.key.clone(), v.clone())])
                .collect()
        })
        .collect();
    if !ranges.is_empty() {
        dimensions.push(draws(ranges, draws_wanted, base.seed));
    }
    let repeats = repeats.max(1);
    let total = dimensions
        .iter()
        .try_fold(repeats, |n, d| n.checked_mul(d.len()))
        .filter(|&n| n <= MAX_RUNS)
        .ok_or_else(|| format!("the sweep would run more than {MAX_RUNS} runs"))?;
    let start = toml::Value::try_from(base).map_err(|e| e.to_string())?;
    let mut runs = Vec::with_capacity(total);
    for k in 0..total {
        let mut value = start.clone();
        let mut rest = k / repeats;
        let mut picked = vec![Vec::new(); dimensions.len()];
        for (i, dimension) in dimensions.iter().enumerate().rev() {
            let option = &dimension[rest % dimension.len()];
            rest /= dimension.len();
            for (key, v) in option {
                set(&mut value, key, v.clone())?;
                picked[i].push(value_text(v));
            }
        }
        let mut picked: Vec<String> = picked.into_iter().flatten().collect();
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

/// A sweep read back from its `sweep.csv`: the swept settings' names and, per run, their values
/// and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepTable {
    /// The swept settings (the seed last when repeated), as the columns before `run`.
    pub keys: Vec<String>,
    /// One entry per run, in the file's order.
    pub rows: Vec<SweepTableRow>,
}

/// One run of a [`SweepTable`].
#[derive(Debug, Clone, PartialEq)]
pub struct SweepTableRow {
    /// The swept settings' values, as written.
    pub values: Vec<String>,
    /// The run's folder name.
    pub run: String,
    /// How it ended, as written.
    pub status: String,
    /// Its best validation loss, when it had an epoch.
    pub best_val_loss: Option<f64>,
    /// Its last validation minus training loss.
    pub final_gap: Option<f64>,
}

/// Reads the text of a `sweep.csv` (as [`csv_text`] writes it).
pub fn read_csv(text: &str) -> Result<SweepTable, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(str::to_owned)
        .collect();
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("sweep.csv has no '{name}' column"))
    };
    let (run, status, loss, gap) = (
        at("run")?,
        at("status")?,
        at("best_val_loss")?,
        at("final_gap")?,
    );
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let field = |i: usize| record.get(i).unwrap_or("").to_owned();
        let number = |i: usize| record.get(i).and_then(|v| v.parse::<f64>().ok());
        rows.push(SweepTableRow {
            values: (0..run).map(field).collect(),
            run: field(run),
            status: field(status),
            best_val_loss: number(loss),
            final_gap: number(gap),
        });
    }
    Ok(SweepTable {
        keys: header[..run].to_vec(),
        rows,
    })
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
    fn random_points_are_drawn_in_their_ranges_seeded_and_crossed_with_the_grid() {
        let base = ExperimentConfig::noise();
        let ranges: Vec<Range> = vec![
            "train.lr=0.0001:0.1:log".parse().unwrap(),
            "train.batch_size=8:64".parse().unwrap(),
        ];
        assert!(ranges[0].log && !ranges[0].integer && ranges[1].integer);
        let axes: Vec<Axis> = vec!["model.kind=cnn,resnet-small".parse().unwrap()];
        let runs = expand_with(&base, &axes, &ranges, 5, 1).unwrap();
        assert_eq!(runs.len(), 10);
        let mut lrs = Vec::new();
        for run in &runs {
            assert_eq!(run.values.len(), 3, "{:?}", run.values);
            let lr = run.config.train.lr;
            assert!((1e-4..=0.1).contains(&lr), "{lr}");
            assert!((8..=64).contains(&run.config.train.batch_size));
            assert_eq!(run.values[1].parse::<f64>().unwrap(), lr);
            lrs.push(lr);
        }
        // The same five points for each model, and the same points next time.
        assert_eq!(lrs[..5], lrs[5..]);
        let again = expand_with(&base, &axes, &ranges, 5, 1).unwrap();
        assert_eq!(again[3].config.train.lr, runs[3].config.train.lr);
        // Log-uniform: the points spread over the decades, not bunched near 0.1.
        let decades: std::collections::HashSet<i32> =
            lrs.iter().map(|lr| lr.log10().floor() as i32).collect();
        assert!(decades.len() >= 2, "{lrs:?}");

        assert!(
            "train.lr=1:0.1"
                .parse::<Range>()
                .unwrap_err()
                .contains("below")
        );
        assert!(
            "train.lr=0:1:log"
                .parse::<Range>()
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            "train.lr=a:b"
                .parse::<Range>()
                .unwrap_err()
                .contains("numbers")
        );
        assert!(
            "train.lr=1:2:ln"
                .parse::<Range>()
                .unwrap_err()
                .contains("LO:HI:log")
        );
        let err = expand_with(&base, &[], &ranges, 0, 1).unwrap_err();
        assert!(err.contains("--random N"), "{err}");
        let err = expand_with(&base, &[], &[], 3, 1).unwrap_err();
        assert!(err.contains("--range"), "{err}");
    }

    #[test]
    fn a_written_table_reads_back() {
        let base = ExperimentConfig::noise();
        let axes: Vec<Axis> = vec!["train.lr=0.001,0.01".parse().unwrap()];
        let runs = expand(&base, &axes, 1).unwrap();
        let rows: Vec<SweepRow> = runs
            .iter()
            .map(|r| SweepRow {
                run: r.name.clone(),
                status: RunStatus::Completed,
                best_epoch: Some(2),
                best_val_loss: Some(0.5),
                best_val_acc: Some(0.9),
                final_gap: Some(0.25),
                secs: 1.0,
            })
            .collect();
        let text = csv_text(&["train.lr".to_owned()], &runs, &rows).unwrap();
        let table = read_csv(&text).unwrap();
        assert_eq!(table.keys, ["train.lr"]);
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[1].values, ["0.01"]);
        assert_eq!(table.rows[1].run, "run-002");
        assert_eq!(table.rows[0].best_val_loss, Some(0.5));
        assert!(read_csv("a,b\n1,2\n").unwrap_err().contains("'run'"));
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
