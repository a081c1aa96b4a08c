//! Batch normalisation in training mode on the CPU backend's tensors, forward and backward.
//!
//! Each channel's statistics are gathered straight from the NCHW planes (no transposed copy),
//! channels spread over the rayon pool (the two gradient sums in one pass, a following ReLU's
//! mask recomputed from the input rather than stored); normalising and the input gradient
//! then run plane by plane.

use burn::backend::flex::FlexTensor;

use rayon::prelude::*;

use pulp::{Simd, WithSimd};

use super::{tensor, values, vectorized, zeros};

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

/// The `K` sums `Σ f(a[i], b[i])[k]` in independent `f32` lanes (so they vectorise), the lanes
/// then added in `f64`; a plane is short enough (≤ a few thousand values) for `f32` lanes.
/// Compiled for AVX2 where the CPU has it: the same additions in the same order at any level,
/// so the sums do not depend on the CPU.
///
/// Several sums at once run [`WIDE`] lanes (four registers, so an addition does not wait on the
/// one before it), then eight lanes, then one value at a time; a single sum keeps to eight lanes,
/// which the compiler vectorises better for it.
fn lane_sums<const K: usize>(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> [f32; K]) -> [f64; K] {
    vectorized(LaneSums { a, b, f })
}

/// The lanes of [`lane_sums`]' first stretch when it computes several sums.
const WIDE: usize = 32;

struct LaneSums<'a, F> {
    a: &'a [f32],
    b: &'a [f32],
    f: F,
}

impl<const K: usize, F: Fn(f32, f32) -> [f32; K]> WithSimd for LaneSums<'_, F> {
    type Output = [f64; K];

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> [f64; K] {
        let Self { a, b, f } = self;
        if K == 1 {
            return narrow_sums(a, b, &f);
        }
        let wide_end = a.len().min(b.len()) / WIDE * WIDE;
        let mut wide = [[0.0f32; WIDE]; K];
        for (x, y) in a[..wide_end]
            .chunks_exact(WIDE)
            .zip(b[..wide_end].chunks_exact(WIDE))
        {
            for lane in 0..WIDE {
                for (k, v) in f(x[lane], y[lane]).into_iter().enumerate() {
                    wide[k][lane] += v;
                }
            }
        }
        let rest = narrow_sums(&a[wide_end..], &b[wide_end..], &f);
        std::array::from_fn(|k| wide[k].iter().map(|&v| f64::from(v)).sum::<f64>() + rest[k])
    }
}

/// [`lane_sums`] in eight lanes, then one value at a time.
#[inline(always)]
fn narrow_sums<const K: usize>(
    a: &[f32],
    b: &[f32],
    f: &impl Fn(f32, f32) -> [f32; K],
) -> [f64; K] {
    let mut lanes = [[0.0f32; 8]; K];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut tail = [0.0f64; K];
    for (&x, &y) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        for (t, v) in tail.iter_mut().zip(f(x, y)) {
            *t += f64::from(v);
        }
    }
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            for (k, v) in f(x[lane], y[lane]).into_iter().enumerate() {
                lanes[k][lane] += v;
            }
        }
    }
    std::array::from_fn(|k| lanes[k].iter().map(|&v| f64::from(v)).sum::<f64>() + tail[k])
}

/// `out[i] = f(a[i], b[i])`, compiled for AVX2 where the CPU has it.
fn each(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    vectorized(Each { out, a, b, f });
}

struct Each<'a, F> {
    out: &'a mut [f32],
    a: &'a [f32],
    b: &'a [f32],
    f: F,
}

impl<F: Fn(f32, f32) -> f32> WithSimd for Each<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Self { out, a, b, f } = self;
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    }
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
    let plane = |n: usize, c: usize| &x[(n * g.channels + c) * g.plane..][..g.plane];
    let mean: Vec<f64> = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let sums = (0..g.batch).map(|n| lane_sums(plane(n, c), plane(n, c), |v, _| [v])[0]);
            sums.sum::<f64>() / g.count()
        })
        .collect();
    let variance: Vec<f64> = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let m = mean[c] as f32;
            let sums = (0..g.batch)
                .map(|n| lane_sums(plane(n, c), plane(n, c), move |v, _| [(v - m) * (v - m)])[0]);
            sums.sum::<f64>() / g.count()
        })
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
    let mut out = zeros(x.len());
    out.par_chunks_mut(g.plane)
        .zip(x.par_chunks(g.plane))
        .enumerate()
        .for_each(|(index, (out, x))| {
            let c = index % g.channels;
            let (scale, shift) = (scale[c], shift[c]);
            if g.relu {
                each(out, x, x, move |v, _| (v * scale + shift).max(0.0));
            } else {
                each(out, x, x, move |v, _| v * scale + shift);
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
    // Behind a ReLU, the gradient reaches the normalisation only where the output was positive;
    // the mask is recomputed from the input wherever the gradient is read.
    // Per channel: the gradient where the ReLU was open (`v·scale + shift > 0`), else zero.
    let gate = |c: usize| {
        let (scale, shift, relu) = (scale[c], shift[c], g.relu);
        // `|`, not `||`: a select rather than a branch, so the loops vectorise.
        move |d: f32, v: f32| {
            if !relu | (v * scale + shift > 0.0) {
                d
            } else {
                0.0
            }
        }
    };
    // Σ dy and Σ dy·x̂ per channel (x̂ the normalised input), in one pass over dy and x.
    let sums: Vec<(f64, f64)> = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let (m, s, gate) = (mean[c], inv_std[c], gate(c));
            (0..g.batch).fold((0.0, 0.0), |(dy_sum, dy_xhat_sum), n| {
                let start = (n * g.channels + c) * g.plane;
                let (dy, x) = (&dy[start..][..g.plane], &x[start..][..g.plane]);
                let [a, b] = lane_sums(dy, x, move |d, v| {
                    let d = gate(d, v);
                    [d, d * ((v - m) * s)]
                });
                (dy_sum + a, dy_xhat_sum + b)
            })
        })
        .collect();
    let dy_sum: Vec<f64> = sums.iter().map(|s| s.0).collect();
    let dy_xhat_sum: Vec<f64> = sums.iter().map(|s| s.1).collect();
    let channels = [g.channels];
    let gamma_grad = wanted
        .gamma
        .then(|| tensor(dy_xhat_sum.iter().map(|&v| v as f32).collect(), &channels));
    let beta_grad = wanted
        .beta
        .then(|| tensor(dy_sum.iter().map(|&v| v as f32).collect(), &channels));
    let x_grad = wanted.x.then(|| {
        // dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)).
        let mut dx = zeros(x.len());
        dx.par_chunks_mut(g.plane)
            .zip(dy.par_chunks(g.plane).zip(x.par_chunks(g.plane)))
            .enumerate()
            .for_each(|(index, (dx, (dy, x)))| {
                let c = index % g.channels;
                let gain = gamma[c] * inv_std[c];
                let dy_mean = (dy_sum[c] / g.count()) as f32;
                let dy_xhat_mean = (dy_xhat_sum[c] / g.count()) as f32;
                let (mean, inv_std, gate) = (mean[c], inv_std[c], gate(c));
                each(dx, dy, x, move |d, v| {
                    let d = gate(d, v);
                    let xhat = (v - mean) * inv_std;
                    gain * (d - dy_mean - xhat * dy_xhat_mean)
                });
            });
        tensor(dx, &shape)
    });
    (x_grad, gamma_grad, beta_grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_add_every_value_once_at_every_length() {
        // Lengths around each stretch's boundaries: none, the tail alone, whole eights, whole
        // 32s, and 32s + eights + a tail.
        for len in [0, 5, 8, 31, 32, 33, 45, 77, 1024] {
            let a: Vec<f32> = (0..len).map(|i| (i % 13) as f32 * 0.25 - 1.0).collect();
            let b: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 3.0).collect();
            let [sum, product] = lane_sums(&a, &b, |x, y| [x, x * y]);
            let expected_sum: f64 = a.iter().map(|&x| f64::from(x)).sum();
            let expected_product: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x * y)).sum();
            assert!(
                (sum - expected_sum).abs() < 1e-3,
                "{len}: {sum} vs {expected_sum}"
            );
            assert!(
                (product - expected_product).abs() < 1e-3,
                "{len}: {product} vs {expected_product}"
            );
            let [single] = lane_sums(&a, &b, |x, _| [x]);
            assert!((single - expected_sum).abs() < 1e-3, "{len}: {single}");
        }
    }
}
