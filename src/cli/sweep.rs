//! `sweep`: a grid of settings expanded into runs, trained as separate `train` processes on
//! this machine (several at once), compared in `sweep.csv`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::args::SweepArgs;
use crate::experiment::ExperimentConfig;
use crate::experiment::chart::{self, SweepPlot, SweepX};
use crate::experiment::metrics::RunStatus;
use crate::experiment::record::{RunSummary, read_metrics};
use crate::experiment::sweep::{self, SweepRow, SweepRun};

/// Expands the sweep, runs it and writes `OUT/sweep.csv`.
pub fn sweep(args: &SweepArgs) -> anyhow::Result<()> {
    let base = match &args.config {
        Some(path) => ExperimentConfig::load(path)?,
        None => ExperimentConfig::default(),
    };
    if args.local == 0 {
        bail!("--local must be at least 1 (the number of runs trained at once)");
    }
    let runs = sweep::expand_with(&base, &args.grid, &args.range, args.random, args.repeat)
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let exe = std::env::current_exe().context("cannot find this program to start its runs")?;
    if !args.quiet {
        match &args.cluster.address {
            Some(address) => outln!(
                "{} runs as jobs on the Ray cluster at {address}, in {}",
                runs.len(),
                args.out.display()
            ),
            None => outln!(
                "{} runs, {} at a time, in {}",
                runs.len(),
                args.local,
                args.out.display()
            ),
        }
    }
    let secs = match &args.cluster.address {
        Some(address) => super::cluster::sweep(
            &runs,
            &args.out,
            address,
            args.cluster.header.as_deref(),
            args.cluster.program.as_deref(),
            args.quiet,
        )?,
        None => run_locally(&exe, &runs, args)?,
    };
    let rows: Vec<SweepRow> = runs
        .iter()
        .zip(&secs)
        .map(|(run, &secs)| row(&args.out, run, secs))
        .collect();
    let mut keys: Vec<String> = args.grid.iter().map(|a| a.key.clone()).collect();
    keys.extend(args.range.iter().map(|r| r.key.clone()));
    if args.repeat > 1 {
        keys.push("seed".to_owned());
    }
    let text = sweep::csv_text(&keys, &runs, &rows).map_err(anyhow::Error::msg)?;
    let path = args.out.join("sweep.csv");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    if !args.quiet {
        outln!("wrote {}", path.display());
    }
    let picture = args.out.join("sweep.png");
    match chart::render_sweep_png(&plot(&keys, &runs, &rows, args.repeat > 1), 1200, 800) {
        Ok(png) => {
            std::fs::write(&picture, png)
                .with_context(|| format!("cannot write {}", picture.display()))?;
            if !args.quiet {
                outln!("wrote {}", picture.display());
            }
        }
        Err(e) => outln!("sweep.png not written: {e}"),
    }
    Ok(())
}

/// The sweep chart: the first swept setting on the x axis; the second (if any, not the seed)
/// groups the runs.
fn plot(keys: &[String], runs: &[SweepRun], rows: &[SweepRow], repeated: bool) -> SweepPlot {
    let swept = keys.len() - usize::from(repeated);
    let x = runs
        .iter()
        .map(|r| {
            let text = r.values.first().cloned().unwrap_or_default();
            text.parse::<f64>()
                .map_or(SweepX::Name(text), SweepX::Number)
        })
        .collect();
    let group = if swept >= 2 {
        runs.iter()
            .map(|r| format!("{} {}", keys[1], r.values[1]))
            .collect()
    } else {
        Vec::new()
    };
    SweepPlot {
        title: format!(
            "{} runs over {}{}",
            runs.len(),
            keys[..swept].join(", "),
            if repeated {
                " (repeated with seeds)"
            } else {
                ""
            }
        ),
        x_name: keys.first().cloned().unwrap_or_default(),
        x,
        best_val_loss: rows.iter().map(|r| r.best_val_loss).collect(),
        final_gap: rows.iter().map(|r| r.final_gap).collect(),
        group,
    }
}

/// Runs the sweep as `train` processes on this machine, `--local N` at a time; the seconds each
/// took, in order.
fn run_locally(exe: &Path, runs: &[SweepRun], args: &SweepArgs) -> anyhow::Result<Vec<f64>> {
    let mut pending: Vec<usize> = (0..runs.len()).rev().collect();
    let mut active: Vec<(usize, Child, Instant)> = Vec::new();
    let mut secs = vec![0.0; runs.len()];
    while !pending.is_empty() || !active.is_empty() {
        while active.len() < args.local
            && let Some(i) = pending.pop()
        {
            let child = start(exe, &runs[i], &args.out)?;
            active.push((i, child, Instant::now()));
        }
        let mut still = Vec::with_capacity(active.len());
        for (i, mut child, started) in active {
            match child.try_wait() {
                Ok(Some(_)) => {
                    secs[i] = started.elapsed().as_secs_f64();
                    if !args.quiet {
                        outln!(
                            "{}: {}",
                            runs[i].name,
                            outcome(&args.out.join(&runs[i].name))
                        );
                    }
                }
                Ok(None) => still.push((i, child, started)),
                Err(e) => bail!("cannot watch {}: {e}", runs[i].name),
            }
        }
        active = still;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(secs)
}

/// Starts one run as `train --config DIR/config.toml --out DIR --quiet`; its messages go to
/// `DIR/train.log`.
fn start(exe: &Path, run: &SweepRun, out: &Path) -> anyhow::Result<Child> {
    let dir = out.join(&run.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let config = dir.join("config.toml");
    let text = run
        .config
        .to_toml()
        .context("cannot write the run's configuration")?;
    std::fs::write(&config, text).with_context(|| format!("cannot write {}", config.display()))?;
    let log = std::fs::File::create(dir.join("train.log"))
        .with_context(|| format!("cannot write {}", dir.join("train.log").display()))?;
    Command::new(exe)
        .arg("train")
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&dir)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", run.name))
}

/// How a finished run ended, from its `run.json` (or its log when it never started).
fn outcome(dir: &Path) -> String {
    match summary(dir) {
        Some(s) => match s.best_epoch {
            Some(epoch) => format!(
                "{}, best epoch {epoch}, validation loss {:.4}",
                s.status,
                s.best_val_loss.unwrap_or(f64::NAN)
            ),
            None => s.status.to_string(),
        },
        None => format!(
            "failed: {}",
            std::fs::read_to_string(dir.join("train.log"))
                .unwrap_or_default()
                .trim()
        ),
    }
}

fn summary(dir: &Path) -> Option<RunSummary> {
    let text = std::fs::read_to_string(dir.join("run.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The table row of a finished run.
fn row(out: &Path, run: &SweepRun, secs: f64) -> SweepRow {
    let dir = out.join(&run.name);
    let status = summary(&dir).map_or(RunStatus::Failed, |s| s.status);
    let history = read_metrics(&dir.join("metrics.csv")).unwrap_or_default();
    SweepRow::new(
        &run.name,
        status,
        &run.config.train.early_stopping,
        &history,
        secs,
    )
}
