//! Every built-in lesson builds valid experiments that train (one epoch each here), and the
//! lessons that promise a divergence deliver it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

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

fn last(o: &common::Outcome) -> &cnn_workbench::train::message::EpochMetrics {
    o.epochs.last().unwrap()
}

fn best_val_loss(o: &common::Outcome) -> f64 {
    o.epochs
        .iter()
        .map(|m| m.val_loss)
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn the_small_data_lesson_memorises_its_200_images() {
    let lesson = lessons::find("small-data").unwrap();
    let run = common::train(lesson.runs[0].config.clone(), None);
    assert_eq!(run.status, RunStatus::Completed, "{}", run.message);
    assert_eq!(run.info.as_ref().unwrap().train_samples, 200);
    let end = last(&run);
    assert!(end.train_loss < 0.05, "training loss {}", end.train_loss);
    assert!(
        end.val_loss > best_val_loss(&run) + 0.2,
        "validation loss ends at {} against its minimum {}",
        end.val_loss,
        best_val_loss(&run)
    );
}

#[test]
fn the_augmentation_lesson_ends_with_the_lower_validation_loss() {
    let lesson = lessons::find("augmentation").unwrap();
    let plain = common::train(lesson.runs[0].config.clone(), None);
    let augmented = common::train(lesson.runs[1].config.clone(), None);
    let rise = |o: &common::Outcome| last(o).val_loss - best_val_loss(o);
    eprintln!(
        "final validation loss {:.3} vs {:.3}; rise above the minimum {:.3} vs {:.3}",
        last(&plain).val_loss,
        last(&augmented).val_loss,
        rise(&plain),
        rise(&augmented)
    );
    assert!(rise(&augmented) < rise(&plain) - 0.1);
    assert!(last(&augmented).val_loss < last(&plain).val_loss - 0.1);
}

#[test]
fn the_label_noise_lesson_shows_memorised_wrong_labels_in_validation() {
    let lesson = lessons::find("label-noise").unwrap();
    let clean = common::train(lesson.runs[0].config.clone(), None);
    let noisy = common::train(lesson.runs[1].config.clone(), None);
    let best_acc = |o: &common::Outcome| o.epochs.iter().map(|m| m.val_acc).fold(0.0, f64::max);
    eprintln!(
        "validation accuracy: clean {:.3} at the end; noisy best {:.3}, end {:.3}, training {:.3}",
        last(&clean).val_acc,
        best_acc(&noisy),
        last(&noisy).val_acc,
        last(&noisy).train_acc
    );
    // The noisy run learns its wrong labels (training accuracy far above the 60 % of labels
    // that are right) and validation accuracy falls from its best as it does.
    assert!(last(&noisy).train_acc > 0.8);
    assert!(last(&noisy).val_acc < best_acc(&noisy) - 0.1);
    assert!(last(&clean).val_acc > last(&noisy).val_acc + 0.15);
}
