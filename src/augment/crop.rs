//! How the network's input is taken from each stored image: the whole image resized, a random
//! crop (training), a centre crop or a grid of tiles (evaluation).
//!
//! Without cropping the stored images are the network's input (squashed to one size when the
//! data is loaded). With cropping the images are stored at their own resolution and every
//! training step takes an input-sized window from them, so details that a squashed image loses
//! reach the network; evaluation takes the centre window, or covers the whole image with tiles
//! whose logits are averaged, so validation sees everything.
//!
//! The window's side in stored pixels is `input_size / scale`: with `scale` 0.5 a 224 px input
//! covers 448 stored pixels (the image shrunk by half, then cropped). Training and evaluation use
//! the same scale, so both see objects at one size. A window larger than the image is clamped to
//! it and the image is upscaled to the input size (never padded, never an error).

use image::GrayImage;
use image::imageops::{self, FilterType};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::ops::Rect;
use super::pipeline::{SampleKey, crop_params, mix};
use super::{AugmentError, ImageShape};

/// Separates the crop's random stream from the operations' ones.
const CROP_STREAM: u64 = 0xC209_0000;

/// Most tiles per image at evaluation (a 32×32 grid: a 3000 px image in 96 px tiles).
pub const MAX_TILES: usize = 1024;

/// How a training image becomes the network's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TrainCrop {
    /// The whole image, resized to the input size.
    #[default]
    None,
    /// An input-sized window at a random position of the image scaled by `scale`.
    Random,
    /// A window of random area and aspect ratio, resized to the input size (torchvision's
    /// `RandomResizedCrop(input_size)`).
    Resized,
}

impl TrainCrop {
    /// Every choice, in menu order.
    pub const ALL: [Self; 3] = [Self::None, Self::Random, Self::Resized];

    /// Name for menus.
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "whole image",
            Self::Random => "random crop",
            Self::Resized => "random resized crop",
        }
    }
}

/// How a validation image becomes the network's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EvalCrop {
    /// The whole image, resized to the input size.
    #[default]
    Resize,
    /// The window at the centre.
    Center,
    /// Windows covering the whole image (overlapping where the sizes do not divide); the
    /// image's logits are the mean of its tiles' logits.
    Tiles,
}

impl EvalCrop {
    /// Every choice, in menu order.
    pub const ALL: [Self; 3] = [Self::Resize, Self::Center, Self::Tiles];

    /// Name for menus.
    pub fn label(self) -> &'static str {
        match self {
            Self::Resize => "whole image",
            Self::Center => "centre crop",
            Self::Tiles => "tiles (mean of logits)",
        }
    }
}

/// Crop and tile settings. Saved with the run (`[crop]` in `config.toml`); the default is no
/// cropping, as in configurations saved before it existed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CropConfig {
    /// The network's input side in pixels when cropping; `None` (or no cropping) makes the
    /// stored image the input.
    pub input_size: Option<u32>,
    /// Training crop.
    pub train: TrainCrop,
    /// Scale of the image before a window is cut (1: native pixels; 0.5: halved).
    pub scale: f32,
    /// Resized crop: area of the window as a fraction of the image, drawn from [min, max].
    pub area: [f32; 2],
    /// Resized crop: aspect ratio (width / height), drawn log-uniformly from [min, max].
    pub ratio: [f32; 2],
    /// Evaluation crop.
    pub eval: EvalCrop,
}

impl Default for CropConfig {
    fn default() -> Self {
        Self {
            input_size: None,
            train: TrainCrop::None,
            scale: 1.0,
            area: [0.25, 1.0],
            ratio: [0.75, 4.0 / 3.0],
            eval: EvalCrop::Resize,
        }
    }
}

impl CropConfig {
    /// Whether the stored images differ from the network's input: the data is then kept at its
    /// own resolution and every input is cut from it.
    pub fn is_active(&self) -> bool {
        self.input_size.is_some()
            && (self.train != TrainCrop::None || self.eval != EvalCrop::Resize)
    }

    /// Whether the training input of an image changes from epoch to epoch.
    pub fn is_random(&self) -> bool {
        self.is_active() && self.train != TrainCrop::None
    }

    /// The network's input for images stored at `stored`.
    pub fn input_shape(&self, stored: ImageShape) -> ImageShape {
        match self.input_size {
            Some(side) if self.is_active() => ImageShape {
                channels: stored.channels,
                height: side as usize,
                width: side as usize,
            },
            _ => stored,
        }
    }

    /// Checks the ranges, naming the first one out of range.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let bad = |m: String| Err(AugmentError::Invalid(m));
        if let Some(side) = self.input_size
            && !(4..=1024).contains(&side)
        {
            return bad(format!(
                "the crop input size must be 4 to 1024 pixels, found {side}"
            ));
        }
        if !(self.scale.is_finite() && (0.01..=16.0).contains(&self.scale)) {
            return bad(format!(
                "the crop scale must be between 0.01 and 16, found {}",
                self.scale
            ));
        }
        let [lo, hi] = self.area;
        if !(lo.is_finite() && hi.is_finite() && 0.01 <= lo && lo <= hi && hi <= 1.0) {
            return bad(format!(
                "the resized crop area must be a range with 0.01 ≤ min ≤ max ≤ 1, found [{lo}, {hi}]"
            ));
        }
        let [lo, hi] = self.ratio;
        if !(lo.is_finite() && hi.is_finite() && 0.05 <= lo && lo <= hi && hi <= 20.0) {
            return bad(format!(
                "the resized crop ratio must be a range with 0.05 ≤ min ≤ max ≤ 20, found [{lo}, {hi}]"
            ));
        }
        Ok(())
    }

    /// The stored pixels one input covers at `scale`, clamped to the image.
    fn window(&self, stored: ImageShape, input: ImageShape) -> (usize, usize) {
        let side = |input: usize, stored: usize| {
            ((input as f32 / self.scale).round() as usize).clamp(1, stored.max(1))
        };
        (
            side(input.width, stored.width),
            side(input.height, stored.height),
        )
    }

    /// The part of the stored image a training input is cut from this time.
    pub fn train_rect(&self, stored: ImageShape, key: SampleKey) -> Rect {
        let input = self.input_shape(stored);
        if !self.is_random() {
            return Rect::full(stored);
        }
        let mut rng =
            Xoshiro256PlusPlus::seed_from_u64(mix(&[key.seed, key.epoch, key.sample, CROP_STREAM]));
        match self.train {
            TrainCrop::None => Rect::full(stored),
            TrainCrop::Random => {
                let (w, h) = self.window(stored, input);
                Rect {
                    left: rng.random_range(0..=stored.width - w),
                    top: rng.random_range(0..=stored.height - h),
                    width: w,
                    height: h,
                }
            }
            TrainCrop::Resized => crop_params(&mut rng, stored, self.area, self.ratio),
        }
    }

    /// The parts of the stored image evaluation feeds the network (one, or the tiles).
    pub fn eval_rects(&self, stored: ImageShape) -> Vec<Rect> {
        if !self.is_active() {
            return vec![Rect::full(stored)];
        }
        let input = self.input_shape(stored);
        match self.eval {
            EvalCrop::Resize => vec![Rect::full(stored)],
            EvalCrop::Center => {
                let (w, h) = self.window(stored, input);
                vec![Rect {
                    left: (stored.width - w) / 2,
                    top: (stored.height - h) / 2,
                    width: w,
                    height: h,
                }]
            }
            EvalCrop::Tiles => {
                let (w, h) = self.window(stored, input);
                let xs = tile_starts(stored.width, w);
                let ys = tile_starts(stored.height, h);
                ys.iter()
                    .flat_map(|&top| {
                        xs.iter().map(move |&left| Rect {
                            left,
                            top,
                            width: w,
                            height: h,
                        })
                    })
                    .collect()
            }
        }
    }

    /// Inputs per image at evaluation.
    pub fn views(&self, stored: ImageShape) -> usize {
        self.eval_rects(stored).len()
    }

    /// One training input: the stored image cut and resized as [`Self::train_rect`] says.
    pub fn train_view(&self, stored: ImageShape, image: &[u8], key: SampleKey) -> Vec<u8> {
        let input = self.input_shape(stored);
        cut(image, stored, self.train_rect(stored, key), input)
    }

    /// Appends each evaluation input of an image to `out` (CHW, input-sized).
    pub fn eval_views(&self, stored: ImageShape, image: &[u8], out: &mut Vec<Vec<u8>>) {
        let input = self.input_shape(stored);
        for rect in self.eval_rects(stored) {
            out.push(cut(image, stored, rect, input));
        }
    }
}

/// Evenly spaced starts of `window`-wide tiles covering `0..len`, the first at 0 and the last
/// ending at `len` (neighbours overlap where `window` does not divide `len`).
fn tile_starts(len: usize, window: usize) -> Vec<usize> {
    if window >= len {
        return vec![0];
    }
    // At most 32 per side (MAX_TILES): beyond that the tiles are spread evenly with gaps.
    let count = len.div_ceil(window).min(MAX_TILES.isqrt());
    let span = len - window;
    (0..count)
        .map(|i| {
            if count == 1 {
                span / 2
            } else {
                (i * span + (count - 1) / 2) / (count - 1)
            }
        })
        .collect()
}

/// Cuts `rect` out of a CHW image and resizes it to `to` (bilinear, widened when shrinking so
/// every source pixel counts). A copy when the sizes already agree.
pub fn cut(image: &[u8], shape: ImageShape, rect: Rect, to: ImageShape) -> Vec<u8> {
    let plane = shape.plane();
    let mut out = Vec::with_capacity(to.len());
    if image.len() != shape.len() || rect.area() == 0 {
        out.resize(to.len(), 0);
        return out;
    }
    for channel in image.chunks_exact(plane.max(1)).take(to.channels) {
        let mut region = Vec::with_capacity(rect.area());
        for row in rect.top..rect.top + rect.height {
            let start = row * shape.width + rect.left;
            region.extend_from_slice(&channel[start..start + rect.width]);
        }
        if (rect.width, rect.height) == (to.width, to.height) {
            out.extend_from_slice(&region);
            continue;
        }
        match GrayImage::from_raw(rect.width as u32, rect.height as u32, region) {
            Some(gray) => {
                let resized = imageops::resize(
                    &gray,
                    to.width as u32,
                    to.height as u32,
                    FilterType::Triangle,
                );
                out.extend_from_slice(resized.as_raw());
            }
            None => out.resize(out.len() + to.plane(), 0),
        }
    }
    out.resize(to.len(), 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORED: ImageShape = ImageShape {
        channels: 1,
        height: 100,
        width: 100,
    };

    fn crop(train: TrainCrop, eval: EvalCrop, size: u32) -> CropConfig {
        CropConfig {
            input_size: Some(size),
            train,
            eval,
            ..CropConfig::default()
        }
    }

    fn ramp(shape: ImageShape) -> Vec<u8> {
        (0..shape.len()).map(|i| (i % 251) as u8).collect()
    }

    fn key(sample: u64, epoch: u64) -> SampleKey {
        SampleKey {
            seed: 3,
            epoch,
            sample,
        }
    }

    #[test]
    fn without_cropping_the_stored_image_is_the_input() {
        let c = CropConfig::default();
        assert!(!c.is_active());
        assert_eq!(c.input_shape(STORED), STORED);
        let image = ramp(STORED);
        assert_eq!(c.train_view(STORED, &image, key(1, 1)), image);
        assert_eq!(c.views(STORED), 1);
        // An input size alone (whole image both ways) is no cropping either.
        let c = crop(TrainCrop::None, EvalCrop::Resize, 32);
        assert!(!c.is_active());
    }

    #[test]
    fn a_random_crop_is_a_native_window_that_moves_with_the_epoch() {
        let c = crop(TrainCrop::Random, EvalCrop::Center, 32);
        let image = ramp(STORED);
        let a = c.train_rect(STORED, key(5, 1));
        assert_eq!((a.width, a.height), (32, 32));
        assert!(a.left + 32 <= 100 && a.top + 32 <= 100);
        let view = c.train_view(STORED, &image, key(5, 1));
        assert_eq!(view.len(), 32 * 32);
        // At scale 1 the window is copied pixel for pixel.
        assert_eq!(view[0], image[a.top * 100 + a.left]);
        assert_eq!(view[33], image[(a.top + 1) * 100 + a.left + 1]);
        assert_eq!(c.train_rect(STORED, key(5, 1)), a, "same key, same crop");
        let moved = (2..10).any(|e| c.train_rect(STORED, key(5, e)) != a);
        assert!(moved, "the crop never moved over 8 epochs");
    }

    #[test]
    fn scale_widens_the_window_and_small_images_are_upscaled() {
        let c = CropConfig {
            scale: 0.5,
            ..crop(TrainCrop::Random, EvalCrop::Center, 32)
        };
        let r = c.train_rect(STORED, key(0, 1));
        assert_eq!((r.width, r.height), (64, 64));
        let big = crop(TrainCrop::Random, EvalCrop::Center, 200);
        let r = big.train_rect(STORED, key(0, 1));
        assert_eq!(r, Rect::full(STORED));
        let view = big.train_view(STORED, &ramp(STORED), key(0, 1));
        assert_eq!(view.len(), 200 * 200);
    }

    #[test]
    fn centre_crop_and_tiles_cover_what_they_claim() {
        let c = crop(TrainCrop::Random, EvalCrop::Center, 40);
        assert_eq!(
            c.eval_rects(STORED),
            vec![Rect {
                left: 30,
                top: 30,
                width: 40,
                height: 40
            }]
        );
        let t = crop(TrainCrop::Random, EvalCrop::Tiles, 40);
        let tiles = t.eval_rects(STORED);
        assert_eq!(tiles.len(), 9, "100 px in 40 px tiles: 3 × 3");
        let mut covered = vec![false; 100 * 100];
        for r in &tiles {
            assert_eq!((r.width, r.height), (40, 40));
            for y in r.top..r.top + r.height {
                for x in r.left..r.left + r.width {
                    covered[y * 100 + x] = true;
                }
            }
        }
        assert!(covered.iter().all(|&c| c), "some pixel is in no tile");
        assert_eq!(tile_starts(100, 40), vec![0, 30, 60]);
        assert_eq!(tile_starts(96, 32), vec![0, 32, 64]);
        assert_eq!(tile_starts(20, 32), vec![0]);
        let mut views = Vec::new();
        t.eval_views(STORED, &ramp(STORED), &mut views);
        assert_eq!(views.len(), 9);
        assert!(views.iter().all(|v| v.len() == 1600));
    }

    #[test]
    fn resized_crops_stay_inside_and_vary() {
        let c = crop(TrainCrop::Resized, EvalCrop::Resize, 24);
        let rects: Vec<Rect> = (0..20).map(|s| c.train_rect(STORED, key(s, 1))).collect();
        for r in &rects {
            assert!(r.left + r.width <= 100 && r.top + r.height <= 100);
            assert!(r.area() >= 2000, "{r:?} is below a fifth of the image");
        }
        assert!(rects.windows(2).any(|w| w[0] != w[1]));
        let view = c.train_view(STORED, &ramp(STORED), key(1, 1));
        assert_eq!(view.len(), 24 * 24);
    }

    #[test]
    fn cut_keeps_colour_planes_apart() {
        let shape = ImageShape {
            channels: 3,
            height: 8,
            width: 8,
        };
        let mut image = vec![10u8; 64];
        image.extend(vec![128u8; 64]);
        image.extend(vec![250u8; 64]);
        let to = ImageShape {
            channels: 3,
            height: 4,
            width: 4,
        };
        let out = cut(&image, shape, Rect::full(shape), to);
        assert_eq!(out.len(), 48);
        assert!(out[..16].iter().all(|&p| p == 10));
        assert!(out[16..32].iter().all(|&p| p == 128));
        assert!(out[32..].iter().all(|&p| p == 250));
    }

    #[test]
    fn bad_settings_are_named() {
        let mut c = crop(TrainCrop::Random, EvalCrop::Tiles, 2);
        assert!(c.validate().unwrap_err().to_string().contains("input size"));
        c.input_size = Some(32);
        c.scale = 0.0;
        assert!(c.validate().unwrap_err().to_string().contains("scale"));
        c.scale = 1.0;
        c.area = [0.9, 0.1];
        assert!(c.validate().unwrap_err().to_string().contains("area"));
        c.area = [0.1, 0.9];
        assert!(c.validate().is_ok());
        let text = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<CropConfig>(&text).unwrap(), c);
        assert_eq!(
            toml::from_str::<CropConfig>("").unwrap(),
            CropConfig::default()
        );
    }
}
