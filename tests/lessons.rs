//! Every built-in lesson builds valid experiments that train (one epoch each here), and the
//! lessons that promise a divergence deliver it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use cnn_workbench::experiment::lessons;
use cnn_workbench::train::message::RunStatus;

#[test]
fn every_lesson_run_trains_an_epoch() {
    for lesson in lessons::lessons() {
        for run in &lesson.runs {
            let mut config = run.config.clone();
            config.train.epochs = 1;
            let outcome = common::train(config, None);
            assert!(
                matches!(outcome.status, RunStatus::Completed | RunStatus::Diverged),
                "{} / {}: {:?} {}",
                lesson.id,
                run.label,
                outcome.status,
                outcome.message
            );
            if outcome.status == RunStatus::Completed {
                assert_eq!(outcome.epochs.len(), 1, "{} / {}", lesson.id, run.label);
            }
        }
    }
}

#[test]
fn the_learning_rate_lesson_diverges_then_crawls_then_learns() {
    let lesson = lessons::find("learning-rate").unwrap();
    let too_high = common::train(lesson.runs[0].config.clone(), None);
    assert_eq!(too_high.status, RunStatus::Diverged, "{}", too_high.message);
    assert!(
        too_high.message.contains("learning rate"),
        "{}",
        too_high.message
    );
    let mut low = lesson.runs[1].config.clone();
    let mut good = lesson.runs[2].config.clone();
    low.train.epochs = 2;
    good.train.epochs = 2;
    let low = common::train(low, None);
    let good = common::train(good, None);
    let last = |o: &common::Outcome| o.epochs.last().unwrap().val_loss;
    assert!(
        last(&good) < last(&low) - 0.3,
        "well-chosen {} vs too low {}",
        last(&good),
        last(&low)
    );
}
