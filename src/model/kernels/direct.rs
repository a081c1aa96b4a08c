//! Stride-1 convolution read straight from a zero-padded copy of each image, without a patch
//! matrix: forward, input gradient and weight gradient.
//!
//! On a grid of positions as wide as the padded image (`wp` columns), the pixel that kernel tap
//! `(c, i, j)` sees at grid position `q` is `padded[c·plane + i·wp + j + q]`: one constant
//! offset per tap. A forward tile of 16 output channels × 6 grid positions is then, summed
//! over taps, two registers of weights times 6 broadcast padded values, kept in 12 AVX2
//! registers with fused multiply-adds. Nothing is gathered per image; each row of the grid
//! computes `kw − 1` extra positions that are dropped. The input gradient of a stride-1
//! convolution is such a convolution of the output gradient (weights transposed and rotated by
//! 180°). The weight gradient sums, over grid positions, the output gradient times the
//! tap-shifted padded input: the output gradient is laid onto the grid with 16 channels
//! interleaved (8 × 8 blocks transposed in registers), and a tile of 16 channels × 6 taps loads
//! two registers of it per position and broadcasts one padded value per tap. With AVX-512
//! (pulp's `V4` token) the 16 channels fill one register instead of two, and the tiles are 16
//! channels × 12 positions (forward) and 16 channels × 12 taps (weight gradient), still 12
//! accumulating registers. [`simd`] picks the level at run time: AVX-512 where the CPU has
//! it, AVX2 + FMA otherwise (`CNN_WORKBENCH_SIMD=avx2` forces AVX2, for comparisons and for
//! the tests of that path); without either the patch-matrix path of [`super::conv`] runs.

use std::sync::OnceLock;

use pulp::x86::{V3, V4};
use pulp::{Simd, WithSimd};
use pulp::{f32x8, f32x16};

/// Lanes of one AVX2 register.
const LANES: usize = 8;
/// Registers of output channels in an AVX2 product tile.
const VECS: usize = 2;
/// Output channels per product tile (two AVX2 registers' lanes, one AVX-512 register's).
pub(super) const CHANNELS: usize = VECS * LANES;
/// Grid positions per AVX2 product tile: with [`CHANNELS`], 12 accumulating registers.
const POSITIONS: usize = 6;
/// Grid positions per AVX-512 product tile (12 accumulating registers).
const WIDE_POSITIONS: usize = 12;
/// A product's run of grid positions is a multiple of this: whole tiles at either level.
pub(super) const POSITION_STEP: usize = WIDE_POSITIONS;
/// Taps summed in one pass over a product tile's positions.
const CHUNK_TAPS: usize = 72;
/// The grid's length is a multiple of this: whole product tiles and whole registers.
const SPAN_STEP: usize = 24;
/// Taps per weight-gradient tile (12 accumulating registers at either level).
const TILE_TAPS: usize = 6;
const WIDE_TILE_TAPS: usize = 12;

/// The instruction level the kernels run at.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    /// AVX2 + FMA: 16 channels in two 8-lane registers.
    Avx2(V3),
    /// AVX-512 (F, BW, CD, DQ, VL): 16 channels in one register.
    Avx512(V4),
}

impl Level {
    /// The AVX2 token (every AVX-512 CPU has AVX2 and FMA), for the steps that stay at AVX2.
    pub fn avx2(self) -> V3 {
        match self {
            Level::Avx2(simd) => simd,
            Level::Avx512(simd) => *simd,
        }
    }

    /// `avx512` or `avx2`, as `CNN_WORKBENCH_SIMD` names them.
    pub fn name(self) -> &'static str {
        match self {
            Level::Avx2(_) => "avx2",
            Level::Avx512(_) => "avx512",
        }
    }

    /// Runs `op` compiled for this level.
    #[inline(always)]
    pub(super) fn vectorize<Op: WithSimd>(self, op: Op) -> Op::Output {
        match self {
            Level::Avx2(simd) => Simd::vectorize(simd, op),
            Level::Avx512(simd) => Simd::vectorize(simd, op),
        }
    }
}

/// The highest level this CPU has, AVX-512 before AVX2 + FMA, unless `CNN_WORKBENCH_SIMD=avx2`
/// holds it at AVX2; `None` without AVX2 and FMA.
pub fn simd() -> Option<Level> {
    static AVX2_ONLY: OnceLock<bool> = OnceLock::new();
    let avx2_only = *AVX2_ONLY.get_or_init(|| {
        std::env::var("CNN_WORKBENCH_SIMD").is_ok_and(|v| v.eq_ignore_ascii_case("avx2"))
    });
    match V4::try_new() {
        Some(simd) if !avx2_only => Some(Level::Avx512(simd)),
        _ => V3::try_new().map(Level::Avx2),
    }
}

/// Every level this CPU can run, for tests that check each one.
pub fn levels() -> Vec<Level> {
    let avx2 = V3::try_new().map(Level::Avx2);
    let avx512 = V4::try_new().map(Level::Avx512);
    avx2.into_iter().chain(avx512).collect()
}

/// 16 channels held in registers, with what the product tiles do to them.
trait Sixteen: Copy {
    /// The registers: two of 8 lanes at AVX2, one of 16 at AVX-512.
    type Reg: Copy + pulp::bytemuck::Pod;

    /// `acc + w · x` in every lane.
    fn mul_add(self, w: Self::Reg, x: f32, acc: Self::Reg) -> Self::Reg;

    /// `a + b` in every lane.
    fn add(self, a: Self::Reg, b: Self::Reg) -> Self::Reg;

    #[inline(always)]
    fn zero(self) -> Self::Reg {
        pulp::cast([0.0f32; CHANNELS])
    }

    #[inline(always)]
    fn load(self, values: &[f32; CHANNELS]) -> Self::Reg {
        pulp::cast(*values)
    }

    #[inline(always)]
    fn store(self, reg: Self::Reg) -> [f32; CHANNELS] {
        pulp::cast(reg)
    }
}

impl Sixteen for V3 {
    type Reg = [f32x8; VECS];

    #[inline(always)]
    fn mul_add(self, w: Self::Reg, x: f32, acc: Self::Reg) -> Self::Reg {
        let x = self.splat_f32x8(x);
        [
            self.mul_add_f32x8(w[0], x, acc[0]),
            self.mul_add_f32x8(w[1], x, acc[1]),
        ]
    }

    #[inline(always)]
    fn add(self, a: Self::Reg, b: Self::Reg) -> Self::Reg {
        [self.add_f32x8(a[0], b[0]), self.add_f32x8(a[1], b[1])]
    }
}

impl Sixteen for V4 {
    type Reg = f32x16;

    #[inline(always)]
    fn mul_add(self, w: Self::Reg, x: f32, acc: Self::Reg) -> Self::Reg {
        self.mul_add_f32x16(w, self.splat_f32x16(x), acc)
    }

    #[inline(always)]
    fn add(self, a: Self::Reg, b: Self::Reg) -> Self::Reg {
        self.add_f32x16(a, b)
    }
}

/// `channels` rounded up to whole product tiles (the extra channels are zero).
pub fn whole_channels(channels: usize) -> usize {
    channels.div_ceil(CHANNELS) * CHANNELS
}

/// Where a stride-1 convolution reads and writes on its padded grid.
#[derive(Debug, Clone)]
pub struct Grid {
    channels: usize,
    /// Rows and columns of the image that the output reads.
    h: usize,
    w: usize,
    top: usize,
    left: usize,
    out_h: usize,
    out_w: usize,
    /// Height and width of the input image.
    image_h: usize,
    image_w: usize,
    /// The convolution's stride (both directions).
    stride: usize,
    /// Rows of a phase plane (of the padded image when the stride is 1).
    hq: usize,
    /// Width of a phase plane (of the padded image when the stride is 1) and of the grid.
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
        if top + h > out_h + kh - 1 || left + w > out_w + kw - 1 {
            return None;
        }
        Self::strided(channels, h, w, kernel, 1, top, left, out_h, out_w)
    }

    /// The grid of a convolution at `stride` in both directions. The padded image is stored as
    /// `stride²` phase planes per channel (rows and columns split by their remainder modulo
    /// the stride), so that each tap is again one constant offset on a grid as wide as a phase
    /// plane. Rows and columns of the image past the last one the output reads are left out.
    #[allow(clippy::too_many_arguments)]
    pub fn strided(
        channels: usize,
        h: usize,
        w: usize,
        kernel: [usize; 2],
        stride: usize,
        top: usize,
        left: usize,
        out_h: usize,
        out_w: usize,
    ) -> Option<Self> {
        let [kh, kw] = kernel;
        if kh == 0 || kw == 0 || out_h == 0 || out_w == 0 || stride == 0 {
            return None;
        }
        // The padded image the output reads, and each phase plane of it.
        let hp = (out_h - 1) * stride + kh;
        let wp = (out_w - 1) * stride + kw;
        if top >= hp || left >= wp {
            return None;
        }
        let (hq, wq) = (hp.div_ceil(stride), wp.div_ceil(stride));
        let phase = hq * wq;
        let plane = stride * stride * phase;
        let mut offsets = Vec::with_capacity(channels * kh * kw);
        for c in 0..channels {
            for i in 0..kh {
                for j in 0..kw {
                    let at_phase = ((i % stride) * stride + j % stride) * phase;
                    offsets.push(c * plane + at_phase + (i / stride) * wq + j / stride);
                }
            }
        }
        Some(Self {
            channels,
            h: h.min(hp - top),
            w: w.min(wp - left),
            image_h: h,
            image_w: w,
            top,
            left,
            out_h,
            out_w,
            stride,
            hq,
            wp: wq,
            plane,
            span: (out_h * wq).div_ceil(SPAN_STEP) * SPAN_STEP,
            offsets,
        })
    }

    /// Kernel taps: the length of one row of weights.
    pub fn taps(&self) -> usize {
        self.offsets.len()
    }

    /// Columns of the grid: [`Grid::interleave`] puts output pixel `(r, col)` at position
    /// `r · width + col`.
    pub(super) fn width(&self) -> usize {
        self.wp
    }

    /// Grid positions computed per row of channels (see [`Grid::interleave`]).
    pub(super) fn span(&self) -> usize {
        self.span
    }

    /// Grid positions that hold outputs, `out_h · wp`: the span past them is rounding, which
    /// the products round to whole tiles of [`POSITION_STEP`] only and the weight gradient
    /// skips (a 7×7 output on an 8-wide grid is 56 positions of a span of 72).
    fn positions(&self) -> usize {
        self.out_h * self.wp
    }

    /// Values of a padded image: every plane, plus room for the last tile's reads past them.
    pub fn padded_len(&self) -> usize {
        let reach = self.offsets.iter().max().map_or(0, |last| last + self.span);
        reach.max(self.channels * self.plane)
    }

    /// Values of a grid-shaped buffer of `rows` rows (see [`Grid::interleave`]).
    pub fn grid_len(&self, rows: usize) -> usize {
        whole_channels(rows) * self.span
    }

    /// Copies `image` `[channels, h, w]` into `padded` (`padded_len` values) with zeros around
    /// it; with a `mask`, only the values whose mask entry is positive (a ReLU's gradient).
    pub fn pad(&self, image: &[f32], mask: Option<&[f32]>, padded: &mut [f32]) {
        padded.fill(0.0);
        let (h, w, s) = (self.h, self.w, self.stride);
        let phase = self.hq * self.wp;
        for c in 0..self.channels {
            for r in 0..h {
                let at = (c * self.image_h + r) * self.image_w;
                let src = &image[at..][..w];
                let mask = mask.map(|m| &m[at..][..w]);
                let (y, x) = (r + self.top, self.left);
                let row = c * self.plane + (y % s) * s * phase + (y / s) * self.wp;
                if s == 1 {
                    copy_masked(src, mask, &mut padded[row + x..][..w]);
                    continue;
                }
                // Column `k` of the image lands in phase `(x + k) % s` at `(x + k) / s`: per
                // phase, every `s`-th column, contiguous.
                for first in 0..s.min(w) {
                    let column = x + first;
                    let at = row + (column % s) * phase + column / s;
                    let dst = padded[at..].iter_mut();
                    let src = src[first..].iter().step_by(s);
                    match mask {
                        None => dst.zip(src).for_each(|(d, v)| *d = *v),
                        Some(m) => dst
                            .zip(src)
                            .zip(m[first..].iter().step_by(s))
                            .for_each(|((d, v), m)| *d = if *m > 0.0 { *v } else { 0.0 }),
                    }
                }
            }
        }
    }

    /// Values of the output of [`Grid::product`] for `channels` output channels.
    pub fn product_len(&self, channels: usize) -> usize {
        whole_channels(channels) * self.span
    }

    /// Lays `values` `[rows, out_h, out_w]` onto the grid with 16 rows interleaved:
    /// `grid[(b·span + q)·16 + l]` is row `16·b + l` at grid position `q`
    /// (`grid_len(rows)` values), zero at the extra columns, past the last row and in the
    /// rows past `rows`; with a `mask` as in [`Grid::pad`].
    pub fn interleave(
        &self,
        simd: V3,
        values: &[f32],
        mask: Option<&[f32]>,
        rows: usize,
        grid: &mut [f32],
    ) {
        let len = rows * self.out_h * self.out_w;
        assert!(
            values.len() >= len
                && mask.is_none_or(|m| m.len() >= len)
                && grid.len() >= self.grid_len(rows),
            "direct convolution buffers too small"
        );
        Simd::vectorize(
            simd,
            Interleave {
                grid: self,
                simd,
                values,
                mask,
                rows,
                out: grid,
            },
        );
    }

    /// Adds to `sums[r]` the sum of row `r` of `grid` (laid out by [`Grid::interleave`]) for
    /// the first `sums.len()` rows: the bias gradient.
    pub fn row_sums(&self, grid: &[f32], sums: &mut [f32]) {
        let blocks = sums.len().div_ceil(CHANNELS);
        let grid = &grid[..blocks * self.span * CHANNELS];
        for (block, sums) in grid
            .chunks_exact(self.span * CHANNELS)
            .zip(sums.chunks_mut(CHANNELS))
        {
            let mut lanes = [0.0f32; CHANNELS];
            for row in block.as_chunks::<CHANNELS>().0 {
                lanes.iter_mut().zip(row).for_each(|(l, v)| *l += v);
            }
            sums.iter_mut().zip(lanes).for_each(|(s, l)| *s += l);
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
    pub fn product(
        &self,
        simd: Level,
        packed: &[[f32; CHANNELS]],
        padded: &[f32],
        out: &mut [f32],
    ) {
        let blocks = packed.len() / self.taps().max(1);
        assert!(
            padded.len() >= self.padded_len() && out.len() >= blocks * CHANNELS * self.span,
            "direct convolution buffers too small"
        );
        let positions = self.positions().div_ceil(POSITION_STEP) * POSITION_STEP;
        product(simd, &self.offsets, positions, packed, padded, out);
    }

    /// Adds to `acc[b·taps + t][l]` the sum over grid positions `q` of `grid`'s row
    /// `16·b + l` at `q` times `padded[offset(t) + q]`: the weight gradient, with `grid`
    /// from [`Grid::interleave`] and `acc` laid out as [`pack`]'s output.
    pub fn correlate(
        &self,
        simd: Level,
        grid: &[f32],
        padded: &[f32],
        acc: &mut [[f32; CHANNELS]],
    ) {
        let taps = self.taps();
        let blocks = acc.len() / taps.max(1);
        assert!(
            padded.len() >= self.padded_len() && grid.len() >= blocks * self.span * CHANNELS,
            "direct convolution buffers too small"
        );
        let layout = [self.span, self.positions()];
        correlate(simd, &self.offsets, layout, grid, padded, acc);
    }
}

/// Output rows (channels) up to which [`Grid::product_few`] and [`Grid::correlate_few`] take
/// the place of the 16-channel tiles: a generator's last layer (1 or 3 channels out), a first
/// layer's input gradient. Below, most lanes of a 16-channel tile would be padding.
pub const FEW_ROWS: usize = 4;

/// Grid positions per run of the few-row kernels: 12 AVX2 registers (6 AVX-512 ones) of
/// independent sums, so the multiply-adds need not wait on one another.
const FEW_RUN: usize = 96;

impl Grid {
    /// [`Grid::product`] for the first `rows` output rows of `packed`: on
    /// [`Grid::product_few`] for at most [`FEW_ROWS`] of them, on the 16-row tiles otherwise.
    pub fn product_rows(
        &self,
        simd: Level,
        packed: &[[f32; CHANNELS]],
        rows: usize,
        padded: &[f32],
        out: &mut [f32],
    ) {
        if rows <= FEW_ROWS {
            self.product_few(simd, packed, rows, padded, out);
        } else {
            self.product(simd, packed, padded, out);
        }
    }

    /// [`Grid::product`] for at most [`FEW_ROWS`] output rows, grid positions in the lanes:
    /// per run of positions, each tap is one multiply-add of a broadcast weight with the
    /// padded values at the tap's offset. Writes the same layout as [`Grid::product`].
    pub fn product_few(
        &self,
        simd: Level,
        packed: &[[f32; CHANNELS]],
        rows: usize,
        padded: &[f32],
        out: &mut [f32],
    ) {
        let taps = self.taps();
        assert!(
            rows <= FEW_ROWS.min(CHANNELS)
                && packed.len() >= taps
                && padded.len() >= self.padded_len()
                && out.len() >= CHANNELS * self.span,
            "direct convolution buffers too small"
        );
        simd.vectorize(FewProduct {
            offsets: &self.offsets,
            span: self.span,
            packed: &packed[..taps],
            rows,
            padded,
            out,
        });
    }

    /// [`Grid::interleave`] and [`Grid::correlate`] for at most [`FEW_ROWS`] rows of `values`
    /// `[rows, out_h, out_w]` (masked as in [`Grid::pad`]): each row laid on the grid in
    /// `line` (`span` values) and each tap's sum one dot product with the padded values at
    /// its offset, added to lane `row` of `acc[tap]`.
    #[allow(clippy::too_many_arguments)]
    pub fn correlate_few(
        &self,
        simd: Level,
        values: &[f32],
        mask: Option<&[f32]>,
        rows: usize,
        padded: &[f32],
        line: &mut [f32],
        acc: &mut [[f32; CHANNELS]],
    ) {
        let plane = self.out_h * self.out_w;
        assert!(
            rows <= FEW_ROWS.min(CHANNELS)
                && values.len() >= rows * plane
                && mask.is_none_or(|m| m.len() >= rows * plane)
                && padded.len() >= self.padded_len()
                && line.len() >= self.span
                && acc.len() >= self.taps(),
            "direct convolution buffers too small"
        );
        let line = &mut line[..self.span];
        for row in 0..rows {
            line.fill(0.0);
            for r in 0..self.out_h {
                let at = (row * self.out_h + r) * self.out_w;
                let src = &values[at..][..self.out_w];
                let mask = mask.map(|m| &m[at..][..self.out_w]);
                copy_masked(src, mask, &mut line[r * self.wp..][..self.out_w]);
            }
            simd.vectorize(FewCorrelate {
                offsets: &self.offsets,
                line,
                row,
                padded,
                acc: &mut *acc,
            });
        }
    }
}

/// [`Grid::product_few`] as one operation.
struct FewProduct<'a> {
    offsets: &'a [usize],
    span: usize,
    packed: &'a [[f32; CHANNELS]],
    rows: usize,
    padded: &'a [f32],
    out: &'a mut [f32],
}

impl WithSimd for FewProduct<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Self {
            offsets,
            span,
            packed,
            rows,
            padded,
            out,
        } = self;
        for row in 0..rows {
            let mut q = 0;
            while q + FEW_RUN <= span {
                let sums = few_run::<FEW_RUN>(offsets, packed, row, padded, q);
                for (l, sum) in sums.iter().enumerate() {
                    out[(q + l) * CHANNELS + row] = *sum;
                }
                q += FEW_RUN;
            }
            // The rest in whole steps (the span is a multiple of `SPAN_STEP`).
            while q < span {
                let sums = few_run::<SPAN_STEP>(offsets, packed, row, padded, q);
                for (l, sum) in sums.iter().enumerate() {
                    out[(q + l) * CHANNELS + row] = *sum;
                }
                q += SPAN_STEP;
            }
        }
    }
}

/// The sums over taps of lane `row` of each tap's weights times the padded values at the
/// tap's offset, for the `N` grid positions from `q`.
#[inline(always)]
fn few_run<const N: usize>(
    offsets: &[usize],
    packed: &[[f32; CHANNELS]],
    row: usize,
    padded: &[f32],
    q: usize,
) -> [f32; N] {
    let mut sums = [0.0f32; N];
    for (&offset, weights) in offsets.iter().zip(packed) {
        let w = weights[row];
        let Some(x) = padded[offset + q..].first_chunk::<N>() else {
            unreachable!("the padded image covers every tap's run");
        };
        for l in 0..N {
            sums[l] = w.mul_add(x[l], sums[l]);
        }
    }
    sums
}

/// One row of [`Grid::correlate_few`] as one operation.
struct FewCorrelate<'a> {
    offsets: &'a [usize],
    line: &'a [f32],
    row: usize,
    padded: &'a [f32],
    acc: &'a mut [[f32; CHANNELS]],
}

impl WithSimd for FewCorrelate<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        const LANES: usize = 2 * SPAN_STEP;
        let Self {
            offsets,
            line,
            row,
            padded,
            acc,
        } = self;
        let (runs, rest) = line.as_chunks::<LANES>();
        for (&offset, acc) in offsets.iter().zip(acc.iter_mut()) {
            let x = &padded[offset..][..line.len()];
            let (x_runs, x_rest) = x.as_chunks::<LANES>();
            let mut sums = [0.0f32; LANES];
            for (d, x) in runs.iter().zip(x_runs) {
                for l in 0..LANES {
                    sums[l] = d[l].mul_add(x[l], sums[l]);
                }
            }
            for (d, x) in rest.iter().zip(x_rest) {
                sums[0] = d.mul_add(*x, sums[0]);
            }
            acc[row] += sums.iter().sum::<f32>();
        }
    }
}

/// `acc[b·taps + t][l] += Σ_q rows[(b·span + q)·16 + l] · padded[offsets[t] + q]` for
/// `q < positions` (`layout` is `[span, positions]`), compiled for `simd`'s level:
/// [`Grid::correlate`] on any layout of offsets.
pub(super) fn correlate(
    simd: Level,
    offsets: &[usize],
    layout: [usize; 2],
    rows: &[f32],
    padded: &[f32],
    acc: &mut [[f32; CHANNELS]],
) {
    match simd {
        Level::Avx2(simd) => {
            correlate_at::<_, TILE_TAPS>(simd, offsets, layout, rows, padded, acc);
        }
        Level::Avx512(simd) => {
            correlate_at::<_, WIDE_TILE_TAPS>(simd, offsets, layout, rows, padded, acc);
        }
    }
}

/// [`Correlate`] compiled for `simd`'s level, in tiles of up to `T` taps.
fn correlate_at<S: Sixteen + Simd, const T: usize>(
    simd: S,
    offsets: &[usize],
    [span, positions]: [usize; 2],
    rows: &[f32],
    padded: &[f32],
    acc: &mut [[f32; CHANNELS]],
) {
    let op = Correlate::<S, T> {
        offsets,
        span,
        positions,
        simd,
        rows,
        padded,
        acc,
    };
    Simd::vectorize(simd, op);
}

/// `out[q·C + c] = Σ_t packed(c, t) · padded[offsets[t] + q]` for `q < span` (a multiple of
/// [`POSITION_STEP`]), compiled for `simd`'s level.
pub(super) fn product(
    simd: Level,
    offsets: &[usize],
    span: usize,
    packed: &[[f32; CHANNELS]],
    padded: &[f32],
    out: &mut [f32],
) {
    match simd {
        Level::Avx2(simd) => product_at::<_, POSITIONS>(simd, offsets, span, packed, padded, out),
        Level::Avx512(simd) => {
            product_at::<_, WIDE_POSITIONS>(simd, offsets, span, packed, padded, out);
        }
    }
}

/// [`Product`] compiled for `simd`'s level, in tiles of `P` positions.
fn product_at<S: Sixteen + Simd, const P: usize>(
    simd: S,
    offsets: &[usize],
    span: usize,
    packed: &[[f32; CHANNELS]],
    padded: &[f32],
    out: &mut [f32],
) {
    let op = Product::<S, P> {
        offsets,
        span,
        simd,
        packed,
        padded,
        out,
    };
    Simd::vectorize(simd, op);
}

/// [`product`] as one operation: tiles of 16 channels × `P` positions.
struct Product<'a, S, const P: usize> {
    offsets: &'a [usize],
    span: usize,
    simd: S,
    packed: &'a [[f32; CHANNELS]],
    padded: &'a [f32],
    out: &'a mut [f32],
}

impl<S: Sixteen, const P: usize> WithSimd for Product<'_, S, P> {
    type Output = ();

    #[inline(always)]
    fn with_simd<T: Simd>(self, _: T) {
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
        let zero = [simd.zero(); P];
        for q in (0..span).step_by(P) {
            let out = &mut out[q * stride..][..P * stride];
            // Taps in chunks whose input values stay in the first-level cache while every
            // block of channels passes over them; partial sums wait in `out`.
            for first in (0..taps).step_by(CHUNK_TAPS) {
                let last = (first + CHUNK_TAPS).min(taps);
                let offsets = &all_offsets[first..last];
                for (block, weights) in packed.chunks_exact(taps).enumerate() {
                    let at = |p: usize| p * stride + block * CHANNELS;
                    let start = if first == 0 {
                        zero
                    } else {
                        std::array::from_fn(|p| {
                            let sums = out[at(p)..].first_chunk::<CHANNELS>();
                            sums.map_or(simd.zero(), |sums| simd.load(sums))
                        })
                    };
                    let sums = tile(simd, offsets, &weights[first..last], &padded[q..], start);
                    for (p, sum) in sums.into_iter().enumerate() {
                        out[at(p)..][..CHANNELS].copy_from_slice(&simd.store(sum));
                    }
                }
            }
        }
    }
}

/// [`Grid::interleave`] as one operation compiled for AVX2: blocks of 8 rows × 8 columns are
/// loaded (masked), transposed in registers and stored as 8 positions' lanes.
struct Interleave<'a> {
    grid: &'a Grid,
    simd: V3,
    values: &'a [f32],
    mask: Option<&'a [f32]>,
    rows: usize,
    out: &'a mut [f32],
}

impl WithSimd for Interleave<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Self {
            grid,
            simd,
            values,
            mask,
            rows,
            out,
        } = self;
        let (oh, ow, wp, span) = (grid.out_h, grid.out_w, grid.wp, grid.span);
        let plane = oh * ow;
        let zero = simd.splat_f32x8(0.0);
        let whole = ow / LANES * LANES;
        let blocks = rows.div_ceil(CHANNELS);
        for (b, block) in out[..blocks * span * CHANNELS]
            .chunks_exact_mut(span * CHANNELS)
            .enumerate()
        {
            block.fill(0.0);
            for half in 0..VECS {
                let first = b * CHANNELS + half * LANES;
                let lanes = LANES.min(rows.saturating_sub(first));
                if lanes == 0 {
                    continue;
                }
                for r in 0..oh {
                    let at = |l: usize| (first + l) * plane + r * ow;
                    let dst = &mut block[r * wp * CHANNELS + half * LANES..];
                    let masked = |l: usize, col: usize| {
                        if l >= lanes {
                            return zero;
                        }
                        let v = load(&values[at(l) + col..]);
                        match mask {
                            None => v,
                            Some(m) => {
                                let m = load(&m[at(l) + col..]);
                                simd.select_f32x8(simd.cmp_gt_f32x8(m, zero), v, zero)
                            }
                        }
                    };
                    for col in (0..whole).step_by(LANES) {
                        // A plain loop, not `array::from_fn`: its closure may be left out of
                        // line, where the AVX select and compare become calls (measured 1.4×
                        // slower SimpleCNN steps when that happened).
                        let mut block = [zero; LANES];
                        for (l, lane) in block.iter_mut().enumerate() {
                            *lane = masked(l, col);
                        }
                        let columns = transpose(simd, block);
                        for (j, column) in columns.iter().enumerate() {
                            dst[(col + j) * CHANNELS..][..LANES].copy_from_slice(&pulp::cast::<
                                f32x8,
                                [f32; LANES],
                            >(
                                *column
                            ));
                        }
                    }
                    for col in whole..ow {
                        for l in 0..lanes {
                            let v = values[at(l) + col];
                            let keep = mask.is_none_or(|m| m[at(l) + col] > 0.0);
                            dst[col * CHANNELS + l] = if keep { v } else { 0.0 };
                        }
                    }
                }
            }
        }
    }
}

/// The 8 × 8 block whose rows are `rows`, transposed: row `j` of the result is column `j`.
#[inline(always)]
fn transpose(simd: V3, rows: [f32x8; LANES]) -> [f32x8; LANES] {
    use std::arch::x86_64::__m256;
    let avx = simd.avx;
    let r: [__m256; LANES] = pulp::cast(rows);
    // t[2k] = unpacklo(r[2k], r[2k + 1]), t[2k + 1] = unpackhi(r[2k], r[2k + 1]).
    let mut t: [__m256; LANES] = r;
    for k in (0..LANES).step_by(2) {
        t[k] = avx._mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = avx._mm256_unpackhi_ps(r[k], r[k + 1]);
    }
    let u = [
        avx._mm256_shuffle_ps::<0x44>(t[0], t[2]),
        avx._mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        avx._mm256_shuffle_ps::<0x44>(t[1], t[3]),
        avx._mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        avx._mm256_shuffle_ps::<0x44>(t[4], t[6]),
        avx._mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        avx._mm256_shuffle_ps::<0x44>(t[5], t[7]),
        avx._mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    pulp::cast([
        avx._mm256_permute2f128_ps::<0x20>(u[0], u[4]),
        avx._mm256_permute2f128_ps::<0x20>(u[1], u[5]),
        avx._mm256_permute2f128_ps::<0x20>(u[2], u[6]),
        avx._mm256_permute2f128_ps::<0x20>(u[3], u[7]),
        avx._mm256_permute2f128_ps::<0x31>(u[0], u[4]),
        avx._mm256_permute2f128_ps::<0x31>(u[1], u[5]),
        avx._mm256_permute2f128_ps::<0x31>(u[2], u[6]),
        avx._mm256_permute2f128_ps::<0x31>(u[3], u[7]),
    ])
}

/// [`Grid::correlate`] as one operation: per block of [`CHANNELS`] rows, tiles of those rows
/// × up to `T` taps sum over the grid positions, each step loading the rows' 16 values and
/// broadcasting one padded value per tap.
struct Correlate<'a, S, const T: usize> {
    offsets: &'a [usize],
    /// Positions per block of rows in `rows`.
    span: usize,
    /// Positions summed over, from the start of each block.
    positions: usize,
    simd: S,
    rows: &'a [f32],
    padded: &'a [f32],
    acc: &'a mut [[f32; CHANNELS]],
}

impl<S: Sixteen, const T: usize> WithSimd for Correlate<'_, S, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<L: Simd>(self, _: L) {
        let Self {
            offsets,
            span,
            positions,
            simd,
            rows,
            padded,
            acc,
        } = self;
        let taps = offsets.len();
        if taps == 0 {
            return;
        }
        for (block, acc) in acc.chunks_exact_mut(taps).enumerate() {
            let (rows, _) = rows[block * span * CHANNELS..][..positions * CHANNELS].as_chunks();
            let mut first = 0;
            while first < taps {
                // Whole tiles of `T` taps, then the rest in at most two smaller tiles.
                let n = match taps - first {
                    left if left >= T => T,
                    left => left.min(TILE_TAPS),
                };
                let (offsets, acc) = (&offsets[first..], &mut acc[first..][..n]);
                match n {
                    1 => correlate_tile::<S, 1>(simd, offsets, rows, padded, acc),
                    2 => correlate_tile::<S, 2>(simd, offsets, rows, padded, acc),
                    3 => correlate_tile::<S, 3>(simd, offsets, rows, padded, acc),
                    4 => correlate_tile::<S, 4>(simd, offsets, rows, padded, acc),
                    5 => correlate_tile::<S, 5>(simd, offsets, rows, padded, acc),
                    TILE_TAPS => correlate_tile::<S, TILE_TAPS>(simd, offsets, rows, padded, acc),
                    _ => correlate_tile::<S, T>(simd, offsets, rows, padded, acc),
                }
                first += n;
            }
        }
    }
}

/// One weight-gradient tile: adds to `acc[t]` the sum over positions `q` of `rows[q]` times
/// `padded[offsets[t] + q]`, for `N` taps.
#[inline(always)]
fn correlate_tile<S: Sixteen, const N: usize>(
    simd: S,
    offsets: &[usize],
    rows: &[[f32; CHANNELS]],
    padded: &[f32],
    acc: &mut [[f32; CHANNELS]],
) {
    let span = rows.len();
    let xs: [&[f32]; N] = std::array::from_fn(|t| &padded[offsets[t]..][..span]);
    let mut sums = [simd.zero(); N];
    for (q, row) in rows.iter().enumerate() {
        let d = simd.load(row);
        for t in 0..N {
            sums[t] = simd.mul_add(d, xs[t][q], sums[t]);
        }
    }
    for (acc, sum) in acc.iter_mut().zip(sums) {
        *acc = simd.store(simd.add(simd.load(acc), sum));
    }
}

/// One register tile: for 16 output channels and `P` grid positions from the start of
/// `padded`, `start` plus the sums over `offsets`' taps (weights as registers, inputs
/// broadcast).
#[inline(always)]
fn tile<S: Sixteen, const P: usize>(
    simd: S,
    offsets: &[usize],
    weights: &[[f32; CHANNELS]],
    padded: &[f32],
    start: [S::Reg; P],
) -> [S::Reg; P] {
    let mut sums = start;
    for (&offset, w) in offsets.iter().zip(weights) {
        let Some(x) = padded[offset..].first_chunk::<P>() else {
            continue;
        };
        let w = simd.load(w);
        for p in 0..P {
            sums[p] = simd.mul_add(w, x[p], sums[p]);
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

/// The row-major `[rows, taps]` matrix held in `packed` as laid out by [`pack`].
pub fn unpack(packed: &[[f32; CHANNELS]], rows: usize, taps: usize) -> Vec<f32> {
    let mut weights = vec![0.0f32; rows * taps];
    for (row, weights) in weights.chunks_exact_mut(taps.max(1)).enumerate() {
        let block = &packed[(row / CHANNELS) * taps..][..taps];
        for (w, p) in weights.iter_mut().zip(block) {
            *w = p[row % CHANNELS];
        }
    }
    weights
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

    /// The plain definition of a convolution of one image at `stride`.
    fn reference(
        image: &[f32],
        weights: &[f32],
        [cin, h, w]: [usize; 3],
        [cout, kh, kw]: [usize; 3],
        stride: usize,
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
                                let (ih, iw) = (oh * stride + i, ow * stride + j);
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

    /// At every instruction level this CPU has (AVX2, and AVX-512 where present).
    #[test]
    fn grid_product_and_weight_gradient_match_the_definition() {
        for simd in levels() {
            grid_product_and_weight_gradient_match_at(simd);
        }
    }

    fn grid_product_and_weight_gradient_match_at(simd: Level) {
        // (cin, h, w, cout, kh, kw, stride, top, left, out_h, out_w)
        for (cin, h, w, cout, kh, kw, stride, top, left, out_h, out_w) in [
            (1, 5, 7, 3, 3, 3, 1, 1, 1, 5, 7),
            (3, 9, 4, 6, 5, 3, 1, 2, 0, 7, 2),
            (2, 1, 1, 5, 3, 3, 1, 1, 1, 1, 1),
            (5, 12, 11, 9, 1, 1, 1, 0, 0, 12, 11),
            (20, 9, 10, 33, 3, 3, 1, 1, 1, 9, 10),
            (3, 8, 8, 5, 3, 3, 2, 1, 1, 4, 4),
            (2, 9, 7, 17, 3, 3, 2, 1, 1, 5, 4),
            (4, 10, 11, 6, 1, 1, 2, 0, 0, 5, 6),
            (2, 11, 12, 3, 7, 7, 2, 3, 3, 6, 6),
            (3, 13, 9, 4, 3, 3, 3, 0, 0, 4, 3),
            // One output channel: a generator's last layer (runs of 96 positions and the
            // rest), a strided one.
            (32, 28, 28, 1, 3, 3, 1, 1, 1, 28, 28),
            (2, 14, 13, 1, 4, 4, 2, 1, 1, 7, 7),
        ] {
            let case = format!(
                "{}: {cin} {h}x{w} -> {cout} {kh}x{kw} stride {stride}",
                simd.name()
            );
            let image: Vec<f32> = (0..cin * h * w)
                .map(|i| ((i * 7) % 11) as f32 - 5.0)
                .collect();
            let weights: Vec<f32> = (0..cout * cin * kh * kw)
                .map(|i| ((i * 5) % 13) as f32 * 0.25 - 1.5)
                .collect();
            let grid = if stride == 1 {
                Grid::new(cin, h, w, [kh, kw], top, left, out_h, out_w)
            } else {
                Grid::strided(cin, h, w, [kh, kw], stride, top, left, out_h, out_w)
            };
            let grid = grid.unwrap_or_else(|| panic!("{case} fits"));
            let mut padded = vec![f32::NAN; grid.padded_len()];
            grid.pad(&image, None, &mut padded);
            let mut sums = vec![0.0f32; grid.product_len(cout)];
            grid.product(simd, &pack(&weights, cout, grid.taps()), &padded, &mut sums);
            let mut out = vec![0.0f32; cout * out_h * out_w];
            grid.compact(&sums, cout, &mut out, |v, _| v);
            let shapes = ([cin, h, w], [cout, kh, kw], [top, left], [out_h, out_w]);
            let expected = reference(
                &image, &weights, shapes.0, shapes.1, stride, shapes.2, shapes.3,
            );
            assert_eq!(out, expected, "{case}");
            // A few output channels: positions in the lanes, the same sums.
            if cout <= FEW_ROWS {
                let packed = pack(&weights, cout, grid.taps());
                let mut sums = vec![f32::NAN; grid.product_len(cout)];
                grid.product_few(simd, &packed, cout, &padded, &mut sums);
                let mut few = vec![f32::NAN; cout * out_h * out_w];
                grid.compact(&sums, cout, &mut few, |v, _| v);
                assert_eq!(few, expected, "{case}, few rows");
            }

            // The weight gradient for an output gradient `dy`: Σ dy · tap-shifted input.
            let dy: Vec<f32> = (0..cout * out_h * out_w)
                .map(|i| ((i * 3) % 7) as f32 - 3.0)
                .collect();
            let mut rows = vec![f32::NAN; grid.grid_len(cout)];
            grid.interleave(simd.avx2(), &dy, None, cout, &mut rows);
            let taps = grid.taps();
            let mut acc = vec![[0.0f32; CHANNELS]; whole_channels(cout) / CHANNELS * taps];
            grid.correlate(simd, &rows, &padded, &mut acc);
            let gradient = unpack(&acc, cout, taps);
            let mut expected = vec![0.0f32; cout * taps];
            for (index, e) in expected.iter_mut().enumerate() {
                let (co, ci, i, j) = (
                    index / taps,
                    index % taps / (kh * kw),
                    index / kw % kh,
                    index % kw,
                );
                for oh in 0..out_h {
                    for ow in 0..out_w {
                        let (ih, iw) = (oh * stride + i, ow * stride + j);
                        if ih < top || iw < left || ih - top >= h || iw - left >= w {
                            continue;
                        }
                        *e += dy[(co * out_h + oh) * out_w + ow]
                            * image[(ci * h + ih - top) * w + iw - left];
                    }
                }
            }
            assert_eq!(gradient, expected, "{case}");
            if cout <= FEW_ROWS {
                let mut acc = vec![[0.0f32; CHANNELS]; taps];
                let mut line = vec![f32::NAN; grid.grid_len(cout)];
                grid.correlate_few(simd, &dy, None, cout, &padded, &mut line, &mut acc);
                assert_eq!(unpack(&acc, cout, taps), expected, "{case}, few rows");
            }
        }
    }
}
