//! LeCun et al.'s LeNet-5 (1998): conv 5×5 (6) → subsample → conv 5×5 (16) → subsample →
//! 120 → 84 → classes, with tanh and average pooling as in the paper.
//!
//! The first convolution pads by 2, so a 28×28 image sees the 32×32 geometry of the original
//! (the usual PyTorch version for MNIST): 61,706 parameters for 1 channel and 10 classes.

use super::kernels::{conv2d, max_pool2d};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu, Tanh};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::table::{Table, window_out};
use super::{InputShape, LayerInfo, ModelError, check_input};

/// Settings of [`LeNet5`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeNet5Config {
    /// Padding of the first convolution (2 for 28×28 images, 0 for the original 32×32).
    pub conv1_padding: usize,
    /// ReLU instead of the original tanh.
    pub relu: bool,
    /// Max-pooling instead of the original average subsampling.
    pub max_pool: bool,
}

impl Default for LeNet5Config {
    fn default() -> Self {
        Self {
            conv1_padding: 2,
            relu: false,
            max_pool: false,
        }
    }
}

impl LeNet5Config {
    /// Layer table for `input`.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        const NAME: &str = "LeNet-5";
        check_input(NAME, input)?;
        if self.conv1_padding > 4 {
            return Err(ModelError::new(
                NAME,
                format!(
                    "the first convolution's padding must be at most 4, found {}",
                    self.conv1_padding
                ),
            ));
        }
        let act = if self.relu { "relu" } else { "tanh" };
        let pool = if self.max_pool { "max" } else { "avg" };
        let mut t = Table::new(NAME, input);
        t.conv("conv1 (5×5)", 6, 5, 1, self.conv1_padding, true)?;
        t.same(format!("conv1 {act}"));
        t.pool(format!("pool1 ({pool} 2×2)"), 2, 2, 0)?;
        t.set_block(1);
        t.conv("conv2 (5×5)", 16, 5, 1, 0, true)?;
        t.same(format!("conv2 {act}"));
        t.pool(format!("pool2 ({pool} 2×2)"), 2, 2, 0)?;
        t.flatten("flatten");
        t.set_block(2);
        t.linear(format!("fc1 (+ {act})"), 120);
        t.set_block(3);
        t.linear(format!("fc2 (+ {act})"), 84);
        t.set_block(4);
        t.linear("fc3", input.classes);
        Ok(t.finish())
    }

    /// Builds the model on `device` (call [`Self::layers`] first to validate `input`).
    pub fn init(&self, input: InputShape, device: &Device) -> LeNet5 {
        let p = self.conv1_padding;
        let side = |s: usize| {
            let s = window_out(s, 5, 1, p).unwrap_or(0) / 2;
            window_out(s, 5, 1, 0).unwrap_or(0) / 2
        };
        let features = 16 * side(input.height) * side(input.width);
        LeNet5 {
            conv1: Conv2dConfig::new([input.channels, 6], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(device),
            conv2: Conv2dConfig::new([6, 16], [5, 5]).init(device),
            fc1: LinearConfig::new(features, 120).init(device),
            fc2: LinearConfig::new(120, 84).init(device),
            fc3: LinearConfig::new(84, input.classes).init(device),
            avg_pool: (!self.max_pool)
                .then(|| AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
            max_pool: self
                .max_pool
                .then(|| MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
            relu: self.relu.then(Relu::new),
            tanh: Tanh::new(),
        }
    }
}

/// LeNet-5.
#[derive(Module, Debug)]
pub struct LeNet5 {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    avg_pool: Option<AvgPool2d>,
    max_pool: Option<MaxPool2d>,
    relu: Option<Relu>,
    tanh: Tanh,
}

impl LeNet5 {
    fn act<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.relu {
            Some(relu) => relu.forward(x),
            None => self.tanh.forward(x),
        }
    }

    fn pool(&self, x: Tensor<4>) -> Tensor<4> {
        match (&self.max_pool, &self.avg_pool) {
            (Some(pool), _) => max_pool2d(pool, x),
            (None, Some(pool)) => pool.forward(x),
            (None, None) => x,
        }
    }

    /// Logits `[batch, classes]` for images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool(self.act(conv2d(&self.conv1, images)));
        let x = self.pool(self.act(conv2d(&self.conv2, x)));
        let x: Tensor<2> = x.flatten(1, 3);
        let x = self.act(self.fc1.forward(x));
        let x = self.act(self.fc2.forward(x));
        self.fc3.forward(x)
    }

    /// The classifier.
    pub fn head(&self) -> &Linear {
        &self.fc3
    }

    /// Freezes the first `n` of conv1, conv2, fc1, fc2; fc3 stays trainable.
    pub fn freeze_first(self, n: usize) -> Self {
        let f = |i: usize, m: Linear| if n > i { m.freeze() } else { m };
        Self {
            conv1: if n > 0 {
                self.conv1.freeze()
            } else {
                self.conv1
            },
            conv2: if n > 1 {
                self.conv2.freeze()
            } else {
                self.conv2
            },
            fc1: f(2, self.fc1),
            fc2: f(3, self.fc2),
            ..self
        }
    }
}
