//! The training loop shared by the GUI and the CLI.
//!
//! One call of [`run`] is one run: load and split the data, build the model, then for each epoch
//! train on shuffled mini-batches and evaluate on the validation samples. Every step and epoch is
//! reported as an [`Event`]; every epoch is appended to the run directory as it ends.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::message::{Command, EpochMetrics, Event, RunInfo, RunStatus};
use super::worker::{EventSink, WorkerCommand};
use crate::data::batch::{Normalizer, make_batch};
use crate::data::{self, Dataset, Split, Subset};
use crate::experiment::record::{RunRecorder, RunSummary, now_rfc3339};
use crate::experiment::{DeviceKind, ExperimentConfig};
use crate::model::{InputShape, Model};

/// Validation batch size: larger than training batches since no gradients are kept.
const EVAL_BATCH: usize = 500;

/// How the worker steers a run: a stop flag checked between batches and the command channel.
pub(crate) struct Control {
    /// Raised to stop the run after the current batch.
    pub stop: Arc<AtomicBool>,
    pub(crate) commands: Receiver<WorkerCommand>,
}

/// What the loop should do next.
enum Flow {
    Continue,
    Stop,
}

impl Control {
    /// Handles pending commands between two batches; blocks while paused.
    fn between_batches(&self, events: &EventSink) -> Flow {
        let mut paused = false;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Flow::Stop;
            }
            let command = if paused {
                match self.commands.recv_timeout(Duration::from_millis(50)) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return Flow::Stop,
                }
            } else {
                match self.commands.try_recv() {
                    Ok(c) => c,
                    Err(_) => return Flow::Continue,
                }
            };
            match command {
                WorkerCommand::Control(Command::Pause) if !paused => {
                    paused = true;
                    events.send(Event::Paused);
                }
                WorkerCommand::Control(Command::Resume) if paused => {
                    paused = false;
                    events.send(Event::Resumed);
                }
                WorkerCommand::Control(Command::Stop) => return Flow::Stop,
                // A second Start, or Pause/Resume that change nothing: ignored.
                _ => {}
            }
        }
    }
}

/// Runs one experiment to its end, reporting through `events`. Never panics: failures (bad data,
/// no GPU, a crash inside the backend) end as a `Failed` event and a `failed` run record.
pub(crate) fn run(
    config: &ExperimentConfig,
    run_dir: Option<&Path>,
    control: &Control,
    events: &EventSink,
) {
    let prepared = match prepare(config) {
        Ok(p) => p,
        Err(message) => {
            events.send(Event::Failed { message });
            return;
        }
    };
    let mut recorder = match run_dir {
        Some(dir) => match RunRecorder::create(dir, config, prepared.summary(config)) {
            Ok(r) => Some(r),
            Err(e) => {
                events.send(Event::Failed {
                    message: e.to_string(),
                });
                return;
            }
        },
        None => None,
    };
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        train(config, &prepared, recorder.as_mut(), control, events)
    }));
    let (status, message) = match result {
        Ok(Ok(status)) => (status, None),
        Ok(Err(message)) => (RunStatus::Failed, Some(message)),
        Err(panic) => (
            RunStatus::Failed,
            Some(format!("training crashed: {}", panic_text(&*panic))),
        ),
    };
    let mut note = match (&message, &recorder) {
        (Some(m), _) => m.clone(),
        (None, Some(r)) => format!("Run {status}; saved in {}", r.dir().display()),
        (None, None) => format!("Run {status}"),
    };
    if let Some(recorder) = recorder.as_mut()
        && let Err(e) = recorder.finish(status, message.clone())
    {
        note = format!("{note} (and the run record could not be finalised: {e})");
    }
    events.send(Event::Finished {
        status,
        message: note,
    });
}

/// Everything built before the first step.
struct Prepared {
    data: Arc<Dataset>,
    split: Split,
    device: Device,
    device_name: String,
}

impl Prepared {
    fn summary(&self, config: &ExperimentConfig) -> RunSummary {
        RunSummary {
            status: RunStatus::Running,
            epochs_done: 0,
            epochs_planned: config.train.epochs,
            train_samples: self.split.train.len(),
            val_samples: self.split.val.len(),
            best_epoch: None,
            best_val_loss: None,
            dataset: config.dataset.source.short_name().to_owned(),
            model: config.model.short_name().to_owned(),
            device: self.device_name.clone(),
            started_at: now_rfc3339(),
            finished_at: None,
            message: None,
        }
    }
}

fn prepare(config: &ExperimentConfig) -> Result<Prepared, String> {
    config.train.validate().map_err(|e| e.to_string())?;
    let data = data::load(&config.dataset.source).map_err(|e| e.to_string())?;
    let split =
        data::split(&data, config.dataset.validation, config.seed).map_err(|e| e.to_string())?;
    config
        .model
        .layers(InputShape::of(&data))
        .map_err(|e| e.to_string())?;
    let (device, device_name) = match config.device {
        DeviceKind::Cpu => (Device::flex(), "CPU (flex)".to_owned()),
        DeviceKind::Gpu => (
            Device::wgpu(burn::prelude::DeviceKind::DefaultDevice),
            "GPU (wgpu)".to_owned(),
        ),
    };
    Ok(Prepared {
        data,
        split,
        device,
        device_name,
    })
}

fn train(
    config: &ExperimentConfig,
    prepared: &Prepared,
    mut recorder: Option<&mut RunRecorder>,
    control: &Control,
    events: &EventSink,
) -> Result<RunStatus, String> {
    let Prepared {
        data,
        split,
        device,
        device_name,
    } = prepared;
    let input = InputShape::of(data);
    device.seed(config.seed);
    let train_device = device.clone().autodiff();
    let mut model = config
        .model
        .init(input, &train_device)
        .map_err(|e| e.to_string())?;
    let mut optimizer = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    let normalizer = Normalizer::new(&split.norm);
    let batch_size = config.train.batch_size.min(split.train.len());
    let steps_per_epoch = split.train.len().div_ceil(batch_size);
    let lr = config.train.lr;

    events.send(Event::Started(RunInfo {
        epochs: config.train.epochs,
        steps_per_epoch,
        train_samples: split.train.len(),
        val_samples: split.val.len(),
        num_params: model.num_params(),
        device: device_name.clone(),
        run_dir: recorder.as_ref().map(|r| r.dir().to_owned()),
    }));

    let mut order = split.train.indices.clone();
    for epoch in 1..=config.train.epochs {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed.wrapping_add(epoch as u64));
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        let mut correct = 0usize;
        let mut seen = 0usize;
        let mut train_time = Duration::ZERO;
        for (step, batch) in order.chunks(batch_size).enumerate() {
            if let Flow::Stop = control.between_batches(events) {
                return Ok(RunStatus::Stopped);
            }
            let t0 = Instant::now();
            let (images, labels) =
                make_batch(data, split.train.part, batch, &normalizer, &train_device);
            let logits = model.forward(images);
            let loss = loss_fn.forward(logits.clone(), labels.clone());
            let batch_correct = count_correct(logits, labels);
            let batch_loss = f64::from(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
            train_time += t0.elapsed();

            loss_sum += batch_loss * batch.len() as f64;
            correct += batch_correct;
            seen += batch.len();
            events.send_lossy(Event::Step {
                epoch,
                step: step + 1,
                loss: batch_loss,
                samples_per_sec: seen as f64 / train_time.as_secs_f64().max(1e-9),
            });
        }

        let t0 = Instant::now();
        let Some((val_loss, val_acc)) =
            evaluate(&model, data, &split.val, &normalizer, device, control)
        else {
            return Ok(RunStatus::Stopped);
        };
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss,
            train_acc: correct as f64 / seen.max(1) as f64,
            val_acc,
            lr,
            train_secs: train_time.as_secs_f64(),
            val_secs: t0.elapsed().as_secs_f64(),
        };
        if let Some(recorder) = recorder.as_deref_mut() {
            recorder.record_epoch(&metrics).map_err(|e| e.to_string())?;
        }
        events.send(Event::Epoch(metrics));
    }
    Ok(RunStatus::Completed)
}

/// Number of samples whose highest logit is the true class.
fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let n = labels.dims()[0];
    let predicted = logits.argmax(1).reshape([n]);
    let hits: i64 = predicted.equal(labels).int().sum().into_scalar();
    usize::try_from(hits).unwrap_or(0)
}

/// Mean loss and accuracy on a subset, without gradients. `None` if stopped meanwhile.
fn evaluate(
    model: &Model,
    data: &Dataset,
    subset: &Subset,
    normalizer: &Normalizer,
    device: &Device,
    control: &Control,
) -> Option<(f64, f64)> {
    let model = model.valid();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut loss_sum = 0.0;
    let mut correct = 0usize;
    for batch in subset.indices.chunks(EVAL_BATCH) {
        if control.stop.load(Ordering::SeqCst) {
            return None;
        }
        let (images, labels) = make_batch(data, subset.part, batch, normalizer, device);
        let logits = model.forward(images);
        let loss: f32 = loss_fn
            .forward(logits.clone(), labels.clone())
            .into_scalar();
        loss_sum += f64::from(loss) * batch.len() as f64;
        correct += count_correct(logits, labels);
    }
    let n = subset.len().max(1) as f64;
    Some((loss_sum / n, correct as f64 / n))
}

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_owned())
}
