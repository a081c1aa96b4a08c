//! The training engine on real data: it learns Fashion-MNIST, it memorises noise, it stops fast.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use std::time::{Duration, Instant};

use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::train::message::{Command, Event, RunStatus};

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

#[test]
fn stop_mid_epoch_answers_within_a_second_and_the_thread_ends() {
    let mut config = ExperimentConfig::default();
    config.train.epochs = 50;
    let worker = common::start_worker(config, None);
    // Wait until training is under way, mid-epoch.
    common::wait_for_event(&worker, 60, |e| matches!(e, Event::Step { step: 10, .. }));
    let asked = Instant::now();
    worker.send(Command::Stop).unwrap();
    let finished = common::wait_for_event(&worker, 5, |e| matches!(e, Event::Finished { .. }));
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
        match common::next_event(&worker) {
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

#[test]
fn every_step_is_reported_once_in_order_and_the_epoch_loss_is_their_mean() {
    // Losses are read back from the device a few steps at a time; each step must still reach
    // the plot once, in order, and the epoch's training loss must be the mean of its steps.
    let mut config = ExperimentConfig::noise();
    config.train.epochs = 1;
    config.train.batch_size = 7; // 100 samples: 15 steps, the last one short
    let worker = common::start_worker(config, None);
    let mut steps = Vec::new();
    let mut per_epoch = None;
    let started = common::wait_for_event(&worker, 60, |e| matches!(e, Event::Started(_)));
    let Event::Started(info) = started else {
        unreachable!()
    };
    loop {
        match common::next_event(&worker) {
            Event::Step {
                epoch, step, loss, ..
            } => {
                assert_eq!(epoch, 1);
                assert!(loss.is_finite(), "step {step}: {loss}");
                steps.push((step, loss));
            }
            Event::Epoch(m) => per_epoch = Some(m),
            Event::Finished { status, .. } => {
                assert_eq!(status, RunStatus::Completed);
                break;
            }
            Event::Failed { message } => panic!("{message}"),
            _ => {}
        }
    }
    let numbers: Vec<usize> = steps.iter().map(|s| s.0).collect();
    assert_eq!(
        numbers,
        (1..=info.steps_per_epoch).collect::<Vec<_>>(),
        "each step once, in order"
    );
    let samples = info.train_samples;
    let mean: f64 = steps
        .iter()
        .map(|&(step, loss)| {
            let size = if step == info.steps_per_epoch {
                samples - 7 * (info.steps_per_epoch - 1)
            } else {
                7
            };
            loss * size as f64
        })
        .sum::<f64>()
        / samples as f64;
    let epoch = per_epoch.unwrap();
    assert!(
        (epoch.train_loss - mean).abs() < 1e-9,
        "{} vs {mean}",
        epoch.train_loss
    );
}

#[test]
fn closing_during_the_validation_pass_joins_within_a_second() {
    use cnn_workbench::data::{TrainSize, Validation};
    use cnn_workbench::model::cnn::Pooling;
    use cnn_workbench::model::{CnnConfig, ModelConfig};
    // One training step, then a validation pass over most of the built-in data with a CNN that
    // keeps the full 28×28 maps: seconds of evaluation to close the window in.
    let mut config = ExperimentConfig::default();
    config.train.epochs = 3;
    config.dataset.train_size = TrainSize::Total { count: 64 };
    config.dataset.validation = Validation::Holdout { fraction: 0.9 };
    config.model = ModelConfig::Cnn(CnnConfig {
        channels: vec![32, 32],
        pooling: Pooling::None,
        batch_norm: false,
        global_pool: true,
        hidden: 0,
        ..CnnConfig::default()
    });
    let worker = common::start_worker(config, None);
    // The epoch's training batch is reported as its training ends, right before validation.
    common::wait_for_event(&worker, 60, |e| matches!(e, Event::TrainingBatch(_)));
    assert!(
        worker
            .events()
            .try_iter()
            .all(|e| !matches!(e, Event::Epoch(_))),
        "the validation pass ended before the window closed; the test needs a longer one"
    );
    let closing = Instant::now();
    drop(worker);
    assert!(
        closing.elapsed() < Duration::from_secs(1),
        "closing took {:?}",
        closing.elapsed()
    );
}
