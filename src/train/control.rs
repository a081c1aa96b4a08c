//! What the training worker and the engine share: the commands that travel to the worker thread,
//! how a run is steered between batches ([`Control`]) and where its events go ([`EventSink`]).
//! Both sides import this module; neither imports the other's internals.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

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

/// A request to run on a Ray cluster instead of this machine.
#[derive(Debug, Clone)]
pub struct RemoteRequest {
    /// What to train.
    pub config: ExperimentConfig,
    /// The local folder the run fills as its epochs arrive.
    pub run_dir: PathBuf,
    /// The cluster's job server, e.g. `ray://HOST:8265`.
    pub address: String,
    /// An optional `Name: value` header for a cluster behind a proxy.
    pub header: Option<String>,
    /// The program the job runs (`None`: this one), e.g. a Linux build sent from another system.
    pub program: Option<PathBuf>,
}

/// What travels on the command channel: the public [`Command`]s plus the run directory.
#[derive(Debug)]
pub(crate) enum WorkerCommand {
    Start(Box<StartRequest>),
    /// Run on a Ray cluster, followed into a local folder.
    StartRemote(Box<RemoteRequest>),
    /// Run the learning-rate finder on this configuration.
    FindLr(Box<ExperimentConfig>),
    /// Continue the run recorded in a directory, optionally to a new epoch count.
    ResumeDir(PathBuf, Option<usize>),
    /// Train a GAN.
    StartGan(Box<super::gan::GanRequest>),
    /// Continue the GAN run recorded in a directory, optionally to a new epoch count.
    ResumeGan(PathBuf, Option<usize>),
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

/// What a run does after [`Control::between_steps`].
pub(crate) enum Flow {
    /// Train the next step.
    Continue,
    /// End the run (the user stopped it, or the window closed).
    Stop,
}

impl Control {
    /// Handles the commands that arrived since the last step: Pause blocks until Resume or Stop
    /// (`paused(true)` and `paused(false)` announce it), Stop ends the run, and a command that
    /// arrives while paused goes to `while_paused` (e.g. a new learning rate). Other commands
    /// (a second Start) are ignored.
    pub(crate) fn between_steps(
        &self,
        mut paused: impl FnMut(bool),
        mut while_paused: impl FnMut(Command),
    ) -> Flow {
        let mut is_paused = false;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Flow::Stop;
            }
            let command = if is_paused {
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
                WorkerCommand::Control(Command::Stop) => return Flow::Stop,
                WorkerCommand::Control(Command::Pause) if !is_paused => {
                    is_paused = true;
                    paused(true);
                }
                WorkerCommand::Control(Command::Resume) if is_paused => {
                    is_paused = false;
                    paused(false);
                }
                WorkerCommand::Control(other) if is_paused => while_paused(other),
                _ => {}
            }
        }
    }
}
