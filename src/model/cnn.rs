//! A configurable CNN: conv blocks (convolution → optional BatchNorm → ReLU → optional 2×2
//! pooling), then global average pooling or flattening, an optional hidden layer and the
//! classifier. Enough knobs to move from underfitting to memorising on the same data.

use super::kernels::{batch_norm_relu, conv2d, conv2d_relu, max_pool2d};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::table::Table;
use super::{InputShape, LayerInfo, ModelError, check_dropout, check_input};

/// How a conv block shrinks its feature map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// 2×2 max-pooling.
    #[default]
    Max,
    /// 2×2 average pooling.
    Avg,
    /// No pooling: the feature map keeps its size.
    None,
}

impl Pooling {
    /// Every choice, for the panel.
    pub const ALL: [Self; 3] = [Self::Max, Self::Avg, Self::None];

    /// Name for the panel.
    pub fn label(self) -> &'static str {
        match self {
            Self::Max => "max 2×2",
            Self::Avg => "average 2×2",
            Self::None => "none",
        }
    }
}

/// Settings of [`Cnn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CnnConfig {
    /// Output channels of each conv block; the number of entries is the number of blocks.
    pub channels: Vec<usize>,
    /// Side of the square convolution kernels (odd; padding keeps the size).
    pub kernel_size: usize,
    /// BatchNorm after each convolution (the convolution then has no bias).
    pub batch_norm: bool,
    /// Pooling after each block.
    pub pooling: Pooling,
    /// Pool after every this many blocks (1: after each; 2: VGG-style pairs of convolutions
    /// between poolings).
    pub pool_every: usize,
    /// Global average pooling before the head (otherwise the feature map is flattened).
    pub global_pool: bool,
    /// Width of a hidden fully connected layer before the classifier (0: none).
    pub hidden: usize,
    /// Dropout before the hidden layer and the classifier.
    pub dropout: f64,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self {
            channels: vec![32, 64],
            kernel_size: 3,
            batch_norm: true,
            pooling: Pooling::Max,
            pool_every: 1,
            global_pool: false,
            hidden: 128,
            dropout: 0.0,
        }
    }
}

impl CnnConfig {
    /// Two pairs of 3×3 convolutions (32, 32, pool, 64, 64, pool) without BatchNorm, a hidden
    /// layer of 128 and the classifier: the "deeper CNN" of the performance comparison.
    pub fn deeper() -> Self {
        Self {
            channels: vec![32, 32, 64, 64],
            batch_norm: false,
            pool_every: 2,
            ..Self::default()
        }
    }

    /// The freezing units: each conv block, the hidden layer if any, the classifier.
    pub fn blocks(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..self.channels.len())
            .map(|i| format!("blocks.{i}"))
            .collect();
        if self.hidden > 0 {
            names.push("hidden".into());
        }
        names.push("fc".into());
        names
    }

    /// Layer table for `input`.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        const NAME: &str = "CNN";
        check_input(NAME, input)?;
        check_dropout(NAME, self.dropout)?;
        if self.channels.is_empty() || self.channels.contains(&0) || self.channels.len() > 16 {
            return Err(ModelError::new(
                NAME,
                "needs 1 to 16 conv blocks of at least 1 channel each",
            ));
        }
        if self.kernel_size == 0 || self.kernel_size.is_multiple_of(2) || self.kernel_size > 15 {
            return Err(ModelError::new(
                NAME,
                format!(
                    "the kernel size must be odd and at most 15, found {}",
                    self.kernel_size
                ),
            ));
        }
        if self.pool_every == 0 || self.pool_every > 16 {
            return Err(ModelError::new(
                NAME,
                format!("pool after every 1 to 16 blocks, found {}", self.pool_every),
            ));
        }
        let mut t = Table::new(NAME, input);
        let k = self.kernel_size;
        for (i, &c) in self.channels.iter().enumerate() {
            t.set_block(i);
            t.conv(
                format!("blocks.{i}.conv ({k}×{k})"),
                c,
                k,
                1,
                k / 2,
                !self.batch_norm,
            )?;
            if self.batch_norm {
                t.batch_norm(format!("blocks.{i}.bn"));
            }
            t.same(format!("blocks.{i}.relu"));
            match self.pooling_after(i) {
                Pooling::Max => t.pool(format!("blocks.{i}.pool (max 2×2)"), 2, 2, 0)?,
                Pooling::Avg => t.pool(format!("blocks.{i}.pool (avg 2×2)"), 2, 2, 0)?,
                Pooling::None => {}
            }
        }
        if self.global_pool {
            t.global_pool("global average pool")?;
        } else {
            t.flatten("flatten");
        }
        let mut block = self.channels.len();
        if self.hidden > 0 {
            t.set_block(block);
            t.linear("hidden (+ ReLU)", self.hidden);
            block += 1;
        }
        t.set_block(block);
        t.linear("fc", input.classes);
        Ok(t.finish())
    }

    /// The pooling that ends block `i`.
    fn pooling_after(&self, i: usize) -> Pooling {
        if (i + 1).is_multiple_of(self.pool_every.max(1)) {
            self.pooling
        } else {
            Pooling::None
        }
    }

    /// Builds the model on `device` (call [`Self::layers`] first to validate `input`).
    pub fn init(&self, input: InputShape, device: &Device) -> Cnn {
        let k = self.kernel_size;
        let mut in_c = input.channels;
        let (mut h, mut w) = (input.height, input.width);
        let mut blocks = Vec::with_capacity(self.channels.len());
        for (i, &c) in self.channels.iter().enumerate() {
            let pad = k / 2;
            let pooling = self.pooling_after(i);
            blocks.push(ConvBlock {
                conv: Conv2dConfig::new([in_c, c], [k, k])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .with_bias(!self.batch_norm)
                    .init(device),
                bn: self
                    .batch_norm
                    .then(|| BatchNormConfig::new(c).init(device)),
                max_pool: (pooling == Pooling::Max)
                    .then(|| MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
                avg_pool: (pooling == Pooling::Avg)
                    .then(|| AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
                relu: Relu::new(),
            });
            in_c = c;
            if pooling != Pooling::None {
                (h, w) = (h / 2, w / 2);
            }
        }
        let features = if self.global_pool { in_c } else { in_c * h * w };
        let (hidden, head_in) = if self.hidden > 0 {
            (
                Some(LinearConfig::new(features, self.hidden).init(device)),
                self.hidden,
            )
        } else {
            (None, features)
        };
        Cnn {
            blocks,
            global_pool: self
                .global_pool
                .then(|| AdaptiveAvgPool2dConfig::new([1, 1]).init()),
            hidden,
            dropout: DropoutConfig::new(self.dropout).init(),
            relu: Relu::new(),
            fc: LinearConfig::new(head_in, input.classes).init(device),
        }
    }
}

/// Convolution → BatchNorm → ReLU → pooling.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    bn: Option<BatchNorm>,
    max_pool: Option<MaxPool2d>,
    avg_pool: Option<AvgPool2d>,
    relu: Relu,
}

impl ConvBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = match &self.bn {
            Some(bn) => batch_norm_relu(bn, conv2d(&self.conv, x)),
            None => conv2d_relu(&self.conv, x),
        };
        if let Some(pool) = &self.max_pool {
            x = max_pool2d(pool, x);
        }
        if let Some(pool) = &self.avg_pool {
            x = pool.forward(x);
        }
        x
    }
}

/// The configurable CNN.
#[derive(Module, Debug)]
pub struct Cnn {
    blocks: Vec<ConvBlock>,
    global_pool: Option<AdaptiveAvgPool2d>,
    hidden: Option<Linear>,
    dropout: Dropout,
    relu: Relu,
    fc: Linear,
}

impl Cnn {
    /// Logits `[batch, classes]` for images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for block in &self.blocks {
            x = block.forward(x);
        }
        if let Some(pool) = &self.global_pool {
            x = pool.forward(x);
        }
        let mut x: Tensor<2> = x.flatten(1, 3);
        if let Some(hidden) = &self.hidden {
            x = self.relu.forward(hidden.forward(self.dropout.forward(x)));
        }
        self.fc.forward(self.dropout.forward(x))
    }

    /// The classifier.
    pub fn head(&self) -> &Linear {
        &self.fc
    }

    /// Freezes the first `n` units of [`CnnConfig::blocks`] (conv blocks, then the hidden
    /// layer); the classifier stays trainable.
    pub fn freeze_first(self, n: usize) -> Self {
        let count = self.blocks.len();
        let blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(i, b)| if i < n { b.freeze() } else { b })
            .collect();
        let hidden = self.hidden.map(|h| if n > count { h.freeze() } else { h });
        Self {
            blocks,
            hidden,
            ..self
        }
    }
}
