//! `train` and `lr-find`: a run on the training worker, followed on the terminal with a progress
//! bar until it ends, is stopped (Ctrl+C, SIGTERM) or fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use crossbeam_channel::RecvTimeoutError;
use indicatif::{ProgressBar, ProgressStyle};
use signal_hook::consts::{SIGINT, SIGTERM};

use super::args::{ProgressArg, TrainArgs};
use crate::train::message::{Command, Event, RunStatus};
use crate::train::worker::{StartRequest, TrainWorker};

/// Runs the learning-rate finder and prints (and optionally saves) its curve and suggestion.
pub(super) fn lr_find(args: &TrainArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let worker = TrainWorker::spawn(std::sync::Arc::new(|| {}))
        .context("cannot start the training thread")?;
    worker.find_lr(config)?;
    let finding = loop {
        match worker.events().recv() {
            Ok(Event::LrFound(finding)) => break finding,
            Ok(Event::Failed { message }) => bail!("{message}"),
            Ok(_) => {}
            Err(_) => bail!("the training thread ended without a result"),
        }
    };
    let mut csv = String::from("lr,smoothed_loss\n");
    for [lr, loss] in &finding.points {
        csv.push_str(&format!("{lr},{loss}\n"));
    }
    if !args.quiet {
        outln!("{:>10}  {:>10}", "lr", "loss");
        for [lr, loss] in finding.points.iter().step_by(5) {
            outln!("{lr:>10.2e}  {loss:>10.4}");
        }
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("lr_find.csv");
        std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;
    }
    match finding.suggestion {
        Some(lr) => outln!("suggested learning rate: {lr:.2e}"),
        None => outln!("no suggestion: the loss did not fall at any learning rate tried"),
    }
    Ok(())
}

/// Trains one run (new or resumed) and follows it on the terminal.
pub(super) fn train(args: &TrainArgs) -> anyhow::Result<()> {
    if args.emit_files && args.progress != ProgressArg::Jsonl {
        bail!("--emit-files needs --progress jsonl (the files travel as JSON lines)");
    }
    if let Some(address) = &args.cluster.address {
        return super::cluster::train(args, address);
    }
    let worker = TrainWorker::spawn(std::sync::Arc::new(|| {}))
        .context("cannot start the training thread")?;
    let mut run_dir = args.resume.clone();
    match &args.resume {
        Some(dir) => worker.resume_dir(dir.clone(), args.epochs),
        None => {
            let config = args.to_config()?;
            // Without --out the run joins the window's runs table.
            let out = args.out.clone().unwrap_or_else(|| {
                crate::experiment::record::new_run_dir(
                    &crate::experiment::record::default_runs_root(),
                    &config,
                )
            });
            if !args.quiet && args.progress == ProgressArg::Bar {
                outln!("Recording the run in {}", out.display());
            }
            run_dir = Some(out.clone());
            worker.start(StartRequest {
                config,
                run_dir: Some(out),
            })
        }
    }?;
    let report = match args.progress {
        ProgressArg::Bar => Report::Human { quiet: args.quiet },
        ProgressArg::Jsonl => Report::Jsonl,
    };
    let (status, message) = follow_run(&worker, report)?;
    if args.emit_files
        && let Some(dir) = &run_dir
    {
        let events = crate::experiment::transfer::folder_events(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?;
        for event in events {
            outln!("{event}");
        }
    }
    match status {
        RunStatus::Failed | RunStatus::Diverged => bail!("{status}: {message}"),
        _ => {
            if report == (Report::Human { quiet: false }) {
                outln!("{status}: {message}");
            }
            Ok(())
        }
    }
}

/// How a followed run is reported on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Report {
    /// A progress bar and a line per epoch (nothing but errors when `quiet`).
    Human {
        /// Print nothing but errors.
        quiet: bool,
    },
    /// One JSON object per line and event, nothing else (see [`json_event`]).
    Jsonl,
}

/// The JSON line of an event for `--progress jsonl`, or `None` for events it leaves out (steps,
/// batches, evaluations). Epochs carry the fields of `metrics.csv`; the end carries `run.json`.
fn json_event(event: &Event, run_dir: Option<&std::path::Path>) -> Option<serde_json::Value> {
    use serde_json::json;
    Some(match event {
        Event::Started(info) => json!({
            "event": "started",
            "status": "running",
            "epochs": info.epochs,
            "steps_per_epoch": info.steps_per_epoch,
            "train_samples": info.train_samples,
            "val_samples": info.val_samples,
            "params": info.num_params,
            "device": info.device,
            "run_dir": info.run_dir,
            "classes": info.class_names,
            "compiling": info.compiling,
        }),
        Event::Epoch(m) => {
            let mut value = serde_json::to_value(m).ok()?;
            value
                .as_object_mut()?
                .insert("event".to_owned(), json!("epoch"));
            value
        }
        Event::Paused => json!({"event": "status", "status": "paused"}),
        Event::Resumed => json!({"event": "status", "status": "running"}),
        Event::Changed(change) => json!({"event": "changed", "change": change}),
        Event::Finished {
            status, message, ..
        } => {
            let run = run_dir
                .and_then(|dir| std::fs::read_to_string(dir.join("run.json")).ok())
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
            json!({"event": "finished", "status": status, "message": message, "run": run})
        }
        Event::Failed { message } => {
            json!({"event": "finished", "status": "failed", "message": message})
        }
        Event::Step { .. }
        | Event::TrainingBatch(_)
        | Event::LrFound(_)
        | Event::Evaluated(_)
        | Event::Gan(_) => {
            return None;
        }
    })
}

/// Shows a run's progress until it ends: how it ended and the engine's note; an error when it
/// could not run at all.
pub(super) fn follow_run(
    worker: &TrainWorker,
    report: Report,
) -> anyhow::Result<(RunStatus, String)> {
    let quiet = report != (Report::Human { quiet: false });
    let mut run_dir: Option<std::path::PathBuf> = None;
    let bar = step_bar(quiet)?;
    let mut epochs = 0;
    let interrupted = interrupt_flag()?;
    let mut stopping = false;
    loop {
        // Checked before every event, not only when none came for a while: a fast model sends
        // step events more often than the wait below, and the stop must not wait for quiet.
        if interrupted.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            bar.suspend(|| eprintln!("Stopping after the current batch…"));
            worker.send(Command::Stop)?;
        }
        let event = match worker.events().recv_timeout(Duration::from_millis(100)) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                bail!("the training thread ended without a result")
            }
        };
        if report == Report::Jsonl {
            if let Event::Started(info) = &event {
                run_dir.clone_from(&info.run_dir);
            }
            if let Some(line) = json_event(&event, run_dir.as_deref()) {
                outln!("{line}");
            }
        }
        match event {
            Event::Started(info) => {
                epochs = info.epochs;
                bar.set_length(info.steps_per_epoch as u64);
                if !quiet {
                    bar.suspend(|| {
                        outln!(
                            "Training on {} training and {} validation samples ({} parameters) on {}",
                            info.train_samples, info.val_samples, info.num_params, info.device
                        );
                    });
                }
                if info.compiling {
                    bar.set_message(
                        "compiling GPU kernels for this model (once per program; the first \
                         steps wait for them)",
                    );
                }
            }
            Event::Step {
                epoch,
                step,
                loss,
                lr,
                samples_per_sec,
            } => {
                bar.set_prefix(format!("epoch {epoch}/{epochs}"));
                bar.set_position(step as u64);
                bar.set_message(format!(
                    "loss {loss:.4}  lr {lr:.2e}  {samples_per_sec:.0} samples/s"
                ));
            }
            Event::Epoch(m) => {
                if !quiet {
                    bar.suspend(|| {
                        outln!(
                            "epoch {:>3}  train loss {:.4}  val loss {:.4}  train acc {:5.1}%  val acc {:5.1}%  lr {:.2e}  ({:.1}s)",
                            m.epoch,
                            m.train_loss,
                            m.val_loss,
                            m.train_acc * 100.0,
                            m.val_acc * 100.0,
                            m.lr,
                            m.train_secs + m.val_secs
                        );
                    });
                }
                bar.set_position(0);
            }
            Event::Paused
            | Event::Resumed
            | Event::Changed(_)
            | Event::TrainingBatch(_)
            | Event::LrFound(_)
            | Event::Evaluated(_)
            | Event::Gan(_) => {}
            Event::Finished {
                status, message, ..
            } => {
                bar.finish_and_clear();
                return Ok((status, message));
            }
            Event::Failed { message } => {
                bar.finish_and_clear();
                bail!("{message}");
            }
        }
    }
}

/// The steps bar of a followed run (hidden when `quiet`).
pub(super) fn step_bar(quiet: bool) -> anyhow::Result<ProgressBar> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps  {msg}  ETA {eta}")
            .map_err(anyhow::Error::msg)?
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    Ok(bar)
}

/// A flag raised by Ctrl+C or SIGTERM: the followed run stops between two steps (recorded as
/// stopped, resumable); a second Ctrl+C exits at once.
pub(super) fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&interrupted))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&interrupted)))
            .context("cannot install the Ctrl+C handler")?;
    }
    Ok(interrupted)
}
