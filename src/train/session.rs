//! The one way to turn a configuration into what a run works with: checked settings, prepared
//! data and split, the device, the model and its optimizer.
//!
//! The engine (a new or resumed run), the learning-rate finder and a finished run's export and
//! prediction all build here, so they check the same things (settings, memory on the CPU) and
//! use the device the configuration names.

use std::sync::Arc;

use burn::optim::ModuleOptimizer;
use burn::prelude::Device;

use crate::augment::AugmentError;
use crate::data::{self, DataError, Dataset, Split};
use crate::experiment::{ConfigError, DeviceKind, ExperimentConfig, TrainConfig};
use crate::model::transfer::BuildError;
use crate::model::{InputShape, Model, ModelError, ModelSummary};

/// Why a run's parts could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A training setting is out of range.
    #[error(transparent)]
    Settings(#[from] ConfigError),
    /// An augmentation setting is out of range.
    #[error(transparent)]
    Augment(#[from] AugmentError),
    /// The data could not be loaded or split.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The architecture does not fit the data.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model or its pretrained weights could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Training would need more memory than the machine has free.
    #[error("{0}")]
    Memory(String),
    /// The configured device is not available.
    #[error("{0}")]
    Device(String),
    /// The synthetic images could not be made or mixed in.
    #[error("synthetic images: {0}")]
    Synthetic(String),
}

/// What the parts are for: training keeps gradients and checks memory for the batch size;
/// inference does neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Training (the engine, the learning-rate finder).
    Train,
    /// Applying a trained model (export, prediction).
    Infer,
}

/// A configuration turned into data, device and model.
pub struct Parts {
    /// The configuration they were built from.
    pub config: ExperimentConfig,
    /// The loaded dataset.
    pub data: Arc<Dataset>,
    /// Its training and validation split.
    pub split: Split,
    /// The shape the model takes.
    pub input: InputShape,
    /// The device (without autodiff; the model lives on its autodiff version when training).
    pub device: Device,
    /// The device as shown to the user, e.g. "CPU (flex)".
    pub device_name: String,
    /// The model with fresh (or pretrained) weights.
    pub model: Model,
}

/// Builds `config`'s parts for `purpose`.
pub fn build(config: &ExperimentConfig, purpose: Purpose) -> Result<Parts, SessionError> {
    if purpose == Purpose::Train {
        config.train.validate()?;
        config.augment.validate()?;
        config.crop.validate()?;
    }
    let (data, split) = data::prepare(&config.data_config(), config.seed)?;
    let (data, split) = with_synthetic(config, data, split)?;
    let stored = crate::augment::ImageShape::of(&data);
    let cut = config.crop.input_shape(stored);
    let input = InputShape {
        height: cut.height,
        width: cut.width,
        ..InputShape::for_split(&data, &split)
    };
    // A weights file of another architecture is named as such before any channel reasoning.
    config.transfer.check_weights(&config.model, input)?;
    let summary = ModelSummary::new(&config.model, &config.transfer, input)?;
    // Refuse before allocating what cannot fit (on the GPU the adapter's memory decides).
    if purpose == Purpose::Train
        && config.device == DeviceKind::Cpu
        && let Some(available) = crate::model::summary::available_memory()
        && let Some(refusal) = summary.memory_refusal(config.train.batch_size, available)
    {
        return Err(SessionError::Memory(refusal));
    }
    let (device, device_name) = device(config.device)?;
    let model_device = match purpose {
        Purpose::Train => device.clone().autodiff(),
        Purpose::Infer => device.clone(),
    };
    let model = config
        .transfer
        .build(&config.model, input, &model_device, config.seed)?;
    Ok(Parts {
        config: config.clone(),
        data,
        split,
        input,
        device,
        device_name,
        model,
    })
}

/// `data` and `split` with the generated images `config` asks for mixed into the training
/// samples (unchanged when it asks for none).
pub fn with_synthetic(
    config: &ExperimentConfig,
    data: Arc<Dataset>,
    split: Split,
) -> Result<(Arc<Dataset>, Split), SessionError> {
    let synthetic = &config.synthetic;
    let (Some(run), true) = (&synthetic.run, synthetic.is_active()) else {
        return Ok((data, split));
    };
    crate::experiment::lesson_runs::write_lesson_gan(run)
        .map_err(|e| SessionError::Synthetic(e.to_string()))?;
    let images = super::gan::sample(run, synthetic.per_class, config.seed)
        .map_err(SessionError::Synthetic)?;
    crate::data::synthetic::mix(&data, &split, &images, synthetic.per_class)
        .map_err(|e| SessionError::Synthetic(e.to_string()))
}

/// A fresh optimizer of `train`'s kind, weight decay and clipping.
pub fn optimizer(train: &TrainConfig) -> ModuleOptimizer {
    train.optimizer.init(train.weight_decay, train.clip_grad)
}

/// The device for a run and its description.
pub fn device(kind: DeviceKind) -> Result<(Device, String), SessionError> {
    match kind {
        DeviceKind::Cpu => Ok((Device::flex(), "CPU (flex)".to_owned())),
        DeviceKind::Gpu => super::gpu::device()
            .map(|(d, name)| (d, format!("GPU: {name}")))
            .map_err(SessionError::Device),
    }
}
