//! Preparing training batches ahead of the training step, on named worker threads.
//!
//! One epoch's batches are split round-robin over a few `augment-prefetch` threads (batch `b` on
//! thread `b % n`), each feeding its own small bounded channel; the training loop takes batch
//! `b` from channel `b % n`, so the order is fixed and the result does not depend on timing.
//! While the model trains on one batch, the next ones are augmented and normalised. Dropping
//! the [`Prefetcher`] disconnects the channels and joins the threads: a blocked producer wakes
//! at once and a busy one finishes its batch (milliseconds), so Stop stays prompt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use crossbeam_channel::{Receiver, bounded};

use super::message::TrainingBatch;
use crate::augment::AugmentConfig;
use crate::augment::batch::{BatchKey, PixelNorm, PreparedBatch, prepare_batch};
use crate::augment::crop::CropConfig;
use crate::data::{Dataset, Subset};

/// Batches each thread may have ready ahead of the training step.
const DEPTH: usize = 2;
/// Most prefetching threads.
const MAX_THREADS: usize = 4;

/// One epoch of batches to prepare.
pub(crate) struct EpochJob {
    pub data: Arc<Dataset>,
    /// The training samples: dataset indices and the labels the model learns (remapped to the
    /// chosen classes, some replaced when label noise is on).
    pub subset: Arc<Subset>,
    /// The epoch's shuffled order, as positions in `subset`.
    pub order: Vec<u32>,
    pub batch_size: usize,
    pub augment: Arc<AugmentConfig>,
    pub crop: CropConfig,
    pub norm: Arc<PixelNorm>,
    pub seed: u64,
    /// 1-based.
    pub epoch: usize,
}

/// The producing side of one epoch; yields its batches in order.
pub(crate) struct Prefetcher {
    channels: Vec<Receiver<PreparedBatch>>,
    threads: Vec<JoinHandle<()>>,
    cancel: Arc<AtomicBool>,
    next: usize,
}

/// How many threads prepare batches: half the cores (the other half train), 1 to 4.
fn thread_count(batches: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    (cores / 2).clamp(1, MAX_THREADS).min(batches.max(1))
}

impl Prefetcher {
    /// Starts preparing the epoch's batches.
    pub(crate) fn start(job: EpochJob) -> Result<Self, String> {
        let job = Arc::new(job);
        let batches = job.order.len().div_ceil(job.batch_size.max(1));
        let count = thread_count(batches);
        let cancel = Arc::new(AtomicBool::new(false));
        let mut channels = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for t in 0..count {
            let (tx, rx) = bounded(DEPTH);
            let job = Arc::clone(&job);
            let stop = Arc::clone(&cancel);
            let spawned = std::thread::Builder::new()
                .name(format!("augment-prefetch-{t}"))
                .spawn(move || {
                    let batches = job.order.chunks(job.batch_size.max(1)).enumerate();
                    for (b, positions) in batches.skip(t).step_by(count) {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let subset = &job.subset;
                        let indices: Vec<u32> = positions
                            .iter()
                            .map(|&p| subset.indices[p as usize])
                            .collect();
                        let key = BatchKey {
                            seed: job.seed,
                            epoch: job.epoch as u64,
                            batch: b as u64,
                        };
                        let mut batch = prepare_batch(
                            &job.augment,
                            &job.crop,
                            &job.data,
                            subset.part,
                            &indices,
                            &job.norm,
                            key,
                            false,
                        );
                        batch.labels = batch
                            .kept
                            .iter()
                            .map(|&k| subset.labels[positions[k] as usize])
                            .collect();
                        if tx.send(batch).is_err() {
                            // The epoch ended early (stop): nobody wants the rest.
                            return;
                        }
                    }
                });
            match spawned {
                Ok(handle) => {
                    channels.push(rx);
                    threads.push(handle);
                }
                Err(e) => {
                    // Dropping what was started stops and joins it.
                    drop(Self {
                        channels,
                        threads,
                        cancel,
                        next: 0,
                    });
                    return Err(format!("cannot start the augmentation thread: {e}"));
                }
            }
        }
        Ok(Self {
            channels,
            threads,
            cancel,
            next: 0,
        })
    }

    /// The next batch in epoch order, waiting for it if it is not ready; `None` if its thread
    /// ended without it (it panicked).
    pub(crate) fn next_batch(&mut self) -> Option<PreparedBatch> {
        let channel = self.channels.get(self.next % self.channels.len().max(1))?;
        self.next += 1;
        channel.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        // Disconnecting wakes producers blocked on a full channel.
        self.channels.clear();
        for thread in self.threads.drain(..) {
            // A panicking producer already ended the epoch with an error; nothing more to do.
            thread.join().ok();
        }
    }
}

/// The batch's images, labels and (when it was mixed) soft targets as tensors on `device`.
pub(crate) fn to_tensors(
    batch: PreparedBatch,
    classes: usize,
    smoothing: f32,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>, Option<Tensor<2>>) {
    let n = batch.len();
    let soft = batch
        .soft_targets(classes, smoothing)
        .map(|targets| Tensor::<2>::from_data(TensorData::new(targets, [n, classes]), device));
    let labels: Vec<i64> = batch.labels.iter().map(|&l| i64::from(l)).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    let shape = [
        n,
        batch.shape.channels,
        batch.shape.height,
        batch.shape.width,
    ];
    let images = Tensor::<4>::from_data(TensorData::new(batch.pixels, shape), device);
    (images, labels, soft)
}

/// Cross-entropy against soft targets (rows summing to 1): the mean over the batch of
/// `-Σ target · log softmax(logits)`. With one-hot targets it equals the usual loss.
pub(crate) fn soft_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (log_softmax(logits, 1) * targets).sum_dim(1).mean().neg()
}

/// A small owned copy of a batch for the UI: its first images as grey levels, as the model got
/// them (epoch and timings are filled in when the epoch ends).
pub(crate) fn shown_batch(batch: &PreparedBatch, norm: &PixelNorm) -> TrainingBatch {
    let shape = batch.shape;
    let count = batch.len().min(TrainingBatch::MAX_IMAGES);
    TrainingBatch {
        epoch: 0,
        shape,
        images: norm.to_u8(&batch.pixels[..count * shape.len()], shape.plane()),
        labels: batch.labels[..count].to_vec(),
        mixing: batch.mixing.as_ref().map(ToString::to_string),
        data_wait_secs: 0.0,
        train_secs: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Preset;
    use crate::data::{DatasetSource, InputFormat, Part, load};

    fn job(epoch: usize) -> EpochJob {
        let data = load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
        // Positions 0..300 stand for dataset images 1000..1300, with labels shifted by one.
        let indices: Vec<u32> = (1000..1300).collect();
        let labels = indices
            .iter()
            .map(|&i| (data.train.labels[i as usize] + 1) % 10)
            .collect();
        EpochJob {
            data,
            subset: Arc::new(Subset {
                part: Part::Train,
                indices,
                labels,
            }),
            order: (0..300).rev().collect(),
            batch_size: 64,
            augment: Arc::new(Preset::Seed2.config()),
            crop: CropConfig::default(),
            norm: Arc::new(PixelNorm::identity(1)),
            seed: 9,
            epoch,
        }
    }

    #[test]
    fn batches_arrive_in_order_and_match_a_direct_call() {
        let j = job(2);
        let (data, order, augment, norm, subset) = (
            Arc::clone(&j.data),
            j.order.clone(),
            Arc::clone(&j.augment),
            Arc::clone(&j.norm),
            Arc::clone(&j.subset),
        );
        let mut prefetcher = Prefetcher::start(j).unwrap();
        for (b, positions) in order.chunks(64).enumerate() {
            let indices: Vec<u32> = positions.iter().map(|&p| 1000 + p).collect();
            let labels: Vec<u16> = positions
                .iter()
                .map(|&p| subset.labels[p as usize])
                .collect();
            let got = prefetcher.next_batch().unwrap();
            let key = BatchKey {
                seed: 9,
                epoch: 2,
                batch: b as u64,
            };
            let direct = prepare_batch(
                &augment,
                &CropConfig::default(),
                &data,
                Part::Train,
                &indices,
                &norm,
                key,
                false,
            );
            assert_eq!(got.pixels, direct.pixels, "batch {b}");
            assert_eq!(got.labels, labels, "the subset's labels, not the dataset's");
        }
        assert!(
            prefetcher.next_batch().is_none(),
            "five batches, then the end"
        );
    }

    #[test]
    fn soft_cross_entropy_with_one_hot_targets_is_the_usual_loss() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![2.0f32, 0.5, -1.0, 0.1, 0.2, 3.0], [2, 3]),
            &device,
        );
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 2], [2]), &device);
        let one_hot = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0], [2, 3]),
            &device,
        );
        let usual = burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&device)
            .forward(logits.clone(), labels);
        let soft = soft_cross_entropy(logits, one_hot);
        let (a, b): (f32, f32) = (usual.into_scalar(), soft.into_scalar());
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }

    #[test]
    fn dropping_mid_epoch_joins_the_threads() {
        let mut prefetcher = Prefetcher::start(job(1)).unwrap();
        assert!(prefetcher.next_batch().is_some());
        drop(prefetcher);
    }
}
