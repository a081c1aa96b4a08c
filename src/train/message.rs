//! What goes into the training worker ([`Command`]) and what comes out of it ([`Event`]).
//!
//! Events carry plain numbers and small owned values, never tensors, so the UI thread can hold
//! them without touching the backend.

use serde::{Deserialize, Serialize};

use crate::experiment::ExperimentConfig;
pub use crate::experiment::gan::{GanEpoch, NearestCheck};
pub use crate::experiment::metrics::{ConfigChange, EpochMetrics, Restored, RunStatus};

/// A request to the training worker.
#[derive(Debug, Clone)]
pub enum Command {
    /// Start a run with this configuration (ignored while a run is active).
    Start(Box<ExperimentConfig>),
    /// Pause between two batches; model and optimizer state are kept.
    Pause,
    /// Continue a paused run.
    Resume,
    /// End the current run after the batch in progress; it is recorded as `stopped`.
    Stop,
    /// Train the last run (finished, stopped or early-stopped) for this many more epochs, in the
    /// same run record, from its last weights and optimizer state.
    Extend(usize),
    /// Change the learning rate and schedule of a paused run from its next step on.
    Update {
        /// New base learning rate.
        lr: f64,
        /// New schedule.
        schedule: crate::experiment::Schedule,
    },
}

/// Sizes of a run, known once its data is loaded and split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Epochs the run will train.
    pub epochs: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
    /// Training samples.
    pub train_samples: usize,
    /// Validation samples.
    pub val_samples: usize,
    /// Trainable parameters of the model.
    pub num_params: usize,
    /// Backend and device the run trains on, e.g. "CPU (flex)".
    pub device: String,
    /// Directory the run is recorded in, if any.
    pub run_dir: Option<std::path::PathBuf>,
    /// Names of the classes in the model's output order (after any class selection).
    pub class_names: Vec<String>,
    /// The run trains on a GPU that has not yet compiled this model's kernels in this program
    /// (see [`super::warm`]): its first steps wait while they compile.
    pub compiling: bool,
}

/// Something the worker reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A run has started training.
    Started(RunInfo),
    /// One optimizer step finished.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The batch's training loss.
        loss: f64,
        /// Learning rate of the step.
        lr: f64,
        /// Training throughput over the epoch so far.
        samples_per_sec: f64,
    },
    /// One epoch finished, validation included.
    Epoch(EpochMetrics),
    /// The run is paused (after a `Pause` command).
    Paused,
    /// The run continues (after a `Resume` command).
    Resumed,
    /// The validation set's confusion matrix, per-class metrics and worst mistakes, after an
    /// epoch (and for the restored best weights when a run ends).
    Evaluated(Box<crate::experiment::evaluation::Evaluation>),
    /// The learning-rate finder finished.
    LrFound(super::lr_finder::LrFinding),
    /// The learning rate or schedule changed during a pause.
    Changed(ConfigChange),
    /// The images of an epoch's last training batch, as the model was given them.
    TrainingBatch(Box<TrainingBatch>),
    /// The run ended; no more events for it (until it is extended).
    Finished {
        /// How it ended.
        status: RunStatus,
        /// A note for the user, e.g. where the run was saved.
        message: String,
        /// The best epoch whose weights the model now holds, if any epoch finished.
        restored: Option<Restored>,
    },
    /// The run could not start or broke; no more events for it.
    Failed {
        /// What went wrong, readable as is.
        message: String,
    },
    /// News of a GAN run (they never mix with a classifier run's events).
    Gan(GanEvent),
}

/// Something a GAN run reports.
#[derive(Debug, Clone, PartialEq)]
pub enum GanEvent {
    /// The run has started (or been resumed or extended) training.
    Started(GanInfo),
    /// One step (a discriminator and a generator update) finished.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The step's discriminator loss.
        d_loss: f64,
        /// The step's generator loss.
        g_loss: f64,
        /// Real images per second over the epoch so far.
        samples_per_sec: f64,
    },
    /// An epoch finished (the train-on-synthetic score included, when measured).
    Epoch(GanEpoch),
    /// The fixed-noise grid after an epoch.
    Grid(Box<GanGrid>),
    /// Paused between two steps.
    Paused,
    /// Going on after a pause.
    Resumed,
    /// The run ended; no more events for it (until it is extended).
    Finished {
        /// How it ended.
        status: RunStatus,
        /// A note for the user.
        message: String,
    },
    /// The run could not start; no more events for it.
    Failed {
        /// What went wrong, readable as is.
        message: String,
    },
}

/// Sizes of a GAN run, known once its data is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct GanInfo {
    /// Epochs planned.
    pub epochs: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Real training images.
    pub train_samples: usize,
    /// Real validation images (for the score).
    pub val_samples: usize,
    /// Class names, one grid row each.
    pub class_names: Vec<String>,
    /// Parameters of the generator and the discriminator.
    pub parameters: [usize; 2],
    /// Whether the discriminator sees augmented images.
    pub diff_augment: bool,
    /// The backend, e.g. "CPU (flex)".
    pub device: String,
    /// The run folder, if recorded.
    pub run_dir: Option<std::path::PathBuf>,
    /// The epochs recorded before (a resumed or extended run), to draw again.
    pub history: Vec<GanEpoch>,
}

/// The generator's images for the fixed noise: one row per class, the same noise every epoch,
/// each image beside its nearest training image.
#[derive(Debug, Clone, PartialEq)]
pub struct GanGrid {
    /// 1-based epoch.
    pub epoch: usize,
    /// Image size and channels.
    pub shape: crate::augment::ImageShape,
    /// Rows (classes).
    pub rows: usize,
    /// Images per row.
    pub cols: usize,
    /// The generated images, CHW `u8` each, row by row.
    pub images: Vec<u8>,
    /// For each, its nearest training image of the same class.
    pub nearest: Vec<u8>,
    /// For each, its distance to that image over the training images' typical
    /// nearest-neighbour distance (below 0.5 × the 5 % quantile: flagged).
    pub ratios: Vec<f32>,
    /// For each, whether it looks memorised.
    pub flagged: Vec<bool>,
    /// The summary of the check.
    pub check: NearestCheck,
}

/// The augmented images of one training batch (at most [`TrainingBatch::MAX_IMAGES`]), sent
/// once per epoch so the preview can show what the model actually saw.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingBatch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Image width, height and channels.
    pub shape: crate::augment::ImageShape,
    /// The images, CHW `u8` each, concatenated (mixed images as blended grey levels).
    pub images: Vec<u8>,
    /// Each image's own label.
    pub labels: Vec<u16>,
    /// How the batch was mixed (mixup or cutmix), if it was.
    pub mixing: Option<String>,
    /// Seconds the training step waited for prepared batches during the epoch.
    pub data_wait_secs: f64,
    /// Seconds spent training in the epoch, waiting included.
    pub train_secs: f64,
}

impl TrainingBatch {
    /// Most images sent per batch.
    pub const MAX_IMAGES: usize = 32;
}
