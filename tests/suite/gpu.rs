//! The wgpu path: a short training run on whatever adapter wgpu finds (Mesa's lavapipe on a
//! machine without a GPU). Skipped, with the reason printed, where no Vulkan driver exists.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use cnn_workbench::experiment::{DeviceKind, ExperimentConfig};
use cnn_workbench::train::message::RunStatus;

#[test]
fn a_short_run_trains_on_the_gpu_backend() {
    let adapter = match cnn_workbench::train::gpu::device() {
        Ok((_, name)) => name,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let mut config = ExperimentConfig::noise();
    config.device = DeviceKind::Gpu;
    config.train.epochs = 2;
    config.train.batch_size = 50;
    let outcome = common::train(config, None);
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.message);
    let info = outcome.info.as_ref().unwrap();
    assert!(
        info.device.contains(&adapter),
        "{} on {adapter}",
        info.device
    );
    assert_eq!(outcome.epochs.len(), 2);
    for m in &outcome.epochs {
        assert!(m.train_loss.is_finite() && m.val_loss.is_finite(), "{m:?}");
        assert!((0.0..=1.0).contains(&m.val_acc));
    }
    assert!(
        outcome.epochs[1].train_loss < outcome.epochs[0].train_loss,
        "the loss falls on the GPU too: {:?}",
        outcome.epochs
    );
}
