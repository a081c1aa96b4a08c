//! ×2 nearest-neighbour upsampling on the CPU backend's tensors, forward and backward.
//!
//! Written through Burn's tensor API the upsampling is a reshape, an expand and a reshape, which
//! copies the expanded view element by element on one thread, and its gradient is two sums
//! over the expanded axes. Here each plane is doubled in one pass and each gradient value is
//! the sum of its 2×2 block, planes spread over the rayon pool; the sum adds the block's
//! columns first, as the two sums over the expanded axes do.

use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use super::{tensor, values, zeros};

/// The input planes of a ×2 upsampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpsampleGeometry {
    /// Images times channels.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// The input's shape `[batch, channels, h, w]`.
    pub shape: [usize; 4],
}

impl UpsampleGeometry {
    /// The geometry of upsampling `x` `[batch, channels, h, w]`; `None` for an empty tensor.
    pub fn new(x: &[usize]) -> Option<Self> {
        let [batch, channels, h, w] = *x else {
            return None;
        };
        let planes = batch * channels;
        (planes > 0 && h > 0 && w > 0).then_some(Self {
            planes,
            h,
            w,
            shape: [batch, channels, h, w],
        })
    }

    /// The output's shape `[batch, channels, 2h, 2w]`.
    pub fn output_shape(&self) -> [usize; 4] {
        let [b, c, h, w] = self.shape;
        [b, c, 2 * h, 2 * w]
    }
}

/// Planes per parallel task: enough work that a task is worth handing out.
fn planes_per_task(g: &UpsampleGeometry) -> usize {
    (16_384 / (g.h * g.w)).max(1)
}

/// Each input value repeated over a 2×2 block.
pub fn forward(g: &UpsampleGeometry, x: &FlexTensor) -> FlexTensor {
    let x = values(x);
    let (h, w) = (g.h, g.w);
    let per_task = planes_per_task(g);
    let mut out = zeros(g.planes * 4 * h * w);
    out.par_chunks_mut(per_task * 4 * h * w)
        .zip(x.par_chunks(per_task * h * w))
        .for_each(|(out, x)| {
            for (out, x) in out.chunks_exact_mut(4 * h * w).zip(x.chunks_exact(h * w)) {
                for (rows, row) in out.chunks_exact_mut(4 * w).zip(x.chunks_exact(w)) {
                    let (top, bottom) = rows.split_at_mut(2 * w);
                    for (pair, &v) in top.chunks_exact_mut(2).zip(row) {
                        pair[0] = v;
                        pair[1] = v;
                    }
                    bottom.copy_from_slice(top);
                }
            }
        });
    tensor(out, &g.output_shape())
}

/// The gradient of [`forward`]: each input's is the sum of its block's output gradients,
/// `(top left + bottom left) + (top right + bottom right)`.
pub fn backward(g: &UpsampleGeometry, grad: &FlexTensor) -> FlexTensor {
    let grad = values(grad);
    let (h, w) = (g.h, g.w);
    let per_task = planes_per_task(g);
    let mut dx = zeros(g.planes * h * w);
    dx.par_chunks_mut(per_task * h * w)
        .zip(grad.par_chunks(per_task * 4 * h * w))
        .for_each(|(dx, grad)| {
            for (dx, grad) in dx.chunks_exact_mut(h * w).zip(grad.chunks_exact(4 * h * w)) {
                for (row, rows) in dx.chunks_exact_mut(w).zip(grad.chunks_exact(4 * w)) {
                    let (top, bottom) = rows.split_at(2 * w);
                    for ((d, t), b) in row
                        .iter_mut()
                        .zip(top.chunks_exact(2))
                        .zip(bottom.chunks_exact(2))
                    {
                        *d = (t[0] + b[0]) + (t[1] + b[1]);
                    }
                }
            }
        });
    tensor(dx, &g.shape)
}
