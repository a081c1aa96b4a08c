//! `lesson`: a built-in lesson's runs trained one after the other and compared.

use super::args::{LessonArg, LessonArgs};
use crate::experiment::RunStatus;
use crate::experiment::lesson_runs::{self, LessonRun};
use crate::train::queue::{ContinueRule, RunQueue};
use crate::train::worker::{StartRequest, TrainWorker};

/// Runs a lesson's runs one after the other and compares them.
pub fn lesson(args: &LessonArgs) -> anyhow::Result<()> {
    let runs = match args.lesson {
        LessonArg::Capacity => vec![LessonRun::CapacitySmall, LessonRun::CapacityResNet],
        LessonArg::Transfer => vec![LessonRun::TransferFineTune, LessonRun::TransferScratch],
        LessonArg::Pretrain => vec![LessonRun::TransferPretrain],
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out.display()))?;
    let backbone = lesson_runs::write_backbone(&args.out)?;
    // Like the window's lessons: a diverged or failed run is reported and the next one still
    // runs; Ctrl+C (a stopped run) ends the lesson.
    let mut queue = RunQueue::new(ContinueRule::UnlessStopped, runs);
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut stopped = false;
    let mut next = queue.start();
    while let Some(run) = next {
        let mut config = run.config(&backbone);
        if let Some(epochs) = args.epochs {
            config.train.epochs = epochs;
        }
        let rule = config.train.early_stopping;
        let dir = args.out.join(run.slug());
        if !args.quiet {
            outln!("== {} ({})", run.label(), dir.display());
        }
        let worker = TrainWorker::spawn(std::sync::Arc::new(|| {}))
            .map_err(|e| anyhow::anyhow!("cannot start the training thread: {e}"))?;
        worker.start(StartRequest {
            config,
            run_dir: Some(dir.clone()),
        })?;
        let status = match super::train::follow_run(
            &worker,
            super::train::Report::Human { quiet: args.quiet },
        ) {
            Ok((status, message)) => {
                if matches!(status, RunStatus::Failed | RunStatus::Diverged) {
                    eprintln!("{}: {status}: {message}", run.label());
                    failures.push(format!("{} ({status})", run.label()));
                } else if !args.quiet {
                    outln!("{status}: {message}");
                }
                status
            }
            Err(e) => {
                eprintln!("{}: {e:#}", run.label());
                failures.push(format!("{} (failed)", run.label()));
                RunStatus::Failed
            }
        };
        if let Ok(history) = crate::experiment::record::read_metrics(&dir.join("metrics.csv")) {
            rows.push((run, rule, history));
        }
        stopped |= status == RunStatus::Stopped;
        next = queue.on_finished(status);
    }
    let pretrained = rows
        .iter()
        .any(|(run, _, history)| *run == LessonRun::TransferPretrain && !history.is_empty())
        && failures.is_empty();
    if args.lesson == LessonArg::Pretrain && pretrained {
        let out = args.out.join(lesson_runs::TRANSFER_BACKBONE_FILE);
        let done = crate::train::backbone::export(
            &args.out.join(LessonRun::TransferPretrain.slug()),
            &out,
            false,
        )?;
        outln!(
            "Backbone: {} parameters from epoch {} written to {}",
            done.params,
            done.epoch,
            out.display()
        );
    }
    outln!(
        "\n{:<36} {:>10} {:>9} {:>9} {:>10}",
        "run",
        "best epoch",
        "val acc",
        "val loss",
        "train acc"
    );
    for (run, rule, history) in &rows {
        let Some(best) = rule.best(history) else {
            continue;
        };
        let last = history.last().map_or(0.0, |m| m.train_acc);
        outln!(
            "{:<36} {:>10} {:>8.1}% {:>9.3} {:>9.1}%",
            run.label(),
            best.epoch,
            best.val_acc * 100.0,
            best.val_loss,
            last * 100.0
        );
    }
    if !failures.is_empty() {
        anyhow::bail!("the lesson did not finish: {}", failures.join(", "));
    }
    if stopped {
        outln!("(stopped: the lesson's later runs did not run)");
    }
    Ok(())
}
