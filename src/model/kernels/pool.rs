//! 2-D max pooling on the CPU backend's tensors, forward and backward.
//!
//! The forward pass records, for every output value, where in its input plane the maximum came
//! from; the backward pass sends each output gradient back to that one position. Images and
//! channels are independent planes, spread over the rayon pool.

use std::sync::Arc;

use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use super::{tensor, values, zeros};

/// The sizes of one pooling: input planes, window, stride, padding and the output they give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Channels (each image's planes).
    pub channels: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Rows of padding above and below (never the maximum).
    pub ph: usize,
    /// Columns of padding left and right.
    pub pw: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

impl PoolGeometry {
    /// The geometry of pooling `x` `[batch, channels, h, w]` with a `kernel` window at `stride`
    /// and symmetric `padding`; `None` when the window does not fit or the padding is as wide
    /// as the window (an output could then see nothing but padding).
    pub fn new(
        x: &[usize],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Option<Self> {
        let [batch, channels, h, w] = *x else {
            return None;
        };
        let ([kh, kw], [sh, sw], [ph, pw]) = (kernel, stride, padding);
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || ph >= kh || pw >= kw {
            return None;
        }
        let (padded_h, padded_w) = (h + 2 * ph, w + 2 * pw);
        if padded_h < kh || padded_w < kw || h == 0 || u32::try_from(h * w).is_err() {
            return None;
        }
        Some(Self {
            batch,
            channels,
            h,
            w,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            out_h: (padded_h - kh) / sh + 1,
            out_w: (padded_w - kw) / sw + 1,
        })
    }

    fn plane(&self) -> usize {
        self.h * self.w
    }

    fn out_plane(&self) -> usize {
        self.out_h * self.out_w
    }

    fn planes(&self) -> usize {
        self.batch * self.channels
    }
}

/// Where each output's maximum came from: an offset into its input plane.
#[derive(Debug, Clone)]
pub struct Argmax(Arc<Vec<u32>>);

/// One plane's maxima and their positions, the window clipped to the image.
fn pool_plane(g: &PoolGeometry, plane: &[f32], out: &mut [f32], at: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if g.kh == 2
        && g.kw == 2
        && g.sh == 2
        && g.sw == 2
        && g.ph == 0
        && g.pw == 0
        && let Some(level) = super::direct::simd()
    {
        let simd = level.avx2();
        let pairs = PoolPairs {
            simd,
            g,
            plane,
            out,
            at,
        };
        pulp::Simd::vectorize(simd, pairs);
        return;
    }
    for oh in 0..g.out_h {
        let rows =
            (oh * g.sh).saturating_sub(g.ph)..(oh * g.sh + g.kh).saturating_sub(g.ph).min(g.h);
        for ow in 0..g.out_w {
            let cols =
                (ow * g.sw).saturating_sub(g.pw)..(ow * g.sw + g.kw).saturating_sub(g.pw).min(g.w);
            let mut best = (f32::NEG_INFINITY, rows.start * g.w + cols.start);
            for ih in rows.clone() {
                for iw in cols.clone() {
                    let v = plane[ih * g.w + iw];
                    if v > best.0 || v.is_nan() && !best.0.is_nan() {
                        best = (v, ih * g.w + iw);
                    }
                }
            }
            out[oh * g.out_w + ow] = best.0;
            at[oh * g.out_w + ow] = best.1 as u32;
        }
    }
}

/// The 2×2 stride-2 window without padding at AVX2, eight outputs at a time: the even and odd
/// columns of 16 values of each row are separated in registers, and the maximum of the four
/// corners taken by compares and blends. A branch per value (which of four values is largest
/// is a coin toss that the branch predictor loses) cost 4 % of the deeper CNN's training.
#[cfg(target_arch = "x86_64")]
struct PoolPairs<'a> {
    simd: pulp::x86::V3,
    g: &'a PoolGeometry,
    plane: &'a [f32],
    out: &'a mut [f32],
    at: &'a mut [u32],
}

#[cfg(target_arch = "x86_64")]
impl pulp::WithSimd for PoolPairs<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        use std::arch::x86_64::{__m256, __m256d};

        use pulp::{f32x8, u32x8};
        const STEP: usize = 8;
        let Self {
            simd,
            g,
            plane,
            out,
            at,
        } = self;
        let (avx, avx2) = (simd.avx, simd.avx2);
        // The even (`EVEN`) or odd (`ODD`) values of 16 in a row, in order.
        const EVEN: i32 = 0b10_00_10_00;
        const ODD: i32 = 0b11_01_11_01;
        let split = |values: &[f32; 2 * STEP]| -> [f32x8; 2] {
            let [low, high]: [__m256; 2] = pulp::cast(*values);
            let even = avx._mm256_shuffle_ps::<EVEN>(low, high);
            let odd = avx._mm256_shuffle_ps::<ODD>(low, high);
            // The shuffles work within 128-bit halves: put the four pairs of values in order.
            let order = |v: __m256| -> f32x8 {
                pulp::cast(
                    avx2._mm256_permute4x64_pd::<0b11_01_10_00>(pulp::cast::<__m256, __m256d>(v)),
                )
            };
            [order(even), order(odd)]
        };
        let w = g.w as u32;
        let lanes: u32x8 = pulp::cast([0u32, 2, 4, 6, 8, 10, 12, 14]);
        for oh in 0..g.out_h {
            let top = 2 * oh * g.w;
            let (upper, lower) = (&plane[top..][..g.w], &plane[top + g.w..][..g.w]);
            let out = &mut out[oh * g.out_w..][..g.out_w];
            let at = &mut at[oh * g.out_w..][..g.out_w];
            // 16 values of a row from column `2·start`; past the row's end (the last outputs
            // of a row, rows narrower than 16) zeros, whose lanes are computed but not kept.
            let load = |values: &[f32], start: usize| -> [f32; 2 * STEP] {
                let values = &values[2 * start..];
                match values.first_chunk::<{ 2 * STEP }>() {
                    Some(chunk) => *chunk,
                    None => {
                        let mut chunk = [0.0f32; 2 * STEP];
                        chunk[..values.len()].copy_from_slice(values);
                        chunk
                    }
                }
            };
            for start in (0..g.out_w).step_by(STEP) {
                let [a, b] = split(&load(upper, start));
                let [c, d] = split(&load(lower, start));
                let first =
                    simd.wrapping_add_u32x8(lanes, simd.splat_u32x8((top + 2 * start) as u32));
                let (mut best, mut index) = (a, first);
                for (value, offset) in [(b, 1), (c, w), (d, w + 1)] {
                    // `value` wins where it is larger, or a NaN over a number.
                    let take = simd.or_m32x8(
                        simd.cmp_gt_f32x8(value, best),
                        simd.and_m32x8(simd.is_nan_f32x8(value), simd.is_not_nan_f32x8(best)),
                    );
                    let candidate = simd.wrapping_add_u32x8(first, simd.splat_u32x8(offset));
                    best = simd.select_f32x8(take, value, best);
                    index = simd.select_u32x8(take, candidate, index);
                }
                let n = STEP.min(g.out_w - start);
                out[start..][..n].copy_from_slice(&pulp::cast::<f32x8, [f32; STEP]>(best)[..n]);
                at[start..][..n].copy_from_slice(&pulp::cast::<u32x8, [u32; STEP]>(index)[..n]);
            }
        }
    }
}

/// The pooled `[batch, channels, out_h, out_w]` tensor and where each maximum came from.
pub fn forward(g: &PoolGeometry, x: &FlexTensor) -> (FlexTensor, Argmax) {
    let x = values(x);
    let mut out = zeros(g.planes() * g.out_plane());
    let mut at = vec![0u32; g.planes() * g.out_plane()];
    out.par_chunks_mut(g.out_plane())
        .zip(at.par_chunks_mut(g.out_plane()))
        .zip(x.par_chunks(g.plane()))
        .for_each(|((out, at), plane)| pool_plane(g, plane, out, at));
    (
        tensor(out, &[g.batch, g.channels, g.out_h, g.out_w]),
        Argmax(Arc::new(at)),
    )
}

/// The input's gradient: each output gradient added at its maximum's position.
pub fn backward(g: &PoolGeometry, argmax: &Argmax, grad: &FlexTensor) -> FlexTensor {
    let grad = values(grad);
    let mut dx = zeros(g.planes() * g.plane());
    dx.par_chunks_mut(g.plane())
        .zip(grad.par_chunks(g.out_plane()))
        .zip(argmax.0.par_chunks(g.out_plane()))
        .for_each(|((dx, grad), at)| {
            for (&i, &v) in at.iter().zip(grad) {
                dx[i as usize] += v;
            }
        });
    tensor(dx, &[g.batch, g.channels, g.h, g.w])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows wide enough for the eight-at-a-time path (and its scalar tail, odd widths) give
    /// what the definition gives: the first of equal maxima in reading order, a NaN over any
    /// number, wherever it stands in the window.
    #[test]
    fn wide_rows_match_the_definition() {
        for (h, w) in [(4, 37), (2, 16), (6, 33), (3, 64)] {
            let x: Vec<f32> = (0..2 * h * w)
                .map(|i| {
                    if i % 11 == 3 {
                        f32::NAN
                    } else {
                        ((i * 7) % 5) as f32
                    }
                })
                .collect();
            let g = PoolGeometry::new(&[1, 2, h, w], [2, 2], [2, 2], [0, 0]).expect("geometry");
            let (out, at) = forward(&g, &tensor(x.clone(), &[1, 2, h, w]));
            let out = values(&out);
            for (i, (v, a)) in out.iter().zip(at.0.iter()).enumerate() {
                let (plane, oh, ow) = (i / (g.out_h * g.out_w), i / g.out_w % g.out_h, i % g.out_w);
                let base = plane * h * w;
                let window =
                    [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(r, c)| (2 * oh + r) * w + 2 * ow + c);
                let mut best = window[0];
                for &p in &window[1..] {
                    let (value, old) = (x[base + p], x[base + best]);
                    if value > old || (value.is_nan() && !old.is_nan()) {
                        best = p;
                    }
                }
                assert_eq!(*a as usize, best, "{h}×{w} output {i}");
                let expected = x[base + best];
                assert!(
                    v.to_bits() == expected.to_bits(),
                    "{h}×{w} output {i}: {v} vs {expected}"
                );
            }
        }
    }

    /// A NaN in a window is its maximum (wherever it stands), as a NaN propagates through
    /// PyTorch's and Burn's pooling; otherwise the largest value wins, the first on ties.
    #[test]
    fn a_nan_wins_its_window_and_ties_go_to_the_first() {
        let nan = f32::NAN;
        #[rustfmt::skip]
        let x = vec![
            1.0, 5.0,   nan, 0.0,   2.0, 2.0,
            3.0, nan,   4.0, 9.0,   2.0, 1.0,
        ];
        let g = PoolGeometry::new(&[1, 1, 2, 6], [2, 2], [2, 2], [0, 0]).expect("geometry");
        let (out, at) = forward(&g, &tensor(x, &[1, 1, 2, 6]));
        let out = values(&out);
        assert!(out[0].is_nan() && out[1].is_nan(), "{out:?}");
        assert_eq!(out[2], 2.0);
        assert_eq!(*at.0, vec![7, 2, 4]);
        let dx = backward(&g, &at, &tensor(vec![1.0, 2.0, 3.0], &[1, 1, 1, 3]));
        let expected = [0.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(&*values(&dx), &expected);
    }
}
