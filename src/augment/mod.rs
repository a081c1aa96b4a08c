//! Data augmentation: one configuration ([`AugmentConfig`]) and one pipeline used both by the
//! preview grid and by training, so the preview shows exactly what the model is given.
//!
//! Every operation is a pure function on a `u8` image stored channel-major (CHW), the dataset's own
//! storage format ([`ops`]). [`pipeline::augment_image`] chains them in a fixed order with
//! randomness derived from (run seed, epoch, sample index, operation), so a preview is reproducible,
//! a run is repeatable, and moving one operation's slider leaves every other operation's random
//! draws untouched. [`batch::prepare_batch`] normalises a batch and applies the batch-level
//! operations (mixup, cutmix); the training loop calls it on a prefetching thread, the preview on
//! the rows of its grid.

pub mod batch;
pub mod crop;
pub mod grid;
pub mod ops;
pub mod pipeline;
pub mod torch;
pub mod warnings;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Everything that can go wrong with augmentation settings. Messages name the file or field.
#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    /// An augmentation file could not be read.
    #[error("cannot read the augmentation file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An augmentation file was read but is not a valid configuration.
    #[error("{path} is not a valid augmentation file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// Neither a preset name nor an existing file.
    #[error(
        "`{0}` is neither an augmentation preset (none, seed2, light, strong) nor an existing \
         .toml or .json file"
    )]
    UnknownSpec(String),
    /// A setting is out of range.
    #[error("augmentation: {0}")]
    Invalid(String),
}

/// The shape of one image: channels (1 or 3), height and width in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageShape {
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// The shape of a dataset's images.
    pub fn of(data: &crate::data::Dataset) -> Self {
        Self {
            channels: data.channels,
            height: data.height,
            width: data.width,
        }
    }

    /// Pixels per channel.
    pub fn plane(self) -> usize {
        self.height * self.width
    }

    /// Bytes per image.
    pub fn len(self) -> usize {
        self.channels * self.plane()
    }

    /// Whether the image holds no pixel.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// What fills pixels that a geometric operation brings in from outside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FillMode {
    /// A constant grey level (`fill_value`).
    #[default]
    Constant,
    /// The nearest edge pixel, repeated outwards.
    Edge,
}

/// A flip with its probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Flip {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of flipping each image.
    pub p: f32,
}

impl Default for Flip {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 0.5,
        }
    }
}

/// Random rotation, translation, scale and shear about the image centre
/// (torchvision's `RandomAffine`, with bilinear interpolation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Affine {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of transforming each image.
    pub p: f32,
    /// Rotation drawn from [-degrees, degrees].
    pub degrees: f32,
    /// Largest shift as a fraction of width and height: the shift is drawn from
    /// [-t·size, t·size] and rounded to whole pixels.
    pub translate: [f32; 2],
    /// Scale factor drawn from [min, max].
    pub scale: [f32; 2],
    /// Largest shear angle in degrees along x and y.
    pub shear: [f32; 2],
    /// What fills the pixels brought in from outside.
    pub fill: FillMode,
    /// Grey level of a constant fill.
    pub fill_value: u8,
}

impl Default for Affine {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 1.0,
            degrees: 10.0,
            translate: [0.1, 0.1],
            scale: [0.9, 1.1],
            shear: [0.0, 0.0],
            fill: FillMode::Constant,
            fill_value: 0,
        }
    }
}

/// Random crop of a random area and aspect ratio, resized back to the full image
/// (torchvision's `RandomResizedCrop`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResizedCrop {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of cropping each image.
    pub p: f32,
    /// Area of the crop as a fraction of the image, drawn from [min, max].
    pub scale: [f32; 2],
    /// Aspect ratio (width / height) of the crop, drawn log-uniformly from [min, max].
    pub ratio: [f32; 2],
}

impl Default for ResizedCrop {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 1.0,
            scale: [0.6, 1.0],
            ratio: [0.75, 4.0 / 3.0],
        }
    }
}

/// Pad every side, then crop back to the original size at a random offset: a random shift of up
/// to `padding` pixels (torchvision's `RandomCrop(size, padding)`, the CIFAR classic).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PadCrop {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of shifting each image.
    pub p: f32,
    /// Padding on each side, in pixels.
    pub padding: u32,
    /// What fills the padding.
    pub fill: FillMode,
    /// Grey level of a constant fill.
    pub fill_value: u8,
}

impl Default for PadCrop {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 1.0,
            padding: 2,
            fill: FillMode::Constant,
            fill_value: 0,
        }
    }
}

/// Random brightness, contrast, saturation and hue, applied in a random order
/// (torchvision's `ColorJitter`). Saturation and hue do nothing to grayscale images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColorJitter {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of jittering each image.
    pub p: f32,
    /// Brightness factor drawn from [1 - b, 1 + b].
    pub brightness: f32,
    /// Contrast factor drawn from [1 - c, 1 + c].
    pub contrast: f32,
    /// Saturation factor drawn from [1 - s, 1 + s].
    pub saturation: f32,
    /// Hue shift drawn from [-h, h] (a fraction of the colour circle, at most 0.5).
    pub hue: f32,
}

impl Default for ColorJitter {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 0.8,
            brightness: 0.2,
            contrast: 0.2,
            saturation: 0.2,
            hue: 0.0,
        }
    }
}

/// Random conversion to grayscale (kept in the image's channel count).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grayscale {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of converting each image.
    pub p: f32,
}

impl Default for Grayscale {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 0.1,
        }
    }
}

/// Gaussian blur with a random standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Blur {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of blurring each image.
    pub p: f32,
    /// Standard deviation in pixels, drawn from [min, max].
    pub sigma: [f32; 2],
}

impl Default for Blur {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 0.3,
            sigma: [0.1, 1.0],
        }
    }
}

/// Additive Gaussian pixel noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Noise {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of adding noise to each image.
    pub p: f32,
    /// Standard deviation as a fraction of the full pixel range (0.1 = 25.5 grey levels).
    pub sigma: f32,
}

impl Default for Noise {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 0.5,
            sigma: 0.05,
        }
    }
}

/// Random erasing (cutout): a random rectangle is overwritten (torchvision's `RandomErasing`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Erasing {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of erasing a rectangle in each image.
    pub p: f32,
    /// Area of the rectangle as a fraction of the image, drawn from [min, max].
    pub scale: [f32; 2],
    /// Aspect ratio (height / width) of the rectangle, drawn log-uniformly from [min, max].
    pub ratio: [f32; 2],
    /// Fill the rectangle with random grey levels instead of `value`.
    pub random: bool,
    /// Grey level written into the rectangle.
    pub value: u8,
}

impl Default for Erasing {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 0.5,
            scale: [0.02, 0.2],
            ratio: [0.3, 3.3],
            random: false,
            value: 0,
        }
    }
}

/// A batch-level mixing operation (mixup or cutmix) with its Beta(α, α) parameter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    /// Whether the operation is part of the pipeline.
    pub enabled: bool,
    /// Probability of mixing each batch.
    pub p: f32,
    /// α of the Beta(α, α) distribution the mixing weight λ is drawn from: small α keeps most
    /// images nearly pure, α = 1 draws λ uniformly.
    pub alpha: f32,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            enabled: false,
            p: 0.5,
            alpha: 1.0,
        }
    }
}

/// The whole augmentation pipeline. Operations run in the order of the fields; each has an on/off
/// switch, a probability and its parameter ranges. Saved with every run (`[augment]` in
/// `config.toml`); missing fields take their defaults, so older configurations load unchanged,
/// and unknown fields are errors, so a misspelt setting in a hand-written file is not ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Random resized crop.
    pub resized_crop: ResizedCrop,
    /// Pad and crop back (random shift).
    pub pad_crop: PadCrop,
    /// Horizontal flip.
    pub hflip: Flip,
    /// Vertical flip.
    pub vflip: Flip,
    /// Rotation, translation, scale, shear.
    pub affine: Affine,
    /// Brightness, contrast, saturation, hue.
    pub color_jitter: ColorJitter,
    /// Conversion to grayscale.
    pub grayscale: Grayscale,
    /// Gaussian blur.
    pub blur: Blur,
    /// Gaussian noise.
    pub noise: Noise,
    /// Random erasing (cutout).
    pub erasing: Erasing,
    /// Mixup: blend each image with another of the batch (batch level).
    pub mixup: Mix,
    /// Cutmix: paste a patch of another image of the batch (batch level).
    pub cutmix: Mix,
}

/// One operation of the pipeline, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// [`ResizedCrop`].
    ResizedCrop,
    /// [`PadCrop`].
    PadCrop,
    /// Horizontal [`Flip`].
    HFlip,
    /// Vertical [`Flip`].
    VFlip,
    /// [`Affine`].
    Affine,
    /// [`ColorJitter`].
    ColorJitter,
    /// [`Grayscale`].
    Grayscale,
    /// [`Blur`].
    Blur,
    /// [`Noise`].
    Noise,
    /// [`Erasing`].
    Erasing,
    /// Mixup ([`Mix`]).
    Mixup,
    /// Cutmix ([`Mix`]).
    Cutmix,
}

impl Op {
    /// Every operation, in pipeline order.
    pub const ALL: [Op; 12] = [
        Op::ResizedCrop,
        Op::PadCrop,
        Op::HFlip,
        Op::VFlip,
        Op::Affine,
        Op::ColorJitter,
        Op::Grayscale,
        Op::Blur,
        Op::Noise,
        Op::Erasing,
        Op::Mixup,
        Op::Cutmix,
    ];

    /// The name shown in the panel and in summaries.
    pub fn label(self) -> &'static str {
        match self {
            Op::ResizedCrop => "Random resized crop",
            Op::PadCrop => "Pad and crop",
            Op::HFlip => "Horizontal flip",
            Op::VFlip => "Vertical flip",
            Op::Affine => "Affine",
            Op::ColorJitter => "Colour jitter",
            Op::Grayscale => "Grayscale",
            Op::Blur => "Gaussian blur",
            Op::Noise => "Gaussian noise",
            Op::Erasing => "Random erasing",
            Op::Mixup => "Mixup",
            Op::Cutmix => "Cutmix",
        }
    }

    /// Whether the operation mixes images of a batch rather than acting on one image.
    pub fn is_batch_level(self) -> bool {
        matches!(self, Op::Mixup | Op::Cutmix)
    }

    /// A number that separates this operation's random stream from the others'.
    pub(crate) fn stream(self) -> u64 {
        self as u64 + 1
    }
}

/// Named starting points, selectable in the panel and as `--augment NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// No augmentation.
    None,
    /// The seed's second snippet: `RandomHorizontalFlip()` and
    /// `RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))`.
    Seed2,
    /// Small shifts, flips and a little colour jitter.
    Light,
    /// Crops, rotations, shear, colour, blur, noise, erasing and cutmix.
    Strong,
}

impl Preset {
    /// Every preset, in menu order.
    pub const ALL: [Preset; 4] = [Preset::None, Preset::Seed2, Preset::Light, Preset::Strong];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::None => "none",
            Preset::Seed2 => "seed2",
            Preset::Light => "light",
            Preset::Strong => "strong",
        }
    }

    /// The name shown in the window.
    pub fn label(self) -> &'static str {
        match self {
            Preset::None => "None",
            Preset::Seed2 => "Seed snippet 2",
            Preset::Light => "Light",
            Preset::Strong => "Strong",
        }
    }

    /// The preset's configuration.
    pub fn config(self) -> AugmentConfig {
        let mut c = AugmentConfig::default();
        match self {
            Preset::None => {}
            Preset::Seed2 => {
                c.hflip = Flip {
                    enabled: true,
                    p: 0.5,
                };
                c.affine = Affine {
                    enabled: true,
                    ..Affine::default()
                };
            }
            Preset::Light => {
                c.hflip = Flip {
                    enabled: true,
                    p: 0.5,
                };
                c.pad_crop = PadCrop {
                    enabled: true,
                    padding: 2,
                    ..PadCrop::default()
                };
                c.color_jitter = ColorJitter {
                    enabled: true,
                    p: 0.5,
                    brightness: 0.2,
                    contrast: 0.2,
                    saturation: 0.2,
                    hue: 0.0,
                };
            }
            Preset::Strong => {
                c.resized_crop = ResizedCrop {
                    enabled: true,
                    p: 1.0,
                    scale: [0.7, 1.0],
                    ratio: [0.75, 4.0 / 3.0],
                };
                c.hflip = Flip {
                    enabled: true,
                    p: 0.5,
                };
                c.affine = Affine {
                    enabled: true,
                    p: 1.0,
                    degrees: 15.0,
                    translate: [0.1, 0.1],
                    scale: [0.9, 1.1],
                    shear: [8.0, 0.0],
                    fill: FillMode::Constant,
                    fill_value: 0,
                };
                c.color_jitter = ColorJitter {
                    enabled: true,
                    p: 0.8,
                    brightness: 0.4,
                    contrast: 0.4,
                    saturation: 0.4,
                    hue: 0.05,
                };
                c.blur = Blur {
                    enabled: true,
                    p: 0.2,
                    sigma: [0.1, 1.0],
                };
                c.noise = Noise {
                    enabled: true,
                    p: 0.3,
                    sigma: 0.03,
                };
                c.erasing = Erasing {
                    enabled: true,
                    p: 0.5,
                    scale: [0.02, 0.15],
                    ..Erasing::default()
                };
                c.cutmix = Mix {
                    enabled: true,
                    p: 0.5,
                    alpha: 1.0,
                };
            }
        }
        c
    }
}

impl FromStr for Preset {
    type Err = AugmentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| AugmentError::UnknownSpec(s.to_owned()))
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The value of `--augment`: a preset name or a TOML/JSON file holding an [`AugmentConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AugmentSpec {
    /// A named preset.
    Preset(Preset),
    /// A configuration file.
    File(PathBuf),
}

impl FromStr for AugmentSpec {
    type Err = std::convert::Infallible;

    /// A preset name, or else a path (checked when the file is loaded).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<Preset>() {
            Ok(preset) => Self::Preset(preset),
            Err(_) => Self::File(PathBuf::from(s)),
        })
    }
}

impl AugmentSpec {
    /// The configuration: the preset's, or the file's (read, parsed and validated).
    pub fn load(&self) -> Result<AugmentConfig, AugmentError> {
        match self {
            Self::Preset(preset) => Ok(preset.config()),
            Self::File(path) => AugmentConfig::from_file(path),
        }
    }
}

impl AugmentConfig {
    /// The configuration of a preset.
    pub fn preset(preset: Preset) -> Self {
        preset.config()
    }

    /// Reads a configuration from a `.toml` or `.json` file (by extension; TOML otherwise) and
    /// checks it. A file written from `config.toml`'s `[augment]` table, or any subset of its
    /// fields, is accepted.
    pub fn from_file(path: &Path) -> Result<Self, AugmentError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound
                && path.extension().is_none()
                && path.components().count() == 1
            {
                AugmentError::UnknownSpec(path.display().to_string())
            } else {
                AugmentError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let parse_error = |message: String| AugmentError::Parse {
            path: path.to_owned(),
            message,
        };
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let config: Self = if is_json {
            serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))?
        } else {
            Self::from_toml(&text).map_err(|e| parse_error(e.to_string().trim().to_owned()))?
        };
        config.validate().map_err(|e| match e {
            AugmentError::Invalid(message) => parse_error(message),
            other => other,
        })?;
        Ok(config)
    }

    /// Parses TOML: either the bare configuration or a whole `config.toml` with an `[augment]`
    /// table.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        let mut table: toml::Table = toml::from_str(text)?;
        match table.remove("augment") {
            Some(inner) => inner.try_into(),
            None => toml::Value::Table(table).try_into(),
        }
    }

    /// The configuration as TOML (the same format [`Self::from_toml`] reads).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }

    /// The preset this configuration equals, if any.
    pub fn matching_preset(&self) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.config() == *self)
    }

    /// Whether an operation is switched on with a probability above zero.
    pub fn is_active(&self, op: Op) -> bool {
        let (enabled, p) = self.switch(op);
        enabled && p > 0.0
    }

    /// Whether no operation can change an image: the pipeline returns its input.
    pub fn is_identity(&self) -> bool {
        !Op::ALL.into_iter().any(|op| self.is_active(op))
    }

    /// The active operations, in pipeline order.
    pub fn active_ops(&self) -> Vec<Op> {
        Op::ALL
            .into_iter()
            .filter(|&op| self.is_active(op))
            .collect()
    }

    /// A one-line description: the preset's name or the active operations.
    pub fn summary(&self) -> String {
        if let Some(preset) = self.matching_preset() {
            return preset.label().to_owned();
        }
        let ops = self.active_ops();
        if ops.is_empty() {
            return "None".to_owned();
        }
        ops.iter()
            .map(|op| op.label())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A short name for run directories: the preset's, or `custom`; `None` without augmentation.
    pub fn short_name(&self) -> Option<&'static str> {
        if self.is_identity() {
            return None;
        }
        Some(self.matching_preset().map_or("custom", Preset::name))
    }

    /// The on/off switch and probability of an operation.
    pub fn switch(&self, op: Op) -> (bool, f32) {
        match op {
            Op::ResizedCrop => (self.resized_crop.enabled, self.resized_crop.p),
            Op::PadCrop => (self.pad_crop.enabled, self.pad_crop.p),
            Op::HFlip => (self.hflip.enabled, self.hflip.p),
            Op::VFlip => (self.vflip.enabled, self.vflip.p),
            Op::Affine => (self.affine.enabled, self.affine.p),
            Op::ColorJitter => (self.color_jitter.enabled, self.color_jitter.p),
            Op::Grayscale => (self.grayscale.enabled, self.grayscale.p),
            Op::Blur => (self.blur.enabled, self.blur.p),
            Op::Noise => (self.noise.enabled, self.noise.p),
            Op::Erasing => (self.erasing.enabled, self.erasing.p),
            Op::Mixup => (self.mixup.enabled, self.mixup.p),
            Op::Cutmix => (self.cutmix.enabled, self.cutmix.p),
        }
    }

    /// Mutable access to an operation's on/off switch and probability.
    pub fn switch_mut(&mut self, op: Op) -> (&mut bool, &mut f32) {
        match op {
            Op::ResizedCrop => (&mut self.resized_crop.enabled, &mut self.resized_crop.p),
            Op::PadCrop => (&mut self.pad_crop.enabled, &mut self.pad_crop.p),
            Op::HFlip => (&mut self.hflip.enabled, &mut self.hflip.p),
            Op::VFlip => (&mut self.vflip.enabled, &mut self.vflip.p),
            Op::Affine => (&mut self.affine.enabled, &mut self.affine.p),
            Op::ColorJitter => (&mut self.color_jitter.enabled, &mut self.color_jitter.p),
            Op::Grayscale => (&mut self.grayscale.enabled, &mut self.grayscale.p),
            Op::Blur => (&mut self.blur.enabled, &mut self.blur.p),
            Op::Noise => (&mut self.noise.enabled, &mut self.noise.p),
            Op::Erasing => (&mut self.erasing.enabled, &mut self.erasing.p),
            Op::Mixup => (&mut self.mixup.enabled, &mut self.mixup.p),
            Op::Cutmix => (&mut self.cutmix.enabled, &mut self.cutmix.p),
        }
    }

    /// This configuration with only `op` active, at probability 1: the operation's effect alone,
    /// on every draw (the panel's "solo").
    pub fn solo(&self, op: Op) -> Self {
        let mut solo = self.clone();
        for other in Op::ALL {
            let (enabled, p) = solo.switch_mut(other);
            if other == op {
                *enabled = true;
                *p = 1.0;
            } else {
                *enabled = false;
            }
        }
        solo
    }

    /// Checks every active operation's settings, naming the first one out of range.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let bad = |message: String| Err(AugmentError::Invalid(message));
        for op in Op::ALL {
            let (_, p) = self.switch(op);
            if !(0.0..=1.0).contains(&p) {
                return bad(format!(
                    "{} probability must be between 0 and 1, found {p}",
                    op.label()
                ));
            }
        }
        let range = |name: &str, [lo, hi]: [f32; 2], min: f32, max: f32| {
            if lo.is_finite() && hi.is_finite() && min <= lo && lo <= hi && hi <= max {
                Ok(())
            } else {
                Err(AugmentError::Invalid(format!(
                    "{name} must be a range [min, max] with {min} ≤ min ≤ max ≤ {max}, found \
                     [{lo}, {hi}]"
                )))
            }
        };
        let within = |name: &str, v: f32, min: f32, max: f32| {
            if v.is_finite() && (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(AugmentError::Invalid(format!(
                    "{name} must be between {min} and {max}, found {v}"
                )))
            }
        };
        let c = self;
        range("resized crop scale", c.resized_crop.scale, 0.01, 1.0)?;
        range("resized crop ratio", c.resized_crop.ratio, 0.05, 20.0)?;
        if c.pad_crop.padding > 1024 {
            return bad(format!(
                "pad-and-crop padding must be at most 1024 pixels, found {}",
                c.pad_crop.padding
            ));
        }
        within("affine degrees", c.affine.degrees, 0.0, 180.0)?;
        within("affine x translation", c.affine.translate[0], 0.0, 1.0)?;
        within("affine y translation", c.affine.translate[1], 0.0, 1.0)?;
        range("affine scale", c.affine.scale, 0.05, 10.0)?;
        within("affine x shear", c.affine.shear[0], 0.0, 80.0)?;
        within("affine y shear", c.affine.shear[1], 0.0, 80.0)?;
        within(
            "colour jitter brightness",
            c.color_jitter.brightness,
            0.0,
            10.0,
        )?;
        within("colour jitter contrast", c.color_jitter.contrast, 0.0, 10.0)?;
        within(
            "colour jitter saturation",
            c.color_jitter.saturation,
            0.0,
            10.0,
        )?;
        within("colour jitter hue", c.color_jitter.hue, 0.0, 0.5)?;
        range("blur sigma", c.blur.sigma, 0.01, 50.0)?;
        within("noise sigma", c.noise.sigma, 0.0, 1.0)?;
        range("erasing scale", c.erasing.scale, 0.0, 1.0)?;
        range("erasing ratio", c.erasing.ratio, 0.01, 100.0)?;
        within("mixup alpha", c.mixup.alpha, 0.01, 100.0)?;
        within("cutmix alpha", c.cutmix.alpha, 0.01, 100.0)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_by_name_and_validate() {
        for preset in Preset::ALL {
            assert_eq!(preset.name().parse::<Preset>().unwrap(), preset);
            preset.config().validate().unwrap();
            assert_eq!(preset.config().matching_preset(), Some(preset));
        }
        assert!(Preset::None.config().is_identity());
        assert_eq!(
            Preset::Seed2.config().active_ops(),
            vec![Op::HFlip, Op::Affine]
        );
        assert_eq!(
            "SEED2".parse::<AugmentSpec>().unwrap(),
            AugmentSpec::Preset(Preset::Seed2)
        );
        assert_eq!(
            "my.toml".parse::<AugmentSpec>().unwrap(),
            AugmentSpec::File("my.toml".into())
        );
    }

    #[test]
    fn toml_round_trip_and_partial_files_take_defaults() {
        let strong = Preset::Strong.config();
        let text = strong.to_toml().unwrap();
        assert_eq!(AugmentConfig::from_toml(&text).unwrap(), strong);
        let partial =
            AugmentConfig::from_toml("[affine]\nenabled = true\ndegrees = 5.0\n").unwrap();
        assert!(partial.affine.enabled);
        assert_eq!(partial.affine.degrees, 5.0);
        assert_eq!(partial.affine.scale, Affine::default().scale);
        assert!(!partial.hflip.enabled);
        let wrapped =
            AugmentConfig::from_toml("seed = 3\n[augment.hflip]\nenabled = true\n").unwrap();
        assert!(wrapped.hflip.enabled);
    }

    #[test]
    fn bad_files_give_clear_messages() {
        let dir = tempfile::tempdir().unwrap();
        let garbled = dir.path().join("bad.toml");
        std::fs::write(&garbled, "[affine\ndegrees = ").unwrap();
        let err = AugmentConfig::from_file(&garbled).unwrap_err().to_string();
        assert!(
            err.contains("bad.toml") && err.contains("not a valid"),
            "{err}"
        );

        let out_of_range = dir.path().join("range.toml");
        std::fs::write(&out_of_range, "[hflip]\nenabled = true\np = 1.5\n").unwrap();
        let err = AugmentConfig::from_file(&out_of_range)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("range.toml") && err.contains("probability"),
            "{err}"
        );

        let wrong_type = dir.path().join("type.json");
        std::fs::write(&wrong_type, r#"{"affine": {"degrees": "ten"}}"#).unwrap();
        let err = AugmentConfig::from_file(&wrong_type)
            .unwrap_err()
            .to_string();
        assert!(err.contains("type.json"), "{err}");

        let err = "sed2".parse::<AugmentSpec>().unwrap().load().unwrap_err();
        assert!(err.to_string().contains("neither"), "{err}");
        let missing = dir.path().join("missing.toml");
        let err = AugmentSpec::File(missing).load().unwrap_err().to_string();
        assert!(
            err.contains("missing.toml") && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = Preset::Seed2.config();
        c.affine.scale = [1.2, 0.8];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("affine scale")
        );
        let mut c = AugmentConfig::default();
        c.color_jitter.hue = 0.7;
        assert!(c.validate().unwrap_err().to_string().contains("hue"));
        let mut c = AugmentConfig::default();
        c.blur.sigma = [f32::NAN, 1.0];
        assert!(c.validate().unwrap_err().to_string().contains("blur"));
    }

    #[test]
    fn solo_keeps_one_operation_at_probability_one() {
        let solo = Preset::Strong.config().solo(Op::Affine);
        assert_eq!(solo.active_ops(), vec![Op::Affine]);
        assert_eq!(solo.affine.p, 1.0);
        assert_eq!(solo.affine.degrees, 15.0);
    }
}
