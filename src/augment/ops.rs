//! The operations, as pure functions on one `u8` image stored channel-major (CHW).
//!
//! Geometric work (warps, shifts, blur, noise, flips) goes through `imageproc` and `image`, one
//! channel plane at a time. Colour jitter and grayscale follow torchvision's formulas (luma
//! weights 0.299/0.587/0.114, contrast around the mean grey, hue rotated in HSV), so the exported
//! torchvision code does what the preview shows; `image`'s colour operations use other formulas.
//! Every function leaves the image unchanged when its parameters are the identity.

use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage};
use imageproc::geometric_transformations::{
    Border, Interpolation, Projection, translate, warp, warp_into_with,
};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

use super::{FillMode, ImageShape};

/// Luma weights of R, G and B (ITU-R BT.601, as torchvision's `rgb_to_grayscale`).
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

fn border(fill: FillMode, value: u8) -> Border<Luma<u8>> {
    match fill {
        FillMode::Constant => Border::Constant(Luma([value])),
        FillMode::Edge => Border::Replicate,
    }
}

fn border_rgb(fill: FillMode, value: u8) -> Border<Rgb<u8>> {
    match fill {
        FillMode::Constant => Border::Constant(Rgb([value; 3])),
        FillMode::Edge => Border::Replicate,
    }
}

/// Replaces a three-channel image with `f` of it as one interleaved RGB image: a warp then
/// maps each pixel once instead of once per channel, with the same result per channel.
fn map_rgb(image: &mut [u8], shape: ImageShape, f: impl FnOnce(&RgbImage) -> RgbImage) {
    let plane = shape.plane();
    let mut interleaved = Vec::with_capacity(3 * plane);
    for i in 0..plane {
        interleaved.extend([image[i], image[plane + i], image[2 * plane + i]]);
    }
    let Some(source) = RgbImage::from_raw(shape.width as u32, shape.height as u32, interleaved)
    else {
        return;
    };
    let out = f(&source);
    for (i, px) in out.as_raw().chunks_exact(3).enumerate() {
        image[i] = px[0];
        image[plane + i] = px[1];
        image[2 * plane + i] = px[2];
    }
}

/// Replaces every channel plane of `image` with `f(plane)`.
fn map_planes(image: &mut [u8], shape: ImageShape, mut f: impl FnMut(&GrayImage) -> GrayImage) {
    let plane_len = shape.plane();
    if plane_len == 0 {
        return;
    }
    for plane in image.chunks_exact_mut(plane_len) {
        let Some(source) =
            GrayImage::from_raw(shape.width as u32, shape.height as u32, plane.to_vec())
        else {
            continue;
        };
        let result = f(&source);
        plane.copy_from_slice(result.as_raw());
    }
}

/// Mirrors the image left to right.
pub fn flip_horizontal(image: &mut [u8], shape: ImageShape) {
    for plane in image.chunks_exact_mut(shape.plane().max(1)) {
        if let Some(mut view) = ImageBuffer::<Luma<u8>, &mut [u8]>::from_raw(
            shape.width as u32,
            shape.height as u32,
            plane,
        ) {
            image::imageops::flip_horizontal_in_place(&mut view);
        }
    }
}

/// Mirrors the image top to bottom.
pub fn flip_vertical(image: &mut [u8], shape: ImageShape) {
    for plane in image.chunks_exact_mut(shape.plane().max(1)) {
        if let Some(mut view) = ImageBuffer::<Luma<u8>, &mut [u8]>::from_raw(
            shape.width as u32,
            shape.height as u32,
            plane,
        ) {
            image::imageops::flip_vertical_in_place(&mut view);
        }
    }
}

/// One draw of the affine operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AffineParams {
    /// Rotation in degrees, counter-clockwise on screen.
    pub angle_deg: f32,
    /// Shift in whole pixels (x right, y down).
    pub translate_px: [f32; 2],
    /// Scale factor.
    pub scale: f32,
    /// Shear angles in degrees along x and y.
    pub shear_deg: [f32; 2],
}

impl AffineParams {
    /// The transformation from input to output pixel coordinates (row-major 3×3), about the
    /// image centre: `out = A·(in − c) + c + t` with `A = scale · R(angle) · shear_y · shear_x`.
    pub fn matrix(&self, shape: ImageShape) -> [f32; 9] {
        let (sin, cos) = self.angle_deg.to_radians().sin_cos();
        let tan_x = self.shear_deg[0].to_radians().tan();
        let tan_y = self.shear_deg[1].to_radians().tan();
        // Rotation, counter-clockwise on screen (y points down).
        let r = [[cos, sin], [-sin, cos]];
        let shear_y = [[1.0, 0.0], [-tan_y, 1.0]];
        let shear_x = [[1.0, -tan_x], [0.0, 1.0]];
        let mul = |a: [[f32; 2]; 2], b: [[f32; 2]; 2]| {
            [
                [
                    a[0][0] * b[0][0] + a[0][1] * b[1][0],
                    a[0][0] * b[0][1] + a[0][1] * b[1][1],
                ],
                [
                    a[1][0] * b[0][0] + a[1][1] * b[1][0],
                    a[1][0] * b[0][1] + a[1][1] * b[1][1],
                ],
            ]
        };
        let a = mul(mul(r, shear_y), shear_x);
        let a = a.map(|row| row.map(|v| v * self.scale));
        let cx = (shape.width as f32 - 1.0) / 2.0;
        let cy = (shape.height as f32 - 1.0) / 2.0;
        let tx = cx + self.translate_px[0] - (a[0][0] * cx + a[0][1] * cy);
        let ty = cy + self.translate_px[1] - (a[1][0] * cx + a[1][1] * cy);
        [a[0][0], a[0][1], tx, a[1][0], a[1][1], ty, 0.0, 0.0, 1.0]
    }
}

const IDENTITY: [f32; 9] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];

/// Rotates, shifts, scales and shears the image about its centre (bilinear interpolation);
/// pixels from outside are filled as `fill` says.
pub fn affine(
    image: &mut [u8],
    shape: ImageShape,
    params: &AffineParams,
    fill: FillMode,
    value: u8,
) {
    let matrix = params.matrix(shape);
    if matrix == IDENTITY {
        return;
    }
    let Some(projection) = Projection::from_matrix(matrix) else {
        return;
    };
    if shape.channels == 3 {
        map_rgb(image, shape, |rgb| {
            warp(
                rgb,
                projection,
                Interpolation::Bilinear,
                border_rgb(fill, value),
            )
        });
    } else {
        map_planes(image, shape, |plane| {
            warp(
                plane,
                projection,
                Interpolation::Bilinear,
                border(fill, value),
            )
        });
    }
}

/// A crop rectangle in whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// First column.
    pub left: usize,
    /// First row.
    pub top: usize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl Rect {
    /// The whole image.
    pub fn full(shape: ImageShape) -> Self {
        Self {
            left: 0,
            top: 0,
            width: shape.width,
            height: shape.height,
        }
    }

    /// Pixels covered.
    pub fn area(self) -> usize {
        self.width * self.height
    }
}

/// Cuts `crop` out of the image and stretches it back to the full size (bilinear; the crop's
/// own edge pixels extend it, so nothing outside the crop bleeds in).
pub fn resized_crop(image: &mut [u8], shape: ImageShape, crop: Rect) {
    if crop == Rect::full(shape) || crop.area() == 0 {
        return;
    }
    let sx = crop.width as f32 / shape.width as f32;
    let sy = crop.height as f32 / shape.height as f32;
    // Pixel centres of the output map onto pixel centres of the crop.
    let mapping = move |x: f32, y: f32| ((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5);
    let (w, h) = (shape.width as u32, shape.height as u32);
    let (left, top) = (crop.left as u32, crop.top as u32);
    let (cw, ch) = (crop.width as u32, crop.height as u32);
    if shape.channels == 3 {
        map_rgb(image, shape, |rgb| {
            let cut = image::imageops::crop_imm(rgb, left, top, cw, ch).to_image();
            let mut out = RgbImage::new(w, h);
            warp_into_with(
                &cut,
                mapping,
                Interpolation::Bilinear,
                Border::Replicate,
                &mut out,
            );
            out
        });
    } else {
        map_planes(image, shape, |plane| {
            let cut = image::imageops::crop_imm(plane, left, top, cw, ch).to_image();
            let mut out = GrayImage::new(w, h);
            warp_into_with(
                &cut,
                mapping,
                Interpolation::Bilinear,
                Border::Replicate,
                &mut out,
            );
            out
        });
    }
}

/// Shifts the image by whole pixels (what padding and cropping back at an offset amounts to);
/// the uncovered border is filled as `fill` says.
pub fn shift(image: &mut [u8], shape: ImageShape, dx: i32, dy: i32, fill: FillMode, value: u8) {
    if dx == 0 && dy == 0 {
        return;
    }
    map_planes(image, shape, |plane| {
        translate(plane, (dx, dy), border(fill, value))
    });
}

/// One draw of colour jitter: a factor per adjustment (`None`: not adjusted) and their order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterParams {
    /// Brightness factor (multiplies every pixel).
    pub brightness: Option<f32>,
    /// Contrast factor (blends with the mean grey level).
    pub contrast: Option<f32>,
    /// Saturation factor (blends with the pixel's grey level); RGB only.
    pub saturation: Option<f32>,
    /// Hue shift as a fraction of the colour circle; RGB only.
    pub hue: Option<f32>,
    /// Order of the four adjustments: 0 brightness, 1 contrast, 2 saturation, 3 hue.
    pub order: [u8; 4],
}

/// Applies colour jitter. Works in `f32` and rounds once at the end.
pub fn color_jitter(image: &mut [u8], shape: ImageShape, params: &JitterParams) {
    let plane = shape.plane();
    let rgb = shape.channels == 3;
    let effective = |f: Option<f32>| f.filter(|&f| f != 1.0);
    let brightness = effective(params.brightness);
    let contrast = effective(params.contrast);
    let saturation = effective(params.saturation).filter(|_| rgb);
    let hue = params.hue.filter(|&h| h != 0.0 && rgb);
    if brightness.is_none() && contrast.is_none() && saturation.is_none() && hue.is_none() {
        return;
    }
    let mut px: Vec<f32> = image.iter().map(|&p| f32::from(p)).collect();
    let gray = |px: &[f32], i: usize| -> f32 {
        if rgb {
            LUMA[0] * px[i] + LUMA[1] * px[plane + i] + LUMA[2] * px[2 * plane + i]
        } else {
            px[i]
        }
    };
    for step in params.order {
        match step {
            0 => {
                if let Some(b) = brightness {
                    px.iter_mut().for_each(|p| *p = (*p * b).clamp(0.0, 255.0));
                }
            }
            1 => {
                if let Some(c) = contrast {
                    let mean = (0..plane).map(|i| gray(&px, i)).sum::<f32>() / plane.max(1) as f32;
                    px.iter_mut()
                        .for_each(|p| *p = (c * *p + (1.0 - c) * mean).clamp(0.0, 255.0));
                }
            }
            2 => {
                if let Some(s) = saturation {
                    for i in 0..plane {
                        let g = gray(&px, i);
                        for ch in 0..3 {
                            let p = &mut px[ch * plane + i];
                            *p = (s * *p + (1.0 - s) * g).clamp(0.0, 255.0);
                        }
                    }
                }
            }
            _ => {
                if let Some(h) = hue {
                    for i in 0..plane {
                        let (r, g, b) = (px[i], px[plane + i], px[2 * plane + i]);
                        let (hh, s, v) = rgb_to_hsv(r / 255.0, g / 255.0, b / 255.0);
                        let (r, g, b) = hsv_to_rgb((hh + h).rem_euclid(1.0), s, v);
                        px[i] = r * 255.0;
                        px[plane + i] = g * 255.0;
                        px[2 * plane + i] = b * 255.0;
                    }
                }
            }
        }
    }
    for (out, p) in image.iter_mut().zip(px) {
        *out = p.round().clamp(0.0, 255.0) as u8;
    }
}

/// Hue (0..1), saturation and value of an RGB colour in 0..1.
fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    let s = if max > 0.0 { delta / max } else { 0.0 };
    let h = if delta == 0.0 {
        0.0
    } else if max == r {
        ((g - b) / delta).rem_euclid(6.0) / 6.0
    } else if max == g {
        ((b - r) / delta + 2.0) / 6.0
    } else {
        ((r - g) / delta + 4.0) / 6.0
    };
    (h, s, max)
}

/// RGB in 0..1 of a hue (0..1), saturation and value.
fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = (h * 6.0).rem_euclid(6.0);
    let sector = h6.floor();
    let f = h6 - sector;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match sector as u8 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Replaces an RGB image's colours with their grey level (kept in three channels); a grayscale
/// image is already grey.
pub fn grayscale(image: &mut [u8], shape: ImageShape) {
    if shape.channels != 3 {
        return;
    }
    let plane = shape.plane();
    for i in 0..plane {
        let g = LUMA[0] * f32::from(image[i])
            + LUMA[1] * f32::from(image[plane + i])
            + LUMA[2] * f32::from(image[2 * plane + i]);
        let g = g.round().clamp(0.0, 255.0) as u8;
        image[i] = g;
        image[plane + i] = g;
        image[2 * plane + i] = g;
    }
}

/// Gaussian blur with standard deviation `sigma` pixels (edges extended).
pub fn blur(image: &mut [u8], shape: ImageShape, sigma: f32) {
    if !(sigma > 0.0 && sigma.is_finite()) {
        return;
    }
    map_planes(image, shape, |plane| {
        imageproc::filter::gaussian_blur_f32(plane, sigma)
    });
}

/// Adds Gaussian noise of standard deviation `sigma` (a fraction of the pixel range) to every
/// pixel, independently per channel; `seed` makes it reproducible.
pub fn noise(image: &mut [u8], shape: ImageShape, sigma: f32, seed: u64) {
    if !(sigma > 0.0 && sigma.is_finite()) {
        return;
    }
    let stddev = f64::from(sigma) * 255.0;
    let mut channel = 0u64;
    map_planes(image, shape, |plane| {
        channel += 1;
        let seed = seed.wrapping_add(channel.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        imageproc::noise::gaussian_noise(plane, 0.0, stddev, seed)
    });
}

/// What random erasing writes into its rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraseFill {
    /// One grey level.
    Value(u8),
    /// Random grey levels drawn from this seed.
    Random(u64),
}

/// Overwrites `rect` (in every channel).
pub fn erase(image: &mut [u8], shape: ImageShape, rect: Rect, fill: EraseFill) {
    let right = (rect.left + rect.width).min(shape.width);
    let bottom = (rect.top + rect.height).min(shape.height);
    if rect.left >= right || rect.top >= bottom {
        return;
    }
    let mut random = match fill {
        EraseFill::Random(seed) => Some(Xoshiro256PlusPlus::seed_from_u64(seed)),
        EraseFill::Value(_) => None,
    };
    for plane in image.chunks_exact_mut(shape.plane().max(1)) {
        for row in plane
            .chunks_exact_mut(shape.width.max(1))
            .take(bottom)
            .skip(rect.top)
        {
            let span = &mut row[rect.left..right];
            match (&mut random, fill) {
                (Some(rng), _) => rng.fill_bytes(span),
                (None, EraseFill::Value(v)) => span.fill(v),
                (None, EraseFill::Random(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(channels: usize, height: usize, width: usize) -> ImageShape {
        ImageShape {
            channels,
            height,
            width,
        }
    }

    fn ramp(s: ImageShape) -> Vec<u8> {
        (0..s.len()).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn flips_mirror_and_twice_is_identity() {
        let s = shape(1, 2, 3);
        let mut img = vec![1, 2, 3, 4, 5, 6];
        flip_horizontal(&mut img, s);
        assert_eq!(img, vec![3, 2, 1, 6, 5, 4]);
        flip_vertical(&mut img, s);
        assert_eq!(img, vec![6, 5, 4, 3, 2, 1]);
        let s = shape(3, 5, 4);
        let original = ramp(s);
        let mut img = original.clone();
        flip_horizontal(&mut img, s);
        assert_ne!(img, original);
        flip_horizontal(&mut img, s);
        assert_eq!(img, original);
    }

    #[test]
    fn identity_affine_is_exact_and_integer_shift_moves_pixels() {
        let s = shape(1, 6, 6);
        let original = ramp(s);
        let mut img = original.clone();
        let identity = AffineParams {
            angle_deg: 0.0,
            translate_px: [0.0, 0.0],
            scale: 1.0,
            shear_deg: [0.0, 0.0],
        };
        assert_eq!(identity.matrix(s), IDENTITY);
        affine(&mut img, s, &identity, FillMode::Constant, 9);
        assert_eq!(img, original);
        let shifted = AffineParams {
            translate_px: [1.0, 2.0],
            ..identity
        };
        affine(&mut img, s, &shifted, FillMode::Constant, 9);
        for y in 0..6 {
            for x in 0..6 {
                let expected = if x >= 1 && y >= 2 {
                    original[(y - 2) * 6 + x - 1]
                } else {
                    9
                };
                assert_eq!(img[y * 6 + x], expected, "({x}, {y})");
            }
        }
    }

    #[test]
    fn a_quarter_turn_rotates_counter_clockwise() {
        let s = shape(1, 3, 3);
        // A bright pixel on the right edge, middle row.
        let mut img = vec![0, 0, 0, 0, 0, 200, 0, 0, 0];
        let quarter = AffineParams {
            angle_deg: 90.0,
            translate_px: [0.0, 0.0],
            scale: 1.0,
            shear_deg: [0.0, 0.0],
        };
        affine(&mut img, s, &quarter, FillMode::Constant, 0);
        // Counter-clockwise on screen: right goes to top.
        assert!(img[1] >= 199, "{img:?}");
        assert_eq!(img.iter().filter(|&&p| p > 100).count(), 1, "{img:?}");
    }

    #[test]
    fn rgb_warps_match_warping_each_channel() {
        let s = shape(3, 7, 9);
        let original = ramp(s);
        let params = AffineParams {
            angle_deg: 17.0,
            translate_px: [1.0, -2.0],
            scale: 0.9,
            shear_deg: [5.0, 0.0],
        };
        let mut together = original.clone();
        affine(&mut together, s, &params, FillMode::Constant, 30);
        let one = shape(1, 7, 9);
        for (c, plane) in original.chunks(s.plane()).enumerate() {
            let mut alone = plane.to_vec();
            affine(&mut alone, one, &params, FillMode::Constant, 30);
            assert_eq!(alone, together[c * s.plane()..(c + 1) * s.plane()]);
        }
        let crop = Rect {
            left: 2,
            top: 1,
            width: 5,
            height: 4,
        };
        let mut together = original.clone();
        resized_crop(&mut together, s, crop);
        for (c, plane) in original.chunks(s.plane()).enumerate() {
            let mut alone = plane.to_vec();
            resized_crop(&mut alone, one, crop);
            assert_eq!(alone, together[c * s.plane()..(c + 1) * s.plane()]);
        }
    }

    #[test]
    fn shift_fills_and_edge_mode_replicates() {
        let s = shape(1, 1, 4);
        let mut img = vec![10, 20, 30, 40];
        shift(&mut img, s, 1, 0, FillMode::Constant, 0);
        assert_eq!(img, vec![0, 10, 20, 30]);
        let mut img = vec![10, 20, 30, 40];
        shift(&mut img, s, -2, 0, FillMode::Edge, 0);
        assert_eq!(img, vec![30, 40, 40, 40]);
    }

    #[test]
    fn full_crop_is_identity_and_half_crop_zooms() {
        let s = shape(1, 4, 4);
        let original = ramp(s);
        let mut img = original.clone();
        resized_crop(&mut img, s, Rect::full(s));
        assert_eq!(img, original);
        let mut flat = vec![0u8; 16];
        flat[..8].fill(100);
        // The top half, stretched, fills everything.
        resized_crop(
            &mut flat,
            s,
            Rect {
                left: 0,
                top: 0,
                width: 4,
                height: 2,
            },
        );
        assert!(flat.iter().all(|&p| p == 100), "{flat:?}");
    }

    #[test]
    fn colour_jitter_with_unit_factors_is_identity_and_brightness_scales() {
        let s = shape(3, 4, 4);
        let original = ramp(s);
        let mut img = original.clone();
        let unit = JitterParams {
            brightness: Some(1.0),
            contrast: Some(1.0),
            saturation: Some(1.0),
            hue: Some(0.0),
            order: [0, 1, 2, 3],
        };
        color_jitter(&mut img, s, &unit);
        assert_eq!(img, original);
        let darker = JitterParams {
            brightness: Some(0.5),
            ..unit
        };
        color_jitter(&mut img, s, &darker);
        for (a, b) in img.iter().zip(&original) {
            assert_eq!(*a, (f32::from(*b) * 0.5).round() as u8);
        }
    }

    #[test]
    fn hue_round_trip_and_full_turn_keep_colours() {
        for (r, g, b) in [
            (0.2, 0.5, 0.9),
            (1.0, 0.0, 0.0),
            (0.3, 0.3, 0.3),
            (0.9, 0.8, 0.1),
        ] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let (r2, g2, b2) = hsv_to_rgb(h, s, v);
            assert!((r - r2).abs() < 1e-5 && (g - g2).abs() < 1e-5 && (b - b2).abs() < 1e-5);
        }
        let s = shape(3, 2, 2);
        let original: Vec<u8> = vec![200, 10, 30, 90, 20, 200, 60, 40, 10, 250, 120, 5];
        let mut img = original.clone();
        let jitter = |hue| JitterParams {
            brightness: None,
            contrast: None,
            saturation: None,
            hue: Some(hue),
            order: [3, 2, 1, 0],
        };
        color_jitter(&mut img, s, &jitter(0.25));
        assert_ne!(img, original);
        color_jitter(&mut img, s, &jitter(-0.25));
        for (a, b) in img.iter().zip(&original) {
            assert!(a.abs_diff(*b) <= 2, "{img:?} vs {original:?}");
        }
    }

    #[test]
    fn grayscale_uses_luma_weights_and_leaves_gray_images() {
        let s = shape(3, 1, 1);
        let mut img = vec![255, 0, 0];
        grayscale(&mut img, s);
        assert_eq!(img, vec![76, 76, 76]);
        let g = shape(1, 2, 2);
        let mut img = vec![1, 2, 3, 4];
        grayscale(&mut img, g);
        assert_eq!(img, vec![1, 2, 3, 4]);
    }

    #[test]
    fn blur_smooths_noise_adds_and_erase_writes_the_rectangle() {
        let s = shape(1, 8, 8);
        let mut img = vec![0u8; 64];
        img[27] = 255;
        blur(&mut img, s, 1.0);
        assert!(img[27] < 255 && img[28] > 0, "{img:?}");
        let flat = vec![128u8; 64];
        let mut noisy = flat.clone();
        noise(&mut noisy, s, 0.1, 7);
        assert_ne!(noisy, flat);
        let mut again = flat.clone();
        noise(&mut again, s, 0.1, 7);
        assert_eq!(noisy, again, "the seed fixes the noise");
        let mut img = vec![1u8; 64];
        let rect = Rect {
            left: 2,
            top: 3,
            width: 3,
            height: 2,
        };
        erase(&mut img, s, rect, EraseFill::Value(9));
        assert_eq!(img.iter().filter(|&&p| p == 9).count(), 6);
        assert_eq!(img[3 * 8 + 2], 9);
        assert_eq!(img[5 * 8 + 2], 1);
    }
}
