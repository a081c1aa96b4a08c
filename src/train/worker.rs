//! The training worker: a named thread that runs the engine and talks only through channels.
//!
//! Commands go in over a bounded channel, events come out over another; the thread never touches
//! widgets. After sending, it calls the `waker` (the GUI passes one that asks egui for a repaint),
//! so the UI wakes up only when there is news.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::control::{Control, EventSink, WorkerCommand};
pub use super::control::{RemoteRequest, StartRequest, Waker};
use super::engine;
use super::message::{Command, Event};
use crate::experiment::ExperimentConfig;

/// Capacity of the event channel. Per-step events are dropped (not waited for) when it is full;
/// epoch and end-of-run events always get through.
const EVENT_CAPACITY: usize = 4096;
/// Capacity of the command channel; the UI never blocks on it.
const COMMAND_CAPACITY: usize = 64;

/// A command the training worker could not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// Its command queue is full.
    #[error("the training worker is busy; try again")]
    Busy,
    /// Its thread has ended.
    #[error("the training worker has stopped")]
    Stopped,
}

/// Handle to the training thread. Dropping it stops any run and joins the thread.
pub struct TrainWorker {
    commands: Sender<WorkerCommand>,
    events: Receiver<Event>,
    stop: Arc<AtomicBool>,
    /// Raised once, when the handle is dropped: no command may run after it.
    shutdown: Arc<AtomicBool>,
    busy: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TrainWorker {
    /// Spawns the `train-worker` thread.
    pub fn spawn(waker: Waker) -> std::io::Result<Self> {
        let (cmd_tx, cmd_rx) = bounded(COMMAND_CAPACITY);
        let (event_tx, event_rx) = bounded(EVENT_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let shutdown = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let shutdown = Arc::clone(&shutdown);
            let busy = Arc::clone(&busy);
            std::thread::Builder::new()
                .name("train-worker".to_owned())
                .spawn(move || {
                    worker_loop(
                        &cmd_rx,
                        &EventSink {
                            tx: event_tx,
                            waker,
                        },
                        &stop,
                        &shutdown,
                        &busy,
                    );
                })?
        };
        Ok(Self {
            commands: cmd_tx,
            events: event_rx,
            stop,
            shutdown,
            busy,
            thread: Some(thread),
        })
    }

    /// Sends a command without blocking. `Stop` also raises a flag the engine checks between
    /// batches, so it takes effect even if the channel is full.
    pub fn send(&self, command: Command) -> Result<(), WorkerError> {
        if matches!(command, Command::Stop) {
            self.stop.store(true, Ordering::SeqCst);
        }
        let command = match command {
            Command::Start(config) => WorkerCommand::Start(Box::new(StartRequest {
                config: *config,
                run_dir: None,
            })),
            other => WorkerCommand::Control(other),
        };
        self.try_send(command)
    }

    /// Starts a run recorded in `run_dir`.
    pub fn start(&self, request: StartRequest) -> Result<(), WorkerError> {
        self.try_send(WorkerCommand::Start(Box::new(request)))
    }

    /// Runs the learning-rate finder for `config`; the answer comes as `Event::LrFound`.
    /// Starts a run on a Ray cluster: the worker follows the job and reports it like a local
    /// run (no pause; Stop stops the job).
    pub fn start_remote(&self, request: RemoteRequest) -> Result<(), WorkerError> {
        self.try_send(WorkerCommand::StartRemote(Box::new(request)))
    }

    pub fn find_lr(&self, config: ExperimentConfig) -> Result<(), WorkerError> {
        self.try_send(WorkerCommand::FindLr(Box::new(config)))
    }

    /// Trains a GAN; its news comes as `Event::Gan`.
    pub fn start_gan(&self, request: super::gan::GanRequest) -> Result<(), WorkerError> {
        self.try_send(WorkerCommand::StartGan(Box::new(request)))
    }

    /// Continues the GAN run recorded in `dir` (`gan train --resume`).
    pub fn resume_gan(&self, dir: PathBuf, epochs: Option<usize>) -> Result<(), WorkerError> {
        self.try_send(WorkerCommand::ResumeGan(dir, epochs))
    }

    /// Continues the run recorded in `dir` from its last finished epoch (`train --resume`).
    pub fn resume_dir(&self, dir: PathBuf, epochs: Option<usize>) -> Result<(), WorkerError> {
        self.try_send(WorkerCommand::ResumeDir(dir, epochs))
    }

    fn try_send(&self, command: WorkerCommand) -> Result<(), WorkerError> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => WorkerError::Busy,
            TrySendError::Disconnected(_) => WorkerError::Stopped,
        })
    }

    /// The event stream. Drain it with `try_recv` from a UI, or `recv` from a CLI.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Whether a run is in progress (loading, training or paused).
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// Whether the thread is still alive.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for TrainWorker {
    fn drop(&mut self) {
        // Shutdown first, then stop: a command the worker picks up meanwhile sees one of them
        // (see `worker_loop`), so nothing queued runs to its end after the window has closed.
        self.shutdown.store(true, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        // Closing the command channel ends the worker loop once the run (if any) has stopped.
        let (closed_tx, _) = bounded(1);
        drop(std::mem::replace(&mut self.commands, closed_tx));
        if let Some(thread) = self.thread.take() {
            // A panic has already been reported as a `Failed` event; nothing more to do here.
            thread.join().ok();
        }
    }
}

fn worker_loop(
    commands: &Receiver<WorkerCommand>,
    events: &EventSink,
    stop: &Arc<AtomicBool>,
    shutdown: &AtomicBool,
    busy: &AtomicBool,
) {
    // The last run stays in memory so that "+N epochs" can continue it.
    let mut last: Option<engine::Session> = None;
    let mut last_gan: Option<super::gan::GanSession> = None;
    while let Ok(command) = commands.recv() {
        let control = Control {
            stop: Arc::clone(stop),
            commands: commands.clone(),
        };
        if shutdown.load(Ordering::SeqCst) {
            break;
        }
        stop.store(false, Ordering::SeqCst);
        // The handle may have been dropped between the check and the reset: its stop flag must
        // not be lost (it raises shutdown before stop, so one of the two is seen here).
        if shutdown.load(Ordering::SeqCst) {
            stop.store(true, Ordering::SeqCst);
        }
        busy.store(true, Ordering::SeqCst);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match command {
            WorkerCommand::Start(request) => {
                drop(last.take());
                drop(last_gan.take());
                last = engine::start(
                    &request.config,
                    request.run_dir.as_deref(),
                    &control,
                    events,
                );
            }
            WorkerCommand::StartRemote(request) => {
                drop(last.take());
                super::ray::follow(&request, &control.stop, events);
            }
            WorkerCommand::FindLr(config) => {
                let stop = || control.stop.load(Ordering::SeqCst);
                match super::lr_finder::find(&config, &stop) {
                    Ok(finding) => events.send(Event::LrFound(finding)),
                    Err(e) => events.send(Event::Failed {
                        message: crate::error::chain(&e),
                    }),
                }
            }
            WorkerCommand::ResumeDir(dir, epochs) => {
                drop(last.take());
                drop(last_gan.take());
                last = engine::resume(&dir, epochs, &control, events);
            }
            WorkerCommand::StartGan(request) => {
                drop(last.take());
                drop(last_gan.take());
                last_gan = super::gan::start(&request, &control, events);
            }
            WorkerCommand::ResumeGan(dir, epochs) => {
                drop(last.take());
                drop(last_gan.take());
                last_gan = super::gan::resume(&dir, epochs, &control, events);
            }
            WorkerCommand::Control(Command::Extend(more)) => {
                match (last.as_mut(), last_gan.as_mut()) {
                    (Some(session), _) => engine::extend(session, more, &control, events),
                    (None, Some(gan)) => super::gan::extend(gan, more, &control, events),
                    (None, None) => events.send(Event::Failed {
                        message: "there is no finished run to continue".to_owned(),
                    }),
                }
            }
            // Pause/Resume/Stop/Update with no run in progress: nothing to do.
            WorkerCommand::Control(_) => {}
        }));
        if let Err(panic) = outcome {
            last = None;
            last_gan = None;
            let message = format!("training crashed: {}", engine::panic_text(&*panic));
            events.send(Event::Failed { message });
        }
        busy.store(false, Ordering::SeqCst);
    }
}
