//! Turning stored `u8` images into normalised tensors, one batch at a time.

use burn::prelude::*;

use super::{ChannelNorm, Dataset, Part, Subset};

/// A lookup table from `u8` pixel to normalised `f32`, one per channel: normalising a batch is
/// then one table read per pixel.
#[derive(Debug, Clone)]
pub struct Normalizer {
    tables: Vec<[f32; 256]>,
}

impl Normalizer {
    /// Builds the tables for a normalisation.
    pub fn new(norm: &ChannelNorm) -> Self {
        let tables = norm
            .mean
            .iter()
            .zip(&norm.std)
            .map(|(&mean, &std)| std::array::from_fn(|p| (p as f32 - mean) / std))
            .collect();
        Self { tables }
    }

    /// Appends the normalised pixels of the given images (CHW each) to `out`.
    pub fn extend(&self, data: &Dataset, part: Part, indices: &[u32], out: &mut Vec<f32>) {
        let plane = data.width * data.height;
        out.reserve(indices.len() * data.image_len());
        for &i in indices {
            self.extend_image(&data.image(part, i as usize), plane, out);
        }
    }

    /// Appends the normalised pixels of one CHW image of `plane` pixels per channel to `out`.
    pub fn extend_image(&self, image: &[u8], plane: usize, out: &mut Vec<f32>) {
        for (channel, table) in image.chunks_exact(plane.max(1)).zip(&self.tables) {
            out.extend(channel.iter().map(|&p| table[usize::from(p)]));
        }
    }
}

/// A batch of images `[n, c, h, w]` and their labels `[n]`, on `device`: the samples at
/// `positions` of `subset` (positions index the subset, so its labels, label noise included,
/// come along).
pub fn make_batch(
    data: &Dataset,
    subset: &Subset,
    positions: &[u32],
    normalizer: &Normalizer,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let indices: Vec<u32> = positions
        .iter()
        .map(|&p| subset.indices[p as usize])
        .collect();
    let mut pixels = Vec::new();
    normalizer.extend(data, subset.part, &indices, &mut pixels);
    let shape = [indices.len(), data.channels, data.height, data.width];
    let images = Tensor::<4>::from_data(TensorData::new(pixels, shape), device);
    let labels: Vec<i64> = positions
        .iter()
        .map(|&p| i64::from(subset.labels[p as usize]))
        .collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [positions.len()]), device);
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DatasetSource, InputFormat, load};

    #[test]
    fn normalisation_maps_mean_to_zero_and_keeps_layout() {
        let norm = ChannelNorm {
            mean: vec![100.0],
            std: vec![50.0],
        };
        let n = Normalizer::new(&norm);
        let data = load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
        let mut out = Vec::new();
        n.extend(&data, Part::Train, &[3, 0], &mut out);
        assert_eq!(out.len(), 2 * 784);
        let first = data.image(Part::Train, 3);
        for (k, &p) in first.iter().enumerate() {
            assert!((out[k] - (f32::from(p) - 100.0) / 50.0).abs() < 1e-6);
        }
        assert_eq!(n.tables[0][100], 0.0);
    }
}
