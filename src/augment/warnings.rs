//! Warnings that teach: settings that quietly hurt more than they help, found by looking at the
//! dataset's classes and by running the pipeline itself on a white image.

use super::pipeline::{SampleKey, augment_image};
use super::{Affine, AugmentConfig, Erasing, FillMode, ImageShape, Op, PadCrop};

/// A warning about one operation's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// The operation concerned.
    pub op: Op,
    /// What is wrong and why it matters.
    pub message: String,
}

/// Share of a rotated image's own pixels that may fall outside the frame before a warning:
/// about what a 20° turn of a square costs (10° costs 7 %, 45° 18 %).
const CORNER_LOSS_WARN: f32 = 0.12;
/// Share of fill pixels (on average over draws) that counts as "most".
const FILL_WARN: f32 = 0.5;
/// Draws used to measure the fill share.
const FILL_DRAWS: u64 = 64;

/// Whether class names look like digits or characters (MNIST, EMNIST, …): a mirrored or
/// upside-down glyph is a different glyph, or none.
pub fn text_like(class_names: &[String]) -> bool {
    !class_names.is_empty()
        && class_names.iter().all(|name| {
            let name = name.trim();
            name.chars().count() == 1
                || name.parse::<i64>().is_ok()
                || ["digit", "letter", "char"]
                    .iter()
                    .any(|w| name.to_lowercase().contains(w))
        })
}

/// Every warning for `config` on images of `shape` with these classes.
pub fn check(config: &AugmentConfig, shape: ImageShape, class_names: &[String]) -> Vec<Warning> {
    let mut out = Vec::new();
    let text = text_like(class_names);
    for op in Op::ALL {
        let (enabled, p) = config.switch(op);
        if enabled && p == 0.0 {
            out.push(Warning {
                op,
                message: format!("{} is on with probability 0: it never applies.", op.label()),
            });
        }
    }
    if config.is_active(Op::HFlip) && text {
        out.push(Warning {
            op: Op::HFlip,
            message: "Horizontal flips mirror digits and letters: a mirrored 2, 3, 7 or R is not \
                      a class the test set contains, and b/d swap. Leave it off for text-like \
                      classes."
                .to_owned(),
        });
    }
    if config.is_active(Op::VFlip) {
        let message = if text {
            "Vertical flips turn 6 into 9 and M into W: the label no longer matches the image."
        } else {
            "Vertical flips show objects upside down, which test images rarely do: the model \
             spends capacity on views it will never be asked about."
        };
        out.push(Warning {
            op: Op::VFlip,
            message: message.to_owned(),
        });
    }
    if config.is_active(Op::Affine) {
        let a = &config.affine;
        let lost = corner_loss(shape, a.degrees, 1.0);
        if lost > CORNER_LOSS_WARN {
            out.push(Warning {
                op: Op::Affine,
                message: format!(
                    "Rotations up to {:.0}° cut off up to {:.0} % of the image at its corners \
                     and fill them with {}: fine for centred objects, harmful when the \
                     content reaches the edges.",
                    a.degrees,
                    lost * 100.0,
                    match a.fill {
                        FillMode::Constant => "the fill colour",
                        FillMode::Edge => "smeared edge pixels",
                    }
                ),
            });
        }
    }
    let fill = fill_share(config, shape);
    if fill > FILL_WARN {
        out.push(Warning {
            op: Op::Affine,
            message: format!(
                "On average {:.0} % of each augmented image is fill or erased, not picture: the \
                 model learns mostly from padding. Reduce translation, scale-down, padding or \
                 erasing.",
                fill * 100.0
            ),
        });
    }
    if shape.channels == 1 {
        let c = &config.color_jitter;
        if config.is_active(Op::ColorJitter) && (c.saturation > 0.0 || c.hue > 0.0) {
            out.push(Warning {
                op: Op::ColorJitter,
                message: "Saturation and hue do nothing to grayscale images; only brightness \
                          and contrast change them."
                    .to_owned(),
            });
        }
        if config.is_active(Op::Grayscale) {
            out.push(Warning {
                op: Op::Grayscale,
                message: "The images are already grayscale: this operation changes nothing."
                    .to_owned(),
            });
        }
    }
    out
}

/// Largest share of an image's pixels that leave the frame when it is rotated by up to
/// `degrees` (either way) and scaled by `scale` about its centre. The loss is not monotonic in
/// the angle (a square turned by 90° loses nothing), so angles up to the limit are tried.
pub fn corner_loss(shape: ImageShape, degrees: f32, scale: f32) -> f32 {
    const STEPS: usize = 36;
    if shape.is_empty() {
        return 0.0;
    }
    let limit = degrees.clamp(0.0, 180.0);
    (0..=STEPS)
        .map(|k| loss_at(shape, limit * k as f32 / STEPS as f32, scale))
        .fold(0.0, f32::max)
}

fn loss_at(shape: ImageShape, degrees: f32, scale: f32) -> f32 {
    let (w, h) = (shape.width as f32, shape.height as f32);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((w - 1.0) / 2.0, (h - 1.0) / 2.0);
    let mut lost = 0usize;
    for y in 0..shape.height {
        for x in 0..shape.width {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let ox = cx + scale * (cos * dx + sin * dy);
            let oy = cy + scale * (-sin * dx + cos * dy);
            if ox < -0.5 || oy < -0.5 || ox > w - 0.5 || oy > h - 0.5 {
                lost += 1;
            }
        }
    }
    lost as f32 / shape.plane() as f32
}

/// Average share of pixels that are fill rather than picture: the geometric operations and
/// erasing run (through the real pipeline) on a white image with black fill, over several
/// draws, and the dark pixels are counted.
pub fn fill_share(config: &AugmentConfig, shape: ImageShape) -> f32 {
    let probe = AugmentConfig {
        resized_crop: config.resized_crop,
        pad_crop: PadCrop {
            fill: FillMode::Constant,
            fill_value: 0,
            ..config.pad_crop
        },
        affine: Affine {
            fill: FillMode::Constant,
            fill_value: 0,
            ..config.affine
        },
        erasing: Erasing {
            random: false,
            value: 0,
            ..config.erasing
        },
        ..AugmentConfig::default()
    };
    if probe.is_identity() || shape.is_empty() {
        return 0.0;
    }
    let shape = ImageShape {
        channels: 1,
        ..shape
    };
    let white = vec![255u8; shape.len()];
    let dark: usize = (0..FILL_DRAWS)
        .map(|sample| {
            let key = SampleKey {
                seed: 0x0F11,
                epoch: 1,
                sample,
            };
            let out = augment_image(&probe, shape, &white, key);
            out.pixels.iter().filter(|&&p| p < 128).count()
        })
        .sum();
    dark as f32 / (FILL_DRAWS as usize * shape.len()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Preset;

    const MNIST: ImageShape = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flips_on_digits_warn_but_not_on_clothes() {
        let digits = names(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
        let clothes: Vec<String> = crate::data::FASHION_CLASSES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let seed2 = Preset::Seed2.config();
        assert!(
            check(&seed2, MNIST, &digits)
                .iter()
                .any(|w| w.op == Op::HFlip)
        );
        let fine = check(&seed2, MNIST, &clothes);
        assert!(fine.is_empty(), "seed2 on Fashion-MNIST is fine: {fine:?}");
    }

    #[test]
    fn big_rotations_warn_about_corners() {
        assert!(corner_loss(MNIST, 0.0, 1.0) == 0.0);
        assert!(corner_loss(MNIST, 10.0, 1.0) < CORNER_LOSS_WARN);
        assert!(corner_loss(MNIST, 45.0, 1.0) > 0.15);
        assert!(
            corner_loss(MNIST, 180.0, 1.0) > 0.15,
            "the worst angle counts, not the last"
        );
        let mut c = Preset::Seed2.config();
        c.affine.degrees = 45.0;
        c.affine.scale = [1.0, 1.0];
        let warnings = check(&c, MNIST, &[]);
        assert!(
            warnings.iter().any(|w| w.message.contains("cut off")),
            "{warnings:?}"
        );
    }

    #[test]
    fn settings_that_make_most_pixels_fill_warn() {
        let mut c = AugmentConfig::default().solo(Op::Affine);
        c.affine.scale = [0.2, 0.3];
        assert!(fill_share(&c, MNIST) > 0.8);
        assert!(
            check(&c, MNIST, &[])
                .iter()
                .any(|w| w.message.contains("fill"))
        );
        let seed2 = Preset::Seed2.config();
        let share = fill_share(&seed2, MNIST);
        assert!((0.01..0.3).contains(&share), "{share}");
        assert_eq!(fill_share(&AugmentConfig::default(), MNIST), 0.0);
    }

    #[test]
    fn colour_operations_on_grayscale_and_zero_probability_warn() {
        let mut c = AugmentConfig::default().solo(Op::ColorJitter);
        c.color_jitter.hue = 0.1;
        c.grayscale.enabled = true;
        c.grayscale.p = 0.5;
        c.vflip.enabled = true;
        c.vflip.p = 0.0;
        let w = check(&c, MNIST, &[]);
        assert!(w.iter().any(|w| w.op == Op::ColorJitter));
        assert!(w.iter().any(|w| w.op == Op::Grayscale));
        assert!(
            w.iter()
                .any(|w| w.op == Op::VFlip && w.message.contains("never"))
        );
    }
}
