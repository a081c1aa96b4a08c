//! The training engine on real data: it learns Fashion-MNIST, it memorises noise, it stops fast.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::train::message::{Command, Event, RunStatus};
use cnn_workbench::train::worker::TrainWorker;

#[test]
fn simple_cnn_learns_the_embedded_fashion_mnist() {
    let mut config = ExperimentConfig::default();
    config.train.epochs = 3;
    let outcome = common::train(config, None);
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.message);
    let info = outcome.info.as_ref().unwrap();
    assert_eq!((info.train_samples, info.val_samples), (4800, 1200));
    assert_eq!(
        info.num_params, 31_530,
        "SimpleCNN has PyTorch's parameter count"
    );
    assert_eq!(outcome.epochs.len(), 3);
    let first = &outcome.epochs[0];
    let last = &outcome.epochs[2];
    assert!(
        last.val_acc >= 0.75,
        "validation accuracy after 3 epochs: {:.3}",
        last.val_acc
    );
    assert!(
        last.train_loss < first.train_loss,
        "training loss falls: {outcome:?}"
    );
    assert_eq!(outcome.steps, 3 * 75, "one step event per batch of 64");
}

#[test]
fn simple_cnn_memorises_noise_and_validation_shows_it() {
    let mut config = ExperimentConfig::noise();
    config.train.epochs = 25;
    let outcome = common::train(config, None);
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.message);
    let last = outcome.epochs.last().unwrap();
    assert!(
        last.train_acc >= 0.95,
        "training accuracy on noise: {:.3}",
        last.train_acc
    );
    assert!(
        last.val_acc <= 0.30,
        "validation accuracy stays near chance: {:.3}",
        last.val_acc
    );
    let min_val = outcome
        .epochs
        .iter()
        .map(|m| m.val_loss)
        .fold(f64::INFINITY, f64::min);
    assert!(
        last.val_loss > min_val + 0.05,
        "validation loss rises above its minimum ({min_val:.3}) to {:.3}",
        last.val_loss
    );
    assert!(
        last.train_loss < outcome.epochs[0].train_loss / 4.0,
        "training loss keeps falling"
    );
}

/// Waits (at most `secs`) for the first event that `wanted` accepts; a failure event panics.
fn wait_for(worker: &TrainWorker, secs: u64, wanted: impl Fn(&Event) -> bool) -> Event {
    loop {
        let event = worker
            .events()
            .recv_timeout(Duration::from_secs(secs))
            .unwrap();
        if let Event::Failed { message } = &event {
            panic!("{message}");
        }
        if wanted(&event) {
            return event;
        }
    }
}

#[test]
fn stop_mid_epoch_answers_within_a_second_and_the_thread_ends() {
    let mut config = ExperimentConfig::default();
    config.train.epochs = 50;
    let worker = common::start_worker(config, None);
    // Wait until training is under way, mid-epoch.
    wait_for(&worker, 60, |e| matches!(e, Event::Step { step: 10, .. }));
    let asked = Instant::now();
    worker.send(Command::Stop).unwrap();
    let finished = wait_for(&worker, 5, |e| matches!(e, Event::Finished { .. }));
    let answered = asked.elapsed();
    assert!(
        matches!(
            finished,
            Event::Finished {
                status: RunStatus::Stopped,
                ..
            }
        ),
        "{finished:?}"
    );
    assert!(answered < Duration::from_secs(1), "stop took {answered:?}");
    let joined = Instant::now();
    drop(worker);
    assert!(
        joined.elapsed() < Duration::from_secs(1),
        "joining took {:?}",
        joined.elapsed()
    );
}

#[test]
fn pause_holds_training_and_resume_gives_the_uninterrupted_metrics() {
    let mut config = ExperimentConfig::default();
    config.train.epochs = 2;
    let uninterrupted = common::train(config.clone(), None);

    let worker = common::start_worker(config, None);
    let mut epochs = Vec::new();
    let mut paused = false;
    let status = loop {
        match worker
            .events()
            .recv_timeout(Duration::from_secs(60))
            .unwrap()
        {
            Event::Step {
                epoch: 1, step: 30, ..
            } if !paused => {
                worker.send(Command::Pause).unwrap();
            }
            Event::Paused => {
                paused = true;
                // While paused, nothing happens.
                assert!(
                    worker
                        .events()
                        .recv_timeout(Duration::from_millis(300))
                        .is_err()
                );
                worker.send(Command::Resume).unwrap();
            }
            Event::Epoch(m) => epochs.push(m),
            Event::Finished { status, .. } => break status,
            Event::Failed { message } => panic!("{message}"),
            _ => {}
        }
    };
    assert!(paused);
    assert_eq!(status, RunStatus::Completed);
    let numbers = |m: &cnn_workbench::train::message::EpochMetrics| {
        (
            m.epoch,
            m.train_loss,
            m.val_loss,
            m.train_acc,
            m.val_acc,
            m.lr,
        )
    };
    assert_eq!(
        epochs.iter().map(numbers).collect::<Vec<_>>(),
        uninterrupted.epochs.iter().map(numbers).collect::<Vec<_>>(),
        "pausing changes nothing"
    );
}

#[test]
fn a_bad_setting_fails_with_a_message_not_a_panic() {
    let mut config = ExperimentConfig::default();
    config.dataset.validation = cnn_workbench::data::Validation::Holdout { fraction: 1.5 };
    let outcome = common::train(config, None);
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome.message.contains("between 0 and 1"),
        "{}",
        outcome.message
    );
}
