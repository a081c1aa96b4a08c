//! The training knobs on real data: optimizers, schedules, early stopping, divergence, resume.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use std::process::Command;
use std::time::Duration;

use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::experiment::{GradClip, OptimizerConfig, Schedule};
use cnn_workbench::train::message::{Command as TrainCommand, Event, RunStatus};

fn embedded(epochs: usize) -> ExperimentConfig {
    let mut config = ExperimentConfig::default();
    config.train.epochs = epochs;
    config
}

#[test]
fn every_optimizer_and_schedule_learns_the_embedded_data() {
    let optimizers = [
        (
            OptimizerConfig::Sgd {
                momentum: 0.9,
                nesterov: true,
            },
            0.02,
        ),
        (OptimizerConfig::Adam, 1e-3),
        (OptimizerConfig::AdamW, 1e-3),
        (OptimizerConfig::RmsProp { momentum: 0.0 }, 1e-3),
    ];
    for (optimizer, lr) in optimizers {
        let mut config = embedded(2);
        config.train.optimizer = optimizer;
        config.train.lr = lr;
        config.train.weight_decay = 1e-4;
        config.train.clip_grad = Some(GradClip::Norm { max: 5.0 });
        let outcome = common::train(config, None);
        assert_eq!(
            outcome.status,
            RunStatus::Completed,
            "{optimizer:?}: {}",
            outcome.message
        );
        let acc = outcome.epochs[1].val_acc;
        assert!(acc >= 0.7, "{optimizer:?} reaches only {acc:.3}");
    }
    for name in Schedule::NAMES {
        let mut config = embedded(2);
        config.train.schedule = Schedule::from_name(name).unwrap();
        config.train.label_smoothing = 0.1;
        let outcome = common::train(config.clone(), None);
        assert_eq!(
            outcome.status,
            RunStatus::Completed,
            "{name}: {}",
            outcome.message
        );
        let acc = outcome.epochs[1].val_acc;
        assert!(acc >= 0.7, "{name} reaches only {acc:.3}");
        // The recorded rate is the schedule's rate at the epoch's first step.
        let expected = config.train.schedule.lr_at(config.train.lr, 75, 75, 150);
        assert!((outcome.epochs[1].lr - expected).abs() < 1e-12, "{name}");
    }
}

#[test]
fn early_stopping_on_noise_stops_and_restores_the_best_weights() {
    let mut config = ExperimentConfig::noise();
    config.train.early_stopping.enabled = true;
    config.train.early_stopping.patience = 3;
    let tmp = tempfile::tempdir().unwrap();
    let outcome = common::train(config, Some(tmp.path().join("run")));
    assert_eq!(
        outcome.status,
        RunStatus::EarlyStopped,
        "{}",
        outcome.message
    );
    assert!(
        outcome.epochs.len() < 50,
        "stopped early, after {} epochs",
        outcome.epochs.len()
    );
    let best = outcome
        .epochs
        .iter()
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
        .unwrap();
    assert_eq!(
        outcome.epochs.len(),
        best.epoch + 3,
        "stops `patience` epochs after the best"
    );
    let restored = outcome.restored.unwrap();
    assert_eq!(restored.epoch, best.epoch);
    assert!(
        (restored.val_loss - best.val_loss).abs() < 1e-5,
        "validation loss after restoring ({}) equals the best recorded ({})",
        restored.val_loss,
        best.val_loss
    );
    let json = std::fs::read_to_string(tmp.path().join("run/run.json")).unwrap();
    assert!(
        json.contains("\"early-stopped\"") && json.contains("\"restored_epoch\""),
        "{json}"
    );
    let pointer = std::fs::read_to_string(tmp.path().join("run/checkpoint.json")).unwrap();
    assert!(
        pointer.contains(&format!("best-e{}.bpk", best.epoch)),
        "{pointer}"
    );
    assert!(
        tmp.path()
            .join(format!("run/best-e{}.bpk", best.epoch))
            .is_file()
    );
}

#[test]
fn sgd_with_a_huge_learning_rate_diverges_with_a_message() {
    let mut config = ExperimentConfig::noise();
    config.train.optimizer = OptimizerConfig::Sgd {
        momentum: 0.0,
        nesterov: false,
    };
    config.train.lr = 1000.0;
    let outcome = common::train(config, None);
    assert_eq!(outcome.status, RunStatus::Diverged);
    assert!(
        outcome.message.contains("try a learning rate below"),
        "{}",
        outcome.message
    );
    assert!(
        outcome.message.contains("epoch 1 step"),
        "{}",
        outcome.message
    );
}

#[test]
fn plus_n_epochs_continues_the_same_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut config = ExperimentConfig::noise();
    config.train.epochs = 3;
    let worker = common::start_worker(config, Some(dir.clone()));
    let mut epochs = Vec::new();
    let mut finished = 0;
    while finished < 2 {
        match common::next_event(&worker) {
            Event::Epoch(m) => epochs.push(m.epoch),
            Event::Finished { status, .. } => {
                assert_eq!(status, RunStatus::Completed);
                finished += 1;
                if finished == 1 {
                    worker.send(TrainCommand::Extend(2)).unwrap();
                }
            }
            Event::Failed { message } => panic!("{message}"),
            _ => {}
        }
    }
    // The continued run re-announces epochs 1-3, then adds 4 and 5.
    assert_eq!(epochs, vec![1, 2, 3, 1, 2, 3, 4, 5]);
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5, "one record, five epochs");
}

#[test]
fn a_killed_cli_run_resumes_to_the_same_metrics_as_an_uninterrupted_one() {
    let bin = env!("CARGO_BIN_EXE_cnn-workbench");
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let status = Command::new(bin)
        .args([
            "train",
            "--dataset",
            "noise",
            "--epochs",
            "100",
            "--quiet",
            "--out",
        ])
        .arg(&whole)
        .status()
        .unwrap();
    assert!(status.success());

    let killed = tmp.path().join("killed");
    let mut child = Command::new(bin)
        .args([
            "train",
            "--dataset",
            "noise",
            "--epochs",
            "100",
            "--quiet",
            "--out",
        ])
        .arg(&killed)
        .spawn()
        .unwrap();
    let csv = killed.join("metrics.csv");
    common::wait_until(
        "three epochs in metrics.csv",
        Duration::from_secs(60),
        || std::fs::read_to_string(&csv).map_or(0, |t| t.lines().count()) >= 4,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let json = std::fs::read_to_string(killed.join("run.json")).unwrap();
    let status = Command::new(bin)
        .args(["train", "--quiet", "--resume"])
        .arg(&killed)
        .status()
        .unwrap();
    assert!(status.success(), "resume after kill ({json})");

    let metrics = |dir: &std::path::Path| {
        let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        text.lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        metrics(&killed),
        metrics(&whole),
        "same epochs, same numbers"
    );
    let json = std::fs::read_to_string(killed.join("run.json")).unwrap();
    assert!(json.contains("\"completed\""), "{json}");
}

#[test]
fn the_learning_rate_changed_while_paused_is_used_marked_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut config = ExperimentConfig::noise();
    config.train.epochs = 3;
    let worker = common::start_worker(config, Some(dir.clone()));
    let mut epochs = Vec::new();
    let mut changes = Vec::new();
    let mut asked = false;
    loop {
        match common::next_event(&worker) {
            Event::Step {
                epoch: 1, step: 5, ..
            } if !asked => {
                asked = true;
                worker.send(TrainCommand::Pause).unwrap();
            }
            Event::Paused => {
                let schedule = Schedule::Exponential { gamma: 0.5 };
                worker
                    .send(TrainCommand::Update { lr: 1e-4, schedule })
                    .unwrap();
                worker.send(TrainCommand::Resume).unwrap();
            }
            Event::Changed(change) => changes.push(change),
            Event::Epoch(m) => epochs.push(m),
            Event::Finished { .. } => break,
            Event::Failed { message } => panic!("{message}"),
            _ => {}
        }
    }
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    assert!(
        change.description.contains("lr 0.001 → 0.0001"),
        "{}",
        change.description
    );
    assert!(
        change.description.contains("schedule constant → exp"),
        "{}",
        change.description
    );
    assert!(
        change.at_epoch > 0.0 && change.at_epoch < 1.0,
        "marked inside epoch 1"
    );
    // Epoch 2 starts at step 10: 1e-4 · 0.5^(10/10).
    assert!((epochs[1].lr - 5e-5).abs() < 1e-12, "{}", epochs[1].lr);
    let json = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert!(json.contains("lr 0.001 → 0.0001"), "{json}");
    let saved =
        ExperimentConfig::from_toml(&std::fs::read_to_string(dir.join("config.toml")).unwrap())
            .unwrap();
    assert_eq!(saved.train.lr, 1e-4);
}
