//! 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3): 16 multiplications
//! per 2×2 output tile and channel pair instead of 36.
//!
//! Each 4×4 input tile `d` (overlapping by 2) becomes `V = Bᵀ·d·B`, each 3×3 kernel `g` becomes
//! `U = G·g·Gᵀ`, and for each of the 16 transformed points the products summed over input
//! channels are one matrix product, `M[ξ] = U[ξ]·V[ξ]`, run by the same register-tiled kernel
//! as the direct path ([`super::direct`]). Each output tile is then `Aᵀ·M·A`. The transforms are
//! additions only, laid out so that they run over contiguous rows (of tiles, or of output
//! channels) and vectorise. The input gradient of such a convolution is another one (output
//! gradient, weights transposed and rotated), so both take this path; the weight gradient stays
//! direct.

use pulp::{Simd, WithSimd};

use super::direct::{CHANNELS, Level, POSITION_STEP, product, whole_channels};

/// The transformed points of one tile.
const POINTS: usize = 16;

/// The tiling of one 3×3 stride-1 convolution.
#[derive(Debug, Clone)]
pub struct Winograd {
    channels: usize,
    h: usize,
    w: usize,
    top: usize,
    left: usize,
    out_h: usize,
    out_w: usize,
    /// Tile rows and columns.
    tiles_h: usize,
    tiles_w: usize,
    /// Tiles rounded up to whole register tiles: the length of one transformed row.
    span: usize,
    /// Offsets of the input channels within one transformed point.
    offsets: Vec<usize>,
}

impl Winograd {
    /// The tiling of a `channels × h × w` image padded by `top` rows and `left` columns and
    /// convolved at stride 1 with a 3×3 kernel into `out_h × out_w`; `None` when the image does
    /// not fit the padded plane that output implies.
    pub fn new(
        channels: usize,
        [h, w]: [usize; 2],
        [top, left]: [usize; 2],
        [out_h, out_w]: [usize; 2],
    ) -> Option<Self> {
        if out_h == 0 || out_w == 0 || top + h > out_h + 2 || left + w > out_w + 2 {
            return None;
        }
        let (tiles_h, tiles_w) = (out_h.div_ceil(2), out_w.div_ceil(2));
        let span = (tiles_h * (tiles_w + 1)).div_ceil(POSITION_STEP) * POSITION_STEP;
        Some(Self {
            channels,
            h,
            w,
            top,
            left,
            out_h,
            out_w,
            tiles_h,
            tiles_w,
            span,
            offsets: (0..channels).map(|c| c * span).collect(),
        })
    }

    /// Values of a transformed input.
    pub fn input_len(&self) -> usize {
        POINTS * self.channels * self.span
    }

    /// Values of the products for `channels` output channels.
    pub fn product_len(&self, channels: usize) -> usize {
        POINTS * self.span * whole_channels(channels)
    }

    /// Transformed positions per row of tiles: one per tile plus one that is computed and
    /// dropped, so that every transform step runs over one contiguous run of positions.
    fn row_stride(&self) -> usize {
        self.tiles_w + 1
    }

    /// Values of the scratch [`Winograd::convolve`] needs for `channels` output channels.
    pub fn scratch_len(&self, channels: usize) -> usize {
        self.rows_len() + self.input_len() + self.product_len(channels) + 4 * channels
    }

    /// The convolution of one `image` `[channels, h, w]` (masked as in
    /// [`super::direct::Grid::pad`]) with the kernels `u` from [`transform_weights`] into `out`
    /// `[out_channels, out_h, out_w]`, through `f(value, channel)`: the three steps compiled
    /// together for `simd`'s level.
    #[allow(clippy::too_many_arguments)]
    pub fn convolve(
        &self,
        simd: Level,
        u: &[Vec<[f32; CHANNELS]>],
        out_channels: usize,
        image: &[f32],
        mask: Option<&[f32]>,
        scratch: &mut [f32],
        out: &mut [f32],
        f: impl Fn(f32, usize) -> f32,
    ) {
        simd.vectorize(Convolve {
            tiling: self,
            simd,
            u,
            out_channels,
            image,
            mask,
            scratch,
            out,
            f,
        });
    }

    /// Values of the scratch [`Winograd::transform_input`] needs.
    fn rows_len(&self) -> usize {
        let positions = self.tiles_h * self.row_stride();
        4 * (positions + self.row_stride()) + 8 * (positions + 1)
    }

    /// `V = Bᵀ·d·B` for every tile of every channel of `image` `[channels, h, w]` (masked as in
    /// [`super::direct::Grid::pad`]), into `v` laid out `[point][channel][position]`; `rows` is
    /// scratch of [`Winograd::rows_len`] values.
    ///
    /// The padded image is stored as four quarter planes by row and column parity, so tile
    /// `(a, b)` reads position `a·(tiles_w + 1) + b` of each and its neighbours one position or
    /// one row of positions on: both transform steps become element-wise differences and sums
    /// of whole quarter planes.
    #[inline(always)]
    fn transform_input(
        &self,
        image: &[f32],
        mask: Option<&[f32]>,
        rows: &mut [f32],
        v: &mut [f32],
    ) {
        let stride = self.row_stride();
        let positions = self.tiles_h * stride;
        let quarter = positions + stride;
        let (quarters, e) = rows.split_at_mut(4 * quarter);
        for c in 0..self.channels {
            quarters.fill(0.0);
            for r in 0..self.h {
                let at = (c * self.h + r) * self.w;
                let src = &image[at..][..self.w];
                let mask = mask.map(|m| &m[at..][..self.w]);
                let pr = r + self.top;
                // Columns alternate between the two quarters of this row's parity; `left`
                // decides which quarter the first one lands in.
                let row = |parity: usize| 2 * (pr % 2) + parity;
                let (first, second) = if self.left.is_multiple_of(2) {
                    ((row(0), self.left / 2), (row(1), self.left / 2))
                } else {
                    ((row(1), self.left / 2), (row(0), self.left / 2 + 1))
                };
                for (shift, (quarter_index, column)) in [first, second].into_iter().enumerate() {
                    let dst = &mut quarters[quarter_index * quarter + (pr / 2) * stride + column..];
                    let src = src.iter().skip(shift).step_by(2);
                    match mask {
                        None => {
                            for (d, s) in dst.iter_mut().zip(src) {
                                *d = *s;
                            }
                        }
                        Some(mask) => {
                            for ((d, s), m) in dst
                                .iter_mut()
                                .zip(src)
                                .zip(mask.iter().skip(shift).step_by(2))
                            {
                                *d = if *m > 0.0 { *s } else { 0.0 };
                            }
                        }
                    }
                }
            }
            // Bᵀ down the tile rows: e_k for column parity s, from rows of parity 0 and 1.
            let ek = |k: usize, s: usize| (2 * k + s) * (positions + 1);
            for s in 0..2 {
                let q0 = &quarters[s * quarter..][..quarter];
                let q1 = &quarters[(2 + s) * quarter..][..quarter];
                let (q0, q0_next) = (&q0[..positions], &q0[stride..]);
                let q1_next = &q1[stride..];
                let q1 = &q1[..positions];
                let (e0, rest) = e[ek(0, s)..].split_at_mut(positions + 1);
                let (e1, rest) = rest[positions + 1..].split_at_mut(positions + 1);
                let (e2, rest) = rest[positions + 1..].split_at_mut(positions + 1);
                let e3 = &mut rest[positions + 1..][..positions + 1];
                for i in 0..positions {
                    e0[i] = q0[i] - q0_next[i];
                    e1[i] = q1[i] + q0_next[i];
                    e2[i] = q0_next[i] - q1[i];
                    e3[i] = q1[i] - q1_next[i];
                }
                for e in [e0, e1, e2, e3] {
                    e[positions] = 0.0;
                }
            }
            // B across the tile columns: the even and odd columns of each e_k.
            for k in 0..4 {
                let even = &e[ek(k, 0)..][..positions + 1];
                let odd = &e[ek(k, 1)..][..positions + 1];
                let (even, even_next) = (&even[..positions], &even[1..]);
                let (odd, odd_next) = (&odd[..positions], &odd[1..]);
                let at = |l: usize| ((4 * k + l) * self.channels + c) * self.span;
                for (i, d) in v[at(0)..][..positions].iter_mut().enumerate() {
                    *d = even[i] - even_next[i];
                }
                for (i, d) in v[at(1)..][..positions].iter_mut().enumerate() {
                    *d = odd[i] + even_next[i];
                }
                for (i, d) in v[at(2)..][..positions].iter_mut().enumerate() {
                    *d = even_next[i] - odd[i];
                }
                for (i, d) in v[at(3)..][..positions].iter_mut().enumerate() {
                    *d = odd[i] - odd_next[i];
                }
            }
            for point in 0..POINTS {
                v[(point * self.channels + c) * self.span + positions..][..self.span - positions]
                    .fill(0.0);
            }
        }
    }

    /// `M[ξ] = U[ξ]·V[ξ]` for the 16 points, `u` from [`transform_weights`], into `m` laid out
    /// `[point][tile][output channel]`.
    #[inline(always)]
    fn multiply(&self, simd: Level, u: &[Vec<[f32; CHANNELS]>], v: &[f32], m: &mut [f32]) {
        let per_point = self.channels * self.span;
        for (point, packed) in u.iter().enumerate().take(POINTS) {
            let out_len = self.span * (packed.len() / self.channels.max(1)) * CHANNELS;
            let v = &v[point * per_point..][..per_point];
            let out = &mut m[point * out_len..][..out_len];
            product(simd, &self.offsets, self.span, packed, v, out);
        }
    }

    /// `Aᵀ·M·A` for every tile and the first `channels` output channels of `m`, written to `out`
    /// `[channels, out_h, out_w]` through `f(value, channel)`; `tile` is scratch of
    /// `4 × channels` values.
    #[inline(always)]
    fn transform_output(
        &self,
        m: &[f32],
        channels: usize,
        tile: &mut [f32],
        out: &mut [f32],
        f: impl Fn(f32, usize) -> f32,
    ) {
        let stride = whole_channels(channels);
        let point_len = self.span * stride;
        let (y0, rest) = tile.split_at_mut(channels);
        let (y1, rest) = rest.split_at_mut(channels);
        let (y2, y3) = rest.split_at_mut(channels);
        let y3 = &mut y3[..channels];
        let plane = self.out_h * self.out_w;
        for a in 0..self.tiles_h {
            for b in 0..self.tiles_w {
                let q = a * self.row_stride() + b;
                let s: [&[f32]; POINTS] =
                    std::array::from_fn(|p| &m[p * point_len + q * stride..][..channels]);
                for c in 0..channels {
                    // Aᵀ on the rows of points, then on the columns.
                    let t = |l: usize| {
                        (
                            s[l][c] + s[4 + l][c] + s[8 + l][c],
                            s[4 + l][c] - s[8 + l][c] - s[12 + l][c],
                        )
                    };
                    let (t0, t1, t2, t3) = (t(0), t(1), t(2), t(3));
                    y0[c] = t0.0 + t1.0 + t2.0;
                    y1[c] = t1.0 - t2.0 - t3.0;
                    y2[c] = t0.1 + t1.1 + t2.1;
                    y3[c] = t1.1 - t2.1 - t3.1;
                }
                let (row, col) = (2 * a, 2 * b);
                let right = col + 1 < self.out_w;
                let below = row + 1 < self.out_h;
                for c in 0..channels {
                    let at = c * plane + row * self.out_w + col;
                    out[at] = f(y0[c], c);
                    if right {
                        out[at + 1] = f(y1[c], c);
                    }
                    if below {
                        out[at + self.out_w] = f(y2[c], c);
                        if right {
                            out[at + self.out_w + 1] = f(y3[c], c);
                        }
                    }
                }
            }
        }
    }
}

/// [`Winograd::convolve`] as one operation.
struct Convolve<'a, F> {
    tiling: &'a Winograd,
    simd: Level,
    u: &'a [Vec<[f32; CHANNELS]>],
    out_channels: usize,
    image: &'a [f32],
    mask: Option<&'a [f32]>,
    scratch: &'a mut [f32],
    out: &'a mut [f32],
    f: F,
}

impl<F: Fn(f32, usize) -> f32> WithSimd for Convolve<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Self {
            tiling,
            simd,
            u,
            out_channels,
            image,
            mask,
            scratch,
            out,
            f,
        } = self;
        let (rows, rest) = scratch.split_at_mut(tiling.rows_len());
        let (v, rest) = rest.split_at_mut(tiling.input_len());
        let (m, tile) = rest.split_at_mut(tiling.product_len(out_channels));
        tiling.transform_input(image, mask, rows, v);
        tiling.multiply(simd, u, v, m);
        tiling.transform_output(m, out_channels, tile, out, f);
    }
}

/// `U = G·g·Gᵀ` for every 3×3 kernel of `weights` `[rows, cols, 3, 3]`, packed per point for
/// [`Winograd::multiply`] (`rows` output channels, `cols` input channels).
pub fn transform_weights(weights: &[f32], rows: usize, cols: usize) -> Vec<Vec<[f32; CHANNELS]>> {
    let blocks = rows.div_ceil(CHANNELS);
    let mut packed = vec![vec![[0.0f32; CHANNELS]; blocks * cols]; POINTS];
    for r in 0..rows {
        for c in 0..cols {
            let g = &weights[(r * cols + c) * 9..][..9];
            // G on the kernel's rows, then on its columns.
            let mut gg = [[0.0f32; 3]; 4];
            for j in 0..3 {
                let (a, b, d) = (g[j], g[3 + j], g[6 + j]);
                gg[0][j] = a;
                gg[1][j] = 0.5 * (a + b + d);
                gg[2][j] = 0.5 * (a - b + d);
                gg[3][j] = d;
            }
            for (k, row) in gg.iter().enumerate() {
                let [a, b, d] = *row;
                let u = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
                for (l, value) in u.into_iter().enumerate() {
                    packed[4 * k + l][(r / CHANNELS) * cols + c][r % CHANNELS] = value;
                }
            }
        }
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::super::direct::{self, Grid};
    use super::*;

    /// Winograd's tiles against the direct kernels (themselves checked against the definition)
    /// on even and odd outputs, "same" and "valid" padding, one-pixel and lopsided images, with
    /// and without a mask, at every instruction level this CPU has (AVX2, and AVX-512 where
    /// present).
    #[test]
    fn winograd_matches_the_direct_convolution() {
        for simd in direct::levels() {
            winograd_matches_at(simd);
        }
    }

    fn winograd_matches_at(simd: direct::Level) {
        // (cin, h, w, cout, top, left, out_h, out_w)
        for (cin, h, w, cout, top, left, out_h, out_w) in [
            (3, 7, 6, 5, 1, 1, 7, 6),
            (2, 9, 9, 17, 0, 0, 7, 7),
            (4, 1, 1, 3, 1, 1, 1, 1),
            (5, 6, 11, 20, 2, 1, 6, 10),
            (33, 8, 8, 16, 1, 1, 8, 8),
        ] {
            let image: Vec<f32> = (0..cin * h * w)
                .map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.5)
                .collect();
            let mask: Vec<f32> = (0..cin * h * w).map(|i| (i % 3) as f32 - 0.5).collect();
            let weights: Vec<f32> = (0..cout * cin * 9)
                .map(|i| ((i * 5) % 13) as f32 * 0.1 - 0.6)
                .collect();
            for masked in [false, true] {
                let mask = masked.then_some(mask.as_slice());
                let grid = Grid::new(cin, h, w, [3, 3], top, left, out_h, out_w)
                    .unwrap_or_else(|| panic!("direct geometry {cin} {h} {w}"));
                let mut padded = vec![0.0f32; grid.padded_len()];
                grid.pad(&image, mask, &mut padded);
                let mut sums = vec![0.0f32; grid.product_len(cout)];
                grid.product(
                    simd,
                    &direct::pack(&weights, cout, grid.taps()),
                    &padded,
                    &mut sums,
                );
                let mut expected = vec![0.0f32; cout * out_h * out_w];
                grid.compact(&sums, cout, &mut expected, |v, _| v);

                let tiling = Winograd::new(cin, [h, w], [top, left], [out_h, out_w])
                    .unwrap_or_else(|| panic!("Winograd geometry {cin} {h} {w}"));
                let mut scratch = vec![f32::NAN; tiling.scratch_len(cout)];
                let mut out = vec![f32::NAN; cout * out_h * out_w];
                let u = transform_weights(&weights, cout, cin);
                tiling.convolve(
                    simd,
                    &u,
                    cout,
                    &image,
                    mask,
                    &mut scratch,
                    &mut out,
                    |v, _| v,
                );
                let scale = expected.iter().fold(1.0f32, |s, v| s.max(v.abs()));
                for (i, (a, b)) in out.iter().zip(&expected).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-5 * scale,
                        "{} geometry {cin} {h} {w} masked {masked} [{i}]: {a} vs {b}",
                        simd.name()
                    );
                }
            }
        }
    }
}
