//! The convolutions of workloads 2, 4 and 6 of `benches/compare.py` one by one, at their
//! sizes: the deeper CNN's four layers (batch 64, each followed by its fused ReLU), ResNet-small's
//! three kinds of 3×3 layer and its strided one (batch 64, followed by batch norm), the GAN's
//! discriminator (batch 128: real and generated images together, fused leaky ReLU) and
//! generator (batch 64).
//!
//! `cargo bench --bench conv_layers` prints, per layer, the best of `RUNS` runs of the forward
//! pass, of the backward pass for the weights alone (a first layer's, or the discriminator's
//! own update) and for the weights and the input, in ms. The backward passes start from
//! `sum(y · probe)` (so the layer gets a gradient of its own, as in training, not a shared
//! broadcast), whose own backward steps are timed alone on a leaf of the output's shape and
//! taken off. `CNN_WORKBENCH_KERNELS` and `CNN_WORKBENCH_SIMD` pick the kernels as in training;
//! `ONLY=<prefix>` keeps the layers whose name starts with it (`ONLY=D` the discriminator's).
//! The generator's two upsampling layers come three ways: the convolution of an upsampled
//! image alone, upsampling then convolving as two operations, and as the one operation
//! training uses (`upsample2_conv2d`), the last two from the half-size image. The `N` rows
//! are ResNet-small's batch normalisations with their fused ReLU, one per stage (the weights
//! being its scale and shift).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot run should stop

use std::time::Instant;

use burn::nn::conv::Conv2dConfig;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::Distribution;
use cnn_workbench::model::kernels::{
    Activation, batch_norm_relu, conv2d, conv2d_weighted, upsample2, upsample2_conv2d,
};

/// One layer: what it is, batch, input and output channels, kernel side, stride, image side.
type Layer = (&'static str, usize, usize, usize, usize, usize, usize);

const LAYERS: [Layer; 21] = [
    ("C 1 -> 32, 3x3", 64, 1, 32, 3, 1, 28),
    ("C 32 -> 32, 3x3", 64, 32, 32, 3, 1, 28),
    ("C 32 -> 64, 3x3", 64, 32, 64, 3, 1, 14),
    ("C 64 -> 64, 3x3", 64, 64, 64, 3, 1, 14),
    ("R 16 -> 16, 3x3", 64, 16, 16, 3, 1, 32),
    ("R 16 -> 32, 3x3 /2", 64, 16, 32, 3, 2, 32),
    ("R 32 -> 32, 3x3", 64, 32, 32, 3, 1, 16),
    ("R 64 -> 64, 3x3", 64, 64, 64, 3, 1, 8),
    ("D 1 -> 32, 3x3", 128, 1, 32, 3, 1, 28),
    ("D 32 -> 64, 4x4 /2", 128, 32, 64, 4, 2, 28),
    ("D 64 -> 128, 4x4 /2", 128, 64, 128, 4, 2, 14),
    ("G 128 -> 64, 3x3", 64, 128, 64, 3, 1, 14),
    ("G 64 -> 32, 3x3", 64, 64, 32, 3, 1, 28),
    ("G 32 -> 1, 3x3", 64, 32, 1, 3, 1, 28),
    ("G 128 -> 64, up, 3x3", 64, 128, 64, 3, 1, 7),
    ("G 128 -> 64, up + 3x3", 64, 128, 64, 3, 1, 7),
    ("G 64 -> 32, up, 3x3", 64, 64, 32, 3, 1, 14),
    ("G 64 -> 32, up + 3x3", 64, 64, 32, 3, 1, 14),
    ("N 16, 32x32, + ReLU", 64, 16, 16, 1, 1, 32),
    ("N 32, 16x16, + ReLU", 64, 32, 32, 1, 1, 16),
    ("N 64, 8x8, + ReLU", 64, 64, 64, 1, 1, 8),
];

const RUNS: usize = 10;

fn main() {
    let device = Device::flex().autodiff();
    println!("| Layer | Forward ms | Backward, weights ms | Backward, weights and input ms |");
    println!("|---|---:|---:|---:|");
    let only = std::env::var("ONLY").unwrap_or_default();
    for (name, batch, cin, cout, k, stride, side) in LAYERS {
        if !name.starts_with(only.as_str()) {
            continue;
        }
        // The deeper CNN's layers end in a ReLU, the discriminator's in its leaky ReLU,
        // ResNet-small's and the generator's in batch norm.
        let activation = match name.as_bytes()[0] {
            b'C' => Activation::Relu,
            b'D' => Activation::LeakyRelu(0.2),
            _ => Activation::Identity,
        };
        let x = Tensor::<4>::random(
            [batch, cin, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random([cout, cin, k, k], Distribution::Normal(0.0, 0.1), &device);
        let bias = Tensor::<1>::zeros([cout], &device);
        // The upsampling layers run as a module holding `w`: its weight is a leaf that takes
        // the gradient.
        let mut module = Conv2dConfig::new([cin, cout], [k, k])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        module.weight = module.weight.map(|_| w.clone().require_grad());
        let mut norm: BatchNorm = BatchNormConfig::new(cout).init(&device);
        norm.gamma = norm.gamma.map(|g| g.require_grad());
        let conv = |x: Tensor<4>, w: Tensor<4>| {
            if name.starts_with('N') {
                batch_norm_relu(&norm, x)
            } else if name.contains("up, ") {
                conv2d(&module, upsample2(x))
            } else if name.contains("up + ") {
                upsample2_conv2d(&module, x)
            } else {
                conv2d_weighted(x, w, Some(bias.clone()), [stride; 2], [1; 4], activation)
            }
        };
        let leaf = |w: &Tensor<4>| {
            if name.contains("up") {
                module.weight.val()
            } else {
                w.clone()
            }
        };
        let dims = conv(x.clone(), w.clone()).dims();
        let probe = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
        let [mut forward, mut weights, mut both, mut sum] = [f64::MAX; 4];
        for _ in 0..RUNS {
            for with_input in [false, true] {
                let x = if with_input {
                    x.clone().require_grad()
                } else {
                    x.clone()
                };
                let w = w.clone().require_grad();
                let start = Instant::now();
                let y = conv(x, w.clone());
                let _ = y.clone().inner().into_data();
                forward = forward.min(start.elapsed().as_secs_f64());
                let start = Instant::now();
                let grads = (y * probe.clone()).sum().backward();
                let _ = if name.starts_with('N') {
                    norm.gamma.val().grad(&grads).unwrap().into_data()
                } else {
                    leaf(&w).grad(&grads).unwrap().into_data()
                };
                let secs = start.elapsed().as_secs_f64();
                if with_input {
                    both = both.min(secs);
                } else {
                    weights = weights.min(secs);
                }
            }
            let dims = conv(x.clone(), w.clone()).dims();
            let y =
                Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device).require_grad();
            let start = Instant::now();
            let grads = y.clone().sum().backward();
            let _ = y.grad(&grads).unwrap().into_data();
            sum = sum.min(start.elapsed().as_secs_f64());
        }
        let ms = |secs: f64| (secs * 1e3).max(0.0);
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            ms(forward),
            ms(weights - sum),
            ms(both - sum)
        );
    }
}
