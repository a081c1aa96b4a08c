//! ResNets in torchvision's layout and parameter names: `conv1`, `bn1`, `layer1`…`layer4` (each
//! a list of blocks) and `fc`. A basic block has `conv1`, `bn1`, `conv2`, `bn2`; a bottleneck
//! block adds `conv3`, `bn3`; where the shape changes, a block has `downsample.0` (1×1
//! convolution) and `downsample.1` (BatchNorm). A torchvision state dict therefore loads by
//! name, BatchNorm running statistics included.
//!
//! For 3 channels and 1,000 classes: [`ResNet18Config`] (basic blocks, 2-2-2-2) has 11,689,512
//! parameters, [`ResNet34Config`] (basic blocks, 3-4-6-3) 21,797,672 and [`ResNet50Config`]
//! (bottleneck blocks, 3-4-6-3) 25,557,032. All three have the 7×7 stride-2 stem with
//! max-pooling and 64–512 channels in the stages (four times that leaving a bottleneck block).
//! The CIFAR-style variant for small images lives in [`super::resnet_small`] and uses the same
//! modules.

use super::kernels::{add_relu, batch_norm, batch_norm_relu, conv2d, max_pool2d};
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

/// Settings of torchvision's ResNet-34.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResNet34Config {
    /// Channels of the stem and the first stage (64 in torchvision; the stages double it).
    /// Only the default loads torchvision's weights; smaller widths keep the layout and names.
    pub width: usize,
}

impl Default for ResNet34Config {
    fn default() -> Self {
        Self { width: 64 }
    }
}

/// Settings of torchvision's ResNet-50.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResNet50Config {
    /// Channels of the stem and of the inner convolutions of the first stage (64 in
    /// torchvision; the stages double it, and a block's output has four times as many). Only
    /// the default loads torchvision's weights; smaller widths keep the layout and names.
    pub width: usize,
}

impl Default for ResNet50Config {
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

/// The residual block a ResNet is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// Two 3×3 convolutions; the output has the stage's width.
    Basic,
    /// 1×1, 3×3 (with the stage's stride, as in torchvision) and 1×1 convolutions; the output
    /// has [`BOTTLENECK_EXPANSION`] times the stage's width.
    Bottleneck,
}

/// How many times more channels a bottleneck block puts out than its inner convolutions have.
const BOTTLENECK_EXPANSION: usize = 4;

impl BlockKind {
    /// Output channels of a block of this kind in a stage of `planes`.
    fn out_channels(self, planes: usize) -> usize {
        match self {
            Self::Basic => planes,
            Self::Bottleneck => BOTTLENECK_EXPANSION * planes,
        }
    }
}

/// A ResNet's shape: stem, then stages of residual blocks.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub name: &'static str,
    pub stem: Stem,
    /// The kind of every block.
    pub block: BlockKind,
    /// Width of each stage (at most 4): its output channels for basic blocks, its inner
    /// channels for bottleneck blocks.
    pub widths: Vec<usize>,
    /// Blocks per stage.
    pub depths: Vec<usize>,
}

impl Layout {
    /// torchvision's ImageNet ResNet: 7×7 stride-2 stem with max-pooling, four stages whose
    /// width doubles from `width`.
    fn imagenet(name: &'static str, width: usize, block: BlockKind, depths: [usize; 4]) -> Self {
        Self {
            name,
            stem: Stem {
                conv: (7, 2, 3),
                max_pool: true,
            },
            block,
            widths: vec![width, 2 * width, 4 * width, 8 * width],
            depths: depths.to_vec(),
        }
    }
}

impl ResNet18Config {
    fn layout(&self) -> Layout {
        Layout::imagenet("ResNet-18", self.width, BlockKind::Basic, [2, 2, 2, 2])
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

impl ResNet34Config {
    fn layout(&self) -> Layout {
        Layout::imagenet("ResNet-34", self.width, BlockKind::Basic, [3, 4, 6, 3])
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

impl ResNet50Config {
    fn layout(&self) -> Layout {
        Layout::imagenet("ResNet-50", self.width, BlockKind::Bottleneck, [3, 4, 6, 3])
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

/// Size of one residual block in a layer table.
struct BlockCost {
    params: usize,
    macs: u64,
    /// Values kept for the backward pass.
    activations: u64,
}

impl BlockKind {
    /// Parameters, multiply-adds and stored values of a block of a stage of width `planes`
    /// taking `in_c` channels of `in_size` pixels and giving `out_size` pixels per channel.
    fn cost(
        self,
        in_c: usize,
        planes: usize,
        in_size: u64,
        out_size: u64,
        downsample: bool,
    ) -> BlockCost {
        let (in_w, p) = (in_c as u64, planes as u64);
        let out_c = self.out_channels(planes);
        let out = out_c as u64 * out_size;
        let mut cost = match self {
            // conv1, bn1, relu, conv2, bn2, sum + relu.
            Self::Basic => BlockCost {
                params: in_c * planes * 9 + planes * planes * 9 + 4 * planes,
                macs: out * in_w * 9 + out * p * 9,
                activations: 6 * out,
            },
            // conv1, bn1, relu at the input's size; conv2, bn2, relu at the output's; conv3,
            // bn3, sum + relu with the expanded channels.
            Self::Bottleneck => BlockCost {
                params: in_c * planes
                    + planes * planes * 9
                    + planes * out_c
                    + 4 * planes
                    + 2 * out_c,
                macs: p * in_size * in_w + p * out_size * p * 9 + out * p,
                activations: 3 * p * in_size + 3 * p * out_size + 3 * out,
            },
        };
        // The shortcut's 1×1 convolution and BatchNorm.
        if downsample {
            cost.params += in_c * out_c + 2 * out_c;
            cost.macs += out * in_w;
            cost.activations += 2 * out;
        }
        cost
    }

    /// Its name in the layer table.
    fn label(self) -> &'static str {
        match self {
            Self::Basic => "basic block",
            Self::Bottleneck => "bottleneck",
        }
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
                let out_c = self.block.out_channels(planes);
                let downsample = stride != 1 || in_c != out_c;
                let cost =
                    self.block
                        .cost(in_c, planes, (h * w) as u64, (oh * ow) as u64, downsample);
                let kind = self.block.label();
                let label = if downsample {
                    format!("{name} ({kind}, downsample)")
                } else {
                    format!("{name} ({kind})")
                };
                t.composite(
                    label,
                    vec![out_c, oh, ow],
                    cost.params,
                    cost.macs,
                    cost.activations,
                );
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
        let mut stages: Vec<Vec<Block>> = Vec::with_capacity(4);
        for (stage, (&planes, &depth)) in self.widths.iter().zip(&self.depths).enumerate() {
            let mut blocks = Vec::with_capacity(depth);
            for b in 0..depth {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(match self.block {
                    BlockKind::Basic => Block::Basic(BasicBlock::new(in_c, planes, stride, device)),
                    BlockKind::Bottleneck => {
                        Block::Bottleneck(Bottleneck::new(in_c, planes, stride, device))
                    }
                });
                in_c = self.block.out_channels(planes);
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

/// The shortcut of a block that changes the shape: a strided 1×1 convolution and BatchNorm
/// (torchvision's `downsample.0` and `downsample.1`), or nothing where the shape stays.
fn downsample(
    in_c: usize,
    out_c: usize,
    stride: usize,
    device: &Device,
) -> Option<(Conv2d, BatchNorm)> {
    (stride != 1 || in_c != out_c).then(|| {
        (
            conv(in_c, out_c, 1, stride, 0, device),
            BatchNormConfig::new(out_c).init(device),
        )
    })
}

/// The shortcut's output: `x` itself, or `x` through the downsampling convolution.
fn shortcut(downsample: &Option<(Conv2d, BatchNorm)>, x: Tensor<4>) -> Tensor<4> {
    match downsample {
        Some((conv, bn)) => batch_norm(bn, conv2d(conv, x)),
        None => x,
    }
}

/// Two 3×3 convolutions with BatchNorm and a shortcut: `relu(bn2(conv2(relu(bn1(conv1(x))))) +
/// shortcut(x))`.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
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
            conv2: conv(planes, planes, 3, 1, 1, device),
            bn2: BatchNormConfig::new(planes).init(device),
            downsample: downsample(in_c, planes, stride, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = shortcut(&self.downsample, x.clone());
        let out = batch_norm_relu(&self.bn1, conv2d(&self.conv1, x));
        let out = batch_norm(&self.bn2, conv2d(&self.conv2, out));
        add_relu(out, identity)
    }
}

/// torchvision's bottleneck block (ResNet v1.5, the stride on the 3×3 convolution):
/// `relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))` with 1×1, 3×3 and
/// 1×1 convolutions, the last one widening to four times the inner channels.
#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    /// 1×1 convolution and BatchNorm where the shape changes (torchvision's `downsample.0` and
    /// `downsample.1`).
    downsample: Option<(Conv2d, BatchNorm)>,
}

impl Bottleneck {
    fn new(in_c: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let out_c = BlockKind::Bottleneck.out_channels(planes);
        Self {
            conv1: conv(in_c, planes, 1, 1, 0, device),
            bn1: BatchNormConfig::new(planes).init(device),
            conv2: conv(planes, planes, 3, stride, 1, device),
            bn2: BatchNormConfig::new(planes).init(device),
            conv3: conv(planes, out_c, 1, 1, 0, device),
            bn3: BatchNormConfig::new(out_c).init(device),
            downsample: downsample(in_c, out_c, stride, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = shortcut(&self.downsample, x.clone());
        let out = batch_norm_relu(&self.bn1, conv2d(&self.conv1, x));
        let out = batch_norm_relu(&self.bn2, conv2d(&self.conv2, out));
        let out = batch_norm(&self.bn3, conv2d(&self.conv3, out));
        add_relu(out, identity)
    }
}

/// One residual block of a ResNet. The variant is not part of the parameter names
/// (`layer1.0.conv1.weight` either way). The variants differ in size, but a network holds a few
/// dozen blocks at most, so boxing the larger one would save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block {
    /// Two 3×3 convolutions (ResNet-18, ResNet-34, ResNet-small).
    Basic(BasicBlock),
    /// 1×1, 3×3 and 1×1 convolutions (ResNet-50).
    Bottleneck(Bottleneck),
}

impl Block {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Basic(b) => b.forward(x),
            Self::Bottleneck(b) => b.forward(x),
        }
    }
}

/// A ResNet (ResNet-18, -34, -50 or ResNet-small).
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    relu: Relu,
    maxpool: Option<MaxPool2d>,
    layer1: Vec<Block>,
    layer2: Vec<Block>,
    layer3: Vec<Block>,
    layer4: Vec<Block>,
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
        let stage = |i: usize, blocks: Vec<Block>| {
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
