//! The training loop shared by the GUI and the CLI.
//!
//! A [`Session`] is one run: data, split, model, optimizer, history and run record. [`start`]
//! builds one and trains it; [`extend`] trains a finished session for more epochs; [`resume`]
//! rebuilds one from a run directory. Every step and epoch is reported as an [`Event`]; every
//! epoch is appended to the run directory (metrics, weights, optimizer state) as it ends.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::control::{Control, EventSink, Flow};
use super::features;
use super::message::{Command, ConfigChange, EpochMetrics, Event, Restored, RunInfo, RunStatus};
use super::prefetch::{self, EpochJob, Prefetcher};
use super::session::{self, Purpose, SessionError};
use super::warm;
use crate::augment::ImageShape;
use crate::augment::batch::{PixelNorm, prepare_eval};
use crate::augment::crop::CropConfig;
use crate::data::{Dataset, Split, Subset};
use crate::experiment::checkpoint::{self, CheckpointError};
use crate::experiment::evaluation::{self, Evaluation, Prediction};
use crate::experiment::record::{
    DatasetFingerprint, InputRecord, RecordError, RunRecorder, RunSummary, StorageRecord,
};
use crate::experiment::report;
use crate::experiment::runs::{RunDirError, open_run};
use crate::experiment::{DeviceKind, ExperimentConfig};
use crate::model::{InputShape, Model};

/// Validation batch size: larger than training batches since no gradients are kept.
pub(super) const EVAL_BATCH: usize = 500;
/// Input values (pixels × channels) one validation forward pass takes at most: 500 inputs of
/// 32×32×3. Larger inputs go through in smaller chunks (10 of 224×224×3, never under 8), since
/// the activations grow with them: 500 crops of 224 px through SimpleCNN alone took 0.6 GB.
const EVAL_VALUES: usize = 500 * 32 * 32 * 3;

/// How many inputs of `input_len` values one validation forward pass takes.
fn eval_chunk(input_len: usize) -> usize {
    (EVAL_VALUES / input_len.max(1)).clamp(8, EVAL_BATCH)
}
/// The batch sizes of a validation pass over `samples` inputs of `input`: whole chunks (see
/// `eval_chunk`) and a shorter last one where they do not divide evenly.
pub(super) fn eval_chunks(input: InputShape, samples: usize) -> Vec<usize> {
    let chunk = eval_chunk(input.channels * input.height * input.width);
    let sizes = [chunk.min(samples), samples % chunk];
    let mut sizes: Vec<usize> = sizes.into_iter().filter(|&n| n > 0).collect();
    sizes.dedup();
    sizes
}

/// A batch loss this many times the first one counts as divergence.
const DIVERGENCE_FACTOR: f64 = 100.0;
/// Training steps whose losses stay on the device before they are read back together.
const READ_EVERY: usize = 8;

/// One run in memory: everything needed to train it further.
pub(crate) struct Session {
    config: ExperimentConfig,
    data: Arc<Dataset>,
    split: Split,
    device: Device,
    device_name: String,
    model: Model,
    optimizer: ModuleOptimizer,
    best_model: Option<Model>,
    history: Vec<EpochMetrics>,
    checkpoint: Option<checkpoint::Checkpoint>,
    first_loss: Option<f64>,
    recorder: Option<RunRecorder>,
    /// On the GPU, what names the kernels this run compiles (see [`warm`]).
    warm_key: Option<String>,
}

/// Why a run stopped before its last epoch, besides the user.
enum Ended {
    Done(RunStatus),
    Diverged(String),
}

/// Builds a session for `config` and trains it. Returns the session (for "+N epochs") unless it
/// could not be built. Never panics: failures end as a `Failed` event and a `failed` record.
pub(crate) fn start(
    config: &ExperimentConfig,
    run_dir: Option<&Path>,
    control: &Control,
    events: &EventSink,
) -> Option<Session> {
    let mut session = guarded("building the model", events, || build(config, run_dir))?;
    train_to_end(&mut session, control, events);
    Some(session)
}

/// Trains a finished session for `more` epochs in the same record.
pub(crate) fn extend(session: &mut Session, more: usize, control: &Control, events: &EventSink) {
    session.config.train.epochs = session.history.len() + more;
    if let Some(recorder) = session.recorder.as_mut() {
        recorder.set_planned(session.config.train.epochs);
    }
    train_to_end(session, control, events);
}

/// Rebuilds the session recorded in `dir` (config, metrics, last weights and optimizer state)
/// and trains it to `epochs` (default: the recorded plan).
pub(crate) fn resume(
    dir: &Path,
    epochs: Option<usize>,
    control: &Control,
    events: &EventSink,
) -> Option<Session> {
    let mut session = guarded("resuming", events, || load_session(dir, epochs))?;
    train_to_end(&mut session, control, events);
    Some(session)
}

/// Why a run could not be built, resumed or trained on. Its text (with causes) becomes the
/// `Failed` event's message and the record's note.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration could not be turned into data, device and model.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The run directory to continue could not be read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// Weights or optimizer state could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The run record could not be written.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The run's directory disagrees with itself.
    #[error("{0}")]
    Inconsistent(String),
    /// A training step could not go on.
    #[error("{0}")]
    Step(String),
}

/// Runs `f`, turning its error or panic into a `Failed` event.
fn guarded<T>(
    what: &str,
    events: &EventSink,
    f: impl FnOnce() -> Result<T, RunError>,
) -> Option<T> {
    match caught(what, || f().map_err(|e| crate::error::chain(&e))) {
        Ok(value) => Some(value),
        Err(message) => {
            events.send(Event::Failed { message });
            None
        }
    }
}

/// Runs `f`; its error, or a panic as "WHAT crashed: …", comes back as a message.
pub(super) fn caught<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => Err(format!("{what} crashed: {}", panic_text(&*panic))),
    }
}

fn build(config: &ExperimentConfig, run_dir: Option<&Path>) -> Result<Session, RunError> {
    let parts = session::build(config, Purpose::Train)?;
    let optimizer = session::optimizer(&config.train);
    let warm_key = (config.device == DeviceKind::Gpu)
        .then(|| warm::key(config, parts.input, parts.split.val.len()));
    let mut session = Session {
        config: config.clone(),
        data: parts.data,
        split: parts.split,
        device: parts.device,
        device_name: parts.device_name,
        model: parts.model,
        optimizer,
        best_model: None,
        history: Vec::new(),
        checkpoint: None,
        first_loss: None,
        recorder: None,
        warm_key,
    };
    if let Some(dir) = run_dir {
        let summary = session.summary();
        session.recorder = Some(RunRecorder::create(dir, config, summary)?);
    }
    Ok(session)
}

fn load_session(dir: &Path, epochs: Option<usize>) -> Result<Session, RunError> {
    let run = open_run(dir)?;
    let mut config = run.config.clone();
    let mut history = run.history()?;
    if let Some(epochs) = epochs {
        config.train.epochs = epochs;
    }
    // The checkpoint holds every weight: the pretrained file is not needed again.
    let mut without_file = config.clone();
    without_file.transfer.weights = None;
    let mut session = build(&without_file, None)?;
    session.config = config.clone();
    // The checkpoint decides where training continues; metrics of a later epoch whose
    // checkpoint was not committed (a kill in between) are dropped and trained again.
    let committed = run.checkpoint;
    let done = committed.as_ref().map_or(0, |c| c.epoch);
    if history.len() < done {
        return Err(RunError::Inconsistent(format!(
            "{} records {} epochs but its checkpoint is from epoch {done}",
            dir.join("metrics.csv").display(),
            history.len()
        )));
    }
    history.truncate(done);
    if let Some(c) = &committed {
        let fresh = session.model.clone();
        session.model = checkpoint::load_model(fresh, &dir.join(&c.last))?
            .freeze_first(config.transfer.frozen_blocks(&config.model));
        let fresh = session::optimizer(&config.train);
        session.optimizer = checkpoint::load_optimizer(fresh, &dir.join(&c.optimizer))?;
        if let Some((_, best)) = &c.best {
            session.best_model = Some(checkpoint::load_model(
                session.model.clone(),
                &dir.join(best),
            )?);
        }
    }
    session.checkpoint = committed;
    session.first_loss = history.first().map(|m| m.train_loss);
    session.history = history;
    session.recorder = Some(RunRecorder::reopen(dir, &config, &session.history)?);
    Ok(session)
}

impl Session {
    fn summary(&self) -> RunSummary {
        let mut summary = RunSummary {
            dataset_fingerprint: Some(DatasetFingerprint::of(&self.data, &self.split)),
            ..RunSummary::starting(
                &self.config,
                self.split.train.len(),
                self.split.val.len(),
                &self.device_name,
            )
        };
        summary.skipped.clone_from(&self.data.skipped);
        summary.synthetic.clone_from(&self.split.synthetic);
        summary.input = Some(InputRecord::new(
            &self.config.crop,
            ImageShape::of(&self.data),
        ));
        summary.storage = Some(StorageRecord::of(
            &self.data,
            self.config.dataset.input.in_memory,
        ));
        summary
    }

    fn steps_per_epoch(&self) -> usize {
        self.split.train.len().div_ceil(self.batch_size())
    }

    fn batch_size(&self) -> usize {
        self.config
            .train
            .batch_size
            .min(self.split.train.len())
            .max(1)
    }
}

/// Trains until the planned epoch count, a stop, early stopping or divergence; then restores the
/// best weights and finalises the record.
fn train_to_end(session: &mut Session, control: &Control, events: &EventSink) {
    events.send(Event::Started(RunInfo {
        epochs: session.config.train.epochs,
        steps_per_epoch: session.steps_per_epoch(),
        train_samples: session.split.train.len(),
        val_samples: session.split.val.len(),
        num_params: session.model.param_count(),
        device: session.device_name.clone(),
        run_dir: session.recorder.as_ref().map(|r| r.dir().to_owned()),
        class_names: session.split.class_names(&session.data),
        compiling: session
            .warm_key
            .as_deref()
            .is_some_and(|k| !warm::is_warm(k)),
    }));
    for m in &session.history {
        events.send(Event::Epoch(*m));
    }
    let result =
        std::panic::catch_unwind(AssertUnwindSafe(|| train_epochs(session, control, events)));
    let (status, mut message) = match result {
        Ok(Ok(Ended::Done(status))) => (status, None),
        Ok(Ok(Ended::Diverged(message))) => (RunStatus::Diverged, Some(message)),
        Ok(Err(e)) => (RunStatus::Failed, Some(crate::error::chain(&e))),
        Err(panic) => (
            RunStatus::Failed,
            Some(format!("training crashed: {}", panic_text(&*panic))),
        ),
    };
    let restored = if status == RunStatus::Failed {
        None
    } else {
        restore_best(session, events)
    };
    let mut note = match (&message, &session.recorder) {
        (Some(m), _) => m.clone(),
        (None, Some(r)) => format!("Run {status}; saved in {}", r.dir().display()),
        (None, None) => format!("Run {status}"),
    };
    if let Some(r) = &restored {
        note.push_str(&format!(
            ". Best weights (epoch {}, validation loss {:.4}) restored",
            r.epoch, r.val_loss
        ));
    }
    if let Some(recorder) = session.recorder.as_mut() {
        recorder.set_restored(restored.map(|r| r.epoch));
        recorder.set_read_problems(session.data.read_problems());
        if let Err(e) = recorder.finish(status, message.take()) {
            note = format!("{note} (and the run record could not be finalised: {e})");
        }
        if !session.history.is_empty()
            && let Err(e) = report::write_picture(
                recorder.dir(),
                &session.config,
                recorder.summary(),
                &session.history,
            )
        {
            note = format!("{note} (report.png not written: {e})");
        }
    }
    events.send(Event::Finished {
        status,
        message: note,
        restored,
    });
}

/// Puts the best epoch's weights back into the model and measures them again.
fn restore_best(session: &mut Session, events: &EventSink) -> Option<Restored> {
    let rule = session.config.train.early_stopping;
    let epoch = rule.best_epoch(&session.history)?;
    let best = session.best_model.clone()?;
    let recorded = session.history.iter().find(|m| m.epoch == epoch)?.val_loss;
    let norm = PixelNorm::new(&session.split.norm);
    let never = AtomicBool::new(false);
    let (val_loss, _, predictions) = evaluate(
        &best,
        &session.data,
        &session.split.val,
        &session.config.crop,
        &norm,
        &session.device,
        &never,
    )?
    .ok()?;
    let classes = session.split.num_classes();
    events.send(Event::Evaluated(Box::new(Evaluation::from_predictions(
        epoch,
        classes,
        &predictions,
    ))));
    // `best_model` is the run's result (best.bpk); "+N epochs" continues from the last weights
    // and optimizer state, as a resumed run would.
    session.best_model = Some(best);
    Some(Restored {
        epoch,
        best_val_loss: recorded,
        val_loss,
    })
}

fn train_epochs(
    session: &mut Session,
    control: &Control,
    events: &EventSink,
) -> Result<Ended, RunError> {
    let train_device = session.device.clone().autodiff();
    let batch_size = session.batch_size();
    let steps_per_epoch = session.steps_per_epoch();
    let positions: Vec<u32> = (0..session.split.train.len() as u32).collect();
    let mut order = positions.clone();
    let train_subset = Arc::new(session.split.train.clone());
    let classes = session.split.num_classes();
    let pixel_norm = Arc::new(PixelNorm::new(&session.split.norm));
    let augment = Arc::new(session.config.augment.clone());
    // A frozen backbone's features, computed once (see `features`).
    let mut cache = features::prepare(
        &session.config,
        &session.data,
        &session.split,
        session.recorder.as_mut(),
    );
    while session.history.len() < session.config.train.epochs {
        let epoch = session.history.len() + 1;
        let total_steps = session.config.train.epochs * steps_per_epoch;
        let train = &session.config.train;
        let loss_fn = CrossEntropyLossConfig::new()
            .with_smoothing((train.label_smoothing > 0.0).then_some(train.label_smoothing as f32))
            .init(&train_device);
        order.clone_from(&positions);
        let mut rng =
            Xoshiro256PlusPlus::seed_from_u64(session.config.seed.wrapping_add(epoch as u64));
        order.shuffle(&mut rng);
        // Augmentation and normalisation run ahead on their own threads.
        let mut batches = Prefetcher::start(EpochJob {
            data: Arc::clone(&session.data),
            subset: Arc::clone(&train_subset),
            order: order.clone(),
            batch_size,
            augment: Arc::clone(&augment),
            crop: session.config.crop,
            norm: Arc::clone(&pixel_norm),
            seed: session.config.seed,
            epoch,
        })
        .map_err(RunError::Step)?;
        let (mut data_wait, mut shown) = (Duration::ZERO, None);
        let mut totals = StepTotals::default();
        let mut pending: Vec<PendingStep> = Vec::with_capacity(READ_EVERY);
        let mut train_time = Duration::ZERO;
        let mut epoch_lr = session.config.train.lr;
        for (step, batch) in order.chunks(batch_size).enumerate() {
            let at_epoch = (epoch - 1) as f64 + step as f64 / steps_per_epoch as f64;
            if control.stop.load(Ordering::SeqCst) || !control.commands.is_empty() {
                // Show every finished step before pausing or stopping.
                let t0 = Instant::now();
                let outcome = read_back(session, &mut pending, &mut totals, epoch, events);
                train_time += t0.elapsed();
                if let Some(diverged) = outcome {
                    return Ok(diverged);
                }
            }
            let steered = control.between_steps(
                |paused| {
                    events.send(if paused {
                        Event::Paused
                    } else {
                        Event::Resumed
                    });
                },
                |command| {
                    if let Command::Update { lr, schedule } = command {
                        apply_change(session, events, at_epoch, lr, schedule);
                    }
                },
            );
            if let Flow::Stop = steered {
                return Ok(Ended::Done(RunStatus::Stopped));
            }
            let train = &session.config.train;
            let global_step = (epoch - 1) * steps_per_epoch + step;
            let lr = train
                .schedule
                .lr_at(train.lr, global_step, steps_per_epoch, total_steps);
            if step == 0 {
                epoch_lr = lr;
            }
            let t0 = Instant::now();
            let prepared = batches.next_batch().ok_or_else(|| {
                RunError::Step("the augmentation thread stopped unexpectedly".to_owned())
            })?;
            data_wait += t0.elapsed();
            if prepared.is_empty() {
                // Every image of this batch failed to read from disk (they are listed in
                // run.json): nothing to train on.
                if step + 1 == steps_per_epoch
                    && let Some(diverged) =
                        read_back(session, &mut pending, &mut totals, epoch, events)
                {
                    return Ok(diverged);
                }
                continue;
            }
            let samples = prepared.len();
            if step + 1 == steps_per_epoch {
                shown = Some(prefetch::shown_batch(&prepared, &pixel_norm));
            }
            let smoothing = session.config.train.label_smoothing as f32;
            let (images, labels, soft) =
                prefetch::to_tensors(prepared, classes, smoothing, &train_device);
            let logits = match cache.as_mut() {
                Some(cache) => cache
                    .train_logits(
                        &session.model,
                        &session.data,
                        &train_subset,
                        epoch,
                        batch,
                        images,
                    )
                    .map_err(RunError::Step)?,
                None => session.model.forward(images),
            };
            let loss = match soft {
                Some(targets) => prefetch::soft_cross_entropy(logits.clone(), targets),
                None => loss_fn.forward(logits.clone(), labels.clone()),
            };
            pending.push(PendingStep {
                step: step + 1,
                lr,
                samples,
                loss: loss.clone().detach(),
                correct: count_correct(logits, labels),
            });
            let grads = GradientsParams::from_grads(loss.backward(), &session.model);
            let lrs = session.config.transfer.learning_rate(&session.model, lr);
            session.model = session.optimizer.step(lrs, session.model.clone(), grads);
            totals.train_secs = (train_time + t0.elapsed()).as_secs_f64();
            if (pending.len() == READ_EVERY || step + 1 == steps_per_epoch)
                && let Some(diverged) = read_back(session, &mut pending, &mut totals, epoch, events)
            {
                return Ok(diverged);
            }
            train_time += t0.elapsed();
        }
        let StepTotals {
            loss_sum,
            correct,
            seen,
            ..
        } = totals;

        drop(batches);
        if let Some(mut batch) = shown {
            batch.epoch = epoch;
            batch.data_wait_secs = data_wait.as_secs_f64();
            batch.train_secs = train_time.as_secs_f64();
            events.send(Event::TrainingBatch(Box::new(batch)));
        }

        let t0 = Instant::now();
        let evaluated = match cache.as_mut() {
            Some(cache) => cache.evaluate(
                &session.model,
                &session.data,
                &session.split.val,
                &pixel_norm,
                &session.device,
                &control.stop,
            ),
            None => evaluate(
                &session.model,
                &session.data,
                &session.split.val,
                &session.config.crop,
                &pixel_norm,
                &session.device,
                &control.stop,
            ),
        };
        let Some(evaluated) = evaluated else {
            return Ok(Ended::Done(RunStatus::Stopped));
        };
        let (val_loss, val_acc, predictions) = evaluated.map_err(RunError::Step)?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss,
            train_acc: correct as f64 / seen.max(1) as f64,
            val_acc,
            lr: epoch_lr,
            train_secs: train_time.as_secs_f64(),
            val_secs: t0.elapsed().as_secs_f64(),
        };
        session.history.push(metrics);
        let rule = session.config.train.early_stopping;
        let is_best = rule.best_epoch(&session.history) == Some(epoch);
        if is_best {
            session.best_model = Some(session.model.clone());
        }
        let classes = session.split.num_classes();
        let evaluation = Evaluation::from_predictions(epoch, classes, &predictions);
        if let Some(recorder) = session.recorder.as_mut() {
            // Metrics first, then the checkpoint that commits the epoch (see `checkpoint`).
            recorder.set_read_problems(session.data.read_problems());
            recorder.record_epoch(&metrics)?;
            if is_best {
                recorder
                    .record_evaluation(&evaluation, &session.split.class_names(&session.data))?;
            }
            let committed = checkpoint::commit(
                recorder.dir(),
                epoch,
                &session.model,
                &session.optimizer,
                is_best,
                session.checkpoint.as_ref(),
            )?;
            session.checkpoint = Some(committed);
        }
        if let Some(key) = &session.warm_key {
            // Every kernel of a step and of validation has run once now.
            warm::mark_warm(key.clone());
        }
        events.send(Event::Epoch(metrics));
        events.send(Event::Evaluated(Box::new(evaluation)));
        if rule.enabled && rule.stop_epoch(&session.history) == Some(epoch) {
            return Ok(Ended::Done(RunStatus::EarlyStopped));
        }
    }
    Ok(Ended::Done(RunStatus::Completed))
}

fn apply_change(
    session: &mut Session,
    events: &EventSink,
    at_epoch: f64,
    lr: f64,
    schedule: crate::experiment::Schedule,
) {
    let train = &mut session.config.train;
    let mut parts = Vec::new();
    if lr.is_finite() && lr > 0.0 && lr != train.lr {
        parts.push(format!("lr {} → {lr}", train.lr));
        train.lr = lr;
    }
    if schedule != train.schedule && schedule.validate().is_ok() {
        parts.push(format!(
            "schedule {} → {}",
            train.schedule.name(),
            schedule.name()
        ));
        train.schedule = schedule;
    }
    if parts.is_empty() {
        return;
    }
    let change = ConfigChange {
        at_epoch,
        description: parts.join(", "),
    };
    if let Some(recorder) = session.recorder.as_mut() {
        // The change is kept in memory either way; a failed write shows up at the next epoch.
        recorder.record_change(&session.config, change.clone()).ok();
    }
    events.send(Event::Changed(change));
}

/// Number of samples whose highest logit is the true class, left on the device.
pub(super) fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1, Int> {
    let n = labels.dims()[0];
    let predicted = logits.argmax(1).reshape([n]);
    predicted.equal(labels).int().sum()
}

/// A trained step whose loss and hit count have not been read back yet.
struct PendingStep {
    step: usize,
    lr: f64,
    samples: usize,
    loss: Tensor<1>,
    correct: Tensor<1, Int>,
}

/// Running sums of an epoch's training steps.
#[derive(Default)]
struct StepTotals {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    train_secs: f64,
}

/// Reads the pending steps' losses and hit counts in one transfer (one synchronisation with the
/// device instead of one per step), checks each loss for divergence and reports each step.
fn read_back(
    session: &mut Session,
    pending: &mut Vec<PendingStep>,
    totals: &mut StepTotals,
    epoch: usize,
    events: &EventSink,
) -> Option<Ended> {
    if pending.is_empty() {
        return None;
    }
    let steps: Vec<PendingStep> = std::mem::take(pending);
    let losses = Tensor::cat(steps.iter().map(|p| p.loss.clone()).collect(), 0)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    let hits = Tensor::cat(steps.iter().map(|p| p.correct.clone()).collect(), 0)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap_or_default();
    for (i, p) in steps.iter().enumerate() {
        let batch_loss = losses.get(i).copied().map_or(f64::NAN, f64::from);
        let first = *session.first_loss.get_or_insert(batch_loss);
        if !batch_loss.is_finite() || batch_loss > DIVERGENCE_FACTOR * first.max(1e-3) {
            let what = if batch_loss.is_finite() {
                format!("exploded to {batch_loss:.3e} (over {DIVERGENCE_FACTOR}× its first value)")
            } else {
                format!("became {batch_loss}")
            };
            return Some(Ended::Diverged(format!(
                "loss {what} at epoch {epoch} step {} — try a learning rate below {}",
                p.step,
                p.lr / 10.0
            )));
        }
        totals.loss_sum += batch_loss * p.samples as f64;
        totals.correct += hits
            .get(i)
            .and_then(|&h| usize::try_from(h).ok())
            .unwrap_or(0);
        totals.seen += p.samples;
        events.send_lossy(Event::Step {
            epoch,
            step: p.step,
            loss: batch_loss,
            lr: p.lr,
            samples_per_sec: totals.seen as f64 / totals.train_secs.max(1e-9),
        });
    }
    None
}

/// Mean loss, accuracy and every sample's prediction on a subset, without gradients. `None` if
/// stopped meanwhile. Softmax and loss are computed here from the logits, so the reported loss and
/// the evaluation panel agree exactly.
/// Validation loss, accuracy and per-sample predictions; or why the outputs could not be read.
pub(super) type Evaluated = Result<(f64, f64, Vec<Prediction>), String>;

fn evaluate(
    model: &Model,
    data: &Dataset,
    subset: &Subset,
    crop: &CropConfig,
    norm: &PixelNorm,
    device: &Device,
    stop: &AtomicBool,
) -> Option<Evaluated> {
    let model = model.valid();
    let positions: Vec<u32> = (0..subset.len() as u32).collect();
    let mut predictions = Vec::with_capacity(subset.len());
    // Tiles multiply the inputs per image: a batch holds about one chunk of inputs (see
    // `eval_chunk`), and the tiles of one large image go through the model chunk by chunk.
    let stored = ImageShape::of(data);
    let views = crop.views(stored);
    let per_batch = (eval_chunk(crop.input_shape(stored).len()) / views.max(1)).max(1);
    for batch in positions.chunks(per_batch) {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        let indices: Vec<u32> = batch.iter().map(|&p| subset.indices[p as usize]).collect();
        let inputs = prepare_eval(crop, data, subset.part, &indices, norm);
        // Positions of the images read (files on disk that fail are left out and listed).
        let batch: Vec<u32> = inputs.kept.iter().map(|&k| batch[k]).collect();
        if batch.is_empty() {
            continue;
        }
        let s = inputs.shape;
        let mut all = Vec::new();
        for chunk in inputs.pixels.chunks(eval_chunk(s.len()) * s.len().max(1)) {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            let n = chunk.len() / s.len().max(1);
            let images = Tensor::<4>::from_data(
                TensorData::new(chunk.to_vec(), [n, s.channels, s.height, s.width]),
                device,
            );
            match model
                .forward(images)
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
            {
                Ok(values) => all.extend(values),
                Err(e) => return Some(Err(format!("cannot read the model's outputs: {e:?}"))),
            }
        }
        // An image's logits are the mean of its tiles' logits.
        let v = inputs.views.max(1);
        let classes = all.len() / (batch.len() * v).max(1);
        let logits: Vec<f32> = if v == 1 {
            all
        } else {
            all.chunks_exact((v * classes).max(1))
                .flat_map(|tiles| {
                    (0..classes).map(move |c| {
                        tiles.iter().skip(c).step_by(classes.max(1)).sum::<f32>() / v as f32
                    })
                })
                .collect()
        };
        score_batch(subset, &batch, &logits, &mut predictions);
    }
    Some(Ok(summarize(predictions)))
}

/// Scores the logits (one row per position of `batch`, in order) of a validation batch.
pub(super) fn score_batch(
    subset: &Subset,
    batch: &[u32],
    logits: &[f32],
    predictions: &mut Vec<Prediction>,
) {
    let classes = logits.len() / batch.len().max(1);
    for (&position, row) in batch.iter().zip(logits.chunks_exact(classes.max(1))) {
        let truth = subset.labels[position as usize];
        let (predicted, confidence, loss) = evaluation::score(row, usize::from(truth));
        predictions.push(Prediction {
            part: subset.part,
            index: subset.indices[position as usize],
            truth,
            predicted,
            confidence,
            loss,
        });
    }
}

/// Mean loss and accuracy of every sample's prediction, with the predictions.
pub(super) fn summarize(predictions: Vec<Prediction>) -> (f64, f64, Vec<Prediction>) {
    let n = predictions.len().max(1) as f64;
    let loss = predictions.iter().map(|p| f64::from(p.loss)).sum::<f64>() / n;
    let correct = predictions
        .iter()
        .filter(|p| p.truth == p.predicted)
        .count();
    (loss, correct as f64 / n, predictions)
}

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::crop::{EvalCrop, TrainCrop};
    use crate::data::{TrainSize, Validation};
    use crate::train::session::{self, Purpose};

    #[test]
    fn tiled_evaluation_scores_the_mean_of_the_tiles_logits() {
        let mut config = ExperimentConfig::default();
        config.dataset.train_size = TrainSize::PerClass { count: 2 };
        config.dataset.validation = Validation::Holdout { fraction: 0.01 };
        config.crop = CropConfig {
            input_size: Some(16),
            train: TrainCrop::Random,
            eval: EvalCrop::Tiles,
            ..CropConfig::default()
        };
        let parts = session::build(&config, Purpose::Infer).unwrap();
        let stored = ImageShape::of(&parts.data);
        assert_eq!(parts.input.height, 16, "the model takes the crop");
        assert_eq!(config.crop.views(stored), 4, "28 px in 16 px tiles: 2 × 2");
        let norm = PixelNorm::new(&parts.split.norm);
        let never = AtomicBool::new(false);
        let (loss, _, predictions) = evaluate(
            &parts.model,
            &parts.data,
            &parts.split.val,
            &config.crop,
            &norm,
            &parts.device,
            &never,
        )
        .unwrap()
        .unwrap();
        assert_eq!(predictions.len(), parts.split.val.len());
        // The first image, by hand: each tile through the model, logits averaged.
        let index = parts.split.val.indices[0];
        let mut views = Vec::new();
        config.crop.eval_views(
            stored,
            &parts.data.image(parts.split.val.part, index as usize),
            &mut views,
        );
        let mut mean = vec![0.0f32; 10];
        for view in &views {
            let mut values = Vec::new();
            norm.extend(view, 256, &mut values);
            let logits = parts
                .model
                .logits(values, [1, 16, 16], &parts.device)
                .unwrap();
            for (m, l) in mean.iter_mut().zip(logits) {
                *m += l / 4.0;
            }
        }
        let truth = parts.split.val.labels[0];
        let (predicted, _, sample_loss) = evaluation::score(&mean, usize::from(truth));
        assert_eq!(predictions[0].predicted, predicted);
        assert!((predictions[0].loss - sample_loss).abs() < 1e-4);
        assert!(loss.is_finite());
    }
}
