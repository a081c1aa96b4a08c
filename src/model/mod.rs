//! Model architectures. Each has a serde config, an analytic layer summary (no tensors needed,
//! so the UI can show it), and an `init(&Device)` that builds the Burn module.

pub mod simple_cnn;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Split};
pub use simple_cnn::{SimpleCnn, SimpleCnnConfig};

/// What a model is built for: the dataset's image shape and class count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    /// Image channels.
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
}

impl InputShape {
    /// The shape of a dataset's samples.
    pub fn of(data: &Dataset) -> Self {
        Self {
            channels: data.channels,
            height: data.height,
            width: data.width,
            classes: data.num_classes(),
        }
    }

    /// The shape a run's model is built for: the dataset's images and the split's classes (fewer
    /// than the dataset's when only some are selected).
    pub fn for_split(data: &Dataset, split: &Split) -> Self {
        Self {
            classes: split.num_classes(),
            ..Self::of(data)
        }
    }
}

/// A model that cannot be built for the given input.
#[derive(Debug, thiserror::Error)]
#[error("{model} cannot take this data: {message}")]
pub struct ModelError {
    model: &'static str,
    message: String,
}

/// One row of a model's layer table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Layer name as in the parameter names (e.g. `conv`).
    pub name: String,
    /// Output shape per sample (C×H×W or features).
    pub output: Vec<usize>,
    /// Trainable parameters.
    pub params: usize,
}

/// The architecture of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// The seed's small CNN.
    SimpleCnn(SimpleCnnConfig),
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::SimpleCnn(SimpleCnnConfig::default())
    }
}

impl ModelConfig {
    /// Name for tables, file names and the command line.
    pub fn short_name(&self) -> &'static str {
        match self {
            Self::SimpleCnn(_) => "simple-cnn",
        }
    }

    /// Name for the Model panel.
    pub fn label(&self) -> &'static str {
        match self {
            Self::SimpleCnn(_) => "SimpleCNN (the seed's model)",
        }
    }

    /// The layer table for this input, or why the model cannot take it.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        match self {
            Self::SimpleCnn(c) => c.layers(input),
        }
    }

    /// Builds the model with freshly initialised weights on `device`, drawn from `seed`.
    ///
    /// Burn draws initial weights lazily from a process-wide generator, so two models built at
    /// once (a test suite, the learning-rate finder beside a run) would take each other's
    /// numbers. Seeding, building and materialising the weights happen under one lock, so the
    /// same seed always gives the same weights.
    pub fn init(&self, input: InputShape, device: &Device, seed: u64) -> Result<Model, ModelError> {
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        self.layers(input)?;
        let _guard = INIT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        device.seed(seed);
        let model = match self {
            Self::SimpleCnn(c) => Model::SimpleCnn(c.init(input, device)),
        };
        // A forward pass touches every parameter, which draws its initial values now.
        let probe = Tensor::<4>::zeros([1, input.channels, input.height, input.width], device);
        drop(model.forward(probe));
        Ok(model)
    }
}

/// A built model of any architecture.
#[derive(Module, Debug)]
pub enum Model {
    /// The seed's small CNN.
    SimpleCnn(SimpleCnn),
}

impl Model {
    /// Class scores (logits) for a batch of images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Self::SimpleCnn(m) => m.forward(images),
        }
    }
}
