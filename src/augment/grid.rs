//! The preview grid: rows are dataset samples, the first column their original, the others
//! independent draws (column k is what a run with this seed gives the sample in epoch k).
//! The panel shows it and `cnn-workbench augment` writes it as a PNG: both render it here.

use image::{Rgb, RgbImage};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::index;

use super::batch::{BatchKey, PixelNorm, prepare_batch};
use super::crop::{self, CropConfig};
use super::ops::Rect;
use super::pipeline::Applied;
use super::{AugmentConfig, AugmentError, ImageShape};
use crate::data::{Dataset, Part};

/// Batch number used for the preview's batch-level draws (never a real training batch).
const PREVIEW_BATCH: u64 = u64::MAX;
/// Background between cells.
const GAP_COLOUR: Rgb<u8> = Rgb([48, 48, 56]);

/// What to show: which configuration, samples and epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct GridRequest {
    /// The pipeline.
    pub config: AugmentConfig,
    /// How inputs are cut from the stored images.
    pub crop: CropConfig,
    /// Training-set indices of the rows.
    pub samples: Vec<u32>,
    /// The epoch of each draw column.
    pub epochs: Vec<u64>,
    /// The run seed.
    pub seed: u64,
}

/// One augmented image of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The image, CHW.
    pub pixels: Vec<u8>,
    /// What was done to it.
    pub applied: Vec<Applied>,
    /// How it was mixed with another row, if it was.
    pub mixed: Option<String>,
}

/// A computed preview.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewGrid {
    /// What was asked for.
    pub request: GridRequest,
    /// Shape of the network's input (the draws and the originals).
    pub shape: ImageShape,
    /// The originals, one per row (whole images, resized to the input when cropping).
    pub originals: Vec<Vec<u8>>,
    /// Draws, row-major: `cells[row * columns + column]`.
    pub cells: Vec<Cell>,
}

impl PreviewGrid {
    /// Rows (samples).
    pub fn rows(&self) -> usize {
        self.request.samples.len()
    }

    /// Draw columns (the original column not counted).
    pub fn columns(&self) -> usize {
        self.request.epochs.len()
    }

    /// The draw at (row, column).
    pub fn cell(&self, row: usize, column: usize) -> Option<&Cell> {
        self.cells.get(row * self.columns() + column)
    }
}

/// Computes the grid. Each column runs the training batch function on the rows as one batch,
/// with identity normalisation, so per-image operations and mixing look exactly as in training.
pub fn compute(request: &GridRequest, data: &Dataset) -> PreviewGrid {
    let stored = ImageShape::of(data);
    let shape = request.crop.input_shape(stored);
    let samples: Vec<u32> = request
        .samples
        .iter()
        .copied()
        .filter(|&i| (i as usize) < data.train.len())
        .collect();
    let norm = PixelNorm::identity(shape.channels);
    let originals = samples
        .iter()
        .map(|&i| {
            let image = data.image(Part::Train, i as usize);
            if shape == stored {
                image.to_vec()
            } else {
                crop::cut(&image, stored, Rect::full(stored), shape)
            }
        })
        .collect();
    let mut columns = Vec::with_capacity(request.epochs.len());
    for &epoch in &request.epochs {
        let key = BatchKey {
            seed: request.seed,
            epoch,
            batch: PREVIEW_BATCH,
        };
        let batch = prepare_batch(
            &request.config,
            &request.crop,
            data,
            Part::Train,
            &samples,
            &norm,
            key,
            true,
        );
        let images = norm.to_u8(&batch.pixels, shape.plane());
        let mixed = batch.mixing.as_ref().map(|m| (m.to_string(), &m.partner));
        let cells: Vec<Cell> = images
            .chunks_exact(shape.len().max(1))
            .zip(batch.applied)
            .enumerate()
            .map(|(row, (pixels, applied))| Cell {
                pixels: pixels.to_vec(),
                applied,
                mixed: mixed
                    .as_ref()
                    .map(|(what, partner)| format!("{what} with row {}", partner[row] + 1)),
            })
            .collect();
        columns.push(cells);
    }
    let mut cells = Vec::with_capacity(samples.len() * columns.len());
    for row in 0..samples.len() {
        for column in &columns {
            if let Some(cell) = column.get(row) {
                cells.push(cell.clone());
            }
        }
    }
    PreviewGrid {
        request: GridRequest {
            samples,
            ..request.clone()
        },
        shape,
        originals,
        cells,
    }
}

/// `count` distinct training indices drawn with `seed` (all of them if there are fewer).
pub fn random_samples(data: &Dataset, count: usize, seed: u64) -> Vec<u32> {
    let n = data.train.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x0A06_0E1D);
    index::sample(&mut rng, n, count.min(n))
        .into_iter()
        .map(|i| i as u32)
        .collect()
}

/// Where the cells of a rendered grid are: sizes in pixels of the rendered image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    /// Cell size (image size × zoom).
    pub cell: [usize; 2],
    /// Gap between cells.
    pub gap: usize,
    /// Extra gap after the originals column.
    pub divider: usize,
    /// Rows and draw columns.
    pub rows: usize,
    /// Draw columns (the original not counted).
    pub columns: usize,
}

impl Layout {
    /// The layout of a grid of `shape` images at an integer `zoom`.
    pub fn new(shape: ImageShape, rows: usize, columns: usize, zoom: usize) -> Self {
        let zoom = zoom.max(1);
        Self {
            cell: [shape.width * zoom, shape.height * zoom],
            gap: zoom.clamp(1, 4),
            divider: 2 * zoom.clamp(1, 4),
            rows,
            columns,
        }
    }

    /// Width and height of the whole image.
    pub fn size(&self) -> [usize; 2] {
        let cols = self.columns + 1;
        [
            self.gap + cols * (self.cell[0] + self.gap) + self.divider,
            self.gap + self.rows * (self.cell[1] + self.gap),
        ]
    }

    /// Top-left corner of the cell at (row, column), where column 0 is the original.
    pub fn origin(&self, row: usize, column: usize) -> [usize; 2] {
        let divider = if column > 0 { self.divider } else { 0 };
        [
            self.gap + column * (self.cell[0] + self.gap) + divider,
            self.gap + row * (self.cell[1] + self.gap),
        ]
    }

    /// The cell under a point of the rendered image: (row, column) with column 0 the original.
    pub fn hit(&self, x: f32, y: f32) -> Option<(usize, usize)> {
        (0..self.rows).find_map(|row| {
            (0..=self.columns).find_map(|column| {
                let [ox, oy] = self.origin(row, column);
                let inside = x >= ox as f32
                    && x < (ox + self.cell[0]) as f32
                    && y >= oy as f32
                    && y < (oy + self.cell[1]) as f32;
                inside.then_some((row, column))
            })
        })
    }
}

/// Renders the grid as an RGB image, each pixel repeated `zoom` times.
pub fn render(grid: &PreviewGrid, zoom: usize) -> (RgbImage, Layout) {
    let layout = Layout::new(grid.shape, grid.rows(), grid.columns(), zoom);
    let [w, h] = layout.size();
    let mut out = RgbImage::from_pixel(w as u32, h as u32, GAP_COLOUR);
    for (row, original) in grid.originals.iter().enumerate() {
        blit(&mut out, grid.shape, original, layout.origin(row, 0), zoom);
        for column in 0..grid.columns() {
            if let Some(cell) = grid.cell(row, column) {
                let origin = layout.origin(row, column + 1);
                blit(&mut out, grid.shape, &cell.pixels, origin, zoom);
            }
        }
    }
    (out, layout)
}

/// Renders images (CHW, concatenated) in rows of `per_row`, for the last training batch.
pub fn render_images(shape: ImageShape, images: &[u8], per_row: usize, zoom: usize) -> RgbImage {
    let count = images.len() / shape.len().max(1);
    let per_row = per_row.max(1);
    let rows = count.div_ceil(per_row);
    let zoom = zoom.max(1);
    let gap = zoom.clamp(1, 4);
    let (cw, ch) = (shape.width * zoom, shape.height * zoom);
    let w = gap + per_row.min(count.max(1)) * (cw + gap);
    let h = gap + rows.max(1) * (ch + gap);
    let mut out = RgbImage::from_pixel(w as u32, h as u32, GAP_COLOUR);
    for (k, image) in images.chunks_exact(shape.len().max(1)).enumerate() {
        let origin = [
            gap + (k % per_row) * (cw + gap),
            gap + (k / per_row) * (ch + gap),
        ];
        blit(&mut out, shape, image, origin, zoom);
    }
    out
}

/// Draws one CHW image at `origin`, scaled by `zoom` (nearest neighbour).
fn blit(out: &mut RgbImage, shape: ImageShape, pixels: &[u8], origin: [usize; 2], zoom: usize) {
    let plane = shape.plane();
    if pixels.len() < shape.len() {
        return;
    }
    for y in 0..shape.height * zoom {
        for x in 0..shape.width * zoom {
            let p = (y / zoom) * shape.width + x / zoom;
            let rgb = if shape.channels >= 3 {
                [pixels[p], pixels[plane + p], pixels[2 * plane + p]]
            } else {
                [pixels[p]; 3]
            };
            let (px, py) = ((origin[0] + x) as u32, (origin[1] + y) as u32);
            if px < out.width() && py < out.height() {
                out.put_pixel(px, py, Rgb(rgb));
            }
        }
    }
}

/// Encodes an image as PNG.
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, AugmentError> {
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| AugmentError::Invalid(format!("cannot encode the grid as PNG: {e}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Preset;
    use crate::data::{DatasetSource, load};

    fn request(config: AugmentConfig) -> GridRequest {
        GridRequest {
            config,
            crop: CropConfig::default(),
            samples: vec![0, 10, 20],
            epochs: vec![1, 2, 3, 4],
            seed: 42,
        }
    }

    #[test]
    fn grid_has_originals_and_reproducible_draws() {
        let data = load(
            &DatasetSource::Embedded,
            crate::data::InputFormat::default(),
        )
        .unwrap();
        let a = compute(&request(Preset::Seed2.config()), &data);
        assert_eq!((a.rows(), a.columns(), a.cells.len()), (3, 4, 12));
        assert_eq!(a.originals[1], &*data.image(Part::Train, 10));
        assert_eq!(a, compute(&request(Preset::Seed2.config()), &data));
        assert_ne!(a.cell(0, 0), a.cell(0, 1), "columns are independent draws");
        let none = compute(&request(AugmentConfig::default()), &data);
        for row in 0..3 {
            for column in 0..4 {
                assert_eq!(none.cell(row, column).unwrap().pixels, none.originals[row]);
            }
        }
    }

    #[test]
    fn the_preview_column_is_what_training_gives_that_epoch() {
        let data = load(
            &DatasetSource::Embedded,
            crate::data::InputFormat::default(),
        )
        .unwrap();
        let grid = compute(&request(Preset::Seed2.config()), &data);
        let norm = PixelNorm::identity(1);
        let key = BatchKey {
            seed: 42,
            epoch: 3,
            batch: 17,
        };
        let batch = prepare_batch(
            &Preset::Seed2.config(),
            &CropConfig::default(),
            &data,
            Part::Train,
            &[10],
            &norm,
            key,
            false,
        );
        assert_eq!(
            norm.to_u8(&batch.pixels, 784),
            grid.cell(1, 2).unwrap().pixels
        );
    }

    #[test]
    fn render_places_cells_and_hit_finds_them() {
        let data = load(
            &DatasetSource::Embedded,
            crate::data::InputFormat::default(),
        )
        .unwrap();
        let grid = compute(&request(Preset::Seed2.config()), &data);
        let (image, layout) = render(&grid, 2);
        assert_eq!(
            [image.width() as usize, image.height() as usize],
            layout.size()
        );
        let [x, y] = layout.origin(2, 3);
        assert_eq!(layout.hit(x as f32 + 1.0, y as f32 + 1.0), Some((2, 3)));
        assert_eq!(layout.hit(0.0, 0.0), None);
        let png = encode_png(&image).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
