//! ResNet with basic blocks, in torchvision's layout and parameter names: `conv1`, `bn1`,
//! `layer1`…`layer4` (each a list of blocks with `conv1`, `bn1`, `conv2`, `bn2` and, where the
//! shape changes, `downsample.0` (1×1 convolution) and `downsample.1` (BatchNorm)), `fc`. A
//! torchvision state dict therefore loads by name, BatchNorm running statistics included.
//!
//! [`ResNet18Config`] is torchvision's `resnet18` (7×7 stride-2 stem, max-pool, four stages of
//! two blocks, 64–512 channels): 11,689,512 parameters for 3 channels and 1,000 classes. The
//! CIFAR-style variant for small images lives in [`super::resnet_small`] and uses the same
//! modules.

use super::kernels::{batch_norm, batch_norm_relu, conv2d, max_pool2d};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::table::{Table, window_out};
use super::{InputShape, LayerInfo, ModelError, check_input};

/// Settings of torchvision's ResNet-18.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResNet18Config {
    /// Channels of the stem and the first stage (64 in torchvision; the stages double it).
    /// Only the default loads torchvision's weights; smaller widths keep the layout and names.
    pub width: usize,
}

impl Default for ResNet18Config {
    fn default() -> Self {
        Self { width: 64 }
    }
}

/// The first layers of a ResNet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stem {
    /// Kernel, stride and padding of `conv1`.
    pub conv: (usize, usize, usize),
    /// A 3×3 stride-2 max-pool after it (ImageNet ResNets).
    pub max_pool: bool,
}

/// A ResNet's shape: stem, then stages of basic blocks.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub name: &'static str,
    pub stem: Stem,
    /// Output channels of each stage (at most 4).
    pub widths: Vec<usize>,
    /// Blocks per stage.
    pub depths: Vec<usize>,
}

impl ResNet18Config {
    fn layout(&self) -> Layout {
        let w = self.width;
        Layout {
            name: "ResNet-18",
            stem: Stem {
                conv: (7, 2, 3),
                max_pool: true,
            },
            widths: vec![w, 2 * w, 4 * w, 8 * w],
            depths: vec![2, 2, 2, 2],
        }
    }

    /// Layer table for `input`.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        self.layout().layers(input)
    }

    /// Builds the model on `device` (call [`Self::layers`] first to validate `input`).
    pub fn init(&self, input: InputShape, device: &Device) -> ResNet {
        self.layout().init(input, device)
    }
}

impl Layout {
    /// Layer table: the stem's layers, one row per residual block, pooling and classifier.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        check_input(self.name, input)?;
        let width = self.widths.first().copied().unwrap_or(0);
        if width == 0 || width > 1024 || self.widths.len() > 4 {
            return Err(ModelError::new(
                self.name,
                format!("the width must be between 1 and 1024, found {width}"),
            ));
        }
        if self.depths.iter().any(|&d| d == 0 || d > 64) {
            return Err(ModelError::new(
                self.name,
                "every stage needs between 1 and 64 blocks",
            ));
        }
        let mut t = Table::new(self.name, input);
        let (k, s, p) = self.stem.conv;
        t.conv(
            format!("conv1 ({k}×{k}, stride {s})"),
            width,
            k,
            s,
            p,
            false,
        )?;
        t.batch_norm("bn1");
        t.same("relu");
        if self.stem.max_pool {
            t.pool("maxpool (3×3, stride 2)", 3, 2, 1)?;
        }
        for (stage, (&planes, &depth)) in self.widths.iter().zip(&self.depths).enumerate() {
            t.set_block(stage + 1);
            for b in 0..depth {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                let in_c = t.channels();
                let (h, w) = t.spatial();
                let name = format!("layer{}.{b}", stage + 1);
                let (Some(oh), Some(ow)) =
                    (window_out(h, 3, stride, 1), window_out(w, 3, stride, 1))
                else {
                    return Err(t.error(format!("{name}: the feature map is already {h}×{w}")));
                };
                let out = (planes * oh * ow) as u64;
                let mut params = in_c * planes * 9 + planes * planes * 9 + 4 * planes;
                let mut macs = out * (in_c as u64) * 9 + out * (planes as u64) * 9;
                // conv1, bn1, relu, conv2, bn2, sum + relu; the shortcut's conv and bn.
                let mut activations = 6 * out;
                let downsample = stride != 1 || in_c != planes;
                if downsample {
                    params += in_c * planes + 2 * planes;
                    macs += out * in_c as u64;
                    activations += 2 * out;
                }
                let label = if downsample {
                    format!("{name} (basic block, downsample)")
                } else {
                    format!("{name} (basic block)")
                };
                t.composite(label, vec![planes, oh, ow], params, macs, activations);
            }
        }
        t.global_pool("avgpool (global)")?;
        t.set_block(self.widths.len() + 1);
        t.linear("fc", input.classes);
        Ok(t.finish())
    }

    /// Builds the network.
    pub fn init(&self, input: InputShape, device: &Device) -> ResNet {
        let width = self.widths.first().copied().unwrap_or(1);
        let (k, s, p) = self.stem.conv;
        let mut in_c = width;
        let mut stages: Vec<Vec<BasicBlock>> = Vec::with_capacity(4);
        for (stage, (&planes, &depth)) in self.widths.iter().zip(&self.depths).enumerate() {
            let mut blocks = Vec::with_capacity(depth);
            for b in 0..depth {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(in_c, planes, stride, device));
                in_c = planes;
            }
            stages.push(blocks);
        }
        stages.resize_with(4, Vec::new);
        let mut stages = stages.into_iter();
        let mut next = || stages.next().unwrap_or_default();
        ResNet {
            conv1: conv(input.channels, width, k, s, p, device),
            bn1: BatchNormConfig::new(width).init(device),
            relu: Relu::new(),
            maxpool: self.stem.max_pool.then(|| {
                MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init()
            }),
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(in_c, input.classes).init(device),
        }
    }
}

/// A convolution without bias, as in every ResNet layer.
fn conv(
    in_c: usize,
    out_c: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([in_c, out_c], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// Two 3×3 convolutions with BatchNorm and a shortcut: `relu(bn2(conv2(relu(bn1(conv1(x))))) +
/// shortcut(x))`.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    relu: Relu,
    conv2: Conv2d,
    bn2: BatchNorm,
    /// 1×1 convolution and BatchNorm where the shape changes (torchvision's `downsample.0` and
    /// `downsample.1`).
    downsample: Option<(Conv2d, BatchNorm)>,
}

impl BasicBlock {
    fn new(in_c: usize, planes: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv1: conv(in_c, planes, 3, stride, 1, device),
            bn1: BatchNormConfig::new(planes).init(device),
            relu: Relu::new(),
            conv2: conv(planes, planes, 3, 1, 1, device),
            bn2: BatchNormConfig::new(planes).init(device),
            downsample: (stride != 1 || in_c != planes).then(|| {
                (
                    conv(in_c, planes, 1, stride, 0, device),
                    BatchNormConfig::new(planes).init(device),
                )
            }),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some((conv, bn)) => batch_norm(bn, conv2d(conv, x.clone())),
            None => x.clone(),
        };
        let out = batch_norm_relu(&self.bn1, conv2d(&self.conv1, x));
        let out = batch_norm(&self.bn2, conv2d(&self.conv2, out));
        self.relu.forward(out + identity)
    }
}

/// A ResNet of basic blocks (ResNet-18 or ResNet-small).
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    relu: Relu,
    maxpool: Option<MaxPool2d>,
    layer1: Vec<BasicBlock>,
    layer2: Vec<BasicBlock>,
    layer3: Vec<BasicBlock>,
    layer4: Vec<BasicBlock>,
    avgpool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl ResNet {
    /// Logits `[batch, classes]` for images `[batch, channels, height, width]`: the classifier
    /// applied to [`Self::features`].
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.features(images))
    }

    /// What the classifier sees: the globally pooled output of the last stage, `[batch,
    /// channels]`. Each image's features are computed on their own (the kernels work image by
    /// image, and a frozen backbone's BatchNorm uses its running statistics), so they do not
    /// depend on the other images of the batch.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = batch_norm_relu(&self.bn1, conv2d(&self.conv1, images));
        if let Some(pool) = &self.maxpool {
            x = max_pool2d(pool, x);
        }
        for block in self
            .layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
        {
            x = block.forward(x);
        }
        self.avgpool.forward(x).flatten(1, 3)
    }

    /// The classifier.
    pub fn head(&self) -> &Linear {
        &self.fc
    }

    /// Freezes the first `n` of: the stem (`conv1`, `bn1`), `layer1`, … `layer4`; `fc` stays
    /// trainable.
    pub fn freeze_first(self, n: usize) -> Self {
        let stage = |i: usize, blocks: Vec<BasicBlock>| {
            if n > i {
                blocks.into_iter().map(Module::freeze).collect()
            } else {
                blocks
            }
        };
        Self {
            conv1: if n > 0 {
                self.conv1.freeze()
            } else {
                self.conv1
            },
            bn1: if n > 0 { self.bn1.freeze() } else { self.bn1 },
            layer1: stage(1, self.layer1),
            layer2: stage(2, self.layer2),
            layer3: stage(3, self.layer3),
            layer4: stage(4, self.layer4),
            ..self
        }
    }
}
