//! What the UI knows about the current run: plain numbers received from the worker, ready to plot.

use std::time::{Duration, Instant};

use crate::experiment::evaluation::Evaluation;
use crate::train::message::{
    ConfigChange, EpochMetrics, Event, Restored, RunInfo, RunStatus, TrainingBatch,
};

/// Where the current run stands, as far as the UI knows.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// No run yet.
    Idle,
    /// Start was sent; waiting for the worker to load data and build the model.
    Starting,
    /// Training.
    Running,
    /// Paused by the user.
    Paused,
    /// Ended (completed, stopped or failed).
    Ended(RunStatus),
}

/// The live record of one run: metrics per epoch, losses per step, progress.
#[derive(Debug)]
pub struct RunView {
    /// Where the run stands.
    pub phase: Phase,
    /// Sizes of the run, from the `Started` event.
    pub info: Option<RunInfo>,
    /// One entry per finished epoch.
    pub epochs: Vec<EpochMetrics>,
    /// Per-step training loss as `[fractional epoch, loss]`.
    pub steps: Vec<[f64; 2]>,
    /// Per-step learning rate as `[fractional epoch, lr]`.
    pub lrs: Vec<[f64; 2]>,
    /// Learning-rate and schedule changes made while paused.
    pub changes: Vec<ConfigChange>,
    /// The best weights restored when the run ended.
    pub restored: Option<Restored>,
    /// The latest evaluation on the validation samples.
    pub evaluation: Option<Evaluation>,
    /// The last training batch the model was given (one per epoch).
    pub last_batch: Option<Box<TrainingBatch>>,
    /// Latest step position: (epoch, step).
    pub position: (usize, usize),
    /// Latest training throughput.
    pub samples_per_sec: f64,
    /// Message from the end of the run (saved where, or what failed).
    pub message: Option<String>,
    /// The run trains on a Ray cluster (no pause, no "+N epochs").
    pub remote: bool,
    started: Option<Instant>,
    /// Per-step points already there when the run (or its extension) started.
    steps_at_start: usize,
    paused_at: Option<Instant>,
    paused_total: Duration,
}

impl Default for RunView {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            info: None,
            epochs: Vec::new(),
            steps: Vec::new(),
            lrs: Vec::new(),
            changes: Vec::new(),
            restored: None,
            evaluation: None,
            last_batch: None,
            position: (0, 0),
            samples_per_sec: 0.0,
            message: None,
            remote: false,
            started: None,
            steps_at_start: 0,
            paused_at: None,
            paused_total: Duration::ZERO,
        }
    }
}

impl RunView {
    /// A fresh view for a run that was just requested.
    pub fn starting() -> Self {
        Self {
            phase: Phase::Starting,
            ..Self::default()
        }
    }

    /// Whether a run is in progress (its buttons: Pause/Stop rather than Start).
    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Running | Phase::Paused)
    }

    /// While a GPU run waits for its kernels to compile (no step yet, see
    /// [`crate::train::warm`]): the seconds it has waited.
    pub fn compiling_secs(&self) -> Option<f64> {
        let info = self.info.as_ref()?;
        let waiting = info.compiling
            && self.phase == Phase::Running
            && self.steps.len() == self.steps_at_start;
        waiting.then(|| self.started.map_or(0.0, |t| t.elapsed().as_secs_f64()))
    }

    /// Folds one worker event into the view.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Started(info) => {
                // A continued run ("+N epochs") re-sends its earlier epochs after this.
                self.epochs.clear();
                self.restored = None;
                self.message = None;
                self.info = Some(info);
                self.phase = Phase::Running;
                self.started = Some(Instant::now());
                self.steps_at_start = self.steps.len();
            }
            Event::Step {
                epoch,
                step,
                loss,
                lr,
                samples_per_sec,
            } => {
                let per_epoch = self.info.as_ref().map_or(1, |i| i.steps_per_epoch.max(1));
                let x = (epoch - 1) as f64 + step as f64 / per_epoch as f64;
                self.steps.push([x, loss]);
                self.lrs.push([x, lr]);
                self.position = (epoch, step);
                self.samples_per_sec = samples_per_sec;
            }
            Event::Epoch(metrics) => self.epochs.push(metrics),
            Event::Paused => {
                self.phase = Phase::Paused;
                self.paused_at = Some(Instant::now());
            }
            Event::Resumed => {
                self.phase = Phase::Running;
                if let Some(at) = self.paused_at.take() {
                    self.paused_total += at.elapsed();
                }
            }
            Event::Changed(change) => self.changes.push(change),
            Event::Evaluated(evaluation) => self.evaluation = Some(*evaluation),
            Event::TrainingBatch(batch) => self.last_batch = Some(batch),
            // Not part of a run: the app handles the finder's answer and GAN runs.
            Event::LrFound(_) | Event::Gan(_) => {}
            Event::Finished {
                status,
                message,
                restored,
            } => {
                self.phase = Phase::Ended(status);
                self.message = Some(message);
                self.restored = restored;
            }
            Event::Failed { message } => {
                self.phase = Phase::Ended(RunStatus::Failed);
                self.message = Some(message);
            }
        }
    }

    /// Fraction of the run done, in 0..=1.
    pub fn fraction_done(&self) -> f32 {
        let Some(info) = &self.info else { return 0.0 };
        if matches!(self.phase, Phase::Ended(RunStatus::Completed)) {
            return 1.0;
        }
        let (epoch, step) = self.position;
        let done_epochs = self.epochs.len().max(epoch.saturating_sub(1));
        let partial = if epoch > self.epochs.len() {
            step as f64 / info.steps_per_epoch.max(1) as f64
        } else {
            0.0
        };
        ((done_epochs as f64 + partial) / info.epochs.max(1) as f64).clamp(0.0, 1.0) as f32
    }

    /// Seconds left, extrapolated from the time spent so far (pauses excluded).
    pub fn eta_secs(&self) -> Option<f64> {
        let started = self.started?;
        let fraction = f64::from(self.fraction_done());
        if !(0.001..1.0).contains(&fraction) || self.phase != Phase::Running {
            return None;
        }
        let elapsed = (started.elapsed() - self.paused_total).as_secs_f64();
        Some(elapsed * (1.0 - fraction) / fraction)
    }
}

/// `m:ss` (or `h:mm:ss`) for an ETA.
pub fn format_duration(secs: f64) -> String {
    let total = secs.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            epochs: 4,
            steps_per_epoch: 10,
            train_samples: 100,
            val_samples: 20,
            num_params: 1,
            device: "cpu".into(),
            run_dir: None,
            class_names: Vec::new(),
            compiling: false,
        }
    }

    fn epoch(n: usize, val_loss: f64) -> EpochMetrics {
        EpochMetrics {
            epoch: n,
            train_loss: 1.0,
            val_loss,
            train_acc: 0.5,
            val_acc: 0.5,
            lr: 1e-3,
            train_secs: 1.0,
            val_secs: 0.1,
        }
    }

    #[test]
    fn steps_are_placed_at_fractional_epochs_and_progress_follows() {
        let mut view = RunView::starting();
        view.apply(Event::Started(info()));
        view.apply(Event::Step {
            epoch: 1,
            step: 5,
            loss: 2.0,
            lr: 1e-3,
            samples_per_sec: 100.0,
        });
        assert_eq!(view.steps, vec![[0.5, 2.0]]);
        assert!((view.fraction_done() - 0.125).abs() < 1e-6);
        view.apply(Event::Step {
            epoch: 1,
            step: 10,
            loss: 1.5,
            lr: 1e-3,
            samples_per_sec: 100.0,
        });
        view.apply(Event::Epoch(epoch(1, 1.2)));
        view.apply(Event::Step {
            epoch: 2,
            step: 10,
            loss: 1.0,
            lr: 1e-3,
            samples_per_sec: 100.0,
        });
        view.apply(Event::Epoch(epoch(2, 0.9)));
        view.apply(Event::Epoch(epoch(3, 1.1)));
        assert_eq!(view.steps.last(), Some(&[2.0, 1.0]));
        assert!((view.fraction_done() - 0.75).abs() < 1e-6);
        assert_eq!(
            crate::experiment::EarlyStopping::default().best_epoch(&view.epochs),
            Some(2)
        );
        view.apply(Event::Finished {
            status: RunStatus::Stopped,
            message: "saved".into(),
            restored: None,
        });
        assert_eq!(view.phase, Phase::Ended(RunStatus::Stopped));
        assert!(!view.is_active());
    }

    /// A GPU run whose kernels are not compiled yet says so until its first step, and says it
    /// in the run bar; a run on compiled kernels never does.
    #[test]
    fn a_gpu_run_says_it_compiles_until_its_first_step() {
        let mut view = RunView::starting();
        view.apply(Event::Started(RunInfo {
            compiling: true,
            ..info()
        }));
        assert!(view.compiling_secs().is_some());
        let text = crate::app::run_bar::progress_text(&view);
        assert!(text.starts_with("Compiling GPU kernels"), "{text}");
        view.apply(Event::Step {
            epoch: 1,
            step: 1,
            loss: 2.0,
            lr: 1e-3,
            samples_per_sec: 10.0,
        });
        assert_eq!(view.compiling_secs(), None);
        let text = crate::app::run_bar::progress_text(&view);
        assert!(text.starts_with("Epoch 1/4"), "{text}");

        let mut warm = RunView::starting();
        warm.apply(Event::Started(info()));
        assert_eq!(warm.compiling_secs(), None);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(5.4), "0:05");
        assert_eq!(format_duration(125.0), "2:05");
        assert_eq!(format_duration(3725.0), "1:02:05");
    }
}
