//! Turning an image file into the numbers a model takes, for prediction.
//!
//! [`imagenet`] is torchvision's standard evaluation transform: resize the shorter side to 256
//! (bilinear, antialiased like PIL), centre-crop 224×224, scale to [0, 1] and normalise with the
//! ImageNet mean and standard deviation. [`dataset`] resizes to the training images' size and
//! normalises with the training data's statistics.

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};

/// ImageNet's per-channel mean (RGB, [0, 1] units).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet's per-channel standard deviation.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// An image ready for a model: `channels × height × width` values, channel-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Values, CHW.
    pub values: Vec<f32>,
    /// Channels, height, width.
    pub shape: [usize; 3],
}

/// Why an image could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    /// The file could not be read or decoded.
    #[error("cannot read the image {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The settings do not make sense for the image.
    #[error("{0}")]
    Invalid(String),
}

/// Reads an image file (PNG or JPEG).
pub fn open(path: &std::path::Path) -> Result<DynamicImage, PreprocessError> {
    image::open(path).map_err(|e| PreprocessError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// torchvision's `Resize(256)`, `CenterCrop(224)`, `ToTensor()`, `Normalize(mean, std)`.
pub fn imagenet(image: &DynamicImage) -> Result<Prepared, PreprocessError> {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(PreprocessError::Invalid("the image is empty".into()));
    }
    let (short, long) = (w.min(h), w.max(h));
    // torchvision truncates the longer side: int(256 * long / short).
    let scaled_long = ((256.0 * f64::from(long) / f64::from(short)) as u32).max(256);
    let (nw, nh) = if w <= h {
        (256, scaled_long)
    } else {
        (scaled_long, 256)
    };
    let resized = image.to_rgb8();
    let resized = image::imageops::resize(&resized, nw, nh, FilterType::Triangle);
    // torchvision rounds the crop's corner: int(round((size - 224) / 2)).
    let top = ((f64::from(nh) - 224.0) / 2.0).round() as u32;
    let left = ((f64::from(nw) - 224.0) / 2.0).round() as u32;
    let side = 224usize;
    let mut values = vec![0.0_f32; 3 * side * side];
    for y in 0..side {
        for x in 0..side {
            let p = resized.get_pixel(left + x as u32, top + y as u32);
            for c in 0..3 {
                let v = f32::from(p[c]) / 255.0;
                values[c * side * side + y * side + x] = (v - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            }
        }
    }
    Ok(Prepared {
        values,
        shape: [3, side, side],
    })
}

/// [`dataset`] at the size and channels of `data`'s stored images with `norm`.
pub fn like_stored(
    image: &DynamicImage,
    data: &crate::data::Dataset,
    norm: &crate::data::ChannelNorm,
) -> Result<Prepared, PreprocessError> {
    dataset(
        image,
        data.channels,
        data.height,
        data.width,
        &norm.mean,
        &norm.std,
    )
}

/// Resizes to `height × width` (bilinear), converts to `channels` (1: luminance, 3: RGB) and
/// normalises each channel as `(p − mean) / std` in 0..=255 units, as the training batches are.
pub fn dataset(
    image: &DynamicImage,
    channels: usize,
    height: usize,
    width: usize,
    mean: &[f32],
    std: &[f32],
) -> Result<Prepared, PreprocessError> {
    if !(channels == 1 || channels == 3) || mean.len() != channels || std.len() != channels {
        return Err(PreprocessError::Invalid(format!(
            "images can be prepared for 1 or 3 channels with a mean and std per channel, not \
             {channels} channels with {} means and {} stds",
            mean.len(),
            std.len()
        )));
    }
    let (w, h) = (
        u32::try_from(width).map_err(|_| PreprocessError::Invalid("width too large".into()))?,
        u32::try_from(height).map_err(|_| PreprocessError::Invalid("height too large".into()))?,
    );
    if w == 0 || h == 0 || image.width() == 0 || image.height() == 0 {
        return Err(PreprocessError::Invalid(
            "the image or the target size is empty".into(),
        ));
    }
    let plane = width * height;
    let mut values = vec![0.0_f32; channels * plane];
    if channels == 1 {
        let gray = image::imageops::resize(&image.to_luma8(), w, h, FilterType::Triangle);
        for (i, p) in gray.pixels().enumerate() {
            values[i] = (f32::from(p[0]) - mean[0]) / std[0];
        }
    } else {
        let rgb = image::imageops::resize(&image.to_rgb8(), w, h, FilterType::Triangle);
        for (i, p) in rgb.pixels().enumerate() {
            for c in 0..3 {
                values[c * plane + i] = (f32::from(p[c]) - mean[c]) / std[c];
            }
        }
    }
    Ok(Prepared {
        values,
        shape: [channels, height, width],
    })
}

/// Softmax probabilities of logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// The `k` most probable classes, most probable first.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet_transform_has_torchvision_geometry_and_values() {
        // A uniform mid-gray image: every value is (128/255 − mean) / std after any resize.
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            320,
            240,
            image::Rgb([128, 128, 128]),
        ));
        let p = imagenet(&image).unwrap();
        assert_eq!(p.shape, [3, 224, 224]);
        for c in 0..3 {
            let expected = (128.0 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            let v = p.values[c * 224 * 224 + 1000];
            assert!((v - expected).abs() < 1e-6, "{v} vs {expected}");
        }
    }

    #[test]
    fn top_k_orders_by_probability() {
        let probs = softmax(&[1.0, 3.0, 2.0]);
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let top: Vec<usize> = top_k(&probs, 2).into_iter().map(|(c, _)| c).collect();
        assert_eq!(top, [1, 2]);
    }
}
