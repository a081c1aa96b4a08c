//! Stride-1 convolution read straight from a zero-padded copy of each image, without a patch
//! matrix: forward, input gradient and weight gradient.
//!
//! On a grid of positions as wide as the padded image (`wp` columns), the pixel that kernel tap
//! `(c, i, j)` sees at grid position `q` is `padded[c·plane + i·wp + j + q]`: one constant
//! offset per tap. A tile of 4 output channels × 24 grid positions is then, summed over taps,
//! 4 broadcast weights times 24 consecutive padded values, kept in 12 AVX2 registers with fused
//! multiply-adds. Nothing is gathered or packed per image; each row of the grid computes
//! `kw − 1` extra positions that are dropped. The input gradient of a stride-1 convolution is
//! such a convolution of the output gradient (weights transposed and rotated by 180°), and the
//! weight gradient sums, over grid positions, the output gradient times the tap-shifted padded
//! input. The kernels run through pulp's `V3` token, which checks AVX2 and FMA at run time;
//! without them the patch-matrix path of [`super::conv`] runs instead.

use pulp::f32x8;
use pulp::x86::V3;
use pulp::{Simd, WithSimd};

/// Lanes of one AVX2 register.
const LANES: usize = 8;
/// Registers of output channels in a product tile.
const VECS: usize = 2;
/// Output channels per product tile (two registers' lanes).
pub(super) const CHANNELS: usize = VECS * LANES;
/// Grid positions per product tile: with [`CHANNELS`], 12 accumulating registers.
pub(super) const POSITIONS: usize = 6;
/// Output-gradient rows per weight-gradient tile.
const ROWS: usize = 4;
/// Taps summed in one pass over a product tile's positions.
const CHUNK_TAPS: usize = 72;
/// The grid's length is a multiple of this: whole product tiles and whole registers.
const SPAN_STEP: usize = 24;

/// The AVX2 + FMA token when this CPU has both.
pub fn simd() -> Option<V3> {
    V3::try_new()
}

/// `rows` rounded up to whole weight-gradient tiles (the extra rows are zero).
pub fn whole_tiles(rows: usize) -> usize {
    rows.div_ceil(ROWS) * ROWS
}

/// `channels` rounded up to whole product tiles (the extra channels are zero).
pub(super) fn whole_channels(channels: usize) -> usize {
    channels.div_ceil(CHANNELS) * CHANNELS
}

/// Where a stride-1 convolution reads and writes on its padded grid.
#[derive(Debug, Clone)]
pub struct Grid {
    channels: usize,
    h: usize,
    w: usize,
    top: usize,
    left: usize,
    out_h: usize,
    out_w: usize,
    /// Width of the padded image and of the grid.
    wp: usize,
    /// Values per padded channel plane.
    plane: usize,
    /// Grid positions computed: `out_h · wp` rounded up to whole tiles.
    span: usize,
    /// Per kernel tap `(c, i, j)`, its offset in the padded image.
    offsets: Vec<usize>,
}

impl Grid {
    /// The grid of a `channels × h × w` image convolved at stride 1 with a `kh × kw` kernel,
    /// padded by `top` rows and `left` columns, giving `out_h × out_w`; `None` when the image
    /// does not fit inside the padded plane that output implies.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        channels: usize,
        h: usize,
        w: usize,
        kernel: [usize; 2],
        top: usize,
        left: usize,
        out_h: usize,
        out_w: usize,
    ) -> Option<Self> {
        let [kh, kw] = kernel;
        if kh == 0 || kw == 0 || out_h == 0 || out_w == 0 {
            return None;
        }
        let hp = out_h + kh - 1;
        let wp = out_w + kw - 1;
        if top + h > hp || left + w > wp {
            return None;
        }
        let plane = hp * wp;
        let mut offsets = Vec::with_capacity(channels * kh * kw);
        for c in 0..channels {
            for i in 0..kh {
                for j in 0..kw {
                    offsets.push(c * plane + i * wp + j);
                }
            }
        }
        Some(Self {
            channels,
            h,
            w,
            top,
            left,
            out_h,
            out_w,
            wp,
            plane,
            span: (out_h * wp).div_ceil(SPAN_STEP) * SPAN_STEP,
            offsets,
        })
    }

    /// Kernel taps: the length of one row of weights.
    pub fn taps(&self) -> usize {
        self.offsets.len()
    }

    /// Values of a padded image: every plane, plus room for the last tile's reads past them.
    pub fn padded_len(&self) -> usize {
        let reach = self.offsets.last().map_or(0, |last| last + self.span);
        reach.max(self.channels * self.plane)
    }

    /// Values of a grid-shaped buffer of `rows` rows.
    pub fn grid_len(&self, rows: usize) -> usize {
        whole_tiles(rows) * self.span
    }

    /// Copies `image` `[channels, h, w]` into `padded` (`padded_len` values) with zeros around
    /// it; with a `mask`, only the values whose mask entry is positive (a ReLU's gradient).
    pub fn pad(&self, image: &[f32], mask: Option<&[f32]>, padded: &mut [f32]) {
        padded.fill(0.0);
        let (h, w) = (self.h, self.w);
        for c in 0..self.channels {
            for r in 0..h {
                let at = (c * h + r) * w;
                let src = &image[at..][..w];
                let dst = &mut padded[c * self.plane + (r + self.top) * self.wp + self.left..][..w];
                copy_masked(src, mask.map(|m| &m[at..][..w]), dst);
            }
        }
    }

    /// Values of the output of [`Grid::product`] for `channels` output channels.
    pub fn product_len(&self, channels: usize) -> usize {
        whole_channels(channels) * self.span
    }

    /// Lays `values` `[rows, out_h, out_w]` onto the grid (`grid_len(rows)` values), zero at
    /// the extra columns and past the last row; with a `mask` as in [`Grid::pad`].
    pub fn spread(&self, values: &[f32], mask: Option<&[f32]>, rows: usize, grid: &mut [f32]) {
        grid.fill(0.0);
        let (oh, ow) = (self.out_h, self.out_w);
        for row in 0..rows {
            for r in 0..oh {
                let at = (row * oh + r) * ow;
                let dst = &mut grid[row * self.span + r * self.wp..][..ow];
                copy_masked(&values[at..][..ow], mask.map(|m| &m[at..][..ow]), dst);
            }
        }
    }

    /// The output of [`Grid::product`] for `channels` output channels as `[channels, out_h,
    /// out_w]`, through `f(value, channel)`.
    pub fn compact(
        &self,
        sums: &[f32],
        channels: usize,
        out: &mut [f32],
        f: impl Fn(f32, usize) -> f32,
    ) {
        let (oh, ow) = (self.out_h, self.out_w);
        let stride = whole_channels(channels);
        for r in 0..oh {
            let sums = &sums[r * self.wp * stride..][..ow * stride];
            for c in 0..channels {
                let dst = &mut out[(c * oh + r) * ow..][..ow];
                for (d, s) in dst.iter_mut().zip(sums[c..].iter().step_by(stride)) {
                    *d = f(*s, c);
                }
            }
        }
    }

    /// `out[q·C + c] = Σ_t weights(c, t) · padded[offset(t) + q]` for every grid position `q`
    /// and output channel `c` of `packed` (see [`pack`]), `C` being the channels rounded up
    /// to whole tiles.
    pub fn product(&self, simd: V3, packed: &[[f32; CHANNELS]], padded: &[f32], out: &mut [f32]) {
        let blocks = packed.len() / self.taps().max(1);
        assert!(
            padded.len() >= self.padded_len() && out.len() >= blocks * CHANNELS * self.span,
            "direct convolution buffers too small"
        );
        Simd::vectorize(
            simd,
            Product {
                offsets: &self.offsets,
                span: self.span,
                simd,
                packed,
                padded,
                out,
            },
        );
    }

    /// Adds to `acc[r·taps + t]` the sum over grid positions of `grid[r·span + q]` times
    /// `padded[offset(t) + q]`: the weight gradient, with `grid` from [`Grid::spread`].
    pub fn correlate(&self, simd: V3, grid: &[f32], padded: &[f32], acc: &mut [f32]) {
        let taps = self.taps();
        let blocks = grid.len() / (ROWS * self.span);
        assert!(
            padded.len() >= self.padded_len() && acc.len() >= blocks * ROWS * taps,
            "direct convolution buffers too small"
        );
        Simd::vectorize(
            simd,
            Correlate {
                grid: self,
                simd,
                rows: grid,
                padded,
                acc,
            },
        );
    }

    /// [`Grid::correlate`] for `T` taps from `first` and one block of rows.
    #[inline(always)]
    fn correlate_taps<const T: usize>(
        &self,
        simd: V3,
        rows: &[f32],
        padded: &[f32],
        first: usize,
        acc: &mut [f32],
    ) {
        let span = self.span;
        let zero = simd.splat_f32x8(0.0);
        let mut sums = [[zero; T]; ROWS];
        let taps: [&[f32]; T] = std::array::from_fn(|t| &padded[self.offsets[first + t]..][..span]);
        let rows: [&[f32]; ROWS] = std::array::from_fn(|r| &rows[r * span..][..span]);
        for q in (0..span).step_by(LANES) {
            let x: [f32x8; T] = std::array::from_fn(|t| load(&taps[t][q..]));
            for r in 0..ROWS {
                let d = load(&rows[r][q..]);
                for t in 0..T {
                    sums[r][t] = simd.mul_add_f32x8(d, x[t], sums[r][t]);
                }
            }
        }
        let taps = self.taps();
        for (r, sums) in sums.iter().enumerate() {
            for (t, sum) in sums.iter().enumerate() {
                acc[r * taps + first + t] += simd.reduce_sum_f32s(*sum);
            }
        }
    }
}

/// `out[q·C + c] = Σ_t packed(c, t) · padded[offsets[t] + q]` for `q < span` (a multiple of
/// 6), as one operation compiled for AVX2 + FMA (pulp inlines it into a function with those
/// features enabled).
pub(super) struct Product<'a> {
    pub offsets: &'a [usize],
    pub span: usize,
    pub simd: V3,
    pub packed: &'a [[f32; CHANNELS]],
    pub padded: &'a [f32],
    pub out: &'a mut [f32],
}

impl WithSimd for Product<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Self {
            offsets: all_offsets,
            span,
            simd,
            packed,
            padded,
            out,
        } = self;
        let taps = all_offsets.len();
        let blocks = packed.len() / taps.max(1);
        let stride = blocks * CHANNELS;
        let zero = [[simd.splat_f32x8(0.0); VECS]; POSITIONS];
        for q in (0..span).step_by(POSITIONS) {
            let out = &mut out[q * stride..][..POSITIONS * stride];
            // Taps in chunks whose input values stay in the first-level cache while every
            // block of channels passes over them; partial sums wait in `out`.
            for first in (0..taps).step_by(CHUNK_TAPS) {
                let last = (first + CHUNK_TAPS).min(taps);
                let offsets = &all_offsets[first..last];
                for (block, weights) in packed.chunks_exact(taps).enumerate() {
                    let at = |p: usize, v: usize| p * stride + block * CHANNELS + v * LANES;
                    let start = if first == 0 {
                        zero
                    } else {
                        std::array::from_fn(|p| std::array::from_fn(|v| load(&out[at(p, v)..])))
                    };
                    let sums = tile(simd, offsets, &weights[first..last], &padded[q..], start);
                    for (p, sum) in sums.iter().enumerate() {
                        out[at(p, 0)..][..CHANNELS].copy_from_slice(&pulp::cast::<
                            [f32x8; VECS],
                            [f32; CHANNELS],
                        >(
                            *sum
                        ));
                    }
                }
            }
        }
    }
}

/// [`Grid::correlate`] as one operation compiled for AVX2 + FMA.
struct Correlate<'a> {
    grid: &'a Grid,
    simd: V3,
    rows: &'a [f32],
    padded: &'a [f32],
    acc: &'a mut [f32],
}

impl WithSimd for Correlate<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Self {
            grid,
            simd,
            rows,
            padded,
            acc,
        } = self;
        let (taps, span) = (grid.taps(), grid.span);
        for block in 0..rows.len() / (ROWS * span) {
            let rows = &rows[block * ROWS * span..][..ROWS * span];
            let acc = &mut acc[block * ROWS * taps..][..ROWS * taps];
            let mut t = 0;
            while t < taps {
                match taps - t {
                    1 => grid.correlate_taps::<1>(simd, rows, padded, t, acc),
                    2 => grid.correlate_taps::<2>(simd, rows, padded, t, acc),
                    _ => grid.correlate_taps::<3>(simd, rows, padded, t, acc),
                }
                t += 3;
            }
        }
    }
}

/// One register tile: for 16 output channels and 6 grid positions from the start of `padded`,
/// `start` plus the sums over `offsets`' taps (weights as registers, inputs broadcast).
#[inline(always)]
fn tile(
    simd: V3,
    offsets: &[usize],
    weights: &[[f32; CHANNELS]],
    padded: &[f32],
    start: [[f32x8; VECS]; POSITIONS],
) -> [[f32x8; VECS]; POSITIONS] {
    let mut sums = start;
    for (&offset, w) in offsets.iter().zip(weights) {
        let Some(x) = padded[offset..].first_chunk::<POSITIONS>() else {
            continue;
        };
        let w = pulp::cast::<[f32; CHANNELS], [f32x8; VECS]>(*w);
        for p in 0..POSITIONS {
            let a = simd.splat_f32x8(x[p]);
            for v in 0..VECS {
                sums[p][v] = simd.mul_add_f32x8(w[v], a, sums[p][v]);
            }
        }
    }
    sums
}

/// The 8 values at the start of `values` as a register (zeros past its end).
#[inline(always)]
fn load(values: &[f32]) -> f32x8 {
    match values.first_chunk::<LANES>() {
        Some(chunk) => pulp::cast(*chunk),
        None => pulp::cast([0.0f32; LANES]),
    }
}

/// Copies `src` into `dst`, keeping only the entries whose `mask` entry is positive.
fn copy_masked(src: &[f32], mask: Option<&[f32]>, dst: &mut [f32]) {
    match mask {
        None => dst.copy_from_slice(src),
        Some(mask) => {
            for ((d, s), m) in dst.iter_mut().zip(src).zip(mask) {
                *d = if *m > 0.0 { *s } else { 0.0 };
            }
        }
    }
}

/// Packs a row-major `[rows, taps]` weight matrix into blocks of 16 rows, tap-major within a
/// block (`packed[block·taps + t][r]`), rows past `rows` zero.
pub fn pack(weights: &[f32], rows: usize, taps: usize) -> Vec<[f32; CHANNELS]> {
    let blocks = rows.div_ceil(CHANNELS);
    let mut packed = vec![[0.0f32; CHANNELS]; blocks * taps];
    for row in 0..rows {
        for t in 0..taps {
            packed[(row / CHANNELS) * taps + t][row % CHANNELS] = weights[row * taps + t];
        }
    }
    packed
}

/// The weights `[cout, cin, kh, kw]` of a convolution as those of the one that gives its input
/// gradient: `[cin, cout, kh, kw]`, each kernel rotated by 180°.
pub fn transpose_rotate(
    weights: &[f32],
    cout: usize,
    cin: usize,
    kh: usize,
    kw: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; weights.len()];
    for co in 0..cout {
        for ci in 0..cin {
            for i in 0..kh {
                for j in 0..kw {
                    out[((ci * cout + co) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)] =
                        weights[((co * cin + ci) * kh + i) * kw + j];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition of a stride-1 convolution of one image.
    fn reference(
        image: &[f32],
        weights: &[f32],
        [cin, h, w]: [usize; 3],
        [cout, kh, kw]: [usize; 3],
        [top, left]: [usize; 2],
        [out_h, out_w]: [usize; 2],
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; cout * out_h * out_w];
        for co in 0..cout {
            for oh in 0..out_h {
                for ow in 0..out_w {
                    let mut sum = 0.0;
                    for ci in 0..cin {
                        for i in 0..kh {
                            for j in 0..kw {
                                let (ih, iw) = (oh + i, ow + j);
                                if ih < top || iw < left || ih - top >= h || iw - left >= w {
                                    continue;
                                }
                                sum += weights[((co * cin + ci) * kh + i) * kw + j]
                                    * image[(ci * h + ih - top) * w + iw - left];
                            }
                        }
                    }
                    out[(co * out_h + oh) * out_w + ow] = sum;
                }
            }
        }
        out
    }

    #[test]
    fn grid_product_matches_the_definition() {
        let Some(simd) = simd() else {
            return;
        };
        // (cin, h, w, cout, kh, kw, top, left, out_h, out_w)
        for (cin, h, w, cout, kh, kw, top, left, out_h, out_w) in [
            (1, 5, 7, 3, 3, 3, 1, 1, 5, 7),
            (3, 9, 4, 6, 5, 3, 2, 0, 7, 2),
            (2, 1, 1, 5, 3, 3, 1, 1, 1, 1),
            (5, 12, 11, 9, 1, 1, 0, 0, 12, 11),
        ] {
            let image: Vec<f32> = (0..cin * h * w)
                .map(|i| ((i * 7) % 11) as f32 - 5.0)
                .collect();
            let weights: Vec<f32> = (0..cout * cin * kh * kw)
                .map(|i| ((i * 5) % 13) as f32 * 0.25 - 1.5)
                .collect();
            let grid = Grid::new(cin, h, w, [kh, kw], top, left, out_h, out_w)
                .unwrap_or_else(|| panic!("geometry {cin} {h} {w} fits"));
            let mut padded = vec![f32::NAN; grid.padded_len()];
            grid.pad(&image, None, &mut padded);
            let mut sums = vec![0.0f32; grid.product_len(cout)];
            grid.product(simd, &pack(&weights, cout, grid.taps()), &padded, &mut sums);
            let mut out = vec![0.0f32; cout * out_h * out_w];
            grid.compact(&sums, cout, &mut out, |v, _| v);
            let expected = reference(
                &image,
                &weights,
                [cin, h, w],
                [cout, kh, kw],
                [top, left],
                [out_h, out_w],
            );
            assert_eq!(out, expected, "geometry {cin} {h} {w} {cout} {kh} {kw}");
        }
    }
}
