//! Batch normalisation in training mode on the CPU backend's tensors, forward and backward.
//!
//! Each channel's statistics are gathered straight from the NCHW planes (no transposed copy),
//! channels spread over the rayon pool; normalising and the input gradient then run plane by
//! plane.

use burn::backend::flex::FlexTensor;
use std::borrow::Cow;

use rayon::prelude::*;

use super::{tensor, values};

/// The sizes of one batch normalisation: `[batch, channels, plane]` and epsilon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Channels.
    pub channels: usize,
    /// Values per channel and image (height × width).
    pub plane: usize,
    /// Added to the variance before its square root.
    pub epsilon: f64,
    /// Whether a ReLU follows (applied in the same pass, its gradient in the backward pass).
    pub relu: bool,
}

impl NormGeometry {
    /// The geometry of normalising `x` `[batch, channels, …]`; `None` for an empty batch.
    pub fn new(x: &[usize], epsilon: f64, relu: bool) -> Option<Self> {
        let (&batch, rest) = x.split_first()?;
        let (&channels, rest) = rest.split_first()?;
        let plane = rest.iter().product::<usize>();
        (batch * plane > 0 && channels > 0).then_some(Self {
            batch,
            channels,
            plane,
            epsilon,
            relu,
        })
    }

    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }
}

/// `Σ f(a[i], b[i])` in eight independent `f32` lanes (so it vectorises), the lanes then
/// added in `f64`; a plane is short enough (≤ a few thousand values) for `f32` lanes.
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&x, &y)| f64::from(f(x, y)))
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += f(x[lane], y[lane]);
        }
    }
    lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + tail
}

/// `f(channel, plane)` summed over every image's plane of every channel, in `f64`.
fn per_channel(g: &NormGeometry, f: impl Fn(usize, usize) -> f64 + Sync) -> Vec<f64> {
    (0..g.channels)
        .into_par_iter()
        .map(|c| {
            (0..g.batch)
                .map(|n| f(c, (n * g.channels + c) * g.plane))
                .sum()
        })
        .collect()
}

/// The batch statistics the forward pass saves for the backward pass.
#[derive(Debug, Clone)]
pub struct Saved {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// Per channel, the output's scale and shift (to tell where a following ReLU was open).
    scale: Vec<f32>,
    shift: Vec<f32>,
}

/// The normalised output, the batch mean and the biased batch variance (`[channels]` each),
/// and what the backward pass needs.
pub fn forward(
    g: &NormGeometry,
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor, Saved) {
    let shape = x.layout().shape().to_vec();
    let x = values(x);
    let (gamma, beta) = (values(gamma), values(beta));
    let plane = |start: usize| &x[start..start + g.plane];
    let mean: Vec<f64> = per_channel(g, |_, start| lane_sum(plane(start), plane(start), |v, _| v))
        .into_iter()
        .map(|s| s / g.count())
        .collect();
    let variance: Vec<f64> = per_channel(g, |c, start| {
        let m = mean[c] as f32;
        lane_sum(plane(start), plane(start), |v, _| (v - m) * (v - m))
    })
    .into_iter()
    .map(|s| s / g.count())
    .collect();
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|v| (1.0 / (v + g.epsilon).sqrt()) as f32)
        .collect();
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();

    let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let shift: Vec<f32> = (0..g.channels)
        .map(|c| beta[c] - mean[c] * scale[c])
        .collect();
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(g.plane)
        .zip(x.par_chunks(g.plane))
        .enumerate()
        .for_each(|(index, (out, x))| {
            let c = index % g.channels;
            let (scale, shift) = (scale[c], shift[c]);
            if g.relu {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = (v * scale + shift).max(0.0);
                }
            } else {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = v * scale + shift;
                }
            }
        });
    let channels = [g.channels];
    (
        tensor(out, &shape),
        tensor(mean.clone(), &channels),
        tensor(variance.iter().map(|&v| v as f32).collect(), &channels),
        Saved {
            mean,
            inv_std,
            scale,
            shift,
        },
    )
}

/// Which gradients the backward pass should produce.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// The input's.
    pub x: bool,
    /// Gamma's (the scale).
    pub gamma: bool,
    /// Beta's (the shift).
    pub beta: bool,
}

/// The gradients of [`forward`]'s output with respect to `(x, gamma, beta)`, the batch
/// statistics depending on `x` as well.
pub fn backward(
    g: &NormGeometry,
    x: &FlexTensor,
    gamma: &FlexTensor,
    saved: &Saved,
    grad: &FlexTensor,
    wanted: Wanted,
) -> (Option<FlexTensor>, Option<FlexTensor>, Option<FlexTensor>) {
    let shape = x.layout().shape().to_vec();
    let (x, gamma, dy) = (values(x), values(gamma), values(grad));
    let Saved {
        mean,
        inv_std,
        scale,
        shift,
    } = saved;
    // Behind a ReLU, the gradient reaches the normalisation only where the output was positive.
    let dy: Cow<'_, [f32]> = if g.relu {
        let mut masked = vec![0.0f32; dy.len()];
        masked
            .par_chunks_mut(g.plane)
            .zip(dy.par_chunks(g.plane).zip(x.par_chunks(g.plane)))
            .enumerate()
            .for_each(|(index, (masked, (dy, x)))| {
                let c = index % g.channels;
                for ((m, &d), &v) in masked.iter_mut().zip(dy).zip(x) {
                    *m = if v * scale[c] + shift[c] > 0.0 {
                        d
                    } else {
                        0.0
                    };
                }
            });
        Cow::Owned(masked)
    } else {
        dy
    };
    // Σ dy and Σ dy·x̂ per channel, x̂ the normalised input.
    let (dy_plane, x_plane) = (
        |start: usize| &dy[start..start + g.plane],
        |start: usize| &x[start..start + g.plane],
    );
    let dy_sum = per_channel(g, |_, start| {
        lane_sum(dy_plane(start), dy_plane(start), |d, _| d)
    });
    let dy_xhat_sum = per_channel(g, |c, start| {
        let (m, s) = (mean[c], inv_std[c]);
        lane_sum(dy_plane(start), x_plane(start), |d, v| d * ((v - m) * s))
    });
    let channels = [g.channels];
    let gamma_grad = wanted
        .gamma
        .then(|| tensor(dy_xhat_sum.iter().map(|&v| v as f32).collect(), &channels));
    let beta_grad = wanted
        .beta
        .then(|| tensor(dy_sum.iter().map(|&v| v as f32).collect(), &channels));
    let x_grad = wanted.x.then(|| {
        // dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)).
        let mut dx = vec![0.0f32; x.len()];
        dx.par_chunks_mut(g.plane)
            .zip(dy.par_chunks(g.plane).zip(x.par_chunks(g.plane)))
            .enumerate()
            .for_each(|(index, (dx, (dy, x)))| {
                let c = index % g.channels;
                let scale = gamma[c] * inv_std[c];
                let dy_mean = (dy_sum[c] / g.count()) as f32;
                let dy_xhat_mean = (dy_xhat_sum[c] / g.count()) as f32;
                for ((o, &d), &v) in dx.iter_mut().zip(dy).zip(x) {
                    let xhat = (v - mean[c]) * inv_std[c];
                    *o = scale * (d - dy_mean - xhat * dy_xhat_mean);
                }
            });
        tensor(dx, &shape)
    });
    (x_grad, gamma_grad, beta_grad)
}
