//! The synthetic "shapes" dataset: colour images of simple shapes, one class per shape.
//!
//! Each image shows one shape at a random position, scale, rotation and colour on a random
//! background colour, optionally over clutter strokes and with pixel noise. One `difficulty`
//! knob widens the ranges: at 0 the shapes are large, centred, upright and high-contrast; at 1
//! they are anywhere, small or large, at any angle and in low contrast. It needs no files, is
//! fully determined by its seed, and is small enough to train on in seconds.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::convert::alloc_pixels;
use super::progress::LoadProgress;
use super::{DataError, Dataset, DatasetSource, ImageSet, SourceFormat, noise};

/// The shapes, in label order; a dataset of `n` classes uses the first `n`.
pub const SHAPE_NAMES: [&str; 8] = [
    "circle", "square", "triangle", "plus", "star", "ring", "crescent", "ell",
];

/// Sub-samples per pixel side for anti-aliased edges.
const SUPERSAMPLE: usize = 3;

/// Size, difficulty and seed of a shapes dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShapesConfig {
    /// Number of shape classes, 2 to 8 (see [`SHAPE_NAMES`]).
    pub classes: usize,
    /// Training images (classes in turn, so balanced).
    pub train_samples: usize,
    /// Test images, drawn the same way.
    pub test_samples: usize,
    /// Side of the square images in pixels.
    pub size: usize,
    /// 0 (large, centred, upright, high contrast) to 1 (any position, scale, angle; low contrast).
    pub difficulty: f32,
    /// Random strokes drawn behind the shape, per image.
    pub clutter: usize,
    /// Standard deviation of the pixel noise, as a fraction of the full 0–255 range.
    pub noise: f32,
    /// Seed of the drawing (the run's seed drives the split, initialisation and shuffling).
    pub seed: u64,
}

impl Default for ShapesConfig {
    fn default() -> Self {
        Self {
            classes: 4,
            train_samples: 2000,
            test_samples: 500,
            size: 32,
            difficulty: 0.3,
            clutter: 0,
            noise: 0.0,
            seed: 0,
        }
    }
}

impl ShapesConfig {
    /// Checks every setting, naming the one at fault.
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |what: String| Err(DataError::Invalid(format!("shapes dataset: {what}")));
        if !(2..=SHAPE_NAMES.len()).contains(&self.classes) {
            return bad(format!(
                "needs 2 to {} classes, found {}",
                SHAPE_NAMES.len(),
                self.classes
            ));
        }
        if self.train_samples == 0 || self.test_samples == 0 {
            return bad("needs at least one training and one test image".to_owned());
        }
        if self.train_samples.saturating_add(self.test_samples) > 1_000_000 {
            return bad("at most 1,000,000 images".to_owned());
        }
        if !(8..=256).contains(&self.size) {
            return bad(format!(
                "images must be 8 to 256 pixels wide, found {}",
                self.size
            ));
        }
        if !(0.0..=1.0).contains(&self.difficulty) {
            return bad(format!(
                "difficulty must be between 0 and 1, found {}",
                self.difficulty
            ));
        }
        if !(0.0..=1.0).contains(&self.noise) {
            return bad(format!(
                "noise must be between 0 and 1, found {}",
                self.noise
            ));
        }
        if self.clutter > 50 {
            return bad(format!(
                "at most 50 clutter strokes, found {}",
                self.clutter
            ));
        }
        Ok(())
    }
}

/// Draws the dataset.
pub(crate) fn generate(
    config: &ShapesConfig,
    progress: &LoadProgress,
) -> Result<Dataset, DataError> {
    config.validate()?;
    progress.begin(
        "Drawing shapes",
        (config.train_samples + config.test_samples) as u64,
    );
    let train = draw_set(config, config.train_samples, 0, progress)?;
    let test = draw_set(config, config.test_samples, 1, progress)?;
    let n = config.train_samples + config.test_samples;
    Ok(Dataset {
        source: DatasetSource::Shapes(config.clone()),
        width: config.size,
        height: config.size,
        channels: 3,
        class_names: SHAPE_NAMES[..config.classes]
            .iter()
            .map(|&s| s.to_owned())
            .collect(),
        train,
        test: Some(test),
        fixed_norm: None,
        skipped: Vec::new(),
        source_format: SourceFormat::uniform(config.size, config.size, false, n),
        disk: None,
    })
}

fn draw_set(
    config: &ShapesConfig,
    n: usize,
    part: u64,
    progress: &LoadProgress,
) -> Result<ImageSet, DataError> {
    let len = config.size * config.size * 3;
    let mut pixels = alloc_pixels(n, len, "the shapes")?;
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
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add((part << 40) ^ i as u64);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            draw(config, usize::from(label), &mut rng, out);
            progress.add(1);
        });
    progress.check()?;
    Ok(ImageSet { pixels, labels })
}

/// An RGB colour in 0..=255.
type Rgb = [f32; 3];

fn luma(c: Rgb) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn random_colour(rng: &mut Xoshiro256PlusPlus) -> Rgb {
    [
        rng.random_range(0.0..255.0),
        rng.random_range(0.0..255.0),
        rng.random_range(0.0..255.0),
    ]
}

/// Draws one image of shape `class` into `out` (CHW, 3 channels).
fn draw(config: &ShapesConfig, class: usize, rng: &mut Xoshiro256PlusPlus, out: &mut [u8]) {
    let size = config.size;
    let s = size as f32;
    let d = config.difficulty;
    let background = random_colour(rng);
    let min_contrast = 120.0 * (1.0 - d) + 30.0 * d;
    let mut foreground = random_colour(rng);
    for _ in 0..32 {
        if (luma(foreground) - luma(background)).abs() >= min_contrast {
            break;
        }
        foreground = random_colour(rng);
    }
    if (luma(foreground) - luma(background)).abs() < min_contrast {
        foreground = background.map(|c| 255.0 - c);
    }
    let mut image: Vec<Rgb> = vec![background; size * size];

    for _ in 0..config.clutter {
        let colour = random_colour(rng);
        let (x0, y0) = (rng.random_range(0.0..s), rng.random_range(0.0..s));
        let (x1, y1) = (rng.random_range(0.0..s), rng.random_range(0.0..s));
        let half_width = rng.random_range(0.4..1.0f32) * (s / 32.0).max(1.0);
        paint(&mut image, size, colour, (0.0, 0.0, s, s), |x, y| {
            segment_distance(x, y, (x0, y0), (x1, y1)) <= half_width
        });
    }

    let max_r = 0.42 * s;
    let min_r = (0.38 - 0.26 * d) * s;
    let r = rng.random_range(min_r..=max_r);
    let jitter = d * (s / 2.0 - r).max(0.0);
    let cx = s / 2.0 + rng.random_range(-1.0..=1.0f32) * jitter;
    let cy = s / 2.0 + rng.random_range(-1.0..=1.0f32) * jitter;
    let angle = rng.random_range(-1.0..=1.0f32) * std::f32::consts::PI * d;
    let (sin, cos) = angle.sin_cos();
    let reach = r * 1.5;
    let bbox = (cx - reach, cy - reach, cx + reach, cy + reach);
    let shape = Shape::of(class);
    paint(&mut image, size, foreground, bbox, |x, y| {
        let (dx, dy) = ((x - cx) / r, (y - cy) / r);
        shape.contains(cos * dx + sin * dy, -sin * dx + cos * dy)
    });

    let sigma = config.noise * 255.0;
    let plane = size * size;
    for (p, colour) in image.iter().enumerate() {
        for (c, &value) in colour.iter().enumerate() {
            let noisy = if sigma > 0.0 {
                value + sigma * noise::standard_normal(rng)
            } else {
                value
            };
            if let Some(slot) = out.get_mut(c * plane + p) {
                *slot = noisy.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Blends `colour` over the pixels of `bbox` (x0, y0, x1, y1) by the share of sub-samples that
/// `inside` accepts (anti-aliased edges).
fn paint(
    image: &mut [Rgb],
    size: usize,
    colour: Rgb,
    (x0, y0, x1, y1): (f32, f32, f32, f32),
    inside: impl Fn(f32, f32) -> bool,
) {
    let clamp = |v: f32| (v.max(0.0) as usize).min(size);
    let step = 1.0 / SUPERSAMPLE as f32;
    for py in clamp(y0.floor())..clamp(y1.ceil()) {
        for px in clamp(x0.floor())..clamp(x1.ceil()) {
            let mut hits = 0;
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    let x = px as f32 + (sx as f32 + 0.5) * step;
                    let y = py as f32 + (sy as f32 + 0.5) * step;
                    hits += usize::from(inside(x, y));
                }
            }
            if hits > 0 {
                let a = hits as f32 / (SUPERSAMPLE * SUPERSAMPLE) as f32;
                let pixel = &mut image[py * size + px];
                for c in 0..3 {
                    pixel[c] = pixel[c] * (1.0 - a) + colour[c] * a;
                }
            }
        }
    }
}

fn segment_distance(x: f32, y: f32, (x0, y0): (f32, f32), (x1, y1): (f32, f32)) -> f32 {
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

/// A shape in local coordinates: centred on the origin, reaching about 1 unit out.
enum Shape {
    Circle,
    Square,
    Polygon(Vec<(f32, f32)>),
    Plus,
    Ring,
    Crescent,
    Ell,
}

impl Shape {
    fn of(class: usize) -> Self {
        match class {
            0 => Self::Circle,
            1 => Self::Square,
            2 => Self::Polygon(regular(3)),
            3 => Self::Plus,
            4 => Self::Polygon(star(5, 0.45)),
            5 => Self::Ring,
            6 => Self::Crescent,
            _ => Self::Ell,
        }
    }

    fn contains(&self, u: f32, v: f32) -> bool {
        match self {
            Self::Circle => u * u + v * v <= 1.0,
            Self::Square => u.abs() <= 0.8 && v.abs() <= 0.8,
            Self::Polygon(points) => polygon_contains(points, u, v),
            Self::Plus => {
                (u.abs() <= 0.3 && v.abs() <= 0.95) || (v.abs() <= 0.3 && u.abs() <= 0.95)
            }
            Self::Ring => (0.3..=1.0).contains(&(u * u + v * v)),
            Self::Crescent => u * u + v * v <= 1.0 && (u - 0.45) * (u - 0.45) + v * v > 0.75 * 0.75,
            Self::Ell => {
                ((-0.7..=-0.2).contains(&u) && (-0.8..=0.8).contains(&v))
                    || ((-0.7..=0.7).contains(&u) && (0.3..=0.8).contains(&v))
            }
        }
    }
}

/// The vertices of a star with `points` tips at radius 1 and notches at radius `inner`, the
/// first tip pointing up.
fn star(points: usize, inner: f32) -> Vec<(f32, f32)> {
    let step = std::f32::consts::PI / points as f32;
    (0..2 * points)
        .map(|k| {
            let radius = if k % 2 == 0 { 1.0 } else { inner };
            let a = -std::f32::consts::FRAC_PI_2 + k as f32 * step;
            (radius * a.cos(), radius * a.sin())
        })
        .collect()
}

/// The vertices of a regular polygon with circumradius 1, the first vertex pointing up.
fn regular(corners: usize) -> Vec<(f32, f32)> {
    star(corners, 1.0).into_iter().step_by(2).collect()
}

/// Even-odd point-in-polygon test.
fn polygon_contains(points: &[(f32, f32)], u: f32, v: f32) -> bool {
    let mut inside = false;
    let mut j = points.len().saturating_sub(1);
    for (i, &(xi, yi)) in points.iter().enumerate() {
        let (xj, yj) = points[j];
        if (yi > v) != (yj > v) && u < (xj - xi) * (v - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_seeded_and_shaped_as_asked() {
        let config = ShapesConfig {
            train_samples: 40,
            test_samples: 8,
            size: 24,
            ..ShapesConfig::default()
        };
        let p = LoadProgress::new();
        let a = generate(&config, &p).unwrap();
        assert_eq!((a.width, a.height, a.channels), (24, 24, 3));
        assert_eq!(a.train.pixels.len(), 40 * 24 * 24 * 3);
        for class in 0..4u16 {
            assert_eq!(a.train.labels.iter().filter(|&&l| l == class).count(), 10);
        }
        assert_eq!(a.class_names, ["circle", "square", "triangle", "plus"]);
        let b = generate(&config, &p).unwrap();
        assert_eq!(a.train.pixels, b.train.pixels);
        let c = generate(
            &ShapesConfig {
                seed: 9,
                ..config.clone()
            },
            &p,
        )
        .unwrap();
        assert_ne!(a.train.pixels, c.train.pixels);
        assert_ne!(a.train.pixels, a.test.as_ref().unwrap().pixels[..]);
    }

    #[test]
    fn an_easy_shape_covers_a_plausible_area() {
        // At difficulty 0 the circle's radius is ~0.4 of the side: about half the image differs
        // from the background colour in the corner.
        let config = ShapesConfig {
            train_samples: 1,
            test_samples: 1,
            size: 40,
            difficulty: 0.0,
            ..ShapesConfig::default()
        };
        let data = generate(&config, &LoadProgress::new()).unwrap();
        let plane = 40 * 40;
        let image = data.image(crate::data::Part::Train, 0);
        let corner = [image[0], image[plane], image[2 * plane]];
        let differs = (0..plane)
            .filter(|&p| (0..3).any(|c| image[c * plane + p] != corner[c]))
            .count();
        let share = differs as f32 / plane as f32;
        assert!((0.35..0.65).contains(&share), "share {share}");
    }

    #[test]
    fn shapes_are_distinct_and_polygons_behave() {
        let triangle = regular(3);
        assert_eq!(triangle.len(), 3);
        assert!(polygon_contains(&triangle, 0.0, 0.0));
        assert!(!polygon_contains(&triangle, 0.0, 0.9));
        let five = star(5, 0.45);
        assert!(polygon_contains(&five, 0.0, -0.9));
        assert!(!polygon_contains(&five, 0.41, -0.57), "between two tips");
        // Sample each shape on a grid: no two classes give the same mask.
        let masks: Vec<Vec<bool>> = (0..SHAPE_NAMES.len())
            .map(|class| {
                let shape = Shape::of(class);
                (0..400)
                    .map(|k| {
                        let (u, v) = ((k % 20) as f32 / 10.0 - 0.95, (k / 20) as f32 / 10.0 - 0.95);
                        shape.contains(u, v)
                    })
                    .collect()
            })
            .collect();
        for a in 0..masks.len() {
            for b in a + 1..masks.len() {
                assert_ne!(
                    masks[a], masks[b],
                    "{} vs {}",
                    SHAPE_NAMES[a], SHAPE_NAMES[b]
                );
            }
        }
    }

    #[test]
    fn bad_settings_are_named() {
        for (config, word) in [
            (
                ShapesConfig {
                    classes: 9,
                    ..ShapesConfig::default()
                },
                "classes",
            ),
            (
                ShapesConfig {
                    size: 4,
                    ..ShapesConfig::default()
                },
                "pixels",
            ),
            (
                ShapesConfig {
                    difficulty: f32::NAN,
                    ..ShapesConfig::default()
                },
                "difficulty",
            ),
            (
                ShapesConfig {
                    noise: 2.0,
                    ..ShapesConfig::default()
                },
                "noise",
            ),
        ] {
            let err = generate(&config, &LoadProgress::new()).unwrap_err();
            assert!(err.to_string().contains(word), "{err}");
        }
    }
}
