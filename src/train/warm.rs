//! Compiling a model's GPU kernels before its first run.
//!
//! On the GPU (wgpu) each kernel is compiled the first time a program launches it: a fresh
//! machine's first run of a model is silent until every kernel of its forward pass, backward
//! pass, optimizer and validation has been compiled (a minute and a half for SimpleCNN on
//! lavapipe). [`warm_up`] runs one training step and one validation pass of a configuration's
//! model on zeros of the run's shapes, so a run started afterwards in the same program finds
//! them compiled; the window calls it on a background thread as soon as the GPU is chosen.
//! Compiled kernels stay for the life of the program; CubeCL's tuning results and the driver's
//! shader cache stay on disk, so a later program start compiles less.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;

use super::session::{self, Purpose, SessionError};
use crate::experiment::{DeviceKind, ExperimentConfig};
use crate::model::InputShape;

/// What identifies a set of compiled kernels: the model, how much of it trains, the input
/// shape and the batch sizes of training and validation.
pub fn key(config: &ExperimentConfig, input: InputShape, val_samples: usize) -> String {
    let model = serde_json::to_string(&config.model).unwrap_or_default();
    let transfer = serde_json::to_string(&config.transfer).unwrap_or_default();
    let batch = config.train.batch_size.max(1);
    let chunks = super::engine::eval_chunks(input, val_samples);
    format!("{model}|{transfer}|{input:?}|batch {batch}|validation {chunks:?}")
}

fn warmed() -> std::sync::MutexGuard<'static, HashSet<String>> {
    static WARMED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);
    WARMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether this program has already compiled the GPU kernels `key` names (by a warm-up or a
/// run that trained an epoch).
pub fn is_warm(key: &str) -> bool {
    warmed().contains(key)
}

/// Records that the kernels `key` names are compiled.
pub fn mark_warm(key: String) {
    warmed().insert(key);
}

/// Compiles the GPU kernels a run of `config` needs: one training step (forward pass, loss,
/// backward pass, optimizer step, the hit count) at the run's batch size and one validation
/// forward pass per validation batch size, all on zeros, read back so they really run.
/// Returns the seconds it took (0 when they were compiled already); nothing to do on the CPU.
pub fn warm_up(config: &ExperimentConfig) -> Result<f64, SessionError> {
    if config.device != DeviceKind::Gpu {
        return Ok(0.0);
    }
    let started = Instant::now();
    let parts = session::build(config, Purpose::Train)?;
    let key = key(config, parts.input, parts.split.val.len());
    if is_warm(&key) {
        return Ok(0.0);
    }
    let InputShape {
        channels,
        height,
        width,
        ..
    } = parts.input;
    let train_device = parts.device.clone().autodiff();
    let batch = config.train.batch_size.min(parts.split.train.len()).max(1);
    let images = Tensor::<4>::zeros([batch, channels, height, width], &train_device);
    let labels = Tensor::<1, Int>::zeros([batch], &train_device);
    let logits = parts.model.forward(images);
    let loss = CrossEntropyLossConfig::new()
        .init(&train_device)
        .forward(logits.clone(), labels.clone());
    let correct = super::engine::count_correct(logits, labels);
    let grads = GradientsParams::from_grads(loss.backward(), &parts.model);
    let mut optimizer = session::optimizer(&config.train);
    let lrs = config.transfer.learning_rate(&parts.model, config.train.lr);
    let model = optimizer.step(lrs, parts.model, grads);
    let _ = correct.into_data();
    let valid = model.valid();
    for n in super::engine::eval_chunks(parts.input, parts.split.val.len()) {
        let images = Tensor::<4>::zeros([n, channels, height, width], &parts.device);
        let _ = valid.forward(images).into_data();
    }
    mark_warm(key);
    Ok(started.elapsed().as_secs_f64())
}
