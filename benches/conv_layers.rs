//! The GAN's convolutions one by one, at workload 6's sizes (`benches/compare.py`): the
//! discriminator's three layers (batch 128: real and generated images together) with their
//! fused leaky ReLU, the generator's two stages and its output layer (batch 64).
//!
//! `cargo bench --bench gan_layers` prints, per layer, the best of six runs of the forward pass,
//! of the backward pass for the weights alone (the discriminator's own update) and for the
//! weights and the input (the generator's update reaches its images through the
//! discriminator), in ms. The backward passes start from `sum(y · probe)` (so the layer gets
//! a gradient of its own, as in training, not a shared broadcast), whose own backward steps are
//! timed alone on a leaf of the output's shape and taken off. `CNN_WORKBENCH_KERNELS` and
//! `CNN_WORKBENCH_SIMD` pick the kernels as in training.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot run should stop

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use cnn_workbench::model::kernels::{Activation, conv2d_weighted};

/// One layer: what it is, batch, input and output channels, kernel side, stride, image side.
type Layer = (&'static str, usize, usize, usize, usize, usize, usize);

const LAYERS: [Layer; 6] = [
    ("D 1 -> 32, 3x3", 128, 1, 32, 3, 1, 28),
    ("D 32 -> 64, 4x4 /2", 128, 32, 64, 4, 2, 28),
    ("D 64 -> 128, 4x4 /2", 128, 64, 128, 4, 2, 14),
    ("G 128 -> 64, 3x3", 64, 128, 64, 3, 1, 14),
    ("G 64 -> 32, 3x3", 64, 64, 32, 3, 1, 28),
    ("G 32 -> 1, 3x3", 64, 32, 1, 3, 1, 28),
];

const RUNS: usize = 6;

fn main() {
    let device = Device::flex().autodiff();
    println!("| Layer | Forward ms | Backward, weights ms | Backward, weights and input ms |");
    println!("|---|---:|---:|---:|");
    for (name, batch, cin, cout, k, stride, side) in LAYERS {
        // The discriminator's layers end in its leaky ReLU, the generator's in batch norm.
        let activation = if name.starts_with('D') {
            Activation::LeakyRelu(0.2)
        } else {
            Activation::Identity
        };
        let x = Tensor::<4>::random(
            [batch, cin, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random([cout, cin, k, k], Distribution::Normal(0.0, 0.1), &device);
        let bias = Tensor::<1>::zeros([cout], &device);
        let conv = |x: Tensor<4>, w: Tensor<4>| {
            conv2d_weighted(x, w, Some(bias.clone()), [stride; 2], [1; 4], activation)
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
                let _ = w.grad(&grads).unwrap().into_data();
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
