//! 2-D max pooling on the CPU backend's tensors, forward and backward.
//!
//! The forward pass records, for every output value, where in its input plane the maximum came
//! from; the backward pass sends each output gradient back to that one position. Images and
//! channels are independent planes, spread over the rayon pool.

use std::sync::Arc;

use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use super::{tensor, values};

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
    if g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 {
        let w = g.w as u32;
        for oh in 0..g.out_h {
            let top = 2 * oh * g.w;
            let (upper, lower) = (&plane[top..][..g.w], &plane[top + g.w..][..g.w]);
            let out = &mut out[oh * g.out_w..][..g.out_w];
            let at = &mut at[oh * g.out_w..][..g.out_w];
            // Without branches: which of four values is largest is a coin toss that the branch
            // predictor loses (selects measured twice as fast on a 28×28 plane).
            let first = top as u32;
            let pairs = upper.chunks_exact(2).zip(lower.chunks_exact(2));
            for (ow, ((out, at), (up, low))) in out.iter_mut().zip(at).zip(pairs).enumerate() {
                let c = 2 * ow as u32;
                let (mut best, mut index) = (up[0], first + c);
                for (value, offset) in [(up[1], c + 1), (low[0], w + c), (low[1], w + c + 1)] {
                    let take = value > best || (value.is_nan() & !best.is_nan());
                    best = if take { value } else { best };
                    index = if take { first + offset } else { index };
                }
                *out = best;
                *at = index;
            }
        }
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

/// The pooled `[batch, channels, out_h, out_w]` tensor and where each maximum came from.
pub fn forward(g: &PoolGeometry, x: &FlexTensor) -> (FlexTensor, Argmax) {
    let x = values(x);
    let mut out = vec![0.0f32; g.planes() * g.out_plane()];
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
    let mut dx = vec![0.0f32; g.planes() * g.plane()];
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
