//! A class-conditional GAN sized to the images: a DCGAN-style generator (noise and class in, a
//! dense layer to a small grid, then ×2 nearest upsampling + 3×3 convolution + batch norm + ReLU
//! stages, a 3×3 convolution and tanh out) and a projection discriminator (3×3 convolution, then
//! stride-2 4×4 convolutions doubling the channels, leaky ReLU, sum pooling, a linear output plus
//! the inner product of a class embedding with the pooled features) whose every weight is
//! spectrally normalised.
//!
//! [`diff_augment`] applies differentiable augmentation (colour, translation, cutout) to the real
//! and generated images the discriminator sees, so it cannot memorise a few dozen images.
//!
//! Convolutions go through the CPU kernels of [`super::kernels`] on the flex backend.

use std::sync::{Arc, Mutex, PoisonError};

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::tanh;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::kernels::{Activation, batch_norm_relu, conv2d, conv2d_weighted, upsample2_conv2d};
use super::{InputShape, ModelError};

/// Largest side of the generator's first grid: the images are reached by doubling from it.
const MAX_BASE: usize = 8;
/// The slope of the discriminator's leaky ReLUs.
const LEAK: f32 = 0.2;

/// The GAN's size settings, saved with its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GanArch {
    /// Length of the noise vector.
    pub z_dim: usize,
    /// Channels of the discriminator's second layer; the generator's last stage has half, and
    /// each stage towards the small grid doubles them (at most 512).
    pub width: usize,
}

impl Default for GanArch {
    fn default() -> Self {
        Self {
            z_dim: 64,
            width: 64,
        }
    }
}

impl GanArch {
    const NAME: &'static str = "GAN";

    /// Checks that the GAN can take `input` (8 to 256 pixels a side, 1 or 3 channels, at least
    /// two classes) and that its sizes are sensible.
    pub fn validate(&self, input: InputShape) -> Result<(), ModelError> {
        let side = input.height.max(input.width);
        if input.height < 8 || input.width < 8 || side > 256 {
            return Err(ModelError::new(
                Self::NAME,
                format!(
                    "images must be 8 to 256 pixels a side, found {}×{}",
                    input.width, input.height
                ),
            ));
        }
        if input.classes < 2 {
            return Err(ModelError::new(
                Self::NAME,
                format!(
                    "a class-conditional GAN needs at least 2 classes, found {}",
                    input.classes
                ),
            ));
        }
        if !(1..=1024).contains(&self.z_dim) {
            return Err(ModelError::new(
                Self::NAME,
                format!("the noise length must be 1 to 1024, found {}", self.z_dim),
            ));
        }
        if !(8..=512).contains(&self.width) || !self.width.is_multiple_of(4) {
            return Err(ModelError::new(
                Self::NAME,
                format!(
                    "the width must be a multiple of 4 from 8 to 512, found {}",
                    self.width
                ),
            ));
        }
        Ok(())
    }

    /// How many times the generator doubles its grid to reach `input`'s size.
    pub fn doublings(input: InputShape) -> usize {
        let side = input.height.max(input.width);
        let mut k = 0;
        while side.div_ceil(1 << k) > MAX_BASE {
            k += 1;
        }
        k
    }

    /// The generator's channels: its first grid's, then each stage's.
    fn generator_channels(&self, input: InputShape) -> (usize, Vec<usize>) {
        let k = Self::doublings(input);
        let first = (self.width << k.saturating_sub(1)).min(512);
        let stages = (1..=k).map(|i| (first >> i).max(8)).collect();
        (first, stages)
    }

    /// The discriminator's channels, first layer then each stride-2 layer.
    fn discriminator_channels(&self, input: InputShape) -> Vec<usize> {
        let downs = Self::doublings(input).max(1);
        let mut channels = vec![self.width / 2];
        for i in 0..downs {
            channels.push((self.width << i).min(512));
        }
        channels
    }

    /// Builds both networks on `device` with weights drawn from `seed` (call
    /// [`Self::validate`] first).
    pub fn init(
        &self,
        input: InputShape,
        device: &Device,
        seed: u64,
    ) -> (Generator, Discriminator) {
        super::seeded(device, seed, || {
            (
                self.init_generator(input, device),
                self.init_discriminator(input, device),
            )
        })
    }

    fn init_generator(&self, input: InputShape, device: &Device) -> Generator {
        let k = Self::doublings(input);
        let base = [input.height.div_ceil(1 << k), input.width.div_ceil(1 << k)];
        let (first, stages) = self.generator_channels(input);
        let conv3 = |cin: usize, cout: usize| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let mut cin = first;
        let mut ups = Vec::with_capacity(stages.len());
        for &cout in &stages {
            ups.push(UpStage {
                conv: conv3(cin, cout),
                bn: BatchNormConfig::new(cout).init(device),
            });
            cin = cout;
        }
        Generator {
            fc: LinearConfig::new(self.z_dim + input.classes, first * base[0] * base[1])
                .init(device),
            bn0: BatchNormConfig::new(first).init(device),
            stages: ups,
            out: conv3(cin, input.channels),
            base,
            size: [input.height, input.width],
            first,
            classes: input.classes,
            z_dim: self.z_dim,
        }
    }

    fn init_discriminator(&self, input: InputShape, device: &Device) -> Discriminator {
        let channels = self.discriminator_channels(input);
        let mut convs = vec![SnConv::new(input.channels, channels[0], 3, 1, 1, device)];
        for pair in channels.windows(2) {
            convs.push(SnConv::new(pair[0], pair[1], 4, 2, 1, device));
        }
        let last = channels.last().copied().unwrap_or(1);
        let fc = LinearConfig::new(last, 1).init(device);
        let embed = LinearConfig::new(input.classes, last)
            .with_bias(false)
            .init(device);
        Discriminator {
            convs,
            fc_weight: fc.weight,
            fc_bias: fc
                .bias
                .unwrap_or_else(|| Param::from_tensor(Tensor::zeros([1], device))),
            embed: embed.weight,
        }
    }

    /// Multiply-adds of one generator and one discriminator forward pass for one image.
    pub fn multiply_adds(&self, input: InputShape) -> (u64, u64) {
        let k = Self::doublings(input);
        let base = [input.height.div_ceil(1 << k), input.width.div_ceil(1 << k)];
        let (first, stages) = self.generator_channels(input);
        let mut g = ((self.z_dim + input.classes) * first * base[0] * base[1]) as u64;
        let (mut h, mut w, mut cin) = (base[0], base[1], first);
        for &cout in &stages {
            h *= 2;
            w *= 2;
            g += (cin * cout * 9 * h * w) as u64;
            cin = cout;
        }
        g += (cin * input.channels * 9 * h * w) as u64;
        let channels = self.discriminator_channels(input);
        let (mut h, mut w) = (input.height, input.width);
        let mut d = (input.channels * channels[0] * 9 * h * w) as u64;
        for pair in channels.windows(2) {
            h = h.div_ceil(2);
            w = w.div_ceil(2);
            d += (pair[0] * pair[1] * 16 * h * w) as u64;
        }
        (g, d)
    }
}

/// One generator stage: ×2 upsampling, 3×3 convolution, batch norm, ReLU.
#[derive(Module, Debug)]
pub struct UpStage {
    conv: Conv2d,
    bn: BatchNorm,
}

/// The generator: noise and a one-hot class in, images in [-1, 1] out.
#[derive(Module, Debug)]
pub struct Generator {
    fc: Linear,
    bn0: BatchNorm,
    stages: Vec<UpStage>,
    out: Conv2d,
    #[module(skip)]
    base: [usize; 2],
    #[module(skip)]
    size: [usize; 2],
    #[module(skip)]
    first: usize,
    #[module(skip)]
    classes: usize,
    #[module(skip)]
    z_dim: usize,
}

impl Generator {
    /// Images `[batch, channels, height, width]` in [-1, 1] for noise `[batch, z_dim]` and
    /// one-hot classes `[batch, classes]`.
    pub fn forward(&self, z: Tensor<2>, onehot: Tensor<2>) -> Tensor<4> {
        let b = z.dims()[0];
        let x = self.fc.forward(Tensor::cat(vec![z, onehot], 1));
        let x = x.reshape([b, self.first, self.base[0], self.base[1]]);
        let mut x = batch_norm_relu(&self.bn0, x);
        for stage in &self.stages {
            x = upsample2_conv2d(&stage.conv, x);
            x = batch_norm_relu(&stage.bn, x);
        }
        let x = tanh(conv2d(&self.out, x));
        let [_, c, h, w] = x.dims();
        let [th, tw] = self.size;
        if (h, w) == (th, tw) {
            x
        } else {
            // The doubled grid can overshoot an odd size: keep its centre.
            let (top, left) = ((h - th) / 2, (w - tw) / 2);
            x.slice([0..b, 0..c, top..top + th, left..left + tw])
        }
    }

    /// Length of the noise vector.
    pub fn z_dim(&self) -> usize {
        self.z_dim
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }
}

/// The last power-iteration estimate of a weight's leading left singular vector, kept between
/// steps (not saved: a loaded discriminator starts it again with a few iterations).
#[derive(Clone, Debug, Default)]
pub struct PowerVector(Arc<Mutex<Option<Tensor<2>>>>);

/// A convolution whose weight is divided by its largest singular value, followed by a leaky
/// ReLU (fused into the convolution on the CPU kernels).
#[derive(Module, Debug)]
pub struct SnConv {
    weight: Param<Tensor<4>>,
    bias: Param<Tensor<1>>,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    pad: usize,
    #[module(skip)]
    u: PowerVector,
}

impl SnConv {
    fn new(
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        device: &Device,
    ) -> Self {
        let conv = Conv2dConfig::new([cin, cout], [kernel, kernel]).init(device);
        Self {
            weight: conv.weight,
            bias: conv
                .bias
                .unwrap_or_else(|| Param::from_tensor(Tensor::zeros([cout], device))),
            stride,
            pad,
            u: PowerVector::default(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let weight = spectral_normalise(self.weight.val(), &self.u);
        let p = self.pad;
        conv2d_weighted(
            x,
            weight,
            Some(self.bias.val()),
            [self.stride, self.stride],
            [p, p, p, p],
            Activation::LeakyRelu(LEAK),
        )
    }
}

/// `weight / σ(weight)`, σ the largest singular value of the weight as a `[out, in·kh·kw]`
/// matrix, estimated by one power iteration per call from the vector kept in `u` (ten on the
/// first call). Gradients flow through σ as well as the weight.
fn spectral_normalise(weight: Tensor<4>, u: &PowerVector) -> Tensor<4> {
    let [o, i, kh, kw] = weight.dims();
    let matrix = weight.clone().reshape([o, i * kh * kw]);
    let fixed = matrix.clone().detach();
    let mut kept = u.0.lock().unwrap_or_else(PoisonError::into_inner);
    let (mut left, iterations) = match kept.as_ref() {
        Some(u) => (u.clone(), 1),
        None => (Tensor::<2>::ones([1, o], &weight.device()), 10),
    };
    let mut right = unit(left.clone().matmul(fixed.clone()));
    for _ in 0..iterations {
        right = unit(left.matmul(fixed.clone()));
        left = unit(right.clone().matmul(fixed.clone().transpose()));
    }
    let sigma = left.clone().matmul(matrix).matmul(right.transpose());
    *kept = Some(left.detach());
    weight / sigma.reshape([1, 1, 1, 1])
}

/// A row vector scaled to unit length.
fn unit(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum().sqrt().add_scalar(1e-12);
    x / norm.reshape([1, 1])
}

/// The projection discriminator: a realness score per image, given its class.
#[derive(Module, Debug)]
pub struct Discriminator {
    convs: Vec<SnConv>,
    fc_weight: Param<Tensor<2>>,
    fc_bias: Param<Tensor<1>>,
    embed: Param<Tensor<2>>,
}

impl Discriminator {
    /// Scores `[batch]` for images `[batch, channels, height, width]` and one-hot classes.
    pub fn forward(&self, x: Tensor<4>, onehot: Tensor<2>) -> Tensor<1> {
        let b = x.dims()[0];
        let mut h = x;
        for conv in &self.convs {
            h = conv.forward(h);
        }
        let [_, c, _, _] = h.dims();
        let features = h.sum_dim(3).sum_dim(2).reshape([b, c]);
        // A one-column weight's spectral norm is its length.
        let w = self.fc_weight.val();
        let w = w.clone()
            / w.powf_scalar(2.0)
                .sum()
                .sqrt()
                .add_scalar(1e-12)
                .reshape([1, 1]);
        let linear = features.clone().matmul(w).reshape([b]) + self.fc_bias.val();
        let projection = (onehot.matmul(self.embed.val()) * features)
            .sum_dim(1)
            .reshape([b]);
        linear + projection
    }
}

/// Which differentiable augmentations the discriminator's inputs get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffAugment {
    /// On for small datasets (under [`DiffAugment::AUTO_BELOW`] training images), else off.
    Auto,
    /// Never.
    Off,
    /// Brightness, saturation (colour images) and contrast; translation by up to 1/8 of the
    /// side; a cutout of half the side.
    On,
}

impl DiffAugment {
    /// Training images below which `auto` augments.
    pub const AUTO_BELOW: usize = 2000;

    /// Whether to augment with this many training images.
    pub fn active(self, train_images: usize) -> bool {
        match self {
            Self::Auto => train_images < Self::AUTO_BELOW,
            Self::Off => false,
            Self::On => true,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Off => "off",
            Self::On => "on",
        }
    }
}

/// Differentiable augmentation of images in [-1, 1]: every operation is a sum, product or
/// gather of the input, so gradients reach the generator through it. Each image draws its own
/// brightness, saturation and contrast change, shift and cutout from `rng`.
pub fn diff_augment(x: Tensor<4>, rng: &mut impl Rng) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let per_image =
        |values: Vec<f32>| Tensor::<4>::from_data(TensorData::new(values, [b, 1, 1, 1]), &device);
    // Brightness: add U(-0.5, 0.5).
    let shift: Vec<f32> = (0..b).map(|_| rng.random::<f32>() - 0.5).collect();
    let mut x = x + per_image(shift);
    // Saturation: scale the distance from the grey level by U(0, 2).
    if c == 3 {
        let scale: Vec<f32> = (0..b).map(|_| rng.random::<f32>() * 2.0).collect();
        let grey = x.clone().mean_dim(1);
        x = (x - grey.clone()) * per_image(scale) + grey;
    }
    // Contrast: scale the distance from the image's mean by U(0.5, 1.5).
    let scale: Vec<f32> = (0..b).map(|_| rng.random::<f32>() + 0.5).collect();
    let mean = x.clone().mean_dim(3).mean_dim(2).mean_dim(1);
    x = (x - mean.clone()) * per_image(scale) + mean;
    // Translation by up to 1/8 of each side, zeros coming in; then a cutout of half the side.
    let (sy, sx) = ((h / 8) as i64, (w / 8) as i64);
    let (ch, cw) = (h.div_ceil(2), w.div_ceil(2));
    let mut source = Vec::with_capacity(b * c * h * w);
    let mut keep = Vec::with_capacity(b * h * w);
    for _ in 0..b {
        let dy = rng.random_range(-sy..=sy);
        let dx = rng.random_range(-sx..=sx);
        let cy = rng.random_range(0..h) as i64 - (ch / 2) as i64;
        let cx = rng.random_range(0..w) as i64 - (cw / 2) as i64;
        let mut plane = Vec::with_capacity(h * w);
        for i in 0..h as i64 {
            for j in 0..w as i64 {
                let (si, sj) = (i + dy, j + dx);
                let inside = (0..h as i64).contains(&si) && (0..w as i64).contains(&sj);
                let cut = (cy..cy + ch as i64).contains(&i) && (cx..cx + cw as i64).contains(&j);
                plane.push(if inside { si * w as i64 + sj } else { 0 });
                keep.push(if inside && !cut { 1.0f32 } else { 0.0 });
            }
        }
        for _ in 0..c {
            source.extend_from_slice(&plane);
        }
    }
    let index = Tensor::<3, Int>::from_data(TensorData::new(source, [b, c, h * w]), &device);
    let keep = Tensor::<3>::from_data(TensorData::new(keep, [b, 1, h * w]), &device);
    (x.reshape([b, c, h * w]).gather(2, index) * keep).reshape([b, c, h, w])
}

/// One-hot rows for `labels` over `classes`.
pub fn one_hot(labels: &[u16], classes: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0f32; labels.len() * classes];
    for (row, &label) in labels.iter().enumerate() {
        if let Some(v) = values.get_mut(row * classes + usize::from(label)) {
            *v = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(values, [labels.len(), classes]), device)
}

/// Standard normal noise `[n, z_dim]` drawn from `rng`.
pub fn noise(n: usize, z_dim: usize, rng: &mut impl Rng, device: &Device) -> Tensor<2> {
    use rand_distr::{Distribution, StandardNormal};
    let values: Vec<f32> = (0..n * z_dim)
        .map(|_| StandardNormal.sample(&mut *rng))
        .collect();
    Tensor::from_data(TensorData::new(values, [n, z_dim]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;

    fn shape(side: usize, channels: usize) -> InputShape {
        InputShape {
            channels,
            height: side,
            width: side,
            classes: 10,
        }
    }

    #[test]
    fn the_generator_reaches_each_image_size() {
        let device = Device::flex();
        for (side, channels, doublings) in
            [(28, 1, 2), (32, 3, 2), (64, 3, 3), (30, 1, 2), (8, 1, 0)]
        {
            let input = shape(side, channels);
            assert_eq!(GanArch::doublings(input), doublings, "{side}");
            let arch = GanArch {
                z_dim: 16,
                width: 16,
            };
            arch.validate(input).unwrap();
            let (g, d) = arch.init(input, &device, 1);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
            let z = noise(4, 16, &mut rng, &device);
            let y = one_hot(&[0, 1, 2, 9], 10, &device);
            let images = g.forward(z, y.clone());
            assert_eq!(images.dims(), [4, channels, side, side]);
            let values = images.clone().into_data().try_to_vec::<f32>().unwrap();
            assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
            assert_eq!(d.forward(images, y).dims(), [4]);
        }
    }

    #[test]
    fn spectral_normalisation_brings_the_largest_singular_value_to_one() {
        let device = Device::flex();
        // A 2×3 matrix with singular values 5 and 1 (rows orthogonal, lengths 5 and 1).
        let w = Tensor::<4>::from_data(
            TensorData::new(vec![3.0f32, 4.0, 0.0, 0.0, 0.0, 1.0], [2, 3, 1, 1]),
            &device,
        );
        let u = PowerVector::default();
        let mut normalised = spectral_normalise(w.clone(), &u);
        for _ in 0..5 {
            normalised = spectral_normalise(w.clone(), &u);
        }
        let values = normalised.into_data().try_to_vec::<f32>().unwrap();
        let expected = [0.6, 0.8, 0.0, 0.0, 0.0, 0.2];
        for (v, e) in values.iter().zip(expected) {
            assert!((v - e).abs() < 1e-3, "{values:?}");
        }
    }

    #[test]
    fn diff_augment_keeps_the_shape_and_passes_gradients() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::ones([3, 3, 16, 16], &device).require_grad();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let y = diff_augment(x.clone(), &mut rng);
        assert_eq!(y.dims(), [3, 3, 16, 16]);
        let values = y.clone().into_data().try_to_vec::<f32>().unwrap();
        // The cutout and the shifted-in border are zeros; the rest moved by the colour change.
        let zeros = values.iter().filter(|v| **v == 0.0).count();
        assert!(zeros >= 3 * 3 * 8 * 8 / 2, "{zeros} zeros");
        let grads = y.sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(g.iter().any(|v| *v != 0.0));
        // Same seed, same augmentation.
        let again = diff_augment(x, &mut Xoshiro256PlusPlus::seed_from_u64(7));
        assert_eq!(again.into_data().try_to_vec::<f32>().unwrap(), values);
    }

    #[test]
    fn the_discriminators_convolutions_match_burns_forward_and_backward() {
        // 4×4 stride-2 and 3×3 stride-1 layers through the kernels against Burn's own ops, with
        // and without the fused leaky ReLU.
        let device = Device::flex().autodiff();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for (cin, cout, k, stride, pad, side) in [
            (8, 16, 4, 2, 1, 14),
            (1, 8, 3, 1, 1, 28),
            (16, 8, 4, 2, 1, 7),
        ] {
            let values = |n: usize, rng: &mut Xoshiro256PlusPlus| -> Vec<f32> {
                (0..n).map(|_| rng.random::<f32>() - 0.5).collect()
            };
            let x = values(2 * cin * side * side, &mut rng);
            let w = values(cout * cin * k * k, &mut rng);
            let b = values(cout, &mut rng);
            let run = |ours: bool, activation: Activation| {
                let x = Tensor::<4>::from_data(
                    TensorData::new(x.clone(), [2, cin, side, side]),
                    &device,
                )
                .require_grad();
                let w =
                    Tensor::<4>::from_data(TensorData::new(w.clone(), [cout, cin, k, k]), &device)
                        .require_grad();
                let bias = Tensor::<1>::from_data(TensorData::new(b.clone(), [cout]), &device);
                let y = if ours {
                    conv2d_weighted(
                        x.clone(),
                        w.clone(),
                        Some(bias),
                        [stride; 2],
                        [pad; 4],
                        activation,
                    )
                } else {
                    let y = burn::tensor::module::conv2d(
                        x.clone(),
                        w.clone(),
                        Some(bias),
                        burn::tensor::ops::ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1),
                    );
                    match activation {
                        Activation::LeakyRelu(slope) => {
                            burn::tensor::activation::leaky_relu(y, f64::from(slope))
                        }
                        _ => y,
                    }
                };
                let target = y.clone().mul_scalar(0.5).sin();
                let grads = (y.clone() * target).sum().backward();
                let get = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
                (
                    get(y.inner()),
                    get(x.grad(&grads).unwrap()),
                    get(w.grad(&grads).unwrap()),
                )
            };
            for activation in [Activation::Identity, Activation::LeakyRelu(LEAK)] {
                let (a, b) = (run(true, activation), run(false, activation));
                for (name, p, q) in [
                    ("output", &a.0, &b.0),
                    ("x grad", &a.1, &b.1),
                    ("w grad", &a.2, &b.2),
                ] {
                    assert_eq!(p.len(), q.len());
                    let worst = p
                        .iter()
                        .zip(q)
                        .map(|(u, v)| (u - v).abs())
                        .fold(0.0f32, f32::max);
                    assert!(
                        worst < 1e-3,
                        "{name} of {k}×{k}/{stride} {activation:?}: off by {worst}"
                    );
                }
                if activation != Activation::Identity {
                    assert!(a.0.iter().any(|v| *v < 0.0) && a.0.iter().any(|v| *v > 0.0));
                }
            }
        }
    }

    #[test]
    fn the_sizes_are_checked() {
        let arch = GanArch::default();
        assert!(arch.validate(shape(4, 1)).is_err());
        assert!(
            arch.validate(InputShape {
                classes: 1,
                ..shape(28, 1)
            })
            .is_err()
        );
        let narrow = GanArch { width: 6, ..arch };
        assert!(narrow.validate(shape(28, 1)).is_err());
        let (g, d) = arch.multiply_adds(shape(28, 1));
        assert!(g > 20_000_000 && d > 10_000_000, "{g} {d}");
    }
}
