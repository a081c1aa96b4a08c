//! The GAN engine: a class-conditional GAN trained on a run's training samples on the worker
//! thread, with the same pause, stop, "+N epochs", run folders, checkpoints and resume as
//! classifier runs.
//!
//! Each step updates the discriminator on a batch of real images and as many generated ones
//! (hinge loss, both optionally through [`diff_augment`]) and then the generator (its images
//! scored by the updated discriminator). After each epoch the fixed-noise grid is drawn,
//! each of its images compared with the nearest training image of its class, and every
//! `tstr_every` epochs a SimpleCNN trained only on generated images is scored on the real
//! validation images (train on synthetic, test on real).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::control::{Control, EventSink, Flow};
use super::message::{Event, GanEvent, GanGrid, GanInfo, RunStatus};
use super::session;
use crate::augment::ImageShape;
use crate::augment::batch::PixelNorm;
use crate::data::synthetic::SyntheticImages;
use crate::data::{self, Dataset, Split};
use crate::experiment::checkpoint;
use crate::experiment::gan::{
    GanCheckpoint, GanConfig, GanEpoch, GanRecorder, GanSummary, NearestCheck, read_gan_metrics,
    read_gan_summary,
};
use crate::experiment::record::{DatasetFingerprint, now_rfc3339};
use crate::model::gan::{Discriminator, GanArch, Generator, diff_augment, noise, one_hot};
use crate::model::{InputShape, ModelConfig};

/// Images per row of the fixed-noise grid.
pub const GRID_COLS: usize = 8;
/// Most classes (rows) the grid shows.
const GRID_ROWS: usize = 20;
/// Training steps whose losses stay on the device before they are read back together.
const READ_EVERY: usize = 8;
/// Training images per class the nearest-neighbour check compares with.
const NEAREST_REFERENCE: usize = 500;
/// Epochs before the collapse and overpowering checks start.
const SETTLE_EPOCHS: usize = 3;
/// Generated diversity below this share of the real images' means collapse.
const COLLAPSE_RATIO: f64 = 0.15;
/// A discriminator loss below this for a whole epoch means it wins outright.
const D_WINS_BELOW: f64 = 0.02;

/// A GAN run to start.
#[derive(Debug, Clone)]
pub struct GanRequest {
    /// What to train.
    pub config: GanConfig,
    /// Where it is recorded (`None`: not recorded).
    pub run_dir: Option<PathBuf>,
}

/// Training images per class, as the nearest-neighbour check reads them, and how far they lie
/// from each other.
struct Reference {
    /// Per class: images (CHW u8, concatenated).
    images: Vec<Vec<u8>>,
    /// Median distance of a training image to its nearest neighbour (root mean square over
    /// pixels, 0–255).
    median: f64,
    /// The 5 % quantile of those distances.
    low: f64,
    /// Mean pairwise distance within a class, averaged over classes.
    diversity: f64,
}

/// One GAN run in memory.
pub(crate) struct GanSession {
    config: GanConfig,
    data: Arc<Dataset>,
    split: Split,
    device: Device,
    device_name: String,
    generator: Generator,
    discriminator: Discriminator,
    g_opt: ModuleOptimizer,
    d_opt: ModuleOptimizer,
    history: Vec<GanEpoch>,
    checkpoint: Option<GanCheckpoint>,
    recorder: Option<GanRecorder>,
    reference: Reference,
    augment: bool,
    warnings: Warnings,
}

/// Epochs in a row that showed a sign of failure.
#[derive(Default)]
struct Warnings {
    collapse: usize,
    d_wins: usize,
}

/// How the loop ended.
enum Ended {
    Done(RunStatus),
    Diverged(String),
}

fn failed(events: &EventSink, message: String) {
    events.send(Event::Gan(GanEvent::Failed { message }));
}

/// Builds a GAN run and trains it; returns it for "+N epochs" unless it could not be built.
pub(crate) fn start(
    request: &GanRequest,
    control: &Control,
    events: &EventSink,
) -> Option<GanSession> {
    let mut session = guarded("building the GAN", events, || {
        build(&request.config, request.run_dir.as_deref())
    })?;
    train_to_end(&mut session, control, events);
    Some(session)
}

/// Trains a finished GAN run for `more` epochs in the same folder.
pub(crate) fn extend(session: &mut GanSession, more: usize, control: &Control, events: &EventSink) {
    session.config.epochs = session.history.len() + more;
    if let Some(recorder) = session.recorder.as_mut() {
        recorder.set_planned(session.config.epochs);
    }
    train_to_end(session, control, events);
}

/// Rebuilds the GAN run recorded in `dir` from its last committed epoch and trains it to
/// `epochs` (default: as planned).
pub(crate) fn resume(
    dir: &Path,
    epochs: Option<usize>,
    control: &Control,
    events: &EventSink,
) -> Option<GanSession> {
    let mut session = guarded("resuming", events, || load(dir, epochs))?;
    train_to_end(&mut session, control, events);
    Some(session)
}

/// Runs `f`, turning its error or panic into a `Failed` event.
fn guarded(
    what: &str,
    events: &EventSink,
    f: impl FnOnce() -> Result<GanSession, String>,
) -> Option<GanSession> {
    super::engine::caught(what, f)
        .map_err(|message| failed(events, message))
        .ok()
}

/// The GAN's input shape for a split.
fn input_shape(data: &Dataset, split: &Split) -> InputShape {
    InputShape {
        channels: data.channels,
        height: data.height,
        width: data.width,
        classes: split.num_classes(),
    }
}

fn optimizer(config: &GanConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(config.beta1 as f32)
        .with_beta_2(config.beta2 as f32)
        .init()
}

fn build(config: &GanConfig, run_dir: Option<&Path>) -> Result<GanSession, String> {
    config.validate().map_err(|e| e.to_string())?;
    let (data, split) =
        data::prepare(&config.dataset, config.seed).map_err(|e| crate::error::chain(&e))?;
    check_data(&data, &split, config.batch_size)?;
    let input = input_shape(&data, &split);
    config
        .arch
        .validate(input)
        .map_err(|e| crate::error::chain(&e))?;
    let (device, device_name) = session::device(config.device).map_err(|e| e.to_string())?;
    let (generator, discriminator) =
        config
            .arch
            .init(input, &device.clone().autodiff(), config.seed);
    let reference = Reference::new(&data, &split);
    let augment = config.diff_augment.active(split.train.len());
    let mut session = GanSession {
        config: config.clone(),
        data,
        split,
        device,
        device_name,
        generator,
        discriminator,
        g_opt: optimizer(config),
        d_opt: optimizer(config),
        history: Vec::new(),
        checkpoint: None,
        recorder: None,
        reference,
        augment,
        warnings: Warnings::default(),
    };
    if let Some(dir) = run_dir {
        let summary = session.summary();
        session.recorder =
            Some(GanRecorder::create(dir, config, summary).map_err(|e| crate::error::chain(&e))?);
    }
    Ok(session)
}

/// Refuses data a class-conditional GAN cannot learn from, saying why.
fn check_data(data: &Dataset, split: &Split, batch_size: usize) -> Result<(), String> {
    let n = split.train.len();
    if n < batch_size {
        return Err(format!(
            "{n} training images are fewer than the batch size {batch_size}: lower the batch \
             size to at most {n} (or use more images)"
        ));
    }
    let mut counts = vec![0usize; split.num_classes()];
    for &label in &split.train.labels {
        if let Some(c) = counts.get_mut(usize::from(label)) {
            *c += 1;
        }
    }
    let names = split.class_names(data);
    let thin: Vec<String> = counts
        .iter()
        .zip(&names)
        .filter(|(c, _)| **c < 2)
        .map(|(c, name)| format!("{name} ({c})"))
        .collect();
    if !thin.is_empty() {
        return Err(format!(
            "a class-conditional GAN needs at least 2 training images per class; too few in: {} \
             — add images or leave those classes out (--classes)",
            thin.join(", ")
        ));
    }
    Ok(())
}

fn load(dir: &Path, epochs: Option<usize>) -> Result<GanSession, String> {
    let mut config = GanConfig::load(&dir.join("config.toml"))?;
    read_gan_summary(dir)?;
    let mut history = read_gan_metrics(&dir.join("metrics.csv"))?;
    if let Some(epochs) = epochs {
        config.epochs = epochs;
    }
    let mut session = build(&config, None)?;
    let committed = GanCheckpoint::read(dir)?;
    let done = committed.as_ref().map_or(0, |c| c.epoch);
    if history.len() < done {
        return Err(format!(
            "{} records {} epochs but its checkpoint is from epoch {done}",
            dir.join("metrics.csv").display(),
            history.len()
        ));
    }
    history.truncate(done);
    if let Some(c) = &committed {
        let error = |e: checkpoint::CheckpointError| crate::error::chain(&e);
        session.generator =
            checkpoint::load_module(session.generator, &dir.join(&c.generator)).map_err(error)?;
        session.discriminator =
            checkpoint::load_module(session.discriminator, &dir.join(&c.discriminator))
                .map_err(error)?;
        session.g_opt = checkpoint::load_optimizer(optimizer(&config), &dir.join(&c.g_optimizer))
            .map_err(error)?;
        session.d_opt = checkpoint::load_optimizer(optimizer(&config), &dir.join(&c.d_optimizer))
            .map_err(error)?;
    }
    session.checkpoint = committed;
    session.recorder = Some(
        GanRecorder::reopen(dir, &history, config.epochs).map_err(|e| crate::error::chain(&e))?,
    );
    session.history = history;
    Ok(session)
}

impl GanSession {
    fn summary(&self) -> GanSummary {
        GanSummary {
            kind: "gan".to_owned(),
            status: RunStatus::Running,
            epochs_done: 0,
            epochs_planned: self.config.epochs,
            train_samples: self.split.train.len(),
            val_samples: self.split.val.len(),
            dataset: self.data.source.label(),
            class_names: self.split.class_names(&self.data),
            shape: [self.data.channels, self.data.height, self.data.width],
            parameters: self.parameters(),
            diff_augment: self.augment,
            device: self.device_name.clone(),
            started_at: now_rfc3339(),
            finished_at: None,
            message: None,
            best_tstr: None,
            nearest: None,
            dataset_fingerprint: Some(DatasetFingerprint::of(&self.data, &self.split)),
        }
    }

    fn parameters(&self) -> [usize; 2] {
        [self.generator.num_params(), self.discriminator.num_params()]
    }

    fn steps_per_epoch(&self) -> usize {
        (self.split.train.len() / self.config.batch_size).max(1)
    }

    fn shape(&self) -> ImageShape {
        ImageShape {
            channels: self.data.channels,
            height: self.data.height,
            width: self.data.width,
        }
    }
}

fn train_to_end(session: &mut GanSession, control: &Control, events: &EventSink) {
    events.send(Event::Gan(GanEvent::Started(GanInfo {
        epochs: session.config.epochs,
        steps_per_epoch: session.steps_per_epoch(),
        train_samples: session.split.train.len(),
        val_samples: session.split.val.len(),
        class_names: session.split.class_names(&session.data),
        parameters: session.parameters(),
        diff_augment: session.augment,
        device: session.device_name.clone(),
        run_dir: session.recorder.as_ref().map(|r| r.dir().to_owned()),
        history: session.history.clone(),
    })));
    session.warnings = Warnings::default();
    let result =
        std::panic::catch_unwind(AssertUnwindSafe(|| train_epochs(session, control, events)));
    let (status, message) = match result {
        Ok(Ok(Ended::Done(status))) => (status, None),
        Ok(Ok(Ended::Diverged(message))) => (RunStatus::Diverged, Some(message)),
        Ok(Err(message)) => (RunStatus::Failed, Some(message)),
        Err(panic) => (
            RunStatus::Failed,
            Some(format!(
                "training crashed: {}",
                super::engine::panic_text(&*panic)
            )),
        ),
    };
    let mut note = match (&message, &session.recorder) {
        (Some(m), _) => m.clone(),
        (None, Some(r)) => format!("GAN run {status}; saved in {}", r.dir().display()),
        (None, None) => format!("GAN run {status}"),
    };
    if let Some(recorder) = session.recorder.as_mut()
        && let Err(e) = recorder.finish(status, message)
    {
        note = format!("{note} (and run.json could not be finalised: {e})");
    }
    events.send(Event::Gan(GanEvent::Finished {
        status,
        message: note,
    }));
}

/// Images in [-1, 1] for a batch of training positions, and their labels.
fn real_batch(session: &GanSession, positions: &[u32], device: &Device) -> (Tensor<4>, Vec<u16>) {
    let shape = session.shape();
    let len = shape.len();
    let mut values = Vec::with_capacity(positions.len() * len);
    let mut labels = Vec::with_capacity(positions.len());
    for &p in positions {
        let index = session.split.train.indices[p as usize] as usize;
        let image = session.data.image(session.split.train.part, index);
        values.extend(image.iter().map(|&v| f32::from(v) / 127.5 - 1.0));
        labels.push(session.split.train.labels[p as usize]);
    }
    let n = labels.len();
    let tensor = Tensor::from_data(
        TensorData::new(values, [n, shape.channels, shape.height, shape.width]),
        device,
    );
    (tensor, labels)
}

/// Steps whose losses are still on the device.
struct Pending {
    step: usize,
    losses: Tensor<1>,
}

fn train_epochs(
    session: &mut GanSession,
    control: &Control,
    events: &EventSink,
) -> Result<Ended, String> {
    let device = session.device.clone().autodiff();
    let batch = session.config.batch_size;
    let steps = session.steps_per_epoch();
    let classes = session.split.num_classes();
    while session.history.len() < session.config.epochs {
        let epoch = session.history.len() + 1;
        let started = Instant::now();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            session.config.seed.wrapping_add(epoch as u64 * 7919),
        );
        let mut order: Vec<u32> = (0..session.split.train.len() as u32).collect();
        order.shuffle(&mut rng);
        let (mut d_sum, mut g_sum, mut seen) = (0.0, 0.0, 0usize);
        let mut pending: Vec<Pending> = Vec::with_capacity(READ_EVERY);
        for step in 0..steps {
            let steered = control.between_steps(
                |paused| {
                    events.send(Event::Gan(if paused {
                        GanEvent::Paused
                    } else {
                        GanEvent::Resumed
                    }));
                },
                |_| {},
            );
            if let Flow::Stop = steered {
                return Ok(Ended::Done(RunStatus::Stopped));
            }
            let positions = &order[step * batch..(step + 1) * batch];
            let (real, labels) = real_batch(session, positions, &device);
            let y = one_hot(&labels, classes, &device);
            let z = noise(batch, session.config.arch.z_dim, &mut rng, &device);
            let fake = session.generator.forward(z, y.clone());

            // The discriminator: real images up, generated ones down (hinge).
            let both = Tensor::cat(vec![real, fake.clone().detach()], 0);
            let both = if session.augment {
                diff_augment(both, &mut rng)
            } else {
                both
            };
            let scores = session
                .discriminator
                .forward(both, Tensor::cat(vec![y.clone(), y.clone()], 0));
            let real_scores = scores.clone().slice(0..batch);
            let fake_scores = scores.slice(batch..2 * batch);
            let d_loss = relu(real_scores.neg().add_scalar(1.0)).mean()
                + relu(fake_scores.add_scalar(1.0)).mean();
            let grads = GradientsParams::from_grads(d_loss.backward(), &session.discriminator);
            session.discriminator =
                session
                    .d_opt
                    .step(session.config.d_lr, session.discriminator.clone(), grads);

            // The generator: make the updated discriminator score its images up.
            let shown = if session.augment {
                diff_augment(fake, &mut rng)
            } else {
                fake
            };
            // The discriminator's own gradients are not needed here: without them its
            // weight-gradient convolutions are skipped.
            let judge = session.discriminator.clone().no_grad();
            let g_loss = judge.forward(shown, y).mean().neg();
            let grads = GradientsParams::from_grads(g_loss.backward(), &session.generator);
            session.generator =
                session
                    .g_opt
                    .step(session.config.lr, session.generator.clone(), grads);

            pending.push(Pending {
                step: step + 1,
                losses: Tensor::cat(vec![d_loss.detach(), g_loss.detach()], 0),
            });
            if pending.len() == READ_EVERY || step + 1 == steps {
                let read = std::mem::take(&mut pending);
                let values = Tensor::cat(read.iter().map(|p| p.losses.clone()).collect(), 0)
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| format!("cannot read the losses: {e:?}"))?;
                for (p, pair) in read.iter().zip(values.chunks_exact(2)) {
                    let (d, g) = (f64::from(pair[0]), f64::from(pair[1]));
                    if !d.is_finite() || !g.is_finite() {
                        return Ok(Ended::Diverged(format!(
                            "the losses became non-finite at epoch {epoch} step {} (discriminator \
                             {d}, generator {g}) — try learning rates of {:.0e} or lower",
                            p.step,
                            session.config.lr.min(session.config.d_lr) / 4.0
                        )));
                    }
                    d_sum += d;
                    g_sum += g;
                    seen += 1;
                    events.send_lossy(Event::Gan(GanEvent::Step {
                        epoch,
                        step: p.step,
                        d_loss: d,
                        g_loss: g,
                        samples_per_sec: (seen * batch) as f64
                            / started.elapsed().as_secs_f64().max(1e-9),
                    }));
                }
            }
        }

        let grid = draw_grid(session, epoch);
        let due = session.config.tstr_every > 0
            && (epoch.is_multiple_of(session.config.tstr_every) || epoch == session.config.epochs);
        let tstr_acc = if due {
            match tstr(session, epoch, &control.stop) {
                Some(result) => Some(result?),
                None => return Ok(Ended::Done(RunStatus::Stopped)),
            }
        } else {
            None
        };
        let metrics = GanEpoch {
            epoch,
            d_loss: d_sum / seen.max(1) as f64,
            g_loss: g_sum / seen.max(1) as f64,
            tstr_acc,
            secs: started.elapsed().as_secs_f64(),
        };
        session.history.push(metrics);
        if let Some(recorder) = session.recorder.as_mut() {
            let error = |e: crate::experiment::record::RecordError| crate::error::chain(&e);
            recorder
                .record_epoch(&metrics, Some(grid.check.clone()))
                .map_err(error)?;
            let dir = recorder.dir().to_owned();
            save_grid(&dir.join(format!("samples-e{epoch}.png")), &grid)?;
            let names = GanCheckpoint::for_epoch(epoch);
            let error = |e: checkpoint::CheckpointError| crate::error::chain(&e);
            checkpoint::save_module(&session.generator, &dir.join(&names.generator))
                .map_err(error)?;
            checkpoint::save_module(&session.discriminator, &dir.join(&names.discriminator))
                .map_err(error)?;
            checkpoint::save_optimizer(&session.g_opt, &dir.join(&names.g_optimizer))
                .map_err(error)?;
            checkpoint::save_optimizer(&session.d_opt, &dir.join(&names.d_optimizer))
                .map_err(error)?;
            names
                .commit(&dir, session.checkpoint.as_ref())
                .map_err(|e| crate::error::chain(&e))?;
            session.checkpoint = Some(names);
        }
        events.send(Event::Gan(GanEvent::Epoch(metrics)));
        let diversity = grid_diversity(&grid) / session.reference.diversity.max(1e-9);
        events.send(Event::Gan(GanEvent::Grid(Box::new(grid))));
        if let Some(problem) = check_health(&mut session.warnings, epoch, metrics.d_loss, diversity)
        {
            return Ok(Ended::Diverged(problem));
        }
    }
    Ok(Ended::Done(RunStatus::Completed))
}

/// Mode collapse and an all-winning discriminator, each only after it persists two epochs.
fn check_health(w: &mut Warnings, epoch: usize, d_loss: f64, diversity: f64) -> Option<String> {
    if epoch < SETTLE_EPOCHS {
        return None;
    }
    w.collapse = if diversity < COLLAPSE_RATIO {
        w.collapse + 1
    } else {
        0
    };
    w.d_wins = if d_loss < D_WINS_BELOW {
        w.d_wins + 1
    } else {
        0
    };
    if w.collapse >= 2 {
        return Some(format!(
            "mode collapse at epoch {epoch}: the generator's images of a class are nearly the same \
             ({:.0} % of the real images' variety) — try DiffAugment on, a lower learning rate or \
             another seed",
            diversity * 100.0
        ));
    }
    if w.d_wins >= 2 {
        return Some(format!(
            "the discriminator wins outright since epoch {} (loss {d_loss:.3}): the generator \
             gets no signal — try DiffAugment on or a lower discriminator learning rate",
            epoch - 1
        ));
    }
    None
}

/// Images generated together: batch norm normalises with their statistics.
const GENERATE_BATCH: usize = 256;

/// The generator's images (CHW u8) for `labels`, from noise drawn from `seed`.
///
/// Batch norm normalises with each generated batch's own statistics, as in training (`device`
/// is the autodiff device; no gradient is kept): the running averages lag the generator while
/// it learns, and early in a run they give visibly worse images. Batches are fixed by `labels`,
/// so the same labels and seed give the same images.
pub(crate) fn generate(
    generator: &Generator,
    labels: &[u16],
    seed: u64,
    device: &Device,
) -> Vec<u8> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::new();
    for chunk in labels.chunks(GENERATE_BATCH) {
        let z = noise(chunk.len(), generator.z_dim(), &mut rng, device);
        let y = one_hot(chunk, generator.classes(), device);
        let values = generator
            .forward(z, y)
            .detach()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        out.extend(
            values
                .iter()
                .map(|v| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8),
        );
    }
    out
}

/// The fixed-noise grid (noise from the run's seed, the same every epoch) with the
/// nearest-neighbour check.
fn draw_grid(session: &GanSession, epoch: usize) -> GanGrid {
    let classes = session.split.num_classes();
    let rows = classes.min(GRID_ROWS);
    let labels: Vec<u16> = (0..rows)
        .flat_map(|c| std::iter::repeat_n(c as u16, GRID_COLS))
        .collect();
    let images = generate(
        &session.generator,
        &labels,
        session.config.seed ^ 0x6772_6964,
        &session.device.clone().autodiff(),
    );
    let shape = session.shape();
    let len = shape.len();
    let mut nearest = Vec::with_capacity(images.len());
    let mut ratios = Vec::with_capacity(labels.len());
    let mut flagged = Vec::with_capacity(labels.len());
    for (image, &label) in images.chunks_exact(len).zip(&labels) {
        let pool = &session.reference.images[usize::from(label)];
        let (best, distance) = closest(image, pool, len, None);
        nearest.extend_from_slice(&pool[best * len..(best + 1) * len]);
        ratios.push((distance / session.reference.median.max(1e-9)) as f32);
        flagged.push(distance < 0.5 * session.reference.low);
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(f32::total_cmp);
    let check = NearestCheck {
        epoch,
        checked: labels.len(),
        flagged: flagged.iter().filter(|f| **f).count(),
        median_ratio: f64::from(sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)),
    };
    GanGrid {
        epoch,
        shape,
        rows,
        cols: GRID_COLS,
        images,
        nearest,
        ratios,
        flagged,
        check,
    }
}

/// Root-mean-square distance (grey levels) between two images.
fn distance(a: &[u8], b: &[u8]) -> f64 {
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = i64::from(x) - i64::from(y);
            (d * d) as u64
        })
        .sum();
    (sum as f64 / a.len().max(1) as f64).sqrt()
}

/// The index of the image of `pool` nearest to `image`, and its distance; `skip` leaves one out.
fn closest(image: &[u8], pool: &[u8], len: usize, skip: Option<usize>) -> (usize, f64) {
    pool.chunks_exact(len.max(1))
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(i, other)| (i, distance(image, other)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, f64::INFINITY))
}

/// Mean pairwise distance within each row of the grid, averaged over rows.
fn grid_diversity(grid: &GanGrid) -> f64 {
    let len = grid.shape.len();
    let mut total = 0.0;
    for row in grid.images.chunks_exact(len * grid.cols) {
        total += mean_pairwise(row, len, grid.cols);
    }
    total / grid.rows.max(1) as f64
}

fn mean_pairwise(images: &[u8], len: usize, n: usize) -> f64 {
    let (mut sum, mut pairs) = (0.0, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            sum += distance(
                &images[i * len..(i + 1) * len],
                &images[j * len..(j + 1) * len],
            );
            pairs += 1;
        }
    }
    sum / pairs.max(1) as f64
}

impl Reference {
    /// Up to [`NEAREST_REFERENCE`] training images per class and their distances.
    fn new(data: &Dataset, split: &Split) -> Self {
        let classes = split.num_classes();
        let len = data.image_len();
        let mut images = vec![Vec::new(); classes];
        for (k, (&index, &label)) in split
            .train
            .indices
            .iter()
            .zip(&split.train.labels)
            .enumerate()
        {
            let _ = k;
            let pool = &mut images[usize::from(label)];
            if pool.len() < NEAREST_REFERENCE * len {
                pool.extend_from_slice(&data.image(split.train.part, index as usize));
            }
        }
        let mut nearest = Vec::new();
        let mut diversity = 0.0;
        for pool in &images {
            let n = pool.len() / len.max(1);
            for i in 0..n.min(40) {
                let (_, d) = closest(&pool[i * len..(i + 1) * len], pool, len, Some(i));
                if d.is_finite() {
                    nearest.push(d);
                }
            }
            diversity += mean_pairwise(pool, len, n.min(GRID_COLS));
        }
        nearest.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            nearest
                .get(((nearest.len() as f64 - 1.0) * q).round().max(0.0) as usize)
                .copied()
                .unwrap_or(1.0)
        };
        Self {
            median: quantile(0.5),
            low: quantile(0.05),
            diversity: diversity / classes.max(1) as f64,
            images,
        }
    }
}

/// The grid as a PNG: generated images with a 2-pixel gap, memorised-looking ones framed.
fn save_grid(path: &Path, grid: &GanGrid) -> Result<(), String> {
    let picture = grid_picture(grid);
    let mut bytes = Vec::new();
    picture
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| format!("cannot encode {}: {e}", path.display()))?;
    crate::experiment::record::write_atomic(path, &bytes).map_err(|e| crate::error::chain(&e))
}

/// The grid as an RGB picture (width, height, pixels).
pub fn grid_picture(grid: &GanGrid) -> image::RgbImage {
    const GAP: u32 = 2;
    let s = grid.shape;
    let (w, h) = (s.width as u32, s.height as u32);
    let mut picture = image::RgbImage::from_pixel(
        grid.cols as u32 * (w + GAP) + GAP,
        grid.rows as u32 * (h + GAP) + GAP,
        image::Rgb([40, 40, 40]),
    );
    let plane = s.width * s.height;
    for (k, img) in grid.images.chunks_exact(s.len()).enumerate() {
        let (r, c) = ((k / grid.cols) as u32, (k % grid.cols) as u32);
        let (x0, y0) = (GAP + c * (w + GAP), GAP + r * (h + GAP));
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) as usize;
                let px = if s.channels == 3 {
                    [img[i], img[plane + i], img[2 * plane + i]]
                } else {
                    [img[i]; 3]
                };
                picture.put_pixel(x0 + x, y0 + y, image::Rgb(px));
            }
        }
        if grid.flagged.get(k).copied().unwrap_or(false) {
            for x in 0..w + 2 {
                for y in [0, h + 1] {
                    picture.put_pixel(x0 + x - 1, y0 + y - 1, image::Rgb([230, 60, 40]));
                }
            }
            for y in 0..h + 2 {
                for x in [0, w + 1] {
                    picture.put_pixel(x0 + x - 1, y0 + y - 1, image::Rgb([230, 60, 40]));
                }
            }
        }
    }
    picture
}

/// Train on synthetic, test on real: a SimpleCNN learns from `tstr_per_class` generated images
/// per class and is scored on the real validation images. `None` when stopped meanwhile.
fn tstr(session: &GanSession, epoch: usize, stop: &AtomicBool) -> Option<Result<f64, String>> {
    let classes = session.split.num_classes();
    let per_class = session.config.tstr_per_class;
    let labels: Vec<u16> = (0..classes)
        .flat_map(|c| std::iter::repeat_n(c as u16, per_class))
        .collect();
    let seed = session.config.seed.wrapping_add(epoch as u64 * 104_729);
    let images = generate(
        &session.generator,
        &labels,
        seed,
        &session.device.clone().autodiff(),
    );
    let shape = session.shape();
    let input = input_shape(&session.data, &session.split);
    let device = session.device.clone().autodiff();
    let mut model = match ModelConfig::default().init(input, &device, seed) {
        Ok(model) => model,
        Err(e) => return Some(Err(crate::error::chain(&e))),
    };
    let norm = PixelNorm::new(&session.split.norm);
    let plane = shape.height * shape.width;
    let mut optimizer: ModuleOptimizer = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..labels.len()).collect();
    let len = shape.len();
    for _ in 0..session.config.tstr_epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(64) {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            let mut values = Vec::with_capacity(chunk.len() * len);
            for &i in chunk {
                norm.extend(&images[i * len..(i + 1) * len], plane, &mut values);
            }
            let x = Tensor::<4>::from_data(
                TensorData::new(
                    values,
                    [chunk.len(), shape.channels, shape.height, shape.width],
                ),
                &device,
            );
            let targets: Vec<i64> = chunk.iter().map(|&i| i64::from(labels[i])).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(targets, [chunk.len()]), &device);
            let loss = loss_fn.forward(model.forward(x), y);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(1e-3, model, grads);
        }
    }
    let model = model.valid();
    let val = &session.split.val;
    let mut correct = 0usize;
    let positions: Vec<usize> = (0..val.len()).collect();
    for chunk in positions.chunks(500) {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        let mut values = Vec::with_capacity(chunk.len() * len);
        for &p in chunk {
            let image = session.data.image(val.part, val.indices[p] as usize);
            norm.extend(&image, plane, &mut values);
        }
        let x = Tensor::<4>::from_data(
            TensorData::new(
                values,
                [chunk.len(), shape.channels, shape.height, shape.width],
            ),
            &session.device,
        );
        let predicted = match model
            .forward(x)
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
        {
            Ok(p) => p,
            Err(e) => return Some(Err(format!("cannot read the classifier's outputs: {e:?}"))),
        };
        correct += chunk
            .iter()
            .zip(&predicted)
            .filter(|(p, guess)| i64::from(val.labels[**p]) == **guess)
            .count();
    }
    Some(Ok(correct as f64 / val.len().max(1) as f64))
}

/// `per_class` images per class from the generator of the GAN run in `dir` (its last committed
/// epoch), noise drawn from `seed`; on the CPU.
pub fn sample(dir: &Path, per_class: usize, seed: u64) -> Result<SyntheticImages, String> {
    let summary = read_gan_summary(dir)?;
    let config = GanConfig::load(&dir.join("config.toml"))?;
    let Some(committed) = GanCheckpoint::read(dir)? else {
        return Err(format!(
            "{} has no finished epoch yet: its generator has not been saved",
            dir.display()
        ));
    };
    if per_class == 0 {
        return Err("ask for at least 1 image per class".to_owned());
    }
    let [channels, height, width] = summary.shape;
    let classes = summary.class_names.len();
    let input = InputShape {
        channels,
        height,
        width,
        classes,
    };
    config
        .arch
        .validate(input)
        .map_err(|e| crate::error::chain(&e))?;
    let device = Device::flex().autodiff();
    let (generator, _) = GanArch::init(&config.arch, input, &device, config.seed);
    let generator = checkpoint::load_module(generator, &dir.join(&committed.generator))
        .map_err(|e| crate::error::chain(&e))?;
    let labels: Vec<u16> = (0..classes)
        .flat_map(|c| std::iter::repeat_n(c as u16, per_class))
        .collect();
    let pixels = generate(&generator, &labels, seed, &device);
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(SyntheticImages {
        width,
        height,
        channels,
        class_names: summary.class_names,
        pixels,
        labels,
        origin: format!("GAN run {name}, epoch {}, seed {seed}", committed.epoch),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_and_an_all_winning_discriminator_end_the_run_after_two_epochs() {
        let mut w = Warnings::default();
        // Early epochs are never judged.
        assert!(check_health(&mut w, 1, 0.0, 0.0).is_none());
        assert!(
            check_health(&mut w, 3, 0.9, 0.05).is_none(),
            "one collapsed epoch is a warning"
        );
        let message = check_health(&mut w, 4, 0.9, 0.05).unwrap();
        assert!(message.contains("mode collapse at epoch 4"), "{message}");
        let mut w = Warnings::default();
        assert!(check_health(&mut w, 5, 0.01, 0.8).is_none());
        assert!(
            check_health(&mut w, 6, 0.5, 0.8).is_none(),
            "a recovery resets the count"
        );
        assert!(check_health(&mut w, 7, 0.01, 0.8).is_none());
        let message = check_health(&mut w, 8, 0.001, 0.8).unwrap();
        assert!(
            message.contains("discriminator wins outright since epoch 7"),
            "{message}"
        );
        assert!(check_health(&mut Warnings::default(), 9, 0.8, 0.6).is_none());
    }

    #[test]
    fn distances_find_the_nearest_image() {
        let pool = [0u8, 0, 0, 0, 10, 10, 10, 10, 200, 200, 200, 200];
        assert_eq!(closest(&[9, 9, 12, 10], &pool, 4, None).0, 1);
        assert_eq!(closest(&[10, 10, 10, 10], &pool, 4, Some(1)).0, 0);
        assert!((distance(&[0, 0], &[3, 4]) - 12.5f64.sqrt()).abs() < 1e-9);
        assert!((mean_pairwise(&pool, 4, 3) - (10.0 + 200.0 + 190.0) / 3.0).abs() < 1e-9);
    }
}
