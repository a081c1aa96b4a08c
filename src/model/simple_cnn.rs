//! The seed's `SimpleCNN`: conv 3×3 (16 channels, padding 1) → ReLU → max-pool 2 → linear.
//!
//! The seed's PyTorch code sizes the linear layer as `16·7·7` and flattens with
//! `x.view(-1, 16·7·7)`. After one 2×2 pool a 28×28 input is 14×14, so that view silently packs
//! four samples' features into one row and mixes samples across the batch. Here the linear layer
//! takes `channels · (H/2) · (W/2)` features (16·14·14 for 28×28 inputs) and each sample is
//! flattened on its own. For 1-channel 28×28 input and 10 classes that is 31,530 parameters,
//! PyTorch's count for the corrected model.

use super::kernels::{conv2d_relu, max_pool2d};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::table::Table;
use super::{InputShape, LayerInfo, ModelError, check_dropout, check_input};

/// Settings of [`SimpleCnn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimpleCnnConfig {
    /// Output channels of the convolution (the seed uses 16).
    pub conv_channels: usize,
    /// Dropout probability before the linear layer (the seed uses none).
    pub dropout: f64,
}

impl Default for SimpleCnnConfig {
    fn default() -> Self {
        Self {
            conv_channels: 16,
            dropout: 0.0,
        }
    }
}

impl SimpleCnnConfig {
    /// Layer table for `input`.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        const NAME: &str = "SimpleCNN";
        check_input(NAME, input)?;
        check_dropout(NAME, self.dropout)?;
        if input.height < 2 || input.width < 2 {
            return Err(ModelError::new(
                NAME,
                format!(
                    "images must be at least 2×2 pixels for the 2×2 pooling, found {}×{}",
                    input.height, input.width
                ),
            ));
        }
        if self.conv_channels == 0 {
            return Err(ModelError::new(
                NAME,
                "needs at least 1 convolution channel",
            ));
        }
        let mut t = Table::new(NAME, input);
        t.conv("conv (3×3, pad 1)", self.conv_channels, 3, 1, 1, true)?;
        t.same("relu");
        t.pool("pool (max 2×2)", 2, 2, 0)?;
        t.set_block(1);
        t.linear("fc", input.classes);
        Ok(t.finish())
    }

    /// Builds the model on `device` (call [`Self::layers`] first to validate `input`).
    pub fn init(&self, input: InputShape, device: &Device) -> SimpleCnn {
        let c = self.conv_channels;
        SimpleCnn {
            conv: Conv2dConfig::new([input.channels, c], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            relu: Relu::new(),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc: LinearConfig::new(c * (input.height / 2) * (input.width / 2), input.classes)
                .init(device),
        }
    }
}

/// conv → ReLU → max-pool → linear.
#[derive(Module, Debug)]
pub struct SimpleCnn {
    conv: Conv2d,
    pool: MaxPool2d,
    relu: Relu,
    dropout: Dropout,
    fc: Linear,
}

impl SimpleCnn {
    /// Logits `[batch, classes]` for images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = max_pool2d(&self.pool, conv2d_relu(&self.conv, images));
        // Flatten each sample on its own: [batch, c, h, w] → [batch, c·h·w].
        let x: Tensor<2> = x.flatten(1, 3);
        self.fc.forward(self.dropout.forward(x))
    }

    /// The classifier.
    pub fn head(&self) -> &Linear {
        &self.fc
    }

    /// Freezes the convolution (`n` ≥ 1); the head stays trainable.
    pub fn freeze_first(self, n: usize) -> Self {
        Self {
            conv: if n >= 1 {
                self.conv.freeze()
            } else {
                self.conv
            },
            ..self
        }
    }
}
