//! A plain multi-layer perceptron: the image flattened into one vector, hidden layers with
//! ReLU, a classifier. The baseline that shows what convolutions buy.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::table::Table;
use super::{InputShape, LayerInfo, ModelError, check_dropout, check_input};

/// Settings of [`Mlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MlpConfig {
    /// Number of hidden layers (0: a linear classifier on the pixels).
    pub hidden_layers: usize,
    /// Width of each hidden layer.
    pub width: usize,
    /// Dropout before every linear layer after the first.
    pub dropout: f64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden_layers: 2,
            width: 256,
            dropout: 0.0,
        }
    }
}

impl MlpConfig {
    /// The freezing units: each hidden layer, then the classifier.
    pub fn blocks(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..self.hidden_layers)
            .map(|i| format!("layers.{i}"))
            .collect();
        names.push("fc".into());
        names
    }

    /// Layer table for `input`.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        const NAME: &str = "MLP";
        check_input(NAME, input)?;
        check_dropout(NAME, self.dropout)?;
        if self.hidden_layers > 16 || (self.hidden_layers > 0 && self.width == 0) {
            return Err(ModelError::new(
                NAME,
                "needs at most 16 hidden layers of at least 1 unit each",
            ));
        }
        let mut t = Table::new(NAME, input);
        t.flatten("flatten");
        for i in 0..self.hidden_layers {
            t.set_block(i);
            t.linear(format!("layers.{i} (+ ReLU)"), self.width);
        }
        t.set_block(self.hidden_layers);
        t.linear("fc", input.classes);
        Ok(t.finish())
    }

    /// Builds the model on `device` (call [`Self::layers`] first to validate `input`).
    pub fn init(&self, input: InputShape, device: &Device) -> Mlp {
        let mut features = input.channels * input.height * input.width;
        let mut layers = Vec::with_capacity(self.hidden_layers);
        for _ in 0..self.hidden_layers {
            layers.push(LinearConfig::new(features, self.width).init(device));
            features = self.width;
        }
        Mlp {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            relu: Relu::new(),
            fc: LinearConfig::new(features, input.classes).init(device),
        }
    }
}

/// The multi-layer perceptron.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: Dropout,
    relu: Relu,
    fc: Linear,
}

impl Mlp {
    /// Logits `[batch, classes]` for images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x: Tensor<2> = images.flatten(1, 3);
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                x = self.dropout.forward(x);
            }
            x = self.relu.forward(layer.forward(x));
        }
        if !self.layers.is_empty() {
            x = self.dropout.forward(x);
        }
        self.fc.forward(x)
    }

    /// The classifier.
    pub fn head(&self) -> &Linear {
        &self.fc
    }

    /// Freezes the first `n` hidden layers; the classifier stays trainable.
    pub fn freeze_first(self, n: usize) -> Self {
        let layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, l)| if i < n { l.freeze() } else { l })
            .collect();
        Self { layers, ..self }
    }
}
