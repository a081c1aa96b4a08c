//! The synthetic "micro" dataset: stained-cell micrographs whose classes differ only in a fine
//! detail of the cells.
//!
//! Each image is a field of a stained smear: a pinkish, slightly textured background with
//! vignetting, pale red discs, and many nucleated cells (pale cytoplasm, dark purple nucleus) at
//! random positions, sizes and overlaps. Stain strength and hue, illumination, cell count and
//! cell size vary from image to image in the same way for every class. What tells the classes
//! apart is the nuclei and the cytoplasm at the scale of a few pixels: round smooth nuclei,
//! multi-lobed nuclei, nuclei with a fine granular speckle, or small dark inclusions in the
//! cytoplasm. Cells keep their size in pixels whatever the image size (a larger image is a wider
//! field of view), so at 1024 px the details span several pixels, while an image squashed to
//! 64 px keeps the colour and the density of the cells and loses the detail: the scarce,
//! high-resolution microscopy problem in miniature.
//!
//! The stains are mixed the way light passes through them (Beer–Lambert): each pixel holds an
//! amount of a pink (eosin-like) and a purple (haematoxylin-like) stain, and its colour is the
//! illumination dimmed by both. The amount of nuclear stain per cell is the same in every class,
//! so the mean colour does not give the class away either.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::convert::alloc_pixels;
use super::progress::LoadProgress;
use super::{DataError, Dataset, DatasetSource, ImageSet, SourceFormat};

/// The class designs, in label order; a dataset of `n` classes uses the first `n`.
pub const CLASS_NAMES: [&str; 4] = ["round", "lobed", "granular", "inclusions"];

/// Smallest image side accepted.
pub const MIN_SIZE: usize = 64;
/// Largest image side accepted (the largest input size a model takes).
pub const MAX_SIZE: usize = 1024;
/// Most images in one dataset (both parts).
const MAX_IMAGES: usize = 100_000;

/// Image area (px²) per nucleated cell, before the per-image density factor.
const AREA_PER_CELL: f32 = 5200.0;
/// Image area (px²) per red disc, before the per-image density factor.
const AREA_PER_DISC: f32 = 4200.0;

/// Size, classes, counts and seed of a micro dataset. Settable under `[dataset.source]` of a
/// run's `config.toml` (with `kind = "micro"`); missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct MicroConfig {
    /// Side of the square images in pixels, 64 to 1024. Cells keep their size in pixels, so a
    /// smaller image is a smaller field of view with fewer cells.
    pub size: usize,
    /// Number of classes, 2 to 4 (see [`CLASS_NAMES`]).
    pub classes: usize,
    /// Training images per class.
    pub train_per_class: usize,
    /// Test images per class (the source's own test part).
    pub test_per_class: usize,
    /// Seed of the drawing (the run's seed drives the split, initialisation and shuffling).
    pub seed: u64,
}

impl Default for MicroConfig {
    fn default() -> Self {
        Self {
            size: 1024,
            classes: 3,
            train_per_class: 30,
            test_per_class: 10,
            seed: 0,
        }
    }
}

impl MicroConfig {
    /// Checks every setting, naming the one at fault.
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |what: String| Err(DataError::Invalid(format!("micro dataset: {what}")));
        if !(2..=CLASS_NAMES.len()).contains(&self.classes) {
            return bad(format!(
                "needs 2 to {} classes ({}), found {}",
                CLASS_NAMES.len(),
                CLASS_NAMES.join(", "),
                self.classes
            ));
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return bad(format!(
                "images must be {MIN_SIZE} to {MAX_SIZE} pixels wide, found {}",
                self.size
            ));
        }
        if self.train_per_class == 0 || self.test_per_class == 0 {
            return bad("needs at least one training and one test image per class".to_owned());
        }
        let images = self
            .train_per_class
            .saturating_add(self.test_per_class)
            .saturating_mul(self.classes);
        if images > MAX_IMAGES {
            return bad(format!("at most {MAX_IMAGES} images, found {images}"));
        }
        Ok(())
    }

    /// Training and test images in all.
    pub fn image_counts(&self) -> (usize, usize) {
        (
            self.train_per_class.saturating_mul(self.classes),
            self.test_per_class.saturating_mul(self.classes),
        )
    }

    /// Bytes the images take in memory at their own size (RGB, one byte per channel).
    pub fn pixel_bytes(&self) -> u64 {
        let (train, test) = self.image_counts();
        let side = self.size as u64;
        (train as u64 + test as u64).saturating_mul(side * side * 3)
    }
}

/// Draws the dataset.
pub(crate) fn generate(
    config: &MicroConfig,
    progress: &LoadProgress,
) -> Result<Dataset, DataError> {
    config.validate()?;
    let (train_n, test_n) = config.image_counts();
    progress.begin("Drawing micrographs", (train_n + test_n) as u64);
    let train = draw_set(config, train_n, 0, progress)?;
    let test = draw_set(config, test_n, 1, progress)?;
    Ok(Dataset {
        source: DatasetSource::Micro(config.clone()),
        width: config.size,
        height: config.size,
        channels: 3,
        class_names: CLASS_NAMES[..config.classes]
            .iter()
            .map(|&s| s.to_owned())
            .collect(),
        train,
        test: Some(test),
        fixed_norm: None,
        skipped: Vec::new(),
        source_format: SourceFormat::uniform(config.size, config.size, false, train_n + test_n),
        disk: None,
    })
}

fn draw_set(
    config: &MicroConfig,
    n: usize,
    part: u64,
    progress: &LoadProgress,
) -> Result<ImageSet, DataError> {
    let len = config.size * config.size * 3;
    let mut pixels = alloc_pixels(n, len, "the micrographs")?;
    let labels: Vec<u16> = (0..n).map(|i| (i % config.classes) as u16).collect();
    pixels
        .par_chunks_mut(len)
        .zip(labels.par_iter())
        .enumerate()
        .for_each(|(i, (out, &label))| {
            if progress.is_cancelled() {
                return;
            }
            let seed = config
                .seed
                .wrapping_mul(0xD1B5_4A32_D192_ED03)
                .wrapping_add((part << 40) ^ i as u64);
            draw(config.size, Design::of(usize::from(label)), seed, out);
            progress.add(1);
        });
    progress.check()?;
    Ok(ImageSet { pixels, labels })
}

/// What sets a class apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Design {
    /// Round, smooth nuclei.
    Round,
    /// Nuclei of two to four lobes joined by thin strands.
    Lobed,
    /// Round nuclei with a fine granular speckle.
    Granular,
    /// Round nuclei and a few small dark inclusions in the cytoplasm.
    Inclusions,
}

impl Design {
    fn of(class: usize) -> Self {
        match class {
            0 => Self::Round,
            1 => Self::Lobed,
            2 => Self::Granular,
            _ => Self::Inclusions,
        }
    }
}

/// Optical density of one unit of each stain in R, G and B.
type Od = [f32; 3];

/// Eosin-like stain: absorbs green most and some blue, so it looks pink.
const EOSIN: Od = [0.08, 0.90, 0.32];
/// Haematoxylin-like stain: absorbs red and green, so it looks blue-purple.
const HAEMATOXYLIN: Od = [0.65, 0.70, 0.29];

/// `exp(-x)` for `x` in `0..8` at steps of 1/256, read with linear interpolation: the light
/// that passes a stain of optical density `x`, without an `exp` per pixel and channel.
struct Transmittance(Vec<f32>);

impl Transmittance {
    const STEPS: f32 = 256.0;
    const LEN: usize = 8 * 256 + 2;

    fn new() -> Self {
        Self(
            (0..Self::LEN)
                .map(|k| (-(k as f32) / Self::STEPS).exp())
                .collect(),
        )
    }

    fn of(&self, od: f32) -> f32 {
        let x = (od * Self::STEPS).clamp(0.0, (Self::LEN - 2) as f32);
        let k = x as usize;
        let (a, b) = (self.0[k], self.0[k + 1]);
        a + (b - a) * (x - k as f32)
    }
}

/// A 64-bit mix of a seed and two coordinates (SplitMix64's finaliser): per-pixel noise that
/// does not depend on the drawing order.
fn hash(seed: u64, x: u32, y: u32) -> u64 {
    let mut z = seed ^ ((u64::from(x) << 32) | u64::from(y)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// [`hash`] as a number in `0..1`.
fn hash01(seed: u64, x: u32, y: u32) -> f32 {
    (hash(seed, x, y) >> 40) as f32 / (1u64 << 24) as f32
}

/// Coverage of a pixel whose centre lies `inside` pixels within an edge (negative: outside):
/// a one-pixel soft edge.
fn cover(inside: f32) -> f32 {
    (inside + 0.5).clamp(0.0, 1.0)
}

/// Smooth value noise on a lattice of `cell` pixels, values in -1..1.
struct Lattice {
    cell: f32,
    cols: usize,
    values: Vec<f32>,
}

impl Lattice {
    fn new(rng: &mut Xoshiro256PlusPlus, size: usize, cell: f32) -> Self {
        let cols = (size as f32 / cell).ceil() as usize + 2;
        let values = (0..cols * cols)
            .map(|_| rng.random_range(-1.0..1.0f32))
            .collect();
        Self { cell, cols, values }
    }

    /// The lattice values of row `y` (pixels) interpolated vertically: one entry per column.
    fn row(&self, y: f32, out: &mut Vec<f32>) {
        let gy = y / self.cell;
        let iy = (gy.floor().max(0.0) as usize).min(self.cols - 2);
        let t = smooth(gy - iy as f32);
        out.clear();
        let (top, bottom) = (
            &self.values[iy * self.cols..],
            &self.values[(iy + 1) * self.cols..],
        );
        out.extend((0..self.cols).map(|ix| top[ix] + (bottom[ix] - top[ix]) * t));
    }

    /// The lattice column left of `x` (pixels) and the smoothed weight of the one to its right.
    fn locate(&self, x: f32) -> (usize, f32) {
        let gx = x / self.cell;
        let ix = (gx.floor().max(0.0) as usize).min(self.cols - 2);
        (ix, smooth(gx - ix as f32))
    }

    /// The noise between columns `ix` and `ix + 1` of a row from [`row`](Self::row).
    fn blend(row: &[f32], ix: usize, t: f32) -> f32 {
        row[ix] + (row[ix + 1] - row[ix]) * t
    }
}

fn smooth(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Stain amounts per pixel, row-major.
struct Stains {
    size: usize,
    eosin: Vec<f32>,
    haem: Vec<f32>,
}

impl Stains {
    /// Adds stain to the pixels within `reach` of `(cx, cy)`: `f(dx, dy, px, py)` gives the
    /// (eosin, haematoxylin) to add at a pixel whose centre is `(dx, dy)` from the centre.
    fn stamp(
        &mut self,
        (cx, cy): (f32, f32),
        reach: f32,
        mut f: impl FnMut(f32, f32, u32, u32) -> (f32, f32),
    ) {
        let clamp = |v: f32| (v.max(0.0) as usize).min(self.size);
        let (x0, x1) = (clamp((cx - reach).floor()), clamp((cx + reach).ceil()));
        let (y0, y1) = (clamp((cy - reach).floor()), clamp((cy + reach).ceil()));
        for py in y0..y1 {
            let dy = py as f32 + 0.5 - cy;
            let row = py * self.size;
            for px in x0..x1 {
                let dx = px as f32 + 0.5 - cx;
                let (e, h) = f(dx, dy, px as u32, py as u32);
                if e != 0.0 || h != 0.0 {
                    self.eosin[row + px] += e;
                    self.haem[row + px] += h;
                }
            }
        }
    }
}

/// An ellipse with semi-axes `a` and `b` turned by an angle of cosine `cos` and sine `sin`.
#[derive(Clone, Copy)]
struct Ellipse {
    a: f32,
    b: f32,
    cos: f32,
    sin: f32,
}

impl Ellipse {
    fn random(rng: &mut Xoshiro256PlusPlus, radius: f32, squash: f32) -> Self {
        let aspect = rng.random_range(1.0 - squash..=1.0 + squash);
        let (sin, cos) = rng.random_range(0.0..std::f32::consts::PI).sin_cos();
        Self {
            a: radius * aspect.sqrt(),
            b: radius / aspect.sqrt(),
            cos,
            sin,
        }
    }

    /// The normalised radius of `(dx, dy)`: below 1 inside.
    fn q(&self, dx: f32, dy: f32) -> f32 {
        let u = (self.cos * dx + self.sin * dy) / self.a;
        let v = (-self.sin * dx + self.cos * dy) / self.b;
        (u * u + v * v).sqrt()
    }

    /// Pixels (approximately) from `(dx, dy)` inward to the edge; negative outside.
    fn inside(&self, dx: f32, dy: f32) -> f32 {
        (1.0 - self.q(dx, dy)) * 0.5 * (self.a + self.b)
    }

    fn reach(&self) -> f32 {
        self.a.max(self.b)
    }
}

/// What varies from image to image, the same way for every class.
struct Look {
    /// Illumination per channel (0..=255 units) at the vignette's centre.
    light: [f32; 3],
    /// Darkening at the corners, as a share of the light.
    vignette: f32,
    /// The vignette's centre, as a share of the side.
    centre: (f32, f32),
    /// Optical density of one unit of the pink and the purple stain.
    eosin: Od,
    haem: Od,
    /// Pink stain of the background.
    ground: f32,
    /// Cell and disc counts and the cell size factor.
    cells: usize,
    discs: usize,
    scale: f32,
}

impl Look {
    fn random(rng: &mut Xoshiro256PlusPlus, size: usize) -> Self {
        let brightness = rng.random_range(0.86..=1.0f32);
        let tint = [
            rng.random_range(-0.03..=0.03f32),
            rng.random_range(-0.03..=0.03f32),
            rng.random_range(-0.03..=0.03f32),
        ];
        let light = [
            250.0 * brightness * (1.0 + tint[0]),
            244.0 * brightness * (1.0 + tint[1]),
            242.0 * brightness * (1.0 + tint[2]),
        ];
        let stain = |rng: &mut Xoshiro256PlusPlus, base: Od, gain: f32| -> Od {
            base.map(|c| (c + rng.random_range(-0.06..=0.06f32)).max(0.02) * gain)
        };
        let eosin_gain = rng.random_range(0.7..=1.3f32);
        let haem_gain = rng.random_range(1.0..=1.6f32);
        let area = (size * size) as f32;
        let density = rng.random_range(0.75..=1.25f32);
        let scale = rng.random_range(0.9..=1.1f32);
        Self {
            light,
            vignette: rng.random_range(0.08..=0.28),
            centre: (rng.random_range(0.35..=0.65), rng.random_range(0.35..=0.65)),
            eosin: stain(rng, EOSIN, eosin_gain),
            haem: stain(rng, HAEMATOXYLIN, haem_gain),
            ground: rng.random_range(0.06..=0.14),
            cells: ((area * density / (AREA_PER_CELL * scale * scale)).round() as usize).max(1),
            discs: (area * rng.random_range(0.6..=1.4f32) / AREA_PER_DISC).round() as usize,
            scale,
        }
    }
}

/// Draws one image of `design` into `out` (CHW, 3 channels, `size × size`).
fn draw(size: usize, design: Design, seed: u64, out: &mut [u8]) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let look = Look::random(&mut rng, size);
    let mut stains = Stains {
        size,
        eosin: vec![0.0; size * size],
        haem: vec![0.0; size * size],
    };
    let s = size as f32;
    let margin = 20.0;
    let position = |rng: &mut Xoshiro256PlusPlus| {
        (
            rng.random_range(-margin..s + margin),
            rng.random_range(-margin..s + margin),
        )
    };

    for _ in 0..look.discs {
        let centre = position(&mut rng);
        disc(&mut stains, &mut rng, centre, look.scale);
    }
    for _ in 0..look.cells {
        let centre = position(&mut rng);
        cell(&mut stains, &mut rng, centre, look.scale, design);
    }
    compose(&stains, &look, &mut rng, seed, out);
}

/// A pale red disc with a lighter centre (an anucleate red cell).
fn disc(stains: &mut Stains, rng: &mut Xoshiro256PlusPlus, centre: (f32, f32), scale: f32) {
    let radius = rng.random_range(11.0..=16.0f32) * scale;
    let shape = Ellipse::random(rng, radius, 0.12);
    let amount = rng.random_range(0.22..=0.36f32);
    stains.stamp(centre, shape.reach() + 1.0, |dx, dy, _, _| {
        let c = cover(shape.inside(dx, dy));
        if c <= 0.0 {
            return (0.0, 0.0);
        }
        let q = shape.q(dx, dy).min(1.0);
        (amount * c * (0.55 + 0.45 * q * q), 0.0)
    });
}

/// A nucleated cell: a pale, slightly irregular cytoplasm and a nucleus of the class's design.
fn cell(
    stains: &mut Stains,
    rng: &mut Xoshiro256PlusPlus,
    centre: (f32, f32),
    scale: f32,
    design: Design,
) {
    let radius = rng.random_range(19.0..=28.0f32) * scale;
    let body = Ellipse::random(rng, radius, 0.15);
    // A wobbly outline: second and third harmonics of the angle, without trigonometry per pixel.
    let (w2, p2) = (
        rng.random_range(0.0..0.07f32),
        rng.random_range(0.0..6.3f32),
    );
    let (w3, p3) = (
        rng.random_range(0.0..0.05f32),
        rng.random_range(0.0..6.3f32),
    );
    let (c2, s2, c3, s3) = (p2.cos(), p2.sin(), p3.cos(), p3.sin());
    let cyto_eosin = rng.random_range(0.14..=0.24f32);
    let cyto_haem = rng.random_range(0.02..=0.06f32);
    let reach = body.reach() * (1.0 + w2 + w3) + 1.0;
    stains.stamp(centre, reach, |dx, dy, _, _| {
        let r2 = dx * dx + dy * dy;
        let wobble = if r2 > 1.0 {
            let (cos, sin) = (dx / r2.sqrt(), dy / r2.sqrt());
            let (cos2, sin2) = (cos * cos - sin * sin, 2.0 * sin * cos);
            let (cos3, sin3) = (cos * cos2 - sin * sin2, sin * cos2 + cos * sin2);
            w2 * (cos2 * c2 + sin2 * s2) + w3 * (cos3 * c3 + sin3 * s3)
        } else {
            0.0
        };
        let q = body.q(dx, dy) / (1.0 + wobble);
        let c = cover((1.0 - q) * 0.5 * (body.a + body.b));
        (cyto_eosin * c, cyto_haem * c)
    });

    // The nucleus: its stain per cell is the same in every design (area × density).
    let nucleus_radius = radius * rng.random_range(0.42..=0.52f32);
    let offset = radius * rng.random_range(0.0..0.2f32);
    let angle = rng.random_range(0.0..std::f32::consts::TAU);
    let nc = (
        centre.0 + offset * angle.cos(),
        centre.1 + offset * angle.sin(),
    );
    let density = rng.random_range(0.85..=1.15f32);
    let grain_seed = rng.random_range(0..u64::MAX);
    match design {
        Design::Round => round_nucleus(stains, rng, nc, nucleus_radius, density),
        Design::Granular => {
            let shape = Ellipse::random(rng, nucleus_radius, 0.2);
            stains.stamp(nc, shape.reach() + 1.0, |dx, dy, px, py| {
                let c = cover(shape.inside(dx, dy));
                if c <= 0.0 {
                    return (0.0, 0.0);
                }
                // Grains of 2×2 pixels: sparse dark clumps on a paler ground, mean 1.
                let u = hash01(grain_seed, px / 2, py / 2);
                let grain = 0.4 + 0.6 * 4.0 * u * u * u;
                (0.0, density * c * grain)
            });
        }
        Design::Lobed => lobed_nucleus(stains, rng, nc, nucleus_radius, density),
        Design::Inclusions => {
            // A few small dense dots in the cytoplasm; the nucleus gives up as much stain.
            let count = rng.random_range(3..=6usize);
            let mut dots = Vec::with_capacity(count);
            let mut dot_mass = 0.0;
            for _ in 0..count {
                let r = rng.random_range(1.3..=2.1f32);
                let at = rng.random_range(0.0..std::f32::consts::TAU);
                let near = nucleus_radius * 1.1 + offset + 2.5;
                let dist = rng.random_range(near..=(radius * 0.9).max(near + 0.5));
                dots.push(((centre.0 + dist * at.cos(), centre.1 + dist * at.sin()), r));
                dot_mass += std::f32::consts::PI * r * r * 1.8;
            }
            let nucleus_mass = std::f32::consts::PI * nucleus_radius * nucleus_radius;
            let left = (1.0 - dot_mass / nucleus_mass).max(0.5);
            round_nucleus(stains, rng, nc, nucleus_radius, density * left);
            for (at, r) in dots {
                stains.stamp(at, r + 1.0, |dx, dy, _, _| {
                    let c = cover(r - (dx * dx + dy * dy).sqrt());
                    (0.0, 1.8 * density * c)
                });
            }
        }
    }
}

/// A smooth elliptic nucleus, a little denser at its rim.
fn round_nucleus(
    stains: &mut Stains,
    rng: &mut Xoshiro256PlusPlus,
    centre: (f32, f32),
    radius: f32,
    density: f32,
) {
    let shape = Ellipse::random(rng, radius, 0.2);
    stains.stamp(centre, shape.reach() + 1.0, |dx, dy, _, _| {
        let c = cover(shape.inside(dx, dy));
        if c <= 0.0 {
            return (0.0, 0.0);
        }
        let q = shape.q(dx, dy).min(1.0);
        (0.0, density * c * (0.9 + 0.2 * q * q))
    });
}

/// Two to four round lobes on an arc, joined by thin strands, holding as much stain as a round
/// nucleus of `radius`.
fn lobed_nucleus(
    stains: &mut Stains,
    rng: &mut Xoshiro256PlusPlus,
    centre: (f32, f32),
    radius: f32,
    density: f32,
) {
    let lobes = rng.random_range(2..=4usize);
    let lobe_radius = radius * [0.62, 0.5, 0.44][lobes - 2];
    let ring = radius * [0.72, 0.74, 0.8][lobes - 2];
    let start = rng.random_range(0.0..std::f32::consts::TAU);
    // Lobes spread over most of a turn, each a little off the even spacing.
    let step = std::f32::consts::TAU * 0.85 / lobes as f32;
    let centres: Vec<(f32, f32)> = (0..lobes)
        .map(|k| {
            let a = start + step * (k as f32 + rng.random_range(-0.12..=0.12f32));
            (ring * a.cos(), ring * a.sin())
        })
        .collect();
    let lobe_density = density / (lobes as f32 * (lobe_radius / radius).powi(2)) * 0.92;
    let strand = 1.0;
    stains.stamp(centre, ring + lobe_radius + 1.0, |dx, dy, _, _| {
        let mut best = f32::NEG_INFINITY;
        for &(lx, ly) in &centres {
            let (ex, ey) = (dx - lx, dy - ly);
            best = best.max(lobe_radius - (ex * ex + ey * ey).sqrt());
        }
        let lobe = cover(best);
        let mut thread = 0.0f32;
        for pair in centres.windows(2) {
            let d = segment_distance((dx, dy), pair[0], pair[1]);
            thread = thread.max(cover(strand - d));
        }
        let amount = lobe.max(0.7 * thread);
        if amount <= 0.0 {
            return (0.0, 0.0);
        }
        (0.0, lobe_density * amount)
    });
}

fn segment_distance((x, y): (f32, f32), (x0, y0): (f32, f32), (x1, y1): (f32, f32)) -> f32 {
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len_sq = dx * dx + dy * dy;
    let t = if len_sq > 0.0 {
        (((x - x0) * dx + (y - y0) * dy) / len_sq).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (x0 + t * dx - x, y0 + t * dy - y);
    (ex * ex + ey * ey).sqrt()
}

/// Turns the stain amounts into colours: background stain with a cloudy texture, light through
/// both stains, vignetting and a little sensor noise.
fn compose(stains: &Stains, look: &Look, rng: &mut Xoshiro256PlusPlus, seed: u64, out: &mut [u8]) {
    let size = stains.size;
    let s = size as f32;
    let plane = size * size;
    let coarse = Lattice::new(rng, size, 160.0);
    let fine = Lattice::new(rng, size, 28.0);
    let (mut coarse_row, mut fine_row) = (Vec::new(), Vec::new());
    let noise_seed = seed ^ 0x05EE_D0FF_1E1D;
    let (vx, vy) = (look.centre.0 * s, look.centre.1 * s);
    let corner = 0.5 / (s * s);
    let transmittance = Transmittance::new();
    // What depends on the column only, worked out once.
    let columns: Vec<(usize, f32, usize, f32, f32)> = (0..size)
        .map(|px| {
            let x = px as f32 + 0.5;
            let (ci, ct) = coarse.locate(x);
            let (fi, ft) = fine.locate(x);
            (ci, ct, fi, ft, (x - vx) * (x - vx))
        })
        .collect();
    let (red, rest) = out.split_at_mut(plane.min(out.len()));
    let (green, blue) = rest.split_at_mut(plane.min(rest.len()));
    for py in 0..size {
        let y = py as f32 + 0.5;
        coarse.row(y, &mut coarse_row);
        fine.row(y, &mut fine_row);
        let dy2 = (y - vy) * (y - vy);
        let row = py * size;
        for (px, &(ci, ct, fi, ft, dx2)) in columns.iter().enumerate() {
            let p = row + px;
            let cloud =
                Lattice::blend(&coarse_row, ci, ct) + 0.5 * Lattice::blend(&fine_row, fi, ft);
            let eosin = stains.eosin[p] + look.ground * (1.0 + 0.5 * cloud);
            let haem = stains.haem[p];
            let light = 1.0 - look.vignette * (dx2 + dy2) * corner;
            let noise = hash(noise_seed, px as u32, py as u32);
            for (c, plane) in [&mut *red, &mut *green, &mut *blue].into_iter().enumerate() {
                let od = eosin * look.eosin[c] + haem * look.haem[c];
                let grain = ((noise >> (16 * c)) & 0xFFFF) as f32 / 65_536.0 - 0.5;
                let value = look.light[c] * light * transmittance.of(od) + 5.0 * grain;
                if let Some(slot) = plane.get_mut(p) {
                    *slot = (value.clamp(0.0, 255.0) + 0.5) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Part;

    fn small(classes: usize) -> MicroConfig {
        MicroConfig {
            size: 256,
            classes,
            train_per_class: 4,
            test_per_class: 2,
            seed: 3,
        }
    }

    #[test]
    fn seeded_balanced_and_shaped_as_asked() {
        let config = small(4);
        let p = LoadProgress::new();
        let a = generate(&config, &p).unwrap();
        assert_eq!((a.width, a.height, a.channels), (256, 256, 3));
        assert_eq!(a.train.len(), 16);
        assert_eq!(a.test.as_ref().unwrap().len(), 8);
        assert_eq!(a.train.pixels.len(), 16 * 256 * 256 * 3);
        assert_eq!(a.class_counts(Part::Train), vec![4; 4]);
        assert_eq!(a.class_counts(Part::Test), vec![2; 4]);
        assert_eq!(a.class_names, CLASS_NAMES);
        assert_eq!(p.counts(), (24, 24));
        let b = generate(&config, &p).unwrap();
        assert_eq!(a.train.pixels, b.train.pixels);
        assert_eq!(
            a.test.as_ref().unwrap().pixels,
            b.test.as_ref().unwrap().pixels
        );
        let c = generate(
            &MicroConfig {
                seed: 4,
                ..config.clone()
            },
            &p,
        )
        .unwrap();
        assert_ne!(a.train.pixels, c.train.pixels);
        // No two images alike, across parts too.
        let len = a.image_len();
        let test = &a.test.as_ref().unwrap().pixels;
        let images: Vec<&[u8]> = a.train.pixels.chunks(len).chain(test.chunks(len)).collect();
        for i in 0..images.len() {
            for j in i + 1..images.len() {
                assert_ne!(images[i], images[j], "images {i} and {j}");
            }
        }
        let three = generate(&small(3), &p).unwrap();
        assert_eq!(three.class_names, ["round", "lobed", "granular"]);
        assert_eq!(three.class_counts(Part::Train), vec![4; 3]);
    }

    #[test]
    fn a_cancelled_drawing_stops_with_cancelled() {
        let p = LoadProgress::new();
        p.cancel();
        assert!(matches!(generate(&small(2), &p), Err(DataError::Cancelled)));
    }

    #[test]
    fn bad_settings_are_named_not_panics() {
        for (config, word) in [
            (
                MicroConfig {
                    classes: 5,
                    ..MicroConfig::default()
                },
                "classes",
            ),
            (
                MicroConfig {
                    classes: 1,
                    ..MicroConfig::default()
                },
                "classes",
            ),
            (
                MicroConfig {
                    size: 0,
                    ..MicroConfig::default()
                },
                "pixels",
            ),
            (
                MicroConfig {
                    size: 4096,
                    ..MicroConfig::default()
                },
                "pixels",
            ),
            (
                MicroConfig {
                    train_per_class: 0,
                    ..MicroConfig::default()
                },
                "at least one",
            ),
            (
                MicroConfig {
                    test_per_class: 0,
                    ..MicroConfig::default()
                },
                "at least one",
            ),
            (
                MicroConfig {
                    train_per_class: usize::MAX,
                    ..MicroConfig::default()
                },
                "at most",
            ),
        ] {
            let err = generate(&config, &LoadProgress::new()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("micro") && text.contains(word), "{text}");
        }
    }

    #[test]
    fn defaults_fit_in_moderate_memory() {
        let config = MicroConfig::default();
        assert_eq!(config.image_counts(), (90, 30));
        assert_eq!(config.pixel_bytes(), 120 * 1024 * 1024 * 3);
        assert!(config.pixel_bytes() < 400 << 20);
    }

    #[test]
    fn specs_and_config_files_round_trip() {
        for (spec, seed) in [("micro", 0), ("micro:7", 7)] {
            let source: DatasetSource = spec.parse().unwrap();
            assert_eq!(
                source,
                DatasetSource::Micro(MicroConfig {
                    seed,
                    ..MicroConfig::default()
                })
            );
            assert_eq!(source.to_string(), spec);
            assert_eq!(source.short_name(), "micro");
        }
        for bad in ["micro:x", "micro:-1", "micro:1.5"] {
            let err = bad.parse::<DatasetSource>().unwrap_err();
            assert!(err.contains("micro:SEED"), "{bad}: {err}");
        }
        let config = crate::data::DatasetConfig {
            source: DatasetSource::Micro(MicroConfig {
                size: 512,
                classes: 4,
                train_per_class: 12,
                test_per_class: 5,
                seed: 99,
            }),
            ..crate::data::DatasetConfig::default()
        };
        let text = toml::to_string(&config).unwrap();
        assert!(
            text.contains("kind = \"micro\"") && text.contains("size = 512"),
            "{text}"
        );
        assert_eq!(
            toml::from_str::<crate::data::DatasetConfig>(&text).unwrap(),
            config
        );
        // Settings left out take their defaults.
        let partial: crate::data::DatasetConfig =
            toml::from_str("[source]\nkind = \"micro\"\nclasses = 4\nseed = 5\n").unwrap();
        assert_eq!(
            partial.source,
            DatasetSource::Micro(MicroConfig {
                classes: 4,
                seed: 5,
                ..MicroConfig::default()
            })
        );
    }

    /// Features of one CHW RGB image of side `size`: mean and spread of each channel, and four
    /// measures of the nuclei's fine structure in the red channel (where the purple stain shows).
    fn features(image: &[u8], size: usize) -> Vec<f64> {
        let plane = size * size;
        let mut f = Vec::new();
        for c in 0..3 {
            let ch = &image[c * plane..(c + 1) * plane];
            let mean = ch.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64;
            let var = ch
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / plane as f64;
            f.push(mean);
            f.push(var.sqrt());
        }
        // Darkness of the red channel; nuclei are the darkest part of the image.
        let dark: Vec<f64> = image[..plane]
            .iter()
            .map(|&v| 255.0 - f64::from(v))
            .collect();
        let mut sorted = dark.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[plane / 2];
        let top = sorted[plane - 1 - plane / 200];
        let threshold = median + 0.5 * (top - median);
        let mask: Vec<bool> = dark.iter().map(|&d| d > threshold).collect();
        let at = |x: usize, y: usize| dark[y * size + x];
        let (mut lap, mut inside, mut edge, mut area) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for y in 1..size - 1 {
            for x in 1..size - 1 {
                if !mask[y * size + x] {
                    continue;
                }
                area += 1.0;
                inside += at(x, y);
                lap += (4.0 * at(x, y) - at(x - 1, y) - at(x + 1, y) - at(x, y - 1) - at(x, y + 1))
                    .abs();
                let n = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)];
                if n.iter().any(|&(a, b)| !mask[b * size + a]) {
                    edge += 1.0;
                }
            }
        }
        let area = area.max(1.0);
        f.push(lap / inside.max(1.0));
        f.push(edge / area);
        // Sizes of the dark regions: tiny ones are inclusions, mid-sized ones lobes.
        let gray = image::GrayImage::from_fn(size as u32, size as u32, |x, y| {
            image::Luma([if mask[y as usize * size + x as usize] {
                255
            } else {
                0
            }])
        });
        let labels = imageproc::region_labelling::connected_components(
            &gray,
            imageproc::region_labelling::Connectivity::Four,
            image::Luma([0]),
        );
        let mut sizes = std::collections::HashMap::<u32, usize>::new();
        for p in labels.pixels() {
            if p.0[0] > 0 {
                *sizes.entry(p.0[0]).or_default() += 1;
            }
        }
        let regions = sizes.len().max(1) as f64;
        let tiny = sizes.values().filter(|&&n| n <= 16).count() as f64;
        f.push(tiny / regions);
        f.push((area / regions).ln());
        f
    }

    /// Accuracy of a nearest-centroid classifier (features standardised by the pooled
    /// within-class spread of the training images) on the test images.
    fn nearest_centroid(
        train: &[(Vec<f64>, u16)],
        test: &[(Vec<f64>, u16)],
        classes: usize,
    ) -> f64 {
        let dims = train[0].0.len();
        let mut centroids = vec![vec![0.0; dims]; classes];
        let mut counts = vec![0.0; classes];
        for (f, l) in train {
            counts[usize::from(*l)] += 1.0;
            for (sum, v) in centroids[usize::from(*l)].iter_mut().zip(f) {
                *sum += v;
            }
        }
        for (c, n) in centroids.iter_mut().zip(&counts) {
            c.iter_mut().for_each(|v| *v /= n);
        }
        let mut spread = vec![0.0; dims];
        for (f, l) in train {
            for ((s, v), c) in spread.iter_mut().zip(f).zip(&centroids[usize::from(*l)]) {
                *s += (v - c).powi(2);
            }
        }
        let spread: Vec<f64> = spread
            .iter()
            .map(|s| (s / train.len() as f64).sqrt().max(1e-9))
            .collect();
        let right = test
            .iter()
            .filter(|(f, l)| {
                let distance = |c: &Vec<f64>| {
                    (0..dims)
                        .map(|d| ((f[d] - c[d]) / spread[d]).powi(2))
                        .sum::<f64>()
                };
                let best = (0..classes)
                    .min_by(|&a, &b| distance(&centroids[a]).total_cmp(&distance(&centroids[b])))
                    .unwrap();
                best == usize::from(*l)
            })
            .count();
        right as f64 / test.len() as f64
    }

    fn squash(image: &[u8], size: usize, to: u32) -> Vec<u8> {
        let plane = size * size;
        let rgb = image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
            let p = y as usize * size + x as usize;
            image::Rgb([image[p], image[plane + p], image[2 * plane + p]])
        });
        let small = image::imageops::resize(&rgb, to, to, image::imageops::FilterType::Triangle);
        let n = (to * to) as usize;
        let mut out = vec![0; 3 * n];
        for (p, px) in small.pixels().enumerate() {
            for (c, &v) in px.0.iter().enumerate() {
                out[c * n + p] = v;
            }
        }
        out
    }

    #[test]
    fn the_classes_differ_at_full_resolution_only() {
        // 512 px squashed to 32 px is the same reduction (16×) as 1024 px to 64 px.
        let size = 512;
        let config = MicroConfig {
            size,
            classes: 4,
            train_per_class: 16,
            test_per_class: 16,
            seed: 11,
        };
        let data = generate(&config, &LoadProgress::new()).unwrap();
        let rows = |part: Part, squash_to: Option<u32>| -> Vec<(Vec<f64>, u16)> {
            let set = data.part(part);
            (0..set.len())
                .map(|i| {
                    let image = data.image(part, i);
                    let f = match squash_to {
                        None => features(&image, size),
                        Some(to) => features(&squash(&image, size, to), to as usize),
                    };
                    (f, set.labels[i])
                })
                .collect()
        };
        let accuracy = |squash_to| {
            nearest_centroid(
                &rows(Part::Train, squash_to),
                &rows(Part::Test, squash_to),
                4,
            )
        };
        let (full, squashed) = (accuracy(None), accuracy(Some(32)));
        // Chance is 0.25; 64 test images put its spread at about 0.05.
        assert!(full >= 0.8, "full resolution: {full}");
        assert!(squashed <= 0.45, "squashed to 32 px: {squashed}");
    }

    /// The thread's CPU time in milliseconds, where Linux tells it.
    fn thread_cpu_ms() -> Option<f64> {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        Some(text.split_whitespace().next()?.parse::<f64>().ok()? / 1e6)
    }

    /// Prints the time per 1024-pixel image on one thread, wall clock and CPU (run with
    /// `--ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn drawing_speed() {
        let mut out = vec![0; 1024 * 1024 * 3];
        for (design, name) in CLASS_NAMES.iter().enumerate() {
            let (start, cpu) = (std::time::Instant::now(), thread_cpu_ms());
            for seed in 0..4 {
                draw(1024, Design::of(design), seed, &mut out);
            }
            let wall = start.elapsed().as_secs_f64() * 1000.0 / 4.0;
            let cpu = cpu
                .zip(thread_cpu_ms())
                .map_or(f64::NAN, |(a, b)| (b - a) / 4.0);
            eprintln!("{name}: {wall:.1} ms (CPU {cpu:.1} ms) per 1024×1024 image");
        }
    }

    /// Writes one 1024-pixel sample per class to $MICRO_SAMPLES (run with `--ignored`).
    #[test]
    #[ignore = "writes sample images for a look"]
    fn write_samples() {
        let Some(dir) = std::env::var_os("MICRO_SAMPLES") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let size = 1024;
        let plane = size * size;
        let mut out = vec![0; plane * 3];
        for (design, name) in CLASS_NAMES.iter().enumerate() {
            draw(size, Design::of(design), 1000 + design as u64, &mut out);
            let rgb = image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
                let p = y as usize * size + x as usize;
                image::Rgb([out[p], out[plane + p], out[2 * plane + p]])
            });
            rgb.save(dir.join(format!("micro-{name}.png"))).unwrap();
            let crop = image::imageops::crop_imm(&rgb, 384, 384, 256, 256).to_image();
            crop.save(dir.join(format!("micro-{name}-crop.png")))
                .unwrap();
            let small =
                image::imageops::resize(&rgb, 64, 64, image::imageops::FilterType::Triangle);
            small
                .save(dir.join(format!("micro-{name}-64.png")))
                .unwrap();
        }
    }
}
