//! Cached backbone features: a frozen backbone runs once per image, the classifier trains on
//! what it gave.
//!
//! [`crate::experiment::feature_cache::plan`] decides from the configuration whether a run may
//! cache (a fully frozen ResNet backbone, nothing random before it); [`prepare`] adds the
//! memory check and records the outcome in `run.json`. The cache fills while the first epoch
//! trains: a step whose images have no features yet runs the backbone on exactly the batch the
//! un-cached step would (so the first epoch shows its progress as usual and costs what an
//! un-cached epoch costs), stores each image's features, and applies the classifier to them;
//! later steps only gather features and run the classifier. Validation fills its features the
//! same way in its first pass, in the same batches as [`super::engine`]'s evaluation.
//!
//! The results are the same, bit for bit, as running the backbone every step: the kernels
//! compute each image on its own and the frozen BatchNorm layers use their running statistics,
//! so an image's features do not depend on its batch, and the classifier then sees the same
//! values in the same batches.
//!
//! With augmentation on and `cache_views` K > 0, each training image has K fixed augmented
//! views (view v is the augmentation the pipeline draws for epoch v + 1), each computed the
//! first time an epoch picks it; epoch e picks view `hash(seed, e, image) mod K` of each image.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::prelude::*;

use super::engine::{EVAL_BATCH, Evaluated, score_batch, summarize};
use crate::augment::AugmentConfig;
use crate::augment::batch::{BatchKey, PixelNorm, prepare_batch, prepare_eval};
use crate::augment::crop::CropConfig;
use crate::data::{Dataset, Split, Subset};
use crate::experiment::ExperimentConfig;
use crate::experiment::feature_cache::{CachePlan, FeatureCacheRecord, plan};
use crate::experiment::record::RunRecorder;
use crate::model::{InputShape, Model};

/// Features of a run's training and validation images, filled as they are first needed.
pub(crate) struct FeatureCache {
    /// Values per image.
    len: usize,
    /// Augmented views per training image (0: the images as they are, one slot each).
    views: usize,
    seed: u64,
    augment: AugmentConfig,
    norm: PixelNorm,
    /// `slots · len` values: slot `position · max(views, 1) + view`.
    train: Vec<f32>,
    train_filled: Vec<bool>,
    /// `val samples · len` values, in validation order.
    val: Vec<f32>,
    val_filled: bool,
}

/// The memory the cache may take: half of what the machine has free (1 GiB where that is
/// unknown).
pub(crate) fn memory_budget() -> u64 {
    crate::model::summary::available_memory().map_or(1 << 30, |free| free / 2)
}

/// The cache for a run about to train, or `None` (recomputing every step) with the reason in
/// `run.json`.
pub(crate) fn prepare(
    config: &ExperimentConfig,
    data: &Dataset,
    split: &Split,
    recorder: Option<&mut RunRecorder>,
) -> Option<FeatureCache> {
    let (cache, record) = FeatureCache::new(config, data, split, memory_budget());
    if let Some(recorder) = recorder {
        // A failed write shows up with the next epoch's record.
        recorder.set_feature_cache(record).ok();
    }
    cache
}

/// `n` as mebibytes, one decimal.
fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

/// A 64-bit mix of a few numbers (SplitMix64's finaliser over each in turn).
fn hash(parts: &[u64]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    for &p in parts {
        h ^= p.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(h << 6);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    h
}

/// The view of dataset image `index` that epoch `epoch` trains on, out of `views`.
pub(crate) fn view_of(seed: u64, epoch: usize, index: u32, views: usize) -> usize {
    let views = views.max(1) as u64;
    (hash(&[seed, epoch as u64, u64::from(index)]) % views) as usize
}

impl FeatureCache {
    /// The cache `config` allows within `budget` bytes, and what `run.json` records about it.
    pub(crate) fn new(
        config: &ExperimentConfig,
        data: &Dataset,
        split: &Split,
        budget: u64,
    ) -> (Option<Self>, FeatureCacheRecord) {
        let not = |reason: String| {
            (
                None,
                FeatureCacheRecord {
                    cached: false,
                    views: 0,
                    bytes: 0,
                    reason: Some(reason),
                },
            )
        };
        let views = match plan(config) {
            CachePlan::Cached { views } => views,
            CachePlan::Recomputed(reason) => return not(reason),
        };
        if data.on_disk() {
            return not(
                "the images are read from disk per sample (a file may fail mid-run)".to_owned(),
            );
        }
        let input = InputShape::for_split(data, split);
        let network = match config.transfer.adaptation(&config.model, input) {
            Ok(adaptation) => adaptation.network,
            Err(e) => return not(e.to_string()),
        };
        let Some(len) = config.model.feature_len(network) else {
            return not(format!(
                "{} has no separate classifier",
                config.model.label()
            ));
        };
        let slots = split.train.len() * views.max(1);
        let values = (slots + split.val.len()) as u64 * len as u64;
        let bytes = values.saturating_mul(4);
        if bytes > budget {
            return not(format!(
                "the cache would take {} ({} images × {len} features), over its budget of {} \
                 (half the free memory)",
                mib(bytes),
                slots + split.val.len(),
                mib(budget)
            ));
        }
        let cache = Self {
            len,
            views,
            seed: config.seed,
            augment: config.augment.clone(),
            norm: PixelNorm::new(&split.norm),
            train: vec![0.0; slots * len],
            train_filled: vec![false; slots],
            val: vec![0.0; split.val.len() * len],
            val_filled: false,
        };
        let record = FeatureCacheRecord {
            cached: true,
            views,
            bytes,
            reason: None,
        };
        (Some(cache), record)
    }

    /// The slot of training position `position` (dataset image `index`) in epoch `epoch`.
    fn slot(&self, position: u32, index: u32, epoch: usize) -> (usize, usize) {
        let view = if self.views == 0 {
            0
        } else {
            view_of(self.seed, epoch, index, self.views)
        };
        (position as usize * self.views.max(1) + view, view)
    }

    /// Logits of one training step: the classifier on the cached features of the training
    /// `positions` (the epoch's batch), filling any that are missing. `images` is the batch as
    /// the un-cached step would get it; without views it is what the backbone runs on.
    pub(crate) fn train_logits(
        &mut self,
        model: &Model,
        data: &Dataset,
        subset: &Subset,
        epoch: usize,
        positions: &[u32],
        images: Tensor<4>,
    ) -> Result<Tensor<2>, String> {
        let device = images.device();
        let slots: Vec<(usize, usize)> = positions
            .iter()
            .map(|&p| self.slot(p, subset.indices[p as usize], epoch))
            .collect();
        let missing: Vec<usize> = (0..positions.len())
            .filter(|&i| !self.train_filled[slots[i].0])
            .collect();
        if !missing.is_empty() {
            if self.views == 0 {
                // The whole batch, as the un-cached step runs it.
                let features = features_of(model, images)?;
                for (i, &(slot, _)) in slots.iter().enumerate() {
                    self.store_train(slot, &features[i * self.len..][..self.len]);
                }
            } else {
                let shape = [missing.len(), data.channels, data.height, data.width];
                let mut pixels = Vec::with_capacity(shape.iter().product());
                for &i in &missing {
                    let key = BatchKey {
                        seed: self.seed,
                        epoch: slots[i].1 as u64 + 1,
                        batch: 0,
                    };
                    let index = subset.indices[positions[i] as usize];
                    let view = prepare_batch(
                        &self.augment,
                        &CropConfig::default(),
                        data,
                        subset.part,
                        &[index],
                        &self.norm,
                        key,
                        false,
                    );
                    pixels.extend(view.pixels);
                }
                let views = Tensor::<4>::from_data(TensorData::new(pixels, shape), &device);
                let features = features_of(model, views)?;
                for (k, &i) in missing.iter().enumerate() {
                    self.store_train(slots[i].0, &features[k * self.len..][..self.len]);
                }
            }
        }
        let mut gathered = Vec::with_capacity(positions.len() * self.len);
        for &(slot, _) in &slots {
            gathered.extend_from_slice(&self.train[slot * self.len..][..self.len]);
        }
        let features = Tensor::<2>::from_data(
            TensorData::new(gathered, [positions.len(), self.len]),
            &device,
        );
        Ok(model.head_forward(features))
    }

    fn store_train(&mut self, slot: usize, values: &[f32]) {
        self.train[slot * self.len..][..self.len].copy_from_slice(values);
        self.train_filled[slot] = true;
    }

    /// Validation loss, accuracy and predictions as the engine's evaluation computes them (the
    /// same batches, the same scoring), with the classifier on cached features; the first call
    /// runs the backbone and fills them. `None` if stopped meanwhile.
    pub(crate) fn evaluate(
        &mut self,
        model: &Model,
        data: &Dataset,
        subset: &Subset,
        norm: &PixelNorm,
        device: &Device,
        stop: &AtomicBool,
    ) -> Option<Evaluated> {
        let model = model.valid();
        let positions: Vec<u32> = (0..subset.len() as u32).collect();
        let mut predictions = Vec::with_capacity(subset.len());
        for batch in positions.chunks(EVAL_BATCH) {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            let first = batch.first().map_or(0, |&p| p as usize) * self.len;
            let range = first..first + batch.len() * self.len;
            if !self.val_filled {
                // Whole images (a run with crops is never cached), as the engine's evaluation
                // prepares them.
                let indices: Vec<u32> = batch.iter().map(|&p| subset.indices[p as usize]).collect();
                let inputs =
                    prepare_eval(&CropConfig::default(), data, subset.part, &indices, norm);
                let s = inputs.shape;
                let images = Tensor::<4>::from_data(
                    TensorData::new(inputs.pixels, [batch.len(), s.channels, s.height, s.width]),
                    device,
                );
                match features_of(&model, images) {
                    Ok(values) => self.val[range.clone()].copy_from_slice(&values),
                    Err(e) => return Some(Err(e)),
                }
            }
            let features = Tensor::<2>::from_data(
                TensorData::new(self.val[range].to_vec(), [batch.len(), self.len]),
                device,
            );
            let logits = match model
                .head_forward(features)
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
            {
                Ok(values) => values,
                Err(e) => return Some(Err(format!("cannot read the model's outputs: {e:?}"))),
            };
            score_batch(subset, batch, &logits, &mut predictions);
        }
        self.val_filled = true;
        Some(Ok(summarize(predictions)))
    }
}

/// The backbone's features of `images`, read back (`[batch · len]` values).
fn features_of(model: &Model, images: Tensor<4>) -> Result<Vec<f32>, String> {
    let features = model
        .forward_features(images)
        .ok_or_else(|| "this model has no separate backbone to cache".to_owned())?;
    features
        .detach()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| format!("cannot read the backbone's features: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DatasetSource, ShapesConfig};
    use crate::model::{Freeze, ModelConfig, ResNet18Config};

    fn frozen_shapes() -> ExperimentConfig {
        let mut config = ExperimentConfig::for_source(DatasetSource::Shapes(ShapesConfig {
            classes: 3,
            train_samples: 30,
            test_samples: 12,
            size: 32,
            ..ShapesConfig::default()
        }));
        config.model = ModelConfig::ResNet18(ResNet18Config { width: 4 });
        config.transfer.freeze = Freeze::Backbone;
        config
    }

    #[test]
    fn a_cache_over_its_budget_is_refused_with_its_size() {
        let config = frozen_shapes();
        let (data, split) = crate::data::prepare(&config.dataset, config.seed).unwrap();
        // 32 features (the last stage of a 4-wide ResNet-18) per image.
        let images = split.train.len() + split.val.len();
        let needed = images as u64 * 32 * 4;
        let (cache, record) = FeatureCache::new(&config, &data, &split, needed);
        assert!(cache.is_some() && record.cached);
        assert_eq!(record.bytes, needed);
        let (cache, record) = FeatureCache::new(&config, &data, &split, needed - 1);
        assert!(cache.is_none() && !record.cached);
        let reason = record.reason.unwrap();
        assert!(
            reason.contains("budget") && reason.contains(&format!("{images} images × 32 features")),
            "{reason}"
        );
    }

    #[test]
    fn an_images_features_do_not_depend_on_its_batch() {
        // On the training device, as the un-cached step runs the frozen backbone.
        let config = frozen_shapes();
        let device = Device::flex().autodiff();
        let input = InputShape {
            channels: 3,
            height: 32,
            width: 32,
            classes: 3,
        };
        let model = config
            .transfer
            .build(&config.model, input, &device, 7)
            .unwrap();
        let images = Tensor::<4>::random(
            [7, 3, 32, 32],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let all = features_of(&model, images.clone()).unwrap();
        let len = all.len() / 7;
        for i in 0..7 {
            let alone = features_of(&model, images.clone().narrow(0, i, 1)).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&alone), bits(&all[i * len..][..len]), "image {i}");
        }
        let pair = features_of(&model, images.narrow(0, 2, 2)).unwrap();
        assert_eq!(pair, all[2 * len..4 * len]);
        // The same on the device without autodiff (validation), in inference mode.
        let valid = model.valid();
        let inner = Device::flex();
        let again = Tensor::<4>::from_data(
            Tensor::<4>::random(
                [3, 3, 32, 32],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &inner,
            )
            .into_data(),
            &inner,
        );
        let three = features_of(&valid, again.clone()).unwrap();
        let first = features_of(&valid, again.narrow(0, 0, 1)).unwrap();
        assert_eq!(first, three[..len]);
    }

    #[test]
    fn each_epoch_picks_a_view_per_image_from_the_seed() {
        let picks = |seed: u64, epoch: usize| -> Vec<usize> {
            (0..200).map(|i| view_of(seed, epoch, i, 4)).collect()
        };
        assert_eq!(picks(1, 3), picks(1, 3));
        assert_ne!(picks(1, 3), picks(1, 4));
        assert_ne!(picks(1, 3), picks(2, 3));
        for view in 0..4 {
            assert!(picks(1, 3).contains(&view), "view {view} is used");
        }
    }
}
