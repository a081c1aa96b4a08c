//! The wgpu path: a short training run on whatever adapter wgpu finds (Mesa's lavapipe on a
//! machine without a GPU). Skipped, with the reason printed, where no Vulkan driver exists.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use cnn_workbench::experiment::{DeviceKind, ExperimentConfig};
use cnn_workbench::train::message::RunStatus;
use cnn_workbench::train::warm;

/// The noise dataset on the GPU at `batch_size` for `epochs`, with the adapter's name; `None`
/// (the reason printed) where wgpu finds no adapter.
fn on_the_gpu(epochs: usize, batch_size: usize) -> Option<(ExperimentConfig, String)> {
    let adapter = match cnn_workbench::train::gpu::device() {
        Ok((_, name)) => name,
        Err(why) => {
            println!("skipped: {why}");
            return None;
        }
    };
    let mut config = ExperimentConfig::noise();
    config.device = DeviceKind::Gpu;
    config.train.epochs = epochs;
    config.train.batch_size = batch_size;
    Some((config, adapter))
}

#[test]
fn a_short_run_trains_on_the_gpu_backend() {
    let Some((config, adapter)) = on_the_gpu(2, 50) else {
        return;
    };
    let outcome = common::train(config.clone(), None);
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.message);
    let info = outcome.info.as_ref().unwrap();
    // The first run of this model in this program compiles its kernels, and says so.
    assert!(info.compiling, "the first GPU run waits for its kernels");
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

/// Warming a configuration's kernels up ahead (as the window does when the GPU is chosen)
/// compiles what a run of it needs: the run then starts without waiting, and a warm-up of what
/// a run already compiled has nothing to do.
#[test]
fn a_warm_up_compiles_what_the_run_then_uses() {
    let Some((mut config, _)) = on_the_gpu(1, 20) else {
        return;
    };
    let secs = warm::warm_up(&config).unwrap();
    assert!(secs > 0.0, "a first warm-up compiles");
    assert_eq!(warm::warm_up(&config).unwrap(), 0.0, "and only once");
    let outcome = common::train(config.clone(), None);
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.message);
    assert!(
        !outcome.info.as_ref().unwrap().compiling,
        "a run after the warm-up has its kernels"
    );
    // On the CPU there is nothing to compile.
    config.device = DeviceKind::Cpu;
    assert_eq!(warm::warm_up(&config).unwrap(), 0.0);
}
