//! The per-image pipeline: the operations of an [`AugmentConfig`] in their fixed order, with
//! randomness derived from (run seed, epoch, sample, operation).
//!
//! Each operation draws from its own random stream, and draws the same numbers whether or not its
//! parameters are zero. So changing one operation's settings never changes what another
//! operation does to the same sample, and moving a slider moves its effect smoothly: the preview
//! stays the same picture, only more or less rotated.

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::ops::{self, AffineParams, EraseFill, JitterParams, Rect};
use super::{AugmentConfig, ImageShape, Op};

/// Identifies one augmentation draw: the same key always gives the same image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SampleKey {
    /// The run's seed.
    pub seed: u64,
    /// The epoch (1-based in training; the preview's columns use epochs 1, 2, …).
    pub epoch: u64,
    /// The sample's index in the dataset.
    pub sample: u64,
}

impl SampleKey {
    /// The random stream of one operation for this draw.
    pub fn rng(self, op: Op) -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(mix(&[self.seed, self.epoch, self.sample, op.stream()]))
    }
}

/// Mixes words into one well-spread 64-bit seed (SplitMix64's finaliser after each word), so
/// neighbouring epochs or samples get unrelated streams.
pub fn mix(words: &[u64]) -> u64 {
    words.iter().fold(0x243F_6A88_85A3_08D3_u64, |h, &w| {
        let mut z = (h ^ w).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// An operation that was applied to an image, with the parameters drawn for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Cropped to this rectangle and resized back.
    ResizedCrop(Rect),
    /// Shifted by whole pixels.
    PadCrop {
        /// Shift to the right.
        dx: i32,
        /// Shift down.
        dy: i32,
    },
    /// Mirrored left to right.
    HFlip,
    /// Mirrored top to bottom.
    VFlip,
    /// Rotated, shifted, scaled and sheared.
    Affine(AffineParams),
    /// Colours jittered.
    ColorJitter(JitterParams),
    /// Turned grey.
    Grayscale,
    /// Blurred.
    Blur {
        /// Standard deviation in pixels.
        sigma: f32,
    },
    /// Noise added.
    Noise {
        /// Standard deviation as a fraction of the pixel range.
        sigma: f32,
    },
    /// A rectangle erased.
    Erasing(Rect),
}

impl Applied {
    /// The operation this is a draw of.
    pub fn op(&self) -> Op {
        match self {
            Applied::ResizedCrop(_) => Op::ResizedCrop,
            Applied::PadCrop { .. } => Op::PadCrop,
            Applied::HFlip => Op::HFlip,
            Applied::VFlip => Op::VFlip,
            Applied::Affine(_) => Op::Affine,
            Applied::ColorJitter(_) => Op::ColorJitter,
            Applied::Grayscale => Op::Grayscale,
            Applied::Blur { .. } => Op::Blur,
            Applied::Noise { .. } => Op::Noise,
            Applied::Erasing(_) => Op::Erasing,
        }
    }
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Applied::ResizedCrop(r) => write!(
                f,
                "crop {}×{} at ({}, {}), resized back",
                r.width, r.height, r.left, r.top
            ),
            Applied::PadCrop { dx, dy } => write!(f, "shift ({dx}, {dy}) px"),
            Applied::HFlip => f.write_str("horizontal flip"),
            Applied::VFlip => f.write_str("vertical flip"),
            Applied::Affine(a) => write!(
                f,
                "rotate {:.1}°, shift ({}, {}) px, scale {:.2}, shear ({:.1}°, {:.1}°)",
                a.angle_deg,
                a.translate_px[0],
                a.translate_px[1],
                a.scale,
                a.shear_deg[0],
                a.shear_deg[1]
            ),
            Applied::ColorJitter(j) => {
                let mut parts = Vec::new();
                for k in j.order {
                    match k {
                        0 => j
                            .brightness
                            .map(|v| parts.push(format!("brightness ×{v:.2}"))),
                        1 => j.contrast.map(|v| parts.push(format!("contrast ×{v:.2}"))),
                        2 => j
                            .saturation
                            .map(|v| parts.push(format!("saturation ×{v:.2}"))),
                        _ => j.hue.map(|v| parts.push(format!("hue {v:+.3}"))),
                    };
                }
                if parts.is_empty() {
                    f.write_str("colour jitter (no change)")
                } else {
                    f.write_str(&parts.join(", "))
                }
            }
            Applied::Grayscale => f.write_str("grayscale"),
            Applied::Blur { sigma } => write!(f, "blur σ {sigma:.2} px"),
            Applied::Noise { sigma } => write!(f, "noise σ {sigma:.3}"),
            Applied::Erasing(r) => write!(
                f,
                "erase {}×{} at ({}, {})",
                r.width, r.height, r.left, r.top
            ),
        }
    }
}

/// An augmented image and what was done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Augmented {
    /// The image, CHW like its input.
    pub pixels: Vec<u8>,
    /// The operations applied, in order, with their drawn parameters.
    pub applied: Vec<Applied>,
}

/// A uniform draw in [lo, hi] that is exactly `lo` when the range is empty.
fn uniform(rng: &mut Xoshiro256PlusPlus, lo: f32, hi: f32) -> f32 {
    let u: f32 = rng.random();
    lo + (hi - lo) * u
}

/// Whether an operation with probability `p` fires: never for 0, always for 1.
fn fires(rng: &mut Xoshiro256PlusPlus, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// Augments one image (CHW `u8`, `shape`) with the per-image operations of `config`, drawing
/// from `key`. Batch-level operations (mixup, cutmix) are applied by
/// [`super::batch::prepare_batch`].
pub fn augment_image(
    config: &AugmentConfig,
    shape: ImageShape,
    image: &[u8],
    key: SampleKey,
) -> Augmented {
    let mut px = image.to_vec();
    let mut applied = Vec::new();
    if image.len() != shape.len() || shape.is_empty() {
        return Augmented {
            pixels: px,
            applied,
        };
    }
    let (w, h) = (shape.width, shape.height);

    let c = &config.resized_crop;
    if c.enabled {
        let mut rng = key.rng(Op::ResizedCrop);
        if fires(&mut rng, c.p) {
            let crop = crop_params(&mut rng, shape, c.scale, c.ratio);
            ops::resized_crop(&mut px, shape, crop);
            applied.push(Applied::ResizedCrop(crop));
        }
    }

    let c = &config.pad_crop;
    if c.enabled {
        let mut rng = key.rng(Op::PadCrop);
        if fires(&mut rng, c.p) {
            let pad = i32::try_from(c.padding).unwrap_or(i32::MAX);
            let dx = rng.random_range(-pad..=pad);
            let dy = rng.random_range(-pad..=pad);
            ops::shift(&mut px, shape, dx, dy, c.fill, c.fill_value);
            applied.push(Applied::PadCrop { dx, dy });
        }
    }

    if config.hflip.enabled && fires(&mut key.rng(Op::HFlip), config.hflip.p) {
        ops::flip_horizontal(&mut px, shape);
        applied.push(Applied::HFlip);
    }
    if config.vflip.enabled && fires(&mut key.rng(Op::VFlip), config.vflip.p) {
        ops::flip_vertical(&mut px, shape);
        applied.push(Applied::VFlip);
    }

    let c = &config.affine;
    if c.enabled {
        let mut rng = key.rng(Op::Affine);
        if fires(&mut rng, c.p) {
            let u: [f32; 6] = std::array::from_fn(|_| rng.random());
            let sym = |max: f32, u: f32| max * (2.0 * u - 1.0);
            let params = AffineParams {
                angle_deg: sym(c.degrees, u[0]),
                translate_px: [
                    sym(c.translate[0] * w as f32, u[1]).round(),
                    sym(c.translate[1] * h as f32, u[2]).round(),
                ],
                scale: c.scale[0] + (c.scale[1] - c.scale[0]) * u[3],
                shear_deg: [sym(c.shear[0], u[4]), sym(c.shear[1], u[5])],
            };
            ops::affine(&mut px, shape, &params, c.fill, c.fill_value);
            applied.push(Applied::Affine(params));
        }
    }

    let c = &config.color_jitter;
    if c.enabled {
        let mut rng = key.rng(Op::ColorJitter);
        if fires(&mut rng, c.p) {
            let u: [f32; 4] = std::array::from_fn(|_| rng.random());
            let factor = |amount: f32, u: f32| {
                (amount > 0.0).then(|| {
                    let lo = (1.0 - amount).max(0.0);
                    lo + (1.0 + amount - lo) * u
                })
            };
            let mut order = [0u8, 1, 2, 3];
            order.shuffle(&mut rng);
            let params = JitterParams {
                brightness: factor(c.brightness, u[0]),
                contrast: factor(c.contrast, u[1]),
                saturation: factor(c.saturation, u[2]),
                hue: (c.hue > 0.0).then(|| c.hue * (2.0 * u[3] - 1.0)),
                order,
            };
            ops::color_jitter(&mut px, shape, &params);
            applied.push(Applied::ColorJitter(params));
        }
    }

    if config.grayscale.enabled && fires(&mut key.rng(Op::Grayscale), config.grayscale.p) {
        ops::grayscale(&mut px, shape);
        applied.push(Applied::Grayscale);
    }

    let c = &config.blur;
    if c.enabled {
        let mut rng = key.rng(Op::Blur);
        if fires(&mut rng, c.p) {
            let sigma = uniform(&mut rng, c.sigma[0], c.sigma[1]);
            ops::blur(&mut px, shape, sigma);
            applied.push(Applied::Blur { sigma });
        }
    }

    let c = &config.noise;
    if c.enabled {
        let mut rng = key.rng(Op::Noise);
        if fires(&mut rng, c.p) {
            let seed = rng.random();
            ops::noise(&mut px, shape, c.sigma, seed);
            applied.push(Applied::Noise { sigma: c.sigma });
        }
    }

    let c = &config.erasing;
    if c.enabled {
        let mut rng = key.rng(Op::Erasing);
        if fires(&mut rng, c.p)
            && let Some(rect) = erase_params(&mut rng, shape, c.scale, c.ratio)
        {
            let fill = if c.random {
                EraseFill::Random(rng.random())
            } else {
                EraseFill::Value(c.value)
            };
            ops::erase(&mut px, shape, rect, fill);
            applied.push(Applied::Erasing(rect));
        }
    }

    Augmented {
        pixels: px,
        applied,
    }
}

/// torchvision's `RandomResizedCrop.get_params`: ten tries at a random area and log-uniform
/// aspect ratio that fits, else a centre crop at the nearest allowed ratio.
pub(crate) fn crop_params(
    rng: &mut Xoshiro256PlusPlus,
    shape: ImageShape,
    scale: [f32; 2],
    ratio: [f32; 2],
) -> Rect {
    let (w, h) = (shape.width, shape.height);
    let area = (w * h) as f32;
    let log_ratio = [ratio[0].ln(), ratio[1].ln()];
    for _ in 0..10 {
        let target = area * uniform(rng, scale[0], scale[1]);
        let aspect = uniform(rng, log_ratio[0], log_ratio[1]).exp();
        let cw = (target * aspect).sqrt().round() as usize;
        let ch = (target / aspect).sqrt().round() as usize;
        if (1..=w).contains(&cw) && (1..=h).contains(&ch) {
            let top = rng.random_range(0..=h - ch);
            let left = rng.random_range(0..=w - cw);
            return Rect {
                left,
                top,
                width: cw,
                height: ch,
            };
        }
    }
    let in_ratio = w as f32 / h as f32;
    let (cw, ch) = if in_ratio < ratio[0] {
        (w, ((w as f32 / ratio[0]).round() as usize).clamp(1, h))
    } else if in_ratio > ratio[1] {
        (((h as f32 * ratio[1]).round() as usize).clamp(1, w), h)
    } else {
        (w, h)
    };
    Rect {
        left: (w - cw) / 2,
        top: (h - ch) / 2,
        width: cw,
        height: ch,
    }
}

/// torchvision's `RandomErasing.get_params`: ten tries at a rectangle of random area and
/// log-uniform aspect ratio (height / width) that fits; none if no try fits.
fn erase_params(
    rng: &mut Xoshiro256PlusPlus,
    shape: ImageShape,
    scale: [f32; 2],
    ratio: [f32; 2],
) -> Option<Rect> {
    let (w, h) = (shape.width, shape.height);
    let area = (w * h) as f32;
    let log_ratio = [ratio[0].ln(), ratio[1].ln()];
    for _ in 0..10 {
        let target = area * uniform(rng, scale[0], scale[1]);
        let aspect = uniform(rng, log_ratio[0], log_ratio[1]).exp();
        let eh = (target * aspect).sqrt().round() as usize;
        let ew = (target / aspect).sqrt().round() as usize;
        if eh < h && ew < w {
            let top = rng.random_range(0..=h - eh);
            let left = rng.random_range(0..=w - ew);
            return Some(Rect {
                left,
                top,
                width: ew,
                height: eh,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Preset;
    use proptest::prelude::*;

    fn key(seed: u64, epoch: u64, sample: u64) -> SampleKey {
        SampleKey {
            seed,
            epoch,
            sample,
        }
    }

    /// Shapes of the datasets the app handles: 28×28 gray and 32×32 RGB, plus odd small ones.
    fn shapes() -> impl Strategy<Value = ImageShape> {
        prop_oneof![
            Just(ImageShape {
                channels: 1,
                height: 28,
                width: 28
            }),
            Just(ImageShape {
                channels: 3,
                height: 32,
                width: 32
            }),
            (1usize..=3, 2usize..=12, 2usize..=12).prop_map(|(c, height, width)| ImageShape {
                channels: if c == 2 { 3 } else { c },
                height,
                width
            }),
        ]
    }

    fn shape_and_image() -> impl Strategy<Value = (ImageShape, Vec<u8>)> {
        shapes().prop_flat_map(|s| (Just(s), proptest::collection::vec(any::<u8>(), s.len())))
    }

    /// A configuration with every operation on, at probability `p`.
    fn everything(p: f32) -> AugmentConfig {
        let mut c = Preset::Strong.config();
        for op in Op::ALL {
            let (enabled, prob) = c.switch_mut(op);
            *enabled = true;
            *prob = p;
        }
        c.vflip.p = p;
        c.pad_crop.padding = 3;
        c.grayscale.p = p;
        c
    }

    /// Every operation on, with parameters that change nothing.
    fn identity_settings(shape: ImageShape) -> AugmentConfig {
        let mut c = everything(1.0);
        let aspect = shape.width as f32 / shape.height as f32;
        c.resized_crop.scale = [1.0, 1.0];
        c.resized_crop.ratio = [aspect, aspect];
        c.pad_crop.padding = 0;
        c.hflip.enabled = false;
        c.vflip.enabled = false;
        c.affine.degrees = 0.0;
        c.affine.translate = [0.0, 0.0];
        c.affine.scale = [1.0, 1.0];
        c.affine.shear = [0.0, 0.0];
        c.color_jitter.brightness = 0.0;
        c.color_jitter.contrast = 0.0;
        c.color_jitter.saturation = 0.0;
        c.color_jitter.hue = 0.0;
        c.grayscale.enabled = false;
        c.blur.enabled = false;
        c.noise.sigma = 0.0;
        c.erasing.scale = [0.0, 0.0];
        c
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn no_augmentation_returns_the_input_bit_for_bit(
            (shape, image) in shape_and_image(), seed: u64, epoch: u64, sample: u64
        ) {
            let out = augment_image(&AugmentConfig::default(), shape, &image, key(seed, epoch, sample));
            prop_assert_eq!(out.pixels, image);
            prop_assert!(out.applied.is_empty());
        }

        #[test]
        fn identity_settings_return_the_input_bit_for_bit(
            (shape, image) in shape_and_image(), seed: u64, sample: u64
        ) {
            let out = augment_image(&identity_settings(shape), shape, &image, key(seed, 1, sample));
            prop_assert_eq!(out.pixels, image);
        }

        #[test]
        fn flipping_twice_is_identity((shape, image) in shape_and_image()) {
            for op in [Op::HFlip, Op::VFlip] {
                let solo = AugmentConfig::default().solo(op);
                let once = augment_image(&solo, shape, &image, key(1, 1, 1));
                prop_assert_eq!(once.applied.len(), 1);
                let twice = augment_image(&solo, shape, &once.pixels, key(1, 1, 1));
                prop_assert_eq!(&twice.pixels, &image);
            }
        }

        #[test]
        fn rotation_0_scale_1_translate_0_is_identity(
            (shape, image) in shape_and_image(), seed: u64, fill_value: u8
        ) {
            let mut c = AugmentConfig::default().solo(Op::Affine);
            c.affine.degrees = 0.0;
            c.affine.translate = [0.0, 0.0];
            c.affine.scale = [1.0, 1.0];
            c.affine.fill_value = fill_value;
            let out = augment_image(&c, shape, &image, key(seed, 3, 4));
            prop_assert_eq!(out.applied.len(), 1, "the operation ran");
            prop_assert_eq!(out.pixels, image);
        }

        #[test]
        fn outputs_keep_shape_and_range(
            (shape, image) in shape_and_image(), seed: u64, p in 0.0f32..=1.0
        ) {
            let out = augment_image(&everything(p), shape, &image, key(seed, 2, 9));
            prop_assert_eq!(out.pixels.len(), shape.len());
            for a in &out.applied {
                match a {
                    Applied::ResizedCrop(r) | Applied::Erasing(r) => {
                        prop_assert!(r.left + r.width <= shape.width);
                        prop_assert!(r.top + r.height <= shape.height);
                    }
                    Applied::Affine(params) => {
                        prop_assert!(params.angle_deg.abs() <= 15.0);
                        prop_assert!((0.9 - 1e-6..=1.1 + 1e-6).contains(&params.scale));
                    }
                    _ => {}
                }
            }
        }

        #[test]
        fn same_key_same_image_other_seed_other_image(
            (shape, image) in shape_and_image(), seed: u64, sample: u64
        ) {
            let c = everything(1.0);
            let a = augment_image(&c, shape, &image, key(seed, 1, sample));
            let b = augment_image(&c, shape, &image, key(seed, 1, sample));
            prop_assert_eq!(&a, &b);
            // Different seeds draw different parameters (the images may coincide on flat input).
            let other = augment_image(&c, shape, &image, key(seed.wrapping_add(1), 1, sample));
            prop_assert_ne!(&a.applied, &other.applied);
            let next_epoch = augment_image(&c, shape, &image, key(seed, 2, sample));
            prop_assert_ne!(&a.applied, &next_epoch.applied);
        }

        #[test]
        fn probability_0_never_applies_and_1_always_does(
            (shape, image) in shape_and_image(), seed: u64, sample: u64
        ) {
            let never = augment_image(&everything(0.0), shape, &image, key(seed, 1, sample));
            prop_assert!(never.applied.is_empty());
            prop_assert_eq!(never.pixels, image.clone());
            let always = augment_image(&everything(1.0), shape, &image, key(seed, 1, sample));
            let ops: Vec<Op> = always.applied.iter().map(Applied::op).collect();
            let mut expected = Op::ALL.to_vec();
            expected.retain(|op| !op.is_batch_level());
            // Erasing gives up (as torchvision's does) when no rectangle fits a tiny image.
            if !ops.contains(&Op::Erasing) {
                expected.retain(|&op| op != Op::Erasing);
                prop_assert!(shape.width.min(shape.height) < 8, "{:?}", shape);
            }
            prop_assert_eq!(ops, expected);
        }
    }

    #[test]
    fn an_always_on_flip_always_flips_an_asymmetric_image() {
        let shape = ImageShape {
            channels: 1,
            height: 4,
            width: 4,
        };
        let image: Vec<u8> = (0..16).collect();
        let solo = AugmentConfig::default().solo(Op::HFlip);
        let mut flipped = image.clone();
        ops::flip_horizontal(&mut flipped, shape);
        for sample in 0..200 {
            let out = augment_image(&solo, shape, &image, key(5, 1, sample));
            assert_eq!(out.pixels, flipped);
        }
    }

    #[test]
    fn half_probability_flips_about_half() {
        let shape = ImageShape {
            channels: 1,
            height: 2,
            width: 2,
        };
        let mut c = AugmentConfig::default();
        c.hflip.enabled = true;
        c.hflip.p = 0.5;
        let flips = (0..2000)
            .filter(|&s| {
                !augment_image(&c, shape, &[1, 2, 3, 4], key(0, 1, s))
                    .applied
                    .is_empty()
            })
            .count();
        assert!((850..1150).contains(&flips), "{flips} of 2000");
    }

    #[test]
    fn changing_one_operation_leaves_the_others_draws_alone() {
        let shape = ImageShape {
            channels: 1,
            height: 28,
            width: 28,
        };
        let image = vec![100u8; shape.len()];
        let a = Preset::Seed2.config();
        let mut b = a.clone();
        b.affine.degrees = 30.0;
        for sample in 0..50 {
            let k = key(1, 1, sample);
            let flips_a = augment_image(&a, shape, &image, k)
                .applied
                .contains(&Applied::HFlip);
            let out_b = augment_image(&b, shape, &image, k);
            assert_eq!(flips_a, out_b.applied.contains(&Applied::HFlip));
            let angle = |applied: &[Applied]| {
                applied.iter().find_map(|x| match x {
                    Applied::Affine(p) => Some(p.angle_deg),
                    _ => None,
                })
            };
            let angle_a = angle(&augment_image(&a, shape, &image, k).applied).unwrap();
            let angle_b = angle(&out_b.applied).unwrap();
            assert!(
                (angle_b - 3.0 * angle_a).abs() < 1e-3,
                "the same draw, scaled"
            );
        }
    }
}
