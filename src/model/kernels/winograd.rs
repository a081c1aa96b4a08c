//! 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3): 16 multiplications
//! per 2×2 output tile and channel pair instead of 36; and, for outputs of at least
//! [`LARGE_MIN_SIDE`] a side, F(4×4, 3×3) ([`Mode::Large`]): 36 per 4×4 tile instead of 144.
//!
//! Each 4×4 input tile `d` (overlapping by 2) becomes `V = Bᵀ·d·B`, each 3×3 kernel `g` becomes
//! `U = G·g·Gᵀ`, and for each of the 16 transformed points the products summed over input
//! channels are one matrix product, `M[ξ] = U[ξ]·V[ξ]`, run by the same register-tiled kernel
//! as the direct path ([`super::direct`]). Each output tile is then `Aᵀ·M·A`. The transforms are
//! additions only, laid out so that they run over contiguous rows (of tiles, or of output
//! channels) and vectorise. The input gradient of such a convolution is another one (output
//! gradient, weights transposed and rotated), so both take this path. The weight gradient is
//! `Gᵀ·(Σ (A·dY·Aᵀ) ⊙ V)·G` summed over tiles and images: the same transformed input, the
//! output gradient's 2×2 tiles transformed with the 16 channels of a block in the lanes of one
//! register, and per point a product summed over tiles by the direct path's weight-gradient
//! kernel ([`Winograd::correlate`], [`Winograd::weight_gradient`]).
//!
//! F(4×4, 3×3) follows the same three steps on 6×6 input tiles (overlapping by 2) and 36 points
//! (interpolation points 0, ±1, ±2 and ∞), its `Bᵀ`, `G` and `Aᵀ` with coefficients up to 8:
//! the padded image as 16 phase planes (row and column modulo 4), so that each row of `Bᵀ` and
//! column of `B` is again an element-wise combination of whole planes; the output's four
//! columns per lane regrouped channel by channel in registers and stored four at a time. Its
//! larger points round more (about 10⁻⁵ of the largest value where F(2×2, 3×3) reads 10⁻⁶).
//!
//! A 3×3 "same" convolution of a ×2 nearest-upsampled image ([`Winograd::upsampled`]) reads
//! the image at its own size: with tiles aligned to the upsampling, each tile's rows (and
//! columns) are `x, y, y, z`, whose transform `Bᵀ·(x, y, y, z) = (x − y, 2y, 0, y − z)` has
//! its third point zero, so 9 of the 16 points remain (9 multiplications per 2×2 output tile
//! instead of 16, and no upsampled copy). Its input gradient is the convolution of the output
//! gradient with the rotated kernels, each 2×2 tile then summed into its source pixel
//! ([`Winograd::summed`]): `[1 1]·Aᵀ = (1, 2, 0, −1)` drops the same point, so that pass and
//! the weight gradient take 9 points too.

use pulp::{Simd, WithSimd};

use super::direct::{CHANNELS, Level, POSITION_STEP, correlate, product, whole_channels};

/// The transformed points of one tile.
const POINTS: usize = 16;

/// All 16 points, in order.
const ALL: [usize; POINTS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// The points `4k + l` with neither `k` nor `l` equal to 2: those an upsampled input
/// ([`Mode::Upsampled`]) or a summed output ([`Mode::Summed`]) leaves.
const NINE: [usize; 9] = [0, 1, 3, 4, 5, 7, 12, 13, 15];

/// Output sides from which a layer takes F(4×4, 3×3)'s tiles ([`Winograd::best`]). Below,
/// its 6×6 tiles' dropped column per row of tiles and the rounding of the output up to whole
/// tiles outweigh its fewer multiplications. Forward pass per 64 images on one thread, input
/// transform + products + output transform in ms, F(2×2, 3×3) against F(4×4, 3×3): 32 → 32
/// at 28×28 1.41 + 4.03 + 1.03 against 1.67 + 2.51 + 0.88; 16 → 16 at 32×32 0.86 + 1.35 +
/// 1.16 against 0.99 + 0.79 + 0.89; 32 → 32 at 16×16 0.57 + 1.33 + 0.36 against 0.83 + 1.02
/// + 0.31; 64 → 64 at 14×14 1.12 + 4.39 + 0.54 against 2.16 + 3.99 + 0.76.
pub const LARGE_MIN_SIDE: usize = 24;

/// The transformed points of one F(4×4, 3×3) tile ([`Mode::Large`]).
const LARGE_POINTS: usize = 36;

/// All 36 points of a [`Mode::Large`] tile, in order: point `6k + l` is row `k`, column `l`.
const ALL_LARGE: [usize; LARGE_POINTS] = {
    let mut points = [0; LARGE_POINTS];
    let mut i = 0;
    while i < LARGE_POINTS {
        points[i] = i;
        i += 1;
    }
    points
};

/// Each point's place among [`NINE`] (`usize::MAX` for the seven left out).
const NINE_SLOT: [usize; POINTS] = {
    let mut slots = [usize::MAX; POINTS];
    let mut i = 0;
    while i < NINE.len() {
        slots[NINE[i]] = i;
        i += 1;
    }
    slots
};

/// How a tiling's tiles meet the image it reads and the output it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A 3×3 convolution: the image as it is, each tile's 2×2 outputs; all 16 points.
    Plain,
    /// The image stands for its ×2 nearest upsampling, read at its own size; 9 points.
    Upsampled,
    /// Each tile's 2×2 outputs summed into one value, written at half size; 9 points.
    Summed,
    /// A 3×3 convolution on F(4×4, 3×3)'s 6×6 tiles (overlapping by 2): each tile's 4×4
    /// outputs from 36 points, 2.25 multiplications per output instead of 4.
    Large,
}

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
    mode: Mode,
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
        Self::tiled(channels, [h, w], [top, left], [out_h, out_w], Mode::Plain)
    }

    /// The tiling a layer takes: F(4×4, 3×3)'s where both output sides are at least
    /// [`LARGE_MIN_SIDE`], F(2×2, 3×3)'s otherwise.
    pub fn best(
        channels: usize,
        [h, w]: [usize; 2],
        [top, left]: [usize; 2],
        [out_h, out_w]: [usize; 2],
    ) -> Option<Self> {
        if out_h.min(out_w) >= LARGE_MIN_SIDE {
            Self::large(channels, [h, w], [top, left], [out_h, out_w])
        } else {
            Self::new(channels, [h, w], [top, left], [out_h, out_w])
        }
    }

    /// [`Winograd::new`] on F(4×4, 3×3)'s tiles ([`Mode::Large`]).
    pub fn large(
        channels: usize,
        [h, w]: [usize; 2],
        [top, left]: [usize; 2],
        [out_h, out_w]: [usize; 2],
    ) -> Option<Self> {
        Self::tiled(channels, [h, w], [top, left], [out_h, out_w], Mode::Large)
    }

    /// The tiling of [`Winograd::new`] with `mode`'s tiles ([`Mode::Plain`] or
    /// [`Mode::Large`]).
    fn tiled(
        channels: usize,
        [h, w]: [usize; 2],
        [top, left]: [usize; 2],
        [out_h, out_w]: [usize; 2],
        mode: Mode,
    ) -> Option<Self> {
        if out_h == 0 || out_w == 0 || top + h > out_h + 2 || left + w > out_w + 2 {
            return None;
        }
        let side = if mode == Mode::Large { 4 } else { 2 };
        let (tiles_h, tiles_w) = (out_h.div_ceil(side), out_w.div_ceil(side));
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
            mode,
        })
    }

    /// The tiling of the 3×3 convolution, padded by one on every side, of the ×2
    /// nearest-neighbour upsampling of a `channels × h × w` image (output `2h × 2w`), reading
    /// the image itself: 9 points per tile.
    pub fn upsampled(channels: usize, [h, w]: [usize; 2]) -> Option<Self> {
        let mut tiling = Self::new(channels, [2 * h, 2 * w], [1, 1], [2 * h, 2 * w])?;
        (tiling.h, tiling.w, tiling.mode) = (h, w, Mode::Upsampled);
        Some(tiling)
    }

    /// The tiling of the 3×3 convolution, padded by one on every side, of a
    /// `channels × 2h × 2w` image, each 2×2 block of the output then summed into one value
    /// (output `h × w`): the input gradient of [`Winograd::upsampled`]'s convolution, whose
    /// upsampling adds up each block's gradient. 9 points per tile.
    pub fn summed(channels: usize, [h, w]: [usize; 2]) -> Option<Self> {
        let mut tiling = Self::new(channels, [2 * h, 2 * w], [1, 1], [2 * h, 2 * w])?;
        tiling.mode = Mode::Summed;
        Some(tiling)
    }

    /// The transformed points this tiling computes, in the order they are stored.
    fn points(&self) -> &'static [usize] {
        match self.mode {
            Mode::Plain => &ALL,
            Mode::Upsampled | Mode::Summed => &NINE,
            Mode::Large => &ALL_LARGE,
        }
    }

    /// Where `point` is stored, `None` for a point this tiling leaves out.
    #[inline(always)]
    fn slot(&self, point: usize) -> Option<usize> {
        match self.mode {
            Mode::Plain | Mode::Large => Some(point),
            Mode::Upsampled | Mode::Summed => Some(NINE_SLOT[point]).filter(|&s| s != usize::MAX),
        }
    }

    /// Values of a transformed input.
    pub fn input_len(&self) -> usize {
        self.points().len() * self.channels * self.span
    }

    /// Values of the products for `channels` output channels.
    pub fn product_len(&self, channels: usize) -> usize {
        self.points().len() * self.span * whole_channels(channels)
    }

    /// Transformed positions per row of tiles: one per tile plus one that is computed and
    /// dropped, so that every transform step runs over one contiguous run of positions.
    fn row_stride(&self) -> usize {
        self.tiles_w + 1
    }

    /// Values of the scratch [`Winograd::convolve`] needs for `channels` output channels.
    pub fn scratch_len(&self, channels: usize) -> usize {
        self.rows_len() + self.input_len() + self.product_len(channels)
    }

    /// The convolution of one `image` `[channels, h, w]` (masked as in
    /// [`super::direct::Grid::pad`]) with the kernels `u` from [`Winograd::transform_weights`] into `out`
    /// `[out_channels, out_h, out_w]`, finished by `f(plane, channel)` on each output plane in
    /// place: the three steps compiled together for `simd`'s level.
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
        f: impl Fn(&mut [f32], usize),
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
        if self.mode == Mode::Large {
            // 16 phase planes and 6 × 4 rows of Bᵀ's first step.
            return 16 * self.phase_len() + 24 * (positions + 1);
        }
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
    ///
    /// A [`Mode::Summed`] tiling computes only its 9 points; a [`Mode::Upsampled`] one reads
    /// its half-size image ([`Winograd::transform_upsampled`]).
    #[inline(always)]
    fn transform_input(
        &self,
        image: &[f32],
        mask: Option<&[f32]>,
        rows: &mut [f32],
        v: &mut [f32],
    ) {
        if self.mode == Mode::Upsampled {
            debug_assert!(mask.is_none(), "an upsampled input is never masked");
            self.transform_upsampled(image, rows, v);
            return;
        }
        if self.mode == Mode::Large {
            self.transform_large(image, mask, rows, v);
            return;
        }
        let nine = self.mode == Mode::Summed;
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
                // Columns alternate between the two quarters of this row's parity: with `left`
                // even, column 2k goes to parity 0 and 2k + 1 to parity 1, both at `base + k`;
                // with `left` odd, 2k to parity 1 at `base + k`, 2k + 1 to parity 0 one on.
                let row = 2 * (pr % 2);
                let base = (pr / 2) * stride + self.left / 2;
                let (even_at, odd_at) = if self.left.is_multiple_of(2) {
                    (row * quarter + base, (row + 1) * quarter + base)
                } else {
                    ((row + 1) * quarter + base, row * quarter + base + 1)
                };
                let (even_len, odd_len) = (self.w.div_ceil(2), self.w / 2);
                let (even, odd) = if even_at < odd_at {
                    let (low, high) = quarters.split_at_mut(odd_at);
                    (&mut low[even_at..][..even_len], &mut high[..odd_len])
                } else {
                    let (low, high) = quarters.split_at_mut(even_at);
                    (&mut high[..even_len], &mut low[odd_at..][..odd_len])
                };
                // Pairs of columns, so that each step deinterleaves whole registers.
                let (pairs, last) = src.as_chunks::<2>();
                let mask = mask.map(|m| m.as_chunks::<2>());
                split_pairs(pairs, mask.map(|(m, _)| m), even, odd);
                if let [a] = last {
                    even[even_len - 1] = match mask {
                        Some((_, [m])) => super::where_positive(*a, *m),
                        _ => *a,
                    };
                }
            }
            // Bᵀ down the tile rows: e_k for column parity s, from rows of parity 0 and 1.
            let ek = |k: usize, s: usize| (2 * k + s) * (positions + 1);
            for s in 0..2 {
                let q0 = &quarters[s * quarter..][..quarter];
                let q1 = &quarters[(2 + s) * quarter..][..quarter];
                // Every operand exactly `positions` long.
                let (q0, q0_next) = (&q0[..positions], &q0[stride..][..positions]);
                let q1_next = &q1[stride..][..positions];
                let q1 = &q1[..positions];
                let (e0, rest) = e[ek(0, s)..].split_at_mut(positions + 1);
                let (e1, rest) = rest[positions + 1..].split_at_mut(positions + 1);
                let (e2, rest) = rest[positions + 1..].split_at_mut(positions + 1);
                let e3 = &mut rest[positions + 1..][..positions + 1];
                let [e0, e1, e2, e3] = [e0, e1, e2, e3].map(|e| {
                    let (e, last) = e.split_at_mut(positions);
                    last[0] = 0.0;
                    e
                });
                each(e0, q0, q0_next, |a, b| a - b);
                each(e1, q1, q0_next, |a, b| a + b);
                if !nine {
                    each(e2, q0_next, q1, |a, b| a - b);
                }
                each(e3, q1, q1_next, |a, b| a - b);
            }
            // B across the tile columns: the even and odd columns of each e_k.
            for k in 0..4 {
                if nine && k == 2 {
                    continue;
                }
                let even = &e[ek(k, 0)..][..positions + 1];
                let odd = &e[ek(k, 1)..][..positions + 1];
                let (even, even_next) = (&even[..positions], &even[1..]);
                let (odd, odd_next) = (&odd[..positions], &odd[1..]);
                let at = |l: usize| {
                    let slot = self.slot(4 * k + l).unwrap_or(0);
                    (slot * self.channels + c) * self.span
                };
                each(&mut v[at(0)..][..positions], even, even_next, |a, b| a - b);
                each(&mut v[at(1)..][..positions], odd, even_next, |a, b| a + b);
                if !nine {
                    each(&mut v[at(2)..][..positions], even_next, odd, |a, b| a - b);
                }
                each(&mut v[at(3)..][..positions], odd, odd_next, |a, b| a - b);
            }
            for slot in 0..self.points().len() {
                v[(slot * self.channels + c) * self.span + positions..][..self.span - positions]
                    .fill(0.0);
            }
        }
    }

    /// [`Winograd::transform_input`] for a [`Mode::Upsampled`] tiling: each channel of the
    /// half-size `image` `[channels, h, w]` padded by one zero on every side into rows of
    /// `w + 1` (a row's right padding is the next one's left), then per tile `(a, b)`, whose
    /// upsampled rows are padded rows `a, a + 1, a + 1, a + 2` of it, `Bᵀ` down the rows as
    /// `(r_a − r_{a+1}, 2·r_{a+1}, r_{a+1} − r_{a+2})` and `B` across the columns likewise.
    #[inline(always)]
    fn transform_upsampled(&self, image: &[f32], rows: &mut [f32], v: &mut [f32]) {
        let stride = self.row_stride();
        let positions = self.tiles_h * stride;
        let plane_len = (self.h + 2) * stride + 2;
        let (plane, rest) = rows.split_at_mut(plane_len);
        let (r0, rest) = rest.split_at_mut(positions + 2);
        let (r1, rest) = rest.split_at_mut(positions + 2);
        let r3 = &mut rest[..positions + 2];
        for c in 0..self.channels {
            plane.fill(0.0);
            for (i, row) in image[c * self.h * self.w..][..self.h * self.w]
                .chunks_exact(self.w)
                .enumerate()
            {
                plane[(i + 1) * stride + 1..][..self.w].copy_from_slice(row);
            }
            let n = positions + 2;
            let (above, middle) = (&plane[..n], &plane[stride..][..n]);
            let below = &plane[2 * stride..][..n];
            each(r0, above, middle, |a, b| a - b);
            each(r1, middle, middle, |a, b| a + b);
            each(r3, middle, below, |a, b| a - b);
            for (k, r) in [(0, &*r0), (1, &*r1), (3, &*r3)] {
                let (left, centre, right) = (&r[..positions], &r[1..][..positions], &r[2..]);
                let at = |l: usize| {
                    let slot = self.slot(4 * k + l).unwrap_or(0);
                    (slot * self.channels + c) * self.span
                };
                each(&mut v[at(0)..][..positions], left, centre, |a, b| a - b);
                each(&mut v[at(1)..][..positions], centre, centre, |a, b| a + b);
                each(&mut v[at(3)..][..positions], centre, right, |a, b| a - b);
            }
            for slot in 0..NINE.len() {
                v[(slot * self.channels + c) * self.span + positions..][..self.span - positions]
                    .fill(0.0);
            }
        }
    }

    /// Values of one of a [`Mode::Large`] tiling's 16 phase planes: a row of positions per
    /// row of tiles and one more (a tile's last two rows are the next row's first), and one
    /// value past the end that the last tile's right neighbour reads.
    fn phase_len(&self) -> usize {
        (self.tiles_h + 1) * self.row_stride() + 1
    }

    /// [`Winograd::transform_input`] for a [`Mode::Large`] tiling: `V = Bᵀ·d·B` for every 6×6
    /// tile `d`. The padded image is stored as 16 phase planes by row and column modulo 4, so
    /// tile `(a, b)` reads position `a·(tiles_w + 1) + b` of each and, for its last two rows
    /// and columns, the position one row or one column on: each of `Bᵀ`'s rows (and `B`'s
    /// columns) is an element-wise combination of whole planes.
    #[inline(always)]
    fn transform_large(
        &self,
        image: &[f32],
        mask: Option<&[f32]>,
        rows: &mut [f32],
        v: &mut [f32],
    ) {
        let stride = self.row_stride();
        let positions = self.tiles_h * stride;
        let plane_len = self.phase_len();
        let e_len = positions + 1;
        let (planes, rest) = rows.split_at_mut(16 * plane_len);
        let e = &mut rest[..24 * e_len];
        let per_point = self.channels * self.span;
        // Every channel writes the same positions (the image's own), so what it leaves is zero
        // for all of them: the padding around the image.
        planes.fill(0.0);
        debug_assert!(self.left < 4, "padding of at most 3 columns");
        let quads = self.w / 4;
        // Image column `4m + j` lands at position `m + shift(j)` of its phase's plane row.
        let shift = |j: usize| (j + self.left) / 4;
        for c in 0..self.channels {
            for r in 0..self.h {
                let at = (c * self.h + r) * self.w;
                let src = &image[at..][..self.w];
                let mask = mask.map(|m| &m[at..][..self.w]);
                // Image column `4m + j` is padded column `4m + j + left`, in phase plane
                // `p_j` = `(j + left) mod 4` of the row's phase.
                let pr = r + self.top;
                let base = (pr / 4) * stride;
                let phase = &mut planes[4 * (pr % 4) * plane_len..][..4 * plane_len];
                let (q0, rest) = phase.split_at_mut(plane_len);
                let (q1, rest) = rest.split_at_mut(plane_len);
                let (q2, q3) = rest.split_at_mut(plane_len);
                let (q0, q1) = (&mut q0[base..][..stride], &mut q1[base..][..stride]);
                let (q2, q3) = (&mut q2[base..][..stride], &mut q3[base..][..stride]);
                let (p0, p1, p2, p3) = match self.left {
                    0 => (q0, q1, q2, q3),
                    1 => (q1, q2, q3, q0),
                    2 => (q2, q3, q0, q1),
                    _ => (q3, q0, q1, q2),
                };
                // Whole quadruples of image columns, four at a time (a 4 × 4 transpose).
                let (source, _) = src.as_chunks::<4>();
                let gate = mask.map(|m| m.as_chunks::<4>().0);
                let column = |q: &[[f32; 4]; 4], g: Option<&[[f32; 4]; 4]>, j: usize| {
                    let mut o = [q[0][j], q[1][j], q[2][j], q[3][j]];
                    if let Some(g) = g {
                        for (i, o) in o.iter_mut().enumerate() {
                            *o = super::where_positive(*o, g[i][j]);
                        }
                    }
                    o
                };
                if quads >= 4 {
                    for m in steps::<4>(quads) {
                        let Some(q) = source[m..].first_chunk::<4>() else {
                            unreachable!("a step of 4 from {m} of {quads}");
                        };
                        let g = gate.and_then(|g| g[m..].first_chunk::<4>());
                        p0[m + shift(0)..][..4].copy_from_slice(&column(q, g, 0));
                        p1[m + shift(1)..][..4].copy_from_slice(&column(q, g, 1));
                        p2[m + shift(2)..][..4].copy_from_slice(&column(q, g, 2));
                        p3[m + shift(3)..][..4].copy_from_slice(&column(q, g, 3));
                    }
                }
                let scalar_from = if quads >= 4 { 4 * quads } else { 0 };
                for (i, &v) in src.iter().enumerate().skip(scalar_from) {
                    let v = mask.map_or(v, |m| super::where_positive(v, m[i]));
                    let (j, m) = (i % 4, i / 4);
                    let p = match j {
                        0 => &mut *p0,
                        1 => &mut *p1,
                        2 => &mut *p2,
                        _ => &mut *p3,
                    };
                    p[m + shift(j)] = v;
                }
            }
            // Bᵀ down the tile rows, for each column phase `s`: row `i` of a tile is phase
            // `i mod 4`, one row of positions on for `i ≥ 4`.
            for s in 0..4 {
                let d = |i: usize| &planes[(4 * (i % 4) + s) * plane_len + (i / 4) * stride..];
                let d = [d(0), d(1), d(2), d(3), d(4), d(5)];
                large_bt(d, six(&mut e[6 * s * e_len..], e_len, e_len));
            }
            // B across the tile columns: column `j` of a tile is column phase `j mod 4`, one
            // position on for `j ≥ 4`.
            for k in 0..6 {
                let d = |j: usize| &e[(6 * (j % 4) + k) * e_len + j / 4..];
                let d = [d(0), d(1), d(2), d(3), d(4), d(5)];
                let first = 6 * k * per_point + c * self.span;
                large_bt(d, six(&mut v[first..], per_point, positions));
            }
        }
        // The positions past the last row of tiles are left as they are: their products are
        // never read (the output transform stops at the last tile, the weight gradient's sums
        // at the last row of tiles), and one small `memset` per point and channel cost 6 % of
        // this transform.
    }

    /// `M[ξ] = U[ξ]·V[ξ]` for the tiling's points, `u` from [`Winograd::transform_weights`], into `m`
    /// laid out `[point][tile][output channel]`.
    #[inline(always)]
    fn multiply(&self, simd: Level, u: &[Vec<[f32; CHANNELS]>], v: &[f32], m: &mut [f32]) {
        let per_point = self.channels * self.span;
        for (slot, &point) in self.points().iter().enumerate() {
            let packed = &u[point];
            let out_len = self.span * (packed.len() / self.channels.max(1)) * CHANNELS;
            let v = &v[slot * per_point..][..per_point];
            let out = &mut m[slot * out_len..][..out_len];
            product(simd, &self.offsets, self.span, packed, v, out);
        }
    }

    /// `Aᵀ·M·A` for every tile and the first `channels` output channels of `m`, written to `out`
    /// `[channels, out_h, out_w]`, then `f(plane, channel)` on each plane; the 16 channels of a
    /// block are transformed together, element-wise.
    #[inline(always)]
    fn transform_output(
        &self,
        m: &[f32],
        channels: usize,
        out: &mut [f32],
        f: impl Fn(&mut [f32], usize),
    ) {
        type Lanes = [f32; CHANNELS];
        #[inline(always)]
        fn zip(a: &Lanes, b: &Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
            // A plain loop, as in `transform_gradient`.
            let mut out = *a;
            for l in 0..CHANNELS {
                out[l] = f(a[l], b[l]);
            }
            out
        }
        // Aᵀ applied to four values: (a + b + c, b − c − d).
        #[inline(always)]
        fn gather([a, b, c, d]: [&Lanes; 4]) -> [Lanes; 2] {
            let ab = zip(a, b, |a, b| a + b);
            let b_c = zip(b, c, |b, c| b - c);
            [zip(&ab, c, |ab, c| ab + c), zip(&b_c, d, |b_c, d| b_c - d)]
        }
        let stride = whole_channels(channels);
        let point_len = self.span * stride;
        let (m, _) = m.as_chunks::<CHANNELS>();
        let point_len = point_len / CHANNELS;
        let plane = self.out_h * self.out_w;
        for a in 0..self.tiles_h {
            for b in 0..self.tiles_w {
                let q = a * self.row_stride() + b;
                let (row, col) = (2 * a, 2 * b);
                let right = col + 1 < self.out_w;
                let below = row + 1 < self.out_h;
                for block in 0..stride / CHANNELS {
                    let at = q * stride / CHANNELS + block;
                    // Aᵀ on the rows of points (for each column `l`), then on the columns.
                    // Written out, not as closures: a closure may be left out of line, compiled
                    // without the vector instructions.
                    let s: [&Lanes; POINTS] = [
                        &m[at],
                        &m[point_len + at],
                        &m[2 * point_len + at],
                        &m[3 * point_len + at],
                        &m[4 * point_len + at],
                        &m[5 * point_len + at],
                        &m[6 * point_len + at],
                        &m[7 * point_len + at],
                        &m[8 * point_len + at],
                        &m[9 * point_len + at],
                        &m[10 * point_len + at],
                        &m[11 * point_len + at],
                        &m[12 * point_len + at],
                        &m[13 * point_len + at],
                        &m[14 * point_len + at],
                        &m[15 * point_len + at],
                    ];
                    let t = [
                        gather([s[0], s[4], s[8], s[12]]),
                        gather([s[1], s[5], s[9], s[13]]),
                        gather([s[2], s[6], s[10], s[14]]),
                        gather([s[3], s[7], s[11], s[15]]),
                    ];
                    let [y0, y1] = gather([&t[0][0], &t[1][0], &t[2][0], &t[3][0]]);
                    let [y2, y3] = gather([&t[0][1], &t[1][1], &t[2][1], &t[3][1]]);
                    let first = block * CHANNELS;
                    let lanes = CHANNELS.min(channels - first);
                    for l in 0..lanes {
                        let at = (first + l) * plane + row * self.out_w + col;
                        out[at] = y0[l];
                        if right {
                            out[at + 1] = y1[l];
                        }
                        if below {
                            out[at + self.out_w] = y2[l];
                            if right {
                                out[at + self.out_w + 1] = y3[l];
                            }
                        }
                    }
                }
            }
        }
        // `f` plane by plane, where it can vectorise (per lane of a block it was one scalar
        // call per value).
        for (c, plane) in out.chunks_exact_mut(plane).take(channels).enumerate() {
            f(plane, c);
        }
    }

    /// [`Winograd::transform_output`] for a [`Mode::Large`] tiling: `Aᵀ·M·A` on each tile's 36
    /// points, the 16 channels of a block transformed together, element-wise.
    #[inline(always)]
    fn transform_output_large(
        &self,
        simd: Level,
        m: &[f32],
        channels: usize,
        out: &mut [f32],
        f: impl Fn(&mut [f32], usize),
    ) {
        type Lanes = [f32; CHANNELS];
        // Aᵀ applied to six values: (a + b + c + d + e, b − c + 2(d − e), b + c + 4(d + e),
        // b − c + 8(d − e) + g). A plain loop over the lanes, as in `transform_output`.
        #[inline(always)]
        fn gather(s: [&Lanes; 6]) -> [Lanes; 4] {
            let mut y = [[0.0f32; CHANNELS]; 4];
            for l in 0..CHANNELS {
                let (t1, t2) = (s[1][l] + s[2][l], s[1][l] - s[2][l]);
                let (t3, t4) = (s[3][l] + s[4][l], s[3][l] - s[4][l]);
                y[0][l] = s[0][l] + t1 + t3;
                y[1][l] = t2 + 2.0 * t4;
                y[2][l] = t1 + 4.0 * t3;
                y[3][l] = t2 + 8.0 * t4 + s[5][l];
            }
            y
        }
        let stride = whole_channels(channels);
        let (m, _) = m.as_chunks::<CHANNELS>();
        let point_len = self.span * stride / CHANNELS;
        let plane = self.out_h * self.out_w;
        let zero = [0.0f32; CHANNELS];
        for a in 0..self.tiles_h {
            let row = 4 * a;
            let rows = 4.min(self.out_h - row);
            for b in 0..self.tiles_w {
                let q = a * self.row_stride() + b;
                let col = 4 * b;
                let cols = 4.min(self.out_w - col);
                for block in 0..stride / CHANNELS {
                    let at = q * stride / CHANNELS + block;
                    let mut s = [&zero; LARGE_POINTS];
                    for (point, s) in s.iter_mut().enumerate() {
                        *s = &m[point * point_len + at];
                    }
                    // Aᵀ down the rows of points (for each column `l`), then across: `t[r][l]`.
                    let mut t = [[zero; 6]; 4];
                    for l in 0..6 {
                        let column =
                            gather([s[l], s[6 + l], s[12 + l], s[18 + l], s[24 + l], s[30 + l]]);
                        for (t, value) in t.iter_mut().zip(column) {
                            t[l] = value;
                        }
                    }
                    let first = block * CHANNELS;
                    let lanes = CHANNELS.min(channels - first);
                    for (r, t) in t.iter().take(rows).enumerate() {
                        let y = gather([&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]]);
                        // Each lane's four columns side by side (shuffles, not one extraction
                        // per value), stored four at a time.
                        let z = by_channel(simd, y);
                        for (l, z) in z[..lanes].iter().enumerate() {
                            let at = (first + l) * plane + (row + r) * self.out_w + col;
                            match out[at..].first_chunk_mut::<4>() {
                                // A fixed-size store (a variable length calls `memcpy`).
                                Some(o) if cols == 4 => *o = *z,
                                _ => {
                                    for (o, z) in out[at..][..cols].iter_mut().zip(z) {
                                        *o = *z;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for (c, plane) in out.chunks_exact_mut(plane).take(channels).enumerate() {
            f(plane, c);
        }
    }

    /// [`Winograd::transform_output`] for a [`Mode::Upsampled`] tiling's 9 points: `Aᵀ` on
    /// four values whose third is zero, `(a + b, b − d)`.
    #[inline(always)]
    fn transform_output_nine(
        &self,
        m: &[f32],
        channels: usize,
        out: &mut [f32],
        f: impl Fn(&mut [f32], usize),
    ) {
        type Lanes = [f32; CHANNELS];
        #[inline(always)]
        fn gather([a, b, d]: [&Lanes; 3]) -> [Lanes; 2] {
            let (mut first, mut second) = (*a, *b);
            for l in 0..CHANNELS {
                first[l] = a[l] + b[l];
                second[l] = b[l] - d[l];
            }
            [first, second]
        }
        let stride = whole_channels(channels);
        let (m, _) = m.as_chunks::<CHANNELS>();
        let point_len = self.span * stride / CHANNELS;
        let plane = self.out_h * self.out_w;
        for a in 0..self.tiles_h {
            for b in 0..self.tiles_w {
                let q = a * self.row_stride() + b;
                let (row, col) = (2 * a, 2 * b);
                for block in 0..stride / CHANNELS {
                    let at = q * stride / CHANNELS + block;
                    // Slots 0..9 hold points 0, 1, 3, 4, 5, 7, 12, 13, 15: rows of points
                    // k = 0, 1, 3 for each column l = 0, 1, 3, then across the columns.
                    let s: [&Lanes; 9] = [
                        &m[at],
                        &m[point_len + at],
                        &m[2 * point_len + at],
                        &m[3 * point_len + at],
                        &m[4 * point_len + at],
                        &m[5 * point_len + at],
                        &m[6 * point_len + at],
                        &m[7 * point_len + at],
                        &m[8 * point_len + at],
                    ];
                    let t = [
                        gather([s[0], s[3], s[6]]),
                        gather([s[1], s[4], s[7]]),
                        gather([s[2], s[5], s[8]]),
                    ];
                    let [y0, y1] = gather([&t[0][0], &t[1][0], &t[2][0]]);
                    let [y2, y3] = gather([&t[0][1], &t[1][1], &t[2][1]]);
                    let first = block * CHANNELS;
                    let lanes = CHANNELS.min(channels - first);
                    // An upsampled tiling's output is `2h × 2w`: every tile lies inside it.
                    for l in 0..lanes {
                        let at = (first + l) * plane + row * self.out_w + col;
                        out[at] = y0[l];
                        out[at + 1] = y1[l];
                        out[at + self.out_w] = y2[l];
                        out[at + self.out_w + 1] = y3[l];
                    }
                }
            }
        }
        for (c, plane) in out.chunks_exact_mut(plane).take(channels).enumerate() {
            f(plane, c);
        }
    }

    /// The sum of each tile's `Aᵀ·M·A` for a [`Mode::Summed`] tiling's 9 points, written to
    /// `out` `[channels, tiles_h, tiles_w]`: with `c = (1, 2, 0, −1)`, `Σ c_k·c_l·M[k][l]`.
    #[inline(always)]
    fn transform_summed(&self, m: &[f32], channels: usize, out: &mut [f32]) {
        type Lanes = [f32; CHANNELS];
        // c on three values: a + 2b − d.
        #[inline(always)]
        fn sum([a, b, d]: [&Lanes; 3]) -> Lanes {
            let mut out = *a;
            for l in 0..CHANNELS {
                out[l] = a[l] + 2.0 * b[l] - d[l];
            }
            out
        }
        let stride = whole_channels(channels);
        let (m, _) = m.as_chunks::<CHANNELS>();
        let point_len = self.span * stride / CHANNELS;
        let plane = self.tiles_h * self.tiles_w;
        for a in 0..self.tiles_h {
            for b in 0..self.tiles_w {
                let q = a * self.row_stride() + b;
                for block in 0..stride / CHANNELS {
                    let at = q * stride / CHANNELS + block;
                    let s = |slot: usize| &m[slot * point_len + at];
                    let rows = [
                        sum([s(0), s(1), s(2)]),
                        sum([s(3), s(4), s(5)]),
                        sum([s(6), s(7), s(8)]),
                    ];
                    let y = sum([&rows[0], &rows[1], &rows[2]]);
                    let first = block * CHANNELS;
                    let lanes = CHANNELS.min(channels - first);
                    for l in 0..lanes {
                        out[(first + l) * plane + a * self.tiles_w + b] = y[l];
                    }
                }
            }
        }
    }
}

impl Winograd {
    /// Values of the transformed output gradient for `rows` output channels.
    fn gradient_len(&self, rows: usize) -> usize {
        self.points().len() * whole_channels(rows) * self.span
    }

    /// Values of the scratch [`Winograd::correlate`] needs for `rows` output channels.
    pub fn correlate_scratch_len(&self, rows: usize) -> usize {
        self.rows_len() + self.input_len() + self.gradient_len(rows)
    }

    /// Registers of [`Winograd::correlate`]'s accumulator for `rows` output channels: per
    /// point, per block of 16 output channels, per input channel.
    pub fn correlate_acc_len(&self, rows: usize) -> usize {
        self.points().len() * rows.div_ceil(CHANNELS) * self.channels
    }

    /// Adds one image's share of the weight gradient, in the transformed domain, to `acc`
    /// (laid out `[point][block of 16 output channels][input channel]`, 16 lanes each, for the
    /// tiling's points; [`Winograd::weight_gradient`] turns the sum over images into kernels).
    /// `image` is the layer's input `[channels, h, w]` (half size for [`Winograd::upsampled`]);
    /// `grid` is the gradient of its `rows` output channels laid out
    /// by [`super::direct::Grid::interleave`] on a grid `width` columns wide with `span`
    /// positions per block. The convolution's output tile is `Aᵀ·(U ⊙ V)·A`, so the kernels'
    /// gradient is `Gᵀ·(Σ (A·dY·Aᵀ) ⊙ V)·G`: per point, the sum over tiles is one product of
    /// the output gradient's transformed tiles with the input's, run by the direct path's
    /// weight-gradient kernel, 16 multiplications per 2×2 output tile instead of 36.
    #[allow(clippy::too_many_arguments)]
    pub fn correlate(
        &self,
        simd: Level,
        image: &[f32],
        grid: &[f32],
        [width, span]: [usize; 2],
        rows: usize,
        scratch: &mut [f32],
        acc: &mut [[f32; CHANNELS]],
    ) {
        let blocks = rows.div_ceil(CHANNELS);
        assert!(
            grid.len() >= blocks * span * CHANNELS
                && width >= self.out_w
                && span >= self.out_h * width
                && scratch.len() >= self.correlate_scratch_len(rows)
                && acc.len() >= self.correlate_acc_len(rows),
            "Winograd weight-gradient buffers too small"
        );
        simd.vectorize(Correlate {
            tiling: self,
            simd,
            image,
            grid,
            width,
            grid_span: span,
            rows,
            scratch,
            acc,
        });
    }

    /// `A·dY·Aᵀ` for every 2×2 tile of the output gradient `grid` (as in
    /// [`Winograd::correlate`]), into `out` laid out `[point][block][position][lane]`: the
    /// 16 output channels of a block are the lanes, so each step is element-wise over them.
    /// The dropped position of each row of tiles and the positions past the last tile are zero.
    #[inline(always)]
    fn transform_gradient(
        &self,
        grid: &[f32],
        [width, grid_span]: [usize; 2],
        rows: usize,
        out: &mut [f32],
    ) {
        if self.mode == Mode::Large {
            self.transform_gradient_large(grid, [width, grid_span], rows, out);
            return;
        }
        type Lanes = [f32; CHANNELS];
        #[inline(always)]
        fn zip(a: Lanes, b: Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
            // A plain loop: `array::from_fn`'s closure may be left out of line, compiled
            // without the vector instructions.
            let mut out = a;
            for l in 0..CHANNELS {
                out[l] = f(a[l], b[l]);
            }
            out
        }
        // Row `k` of A applied to the pair (x, y): x, x + y, x − y, −y.
        #[inline(always)]
        fn spread(x: Lanes, y: Lanes) -> [Lanes; 4] {
            [
                x,
                zip(x, y, |x, y| x + y),
                zip(x, y, |x, y| x - y),
                zip(x, y, |_, y| -y),
            ]
        }
        let blocks = rows.div_ceil(CHANNELS);
        let stride = self.row_stride();
        let positions = self.tiles_h * stride;
        let point_len = blocks * self.span * CHANNELS;
        let zero = [0.0f32; CHANNELS];
        for b in 0..blocks {
            let (block, _) = grid[b * grid_span * CHANNELS..][..grid_span * CHANNELS].as_chunks();
            let at = |r: usize, col: usize| -> Lanes {
                if r < self.out_h && col < self.out_w {
                    block[r * width + col]
                } else {
                    zero
                }
            };
            let mut store = |point: usize, q: usize, value: &Lanes| {
                if let Some(slot) = self.slot(point) {
                    out[slot * point_len + (b * self.span + q) * CHANNELS..][..CHANNELS]
                        .copy_from_slice(value);
                }
            };
            for a in 0..self.tiles_h {
                for t in 0..self.tiles_w {
                    let (r, c) = (2 * a, 2 * t);
                    // A on each row's two columns, then on the two rows.
                    let top = spread(at(r, c), at(r, c + 1));
                    let bottom = spread(at(r + 1, c), at(r + 1, c + 1));
                    for l in 0..4 {
                        for (k, value) in spread(top[l], bottom[l]).iter().enumerate() {
                            store(4 * k + l, a * stride + t, value);
                        }
                    }
                }
                for point in 0..POINTS {
                    store(point, a * stride + self.tiles_w, &zero);
                }
            }
            for q in positions..self.span {
                for point in 0..POINTS {
                    store(point, q, &zero);
                }
            }
        }
    }
}

impl Winograd {
    /// [`Winograd::transform_gradient`] for a [`Mode::Large`] tiling: `A·dY·Aᵀ` for every 4×4
    /// tile of the output gradient, 36 points. (Its loop is the 2×2 one's with 6 × 6 points:
    /// sharing one loop that takes each tile's points as an array measured the 2×2 tiles'
    /// weight gradient 15 % slower.)
    #[inline(always)]
    fn transform_gradient_large(
        &self,
        grid: &[f32],
        [width, grid_span]: [usize; 2],
        rows: usize,
        out: &mut [f32],
    ) {
        type Lanes = [f32; CHANNELS];
        // Row `k` of A applied to four values: x0, x0 + x1 + x2 + x3, x0 − x1 + x2 − x3,
        // x0 + 2x1 + 4x2 + 8x3, x0 − 2x1 + 4x2 − 8x3, x3. A plain loop over the lanes.
        #[inline(always)]
        fn spread(x: [&Lanes; 4]) -> [Lanes; 6] {
            let mut y = [[0.0f32; CHANNELS]; 6];
            for l in 0..CHANNELS {
                let (p, q) = (x[0][l] + x[2][l], x[1][l] + x[3][l]);
                let (r, t) = (x[0][l] + 4.0 * x[2][l], 2.0 * x[1][l] + 8.0 * x[3][l]);
                y[0][l] = x[0][l];
                y[1][l] = p + q;
                y[2][l] = p - q;
                y[3][l] = r + t;
                y[4][l] = r - t;
                y[5][l] = x[3][l];
            }
            y
        }
        let blocks = rows.div_ceil(CHANNELS);
        let stride = self.row_stride();
        let positions = self.tiles_h * stride;
        let point_len = blocks * self.span * CHANNELS;
        let zero = [0.0f32; CHANNELS];
        for b in 0..blocks {
            let (block, _) = grid[b * grid_span * CHANNELS..][..grid_span * CHANNELS].as_chunks();
            let at = |r: usize, col: usize| -> &Lanes {
                if r < self.out_h && col < self.out_w {
                    &block[r * width + col]
                } else {
                    &zero
                }
            };
            let mut store = |point: usize, q: usize, value: &Lanes| {
                out[point * point_len + (b * self.span + q) * CHANNELS..][..CHANNELS]
                    .copy_from_slice(value);
            };
            for a in 0..self.tiles_h {
                for t in 0..self.tiles_w {
                    let (r, c) = (4 * a, 4 * t);
                    // A on each row's four columns (`across[l][i]` for row `i`), then on the
                    // four rows.
                    let mut across = [[zero; 4]; 6];
                    for i in 0..4 {
                        let r = r + i;
                        let row = spread([at(r, c), at(r, c + 1), at(r, c + 2), at(r, c + 3)]);
                        for (column, value) in across.iter_mut().zip(row) {
                            column[i] = value;
                        }
                    }
                    for (l, column) in across.iter().enumerate() {
                        let down = [&column[0], &column[1], &column[2], &column[3]];
                        for (k, value) in spread(down).iter().enumerate() {
                            store(6 * k + l, a * stride + t, value);
                        }
                    }
                }
                for point in 0..LARGE_POINTS {
                    store(point, a * stride + self.tiles_w, &zero);
                }
            }
            for q in positions..self.span {
                for point in 0..LARGE_POINTS {
                    store(point, q, &zero);
                }
            }
        }
    }
}

/// Values per step of the element-wise loops: one AVX-512 register, two AVX2 ones.
const RUN: usize = 16;

/// `out[i] = op(a[i], b[i])` for each `i` of `out`, [`RUN`] values at a time, the last step
/// overlapping the one before where the length is not a multiple: every value depends on the
/// sources alone, so computing one twice is harmless, and no remainder is left to a scalar
/// loop (rows of tiles are short: 56 or 210 positions at 14×14 or 28×28).
#[inline(always)]
fn each(out: &mut [f32], a: &[f32], b: &[f32], op: impl Fn(f32, f32) -> f32) {
    let n = out.len();
    let (a, b) = (&a[..n], &b[..n]);
    if n < RUN {
        for i in 0..n {
            out[i] = op(a[i], b[i]);
        }
        return;
    }
    for at in steps::<RUN>(n) {
        let (Some(o), Some(x), Some(y)) = (
            out[at..].first_chunk_mut::<RUN>(),
            a[at..].first_chunk::<RUN>(),
            b[at..].first_chunk::<RUN>(),
        ) else {
            unreachable!("a step of {RUN} from {at} of {n}");
        };
        for l in 0..RUN {
            o[l] = op(x[l], y[l]);
        }
    }
}

/// `out[i] = op([srcs[0][i], …, srcs[N − 1][i]])` for each `i` of `out`: [`each`] for `N`
/// sources.
#[inline(always)]
fn combine<const N: usize>(out: &mut [f32], srcs: [&[f32]; N], op: impl Fn([f32; N]) -> f32) {
    let n = out.len();
    let mut srcs = srcs;
    for src in &mut srcs {
        *src = &src[..n];
    }
    if n < RUN {
        for i in 0..n {
            let mut x = [0.0f32; N];
            for k in 0..N {
                x[k] = srcs[k][i];
            }
            out[i] = op(x);
        }
        return;
    }
    for at in steps::<RUN>(n) {
        let Some(o) = out[at..].first_chunk_mut::<RUN>() else {
            unreachable!("a step of {RUN} from {at} of {n}");
        };
        let mut x = [&[0.0f32; RUN]; N];
        for k in 0..N {
            let Some(src) = srcs[k][at..].first_chunk::<RUN>() else {
                unreachable!("a step of {RUN} from {at} of {n}");
            };
            x[k] = src;
        }
        for l in 0..RUN {
            let mut y = [0.0f32; N];
            for k in 0..N {
                y[k] = x[k][l];
            }
            o[l] = op(y);
        }
    }
}

/// Four output columns `y` of 16 channels each, regrouped channel by channel: `quads[l]`
/// holds channel `l`'s four columns. Two rounds of unpacks within 128-bit lanes (a 4 × 4
/// transpose in each), where building the quadruples value by value compiled to a round trip
/// through the stack.
#[inline(always)]
fn by_channel(simd: Level, y: [[f32; CHANNELS]; 4]) -> [[f32; 4]; CHANNELS] {
    use std::arch::x86_64::{__m256, __m512};
    // `k[j][g]`: 128-bit lane `g` of the `j`-th result, channel `4g + j` of its 4 × 4 block.
    let regroup = |k: [[[f32; 4]; 4]; 4], first: usize, quads: &mut [[f32; 4]; CHANNELS]| {
        for (j, k) in k.iter().enumerate() {
            for (g, quad) in k.iter().enumerate() {
                quads[first + 4 * g + j] = *quad;
            }
        }
    };
    let mut quads = [[0.0f32; 4]; CHANNELS];
    match simd {
        Level::Avx512(v4) => {
            let f = v4.avx512f;
            let [y0, y1, y2, y3]: [__m512; 4] = pulp::cast(y);
            let (a, b) = (f._mm512_unpacklo_ps(y0, y1), f._mm512_unpackhi_ps(y0, y1));
            let (c, d) = (f._mm512_unpacklo_ps(y2, y3), f._mm512_unpackhi_ps(y2, y3));
            let pd = |x| f._mm512_castps_pd(x);
            let k = [
                f._mm512_castpd_ps(f._mm512_unpacklo_pd(pd(a), pd(c))),
                f._mm512_castpd_ps(f._mm512_unpackhi_pd(pd(a), pd(c))),
                f._mm512_castpd_ps(f._mm512_unpacklo_pd(pd(b), pd(d))),
                f._mm512_castpd_ps(f._mm512_unpackhi_pd(pd(b), pd(d))),
            ];
            regroup(pulp::cast(k), 0, &mut quads);
        }
        Level::Avx2(v3) => {
            let f = v3.avx;
            let halves: [[__m256; 2]; 4] = pulp::cast(y);
            for h in 0..2 {
                let [y0, y1, y2, y3] = [halves[0][h], halves[1][h], halves[2][h], halves[3][h]];
                let (a, b) = (f._mm256_unpacklo_ps(y0, y1), f._mm256_unpackhi_ps(y0, y1));
                let (c, d) = (f._mm256_unpacklo_ps(y2, y3), f._mm256_unpackhi_ps(y2, y3));
                let pd = |x| f._mm256_castps_pd(x);
                let k = [
                    f._mm256_castpd_ps(f._mm256_unpacklo_pd(pd(a), pd(c))),
                    f._mm256_castpd_ps(f._mm256_unpackhi_pd(pd(a), pd(c))),
                    f._mm256_castpd_ps(f._mm256_unpacklo_pd(pd(b), pd(d))),
                    f._mm256_castpd_ps(f._mm256_unpackhi_pd(pd(b), pd(d))),
                ];
                // Two 128-bit lanes per register: channels 8h + 4g + j, g < 2.
                let k: [[[f32; 4]; 2]; 4] = pulp::cast(k);
                for (j, k) in k.iter().enumerate() {
                    for (g, quad) in k.iter().enumerate() {
                        quads[8 * h + 4 * g + j] = *quad;
                    }
                }
            }
        }
    }
    quads
}

/// Six rows of `len` values `stride` apart from the start of `buf`.
#[inline(always)]
fn six(buf: &mut [f32], stride: usize, len: usize) -> [&mut [f32]; 6] {
    let (r0, rest) = buf.split_at_mut(stride);
    let (r1, rest) = rest.split_at_mut(stride);
    let (r2, rest) = rest.split_at_mut(stride);
    let (r3, rest) = rest.split_at_mut(stride);
    let (r4, r5) = rest.split_at_mut(stride);
    [
        &mut r0[..len],
        &mut r1[..len],
        &mut r2[..len],
        &mut r3[..len],
        &mut r4[..len],
        &mut r5[..len],
    ]
}

/// F(4×4, 3×3)'s `Bᵀ` applied element-wise to six rows `d` (points 0, −1, 1, −2, 2, ∞):
/// `out[k]` receives row `k` of `Bᵀ·d`.
#[inline(always)]
fn large_bt(d: [&[f32]; 6], [o0, o1, o2, o3, o4, o5]: [&mut [f32]; 6]) {
    let inner = [d[1], d[2], d[3], d[4]];
    combine(o0, [d[0], d[2], d[4]], |[a, b, c]| 4.0 * a - 5.0 * b + c);
    combine(o1, inner, |[a, b, c, e]| (c + e) - 4.0 * (a + b));
    combine(o2, inner, |[a, b, c, e]| (e - c) + 4.0 * (a - b));
    combine(o3, inner, |[a, b, c, e]| (e - b) + 2.0 * (c - a));
    combine(o4, inner, |[a, b, c, e]| (e - b) - 2.0 * (c - a));
    combine(o5, [d[1], d[3], d[5]], |[a, b, c]| 4.0 * a - 5.0 * b + c);
}

/// The starts of whole steps of `STEP` values over `0..n` (`n ≥ STEP`): 0, `STEP`, 2·`STEP`, …,
/// the last one `n − STEP`, overlapping the one before where `n` is not a multiple.
#[inline(always)]
fn steps<const STEP: usize>(n: usize) -> impl Iterator<Item = usize> {
    (0..n.div_ceil(STEP)).map(move |k| (k * STEP).min(n - STEP))
}

/// The first and second values of each pair into `even` and `odd`, each gated by its `mask`
/// pair where given (ReLU's gradient gate), eight pairs at a time (four for shorter rows) with
/// an overlapping last step as in [`each`].
#[inline(always)]
fn split_pairs(pairs: &[[f32; 2]], mask: Option<&[[f32; 2]]>, even: &mut [f32], odd: &mut [f32]) {
    let n = pairs.len();
    let (even, odd) = (&mut even[..n], &mut odd[..n]);
    if n >= 8 {
        split_pairs_by::<8>(pairs, mask, even, odd);
    } else if n >= 4 {
        split_pairs_by::<4>(pairs, mask, even, odd);
    } else {
        for i in 0..n {
            let [a, b] = pairs[i];
            (even[i], odd[i]) = match mask {
                Some(m) => (
                    super::where_positive(a, m[i][0]),
                    super::where_positive(b, m[i][1]),
                ),
                None => (a, b),
            };
        }
    }
}

/// [`split_pairs`] `STEP` pairs at a time, for at least `STEP` pairs.
#[inline(always)]
fn split_pairs_by<const STEP: usize>(
    pairs: &[[f32; 2]],
    mask: Option<&[[f32; 2]]>,
    even: &mut [f32],
    odd: &mut [f32],
) {
    let n = pairs.len();
    for at in steps::<STEP>(n) {
        let (Some(e), Some(o), Some(p)) = (
            even[at..].first_chunk_mut::<STEP>(),
            odd[at..].first_chunk_mut::<STEP>(),
            pairs[at..].first_chunk::<STEP>(),
        ) else {
            unreachable!("a step of {STEP} from {at} of {n}");
        };
        match mask.and_then(|m| m[at..].first_chunk::<STEP>()) {
            Some(m) => {
                for l in 0..STEP {
                    e[l] = super::where_positive(p[l][0], m[l][0]);
                    o[l] = super::where_positive(p[l][1], m[l][1]);
                }
            }
            None => {
                for l in 0..STEP {
                    (e[l], o[l]) = (p[l][0], p[l][1]);
                }
            }
        }
    }
}

/// [`Winograd::correlate`] as one operation.
struct Correlate<'a> {
    tiling: &'a Winograd,
    simd: Level,
    image: &'a [f32],
    grid: &'a [f32],
    width: usize,
    grid_span: usize,
    rows: usize,
    scratch: &'a mut [f32],
    acc: &'a mut [[f32; CHANNELS]],
}

impl WithSimd for Correlate<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Self {
            tiling,
            simd,
            image,
            grid,
            width,
            grid_span,
            rows,
            scratch,
            acc,
        } = self;
        let (transform_rows, rest) = scratch.split_at_mut(tiling.rows_len());
        let (v, rest) = rest.split_at_mut(tiling.input_len());
        let dy = &mut rest[..tiling.gradient_len(rows)];
        tiling.transform_input(image, None, transform_rows, v);
        tiling.transform_gradient(grid, [width, grid_span], rows, dy);
        let span = tiling.span;
        let v_len = tiling.channels * span;
        let dy_len = whole_channels(rows) * span;
        let acc_len = rows.div_ceil(CHANNELS) * tiling.channels;
        // Past the last row of tiles the transformed gradient is zero: those positions are
        // left out of the sums.
        let layout = [span, tiling.tiles_h * tiling.row_stride()];
        for slot in 0..tiling.points().len() {
            correlate(
                simd,
                &tiling.offsets,
                layout,
                &dy[slot * dy_len..][..dy_len],
                &v[slot * v_len..][..v_len],
                &mut acc[slot * acc_len..][..acc_len],
            );
        }
    }
}

impl Winograd {
    /// The weight gradient `[rows, cols, 3, 3]` from the sum over images of
    /// [`Winograd::correlate`]'s accumulators: `Gᵀ·M·G` for each pair of channels (a point
    /// the tiling leaves out contributes nothing).
    pub fn weight_gradient(&self, acc: &[[f32; CHANNELS]], rows: usize, cols: usize) -> Vec<f32> {
        if self.mode == Mode::Large {
            return large_weight_gradient(acc, rows, cols);
        }
        weight_gradient(
            acc,
            rows,
            cols,
            std::array::from_fn(|point| self.slot(point)),
        )
    }
}

/// [`Winograd::weight_gradient`] with each point's place in `acc` in `slots`.
fn weight_gradient(
    acc: &[[f32; CHANNELS]],
    rows: usize,
    cols: usize,
    slots: [Option<usize>; POINTS],
) -> Vec<f32> {
    let blocks = rows.div_ceil(CHANNELS);
    // Gᵀ applied to the four values of one row or column of points.
    let back = |[a, b, c, d]: [f32; 4]| [a + 0.5 * (b + c), 0.5 * (b - c), 0.5 * (b + c) + d];
    let mut out = vec![0.0f32; rows * cols * 9];
    for r in 0..rows {
        for c in 0..cols {
            let m = |point: usize| {
                slots[point].map_or(0.0, |slot| {
                    acc[(slot * blocks + r / CHANNELS) * cols + c][r % CHANNELS]
                })
            };
            // Down the rows of points for each column `l`, then across the columns.
            let columns: [[f32; 3]; 4] =
                std::array::from_fn(|l| back([m(l), m(4 + l), m(8 + l), m(12 + l)]));
            let kernel = &mut out[(r * cols + c) * 9..][..9];
            for i in 0..3 {
                let row = back([columns[0][i], columns[1][i], columns[2][i], columns[3][i]]);
                kernel[3 * i..][..3].copy_from_slice(&row);
            }
        }
    }
    out
}

/// [`Winograd::weight_gradient`] for a [`Mode::Large`] tiling: `Gᵀ·M·G` with F(4×4, 3×3)'s
/// `G`.
fn large_weight_gradient(acc: &[[f32; CHANNELS]], rows: usize, cols: usize) -> Vec<f32> {
    let blocks = rows.div_ceil(CHANNELS);
    // Gᵀ applied to the six values of one row or column of points.
    let back = |[a, b, c, d, e, g]: [f32; 6]| {
        [
            0.25 * a - (b + c) / 6.0 + (d + e) / 24.0,
            (c - b) / 6.0 + (d - e) / 12.0,
            (d + e - b - c) / 6.0 + g,
        ]
    };
    let mut out = vec![0.0f32; rows * cols * 9];
    for r in 0..rows {
        for c in 0..cols {
            let m = |point: usize| acc[(point * blocks + r / CHANNELS) * cols + c][r % CHANNELS];
            let columns: [[f32; 3]; 6] = std::array::from_fn(|l| {
                back([m(l), m(6 + l), m(12 + l), m(18 + l), m(24 + l), m(30 + l)])
            });
            let kernel = &mut out[(r * cols + c) * 9..][..9];
            for i in 0..3 {
                let row = back(columns.map(|column| column[i]));
                kernel[3 * i..][..3].copy_from_slice(&row);
            }
        }
    }
    out
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

impl<F: Fn(&mut [f32], usize)> WithSimd for Convolve<'_, F> {
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
        let m = &mut rest[..tiling.product_len(out_channels)];
        tiling.transform_input(image, mask, rows, v);
        tiling.multiply(simd, u, v, m);
        match tiling.mode {
            Mode::Plain => tiling.transform_output(m, out_channels, out, f),
            Mode::Large => tiling.transform_output_large(simd, m, out_channels, out, f),
            Mode::Upsampled => tiling.transform_output_nine(m, out_channels, out, f),
            Mode::Summed => {
                tiling.transform_summed(m, out_channels, out);
                let plane = tiling.tiles_h * tiling.tiles_w;
                for (c, plane) in out.chunks_exact_mut(plane).take(out_channels).enumerate() {
                    f(plane, c);
                }
            }
        }
    }
}

impl Winograd {
    /// `U = G·g·Gᵀ` for every 3×3 kernel of `weights` `[rows, cols, 3, 3]`, packed per point
    /// for [`Winograd::convolve`] on this tiling (`rows` output channels, `cols` input
    /// channels).
    pub fn transform_weights(
        &self,
        weights: &[f32],
        rows: usize,
        cols: usize,
    ) -> Vec<Vec<[f32; CHANNELS]>> {
        if self.mode == Mode::Large {
            large_transform_weights(weights, rows, cols)
        } else {
            transform_weights(weights, rows, cols)
        }
    }
}

/// [`Winograd::transform_weights`] for F(4×4, 3×3): `G` has rows (1/4, 0, 0),
/// −(1, 1, 1)/6, −(1, −1, 1)/6, (1/24, 1/12, 1/6), (1/24, −1/12, 1/6), (0, 0, 1).
fn large_transform_weights(weights: &[f32], rows: usize, cols: usize) -> Vec<Vec<[f32; CHANNELS]>> {
    let blocks = rows.div_ceil(CHANNELS);
    let mut packed = vec![vec![[0.0f32; CHANNELS]; blocks * cols]; LARGE_POINTS];
    let g6 = |[a, b, d]: [f32; 3]| {
        [
            0.25 * a,
            -(a + b + d) / 6.0,
            -(a - b + d) / 6.0,
            a / 24.0 + b / 12.0 + d / 6.0,
            a / 24.0 - b / 12.0 + d / 6.0,
            d,
        ]
    };
    for r in 0..rows {
        for c in 0..cols {
            let g = &weights[(r * cols + c) * 9..][..9];
            // G on the kernel's columns (down its rows), then on the rows of the result.
            let columns: [[f32; 6]; 3] = std::array::from_fn(|j| g6([g[j], g[3 + j], g[6 + j]]));
            for k in 0..6 {
                let u = g6([columns[0][k], columns[1][k], columns[2][k]]);
                for (l, value) in u.into_iter().enumerate() {
                    packed[6 * k + l][(r / CHANNELS) * cols + c][r % CHANNELS] = value;
                }
            }
        }
    }
    packed
}

/// `U = G·g·Gᵀ` for every 3×3 kernel of `weights` `[rows, cols, 3, 3]`, packed per point for
/// [`Winograd::multiply`] (`rows` output channels, `cols` input channels).
fn transform_weights(weights: &[f32], rows: usize, cols: usize) -> Vec<Vec<[f32; CHANNELS]>> {
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
    /// on even and odd outputs, "same" and "valid" padding, one-pixel and lopsided images, rows
    /// short and long enough for each of the transform's step widths (scalar, 4 and 8 pairs,
    /// runs of 16 with an overlapping last step), with and without a mask, at every
    /// instruction level this CPU has (AVX2, and AVX-512 where present).
    #[test]
    fn winograd_matches_the_direct_convolution() {
        for simd in direct::levels() {
            winograd_matches_at(simd);
        }
    }

    /// Winograd's weight gradient against the direct kernels' (checked against the
    /// definition), on the same geometries, with and without a ReLU mask on the output
    /// gradient, one to three blocks of output channels, accumulated over two images.
    #[test]
    fn winograd_weight_gradient_matches_the_direct_one() {
        for simd in direct::levels() {
            // (cin, h, w, cout, top, left, out_h, out_w)
            for (cin, h, w, cout, top, left, out_h, out_w) in [
                (3, 7, 6, 5, 1, 1, 7, 6),
                (2, 9, 9, 17, 0, 0, 7, 7),
                (4, 1, 1, 3, 1, 1, 1, 1),
                (5, 6, 11, 40, 2, 1, 6, 10),
                (33, 8, 8, 16, 1, 1, 8, 8),
                (2, 18, 21, 17, 1, 1, 18, 21),
                (2, 16, 19, 3, 2, 2, 16, 19),
                (3, 20, 17, 4, 0, 0, 18, 15),
            ] {
                let grid = Grid::new(cin, h, w, [3, 3], top, left, out_h, out_w)
                    .unwrap_or_else(|| panic!("direct geometry {cin} {h} {w}"));
                for tiling in tilings(cin, [h, w], [top, left], [out_h, out_w]) {
                    let case = format!("geometry {cin} {h} {w} {cout} {:?}", tiling.mode);
                    let channels = [cin, h, w, cout];
                    weight_gradient_matches(simd, &grid, &tiling, channels, false, &case);
                }
            }
        }
    }

    /// Accumulates two images' weight gradients `cout × cin` through `tiling` and through the
    /// direct kernels on `grid` (whose input is the images ×2 upsampled where `upsampled`)
    /// and compares them, with and without a mask on the output gradient.
    fn weight_gradient_matches(
        simd: direct::Level,
        grid: &Grid,
        tiling: &Winograd,
        [cin, h, w, cout]: [usize; 4],
        upsampled: bool,
        case: &str,
    ) {
        let outputs = cout * tiling.out_h * tiling.out_w;
        let mask: Vec<f32> = (0..outputs).map(|i| (i % 3) as f32 - 0.5).collect();
        for masked in [false, true] {
            let mask = masked.then_some(mask.as_slice());
            let mut direct_acc =
                vec![[0.0f32; CHANNELS]; whole_channels(cout) / CHANNELS * grid.taps()];
            let mut acc = vec![[0.0f32; CHANNELS]; tiling.correlate_acc_len(cout)];
            let mut scratch = vec![f32::NAN; tiling.correlate_scratch_len(cout)];
            for n in 0..2 {
                let image: Vec<f32> = (0..cin * h * w)
                    .map(|i| ((i * 7 + n) % 11) as f32 * 0.3 - 1.5)
                    .collect();
                let dy: Vec<f32> = (0..outputs)
                    .map(|i| ((i * 5 + 3 * n) % 13) as f32 * 0.1 - 0.6)
                    .collect();
                let mut spread = vec![f32::NAN; grid.grid_len(cout)];
                grid.interleave(simd.avx2(), &dy, mask, cout, &mut spread);
                let mut padded = vec![0.0f32; grid.padded_len()];
                if upsampled {
                    grid.pad(&upsample(&image, cin, h, w), None, &mut padded);
                } else {
                    grid.pad(&image, None, &mut padded);
                }
                grid.correlate(simd, &spread, &padded, &mut direct_acc);
                let layout = [grid.width(), grid.span()];
                tiling.correlate(simd, &image, &spread, layout, cout, &mut scratch, &mut acc);
            }
            let expected = direct::unpack(&direct_acc, cout, grid.taps());
            let got = tiling.weight_gradient(&acc, cout, cin);
            let case = format!("{} {case} masked {masked}", simd.name());
            assert_close(&got, &expected, &case);
        }
    }

    /// Both tilings of a geometry: F(2×2, 3×3)'s and F(4×4, 3×3)'s.
    fn tilings(
        cin: usize,
        [h, w]: [usize; 2],
        [top, left]: [usize; 2],
        [out_h, out_w]: [usize; 2],
    ) -> [Winograd; 2] {
        [Winograd::new, Winograd::large].map(|tiling| {
            tiling(cin, [h, w], [top, left], [out_h, out_w])
                .unwrap_or_else(|| panic!("Winograd geometry {cin} {h} {w}"))
        })
    }

    /// The direct kernels' convolution on `grid` of `image` (masked where given) with
    /// `weights` `[cout, channels, 3, 3]`.
    fn direct_convolution(
        simd: direct::Level,
        grid: &Grid,
        image: &[f32],
        mask: Option<&[f32]>,
        weights: &[f32],
        cout: usize,
        outputs: usize,
    ) -> Vec<f32> {
        let mut padded = vec![0.0f32; grid.padded_len()];
        grid.pad(image, mask, &mut padded);
        let mut sums = vec![0.0f32; grid.product_len(cout)];
        grid.product(
            simd,
            &direct::pack(weights, cout, grid.taps()),
            &padded,
            &mut sums,
        );
        let mut out = vec![0.0f32; outputs];
        grid.compact(&sums, cout, &mut out, |v, _| v);
        out
    }

    /// `tiling`'s convolution of `image` (masked where given) with `weights`
    /// `[cout, channels, 3, 3]`, each output plane finished by `f`.
    #[allow(clippy::too_many_arguments)]
    fn winograd_convolution(
        simd: direct::Level,
        tiling: &Winograd,
        image: &[f32],
        mask: Option<&[f32]>,
        weights: &[f32],
        [cout, cin]: [usize; 2],
        outputs: usize,
        f: impl Fn(&mut [f32], usize),
    ) -> Vec<f32> {
        let mut scratch = vec![f32::NAN; tiling.scratch_len(cout)];
        let mut out = vec![f32::NAN; outputs];
        let u = tiling.transform_weights(weights, cout, cin);
        tiling.convolve(simd, &u, cout, image, mask, &mut scratch, &mut out, f);
        out
    }

    /// Every value of `got` within 10⁻⁵ (10⁻⁴ for a [`Mode::Large`] case) of `expected`'s
    /// largest magnitude of its own.
    fn assert_close(got: &[f32], expected: &[f32], case: &str) {
        assert_eq!(got.len(), expected.len(), "{case}: lengths");
        let scale = expected.iter().fold(1.0f32, |s, v| s.max(v.abs()));
        // F(4×4, 3×3)'s points ±2 and its 4s and 8s round more than F(2×2, 3×3)'s ±1: its
        // weight gradient over 60 tiles of 18×21 reads 1.8·10⁻⁵ of the largest value off.
        let tolerance = if case.contains("Large") { 1e-4 } else { 1e-5 };
        for (i, (a, b)) in got.iter().zip(expected).enumerate() {
            assert!(
                (a - b).abs() <= tolerance * scale,
                "{case} [{i}]: {a} vs {b}"
            );
        }
    }

    /// `image` `[channels, h, w]` repeated over 2×2 blocks.
    fn upsample(image: &[f32], channels: usize, h: usize, w: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; channels * 4 * h * w];
        for c in 0..channels {
            for r in 0..2 * h {
                for col in 0..2 * w {
                    out[(c * 2 * h + r) * 2 * w + col] = image[(c * h + r / 2) * w + col / 2];
                }
            }
        }
        out
    }

    /// Half-size images, wide and narrow, one to three blocks of output channels: rows of
    /// tiles shorter than one step of the transforms, and longer with an overlapping last step.
    const UPSAMPLED: [(usize, usize, usize, usize); 6] = [
        // (cin, h, w, cout)
        (3, 1, 1, 5),
        (2, 4, 3, 17),
        (5, 7, 7, 20),
        (16, 14, 14, 16),
        (2, 9, 11, 33),
        (4, 3, 20, 6),
    ];

    /// The 3×3 "same" convolution of a ×2 upsampled image on 9 points equals the direct
    /// kernels' (checked against the definition) on the upsampled copy, at every level.
    #[test]
    fn upsampled_winograd_matches_the_direct_convolution_of_the_upsampled_image() {
        for simd in direct::levels() {
            for (cin, h, w, cout) in UPSAMPLED {
                let image: Vec<f32> = (0..cin * h * w)
                    .map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.5)
                    .collect();
                let weights: Vec<f32> = (0..cout * cin * 9)
                    .map(|i| ((i * 5) % 13) as f32 * 0.1 - 0.6)
                    .collect();
                let (uh, uw) = (2 * h, 2 * w);
                let grid = Grid::new(cin, uh, uw, [3, 3], 1, 1, uh, uw).unwrap();
                let up = upsample(&image, cin, h, w);
                let outputs = cout * uh * uw;
                let direct = direct_convolution(simd, &grid, &up, None, &weights, cout, outputs);
                // `f` runs on each output plane: channel `c` gains `c`.
                let expected: Vec<f32> = (direct.iter().enumerate())
                    .map(|(i, v)| v + (i / (uh * uw)) as f32)
                    .collect();

                let tiling = Winograd::upsampled(cin, [h, w]).unwrap();
                let f = |plane: &mut [f32], c: usize| plane.iter_mut().for_each(|v| *v += c as f32);
                let (channels, weights) = ([cout, cin], &weights);
                let out = winograd_convolution(
                    simd, &tiling, &image, None, weights, channels, outputs, f,
                );
                let case = format!("{} {cin}×{h}×{w} → {cout}", simd.name());
                assert_close(&out, &expected, &case);
            }
        }
    }

    /// The summed tiling gives the direct convolution's output with each 2×2 block added up
    /// (the input gradient of an upsampled layer), with and without a mask on its input.
    #[test]
    fn summed_winograd_matches_the_direct_convolution_summed_over_blocks() {
        for simd in direct::levels() {
            for (cout, h, w, cin) in UPSAMPLED {
                // `cout` channels of output gradient in, `cin` channels of input gradient out.
                let (uh, uw) = (2 * h, 2 * w);
                let dy: Vec<f32> = (0..cout * uh * uw)
                    .map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.5)
                    .collect();
                let mask: Vec<f32> = (0..dy.len()).map(|i| (i % 3) as f32 - 0.5).collect();
                let weights: Vec<f32> = (0..cin * cout * 9)
                    .map(|i| ((i * 5) % 13) as f32 * 0.1 - 0.6)
                    .collect();
                for masked in [false, true] {
                    let mask = masked.then_some(mask.as_slice());
                    let grid = Grid::new(cout, uh, uw, [3, 3], 1, 1, uh, uw).unwrap();
                    let outputs = cin * uh * uw;
                    let full = direct_convolution(simd, &grid, &dy, mask, &weights, cin, outputs);
                    let expected: Vec<f32> = (0..cin * h * w)
                        .map(|i| {
                            let (c, r, col) = (i / (h * w), i / w % h, i % w);
                            let at = |dr: usize, dc: usize| {
                                full[(c * uh + 2 * r + dr) * uw + 2 * col + dc]
                            };
                            at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)
                        })
                        .collect();

                    let tiling = Winograd::summed(cout, [h, w]).unwrap();
                    let (channels, weights, f) = ([cin, cout], &weights, |_: &mut [f32], _| {});
                    let out = winograd_convolution(
                        simd,
                        &tiling,
                        &dy,
                        mask,
                        weights,
                        channels,
                        cin * h * w,
                        f,
                    );
                    let case = format!("{} {cout}×{uh}×{uw} → {cin} masked {masked}", simd.name());
                    assert_close(&out, &expected, &case);
                }
            }
        }
    }

    /// The weight gradient on 9 points from the half-size image equals the direct kernels'
    /// on the upsampled copy, accumulated over two images, with and without a mask.
    #[test]
    fn upsampled_winograd_weight_gradient_matches_the_direct_one() {
        for simd in direct::levels() {
            for (cin, h, w, cout) in UPSAMPLED {
                let (uh, uw) = (2 * h, 2 * w);
                let grid = Grid::new(cin, uh, uw, [3, 3], 1, 1, uh, uw).unwrap();
                let tiling = Winograd::upsampled(cin, [h, w]).unwrap();
                let case = format!("{cin}×{h}×{w} → {cout}");
                let dims = [cin, h, w, cout];
                weight_gradient_matches(simd, &grid, &tiling, dims, true, &case);
            }
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
            (2, 18, 21, 17, 1, 1, 18, 21),
            (3, 30, 34, 5, 0, 1, 28, 33),
            (2, 16, 19, 3, 2, 2, 16, 19),
            (3, 20, 17, 4, 0, 0, 18, 15),
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
                let outputs = cout * out_h * out_w;
                let expected =
                    direct_convolution(simd, &grid, &image, mask, &weights, cout, outputs);

                for tiling in tilings(cin, [h, w], [top, left], [out_h, out_w]) {
                    let (channels, weights, f) = ([cout, cin], &weights, |_: &mut [f32], _| {});
                    let out = winograd_convolution(
                        simd, &tiling, &image, mask, weights, channels, outputs, f,
                    );
                    let (level, mode) = (simd.name(), tiling.mode);
                    let case = format!("{level} {mode:?} geometry {cin} {h} {w} masked {masked}");
                    assert_close(&out, &expected, &case);
                }
            }
        }
    }
}
