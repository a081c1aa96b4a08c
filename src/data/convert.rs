//! Bringing images to one input size and channel count.
//!
//! Every source is stored at one shape (`channels × height × width`, `u8`). Sources whose images
//! differ (an image folder) are converted while they are decoded; sources of a fixed shape (IDX,
//! CIFAR, the built-in ones) are converted afterwards by [`conform`] when the user asks for
//! another size or channel count.

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, RgbImage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::progress::LoadProgress;
use super::{ChannelNorm, DataError, Dataset, ImageSet};

/// Filter used to resize images: bilinear, widened when shrinking so that every source pixel
/// contributes (no aliasing on large downscales).
const FILTER: FilterType = FilterType::Triangle;

/// The input size and channel count the model sees. `None` takes the value from the data.
///
/// Saved with the run and part of the dataset cache key: the same source at two input formats
/// is two datasets in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct InputFormat {
    /// Side of the square input in pixels; `None` keeps the source's size (for an image folder:
    /// the most common size, or 64×64 when that is over 128 px on a side).
    pub size: Option<u32>,
    /// 1 (grayscale) or 3 (RGB); `None` takes it from the data (grayscale only if every image is).
    pub channels: Option<u8>,
    /// Keep the source's own resolution when `size` is `None` (an image folder's most common
    /// size, at most [`Self::NATIVE_MAX_SIDE`] on its longer side), instead of shrinking large
    /// images to 64×64: the network's inputs are then cut from the stored images (crops, tiles).
    pub native: bool,
    /// Bring images of another aspect ratio to the stored one by scaling the shorter side and
    /// cutting the centre, instead of stretching them.
    pub keep_aspect: bool,
    /// Whether an image folder's decoded images are held in memory or read from disk per
    /// sample (automatic: by their decoded size against [`super::disk::IN_MEMORY_BUDGET`]).
    pub in_memory: super::disk::InMemory,
    /// The decoded-image cache of a folder kept on disk, in MB (`None`:
    /// [`super::disk::DEFAULT_CACHE_MB`]).
    pub cache_mb: Option<u32>,
}

impl InputFormat {
    /// Smallest input side accepted.
    pub const MIN_SIZE: u32 = 4;
    /// Largest input side accepted.
    pub const MAX_SIZE: u32 = 1024;
    /// Longest side of images stored at their own resolution (larger ones are scaled down,
    /// keeping their aspect ratio).
    pub const NATIVE_MAX_SIDE: u32 = 2048;

    /// Checks the size and channel count.
    pub fn validate(&self) -> Result<(), DataError> {
        if let Some(size) = self.size
            && !(Self::MIN_SIZE..=Self::MAX_SIZE).contains(&size)
        {
            return Err(DataError::Invalid(format!(
                "the input size must be {} to {} pixels, found {size}",
                Self::MIN_SIZE,
                Self::MAX_SIZE
            )));
        }
        if let Some(channels) = self.channels
            && channels != 1
            && channels != 3
        {
            return Err(DataError::Invalid(format!(
                "the input must have 1 (grayscale) or 3 (RGB) channels, found {channels}"
            )));
        }
        if self.cache_mb == Some(0) {
            return Err(DataError::Invalid(
                "the decoded-image cache needs at least 1 MB (--data-cache-mb)".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Reserves a zeroed pixel array for `images` images of `image_len` bytes, failing with a message
/// instead of aborting when memory is short.
pub(crate) fn alloc_pixels(
    images: usize,
    image_len: usize,
    what: &str,
) -> Result<Vec<u8>, DataError> {
    let too_big = || {
        DataError::Invalid(format!(
            "not enough memory for {what}: {images} images of {image_len} bytes ({:.1} GB)",
            images as f64 * image_len as f64 / 1e9
        ))
    };
    let bytes = images.checked_mul(image_len).ok_or_else(too_big)?;
    let mut pixels = Vec::new();
    pixels.try_reserve_exact(bytes).map_err(|_| too_big())?;
    pixels.resize(bytes, 0);
    Ok(pixels)
}

/// Cuts the centre of `image` to the aspect ratio of `width × height` (the shorter side is kept
/// whole), so a following resize scales without stretching.
pub(crate) fn centre_to_aspect(image: DynamicImage, width: u32, height: u32) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 || width == 0 || height == 0 {
        return image;
    }
    // Compare w/h with width/height without rounding: w·height vs h·width.
    let (wide, tall) = (
        u64::from(w) * u64::from(height),
        u64::from(h) * u64::from(width),
    );
    if wide > tall {
        let cw = ((u64::from(h) * u64::from(width)) / u64::from(height)).max(1) as u32;
        image.crop_imm((w - cw) / 2, 0, cw, h)
    } else if tall > wide {
        let ch = ((u64::from(w) * u64::from(height)) / u64::from(width)).max(1) as u32;
        image.crop_imm(0, (h - ch) / 2, w, ch)
    } else {
        image
    }
}

/// Converts a decoded image to `channels` (1 or 3), resizes it to `width × height` if needed and
/// writes it channel-major into `out` (`channels · width · height` bytes). Alpha is dropped.
pub(crate) fn write_chw(
    image: DynamicImage,
    width: u32,
    height: u32,
    channels: usize,
    out: &mut [u8],
) {
    if channels == 1 {
        let mut gray = image.into_luma8();
        if gray.dimensions() != (width, height) {
            gray = imageops::resize(&gray, width, height, FILTER);
        }
        for (dst, &src) in out.iter_mut().zip(gray.as_raw()) {
            *dst = src;
        }
    } else {
        let mut rgb = image.into_rgb8();
        if rgb.dimensions() != (width, height) {
            rgb = imageops::resize(&rgb, width, height, FILTER);
        }
        let plane = width as usize * height as usize;
        let (r, rest) = out.split_at_mut(plane.min(out.len()));
        let (g, b) = rest.split_at_mut(plane.min(rest.len()));
        for (((px, r), g), b) in rgb
            .as_raw()
            .chunks_exact(3)
            .zip(r.iter_mut())
            .zip(g.iter_mut())
            .zip(b.iter_mut())
        {
            *r = px[0];
            *g = px[1];
            *b = px[2];
        }
    }
}

/// One stored CHW image as an `image` crate image (for resizing or recolouring).
fn from_chw(pixels: &[u8], width: usize, height: usize, channels: usize) -> Option<DynamicImage> {
    if channels == 1 {
        GrayImage::from_raw(width as u32, height as u32, pixels.to_vec()).map(DynamicImage::from)
    } else {
        let plane = width * height;
        let mut hwc = Vec::with_capacity(plane * 3);
        for p in 0..plane {
            for c in 0..3 {
                hwc.push(pixels.get(c * plane + p).copied().unwrap_or(0));
            }
        }
        RgbImage::from_raw(width as u32, height as u32, hwc).map(DynamicImage::from)
    }
}

/// Brings a loaded dataset to `input` (size and channels), converting every image in parallel.
/// Returns it unchanged when it already has that shape.
pub(crate) fn conform(
    mut data: Dataset,
    input: InputFormat,
    progress: &LoadProgress,
) -> Result<Dataset, DataError> {
    input.validate()?;
    let (width, height) = input
        .size
        .map_or((data.width, data.height), |s| (s as usize, s as usize));
    let channels = input.channels.map_or(data.channels, usize::from);
    if (width, height, channels) == (data.width, data.height, data.channels) {
        return Ok(data);
    }
    let total = data.train.len() + data.test.as_ref().map_or(0, ImageSet::len);
    progress.begin("Resizing images", total as u64);
    let from = (data.width, data.height, data.channels);
    let to = (width, height, channels);
    let keep = input.keep_aspect;
    data.train = convert_set(&data.train, from, to, keep, progress)?;
    if let Some(test) = &data.test {
        data.test = Some(convert_set(test, from, to, keep, progress)?);
    }
    data.fixed_norm = data.fixed_norm.map(|norm| recolour_norm(norm, channels));
    data.source_format.converted = total;
    (data.width, data.height, data.channels) = to;
    Ok(data)
}

fn convert_set(
    set: &ImageSet,
    (sw, sh, sc): (usize, usize, usize),
    (dw, dh, dc): (usize, usize, usize),
    keep_aspect: bool,
    progress: &LoadProgress,
) -> Result<ImageSet, DataError> {
    let src_len = sw * sh * sc;
    let dst_len = dw * dh * dc;
    let mut pixels = alloc_pixels(set.len(), dst_len, "the resized images")?;
    pixels
        .par_chunks_mut(dst_len)
        .zip(set.pixels.par_chunks(src_len))
        .for_each(|(out, src)| {
            if progress.is_cancelled() {
                return;
            }
            if let Some(mut image) = from_chw(src, sw, sh, sc) {
                if keep_aspect {
                    image = centre_to_aspect(image, dw as u32, dh as u32);
                }
                write_chw(image, dw as u32, dh as u32, dc, out);
            }
            progress.add(1);
        });
    progress.check()?;
    Ok(ImageSet {
        pixels,
        labels: set.labels.clone(),
    })
}

/// A fixed normalisation for another channel count: one channel becomes three copies, three
/// become their average.
fn recolour_norm(norm: ChannelNorm, channels: usize) -> ChannelNorm {
    if norm.mean.len() == channels {
        return norm;
    }
    let avg = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    ChannelNorm {
        mean: vec![avg(&norm.mean); channels],
        std: vec![avg(&norm.std); channels],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DatasetSource, InputFormat, SourceFormat};

    fn tiny(channels: usize) -> Dataset {
        let len = 2 * 2 * channels;
        Dataset {
            source: DatasetSource::Embedded,
            width: 2,
            height: 2,
            channels,
            class_names: vec!["a".into(), "b".into()],
            train: ImageSet {
                pixels: (0..2 * len).map(|v| (v * 10) as u8).collect(),
                labels: vec![0, 1],
            },
            test: None,
            fixed_norm: None,
            skipped: Vec::new(),
            source_format: SourceFormat::default(),
            disk: None,
        }
    }

    #[test]
    fn same_shape_is_untouched_and_gray_becomes_three_equal_planes() {
        let p = LoadProgress::new();
        let same = conform(tiny(1), InputFormat::default(), &p).unwrap();
        assert_eq!(same.train.pixels, tiny(1).train.pixels);
        let rgb = conform(
            tiny(1),
            InputFormat {
                size: None,
                channels: Some(3),
                ..InputFormat::default()
            },
            &p,
        )
        .unwrap();
        assert_eq!(rgb.channels, 3);
        assert_eq!(rgb.train.pixels.len(), 2 * 12);
        let first = &rgb.train.pixels[..12];
        assert_eq!(&first[..4], &[0, 10, 20, 30]);
        assert_eq!(&first[..4], &first[4..8]);
        assert_eq!(&first[..4], &first[8..]);
        assert_eq!(rgb.source_format.converted, 2);
    }

    #[test]
    fn resizing_keeps_a_flat_image_flat_and_labels_in_place() {
        let mut data = tiny(3);
        data.train.pixels = vec![77; 24];
        let out = conform(
            data,
            InputFormat {
                size: Some(5),
                channels: Some(1),
                ..InputFormat::default()
            },
            &LoadProgress::new(),
        )
        .unwrap();
        assert_eq!((out.width, out.height, out.channels), (5, 5, 1));
        assert!(out.train.pixels.iter().all(|&p| p == 77));
        assert_eq!(out.train.labels, vec![0, 1]);
    }

    #[test]
    fn bad_formats_are_named() {
        let err = InputFormat {
            size: Some(2),
            channels: None,
            ..InputFormat::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("input size"), "{err}");
        let err = InputFormat {
            size: None,
            channels: Some(2),
            ..InputFormat::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("channels"), "{err}");
    }
}
