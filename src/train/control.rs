//! What the training worker and the engine share: the commands that travel to the worker thread,
//! how a run is steered between batches ([`Control`]) and where its events go ([`EventSink`]).
//! Both sides import this module; neither imports the other's internals.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crossbeam_channel::{Receiver, Sender};

use super::message::{Command, Event};
use crate::experiment::ExperimentConfig;

/// Called after the worker sends events, e.g. to ask the GUI for a repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A request to start a run, with the directory to record it in.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// What to train.
    pub config: ExperimentConfig,
    /// Where `config.toml`, `metrics.csv` and `run.json` go (`None`: not recorded).
    pub run_dir: Option<PathBuf>,
}

/// What travels on the command channel: the public [`Command`]s plus the run directory.
#[derive(Debug)]
pub(crate) enum WorkerCommand {
    Start(Box<StartRequest>),
    /// Run the learning-rate finder on this configuration.
    FindLr(Box<ExperimentConfig>),
    /// Continue the run recorded in a directory, optionally to a new epoch count.
    ResumeDir(PathBuf, Option<usize>),
    Control(Command),
}

/// How the worker steers a run: a stop flag checked between batches and the command channel.
pub(crate) struct Control {
    /// Raised to stop the run after the current batch.
    pub stop: Arc<AtomicBool>,
    pub commands: Receiver<WorkerCommand>,
}

/// The sending side of the event channel, with the waker.
pub(crate) struct EventSink {
    pub(crate) tx: Sender<Event>,
    pub(crate) waker: Waker,
}

impl EventSink {
    /// Sends an event that must arrive (epoch, end of run). Waits while the channel is full, but
    /// gives up when the receiver is gone.
    pub(crate) fn send(&self, event: Event) {
        // An Err means the receiver is gone (window closed): nobody is left to tell.
        self.tx.send(event).ok();
        (self.waker)();
    }

    /// Sends an event that may be dropped when the UI is behind (per-step losses).
    pub(crate) fn send_lossy(&self, event: Event) {
        if self.tx.try_send(event).is_ok() {
            (self.waker)();
        }
    }
}
