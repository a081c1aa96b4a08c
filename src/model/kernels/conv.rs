//! 2-D convolution on the CPU backend's tensors, forward and backward.
//!
//! Layers go to `Direct` (the [`super::direct`] and [`super::winograd`] kernels) where the CPU
//! allows: every pass of a stride-1 layer (the forward pass from 8 input channels), the forward
//! pass and weight gradient of a strided one with a kernel wider than 1. The rest gather
//! patches and multiply. The forward pass gathers each
//! image's patches into a `[cin·kh·kw, out_h·out_w]` matrix and multiplies the weights
//! `[cout, cin·kh·kw]` by it, so the product lands directly in NCHW order. The backward pass
//! reuses the same matrices: the weight gradient is the output gradient times the patches
//! (transposed), the input gradient is the weights (transposed) times the output gradient,
//! scattered back from patches to pixels. The products are blocked SIMD matrix products
//! (matrixmultiply, through nalgebra), one image at a time, images spread over the rayon pool.

use burn::backend::flex::FlexTensor;
use std::cell::RefCell;
use std::ops::Range;

use nalgebra::Dyn;
use rayon::prelude::*;
use std::borrow::Cow;

#[cfg(target_arch = "x86_64")]
use super::direct::{self, Grid};
#[cfg(target_arch = "x86_64")]
use super::masked_sum;
#[cfg(target_arch = "x86_64")]
use super::winograd::Winograd;
use pulp::{Simd, WithSimd};

use super::upsample::{self, UpsampleGeometry};
use super::{PARALLEL_CHUNK, in_place, sum, tensor, values, vectorized, zeros};

/// What the kernels apply to a convolution's output before returning it (and whose gradient
/// they apply in the backward pass, from the saved output).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Nothing: the convolution's output as it is.
    Identity,
    /// `max(v, 0)`.
    Relu,
    /// `v` where `v ≥ 0`, `slope · v` below (Burn's `leaky_relu`); the slope must lie between
    /// 0 and 1 (exclusive), so the output's sign tells which side each value was on.
    LeakyRelu(f32),
}

impl Activation {
    /// The activation of the value `v`.
    #[inline]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Self::Identity => v,
            Self::Relu => v.max(0.0),
            // With 0 < slope < 1, `v · slope` is the larger below zero and the smaller above:
            // the same values as the branch, without one to mispredict.
            Self::LeakyRelu(slope) => v.max(v * slope),
        }
    }

    /// `values[i] ← activation(values[i] + bias)`, the choice made once for the whole run (each
    /// loop calls [`Activation::apply`] on a constant variant) so that the loop vectorises.
    #[inline(always)]
    pub fn apply_with_bias(self, values: &mut [f32], bias: f32) {
        match self {
            Self::Identity => values
                .iter_mut()
                .for_each(|v| *v = Self::Identity.apply(*v + bias)),
            Self::Relu => values
                .iter_mut()
                .for_each(|v| *v = Self::Relu.apply(*v + bias)),
            Self::LeakyRelu(slope) => {
                let leaky = Self::LeakyRelu(slope);
                values.iter_mut().for_each(|v| *v = leaky.apply(*v + bias));
            }
        }
    }
}

/// The sizes of one convolution: input, kernel, stride, padding and the output they give.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Rows of zeros above the image.
    pub top: usize,
    /// Columns of zeros left of the image.
    pub left: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// What follows the convolution (applied to the output in place, its gradient in the
    /// backward pass from the saved output).
    pub activation: Activation,
}

impl ConvGeometry {
    /// The geometry of `x` `[batch, cin, h, w]` convolved with `weight` `[cout, cin, kh, kw]`
    /// at `stride` with `padding` `[top, bottom, left, right]`; `None` when the shapes do not
    /// fit together or the padded image is smaller than the kernel.
    pub fn new(
        x: &[usize],
        weight: &[usize],
        stride: [usize; 2],
        padding: [usize; 4],
    ) -> Option<Self> {
        let [batch, cin, h, w] = *x else { return None };
        let [cout, wcin, kh, kw] = *weight else {
            return None;
        };
        let [sh, sw] = stride;
        let [top, bottom, left, right] = padding;
        if wcin != cin || sh == 0 || sw == 0 || kh == 0 || kw == 0 {
            return None;
        }
        let padded_h = h + top + bottom;
        let padded_w = w + left + right;
        if padded_h < kh || padded_w < kw {
            return None;
        }
        Some(Self {
            batch,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            sh,
            sw,
            top,
            left,
            out_h: (padded_h - kh) / sh + 1,
            out_w: (padded_w - kw) / sw + 1,
            activation: Activation::Identity,
        })
    }

    /// Rows of the patch matrix: one per input channel and kernel tap.
    pub fn patch_len(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    /// Columns of the patch matrix: one per output pixel.
    pub fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    fn image_len(&self) -> usize {
        self.cin * self.h * self.w
    }

    /// For kernel column `j`, the output columns whose input column lies inside the image, as
    /// `lo..hi` (stride 1 only).
    fn valid_cols(&self, j: usize) -> (usize, usize) {
        let lo = self.left.saturating_sub(j).min(self.out_w);
        let hi = (self.w + self.left)
            .saturating_sub(j)
            .min(self.out_w)
            .max(lo);
        (lo, hi)
    }

    /// The input row read by output row `oh` at kernel row `i`, if it lies inside the image.
    fn input_row(&self, oh: usize, i: usize) -> Option<usize> {
        (oh * self.sh + i)
            .checked_sub(self.top)
            .filter(|&ih| ih < self.h)
    }

    /// The input column read by output column `ow` at kernel column `j`, if inside the image.
    fn input_col(&self, ow: usize, j: usize) -> Option<usize> {
        (ow * self.sw + j)
            .checked_sub(self.left)
            .filter(|&iw| iw < self.w)
    }
}

/// Gathers one image's patches: row `(c·kh + i)·kw + j` holds, for every output pixel, the input
/// pixel that kernel tap `(i, j)` of channel `c` sees there (zero in the padding).
fn gather_patches(g: &ConvGeometry, image: &[f32], patches: &mut [f32]) {
    let pixels = g.pixels();
    for c in 0..g.cin {
        let plane = &image[c * g.h * g.w..][..g.h * g.w];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &mut patches[((c * g.kh + i) * g.kw + j) * pixels..][..pixels];
                if g.sw == 1 && g.out_w == g.w {
                    gather_shifted(g, plane, i, j, row);
                } else {
                    gather_rows(g, plane, i, j, row);
                }
            }
        }
    }
}

/// Where one kernel tap's patch row meets the plane when output rows are as wide as input rows
/// (stride 1, "same" width): output index `q` reads plane index `q + shift`, a constant offset.
struct ShiftedSpan {
    /// Output rows whose input row lies inside the image.
    rows: Range<usize>,
    /// Within those rows' values, the ones whose shifted index lies inside the plane.
    inside: Range<usize>,
    /// The plane index of `inside.start`.
    from: usize,
    /// Columns `..left` and `right..` of every row wrapped around a row edge.
    left: usize,
    right: usize,
}

impl ShiftedSpan {
    fn new(g: &ConvGeometry, i: usize, j: usize) -> Self {
        let w = g.w;
        let first = (g.top.saturating_sub(i)).min(g.out_h);
        let last = (g.h + g.top).saturating_sub(i).min(g.out_h).max(first);
        let len = (last - first) * w;
        let shift = (i * w + j) as isize - (g.top * w + g.left) as isize;
        let start = (first * w) as isize + shift;
        let end = (last * w) as isize + shift;
        let lo = usize::try_from(-start).unwrap_or(0).min(len);
        let hi = (len
            - usize::try_from(end - (g.h * w) as isize)
                .unwrap_or(0)
                .min(len))
        .max(lo);
        let (left, right) = g.valid_cols(j);
        // An empty span reads nothing; its `from` is kept in bounds all the same.
        let from = usize::try_from(start + lo as isize).unwrap_or(0);
        Self {
            rows: first..last,
            inside: lo..hi,
            from: if lo == hi { 0 } else { from },
            left,
            right,
        }
    }

    /// Zeroes the wrapped columns of `values` (rows of `w`).
    fn clear_wrapped(&self, values: &mut [f32], w: usize) {
        if self.left > 0 || self.right < w {
            for row in values.chunks_exact_mut(w) {
                row[..self.left].iter_mut().for_each(|v| *v = 0.0);
                row[self.right..].iter_mut().for_each(|v| *v = 0.0);
            }
        }
    }
}

/// [`gather_patches`] for one tap when output rows are as wide as input rows: the rows inside
/// the image are one contiguous shifted copy, after which the columns that wrapped around a row
/// edge are zeroed.
fn gather_shifted(g: &ConvGeometry, plane: &[f32], i: usize, j: usize, row: &mut [f32]) {
    let span = ShiftedSpan::new(g, i, j);
    let w = g.w;
    row[..span.rows.start * w].fill(0.0);
    row[span.rows.end * w..].fill(0.0);
    let dst = &mut row[span.rows.start * w..span.rows.end * w];
    let ShiftedSpan { inside, from, .. } = &span;
    dst[..inside.start].fill(0.0);
    dst[inside.end..].fill(0.0);
    dst[inside.clone()].copy_from_slice(&plane[*from..*from + inside.len()]);
    span.clear_wrapped(dst, w);
}

/// [`gather_patches`] for one tap, row by row (any stride and padding).
fn gather_rows(g: &ConvGeometry, plane: &[f32], i: usize, j: usize, row: &mut [f32]) {
    for (oh, dst) in row.chunks_exact_mut(g.out_w).enumerate() {
        let Some(ih) = g.input_row(oh, i) else {
            dst.iter_mut().for_each(|v| *v = 0.0);
            continue;
        };
        let src = &plane[ih * g.w..][..g.w];
        if g.sw == 1 {
            let (lo, hi) = g.valid_cols(j);
            dst[..lo].iter_mut().for_each(|v| *v = 0.0);
            for (d, s) in dst[lo..hi].iter_mut().zip(&src[lo + j - g.left..]) {
                *d = *s;
            }
            dst[hi..].iter_mut().for_each(|v| *v = 0.0);
        } else {
            for (ow, d) in dst.iter_mut().enumerate() {
                *d = g.input_col(ow, j).map_or(0.0, |iw| src[iw]);
            }
        }
    }
}

/// The reverse of [`gather_patches`]: adds every patch entry back onto the input pixel it came
/// from (`image` starts zeroed). Entries that stand for padding are overwritten with zeros.
fn scatter_patches(g: &ConvGeometry, patches: &mut [f32], image: &mut [f32]) {
    let pixels = g.pixels();
    for c in 0..g.cin {
        let plane = &mut image[c * g.h * g.w..][..g.h * g.w];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &mut patches[((c * g.kh + i) * g.kw + j) * pixels..][..pixels];
                if g.sw == 1 && g.out_w == g.w {
                    scatter_shifted(g, row, i, j, plane);
                } else {
                    scatter_rows(g, row, i, j, plane);
                }
            }
        }
    }
}

/// [`scatter_patches`] for one tap of a [`gather_shifted`] layout: the entries that wrapped
/// around a row edge are zeroed, then the rows inside the image are added back with one
/// contiguous shifted sum.
fn scatter_shifted(g: &ConvGeometry, row: &mut [f32], i: usize, j: usize, plane: &mut [f32]) {
    let span = ShiftedSpan::new(g, i, j);
    let src = &mut row[span.rows.start * g.w..span.rows.end * g.w];
    span.clear_wrapped(src, g.w);
    let (inside, from) = (span.inside, span.from);
    for (d, s) in plane[from..from + inside.len()]
        .iter_mut()
        .zip(&src[inside])
    {
        *d += s;
    }
}

/// [`scatter_patches`] for one tap, row by row (any stride and padding).
fn scatter_rows(g: &ConvGeometry, row: &[f32], i: usize, j: usize, plane: &mut [f32]) {
    let (lo, hi) = g.valid_cols(j);
    for (oh, src) in row.chunks_exact(g.out_w).enumerate() {
        let Some(ih) = g.input_row(oh, i) else {
            continue;
        };
        let dst = &mut plane[ih * g.w..][..g.w];
        if g.sw == 1 {
            let dst = &mut dst[lo + j - g.left..hi + j - g.left];
            for (d, s) in dst.iter_mut().zip(&src[lo..hi]) {
                *d += s;
            }
        } else {
            for (ow, s) in src.iter().enumerate() {
                if let Some(iw) = g.input_col(ow, j) {
                    dst[iw] += s;
                }
            }
        }
    }
}

/// A row-major view of `rows × cols` values of `data`, where entry `(r, c)` sits at
/// `r·row_stride + c·col_stride` (so a transposed matrix is a view with the strides swapped).
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    fn view(self) -> nalgebra::MatrixView<'a, f32, Dyn, Dyn, Dyn, Dyn> {
        nalgebra::MatrixView::from_slice_with_strides_generic(
            self.data,
            Dyn(self.rows),
            Dyn(self.cols),
            Dyn(self.row_stride),
            Dyn(self.col_stride),
        )
    }
}

/// `out = a·b + beta·out` for a row-major `out` of `a.rows × b.cols` (a blocked SIMD matrix
/// product on the calling thread).
fn gemm(out: &mut [f32], a: Mat<'_>, b: Mat<'_>, beta: f32) {
    assert_eq!(a.cols, b.rows, "matrix product of mismatched shapes");
    assert!(
        out.len() >= a.rows * b.cols,
        "matrix product output too small"
    );
    // nalgebra hands a product to its blocked kernel only when every side exceeds 5; below
    // that its fallback mis-sizes strided views, so small products take the plain loop here.
    if a.rows <= SMALL_SIDE || b.cols <= SMALL_SIDE || a.cols <= SMALL_SIDE {
        for (r, row) in out.chunks_exact_mut(b.cols).take(a.rows).enumerate() {
            for (c, value) in row.iter_mut().enumerate() {
                let dot: f32 = (0..a.cols)
                    .map(|i| {
                        a.data[r * a.row_stride + i * a.col_stride]
                            * b.data[i * b.row_stride + c * b.col_stride]
                    })
                    .sum();
                *value = if beta == 0.0 {
                    dot
                } else {
                    dot + beta * *value
                };
            }
        }
        return;
    }
    let mut out =
        nalgebra::MatrixViewMut::<f32, Dyn, Dyn, Dyn, Dyn>::from_slice_with_strides_generic(
            out,
            Dyn(a.rows),
            Dyn(b.cols),
            Dyn(b.cols),
            Dyn(1),
        );
    out.gemm(1.0, &a.view(), &b.view(), beta);
}

/// Products with a side this short or shorter skip nalgebra's blocked kernel.
const SMALL_SIDE: usize = 5;

thread_local! {
    /// One patch matrix per thread, reused from layer to layer and step to step.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer resized to `len` values.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buffer = cell.borrow_mut();
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        f(&mut buffer[..len])
    })
}

/// How many images one parallel task takes: eight tasks per thread, so that when one thread
/// runs slower (other work on its core), the others take over its share instead of waiting.
fn images_per_task(batch: usize) -> usize {
    batch.div_ceil(8 * rayon::current_num_threads()).max(1)
}

/// Each backward task's share of the input gradient `dx` (`per_task` images of `image_len`
/// values), or `None` for every task of the `batch` when `dx` is empty (the input gradient is
/// not wanted).
fn task_parts(
    dx: &mut [f32],
    [batch, image_len]: [usize; 2],
    per_task: usize,
) -> Vec<Option<&mut [f32]>> {
    if dx.is_empty() {
        (0..batch.div_ceil(per_task)).map(|_| None).collect()
    } else {
        dx.chunks_mut(per_task * image_len).map(Some).collect()
    }
}

/// Runs `task(index, dx_part, acc)` for every task of [`task_parts`] on the rayon pool, each
/// with its own zeroed accumulator of `len` values, and returns the accumulators summed.
fn sum_over_tasks(
    dx_parts: Vec<Option<&mut [f32]>>,
    len: usize,
    task: impl Fn(usize, Option<&mut [f32]>, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    dx_parts
        .into_par_iter()
        .enumerate()
        .map(|(index, dx_part)| {
            let mut acc = vec![0.0f32; len];
            task(index, dx_part, &mut acc);
            acc
        })
        .reduce(
            || vec![0.0f32; len],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

/// The convolution of `x` `[batch, cin, h, w]` with `weight` and `bias` `[cout]`:
/// `[batch, cout, out_h, out_w]`.
pub fn forward(
    g: &ConvGeometry,
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
) -> FlexTensor {
    #[cfg(target_arch = "x86_64")]
    if let Some(direct) = Direct::new(g).filter(|_| g.cin >= DIRECT_MIN_CHANNELS) {
        return direct.forward(g, x, weight, bias);
    }
    let x = values(x);
    let weight = values(weight);
    let bias = values(bias);
    let (k, pixels) = (g.patch_len(), g.pixels());
    let mut out = zeros(g.batch * g.cout * pixels);
    out.par_chunks_mut(g.cout * pixels)
        .zip(x.par_chunks(g.image_len()))
        .for_each(|(out, image)| {
            with_scratch(k * pixels, |patches| {
                gather_patches(g, image, patches);
                gemm(
                    out,
                    Mat::new(&weight, g.cout, k),
                    Mat::new(patches, k, pixels),
                    0.0,
                );
            });
            for (plane, b) in out.chunks_exact_mut(pixels).zip(bias.iter()) {
                let activation = g.activation;
                plane.iter_mut().for_each(|v| *v = activation.apply(*v + b));
            }
        });
    tensor(out, &[g.batch, g.cout, g.out_h, g.out_w])
}

/// The gradient of the convolution's own output given the gradient `grad` of what the fused
/// activation returned (`output`): behind a ReLU the gradient as it is and the output as a mask
/// (the gradient passes only where the output is positive, and the kernels apply the mask as
/// they read the gradient); behind a leaky ReLU the gradient as [`through_leaky`] left it.
fn activation_gradient<'a>(
    g: &ConvGeometry,
    output: Option<&'a FlexTensor>,
    grad: &'a FlexTensor,
) -> (Cow<'a, [f32]>, Option<Cow<'a, [f32]>>) {
    match (g.activation, output) {
        (Activation::Relu, Some(output)) => (values(grad), Some(values(output))),
        _ => (values(grad), None),
    }
}

/// Behind a leaky ReLU, `grad` multiplied by the slope where the `output` is negative (by 1
/// elsewhere, so those values stay as they are), as Burn's `leaky_relu` backward step
/// multiplies; in place and in parallel when the gradient is not shared, so no buffer is
/// allocated (a fresh one costs more in page faults than the multiplications).
fn through_leaky(g: &ConvGeometry, output: Option<&FlexTensor>, grad: FlexTensor) -> FlexTensor {
    let (Activation::LeakyRelu(slope), Some(output)) = (g.activation, output) else {
        return grad;
    };
    let output = values(output);
    in_place(grad, |dy| {
        dy.par_chunks_mut(PARALLEL_CHUNK)
            .zip(output.par_chunks(PARALLEL_CHUNK))
            .for_each(|(dy, y)| vectorized(ScaleWhereNegative { dy, y, slope }));
    })
}

/// `dy[i] *= slope` where `y[i] < 0` (by 1 elsewhere), compiled for AVX2 where the CPU has it:
/// a select per value, not a branch that mispredicts on signs that change at random.
struct ScaleWhereNegative<'a> {
    dy: &'a mut [f32],
    y: &'a [f32],
    slope: f32,
}

impl WithSimd for ScaleWhereNegative<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Self { dy, y, slope } = self;
        for (d, &y) in dy.iter_mut().zip(y) {
            *d *= if y < 0.0 { slope } else { 1.0 };
        }
    }
}

/// Which gradients the backward pass should produce.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// The input's.
    pub x: bool,
    /// The weights'.
    pub weight: bool,
    /// The bias'.
    pub bias: bool,
}

/// The gradients of [`forward`] given the output's gradient `grad`: `(x, weight, bias)`, each
/// only when `wanted`. With a fused activation, `output` is what the forward pass returned.
pub fn backward(
    g: &ConvGeometry,
    x: &FlexTensor,
    weight: &FlexTensor,
    output: Option<&FlexTensor>,
    grad: FlexTensor,
    wanted: Wanted,
) -> (Option<FlexTensor>, Option<FlexTensor>, Option<FlexTensor>) {
    let grad = &through_leaky(g, output, grad);
    #[cfg(target_arch = "x86_64")]
    if let Some(direct) = Direct::new(g) {
        return direct.backward(g, x, weight, output, grad, wanted);
    }
    patch_backward(g, x, weight, output, grad, wanted)
}

/// [`forward`] of the ×2 nearest-neighbour upsampling `up` of `x` `[batch, cin, h, w]`: `g`
/// describes the convolution of the upsampled image (`2h × 2w`). A 3×3 "same" layer wide
/// enough for Winograd's tiles reads `x` as it is, on 9 points per tile
/// ([`Direct::upsampled`]); any other upsamples `x` first.
pub fn forward_upsampled(
    up: &UpsampleGeometry,
    g: &ConvGeometry,
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
) -> FlexTensor {
    debug_assert_eq!(up.output_shape(), [g.batch, g.cin, g.h, g.w]);
    #[cfg(target_arch = "x86_64")]
    if let Some(direct) = Direct::upsampled(g) {
        return direct.forward(g, x, weight, bias);
    }
    forward(g, &upsample::forward(up, x), weight, bias)
}

/// The gradients of [`forward_upsampled`], the input's at its own (half) size, as
/// [`backward`] gives them.
pub fn backward_upsampled(
    up: &UpsampleGeometry,
    g: &ConvGeometry,
    x: &FlexTensor,
    weight: &FlexTensor,
    output: Option<&FlexTensor>,
    grad: FlexTensor,
    wanted: Wanted,
) -> (Option<FlexTensor>, Option<FlexTensor>, Option<FlexTensor>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(direct) = Direct::upsampled(g) {
        let grad = &through_leaky(g, output, grad);
        return direct.backward(g, x, weight, output, grad, wanted);
    }
    let upsampled = upsample::forward(up, x);
    let (dx, dweight, dbias) = backward(g, &upsampled, weight, output, grad, wanted);
    (dx.map(|dx| upsample::backward(up, &dx)), dweight, dbias)
}

/// [`backward`] through patch matrices.
fn patch_backward(
    g: &ConvGeometry,
    x: &FlexTensor,
    weight: &FlexTensor,
    output: Option<&FlexTensor>,
    grad: &FlexTensor,
    wanted: Wanted,
) -> (Option<FlexTensor>, Option<FlexTensor>, Option<FlexTensor>) {
    let (k, pixels) = (g.patch_len(), g.pixels());
    let dy = match activation_gradient(g, output, grad) {
        (dy, Some(mask)) => Cow::Owned(
            dy.par_iter()
                .zip(mask.par_iter())
                .map(|(&d, &y)| if y > 0.0 { d } else { 0.0 })
                .collect(),
        ),
        (dy, None) => dy,
    };
    let x = values(x);
    let weight = values(weight);

    let per_task = images_per_task(g.batch);
    let mut dx = zeros(if wanted.x { g.batch * g.image_len() } else { 0 });
    let dx_parts = task_parts(&mut dx, [g.batch, g.image_len()], per_task);
    let weight_len = if wanted.weight { g.cout * k } else { 0 };
    let bias_len = if wanted.bias { g.cout } else { 0 };
    let sums = sum_over_tasks(dx_parts, weight_len + bias_len, |task, mut dx_part, acc| {
        let (weight_acc, bias_acc) = acc.split_at_mut(weight_len);
        let first = task * per_task;
        let last = (first + per_task).min(g.batch);
        for n in first..last {
            let dy_values = &dy[n * g.cout * pixels..][..g.cout * pixels];
            for (b, plane) in bias_acc.iter_mut().zip(dy_values.chunks_exact(pixels)) {
                *b += sum(plane);
            }
            let dy_n = Mat::new(dy_values, g.cout, pixels);
            with_scratch(k * pixels, |patches| {
                if wanted.weight {
                    gather_patches(g, &x[n * g.image_len()..][..g.image_len()], patches);
                    gemm(weight_acc, dy_n, Mat::new(patches, k, pixels).t(), 1.0);
                }
                if let Some(dx_part) = dx_part.as_deref_mut() {
                    gemm(patches, Mat::new(&weight, g.cout, k).t(), dy_n, 0.0);
                    let image = &mut dx_part[(n - first) * g.image_len()..][..g.image_len()];
                    scatter_patches(g, patches, image);
                }
            });
        }
    });

    let (weight_sums, bias_sums) = sums.split_at(weight_len);
    let weight_grad = wanted
        .weight
        .then(|| tensor(weight_sums.to_vec(), &[g.cout, g.cin, g.kh, g.kw]));
    let bias_grad = wanted.bias.then(|| tensor(bias_sums.to_vec(), &[g.cout]));
    let x_grad = wanted.x.then(|| tensor(dx, &[g.batch, g.cin, g.h, g.w]));
    (x_grad, weight_grad, bias_grad)
}

/// Input channels below which a stride-1 layer's forward pass stays on the patch-matrix path
/// (measured on SimpleCNN's 1-channel layer: 15.4k samples/s as patches, 12.0k direct, 9.7k
/// Winograd). Its backward pass is direct at any width (the deeper CNN's 1 → 32 weight
/// gradient: 1.49 ms per batch as patches, 0.67 ms direct).
#[cfg(target_arch = "x86_64")]
const DIRECT_MIN_CHANNELS: usize = 8;

/// Channels (input and output) from which a 3×3 layer takes Winograd's tiles: below, the
/// transforms cost more than the multiplications they save. ResNet-small's 16 → 16 layers at
/// 32×32 per batch of 64, since the transforms run in whole registers: forward 2.28–2.39 ms
/// Winograd, 2.45–2.75 ms direct; backward (weights and input) 3.31–3.60 ms, 3.67–4.00 ms.
#[cfg(target_arch = "x86_64")]
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// The direct (patch-free) path for a stride-1 convolution: the forward grid and the grid of
/// the convolution that gives the input gradient.
#[cfg(target_arch = "x86_64")]
struct Direct {
    simd: direct::Level,
    grid: Grid,
    /// For stride 1, the grid of the convolution that gives the input gradient (strided
    /// layers take theirs in [`Phase`]s).
    input_grid: Option<Grid>,
    /// For 3×3 kernels, the Winograd tilings of the forward pass and of the input gradient.
    winograd: Option<(Winograd, Winograd)>,
    /// For a stride above 1, the input gradient split by the input pixels' phases (see
    /// [`Phase`]); `None` where a phase would need negative padding (patch matrices then).
    phases: Option<Vec<Phase>>,
    /// The height and width of the input the layer is given: the geometry's own, or half of
    /// them where it is given the image before a ×2 upsampling ([`Direct::upsampled`]).
    input: [usize; 2],
}

/// One phase `(a, b)` of a strided layer's input gradient: the input pixels at rows
/// `s·u + a − top` and columns `s·v + b − left` receive only the kernel taps `(a + s·m,
/// b + s·n)`, so they are a stride-1 convolution of the output gradient with that sub-kernel
/// rotated by 180°, run by the direct kernels like any other. Together the `s²` phases cover
/// every input pixel once, with the forward pass's multiplications and no patch matrix.
#[cfg(target_arch = "x86_64")]
struct Phase {
    /// The kernel's first row and column in this phase (`a`, `b`).
    first: [usize; 2],
    /// Sub-kernel rows and columns.
    taps: [usize; 2],
    /// The phase's first input row and column.
    start: [usize; 2],
    /// Its input rows and columns.
    size: [usize; 2],
    /// The stride-1 convolution over the output gradient giving them.
    grid: Grid,
}

#[cfg(target_arch = "x86_64")]
impl Phase {
    /// The `s²` phases of `g`'s input gradient that receive any tap (a kernel smaller than the
    /// stride leaves some pixels without one: their gradient is zero); `None` where one needs
    /// padding the grids cannot express.
    fn all(g: &ConvGeometry) -> Option<Vec<Phase>> {
        let s = g.sh;
        let mut phases = Vec::new();
        for a in 0..s.min(g.kh) {
            for b in 0..s.min(g.kw) {
                let taps = [(g.kh - a).div_ceil(s), (g.kw - b).div_ceil(s)];
                // Padded row `top + r = s·u + a`: the first `u` with `r ≥ 0`.
                let u0 = g.top.saturating_sub(a).div_ceil(s);
                let v0 = g.left.saturating_sub(b).div_ceil(s);
                let start = [s * u0 + a - g.top, s * v0 + b - g.left];
                if start[0] >= g.h || start[1] >= g.w {
                    continue;
                }
                let size = [(g.h - 1 - start[0]) / s + 1, (g.w - 1 - start[1]) / s + 1];
                let top = (taps[0] - 1).checked_sub(u0)?;
                let left = (taps[1] - 1).checked_sub(v0)?;
                let grid = Grid::strided(
                    g.cout, g.out_h, g.out_w, taps, 1, top, left, size[0], size[1],
                )?;
                phases.push(Phase {
                    first: [a, b],
                    taps,
                    start,
                    size,
                    grid,
                });
            }
        }
        Some(phases)
    }

    /// The sub-kernel as the weights of the grid's convolution: `[cin, cout, taps]`, rotated,
    /// packed for the product.
    fn weights(&self, g: &ConvGeometry, weight: &[f32]) -> Vec<[f32; direct::CHANNELS]> {
        let ([a, b], [m, n], s) = (self.first, self.taps, g.sh);
        let mut rows = Vec::with_capacity(g.cin * g.cout * m * n);
        for ci in 0..g.cin {
            for co in 0..g.cout {
                for i in 0..m {
                    for j in 0..n {
                        let (ki, kj) = (a + s * (m - 1 - i), b + s * (n - 1 - j));
                        rows.push(weight[((co * g.cin + ci) * g.kh + ki) * g.kw + kj]);
                    }
                }
            }
        }
        direct::pack(&rows, g.cin, g.cout * m * n)
    }

    /// Values of scratch [`Phase::input_gradient`] needs.
    fn scratch_len(&self, cin: usize) -> usize {
        self.grid.padded_len() + self.grid.product_len(cin) + cin * self.size[0] * self.size[1]
    }

    /// Writes this phase's pixels of one image's input gradient `dx` `[cin, h, w]` from its
    /// output gradient `dy` (masked as in [`Grid::pad`]).
    #[allow(clippy::too_many_arguments)]
    fn input_gradient(
        &self,
        simd: direct::Level,
        g: &ConvGeometry,
        packed: &[[f32; direct::CHANNELS]],
        dy: &[f32],
        mask: Option<&[f32]>,
        scratch: &mut [f32],
        dx: &mut [f32],
    ) {
        let grid = &self.grid;
        let (padded, rest) = scratch.split_at_mut(grid.padded_len());
        let (sums, pixels) = rest.split_at_mut(grid.product_len(g.cin));
        let ([rows, cols], [r0, c0], s) = (self.size, self.start, g.sh);
        let pixels = &mut pixels[..g.cin * rows * cols];
        grid.pad(dy, mask, padded);
        grid.product_rows(simd, packed, g.cin, padded, sums);
        grid.compact(sums, g.cin, pixels, |v, _| v);
        for (c, plane) in pixels.chunks_exact(rows * cols).enumerate() {
            for (u, row) in plane.chunks_exact(cols).enumerate() {
                let at = (c * g.h + r0 + s * u) * g.w + c0;
                for (v, value) in row.iter().enumerate() {
                    dx[at + s * v] = *value;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Direct {
    /// `None` where the direct kernels do not apply: a stride other than 1, padding as
    /// wide as the kernel (the input gradient's grid would need negative padding), no AVX2/FMA,
    /// or `CNN_WORKBENCH_KERNELS=patches`. Winograd's tiles need [`WINOGRAD_MIN_CHANNELS`].
    fn new(g: &ConvGeometry) -> Option<Self> {
        if g.sh != g.sw || !super::direct_enabled() {
            return None;
        }
        let kernel = [g.kh, g.kw];
        if g.sh > 1 {
            // A strided 1×1 layer reads a quarter of its input: gathering it is cheaper than
            // padding all of it.
            if g.kh * g.kw == 1 {
                return None;
            }
            let grid = Grid::strided(
                g.cin, g.h, g.w, kernel, g.sh, g.top, g.left, g.out_h, g.out_w,
            )?;
            return Some(Self {
                simd: direct::simd()?,
                grid,
                input_grid: None,
                winograd: None,
                phases: Phase::all(g),
                input: [g.h, g.w],
            });
        }
        let bottom = (g.out_h + g.kh - 1).checked_sub(g.h + g.top)?;
        let right = (g.out_w + g.kw - 1).checked_sub(g.w + g.left)?;
        if g.top >= g.kh || bottom >= g.kh || g.left >= g.kw || right >= g.kw {
            return None;
        }
        let winograd = (kernel == [3, 3]
            && g.cin.min(g.cout) >= WINOGRAD_MIN_CHANNELS
            && super::winograd_enabled())
        .then(|| {
            Some((
                Winograd::best(g.cin, [g.h, g.w], [g.top, g.left], [g.out_h, g.out_w])?,
                Winograd::best(
                    g.cout,
                    [g.out_h, g.out_w],
                    [2 - g.top, 2 - g.left],
                    [g.h, g.w],
                )?,
            ))
        });
        Some(Self {
            phases: None,
            input: [g.h, g.w],
            winograd: winograd.flatten(),
            simd: direct::simd()?,
            grid: Grid::new(g.cin, g.h, g.w, kernel, g.top, g.left, g.out_h, g.out_w)?,
            input_grid: Some(Grid::new(
                g.cout,
                g.out_h,
                g.out_w,
                kernel,
                g.kh - 1 - g.top,
                g.kw - 1 - g.left,
                g.h,
                g.w,
            )?),
        })
    }

    /// The path for `g` applied to the ×2 nearest upsampling of the image it is given (`g`
    /// describes the convolution of the upsampled image): Winograd's 9-point tilings
    /// ([`Winograd::upsampled`], [`Winograd::summed`]) for a 3×3 layer padded by one on every
    /// side with [`WINOGRAD_MIN_CHANNELS`]; `None` for any other.
    fn upsampled(g: &ConvGeometry) -> Option<Self> {
        let same =
            g.out_h == g.h && g.out_w == g.w && g.h.is_multiple_of(2) && g.w.is_multiple_of(2);
        let padded = [g.kh, g.kw, g.sh, g.sw, g.top, g.left] == [3, 3, 1, 1, 1, 1];
        if !same || !padded || g.cin.min(g.cout) < WINOGRAD_MIN_CHANNELS {
            return None;
        }
        if !super::direct_enabled() || !super::winograd_enabled() {
            return None;
        }
        let half = [g.h / 2, g.w / 2];
        Some(Self {
            simd: direct::simd()?,
            grid: Grid::new(g.cin, g.h, g.w, [3, 3], 1, 1, g.out_h, g.out_w)?,
            input_grid: Some(Grid::new(g.cout, g.h, g.w, [3, 3], 1, 1, g.h, g.w)?),
            winograd: Some((
                Winograd::upsampled(g.cin, half)?,
                Winograd::summed(g.cout, half)?,
            )),
            phases: None,
            input: half,
        })
    }

    /// Values of one image as the layer is given it.
    fn image_len(&self, g: &ConvGeometry) -> usize {
        g.cin * self.input[0] * self.input[1]
    }

    fn forward(
        &self,
        g: &ConvGeometry,
        x: &FlexTensor,
        weight: &FlexTensor,
        bias: &FlexTensor,
    ) -> FlexTensor {
        let image_len = self.image_len(g);
        let x = values(x);
        let bias = values(bias);
        let activation = g.activation;
        let finish = |v: f32, c: usize| activation.apply(v + bias[c]);
        if let Some((tiling, _)) = &self.winograd {
            let u = tiling.transform_weights(&values(weight), g.cout, g.cin);
            let scratch_len = tiling.scratch_len(g.cout);
            let mut out = zeros(g.batch * g.cout * g.pixels());
            out.par_chunks_mut(g.cout * g.pixels())
                .zip(x.par_chunks(image_len))
                .for_each(|(out, image)| {
                    with_scratch(scratch_len, |scratch| {
                        let finish = |plane: &mut [f32], c: usize| {
                            activation.apply_with_bias(plane, bias[c]);
                        };
                        tiling.convolve(self.simd, &u, g.cout, image, None, scratch, out, finish);
                    });
                });
            return tensor(out, &[g.batch, g.cout, g.out_h, g.out_w]);
        }
        let grid = &self.grid;
        let packed = direct::pack(&values(weight), g.cout, grid.taps());
        let (padded_len, sums_len) = (grid.padded_len(), grid.product_len(g.cout));
        let mut out = zeros(g.batch * g.cout * g.pixels());
        out.par_chunks_mut(g.cout * g.pixels())
            .zip(x.par_chunks(image_len))
            .for_each(|(out, image)| {
                with_scratch(padded_len + sums_len, |scratch| {
                    let (padded, sums) = scratch.split_at_mut(padded_len);
                    grid.pad(image, None, padded);
                    grid.product_rows(self.simd, &packed, g.cout, padded, sums);
                    grid.compact(sums, g.cout, out, finish);
                });
            });
        tensor(out, &[g.batch, g.cout, g.out_h, g.out_w])
    }

    fn backward(
        &self,
        g: &ConvGeometry,
        x: &FlexTensor,
        weight: &FlexTensor,
        output: Option<&FlexTensor>,
        grad: &FlexTensor,
        wanted: Wanted,
    ) -> (Option<FlexTensor>, Option<FlexTensor>, Option<FlexTensor>) {
        // A strided layer whose phases need padding the grids cannot express takes patch
        // matrices for its input gradient.
        let patch_x = wanted.x && self.input_grid.is_none() && self.phases.is_none();
        let x_grad = patch_x
            .then(|| {
                let only_x = Wanted {
                    x: true,
                    weight: false,
                    bias: false,
                };
                patch_backward(g, x, weight, output, grad, only_x).0
            })
            .flatten();
        let wanted = Wanted {
            x: wanted.x && !patch_x,
            ..wanted
        };
        let grid = &self.grid;
        let input_grid = self.input_grid.as_ref().unwrap_or(grid);
        let (dy, mask) = activation_gradient(g, output, grad);
        let x = values(x);
        // A strided layer's input gradient comes in phases, each with its own sub-kernel.
        let phases = self.phases.as_deref().filter(|_| wanted.x);
        let phase_weights: Option<Vec<_>> = phases.map(|phases| {
            let weight = values(weight);
            phases.iter().map(|p| p.weights(g, &weight)).collect()
        });
        let rotated = (wanted.x && self.input_grid.is_some()).then(|| {
            let weight = values(weight);
            direct::transpose_rotate(&weight, g.cout, g.cin, g.kh, g.kw)
        });
        let input_tiling = self.winograd.as_ref().map(|(_, tiling)| tiling);
        let rotated_u = rotated.as_deref().and_then(|rotated| {
            input_tiling.map(|tiling| tiling.transform_weights(rotated, g.cin, g.cout))
        });
        let rotated = rotated
            .as_deref()
            .filter(|_| input_tiling.is_none())
            .map(|rotated| direct::pack(rotated, g.cin, input_grid.taps()));
        let out_len = g.cout * g.pixels();
        let taps = grid.taps();
        // A 3×3 layer on Winograd's tiles takes them for its weight gradient too.
        let weight_tiling = self
            .winograd
            .as_ref()
            .map(|(tiling, _)| tiling)
            .filter(|_| wanted.weight);
        let few_weight = wanted.weight && weight_tiling.is_none() && g.cout <= direct::FEW_ROWS;
        let weight_len = match (wanted.weight, weight_tiling) {
            (false, _) => 0,
            (true, Some(tiling)) => tiling.correlate_acc_len(g.cout) * direct::CHANNELS,
            (true, None) => direct::whole_channels(g.cout) * taps,
        };
        let bias_len = if wanted.bias { g.cout } else { 0 };
        let lens = [
            match (wanted.weight, weight_tiling) {
                (false, _) => 0,
                (true, Some(tiling)) => tiling.correlate_scratch_len(g.cout),
                (true, None) => grid.padded_len(),
            },
            if wanted.weight {
                grid.grid_len(g.cout)
            } else {
                0
            },
            match (wanted.x, input_tiling, phases) {
                (false, _, _) => 0,
                (true, _, Some(phases)) => phases
                    .iter()
                    .map(|p| p.scratch_len(g.cin))
                    .max()
                    .unwrap_or(0),
                (true, Some(tiling), None) => tiling.scratch_len(g.cin),
                (true, None, None) => input_grid.padded_len(),
            },
            match (wanted.x, input_tiling, phases) {
                (true, None, None) => input_grid.product_len(g.cin),
                _ => 0,
            },
        ];

        let per_task = images_per_task(g.batch);
        let image_len = self.image_len(g);
        let mut dx = zeros(if wanted.x { g.batch * image_len } else { 0 });
        let dx_parts = task_parts(&mut dx, [g.batch, image_len], per_task);
        let sums = sum_over_tasks(dx_parts, weight_len + bias_len, |task, mut dx_part, acc| {
            let first = task * per_task;
            let last = (first + per_task).min(g.batch);
            with_scratch(lens.iter().sum(), |scratch| {
                let (padded, rest) = scratch.split_at_mut(lens[0]);
                let (spread, rest) = rest.split_at_mut(lens[1]);
                let (dy_padded, dx_sums) = rest.split_at_mut(lens[2]);
                let (weight_acc, bias_acc) = acc.split_at_mut(weight_len);
                for n in first..last {
                    let dy_n = &dy[n * out_len..][..out_len];
                    let mask_n = mask.as_deref().map(|m| &m[n * out_len..][..out_len]);
                    if few_weight {
                        // A few output channels: one dot product per tap and channel, without
                        // 16-channel tiles.
                        let image = &x[n * image_len..][..image_len];
                        grid.pad(image, None, padded);
                        let (weight_acc, _) = weight_acc.as_chunks_mut();
                        let simd = self.simd;
                        grid.correlate_few(simd, dy_n, mask_n, g.cout, padded, spread, weight_acc);
                    } else if wanted.weight {
                        let image = &x[n * image_len..][..image_len];
                        grid.interleave(self.simd.avx2(), dy_n, mask_n, g.cout, spread);
                        let (weight_acc, _) = weight_acc.as_chunks_mut();
                        if let Some(tiling) = weight_tiling {
                            let layout = [grid.width(), grid.span()];
                            let simd = self.simd;
                            tiling
                                .correlate(simd, image, spread, layout, g.cout, padded, weight_acc);
                        } else {
                            grid.pad(image, None, padded);
                            grid.correlate(self.simd, spread, padded, weight_acc);
                        }
                    }
                    if wanted.weight && wanted.bias && !few_weight {
                        grid.row_sums(spread, bias_acc);
                    } else if wanted.bias {
                        for (c, sum) in bias_acc.iter_mut().enumerate() {
                            let plane = &dy_n[c * g.pixels()..][..g.pixels()];
                            let m = mask_n.map(|m| &m[c * g.pixels()..][..g.pixels()]);
                            *sum += masked_sum(plane, m);
                        }
                    }
                    if let (Some(dx_part), Some(phases), Some(weights)) =
                        (dx_part.as_deref_mut(), phases, phase_weights.as_deref())
                    {
                        let image = &mut dx_part[(n - first) * image_len..][..image_len];
                        for (phase, packed) in phases.iter().zip(weights) {
                            let simd = self.simd;
                            phase.input_gradient(simd, g, packed, dy_n, mask_n, dy_padded, image);
                        }
                    } else if let (Some(dx_part), Some(tiling), Some(u)) =
                        (dx_part.as_deref_mut(), input_tiling, rotated_u.as_deref())
                    {
                        let image = &mut dx_part[(n - first) * image_len..][..image_len];
                        let (cin, v) = (g.cin, |_: &mut [f32], _| {});
                        tiling.convolve(self.simd, u, cin, dy_n, mask_n, dy_padded, image, v);
                    } else if let (Some(dx_part), Some(rotated)) =
                        (dx_part.as_deref_mut(), rotated.as_deref())
                    {
                        input_grid.pad(dy_n, mask_n, dy_padded);
                        input_grid.product_rows(self.simd, rotated, g.cin, dy_padded, dx_sums);
                        let image = &mut dx_part[(n - first) * image_len..][..image_len];
                        input_grid.compact(dx_sums, g.cin, image, |v, _| v);
                    }
                }
            });
        });
        let (weight_sums, bias_sums) = sums.split_at(weight_len);
        let weight_grad = wanted.weight.then(|| {
            let (packed, _) = weight_sums.as_chunks();
            let weights = match weight_tiling {
                Some(tiling) => tiling.weight_gradient(packed, g.cout, g.cin),
                None => direct::unpack(packed, g.cout, taps),
            };
            tensor(weights, &[g.cout, g.cin, g.kh, g.kw])
        });
        let bias_grad = wanted.bias.then(|| tensor(bias_sums.to_vec(), &[g.cout]));
        let [h, w] = self.input;
        let x_grad = x_grad.or_else(|| wanted.x.then(|| tensor(dx, &[g.batch, g.cin, h, w])));
        (x_grad, weight_grad, bias_grad)
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The generator's upsampling layers take the 9-point tilings wherever Winograd runs;
    /// layers the tilings do not fit do not.
    #[test]
    fn upsampled_layers_take_the_nine_point_tilings_where_they_fit() {
        let geometry = |cin, size, cout, kernel: usize, stride, pad| {
            let x = [2, cin, size, size];
            ConvGeometry::new(&x, &[cout, cin, kernel, kernel], [stride; 2], [pad; 4]).unwrap()
        };
        let winograd = direct::simd().is_some()
            && crate::model::kernels::direct_enabled()
            && crate::model::kernels::winograd_enabled();
        for g in [
            geometry(128, 14, 64, 3, 1, 1),
            geometry(64, 28, 32, 3, 1, 1),
        ] {
            assert_eq!(Direct::upsampled(&g).is_some(), winograd, "{g:?}");
        }
        for g in [
            geometry(8, 28, 32, 3, 1, 1),
            geometry(32, 28, 32, 5, 1, 2),
            geometry(32, 28, 32, 3, 2, 1),
            geometry(32, 28, 32, 3, 1, 0),
        ] {
            assert!(Direct::upsampled(&g).is_none(), "{g:?}");
        }
    }

    /// The phases of a strided layer's input gradient cover every input pixel a tap reaches
    /// exactly once (the others get none), for the layers the networks use and odd ones; the
    /// values themselves are checked against Burn in the kernels' tests.
    #[test]
    fn strided_input_gradient_phases_cover_each_pixel_once() {
        // (image, kernel, stride, padding)
        for (h, k, s, p) in [
            (14, 4, 2, 1),
            (13, 4, 2, 1),
            (32, 3, 2, 1),
            (11, 7, 2, 3),
            (10, 3, 3, 0),
        ] {
            let g = ConvGeometry::new(&[1, 2, h, h], &[3, 2, k, k], [s, s], [p; 4]).unwrap();
            let phases = Phase::all(&g).expect("no padding the grids cannot express");
            let mut hits = vec![0usize; h * h];
            for phase in &phases {
                let ([r0, c0], [rows, cols]) = (phase.start, phase.size);
                for u in 0..rows {
                    for v in 0..cols {
                        hits[(r0 + s * u) * h + c0 + s * v] += 1;
                    }
                }
            }
            assert!(
                hits.iter().all(|&n| n == 1),
                "{h}×{h}, {k}×{k} / {s} pad {p}: {hits:?}"
            );
        }
        // Padding of a stride or more before a one-tap phase would need the grid to start
        // inside the output gradient: such layers keep patch matrices.
        let g = ConvGeometry::new(&[1, 1, 10, 10], &[1, 1, 3, 3], [3, 3], [1; 4]).unwrap();
        assert!(Phase::all(&g).is_none());
        // A 2×2 kernel at stride 3 reaches two of every three rows and columns.
        let g = ConvGeometry::new(&[1, 1, 9, 9], &[1, 1, 2, 2], [3, 3], [0; 4]).unwrap();
        let phases = Phase::all(&g).unwrap();
        assert_eq!(phases.len(), 4);
        let pixels: usize = phases.iter().map(|p| p.size[0] * p.size[1]).sum();
        assert_eq!(pixels, 6 * 6);
    }
}
